/* `rampart serve`: binds the listeners, drops privileges, runs one libevent
 * worker per core with SO_REUSEPORT, and routes mail-change notifications
 * to the sessions of each user. */
#ifndef RAMPART_NET_SERVER_H
#define RAMPART_NET_SERVER_H

struct config;

/* Runs until SIGTERM/SIGINT. Returns a process exit status. */
int server_run(const struct config *cfg);

#endif
