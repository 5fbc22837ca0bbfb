/* Small messages inside the index (issue #14 inline): the bytes of a
 * message of at most `[store] inline_max_kb` live in table blob_inline of
 * the user's index.sqlite (migration 23) instead of a file under blobs/,
 * written in the APPEND's own transaction. The commit's one WAL fsync
 * makes message and row durable together, where a file costs its own
 * fsync, its directory's fsync and an inode (docs/durability.md).
 *
 * Rows get increasing rowids, so a new one is added at the right edge of
 * the table's b-tree (one leaf page, rarely its parent) and found by its
 * name through a unique index of small entries: keyed by the name itself,
 * a random position among rows of kilobytes split and rewrote ~5 pages
 * per APPEND (WAL frames counted per table, BENCHMARKS.md). The name
 * stays the message's identity everywhere else (rows, cached strings,
 * search entries, the message cache), so nothing above the backend knows
 * where the bytes are.
 *
 * A row of kilobytes is mostly overflow pages, which SQLite reads with a
 * pread each, straight into the value it hands out. Once a handle read a
 * row of INLINE_MMAP_FROM bytes or more (a FETCH of whole messages, a
 * download), it reads the index through a memory map for the rest of its
 * life in the pool: a copy from the page cache instead of a system call
 * per page, and pages mapped once serve every later command. `loadgen -w
 * download` (10,000 messages of 28 KB on average, 93% of them rows),
 * four rounds of three alternated runs: server CPU per GB 2.28 s mean
 * without, 2.00 with; mapped per command and unmapped when the handle
 * went back to the pool, 2.41 (the faults and munmap each time cost more
 * than the preads they save). Handles that never read such a row (mail
 * of a few KB: the imaptest-like mix) are left as they are. */
#include "store/sqlite/sqlite_internal.h"
#include "store/blob.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Rows from this size on map the index (about four overflow pages); at
 * most SQLITE_INDEX_MMAP_SQL's size is mapped, pread beyond it. */
#define INLINE_MMAP_FROM (16 * 1024)

int sqlite_inline_put(struct sqlite_user *u, const char *hex, const void *data, size_t len)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_INLINE_PUT);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_text(st, 1, hex, 64, SQLITE_STATIC);
	/* Never NULL, also when empty: an empty message is a zero-length blob.
	 * A row of that name already there holds the same bytes (a copy). */
	sqlite3_bind_blob(st, 2, len ? data : "", (int)len, SQLITE_STATIC);
	return sqlite_stmt_run(u, st, "inline_put");
}

int sqlite_inline_get(struct sqlite_user *u, const char *hex, char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	sqlite3_stmt *st = sqlite_stmt(u, STMT_INLINE_GET);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int r = STORE_ENOENT;
	if (rc == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(st, 0);
		int n = sqlite3_column_bytes(st, 0);
		if (n > 0 && !b) {
			r = sqlite_db_error(u, "inline_get");  /* out of memory */
		} else if (n > STORE_BLOB_READ_MAX) {
			/* Never written so (store_inline_set caps the size): a
			 * row changed by hand, which store_blob_unmap() could not
			 * free as a copy. */
			log_err("event=store_blob_error user=%s op=inline_size size=%d", u->username, n);
			r = STORE_EIO;
		} else if (n > 0) {
			/* store_blob_unmap() frees what is at most
			 * STORE_BLOB_READ_MAX: inline rows never exceed it. */
			*data = xmalloc((size_t)n);
			memcpy(*data, b, (size_t)n);
			*len = (size_t)n;
			r = STORE_OK;
		} else {
			*data = (char *)"";
			r = STORE_OK;
		}
	} else if (rc != SQLITE_DONE) {
		r = sqlite_db_error(u, "inline_get");
	}
	sqlite_stmt_done(st);
	/* Only a hint: the rows read the same either way. */
	if (r == STORE_OK && *len >= INLINE_MMAP_FROM && !u->mmap_rows &&
	    sqlite3_exec(u->db, SQLITE_INDEX_MMAP_SQL, NULL, NULL, NULL) == SQLITE_OK)
		u->mmap_rows = true;
	return r;
}

bool sqlite_inline_delete(struct sqlite_user *u, const char *hex)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_INLINE_DELETE);
	if (!st)
		return false;
	sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
	return sqlite_stmt_run(u, st, "inline_delete") == STORE_OK && sqlite3_changes(u->db) == 1;
}

int sqlite_inline_bytes(const struct store_append *m, char **own, const void **bytes)
{
	*own = NULL;
	if (!m->in_file) {
		*bytes = m->data;
		return STORE_OK;
	}
	/* A spooled message (LMTP, a big literal) small enough for the
	 * index: read back from its file, which the page cache still holds. */
	char *buf = xmalloc(m->len ? m->len : 1);
	size_t got = 0;
	while (got < m->len) {
		ssize_t n = pread(m->fd, buf + got, m->len - got, (off_t)(m->off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			log_err("event=store_blob_error op=spool_read errno=%d", n == 0 ? EIO : errno);
			return STORE_EIO;
		}
		got += (size_t)n;
	}
	*own = buf;
	*bytes = buf;
	return STORE_OK;
}

int sqlite_blob_get(struct store_user *base, const char *hex, const char **data, size_t *len)
{
	char *d = NULL;
	int r = sqlite_inline_get(sqlite_user_of(base), hex, &d, len);
	*data = d;
	return r;
}
