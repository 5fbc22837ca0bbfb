/* Messages of the SQLite backend: listing, changes, APPEND, STORE,
 * COPY/MOVE, EXPUNGE, and the collection of blobs nothing references any
 * more. Arguments arrive checked by the front (store.c).
 *
 * Every change runs in one BEGIN IMMEDIATE transaction that allocates UIDs
 * and a new modseq (one per transaction, RFC 7162 allows several messages
 * to share it), and touches the notify file after it commits. */
#include "store/sqlite/sqlite_internal.h"
#include "store/blob.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- rows ---- */

/* Reads the STORE_MSG_COLUMNS of the current row. */
static void row_to_msg(sqlite3_stmt *st, struct store_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->uid = (uint32_t)sqlite3_column_int64(st, 0);
	m->flags = (uint32_t)sqlite3_column_int64(st, 1) & MAIL_FLAGS_STORED;
	m->modseq = (uint64_t)sqlite3_column_int64(st, 2);
	const unsigned char *kw = sqlite3_column_text(st, 3);
	m->keywords = (kw && *kw) ? xstrdup((const char *)kw) : NULL;
	m->internaldate = sqlite3_column_int64(st, 4);
	m->internaldate_tz = sqlite3_column_int(st, 5);
	m->savedate = sqlite3_column_int64(st, 6);
	m->size = (uint64_t)sqlite3_column_int64(st, 7);
	const unsigned char *blob = sqlite3_column_text(st, 8);
	if (blob)
		snprintf(m->blob, sizeof(m->blob), "%s", (const char *)blob);
}

/* One message by UID inside the caller's transaction: STORE_OK with *m
 * filled (caller frees m->keywords), STORE_ENOENT, or an error. */
static int msg_get_one(struct sqlite_user *u, int64_t mailbox_id, uint32_t uid, struct store_msg *m)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_MSG_GET);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	int rc = sqlite3_step(st);
	int r;
	if (rc == SQLITE_ROW) {
		row_to_msg(st, m);
		r = STORE_OK;
	} else if (rc == SQLITE_DONE) {
		r = STORE_ENOENT;
	} else {
		r = sqlite_db_error(u, "msg_get");
	}
	sqlite_stmt_done(st);
	return r;
}

/* Deletes one message row: STORE_OK with its blob in `blob`, STORE_ENOENT
 * when there was no such message. */
static int msg_delete_one(struct sqlite_user *u, int64_t mailbox_id, uint32_t uid, char blob[65])
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_MSG_DELETE);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	int r = STORE_ENOENT;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *b = sqlite3_column_text(st, 0);
		snprintf(blob, 65, "%s", b ? (const char *)b : "");
		r = STORE_OK;
	}
	if (rc != SQLITE_DONE)
		r = sqlite_db_error(u, "msg_delete");
	sqlite_stmt_done(st);
	return r;
}

static int mbox_set_next(struct sqlite_user *u, int64_t id, uint32_t uidnext, uint64_t modseq)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_MB_SET_NEXT);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, uidnext);
	sqlite3_bind_int64(st, 3, (int64_t)modseq);
	return sqlite_stmt_run(u, st, "mailbox_update");
}

static int mbox_set_modseq(struct sqlite_user *u, int64_t id, uint64_t modseq)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_MB_SET_MODSEQ);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, (int64_t)modseq);
	return sqlite_stmt_run(u, st, "mailbox_update");
}

static int msg_insert(struct sqlite_user *u, int64_t mailbox_id, uint32_t uid, uint64_t modseq,
		      const struct store_msg *m)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_MSG_INSERT);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int64(st, 3, (int64_t)modseq);
	sqlite3_bind_int64(st, 4, m->flags & MAIL_FLAGS_STORED);
	if (m->keywords)
		sqlite3_bind_text(st, 5, m->keywords, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, m->internaldate);
	sqlite3_bind_int(st, 7, m->internaldate_tz);
	sqlite3_bind_int64(st, 8, m->savedate);
	sqlite3_bind_int64(st, 9, (int64_t)m->size);
	sqlite3_bind_text(st, 10, m->blob, -1, SQLITE_STATIC);
	return sqlite_stmt_run(u, st, "msg_insert");
}

/* ---- reading ---- */

/* STORE_ENOENT when the mailbox does not exist, else STORE_OK: only asked
 * when a listing came back empty, so the common path stays one query. */
static int mbox_exists(struct sqlite_user *u, int64_t id)
{
	struct store_mbox_row row;
	return sqlite_mbox_by_id(u, id, &row);
}

int sqlite_msg_list(struct store_user *base, int64_t mailbox_id, uint32_t min_uid, bool meta_only,
		    struct store_msg **out, size_t *n)
{
	struct sqlite_user *u = sqlite_user_of(base);
	sqlite3_stmt *st = sqlite_stmt(u, meta_only ? STMT_MSG_LIST_META : STMT_MSG_LIST_FULL);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, min_uid);
	struct store_msg *a = NULL;
	size_t cap = 0, cnt = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow((void **)&a, &cap, cnt + 1, sizeof(*a));
		struct store_msg *m = &a[cnt++];
		if (meta_only) {
			/* The SELECT path of a large mailbox: four integers, no
			 * allocation per row. */
			memset(m, 0, sizeof(*m));
			m->uid = (uint32_t)sqlite3_column_int64(st, 0);
			m->flags = (uint32_t)sqlite3_column_int64(st, 1) & MAIL_FLAGS_STORED;
			m->modseq = (uint64_t)sqlite3_column_int64(st, 2);
			m->size = (uint64_t)sqlite3_column_int64(st, 3);
		} else {
			row_to_msg(st, m);
		}
	}
	sqlite_stmt_done(st);
	if (rc != SQLITE_DONE) {
		store_msg_array_free(a, cnt);
		return sqlite_db_error(u, "msg_list");
	}
	if (cnt == 0) {
		int r = mbox_exists(u, mailbox_id);
		if (r != STORE_OK)
			return r;
	}
	*out = a;
	*n = cnt;
	return STORE_OK;
}

int sqlite_msg_get(struct store_user *base, int64_t mailbox_id, const uint32_t *uids, size_t nuids,
		   struct store_msg **out, size_t *n)
{
	struct sqlite_user *u = sqlite_user_of(base);
	/* One read transaction: a consistent snapshot and one lock for all
	 * the lookups. */
	int r = sqlite_tx_read(u);
	if (r != STORE_OK)
		return r;
	struct store_msg *a = NULL;
	size_t cap = 0, cnt = 0;
	r = mbox_exists(u, mailbox_id);
	for (size_t i = 0; i < nuids && r == STORE_OK; i++) {
		xgrow((void **)&a, &cap, cnt + 1, sizeof(*a));
		r = msg_get_one(u, mailbox_id, uids[i], &a[cnt]);
		if (r == STORE_OK)
			cnt++;
		else if (r == STORE_ENOENT)
			r = STORE_OK;
	}
	if (r == STORE_OK)
		r = sqlite_tx_commit(u);
	else
		sqlite_tx_rollback(u);
	if (r != STORE_OK) {
		store_msg_array_free(a, cnt);
		return r;
	}
	*out = a;
	*n = cnt;
	return STORE_OK;
}

/* One message's text columns (mailbox_id, uid bound as ?1, ?2): each
 * non-NULL outs[i] receives column i, copied, or stays untouched for SQL
 * NULL. STORE_ENOENT without such a message. */
int sqlite_msg_texts(struct sqlite_user *u, enum store_stmt id, const char *what,
		     int64_t mailbox_id, uint32_t uid, char **const *outs, int n)
{
	sqlite3_stmt *st = sqlite_stmt(u, id);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	int rc = sqlite3_step(st);
	int r = STORE_OK;
	if (rc == SQLITE_ROW) {
		for (int i = 0; i < n; i++) {
			const unsigned char *s = sqlite3_column_text(st, i);
			if (outs[i] && s)
				*outs[i] = xstrdup((const char *)s);
		}
	} else if (rc == SQLITE_DONE) {
		r = STORE_ENOENT;
	} else {
		r = sqlite_db_error(u, what);
	}
	sqlite_stmt_done(st);
	return r;
}

int sqlite_msg_cached(struct store_user *base, int64_t mailbox_id, uint32_t uid, char **envelope,
		      char **bodystructure, char **body)
{
	char **const outs[3] = { envelope, bodystructure, body };
	return sqlite_msg_texts(sqlite_user_of(base), STMT_MSG_CACHED, "msg_cached", mailbox_id, uid,
				outs, 3);
}

int sqlite_msg_get_one(struct sqlite_user *u, int64_t mailbox_id, uint32_t uid,
		       struct store_msg *m)
{
	return msg_get_one(u, mailbox_id, uid, m);
}

/* quiet: the HIGHESTMODSEQ of mailbox_id as read at wal-index header hdr,
 * if known. */
static bool quiet_lookup(const struct sqlite_user *u, const unsigned char *hdr, int64_t mailbox_id,
			 uint64_t *highestmodseq)
{
	if (u->nquiet == 0 || memcmp(hdr, u->quiet_hdr, SQLITE_WAL_HEADER_BYTES) != 0)
		return false;
	for (unsigned i = 0; i < u->nquiet; i++) {
		if (u->quiet[i].id == mailbox_id) {
			*highestmodseq = u->quiet[i].highestmodseq;
			return true;
		}
	}
	return false;
}

/* quiet: notes what a read transaction begun after header hdr was read
 * found; a new header forgets what was noted at the old one. */
static void quiet_note(struct sqlite_user *u, const unsigned char *hdr, int64_t mailbox_id,
		       uint64_t highestmodseq)
{
	if (memcmp(hdr, u->quiet_hdr, SQLITE_WAL_HEADER_BYTES) != 0) {
		memcpy(u->quiet_hdr, hdr, SQLITE_WAL_HEADER_BYTES);
		u->nquiet = 0;
		u->quiet_next = 0;
	}
	unsigned i = 0;
	while (i < u->nquiet && u->quiet[i].id != mailbox_id)
		i++;
	if (i == u->nquiet) {
		if (u->nquiet < SQLITE_QUIET_MAILBOXES) {
			u->nquiet++;
		} else {
			i = u->quiet_next;
			u->quiet_next = (u->quiet_next + 1) % SQLITE_QUIET_MAILBOXES;
		}
	}
	u->quiet[i].id = mailbox_id;
	u->quiet[i].highestmodseq = highestmodseq;
}

int sqlite_changes(struct store_user *base, const char *reader, int64_t mailbox_id,
		   uint64_t since, struct store_msg **changed, size_t *nchanged,
		   uint32_t **expunged, size_t *nexpunged)
{
	struct sqlite_user *u = sqlite_user_of(base);
	/* Nothing to report unless the queries below find it. */
	*changed = NULL;
	*nchanged = 0;
	*expunged = NULL;
	*nexpunged = 0;
	/* quiet: read before the transaction begins, so what it finds is at
	 * least as new as this header (a commit in between only makes the
	 * next call look again). Not inside a read hold: its snapshot may
	 * be older than the header. */
	unsigned char hdr[SQLITE_WAL_HEADER_BYTES];
	bool have_hdr = sqlite3_get_autocommit(u->db) && sqlite_walvfs_header(u->db, hdr);
	uint64_t known;
	if (have_hdr && quiet_lookup(u, hdr, mailbox_id, &known) && known <= since)
		return STORE_OK;
	int r = sqlite_tx_read(u);
	if (r != STORE_OK)
		return r;
	struct store_msg *msgs = NULL;
	uint32_t *exp = NULL;
	size_t cap = 0, n = 0, en = 0;
	int rc = SQLITE_DONE;
	struct store_mbox_row row;
	r = sqlite_mbox_by_id(u, mailbox_id, &row);
	if (r != STORE_OK)
		goto fail;
	if (have_hdr)
		quiet_note(u, hdr, mailbox_id, row.highestmodseq);
	/* Invariant 1 (store.h): every change, a reader's private \Seen
	 * included, raises HIGHESTMODSEQ to the modseq it records; a caller
	 * already there has nothing to learn. Most commands' sync ends here,
	 * without the two range queries. */
	if (row.highestmodseq <= since) {
		r = sqlite_tx_commit(u);
		if (r != STORE_OK)
			goto fail;
		return STORE_OK;
	}
	sqlite3_stmt *st = sqlite_stmt(u, STMT_MSG_CHANGED);
	if (!st) {
		r = STORE_EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, (int64_t)since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow((void **)&msgs, &cap, n + 1, sizeof(*msgs));
		row_to_msg(st, &msgs[n++]);
	}
	sqlite_stmt_done(st);
	if (rc != SQLITE_DONE) {
		r = sqlite_db_error(u, "changes");
		goto fail;
	}
	if (reader && (r = sqlite_pvtseen_changes(u, mailbox_id, reader, since, &msgs, &n)) !=
			      STORE_OK)
		goto fail;
	if ((r = sqlite_expunged_since(u, mailbox_id, since, &exp, &en)) != STORE_OK)
		goto fail;
	r = sqlite_tx_commit(u);
	if (r != STORE_OK)
		goto fail;
	*changed = msgs;
	*nchanged = n;
	*expunged = exp;
	*nexpunged = en;
	return STORE_OK;
fail:
	sqlite_tx_rollback(u);
	store_msg_array_free(msgs, n);
	free(exp);
	return r;
}

/* ---- blob collection ---- */

static int blob_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Inside the caller's write transaction: keeps in blobs[0..n) only the
 * distinct blobs no message references any more, deleting their cached
 * strings and queueing their search entries for the indexer (search_gc in
 * search.c); returns how many are left. */
static size_t blobs_release(struct sqlite_user *u, char (*blobs)[65], size_t n)
{
	if (n == 0)
		return 0;
	qsort(blobs, n, sizeof(*blobs), blob_cmp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && strcmp(blobs[i], blobs[k - 1]) == 0)
			continue;
		sqlite3_stmt *st = sqlite_stmt(u, STMT_BLOB_REFERENCED);
		if (!st)
			break;
		sqlite3_bind_text(st, 1, blobs[i], -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		sqlite_stmt_done(st);
		if (rc != SQLITE_DONE)
			continue;  /* still referenced (ROW), or an error: keep it */
		st = sqlite_stmt(u, STMT_CACHE_DELETE);
		if (st) {
			sqlite3_bind_text(st, 1, blobs[i], -1, SQLITE_STATIC);
			sqlite_stmt_run(u, st, "cache_delete");
		}
		sqlite_search_forget_later(u, blobs[i]);
		sqlite_inline_delete(u, blobs[i]);  /* inline */
		if (k != i)
			memcpy(blobs[k], blobs[i], sizeof(*blobs));
		k++;
	}
	return k;
}

void sqlite_blobs_collect(struct sqlite_user *u, char (*blobs)[65], size_t n)
{
	if (n == 0)
		return;
	if (sqlite_tx_write(u) != STORE_OK) {
		log_warn("event=store_gc_skipped user=%s blobs=%zu", u->username, n);
		return;
	}
	/* Unlinked while we hold the write lock: an append of the same
	 * bytes either committed before (and we saw its row) or checks for
	 * the file after we release the lock and rewrites it. The row of a
	 * small message goes in this transaction (blobs_release); the unlink
	 * still runs, for a file of the same bytes stored before inline_max
	 * allowed rows, and to empty the message cache. */
	n = blobs_release(u, blobs, n);
	for (size_t i = 0; i < n; i++)
		store_blobs_unlink(u->base.blobs, blobs[i]);
	sqlite_tx_commit(u);
}

/* ---- writing ---- */

/* REPLACE (RFC 8508): expunges message uid of mailbox_id inside the
 * append's transaction, whose modseq is `modseq` when that is the append's
 * mailbox; *blob receives its blob for collection after the commit. */
static int replace_expunge(struct sqlite_user *u, int64_t mailbox_id, uint32_t uid,
			   int64_t append_mb, uint64_t modseq, char blob[65])
{
	if (mailbox_id != append_mb) {
		struct store_mbox_row src;
		int r = sqlite_mbox_by_id(u, mailbox_id, &src);
		if (r != STORE_OK)
			return r == STORE_ENOENT ? STORE_ECANNOT : r;
		modseq = src.highestmodseq + 1;
	}
	int r = msg_delete_one(u, mailbox_id, uid, blob);
	if (r == STORE_ENOENT)
		return STORE_ECANNOT;
	if (r == STORE_OK)
		r = sqlite_expunged_add(u, mailbox_id, &uid, 1, modseq);
	/* The append's mailbox gets its modseq from mbox_set_next(). */
	if (r == STORE_OK && mailbox_id != append_mb)
		r = mbox_set_modseq(u, mailbox_id, modseq);
	return r;
}

/* migrate: the UID of each message, from UIDNEXT on, or with import the
 * want_uid each asks for (ascending, none below UIDNEXT: invariant 2).
 * *next receives the new UIDNEXT. */
static int append_uids(const struct store_mbox_row *row, const struct store_append *msgs,
		       size_t n, bool import, uint32_t *uids, uint32_t *next)
{
	uint64_t nx = row->uidnext;
	for (size_t i = 0; i < n; i++) {
		uint64_t want = import && msgs[i].want_uid ? msgs[i].want_uid : nx;
		if (want < nx)
			return STORE_EINVAL;
		if (want >= UINT32_MAX)
			/* RFC 9051 2.3.1.1: UIDs are 32-bit; a mailbox that ran
			 * out needs a new UIDVALIDITY, an administrator's job. */
			return STORE_ELIMIT;
		uids[i] = (uint32_t)want;
		nx = want + 1;
	}
	*next = (uint32_t)nx;
	return STORE_OK;
}

/* APPEND, REPLACE when replace_mb > 0, the import path with import; claim
 * as store_append_claim() (NULL: none). */
static int append_tx(struct sqlite_user *u, const char *name, struct store_append *msgs, size_t n,
		     uint32_t *uidvalidity, int64_t replace_mb, uint32_t replace_uid, bool import,
		     struct store_recent_claim *claim)
{
	bool claiming = false;
	uint32_t *uids = xcalloc(n, sizeof(*uids)), next = 0;
	char replaced[65] = "";
	char (*sha)[65] = xcalloc(n, sizeof(*sha));
	/* inline: the bytes of each small message (NULL: a file), and the
	 * copies read from spool files. */
	const void **inl = xcalloc(n, sizeof(*inl));
	char **own = xcalloc(n, sizeof(*own));
	bool in_tx = false;
	struct store_mbox_row row;
	int r = STORE_OK;
	/* A missing mailbox is refused before any file is written; when
	 * every message is small (rows of the transaction below, inline.c),
	 * the transaction's own lookup finds that out, and the read
	 * transaction this one costs is saved (issue #14: ~4% of deliver's
	 * CPU). */
	bool files = false;
	for (size_t i = 0; i < n; i++)
		files |= !store_inline_fits(msgs[i].len);
	if (files && (r = sqlite_mbox_by_name(u, name, &row)) != STORE_OK)
		goto out;
	/* Blobs first, each durable before the index can point at it; no
	 * lock is held during these fsyncs. A small message is a row of the
	 * transaction below instead (inline.c). */
	for (size_t i = 0; i < n; i++) {
		bool named = msgs[i].blob_hex && strlen(msgs[i].blob_hex) == 64;
		if (named)
			memcpy(sha[i], msgs[i].blob_hex, 65);
		if (store_inline_fits(msgs[i].len)) {
			/* The bytes in memory (a spool file read once), then
			 * hashed there. */
			if ((r = sqlite_inline_bytes(&msgs[i], &own[i], &inl[i])) != STORE_OK)
				goto out;
			if (!named)
				store_blob_hash(inl[i], msgs[i].len, sha[i]);
			continue;
		}
		if (!named && (r = store_blob_hash_msg(&msgs[i], sha[i])) != STORE_OK)
			goto out;
		/* lmtp: made durable by store_msg_prepare() (in this process:
		 * its rename and directory fsync are done). */
		if (named && store_blobs_present(u->base.blobs, sha[i], msgs[i].len))
			continue;
		if ((r = store_blobs_put_msg(u->base.blobs, sha[i], &msgs[i])) != STORE_OK)
			goto out;
	}
	if ((r = sqlite_tx_write(u)) != STORE_OK)
		goto out;
	in_tx = true;
	struct store_quota_usage qbefore;
	if ((r = sqlite_mbox_by_name(u, name, &row)) != STORE_OK ||
	    (r = sqlite_quota_read(u, &qbefore, NULL)) != STORE_OK)
		goto out;
	if ((r = append_uids(&row, msgs, n, import, uids, &next)) != STORE_OK)
		goto out;
	uint64_t modseq = row.highestmodseq + 1;
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < n; i++) {
		if (inl[i] && (r = sqlite_inline_put(u, sha[i], inl[i], msgs[i].len)) != STORE_OK)
			goto out;
		/* A concurrent expunge may have collected an existing blob we
		 * decided to reuse; under the write lock the answer is final. */
		if (!inl[i] && !store_blobs_present(u->base.blobs, sha[i], msgs[i].len) &&
		    (r = store_blobs_put_msg(u->base.blobs, sha[i], &msgs[i])) != STORE_OK)
			goto out;
		struct store_msg m;
		memset(&m, 0, sizeof(m));
		m.flags = msgs[i].flags & MAIL_FLAGS_STORED;
		m.keywords = (char *)msgs[i].keywords;
		m.internaldate = msgs[i].internaldate == -1 ? now : msgs[i].internaldate;
		m.internaldate_tz = msgs[i].internaldate_tz;
		m.savedate = now;
		m.size = msgs[i].len;
		memcpy(m.blob, sha[i], sizeof(m.blob));
		if ((r = msg_insert(u, row.id, uids[i], modseq, &m)) != STORE_OK)
			goto out;
		/* The cached strings and the preview: one row written once. */
		if (msgs[i].envelope || msgs[i].bodystructure || msgs[i].body ||
		    msgs[i].preview) {
			sqlite3_stmt *st = sqlite_stmt(u, STMT_CACHE_UPSERT);
			if (!st) {
				r = STORE_EIO;
				goto out;
			}
			sqlite3_bind_text(st, 1, sha[i], -1, SQLITE_STATIC);
			if (msgs[i].envelope)
				sqlite3_bind_text(st, 2, msgs[i].envelope, -1, SQLITE_STATIC);
			if (msgs[i].bodystructure)
				sqlite3_bind_text(st, 3, msgs[i].bodystructure, -1, SQLITE_STATIC);
			if (msgs[i].body)
				sqlite3_bind_text(st, 4, msgs[i].body, -1, SQLITE_STATIC);
			if (msgs[i].preview) /* preview */
				sqlite3_bind_text(st, 5, msgs[i].preview, -1, SQLITE_STATIC);
			if ((r = sqlite_stmt_run(u, st, "cache_upsert")) != STORE_OK)
				goto out;
		}
		if (msgs[i].search &&
		    (r = sqlite_search_put_one(u, sha[i], msgs[i].search)) != STORE_OK)
			goto out;
	}
	if (replace_mb > 0 && (r = replace_expunge(u, replace_mb, replace_uid, row.id, modseq,
						   replaced)) != STORE_OK)
		goto out;
	if ((r = sqlite_quota_check(u, &qbefore)) != STORE_OK ||
	    (r = mbox_set_next(u, row.id, next, modseq)) != STORE_OK)
		goto out;
	/* store_append_claim(): published (made) once this commits. */
	claiming = claim && claim->mailbox_id == row.id;
	if (claiming) {
		claim->from = row.first_recent_uid;
		claim->end = next;
		if (row.first_recent_uid != next &&
		    (r = sqlite_mbox_set_first_recent(u, row.id, next)) != STORE_OK)
			goto out;
	}
	in_tx = false;
	if ((r = sqlite_tx_commit(u)) != STORE_OK)
		goto out;
	if (claiming)
		claim->made = true;
	for (size_t i = 0; i < n; i++) {
		msgs[i].uid = uids[i];
		/* msgcache: new mail is what clients fetch next (a file's
		 * bytes were remembered by store_blobs_put). */
		if (inl[i])
			store_blobs_remember(u->base.blobs, sha[i], inl[i], msgs[i].len);
	}
	if (uidvalidity)
		*uidvalidity = row.uidvalidity;
	sqlite_notify(u);
	/* After the commit: a crash before this only leaves garbage. */
	if (store_blob_name_valid(replaced))
		sqlite_blobs_collect(u, &replaced, 1);
out:
	if (in_tx)
		sqlite_tx_rollback(u);
	for (size_t i = 0; i < n; i++)
		free(own[i]);
	free(own);
	free(inl);
	free(sha);
	free(uids);
	return r;
}

int sqlite_append(struct store_user *base, const char *name, struct store_append *msgs, size_t n,
		  uint32_t *uidvalidity, struct store_recent_claim *claim)
{
	return append_tx(sqlite_user_of(base), name, msgs, n, uidvalidity, 0, 0, false, claim);
}

int sqlite_replace(struct store_user *base, int64_t mailbox_id, uint32_t uid, const char *to,
		   struct store_append *msg, uint32_t *uidvalidity)
{
	return append_tx(sqlite_user_of(base), to, msg, 1, uidvalidity, mailbox_id, uid, false,
			 NULL);
}

int sqlite_flags(struct store_user *base, const char *reader, int64_t mailbox_id,
		 const uint32_t *uids, size_t nuids, enum store_flag_mode mode, uint32_t flags,
		 const char *keywords, uint64_t unchangedsince, struct store_msg **changed,
		 size_t *nchanged, uint32_t **failed, size_t *nfailed)
{
	struct sqlite_user *u = sqlite_user_of(base);
	struct store_kwset arg;
	int r = store_kwset_parse(keywords, false, &arg);
	if (r != STORE_OK)
		return r;
	struct store_msg *ch = NULL;
	uint32_t *fl = NULL;
	size_t chcap = 0, nch = 0, flcap = 0, nfl = 0;
	/* durable: flags are metadata (docs/durability.md) */
	if ((r = sqlite_tx_write_meta(u)) != STORE_OK)
		goto out;
	struct store_mbox_row row;
	if ((r = sqlite_mbox_by_id(u, mailbox_id, &row)) != STORE_OK)
		goto fail;
	uint64_t modseq = row.highestmodseq + 1;
	for (size_t i = 0; i < nuids; i++) {
		struct store_msg m;
		r = msg_get_one(u, mailbox_id, uids[i], &m);
		if (r == STORE_ENOENT) {
			r = STORE_OK;
			continue;
		}
		if (r != STORE_OK)
			goto fail;
		/* aclseen: the reader's view of the message (pvtseen.c). */
		uint32_t stored = m.flags;
		bool pvt_seen = false;
		uint64_t pvt_modseq = 0;
		if (reader) {
			if ((r = sqlite_pvtseen_get(u, mailbox_id, reader, m.uid, &pvt_seen,
						    &pvt_modseq)) != STORE_OK) {
				free(m.keywords);
				goto fail;
			}
			m.flags = (m.flags & ~(uint32_t)MAIL_FLAG_SEEN) | (pvt_seen ? MAIL_FLAG_SEEN : 0);
			m.modseq = MAX(m.modseq, pvt_modseq);
		}
		/* RFC 7162 3.1.3: a message modified after UNCHANGEDSINCE is
		 * left alone and reported. */
		if (unchangedsince && m.modseq > unchangedsince) {
			free(m.keywords);
			xgrow((void **)&fl, &flcap, nfl + 1, sizeof(*fl));
			fl[nfl++] = m.uid;
			continue;
		}
		uint32_t nf = mode == STORE_FLAGS_SET ? flags
			    : mode == STORE_FLAGS_ADD ? (m.flags | flags)
						      : (m.flags & ~flags);
		struct store_kwset cur;
		store_kwset_parse(m.keywords, false, &cur);
		char *nkw = NULL;
		r = store_kwset_apply(&cur, &arg, mode, &nkw);
		store_kwset_free(&cur);
		bool kw_same = (!nkw && !m.keywords) ||
			       (nkw && m.keywords && strcmp(nkw, m.keywords) == 0);
		bool same = nf == m.flags && kw_same;
		if (r != STORE_OK || same) {
			/* Unchanged messages keep their modseq (RFC 7162 3.1.3). */
			free(nkw);
			free(m.keywords);
			if (r != STORE_OK)
				goto fail;
			continue;
		}
		/* A reader's \Seen goes to its row, the rest to the message;
		 * only what changed is written. */
		uint32_t nstored = reader ? (nf & ~(uint32_t)MAIL_FLAG_SEEN) |
						    (stored & MAIL_FLAG_SEEN)
					  : nf;
		if (reader && ((nf ^ m.flags) & MAIL_FLAG_SEEN))
			r = sqlite_pvtseen_put(u, mailbox_id, reader, m.uid,
					       (nf & MAIL_FLAG_SEEN) != 0, modseq);
		if (r == STORE_OK && (nstored != stored || !kw_same)) {
			sqlite3_stmt *st = sqlite_stmt(u, STMT_MSG_SET_FLAGS);
			if (st) {
				sqlite3_bind_int64(st, 1, mailbox_id);
				sqlite3_bind_int64(st, 2, m.uid);
				sqlite3_bind_int64(st, 3, nstored);
				if (nkw)
					sqlite3_bind_text(st, 4, nkw, -1, SQLITE_STATIC);
				sqlite3_bind_int64(st, 5, (int64_t)modseq);
				r = sqlite_stmt_run(u, st, "flags");
			} else {
				r = STORE_EIO;
			}
		}
		free(m.keywords);
		m.keywords = nkw;
		m.flags = nf;
		m.modseq = modseq;
		xgrow((void **)&ch, &chcap, nch + 1, sizeof(*ch));
		ch[nch++] = m;
		if (r != STORE_OK)
			goto fail;
	}
	if (nch > 0 && (r = mbox_set_modseq(u, mailbox_id, modseq)) != STORE_OK)
		goto fail;
	if ((r = sqlite_tx_commit(u)) != STORE_OK)
		goto out;
	if (nch > 0)
		sqlite_notify(u);
	*changed = ch;
	*nchanged = nch;
	ch = NULL;
	nch = 0;
	*failed = fl;
	*nfailed = nfl;
	fl = NULL;
	goto out;
fail:
	sqlite_tx_rollback(u);
out:
	store_msg_array_free(ch, nch);
	free(fl);
	store_kwset_free(&arg);
	return r;
}

int sqlite_copy(struct store_user *base, int64_t mailbox_id, const uint32_t *uids, size_t nuids,
		const char *name, bool move, uint32_t *uidvalidity, uint32_t **src_uids,
		uint32_t **dst_uids, size_t *ncopied)
{
	struct sqlite_user *u = sqlite_user_of(base);
	uint32_t *su = NULL, *du = NULL;
	size_t scap = 0, dcap = 0, n = 0;
	int r = sqlite_tx_write(u);
	if (r != STORE_OK)
		goto out;
	struct store_mbox_row src, dst;
	struct store_quota_usage qbefore;
	if ((r = sqlite_mbox_by_id(u, mailbox_id, &src)) != STORE_OK ||
	    (r = sqlite_mbox_by_name(u, name, &dst)) != STORE_OK ||
	    (r = sqlite_quota_read(u, &qbefore, NULL)) != STORE_OK)
		goto fail;
	bool same = src.id == dst.id;
	uint64_t dst_modseq = dst.highestmodseq + 1;
	uint64_t src_modseq = same ? dst_modseq : src.highestmodseq + 1;
	uint32_t uidnext = dst.uidnext;
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < nuids; i++) {
		/* UIDs from src.uidnext on did not exist when we started (a
		 * copy into the same mailbox creates them). */
		if (uids[i] >= src.uidnext)
			continue;
		struct store_msg m;
		r = msg_get_one(u, src.id, uids[i], &m);
		if (r == STORE_ENOENT) {
			r = STORE_OK;
			continue;
		}
		if (r != STORE_OK)
			goto fail;
		if (uidnext == UINT32_MAX) {
			free(m.keywords);
			r = STORE_ELIMIT;
			goto fail;
		}
		/* Flags, keywords and INTERNALDATE travel with the message
		 * (RFC 9051 6.4.7); SAVEDATE is when it arrived here. */
		m.savedate = now;
		r = msg_insert(u, dst.id, uidnext, dst_modseq, &m);
		free(m.keywords);
		if (r != STORE_OK)
			goto fail;
		if (move) {
			char blob[65];
			r = msg_delete_one(u, src.id, m.uid, blob);
			if (r != STORE_OK)
				goto fail;
		}
		xgrow((void **)&su, &scap, n + 1, sizeof(*su));
		xgrow((void **)&du, &dcap, n + 1, sizeof(*du));
		su[n] = m.uid;
		du[n] = uidnext++;
		n++;
	}
	if (n > 0) {
		/* A MOVE does not grow usage, so it passes even at the limit. */
		if ((r = sqlite_quota_check(u, &qbefore)) != STORE_OK ||
		    (r = mbox_set_next(u, dst.id, uidnext, dst_modseq)) != STORE_OK)
			goto fail;
		if (move && (r = sqlite_expunged_add(u, src.id, su, n, src_modseq)) != STORE_OK)
			goto fail;
		if (move && !same && (r = mbox_set_modseq(u, src.id, src_modseq)) != STORE_OK)
			goto fail;
	}
	if ((r = sqlite_tx_commit(u)) != STORE_OK)
		goto out;
	if (n > 0)
		sqlite_notify(u);
	*uidvalidity = dst.uidvalidity;
	*ncopied = n;
	*src_uids = su;
	*dst_uids = du;
	return STORE_OK;
fail:
	sqlite_tx_rollback(u);
out:
	free(su);
	free(du);
	return r;
}

int sqlite_expunge(struct store_user *base, int64_t mailbox_id, const uint32_t *uids,
		   size_t nuids)
{
	struct sqlite_user *u = sqlite_user_of(base);
	/* durable: an expunge is metadata; its files go once it is durable */
	int r = sqlite_tx_write_meta(u);
	if (r != STORE_OK)
		return r;
	char (*blobs)[65] = NULL;
	uint32_t *gone = NULL;
	size_t cap = 0, n = 0, nexp = 0, gcap = 0;
	struct store_mbox_row row;
	if ((r = sqlite_mbox_by_id(u, mailbox_id, &row)) != STORE_OK)
		goto fail;
	uint64_t modseq = row.highestmodseq + 1;
	for (size_t i = 0; i < nuids; i++) {
		char blob[65];
		r = msg_delete_one(u, mailbox_id, uids[i], blob);
		if (r == STORE_ENOENT) {
			r = STORE_OK;
			continue;
		}
		if (r != STORE_OK)
			goto fail;
		xgrow((void **)&gone, &gcap, nexp + 1, sizeof(*gone));
		gone[nexp++] = uids[i];
		if (store_blob_name_valid(blob)) {
			xgrow((void **)&blobs, &cap, n + 1, sizeof(*blobs));
			memcpy(blobs[n++], blob, 65);
		}
	}
	if (nexp > 0 && ((r = sqlite_expunged_add(u, mailbox_id, gone, nexp, modseq)) != STORE_OK ||
			 (r = mbox_set_modseq(u, mailbox_id, modseq)) != STORE_OK))
		goto fail;
	/* The cached strings of blobs left without a message go with the
	 * rows, so a file a crash leaves behind is plain garbage to `rampart
	 * check`, not mail to recover; the files go after the commit is
	 * durable (a crash before that only leaves garbage). */
	n = blobs_release(u, blobs, n);
	if ((r = sqlite_tx_commit_gc(u, blobs, n)) != STORE_OK)
		goto out;
	if (nexp > 0)
		sqlite_notify(u);
	goto out;
fail:
	sqlite_tx_rollback(u);
out:
	free(blobs);
	free(gone);
	return r;
}

/* check (issue #13): row primitives for store/sqlite/check.c, inside the
 * caller's write transaction. */
int sqlite_msg_insert(struct sqlite_user *u, int64_t mailbox_id, uint32_t uid, uint64_t modseq,
		      const struct store_msg *m)
{
	return msg_insert(u, mailbox_id, uid, modseq, m);
}

int sqlite_msg_delete_one(struct sqlite_user *u, int64_t mailbox_id, uint32_t uid, char blob[65])
{
	return msg_delete_one(u, mailbox_id, uid, blob);
}

/* migrate (issue #13): store_import_append(). */
int sqlite_import_append(struct store_user *base, const char *name, struct store_append *msgs,
			 size_t n, uint32_t *uidvalidity)
{
	return append_tx(sqlite_user_of(base), name, msgs, n, uidvalidity, 0, 0, true, NULL);
}
