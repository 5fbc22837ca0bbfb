/* SASL (RFC 4422), protocol-neutral: the table of mechanisms and the
 * exchange a protocol (IMAP AUTHENTICATE now, LMTP/submission AUTH later)
 * drives with the client's responses. Nothing here knows IMAP.
 *
 * The protocol hands over each client response as the base64 text it
 * received and sends back each challenge as base64 text: decoding, its
 * strictness and every size limit live in auth/sasl.c, once. It handles
 * only its own framing: IMAP's "+ " lines, "*" to cancel (RFC 9051 6.2.2),
 * and the tagged answer. Mechanisms see decoded bytes. */
#ifndef RAMPART_AUTH_SASL_H
#define RAMPART_AUTH_SASL_H

#include <stdbool.h>
#include <stddef.h>

/* The longest client response accepted, in base64 characters (6 KiB
 * decoded): more than any mechanism here needs; a longer one is refused
 * before it is decoded. */
#define SASL_RESPONSE_MAX 8192

struct oauth;
struct passdb;
struct sasl_exchange;

/* Decodes a client response: base64_decode_strict() (core/base64.h), the
 * SASL rule (see auth/sasl.c). Returns the decoded length or -1; out must
 * hold len*3/4 bytes. sasl_exchange_step() decodes with it. */
long sasl_base64_decode(const char *in, size_t len, unsigned char *out);

enum sasl_mech_flag {
	/* The client sends its password (PLAIN, LOGIN): offered only where
	 * cleartext is acceptable, i.e. after TLS or from a trusted network. */
	SASL_MECH_PASSWORD = 1u << 0,
	/* Needs TLS channel binding (the -PLUS mechanisms, RFC 5802 6):
	 * offered on TLS connections only. */
	SASL_MECH_CBIND = 1u << 1,
};

/* What a mechanism needs from the passdb to decide. */
enum sasl_cred {
	SASL_CRED_PASSWORD,   /* a cleartext password, checked by passdb_verify (slow) */
	SASL_CRED_SCRAM,      /* the stored SCRAM-SHA-256 keys (auth/scram_cred.h) */
	SASL_CRED_TOKEN,      /* a bearer token (OAuth) */
};

/* What the protocol does next. */
enum sasl_status {
	/* Send sasl_exchange_challenge() to the client and feed its next
	 * response to sasl_exchange_step(). */
	SASL_CONTINUE,
	/* Verify sasl_exchange_take_password() for the user (slow: off the
	 * event loop); its result is the outcome of the exchange. */
	SASL_VERIFY,
	/* Authenticated as sasl_exchange_user(). */
	SASL_OK,
	/* Authentication failed: answer like a wrong password;
	 * sasl_exchange_reason() says why, for the log only. */
	SASL_FAIL,
	/* The response is malformed (a protocol error, IMAP's BAD);
	 * sasl_exchange_toobig() tells an oversized one. */
	SASL_BAD,
};

/* One mechanism: a row of the table in auth/sasl.c, its code in
 * auth/sasl_<name>.c. step() receives each decoded client response (the
 * first one NULL when the client sent no initial response) and answers
 * with sasl_exchange_*() setters. */
struct sasl_mech {
	const char *name;
	unsigned flags;            /* enum sasl_mech_flag */
	enum sasl_cred cred;
	enum sasl_status (*step)(struct sasl_exchange *ex, const unsigned char *in, size_t len);
	void (*free)(void *state);  /* the mechanism's state; NULL: free() */
};

/* Every mechanism, in the order they are advertised (strongest first). */
const struct sasl_mech *sasl_mech_at(size_t i);
size_t sasl_mech_count(void);
/* By name (case-insensitive), NULL when unknown. */
const struct sasl_mech *sasl_mech_find(const char *name);

/* The [auth] mechanisms setting: NULL or empty enables every mechanism,
 * else a list of names separated by spaces or commas. Sets *mask (bit i:
 * sasl_mech_at(i)); -1 with *err (caller frees) for an unknown name. */
int sasl_mechs_parse(const char *list, unsigned *mask, char **err);
/* The mask of a list already validated by sasl_mechs_parse (unknown
 * names ignored). */
unsigned sasl_mechs_enabled(const char *list);

/* What the protocol knows about its connection. */
struct sasl_conn {
	bool tls;
	bool trusted;                /* cleartext is acceptable without TLS */
	/* RFC 5802 6: a -PLUS mechanism is advertised on this connection, so
	 * a client saying "y" (it could bind, but thinks we cannot) has
	 * been downgraded and must fail. */
	bool plus_offered;
	/* The TLS channel binding data of `type` ("tls-exporter",
	 * "tls-server-end-point"), -1 when unavailable for the connection's
	 * TLS version; conn_io.tls_channel_binding with its conn. May be NULL. */
	long (*channel_binding)(void *arg, const char *type, unsigned char *out, size_t cap);
	void *channel_binding_arg;
	struct passdb *passdb;
	struct oauth *oauth;         /* NULL: no bearer-token mechanism (auth/oauth.h) */
	const char *ip;              /* the client's numeric address, for per-user source rules */
};

/* May `m` be offered on a connection? (enabled: sasl_mechs_enabled) */
bool sasl_mech_usable(const struct sasl_mech *m, unsigned enabled, const struct sasl_conn *c);

/* An exchange of mechanism m over connection c (copied). */
struct sasl_exchange *sasl_exchange_new(const struct sasl_mech *m, const struct sasl_conn *c);
void sasl_exchange_free(struct sasl_exchange *ex);
/* Starts: ir is the initial response (RFC 4959 / RFC 4954), NULL when
 * none was sent, "=" for an empty one. */
enum sasl_status sasl_exchange_start(struct sasl_exchange *ex, const char *ir, size_t len);
/* The next client response, base64 as received (without CRLF). */
enum sasl_status sasl_exchange_step(struct sasl_exchange *ex, const char *b64, size_t len);

/* After SASL_CONTINUE: the challenge in base64 ("" when empty). */
const char *sasl_exchange_challenge(const struct sasl_exchange *ex);
/* The authentication identity once the mechanism has read it (NULL
 * before): for SASL_OK the authenticated user, else for the log. */
const char *sasl_exchange_user(const struct sasl_exchange *ex);
/* After SASL_VERIFY: the password, handed over (caller wipes and frees). */
char *sasl_exchange_take_password(struct sasl_exchange *ex);
/* After SASL_FAIL: a short token for the log ("bad_credentials",
 * "channel_binding", "authzid", ...). */
const char *sasl_exchange_reason(const struct sasl_exchange *ex);
/* After SASL_BAD: the response was longer than SASL_RESPONSE_MAX. */
bool sasl_exchange_toobig(const struct sasl_exchange *ex);
const struct sasl_mech *sasl_exchange_mech(const struct sasl_exchange *ex);

/* ---- for the mechanisms (auth/sasl_*.c) ---- */
const struct sasl_conn *sasl_exchange_conn(const struct sasl_exchange *ex);
/* The mechanism's state: allocated zeroed on first use, freed with the
 * exchange (by mech->free when set). */
void *sasl_exchange_state(struct sasl_exchange *ex, size_t size);
/* Sets the challenge to send with SASL_CONTINUE (encoded here). */
void sasl_exchange_set_challenge(struct sasl_exchange *ex, const void *data, size_t len);
/* Final data to send before the outcome (RFC 4422 3.6 additional data
 * with success, RFC 7628 3.2.2 error payload): the exchange returns
 * SASL_CONTINUE with it, and `then` after the client's next response
 * (SASL_OK only when that response is empty). */
enum sasl_status sasl_exchange_final(struct sasl_exchange *ex, const void *data, size_t len,
				     enum sasl_status then);
/* The mechanism takes ownership of user (and password for SASL_VERIFY). */
void sasl_exchange_set_user(struct sasl_exchange *ex, char *user);
void sasl_exchange_set_password(struct sasl_exchange *ex, char *password);
/* Returns SASL_FAIL with reason (a static string). */
enum sasl_status sasl_exchange_fail(struct sasl_exchange *ex, const char *reason);

/* The mechanisms, for the table. */
extern const struct sasl_mech sasl_mech_plain, sasl_mech_login, sasl_mech_scram_sha256,
	sasl_mech_scram_sha256_plus, sasl_mech_oauthbearer, sasl_mech_xoauth2;

/* PLAIN's message (RFC 4616 2): "authzid\0authcid\0passwd". Fills
 * malloc'd strings (caller frees all three; *authzid may be ""). -1 when
 * malformed. Exposed for its unit test. */
int sasl_plain_parse(const unsigned char *msg, size_t len, char **authzid, char **authcid,
		     char **passwd);

/* SCRAM's proof check (RFC 5802 3): 0 when proof (32 bytes) matches the
 * StoredKey of c for auth_msg, -1 otherwise; server_sig (32 bytes) gets
 * the ServerSignature either way. Exposed for its unit test (RFC 7677 3). */
struct scram_cred;
int sasl_scram_verify(const struct scram_cred *c, const char *auth_msg, size_t len,
		      const unsigned char *proof, unsigned char *server_sig);

#endif
