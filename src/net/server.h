/* The network layer: listeners (TCP and unix sockets), one libevent
 * worker per core, connection limits, TLS. It knows no protocol: each
 * listener hands its connections to the struct proto_ops (core/proto.h)
 * the composition root (src/app/serve.c) gave for its `protocol`. */
#ifndef RAMPART_NET_SERVER_H
#define RAMPART_NET_SERVER_H

#include "core/config.h"

struct proto_ops;
struct server;
struct sockaddr;

/* A protocol as the server runs it: its table and its own context. */
struct server_proto {
	const struct proto_ops *ops;
	void *arg;
};

/* Calls back into the rest of the process; each may be NULL. */
struct server_hooks {
	/* accept() ran out of descriptors: give cached ones back (the store's
	 * unused database handles). Runs on a worker thread. */
	void (*fds_short)(void);
	/* A worker thread starts: index is its number, 0 .. workers-1, the
	 * one server_post takes. Runs on that thread before any connection. */
	void (*worker_start)(unsigned index);
	/* A worker thread is about to exit: release its per-thread state. */
	void (*worker_exit)(void);
	/* Has this source logged in successfully before? When the connection
	 * table is nearly full, its last connection_reserve_percent is kept
	 * for such sources (auth/policy.c answers, through app/serve.c).
	 * Called on a worker thread; NULL: no reserve. */
	bool (*source_known)(const struct sockaddr *sa);
};

/* Binds every listener (call while still privileged), builds the TLS
 * context and one event loop per worker, and fits max_connections to the
 * descriptor limit. protos is indexed by enum listener_proto; a listener
 * whose protocol has no ops is an error. NULL on error (logged). */
struct server *server_new(const struct config *cfg,
			  const struct server_proto protos[LISTENER_PROTO__COUNT],
			  const struct server_hooks *hooks);
/* Number of worker threads (the `workers` key, 0 meaning one per core). */
unsigned server_workers(const struct server *srv);
/* Starts the worker threads; connections are accepted from now on. */
void server_start(struct server *srv);
/* Runs fn(key) soon on every worker thread, each with its own copy of
 * key; a post still pending with the same fn and key is not repeated.
 * Thread-safe: for the change watcher's thread. */
void server_post_all(struct server *srv, void (*fn)(const char *key), const char *key);
/* The same for worker number `worker` only (hooks.worker_start told each
 * thread its number); an out-of-range number is ignored. */
void server_post(struct server *srv, unsigned worker, void (*fn)(const char *key),
		 const char *key);
/* SIGHUP: re-reads the TLS certificates and keys into a new context for
 * new connections; existing ones keep theirs. On error (logged) the old
 * context stays and -1 is returned. Thread-safe (net/tls.c). */
int server_tls_reload(struct server *srv);
/* The drain: the listeners close (no new connections), every session
 * says goodbye once its running command has finished (proto_ops.shutdown),
 * bounded by shutdown_timeout; the workers stop and are joined. Blocks. */
void server_stop(struct server *srv);
/* lifecycle: server_stop bounded by timeout_s instead of the start-up
 * snapshot's shutdown_timeout (a reload may have changed it). */
void server_drain(struct server *srv, unsigned timeout_s);
/* Closes the listeners (removes unix socket files) and frees. */
void server_free(struct server *srv);

#endif
