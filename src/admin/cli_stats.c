/* `rampart stats [--json] [-c FILE]`: the running server's counters
 * (connections, logins, commands, bytes, deliveries, uptime), asked over
 * its control socket (app/control.c, verb "stats"). The server formats
 * the answer (core/metrics.c metrics_summary), so the CLI and /metrics
 * read the same cells and cannot disagree; this file only carries it. */
#include "admin/admin.h"
#include "admin/admin_internal.h"
#include "core/config.h"
#include "core/strbuf.h"
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

#define STATS_TIMEOUT_MS 10000
#define STATS_REPLY_MAX (1024 * 1024)

static int stats_usage(FILE *f)
{
	fprintf(f, "usage: rampart stats [--json] [-c FILE]\n"
		   "Prints the running server's connections, logins (total and in the\n"
		   "last minute), commands, bytes, deliveries and uptime; --json prints\n"
		   "them as one JSON object.\n");
	return f == stdout ? 0 : EX_USAGE;
}

/* Connects to the control socket: the descriptor, or -1 with the exit
 * status in *rc. */
static int stats_connect(const char *path, int *rc)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "rampart stats: socket path too long: %s\n", path);
		*rc = EX_CONFIG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	fprintf(stderr, "rampart stats: no server answers at %s: %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	*rc = EX_UNAVAILABLE;
	return -1;
}

/* The whole reply, until the server closes; false on timeout or error. */
static bool stats_read_reply(int fd, struct strbuf *reply)
{
	char buf[4096];
	while (reply->len < STATS_REPLY_MAX) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, STATS_TIMEOUT_MS) <= 0)
			return false;
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0)
			return false;
		if (r == 0)
			return true;
		strbuf_add(reply, buf, (size_t)r);
	}
	return false;
}

static int stats_ask(const char *path, bool json)
{
	int rc = EX_PROTOCOL;
	int fd = stats_connect(path, &rc);
	if (fd < 0)
		return rc;
	struct strbuf reply = STRBUF_INIT;
	const char *req = json ? "stats json\n" : "stats text\n";
	if (write_all(fd, req, strlen(req)) == 0 && stats_read_reply(fd, &reply)) {
		const char *s = strbuf_cstr(&reply);
		if (strncmp(s, "ok\n", 3) == 0) {
			fputs(s + 3, stdout);
			rc = 0;
		} else {
			fprintf(stderr, "rampart stats: the server refused: %s", s);
			rc = EX_SOFTWARE;
		}
	} else {
		fprintf(stderr, "rampart stats: no complete answer from %s\n", path);
	}
	strbuf_free(&reply);
	close(fd);
	return rc;
}

int admin_stats_main(int argc, char **argv)
{
	const char *conf = ADMIN_DEFAULT_CONFIG;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (admin_subcmd_is_help(argv[i]))
			return stats_usage(stdout);
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
			continue;
		}
		if (admin_conf_arg(argc, argv, &i, &conf) != 1)
			return stats_usage(stderr);
	}
	struct config *cfg;
	int rc = admin_conf_load("rampart stats", conf, &cfg);
	if (rc)
		return rc;
	char *sock = xasprintf("%s/control.sock", cfg->state_dir);
	rc = stats_ask(sock, json);
	free(sock);
	config_free(cfg);
	return rc;
}
