/* The preview text of messages (RFC 8970) in the SQLite backend: a column
 * of message_cache (migration 4), so it is one per blob like the other
 * strings made from the message at delivery, shared by COPY and dropped
 * with the blob. NULL means "not made yet"; "" is a made, empty preview. */
#include "store/sqlite/sqlite_internal.h"

#include <stdlib.h>

#include "core/util.h"

int sqlite_preview_put_one(struct sqlite_user *u, const char *blob, const char *preview)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_PREVIEW_PUT);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, preview, -1, SQLITE_STATIC);
	return sqlite_stmt_run(u, st, "preview_put");
}

int sqlite_msg_preview(struct store_user *base, int64_t mailbox_id, uint32_t uid, char **preview)
{
	struct sqlite_user *u = sqlite_user_of(base);
	sqlite3_stmt *st = sqlite_stmt(u, STMT_PREVIEW_GET);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	int rc = sqlite3_step(st);
	int r = STORE_OK;
	if (rc == SQLITE_ROW) {
		const unsigned char *p = sqlite3_column_text(st, 0);
		if (p)
			*preview = xstrdup((const char *)p);
	} else if (rc == SQLITE_DONE) {
		r = STORE_ENOENT;
	} else {
		r = sqlite_db_error(u, "msg_preview");
	}
	sqlite_stmt_done(st);
	return r;
}

int sqlite_preview_pending(struct store_user *base, int64_t *mailbox_id, uint32_t *uid,
			   size_t max, char (**blobs)[65], size_t *n)
{
	return sqlite_pending_blobs(sqlite_user_of(base), STMT_PREVIEW_PENDING, "preview_pending",
				    mailbox_id, uid, max, blobs, n);
}

int sqlite_preview_put(struct store_user *base, char (*blobs)[65], char *const *previews,
		       size_t n)
{
	struct sqlite_user *u = sqlite_user_of(base);
	int r = sqlite_tx_write(u);
	if (r != STORE_OK)
		return r;
	for (size_t i = 0; i < n && r == STORE_OK; i++) {
		/* Expunged (and collected) since it was read: its cache row
		 * would outlive the blob. */
		sqlite3_stmt *st = sqlite_stmt(u, STMT_BLOB_REFERENCED);
		if (!st) {
			r = STORE_EIO;
			break;
		}
		sqlite3_bind_text(st, 1, blobs[i], -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		sqlite_stmt_done(st);
		if (rc == SQLITE_DONE)
			continue;
		if (rc != SQLITE_ROW)
			r = sqlite_db_error(u, "preview_put");
		else
			r = sqlite_preview_put_one(u, blobs[i], previews[i]);
	}
	if (r != STORE_OK) {
		sqlite_tx_rollback(u);
		return r;
	}
	return sqlite_tx_commit(u);
}
