/* What the files of net/ share and nothing outside sees: the server, its
 * workers and listeners (worker.c, listener.c) and the connections they
 * accept (conn.c). */
#ifndef RAMPART_NET_NET_INTERNAL_H
#define RAMPART_NET_NET_INTERNAL_H

#include "net/server.h"

#include <event2/util.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct conn;
struct proxy_wait;
struct evconnlistener;
struct event;
struct event_base;

/* One [listener NAME] as bound. TCP listeners bind one socket per worker
 * (SO_REUSEPORT spreads connections); a unix socket path can be bound only
 * once, and a socket systemd passed exists once, so for those every worker
 * accepts on a duplicate of the one socket. */
struct net_listener {
	const struct listener_config *lc;
	const struct server_proto *proto;
	int shared_fd;              /* unix or passed by systemd: the socket; else -1 */
	bool activated;             /* passed by systemd: its path is not ours to remove */
};

/* A call posted to every worker (server_post_all). */
struct worker_post {
	void (*fn)(const char *key);
	char *key;
};

/* One event loop on its own thread, with its share of every listener. */
struct worker {
	struct server *srv;
	unsigned id;
	pthread_t thread;
	struct event_base *base;
	struct evconnlistener **evl; /* one per listener, same order */
	struct event *stop_ev;
	struct event *post_ev;
	struct event *resume_ev;    /* re-enables the listeners after EMFILE */
	uint64_t last_emfile_log_ms;
	pthread_mutex_t plock;
	struct worker_post *posts;  /* posted by other threads, run by this one */
	size_t nposts, pcap;
	struct conn *conns;         /* every connection of this worker */
	struct proxy_wait *proxy_waits; /* connections whose PROXY header is being read */
	unsigned nproxy_waits;
	/* lifecycle: the drain (server_stop) checks on its sessions here */
	struct event *drain_ev;
	uint64_t drain_deadline_ms;
	bool drain_forced;          /* shutdown_timeout passed: the rest were told */
};

#define NET_IP_BUCKETS 4096

struct net_ip_count {
	struct net_ip_count *next;
	uint8_t addr[16];
	unsigned count;
};

struct server {
	const struct config *cfg;
	SSL_CTX *ssl_ctx;
	struct server_hooks hooks;
	struct server_proto protos[LISTENER_PROTO__COUNT];
	struct net_listener *listeners;
	size_t nlisteners;
	struct worker *workers;
	unsigned nworkers;
	bool started;
	unsigned drain_timeout_s;   /* lifecycle: server_drain's bound */
	atomic_uint nconns;
	/* max_connections, lowered at startup when the descriptor limit
	 * cannot hold that many connections and leave the rest room. */
	unsigned conn_cap;
	/* The top of conn_cap kept for known sources (hooks.source_known). */
	unsigned conn_reserve;
	/* Connections per source address, shared by all workers. */
	pthread_mutex_t ip_lock;
	struct net_ip_count *ip_buckets[NET_IP_BUCKETS];
};

/* conn.c: a connection accepted on `nl` takes ownership of fd; it counts
 * against the limits already (worker.c) and gives them back when freed. */
void conn_open(struct worker *w, const struct net_listener *nl, evutil_socket_t fd,
	       const struct sockaddr *sa, socklen_t salen, const char *peer);
/* The next connection in its worker's list. */
struct conn *conn_next(const struct conn *c);
/* The server is stopping: the protocol says goodbye, when its running
 * command has finished; called again when the drain's time is up. */
void conn_shutdown(struct conn *c);
void conn_free(struct conn *c);

/* worker.c: gives back what accepting the connection from `sa` took. */
void worker_conn_release(struct worker *w, const struct sockaddr *sa);
/* worker.c: the checks of a new connection from `sa` (the client's
 * address: after a PROXY header, the one it carries), then conn_open. */
void worker_accept(struct worker *w, const struct net_listener *nl, evutil_socket_t fd,
		   const struct sockaddr *sa, socklen_t salen);

/* proxy.c: the PROXY protocol. A connection from one of the listener's
 * proxy_from addresses... */
bool proxy_expected(const struct listener_config *lc, const struct sockaddr *sa);
/* ...first has its header read; then worker_accept() runs with the
 * client's address, or the connection is closed (logged). */
void proxy_wait_start(struct worker *w, const struct net_listener *nl, evutil_socket_t fd,
		      const struct sockaddr *sa, socklen_t salen);
/* Closes the connections still sending their header (worker exit). */
void proxy_wait_free_all(struct worker *w);
/* Whether the first bytes a client sent are a PROXY header: 1 yes, 0 no,
 * -1 too few bytes to tell. */
int proxy_header_sniff(const unsigned char *b, size_t len);

/* listener.c: a socket for `lc`, listening, non-blocking; -1 with errno. */
int listener_bind(const struct listener_config *lc);
/* 0 if nobody listens on lc's TCP address yet, else -1 (errno). */
int listener_check_free(const struct listener_config *lc);
/* Socket activation (sd_listen_fds(3)): the sockets systemd passed, read
 * from LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES once (the variables are then
 * removed from the environment). The one for `lc` (its name is the
 * socket's FileDescriptorName=, or the socket's address is the listener's),
 * non-blocking and taken, or -1. */
int listener_activated(const struct listener_config *lc);
/* Closes the passed sockets no listener took (logged). */
void listener_activation_done(void);
/* A unix listener's socket file is removed at shutdown. */
void listener_unlink(const struct listener_config *lc);
/* "127.0.0.1:143" or "unix:/run/rampart/imap.sock", for logs. */
void listener_describe(const struct listener_config *lc, char *buf, size_t len);

#endif
