/* The capability registry (imap/capability.c): what the server offers in
 * each state, for the greeting, CAPABILITY, the OK [CAPABILITY ...] after
 * login, ENABLE and the AUTH= mechanisms. Not public outside src/imap/. */
#ifndef RAMPART_IMAP_CAPABILITY_H
#define RAMPART_IMAP_CAPABILITY_H

#include <stdbool.h>

struct imap_session;
struct sasl_conn;
struct sasl_mech;
struct strbuf;

/* Appends the space-separated capability list for the session's state. */
void imap_cap_write(struct imap_session *s, struct strbuf *out);
/* Is `name` (e.g. "AUTH=PLAIN") offered to the session now? */
bool imap_cap_offered(struct imap_session *s, const char *name);
/* The connection as the SASL framework sees it (auth/sasl.h). */
void imap_cap_sasl_conn(struct imap_session *s, struct sasl_conn *out);
/* Is the SASL mechanism offered (AUTH=<name>) to the session now? */
bool imap_cap_mech_offered(struct imap_session *s, const struct sasl_mech *m);
/* ENABLE one capability (RFC 5161): its registered spelling when newly
 * enabled, NULL when already enabled or not ENABLE-able here (both are
 * silently accepted, RFC 5161 3.1). */
const char *imap_cap_enable(struct imap_session *s, const char *name);
/* Has the client ENABLEd `name`? */
bool imap_cap_enabled(const struct imap_session *s, const char *name);

#endif
