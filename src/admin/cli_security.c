/* `rampart security status` and `rampart security unlock IP|USER`: ask the
 * running server's policy engine (auth/policy.c) through its control
 * socket, state_dir/control.sock (app/control.c). The engine's state lives
 * in the server's memory, so the CLI never edits policy.state itself: a
 * running server would overwrite the edit at its next save. */
#include "admin/admin.h"
#include "core/config.h"
#include "core/util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#define SECURITY_TIMEOUT_MS 10000

static int security_usage(FILE *f)
{
	fprintf(f, "usage: rampart security status [-c FILE]\n"
		   "       rampart security unlock IP|USER [-c FILE]\n"
		   "Shows locked sources and users and the top failing sources, or lifts\n"
		   "the locks on an address or a user, in the running server.\n");
	return f == stdout ? 0 : EX_USAGE;
}

/* Sends one request line; copies the answer to stdout. Exit status. */
static int security_request(const char *sock_path, const char *request)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(sock_path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "rampart security: socket path too long: %s\n", sock_path);
		return EX_CONFIG;
	}
	strcpy(sa.sun_path, sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "rampart security: cannot reach the server at %s: %s (is it running?)\n",
			sock_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return EX_UNAVAILABLE;
	}
	int rc = EX_PROTOCOL;
	char buf[4096];
	size_t got = 0;
	bool first = true;
	if (write_all(fd, request, strlen(request)) < 0 || write_all(fd, "\n", 1) < 0)
		goto out;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, SECURITY_TIMEOUT_MS) <= 0)
			goto out;
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0)
			goto out;
		if (r == 0)
			break;
		size_t off = 0;
		if (first) {
			/* The status line: "ok" or "error". */
			rc = strncmp(buf, "ok\n", (size_t)MIN(r, 3)) == 0 ? 0 : EX_UNAVAILABLE;
			char *nl = memchr(buf, '\n', (size_t)r);
			off = nl ? (size_t)(nl - buf) + 1 : (size_t)r;
			first = false;
		}
		fwrite(buf + off, 1, (size_t)r - off, rc == 0 ? stdout : stderr);
		got += (size_t)r;
	}
	if (!got)
		rc = EX_PROTOCOL;
out:
	close(fd);
	return rc;
}

int admin_security_main(int argc, char **argv)
{
	if (argc < 2)
		return security_usage(stderr);
	if (strcmp(argv[1], "help") == 0 || admin_wants_help(argc, argv))
		return security_usage(stdout);
	const char *conf = ADMIN_DEFAULT_CONFIG, *what = NULL;
	bool unlock = strcmp(argv[1], "unlock") == 0;
	if (!unlock && strcmp(argv[1], "status") != 0)
		return security_usage(stderr);
	for (int i = 2; i < argc; i++) {
		int r = admin_conf_arg(argc, argv, &i, &conf);
		if (r < 0)
			return security_usage(stderr);
		if (r == 0 && unlock && !what && argv[i][0] != '-')
			what = argv[i];
		else if (r == 0)
			return security_usage(stderr);
	}
	if (unlock && !what)
		return security_usage(stderr);
	if (what && strpbrk(what, " \r\n")) {
		fprintf(stderr, "rampart security: invalid IP or user name\n");
		return EX_USAGE;
	}
	struct config *cfg;
	int rc = admin_conf_load("rampart security", conf, &cfg);
	if (rc)
		return rc;
	char *sock = xasprintf("%s/control.sock", cfg->state_dir);
	char *req = unlock ? xasprintf("security unlock %s", what) : xstrdup("security status");
	rc = security_request(sock, req);
	free(req);
	free(sock);
	config_free(cfg);
	return rc;
}
