/* The administrator's HTTP listener (app/http.h): evhttp on a thread of
 * its own. Handlers are registered by path before the start; the request
 * callback checks the source and the Host header, runs the handler into a
 * strbuf and sends it with headers that keep a browser from caching or
 * framing the page or guessing its type.
 *
 * Bounds: GET/HEAD only, headers at most 8 KiB, no body, 10 s timeout per
 * connection (an idle or slow client is dropped), and at most
 * HTTP_MAX_CONNS connections with a request in hand: beyond that the
 * answer is 503. Only sources in allow_from get past the first check, so
 * these limits concern the administrator's own tools. */
#include "app/http.h"
#include "core/cidr.h"
#include "core/config.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define HTTP_ROUTES 16
#define HTTP_MAX_CONNS 64
#define HTTP_TIMEOUT_S 10
#define HTTP_MAX_HEADERS 8192

struct http_route {
	const char *path;
	http_handler *fn;
	void *arg;
};

static struct http_route g_routes[HTTP_ROUTES];
static size_t g_nroutes;
static struct event_base *g_base;
static struct evhttp *g_http;
static pthread_t g_thread;
static bool g_running;
static unsigned g_port;
static struct cidr_list g_allow;      /* copy of [http] allow_from; empty: loopback */
static char *g_host_names;            /* copy of [http] host_names */
/* Connections that sent a request (HTTP thread only). */
static struct evhttp_connection *g_conns[HTTP_MAX_CONNS];

void http_route(const char *path, http_handler *fn, void *arg)
{
	if (g_nroutes < HTTP_ROUTES)
		g_routes[g_nroutes++] = (struct http_route){ path, fn, arg };
}

unsigned http_port(void)
{
	return g_port;
}

static bool http_source_allowed(const char *addr)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (!addr)
		return false;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	else
		return false;
	if (g_allow.n)
		return cidr_list_match(&g_allow, (const struct sockaddr *)&ss);
	if (ss.ss_family == AF_INET)
		return ntohl(s4->sin_addr.s_addr) >> 24 == 127;
	return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
}

/* Host: an IP literal (no DNS name, so no rebinding), "localhost", or a
 * name listed in [http] host_names; any of them with a port. */
static bool http_host_allowed(const char *host)
{
	if (!host || !*host)
		return false;
	char name[256];
	size_t len = strlen(host);
	if (len >= sizeof(name))
		return false;
	memcpy(name, host, len + 1);
	if (name[0] == '[') {                     /* [v6]:port */
		char *close = strchr(name, ']');
		if (!close)
			return false;
		*close = '\0';
		struct cidr c;
		return cidr_parse(name + 1, &c) == 0;
	}
	char *colon = strrchr(name, ':');
	if (colon)
		*colon = '\0';
	struct cidr c;
	if (cidr_parse(name, &c) == 0 || strcasecmp(name, "localhost") == 0)
		return true;
	if (!g_host_names)
		return false;
	size_t nlen = strlen(name);
	for (const char *p = g_host_names; *p;) {
		p += strspn(p, " ,");
		size_t w = strcspn(p, " ,");
		if (w == nlen && strncasecmp(p, name, w) == 0)
			return true;
		p += w;
	}
	return false;
}

static void http_reply(struct evhttp_request *req, int status, const char *type,
		       const void *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	/* The page loads nothing from elsewhere: its script and style are
	 * inline, its data comes from this origin. */
	evhttp_add_header(h, "Content-Security-Policy",
			  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
			  "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
	struct evbuffer *out = evbuffer_new();
	if (out && len)
		evbuffer_add(out, body, len);
	evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", out);
	if (out)
		evbuffer_free(out);
}

static void http_text(struct evhttp_request *req, int status, const char *msg)
{
	http_reply(req, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

static void http_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)arg;
	for (size_t i = 0; i < HTTP_MAX_CONNS; i++)
		if (g_conns[i] == evcon)
			g_conns[i] = NULL;
}

/* Counts evcon among the open connections; false when the table is full. */
static bool http_conn_admit(struct evhttp_connection *evcon)
{
	size_t free_slot = HTTP_MAX_CONNS;
	for (size_t i = 0; i < HTTP_MAX_CONNS; i++) {
		if (g_conns[i] == evcon)
			return true;
		if (!g_conns[i] && free_slot == HTTP_MAX_CONNS)
			free_slot = i;
	}
	if (free_slot == HTTP_MAX_CONNS)
		return false;
	g_conns[free_slot] = evcon;
	evhttp_connection_set_closecb(evcon, http_conn_closed, NULL);
	return true;
}

static void http_request(struct evhttp_request *req, void *arg)
{
	(void)arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char *peer = NULL;
	ev_uint16_t pport = 0;
	if (evcon)
		evhttp_connection_get_peer(evcon, &peer, &pport);
	if (!http_source_allowed(peer)) {
		log_warn("event=http_refused peer=%s reason=allow_from", peer ? peer : "?");
		http_text(req, 403, "forbidden\n");
		return;
	}
	const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	if (!http_host_allowed(host)) {
		http_text(req, 421, "unknown Host; add it to [http] host_names\n");
		return;
	}
	/* Counted once per connection, released when it closes. */
	if (evcon && !http_conn_admit(evcon)) {
		http_text(req, 503, "too many connections\n");
		return;
	}
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	if (!path || !*path)
		path = "/";
	for (size_t i = 0; i < g_nroutes; i++) {
		if (strcmp(g_routes[i].path, path) != 0)
			continue;
		struct strbuf body = STRBUF_INIT;
		const char *type = "text/plain; charset=utf-8";
		int status = g_routes[i].fn(g_routes[i].arg, query ? query : "", &body, &type);
		http_reply(req, status, type, body.s, body.len);
		strbuf_free(&body);
		return;
	}
	http_text(req, 404, "not found\n");
}

static void *http_thread(void *arg)
{
	(void)arg;
	event_base_dispatch(g_base);
	return NULL;
}

int http_start(const struct config *cfg)
{
	if (!cfg->http_address)
		return 0;
	char host[64];
	uint16_t port;
	if (config_split_hostport(cfg->http_address, host, sizeof(host), &port) < 0)
		return -1;   /* config_load refused it already */
	g_allow.n = cfg->http_allow_from.n;
	g_allow.v = g_allow.n ? xmalloc(g_allow.n * sizeof(*g_allow.v)) : NULL;
	if (g_allow.n)
		memcpy(g_allow.v, cfg->http_allow_from.v, g_allow.n * sizeof(*g_allow.v));
	g_host_names = cfg->http_host_names ? xstrdup(cfg->http_host_names) : NULL;
	g_base = event_base_new();
	g_http = g_base ? evhttp_new(g_base) : NULL;
	if (!g_http)
		goto fail;
	evhttp_set_allowed_methods(g_http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(g_http, HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(g_http, 0);
	evhttp_set_timeout(g_http, HTTP_TIMEOUT_S);
	evhttp_set_gencb(g_http, http_request, NULL);
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(g_http, host, port);
	if (!bs) {
		int err = errno;
		log_err("event=startup_error msg=\"cannot bind [http] address\" address=%s error=\"%s\"",
			cfg->http_address, strerror(err));
		goto fail;
	}
	g_port = port;
	if (pthread_create(&g_thread, NULL, http_thread, NULL) != 0)
		goto fail;
	g_running = true;
	log_info("event=http_listening address=%s", cfg->http_address);
	return 0;
fail:
	http_stop();
	return -1;
}

void http_stop(void)
{
	if (g_running) {
		event_base_loopbreak(g_base);
		pthread_join(g_thread, NULL);
		g_running = false;
	}
	if (g_http)
		evhttp_free(g_http);
	if (g_base)
		event_base_free(g_base);
	g_http = NULL;
	g_base = NULL;
	g_port = 0;
	memset(g_conns, 0, sizeof(g_conns));
	cidr_list_free(&g_allow);
	free(g_host_names);
	g_host_names = NULL;
}
