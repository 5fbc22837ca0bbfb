/* SCRAM-SHA-256 stored credentials: derivation (RFC 5802 3) and the
 * users-file field. Only salt, iteration count, StoredKey and ServerKey are
 * kept; the password and SaltedPassword are wiped as soon as they are
 * used. The exchange itself lives in the SASL mechanism. */
#include "auth/scram_cred.h"
#include "core/base64.h"
#include "core/util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int scram_cred_derive_salted(const char *password, const unsigned char *salt, size_t salt_len,
			     unsigned iter, struct scram_cred *out)
{
	memset(out, 0, sizeof(*out));
	if (!password || !salt || salt_len == 0 || salt_len > SCRAM_SALT_MAX)
		return -1;
	if (iter == 0)
		iter = SCRAM_ITER_DEFAULT;
	if (iter < SCRAM_ITER_MIN || iter > SCRAM_ITER_MAX)
		return -1;
	unsigned char salted[SCRAM_SHA256_LEN], client_key[SCRAM_SHA256_LEN];
	unsigned int n = 0;
	int rc = -1;
	/* SaltedPassword := Hi(Normalize(password), salt, i); SASLprep is
	 * the identity for the ASCII passwords the CLI accepts, and UTF-8
	 * passwords are used as given (RFC 7677 4 leaves this to the server). */
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, (int)iter,
			      EVP_sha256(), sizeof(salted), salted) != 1)
		goto out;
	if (!HMAC(EVP_sha256(), salted, sizeof(salted), (const unsigned char *)"Client Key", 10,
		  client_key, &n) || n != SCRAM_SHA256_LEN)
		goto out;
	if (!EVP_Digest(client_key, sizeof(client_key), out->stored_key, &n, EVP_sha256(), NULL) ||
	    n != SCRAM_SHA256_LEN)
		goto out;
	if (!HMAC(EVP_sha256(), salted, sizeof(salted), (const unsigned char *)"Server Key", 10,
		  out->server_key, &n) || n != SCRAM_SHA256_LEN)
		goto out;
	memcpy(out->salt, salt, salt_len);
	out->salt_len = salt_len;
	out->iter = iter;
	rc = 0;
out:
	sodium_memzero(salted, sizeof(salted));
	sodium_memzero(client_key, sizeof(client_key));
	if (rc < 0)
		scram_cred_clear(out);
	return rc;
}

int scram_cred_derive(const char *password, unsigned iter, struct scram_cred *out)
{
	unsigned char salt[SCRAM_SALT_LEN];
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return -1;
	return scram_cred_derive_salted(password, salt, sizeof(salt), iter, out);
}

char *scram_cred_format(const struct scram_cred *c)
{
	char salt[BASE64_ENCODED_SIZE(SCRAM_SALT_MAX)];
	char sk[BASE64_ENCODED_SIZE(SCRAM_SHA256_LEN)], vk[BASE64_ENCODED_SIZE(SCRAM_SHA256_LEN)];
	base64_encode(c->salt, c->salt_len, salt);
	base64_encode(c->stored_key, SCRAM_SHA256_LEN, sk);
	base64_encode(c->server_key, SCRAM_SHA256_LEN, vk);
	return xasprintf("%u,%s,%s,%s", c->iter, salt, sk, vk);
}

/* One base64 part of the field into out[0..want) (want 0: any length up
 * to cap). Returns the decoded length or -1. */
static long scram_cred_part(const char *s, size_t len, unsigned char *out, size_t cap, size_t want)
{
	if (len == 0 || len % 4 || len / 4 * 3 > cap + 2)
		return -1;
	unsigned char buf[BASE64_ENCODED_SIZE(SCRAM_SALT_MAX) + 4];
	if (len / 4 * 3 > sizeof(buf))
		return -1;
	long n = base64_decode_strict(s, len, buf);
	if (n <= 0 || (size_t)n > cap || (want && (size_t)n != want))
		return -1;
	memcpy(out, buf, (size_t)n);
	return n;
}

int scram_cred_parse(const char *field, struct scram_cred *out)
{
	memset(out, 0, sizeof(*out));
	if (!field)
		return -1;
	const char *p[4];
	size_t len[4];
	const char *s = field;
	for (int i = 0; i < 4; i++) {
		const char *comma = strchr(s, ',');
		if ((i < 3) != (comma != NULL))
			return -1;
		p[i] = s;
		len[i] = comma ? (size_t)(comma - s) : strlen(s);
		s = comma ? comma + 1 : s + len[i];
	}
	char num[16];
	if (len[0] == 0 || len[0] >= sizeof(num))
		return -1;
	memcpy(num, p[0], len[0]);
	num[len[0]] = '\0';
	char *end;
	unsigned long iter = strtoul(num, &end, 10);
	if (*end || num[0] < '0' || num[0] > '9' || iter < SCRAM_ITER_MIN || iter > SCRAM_ITER_MAX)
		return -1;
	out->iter = (unsigned)iter;
	long n = scram_cred_part(p[1], len[1], out->salt, SCRAM_SALT_MAX, 0);
	if (n < 0 ||
	    scram_cred_part(p[2], len[2], out->stored_key, SCRAM_SHA256_LEN, SCRAM_SHA256_LEN) < 0 ||
	    scram_cred_part(p[3], len[3], out->server_key, SCRAM_SHA256_LEN, SCRAM_SHA256_LEN) < 0) {
		scram_cred_clear(out);
		return -1;
	}
	out->salt_len = (size_t)n;
	return 0;
}

void scram_cred_clear(struct scram_cred *c)
{
	sodium_memzero(c, sizeof(*c));
}
