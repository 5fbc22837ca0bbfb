/* The administrator's HTTP listener ([http] address, default
 * 127.0.0.1:9143): Prometheus /metrics and the status page. It runs on a
 * thread and event loop of its own (libevent's evhttp), so a slow scraper
 * never touches a mail client's worker, and serves only what handlers
 * registered: GET and HEAD, no request bodies, small headers, a timeout.
 *
 * Who may read it: sources in [http] allow_from (loopback when empty);
 * the Host header must be an IP literal, localhost or one of [http]
 * host_names, which defeats DNS rebinding from a browser on this host. */
#ifndef RAMPART_APP_HTTP_H
#define RAMPART_APP_HTTP_H

#include <stddef.h>

struct config;
struct strbuf;

/* One response: the handler appends the body to `body`, may set
 * *content_type (default "text/plain; charset=utf-8") and returns the
 * HTTP status (200, 404, ...). `query` is the part after '?', or "".
 * Runs on the HTTP thread; must not block for long. */
typedef int http_handler(void *arg, const char *query, struct strbuf *body,
			 const char **content_type);

/* Registers a handler for an exact path ("/metrics", "/"); call before
 * http_start(). At most 16. */
void http_route(const char *path, http_handler *fn, void *arg);
/* Binds [http] address and starts the thread. 0 when started or when the
 * listener is off (address = none); -1 on error (logged). */
int http_start(const struct config *cfg);
/* Stops the thread and closes the listener; safe when not started. */
void http_stop(void);
/* The bound port (0 when off): for logs and tests. */
unsigned http_port(void);

#endif
