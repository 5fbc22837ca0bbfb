/* OAuth 2.0 bearer tokens for SASL OAUTHBEARER (RFC 7628) and XOAUTH2:
 * JWT access tokens (RFC 7519, RFC 9068) signed with RS256 or ES256
 * (RFC 7518 3.3, 3.4), validated locally against the keys of a JWKS file
 * (RFC 7517). No network: the administrator (or a cron job) keeps the
 * JWKS file current and sends SIGHUP.
 *
 * Protocol-neutral (no IMAP here) and thread-safe: oauth_validate() may
 * run on the event loop (one validation measured 0.09 ms RS256, 0.17 ms
 * ES256 on the loaded 2-core test machine) or on the work
 * pool, concurrently with oauth_reload().
 *
 * How a SASL mechanism uses it (OAUTHBEARER shown; XOAUTH2 the same with
 * OAUTH_MECH_XOAUTH2):
 *
 *     char *user = NULL;
 *     enum oauth_result r = oauth_check_message(oauth, OAUTH_MECH_OAUTHBEARER,
 *                                               msg, len, time(NULL), &user);
 *     if (r == OAUTH_OK && passdb_user_exists(passdb, user))
 *         -> logged in as `user` (free it)
 *     else
 *         -> log reason=oauth_result_reason(r) (never the token), then send
 *            the challenge base64(oauth_error_json(oauth, mech)) and, when
 *            the client answers (OAUTHBEARER: the dummy "\x01", see
 *            oauth_is_dummy_response; XOAUTH2: an empty response), NO
 *            [AUTHENTICATIONFAILED] after the usual failure delay.
 *
 * The user named by a valid token must also exist in the users file: this
 * module does not know the users file, the CALLER checks that (and any
 * per-user policy: allow_nets, lockouts). */
#ifndef RAMPART_AUTH_OAUTH_H
#define RAMPART_AUTH_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct config;
struct oauth;

/* Longest token accepted (the JWT itself, before any SASL base64). Real
 * access tokens are 1-3 KiB; a bound keeps a hostile one from costing
 * memory or JSON parsing time. */
#define OAUTH_TOKEN_MAX 16384

enum oauth_mech { OAUTH_MECH_OAUTHBEARER, OAUTH_MECH_XOAUTH2 };

/* Why a token or message was refused; oauth_result_reason() gives the
 * log word. Claims are looked at only once the signature is good. */
enum oauth_result {
	OAUTH_OK = 0,
	OAUTH_MALFORMED,        /* "malformed": not a JWS compact token, bad base64url/JSON,
				 * oversized, a SASL message that does not parse */
	OAUTH_BAD_ALG,          /* "bad_alg": none, HS*, or an alg not in [oauth] algorithms */
	OAUTH_UNKNOWN_KID,      /* "unknown_kid": no key of that kid (and alg) in the JWKS */
	OAUTH_BAD_SIGNATURE,    /* "bad_signature" */
	OAUTH_WRONG_ISSUER,     /* "wrong_issuer": iss missing or not [oauth] issuer */
	OAUTH_WRONG_AUDIENCE,   /* "wrong_audience": aud missing or without [oauth] audience */
	OAUTH_EXPIRED,          /* "expired": exp missing counts as bad_claim */
	OAUTH_NOT_YET_VALID,    /* "not_yet_valid": nbf or iat in the future (beyond leeway) */
	OAUTH_BAD_CLAIM,        /* "bad_claim": exp missing, a claim of the wrong type, the
				 * username claim missing, empty or not a valid username */
	OAUTH_USER_MISMATCH,    /* "user_mismatch": the SASL authzid / XOAUTH2 user is not
				 * the token's user */
};

/* "ok", "malformed", "bad_alg", ... as listed above. */
const char *oauth_result_reason(enum oauth_result r);

/* From the [oauth] section: NULL with *err == NULL when jwks_file is
 * unset (OAuth is off: offer neither mechanism). NULL with *err set
 * (caller frees) when the JWKS file cannot be read, does not parse or has
 * no usable key, or [oauth] algorithms names an unsupported algorithm:
 * the server must refuse to start. Reads only the configuration's values
 * (copied), so the config may be freed afterwards. */
struct oauth *oauth_new(const struct config *cfg, char **err);
void oauth_free(struct oauth *o);

/* Re-reads the JWKS file (SIGHUP). The new key set replaces the old one
 * atomically; when the new file is bad, the old keys stay in use. Logs
 * one line either way. Returns 0, or -1 when the old keys were kept.
 * Safe while other threads validate. */
int oauth_reload(struct oauth *o);

/* Number of usable keys now loaded (for logs and tests). */
size_t oauth_key_count(struct oauth *o);

/* Validates a JWT (token[0..len), not NUL-terminated necessarily) at time
 * `now`. On OAUTH_OK *user is the username claim (malloc'd, caller
 * frees); otherwise *user is NULL. */
enum oauth_result oauth_validate(struct oauth *o, const char *token, size_t len, time_t now,
				 char **user);

/* OAUTHBEARER client response (RFC 7628 3.1):
 *     gs2-header %x01 *(key "=" value %x01) %x01
 *     gs2-header = ("n" / "y") "," ["a=" saslname] ","
 * with exactly one "auth=Bearer <token>" pair (scheme case-insensitive);
 * host, port and unknown keys are skipped. *authzid is the decoded
 * authzid ("=2C" ",", "=3D" "=") or NULL when absent; *token the bearer
 * token. Both malloc'd (free the token with oauth_secret_free). Returns 0,
 * or -1 when malformed (then both are NULL). The dummy response "\x01"
 * after an error is malformed here: see oauth_is_dummy_response. */
int oauth_parse_oauthbearer(const unsigned char *msg, size_t len, char **authzid, char **token);

/* XOAUTH2 client response (Google's format):
 *     "user=" user %x01 "auth=Bearer " token %x01 %x01
 * Returns 0 with *user (non-empty) and *token malloc'd, or -1. */
int oauth_parse_xoauth2(const unsigned char *msg, size_t len, char **user, char **token);

/* RFC 7628 3.2.3: the client's answer to an error challenge is a single
 * %x01. */
bool oauth_is_dummy_response(const unsigned char *msg, size_t len);

/* Parses the message of `mech`, validates its token and checks that the
 * authzid (OAUTHBEARER, when given) or user (XOAUTH2) equals the token's
 * username. *user as for oauth_validate. */
enum oauth_result oauth_check_message(struct oauth *o, enum oauth_mech mech,
				      const unsigned char *msg, size_t len, time_t now, char **user);

/* The error a failed attempt answers with, as JSON text (malloc'd, caller
 * frees); the mechanism sends it base64-encoded as a challenge.
 * OAUTHBEARER (RFC 7628 3.2.2):
 *     {"status":"invalid_token","scope":...,"openid-configuration":...}
 * XOAUTH2 (Google's form): {"status":"401","schemes":"bearer","scope":...}
 * scope and openid-configuration only when configured. The same text for
 * every reason: the client learns nothing about which check failed. */
char *oauth_error_json(const struct oauth *o, enum oauth_mech mech);

/* Wipes and frees a token (or any secret string). NULL is fine. */
void oauth_secret_free(char *s);

#endif
