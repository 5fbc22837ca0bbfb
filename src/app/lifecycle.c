/* The running server's life after start-up (lifecycle.h): the signal
 * loop, the pid_file and the systemd notification protocol.
 *
 * Signals are taken by one thread with sigwait(2), never by handlers, so
 * a reload may take locks and allocate: every other thread has them
 * blocked (lifecycle_init runs before the first thread starts).
 *
 * sd_notify(3) is done by hand rather than by linking libsystemd: it is
 * one datagram of "KEY=VALUE" lines to the unix socket named by
 * $NOTIFY_SOCKET (a path, or '@' for the abstract namespace), and the
 * server then runs the same with or without systemd. RELOADING=1 carries
 * MONOTONIC_USEC, which systemd 253+ requires for Type=notify-reload and
 * older ones ignore. */
#include "app/lifecycle.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char *notify_path;      /* $NOTIFY_SOCKET, taken at lifecycle_init */

void lifecycle_init(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGHUP);
	sigaddset(sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	const char *ns = getenv("NOTIFY_SOCKET");
	if (ns && (ns[0] == '/' || ns[0] == '@') && !notify_path)
		notify_path = xstrdup(ns);
	unsetenv("NOTIFY_SOCKET");
}

void lifecycle_notify(const char *state)
{
	if (!notify_path)
		return;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t n = strlen(notify_path);
	if (n >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, notify_path, n);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		log_warn("event=notify_error path=%s error=\"%s\"", notify_path, strerror(errno));
	close(fd);
}

/* ---- pid_file ---- */

/* The pid a pid file holds, 0 when none can be read. */
static pid_t pidfile_read(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	long pid = 0;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 0 || pid > 0x3fffffff)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

/* Is pid a running rampart? A file left by a crash may name a pid that
 * has since gone to another program: /proc says which (when it can be
 * read; else a live pid counts as ours, to be safe). */
static bool pid_is_rampart(pid_t pid)
{
	if (kill(pid, 0) < 0 && errno != EPERM)
		return false;
	char p[64], comm[32] = "";
	snprintf(p, sizeof(p), "/proc/%ld/comm", (long)pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return true;
	bool ours = fgets(comm, sizeof(comm), f) == NULL || strncmp(comm, "rampart", 7) == 0;
	fclose(f);
	return ours;
}

/* Written whole under a temporary name and renamed, so a reader never
 * sees an empty or partial file. */
int lifecycle_pidfile_write(const char *path)
{
	if (!path)
		return 0;
	pid_t old = pidfile_read(path);
	if (old > 0 && old != getpid() && pid_is_rampart(old)) {
		log_err("event=startup_error msg=\"already running (pid_file names a live rampart)\" "
			"path=%s pid=%ld", path, (long)old);
		return -1;
	}
	if (old > 0)
		log_info("event=pid_file_stale path=%s pid=%ld", path, (long)old);
	/* O_EXCL: nothing planted at the temporary name (a link) is followed
	 * or truncated by root. */
	char *tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	int rc = -1;
	if (fd >= 0 && write(fd, buf, (size_t)n) == n && fchmod(fd, 0644) == 0 && close(fd) == 0) {
		fd = -1;
		rc = rename(tmp, path);
	}
	if (rc < 0) {
		log_err("event=startup_error msg=\"cannot write pid_file\" path=%s error=\"%s\"", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

void lifecycle_pidfile_remove(const char *path)
{
	if (!path || pidfile_read(path) != getpid())
		return;
	if (unlink(path) < 0)
		log_warn("event=pid_file_left path=%s error=\"%s\" msg=\"the run user cannot remove "
			 "it; the next start sees it is stale\"", path, strerror(errno));
}

/* ---- the signal loop ---- */

static void lifecycle_log_reopen(const struct config *cfg)
{
	if (!cfg->log_file)
		return;
	if (log_reopen(cfg->log_file) < 0)
		log_err("event=log_reopen_error path=%s error=\"%s\"", cfg->log_file, strerror(errno));
	else
		log_info("event=log_reopened path=%s", cfg->log_file);
}

void lifecycle_run(struct lifecycle *lc, const sigset_t *sigs)
{
	lifecycle_notify("READY=1\nSTATUS=serving");
	for (;;) {
		int sig = 0;
		if (sigwait(sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			char msg[96];
			snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
				 (unsigned long long)ts.tv_sec * 1000000ull +
					 (unsigned long long)ts.tv_nsec / 1000);
			lifecycle_notify(msg);
			lifecycle_reload(lc);
			lifecycle_notify("READY=1\nSTATUS=serving");
		} else if (sig == SIGUSR1) {
			lifecycle_log_reopen(lc->cfg);
		} else {
			log_info("event=stopping signal=%s", sig == SIGINT ? "INT" : "TERM");
			lifecycle_notify("STOPPING=1\nSTATUS=draining");
			return;
		}
	}
}
