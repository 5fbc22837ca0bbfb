/* Password hashes: "{SCHEME}encoded" strings as found in Dovecot-style
 * passwd files.
 *
 * New passwords get argon2id from libsodium (crypto_pwhash_str, whose
 * output is the PHC string "$argon2id$v=19$m=...,t=...,p=...$salt$hash"
 * that Dovecot also writes after {ARGON2ID}). The crypt(3) schemes exist
 * only so that users migrated from another server can log in; they go
 * through libcrypt's crypt_r with its thread-safe state. {SSHA512},
 * {SSHA256} and {SSHA} (base64 of digest(password + salt) + salt, as
 * OpenLDAP and Dovecot write them) are one digest each: cheap enough to
 * keep for migrations, and what `rampart user list --legacy` flags first. */
#include "auth/passdb.h"
#include "core/base64.h"
#include "core/util.h"

#include <crypt.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longer passwords are refused before hashing: SHA-crypt's cost grows
 * with the password length, so an unbounded password is a CPU lever. The
 * CLI and SASL PLAIN use the same bound. */
#define PASSWORD_MAX 1024
/* "{SHA512-CRYPT}" is the longest scheme name we know. */
#define PASSWORD_SCHEME_MAX 32

enum password_scheme {
	SCHEME_UNKNOWN,
	SCHEME_ARGON2ID,
	SCHEME_ARGON2I,
	SCHEME_SHA512_CRYPT,
	SCHEME_SHA256_CRYPT,
	SCHEME_BLF_CRYPT,
	SCHEME_SSHA512,
	SCHEME_SSHA256,
	SCHEME_SSHA,
};

/* The salted-digest schemes accept salts up to this length. */
#define PASSWORD_SSHA_SALT_MAX 64

static pthread_once_t password_sodium_once = PTHREAD_ONCE_INIT;
static bool password_sodium_ok;

static void password_sodium_init(void)
{
	password_sodium_ok = sodium_init() >= 0;
}

static bool password_sodium_ready(void)
{
	pthread_once(&password_sodium_once, password_sodium_init);
	return password_sodium_ok;
}

/* Splits "{SCHEME}rest"; scheme names are case-insensitive as in Dovecot.
 * {PLAIN} and friends map to SCHEME_UNKNOWN: cleartext is never accepted. */
static enum password_scheme password_scheme_split(const char *stored, const char **rest)
{
	static const struct {
		const char *name;
		enum password_scheme scheme;
	} schemes[] = {
		{ "ARGON2ID", SCHEME_ARGON2ID },         { "ARGON2I", SCHEME_ARGON2I },
		{ "SHA512-CRYPT", SCHEME_SHA512_CRYPT }, { "SHA256-CRYPT", SCHEME_SHA256_CRYPT },
		{ "BLF-CRYPT", SCHEME_BLF_CRYPT },       { "SSHA512", SCHEME_SSHA512 },
		{ "SSHA256", SCHEME_SSHA256 },           { "SSHA", SCHEME_SSHA },
	};
	if (!stored || stored[0] != '{')
		return SCHEME_UNKNOWN;
	const char *end = memchr(stored + 1, '}', strnlen(stored + 1, PASSWORD_SCHEME_MAX));
	if (!end)
		return SCHEME_UNKNOWN;
	size_t nlen = (size_t)(end - stored - 1);
	for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
		if (ascii_ieqn(stored + 1, nlen, schemes[i].name)) {
			*rest = end + 1;
			return schemes[i].scheme;
		}
	}
	return SCHEME_UNKNOWN;
}

static bool password_argon2_verify(const char *encoded, const char *prefix, const char *password,
				   size_t plen)
{
	/* The encoded string must name the algorithm its scheme promises, so
	 * an {ARGON2ID} entry cannot silently be a weaker argon2i hash. */
	if (strncmp(encoded, prefix, strlen(prefix)) != 0)
		return false;
	size_t elen = strlen(encoded);
	if (elen >= crypto_pwhash_STRBYTES)
		return false;
	/* libsodium reads its argument as a crypto_pwhash_STRBYTES array. */
	char buf[crypto_pwhash_STRBYTES] = { 0 };
	memcpy(buf, encoded, elen);
	return crypto_pwhash_str_verify(buf, password, plen) == 0;
}

static bool password_crypt_verify(const char *encoded, const char *password)
{
	/* struct crypt_data is about 32 KiB: too big for a worker's stack. */
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *out = crypt_r(password, encoded, cd);
	bool ok = false;
	/* libcrypt signals failure with NULL or a string starting with '*'. */
	if (out && out[0] != '*') {
		size_t olen = strlen(out), elen = strlen(encoded);
		ok = olen == elen && sodium_memcmp(out, encoded, olen) == 0;
	}
	sodium_memzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/* {SSHA*}: base64(digest(password || salt) || salt). */
static bool password_ssha_verify(const char *encoded, const EVP_MD *md, const char *password,
				 size_t plen)
{
	size_t dlen = (size_t)EVP_MD_get_size(md);
	size_t elen = strlen(encoded);
	unsigned char raw[EVP_MAX_MD_SIZE + PASSWORD_SSHA_SALT_MAX + 3];
	if (elen > BASE64_ENCODED_SIZE(EVP_MAX_MD_SIZE + PASSWORD_SSHA_SALT_MAX))
		return false;
	long rlen = base64_decode_strict(encoded, elen, raw);
	if (rlen <= (long)dlen)
		return false;
	size_t slen = (size_t)rlen - dlen;
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned int outl = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
		  EVP_DigestUpdate(ctx, password, plen) == 1 &&
		  EVP_DigestUpdate(ctx, raw + dlen, slen) == 1 &&
		  EVP_DigestFinal_ex(ctx, dig, &outl) == 1 && outl == dlen &&
		  sodium_memcmp(dig, raw, dlen) == 0;
	EVP_MD_CTX_free(ctx);
	sodium_memzero(dig, sizeof(dig));
	sodium_memzero(raw, sizeof(raw));
	return ok;
}

bool password_scheme_known(const char *stored)
{
	const char *rest;
	return password_scheme_split(stored, &rest) != SCHEME_UNKNOWN;
}

bool password_scheme_legacy(const char *stored)
{
	const char *rest;
	enum password_scheme s = password_scheme_split(stored, &rest);
	return s != SCHEME_UNKNOWN && s != SCHEME_ARGON2ID;
}

const char *password_scheme_name(const char *stored)
{
	static const char *const names[] = {
		[SCHEME_UNKNOWN] = "UNKNOWN",		[SCHEME_ARGON2ID] = "ARGON2ID",
		[SCHEME_ARGON2I] = "ARGON2I",		[SCHEME_SHA512_CRYPT] = "SHA512-CRYPT",
		[SCHEME_SHA256_CRYPT] = "SHA256-CRYPT", [SCHEME_BLF_CRYPT] = "BLF-CRYPT",
		[SCHEME_SSHA512] = "SSHA512",		[SCHEME_SSHA256] = "SSHA256",
		[SCHEME_SSHA] = "SSHA",
	};
	const char *rest;
	return names[password_scheme_split(stored, &rest)];
}

bool password_needs_upgrade(const char *stored)
{
	const char *rest = NULL;
	enum password_scheme s = password_scheme_split(stored, &rest);
	if (s == SCHEME_UNKNOWN)
		return false;
	if (s != SCHEME_ARGON2ID)
		return true;
	/* An {ARGON2ID} hash made with less memory or fewer passes than
	 * password_hash uses now is upgraded; one that costs more (Dovecot
	 * writes t=3) is left alone: re-hashing it would be a downgrade,
	 * which crypto_pwhash_str_needs_rehash (any difference) would do. */
	unsigned v, m, t, p;
	int end = 0;
	if (sscanf(rest, "$argon2id$v=%u$m=%u,t=%u,p=%u$%n", &v, &m, &t, &p, &end) != 4 || !end)
		return false;
	return (uint64_t)m * 1024 < crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE ||
	       t < crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
}

char *password_hash(const char *password)
{
	if (!password || !password_sodium_ready())
		return NULL;
	size_t plen = strnlen(password, PASSWORD_MAX + 1);
	if (plen == 0 || plen > PASSWORD_MAX)
		return NULL;
	char out[crypto_pwhash_STRBYTES];
	if (crypto_pwhash_str_alg(out, password, plen, crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
				  crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE,
				  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return NULL;
	return xasprintf("{ARGON2ID}%s", out);
}

bool password_verify(const char *stored, const char *password)
{
	if (!stored || !password || !password_sodium_ready())
		return false;
	size_t plen = strnlen(password, PASSWORD_MAX + 1);
	if (plen == 0 || plen > PASSWORD_MAX)
		return false;
	const char *rest = NULL;
	switch (password_scheme_split(stored, &rest)) {
	case SCHEME_ARGON2ID:
		return password_argon2_verify(rest, "$argon2id$", password, plen);
	case SCHEME_ARGON2I:
		return password_argon2_verify(rest, "$argon2i$", password, plen);
	case SCHEME_SHA512_CRYPT:
		return strncmp(rest, "$6$", 3) == 0 && password_crypt_verify(rest, password);
	case SCHEME_SHA256_CRYPT:
		return strncmp(rest, "$5$", 3) == 0 && password_crypt_verify(rest, password);
	case SCHEME_BLF_CRYPT:
		/* $2x$ is bcrypt's compatibility mode for a historical bug;
		 * nothing current writes it. */
		return (strncmp(rest, "$2a$", 4) == 0 || strncmp(rest, "$2b$", 4) == 0 ||
			strncmp(rest, "$2y$", 4) == 0) &&
		       password_crypt_verify(rest, password);
	case SCHEME_SSHA512:
		return password_ssha_verify(rest, EVP_sha512(), password, plen);
	case SCHEME_SSHA256:
		return password_ssha_verify(rest, EVP_sha256(), password, plen);
	case SCHEME_SSHA:
		return password_ssha_verify(rest, EVP_sha1(), password, plen);
	case SCHEME_UNKNOWN:
		break;
	}
	return false;
}
