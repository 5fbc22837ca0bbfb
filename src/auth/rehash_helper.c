/* The privileged helper of the hash upgrade (auth/rehash.h): a process
 * forked by `rampart serve` while it is still root and single-threaded,
 * before it drops privileges, that keeps root for one job only: "upgrade
 * USER given PASSWORD" on the users file, which the server itself can
 * read but not write. OpenSMTPD's privilege separation is the model: a
 * small process with one narrow request over a socketpair, that checks
 * everything itself.
 *
 * What it trusts of the unprivileged side: nothing. A request is a user
 * name and a password; the helper reads the file itself and upgrades the
 * entry only when the password verifies against it, so the worst a
 * compromised server can do is run one argon2id check at a time (it can
 * already read the hashes). What it holds: only the socket and stdio
 * (every other descriptor closed: no listener, no TLS key, no mail), no
 * core dumps, named "rampart-auth" in ps. Its lifetime is the socket's:
 * when the server exits, for any reason, the helper reads end-of-file
 * and exits too. It handles one request at a time; the server queues. */
#include "auth/rehash.h"
#include "auth/rehash_internal.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* The socket's descriptor in the helper. */
#define REHASH_HELPER_FD 3

/* Leaves stdin/stdout on /dev/null, stderr as it was (for a fatal
 * message), the socket on fd 3, and nothing else. */
static void rehash_helper_fds(int sock)
{
	int s = fcntl(sock, F_DUPFD, 10);
	if (s < 0)
		_exit(1);
	close(sock);
	int null = open("/dev/null", O_RDWR);
	if (null < 0)
		_exit(1);
	dup2(null, 0);
	dup2(null, 1);
	if (fcntl(2, F_GETFD) < 0)
		dup2(null, 2);
	if (dup2(s, REHASH_HELPER_FD) < 0)
		_exit(1);
	close_range(REHASH_HELPER_FD + 1, ~0U, 0);
	/* Anything logged by code it calls goes to stderr, not to the
	 * server's log file descriptor, now closed. */
	log_set_file(NULL);
}

static void rehash_helper_harden(void)
{
	struct rlimit none = { 0, 0 };
	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	prctl(PR_SET_NAME, "rampart-auth", 0, 0, 0);
	/* The server ignores SIGPIPE and blocks its stop signals until the
	 * main thread waits for them; the helper keeps that mask: it stops
	 * when the server closes the socket, not before. */
}

/* Serves requests until the socket closes. */
static void __attribute__((noreturn)) rehash_helper_main(const char *users_file, int sock)
{
	rehash_helper_fds(sock);
	rehash_helper_harden();
	char buf[REHASH_MSG_MAX + 1];
	for (;;) {
		ssize_t n = recv(REHASH_HELPER_FD, buf, REHASH_MSG_MAX, MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the server is gone */
		struct rehash_result r = { .status = REHASH_ERROR, .errno_ = EINVAL };
		const char *user, *password;
		/* n > REHASH_MSG_MAX: the kernel cut a longer record. */
		if ((size_t)n <= REHASH_MSG_MAX &&
		    rehash_msg_decode(buf, (size_t)n, &user, &password) == 0)
			rehash_user(users_file, user, password, &r);
		sodium_memzero(buf, sizeof(buf));
		char reply[128];
		size_t len = rehash_reply_encode(&r, reply, sizeof(reply));
		if (send(REHASH_HELPER_FD, reply, len, MSG_NOSIGNAL) < 0)
			break;
	}
	_exit(0);
}

pid_t rehash_helper_spawn(const char *users_file, int *fd)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		rehash_helper_main(users_file, sv[1]);
	}
	close(sv[1]);
	*fd = sv[0];
	return pid;
}
