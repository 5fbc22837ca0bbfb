/* An IMAP session: the protocol state machine of one client connection.
 * The network layer owns the socket and TLS; it hands input to the session
 * and offers the operations of struct conn_io (core/proto.h). */
#ifndef RAMPART_IMAP_SESSION_H
#define RAMPART_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct evbuffer;
struct oauth;
struct passdb;
struct event_base;
struct imap_session;
struct conn_io;

struct imap_conn_info {
	bool tls;                   /* TLS active now (implicit or after STARTTLS) */
	bool starttls_offered;      /* a STARTTLS listener */
	bool trusted;               /* the peer is in trusted_networks */
	const char *peer;           /* "ip" for logs */
	const char *listener;       /* listener name for logs */
	const struct config *cfg;
	struct event_base *base;
	struct passdb *passdb;      /* thread-safe, shared */
	struct oauth *oauth;        /* thread-safe; NULL: no OAUTHBEARER/XOAUTH2 */
	/* The session authenticated as `user`: the owner routes change
	 * notifications to it (imap/notify.c). May be NULL. */
	void (*logged_in)(void *arg, struct imap_session *s, const char *user);
	void *logged_in_arg;
};

/* A session over the connection `conn`, driven through `io` (core/proto.h):
 * the session never touches a socket. */
struct imap_session *imap_session_new(const struct conn_io *io, void *conn,
				      const struct imap_conn_info *info);
/* Sends the greeting. */
void imap_session_start(struct imap_session *s);
/* New input is in `in`; the session removes what it consumes. */
void imap_session_input(struct imap_session *s, struct evbuffer *in);
/* All queued output has been sent: resume any command waiting on it. */
void imap_session_drained(struct imap_session *s);
/* A command is running (struct proto_ops busy). */
bool imap_session_busy(const struct imap_session *s);
/* The TLS handshake after STARTTLS completed. */
void imap_session_tls_started(struct imap_session *s);
/* The user's mail changed somewhere: report what the client may see. */
void imap_session_notify(struct imap_session *s);
/* The inactivity timeout fired: say BYE. */
void imap_session_timeout(struct imap_session *s);
/* The server is shutting down: say BYE, after the running command's
 * tagged reply if it is working; at once when called again. */
void imap_session_shutdown(struct imap_session *s);
void imap_session_free(struct imap_session *s);

#endif
