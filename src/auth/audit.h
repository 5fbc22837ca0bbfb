/* The audit trail: one key=value log line per authentication event, in a
 * stable format that contrib/fail2ban/filter.d/rampart.conf matches and
 * log tools can parse. Never a secret: no password, token or hash. */
#ifndef RAMPART_AUTH_AUDIT_H
#define RAMPART_AUTH_AUDIT_H

#include <stddef.h>

/* One authentication event. Strings may be NULL (logged as "-"). */
struct audit_auth {
	const char *result;       /* ok | fail | locked | refused */
	const char *ip;
	const char *user;         /* as the client sent it; sanitised here */
	const char *mech;         /* LOGIN, PLAIN, ... */
	const char *reason;       /* bad_credentials, source_locked, busy, no_tls, ... */
	const char *tls_version;  /* "TLSv1.3", NULL without TLS */
	const char *tls_cipher;
	const void *session;      /* identifies the connection in the log */
	const char *decision;     /* the policy's: allow | delay | locked */
	unsigned delay_ms;        /* until the answer is sent */
	const char *listener;
	const char *cache;        /* authcache: hit | miss | off | - (auth/passdb.h) */
};

/* Writes the line: warning level for fail/locked (what fail2ban reads),
 * info for the rest. Thread-safe. */
void audit_auth(const struct audit_auth *a);
/* A user name as one log-safe token: bytes outside printable ASCII and
 * the separators '"', '=', '\' become '?'; empty becomes "-". */
void audit_token(char *dst, size_t size, const char *s);
/* The session identifier audit_auth logs: 12 hex digits, the same for
 * every event of one connection while it lives. */
void audit_session_id(const void *session, char buf[16]);

#endif
