/* Listening sockets: TCP (IPv4/IPv6, one per worker with SO_REUSEPORT so
 * the kernel spreads connections) and unix sockets (one, shared by the
 * workers). Bound while the process is still privileged, unless systemd
 * passed them (socket activation, at the end of this file). */
#include "net/net_internal.h"
#include "core/config.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* lc's TCP address as a sockaddr; -1 for an address inet_pton refuses. */
static int listener_sockaddr(const struct listener_config *lc, struct sockaddr_storage *ss,
			     socklen_t *sl)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(lc->host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(lc->port);
		if (inet_pton(AF_INET6, lc->host, &s6->sin6_addr) != 1)
			return -1;
		*sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(lc->port);
		if (inet_pton(AF_INET, lc->host, &s4->sin_addr) != 1)
			return -1;
		*sl = sizeof(*s4);
	}
	return 0;
}

/* A TCP socket bound to lc's address; with reuseport it joins the other
 * workers' sockets (SO_REUSEPORT), without it the bind fails while anyone
 * listens there. */
static int listener_socket_tcp(const struct listener_config *lc, bool reuseport)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	if (listener_sockaddr(lc, &ss, &sl) < 0) {
		errno = EINVAL;
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int listener_bind_tcp(const struct listener_config *lc)
{
	int fd = listener_socket_tcp(lc, true);
	if (fd >= 0 && listen(fd, 1024) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* SO_REUSEPORT lets any process of the same user bind a port already in
 * use and silently take part of its connections (a second server started
 * by mistake, or a stale one). Before the workers bind with it, a bind
 * without it proves nobody listens there; fails with EADDRINUSE if
 * someone does. */
int listener_check_free(const struct listener_config *lc)
{
	if (lc->unix_path || lc->port == 0)
		return 0;
	int fd = listener_socket_tcp(lc, false);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* unix_owner / unix_group as ids; -1 leaves that part as it is. Logs and
 * returns -1 for a name the system does not know. */
static int listener_unix_ids(const struct listener_config *lc, uid_t *uid, gid_t *gid)
{
	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (lc->unix_owner) {
		struct passwd *pw = getpwnam(lc->unix_owner);
		if (!pw) {
			log_err("event=startup_error msg=\"unknown unix_owner\" listener=%s user=%s",
				lc->name, lc->unix_owner);
			return -1;
		}
		*uid = pw->pw_uid;
	}
	if (lc->unix_group) {
		struct group *gr = getgrnam(lc->unix_group);
		if (!gr) {
			log_err("event=startup_error msg=\"unknown unix_group\" listener=%s group=%s",
				lc->name, lc->unix_group);
			return -1;
		}
		*gid = gr->gr_gid;
	}
	return 0;
}

/* A socket file left by a previous run that did not stop cleanly is
 * replaced; any other file at that path is not ours to remove. */
static int listener_bind_unix(const struct listener_config *lc)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(lc->unix_path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, lc->unix_path, strlen(lc->unix_path) + 1);
	uid_t uid;
	gid_t gid;
	if (listener_unix_ids(lc, &uid, &gid) < 0) {
		errno = EINVAL;
		return -1;
	}
	struct stat st;
	if (lstat(lc->unix_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			errno = EEXIST;
			return -1;
		}
		unlink(lc->unix_path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* Owner and mode are set on the path before anyone can connect:
	 * bind under a umask that leaves nothing open, chown, then chmod to
	 * unix_mode. */
	mode_t old = umask(0777);
	int r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1))
		r = chown(lc->unix_path, uid, gid);
	if (r < 0 || chmod(lc->unix_path, lc->unix_mode) < 0 || listen(fd, 1024) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int listener_bind(const struct listener_config *lc)
{
	return lc->unix_path ? listener_bind_unix(lc) : listener_bind_tcp(lc);
}

void listener_unlink(const struct listener_config *lc)
{
	struct stat st;
	if (lc->unix_path && lstat(lc->unix_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(lc->unix_path);
}

void listener_describe(const struct listener_config *lc, char *buf, size_t len)
{
	if (lc->unix_path)
		snprintf(buf, len, "unix:%s", lc->unix_path);
	else if (strchr(lc->host, ':'))
		snprintf(buf, len, "[%s]:%u", lc->host, lc->port);
	else
		snprintf(buf, len, "%s:%u", lc->host, lc->port);
}

/* ---- socket activation ----
 * sd_listen_fds(3)'s protocol, read by hand (no libsystemd): when
 * LISTEN_PID is this process, descriptors 3 .. 3+LISTEN_FDS-1 are
 * listening sockets and LISTEN_FDNAMES names them, ':'-separated (a
 * .socket unit's FileDescriptorName=, by default the unit's name). A
 * listener takes the socket named like it, else one bound to its address.
 * The variables are removed so that no child takes the sockets for its
 * own. Runs once, at start, single-threaded. */

#define LISTEN_FDS_START 3
#define LISTEN_FDS_MAX 64

struct passed_fd {
	int fd;
	char name[64];
	bool taken;
};

static struct passed_fd passed[LISTEN_FDS_MAX];
static size_t npassed;
static bool passed_read;

static void activation_read(void)
{
	passed_read = true;
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	if (pid && fds && strtol(pid, NULL, 10) == (long)getpid()) {
		long n = strtol(fds, NULL, 10);
		if (n > LISTEN_FDS_MAX) {
			log_warn("event=startup_warning msg=\"LISTEN_FDS too large, ignored\" listen_fds=%ld", n);
			n = 0;
		}
		for (long i = 0; i < n; i++) {
			struct passed_fd *p = &passed[npassed++];
			p->fd = LISTEN_FDS_START + (int)i;
			size_t len = names ? strcspn(names, ":") : 0;
			snprintf(p->name, sizeof(p->name), "%.*s", (int)len, names ? names : "");
			if (names)
				names = names[len] ? names + len + 1 : NULL;
			fcntl(p->fd, F_SETFD, FD_CLOEXEC);
		}
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

/* Is fd a socket bound to lc's address? */
static bool activation_same_address(int fd, const struct listener_config *lc)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	if (lc->unix_path)
		return ss.ss_family == AF_UNIX &&
		       strcmp(((struct sockaddr_un *)&ss)->sun_path, lc->unix_path) == 0;
	unsigned char want[16];
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
		return ntohs(s4->sin_port) == lc->port && inet_pton(AF_INET, lc->host, want) == 1 &&
		       memcmp(&s4->sin_addr, want, 4) == 0;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
		return ntohs(s6->sin6_port) == lc->port && inet_pton(AF_INET6, lc->host, want) == 1 &&
		       memcmp(&s6->sin6_addr, want, 16) == 0;
	}
	return false;
}

int listener_activated(const struct listener_config *lc)
{
	if (!passed_read)
		activation_read();
	struct passed_fd *found = NULL;
	for (size_t i = 0; i < npassed && !found; i++)
		if (!passed[i].taken && strcmp(passed[i].name, lc->name) == 0)
			found = &passed[i];
	for (size_t i = 0; i < npassed && !found; i++)
		if (!passed[i].taken && activation_same_address(passed[i].fd, lc))
			found = &passed[i];
	if (!found)
		return -1;
	int fl = fcntl(found->fd, F_GETFL);
	if (fl < 0 || fcntl(found->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	found->taken = true;
	return found->fd;
}

void listener_activation_done(void)
{
	for (size_t i = 0; i < npassed; i++) {
		if (passed[i].taken)
			continue;
		log_warn("event=startup_warning msg=\"socket passed by systemd matches no listener; "
			 "closed\" fd=%d name=%s", passed[i].fd, passed[i].name[0] ? passed[i].name : "-");
		close(passed[i].fd);
	}
	npassed = 0;
}
