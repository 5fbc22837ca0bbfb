/* Private to auth/oauth*.c: the key set read from a JWKS file
 * (oauth_jwks.c) and the base64url and algorithm helpers the token
 * validation (oauth.c) shares with it. */
#ifndef RAMPART_AUTH_OAUTH_INTERNAL_H
#define RAMPART_AUTH_OAUTH_INTERNAL_H

#include <openssl/evp.h>
#include <stddef.h>

/* Signature algorithms, as bits of a set. Only asymmetric ones exist
 * here: "none" and HS* have no entry, so no configuration and no key can
 * make them acceptable. */
enum oauth_alg {
	OAUTH_ALG_RS256 = 1u << 0,  /* RFC 7518 3.3: RSASSA-PKCS1-v1_5 SHA-256 */
	OAUTH_ALG_ES256 = 1u << 1,  /* RFC 7518 3.4: ECDSA P-256 SHA-256 */
};
#define OAUTH_ALG_ALL (OAUTH_ALG_RS256 | OAUTH_ALG_ES256)

/* The bit of a JWS "alg" name, 0 when unsupported. Case-sensitive
 * (RFC 7515 4.1.1). */
unsigned oauth_alg_parse(const char *name);
/* The set named by a space/comma separated list; 0 on any unknown name. */
unsigned oauth_alg_list_parse(const char *list, char **bad);

struct oauth_key {
	char *kid;          /* NULL when the JWK has none */
	unsigned algs;      /* the algorithms this key may verify: its type's, narrowed by
			     * the JWK's "alg" */
	EVP_PKEY *pkey;     /* public key; read-only once built, shared by threads */
};

struct oauth_keyset {
	struct oauth_key *v;
	size_t n;
	unsigned refs;      /* guarded by struct oauth's mutex */
};

/* Reads a JWKS file: {"keys":[JWK...]} with RSA (n, e; at least 2048
 * bits) and EC P-256 (crv, x, y) public keys. Keys with "use" other than
 * "sig", an unsupported kty/crv/alg, or private parts are skipped (with a
 * log line); none usable is an error. NULL with *err (caller frees). */
struct oauth_keyset *oauth_jwks_load(const char *path, unsigned allowed_algs, char **err);
void oauth_jwks_free(struct oauth_keyset *ks);
/* The key for a token's kid (NULL: the token has none) and alg: a key with
 * that kid that may verify alg; without a kid, the only key that may. */
const struct oauth_key *oauth_jwks_find(const struct oauth_keyset *ks, const char *kid,
					unsigned alg);

/* Base64url without padding (RFC 7515 2, RFC 4648 5), canonical (unused
 * bits zero). Returns the decoded length or -1; out holds cap bytes. */
long oauth_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap);

/* Makes text from a file safe inside a log line's double quotes. */
void oauth_log_clean(char *s);

#endif
