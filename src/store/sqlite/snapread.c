/* What brings a big mailbox's snapshot up to date (snapd, issue #14;
 * the front's store/snap.c): the SQLite backend's snap_read.
 *
 * A snapshot is the compact listing of a mailbox at a version (uidvalidity,
 * uidnext, highestmodseq). After any change the next SELECT used to read
 * all 100,000 rows again (~10-35 ms). Invariant 1 (store.h) gives every
 * row a change touches a modseq above the highestmodseq before it, and
 * invariant 6 records every expunged UID with the modseq that expunged it,
 * so "rows with modseq > since" (the messages_modseq index) plus "UIDs
 * expunged after since" (the QRESYNC history, expunged.c) is exactly what
 * changed after since, as RFC 7162 3.2.5 relies on for clients. The
 * mailbox row, that delta, and the expunge floor are read in one read
 * transaction, so the version returned is the one the delta leads to.
 *
 * Anything doubtful answers the whole listing instead: another
 * UIDVALIDITY (the mailbox was renumbered), since above the mailbox's
 * highestmodseq (an index restored from a backup), or history pruned past
 * since (floor > since: an expunge may be missing, RFC 7162 3.2.5.2). */
#include "store/sqlite/sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

static int snap_read_delta(struct sqlite_user *u, int64_t mailbox_id, uint64_t since,
			   struct store_snap_read *out)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_SNAP_CHANGED);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, (int64_t)since);
	int r = sqlite_flag_rows(u, st, true, &out->list);
	if (r == STORE_OK)
		r = sqlite_expunged_since(u, mailbox_id, since, &out->expunged, &out->nexpunged);
	return r;
}

static int snap_read_full(struct sqlite_user *u, int64_t mailbox_id, bool keywords,
			  struct store_snap_read *out)
{
	sqlite3_stmt *st = sqlite_stmt(u, keywords ? STMT_MSG_FLAGS_KW : STMT_MSG_FLAGS);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, 1);
	sqlite3_bind_int64(st, 3, UINT32_MAX);
	out->full = true;
	return sqlite_flag_rows(u, st, keywords, &out->list);
}

int sqlite_snap_read(struct store_user *base, int64_t mailbox_id, uint32_t uidvalidity,
		     uint64_t since, uint32_t kw_min, struct store_snap_read *out)
{
	struct sqlite_user *u = sqlite_user_of(base);
	memset(out, 0, sizeof(*out));
	int r = sqlite_tx_read(u);
	if (r != STORE_OK)
		return r;
	struct store_mbox_row row;
	if ((r = sqlite_mbox_by_id(u, mailbox_id, &row)) != STORE_OK)
		goto fail;
	out->ver.uidvalidity = row.uidvalidity;
	out->ver.uidnext = row.uidnext;
	out->ver.highestmodseq = row.highestmodseq;
	uint64_t floor = 0;
	bool delta = since > 0 && row.uidvalidity == uidvalidity && since <= row.highestmodseq;
	if (delta && (r = sqlite_expunged_floor(base, mailbox_id, &floor)) != STORE_OK)
		goto fail;
	if (delta && floor <= since)
		r = snap_read_delta(u, mailbox_id, since, out);
	else
		r = snap_read_full(u, mailbox_id, !kw_min || row.uidnext > kw_min, out);
	if (r != STORE_OK)
		goto fail;
	if ((r = sqlite_tx_commit(u)) == STORE_OK)
		return STORE_OK;
fail:
	sqlite_tx_rollback(u);
	store_snap_read_free(out);
	return r;
}
