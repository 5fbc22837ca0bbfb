/* loadgen: an IMAP load generator for benchmarking Rampart against Dovecot.
 *
 * One epoll loop per thread drives many non-blocking connections (plaintext,
 * STARTTLS or implicit TLS via OpenSSL memory-free SSL objects on the
 * socket). Each connection runs the script of a named workload; every
 * command's latency goes into a per-thread log-linear histogram, merged at
 * the end into per-command throughput, p50/p99/max and error counts.
 *
 * It is kept lean on purpose (no per-command allocation, no line copies
 * unless a response line straddles reads) so that one core of client can
 * saturate a 2-core server. Every loop is bounded by --duration and --count.
 * It only connects where it is told (the compare script passes loopback).
 */
#include "core/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum op {
	OP_CONNECT, OP_STARTTLS, OP_LOGIN, OP_SELECT, OP_EXAMINE, OP_FETCH_FLAGS,
	OP_FETCH_HEADER, OP_FETCH_BODY, OP_STORE, OP_APPEND, OP_STORE_DELETED,
	OP_EXPUNGE, OP_LOGOUT, OP_IDLE, OP_SEARCH_SUBJECT, OP_SEARCH_FROM,
	OP_SEARCH_BODY, OP_DOWNLOAD, OP_FILL, OP_WAKE, OP_NOTIFY_WAIT,
	/* imaptest workload */
	OP_LIST, OP_STATUS, OP_NOOP, OP_FETCH_MIX, OP_FETCH_PART, OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"CONNECT", "STARTTLS", "LOGIN", "SELECT", "EXAMINE", "FETCH_FLAGS",
	"FETCH_HEADER", "FETCH_BODY", "STORE", "APPEND", "STORE_DELETED",
	"EXPUNGE", "LOGOUT", "IDLE", "SEARCH_SUBJECT", "SEARCH_FROM",
	"SEARCH_BODY", "DOWNLOAD", "FILL", "WAKE", "NOTIFY_WAIT",
	"LIST", "STATUS", "NOOP", "FETCH_MIX", "FETCH_PART",
};

/* A workload is a script of ops; steps from loop_at on repeat, and a
 * script whose loop_at is 0 reconnects for every iteration. */
struct workload {
	const char *name;
	enum op steps[20];
	int nsteps;
	int loop_at;
};

static const struct workload workloads[] = {
	{ "mixed", { OP_CONNECT, OP_LOGIN, OP_SELECT, OP_FETCH_FLAGS, OP_FETCH_HEADER,
		     OP_FETCH_BODY, OP_STORE, OP_APPEND, OP_STORE_DELETED, OP_EXPUNGE,
		     OP_LOGOUT }, 11, 0 },
	{ "sessions", { OP_CONNECT, OP_LOGIN, OP_SELECT, OP_FETCH_FLAGS, OP_FETCH_HEADER,
			OP_FETCH_BODY, OP_STORE, OP_APPEND, OP_STORE_DELETED, OP_EXPUNGE },
	  10, 2 },
	{ "connect", { OP_CONNECT, OP_LOGIN, OP_LOGOUT }, 3, 0 },
	{ "idle", { OP_CONNECT, OP_LOGIN, OP_SELECT, OP_IDLE }, 4, 4 },
	{ "bigbox", { OP_CONNECT, OP_LOGIN, OP_EXAMINE, OP_FETCH_FLAGS, OP_SEARCH_SUBJECT,
		      OP_SEARCH_FROM, OP_SEARCH_BODY, OP_LOGOUT }, 8, 0 },
	{ "deliver", { OP_CONNECT, OP_LOGIN, OP_APPEND }, 3, 2 },
	{ "download", { OP_CONNECT, OP_LOGIN, OP_EXAMINE, OP_DOWNLOAD }, 4, 3 },
	{ "fill", { OP_CONNECT, OP_LOGIN, OP_FILL, OP_LOGOUT }, 4, 0 },
	/* Long-lived sessions in the manner of imaptest's default profile:
	 * each step runs with the probability of imt_step_pct (imt_*). */
	{ "imaptest", { OP_CONNECT, OP_LOGIN, OP_SELECT, OP_LIST, OP_STATUS, OP_FETCH_MIX,
			OP_FETCH_PART, OP_FETCH_PART, OP_STORE, OP_STORE_DELETED, OP_EXPUNGE,
			OP_APPEND, OP_NOOP, OP_LOGOUT }, 14, 3 },
};

enum tls_mode { TLS_PLAIN, TLS_STARTTLS, TLS_IMPLICIT };

struct options {
	const char *host;
	int port;
	enum tls_mode tls;
	const char *user_fmt;
	int user_first, user_last;
	const char *password;
	int clients, threads;
	double duration;
	uint64_t count;
	const struct workload *wl;
	const char *mailbox;
	const char *mail_file;
	int fill_per_user, fill_batch;
	int download_chunk;
	int ramp;
	bool json;
	bool wake;
	int wake_rounds;
	double wake_gap;      /* seconds between a round's end and the next APPEND */
	double wake_timeout;  /* seconds a round waits for every client */
	const char *search_subject, *search_from, *search_body;
	struct in_addr src[64];
	int nsrc;
	int append_size;
	double setup_timeout;
	bool split_literal;   /* APPEND: synchronizing literal, CRLF in its own write */
	bool imaptest;        /* -w imaptest */
	int imaptest_size;    /* imaptest: mailbox size to keep (0: as first SELECTed) */
	/* tls (--resume): offer the previous connection's session (ticket) */
	bool resume;
	/* --same-message: every APPEND sends the very same bytes (a store that
	 * keeps one copy of identical messages writes only the first) */
	bool same_message;
};

static struct options opt;

/* Log-linear histogram of microseconds: 16 sub-buckets per power of two
 * (about 6% resolution), enough for p50/p99 up to hours. */
#define HIST_SUB 16
#define HIST_BUCKETS (64 * HIST_SUB)

struct op_stats {
	uint64_t count, errors, sum_us, max_us;
	uint32_t hist[HIST_BUCKETS];
};

struct stats {
	struct op_stats op[OP_COUNT];
	uint64_t bytes_in, bytes_all, iterations;
};

static unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned sub = (unsigned)(v >> (msb - 4)) & (HIST_SUB - 1);
	return (msb - 3) * HIST_SUB + sub;
}

static uint64_t hist_value(unsigned idx)
{
	if (idx < HIST_SUB)
		return idx;
	unsigned msb = idx / HIST_SUB + 3;
	uint64_t sub = idx % HIST_SUB;
	uint64_t lo = ((uint64_t)HIST_SUB + sub) << (msb - 4);
	uint64_t width = (uint64_t)1 << (msb - 4);
	return lo + width / 2;
}

static double hist_pct(const struct op_stats *s, double pct)
{
	if (s->count == 0)
		return 0;
	uint64_t ok = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		ok += s->hist[i];
	if (ok == 0)
		return 0;
	uint64_t want = (uint64_t)(pct / 100.0 * (double)ok + 0.5);
	if (want < 1)
		want = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += s->hist[i];
		if (seen >= want) {
			uint64_t v = hist_value(i);
			return (double)(v > s->max_us ? s->max_us : v) / 1000.0;
		}
	}
	return (double)s->max_us / 1000.0;
}

/* Long-lived workloads (sessions, deliver, download) measure the steady
 * state: the clock starts once every client is logged in, so that a
 * server's login cost (argon2id, tens of ms each) is not what they show. */
static bool warmup;
static atomic_bool measuring;
static atomic_int logged_in;
static atomic_uint_fast64_t measure_t0_ms;

static bool op_is_setup(enum op op)
{
	return op == OP_CONNECT || op == OP_STARTTLS || op == OP_LOGIN;
}

static void stats_record(struct stats *st, enum op op, uint64_t us, bool ok)
{
	if (warmup && !op_is_setup(op) && !atomic_load_explicit(&measuring, memory_order_relaxed))
		return;
	struct op_stats *s = &st->op[op];
	s->count++;
	if (!ok) {
		s->errors++;
		return;
	}
	s->sum_us += us;
	if (us > s->max_us)
		s->max_us = us;
	s->hist[hist_index(us)]++;
}

/* Cross-thread state: the stop flag, the global iteration budget, and the
 * wake-latency experiment (one notifier APPENDs, every IDLE client records
 * the time from that APPEND until its EXISTS arrived). */
static atomic_bool stop_flag;
static atomic_uint_fast64_t iterations_left;
static atomic_int idling;
static atomic_int workers_done;
static atomic_uint_fast64_t wake_t0;
static atomic_int woken;
static atomic_int next_fill_user;
static atomic_int conn_errors_printed;

/* --mail-file: messages from gen_mail.py, "<length>\n<bytes>" repeated. */
static const char *mail_map;
static size_t mail_nmsgs;
static size_t *mail_off, *mail_len;
static char *append_msg;
static size_t append_len;
/* Where the Message-ID's 16 hex digits sit in append_msg: each APPEND gets
 * its own (append_seq), so no two messages are byte-identical, as in real
 * mail, and a server that stores identical messages once gains nothing. */
static size_t append_id_off;
static atomic_uint_fast64_t append_seq;
#define APPEND_ID_DIGITS 16

enum cstate { CS_IDLE_SLOT, CS_CONNECTING, CS_TLS_HANDSHAKE, CS_GREETING, CS_READY,
	      CS_WAITING, CS_IDLING, CS_DONE };

struct conn {
	struct worker *w;
	int fd;
	SSL *ssl;
	enum cstate state;
	int step;
	int user;
	bool notifier;
	bool want_write;
	bool in_idle_done;
	enum op cur;
	uint64_t t_start;
	uint32_t tagn;
	char tag[16];
	size_t taglen;
	/* response parsing */
	char *rbuf;
	size_t rlen, rcap;
	uint64_t literal_left;
	/* pending output */
	char *wbuf;
	size_t wlen, wpos, wcap;
	uint32_t exists;
	uint32_t append_uid;
	uint32_t dl_next;
	int fill_done;
	uint64_t iter;
	uint64_t rng;
	int notify_round;
	uint64_t notify_at;
	bool ever_connected;
	bool ramping;
	bool literal_wait;    /* --split-literal: APPEND waits for its "+" */
	uint32_t imt_target;  /* imaptest: mailbox size DELETE and APPEND keep */
	bool imt_logout;      /* imaptest: LOGOUT sent, log in again after it */
};

struct worker {
	int id;
	int epfd;
	pthread_t thread;
	struct conn *conns;
	int nconns;
	int connecting;
	int next_start;
	atomic_int gave_up;  /* idle workload: clients that ended without idling */
	struct stats st;
	SSL_CTX *ctx;
	/* tls (--resume): the session the next connection of this thread offers */
	SSL_SESSION *resume_sess;
};

static SSL_CTX *ssl_ctx;

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: cheap and good enough to pick message numbers. */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 2685821657736338717ULL;
}

static bool time_is_up(void)
{
	return atomic_load_explicit(&stop_flag, memory_order_relaxed);
}

static void conn_error(struct conn *c, const char *what)
{
	if (atomic_fetch_add(&conn_errors_printed, 1) < 10)
		fprintf(stderr, "loadgen: conn user=%d op=%s: %s\n", c->user,
			op_names[c->cur], what);
}

static void conn_epoll_update(struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | (c->want_write ? EPOLLOUT : 0u),
				  .data.ptr = c };
	epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* A connection counts against --ramp until it is logged in (or idling,
 * for the idle workload) or gone. */
static void conn_ramp_done(struct conn *c)
{
	if (c->ramping) {
		c->ramping = false;
		c->w->connecting--;
	}
}

/* ---- --resume: TLS session resumption (RFC 8446 2.2, RFC 5077) ----
 * Each thread keeps the session of its last connection that got a
 * ticket and offers it on its next handshake, as a mail client that
 * reconnects does; the server decides whether to resume, and the counts
 * say how often it did. Without --resume every connect is a full
 * handshake (no ticket asked for, none kept). */
static atomic_uint_fast64_t tls_resumed, tls_full;

static void resume_ctx_setup(SSL_CTX *ctx)
{
	if (!opt.resume)
		return;
	SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
	/* The client side only: sessions are kept by hand, per thread. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
}

/* A copy each time, for the same reason as in resume_keep(). */
static void resume_offer(struct conn *c)
{
	if (!opt.resume || !c->w->resume_sess)
		return;
	SSL_SESSION *s = SSL_SESSION_dup(c->w->resume_sess);
	if (!s || !SSL_set_session(c->ssl, s))
		fatal("SSL_set_session failed");
	SSL_SESSION_free(s);
}

/* The handshake finished: was it resumed? */
static void resume_count(struct conn *c)
{
	if (opt.resume)
		atomic_fetch_add(SSL_session_reused(c->ssl) ? &tls_resumed : &tls_full, 1);
}

/* Before SSL_free: after a full handshake, keep its session if the
 * server gave it a ticket (TLS 1.3 tickets come after the handshake and
 * are read with the data); after a resumed one, keep offering the same
 * ticket, as OpenSSL's server accepts it until it expires. A copy:
 * SSL_free() of a connection that sent no close_notify marks its own
 * session object not resumable. */
static void resume_keep(struct conn *c)
{
	if (!opt.resume || !c->ssl || !SSL_is_init_finished(c->ssl) || !SSL_get_session(c->ssl) ||
	    SSL_session_reused(c->ssl))
		return;
	SSL_SESSION *s = SSL_SESSION_dup(SSL_get_session(c->ssl));
	if (!s)
		return;
	if (!SSL_SESSION_is_resumable(s)) {
		SSL_SESSION_free(s);
		return;
	}
	SSL_SESSION_free(c->w->resume_sess);
	c->w->resume_sess = s;
}

static void resume_json(void)
{
	if (opt.resume)
		printf(",\"tls_full\":%" PRIu64 ",\"tls_resumed\":%" PRIu64, (uint64_t)atomic_load(&tls_full),
		       (uint64_t)atomic_load(&tls_resumed));
}

static void resume_report(void)
{
	if (opt.resume)
		printf("TLS handshakes: %" PRIu64 " full, %" PRIu64 " resumed\n",
		       (uint64_t)atomic_load(&tls_full), (uint64_t)atomic_load(&tls_resumed));
}

static void conn_close(struct conn *c)
{
	conn_ramp_done(c);
	if (c->ssl) {
		resume_keep(c);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->state == CS_IDLING)
		atomic_fetch_sub(&idling, 1);
	c->ever_connected = false;
	c->rlen = 0;
	c->literal_left = 0;
	c->literal_wait = false;
	c->wlen = c->wpos = 0;
	c->want_write = false;
}

static void conn_start(struct conn *c);
static void conn_next(struct conn *c);

/* A failed connection stops its script: it is counted, and loops that
 * reconnect anyway (loop_at == 0) start over, bounded by the deadline. */
static void conn_fail(struct conn *c, const char *why)
{
	conn_error(c, why);
	stats_record(&c->w->st, c->cur, 0, false);
	conn_close(c);
	c->state = CS_DONE;
	/* Seeding must not retry silently: a failed fill is reported. */
	if (!time_is_up() && opt.wl->loop_at == 0 && !c->notifier && strcmp(opt.wl->name, "fill") != 0) {
		usleep(1000);
		c->step = 0;
		conn_start(c);
	}
}

/* Writes pending output; returns -1 when the connection failed. */
static int conn_flush(struct conn *c)
{
	while (c->wpos < c->wlen) {
		ssize_t n;
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_write(c->ssl, c->wbuf + c->wpos, (int)(c->wlen - c->wpos));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
					if (!c->want_write) {
						c->want_write = true;
						conn_epoll_update(c);
					}
					return 0;
				}
				return -1;
			}
			n = r;
		} else {
			n = send(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR) {
					if (!c->want_write) {
						c->want_write = true;
						conn_epoll_update(c);
					}
					return 0;
				}
				return -1;
			}
		}
		c->wpos += (size_t)n;
	}
	c->wlen = c->wpos = 0;
	if (c->want_write) {
		c->want_write = false;
		conn_epoll_update(c);
	}
	return 0;
}

static void conn_put(struct conn *c, const char *data, size_t len)
{
	if (c->wlen + len > c->wcap)
		xgrow((void **)&c->wbuf, &c->wcap, c->wlen + len, 1);
	memcpy(c->wbuf + c->wlen, data, len);
	c->wlen += len;
}

static void conn_printf(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void conn_printf(struct conn *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		conn_put(c, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Starts a tagged command: the tag is remembered so its completion can be
 * recognised among untagged data. */
static void conn_tag(struct conn *c, enum op op)
{
	c->cur = op;
	c->taglen = (size_t)snprintf(c->tag, sizeof(c->tag), "A%" PRIu32, ++c->tagn);
	conn_put(c, c->tag, c->taglen);
	conn_put(c, " ", 1);
	c->t_start = now_us();
	c->state = CS_WAITING;
}

static void conn_user_name(const struct conn *c, char *buf, size_t len)
{
	/* The format comes from the command line and has exactly one %d. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(buf, len, opt.user_fmt, c->user);
#pragma GCC diagnostic pop
}

static void conn_tls_begin(struct conn *c)
{
	c->ssl = SSL_new(ssl_ctx);
	if (!c->ssl)
		fatal("SSL_new failed");
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_connect_state(c->ssl);
	resume_offer(c);
	c->state = CS_TLS_HANDSHAKE;
}

static void conn_tls_step(struct conn *c)
{
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		resume_count(c);
		if (opt.tls == TLS_IMPLICIT) {
			c->state = CS_GREETING;
		} else {
			/* STARTTLS and its handshake done: on to LOGIN. */
			stats_record(&c->w->st, OP_STARTTLS, now_us() - c->t_start, true);
			c->state = CS_READY;
			conn_next(c);
		}
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		if (c->want_write) {
			c->want_write = false;
			conn_epoll_update(c);
		}
		return;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		if (!c->want_write) {
			c->want_write = true;
			conn_epoll_update(c);
		}
		return;
	}
	conn_fail(c, "TLS handshake failed");
}

static void conn_start(struct conn *c)
{
	struct worker *w = c->w;
	c->state = CS_CONNECTING;
	c->cur = OP_CONNECT;
	c->t_start = now_us();
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_error(c, strerror(errno));
		stats_record(&w->st, OP_CONNECT, 0, false);
		c->state = CS_DONE;
		return;
	}
	int one = 1;
	/* --split-literal models imaplib, mutt and imapfilter: Nagle stays on,
	 * so the CRLF written after a literal waits for the literal's ACK. */
	if (!opt.split_literal)
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (opt.nsrc > 0) {
		struct sockaddr_in src = { .sin_family = AF_INET,
					   .sin_addr = opt.src[(unsigned)(c - w->conns + w->id) % (unsigned)opt.nsrc] };
#ifdef IP_BIND_ADDRESS_NO_PORT
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			conn_error(c, "bind source address");
			close(c->fd);
			c->fd = -1;
			stats_record(&w->st, OP_CONNECT, 0, false);
			c->state = CS_DONE;
			return;
		}
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
	inet_pton(AF_INET, opt.host, &sa.sin_addr);
	int r = connect(c->fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r < 0 && errno != EINPROGRESS) {
		conn_error(c, strerror(errno));
		close(c->fd);
		c->fd = -1;
		stats_record(&w->st, OP_CONNECT, 0, false);
		c->state = CS_DONE;
		return;
	}
	c->ever_connected = true;
	c->want_write = true;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Picks up to `n` consecutive message numbers at random. */
static void conn_pick(struct conn *c, uint32_t n, uint32_t *lo, uint32_t *hi)
{
	*lo = 1 + (uint32_t)(rng_next(&c->rng) % c->exists);
	*hi = *lo + n - 1;
	if (*hi > c->exists)
		*hi = c->exists;
}

static void conn_quote(struct conn *c, const char *s)
{
	conn_put(c, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			conn_put(c, "\\", 1);
		conn_put(c, s, 1);
	}
	conn_put(c, "\"", 1);
}

static void conn_append_literal(struct conn *c, const char *msg, size_t len)
{
	/* RFC 7888 LITERAL+: no round trip for the continuation. */
	conn_printf(c, "{%zu+}\r\n", len);
	conn_put(c, msg, len);
}

/* The APPEND message, with this APPEND's own Message-ID unless
 * --same-message. */
static void conn_put_append_msg(struct conn *c)
{
	if (opt.same_message) {
		conn_put(c, append_msg, append_len);
		return;
	}
	char id[APPEND_ID_DIGITS + 1];
	snprintf(id, sizeof(id), "%0*" PRIxFAST64, APPEND_ID_DIGITS,
		 (uint_fast64_t)atomic_fetch_add(&append_seq, 1));
	conn_put(c, append_msg, append_id_off);
	conn_put(c, id, APPEND_ID_DIGITS);
	conn_put(c, append_msg + append_id_off + APPEND_ID_DIGITS,
		 append_len - append_id_off - APPEND_ID_DIGITS);
}

static void conn_append_msg_literal(struct conn *c)
{
	conn_printf(c, "{%zu+}\r\n", append_len);
	conn_put_append_msg(c);
}

/* --split-literal: the server said "+" to an APPEND's synchronizing
 * literal. Like imaplib, write the literal and then its closing CRLF as
 * two writes (RFC 9051 7.5: the continuation invites the literal). */
static void conn_literal_send(struct conn *c)
{
	c->literal_wait = false;
	conn_put_append_msg(c);
	if (conn_flush(c) < 0) {
		conn_fail(c, "write failed");
		return;
	}
	conn_put(c, "\r\n", 2);
	if (conn_flush(c) < 0)
		conn_fail(c, "write failed");
}

/* ---- imaptest: a command mix in the manner of imaptest's default profile.
 * imaptest (github.com/dovecot/imaptest, src/client-state.c) walks a list
 * of states and runs each with a probability; this keeps its shape for
 * long-lived sessions, one command at a time (no pipelining): after LOGIN
 * and SELECT, each iteration runs LIST 50%, STATUS 50%, a FETCH of up to
 * 100 random messages with 1-4 random items 100%, a FETCH of one message's
 * header, text or body 100% (again 30%), STORE of random flags and keywords
 * on random messages 50%, STORE +FLAGS \Deleted on a few 100%, EXPUNGE
 * 100%, APPEND 100% while the mailbox is below its size, NOOP 10% and
 * LOGOUT 1% (then connect and LOGIN again). DELETE and APPEND keep the
 * mailbox at --imaptest-size, or the size of the first SELECT: at that
 * size an iteration deletes one or two messages and appends one. */

/* Percent per script step of the imaptest workload (see the table). */
static const uint8_t imt_step_pct[] = { 100, 100, 100, 50, 50, 100, 100, 30, 50, 100, 100,
					100, 10, 1 };

/* A number below n from the generator's high half (xorshift64*'s low
 * bits are its weakest, and several draws follow each other here). */
static uint32_t imt_rand(struct conn *c, uint32_t n)
{
	return (uint32_t)((rng_next(&c->rng) >> 32) % n);
}

static bool imt_roll(struct conn *c, unsigned pct)
{
	return imt_rand(c, 100) < pct;
}

/* Writes a message set of up to `n` random message numbers as sorted,
 * merged ranges ("1:3,7,9:12"). */
static void imt_put_set(struct conn *c, uint32_t n)
{
	uint32_t seq[100];
	if (n > ARRAY_SIZE(seq))
		n = ARRAY_SIZE(seq);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v = 1 + imt_rand(c, c->exists);
		uint32_t j = i;
		for (; j > 0 && seq[j - 1] > v; j--)
			seq[j] = seq[j - 1];
		seq[j] = v;
	}
	for (uint32_t i = 0; i < n;) {
		const char *sep = i == 0 ? "" : ",";
		uint32_t lo = seq[i], hi = lo;
		while (++i < n && seq[i] <= hi + 1)
			hi = seq[i];
		if (lo == hi)
			conn_printf(c, "%s%" PRIu32, sep, lo);
		else
			conn_printf(c, "%s%" PRIu32 ":%" PRIu32, sep, lo, hi);
	}
}

/* 1-4 distinct FETCH items; one time in four a HEADER.FIELDS section of
 * 1-4 distinct fields instead of a plain item, as imaptest's FETCH. */
static void imt_put_fetch_items(struct conn *c)
{
	static const char *const items[] = { "UID", "FLAGS", "ENVELOPE", "INTERNALDATE",
					     "BODY", "BODYSTRUCTURE", "RFC822.SIZE" };
	static const char *const fields[] = { "From", "To", "Cc", "Subject", "References",
					      "In-Reply-To", "Message-ID", "Delivered-To" };
	unsigned used = 0;
	bool header_done = false;
	int n = 1 + (int)imt_rand(c, 4);
	conn_put(c, "(", 1);
	for (int i = 0; i < n; i++) {
		if (i > 0)
			conn_put(c, " ", 1);
		if (!header_done && imt_roll(c, 25)) {
			header_done = true;
			unsigned fused = 0;
			int nf = 1 + (int)imt_rand(c, 4);
			conn_put(c, "BODY.PEEK[HEADER.FIELDS (", 25);
			for (int k = 0; k < nf; k++) {
				unsigned f = imt_rand(c, ARRAY_SIZE(fields));
				while (fused & (1u << f))
					f = (f + 1) % ARRAY_SIZE(fields);
				fused |= 1u << f;
				conn_printf(c, "%s%s", k ? " " : "", fields[f]);
			}
			conn_put(c, ")]", 2);
			continue;
		}
		unsigned it = imt_rand(c, ARRAY_SIZE(items));
		while (used & (1u << it))
			it = (it + 1) % ARRAY_SIZE(items);
		used |= 1u << it;
		conn_printf(c, "%s", items[it]);
	}
	conn_put(c, ")", 1);
}

static void imt_put_flags(struct conn *c)
{
	static const char *const flags[] = { "\\Seen", "\\Flagged", "\\Answered", "\\Draft",
					     "$Forwarded", "$Label1", "$Label2" };
	unsigned used = 0;
	int n = 1 + (int)imt_rand(c, 3);
	conn_put(c, "(", 1);
	for (int i = 0; i < n; i++) {
		unsigned f = imt_rand(c, ARRAY_SIZE(flags));
		while (used & (1u << f))
			f = (f + 1) % ARRAY_SIZE(flags);
		used |= 1u << f;
		conn_printf(c, "%s%s", i ? " " : "", flags[f]);
	}
	conn_put(c, ")", 1);
}

/* The imaptest workload's part of conn_next: 0 skips the step, 1 means
 * the command is written, -1 leaves it to the common code (SELECT, APPEND,
 * EXPUNGE, LOGOUT, which other workloads send the same way). */
static int imt_command(struct conn *c, enum op op)
{
	unsigned pct = (size_t)c->step < ARRAY_SIZE(imt_step_pct) ? imt_step_pct[c->step] : 100;
	if (pct < 100 && !imt_roll(c, pct))
		return 0;
	bool selected = op != OP_CONNECT && op != OP_LOGIN && op != OP_SELECT && op != OP_LIST &&
			op != OP_STATUS && op != OP_NOOP && op != OP_LOGOUT && op != OP_APPEND;
	if (selected && c->exists == 0)
		return 0;
	uint32_t n;
	switch (op) {
	case OP_LIST:
		conn_tag(c, op);
		conn_put(c, "LIST \"\" *\r\n", 11);
		return 1;
	case OP_STATUS:
		conn_tag(c, op);
		conn_put(c, "STATUS ", 7);
		conn_quote(c, opt.mailbox);
		conn_put(c, " (MESSAGES UNSEEN RECENT)\r\n", 27);
		return 1;
	case OP_NOOP:
		conn_tag(c, op);
		conn_put(c, "NOOP\r\n", 6);
		return 1;
	case OP_FETCH_MIX:
		conn_tag(c, op);
		conn_put(c, "FETCH ", 6);
		imt_put_set(c, c->exists < 100 ? c->exists : 100);
		conn_put(c, " ", 1);
		imt_put_fetch_items(c);
		conn_put(c, "\r\n", 2);
		return 1;
	case OP_FETCH_PART: {
		static const char *const parts[] = { "BODY.PEEK[HEADER]", "RFC822.HEADER",
						     "BODY.PEEK[]", "BODY.PEEK[1]", "BODY.PEEK[TEXT]" };
		conn_tag(c, op);
		conn_printf(c, "FETCH %" PRIu32 " (UID %s)\r\n",
			    1 + imt_rand(c, c->exists),
			    parts[imt_rand(c, ARRAY_SIZE(parts))]);
		return 1;
	}
	case OP_STORE: {
		n = c->exists < 10 ? c->exists : MIN(c->exists / 5, 50);
		n = imt_rand(c, n);
		if (n == 0)
			return 0;
		static const char *const how[] = { "+FLAGS", "-FLAGS", "FLAGS" };
		conn_tag(c, op);
		conn_put(c, "STORE ", 6);
		imt_put_set(c, n);
		conn_printf(c, " %s%s ", how[imt_rand(c, 3)],
			    imt_roll(c, 50) ? ".SILENT" : "");
		imt_put_flags(c);
		conn_put(c, "\r\n", 2);
		return 1;
	}
	case OP_STORE_DELETED:
		/* Down to the target size at once when far above it (as
		 * imaptest), one or two at the size (APPEND adds one back). */
		if (c->exists > c->imt_target + 5)
			n = c->exists - c->imt_target;
		else if (c->exists >= c->imt_target)
			n = 1 + imt_rand(c, 2);
		else
			return 0;
		conn_tag(c, op);
		conn_put(c, "STORE ", 6);
		imt_put_set(c, n);
		conn_printf(c, " +FLAGS%s (\\Deleted)\r\n", imt_roll(c, 50) ? ".SILENT" : "");
		return 1;
	case OP_APPEND:
		return c->exists < c->imt_target ? -1 : 0;
	case OP_LOGOUT:
		c->imt_logout = true;
		return -1;
	default:
		return -1;
	}
}

/* SELECT done: the first one fixes the size DELETE and APPEND keep
 * (imaptest's default of 30 for an empty mailbox). */
static void imt_selected(struct conn *c)
{
	if (c->imt_target == 0)
		c->imt_target = opt.imaptest_size ? (uint32_t)opt.imaptest_size
			      : c->exists ? c->exists : 30;
}

/* Issues the command of the current step, or finishes the iteration. */
static void conn_next(struct conn *c)
{
	struct worker *w = c->w;
	for (;;) {
		if (time_is_up()) {
			c->state = CS_DONE;
			return;
		}
		if (c->step >= opt.wl->nsteps) {
			if (!warmup || atomic_load_explicit(&measuring, memory_order_relaxed))
				w->st.iterations++;
			c->iter++;
			if (opt.count) {
				uint64_t left = atomic_load(&iterations_left);
				while (left > 0 &&
				       !atomic_compare_exchange_weak(&iterations_left, &left, left - 1))
					;
				if (left <= 1) {
					atomic_store(&stop_flag, true);
					c->state = CS_DONE;
					return;
				}
			}
			c->step = opt.wl->loop_at;
			if (c->imt_logout) {
				/* imaptest: logged out, so connect and log in again. */
				c->imt_logout = false;
				c->step = 0;
			}
			if (c->step == 0) {
				conn_close(c);
				if (strcmp(opt.wl->name, "fill") == 0) {
					int u = atomic_fetch_add(&next_fill_user, 1);
					if (opt.user_first + u > opt.user_last) {
						c->state = CS_DONE;
						return;
					}
					c->user = opt.user_first + u;
					c->fill_done = 0;
				}
				conn_start(c);
				return;
			}
		}
		enum op op = opt.wl->steps[c->step];
		if (c->notifier && op == OP_SELECT)
			op = OP_NOTIFY_WAIT;
		if (opt.imaptest) {
			int r = imt_command(c, op);
			if (r == 0) {
				c->step++;
				continue;
			}
			if (r > 0) {
				if (conn_flush(c) < 0)
					conn_fail(c, "write failed");
				return;
			}
		}
		char name[128];
		uint32_t lo, hi;
		switch (op) {
		case OP_CONNECT:
			c->step++;
			continue;
		case OP_LOGIN:
			conn_user_name(c, name, sizeof(name));
			conn_tag(c, op);
			conn_put(c, "LOGIN ", 6);
			conn_quote(c, name);
			conn_put(c, " ", 1);
			conn_quote(c, opt.password);
			conn_put(c, "\r\n", 2);
			break;
		case OP_SELECT:
		case OP_EXAMINE:
			conn_tag(c, op);
			conn_put(c, op == OP_SELECT ? "SELECT " : "EXAMINE ", op == OP_SELECT ? 7 : 8);
			conn_quote(c, opt.mailbox);
			conn_put(c, "\r\n", 2);
			c->exists = 0;
			break;
		case OP_FETCH_FLAGS:
			if (c->exists == 0) {
				c->step++;
				continue;
			}
			conn_tag(c, op);
			conn_printf(c, "FETCH 1:* (UID FLAGS)\r\n");
			break;
		case OP_FETCH_HEADER:
		case OP_FETCH_BODY:
			if (c->exists == 0) {
				c->step++;
				continue;
			}
			conn_pick(c, op == OP_FETCH_HEADER ? 5 : 1, &lo, &hi);
			conn_tag(c, op);
			conn_printf(c, "FETCH %" PRIu32 ":%" PRIu32 " (%s)\r\n", lo, hi,
				    op == OP_FETCH_HEADER ? "BODY.PEEK[HEADER]" : "BODY.PEEK[]");
			break;
		case OP_STORE:
			if (c->exists == 0) {
				c->step++;
				continue;
			}
			conn_pick(c, 1, &lo, &hi);
			conn_tag(c, op);
			conn_printf(c, "STORE %" PRIu32 " %cFLAGS.SILENT (\\Flagged)\r\n", lo,
				    (c->iter & 1) ? '-' : '+');
			break;
		case OP_APPEND:
			conn_tag(c, op);
			conn_put(c, "APPEND ", 7);
			conn_quote(c, opt.mailbox);
			conn_put(c, " (\\Seen) ", 9);
			c->append_uid = 0;
			if (opt.split_literal) {
				/* The literal goes out when the "+" arrives
				 * (conn_literal_send). */
				conn_printf(c, "{%zu}\r\n", append_len);
				c->literal_wait = true;
				break;
			}
			conn_append_msg_literal(c);
			conn_put(c, "\r\n", 2);
			break;
		case OP_STORE_DELETED:
			if (c->append_uid == 0) {
				c->step++;
				continue;
			}
			conn_tag(c, op);
			conn_printf(c, "UID STORE %" PRIu32 " +FLAGS.SILENT (\\Deleted)\r\n",
				    c->append_uid);
			break;
		case OP_EXPUNGE:
			conn_tag(c, op);
			conn_put(c, "EXPUNGE\r\n", 9);
			break;
		case OP_LOGOUT:
			conn_tag(c, op);
			conn_put(c, "LOGOUT\r\n", 8);
			break;
		case OP_IDLE:
			conn_tag(c, op);
			conn_put(c, "IDLE\r\n", 6);
			break;
		case OP_SEARCH_SUBJECT:
		case OP_SEARCH_FROM:
		case OP_SEARCH_BODY:
			conn_tag(c, op);
			conn_put(c, op == OP_SEARCH_SUBJECT ? "SEARCH SUBJECT " :
				    op == OP_SEARCH_FROM ? "SEARCH FROM " : "SEARCH BODY ",
				 op == OP_SEARCH_SUBJECT ? 15 : op == OP_SEARCH_FROM ? 12 : 12);
			conn_quote(c, op == OP_SEARCH_SUBJECT ? opt.search_subject :
				      op == OP_SEARCH_FROM ? opt.search_from : opt.search_body);
			conn_put(c, "\r\n", 2);
			break;
		case OP_DOWNLOAD:
			if (c->exists == 0) {
				conn_fail(c, "mailbox is empty");
				return;
			}
			if (c->dl_next == 0 || c->dl_next > c->exists)
				c->dl_next = 1;
			lo = c->dl_next;
			hi = lo + (uint32_t)opt.download_chunk - 1;
			if (hi > c->exists)
				hi = c->exists;
			c->dl_next = hi + 1;
			conn_tag(c, op);
			conn_printf(c, "FETCH %" PRIu32 ":%" PRIu32 " BODY[]\r\n", lo, hi);
			break;
		case OP_FILL: {
			if (c->fill_done >= opt.fill_per_user || mail_nmsgs == 0) {
				c->step++;
				continue;
			}
			/* RFC 3502 MULTIAPPEND: a batch per command, no literal
			 * round trips (LITERAL+). */
			conn_tag(c, op);
			conn_put(c, "APPEND ", 7);
			conn_quote(c, opt.mailbox);
			int n = 0;
			while (n < opt.fill_batch && c->fill_done < opt.fill_per_user) {
				size_t i = (size_t)c->fill_done % mail_nmsgs;
				conn_put(c, " ", 1);
				conn_append_literal(c, mail_map + mail_off[i], mail_len[i]);
				c->fill_done++;
				n++;
			}
			conn_put(c, "\r\n", 2);
			break;
		}
		case OP_NOTIFY_WAIT:
			c->cur = op;
			c->state = CS_WAITING;
			c->notify_at = 0;
			break;
		default:
			conn_fail(c, "bad step");
			return;
		}
		if (op != OP_NOTIFY_WAIT && conn_flush(c) < 0)
			conn_fail(c, "write failed");
		return;
	}
}

static bool line_has_prefix(const char *line, size_t len, const char *p)
{
	size_t n = strlen(p);
	return len >= n && strncasecmp(line, p, n) == 0;
}

/* Parses "* N EXISTS" into *n. */
static bool parse_exists(const char *line, size_t len, uint32_t *n)
{
	if (len < 10 || line[0] != '*' || line[1] != ' ')
		return false;
	size_t i = 2;
	uint64_t v = 0;
	while (i < len && line[i] >= '0' && line[i] <= '9' && v < UINT32_MAX)
		v = v * 10 + (uint64_t)(line[i++] - '0');
	if (i == 2 || !line_has_prefix(line + i, len - i, " EXISTS"))
		return false;
	*n = (uint32_t)v;
	return true;
}

/* "* N EXPUNGE": one message fewer (RFC 9051 7.5.1). */
static bool parse_expunge(const char *line, size_t len)
{
	size_t i = 2;
	if (len < 11 || line[0] != '*' || line[1] != ' ')
		return false;
	while (i < len && line[i] >= '0' && line[i] <= '9')
		i++;
	return i > 2 && line_has_prefix(line + i, len - i, " EXPUNGE");
}

static void conn_wake_seen(struct conn *c)
{
	uint64_t t0 = atomic_load(&wake_t0);
	if (t0 == 0)
		return;
	stats_record(&c->w->st, OP_WAKE, now_us() - t0, true);
	atomic_fetch_add(&woken, 1);
}

/* Handles one complete response line (without CRLF). */
static void conn_line(struct conn *c, const char *line, size_t len)
{
	if (c->state == CS_GREETING) {
		if (line_has_prefix(line, len, "* OK")) {
			stats_record(&c->w->st, OP_CONNECT, now_us() - c->t_start, true);
			c->step = 1;
			c->state = CS_READY;
			if (opt.tls == TLS_STARTTLS) {
				conn_tag(c, OP_STARTTLS);
				conn_put(c, "STARTTLS\r\n", 10);
				if (conn_flush(c) < 0)
					conn_fail(c, "write failed");
				return;
			}
			conn_next(c);
		} else {
			conn_fail(c, "bad greeting");
		}
		return;
	}
	if (line[0] == '*') {
		uint32_t n;
		if (parse_exists(line, len, &n)) {
			if (c->state == CS_IDLING && n > c->exists)
				conn_wake_seen(c);
			c->exists = n;
		} else if (c->exists > 0 && parse_expunge(line, len)) {
			c->exists--;
		}
		return;
	}
	if (line[0] == '+') {
		if (c->state == CS_WAITING && c->literal_wait) {
			conn_literal_send(c);
			return;
		}
		if (c->state == CS_WAITING && c->cur == OP_IDLE) {
			stats_record(&c->w->st, OP_IDLE, now_us() - c->t_start, true);
			c->state = CS_IDLING;
			atomic_fetch_add(&idling, 1);
			conn_ramp_done(c);
		}
		return;
	}
	if (c->state != CS_WAITING || len <= c->taglen || memcmp(line, c->tag, c->taglen) != 0 ||
	    line[c->taglen] != ' ')
		return;
	const char *st = line + c->taglen + 1;
	size_t stlen = len - c->taglen - 1;
	bool ok = line_has_prefix(st, stlen, "OK");
	enum op op = c->cur;
	if (op == OP_STARTTLS) {
		/* Counted once the handshake is done (conn_tls_step). */
		if (!ok) {
			conn_fail(c, "STARTTLS refused");
			return;
		}
		c->rlen = 0;
		conn_tls_begin(c);
		conn_tls_step(c);
		return;
	}
	stats_record(&c->w->st, op, now_us() - c->t_start, ok);
	if (!ok) {
		if (atomic_fetch_add(&conn_errors_printed, 1) < 10)
			fprintf(stderr, "loadgen: user=%d %s: %.*s\n", c->user, op_names[op],
				(int)(len > 200 ? 200 : len), line);
		if (op == OP_LOGIN || op == OP_STARTTLS || op == OP_SELECT || op == OP_EXAMINE) {
			conn_close(c);
			c->state = CS_DONE;
			if (!time_is_up() && opt.wl->loop_at == 0 && strcmp(opt.wl->name, "fill") != 0) {
				usleep(1000);
				c->step = 0;
				conn_start(c);
			}
			return;
		}
	}
	if (op == OP_APPEND && ok) {
		const char *p = memmem(st, stlen, "[APPENDUID ", 11);
		if (p) {
			p += 11;
			while (p < line + len && *p != ' ')
				p++;
			uint64_t v = 0;
			while (++p < line + len && *p >= '0' && *p <= '9' && v < UINT32_MAX)
				v = v * 10 + (uint64_t)(*p - '0');
			c->append_uid = (uint32_t)v;
		}
	}
	if (op == OP_SELECT && ok && opt.imaptest)
		imt_selected(c);
	if (op == OP_LOGIN && ok && (opt.wl->steps[opt.wl->nsteps - 1] != OP_IDLE || c->notifier))
		conn_ramp_done(c);
	if (op == OP_LOGIN && ok && warmup && c->iter == 0 &&
	    atomic_fetch_add(&logged_in, 1) + 1 == opt.clients) {
		atomic_store(&measure_t0_ms, now_ms());
		atomic_store(&measuring, true);
	}
	if (op == OP_APPEND && c->notifier) {
		/* Back to pacing the wake rounds (notifier_tick). */
		c->cur = OP_NOTIFY_WAIT;
		return;
	}
	if (op == OP_LOGOUT) {
		c->step++;
		conn_next(c);
		return;
	}
	if (op == OP_FILL) {
		if (c->fill_done < opt.fill_per_user) {
			conn_next(c);
			return;
		}
	}
	c->state = CS_READY;
	c->step++;
	conn_next(c);
}

/* Splits input into lines, skipping literal payloads ({N} at line end)
 * after counting their bytes. */
static void conn_parse(struct conn *c)
{
	size_t pos = 0;
	while (pos < c->rlen && c->fd >= 0) {
		if (c->literal_left) {
			size_t take = c->rlen - pos;
			if (take > c->literal_left)
				take = (size_t)c->literal_left;
			c->literal_left -= take;
			c->w->st.bytes_all += take;
			if (!warmup || atomic_load_explicit(&measuring, memory_order_relaxed))
				c->w->st.bytes_in += take;
			pos += take;
			continue;
		}
		char *start = c->rbuf + pos;
		char *nl = memchr(start, '\n', c->rlen - pos);
		if (!nl)
			break;
		size_t len = (size_t)(nl - start);
		pos += len + 1;
		if (len && start[len - 1] == '\r')
			len--;
		if (len >= 3 && start[len - 1] == '}') {
			size_t i = len - 1;
			uint64_t v = 0, mul = 1;
			while (i > 0 && start[i - 1] >= '0' && start[i - 1] <= '9' && mul < 1000000000000ULL) {
				v += mul * (uint64_t)(start[i - 1] - '0');
				mul *= 10;
				i--;
			}
			if (i > 0 && start[i - 1] == '{') {
				c->literal_left = v;
				continue;
			}
		}
		if (len == 0)
			continue;
		conn_line(c, start, len);
		/* A closed, reconnecting or TLS-upgrading connection owns no
		 * more of this buffer. */
		if (c->fd < 0 || c->state == CS_TLS_HANDSHAKE || c->state == CS_CONNECTING ||
		    c->rlen == 0)
			return;
	}
	if (c->fd < 0)
		return;
	if (pos > 0) {
		memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
		c->rlen -= pos;
	}
}

static void conn_readable(struct conn *c)
{
	for (int rounds = 0; rounds < 64 && c->fd >= 0; rounds++) {
		if (c->rcap - c->rlen < 16384) {
			if (c->rcap >= (size_t)64 << 20) {
				conn_fail(c, "response line too long");
				return;
			}
			xgrow((void **)&c->rbuf, &c->rcap, c->rlen + 16384, 1);
		}
		ssize_t n;
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(c->rcap - c->rlen));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_READ)
					return;
				if (e == SSL_ERROR_WANT_WRITE) {
					c->want_write = true;
					conn_epoll_update(c);
					return;
				}
				if (c->cur == OP_LOGOUT && c->state != CS_WAITING)
					return;
				conn_fail(c, "TLS read failed or connection closed");
				return;
			}
			n = r;
		} else {
			n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n <= 0) {
				conn_fail(c, n == 0 ? "connection closed" : strerror(errno));
				return;
			}
		}
		c->rlen += (size_t)n;
		conn_parse(c);
		if (c->state == CS_TLS_HANDSHAKE || c->state == CS_CONNECTING || c->state == CS_DONE)
			return;
	}
}

static void conn_event(struct conn *c, uint32_t events)
{
	if (c->state == CS_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			conn_fail(c, strerror(err));
			return;
		}
		if (!(events & (EPOLLOUT | EPOLLIN)))
			return;
		c->want_write = false;
		conn_epoll_update(c);
		if (opt.tls == TLS_IMPLICIT) {
			conn_tls_begin(c);
			conn_tls_step(c);
		} else {
			c->state = CS_GREETING;
		}
		return;
	}
	if (c->state == CS_TLS_HANDSHAKE) {
		conn_tls_step(c);
		if (c->state != CS_GREETING && c->state != CS_READY)
			return;
		if (c->state == CS_READY)
			return;
	}
	if ((events & EPOLLOUT) && c->wlen > c->wpos) {
		if (conn_flush(c) < 0) {
			conn_fail(c, "write failed");
			return;
		}
	} else if ((events & EPOLLOUT) && c->want_write) {
		c->want_write = false;
		conn_epoll_update(c);
	}
	if (c->fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		conn_readable(c);
}

/* The wake experiment's notifier: once every IDLE client is idling, it
 * APPENDs one message per round and waits until all were woken (or
 * --wake-timeout; the missing ones count as errors), then --wake-gap. */
static void notifier_tick(struct conn *c)
{
	if (c->state != CS_WAITING || c->cur != OP_NOTIFY_WAIT)
		return;
	uint64_t now = now_us();
	int target = opt.clients;
	if (c->notify_round >= opt.wake_rounds) {
		atomic_store(&stop_flag, true);
		return;
	}
	if (c->notify_at == 0) {
		if (atomic_load(&idling) < target)
			return;
		/* Let the server settle before the first round. */
		c->notify_at = now + (uint64_t)(opt.wake_gap * 1e6);
		return;
	}
	uint64_t t0 = atomic_load(&wake_t0);
	if (t0 == 0) {
		if (now < c->notify_at)
			return;
		atomic_store(&woken, 0);
		conn_tag(c, OP_APPEND);
		conn_put(c, "APPEND ", 7);
		conn_quote(c, opt.mailbox);
		conn_put(c, " ", 1);
		conn_append_msg_literal(c);
		conn_put(c, "\r\n", 2);
		c->cur = OP_APPEND;
		atomic_store(&wake_t0, now_us());
		if (conn_flush(c) < 0)
			conn_fail(c, "write failed");
		return;
	}
	if (atomic_load(&woken) >= target || now - t0 > (uint64_t)(opt.wake_timeout * 1e6)) {
		if (atomic_load(&woken) < target)
			for (int i = atomic_load(&woken); i < target; i++)
				stats_record(&c->w->st, OP_WAKE, 0, false);
		atomic_store(&wake_t0, 0);
		c->notify_round++;
		c->notify_at = now + (uint64_t)(opt.wake_gap * 1e6);
	}
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	struct conn *notifier = NULL;
	for (int i = 0; i < w->nconns; i++)
		if (w->conns[i].notifier)
			notifier = &w->conns[i];
	bool idle_wl = strcmp(opt.wl->name, "idle") == 0;
	uint64_t next_count_ms = 0;
	while (!time_is_up()) {
		/* Ramp up: at most opt.ramp first connections in flight. */
		while (w->next_start < w->nconns && w->connecting < opt.ramp) {
			struct conn *c = &w->conns[w->next_start++];
			c->ramping = true;
			w->connecting++;
			conn_start(c);
			if (c->state == CS_DONE)
				conn_ramp_done(c);
		}
		int n = epoll_wait(w->epfd, evs, 256, 10);
		for (int i = 0; i < n; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
		if (notifier)
			notifier_tick(notifier);
		bool all_done = w->next_start >= w->nconns;
		for (int i = 0; all_done && i < w->nconns; i++)
			if (w->conns[i].state != CS_DONE)
				all_done = false;
		if (all_done)
			break;
		/* A client whose LOGIN or SELECT was refused never idles: the
		 * main thread counts it so it can say when the rest are in place. */
		uint64_t now = now_ms();
		if (idle_wl && now >= next_count_ms) {
			next_count_ms = now + 100;
			int done = 0;
			for (int i = 0; i < w->next_start; i++)
				done += w->conns[i].state == CS_DONE;
			atomic_store(&w->gave_up, done);
		}
	}
	atomic_fetch_add(&workers_done, 1);
	return NULL;
}

static double elapsed_s(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop_flag, true);
}

static int parse_range(const char *s, int *a, int *b)
{
	char *end;
	long x = strtol(s, &end, 10);
	long y = x;
	if (*end == '-')
		y = strtol(end + 1, &end, 10);
	if (*end || x < 0 || y < x || y > 10000000)
		return -1;
	*a = (int)x;
	*b = (int)y;
	return 0;
}

static int parse_src(const char *s)
{
	/* "127.0.0.2-127.0.0.9" or a single address: consecutive last octets. */
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	char *dash = strchr(buf, '-');
	if (dash)
		*dash = 0;
	struct in_addr a, b;
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	b = a;
	if (dash && inet_pton(AF_INET, dash + 1, &b) != 1)
		return -1;
	uint32_t lo = ntohl(a.s_addr), hi = ntohl(b.s_addr);
	if (hi < lo || hi - lo >= 64)
		return -1;
	for (uint32_t v = lo; v <= hi; v++)
		opt.src[opt.nsrc++].s_addr = htonl(v);
	return 0;
}

static void load_mail_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fatal("cannot open %s: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) < 0 || sb.st_size == 0)
		fatal("cannot use %s", path);
	mail_map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (mail_map == MAP_FAILED)
		fatal("mmap %s failed", path);
	size_t cap = 0, pos = 0, size = (size_t)sb.st_size;
	while (pos < size) {
		const char *nl = memchr(mail_map + pos, '\n', size - pos);
		if (!nl)
			break;
		uint64_t len;
		if (parse_u64(mail_map + pos, (size_t)(nl - mail_map - pos), &len) < 0)
			fatal("%s: bad length at offset %zu", path, pos);
		pos = (size_t)(nl - mail_map) + 1;
		if (len > size - pos)
			fatal("%s: truncated message", path);
		if (mail_nmsgs == cap) {
			size_t c2 = cap;
			xgrow((void **)&mail_off, &c2, mail_nmsgs + 1, sizeof(size_t));
			xgrow((void **)&mail_len, &cap, mail_nmsgs + 1, sizeof(size_t));
		}
		mail_off[mail_nmsgs] = pos;
		mail_len[mail_nmsgs] = (size_t)len;
		mail_nmsgs++;
		pos += (size_t)len;
	}
}

static void build_append_msg(void)
{
	/* A plausible small message (headers + text) of --append-size bytes. */
	size_t want = (size_t)opt.append_size;
	char head[512];
	int hn = snprintf(head, sizeof(head),
			  "From: Load Generator <loadgen@bench.example>\r\n"
			  "To: user <user@bench.example>\r\n"
			  "Subject: loadgen append\r\n"
			  "Date: Mon, 02 Jan 2023 10:00:00 +0000\r\n"
			  "Message-ID: <loadgen-%0*d@bench.example>\r\n"
			  "MIME-Version: 1.0\r\n"
			  "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
			  APPEND_ID_DIGITS, 0);
	append_id_off = (size_t)(strstr(head, "<loadgen-") - head) + strlen("<loadgen-");
	if (want < (size_t)hn + 4)
		want = (size_t)hn + 4;
	append_msg = xmalloc(want);
	memcpy(append_msg, head, (size_t)hn);
	size_t pos = (size_t)hn;
	static const char line[] = "The quick brown fox jumps over the lazy dog, again and again.\r\n";
	while (pos + sizeof(line) - 1 <= want) {
		memcpy(append_msg + pos, line, sizeof(line) - 1);
		pos += sizeof(line) - 1;
	}
	while (pos + 2 < want)
		append_msg[pos++] = 'x';
	append_msg[pos++] = '\r';
	append_msg[pos++] = '\n';
	append_len = pos;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loadgen [options]\n"
		"  -h HOST -p PORT           server (IPv4 address, default 127.0.0.1)\n"
		"  --tls implicit|starttls|plain   (default implicit)\n"
		"  -u FMT  --users A-B       login names FMT%%d for d in A..B (default user%%d, 1-1)\n"
		"  -P PASSWORD               password of every user\n"
		"  -w WORKLOAD               mixed|sessions|connect|idle|bigbox|deliver|download|fill|\n"
		"                            imaptest\n"
		"  -c CLIENTS -t THREADS     connections in total, threads (default 1, 1)\n"
		"  -d SECONDS -n COUNT       stop after a time and/or a number of iterations\n"
		"  --mailbox NAME            (default INBOX)\n"
		"  --mail-file F --fill-per-user N --fill-batch N   seeding (fill)\n"
		"  --download-chunk N        messages per FETCH BODY[] (default 100)\n"
		"  --append-size BYTES       size of APPENDed messages (default 4096)\n"
		"  --same-message            every APPEND sends identical bytes (default: each\n"
		"                            message gets its own Message-ID)\n"
		"  --split-literal           APPEND with a synchronizing literal, its CRLF in a\n"
		"                            separate write, Nagle on (as imaplib; default LITERAL+)\n"
		"  --wake --wake-rounds N    idle: one extra client APPENDs, measure EXISTS latency\n"
		"  --wake-gap S --wake-timeout S   pause between rounds (0.3), wait per round (30)\n"
		"  --search-subject/--search-from/--search-body WORD\n"
		"  --src A[-B]               bind to local source addresses 127.0.0.A..B\n"
		"  --ramp N                  connections being set up at once per thread (64)\n"
		"  --setup-timeout S         sessions/deliver/download: measure from when every\n"
		"                            client is logged in, or after S seconds (120)\n"
		"  --json                    one JSON object on stdout instead of a table\n"
		"  --imaptest-size N         imaptest: mailbox size DELETE/APPEND keep (default:\n"
		"                            as found by the first SELECT, 30 if empty)\n"
		"  --resume                  offer the thread's previous TLS session (ticket) on each\n"
		"                            connect; reports full and resumed handshakes\n");
}

static void options_parse(int argc, char **argv)
{
	opt.host = "127.0.0.1";
	opt.port = 993;
	opt.tls = TLS_IMPLICIT;
	opt.user_fmt = "user%d";
	opt.user_first = opt.user_last = 1;
	opt.password = "password";
	opt.clients = 1;
	opt.threads = 1;
	opt.duration = 10;
	opt.wl = &workloads[0];
	opt.mailbox = "INBOX";
	opt.fill_per_user = 100;
	opt.fill_batch = 50;
	opt.download_chunk = 100;
	opt.ramp = 64;
	opt.wake_rounds = 10;
	opt.wake_gap = 0.3;
	opt.wake_timeout = 30;
	opt.search_subject = "invoice";
	opt.search_from = "zelda";
	opt.search_body = "zanzibar";
	opt.append_size = 4096;
	opt.setup_timeout = 120;
	enum { O_TLS = 256, O_USERS, O_MAILBOX, O_MAILFILE, O_FILLN, O_FILLB, O_DLCHUNK, O_WAKE,
	       O_WAKER, O_WGAP, O_WTMO, O_SS, O_SF, O_SB, O_SRC, O_RAMP, O_JSON, O_ASIZE, O_SETUP,
	       O_SPLIT, O_IMT_SIZE,
	       O_RESUME /* tls */, O_SAME_MSG };
	static const struct option lo[] = {
		{ "tls", 1, 0, O_TLS }, { "users", 1, 0, O_USERS }, { "mailbox", 1, 0, O_MAILBOX },
		{ "mail-file", 1, 0, O_MAILFILE }, { "fill-per-user", 1, 0, O_FILLN },
		{ "fill-batch", 1, 0, O_FILLB }, { "download-chunk", 1, 0, O_DLCHUNK },
		{ "wake", 0, 0, O_WAKE }, { "wake-rounds", 1, 0, O_WAKER },
		{ "wake-gap", 1, 0, O_WGAP }, { "wake-timeout", 1, 0, O_WTMO },
		{ "search-subject", 1, 0, O_SS }, { "search-from", 1, 0, O_SF },
		{ "search-body", 1, 0, O_SB }, { "src", 1, 0, O_SRC }, { "ramp", 1, 0, O_RAMP },
		{ "json", 0, 0, O_JSON }, { "append-size", 1, 0, O_ASIZE },
		{ "setup-timeout", 1, 0, O_SETUP }, { "split-literal", 0, 0, O_SPLIT },
		{ "help", 0, 0, 'H' },
		{ "imaptest-size", 1, 0, O_IMT_SIZE },
		{ "resume", 0, 0, O_RESUME }, /* tls */
		{ "same-message", 0, 0, O_SAME_MSG },
		{ 0, 0, 0, 0 }
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h:p:u:P:w:c:t:d:n:", lo, NULL)) != -1) {
		switch (ch) {
		case 'h': opt.host = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 'u': opt.user_fmt = optarg; break;
		case 'P': opt.password = optarg; break;
		case 'w':
			opt.wl = NULL;
			for (size_t i = 0; i < ARRAY_SIZE(workloads); i++)
				if (strcmp(workloads[i].name, optarg) == 0)
					opt.wl = &workloads[i];
			if (!opt.wl) {
				fprintf(stderr, "loadgen: unknown workload %s\n", optarg);
				exit(2);
			}
			break;
		case 'c': opt.clients = atoi(optarg); break;
		case 't': opt.threads = atoi(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'n': opt.count = strtoull(optarg, NULL, 10); break;
		case O_TLS:
			if (strcmp(optarg, "implicit") == 0)
				opt.tls = TLS_IMPLICIT;
			else if (strcmp(optarg, "starttls") == 0)
				opt.tls = TLS_STARTTLS;
			else if (strcmp(optarg, "plain") == 0)
				opt.tls = TLS_PLAIN;
			else {
				fprintf(stderr, "loadgen: --tls implicit|starttls|plain\n");
				exit(2);
			}
			break;
		case O_USERS:
			if (parse_range(optarg, &opt.user_first, &opt.user_last) < 0) {
				fprintf(stderr, "loadgen: bad --users range\n");
				exit(2);
			}
			break;
		case O_MAILBOX: opt.mailbox = optarg; break;
		case O_MAILFILE: opt.mail_file = optarg; break;
		case O_FILLN: opt.fill_per_user = atoi(optarg); break;
		case O_FILLB: opt.fill_batch = atoi(optarg); break;
		case O_DLCHUNK: opt.download_chunk = atoi(optarg); break;
		case O_WAKE: opt.wake = true; break;
		case O_WAKER: opt.wake_rounds = atoi(optarg); break;
		case O_WGAP: opt.wake_gap = atof(optarg); break;
		case O_WTMO: opt.wake_timeout = atof(optarg); break;
		case O_SS: opt.search_subject = optarg; break;
		case O_SF: opt.search_from = optarg; break;
		case O_SB: opt.search_body = optarg; break;
		case O_SRC:
			if (parse_src(optarg) < 0) {
				fprintf(stderr, "loadgen: bad --src (A or A-B, at most 64 addresses)\n");
				exit(2);
			}
			break;
		case O_RAMP: opt.ramp = atoi(optarg); break;
		case O_JSON: opt.json = true; break;
		case O_ASIZE: opt.append_size = atoi(optarg); break;
		case O_SETUP: opt.setup_timeout = atof(optarg); break;
		case O_SPLIT: opt.split_literal = true; break;
		case O_IMT_SIZE: opt.imaptest_size = atoi(optarg); break;
		case O_RESUME: opt.resume = true; break; /* tls */
		case O_SAME_MSG: opt.same_message = true; break;
		case 'H': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc || opt.clients < 1 || opt.clients > 1000000 || opt.threads < 1 ||
	    opt.threads > 256 || opt.port < 1 || opt.port > 65535 || opt.duration <= 0 ||
	    opt.duration > 86400 || opt.fill_batch < 1 || opt.fill_batch > 10000 ||
	    opt.download_chunk < 1 || opt.ramp < 1 || opt.wake_rounds < 1 ||
	    opt.append_size < 0 || opt.append_size > (64 << 20) || opt.fill_per_user < 0 ||
	    !(opt.setup_timeout > 0 && opt.setup_timeout <= 3600) ||
	    !(opt.wake_gap >= 0 && opt.wake_gap <= 600) ||
	    !(opt.wake_timeout > 0 && opt.wake_timeout <= 600) ||
	    opt.imaptest_size < 0 || opt.imaptest_size > 1000000) {
		usage(stderr);
		exit(2);
	}
	struct in_addr tmp;
	if (inet_pton(AF_INET, opt.host, &tmp) != 1) {
		fprintf(stderr, "loadgen: -h takes an IPv4 address\n");
		exit(2);
	}
	const char *pct = strchr(opt.user_fmt, '%');
	if (!pct || pct[1] != 'd' || strchr(pct + 1, '%')) {
		fprintf(stderr, "loadgen: -u needs exactly one %%d\n");
		exit(2);
	}
	opt.imaptest = strcmp(opt.wl->name, "imaptest") == 0;
	if (opt.wake && strcmp(opt.wl->name, "idle") != 0) {
		fprintf(stderr, "loadgen: --wake is for -w idle\n");
		exit(2);
	}
	if (strcmp(opt.wl->name, "fill") == 0 && !opt.mail_file) {
		fprintf(stderr, "loadgen: -w fill needs --mail-file\n");
		exit(2);
	}
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++)
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else
			putchar(*s);
	putchar('"');
}

static void report(const struct stats *total, double secs, double setup_s, int peak_idling)
{
	uint64_t all = 0, errs = 0;
	/* Latency over every IMAP command (not connects, not wake-ups). */
	static struct op_stats agg;
	for (int i = 0; i < OP_COUNT; i++) {
		all += total->op[i].count;
		errs += total->op[i].errors;
		if (i == OP_CONNECT || i == OP_WAKE || i == OP_NOTIFY_WAIT ||
		    (warmup && op_is_setup((enum op)i)))
			continue;
		agg.count += total->op[i].count;
		agg.errors += total->op[i].errors;
		agg.sum_us += total->op[i].sum_us;
		if (total->op[i].max_us > agg.max_us)
			agg.max_us = total->op[i].max_us;
		for (int k = 0; k < HIST_BUCKETS; k++)
			agg.hist[k] += total->op[i].hist[k];
	}
	double mb = (double)total->bytes_in / 1e6;
	if (opt.json) {
		printf("{\"workload\":");
		json_str(opt.wl->name);
		resume_json();
		printf(",\"clients\":%d,\"threads\":%d,\"elapsed_s\":%.3f,\"iterations\":%" PRIu64
		       ",\"iter_per_s\":%.2f,\"commands\":%" PRIu64 ",\"cmd_per_s\":%.2f,\"errors\":%" PRIu64
		       ",\"bytes_in\":%" PRIu64 ",\"mb_per_s\":%.3f,\"peak_idling\":%d,\"setup_s\":%.3f,\"bytes_all\":%" PRIu64 ",\"ops\":{",
		       opt.clients, opt.threads, secs, total->iterations,
		       secs > 0 ? (double)total->iterations / secs : 0, all,
		       secs > 0 ? (double)(all - errs) / secs : 0, errs, total->bytes_in,
		       secs > 0 ? mb / secs : 0, peak_idling, setup_s, total->bytes_all);
		bool first = true;
		for (int i = 0; i < OP_COUNT; i++) {
			const struct op_stats *s = &total->op[i];
			if (s->count == 0 || i == OP_NOTIFY_WAIT)
				continue;
			uint64_t ok = s->count - s->errors;
			printf("%s\"%s\":{\"count\":%" PRIu64 ",\"errors\":%" PRIu64
			       ",\"per_s\":%.2f,\"mean_ms\":%.3f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}",
			       first ? "" : ",", op_names[i], s->count, s->errors,
			       secs > 0 ? (double)ok / secs : 0,
			       ok ? (double)s->sum_us / (double)ok / 1000.0 : 0, hist_pct(s, 50),
			       hist_pct(s, 99), (double)s->max_us / 1000.0);
			first = false;
		}
		printf("},\"all\":{\"count\":%" PRIu64 ",\"p50_ms\":%.3f,\"p99_ms\":%.3f}}\n",
		       agg.count, hist_pct(&agg, 50), hist_pct(&agg, 99));
		fflush(stdout);
		return;
	}
	printf("workload %s: %d clients, %d threads, %.2f s, %" PRIu64 " iterations (%.1f/s)",
	       opt.wl->name, opt.clients, opt.threads, secs, total->iterations,
	       secs > 0 ? (double)total->iterations / secs : 0);
	if (warmup)
		printf(", measured after %.2f s of connects and logins", setup_s);
	printf("\n");
	printf("%-15s %10s %8s %10s %9s %9s %9s\n", "command", "count", "errors", "per_s",
	       "p50_ms", "p99_ms", "max_ms");
	for (int i = 0; i < OP_COUNT; i++) {
		const struct op_stats *s = &total->op[i];
		if (s->count == 0 || i == OP_NOTIFY_WAIT)
			continue;
		printf("%-15s %10" PRIu64 " %8" PRIu64 " %10.1f %9.3f %9.3f %9.3f\n", op_names[i],
		       s->count, s->errors, secs > 0 ? (double)(s->count - s->errors) / secs : 0,
		       hist_pct(s, 50), hist_pct(s, 99), (double)s->max_us / 1000.0);
	}
	printf("all commands: p50 %.3f ms, p99 %.3f ms\n", hist_pct(&agg, 50), hist_pct(&agg, 99));
	resume_report();
	printf("total commands %" PRIu64 " (%.1f/s), errors %" PRIu64 ", received %.1f MB (%.2f MB/s)",
	       all, secs > 0 ? (double)(all - errs) / secs : 0, errs, mb, secs > 0 ? mb / secs : 0);
	if (strcmp(opt.wl->name, "idle") == 0)
		printf(", peak idling %d", peak_idling);
	printf("\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	options_parse(argc, argv);

	/* 20,000 idle connections need 20,000 descriptors: go to the hard cap. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)opt.clients + 64 > rl.rlim_cur)
		fprintf(stderr, "loadgen: warning: %d clients but only %llu descriptors\n",
			opt.clients, (unsigned long long)rl.rlim_cur);

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (opt.mail_file)
		load_mail_file(opt.mail_file);
	build_append_msg();
	/* Unique across runs against the same store too. */
	atomic_store(&append_seq, (uint_fast64_t)now_us() << 8);

	ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!ssl_ctx)
		fatal("SSL_CTX_new failed");
	/* Benchmark on loopback with a throwaway self-signed certificate: no
	 * verification, no session resumption (every connect is a full
	 * handshake, the expensive case), buffers released while idle. */
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ssl_ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	resume_ctx_setup(ssl_ctx);

	warmup = opt.wl->loop_at > 0 && strcmp(opt.wl->name, "idle") != 0;
	int nclients = opt.clients;
	bool fill = strcmp(opt.wl->name, "fill") == 0;
	int nusers = opt.user_last - opt.user_first + 1;
	if (fill && nclients > nusers)
		nclients = nusers;
	if (fill)
		atomic_store(&next_fill_user, nclients);
	if (opt.count)
		atomic_store(&iterations_left, opt.count);

	struct worker *workers = xcalloc((size_t)opt.threads, sizeof(*workers));
	int total_conns = nclients + (opt.wake ? 1 : 0);
	int assigned = 0;
	for (int t = 0; t < opt.threads; t++) {
		struct worker *w = &workers[t];
		w->id = t;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (w->epfd < 0)
			fatal("epoll_create1: %s", strerror(errno));
		int n = total_conns / opt.threads + (t < total_conns % opt.threads ? 1 : 0);
		w->nconns = n;
		w->conns = xcalloc((size_t)(n ? n : 1), sizeof(struct conn));
		for (int i = 0; i < n; i++) {
			struct conn *c = &w->conns[i];
			c->w = w;
			c->fd = -1;
			c->state = CS_IDLE_SLOT;
			int k = assigned++;
			c->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)k * 0x100000001B3ULL + 1);
			if (opt.wake) {
				/* The first connection (worker 0, started first) is the
				 * notifier; it logs in as the first (watched) user. */
				c->notifier = k == 0;
				k = k > 0 ? k - 1 : 0;
			}
			c->user = opt.user_first + (k % nusers);
		}
	}

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int t = 0; t < opt.threads; t++)
		if (pthread_create(&workers[t].thread, NULL, worker_run, &workers[t]) != 0)
			fatal("pthread_create failed");

	/* The main thread keeps time and reports when every IDLE client is
	 * in place, so a driver can measure the server while they are held. */
	int peak_idling = 0;
	bool ready_said = false;
	uint64_t start_ms = now_ms();
	uint64_t deadline = start_ms + (uint64_t)(opt.duration * 1000.0);
	while (!atomic_load(&stop_flag)) {
		if (warmup && !atomic_load(&measuring) &&
		    now_ms() >= start_ms + (uint64_t)(opt.setup_timeout * 1000.0)) {
			fprintf(stderr, "loadgen: only %d of %d clients logged in after %.0f s: "
				"measuring anyway\n", atomic_load(&logged_in), opt.clients,
				opt.setup_timeout);
			atomic_store(&measure_t0_ms, now_ms());
			atomic_store(&measuring, true);
		}
		if (warmup)
			deadline = atomic_load(&measuring)
					   ? atomic_load(&measure_t0_ms) + (uint64_t)(opt.duration * 1000.0)
					   : UINT64_MAX;
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		int idl = atomic_load(&idling);
		if (idl > peak_idling)
			peak_idling = idl;
		if (!ready_said && strcmp(opt.wl->name, "idle") == 0) {
			int gave_up = 0;
			for (int t = 0; t < opt.threads; t++)
				gave_up += atomic_load(&workers[t].gave_up);
			if (idl + gave_up >= nclients) {
				fprintf(stderr, "READY idling=%d gave_up=%d\n", idl, gave_up);
				ready_said = true;
			}
		}
		if (now_ms() >= deadline)
			atomic_store(&stop_flag, true);
		/* Workers that ran out of work end by themselves. */
		if (atomic_load(&workers_done) == opt.threads)
			break;
	}
	atomic_store(&stop_flag, true);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (int t = 0; t < opt.threads; t++)
		pthread_join(workers[t].thread, NULL);

	struct stats *total = xcalloc(1, sizeof(*total));
	for (int t = 0; t < opt.threads; t++) {
		struct stats *s = &workers[t].st;
		total->bytes_in += s->bytes_in;
		total->bytes_all += s->bytes_all;
		total->iterations += s->iterations;
		for (int i = 0; i < OP_COUNT; i++) {
			struct op_stats *a = &total->op[i], *b = &s->op[i];
			a->count += b->count;
			a->errors += b->errors;
			a->sum_us += b->sum_us;
			if (b->max_us > a->max_us)
				a->max_us = b->max_us;
			for (int k = 0; k < HIST_BUCKETS; k++)
				a->hist[k] += b->hist[k];
		}
	}
	double secs = elapsed_s(&t0, &t1);
	double setup_s = 0;
	if (warmup && atomic_load(&measuring)) {
		setup_s = (double)(atomic_load(&measure_t0_ms) - start_ms) / 1000.0;
		secs -= setup_s;
	}
	report(total, secs, setup_s, peak_idling);

	for (int t = 0; t < opt.threads; t++) {
		struct worker *w = &workers[t];
		for (int i = 0; i < w->nconns; i++) {
			conn_close(&w->conns[i]);
			free(w->conns[i].rbuf);
			free(w->conns[i].wbuf);
		}
		free(w->conns);
		close(w->epfd);
	}
	for (int i = 0; i < opt.threads; i++)
		SSL_SESSION_free(workers[i].resume_sess); /* tls */
	free(workers);
	free(total);
	free(append_msg);
	free(mail_off);
	free(mail_len);
	SSL_CTX_free(ssl_ctx);
	return 0;
}
