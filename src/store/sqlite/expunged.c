/* The expunge history of the SQLite backend (store.h invariant 6): which
 * UIDs each write transaction expunged, kept as ranges, so that QRESYNC
 * (RFC 7162 3.2.5) can tell a client offline for months what vanished
 * without one row per UID forever.
 *
 * Rows are (mailbox, modseq, uid_lo, uid_hi, expunged_at). UIDs are never
 * reused (invariant 2), so a UID below UIDNEXT that is not in `messages`
 * was expunged at some time: a range may therefore cover UIDs expunged
 * earlier, and reporting those again is allowed (RFC 7162 3.2.10: a client
 * ignores UIDs it does not know). One transaction's UIDs join into one
 * range across small gaps of such absent UIDs; a gap holding a live message
 * breaks the range.
 *
 * Pruning: rows older than the configured history are deleted, oldest
 * modseq first and at most SQLITE_EXPUNGED_PRUNE_MAX per write transaction
 * (so an expunge never pays for years of backlog at once); the highest
 * modseq deleted becomes the mailbox's floor. store_changes(since) is
 * complete only for since >= floor; below it the IMAP layer answers as
 * RFC 7162 3.2.5.2 allows (every absent UID is reported). */
#include "store/sqlite/sqlite_internal.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Two UIDs of one expunge join across at most this many absent UIDs: a
 * range is expanded to UIDs when read, so a gap must stay small. */
#define SQLITE_EXPUNGED_GAP_MAX 64
#define SQLITE_EXPUNGED_PRUNE_MAX 64

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y ? 1 : 0;
}

/* A live message with lo < uid < hi? */
static int live_between(struct sqlite_user *u, int64_t mailbox_id, uint32_t lo, uint32_t hi,
			bool *live)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_EXPR_LIVE_BETWEEN);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, lo);
	sqlite3_bind_int64(st, 3, hi);
	int rc = sqlite3_step(st);
	*live = rc == SQLITE_ROW;
	sqlite_stmt_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sqlite_db_error(u, "expunged_gap");
	return STORE_OK;
}

static int range_insert(struct sqlite_user *u, int64_t mailbox_id, uint64_t modseq, uint32_t lo,
			uint32_t hi, int64_t now)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_EXPR_INSERT);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, (int64_t)modseq);
	sqlite3_bind_int64(st, 3, lo);
	sqlite3_bind_int64(st, 4, hi);
	sqlite3_bind_int64(st, 5, now);
	return sqlite_stmt_run(u, st, "expunged_add");
}

/* Deletes up to SQLITE_EXPUNGED_PRUNE_MAX rows of the mailbox older than
 * the configured history, raising its floor to their highest modseq. */
static int prune(struct sqlite_user *u, int64_t mailbox_id, int64_t now)
{
	unsigned days = store_expunged_history_days();
	if (days == 0)
		return STORE_OK;
	int64_t cutoff = now - (int64_t)days * 86400;
	sqlite3_stmt *st = sqlite_stmt(u, STMT_EXPR_OLDEST);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, SQLITE_EXPUNGED_PRUNE_MAX);
	uint64_t floor = 0;
	int rc;
	/* Oldest modseq first: modseqs grow with time, so the rows to prune
	 * are a prefix, and the first young row ends the walk. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_int64(st, 1) >= cutoff)
			break;
		floor = (uint64_t)sqlite3_column_int64(st, 0);
	}
	sqlite_stmt_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sqlite_db_error(u, "expunged_prune");
	if (floor == 0)
		return STORE_OK;
	/* Every row at or below floor goes (ties of one modseq included). */
	if (!(st = sqlite_stmt(u, STMT_EXPR_PRUNE)))
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, (int64_t)floor);
	int r = sqlite_stmt_run(u, st, "expunged_prune");
	if (r != STORE_OK)
		return r;
	if (!(st = sqlite_stmt(u, STMT_EXPR_FLOOR_SET)))
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, (int64_t)floor);
	return sqlite_stmt_run(u, st, "expunged_prune");
}

int sqlite_expunged_add(struct sqlite_user *u, int64_t mailbox_id, const uint32_t *uids, size_t n,
			uint64_t modseq)
{
	if (n == 0)
		return STORE_OK;
	int64_t now = (int64_t)time(NULL);
	uint32_t *v = xmalloc(n * sizeof(*v));
	memcpy(v, uids, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_u32);
	int r = STORE_OK;
	size_t i = 0;
	while (i < n && r == STORE_OK) {
		uint32_t lo = v[i], hi = v[i];
		for (i++; i < n; i++) {
			if (v[i] == hi)
				continue;
			if (v[i] - hi - 1 > SQLITE_EXPUNGED_GAP_MAX)
				break;
			bool live = false;
			if (v[i] != hi + 1 && (r = live_between(u, mailbox_id, hi, v[i], &live)) != STORE_OK)
				break;
			if (live)
				break;
			hi = v[i];
		}
		if (r == STORE_OK)
			r = range_insert(u, mailbox_id, modseq, lo, hi, now);
	}
	free(v);
	if (r == STORE_OK)
		r = prune(u, mailbox_id, now);
	return r;
}

int sqlite_expunged_since(struct sqlite_user *u, int64_t mailbox_id, uint64_t since,
			  uint32_t **out, size_t *n)
{
	uint32_t *exp = NULL;
	size_t cap = 0, en = 0;
	sqlite3_stmt *st = sqlite_stmt(u, STMT_EXP_CHANGED);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, (int64_t)since);
	int rc;
	bool sorted = true;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t lo = (uint32_t)sqlite3_column_int64(st, 0);
		uint32_t hi = (uint32_t)sqlite3_column_int64(st, 1);
		if (en && lo <= exp[en - 1])
			sorted = false;
		for (uint64_t x = lo; x <= hi; x++) {
			xgrow((void **)&exp, &cap, en + 1, sizeof(*exp));
			exp[en++] = (uint32_t)x;
		}
	}
	sqlite_stmt_done(st);
	if (rc != SQLITE_DONE) {
		free(exp);
		return sqlite_db_error(u, "changes");
	}
	if (!sorted) {
		/* Ranges of different transactions may overlap. */
		qsort(exp, en, sizeof(*exp), cmp_u32);
		size_t k = 0;
		for (size_t i = 0; i < en; i++)
			if (k == 0 || exp[i] != exp[k - 1])
				exp[k++] = exp[i];
		en = k;
	}
	*out = exp;
	*n = en;
	return STORE_OK;
}

int sqlite_expunged_floor(struct store_user *base, int64_t mailbox_id, uint64_t *floor)
{
	struct sqlite_user *u = sqlite_user_of(base);
	*floor = 0;
	sqlite3_stmt *st = sqlite_stmt(u, STMT_EXPR_FLOOR_GET);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*floor = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite_stmt_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sqlite_db_error(u, "expunged_floor");
	return STORE_OK;
}
