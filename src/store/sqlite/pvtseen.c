/* The SQLite backend's private \Seen (issue #12 aclseen): in a mailbox
 * shared with other users, each reader's own \Seen, kept in the OWNER's
 * index so a reader's change, the owner's expunge and the message rows it
 * refers to are one database and one transaction (RFC 4314 leaves \Seen
 * sharing to the server; Dovecot keeps it private per reader too).
 *
 * Table pvt_seen (migration 9): one row per (mailbox, reader, uid) that
 * the reader ever set or cleared \Seen on, with the seen bit and the
 * modseq of that change. A cleared \Seen keeps its row, so the reader's
 * CONDSTORE sees the clearing as a change (RFC 7162 3.1: the reader's
 * modseq of a message is the greater of the message's and its row's).
 * No row: not seen. One row per UID, not UID ranges: a reader touches
 * messages one STORE at a time and SQLite keeps 100,000 such rows in a
 * few MB; ranges would make every STORE a split/merge. Triggers make the
 * rows follow the message: gone with an expunge (and MOVE, and DELETE of
 * the mailbox, which deletes its messages), carried along when RENAME of
 * INBOX moves the messages to the new mailbox. */
#include "store/sqlite/sqlite_internal.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

const char sqlite_pvtseen_schema[] =
	"CREATE TABLE pvt_seen("
	" mailbox_id INTEGER NOT NULL,"
	" reader TEXT NOT NULL,"
	" uid INTEGER NOT NULL,"
	" seen INTEGER NOT NULL,"
	" modseq INTEGER NOT NULL,"
	" PRIMARY KEY(mailbox_id, reader, uid)) WITHOUT ROWID;"
	/* For the triggers: an expunge finds a message's rows of every reader
	 * without scanning the mailbox's. */
	"CREATE INDEX pvt_seen_msg ON pvt_seen(mailbox_id, uid);"
	"CREATE TRIGGER pvt_seen_msg_gone AFTER DELETE ON messages BEGIN"
	" DELETE FROM pvt_seen WHERE mailbox_id=OLD.mailbox_id AND uid=OLD.uid; END;"
	"CREATE TRIGGER pvt_seen_msg_moved AFTER UPDATE OF mailbox_id ON messages BEGIN"
	" UPDATE pvt_seen SET mailbox_id=NEW.mailbox_id"
	"  WHERE mailbox_id=OLD.mailbox_id AND uid=OLD.uid; END;"
	"CREATE TRIGGER pvt_seen_mailbox_gone AFTER DELETE ON mailboxes BEGIN"
	" DELETE FROM pvt_seen WHERE mailbox_id=OLD.id; END;";

/* The statement id with its first parameters (mailbox, reader[, uid])
 * bound; NULL (logged) when it cannot be prepared. */
static sqlite3_stmt *pvt_stmt(struct sqlite_user *u, enum store_stmt id, int64_t mailbox_id,
			      const char *reader, uint32_t uid)
{
	sqlite3_stmt *st = sqlite_stmt(u, id);
	if (st) {
		sqlite3_bind_int64(st, 1, mailbox_id);
		sqlite3_bind_text(st, 2, reader, -1, SQLITE_STATIC);
		if (uid)
			sqlite3_bind_int64(st, 3, uid);
	}
	return st;
}

int sqlite_pvtseen_get(struct sqlite_user *u, int64_t mailbox_id, const char *reader, uint32_t uid,
		       bool *seen, uint64_t *modseq)
{
	*seen = false;
	*modseq = 0;
	sqlite3_stmt *st = pvt_stmt(u, STMT_PVT_GET, mailbox_id, reader, uid);
	if (!st)
		return STORE_EIO;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*seen = sqlite3_column_int(st, 0) != 0;
		*modseq = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite_stmt_done(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK : sqlite_db_error(u, "pvtseen_get");
}

int sqlite_pvtseen_put(struct sqlite_user *u, int64_t mailbox_id, const char *reader, uint32_t uid,
		       bool seen, uint64_t modseq)
{
	sqlite3_stmt *st = pvt_stmt(u, STMT_PVT_PUT, mailbox_id, reader, uid);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int(st, 4, seen);
	sqlite3_bind_int64(st, 5, (int64_t)modseq);
	return sqlite_stmt_run(u, st, "pvtseen_put");
}

int sqlite_pvtseen_rows(struct store_user *base, int64_t mailbox_id, const char *reader,
			struct store_pvtseen **out, size_t *n)
{
	struct sqlite_user *u = sqlite_user_of(base);
	sqlite3_stmt *st = pvt_stmt(u, STMT_PVT_ROWS, mailbox_id, reader, 0);
	if (!st)
		return STORE_EIO;
	struct store_pvtseen *a = NULL;
	size_t cap = 0, cnt = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow((void **)&a, &cap, cnt + 1, sizeof(*a));
		a[cnt].uid = (uint32_t)sqlite3_column_int64(st, 0);
		a[cnt].seen = sqlite3_column_int(st, 1) != 0;
		a[cnt].modseq = (uint64_t)sqlite3_column_int64(st, 2);
		cnt++;
	}
	sqlite_stmt_done(st);
	if (rc != SQLITE_DONE) {
		free(a);
		return sqlite_db_error(u, "pvtseen_rows");
	}
	*out = a;
	*n = cnt;
	return STORE_OK;
}

int sqlite_pvtseen_count(struct store_user *base, int64_t mailbox_id, const char *reader,
			 uint32_t *seen)
{
	struct sqlite_user *u = sqlite_user_of(base);
	sqlite3_stmt *st = pvt_stmt(u, STMT_PVT_COUNT, mailbox_id, reader, 0);
	if (!st)
		return STORE_EIO;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*seen = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite_stmt_done(st);
	return rc == SQLITE_ROW ? STORE_OK : sqlite_db_error(u, "pvtseen_count");
}

static int cmp_msg_uid(const void *x, const void *y)
{
	uint32_t a = ((const struct store_msg *)x)->uid, b = ((const struct store_msg *)y)->uid;
	return a < b ? -1 : a > b;
}

int sqlite_pvtseen_changes(struct sqlite_user *u, int64_t mailbox_id, const char *reader,
			   uint64_t since, struct store_msg **msgs, size_t *n)
{
	struct store_pvtseen *rows = NULL;
	size_t nrows = 0;
	int r = sqlite_pvtseen_rows(&u->base, mailbox_id, reader, &rows, &nrows);
	if (r != STORE_OK)
		return r;
	/* Messages only the reader's \Seen changed are not in the list. */
	if (*n > 1)
		qsort(*msgs, *n, sizeof(**msgs), cmp_msg_uid);
	size_t nold = *n, cap = *n;
	for (size_t i = 0; i < nrows && r == STORE_OK; i++) {
		struct store_msg key = { .uid = rows[i].uid };
		if (rows[i].modseq <= since ||
		    (nold && bsearch(&key, *msgs, nold, sizeof(**msgs), cmp_msg_uid)))
			continue;
		xgrow((void **)msgs, &cap, *n + 1, sizeof(**msgs));
		r = sqlite_msg_get_one(u, mailbox_id, rows[i].uid, &(*msgs)[*n]);
		if (r == STORE_OK)
			(*n)++;
		else if (r == STORE_ENOENT)
			r = STORE_OK; /* a row's message is always there: defensive */
	}
	if (r == STORE_OK) {
		if (*n > nold && *n > 1)
			qsort(*msgs, *n, sizeof(**msgs), cmp_msg_uid);
		store_pvtseen_overlay(*msgs, *n, rows, nrows);
	}
	free(rows);
	return r;
}
