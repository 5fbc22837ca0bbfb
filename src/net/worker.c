/* The server's workers: one libevent loop per thread, each accepting on
 * its share of every listener; the limits checked at accept
 * (max_connections, max_connections_per_ip, allow_from, the reserve of
 * the connection table for known sources); the descriptor
 * budget that max_connections is fitted into; and server_post_all, the one
 * way another thread reaches the workers (change notifications). Which
 * protocol a connection speaks is the listener's business (conn.c). */
#include "net/net_internal.h"
#include "net/tls.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- connections per source address ---- */

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

/* Returns false when the address is over max_connections_per_ip. Unix
 * peers have no address and are not counted: they are local by
 * definition, and only max_connections bounds them. */
static bool ip_count_change(struct server *srv, const struct sockaddr *sa, int delta)
{
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return true;
	uint8_t key[16];
	addr_key(sa, key);
	unsigned b = hash_bytes(key, 16) % NET_IP_BUCKETS;
	bool ok = true;
	pthread_mutex_lock(&srv->ip_lock);
	struct net_ip_count **pp = &srv->ip_buckets[b], *e;
	while ((e = *pp) && memcmp(e->addr, key, 16) != 0)
		pp = &e->next;
	if (delta > 0) {
		if (!e) {
			e = xcalloc(1, sizeof(*e));
			memcpy(e->addr, key, 16);
			e->next = srv->ip_buckets[b];
			srv->ip_buckets[b] = e;
		}
		if (e->count >= srv->cfg->max_connections_per_ip)
			ok = false;
		else
			e->count++;
	} else if (e && e->count > 0 && --e->count == 0) {
		*pp = e->next;
		free(e);
	}
	pthread_mutex_unlock(&srv->ip_lock);
	return ok;
}

void worker_conn_release(struct worker *w, const struct sockaddr *sa)
{
	ip_count_change(w->srv, sa, -1);
	atomic_fetch_sub(&w->srv->nconns, 1);
}

/* ---- accept ---- */

static void refuse(evutil_socket_t fd, const char *why)
{
	/* A one-line goodbye in cleartext is only sent on cleartext
	 * listeners; on TLS listeners the client just sees the close. */
	ssize_t r = send(fd, why, strlen(why), MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)r;
	evutil_closesocket(fd);
}

static void resume_listeners_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	for (size_t i = 0; i < w->srv->nlisteners; i++)
		evconnlistener_enable(w->evl[i]);
}

/* accept() failed. Out of descriptors (EMFILE/ENFILE): cached descriptors
 * are given back first (hooks.fds_short); the listeners pause for 100 ms
 * either way, so a pending connection the process cannot take does not
 * spin the loop. Other errors (ECONNABORTED...) concern one connection. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	(void)l;
	struct worker *w = arg;
	int err = EVUTIL_SOCKET_ERROR();
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return;
	if (w->srv->hooks.fds_short)
		w->srv->hooks.fds_short();
	uint64_t now = now_ms();
	if (now - w->last_emfile_log_ms >= 10000) {
		w->last_emfile_log_ms = now;
		log_warn("event=accept_error errno=%d msg=\"%s\" connections=%u action=pause_100ms",
			 err, strerror(err), atomic_load(&w->srv->nconns));
	}
	for (size_t i = 0; i < w->srv->nlisteners; i++)
		evconnlistener_disable(w->evl[i]);
	struct timeval tv = { 0, 100000 };
	event_add(w->resume_ev, &tv);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct worker *w = arg;
	const struct net_listener *nl = NULL;
	for (size_t i = 0; i < w->srv->nlisteners; i++)
		if (w->evl[i] == l)
			nl = &w->srv->listeners[i];
	/* A load balancer's connection: the checks wait for the client's
	 * address in its PROXY header (proxy.c). */
	if (proxy_expected(nl->lc, sa))
		proxy_wait_start(w, nl, fd, sa, (socklen_t)salen);
	else
		worker_accept(w, nl, fd, sa, (socklen_t)salen);
}

void worker_accept(struct worker *w, const struct net_listener *nl, evutil_socket_t fd,
		   const struct sockaddr *sa, socklen_t salen)
{
	struct server *srv = w->srv;
	const struct listener_config *lc = nl->lc;
	char peer[64];
	if (sa->sa_family == AF_UNIX)
		snprintf(peer, sizeof(peer), "unix");
	else
		sockaddr_ntop(sa, peer, sizeof(peer));
	if (lc->allow_from.n && !cidr_list_match(&lc->allow_from, sa)) {
		log_info("event=connect_refused reason=allow_from ip=%s listener=%s", peer, lc->name);
		evutil_closesocket(fd);
		return;
	}
	bool cleartext = lc->tls != LISTENER_TLS_IMPLICIT;
	unsigned used = atomic_fetch_add(&srv->nconns, 1);
	if (used >= srv->conn_cap) {
		atomic_fetch_sub(&srv->nconns, 1);
		log_warn("event=connect_refused reason=max_connections ip=%s", peer);
		refuse(fd, cleartext ? "* BYE [UNAVAILABLE] Too many connections\r\n" : "");
		return;
	}
	if (used >= srv->conn_cap - srv->conn_reserve && sa->sa_family != AF_UNIX &&
	    !srv->hooks.source_known(sa)) {
		atomic_fetch_sub(&srv->nconns, 1);
		log_warn("event=connect_refused reason=reserve ip=%s", peer);
		refuse(fd, cleartext ? "* BYE [UNAVAILABLE] Too many connections\r\n" : "");
		return;
	}
	if (!ip_count_change(srv, sa, +1)) {
		atomic_fetch_sub(&srv->nconns, 1);
		log_warn("event=connect_refused reason=max_connections_per_ip ip=%s", peer);
		refuse(fd, cleartext ? "* BYE [UNAVAILABLE] Too many connections from your address\r\n"
				     : "");
		return;
	}
	conn_open(w, nl, fd, sa, salen, peer);
}

/* ---- posts from other threads ---- */

void server_post(struct server *srv, unsigned worker, void (*fn)(const char *key),
		 const char *key)
{
	if (worker >= srv->nworkers)
		return;
	struct worker *w = &srv->workers[worker];
	pthread_mutex_lock(&w->plock);
	bool dup = false;
	for (size_t j = 0; j < w->nposts && !dup; j++)
		dup = w->posts[j].fn == fn && strcmp(w->posts[j].key, key) == 0;
	if (!dup) {
		xgrow((void **)&w->posts, &w->pcap, w->nposts + 1, sizeof(*w->posts));
		w->posts[w->nposts++] = (struct worker_post){ fn, xstrdup(key) };
	}
	pthread_mutex_unlock(&w->plock);
	event_active(w->post_ev, EV_READ, 0);
}

void server_post_all(struct server *srv, void (*fn)(const char *key), const char *key)
{
	for (unsigned i = 0; i < srv->nworkers; i++)
		server_post(srv, i, fn, key);
}

static void worker_post_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	pthread_mutex_lock(&w->plock);
	struct worker_post *posts = w->posts;
	size_t n = w->nposts;
	w->posts = NULL;
	w->nposts = w->pcap = 0;
	pthread_mutex_unlock(&w->plock);
	for (size_t i = 0; i < n; i++) {
		posts[i].fn(posts[i].key);
		free(posts[i].key);
	}
	free(posts);
}

/* ---- worker threads ---- */

/* The drain (SIGTERM), checked every DRAIN_TICK_MS: the loop ends as soon
 * as the last connection is gone. At shutdown_timeout the sessions still
 * running a command are told to go now; DRAIN_GRACE_MS later the loop ends
 * anyway and worker_main frees whatever is left. */
#define DRAIN_TICK_MS 20
#define DRAIN_GRACE_MS 1000

static void worker_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	if (!w->conns) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	uint64_t now = now_ms();
	if (now < w->drain_deadline_ms)
		return;
	if (w->drain_forced) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	unsigned n = 0;
	for (struct conn *c = w->conns, *next; c; c = next, n++) {
		next = conn_next(c);
		conn_shutdown(c);
	}
	log_warn("event=drain_timeout worker=%u sessions=%u", w->id, n);
	w->drain_forced = true;
	w->drain_deadline_ms = now + DRAIN_GRACE_MS;
}

/* Stop accepting (this worker's listening sockets close, so new clients
 * are refused by the kernel rather than queued), then every session says
 * goodbye once its running command has finished (core/proto.h). */
static void worker_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	event_del(w->resume_ev);
	for (size_t i = 0; i < w->srv->nlisteners; i++) {
		evconnlistener_free(w->evl[i]);
		w->evl[i] = NULL;
	}
	proxy_wait_free_all(w);
	for (struct conn *c = w->conns, *next; c; c = next) {
		next = conn_next(c);
		conn_shutdown(c);
	}
	w->drain_deadline_ms = now_ms() + (uint64_t)w->srv->drain_timeout_s * 1000;
	w->drain_ev = event_new(w->base, -1, EV_PERSIST, worker_drain_cb, w);
	struct timeval tv = { 0, DRAIN_TICK_MS * 1000 };
	event_add(w->drain_ev, &tv);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	thread_name("rampart-net");
	if (w->srv->hooks.worker_start)
		w->srv->hooks.worker_start((unsigned)(w - w->srv->workers));
	event_base_dispatch(w->base);
	while (w->conns)
		conn_free(w->conns);
	proxy_wait_free_all(w);
	if (w->srv->hooks.worker_exit)
		w->srv->hooks.worker_exit();
	return NULL;
}

/* Raises the soft descriptor limit to the hard one and derives the
 * connection cap: every connection is one descriptor, and the rest of the
 * server needs some of its own (listeners, event loops, the store handles
 * of the commands running now: an index, its WAL and shm, blobs/, a
 * message file). Cached handles are not counted: they are given back when
 * descriptors run short (hooks.fds_short). */
static void fit_connections_to_nofile(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	struct rlimit rl;
	srv->conn_cap = cfg->max_connections;
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
	uint64_t reserve = MIN(MAX(nofile / 8, 32), 256) +
			   (uint64_t)srv->nworkers * (cfg->nlisteners + 8);
	uint64_t room = nofile > reserve ? nofile - reserve : 1;
	if (room < cfg->max_connections) {
		srv->conn_cap = (unsigned)room;
		log_warn("event=startup_warning msg=\"max_connections lowered to fit the open-files "
			 "limit\" max_connections=%u nofile=%llu effective=%u",
			 cfg->max_connections, (unsigned long long)nofile, srv->conn_cap);
	}
}

/* Binds each listener; unix sockets once, TCP per worker. */
static int worker_listen(struct server *srv, struct worker *w)
{
	w->evl = xcalloc(srv->nlisteners ? srv->nlisteners : 1, sizeof(*w->evl));
	for (size_t j = 0; j < srv->nlisteners; j++) {
		const struct net_listener *nl = &srv->listeners[j];
		int fd = nl->shared_fd >= 0 ? fcntl(nl->shared_fd, F_DUPFD_CLOEXEC, 0) : listener_bind(nl->lc);
		if (fd < 0) {
			char addr[160];
			listener_describe(nl->lc, addr, sizeof(addr));
			log_err("event=startup_error msg=\"cannot listen\" listener=%s address=%s error=\"%s\"",
				nl->lc->name, addr, strerror(errno));
			return -1;
		}
		w->evl[j] = evconnlistener_new(w->base, accept_cb, w, LEV_OPT_CLOSE_ON_FREE, -1, fd);
		if (!w->evl[j])
			fatal("evconnlistener_new failed");
		evconnlistener_set_error_cb(w->evl[j], accept_error_cb);
	}
	return 0;
}

struct server *server_new(const struct config *cfg,
			  const struct server_proto protos[LISTENER_PROTO__COUNT],
			  const struct server_hooks *hooks)
{
	if (evthread_use_pthreads() < 0)
		fatal("libevent threads unavailable");
	struct server *srv = xcalloc(1, sizeof(*srv));
	srv->cfg = cfg;
	pthread_mutex_init(&srv->ip_lock, NULL);
	if (hooks)
		srv->hooks = *hooks;
	memcpy(srv->protos, protos, sizeof(srv->protos));
	unsigned nw = cfg->workers;
	if (nw == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nw = n > 0 ? (unsigned)n : 1;
	}
	srv->nworkers = nw;
	srv->workers = xcalloc(nw, sizeof(*srv->workers));
	srv->nlisteners = cfg->nlisteners;
	srv->listeners = xcalloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof(*srv->listeners));
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		srv->listeners[i].lc = &cfg->listeners[i];
		/* lifecycle: a socket systemd passed replaces binding (listener.c) */
		srv->listeners[i].shared_fd = listener_activated(&cfg->listeners[i]);
		srv->listeners[i].activated = srv->listeners[i].shared_fd >= 0;
	}
	listener_activation_done();
	bool need_tls = false;
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct listener_config *lc = &cfg->listeners[i];
		struct net_listener *nl = &srv->listeners[i];
		nl->proto = &srv->protos[lc->protocol];
		if (!nl->proto->ops) {
			log_err("event=startup_error msg=\"protocol not available\" listener=%s protocol=%s",
				lc->name, config_protocol_name(lc->protocol));
			goto fail;
		}
		need_tls |= lc->tls != LISTENER_TLS_NONE;
	}
	fit_connections_to_nofile(srv);
	/* Room kept for sources that logged in before: a flood from many
	 * addresses fills the table only up to here (issue #11). */
	if (srv->hooks.source_known)
		srv->conn_reserve = (unsigned)((uint64_t)srv->conn_cap * cfg->policy_reserve_percent / 100);
	if (need_tls && !(srv->ssl_ctx = tls_ctx_new(cfg)))
		goto fail;
	for (size_t i = 0; i < srv->nlisteners; i++) {
		struct net_listener *nl = &srv->listeners[i];
		if (!nl->lc->unix_path || nl->activated)
			continue;
		nl->shared_fd = listener_bind(nl->lc);
		if (nl->shared_fd < 0) {
			log_err("event=startup_error msg=\"cannot listen\" listener=%s address=unix:%s "
				"error=\"%s\"", nl->lc->name, nl->lc->unix_path, strerror(errno));
			goto fail;
		}
	}
	for (size_t i = 0; i < srv->nlisteners; i++) {
		const struct net_listener *nl = &srv->listeners[i];
		if (nl->activated || nl->lc->unix_path || listener_check_free(nl->lc) == 0)
			continue;
		char addr[160];
		listener_describe(nl->lc, addr, sizeof(addr));
		log_err("event=startup_error msg=\"cannot listen\" listener=%s address=%s error=\"%s\"",
			nl->lc->name, addr, strerror(errno));
		goto fail;
	}
	for (unsigned i = 0; i < nw; i++) {
		struct worker *w = &srv->workers[i];
		w->srv = srv;
		w->id = i;
		pthread_mutex_init(&w->plock, NULL);
		w->base = event_base_new();
		if (!w->base)
			fatal("event_base_new failed");
		w->resume_ev = evtimer_new(w->base, resume_listeners_cb, w);
		w->stop_ev = event_new(w->base, -1, 0, worker_stop_cb, w);
		w->post_ev = event_new(w->base, -1, 0, worker_post_cb, w);
		if (worker_listen(srv, w) < 0)
			goto fail;
	}
	return srv;
fail:
	server_free(srv);
	return NULL;
}

unsigned server_workers(const struct server *srv)
{
	return srv->nworkers;
}

void server_start(struct server *srv)
{
	for (unsigned i = 0; i < srv->nworkers; i++)
		if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0)
			fatal("pthread_create failed");
	srv->started = true;
	for (size_t j = 0; j < srv->nlisteners; j++) {
		const struct listener_config *lc = srv->listeners[j].lc;
		char addr[160];
		listener_describe(lc, addr, sizeof(addr));
		log_info("event=listening listener=%s protocol=%s address=%s tls=%s socket=%s", lc->name,
			 config_protocol_name(lc->protocol), addr,
			 lc->tls == LISTENER_TLS_IMPLICIT ? "implicit"
			 : lc->tls == LISTENER_TLS_STARTTLS ? "starttls" : "none",
			 srv->listeners[j].activated ? "systemd" : "bound");
	}
	log_info("event=started workers=%u pid=%d", srv->nworkers, (int)getpid());
}

void server_drain(struct server *srv, unsigned timeout_s)
{
	srv->drain_timeout_s = timeout_s;
	server_stop(srv);
}

void server_stop(struct server *srv)
{
	if (!srv->started)
		return;
	if (!srv->drain_timeout_s)
		srv->drain_timeout_s = srv->cfg->shutdown_timeout;
	/* A unix listener's own socket closes here, the workers' copies in
	 * worker_stop_cb: then the path is gone and connecting fails. */
	for (size_t i = 0; i < srv->nlisteners; i++) {
		if (srv->listeners[i].shared_fd >= 0) {
			close(srv->listeners[i].shared_fd);
			srv->listeners[i].shared_fd = -1;
			if (!srv->listeners[i].activated)
				listener_unlink(srv->listeners[i].lc);
		}
	}
	for (unsigned i = 0; i < srv->nworkers; i++)
		event_active(srv->workers[i].stop_ev, EV_READ, 0);
	for (unsigned i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i].thread, NULL);
	srv->started = false;
}

void server_free(struct server *srv)
{
	if (!srv)
		return;
	server_stop(srv);
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct worker *w = &srv->workers[i];
		if (!w->base)
			continue;
		/* Completions the work pool posted after this worker's loop
		 * ended (its sessions are gone, so they only free their jobs):
		 * run them now rather than leak them. The caller stops the pool
		 * first (app/serve.c). No new connection may arrive meanwhile. */
		if (w->resume_ev)
			event_del(w->resume_ev);
		for (size_t j = 0; w->evl && j < srv->nlisteners; j++)
			if (w->evl[j])
				evconnlistener_disable(w->evl[j]);
		event_base_loop(w->base, EVLOOP_NONBLOCK);
		for (size_t j = 0; w->evl && j < srv->nlisteners; j++)
			if (w->evl[j])
				evconnlistener_free(w->evl[j]);
		free(w->evl);
		event_free(w->stop_ev);
		if (w->drain_ev)
			event_free(w->drain_ev);
		event_free(w->post_ev);
		event_free(w->resume_ev);
		for (size_t k = 0; k < w->nposts; k++)
			free(w->posts[k].key);
		free(w->posts);
		event_base_free(w->base);
		pthread_mutex_destroy(&w->plock);
	}
	free(srv->workers);
	for (size_t i = 0; i < srv->nlisteners; i++) {
		if (srv->listeners[i].shared_fd >= 0) {
			close(srv->listeners[i].shared_fd);
			if (!srv->listeners[i].activated)
				listener_unlink(srv->listeners[i].lc);
		}
	}
	free(srv->listeners);
	for (size_t b = 0; b < NET_IP_BUCKETS; b++) {
		while (srv->ip_buckets[b]) {
			struct net_ip_count *e = srv->ip_buckets[b];
			srv->ip_buckets[b] = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&srv->ip_lock);
	if (srv->ssl_ctx)
		SSL_CTX_free(srv->ssl_ctx);
	free(srv);
}
