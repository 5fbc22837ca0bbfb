/* A struct conn_io for driving an LMTP session without a socket (unit
 * tests and the fuzz harness): output is collected in a buffer, input is
 * an evbuffer the test fills, and pause/resume and close are recorded the
 * way net/conn.c honours them (resumed input is processed again). The
 * session, config, passdb and store are the real ones. */
#ifndef RAMPART_TESTS_LMTP_TEST_IO_H
#define RAMPART_TESTS_LMTP_TEST_IO_H

#include "auth/passdb.h"
#include "core/config.h"
#include "core/proto.h"
#include "core/strbuf.h"
#include "lmtp/lmtp.h"
#include "lmtp/lmtp_internal.h"
#include "store/store.h"

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lmtp_test_conn {
	struct strbuf out;
	struct evbuffer *in;
	bool paused, closed;
	unsigned timeout;
	struct lmtp_session *s;
};

static void lt_write(void *conn, const void *data, size_t len)
{
	strbuf_add(&((struct lmtp_test_conn *)conn)->out, data, len);
}

static size_t lt_pending(void *conn)
{
	(void)conn;
	return 0;
}

static void lt_close(void *conn)
{
	((struct lmtp_test_conn *)conn)->closed = true;
}

static void lt_pause(void *conn, bool pause)
{
	((struct lmtp_test_conn *)conn)->paused = pause;
}

static void lt_timeout(void *conn, unsigned seconds)
{
	((struct lmtp_test_conn *)conn)->timeout = seconds;
}

static const struct conn_io lmtp_test_io = {
	.write = lt_write, .pending = lt_pending, .close = lt_close,
	.pause_read = lt_pause, .set_timeout = lt_timeout,
};

static inline void lmtp_test_open(struct lmtp_test_conn *c, const struct lmtp_proto *lp)
{
	memset(c, 0, sizeof(*c));
	c->in = evbuffer_new();
	struct conn_info ci = { .peer = "127.0.0.1", .listener = "test" };
	c->s = lmtp_session_new(lp, &lmtp_test_io, c, &ci);
}

/* Feeds bytes as the network layer would: input is processed whenever
 * the session is not paused and not closed. */
static inline void lmtp_test_feed(struct lmtp_test_conn *c, const void *data, size_t len)
{
	evbuffer_add(c->in, data, len);
	if (!c->paused && !c->closed)
		lmtp_session_input(c->s, c->in);
	/* Deliveries complete inline (no work pool): resume as conn.c does. */
	while (!c->paused && !c->closed && evbuffer_get_length(c->in)) {
		size_t before = evbuffer_get_length(c->in);
		lmtp_session_input(c->s, c->in);
		if (evbuffer_get_length(c->in) == before)
			break;
	}
}

static inline void lmtp_test_close(struct lmtp_test_conn *c)
{
	lmtp_session_free(c->s);
	evbuffer_free(c->in);
	strbuf_free(&c->out);
}

#endif
