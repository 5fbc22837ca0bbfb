/* Stored SCRAM-SHA-256 credentials (RFC 5802 3, RFC 7677): what the users
 * file keeps instead of anything password-equivalent. Computed at `rampart
 * user add/passwd`; the SASL mechanism (auth/sasl_scram*.c) reads them.
 * Field format, as Dovecot's {SCRAM-SHA-256} scheme writes it:
 *   ITERATIONS,base64(salt),base64(StoredKey),base64(ServerKey) */
#ifndef RAMPART_AUTH_SCRAM_CRED_H
#define RAMPART_AUTH_SCRAM_CRED_H

#include <stddef.h>

#define SCRAM_SHA256_LEN 32
#define SCRAM_SALT_LEN 16         /* what we generate */
#define SCRAM_SALT_MAX 64         /* what we accept from a file */
#define SCRAM_ITER_DEFAULT 10000  /* RFC 7677 4: at least 4096 */
#define SCRAM_ITER_MIN 4096
#define SCRAM_ITER_MAX 1000000

/* The users-file key of the field. */
#define SCRAM_SHA256_FIELD "scram-sha-256"

struct scram_cred {
	unsigned iter;
	unsigned char salt[SCRAM_SALT_MAX];
	size_t salt_len;
	unsigned char stored_key[SCRAM_SHA256_LEN];
	unsigned char server_key[SCRAM_SHA256_LEN];
};

/* Derives credentials from a password with a fresh random salt and iter
 * iterations (0: SCRAM_ITER_DEFAULT). 0 or -1. */
int scram_cred_derive(const char *password, unsigned iter, struct scram_cred *out);
/* The same with a given salt (tests, and the fake credentials of unknown
 * users). */
int scram_cred_derive_salted(const char *password, const unsigned char *salt, size_t salt_len,
			     unsigned iter, struct scram_cred *out);
/* The field value; caller frees. */
char *scram_cred_format(const struct scram_cred *c);
/* Parses a field value; 0 or -1 (malformed, iterations out of range). */
int scram_cred_parse(const char *field, struct scram_cred *out);
/* Wipes. */
void scram_cred_clear(struct scram_cred *c);

#endif
