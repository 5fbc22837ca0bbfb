/* One LMTP connection (RFC 2033): the command state machine, the
 * message's way from the socket to an unlinked spool file, and the
 * per-recipient replies.
 *
 * States: GREETED -> (LHLO) READY -> (MAIL) MAIL -> (RCPT...) and then
 * DATA or BDAT chunks, then WAIT while the message is committed; its
 * completion writes one reply per accepted recipient in RCPT order (RFC
 * 2033 4.2) and returns to READY. Input is not read during WAIT, so
 * pipelined commands (RFC 2920) after the final dot wait in the buffer.
 *
 * Memory: a message is never held whole. DATA is read a line at a time
 * (a line is at most [lmtp] max_text_line; a longer one is counted, not
 * buffered, and fails the message), dot-unstuffed (RFC 5321 4.5.2), and
 * appended through a 64 KiB buffer to an unlinked file (O_TMPFILE) in the
 * first recipient's spool directory, which the store can then link as
 * the blob itself (store_append's in_file). BDAT chunks (RFC 3030) are
 * copied the same way without unstuffing. A message over [limits]
 * max_message_size is read to its end and refused per recipient.
 *
 * Bounds: command lines LMTP_CMD_LINE_MAX (parse.h), recipients [lmtp]
 * max_recipients, [lmtp] idle_timeout of silence, LMTP_MAX_ERRORS bad
 * commands, queued replies [limits] max_output_buffer. There is no AUTH:
 * who may connect is the listener's business (unix_mode, allow_from). */
#include "lmtp/lmtp_internal.h"
#include "lmtp/parse.h"
#include "lmtp/rcpt.h"
#include "core/config.h"
#include "core/log.h"
#include "core/proto.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "store/store.h"

#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bad commands before the connection is closed (RFC 5321 4.3.2 lets a
 * server close on abuse with 421). */
#define LMTP_MAX_ERRORS 20
/* Spool write buffer. */
#define LMTP_SPOOL_BUF (64u * 1024)

enum lmtp_state { ST_GREETED, ST_READY, ST_MAIL, ST_DATA, ST_BDAT, ST_WAIT, ST_CLOSED };

/* Why a message being received will be refused. */
enum lmtp_data_err { DERR_NONE, DERR_TOO_BIG, DERR_LINE, DERR_IO };

struct lmtp_rcpt {
	char *addr;                 /* as in RCPT TO */
	char *user;
	char *detail;               /* NULL: INBOX */
};

struct lmtp_session {
	const struct lmtp_proto *lp;
	const struct config *cfg;
	const struct conn_io *io;
	void *conn;
	struct event_base *base;
	char peer[64];
	char host[256];
	char id[24];
	enum lmtp_state st;
	unsigned errors;
	bool cmd_skip;              /* discarding the rest of an overlong command line */
	bool out_paused;            /* reading stopped until replies drain */
	char *helo;
	/* The transaction (MAIL ... final dot). */
	char *sender;
	struct lmtp_rcpt *rcpt;
	size_t nrcpt, rcpt_cap;
	/* The message being received. */
	int spool_fd;
	uint64_t msg_len;
	struct strbuf wbuf;
	enum lmtp_data_err derr;
	bool line_start;            /* DATA: the next byte begins a line */
	bool chunking;              /* BDAT used in this transaction */
	uint64_t bdat_left;
	bool bdat_last;
	const char *bdat_reply;     /* the chunk is discarded, then this is the reply */
	enum lmtp_state bdat_prev;  /* ...and the state goes back to this */
	bool bdat_reset;            /* ...or the transaction is dropped */
	struct lmtp_txn *txn;       /* being committed (ST_WAIT) */
	unsigned long seq;          /* messages of this session, for the id */
};

static void lmtp_reply(struct lmtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void lmtp_reply(struct lmtp_session *s, const char *fmt, ...)
{
	char buf[LMTP_CMD_LINE_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 3)
		n = (int)sizeof(buf) - 3;
	buf[n++] = '\r';
	buf[n++] = '\n';
	s->io->write(s->conn, buf, (size_t)n);
}

static void lmtp_close(struct lmtp_session *s)
{
	s->st = ST_CLOSED;
	s->io->close(s->conn);
}

/* A bad command: counted, and too many close the connection. */
static void lmtp_bad(struct lmtp_session *s, const char *reply)
{
	lmtp_reply(s, "%s", reply);
	if (++s->errors >= LMTP_MAX_ERRORS) {
		lmtp_reply(s, "421 4.7.0 Too many errors, closing connection");
		lmtp_close(s);
	}
}

/* Forgets the transaction (RSET, LHLO, after the replies). */
static void lmtp_txn_reset(struct lmtp_session *s)
{
	free(s->sender);
	s->sender = NULL;
	for (size_t i = 0; i < s->nrcpt; i++) {
		free(s->rcpt[i].addr);
		free(s->rcpt[i].user);
		free(s->rcpt[i].detail);
	}
	s->nrcpt = 0;
	if (s->spool_fd >= 0)
		close(s->spool_fd);
	s->spool_fd = -1;
	s->msg_len = 0;
	strbuf_reset(&s->wbuf);
	s->derr = DERR_NONE;
	s->chunking = false;
	s->bdat_left = 0;
	s->bdat_last = false;
	s->bdat_reply = NULL;
	if (s->st != ST_GREETED && s->st != ST_CLOSED)
		s->st = ST_READY;
}

/* An unlinked file in dir: O_TMPFILE, else a named file unlinked at
 * once. -1 with errno on failure. */
static int lmtp_spool_create(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd;
	char *path = xasprintf("%s/lmtp.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	free(path);
	return fd;
}

/* The spool goes beside the first recipient's blobs, so that it becomes
 * a blob by a link; a user whose store does not exist yet has no such
 * directory: mail_root is on the same filesystem. */
static int lmtp_spool_open(struct lmtp_session *s)
{
	char *dir = store_user_spool_dir(s->rcpt[0].user);
	int fd = dir ? lmtp_spool_create(dir) : -1;
	free(dir);
	if (fd < 0)
		fd = lmtp_spool_create(s->cfg->mail_root);
	return fd;
}

static void lmtp_spool_flush(struct lmtp_session *s)
{
	if (s->wbuf.len && s->derr == DERR_NONE && write_all(s->spool_fd, s->wbuf.s, s->wbuf.len) < 0) {
		log_warn("event=lmtp_spool_error id=%s errno=%d", s->id, errno);
		s->derr = DERR_IO;
	}
	strbuf_reset(&s->wbuf);
}

/* Appends message bytes, unless the message is already refused. */
static void lmtp_spool_add(struct lmtp_session *s, const char *p, size_t n)
{
	if (s->derr != DERR_NONE)
		return;
	if (s->msg_len + n > s->cfg->max_message_size) {
		s->derr = DERR_TOO_BIG;
		return;
	}
	s->msg_len += n;
	strbuf_add(&s->wbuf, p, n);
	if (s->wbuf.len >= LMTP_SPOOL_BUF)
		lmtp_spool_flush(s);
}

/* DATA or the first BDAT: the spool, with the trace headers first. */
static bool lmtp_message_begin(struct lmtp_session *s)
{
	s->spool_fd = lmtp_spool_open(s);
	if (s->spool_fd < 0) {
		log_warn("event=lmtp_spool_error id=%s errno=%d", s->id, errno);
		return false;
	}
	s->seq++;
	char id[40];
	snprintf(id, sizeof(id), "%s.%lu", s->id, s->seq);
	struct strbuf h = STRBUF_INIT;
	struct lmtp_trace tr = {
		.sender = s->sender, .single_rcpt = s->nrcpt == 1 ? s->rcpt[0].addr : NULL,
		.helo = s->helo ? s->helo : "unknown", .peer = s->peer, .host = s->host, .id = id,
	};
	lmtp_trace_headers(&h, &tr);
	lmtp_spool_add(s, h.s, h.len);
	strbuf_free(&h);
	s->line_start = true;
	return true;
}

static void lmtp_count_result(int r)
{
	lmtp_count(r == STORE_OK ? LMTP_C_DELIVERED
		   : r == STORE_EOVERQUOTA ? LMTP_C_OVER_QUOTA : LMTP_C_STORE_ERROR, 1);
}

/* Back on the worker: every recipient's reply, in RCPT order. */
static void lmtp_txn_done(struct workpool_job *wj)
{
	struct lmtp_txn *t = (struct lmtp_txn *)wj;
	struct lmtp_session *s = t->sess;
	for (size_t i = 0; i < t->nd; i++) {
		const struct lmtp_delivery *d = &t->d[i];
		lmtp_count_result(d->result);
		log_info("event=lmtp_deliver user=%s mailbox=%s size=%llu result=%s", d->user,
			 d->mailbox, (unsigned long long)t->len,
			 d->result == STORE_OK ? "ok" : d->result == STORE_EOVERQUOTA ? "over_quota"
										: "store_error");
		if (!s)
			continue;
		const char *addr = s->rcpt[i].addr;
		if (d->result == STORE_OK)
			lmtp_reply(s, "250 2.0.0 <%s> Saved", addr);
		else if (d->result == STORE_EOVERQUOTA)
			lmtp_reply(s, "452 4.2.2 <%s> Mailbox full: over quota", addr);
		else
			lmtp_reply(s, "451 4.3.0 <%s> Temporary internal error", addr);
	}
	if (s) {
		s->txn = NULL;
		s->st = ST_READY;
		lmtp_txn_reset(s);
		s->io->pause_read(s->conn, false);
	}
	lmtp_txn_free(t);
}

/* The final dot or BDAT LAST: refuse per recipient, or commit. */
static void lmtp_message_end(struct lmtp_session *s)
{
	lmtp_spool_flush(s);
	if (s->derr != DERR_NONE) {
		for (size_t i = 0; i < s->nrcpt; i++) {
			const char *a = s->rcpt[i].addr;
			if (s->derr == DERR_TOO_BIG)
				lmtp_reply(s, "552 5.3.4 <%s> Message too big (limit %zu octets)", a,
					   s->cfg->max_message_size);
			else if (s->derr == DERR_LINE)
				lmtp_reply(s, "500 5.5.2 <%s> Line too long (limit %zu octets)", a,
					   s->cfg->lmtp_max_text_line);
			else
				lmtp_reply(s, "451 4.3.0 <%s> Temporary internal error", a);
		}
		lmtp_count(s->derr == DERR_TOO_BIG ? LMTP_C_TOO_BIG
			   : s->derr == DERR_IO   ? LMTP_C_STORE_ERROR : LMTP_C_REFUSED, s->nrcpt);
		s->st = ST_READY;
		lmtp_txn_reset(s);
		return;
	}
	struct lmtp_txn *t = xcalloc(1, sizeof(*t));
	pthread_mutex_init(&t->cache_lock, NULL);
	t->sess = s;
	t->fd = s->spool_fd;
	s->spool_fd = -1;
	t->len = s->msg_len;
	t->nd = s->nrcpt;
	t->d = xcalloc(t->nd, sizeof(*t->d));
	for (size_t i = 0; i < t->nd; i++) {
		const struct lmtp_rcpt *r = &s->rcpt[i];
		t->d[i].user = xstrdup(r->user);
		t->d[i].mailbox = xstrdup(r->detail && s->cfg->lmtp_detail_to_folder ? r->detail
										      : "INBOX");
	}
	t->wp.done = lmtp_txn_done;
	t->wp.base = s->base;
	s->txn = t;
	s->st = ST_WAIT;
	s->io->pause_read(s->conn, true);
	lmtp_commit_submit(t); /* may complete inline (no work pool) */
}

/* ---- commands ---- */

/* The LHLO name as it may appear in a Received line: printable, no
 * spaces or parentheses, at most 64 bytes. */
static char *lmtp_helo_clean(const char *arg)
{
	size_t n = strcspn(arg, " ");
	if (n > 64)
		n = 64;
	char *h = xstrndup(arg, n);
	for (char *p = h; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '(' || *p == ')')
			*p = '?';
	return h;
}

static void cmd_lhlo(struct lmtp_session *s, const char *arg)
{
	if (!*arg) {
		lmtp_bad(s, "501 5.5.4 Syntax: LHLO hostname");
		return;
	}
	free(s->helo);
	s->helo = lmtp_helo_clean(arg);
	s->st = ST_READY;
	lmtp_txn_reset(s);
	/* RFC 2033 4.1 and the extensions' RFCs: 2920, 2034, 6152, 6531,
	 * 3030, 1870. */
	lmtp_reply(s, "250-%s", s->host);
	lmtp_reply(s, "250-PIPELINING");
	lmtp_reply(s, "250-ENHANCEDSTATUSCODES");
	lmtp_reply(s, "250-8BITMIME");
	lmtp_reply(s, "250-SMTPUTF8");
	lmtp_reply(s, "250-CHUNKING");
	lmtp_reply(s, "250 SIZE %zu", s->cfg->max_message_size);
}

static void cmd_mail(struct lmtp_session *s, const char *arg)
{
	if (s->st != ST_READY) {
		lmtp_bad(s, s->st == ST_GREETED ? "503 5.5.1 Send LHLO first"
						: "503 5.5.1 Nested MAIL command");
		return;
	}
	struct lmtp_path p;
	const char *err = lmtp_parse_path(arg, true, &p);
	if (err) {
		lmtp_bad(s, err);
		return;
	}
	/* RFC 1870 6.1: a declared size over the limit is refused now. */
	if (p.size > s->cfg->max_message_size) {
		free(p.addr);
		lmtp_count(LMTP_C_TOO_BIG, 1);
		lmtp_reply(s, "552 5.3.4 Message size exceeds fixed limit of %zu octets",
			   s->cfg->max_message_size);
		return;
	}
	s->sender = p.addr;
	s->st = ST_MAIL;
	lmtp_reply(s, "250 2.1.0 Ok");
}

static void cmd_rcpt(struct lmtp_session *s, const char *arg)
{
	if (s->st != ST_MAIL || s->chunking) {
		lmtp_bad(s, "503 5.5.1 Send MAIL first");
		return;
	}
	struct lmtp_path p;
	const char *err = lmtp_parse_path(arg, false, &p);
	if (err) {
		lmtp_bad(s, err);
		return;
	}
	if (s->nrcpt >= s->cfg->lmtp_max_recipients) {
		free(p.addr);
		lmtp_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	char *detail = NULL;
	char *user = lmtp_rcpt_resolve(s->lp->passdb, p.addr, s->cfg->lmtp_recipient_delimiter,
				       &detail);
	if (!user) {
		lmtp_count(LMTP_C_UNKNOWN_USER, 1);
		lmtp_reply(s, "550 5.1.1 <%s> User doesn't exist", p.addr);
		free(p.addr);
		return;
	}
	xgrow((void **)&s->rcpt, &s->rcpt_cap, s->nrcpt + 1, sizeof(*s->rcpt));
	s->rcpt[s->nrcpt++] = (struct lmtp_rcpt){ .addr = p.addr, .user = user, .detail = detail };
	lmtp_reply(s, "250 2.1.5 Ok");
}

static void cmd_data(struct lmtp_session *s, const char *arg)
{
	if (*arg) {
		lmtp_bad(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (s->st != ST_MAIL || s->nrcpt == 0 || s->chunking) {
		lmtp_bad(s, s->chunking ? "503 5.5.1 DATA after BDAT" : "503 5.5.1 No valid recipients");
		return;
	}
	if (!lmtp_message_begin(s)) {
		lmtp_reply(s, "451 4.3.0 Temporary internal error");
		return;
	}
	s->st = ST_DATA;
	lmtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void cmd_bdat(struct lmtp_session *s, const char *arg)
{
	uint64_t size;
	bool last;
	if (!lmtp_parse_bdat(arg, &size, &last)) {
		/* The chunk's size is unknown: its bytes will read as commands
		 * and fail; the MTA must give up (RFC 3030 2). */
		lmtp_bad(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		return;
	}
	s->bdat_left = size;
	s->bdat_last = last;
	s->bdat_reply = NULL;
	s->bdat_prev = s->st;
	s->bdat_reset = false;
	if (s->st != ST_MAIL || s->nrcpt == 0) {
		/* RFC 3030 2: the chunk is read and discarded, then refused. */
		s->bdat_reply = "503 5.5.1 No valid recipients";
		s->errors++;
	} else if (!s->chunking) {
		s->chunking = true;
		if (!lmtp_message_begin(s)) {
			s->bdat_reply = "451 4.3.0 Temporary internal error";
			s->bdat_reset = true;
		}
	}
	s->st = ST_BDAT;
}

static void lmtp_command(struct lmtp_session *s, const char *line)
{
	const char *arg;
	enum lmtp_verb v = lmtp_parse_verb(line, &arg);
	switch (v) {
	case LMTP_LHLO:
		cmd_lhlo(s, arg);
		return;
	case LMTP_HELO:
	case LMTP_EHLO:
		lmtp_bad(s, "500 5.5.1 This is LMTP: use LHLO (RFC 2033)");
		return;
	case LMTP_MAIL:
		cmd_mail(s, arg);
		return;
	case LMTP_RCPT:
		cmd_rcpt(s, arg);
		return;
	case LMTP_DATA:
		cmd_data(s, arg);
		return;
	case LMTP_BDAT:
		cmd_bdat(s, arg);
		return;
	case LMTP_RSET:
		lmtp_txn_reset(s);
		lmtp_reply(s, "250 2.0.0 Ok");
		return;
	case LMTP_NOOP:
		lmtp_reply(s, "250 2.0.0 Ok");
		return;
	case LMTP_QUIT:
		lmtp_reply(s, "221 2.0.0 Bye");
		lmtp_close(s);
		return;
	case LMTP_VRFY:
		/* RFC 5321 3.5.3: neither confirm nor deny. */
		lmtp_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
		return;
	case LMTP_HELP:
		lmtp_reply(s, "214 2.0.0 LHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY");
		return;
	case LMTP_UNKNOWN:
		break;
	}
	lmtp_bad(s, "500 5.5.2 Command unrecognized");
}

/* One command line; false when a whole line is not there yet. */
static bool lmtp_step_command(struct lmtp_session *s, struct evbuffer *in)
{
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	size_t avail = evbuffer_get_length(in);
	if (p.pos < 0) {
		if (avail > LMTP_CMD_LINE_MAX) {
			if (!s->cmd_skip)
				lmtp_bad(s, "500 5.5.2 Line too long");
			s->cmd_skip = true;
			evbuffer_drain(in, avail);
		}
		return false;
	}
	size_t total = (size_t)p.pos + 1;
	if (s->cmd_skip || total > LMTP_CMD_LINE_MAX) {
		evbuffer_drain(in, total);
		if (!s->cmd_skip)
			lmtp_bad(s, "500 5.5.2 Line too long");
		s->cmd_skip = false;
		return true;
	}
	char line[LMTP_CMD_LINE_MAX + 1];
	evbuffer_remove(in, line, total);
	size_t n = total - 1;
	if (n && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	if (memchr(line, '\0', n) || memchr(line, '\r', n)) {
		lmtp_bad(s, "500 5.5.2 Syntax error");
		return true;
	}
	lmtp_command(s, line);
	return true;
}

/* DATA: complete lines (or the first max_text_line bytes of a longer
 * one), dot-unstuffed; false when more input is needed. */
static bool lmtp_step_data(struct lmtp_session *s, struct evbuffer *in)
{
	size_t max = s->cfg->lmtp_max_text_line;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	size_t avail = evbuffer_get_length(in);
	size_t take;
	bool eol;
	if (p.pos >= 0 && (size_t)p.pos < max) {
		take = (size_t)p.pos + 1;
		eol = true;
	} else if (p.pos >= 0 || avail >= max) {
		/* A line longer than the limit: counted, never buffered. */
		take = max;
		eol = false;
		if (s->derr == DERR_NONE)
			s->derr = DERR_LINE;
	} else {
		return false;
	}
	const char *l = (const char *)evbuffer_pullup(in, (ssize_t)take);
	if (s->line_start && eol && l[0] == '.' &&
	    (take == 2 || (take == 3 && l[1] == '\r'))) {
		evbuffer_drain(in, take);
		lmtp_message_end(s);
		return true;
	}
	const char *w = l;
	size_t wl = take;
	if (s->line_start && l[0] == '.') { /* RFC 5321 4.5.2 */
		w++;
		wl--;
	}
	if (eol && (wl < 2 || w[wl - 2] != '\r')) {
		/* A bare LF ends a line as CRLF would: stored as CRLF. */
		lmtp_spool_add(s, w, wl - 1);
		lmtp_spool_add(s, "\r\n", 2);
	} else {
		lmtp_spool_add(s, w, wl);
	}
	s->line_start = eol;
	evbuffer_drain(in, take);
	return true;
}

/* BDAT: the chunk's bytes as they are (RFC 3030 2), then its reply. */
static bool lmtp_step_bdat(struct lmtp_session *s, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	if (s->bdat_left) {
		if (!avail)
			return false;
		size_t take = avail < s->bdat_left ? avail : (size_t)s->bdat_left;
		if (!s->bdat_reply) {
			struct evbuffer_iovec v[8];
			int nv = evbuffer_peek(in, (ssize_t)take, NULL, v, 8);
			size_t done = 0;
			for (int i = 0; i < nv && i < 8 && done < take; i++) {
				size_t k = v[i].iov_len < take - done ? v[i].iov_len : take - done;
				lmtp_spool_add(s, v[i].iov_base, k);
				done += k;
			}
			take = done;
		}
		evbuffer_drain(in, take);
		s->bdat_left -= take;
		if (s->bdat_left)
			return true;
	}
	if (s->bdat_reply) {
		const char *r = s->bdat_reply;
		s->bdat_reply = NULL;
		s->st = s->bdat_prev;
		if (s->bdat_reset)
			lmtp_txn_reset(s);
		lmtp_reply(s, "%s", r);
		return true;
	}
	if (s->bdat_last) {
		lmtp_message_end(s);
		return true;
	}
	s->st = ST_MAIL;
	if (s->derr == DERR_TOO_BIG) {
		lmtp_reply(s, "552 5.3.4 Message too big (limit %zu octets)", s->cfg->max_message_size);
		lmtp_count(LMTP_C_TOO_BIG, s->nrcpt);
		lmtp_txn_reset(s);
		return true;
	}
	lmtp_reply(s, "250 2.0.0 %llu octets received", (unsigned long long)s->msg_len);
	return true;
}

void lmtp_session_input(struct lmtp_session *s, struct evbuffer *in)
{
	for (;;) {
		if (s->st == ST_WAIT || s->st == ST_CLOSED)
			return;
		/* Pipelined commands whose replies nobody reads: stop reading. */
		if (s->io->pending(s->conn) > s->cfg->max_output_buffer) {
			s->out_paused = true;
			s->io->pause_read(s->conn, true);
			return;
		}
		bool more = s->st == ST_DATA ? lmtp_step_data(s, in)
			    : s->st == ST_BDAT ? lmtp_step_bdat(s, in)
					       : lmtp_step_command(s, in);
		if (!more)
			return;
	}
}

void lmtp_session_drained(struct lmtp_session *s)
{
	if (s->out_paused && s->st != ST_WAIT && s->st != ST_CLOSED) {
		s->out_paused = false;
		s->io->pause_read(s->conn, false);
	}
}

struct lmtp_session *lmtp_session_new(const struct lmtp_proto *lp, const struct conn_io *io,
				      void *conn, const struct conn_info *info)
{
	static atomic_uint next_id;
	struct lmtp_session *s = xcalloc(1, sizeof(*s));
	s->lp = lp;
	s->cfg = lp->cfg;
	s->io = io;
	s->conn = conn;
	s->base = info->base;
	s->spool_fd = -1;
	snprintf(s->peer, sizeof(s->peer), "%s", info->peer ? info->peer : "unknown");
	if (gethostname(s->host, sizeof(s->host) - 1) < 0 || !s->host[0])
		snprintf(s->host, sizeof(s->host), "localhost");
	snprintf(s->id, sizeof(s->id), "%08x%04x", (unsigned)time(NULL),
		 atomic_fetch_add(&next_id, 1) & 0xffff);
	s->st = ST_GREETED;
	lmtp_commit_set_grouping(s->cfg->lmtp_group_commit);
	lmtp_commit_set_new_mail(lp->new_mail); /* newmsg */
	io->set_timeout(conn, s->cfg->lmtp_idle_timeout);
	/* RFC 2033 4: the greeting names the service as LMTP. */
	lmtp_reply(s, "220 %s Rampart LMTP ready", s->host);
	return s;
}

void lmtp_session_timeout(struct lmtp_session *s)
{
	if (s->st == ST_CLOSED)
		return;
	lmtp_reply(s, "421 4.4.2 %s Idle timeout, closing connection", s->host);
	lmtp_close(s);
}

void lmtp_session_shutdown(struct lmtp_session *s)
{
	if (s->st == ST_CLOSED)
		return;
	lmtp_reply(s, "421 4.3.2 %s Server shutting down", s->host);
	lmtp_close(s);
}

void lmtp_session_free(struct lmtp_session *s)
{
	if (!s)
		return;
	if (s->txn)
		s->txn->sess = NULL; /* its done() frees it */
	s->st = ST_CLOSED;
	lmtp_txn_reset(s);
	free(s->rcpt);
	strbuf_free(&s->wbuf);
	free(s->helo);
	free(s);
}
