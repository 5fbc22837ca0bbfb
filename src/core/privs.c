/* Dropping root: `rampart serve` binds its ports and reads its keys as
 * root, then becomes the configured unprivileged account; `rampart deliver`
 * run as root does the same before touching any mail. Lives in core/ so
 * both the network layer and the admin tools use one implementation.
 * Also the process hardening that goes with it: the server's memory holds
 * password hashes, passwords being checked and the TLS private key, so it
 * must never land in a core file or be readable by ptrace from another
 * process of the same user; and once root is gone, no exec may gain
 * privileges again (PR_SET_NO_NEW_PRIVS). */
#include "core/privs.h"
#include "core/config.h"
#include "core/log.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

int privs_harden_early(void)
{
	struct rlimit none = { 0, 0 };
	if (setrlimit(RLIMIT_CORE, &none) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		log_err("event=startup_error msg=\"cannot disable core dumps\" error=\"%s\"", strerror(errno));
		return -1;
	}
	return 0;
}

/* After setuid() the kernel resets the dumpable flag to fs.suid_dumpable:
 * set it again, and forbid gaining privileges through exec from now on. */
static int privs_lock(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		log_err("event=startup_error msg=\"cannot set no_new_privs\" error=\"%s\"", strerror(errno));
		return -1;
	}
	return 0;
}

int privs_state_dir(const struct config *cfg, const char *path)
{
	if (geteuid() != 0 || !cfg->run_user)
		return 0; /* created after the drop, as whoever runs the server */
	struct passwd *pw = getpwnam(cfg->run_user);
	if (!pw)
		return 0; /* privs_drop() says why */
	gid_t gid = pw->pw_gid;
	if (cfg->run_group) {
		struct group *gr = getgrnam(cfg->run_group);
		if (!gr)
			return 0;
		gid = gr->gr_gid;
	}
	bool created = mkdir(path, 0700) == 0;
	if (!created && errno != EEXIST) {
		log_err("event=startup_error msg=\"cannot create state_dir\" path=%s error=\"%s\"", path,
			strerror(errno));
		return -1;
	}
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_err("event=startup_error msg=\"state_dir is not a directory\" path=%s", path);
		return -1;
	}
	/* A directory root made for the server (now, or by an installer)
	 * goes to the run user; anyone else's is left as the admin set it. */
	if ((created || st.st_uid == 0) && chown(path, pw->pw_uid, gid) < 0) {
		log_err("event=startup_error msg=\"cannot chown state_dir\" path=%s error=\"%s\"", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

int privs_drop(const struct config *cfg)
{
	if (geteuid() != 0)
		return privs_lock();
	if (!cfg->run_user) {
		log_err("event=startup_error msg=\"running as root needs [server] user = an unprivileged account\"");
		return -1;
	}
	struct passwd *pw = getpwnam(cfg->run_user);
	if (!pw) {
		log_err("event=startup_error msg=\"no such user\" user=%s", cfg->run_user);
		return -1;
	}
	gid_t gid = pw->pw_gid;
	if (cfg->run_group) {
		struct group *gr = getgrnam(cfg->run_group);
		if (!gr) {
			log_err("event=startup_error msg=\"no such group\" group=%s", cfg->run_group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_err("event=startup_error msg=\"cannot drop privileges\" error=\"%s\"", strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_err("event=startup_error msg=\"privileges could be regained\"");
		return -1;
	}
	return privs_lock();
}
