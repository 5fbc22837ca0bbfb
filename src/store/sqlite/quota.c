/* Quota usage and limits of the SQLite backend (RFC 9208; invariant 13 of
 * store.h).
 *
 * Usage lives in a one-row table `quota` that triggers on `messages` and
 * `mailboxes` keep current: every INSERT or DELETE of a row, whatever code
 * path runs it (APPEND, COPY, MOVE, EXPUNGE, DELETE, RENAME of INBOX, a
 * future LMTP), changes the counters in the same transaction, so a crash
 * can never leave them different from a recount and no write path has to
 * remember to count. The per-user limits sit in the same row (NULL: the
 * [quota] default).
 *
 * Enforcement: append, copy and mailbox_create read the usage right after
 * BEGIN IMMEDIATE (sqlite_quota_read) and compare it with the usage just
 * before COMMIT (sqlite_quota_check); the write lock makes the pair atomic
 * against every other writer of the user, in any process. */
#include "store/sqlite/sqlite_internal.h"

#include <string.h>

/* Migration 2 (db.c). The counters start as a recount of what is there. */
const char sqlite_quota_schema[] =
	"CREATE TABLE quota("
	" id INTEGER PRIMARY KEY CHECK(id=1),"
	" storage INTEGER NOT NULL,"
	" messages INTEGER NOT NULL,"
	" mailboxes INTEGER NOT NULL,"
	" limit_storage INTEGER,"
	" limit_messages INTEGER,"
	" limit_mailboxes INTEGER);"
	"INSERT INTO quota(id,storage,messages,mailboxes) VALUES(1,"
	" (SELECT coalesce(sum(size),0) FROM messages),(SELECT count(*) FROM messages),"
	" (SELECT count(*) FROM mailboxes));"
	"CREATE TRIGGER quota_msg_add AFTER INSERT ON messages BEGIN"
	" UPDATE quota SET storage=storage+NEW.size,messages=messages+1 WHERE id=1; END;"
	"CREATE TRIGGER quota_msg_del AFTER DELETE ON messages BEGIN"
	" UPDATE quota SET storage=storage-OLD.size,messages=messages-1 WHERE id=1; END;"
	"CREATE TRIGGER quota_msg_size AFTER UPDATE OF size ON messages BEGIN"
	" UPDATE quota SET storage=storage-OLD.size+NEW.size WHERE id=1; END;"
	"CREATE TRIGGER quota_mb_add AFTER INSERT ON mailboxes BEGIN"
	" UPDATE quota SET mailboxes=mailboxes+1 WHERE id=1; END;"
	"CREATE TRIGGER quota_mb_del AFTER DELETE ON mailboxes BEGIN"
	" UPDATE quota SET mailboxes=mailboxes-1 WHERE id=1; END;";

static uint64_t col_count(sqlite3_stmt *st, int i)
{
	int64_t v = sqlite3_column_int64(st, i);
	return v > 0 ? (uint64_t)v : 0;
}

static uint64_t col_limit(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return STORE_QUOTA_DEFAULT;
	return col_count(st, i);
}

int sqlite_quota_read(struct sqlite_user *u, struct store_quota_usage *usage,
		      struct store_quota_limits *own)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_QUOTA_GET);
	if (!st)
		return STORE_EIO;
	int rc = sqlite3_step(st);
	int r = STORE_OK;
	if (rc == SQLITE_ROW) {
		usage->storage = col_count(st, 0);
		usage->messages = col_count(st, 1);
		usage->mailboxes = col_count(st, 2);
		if (own) {
			own->storage_kib = col_limit(st, 3);
			own->messages = col_limit(st, 4);
			own->mailboxes = col_limit(st, 5);
		}
	} else {
		r = sqlite_db_error(u, "quota_read");
	}
	sqlite_stmt_done(st);
	return r;
}

int sqlite_quota_check(struct sqlite_user *u, const struct store_quota_usage *before)
{
	struct store_quota_usage after;
	struct store_quota_limits own, eff;
	int r = sqlite_quota_read(u, &after, &own);
	if (r != STORE_OK)
		return r;
	store_quota_effective(&own, &eff);
	return store_quota_exceeded(before, &after, &eff) ? STORE_EOVERQUOTA : STORE_OK;
}

int sqlite_quota_get(struct store_user *base, struct store_quota_usage *usage,
		     struct store_quota_limits *own)
{
	/* One statement: its own consistent snapshot. */
	return sqlite_quota_read(sqlite_user_of(base), usage, own);
}

static void bind_limit(sqlite3_stmt *st, int i, uint64_t v)
{
	if (v == STORE_QUOTA_DEFAULT)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, (int64_t)v);
}

int sqlite_quota_set(struct store_user *base, const struct store_quota_limits *own)
{
	struct sqlite_user *u = sqlite_user_of(base);
	sqlite3_stmt *st = sqlite_stmt(u, STMT_QUOTA_SET_LIMITS);
	if (!st)
		return STORE_EIO;
	bind_limit(st, 1, own->storage_kib);
	bind_limit(st, 2, own->messages);
	bind_limit(st, 3, own->mailboxes);
	/* One statement in autocommit mode: atomic and durable on its own. */
	return sqlite_stmt_run(u, st, "quota_set");
}

int sqlite_quota_recount(struct store_user *base, struct store_quota_usage *stored,
			 struct store_quota_usage *counted)
{
	struct sqlite_user *u = sqlite_user_of(base);
	int r = sqlite_tx_write(u);
	if (r != STORE_OK)
		return r;
	if ((r = sqlite_quota_read(u, stored, NULL)) != STORE_OK)
		goto fail;
	sqlite3_stmt *st = sqlite_stmt(u, STMT_QUOTA_COUNT);
	if (!st) {
		r = STORE_EIO;
		goto fail;
	}
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		counted->storage = col_count(st, 0);
		counted->messages = col_count(st, 1);
		counted->mailboxes = col_count(st, 2);
	}
	sqlite_stmt_done(st);
	if (rc != SQLITE_ROW) {
		r = sqlite_db_error(u, "quota_count");
		goto fail;
	}
	if (memcmp(stored, counted, sizeof(*stored)) != 0) {
		if (!(st = sqlite_stmt(u, STMT_QUOTA_SET_USAGE))) {
			r = STORE_EIO;
			goto fail;
		}
		sqlite3_bind_int64(st, 1, (int64_t)counted->storage);
		sqlite3_bind_int64(st, 2, (int64_t)counted->messages);
		sqlite3_bind_int64(st, 3, (int64_t)counted->mailboxes);
		if ((r = sqlite_stmt_run(u, st, "quota_fix")) != STORE_OK)
			goto fail;
	}
	return sqlite_tx_commit(u);
fail:
	sqlite_tx_rollback(u);
	return r;
}
