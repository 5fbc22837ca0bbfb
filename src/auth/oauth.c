/* OAuth bearer token validation: a JWS compact token (RFC 7515 7.1)
 * checked against the JWKS key set and the [oauth] claims policy, and the
 * key set's life (load at start, atomic swap on reload).
 *
 * The order of the checks is the security argument:
 *   1. shape and size: three base64url parts, at most OAUTH_TOKEN_MAX;
 *   2. the header's "alg" must be one the configuration allows AND one the
 *      key's type (and its JWK "alg", when given) allows. "none" and HS*
 *      are not in the algorithm table at all, and keys are only ever RSA
 *      or EC public keys, so an HS256 token "signed" with the RSA public
 *      key as HMAC secret (the classic alg confusion) has nothing to
 *      verify against;
 *   3. the signature, with OpenSSL (EVP_DigestVerify);
 *   4. only then the claims (RFC 7519 4.1, RFC 9068 4): iss, aud, exp,
 *      nbf, iat, the username claim. Nothing from an unverified payload
 *      is ever looked at.
 * Duplicate JSON member names are refused (RFC 7515 5.2, RFC 7519 4:
 * a parser that keeps the last one and a proxy that keeps the first would
 * disagree about "sub" or "aud"); header "crit" is refused (RFC 7515
 * 4.1.11: no extensions are understood here); header "jku", "jwk", "x5u"
 * are ignored: keys come from the configured file only.
 *
 * Threads: a validation takes a reference to the current key set under a
 * mutex and verifies without it; a reload builds the new set outside the
 * lock and swaps the pointer; the last reference frees the old set. */
#include "auth/oauth.h"
#include "auth/oauth_internal.h"
#include "auth/passdb.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#include <jansson.h>
#include <math.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct oauth {
	char *jwks_file;
	char *issuer;
	char *audience;
	char *username_claim;
	char *scope;                 /* NULL: not in the error JSON */
	char *openid_configuration;  /* NULL: not in the error JSON */
	unsigned algs;               /* enum oauth_alg bits */
	unsigned leeway;             /* seconds of clock skew allowed on exp/nbf/iat */
	pthread_mutex_t lock;        /* guards keys and every keys->refs */
	struct oauth_keyset *keys;
};

static const char *const oauth_reasons[] = {
	[OAUTH_OK] = "ok",
	[OAUTH_MALFORMED] = "malformed",
	[OAUTH_BAD_ALG] = "bad_alg",
	[OAUTH_UNKNOWN_KID] = "unknown_kid",
	[OAUTH_BAD_SIGNATURE] = "bad_signature",
	[OAUTH_WRONG_ISSUER] = "wrong_issuer",
	[OAUTH_WRONG_AUDIENCE] = "wrong_audience",
	[OAUTH_EXPIRED] = "expired",
	[OAUTH_NOT_YET_VALID] = "not_yet_valid",
	[OAUTH_BAD_CLAIM] = "bad_claim",
	[OAUTH_USER_MISMATCH] = "user_mismatch",
};

const char *oauth_result_reason(enum oauth_result r)
{
	return (unsigned)r < ARRAY_SIZE(oauth_reasons) ? oauth_reasons[r] : "?";
}

/* ---- the key set ---- */

static struct oauth_keyset *oauth_keys_get(struct oauth *o)
{
	pthread_mutex_lock(&o->lock);
	struct oauth_keyset *ks = o->keys;
	ks->refs++;
	pthread_mutex_unlock(&o->lock);
	return ks;
}

static void oauth_keys_put(struct oauth *o, struct oauth_keyset *ks)
{
	pthread_mutex_lock(&o->lock);
	bool last = --ks->refs == 0;
	pthread_mutex_unlock(&o->lock);
	if (last)
		oauth_jwks_free(ks);
}

struct oauth *oauth_new(const struct config *cfg, char **err)
{
	*err = NULL;
	if (!cfg->oauth_jwks_file)
		return NULL;
	if (!cfg->oauth_issuer || !cfg->oauth_audience || !cfg->oauth_username_claim) {
		*err = xstrdup("[oauth] jwks_file needs issuer, audience and username_claim");
		return NULL;
	}
	char *bad = NULL;
	unsigned algs = oauth_alg_list_parse(cfg->oauth_algorithms, &bad);
	if (!algs) {
		*err = xasprintf("[oauth] algorithms: '%s' is not supported (RS256, ES256; none and "
				 "HS* are never accepted)", bad ? bad : "");
		free(bad);
		return NULL;
	}
	char *kerr = NULL;
	struct oauth_keyset *ks = oauth_jwks_load(cfg->oauth_jwks_file, algs, &kerr);
	if (!ks) {
		oauth_log_clean(kerr); /* the caller logs it */
		*err = xasprintf("[oauth] jwks_file: %s", kerr);
		free(kerr);
		return NULL;
	}
	struct oauth *o = xcalloc(1, sizeof(*o));
	o->jwks_file = xstrdup(cfg->oauth_jwks_file);
	o->issuer = xstrdup(cfg->oauth_issuer);
	o->audience = xstrdup(cfg->oauth_audience);
	o->username_claim = xstrdup(cfg->oauth_username_claim);
	o->scope = cfg->oauth_scope ? xstrdup(cfg->oauth_scope) : NULL;
	o->openid_configuration = cfg->oauth_openid_configuration ? xstrdup(cfg->oauth_openid_configuration)
								  : NULL;
	o->algs = algs;
	o->leeway = cfg->oauth_leeway;
	pthread_mutex_init(&o->lock, NULL);
	o->keys = ks;
	return o;
}

void oauth_free(struct oauth *o)
{
	if (!o)
		return;
	/* Every validation has returned: ours is the last reference. */
	oauth_keys_put(o, o->keys);
	pthread_mutex_destroy(&o->lock);
	free(o->jwks_file);
	free(o->issuer);
	free(o->audience);
	free(o->username_claim);
	free(o->scope);
	free(o->openid_configuration);
	free(o);
}

int oauth_reload(struct oauth *o)
{
	char *err = NULL;
	struct oauth_keyset *ks = oauth_jwks_load(o->jwks_file, o->algs, &err);
	if (!ks) {
		oauth_log_clean(err);
		log_err("event=reload_error what=jwks_file path=%s error=\"%s\" msg=\"keeping the "
			"previous keys\"", o->jwks_file, err);
		free(err);
		return -1;
	}
	size_t n = ks->n;
	pthread_mutex_lock(&o->lock);
	struct oauth_keyset *old = o->keys;
	o->keys = ks;
	pthread_mutex_unlock(&o->lock);
	oauth_keys_put(o, old);
	log_info("event=reload what=jwks_file path=%s keys=%zu", o->jwks_file, n);
	return 0;
}

size_t oauth_key_count(struct oauth *o)
{
	struct oauth_keyset *ks = oauth_keys_get(o);
	size_t n = ks->n;
	oauth_keys_put(o, ks);
	return n;
}

/* ---- the token ---- */

static bool oauth_b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_';
}

/* A base64url part holding a JSON object, parsed; NULL when it is not. */
static json_t *oauth_part_json(const char *part, size_t len)
{
	unsigned char *buf = xmalloc(len / 4 * 3 + 3);
	long n = oauth_b64url_decode(part, len, buf, len / 4 * 3 + 3);
	json_t *j = NULL;
	if (n > 0) {
		json_error_t je;
		j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, &je);
		if (j && !json_is_object(j)) {
			json_decref(j);
			j = NULL;
		}
	}
	free(buf);
	return j;
}

/* RFC 7518 3.4: an ES256 signature is R || S, 32 bytes each, not DER;
 * OpenSSL verifies DER, so it is re-encoded (an encoding step, no
 * arithmetic). Returns the DER length or -1. */
static int oauth_es256_der(const unsigned char *sig, size_t len, unsigned char **der)
{
	if (len != 64)
		return -1;
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return -1;
	}
	*der = NULL;
	int n = i2d_ECDSA_SIG(es, der);
	ECDSA_SIG_free(es);
	return n > 0 ? n : -1;
}

static bool oauth_verify(const struct oauth_key *k, unsigned alg, const char *input, size_t ilen,
			 const unsigned char *sig, size_t slen)
{
	unsigned char *der = NULL;
	if (alg == OAUTH_ALG_ES256) {
		int n = oauth_es256_der(sig, slen, &der);
		if (n < 0)
			return false;
		sig = der;
		slen = (size_t)n;
	}
	bool ok = false;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	if (md && EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", NULL, NULL, k->pkey, NULL) == 1 &&
	    (alg != OAUTH_ALG_RS256 || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1))
		ok = EVP_DigestVerify(md, sig, slen, (const unsigned char *)input, ilen) == 1;
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	ERR_clear_error();
	return ok;
}

/* A NumericDate claim (RFC 7519 2: seconds, may be fractional). 1: set,
 * 0: absent, -1: not a usable number. */
static int oauth_claim_time(json_t *claims, const char *name, int64_t *out)
{
	json_t *v = json_object_get(claims, name);
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 1;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (!isfinite(d) || d > 1e15 || d < -1e15)
			return -1;
		*out = (int64_t)d; /* toward zero: a fraction of a second is not worth libm */
		return 1;
	}
	return -1;
}

/* RFC 7519 4.1.3: aud is a string or an array of strings; ours must be
 * among them. */
static bool oauth_audience_ok(json_t *aud, const char *want)
{
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	if (!json_is_array(aud))
		return false;
	size_t i;
	json_t *v;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return true;
	return false;
}

static enum oauth_result oauth_claims_check(const struct oauth *o, json_t *c, time_t now, char **user)
{
	const char *iss = json_string_value(json_object_get(c, "iss"));
	if (!iss || strcmp(iss, o->issuer) != 0)
		return OAUTH_WRONG_ISSUER;
	if (!oauth_audience_ok(json_object_get(c, "aud"), o->audience))
		return OAUTH_WRONG_AUDIENCE;
	/* RFC 7519 4.1.4: the current time must be before exp; exp is
	 * required here (RFC 9068 2.2): a token valid forever is refused. */
	int64_t exp, nbf, iat, t = (int64_t)now, skew = o->leeway;
	if (oauth_claim_time(c, "exp", &exp) != 1)
		return OAUTH_BAD_CLAIM;
	if (t - skew >= exp)
		return OAUTH_EXPIRED;
	int r = oauth_claim_time(c, "nbf", &nbf);
	if (r < 0)
		return OAUTH_BAD_CLAIM;
	if (r > 0 && nbf > t + skew)
		return OAUTH_NOT_YET_VALID;
	r = oauth_claim_time(c, "iat", &iat);
	if (r < 0)
		return OAUTH_BAD_CLAIM;
	if (r > 0 && iat > t + skew)
		return OAUTH_NOT_YET_VALID;
	const char *name = json_string_value(json_object_get(c, o->username_claim));
	if (!name || !passdb_username_valid(name))
		return OAUTH_BAD_CLAIM;
	*user = xstrdup(name);
	return OAUTH_OK;
}

/* Steps 2 and 3 of the file comment, on a parsed header. */
static enum oauth_result oauth_header_verify(struct oauth *o, json_t *hdr, const char *input,
					     size_t ilen, const char *sigpart, size_t siglen)
{
	json_t *algv = json_object_get(hdr, "alg");
	json_t *kidv = json_object_get(hdr, "kid");
	if (!json_is_string(algv) || (kidv && !json_is_string(kidv)) || json_object_get(hdr, "crit"))
		return OAUTH_MALFORMED;
	unsigned alg = oauth_alg_parse(json_string_value(algv));
	if (!(alg & o->algs))
		return OAUTH_BAD_ALG;
	unsigned char *sig = xmalloc(siglen / 4 * 3 + 3);
	long slen = oauth_b64url_decode(sigpart, siglen, sig, siglen / 4 * 3 + 3);
	enum oauth_result res = OAUTH_MALFORMED;
	if (slen > 0) {
		struct oauth_keyset *ks = oauth_keys_get(o);
		const struct oauth_key *k = oauth_jwks_find(ks, json_string_value(kidv), alg);
		if (!k)
			res = OAUTH_UNKNOWN_KID;
		else if (!oauth_verify(k, alg, input, ilen, sig, (size_t)slen))
			res = OAUTH_BAD_SIGNATURE;
		else
			res = OAUTH_OK;
		oauth_keys_put(o, ks);
	}
	free(sig);
	return res;
}

enum oauth_result oauth_validate(struct oauth *o, const char *token, size_t len, time_t now,
				 char **user)
{
	*user = NULL;
	if (!o || !token || len == 0 || len > OAUTH_TOKEN_MAX)
		return OAUTH_MALFORMED;
	/* header "." payload "." signature, nothing but base64url between */
	size_t dot[2], ndots = 0;
	for (size_t i = 0; i < len; i++) {
		if (token[i] == '.') {
			if (ndots == 2)
				return OAUTH_MALFORMED;
			dot[ndots++] = i;
		} else if (!oauth_b64url_char(token[i])) {
			return OAUTH_MALFORMED;
		}
	}
	if (ndots != 2 || dot[0] == 0 || dot[1] == dot[0] + 1 || dot[1] + 1 == len)
		return OAUTH_MALFORMED;
	json_t *hdr = oauth_part_json(token, dot[0]);
	if (!hdr)
		return OAUTH_MALFORMED;
	enum oauth_result res = oauth_header_verify(o, hdr, token, dot[1], token + dot[1] + 1,
						    len - dot[1] - 1);
	json_decref(hdr);
	if (res != OAUTH_OK)
		return res;
	json_t *claims = oauth_part_json(token + dot[0] + 1, dot[1] - dot[0] - 1);
	if (!claims)
		return OAUTH_MALFORMED;
	res = oauth_claims_check(o, claims, now, user);
	json_decref(claims);
	return res;
}

/* ---- the error answer ---- */

char *oauth_error_json(const struct oauth *o, enum oauth_mech mech)
{
	json_t *j = json_object();
	if (mech == OAUTH_MECH_XOAUTH2) {
		json_object_set_new(j, "status", json_string("401"));
		json_object_set_new(j, "schemes", json_string("bearer"));
	} else {
		json_object_set_new(j, "status", json_string("invalid_token"));
	}
	if (o && o->scope)
		json_object_set_new(j, "scope", json_string(o->scope));
	if (o && o->openid_configuration && mech == OAUTH_MECH_OAUTHBEARER)
		json_object_set_new(j, "openid-configuration", json_string(o->openid_configuration));
	char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!text)
		fatal("oauth: cannot format the error JSON");
	char *out = xstrdup(text);
	free(text);
	return out;
}
