/* Privilege drop shared by `rampart serve` and the admin tools. */
#ifndef RAMPART_CORE_PRIVS_H
#define RAMPART_CORE_PRIVS_H

struct config;

/* Drops to the configured [server] user/group when running as root; a
 * no-op otherwise. 0 on success; -1 (logged) on failure, including when
 * root could be regained afterwards. */
int privs_drop(const struct config *cfg);

#endif
