/* libFuzzer harness for OAuth bearer tokens (auth/oauth*.c): the
 * OAUTHBEARER and XOAUTH2 client messages, raw tokens, and tokens whose
 * header and claims come from the input but carry a real ES256 signature
 * (made here with a key generated at start-up), so the claim checks behind
 * the signature are reached too.
 *
 * Input layout: byte 0 selects the mode (mod 4):
 *   0  OAUTHBEARER message, through oauth_parse_oauthbearer and
 *      oauth_check_message;
 *   1  XOAUTH2 message, likewise;
 *   2  a raw token for oauth_validate;
 *   3  header JSON, a 0x00 byte, claims JSON: signed, then validated.
 * What is checked, beyond "no crash, no leak, no UB":
 *  - a parsed message gives a non-empty token of RFC 6750 b64token
 *    characters, an authzid / user without control bytes;
 *  - a failed parse returns NULLs; the dummy "\x01" never parses;
 *  - a validation gives a user exactly when it says OAUTH_OK, and that
 *    user is a valid username; oauth_result_reason() knows the result;
 *  - in mode 3, a header whose alg is not ES256 never validates. */
#include <jansson.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/oauth.h"
#include "auth/passdb.h"
#include "core/base64.h"
#include "core/config.h"
#include "core/util.h"
#include "fuzz_common.h"
#include "../unit/oauth_mint.h"

static struct oauth *oauth;
static EVP_PKEY *key;
static const time_t fuzz_now = 1800000000;

/* One EC key, its JWKS in a temporary file (removed at once: the keys
 * are in memory), and the validator. */
static void fuzz_init(void)
{
	key = EVP_EC_gen("P-256");
	CHECK(key);
	char dir[] = "/tmp/rampart-fuzz-oauth-XXXXXX";
	CHECK(mkdtemp(dir));
	char *path = xasprintf("%s/jwks.json", dir);
	char *x = mint_bn_b64url(key, OSSL_PKEY_PARAM_EC_PUB_X, 32);
	char *y = mint_bn_b64url(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
	FILE *f = fopen(path, "w");
	CHECK(f);
	fprintf(f, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"k\",\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
	CHECK(fclose(f) == 0);
	struct config *c = config_new_defaults(dir);
	c->oauth_jwks_file = path;
	c->oauth_issuer = xstrdup("i");
	c->oauth_audience = xstrdup("a");
	free(c->oauth_username_claim);
	c->oauth_username_claim = xstrdup("u");
	char *err = NULL;
	oauth = oauth_new(c, &err);
	CHECK(oauth);
	unlink(path);
	rmdir(dir);
	config_free(c);
	free(x);
	free(y);
}

static void check_result(enum oauth_result r, char *user)
{
	CHECK(strcmp(oauth_result_reason(r), "?") != 0);
	CHECK((r == OAUTH_OK) == (user != NULL));
	if (user)
		CHECK(passdb_username_valid(user));
	free(user);
}

static void check_clean(const char *s, bool spaces_ok)
{
	for (; *s; s++)
		CHECK((unsigned char)*s >= 0x20 && *s != 0x7f && (spaces_ok || *s != ' '));
}

static void check_token(const char *t)
{
	size_t n = strlen(t);
	CHECK(n > 0);
	size_t body = strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/");
	CHECK(body > 0 && strspn(t + body, "=") == n - body);
}

static void fuzz_message(enum oauth_mech mech, const uint8_t *m, size_t len)
{
	char *who = NULL, *tok = NULL;
	int rc = mech == OAUTH_MECH_XOAUTH2 ? oauth_parse_xoauth2(m, len, &who, &tok)
					    : oauth_parse_oauthbearer(m, len, &who, &tok);
	if (rc == 0) {
		CHECK(!oauth_is_dummy_response(m, len));
		check_token(tok);
		if (mech == OAUTH_MECH_XOAUTH2)
			CHECK(who && *who);
		if (who)
			check_clean(who, mech == OAUTH_MECH_OAUTHBEARER);
	} else {
		CHECK(rc == -1 && !who && !tok);
	}
	free(who);
	oauth_secret_free(tok);
	char *user = NULL;
	check_result(oauth_check_message(oauth, mech, m, len, fuzz_now, &user), user);
}

static void fuzz_signed(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	if (!nul)
		return;
	size_t hl = (size_t)(nul - data);
	char *h = mint_b64url(data, hl), *c = mint_b64url(nul + 1, size - hl - 1);
	char *input = xasprintf("%s.%s", h, c);
	char *sig = mint_sign(key, input);
	char *tok = xasprintf("%s.%s", input, sig);
	char *user = NULL;
	enum oauth_result r = oauth_validate(oauth, tok, strlen(tok), fuzz_now, &user);
	if (r == OAUTH_OK) {
		json_t *hdr = json_loadb((const char *)data, hl, 0, NULL);
		CHECK(hdr && strcmp(json_string_value(json_object_get(hdr, "alg")), "ES256") == 0);
		json_decref(hdr);
	}
	check_result(r, user);
	free(h), free(c), free(input), free(sig), free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!oauth)
		fuzz_init();
	if (size < 1)
		return 0;
	const uint8_t *d = data + 1;
	size_t n = size - 1;
	switch (data[0] % 4) {
	case 0:
		fuzz_message(OAUTH_MECH_OAUTHBEARER, d, n);
		break;
	case 1:
		fuzz_message(OAUTH_MECH_XOAUTH2, d, n);
		break;
	case 2: {
		char *user = NULL;
		check_result(oauth_validate(oauth, (const char *)d, n, fuzz_now, &user), user);
		break;
	}
	default:
		fuzz_signed(d, n);
	}
	return 0;
}
