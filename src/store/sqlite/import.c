/* The SQLite backend's import path (issue #13 migrate; store.h "Import"):
 * a mailbox created or adopted with the UIDVALIDITY of the server the
 * mail comes from, and UIDNEXT raised to that server's. The appends with
 * chosen UIDs are message.c's append_tx (sqlite_import_append).
 *
 * How invariant 3 (no UIDVALIDITY given twice) survives a value from
 * outside: this store gives its own values from a strictly increasing
 * counter (sqlite_uidvalidity_next, meta "last_uidvalidity"), so every
 * value it ever gave lies in [first, last]. The first is recorded the
 * first time the store imports (meta "import.first_uidvalidity": the
 * smallest UIDVALIDITY then, INBOX's, which was created first and is
 * never deleted). A value above last becomes the new last, so the
 * counter stays above it. A value inside [first, last] is taken only
 * while no mailbox was ever deleted (mailbox ids are never reused, so
 * the AUTOINCREMENT sequence equals the row count): then every value
 * given is either some mailbox's now or recorded. Recorded (meta
 * "import.uidvalidity.V") is each imported value, so it is not taken
 * again. A mailbox that never held a message names no UID a client can
 * have cached: its value may go to an imported mailbox (it is adopted,
 * or given a fresh value). */
#include "store/sqlite/sqlite_internal.h"

#include <stdio.h>
#include <string.h>

static int meta_get(struct sqlite_user *u, const char *key, int64_t *val, bool *found)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_META_GET);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (*found)
		*val = sqlite3_column_int64(st, 0);
	sqlite_stmt_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sqlite_db_error(u, "import_meta");
	return STORE_OK;
}

static int meta_set(struct sqlite_user *u, const char *key, int64_t val)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_META_SET);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, val);
	return sqlite_stmt_run(u, st, "import_meta");
}

/* One integer from a statement with at most one bound integer. */
static int scalar(struct sqlite_user *u, enum store_stmt id, int64_t arg, int64_t *out)
{
	sqlite3_stmt *st = sqlite_stmt(u, id);
	if (!st)
		return STORE_EIO;
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, arg);
	int rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite_stmt_done(st);
	return rc == SQLITE_ROW ? STORE_OK : sqlite_db_error(u, "import_scalar");
}

/* Inside the write transaction: may v become a mailbox's UIDVALIDITY
 * (the rule of the file head)? Records it when so. */
static int uidvalidity_claim(struct sqlite_user *u, uint32_t v)
{
	int64_t first, last = 0, used;
	bool found;
	int r = meta_get(u, "import.first_uidvalidity", &first, &found);
	if (r == STORE_OK && !found &&
	    (r = scalar(u, STMT_IMP_MB_MIN_UIDVALIDITY, 0, &first)) == STORE_OK)
		r = meta_set(u, "import.first_uidvalidity", first);
	if (r == STORE_OK)
		r = meta_get(u, "last_uidvalidity", &last, &found);
	if (r != STORE_OK)
		return r;
	char key[64];
	snprintf(key, sizeof(key), "import.uidvalidity.%u", v);
	int64_t dummy;
	if ((r = meta_get(u, key, &dummy, &found)) != STORE_OK)
		return r;
	int64_t deleted = 0;
	if ((r = scalar(u, STMT_IMP_MB_WITH_UIDVALIDITY, v, &used)) != STORE_OK ||
	    (r = scalar(u, STMT_IMP_MB_EVER_DELETED, 0, &deleted)) != STORE_OK)
		return r;
	/* A mailbox of this store that never held a message (the special-use
	 * ones made with the store, moments before the import) gives its
	 * value up for a fresh one: no client can have cached a UID under
	 * it, and the source's mailbox keeps its clients' caches valid. */
	if (!found && used > 0) {
		uint32_t fresh;
		sqlite3_stmt *st;
		if ((r = sqlite_uidvalidity_next(u, &fresh)) != STORE_OK)
			return r;
		if (!(st = sqlite_stmt(u, STMT_IMP_MB_RENUMBER_EMPTY)))
			return STORE_EIO;
		sqlite3_bind_int64(st, 1, v);
		sqlite3_bind_int64(st, 2, fresh);
		if ((r = sqlite_stmt_run(u, st, "import_renumber")) != STORE_OK ||
		    (r = scalar(u, STMT_IMP_MB_WITH_UIDVALIDITY, v, &used)) != STORE_OK)
			return r;
		if ((r = meta_get(u, "last_uidvalidity", &last, &found)) != STORE_OK)
			return r;
		found = false;
	}
	if (found || used > 0 || (deleted && (int64_t)v >= first && (int64_t)v <= last))
		return STORE_ECANNOT;
	if ((int64_t)v > last && (r = meta_set(u, "last_uidvalidity", v)) != STORE_OK)
		return r;
	return meta_set(u, key, 1);
}

/* One of the import's single-column updates of mailbox `id` (?1) to
 * `value` (?2). */
static int mbox_set(struct sqlite_user *u, enum store_stmt id_stmt, int64_t id, int64_t value,
		    const char *what)
{
	sqlite3_stmt *st = sqlite_stmt(u, id_stmt);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, value);
	return sqlite_stmt_run(u, st, what);
}

int sqlite_import_mailbox(struct store_user *base, const char *name, const char *special_use,
			  uint32_t uidvalidity)
{
	struct sqlite_user *u = sqlite_user_of(base);
	int r = sqlite_tx_write(u);
	if (r != STORE_OK)
		return r;
	struct store_mbox_row row;
	struct store_quota_usage qbefore;
	r = sqlite_quota_read(u, &qbefore, NULL);
	if (r == STORE_OK)
		r = sqlite_mbox_by_name(u, name, &row);
	bool changed = false;
	if (r == STORE_OK && row.uidvalidity == uidvalidity) {
		/* A second run: nothing to do. */
	} else if (r == STORE_OK && row.uidnext != 1) {
		r = STORE_EEXIST;
	} else if (r == STORE_OK) {
		/* Never held a message: no client cached a UID of it, so its
		 * old value names nothing and another imported mailbox may take
		 * it (the special-use mailboxes made with the store, moments
		 * before, often hold the source's own time-based values). */
		r = uidvalidity_claim(u, uidvalidity);
		if (r == STORE_OK)
			r = mbox_set(u, STMT_IMP_MB_SET_UIDVALIDITY, row.id, uidvalidity, "import_mailbox");
		changed = true;
	} else if (r == STORE_ENOENT) {
		r = uidvalidity_claim(u, uidvalidity);
		if (r == STORE_OK)
			r = sqlite_mbox_insert_imported(u, name, special_use, uidvalidity);
		if (r == STORE_OK)
			r = sqlite_quota_check(u, &qbefore);
		changed = true;
	}
	if (r != STORE_OK || !changed) {
		sqlite_tx_rollback(u);
		return r;
	}
	r = sqlite_tx_commit(u);
	if (r == STORE_OK)
		sqlite_notify(u);
	return r;
}

int sqlite_import_uidnext(struct store_user *base, const char *name, uint32_t uidnext)
{
	struct sqlite_user *u = sqlite_user_of(base);
	int r = sqlite_tx_write(u);
	if (r != STORE_OK)
		return r;
	struct store_mbox_row row;
	r = sqlite_mbox_by_name(u, name, &row);
	if (r == STORE_OK)
		r = mbox_set(u, STMT_IMP_MB_SET_UIDNEXT, row.id, uidnext, "import_uidnext");
	if (r != STORE_OK || uidnext <= row.uidnext) {
		sqlite_tx_rollback(u);
		return r;
	}
	r = sqlite_tx_commit(u);
	if (r == STORE_OK)
		sqlite_notify(u);
	return r;
}
