/* `rampart serve`: the composition root that wires every layer into the
 * running server. */
#ifndef RAMPART_APP_SERVE_H
#define RAMPART_APP_SERVE_H

struct config;

/* Runs until SIGTERM/SIGINT; SIGHUP reloads the users file. Returns a
 * process exit status. */
int app_serve(const struct config *cfg);

#endif
