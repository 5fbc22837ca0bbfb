/* `rampart serve`: binds the listeners, drops privileges, runs one libevent
 * worker per core with SO_REUSEPORT, and routes mail-change notifications
 * to the sessions of each user. */
#ifndef RAMPART_NET_SERVER_H
#define RAMPART_NET_SERVER_H

struct config;

/* Runs until SIGTERM/SIGINT. Returns a process exit status. */
int server_run(const struct config *cfg);

/* Drops to the configured user/group when running as root (also used by
 * `rampart deliver`). 0 on success; -1 (logged) on failure. */
int server_drop_privileges(const struct config *cfg);

#endif
