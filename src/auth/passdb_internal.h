/* What the files of auth/ share and nobody else sees: reading a bounded
 * credentials file, telling one version of it from another, and the
 * locked read-modify-write with an atomic replace that every CLI edit of
 * the users file and the app-passwords file goes through. */
#ifndef RAMPART_AUTH_PASSDB_INTERNAL_H
#define RAMPART_AUTH_PASSDB_INTERNAL_H

#include "core/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

/* What identifies one version of a file: a rename gives a new inode, an
 * in-place edit a new mtime/ctime or size. */
struct passdb_stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
	struct timespec ctim;
};

void passdb_stamp_of(const struct stat *st, struct passdb_stamp *out);
bool passdb_stamp_eq(const struct passdb_stamp *a, const struct passdb_stamp *b);

/* Reads a whole regular file of at most 256 MiB (NUL-terminated, caller
 * wipes and frees). 0, or -1 with errno. */
int passdb_file_read(const char *path, char **buf, size_t *len, struct stat *st);

/* The edit of a rewrite: buf/len is the current content (empty when the
 * file does not exist yet); the callback appends the new content to out.
 * It returns 0 to write out, or a negative code returned as is without
 * writing (-1 must come with errno). */
typedef int (*passdb_rewrite_fn)(void *arg, const char *buf, size_t len, bool exists,
				 struct strbuf *out);

/* Read-modify-write of path under an exclusive lock on its directory (the
 * file itself is replaced, so locking it would not exclude a concurrent
 * editor), written through a temporary file, fsync and rename: a crash
 * leaves the old or the new file, never a torn one. Mode 0640, owner and
 * group kept where we may set them. */
int passdb_file_rewrite(const char *path, passdb_rewrite_fn edit, void *arg);

struct passdb_user;
struct passdb_field;
/* The first line of user in a users file's content (as the server reads
 * it: first line wins); false when there is none. Clear with
 * passdb_user_clear. */
bool passdb_file_entry(const char *buf, size_t len, const char *user, struct passdb_user *out);
/* passdb_file_update for an existing user whose hash must still be
 * `expect` under the lock: -3 (nothing written) when it changed since
 * the caller read it, -2 when the user is gone. hash NULL keeps it. */
int passdb_file_update_if(const char *path, const char *user, const char *expect,
			  const char *hash, const struct passdb_field *fields, size_t n);

/* Work done by passdb_authenticate since start, for tests that prove the
 * check is timing-neutral by counting what it computes. */
struct passdb_work {
	unsigned long slow;     /* password hashes (argon2id, crypt, dummy) */
	unsigned long keyed;    /* app-password keyed hashes */
};
void passdb_work_get(struct passdb_work *out);

#endif
