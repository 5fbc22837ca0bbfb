/* The preview text of messages (RFC 8970) in the SQLite backend: a column
 * of message_cache (migration 4), so it is one per blob like the other
 * strings made from the message at delivery, shared by COPY and dropped
 * with the blob. NULL means "not made yet"; "" is a made, empty preview. */
#include "store/sqlite/sqlite_internal.h"

#include <stdlib.h>

#include "core/util.h"

/* Stores blob's preview inside the caller's write transaction (kept when
 * it has one). An APPEND writes its preview with the cached strings
 * (CACHE_UPSERT, message.c); this is the background fill's. */
static int preview_put_one(struct sqlite_user *u, const char *blob, const char *preview)
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
	char **const outs[1] = { preview };
	return sqlite_msg_texts(sqlite_user_of(base), STMT_PREVIEW_GET, "msg_preview", mailbox_id,
				uid, outs, 1);
}

int sqlite_preview_pending(struct store_user *base, int64_t *mailbox_id, uint32_t *uid,
			   size_t max, char (**blobs)[65], size_t *n)
{
	return sqlite_pending_blobs(sqlite_user_of(base), STMT_PREVIEW_PENDING, "preview_pending",
				    mailbox_id, uid, max, blobs, n);
}

static int preview_put_at(struct sqlite_user *u, const char *blob, size_t i, void *arg)
{
	return preview_put_one(u, blob, ((char *const *)arg)[i]);
}

int sqlite_preview_put(struct store_user *base, char (*blobs)[65], char *const *previews,
		       size_t n)
{
	const struct sqlite_put_ops ops = { .what = "preview_put",
					    .put_one = preview_put_at,
					    .arg = (void *)previews };
	return sqlite_put_per_blob(sqlite_user_of(base), blobs, n, &ops);
}
