/* The control socket (app/control.h): how the CLI reaches the running
 * server. A unix socket is the simplest sound channel: the kernel tells us
 * who connected (SO_PEERCRED), the file lives in state_dir (mode 0700, the
 * run user's), and nothing listens on the network.
 *
 * Protocol: the client sends one line "VERB ARGS\n" (at most 1 KiB); the
 * server answers "ok\n" or "error\n" followed by the handler's text, and
 * closes. One client at a time, each bounded by a 5 s timeout: this is
 * for an administrator, not a service. */
#include "app/control.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_VERBS 16
#define CONTROL_LINE_MAX 1024
#define CONTROL_TIMEOUT_MS 5000

struct control_verb {
	const char *verb;
	control_fn *fn;
};

static struct control_verb g_verbs[CONTROL_VERBS];
static size_t g_nverbs;
static int g_fd = -1;
static int g_stop_pipe[2] = { -1, -1 };
static pthread_t g_thread;
static char *g_path;

void control_register(const char *verb, control_fn *fn)
{
	if (g_nverbs < CONTROL_VERBS)
		g_verbs[g_nverbs++] = (struct control_verb){ verb, fn };
}

/* Root, or the user the server runs as. */
static bool peer_allowed(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return false;
	return cr.uid == 0 || cr.uid == geteuid();
}

static bool read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, CONTROL_TIMEOUT_MS) <= 0)
			return false;
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r <= 0)
			return false;
		n += (size_t)r;
		buf[n] = '\0';
		char *nl = memchr(buf, '\n', n);
		if (nl) {
			*nl = '\0';
			return true;
		}
	}
	return false;
}

static void control_serve(int fd)
{
	char line[CONTROL_LINE_MAX];
	struct strbuf out = STRBUF_INIT;
	int rc = -1;
	if (!peer_allowed(fd)) {
		strbuf_adds(&out, "permission denied\n");
	} else if (!read_line(fd, line, sizeof(line))) {
		strbuf_adds(&out, "bad request\n");
	} else {
		char *args = line + strcspn(line, " ");
		if (*args)
			*args++ = '\0';
		size_t i = 0;
		while (i < g_nverbs && strcmp(g_verbs[i].verb, line) != 0)
			i++;
		if (i == g_nverbs)
			strbuf_addf(&out, "unknown command\n");
		else
			rc = g_verbs[i].fn(args, &out);
		log_info("event=control verb=%s result=%s", i < g_nverbs ? g_verbs[i].verb : "?",
			 rc == 0 ? "ok" : "error");
	}
	const char *status = rc == 0 ? "ok\n" : "error\n";
	if (write_all(fd, status, strlen(status)) == 0)
		write_all(fd, strbuf_cstr(&out), out.len);
	strbuf_free(&out);
}

static void *control_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p[2] = { { g_fd, POLLIN, 0 }, { g_stop_pipe[0], POLLIN, 0 } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		int c = accept4(g_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		struct timeval tv = { CONTROL_TIMEOUT_MS / 1000, 0 };
		setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		control_serve(c);
		close(c);
	}
	return NULL;
}

int control_start(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("event=startup_error msg=\"control socket path too long\" path=%s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	unlink(path); /* a stale socket of an earlier run */
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 8) < 0 || pipe2(g_stop_pipe, O_CLOEXEC) < 0)
		goto fail;
	g_fd = fd;
	if (pthread_create(&g_thread, NULL, control_main, NULL) != 0)
		goto fail;
	g_path = xstrdup(path);
	return 0;
fail:
	log_err("event=startup_error msg=\"cannot open control socket\" path=%s error=\"%s\"", path,
		strerror(errno));
	if (fd >= 0)
		close(fd);
	g_fd = -1;
	return -1;
}

void control_stop(void)
{
	if (!g_path)
		return;
	ssize_t w = write(g_stop_pipe[1], "x", 1);
	(void)w;
	pthread_join(g_thread, NULL);
	close(g_fd);
	close(g_stop_pipe[0]);
	close(g_stop_pipe[1]);
	g_fd = g_stop_pipe[0] = g_stop_pipe[1] = -1;
	unlink(g_path);
	free(g_path);
	g_path = NULL;
}
