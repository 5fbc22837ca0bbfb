/* OAuth bearer tokens (auth/oauth.h): JWKS loading, JWT validation and
 * the OAUTHBEARER / XOAUTH2 messages. Every key is generated here with
 * OpenSSL at test time (nothing committed) and every token is signed
 * here; the server side under test only ever sees the public JWKS. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/oauth.h"
#include "oauth_mint.h"
#include "core/base64.h"
#include "core/config.h"
#include "core/util.h"

#define ISS "https://idp.example.test/realms/mail"
#define AUD "rampart-imap"
#define USER "alice@example.com"

struct fx {
	char dir[64];
	char jwks[128];
	EVP_PKEY *rsa, *ec, *rsa_other, *rsa_small;
	struct config *cfg;
	struct oauth *o;
	time_t now;
};

/* ---- minting: base64url, JWKs, signatures (test side only) ---- */

static char *b64url_str(const char *s)
{
	return mint_b64url((const unsigned char *)s, strlen(s));
}

/* A public JWK for k; extra is appended inside the object (",..."). */
static char *jwk(EVP_PKEY *k, const char *kid, const char *extra)
{
	char *a, *b, *out;
	if (EVP_PKEY_is_a(k, "RSA")) {
		a = mint_bn_b64url(k, OSSL_PKEY_PARAM_RSA_N, 0);
		b = mint_bn_b64url(k, OSSL_PKEY_PARAM_RSA_E, 0);
		out = xasprintf("{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s}", kid, a, b,
				extra);
	} else {
		a = mint_bn_b64url(k, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		b = mint_bn_b64url(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
		out = xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}",
				kid, a, b, extra);
	}
	free(a);
	free(b);
	return out;
}

static void write_file(const char *path, const char *text)
{
	char tmp[256];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static void write_jwks(struct fx *f, const char *k1, const char *k2)
{
	char *text = xasprintf("{\"keys\":[%s%s%s]}", k1 ? k1 : "", k1 && k2 ? "," : "", k2 ? k2 : "");
	write_file(f->jwks, text);
	free(text);
}

/* header.payload.signature from JSON texts; k NULL: signature "sig". */
static char *mint_raw(const char *header, const char *claims, EVP_PKEY *k)
{
	char *h = b64url_str(header), *c = b64url_str(claims);
	char *input = xasprintf("%s.%s", h, c);
	char *s = k ? mint_sign(k, input) : xstrdup("c2ln");
	char *tok = xasprintf("%s.%s", input, s);
	free(h), free(c), free(input), free(s);
	return tok;
}

/* Claims with iss/aud/user and exp = now + exp_in; `more` adds members. */
static char *claims(const struct fx *f, long exp_in, const char *more)
{
	return xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"email\":\"" USER "\","
			 "\"exp\":%lld,\"iat\":%lld%s}",
			 (long long)f->now + exp_in, (long long)f->now - 10, more);
}

static char *mint(const struct fx *f, const char *alg, const char *kid, EVP_PKEY *k, const char *cl)
{
	char *h = xasprintf("{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, kid);
	char *t = mint_raw(h, cl, k);
	free(h);
	return t;
}

static enum oauth_result check(struct fx *f, const char *tok)
{
	char *user = NULL;
	enum oauth_result r = oauth_validate(f->o, tok, strlen(tok), f->now, &user);
	if (r == OAUTH_OK) {
		assert_non_null(user);
		assert_string_equal(user, USER);
	} else {
		assert_null(user);
	}
	free(user);
	return r;
}

static void expect_token(struct fx *f, char *tok, enum oauth_result want)
{
	enum oauth_result r = check(f, tok);
	if (r != want)
		fail_msg("token gives %s, want %s", oauth_result_reason(r), oauth_result_reason(want));
	free(tok);
}

static void expect_mint(struct fx *f, const char *alg, const char *kid, EVP_PKEY *k, const char *cl,
			enum oauth_result want)
{
	expect_token(f, mint(f, alg, kid, k, cl), want);
}

/* Mints with claims cl (freed), validates, frees. */
static enum oauth_result check_claims(struct fx *f, char *cl)
{
	char *t = mint(f, "RS256", "rsa1", f->rsa, cl);
	enum oauth_result r = check(f, t);
	free(t);
	free(cl);
	return r;
}

/* ---- fixture ---- */

static void cfg_set(char **field, const char *v)
{
	free(*field);
	*field = v ? xstrdup(v) : NULL;
}

static int group_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/rampart-oauth-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->jwks, sizeof(f->jwks), "%s/jwks.json", f->dir);
	f->rsa = EVP_RSA_gen(2048);
	f->rsa_other = EVP_RSA_gen(2048);
	f->rsa_small = EVP_RSA_gen(1024);
	f->ec = EVP_EC_gen("P-256");
	if (!f->rsa || !f->rsa_other || !f->rsa_small || !f->ec)
		return -1;
	f->cfg = config_new_defaults(f->dir);
	cfg_set(&f->cfg->oauth_jwks_file, f->jwks);
	cfg_set(&f->cfg->oauth_issuer, ISS);
	cfg_set(&f->cfg->oauth_audience, AUD);
	f->now = time(NULL);
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	struct fx *f = *state;
	config_free(f->cfg);
	EVP_PKEY_free(f->rsa);
	EVP_PKEY_free(f->rsa_other);
	EVP_PKEY_free(f->rsa_small);
	EVP_PKEY_free(f->ec);
	unlink(f->jwks);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Before each test: the JWKS holds rsa1 and ec1, defaults otherwise. */
static int test_setup(void **state)
{
	struct fx *f = *state;
	char *a = jwk(f->rsa, "rsa1", ",\"use\":\"sig\",\"alg\":\"RS256\""), *b = jwk(f->ec, "ec1", "");
	write_jwks(f, a, b);
	free(a), free(b);
	cfg_set(&f->cfg->oauth_algorithms, "RS256 ES256");
	cfg_set(&f->cfg->oauth_username_claim, "email");
	cfg_set(&f->cfg->oauth_scope, NULL);
	cfg_set(&f->cfg->oauth_openid_configuration, NULL);
	f->cfg->oauth_leeway = 60;
	char *err = NULL;
	f->o = oauth_new(f->cfg, &err);
	if (!f->o) {
		fprintf(stderr, "oauth_new: %s\n", err);
		free(err);
		return -1;
	}
	return 0;
}

static int test_teardown(void **state)
{
	struct fx *f = *state;
	oauth_free(f->o);
	f->o = NULL;
	return 0;
}

/* ---- tokens ---- */

static void test_valid_rs256_es256(void **state)
{
	struct fx *f = *state;
	assert_int_equal(oauth_key_count(f->o), 2);
	char *cl = claims(f, 300, "");
	char *t = mint(f, "RS256", "rsa1", f->rsa, cl);
	assert_int_equal(check(f, t), OAUTH_OK);
	free(t);
	expect_mint(f, "ES256", "ec1", f->ec, cl, OAUTH_OK);
	free(cl);
	/* aud as an array holding ours, nbf in the past, fractional exp */
	assert_int_equal(check_claims(f, xasprintf("{\"iss\":\"" ISS "\",\"aud\":[\"other\",\"" AUD "\"],"
						   "\"email\":\"" USER "\",\"exp\":%lld.5,\"nbf\":%lld}",
						   (long long)f->now + 60, (long long)f->now - 5)),
			 OAUTH_OK);
	/* a token without kid, when one key fits the alg */
	cl = claims(f, 300, "");
	expect_token(f, mint_raw("{\"alg\":\"ES256\"}", cl, f->ec), OAUTH_OK);
	free(cl);
}

static void test_time_claims(void **state)
{
	struct fx *f = *state;
	/* exp: 61 s ago is expired under a 60 s leeway, 30 s ago is not */
	assert_int_equal(check_claims(f, claims(f, -61, "")), OAUTH_EXPIRED);
	assert_int_equal(check_claims(f, claims(f, -3600, "")), OAUTH_EXPIRED);
	assert_int_equal(check_claims(f, claims(f, -30, "")), OAUTH_OK);
	/* exp is required, and must be a number */
	assert_int_equal(check_claims(f, xstrdup("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"email\":\"" USER "\"}")),
			 OAUTH_BAD_CLAIM);
	assert_int_equal(check_claims(f, xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"email\":\""
						   USER "\",\"exp\":\"%lld\"}", (long long)f->now + 99)),
			 OAUTH_BAD_CLAIM);
	/* nbf and iat in the future */
	char more[64];
	snprintf(more, sizeof(more), ",\"nbf\":%lld", (long long)f->now + 120);
	assert_int_equal(check_claims(f, claims(f, 300, more)), OAUTH_NOT_YET_VALID);
	snprintf(more, sizeof(more), ",\"nbf\":%lld", (long long)f->now + 30);
	assert_int_equal(check_claims(f, claims(f, 300, more)), OAUTH_OK);
	assert_int_equal(check_claims(f, xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"email\":\""
						   USER "\",\"exp\":%lld,\"iat\":%lld}",
						   (long long)f->now + 900, (long long)f->now + 600)),
			 OAUTH_NOT_YET_VALID);
	assert_int_equal(check_claims(f, claims(f, 300, ",\"nbf\":null")), OAUTH_BAD_CLAIM);
	/* leeway 0: one second late is expired */
	oauth_free(f->o);
	f->cfg->oauth_leeway = 0;
	char *err = NULL;
	f->o = oauth_new(f->cfg, &err);
	assert_non_null(f->o);
	assert_int_equal(check_claims(f, claims(f, -1, "")), OAUTH_EXPIRED);
	assert_int_equal(check_claims(f, claims(f, 0, "")), OAUTH_EXPIRED);
	assert_int_equal(check_claims(f, claims(f, 1, "")), OAUTH_OK);
}

static void test_issuer_audience(void **state)
{
	struct fx *f = *state;
	long long exp = (long long)f->now + 300;
	assert_int_equal(check_claims(f, xasprintf("{\"iss\":\"https://evil.example\",\"aud\":\"" AUD "\","
						   "\"email\":\"" USER "\",\"exp\":%lld}", exp)),
			 OAUTH_WRONG_ISSUER);
	assert_int_equal(check_claims(f, xasprintf("{\"aud\":\"" AUD "\",\"email\":\"" USER "\",\"exp\":%lld}",
						   exp)),
			 OAUTH_WRONG_ISSUER);
	/* a prefix of the issuer is not the issuer */
	assert_int_equal(check_claims(f, xasprintf("{\"iss\":\"https://idp.example.test/realms/mai\","
						   "\"aud\":\"" AUD "\",\"email\":\"" USER "\",\"exp\":%lld}", exp)),
			 OAUTH_WRONG_ISSUER);
	assert_int_equal(check_claims(f, xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"webmail\","
						   "\"email\":\"" USER "\",\"exp\":%lld}", exp)),
			 OAUTH_WRONG_AUDIENCE);
	assert_int_equal(check_claims(f, xasprintf("{\"iss\":\"" ISS "\",\"aud\":[\"a\",\"b\"],"
						   "\"email\":\"" USER "\",\"exp\":%lld}", exp)),
			 OAUTH_WRONG_AUDIENCE);
	assert_int_equal(check_claims(f, xasprintf("{\"iss\":\"" ISS "\",\"aud\":[],"
						   "\"email\":\"" USER "\",\"exp\":%lld}", exp)),
			 OAUTH_WRONG_AUDIENCE);
	assert_int_equal(check_claims(f, xasprintf("{\"iss\":\"" ISS "\",\"email\":\"" USER "\",\"exp\":%lld}",
						   exp)),
			 OAUTH_WRONG_AUDIENCE);
}

static void test_signature_and_kid(void **state)
{
	struct fx *f = *state;
	char *cl = claims(f, 300, "");
	/* signed by a key that is not in the JWKS, under a known kid */
	char *t = mint(f, "RS256", "rsa1", f->rsa_other, cl);
	assert_int_equal(check(f, t), OAUTH_BAD_SIGNATURE);
	free(t);
	/* a valid token with one signature byte changed */
	t = mint(f, "ES256", "ec1", f->ec, cl);
	char *sig = strrchr(t, '.') + 1;
	sig[3] = sig[3] == 'A' ? 'B' : 'A';
	assert_int_equal(check(f, t), OAUTH_BAD_SIGNATURE);
	free(t);
	/* the payload changed after signing (a different user) */
	t = mint(f, "RS256", "rsa1", f->rsa, cl);
	char *cl2 = xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"email\":\"root\",\"exp\":%lld}",
			      (long long)f->now + 300);
	char *p2 = b64url_str(cl2);
	char *dot1 = strchr(t, '.'), *dot2 = strrchr(t, '.');
	char *forged = xasprintf("%.*s.%s%s", (int)(dot1 - t), t, p2, dot2);
	assert_int_equal(check(f, forged), OAUTH_BAD_SIGNATURE);
	free(forged), free(p2), free(cl2), free(t);
	/* ES256 signature of the wrong length (DER instead of R||S) */
	t = mint(f, "ES256", "ec1", f->ec, cl);
	dot2 = strrchr(t, '.');
	char *longer = xasprintf("%.*s.AAAA%s", (int)(dot2 - t), t, dot2 + 1);
	assert_int_equal(check(f, longer), OAUTH_BAD_SIGNATURE);
	free(longer), free(t);
	/* unknown kid; a kid of the other key type; no kid with two RSA keys */
	expect_mint(f, "RS256", "rsa9", f->rsa, cl, OAUTH_UNKNOWN_KID);
	expect_mint(f, "RS256", "ec1", f->rsa, cl, OAUTH_UNKNOWN_KID);
	char *a = jwk(f->rsa, "rsa1", ""), *b = jwk(f->rsa_other, "rsa2", "");
	write_jwks(f, a, b);
	free(a), free(b);
	assert_int_equal(oauth_reload(f->o), 0);
	expect_token(f, mint_raw("{\"alg\":\"RS256\"}", cl, f->rsa), OAUTH_UNKNOWN_KID);
	expect_mint(f, "RS256", "rsa2", f->rsa_other, cl, OAUTH_OK);
	free(cl);
}

/* alg "none", HS256 keyed with the RSA public key (the alg-confusion
 * attack), and algorithms the configuration does not allow. */
static void test_alg_attacks(void **state)
{
	struct fx *f = *state;
	char *cl = claims(f, 300, "");
	char *t = mint_raw("{\"alg\":\"none\",\"kid\":\"rsa1\"}", cl, NULL);
	assert_int_equal(check(f, t), OAUTH_BAD_ALG);
	free(t);
	/* unsecured JWS as RFC 7519 6.1 writes it: an empty signature */
	char *h = b64url_str("{\"alg\":\"none\"}"), *c = b64url_str(cl);
	t = xasprintf("%s.%s.", h, c);
	assert_int_equal(check(f, t), OAUTH_MALFORMED);
	free(t), free(h), free(c);
	for (const char *const *alg = (const char *const[]){ "None", "NONE", "HS256", "RS384", "PS256",
							   "ES512", "rs256", "", NULL };
	     *alg; alg++) {
		expect_mint(f, *alg, "rsa1", f->rsa, cl, OAUTH_BAD_ALG);
	}

	/* HS256 with the RSA key's public PEM (and its JWK n) as the secret */
	BIO *bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PUBKEY(bio, f->rsa), 1);
	char *pem;
	long pemlen = BIO_get_mem_data(bio, &pem);
	h = b64url_str("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"rsa1\"}");
	c = b64url_str(cl);
	char *input = xasprintf("%s.%s", h, c);
	unsigned char mac[32];
	unsigned maclen = 0;
	assert_non_null(HMAC(EVP_sha256(), pem, (int)pemlen, (const unsigned char *)input, strlen(input),
			     mac, &maclen));
	char *m = mint_b64url(mac, maclen);
	t = xasprintf("%s.%s", input, m);
	assert_int_equal(check(f, t), OAUTH_BAD_ALG);
	free(t), free(m), free(input), free(h), free(c);
	BIO_free(bio);

	/* a key set with an "oct" key (a shared secret) does not make HS256
	 * acceptable either: the key is skipped */
	char *a = jwk(f->rsa, "rsa1", "");
	write_jwks(f, a, "{\"kty\":\"oct\",\"kid\":\"hs\",\"k\":\"c2VjcmV0\"}");
	free(a);
	assert_int_equal(oauth_reload(f->o), 0);
	assert_int_equal(oauth_key_count(f->o), 1);
	h = b64url_str("{\"alg\":\"HS256\",\"kid\":\"hs\"}");
	c = b64url_str(cl);
	input = xasprintf("%s.%s", h, c);
	assert_non_null(HMAC(EVP_sha256(), "secret", 6, (const unsigned char *)input, strlen(input), mac,
			     &maclen));
	m = mint_b64url(mac, maclen);
	t = xasprintf("%s.%s", input, m);
	assert_int_equal(check(f, t), OAUTH_BAD_ALG);
	free(t), free(m), free(input), free(h), free(c);

	/* algorithms = ES256: an RS256 token is refused before any key */
	oauth_free(f->o);
	cfg_set(&f->cfg->oauth_algorithms, "ES256");
	char *err = NULL;
	f->o = oauth_new(f->cfg, &err);
	assert_null(f->o); /* the JWKS now holds only an RSA key: none usable */
	assert_non_null(strstr(err, "no usable key"));
	free(err);
	a = jwk(f->rsa, "rsa1", ""), h = jwk(f->ec, "ec1", "");
	write_jwks(f, a, h);
	free(a), free(h);
	f->o = oauth_new(f->cfg, &err);
	assert_non_null(f->o);
	assert_int_equal(oauth_key_count(f->o), 1);
	expect_mint(f, "RS256", "rsa1", f->rsa, cl, OAUTH_BAD_ALG);
	expect_mint(f, "ES256", "ec1", f->ec, cl, OAUTH_OK);
	free(cl);
}

static void test_username_claim(void **state)
{
	struct fx *f = *state;
	long long exp = (long long)f->now + 300;
	const char *bad[] = { "", "\"email\":\"\"", "\"email\":null", "\"email\":42", "\"email\":[\"" USER "\"]",
			      "\"email\":\"../etc\"", "\"email\":\"a b\"", "\"email\":\".hidden\"" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *cl = xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld%s%s}", exp,
				     bad[i][0] ? "," : "", bad[i]);
		assert_int_equal(check_claims(f, cl), OAUTH_BAD_CLAIM);
	}
	/* username_claim = preferred_username */
	oauth_free(f->o);
	cfg_set(&f->cfg->oauth_username_claim, "preferred_username");
	char *err = NULL;
	f->o = oauth_new(f->cfg, &err);
	assert_non_null(f->o);
	assert_int_equal(check_claims(f, claims(f, 300, "")), OAUTH_BAD_CLAIM);
	char *cl = xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld,\"email\":\"x@y\","
			     "\"preferred_username\":\"" USER "\"}", exp);
	assert_int_equal(check_claims(f, cl), OAUTH_OK);
}

static void test_malformed(void **state)
{
	struct fx *f = *state;
	char *cl = claims(f, 300, "");
	char *good = mint(f, "RS256", "rsa1", f->rsa, cl);
	assert_int_equal(check(f, good), OAUTH_OK);
	char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
	const char *simple[] = { "", ".", "..", "a.b", "a.b.c.d", "a..c", ".b.c", "abc", "eyJ.eyJ.", "a.b.c" };
	for (size_t i = 0; i < ARRAY_SIZE(simple); i++)
		assert_int_equal(check(f, simple[i]), OAUTH_MALFORMED);
	/* a padding '=', a '+' and a space inside an otherwise good token */
	char *t = xasprintf("%.*s=%s", (int)(dot2 - good), good, dot2);
	assert_int_equal(check(f, t), OAUTH_MALFORMED);
	free(t);
	t = xstrdup(good);
	t[dot1 - good + 3] = '+';
	assert_int_equal(check(f, t), OAUTH_MALFORMED);
	t[dot1 - good + 3] = ' ';
	assert_int_equal(check(f, t), OAUTH_MALFORMED);
	free(t);
	/* a NUL byte inside the length given */
	t = xstrdup(good);
	t[5] = '\0';
	char *user = NULL;
	assert_int_equal(oauth_validate(f->o, t, strlen(good), f->now, &user), OAUTH_MALFORMED);
	assert_null(user);
	free(t);
	/* the header is not JSON, not an object, has duplicate members, has
	 * crit, kid is not a string */
	const char *headers[] = { "{\"alg\":\"RS256\"", "[\"RS256\"]", "\"RS256\"",
				  "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"alg\":\"RS256\"}",
				  "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[\"exp\"],\"exp\":1}",
				  "{\"alg\":\"RS256\",\"kid\":7}", "{\"kid\":\"rsa1\"}",
				  "{\"alg\":\"RS256\",\"kid\":\"rsa1\"} x" };
	for (size_t i = 0; i < ARRAY_SIZE(headers); i++) {
		expect_token(f, mint_raw(headers[i], cl, f->rsa), OAUTH_MALFORMED);
	}
	/* a correctly signed payload that is not a JSON object, or repeats
	 * a member (which "email" wins must not be a parser's choice) */
	char *dup = xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"email\":\"" USER "\","
			      "\"email\":\"root\",\"exp\":%lld}", (long long)f->now + 300);
	const char *payloads[] = { "[1,2]", "not json", dup, "{\"iss\":\"" ISS "\"" };
	for (size_t i = 0; i < ARRAY_SIZE(payloads); i++) {
		expect_mint(f, "RS256", "rsa1", f->rsa, payloads[i], OAUTH_MALFORMED);
	}
	free(dup);
	/* \u0000 inside a string cannot truncate a comparison */
	expect_mint(f, "RS256", "rsa1", f->rsa, "{\"iss\":\"" ISS "\\u0000x\"}", OAUTH_MALFORMED);
	free(good);
	free(cl);
}

static void test_oversized(void **state)
{
	struct fx *f = *state;
	/* a correctly signed token just over OAUTH_TOKEN_MAX */
	size_t pad = OAUTH_TOKEN_MAX * 3 / 4;
	char *filler = xmalloc(pad + 1);
	memset(filler, 'x', pad);
	filler[pad] = '\0';
	char *more = xasprintf(",\"pad\":\"%s\"", filler);
	char *cl = claims(f, 300, more);
	char *t = mint(f, "RS256", "rsa1", f->rsa, cl);
	assert_true(strlen(t) > OAUTH_TOKEN_MAX);
	assert_int_equal(check(f, t), OAUTH_MALFORMED);
	free(t), free(cl), free(more);
	/* and one a little under it is fine */
	filler[pad - 2000] = '\0';
	more = xasprintf(",\"pad\":\"%s\"", filler);
	cl = claims(f, 300, more);
	t = mint(f, "RS256", "rsa1", f->rsa, cl);
	assert_true(strlen(t) <= OAUTH_TOKEN_MAX);
	assert_int_equal(check(f, t), OAUTH_OK);
	free(t), free(cl), free(more), free(filler);
}

/* ---- the JWKS file ---- */

static struct oauth *new_expect_error(struct fx *f, const char *what)
{
	char *err = NULL;
	struct oauth *o = oauth_new(f->cfg, &err);
	assert_null(o);
	assert_non_null(err);
	if (!strstr(err, what))
		fail_msg("error '%s' does not mention '%s'", err, what);
	free(err);
	return o;
}

static void test_jwks_load(void **state)
{
	struct fx *f = *state;
	/* skipped keys: too short RSA, private parts, use enc, wrong curve,
	 * point off the curve, alg inconsistent with kty, kid not a string */
	char *small = jwk(f->rsa_small, "small", "");
	char *priv = jwk(f->rsa, "priv", ",\"d\":\"AQAB\"");
	char *enc = jwk(f->rsa, "enc", ",\"use\":\"enc\"");
	char *ecalg = jwk(f->ec, "ecrs", ",\"alg\":\"RS256\"");
	char *ecx = jwk(f->ec, "ecx", "");
	char *xs = strstr(ecx, "\"x\":\"") + 5;
	xs[0] = xs[0] == 'A' ? 'B' : 'A'; /* almost surely no longer on the curve */
	char *text = xasprintf("{\"keys\":[%s,%s,%s,%s,%s,{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\","
			       "\"y\":\"AA\"},{\"kty\":\"RSA\",\"kid\":1}]}", small, priv, enc, ecalg, ecx);
	write_file(f->jwks, text);
	free(text);
	new_expect_error(f, "no usable key");
	/* one good key among them is enough */
	char *good = jwk(f->ec, "ec1", "");
	text = xasprintf("{\"keys\":[%s,%s,%s,%s,%s,%s]}", small, priv, enc, ecalg, ecx, good);
	write_file(f->jwks, text);
	free(text);
	char *err = NULL;
	struct oauth *o = oauth_new(f->cfg, &err);
	assert_non_null(o);
	assert_int_equal(oauth_key_count(o), 1);
	oauth_free(o);
	free(small), free(priv), free(enc), free(ecalg), free(ecx), free(good);

	const char *bad_files[] = { "", "{", "[]", "{\"keys\":{}}", "{\"keys\":[]}", "{\"keys\":[1,\"x\"]}",
				    "{\"keys\":[],\"keys\":[]}" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_files); i++) {
		write_file(f->jwks, bad_files[i]);
		new_expect_error(f, "jwks_file");
	}
	unlink(f->jwks);
	new_expect_error(f, "cannot read");

	/* no jwks_file: OAuth is off, which is not an error */
	char *saved = f->cfg->oauth_jwks_file;
	f->cfg->oauth_jwks_file = NULL;
	o = oauth_new(f->cfg, &err);
	assert_null(o);
	assert_null(err);
	f->cfg->oauth_jwks_file = saved;

	/* algorithms must name supported ones only */
	good = jwk(f->rsa, "rsa1", "");
	write_jwks(f, good, NULL);
	free(good);
	const char *bad_algs[] = { "HS256", "RS256 none", "rs256", "", "RS256,HS512" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_algs); i++) {
		cfg_set(&f->cfg->oauth_algorithms, bad_algs[i]);
		new_expect_error(f, "algorithms");
	}
	cfg_set(&f->cfg->oauth_algorithms, "RS256, ES256");
	o = oauth_new(f->cfg, &err);
	assert_non_null(o);
	oauth_free(o);
}

/* RFC 7518 6.2.1.2 wants 32-byte EC coordinates, but some libraries drop
 * leading zero bytes: such a JWK is the same key and must load. */
static void test_jwks_short_ec_coordinate(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = NULL;
	unsigned char x[32];
	for (int i = 0; i < 20000; i++) {
		k = EVP_EC_gen("P-256");
		BIGNUM *bn = NULL;
		assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bn), 1);
		assert_int_equal(BN_bn2binpad(bn, x, 32), 32);
		BN_free(bn);
		if (x[0] == 0)
			break;
		EVP_PKEY_free(k);
		k = NULL;
	}
	assert_non_null(k); /* 1 in 256 keys; 20000 tries fail with p < 1e-30 */
	char *full = jwk(k, "short", "");
	char *xs = mint_b64url(x + 1, 31);
	char *xfull = mint_b64url(x, 32);
	char *at = strstr(full, xfull);
	assert_non_null(at);
	char *shortk = xasprintf("%.*s%s%s", (int)(at - full), full, xs, at + strlen(xfull));
	write_jwks(f, shortk, NULL);
	assert_int_equal(oauth_reload(f->o), 0);
	char *cl = claims(f, 300, "");
	char *t = mint(f, "ES256", "short", k, cl);
	assert_int_equal(check(f, t), OAUTH_OK);
	free(t), free(cl), free(shortk), free(xfull), free(xs), free(full);
	EVP_PKEY_free(k);
}

/* SIGHUP: a good new file replaces the keys, a bad one keeps the old. */
static void test_reload(void **state)
{
	struct fx *f = *state;
	char *cl = claims(f, 300, "");
	char *t_old = mint(f, "RS256", "rsa1", f->rsa, cl);
	char *t_new = mint(f, "RS256", "rsa2", f->rsa_other, cl);
	assert_int_equal(check(f, t_old), OAUTH_OK);
	assert_int_equal(check(f, t_new), OAUTH_UNKNOWN_KID);
	char *k = jwk(f->rsa_other, "rsa2", "");
	write_jwks(f, k, NULL);
	free(k);
	assert_int_equal(oauth_reload(f->o), 0);
	assert_int_equal(oauth_key_count(f->o), 1);
	assert_int_equal(check(f, t_old), OAUTH_UNKNOWN_KID);
	assert_int_equal(check(f, t_new), OAUTH_OK);
	write_file(f->jwks, "{\"keys\": [ truncated");
	assert_int_equal(oauth_reload(f->o), -1);
	assert_int_equal(check(f, t_new), OAUTH_OK);
	unlink(f->jwks);
	assert_int_equal(oauth_reload(f->o), -1);
	assert_int_equal(check(f, t_new), OAUTH_OK);
	free(t_old), free(t_new), free(cl);
}

struct race {
	struct fx *f;
	const char *tok;
	int ok, other;
};

static void *race_validate(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < 400; i++) {
		char *user = NULL;
		enum oauth_result res = oauth_validate(r->f->o, r->tok, strlen(r->tok), r->f->now, &user);
		free(user);
		if (res == OAUTH_OK)
			r->ok++;
		else
			r->other++;
	}
	return NULL;
}

/* Validations on two threads while the main thread reloads: every answer
 * is OK (both files hold the token's key) and nothing is freed under a
 * reader (ASan would say). */
static void test_reload_concurrent(void **state)
{
	struct fx *f = *state;
	char *cl = claims(f, 300, "");
	char *t = mint(f, "ES256", "ec1", f->ec, cl);
	struct race r[2] = { { f, t, 0, 0 }, { f, t, 0, 0 } };
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race_validate, &r[i]), 0);
	char *a = jwk(f->ec, "ec1", ""), *b = jwk(f->rsa, "rsa1", "");
	for (int i = 0; i < 50; i++) {
		write_jwks(f, a, i % 2 ? b : NULL);
		assert_int_equal(oauth_reload(f->o), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(r[i].ok, 400);
		assert_int_equal(r[i].other, 0);
	}
	free(a), free(b), free(t), free(cl);
}

/* ---- SASL messages ---- */

static int parse_ob(const char *msg, size_t len, char **authzid, char **token)
{
	return oauth_parse_oauthbearer((const unsigned char *)msg, len, authzid, token);
}

#define OB(s) parse_ob(s, sizeof(s) - 1, &az, &tok)
#define XO(s) oauth_parse_xoauth2((const unsigned char *)s, sizeof(s) - 1, &u, &tok)

static void test_parse_oauthbearer(void **state)
{
	(void)state;
	char *az, *tok;
	/* RFC 7628 4.1's example */
	assert_int_equal(OB("n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
			    "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"), 0);
	assert_string_equal(az, "user@example.com");
	assert_string_equal(tok, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
	free(az), oauth_secret_free(tok);
	/* no authzid, "y" flag, scheme in other case, several spaces */
	assert_int_equal(OB("y,,\x01" "auth=bearer   a.b.c\x01\x01"), 0);
	assert_null(az);
	assert_string_equal(tok, "a.b.c");
	oauth_secret_free(tok);
	/* saslname escapes */
	assert_int_equal(OB("n,a=a=2Cb=3Dc,\x01" "auth=Bearer t\x01\x01"), 0);
	assert_string_equal(az, "a,b=c");
	free(az), oauth_secret_free(tok);

	const struct { const char *m; size_t n; } bad[] = {
#define B(s) { s, sizeof(s) - 1 }
		B(""), B("\x01"), B("n,,\x01\x01"),                      /* no auth */
		B("n,,\x01" "auth=Bearer t\x01"),                        /* no final kvsep */
		B("n,,\x01" "auth=Bearer t"),                            /* no kvsep at all */
		B("n,,\x01" "auth=Bearer t\x01\x01\x01"),                /* one too many */
		B("n,,auth=Bearer t\x01\x01"),                           /* gs2 header not ended */
		B("p=tls-unique,,\x01" "auth=Bearer t\x01\x01"),         /* channel binding */
		B("x,,\x01" "auth=Bearer t\x01\x01"), B(",,\x01" "auth=Bearer t\x01\x01"),
		B("n,a=,\x01" "auth=Bearer t\x01\x01"),                  /* empty authzid */
		B("n,a=u=2,\x01" "auth=Bearer t\x01\x01"),               /* bad escape */
		B("n,a=u\x02,\x01" "auth=Bearer t\x01\x01"),
		B("n,a=u\x01" "auth=Bearer t\x01\x01"),
		B("n,,\x01" "auth=Basic dTpw\x01\x01"),
		B("n,,\x01" "auth=Bearer\x01\x01"), B("n,,\x01" "auth=Bearer \x01\x01"),
		B("n,,\x01" "auth=Bearert\x01\x01"),
		B("n,,\x01" "auth=Bearer a b\x01\x01"), B("n,,\x01" "auth=Bearer a=b\x01\x01"),
		B("n,,\x01" "auth=Bearer t\x01" "auth=Bearer u\x01\x01"),  /* twice */
		B("n,,\x01" "host2=x\x01" "auth=Bearer t\x01\x01"),      /* key not ALPHA */
		B("n,,\x01" "=x\x01" "auth=Bearer t\x01\x01"), B("n,,\x01" "host\x01" "auth=Bearer t\x01\x01"),
		B("n,,\x01" "host=a\x00" "b\x01" "auth=Bearer t\x01\x01"),
		B("n,,\x01" "auth=Bearer t\x01\x01" "extra"),
#undef B
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		az = tok = (char *)"x";
		if (parse_ob(bad[i].m, bad[i].n, &az, &tok) != -1)
			fail_msg("bad message %zu parsed", i);
		assert_null(az);
		assert_null(tok);
	}
	assert_true(oauth_is_dummy_response((const unsigned char *)"\x01", 1));
	assert_false(oauth_is_dummy_response((const unsigned char *)"\x01\x01", 2));
	assert_false(oauth_is_dummy_response((const unsigned char *)"", 0));
}

static void test_parse_xoauth2(void **state)
{
	(void)state;
	char *u, *tok;
	assert_int_equal(XO("user=someuser@example.com\x01" "auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg\x01\x01"), 0);
	assert_string_equal(u, "someuser@example.com");
	assert_string_equal(tok, "ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg");
	free(u), oauth_secret_free(tok);
	const struct { const char *m; size_t n; } bad[] = {
#define B(s) { s, sizeof(s) - 1 }
		B(""), B("\x01"), B("\x01\x01"),
		B("user=u\x01" "auth=Bearer t\x01"),                      /* one kvsep short */
		B("user=u\x01" "auth=Bearer t"),
		B("user=u\x01\x01"),                                      /* no auth */
		B("auth=Bearer t\x01\x01"),                               /* no user */
		B("auth=Bearer t\x01" "user=u\x01\x01"),                  /* user not first */
		B("user=\x01" "auth=Bearer t\x01\x01"),                   /* empty user */
		B("user=a b\x01" "auth=Bearer t\x01\x01"),
		B("user=u\x01" "auth=Bearer t\x01" "auth=Bearer t\x01\x01"),
		B("user=u\x01" "user=v\x01" "auth=Bearer t\x01\x01"),
		B("user=u\x01" "auth=Basic t\x01\x01"),
		B("user=u,auth=Bearer t\x01\x01"),                        /* wrong separator */
		B("user=u\x01" "auth=Bearer t\n\n"),
#undef B
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (oauth_parse_xoauth2((const unsigned char *)bad[i].m, bad[i].n, &u, &tok) != -1)
			fail_msg("bad message %zu parsed", i);
		assert_null(u);
		assert_null(tok);
	}
}

/* The whole step a mechanism makes, and the error it answers with. */
static void test_check_message_and_error(void **state)
{
	struct fx *f = *state;
	char *cl = claims(f, 300, "");
	char *t = mint(f, "ES256", "ec1", f->ec, cl);
	struct { enum oauth_mech mech; char *msg; enum oauth_result want; } cases[] = {
		{ OAUTH_MECH_OAUTHBEARER, xasprintf("n,,\x01" "auth=Bearer %s\x01\x01", t), OAUTH_OK },
		{ OAUTH_MECH_OAUTHBEARER, xasprintf("n,a=" USER ",\x01" "host=h\x01" "auth=Bearer %s\x01\x01", t),
		  OAUTH_OK },
		{ OAUTH_MECH_OAUTHBEARER, xasprintf("n,a=bob,\x01" "auth=Bearer %s\x01\x01", t),
		  OAUTH_USER_MISMATCH },
		{ OAUTH_MECH_OAUTHBEARER, xasprintf("n,,\x01" "auth=Bearer %sA\x01\x01", t), OAUTH_BAD_SIGNATURE },
		{ OAUTH_MECH_OAUTHBEARER, xasprintf("n,,\x01" "auth=Bearer %s\x01", t), OAUTH_MALFORMED },
		{ OAUTH_MECH_XOAUTH2, xasprintf("user=" USER "\x01" "auth=Bearer %s\x01\x01", t), OAUTH_OK },
		{ OAUTH_MECH_XOAUTH2, xasprintf("user=bob\x01" "auth=Bearer %s\x01\x01", t), OAUTH_USER_MISMATCH },
		{ OAUTH_MECH_XOAUTH2, xasprintf("n,,\x01" "auth=Bearer %s\x01\x01", t), OAUTH_MALFORMED },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *user = NULL;
		enum oauth_result r = oauth_check_message(f->o, cases[i].mech, (unsigned char *)cases[i].msg,
							  strlen(cases[i].msg), f->now, &user);
		if (r != cases[i].want)
			fail_msg("case %zu: %s, want %s", i, oauth_result_reason(r),
				 oauth_result_reason(cases[i].want));
		if (r == OAUTH_OK)
			assert_string_equal(user, USER);
		else
			assert_null(user);
		free(user);
		free(cases[i].msg);
	}
	free(t), free(cl);

	char *j = oauth_error_json(f->o, OAUTH_MECH_OAUTHBEARER);
	assert_string_equal(j, "{\"status\":\"invalid_token\"}");
	free(j);
	oauth_free(f->o);
	cfg_set(&f->cfg->oauth_scope, "openid email");
	cfg_set(&f->cfg->oauth_openid_configuration, "https://idp.example.test/.well-known/openid-configuration");
	char *err = NULL;
	f->o = oauth_new(f->cfg, &err);
	assert_non_null(f->o);
	j = oauth_error_json(f->o, OAUTH_MECH_OAUTHBEARER);
	assert_string_equal(j, "{\"status\":\"invalid_token\",\"scope\":\"openid email\",\"openid-configuration\":"
			       "\"https://idp.example.test/.well-known/openid-configuration\"}");
	free(j);
	j = oauth_error_json(f->o, OAUTH_MECH_XOAUTH2);
	assert_string_equal(j, "{\"status\":\"401\",\"schemes\":\"bearer\",\"scope\":\"openid email\"}");
	free(j);

	assert_string_equal(oauth_result_reason(OAUTH_EXPIRED), "expired");
	assert_string_equal(oauth_result_reason(OAUTH_UNKNOWN_KID), "unknown_kid");
	assert_string_equal(oauth_result_reason(OAUTH_BAD_SIGNATURE), "bad_signature");
	assert_string_equal(oauth_result_reason(OAUTH_USER_MISMATCH), "user_mismatch");
}

/* ---- the [oauth] section ---- */

static int load_conf(struct fx *f, const char *oauth_section, char **err)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/rampart.conf", f->dir);
	char *text = xasprintf("[listener imap]\naddress = 127.0.0.1:1143\ntls = none\n[oauth]\n%s",
			       oauth_section);
	write_file(path, text);
	free(text);
	struct config *c = NULL;
	*err = NULL;
	int rc = config_load(path, &c, err);
	if (rc == 0) {
		assert_string_equal(c->oauth_jwks_file, f->jwks);
		config_free(c);
	}
	unlink(path);
	return rc;
}

static void test_config_section(void **state)
{
	struct fx *f = *state;
	char *err;
	assert_int_equal(load_conf(f, "jwks_file = jwks.json\nissuer = " ISS "\naudience = " AUD "\n"
				      "username_claim = sub\nleeway = 600\nalgorithms = ES256\n"
				      "scope = email\nopenid_configuration = https://x/y\n", &err), 0);
	const struct { const char *text, *msg; } bad[] = {
		{ "jwks_file = jwks.json\naudience = " AUD "\n", "issuer is required" },
		{ "jwks_file = jwks.json\nissuer = " ISS "\n", "audience is required" },
		{ "jwks_file = jwks.json\nissuer = i\naudience = a\nusername_claim =\n", "username_claim" },
		{ "jwks_file = missing.json\nissuer = i\naudience = a\n", "cannot read" },
		{ "leeway = 601\n", "out of range" },
		{ "jwks_url = https://x\n", "unknown key" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(load_conf(f, bad[i].text, &err), -1);
		if (!strstr(err, bad[i].msg))
			fail_msg("'%s': error '%s' lacks '%s'", bad[i].text, err, bad[i].msg);
		free(err);
	}
	/* the defaults, and config_print shows the section */
	struct config *c = config_new_defaults(f->dir);
	assert_null(c->oauth_jwks_file);
	assert_string_equal(c->oauth_username_claim, "email");
	assert_string_equal(c->oauth_algorithms, "RS256 ES256");
	assert_int_equal(c->oauth_leeway, 60);
	char *buf = NULL;
	size_t len = 0;
	FILE *mf = open_memstream(&buf, &len);
	config_print(c, mf);
	fclose(mf);
	assert_non_null(strstr(buf, "\n[oauth]\njwks_file =\nissuer =\naudience =\nusername_claim = email\n"
				    "leeway = 60\nalgorithms = RS256 ES256\n"));
	free(buf);
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
		T(test_valid_rs256_es256),
		T(test_time_claims),
		T(test_issuer_audience),
		T(test_signature_and_kid),
		T(test_alg_attacks),
		T(test_username_claim),
		T(test_malformed),
		T(test_oversized),
		T(test_jwks_load),
		T(test_jwks_short_ec_coordinate),
		T(test_reload),
		T(test_reload_concurrent),
		T(test_parse_oauthbearer),
		T(test_parse_xoauth2),
		T(test_check_message_and_error),
		T(test_config_section),
#undef T
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
