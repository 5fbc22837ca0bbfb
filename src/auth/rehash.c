/* The hash upgrade itself (auth/rehash.h), the same code in the privileged
 * helper and in an unprivileged server: verify the password against the
 * entry as it is in the file now, compute the new hash and SCRAM keys
 * outside any lock (two argon2id runs and a PBKDF2 take a fraction of a
 * second, which `rampart user` should not wait for), then rewrite under
 * the users file's lock only if the entry is still the one verified. A
 * `rampart user passwd` that ran in between wins; the upgrade is dropped.
 *
 * Also the two small messages between server and helper
 * (auth/rehash_internal.h), kept here beside the code they carry. */
#include "auth/rehash.h"
#include "auth/rehash_internal.h"
#include "auth/passdb.h"
#include "auth/passdb_internal.h"
#include "auth/scram_cred.h"
#include "core/util.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const rehash_status_names[] = {
	[REHASH_UPGRADED] = "upgraded", [REHASH_CURRENT] = "current",
	[REHASH_MISMATCH] = "mismatch", [REHASH_CHANGED] = "changed",
	[REHASH_ERROR] = "error",
};

const char *rehash_status_name(enum rehash_status st)
{
	return (unsigned)st < ARRAY_SIZE(rehash_status_names) ? rehash_status_names[st] : "error";
}

/* The new SCRAM-SHA-256 field for password; NULL on failure. */
static char *rehash_scram_field(const char *password)
{
	struct scram_cred sc;
	char *field = NULL;
	if (scram_cred_derive(password, 0, &sc) == 0)
		field = scram_cred_format(&sc);
	scram_cred_clear(&sc);
	return field;
}

static void rehash_free_secret(char *s)
{
	if (s) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

/* Writes hash (NULL: keep) and fresh SCRAM keys if the user's hash is
 * still `verified`. */
static void rehash_write(const char *users_file, const char *user, const char *verified,
			 const char *password, bool need_hash, struct rehash_result *out)
{
	char *hash = need_hash ? password_hash(password) : NULL;
	/* Fresh keys with every upgrade: the ones there may predate a
	 * password change made by another tool; these are from the
	 * password that just verified. */
	char *scram = rehash_scram_field(password);
	if ((need_hash && !hash) || !scram) {
		out->errno_ = ENOMEM;
		goto out;
	}
	struct passdb_field f = { SCRAM_SHA256_FIELD, scram };
	int r = passdb_file_update_if(users_file, user, verified, hash, &f, 1);
	if (r == 0) {
		out->status = REHASH_UPGRADED;
		out->hashed = need_hash;
		out->scram_added = true;
	} else if (r == -2 || r == -3) {
		out->status = REHASH_CHANGED;
	} else {
		out->errno_ = errno;
	}
out:
	rehash_free_secret(hash);
	rehash_free_secret(scram);
}

void rehash_user(const char *users_file, const char *user, const char *password,
		 struct rehash_result *out)
{
	memset(out, 0, sizeof(*out));
	out->status = REHASH_ERROR;
	char *buf;
	size_t len;
	if (passdb_file_read(users_file, &buf, &len, NULL) < 0) {
		out->errno_ = errno;
		return;
	}
	struct passdb_user u;
	bool found = passdb_file_entry(buf, len, user, &u);
	sodium_memzero(buf, len);
	free(buf);
	if (!found) {
		out->status = REHASH_CHANGED;
		return;
	}
	snprintf(out->from, sizeof(out->from), "%s", password_scheme_name(u.hash));
	/* Never trust the caller: only the right password for the entry as
	 * it is now may touch it. */
	if (!password_verify(u.hash, password))
		out->status = REHASH_MISMATCH;
	else if (!passdb_entry_needs_upgrade(u.hash, u.fields))
		out->status = REHASH_CURRENT;
	else
		rehash_write(users_file, user, u.hash, password, password_needs_upgrade(u.hash), out);
	passdb_user_clear(&u);
}

/* ---- messages ---- */

size_t rehash_msg_encode(char *buf, size_t cap, const char *user, const char *password)
{
	size_t ul = strlen(user), pl = strlen(password);
	if (!passdb_username_valid(user) || pl == 0 || pl > REHASH_PASSWORD_MAX ||
	    ul + 1 + pl > cap || ul + 1 + pl > REHASH_MSG_MAX)
		return 0;
	memcpy(buf, user, ul);
	buf[ul] = '\0';
	memcpy(buf + ul + 1, password, pl);
	return ul + 1 + pl;
}

int rehash_msg_decode(char *buf, size_t len, const char **user, const char **password)
{
	if (len == 0 || len > REHASH_MSG_MAX)
		return -1;
	buf[len] = '\0';
	size_t ul = strnlen(buf, len);
	if (ul == len)
		return -1; /* no separator */
	const char *pw = buf + ul + 1;
	size_t pl = len - ul - 1;
	/* One NUL only: the password is the rest, NUL-free. */
	if (pl == 0 || pl > REHASH_PASSWORD_MAX || memchr(pw, '\0', pl) ||
	    !passdb_username_valid(buf))
		return -1;
	*user = buf;
	*password = pw;
	return 0;
}

size_t rehash_reply_encode(const struct rehash_result *r, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s %s %d %d %d", rehash_status_name(r->status),
			 r->from[0] ? r->from : "-", r->hashed, r->scram_added, r->errno_);
	return n < 0 ? 0 : MIN((size_t)n, cap - 1);
}

int rehash_reply_decode(const char *buf, size_t len, struct rehash_result *out)
{
	memset(out, 0, sizeof(*out));
	char line[128], st[16], from[sizeof(out->from)];
	int hashed, scram, err;
	if (len == 0 || len >= sizeof(line))
		return -1;
	memcpy(line, buf, len);
	line[len] = '\0';
	if (sscanf(line, "%15s %23s %d %d %d", st, from, &hashed, &scram, &err) != 5)
		return -1;
	size_t i;
	for (i = 0; i < ARRAY_SIZE(rehash_status_names); i++)
		if (strcmp(st, rehash_status_names[i]) == 0)
			break;
	if (i == ARRAY_SIZE(rehash_status_names))
		return -1;
	out->status = (enum rehash_status)i;
	if (strcmp(from, "-") != 0)
		snprintf(out->from, sizeof(out->from), "%s", from);
	out->hashed = hashed != 0;
	out->scram_added = scram != 0;
	out->errno_ = err;
	return 0;
}
