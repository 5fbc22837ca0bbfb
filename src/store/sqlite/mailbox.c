/* Mailboxes and subscriptions of the SQLite backend. Names arrive
 * normalised and checked by the front (store.c); what depends on stored
 * state (existence, the mailbox count, renamed children's names) is
 * decided here inside one BEGIN IMMEDIATE transaction. */
#include "store/sqlite/sqlite_internal.h"
#include "store/blob.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int mbox_row(struct sqlite_user *u, sqlite3_stmt *st, struct store_mbox_row *out)
{
	int rc = sqlite3_step(st);
	int r;
	if (rc == SQLITE_ROW) {
		out->id = sqlite3_column_int64(st, 0);
		out->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
		out->uidnext = (uint32_t)sqlite3_column_int64(st, 2);
		out->highestmodseq = (uint64_t)sqlite3_column_int64(st, 3);
		out->first_recent_uid = (uint32_t)sqlite3_column_int64(st, 4);
		r = STORE_OK;
	} else if (rc == SQLITE_DONE) {
		r = STORE_ENOENT;
	} else {
		r = sqlite_db_error(u, "mailbox_lookup");
	}
	sqlite_stmt_done(st);
	return r;
}

int sqlite_mbox_by_name(struct sqlite_user *u, const char *name, struct store_mbox_row *out)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_MB_BY_NAME);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	return mbox_row(u, st, out);
}

int sqlite_mbox_by_id(struct sqlite_user *u, int64_t id, struct store_mbox_row *out)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_MB_BY_ID);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, id);
	return mbox_row(u, st, out);
}

int sqlite_uidvalidity_next(struct sqlite_user *u, uint32_t *out)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_META_GET);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_text(st, 1, "last_uidvalidity", -1, SQLITE_STATIC);
	int64_t last = 0;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		last = sqlite3_column_int64(st, 0);
	sqlite_stmt_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sqlite_db_error(u, "uidvalidity");
	/* Time-based so a recreated store is unlikely to repeat an old value;
	 * strictly increasing so this store never does, whatever the clock. */
	int64_t now = (int64_t)time(NULL);
	int64_t v = now > last ? now : last + 1;
	if (v <= 0 || v > UINT32_MAX)
		return STORE_ELIMIT;
	st = sqlite_stmt(u, STMT_META_SET);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_text(st, 1, "last_uidvalidity", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	int r = sqlite_stmt_run(u, st, "uidvalidity_set");
	if (r == STORE_OK)
		*out = (uint32_t)v;
	return r;
}

/* Inserts a mailbox inside the caller's write transaction, with the
 * given UIDVALIDITY (the import path) or, for 0, the store's next. */
static int mbox_insert_uv(struct sqlite_user *u, const char *name, const char *special_use,
			  uint32_t uidvalidity, uint32_t uidnext, uint64_t highestmodseq,
			  uint32_t first_recent, int64_t *id)
{
	int r = uidvalidity ? STORE_OK : sqlite_uidvalidity_next(u, &uidvalidity);
	if (r != STORE_OK)
		return r;
	sqlite3_stmt *st = sqlite_stmt(u, STMT_MB_INSERT);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, uidvalidity);
	sqlite3_bind_int64(st, 3, uidnext);
	sqlite3_bind_int64(st, 4, (int64_t)highestmodseq);
	if (special_use)
		sqlite3_bind_text(st, 5, special_use, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, first_recent);
	r = sqlite_stmt_run(u, st, "mailbox_insert");
	if (r == STORE_OK && id)
		*id = sqlite3_last_insert_rowid(u->db);
	return r;
}

static int mbox_insert(struct sqlite_user *u, const char *name, const char *special_use,
		       uint32_t uidnext, uint64_t highestmodseq, uint32_t first_recent,
		       int64_t *id)
{
	return mbox_insert_uv(u, name, special_use, 0, uidnext, highestmodseq, first_recent, id);
}

static int subscription_set(struct sqlite_user *u, const char *name, bool on)
{
	sqlite3_stmt *st = sqlite_stmt(u, on ? STMT_SUB_ADD : STMT_SUB_DEL);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	return sqlite_stmt_run(u, st, "subscription");
}

/* INBOX, and the special-use mailboxes [mailboxes] asks for (store/rules.c),
 * all subscribed. */
int sqlite_mailbox_create_defaults(struct sqlite_user *u)
{
	const char *name = "INBOX", *use = NULL;
	for (size_t i = 0;; i++) {
		int r = mbox_insert(u, name, use, 1, 1, 1, NULL);
		if (r == STORE_OK)
			r = subscription_set(u, name, true);
		if (r != STORE_OK)
			return r;
		if (!store_special_default_at(i, &name, &use))
			return STORE_OK;
	}
}

/* ---- public ---- */

static void row_to_mailbox(sqlite3_stmt *st, bool counts, struct store_mailbox *mb)
{
	memset(mb, 0, sizeof(*mb));
	mb->id = sqlite3_column_int64(st, 0);
	mb->name = xstrdup((const char *)sqlite3_column_text(st, 1));
	mb->uidvalidity = (uint32_t)sqlite3_column_int64(st, 2);
	mb->uidnext = (uint32_t)sqlite3_column_int64(st, 3);
	mb->highestmodseq = (uint64_t)sqlite3_column_int64(st, 4);
	const unsigned char *su = sqlite3_column_text(st, 5);
	mb->special_use = su ? xstrdup((const char *)su) : NULL;
	mb->first_recent_uid = (uint32_t)sqlite3_column_int64(st, 6);
	mb->subscribed = sqlite3_column_int(st, 7) != 0;
	if (!counts)
		return;
	mb->messages = (uint32_t)sqlite3_column_int64(st, 8);
	mb->unseen = (uint32_t)sqlite3_column_int64(st, 9);
	mb->deleted = (uint32_t)sqlite3_column_int64(st, 10);
	mb->recent = (uint32_t)sqlite3_column_int64(st, 11);
	mb->size = (uint64_t)sqlite3_column_int64(st, 12);
	mb->deleted_size = (uint64_t)sqlite3_column_int64(st, 13);
}

int sqlite_mailbox_list(struct store_user *base, bool want_counts, struct store_mailbox **out,
			size_t *n)
{
	struct sqlite_user *u = sqlite_user_of(base);
	sqlite3_stmt *st = sqlite_stmt(u, want_counts ? STMT_MB_LIST_COUNTS : STMT_MB_LIST);
	if (!st)
		return STORE_EIO;
	struct store_mailbox *a = NULL;
	size_t cap = 0, cnt = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow((void **)&a, &cap, cnt + 1, sizeof(*a));
		row_to_mailbox(st, want_counts, &a[cnt++]);
	}
	sqlite_stmt_done(st);
	if (rc != SQLITE_DONE) {
		store_mailbox_array_free(a, cnt);
		return sqlite_db_error(u, "mailbox_list");
	}
	*out = a;
	*n = cnt;
	return STORE_OK;
}

int sqlite_mailbox_get(struct store_user *base, const char *name, bool counts,
		       struct store_mailbox *out)
{
	struct sqlite_user *u = sqlite_user_of(base);
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *st = sqlite_stmt(u, counts ? STMT_MB_STATUS : STMT_MB_GET);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int r;
	if (rc == SQLITE_ROW) {
		row_to_mailbox(st, counts, out);
		r = STORE_OK;
	} else if (rc == SQLITE_DONE) {
		r = STORE_ENOENT;
	} else {
		r = sqlite_db_error(u, counts ? "mailbox_status" : "mailbox_get");
	}
	sqlite_stmt_done(st);
	return r;
}

/* Invariant 11 of store.h: counted under the write lock the insert holds. */
static int mbox_count_check(struct sqlite_user *u, unsigned max_mailboxes)
{
	if (max_mailboxes == 0)
		return STORE_OK;
	sqlite3_stmt *st = sqlite_stmt(u, STMT_MB_COUNT);
	if (!st)
		return STORE_EIO;
	int rc = sqlite3_step(st);
	int64_t n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite_stmt_done(st);
	if (rc != SQLITE_ROW)
		return sqlite_db_error(u, "mailbox_count");
	return n >= (int64_t)max_mailboxes ? STORE_ELIMIT : STORE_OK;
}

int sqlite_mailbox_create(struct store_user *base, const char *name, const char *special_use,
			  unsigned max_mailboxes)
{
	struct sqlite_user *u = sqlite_user_of(base);
	int r = sqlite_tx_write(u);
	if (r != STORE_OK)
		return r;
	struct store_mbox_row row;
	struct store_quota_usage qbefore;
	r = mbox_count_check(u, max_mailboxes);
	if (r == STORE_OK)
		r = sqlite_quota_read(u, &qbefore, NULL);
	if (r == STORE_OK)
		r = sqlite_mbox_by_name(u, name, &row);
	if (r == STORE_OK)
		r = STORE_EEXIST;
	else if (r == STORE_ENOENT)
		r = mbox_insert(u, name, special_use, 1, 1, 1, NULL);
	if (r == STORE_OK)
		r = sqlite_quota_check(u, &qbefore);
	if (r != STORE_OK) {
		sqlite_tx_rollback(u);
		return r;
	}
	r = sqlite_tx_commit(u);
	if (r == STORE_OK)
		sqlite_notify(u);
	return r;
}

int sqlite_mailbox_delete(struct store_user *base, const char *norm)
{
	struct sqlite_user *u = sqlite_user_of(base);
	char (*blobs)[65] = NULL;
	size_t nblobs = 0, cap = 0;
	int r = sqlite_tx_write(u);
	if (r != STORE_OK)
		goto out;
	struct store_mbox_row row;
	r = sqlite_mbox_by_name(u, norm, &row);
	if (r != STORE_OK)
		goto fail;
	/* The blobs to consider for deletion once the rows are gone. */
	sqlite3_stmt *st = sqlite_stmt(u, STMT_MSG_BLOBS_OF_MB);
	if (!st) {
		r = STORE_EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, row.id);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *b = (const char *)sqlite3_column_text(st, 0);
		if (!b || !store_blob_name_valid(b))
			continue;
		xgrow((void **)&blobs, &cap, nblobs + 1, sizeof(*blobs));
		memcpy(blobs[nblobs++], b, 65);
	}
	sqlite_stmt_done(st);
	if (rc != SQLITE_DONE) {
		r = sqlite_db_error(u, "mailbox_delete");
		goto fail;
	}
	static const enum store_stmt dels[] = { STMT_MSG_DELETE_MB, STMT_EXP_DELETE_MB,
						STMT_EXPR_FLOOR_DELETE_MB,
						STMT_MB_DELETE };
	for (size_t i = 0; i < ARRAY_SIZE(dels); i++) {
		st = sqlite_stmt(u, dels[i]);
		if (!st) {
			r = STORE_EIO;
			goto fail;
		}
		sqlite3_bind_int64(st, 1, row.id);
		r = sqlite_stmt_run(u, st, "mailbox_delete");
		if (r != STORE_OK)
			goto fail;
	}
	/* RFC 9051 6.3.7: the subscription, if any, stays. */
	r = sqlite_tx_commit(u);
	if (r != STORE_OK)
		goto out;
	sqlite_notify(u);
	sqlite_blobs_collect(u, blobs, nblobs);
	goto out;
fail:
	sqlite_tx_rollback(u);
out:
	free(blobs);
	return r;
}

/* Moves INBOX's messages to a new mailbox `to` (RFC 9051 6.3.6), inside the
 * caller's write transaction. INBOX keeps its UIDVALIDITY and UIDNEXT; its
 * sessions see the messages expunged. */
static int rename_inbox(struct sqlite_user *u, const char *to)
{
	struct store_mbox_row inbox, row;
	int r = sqlite_mbox_by_name(u, "INBOX", &inbox);
	if (r != STORE_OK)
		return r;
	r = sqlite_mbox_by_name(u, to, &row);
	if (r != STORE_ENOENT)
		return r == STORE_OK ? STORE_EEXIST : r;
	int64_t new_id;
	/* The new mailbox has a fresh UIDVALIDITY, so the messages may keep
	 * their UIDs and modseqs. */
	r = mbox_insert(u, to, NULL, inbox.uidnext, inbox.highestmodseq, inbox.first_recent_uid,
			&new_id);
	if (r != STORE_OK)
		return r;
	uint64_t modseq = inbox.highestmodseq + 1;
	sqlite3_stmt *st = sqlite_stmt(u, STMT_EXP_INSERT_ALL);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, inbox.id);
	sqlite3_bind_int64(st, 2, (int64_t)modseq);
	if ((r = sqlite_stmt_run(u, st, "rename_inbox")) != STORE_OK)
		return r;
	if (!(st = sqlite_stmt(u, STMT_MSG_MOVE_ALL)))
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, inbox.id);
	sqlite3_bind_int64(st, 2, new_id);
	if ((r = sqlite_stmt_run(u, st, "rename_inbox")) != STORE_OK)
		return r;
	if (!(st = sqlite_stmt(u, STMT_MB_SET_MODSEQ)))
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, inbox.id);
	sqlite3_bind_int64(st, 2, (int64_t)modseq);
	return sqlite_stmt_run(u, st, "rename_inbox");
}

struct rename_item {
	int64_t id;
	char *from;
	char *to;
};

/* Renames `from` and every child "from/..." inside the caller's write
 * transaction, carrying their subscriptions along. */
static int rename_tree(struct sqlite_user *u, const char *from, const char *to)
{
	struct store_mbox_row row;
	int r = sqlite_mbox_by_name(u, from, &row);
	if (r != STORE_OK)
		return r;
	struct rename_item *items = xcalloc(1, sizeof(*items));
	size_t nitems = 1, cap = 1;
	items[0].id = row.id;
	items[0].from = xstrdup(from);
	items[0].to = xstrdup(to);
	/* Children sort between "from/" and "from0" ('0' follows '/'). */
	char *lo = xasprintf("%s/", from);
	char *hi = xasprintf("%s0", from);
	size_t from_len = strlen(from);
	sqlite3_stmt *st = sqlite_stmt(u, STMT_MB_CHILDREN);
	if (!st) {
		r = STORE_EIO;
		goto out;
	}
	sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		xgrow((void **)&items, &cap, nitems + 1, sizeof(*items));
		struct rename_item *it = &items[nitems++];
		it->id = sqlite3_column_int64(st, 0);
		it->from = xstrdup(name);
		it->to = xasprintf("%s%s", to, name + from_len);
	}
	sqlite_stmt_done(st);
	if (rc != SQLITE_DONE) {
		r = sqlite_db_error(u, "rename_children");
		goto out;
	}
	for (size_t i = 0; i < nitems; i++) {
		if (strlen(items[i].to) > STORE_MAILBOX_NAME_MAX) {
			r = STORE_ELIMIT;
			goto out;
		}
		struct store_mbox_row other;
		r = sqlite_mbox_by_name(u, items[i].to, &other);
		if (r != STORE_ENOENT) {
			r = r == STORE_OK ? STORE_EEXIST : r;
			goto out;
		}
	}
	r = STORE_OK;
	for (size_t i = 0; i < nitems && r == STORE_OK; i++) {
		if (!(st = sqlite_stmt(u, STMT_MB_RENAME))) {
			r = STORE_EIO;
			break;
		}
		sqlite3_bind_int64(st, 1, items[i].id);
		sqlite3_bind_text(st, 2, items[i].to, -1, SQLITE_STATIC);
		r = sqlite_stmt_run(u, st, "rename");
		/* A subscription follows its mailbox (as clients expect after a
		 * rename); unsubscribed names stay unsubscribed. */
		if (r == STORE_OK && sqlite3_changes(u->db) > 0) {
			sqlite3_stmt *del = sqlite_stmt(u, STMT_SUB_DEL);
			if (!del) {
				r = STORE_EIO;
				break;
			}
			sqlite3_bind_text(del, 1, items[i].from, -1, SQLITE_STATIC);
			r = sqlite_stmt_run(u, del, "rename_subscription");
			if (r == STORE_OK && sqlite3_changes(u->db) > 0)
				r = subscription_set(u, items[i].to, true);
		}
	}
out:
	for (size_t i = 0; i < nitems; i++) {
		free(items[i].from);
		free(items[i].to);
	}
	free(items);
	free(lo);
	free(hi);
	return r;
}

int sqlite_mailbox_rename(struct store_user *base, const char *from, const char *to)
{
	struct sqlite_user *u = sqlite_user_of(base);
	int r = sqlite_tx_write(u);
	if (r != STORE_OK)
		return r;
	/* Renaming INBOX creates a mailbox (RFC 9051 6.3.6): the MAILBOX
	 * resource of the quota applies as to CREATE (RFC 9208 5.3). */
	struct store_quota_usage qbefore;
	r = sqlite_quota_read(u, &qbefore, NULL);
	if (r == STORE_OK)
		r = strcmp(from, "INBOX") == 0 ? rename_inbox(u, to) : rename_tree(u, from, to);
	if (r == STORE_OK)
		r = sqlite_quota_check(u, &qbefore);
	if (r != STORE_OK) {
		sqlite_tx_rollback(u);
		return r;
	}
	r = sqlite_tx_commit(u);
	if (r == STORE_OK)
		sqlite_notify(u);
	return r;
}

int sqlite_mbox_set_first_recent(struct sqlite_user *u, int64_t id, uint32_t uid)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_MB_SET_RECENT);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, uid);
	return sqlite_stmt_run(u, st, "take_recent");
}

int sqlite_mailbox_take_recent(struct store_user *base, int64_t mailbox_id,
			       uint32_t *first_recent, uint32_t *claimed_end)
{
	struct sqlite_user *u = sqlite_user_of(base);
	/* durable: \Recent is metadata (docs/durability.md) */
	int r = sqlite_tx_write_meta(u);
	if (r != STORE_OK)
		return r;
	struct store_mbox_row row = { 0 };
	r = sqlite_mbox_by_id(u, mailbox_id, &row);
	if (r != STORE_OK)
		goto fail;
	/* Read and advanced in this write transaction: a concurrent caller
	 * waits for it and then claims from the new value (RFC 3501 2.3.2). */
	*first_recent = row.first_recent_uid;
	*claimed_end = row.uidnext;
	if (row.first_recent_uid != row.uidnext &&
	    (r = sqlite_mbox_set_first_recent(u, mailbox_id, row.uidnext)) != STORE_OK)
		goto fail;
	/* No notification: \Recent is session state, not a mailbox change. */
	return sqlite_tx_commit(u);
fail:
	sqlite_tx_rollback(u);
	return r;
}

int sqlite_subscription_list(struct store_user *base, char ***names, size_t *n)
{
	struct sqlite_user *u = sqlite_user_of(base);
	sqlite3_stmt *st = sqlite_stmt(u, STMT_SUB_LIST);
	if (!st)
		return STORE_EIO;
	char **a = NULL;
	size_t cap = 0, cnt = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow((void **)&a, &cap, cnt + 1, sizeof(*a));
		a[cnt++] = xstrdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite_stmt_done(st);
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < cnt; i++)
			free(a[i]);
		free(a);
		return sqlite_db_error(u, "subscription_list");
	}
	*names = a;
	*n = cnt;
	return STORE_OK;
}

int sqlite_subscribe(struct store_user *base, const char *name, bool subscribe)
{
	struct sqlite_user *u = sqlite_user_of(base);
	/* One statement in autocommit mode: atomic and durable on its own.
	 * RFC 9051 6.3.7: the name need not exist; unsubscribing a name that
	 * is not subscribed is harmless. */
	int r = subscription_set(u, name, subscribe);
	if (r == STORE_OK && sqlite3_changes(u->db) > 0)
		sqlite_notify(u);
	return r;
}

/* correct: one scan of the mailbox's rows; the distinct keyword lists are
 * few (they are combinations clients set), the front splits and reduces
 * them. 100,000 messages: ~50 ms (SELECT went from ~120 to ~160 ms); a
 * partial index messages(mailbox_id, keywords) WHERE keywords IS NOT NULL
 * would make it ~3 ms (a migration the coordinator decides on). */
int sqlite_mailbox_keywords(struct store_user *base, int64_t mailbox_id, char **out)
{
	struct sqlite_user *u = sqlite_user_of(base);
	*out = NULL;
	sqlite3_stmt *st = sqlite_stmt(u, STMT_MSG_KEYWORDS);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	struct strbuf b = STRBUF_INIT;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *kw = (const char *)sqlite3_column_text(st, 0);
		if (!kw || !*kw)
			continue;
		if (b.len)
			strbuf_addc(&b, ' ');
		strbuf_adds(&b, kw);
	}
	sqlite_stmt_done(st);
	if (rc != SQLITE_DONE) {
		strbuf_free(&b);
		return sqlite_db_error(u, "mailbox_keywords");
	}
	if (b.len)
		*out = strbuf_detach(&b, NULL);
	strbuf_free(&b);
	return STORE_OK;
}

/* check (issue #13): a mailbox created by a repair (Lost+Found, INBOX),
 * inside the caller's write transaction, subscribed. */
/* import (issue #13): a new, empty mailbox with the source's UIDVALIDITY. */
int sqlite_mbox_insert_imported(struct sqlite_user *u, const char *name, const char *special_use,
				uint32_t uidvalidity)
{
	return mbox_insert_uv(u, name, special_use, uidvalidity, 1, 1, 1, NULL);
}

int sqlite_mbox_insert_subscribed(struct sqlite_user *u, const char *name, int64_t *id)
{
	int r = mbox_insert(u, name, NULL, 1, 1, 1, id);
	return r == STORE_OK ? subscription_set(u, name, true) : r;
}
