/* A test harness that runs real IMAP sessions (imap/session.h) over an
 * in-memory connection: bytes go in through imap_session_input(), every
 * byte the session writes is kept as the transcript, and the calls it makes
 * on the connection (close, pause_read, starttls, set_timeout, logged_in)
 * are recorded. Behind the session everything is real: a store in a
 * temporary directory, a users file with an argon2id hash verified on the
 * work pool, a configuration loaded from a file, and an event_base that the
 * harness runs (bounded in time) until the answer it waits for appears, so
 * commands that finish asynchronously are waited for like LOGIN is.
 *
 * The harness plays the network layer's part the way net/ does: input is
 * handed over only while the session has not paused reading, and "all
 * output drained" is reported after output was written and nothing is
 * pending. sh_set_pending() simulates a client that does not read.
 *
 * Only the public API of imap/session.h (and store/config/passdb set-up)
 * is used, so the session's internals may change freely underneath.
 * Include from one test program after <cmocka.h>. */
#ifndef RAMPART_TESTS_SESSION_HARNESS_H
#define RAMPART_TESTS_SESSION_HARNESS_H

#include <dirent.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "core/config.h"
#include "core/log.h"
#include "core/proto.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/workpool.h"
#include "imap/session.h"
#include "store/store.h"

#define SH_USER "alice"
#define SH_PASSWORD "correct horse"
/* How long a wait for an answer may take before the test fails: argon2id
 * and SQLite under ASan on a loaded 2-core machine, with a wide margin. */
#define SH_WAIT_SECONDS 60

/* Process-wide set-up, shared by every test of a program. */
struct sh_env {
	char dir[64];
	char conf_path[128];
	struct config *cfg;
	struct passdb *passdb;
	struct event_base *base;
	struct event *tick;
};

/* One client connection as the session sees it. */
struct sh_conn {
	struct sh_env *env;
	struct imap_session *s;
	struct evbuffer *in;       /* sent by the client, not yet consumed */
	struct strbuf out;         /* everything the session wrote */
	size_t mark;               /* transcript already returned by sh_take() */
	size_t pending;            /* simulated bytes the client has not read */
	bool paused;               /* the session asked to stop reading */
	bool wrote;                /* output since the last "drained" */
	bool closed;               /* close() was called */
	size_t closed_at;          /* transcript length when close() was called */
	unsigned writes_after_close;
	bool starttls;             /* starttls() was called */
	unsigned timeout;          /* last set_timeout() */
	char *user;                /* from logged_in() */
	unsigned pause_calls;
};

static void sh_io_write(void *conn, const void *data, size_t len)
{
	struct sh_conn *c = conn;
	if (c->closed) {
		c->writes_after_close++;
		return;
	}
	strbuf_add(&c->out, data, len);
	c->wrote = true;
}

static size_t sh_io_pending(void *conn)
{
	return ((struct sh_conn *)conn)->pending;
}

static void sh_io_starttls(void *conn)
{
	((struct sh_conn *)conn)->starttls = true;
}

static void sh_io_close(void *conn)
{
	struct sh_conn *c = conn;
	if (!c->closed)
		c->closed_at = c->out.len;
	c->closed = true;
}

static void sh_io_pause_read(void *conn, bool pause)
{
	struct sh_conn *c = conn;
	c->paused = pause;
	c->pause_calls++;
}

static void sh_io_set_timeout(void *conn, unsigned seconds)
{
	((struct sh_conn *)conn)->timeout = seconds;
}

static void sh_io_logged_in(void *conn, struct imap_session *s, const char *user)
{
	(void)s;
	struct sh_conn *c = conn;
	free(c->user);
	c->user = xstrdup(user);
}

static const struct conn_io sh_io_ops = {
	.write = sh_io_write,
	.pending = sh_io_pending,
	.starttls = sh_io_starttls,
	.close = sh_io_close,
	.pause_read = sh_io_pause_read,
	.set_timeout = sh_io_set_timeout,
};

/* ---- environment ---- */

static void sh_write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
}

static void sh_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* extra_limits: more "key = value" lines for [limits], or "". */
static struct sh_env *sh_env_new(const char *extra_limits)
{
	struct sh_env *e = xcalloc(1, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/rampart-session-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/users", e->dir);
	char *hash = password_hash(SH_PASSWORD);
	assert_non_null(hash);
	char *line = xasprintf("%s:%s\n", SH_USER, hash);
	sh_write_file(path, line);
	free(line);
	free(hash);
	snprintf(e->conf_path, sizeof(e->conf_path), "%s/rampart.conf", e->dir);
	char *conf = xasprintf("[server]\n"
			       "mail_root = mail\n"
			       "users_file = users\n"
			       "log_level = error\n"
			       "[security]\n"
			       "auth_fail_delay_ms = 10\n"
			       "[limits]\n"
			       "%s\n"
			       "[listener imap]\n"
			       "address = 127.0.0.1:1143\n"
			       "tls = none\n",
			       extra_limits);
	sh_write_file(e->conf_path, conf);
	free(conf);
	char *err = NULL;
	if (config_load(e->conf_path, &e->cfg, &err) < 0)
		fail_msg("config: %s", err);
	log_set_level(LOG_LVL_ERR);
	assert_int_equal(store_init(e->cfg->mail_root), 0);
	e->passdb = passdb_load(e->cfg->users_file, &err);
	if (!e->passdb)
		fail_msg("passdb: %s", err);
	assert_int_equal(evthread_use_pthreads(), 0);
	e->base = event_base_new();
	assert_non_null(e->base);
	/* Wakes the loop regularly, so a wait never blocks for long. */
	e->tick = event_new(e->base, -1, EV_PERSIST, sh_tick, NULL);
	struct timeval tv = { 0, 5000 };
	event_add(e->tick, &tv);
	assert_int_equal(workpool_start(1), 0);
	return e;
}

static int sh_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void sh_env_free(struct sh_env *e)
{
	workpool_stop();
	store_shutdown();
	passdb_free(e->passdb);
	event_free(e->tick);
	event_base_free(e->base);
	config_free(e->cfg);
	nftw(e->dir, sh_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(e);
}

/* ---- connections ---- */

/* Runs the network layer's side once: hands input over while the session
 * reads, and reports drained output. */
static void sh_pump(struct sh_conn *c)
{
	for (int i = 0; i < 1000; i++) {
		bool acted = false;
		if (!c->paused && !c->closed && !c->starttls && evbuffer_get_length(c->in) > 0) {
			size_t before = evbuffer_get_length(c->in);
			size_t out_before = c->out.len;
			imap_session_input(c->s, c->in);
			acted = evbuffer_get_length(c->in) != before || c->out.len != out_before;
		}
		if (c->wrote && c->pending == 0 && !c->closed && !c->starttls) {
			c->wrote = false;
			imap_session_drained(c->s);
			acted = true;
		}
		if (!acted)
			return;
	}
	fail_msg("the session keeps acting without input");
}

/* A connection: tls = TLS already active (port 993), else a STARTTLS
 * listener; trusted = the peer is in trusted_networks. The greeting is
 * sent (sh_take() returns it). */
static struct sh_conn *sh_open(struct sh_env *e, bool tls, bool trusted)
{
	struct sh_conn *c = xcalloc(1, sizeof(*c));
	c->env = e;
	c->in = evbuffer_new();
	struct imap_conn_info info = {
		.tls = tls,
		.starttls_offered = !tls,
		.trusted = trusted,
		.peer = "192.0.2.7",
		.listener = "test",
		.cfg = e->cfg,
		.base = e->base,
		.passdb = e->passdb,
		.logged_in = sh_io_logged_in,
		.logged_in_arg = c,
	};
	c->s = imap_session_new(&sh_io_ops, c, &info);
	assert_non_null(c->s);
	imap_session_start(c->s);
	sh_pump(c);
	return c;
}

static void sh_close(struct sh_conn *c)
{
	imap_session_free(c->s);
	/* Completions the session left on the loop find it gone. */
	event_base_loop(c->env->base, EVLOOP_NONBLOCK);
	evbuffer_free(c->in);
	strbuf_free(&c->out);
	free(c->user);
	free(c);
}

/* Runs the loop until the transcript after the mark contains `needle`
 * (at the start of a line when it starts with a tag or '*'/'+').
 * Fails the test after SH_WAIT_SECONDS. */
static bool sh_has_line(const struct sh_conn *c, const char *needle)
{
	size_t nl = strlen(needle);
	const char *p = c->out.s ? c->out.s + c->mark : "";
	const char *end = c->out.s ? c->out.s + c->out.len : p;
	while (p < end) {
		if ((size_t)(end - p) >= nl && memcmp(p, needle, nl) == 0)
			return true;
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		if (!lf)
			break;
		p = lf + 1;
	}
	return false;
}

static void sh_wait_line(struct sh_conn *c, const char *prefix)
{
	time_t deadline = time(NULL) + SH_WAIT_SECONDS;
	for (;;) {
		sh_pump(c);
		if (sh_has_line(c, prefix))
			return;
		if (time(NULL) > deadline)
			fail_msg("no line starting \"%s\" within %d s; transcript after mark:\n%s", prefix,
				 SH_WAIT_SECONDS, c->out.s ? c->out.s + c->mark : "");
		event_base_loop(c->env->base, EVLOOP_ONCE);
	}
}

/* Runs the loop for a few rounds without waiting for anything: lets a
 * wrongly scheduled response show up before a test asserts its absence. */
static void sh_settle(struct sh_conn *c)
{
	for (int i = 0; i < 20; i++) {
		sh_pump(c);
		event_base_loop(c->env->base, EVLOOP_NONBLOCK);
	}
	sh_pump(c);
}

/* The transcript since the last sh_take() (caller frees). */
static char *sh_take(struct sh_conn *c)
{
	char *t = xstrndup(c->out.s ? c->out.s + c->mark : "", c->out.len - c->mark);
	c->mark = c->out.len;
	return t;
}

/* The network layer's side of STARTTLS: the bytes the client pipelined
 * behind the command are discarded (RFC 9051 6.2.1), the handshake
 * succeeds, and the session is told. */
static void sh_tls_handshake(struct sh_conn *c)
{
	assert_true(c->starttls);
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	c->starttls = false;
	imap_session_tls_started(c->s);
	sh_pump(c);
}

/* Forgets the transcript so far (e.g. a greeting the test does not check). */
static void sh_skip(struct sh_conn *c)
{
	c->mark = c->out.len;
}

/* Client bytes, handed to the session as the network layer would. */
static void sh_send(struct sh_conn *c, const char *bytes)
{
	evbuffer_add(c->in, bytes, strlen(bytes));
	sh_pump(c);
}

/* Sends "TAG TEXT\r\n", waits for the tagged answer and returns the
 * transcript since the last take (caller frees). */
static char *sh_cmd(struct sh_conn *c, const char *tag, const char *text)
{
	char *line = xasprintf("%s %s\r\n", tag, text);
	sh_send(c, line);
	free(line);
	char *prefix = xasprintf("%s ", tag);
	sh_wait_line(c, prefix);
	free(prefix);
	sh_settle(c);
	return sh_take(c);
}

/* Sends a command and checks the whole answer byte for byte. */
static void sh_expect(struct sh_conn *c, const char *tag, const char *text, const char *expected)
{
	char *got = sh_cmd(c, tag, text);
	if (strcmp(got, expected) != 0)
		fail_msg("%s %s\n--- expected ---\n%s--- got ---\n%s", tag, text, expected, got);
	free(got);
}

/* Sends a command and checks that the answer is one tagged line starting
 * "TAG STATUS" (a status with a response code included, e.g. "OK [READ-WRITE]"). */
static void sh_expect_tagged(struct sh_conn *c, const char *tag, const char *text, const char *status)
{
	char *got = sh_cmd(c, tag, text);
	char *prefix = xasprintf("%s %s", tag, status);
	size_t len = strlen(got);
	if (strncmp(got, prefix, strlen(prefix)) != 0 || len < 2 || strcmp(got + len - 2, "\r\n") ||
	    memchr(got, '\n', len - 1))
		fail_msg("%s %s\n--- expected one line starting ---\n%s\n--- got ---\n%s", tag, text,
			 prefix, got);
	free(prefix);
	free(got);
}

/* Logs in (the connection must allow cleartext: tls or trusted) and
 * drops the answer from the transcript. */
static void sh_login(struct sh_conn *c)
{
	sh_skip(c);
	char *got = sh_cmd(c, "L1", "LOGIN " SH_USER " \"" SH_PASSWORD "\"");
	if (strncmp(got, "L1 OK ", 6) != 0)
		fail_msg("login failed: %s", got);
	free(got);
}

/* Appends a small message with LITERAL+ (no continuation round trip). */
static void sh_append(struct sh_conn *c, const char *mailbox, const char *flags, const char *subject)
{
	char *msg = xasprintf("From: bob@example.org\r\nSubject: %s\r\n\r\nHello %s\r\n", subject,
			      subject);
	char *cmd = xasprintf("APPEND %s %s{%zu+}\r\n%s", mailbox, flags, strlen(msg), msg);
	char *got = sh_cmd(c, "AP", cmd);
	if (!strstr(got, "AP OK"))
		fail_msg("append failed: %s", got);
	free(got);
	free(cmd);
	free(msg);
}

#endif
