/* The SQLite backend's metadata (RFC 5464; issue #12 metadata).
 *
 * One table of the user's index (migration 8 in db.c): (mailbox id, name)
 * -> value, mailbox id 0 for the server's entries, so RENAME keeps a
 * mailbox's entries and a trigger drops them with the mailbox. Names are
 * lowercased by the front, so a tree is one range of the primary key:
 * every name under "/a/b" sorts between "/a/b/" and "/a/b0". The limits
 * on entries and bytes are counted inside the write transaction, before
 * and after the change, so a change is refused only when it grows a
 * count that ends above its limit. */
#include "store/sqlite/sqlite_internal.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* The mailbox's id (0 for the server), inside the caller's transaction. */
static int meta_mailbox_id(struct sqlite_user *u, const char *mailbox, int64_t *id)
{
	*id = 0;
	if (!mailbox)
		return STORE_OK;
	struct store_mbox_row row;
	int r = sqlite_mbox_by_name(u, mailbox, &row);
	if (r == STORE_OK)
		*id = row.id;
	return r;
}

/* Is `name` at most `depth` levels below `root` (-1: any)? */
static bool meta_within(const char *root, const char *name, int depth)
{
	if (depth < 0)
		return true;
	size_t rlen = strlen(root);
	if (strlen(name) == rlen)
		return true;
	/* A child: "/" after root, then no further "/". */
	return depth == 1 && !strchr(name + rlen + 1, '/');
}

/* Appends the rows of st (name, value) that are within depth of root. */
static int meta_rows(struct sqlite_user *u, sqlite3_stmt *st, const char *root, int depth,
		     struct store_meta_entry **e, size_t *cap, size_t *n)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (!name || !meta_within(root, name, depth))
			continue;
		const void *v = sqlite3_column_blob(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		xgrow((void **)e, cap, *n + 1, sizeof(**e));
		struct store_meta_entry *x = &(*e)[(*n)++];
		x->name = xstrdup(name);
		x->value = xmalloc(len + 1);
		if (len)
			memcpy(x->value, v, len);
		x->value[len] = '\0';
		x->len = len;
	}
	sqlite_stmt_done(st);
	return rc == SQLITE_DONE ? STORE_OK : sqlite_db_error(u, "meta_get");
}

int sqlite_meta_get(struct store_user *base, const char *mailbox, char *const *names, size_t n,
		    int depth, struct store_meta_entry **out, size_t *nout)
{
	struct sqlite_user *u = sqlite_user_of(base);
	int r = sqlite_tx_read(u);
	if (r != STORE_OK)
		return r;
	int64_t id;
	struct store_meta_entry *e = NULL;
	size_t cap = 0, cnt = 0;
	r = meta_mailbox_id(u, mailbox, &id);
	for (size_t i = 0; i < n && r == STORE_OK; i++) {
		sqlite3_stmt *st = sqlite_stmt(u, depth == 0 ? STMT_MD_GET : STMT_MD_TREE);
		if (!st) {
			r = STORE_EIO;
			break;
		}
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, names[i], -1, SQLITE_STATIC);
		r = meta_rows(u, st, names[i], depth, &e, &cap, &cnt);
	}
	sqlite_tx_rollback(u); /* read only */
	if (r != STORE_OK) {
		store_meta_entries_free(e, cnt);
		return r;
	}
	*out = e;
	*nout = cnt;
	return STORE_OK;
}

/* The mailbox's entry count and the store's metadata bytes. */
static int meta_usage(struct sqlite_user *u, int64_t id, uint64_t *count, uint64_t *bytes)
{
	const enum store_stmt ids[2] = { STMT_MD_COUNT, STMT_MD_BYTES };
	uint64_t *outs[2] = { count, bytes };
	for (size_t i = 0; i < 2; i++) {
		sqlite3_stmt *st = sqlite_stmt(u, ids[i]);
		if (!st)
			return STORE_EIO;
		if (i == 0)
			sqlite3_bind_int64(st, 1, id);
		int rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			sqlite_stmt_done(st);
			return sqlite_db_error(u, "meta_usage");
		}
		*outs[i] = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite_stmt_done(st);
	}
	return STORE_OK;
}

static int meta_write_one(struct sqlite_user *u, int64_t id, const struct store_meta_entry *e)
{
	sqlite3_stmt *st = sqlite_stmt(u, e->value ? STMT_MD_PUT : STMT_MD_DEL);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, e->name, -1, SQLITE_STATIC);
	/* A zero-length blob, not NULL: "" is a value (RFC 5464 4.3 deletes
	 * only with NIL). */
	if (e->value)
		sqlite3_bind_blob(st, 3, e->len ? e->value : "", (int)e->len, SQLITE_STATIC);
	return sqlite_stmt_run(u, st, "meta_set");
}

int sqlite_meta_set(struct store_user *base, const char *mailbox, const struct store_meta_entry *e,
		    size_t n, const struct store_meta_limits *lim, enum store_meta_limit *hit)
{
	struct sqlite_user *u = sqlite_user_of(base);
	*hit = STORE_META_LIMIT_NONE;
	int r = sqlite_tx_write(u);
	if (r != STORE_OK)
		return r;
	int64_t id;
	uint64_t count0, bytes0, count1, bytes1;
	r = meta_mailbox_id(u, mailbox, &id);
	if (r == STORE_OK)
		r = meta_usage(u, id, &count0, &bytes0);
	for (size_t i = 0; i < n && r == STORE_OK; i++)
		r = meta_write_one(u, id, &e[i]);
	if (r == STORE_OK)
		r = meta_usage(u, id, &count1, &bytes1);
	if (r == STORE_OK && count1 > count0 && count1 > lim->entries_max)
		*hit = STORE_META_LIMIT_ENTRIES;
	else if (r == STORE_OK && bytes1 > bytes0 && bytes1 > lim->total_max)
		*hit = STORE_META_LIMIT_TOTAL;
	if (*hit != STORE_META_LIMIT_NONE)
		r = STORE_ELIMIT;
	if (r != STORE_OK) {
		sqlite_tx_rollback(u);
		return r;
	}
	return sqlite_tx_commit(u);
}
