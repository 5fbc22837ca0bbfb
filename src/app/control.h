/* The control socket: a unix socket in state_dir through which `rampart`
 * commands talk to the running server (`rampart security status|unlock`;
 * issue #13's who/kick/stats next). One request line, one response, then
 * the server closes. Only root and the server's own user may connect. */
#ifndef RAMPART_APP_CONTROL_H
#define RAMPART_APP_CONTROL_H

struct strbuf;

/* A handler for requests "VERB ARGS": writes the response body to out;
 * returns 0 (the response starts "ok") or -1 ("error"). Runs on the
 * control thread. */
typedef int control_fn(const char *args, struct strbuf *out);

/* Registers a verb; call before control_start(). At most 16. */
void control_register(const char *verb, control_fn *fn);
/* Binds PATH (replacing a stale socket; mode 0600) and serves it on a
 * thread of its own. 0 or -1 (logged). */
int control_start(const char *path);
/* Stops the thread and removes the socket. */
void control_stop(void);

#endif
