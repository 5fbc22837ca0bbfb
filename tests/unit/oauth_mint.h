/* Test-side JWT minting shared by tests/unit/test_oauth.c and
 * tests/fuzz/fuzz_oauth.c: base64url and JWS signatures (RS256: PKCS#1
 * v1.5; ES256: R || S, RFC 7518 3.4) made with OpenSSL from keys the
 * tests generate. Never part of the server: it only verifies. */
#ifndef RAMPART_TESTS_OAUTH_MINT_H
#define RAMPART_TESTS_OAUTH_MINT_H

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/util.h"

#define MINT_CHECK(c)                                                                  \
	do {                                                                           \
		if (!(c)) {                                                            \
			fprintf(stderr, "mint: %s failed (%s:%d)\n", #c, __FILE__, __LINE__); \
			abort();                                                       \
		}                                                                      \
	} while (0)

/* Base64url without padding, malloc'd. */
static inline char *mint_b64url(const unsigned char *in, size_t len)
{
	char *out = xmalloc(BASE64_ENCODED_SIZE(len));
	base64_encode(in, len, out);
	char *w = out;
	for (char *r = out; *r && *r != '='; r++)
		*w++ = *r == '+' ? '-' : *r == '/' ? '_' : *r;
	*w = '\0';
	return out;
}

/* A key parameter (OSSL_PKEY_PARAM_RSA_N, ..._EC_PUB_X) as base64url,
 * left-padded to pad bytes (0: its own length): a JWK member. */
static inline char *mint_bn_b64url(EVP_PKEY *k, const char *name, int pad)
{
	BIGNUM *bn = NULL;
	MINT_CHECK(EVP_PKEY_get_bn_param(k, name, &bn) == 1);
	int n = pad ? pad : BN_num_bytes(bn);
	unsigned char *buf = xmalloc((size_t)n);
	MINT_CHECK(BN_bn2binpad(bn, buf, n) == n);
	char *s = mint_b64url(buf, (size_t)n);
	free(buf);
	BN_free(bn);
	return s;
}

/* The base64url JWS signature of input with k (RSA: RS256, EC: ES256). */
static inline char *mint_sign(EVP_PKEY *k, const char *input)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t len = 0, ilen = strlen(input);
	MINT_CHECK(EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, k, NULL) == 1);
	MINT_CHECK(EVP_DigestSign(md, NULL, &len, (const unsigned char *)input, ilen) == 1);
	unsigned char *sig = xmalloc(len);
	MINT_CHECK(EVP_DigestSign(md, sig, &len, (const unsigned char *)input, ilen) == 1);
	EVP_MD_CTX_free(md);
	char *out;
	if (EVP_PKEY_is_a(k, "EC")) {
		const unsigned char *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
		MINT_CHECK(es);
		unsigned char rs[64];
		MINT_CHECK(BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32) == 32);
		MINT_CHECK(BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32) == 32);
		ECDSA_SIG_free(es);
		out = mint_b64url(rs, 64);
	} else {
		out = mint_b64url(sig, len);
	}
	free(sig);
	return out;
}

#endif
