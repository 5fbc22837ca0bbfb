/* The CLI's side of the control socket (app/control.c): one request line
 * to state_dir/control.sock, one answer ("ok" or "error", then text).
 * `rampart security`, `rampart who`, `rampart kick` and the kick after an
 * app-password revoke or a user deletion all go through here. */
#include "admin/admin_internal.h"
#include "core/config.h"
#include "core/util.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#define CONTROL_CLIENT_TIMEOUT_MS 10000

int admin_control_call(const char *prog, const struct config *cfg, const char *request,
		       struct strbuf *reply)
{
	return admin_control_call_max(prog, cfg, request, reply, SIZE_MAX);
}

int admin_control_call_max(const char *prog, const struct config *cfg, const char *request,
			   struct strbuf *reply, size_t max)
{
	char *path = xasprintf("%s/control.sock", cfg->state_dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc = EX_PROTOCOL, fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: socket path too long: %s\n", prog, path);
		rc = EX_CONFIG;
		goto out;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (!reply)
			fprintf(stderr, "%s: cannot reach the server at %s: %s (is it running?)\n",
				prog, path, strerror(errno));
		rc = EX_UNAVAILABLE;
		goto out;
	}
	struct strbuf all = STRBUF_INIT;
	if (write_all(fd, request, strlen(request)) == 0 && write_all(fd, "\n", 1) == 0) {
		while (all.len < max) {
			char buf[4096];
			struct pollfd p = { fd, POLLIN, 0 };
			if (poll(&p, 1, CONTROL_CLIENT_TIMEOUT_MS) <= 0)
				break;
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r <= 0) {
				/* The server closes after its answer. */
				if (r == 0 && all.len)
					rc = 0;
				break;
			}
			strbuf_add(&all, buf, (size_t)r);
		}
	}
	if (rc == 0) {
		/* The status line: "ok" or "error". */
		const char *s = strbuf_cstr(&all), *nl = strchr(s, '\n');
		size_t off = nl ? (size_t)(nl - s) + 1 : all.len;
		rc = strncmp(s, "ok\n", 3) == 0 ? 0 : 1;
		if (reply)
			strbuf_add(reply, s + off, all.len - off);
		else
			fwrite(s + off, 1, all.len - off, rc == 0 ? stdout : stderr);
	} else if (!reply) {
		fprintf(stderr, "%s: no answer from the server at %s\n", prog, path);
	}
	strbuf_free(&all);
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}
