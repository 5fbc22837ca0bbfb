/* The JWKS file (RFC 7517): turning an identity provider's published
 * public keys into OpenSSL 3 EVP_PKEYs, once per load, so a token check
 * is one lookup and one verify.
 *
 * Keys are built from their parameters with EVP_PKEY_fromdata (no PEM
 * detour, no hand-written crypto). What is refused, and why:
 *   - kty "oct" (a shared secret): a symmetric key in the set is what
 *     makes the alg-confusion attack possible; only RSA and EC exist here;
 *   - RSA moduli under 2048 bits (RFC 7518 3.3 requires 2048);
 *   - EC curves other than P-256, and points not on the curve;
 *   - "use" other than "sig" (RFC 7517 4.2), an "alg" we do not verify,
 *     and keys carrying private parameters ("d", "p", ...): a private key
 *     in a public file is a mistake the administrator must hear about.
 * Each skipped key is logged; a file with no usable key is an error. */
#include "auth/oauth_internal.h"
#include "core/base64.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A JWKS of a few dozen keys is ~20 KiB. */
#define OAUTH_JWKS_FILE_MAX (1024 * 1024)
#define OAUTH_JWKS_KEYS_MAX 256
/* RSA modulus bytes: 2048..16384 bits. */
#define OAUTH_RSA_MIN_BYTES 256
#define OAUTH_RSA_MAX_BYTES 2048
#define OAUTH_P256_COORD 32

unsigned oauth_alg_parse(const char *name)
{
	if (strcmp(name, "RS256") == 0)
		return OAUTH_ALG_RS256;
	if (strcmp(name, "ES256") == 0)
		return OAUTH_ALG_ES256;
	return 0;
}

unsigned oauth_alg_list_parse(const char *list, char **bad)
{
	unsigned set = 0;
	*bad = NULL;
	const char *p = list ? list : "";
	while (*p) {
		size_t skip = strspn(p, " ,\t");
		p += skip;
		size_t n = strcspn(p, " ,\t");
		if (n == 0)
			break;
		char *name = xstrndup(p, n);
		unsigned a = oauth_alg_parse(name);
		if (!a) {
			*bad = name;
			return 0;
		}
		free(name);
		set |= a;
		p += n;
	}
	return set;
}

long oauth_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	/* Translated to the standard alphabet and padded, then decoded by the
	 * one strict decoder (core/base64.c), which also checks that the
	 * unused bits are zero. */
	if (len % 4 == 1 || len > SIZE_MAX / 2)
		return -1;
	size_t plen = (len + 3) / 4 * 4;
	char *std = xmalloc(plen + 1);
	for (size_t i = 0; i < len; i++) {
		char ch = in[i];
		if (ch == '+' || ch == '/' || ch == '=') {
			free(std);
			return -1;
		}
		std[i] = ch == '-' ? '+' : ch == '_' ? '/' : ch;
	}
	for (size_t i = len; i < plen; i++)
		std[i] = '=';
	unsigned char *tmp = xmalloc(plen / 4 * 3 + 1);
	long n = base64_decode_strict(std, plen, tmp);
	free(std);
	if (n >= 0 && (size_t)n <= cap)
		memcpy(out, tmp, (size_t)n);
	else
		n = -1;
	free(tmp);
	return n;
}

void oauth_log_clean(char *s)
{
	for (; *s; s++)
		if (*s == '"')
			*s = '\'';
		else if (*s == '\\' || (unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* A base64url member of a JWK, decoded; -1 when absent or bad. */
static long jwk_bytes(json_t *jwk, const char *name, unsigned char *out, size_t cap)
{
	const char *v = json_string_value(json_object_get(jwk, name));
	if (!v)
		return -1;
	return oauth_b64url_decode(v, strlen(v), out, cap);
}

/* An EC coordinate, left-padded to 32 bytes. RFC 7518 6.2.1.2 wants the
 * full length, but some libraries (PyJWT 2.6, Debian 12's, among them) drop
 * leading zero bytes, one key in 128; the value is the same number. */
static int jwk_coord(json_t *jwk, const char *name, unsigned char out[OAUTH_P256_COORD])
{
	unsigned char buf[OAUTH_P256_COORD];
	long n = jwk_bytes(jwk, name, buf, sizeof(buf));
	if (n <= 0)
		return -1;
	memset(out, 0, OAUTH_P256_COORD - (size_t)n);
	memcpy(out + OAUTH_P256_COORD - n, buf, (size_t)n);
	return 0;
}

static EVP_PKEY *jwk_pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	if (!pkey)
		return NULL;
	/* For EC this checks that the point is on the curve. */
	EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	int ok = chk && EVP_PKEY_public_check(chk) == 1;
	EVP_PKEY_CTX_free(chk);
	if (!ok) {
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

static EVP_PKEY *jwk_rsa(json_t *jwk, const char **why)
{
	unsigned char n[OAUTH_RSA_MAX_BYTES], e[16];
	long nl = jwk_bytes(jwk, "n", n, sizeof(n));
	long el = jwk_bytes(jwk, "e", e, sizeof(e));
	if (nl < 0 || el <= 0) {
		*why = "bad n or e";
		return NULL;
	}
	/* Leading zero bytes do not count towards the key size. */
	long skip = 0;
	while (skip < nl && n[skip] == 0)
		skip++;
	if (nl - skip < OAUTH_RSA_MIN_BYTES) {
		*why = "RSA key shorter than 2048 bits";
		return NULL;
	}
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
	EVP_PKEY *pkey = NULL;
	if (bld && bn && be && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
		pkey = jwk_pkey_fromdata("RSA", bld);
	BN_free(bn);
	BN_free(be);
	OSSL_PARAM_BLD_free(bld);
	if (!pkey)
		*why = "OpenSSL refused the RSA key";
	return pkey;
}

static EVP_PKEY *jwk_ec(json_t *jwk, const char **why)
{
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	if (!crv || strcmp(crv, "P-256") != 0) {
		*why = "EC curve is not P-256";
		return NULL;
	}
	/* SEC 1 2.3.3 uncompressed point: 0x04 || x || y, each 32 bytes. */
	unsigned char pt[1 + 2 * OAUTH_P256_COORD] = { 0x04 };
	if (jwk_coord(jwk, "x", pt + 1) < 0 || jwk_coord(jwk, "y", pt + 1 + OAUTH_P256_COORD) < 0) {
		*why = "bad x or y";
		return NULL;
	}
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *pkey = NULL;
	if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)) == 1)
		pkey = jwk_pkey_fromdata("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	if (!pkey)
		*why = "point not on P-256";
	return pkey;
}

/* One JWK to a key; false (and *why) when it is not usable. */
static bool jwk_to_key(json_t *jwk, unsigned allowed, struct oauth_key *out, const char **why)
{
	static const char *const private_params[] = { "d", "p", "q", "dp", "dq", "qi", "k" };
	if (!json_is_object(jwk)) {
		*why = "not a JSON object";
		return false;
	}
	json_t *use = json_object_get(jwk, "use");
	if (use && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)) {
		*why = "use is not sig";
		return false;
	}
	json_t *kidv = json_object_get(jwk, "kid");
	if (kidv && !json_is_string(kidv)) {
		*why = "kid is not a string";
		return false;
	}
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	unsigned algs;
	if (kty && strcmp(kty, "RSA") == 0)
		algs = OAUTH_ALG_RS256;
	else if (kty && strcmp(kty, "EC") == 0)
		algs = OAUTH_ALG_ES256;
	else {
		*why = "kty is not RSA or EC";
		return false;
	}
	for (size_t i = 0; i < ARRAY_SIZE(private_params); i++) {
		if (json_object_get(jwk, private_params[i])) {
			*why = "contains private key parameters (publish only public keys)";
			return false;
		}
	}
	json_t *algv = json_object_get(jwk, "alg");
	if (algv) {
		unsigned a = json_is_string(algv) ? oauth_alg_parse(json_string_value(algv)) : 0;
		if (!(a & algs)) {
			*why = "alg is not RS256 (RSA) or ES256 (EC)";
			return false;
		}
		algs = a;
	}
	if (!(algs & allowed)) {
		*why = "its algorithm is not in [oauth] algorithms";
		return false;
	}
	EVP_PKEY *pkey = algs == OAUTH_ALG_RS256 ? jwk_rsa(jwk, why) : jwk_ec(jwk, why);
	ERR_clear_error();
	if (!pkey)
		return false;
	out->kid = kidv ? xstrdup(json_string_value(kidv)) : NULL;
	out->algs = algs;
	out->pkey = pkey;
	return true;
}

static json_t *jwks_read(const char *path, char **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		*err = xasprintf("cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > OAUTH_JWKS_FILE_MAX) {
		close(fd);
		*err = xasprintf("%s is not a regular file of at most %d bytes", path, OAUTH_JWKS_FILE_MAX);
		return NULL;
	}
	json_error_t je;
	json_t *root = json_loadfd(fd, JSON_REJECT_DUPLICATES, &je);
	close(fd);
	if (!root)
		*err = xasprintf("%s:%d: not valid JSON: %s", path, je.line, je.text);
	return root;
}

struct oauth_keyset *oauth_jwks_load(const char *path, unsigned allowed_algs, char **err)
{
	*err = NULL;
	json_t *root = jwks_read(path, err);
	if (!root)
		return NULL;
	json_t *keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		*err = xasprintf("%s: no 'keys' array (expected a JWKS: {'keys': [...]})", path);
		json_decref(root);
		return NULL;
	}
	size_t total = json_array_size(keys);
	if (total > OAUTH_JWKS_KEYS_MAX) {
		*err = xasprintf("%s: more than %d keys", path, OAUTH_JWKS_KEYS_MAX);
		json_decref(root);
		return NULL;
	}
	struct oauth_keyset *ks = xcalloc(1, sizeof(*ks));
	ks->v = xcalloc(total ? total : 1, sizeof(*ks->v));
	ks->refs = 1;
	for (size_t i = 0; i < total; i++) {
		json_t *jwk = json_array_get(keys, i);
		const char *why = "?";
		if (jwk_to_key(jwk, allowed_algs, &ks->v[ks->n], &why)) {
			ks->n++;
			continue;
		}
		const char *kidv = json_string_value(json_object_get(jwk, "kid"));
		const char *k = kidv ? kidv : "";
		char *kid = xstrndup(k, strnlen(k, 64));
		oauth_log_clean(kid);
		log_warn("event=oauth_jwks_key_skipped path=%s index=%zu kid=\"%s\" reason=\"%s\"", path, i,
			 kid, why);
		free(kid);
	}
	json_decref(root);
	if (ks->n == 0) {
		*err = xasprintf("%s: no usable key (RSA of 2048+ bits or EC P-256, use 'sig', for an "
				 "algorithm in [oauth] algorithms)", path);
		oauth_jwks_free(ks);
		return NULL;
	}
	return ks;
}

void oauth_jwks_free(struct oauth_keyset *ks)
{
	if (!ks)
		return;
	for (size_t i = 0; i < ks->n; i++) {
		free(ks->v[i].kid);
		EVP_PKEY_free(ks->v[i].pkey);
	}
	free(ks->v);
	free(ks);
}

const struct oauth_key *oauth_jwks_find(const struct oauth_keyset *ks, const char *kid, unsigned alg)
{
	const struct oauth_key *found = NULL;
	for (size_t i = 0; i < ks->n; i++) {
		const struct oauth_key *k = &ks->v[i];
		if (!(k->algs & alg))
			continue;
		if (kid) {
			if (k->kid && strcmp(k->kid, kid) == 0)
				return k;
			continue;
		}
		/* No kid in the token: usable only when unambiguous. */
		if (found)
			return NULL;
		found = k;
	}
	return found;
}
