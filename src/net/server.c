#include "net/server.h"
#include "net/tls.h"
#include "core/config.h"
#include "core/log.h"
#include "core/privs.h"
#include "core/util.h"
#include "core/workpool.h"
#include "auth/passdb.h"
#include "imap/session.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define USER_BUCKETS 1024

struct worker;

/* One client connection: the socket, its bufferevent (plain or TLS) and
 * the IMAP session on top. */
struct conn {
	struct worker *w;
	struct bufferevent *bev;
	evutil_socket_t fd;
	const struct listener_config *lc;
	struct imap_session *sess;
	struct sockaddr_storage peer;
	char peer_str[64];
	char *user;                 /* set after login: notification routing */
	bool tls;
	bool starttls_pending;
	bool closing;
	bool paused;
	struct event *resume_ev;    /* processes input that arrived while paused */
	struct conn *prev, *next;   /* worker's list of connections */
	struct conn *unext;         /* user bucket chain */
};

struct worker {
	unsigned id;
	pthread_t thread;
	struct event_base *base;
	struct evconnlistener **listeners;
	size_t nlisteners;
	struct event *stop_ev;
	struct event *notify_ev;
	struct event *resume_ev;    /* re-enables the listeners after EMFILE */
	uint64_t last_emfile_log_ms;
	pthread_mutex_t nlock;
	char **pending;             /* users with changes, posted by the watcher */
	size_t npending, pcap;
	struct conn *conns;
	struct conn *buckets[USER_BUCKETS];
};

static const struct config *g_cfg;
static SSL_CTX *g_ssl_ctx;
static struct passdb *g_passdb;
static struct worker *g_workers;
static unsigned g_nworkers;
static atomic_uint g_nconns;
/* max_connections, lowered at startup when the descriptor limit cannot
 * hold that many connections and still leave the store room to work. */
static unsigned g_conn_cap;

/* Connections per source address, shared by all workers. */
static pthread_mutex_t g_ip_lock = PTHREAD_MUTEX_INITIALIZER;
struct ip_count {
	struct ip_count *next;
	uint8_t addr[16];
	unsigned count;
};
static struct ip_count *g_ip_buckets[4096];

static void addr_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

/* Returns false when the address is over max_connections_per_ip. */
static bool ip_count_change(const struct sockaddr *sa, int delta)
{
	uint8_t key[16];
	addr_key(sa, key);
	unsigned b = hash_bytes(key, 16) % ARRAY_SIZE(g_ip_buckets);
	bool ok = true;
	pthread_mutex_lock(&g_ip_lock);
	struct ip_count **pp = &g_ip_buckets[b], *e;
	while ((e = *pp) && memcmp(e->addr, key, 16) != 0)
		pp = &e->next;
	if (delta > 0) {
		if (!e) {
			e = xcalloc(1, sizeof(*e));
			memcpy(e->addr, key, 16);
			e->next = g_ip_buckets[b];
			g_ip_buckets[b] = e;
		}
		if (e->count >= g_cfg->max_connections_per_ip)
			ok = false;
		else
			e->count++;
	} else if (e && e->count > 0 && --e->count == 0) {
		*pp = e->next;
		free(e);
	}
	pthread_mutex_unlock(&g_ip_lock);
	return ok;
}

/* ---- user routing for change notifications ---- */

static unsigned user_bucket(const char *user)
{
	return hash_bytes(user, strlen(user)) % USER_BUCKETS;
}

static void user_unlink(struct conn *c)
{
	if (!c->user)
		return;
	struct conn **pp = &c->w->buckets[user_bucket(c->user)];
	while (*pp && *pp != c)
		pp = &(*pp)->unext;
	if (*pp)
		*pp = c->unext;
	store_unwatch_user(c->user);
	free(c->user);
	c->user = NULL;
}

/* Called on the watcher thread: hand the username to every worker. */
static void on_store_change(const char *user, void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < g_nworkers; i++) {
		struct worker *w = &g_workers[i];
		pthread_mutex_lock(&w->nlock);
		bool dup = false;
		for (size_t j = 0; j < w->npending && !dup; j++)
			dup = strcmp(w->pending[j], user) == 0;
		if (!dup) {
			xgrow((void **)&w->pending, &w->pcap, w->npending + 1, sizeof(char *));
			w->pending[w->npending++] = xstrdup(user);
		}
		pthread_mutex_unlock(&w->nlock);
		event_active(w->notify_ev, EV_READ, 0);
	}
}

static void worker_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	pthread_mutex_lock(&w->nlock);
	char **users = w->pending;
	size_t n = w->npending;
	w->pending = NULL;
	w->npending = w->pcap = 0;
	pthread_mutex_unlock(&w->nlock);
	for (size_t i = 0; i < n; i++) {
		for (struct conn *c = w->buckets[user_bucket(users[i])]; c; c = c->unext)
			if (c->sess && !c->closing && strcmp(c->user, users[i]) == 0)
				imap_session_notify(c->sess);
		free(users[i]);
	}
	free(users);
}

/* ---- connection life ---- */

static void conn_free(struct conn *c)
{
	struct worker *w = c->w;
	if (c->sess)
		imap_session_free(c->sess);
	if (c->resume_ev)
		event_free(c->resume_ev);
	user_unlink(c);
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->fd >= 0)
		evutil_closesocket(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ip_count_change((struct sockaddr *)&c->peer, -1);
	atomic_fetch_sub(&g_nconns, 1);
	free(c);
}

static void conn_setup_bev(struct conn *c);

static void conn_start_tls(struct conn *c)
{
	/* RFC 9051 6.2.1 / 11.1: anything the client pipelined after
	 * STARTTLS was read in cleartext and must not be executed. */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_free(c->bev);
	c->bev = NULL;
	SSL *ssl = SSL_new(g_ssl_ctx);
	if (!ssl) {
		conn_free(c);
		return;
	}
	/* CLOSE_ON_FREE: the TLS bufferevent now owns both SSL and socket. */
	c->bev = bufferevent_openssl_socket_new(c->w->base, c->fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		SSL_free(ssl);
		conn_free(c);
		return;
	}
	c->fd = -1;
	c->starttls_pending = false;
	c->tls = true;
	conn_setup_bev(c);
}

/* The input just read left nothing to answer (a literal, part of a line):
 * acknowledge it now. A client with Nagle on (imaplib, mutt, imapfilter)
 * holds the CRLF after a synchronizing literal until the literal is ACKed,
 * and Linux would delay that ACK ~40 ms waiting for a reply to ride on,
 * once per APPEND. When output is queued the ACK rides on it anyway, so the
 * extra system call is paid only when it matters. TCP_QUICKACK is not
 * sticky: setting it sends the pending ACK now, which is all we need. */
static void conn_ack_now(struct conn *c)
{
	if (!c->bev || c->closing || c->starttls_pending ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return;
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (c->closing || c->starttls_pending)
		return;
	imap_session_input(c->sess, bufferevent_get_input(bev));
	conn_ack_now(c);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	(void)bev;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return;
	if (c->closing) {
		conn_free(c);
		return;
	}
	if (c->starttls_pending) {
		conn_start_tls(c);
		return;
	}
	imap_session_drained(c->sess);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* TLS handshake finished. */
		if (c->tls)
			imap_session_tls_started(c->sess);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && !c->closing) {
		imap_session_timeout(c->sess);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		if ((what & BEV_EVENT_ERROR) && c->tls) {
			unsigned long e = bufferevent_get_openssl_error(c->bev);
			/* A client closing without close_notify is routine. */
			if (e && ERR_GET_REASON(e) != SSL_R_UNEXPECTED_EOF_WHILE_READING) {
				char buf[160];
				ERR_error_string_n(e, buf, sizeof(buf));
				log_info("event=tls_error ip=%s error=\"%s\"", c->peer_str, buf);
			}
		}
		conn_free(c);
	}
}

static void conn_setup_bev(struct conn *c)
{
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 256 * 1024);
	bufferevent_enable(c->bev, c->paused ? EV_WRITE : EV_READ | EV_WRITE);
}

/* ---- imap_io_ops ---- */

static void io_write(void *conn, const void *data, size_t len)
{
	struct conn *c = conn;
	if (c->bev && !c->closing)
		bufferevent_write(c->bev, data, len);
}

static size_t io_pending(void *conn)
{
	struct conn *c = conn;
	return c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
}

static void io_starttls(void *conn)
{
	struct conn *c = conn;
	c->starttls_pending = true;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_start_tls(c);
}

static void close_later_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_free(arg);
}

static void io_close(void *conn)
{
	struct conn *c = conn;
	if (c->closing)
		return;
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	/* Give a client that does not read its BYE a bounded time. */
	struct timeval tv = { 10, 0 };
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		struct timeval zero = { 0, 0 };
		event_base_once(c->w->base, -1, EV_TIMEOUT, close_later_cb, c, &zero);
	}
}

static void conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (c->bev && !c->closing && !c->starttls_pending && !c->paused)
		imap_session_input(c->sess, bufferevent_get_input(c->bev));
}

static void io_pause_read(void *conn, bool pause)
{
	struct conn *c = conn;
	c->paused = pause;
	if (!c->bev || c->closing || c->starttls_pending)
		return;
	if (pause) {
		bufferevent_disable(c->bev, EV_READ);
		return;
	}
	bufferevent_enable(c->bev, EV_READ);
	/* Input that arrived while paused raises no new read event: process
	 * it from the loop, not from inside the caller. */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		event_active(c->resume_ev, EV_READ, 0);
}

static void io_set_timeout(void *conn, unsigned seconds)
{
	struct conn *c = conn;
	struct timeval tv = { (time_t)seconds, 0 };
	if (c->bev)
		bufferevent_set_timeouts(c->bev, &tv, &tv);
}

static void io_logged_in(void *conn, const char *user)
{
	struct conn *c = conn;
	user_unlink(c);
	c->user = xstrdup(user);
	unsigned b = user_bucket(user);
	c->unext = c->w->buckets[b];
	c->w->buckets[b] = c;
	store_watch_user(user);
}

static const struct imap_io_ops io_ops = {
	.write = io_write,
	.pending = io_pending,
	.starttls = io_starttls,
	.close = io_close,
	.pause_read = io_pause_read,
	.set_timeout = io_set_timeout,
	.logged_in = io_logged_in,
};

static void refuse(evutil_socket_t fd, const char *why)
{
	/* A one-line BYE in cleartext is only sent on cleartext listeners; on
	 * TLS listeners the client just sees the close. */
	ssize_t r = send(fd, why, strlen(why), MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)r;
	evutil_closesocket(fd);
}

static void resume_listeners_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	for (size_t i = 0; i < w->nlisteners; i++)
		evconnlistener_enable(w->listeners[i]);
}

/* accept() failed. Out of descriptors (EMFILE/ENFILE): the store's unused
 * database handles are given back first; the listeners pause for 100 ms
 * either way, so a pending connection the process cannot take does not
 * spin the loop. Other errors (ECONNABORTED...) concern one connection. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	(void)l;
	struct worker *w = arg;
	int err = EVUTIL_SOCKET_ERROR();
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return;
	store_cache_drop();
	uint64_t now = now_ms();
	if (now - w->last_emfile_log_ms >= 10000) {
		w->last_emfile_log_ms = now;
		log_warn("event=accept_error errno=%d msg=\"%s\" connections=%u action=pause_100ms",
			 err, strerror(err), atomic_load(&g_nconns));
	}
	for (size_t i = 0; i < w->nlisteners; i++)
		evconnlistener_disable(w->listeners[i]);
	struct timeval tv = { 0, 100000 };
	event_add(w->resume_ev, &tv);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct worker *w = arg;
	const struct listener_config *lc = NULL;
	for (size_t i = 0; i < w->nlisteners; i++)
		if (w->listeners[i] == l)
			lc = &g_cfg->listeners[i];
	char peer[64];
	sockaddr_ntop(sa, peer, sizeof(peer));
	if (lc->allow_from.n && !cidr_list_match(&lc->allow_from, sa)) {
		log_info("event=connect_refused reason=allow_from ip=%s listener=%s", peer, lc->name);
		evutil_closesocket(fd);
		return;
	}
	if (atomic_fetch_add(&g_nconns, 1) >= g_conn_cap) {
		atomic_fetch_sub(&g_nconns, 1);
		log_warn("event=connect_refused reason=max_connections ip=%s", peer);
		refuse(fd, lc->tls == LISTENER_TLS_IMPLICIT ? "" : "* BYE [UNAVAILABLE] Too many connections\r\n");
		return;
	}
	if (!ip_count_change(sa, +1)) {
		atomic_fetch_sub(&g_nconns, 1);
		log_warn("event=connect_refused reason=max_connections_per_ip ip=%s", peer);
		refuse(fd, lc->tls == LISTENER_TLS_IMPLICIT ? ""
			   : "* BYE [UNAVAILABLE] Too many connections from your address\r\n");
		return;
	}
	struct conn *c = xcalloc(1, sizeof(*c));
	c->w = w;
	c->fd = fd;
	c->lc = lc;
	memcpy(&c->peer, sa, MIN((size_t)salen, sizeof(c->peer)));
	snprintf(c->peer_str, sizeof(c->peer_str), "%s", peer);
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->resume_ev = event_new(w->base, -1, 0, conn_resume_cb, c);

	if (lc->tls == LISTENER_TLS_IMPLICIT) {
		SSL *ssl = SSL_new(g_ssl_ctx);
		c->bev = ssl ? bufferevent_openssl_socket_new(w->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
							      BEV_OPT_CLOSE_ON_FREE)
			     : NULL;
		if (!c->bev) {
			SSL_free(ssl);
			conn_free(c);
			return;
		}
		c->fd = -1;
		c->tls = true;
	} else {
		c->bev = bufferevent_socket_new(w->base, fd, 0);
		if (!c->bev) {
			conn_free(c);
			return;
		}
	}
	struct imap_conn_info info = {
		.tls = c->tls,
		.starttls_offered = lc->tls == LISTENER_TLS_STARTTLS,
		.trusted = cidr_list_match(&g_cfg->trusted_networks, sa),
		.peer = c->peer_str,
		.listener = lc->name,
		.cfg = g_cfg,
		.base = w->base,
		.passdb = g_passdb,
	};
	c->sess = imap_session_new(&io_ops, c, &info);
	conn_setup_bev(c);
	log_debug("event=connect ip=%s listener=%s", c->peer_str, lc->name);
	imap_session_start(c->sess);
}

/* ---- workers ---- */

static void worker_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	event_del(w->resume_ev);
	for (size_t i = 0; i < w->nlisteners; i++)
		evconnlistener_disable(w->listeners[i]);
	for (struct conn *c = w->conns; c; c = c->next)
		if (!c->closing)
			imap_session_shutdown(c->sess);
	/* Give BYEs a moment to go out, then stop. */
	struct timeval tv = { 0, 300000 };
	event_base_loopexit(w->base, &tv);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	event_base_dispatch(w->base);
	while (w->conns)
		conn_free(w->conns);
	store_cache_drop();
	return NULL;
}

static int bind_listener(const struct listener_config *lc)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (strchr(lc->host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(lc->port);
		if (inet_pton(AF_INET6, lc->host, &s6->sin6_addr) != 1)
			return -1;
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(lc->port);
		if (inet_pton(AF_INET, lc->host, &s4->sin_addr) != 1)
			return -1;
		sl = sizeof(*s4);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Raises the soft descriptor limit to the hard one and derives the
 * connection cap: every connection is one descriptor, and the rest of the
 * server needs some of its own (listeners, event loops, the store handles
 * of the commands running now: an index, its WAL and shm, blobs/, a
 * message file). The pool's unused handles are not counted: they are given
 * back when descriptors run short. */
static void fit_connections_to_nofile(const struct config *cfg, unsigned nworkers)
{
	struct rlimit rl;
	g_conn_cap = cfg->max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	uint64_t nofile = rl.rlim_cur;
	uint64_t reserve = MIN(MAX(nofile / 8, 32), 256) + (uint64_t)nworkers * (cfg->nlisteners + 8);
	uint64_t room = nofile > reserve ? nofile - reserve : 1;
	if (room < cfg->max_connections) {
		g_conn_cap = (unsigned)room;
		log_warn("event=startup_warning msg=\"max_connections lowered to fit the open-files "
			 "limit\" max_connections=%u nofile=%llu effective=%u",
			 cfg->max_connections, (unsigned long long)nofile, g_conn_cap);
	}
}

int server_run(const struct config *cfg)
{
	g_cfg = cfg;
	if (evthread_use_pthreads() < 0)
		fatal("libevent threads unavailable");
	signal(SIGPIPE, SIG_IGN);
	/* Only the main thread takes SIGTERM/SIGINT/SIGHUP (sigwait below):
	 * block them before any thread starts so every thread inherits it. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	unsigned nw = cfg->workers;
	if (nw == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nw = n > 0 ? (unsigned)n : 1;
	}
	fit_connections_to_nofile(cfg, nw);
	bool need_tls = false;
	for (size_t i = 0; i < cfg->nlisteners; i++)
		need_tls |= cfg->listeners[i].tls != LISTENER_TLS_NONE;
	if (need_tls && !(g_ssl_ctx = tls_ctx_new(cfg)))
		return 1;
	char *perr = NULL;
	g_passdb = passdb_load(cfg->users_file, &perr);
	if (!g_passdb) {
		log_err("event=startup_error msg=\"cannot load users file\" path=%s error=\"%s\"",
			cfg->users_file, perr ? perr : "?");
		free(perr);
		return 1;
	}

	/* Bind everything while still privileged: one socket per worker per
	 * listener, so the kernel spreads connections (SO_REUSEPORT). */
	g_workers = xcalloc(nw, sizeof(*g_workers));
	g_nworkers = nw;
	for (unsigned i = 0; i < nw; i++) {
		struct worker *w = &g_workers[i];
		w->id = i;
		pthread_mutex_init(&w->nlock, NULL);
		w->base = event_base_new();
		if (!w->base)
			fatal("event_base_new failed");
		w->nlisteners = cfg->nlisteners;
		w->listeners = xcalloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof(*w->listeners));
		for (size_t j = 0; j < cfg->nlisteners; j++) {
			const struct listener_config *lc = &cfg->listeners[j];
			int fd = bind_listener(lc);
			if (fd < 0) {
				log_err("event=startup_error msg=\"cannot listen\" listener=%s address=%s port=%u error=\"%s\"",
					lc->name, lc->host, lc->port, strerror(errno));
				return 1;
			}
			w->listeners[j] = evconnlistener_new(w->base, accept_cb, w,
							     LEV_OPT_CLOSE_ON_FREE, -1, fd);
			if (!w->listeners[j])
				fatal("evconnlistener_new failed");
			evconnlistener_set_error_cb(w->listeners[j], accept_error_cb);
		}
		w->resume_ev = evtimer_new(w->base, resume_listeners_cb, w);
		w->stop_ev = event_new(w->base, -1, 0, worker_stop_cb, w);
		w->notify_ev = event_new(w->base, -1, 0, worker_notify_cb, w);
	}
	if (privs_drop(cfg) < 0)
		return 1;
	if (store_init(cfg->mail_root) < 0) {
		log_err("event=startup_error msg=\"cannot open mail_root\" path=%s", cfg->mail_root);
		return 1;
	}
	if (store_watch_start(on_store_change, NULL) < 0) {
		log_err("event=startup_error msg=\"cannot start change watcher\"");
		return 1;
	}
	if (workpool_start(nw) < 0)
		fatal("cannot start work pool");

	for (unsigned i = 0; i < nw; i++)
		if (pthread_create(&g_workers[i].thread, NULL, worker_main, &g_workers[i]) != 0)
			fatal("pthread_create failed");
	for (size_t j = 0; j < cfg->nlisteners; j++)
		log_info("event=listening listener=%s address=%s port=%u tls=%s", cfg->listeners[j].name,
			 cfg->listeners[j].host, cfg->listeners[j].port,
			 cfg->listeners[j].tls == LISTENER_TLS_IMPLICIT ? "implicit"
			 : cfg->listeners[j].tls == LISTENER_TLS_STARTTLS ? "starttls" : "none");
	log_info("event=started workers=%u pid=%d", nw, (int)getpid());

	for (;;) {
		int sig = 0;
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			if (g_passdb)
				passdb_refresh(g_passdb);
			log_info("event=reload what=users_file");
			continue;
		}
		break;
	}

	log_info("event=stopping");
	for (unsigned i = 0; i < nw; i++)
		event_active(g_workers[i].stop_ev, EV_READ, 0);
	for (unsigned i = 0; i < nw; i++)
		pthread_join(g_workers[i].thread, NULL);
	store_watch_stop();
	workpool_stop();
	for (unsigned i = 0; i < nw; i++) {
		struct worker *w = &g_workers[i];
		for (size_t j = 0; j < w->nlisteners; j++)
			evconnlistener_free(w->listeners[j]);
		free(w->listeners);
		event_free(w->stop_ev);
		event_free(w->notify_ev);
		event_free(w->resume_ev);
		for (size_t k = 0; k < w->npending; k++)
			free(w->pending[k]);
		free(w->pending);
		event_base_free(w->base);
		pthread_mutex_destroy(&w->nlock);
	}
	free(g_workers);
	g_workers = NULL;
	store_shutdown();
	passdb_free(g_passdb);
	g_passdb = NULL;
	if (g_ssl_ctx)
		SSL_CTX_free(g_ssl_ctx);
	log_info("event=stopped");
	return 0;
}
