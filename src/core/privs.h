/* Privilege drop shared by `rampart serve` and the admin tools. */
#ifndef RAMPART_CORE_PRIVS_H
#define RAMPART_CORE_PRIVS_H

struct config;

/* Before anything secret is read: core dumps off (RLIMIT_CORE 0) and the
 * process not dumpable (no core, no ptrace by the same user, /proc/PID/mem
 * closed). 0, or -1 (logged). */
int privs_harden_early(void);
/* Drops to the configured [server] user/group when running as root, then
 * (root or not) sets PR_SET_NO_NEW_PRIVS and the not-dumpable flag again.
 * 0 on success; -1 (logged) on failure, including when root could be
 * regained afterwards. */
int privs_drop(const struct config *cfg);
/* As root with a run user, before the drop: creates the state directory
 * (0700) if missing and gives it to the run user when root owns it, so an
 * unprivileged server can keep its state there. A no-op otherwise.
 * 0, or -1 (logged). */
int privs_state_dir(const struct config *cfg, const char *path);

#endif
