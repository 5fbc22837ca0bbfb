/* The search index of the SQLite backend (store.h "Search index"): the
 * table search_doc (one row per blob: decoded header fields, the Date:
 * day) and the FTS5 table search_text (the casefolded header and body
 * text, rowid = search_doc.id), both made by migration 3 (db.c).
 *
 * search_text uses the trigram tokenizer (SQLite 3.34+), which makes
 * every substring of three or more characters searchable: a needle's
 * trigrams, ANDed, select the candidates, and each candidate's stored
 * text is then checked for the needle itself, so the answer is exactly
 * RFC 9051's substring match over the same folded text the evaluator
 * would compute from the file (mail/searchdoc.c). The text is folded
 * before it is stored (i;unicode-casemap, RFC 5051), so the tokenizer
 * runs case-sensitive. detail=column keeps the index small (no
 * positions): trigrams are matched as a set, the exact check does the
 * rest. Needles shorter than three characters, or not valid UTF-8, scan
 * the stored text of the mailbox instead; still no message file is read. */
#include "store/sqlite/sqlite_internal.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A MATCH expression with more trigrams than this costs more to evaluate
 * than the candidates it removes; a sample is as exact after the check. */
#define SEARCH_TRIGRAMS_MAX 24

static const char *const field_columns[SEARCH_DOC_NFIELDS] = {
	[SEARCH_DOC_FROM] = "f_from",
	[SEARCH_DOC_TO] = "f_to",
	[SEARCH_DOC_CC] = "f_cc",
	[SEARCH_DOC_BCC] = "f_bcc",
	[SEARCH_DOC_SUBJECT] = "f_subject",
	[SEARCH_DOC_MESSAGE_ID] = "f_message_id",
	[SEARCH_DOC_IN_REPLY_TO] = "f_in_reply_to",
	[SEARCH_DOC_REFERENCES] = "f_references",
};

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Inserts blob's search_doc row; *id: its id, 0 when the blob has its
 * entry already (a COPY, or the same bytes appended again). */
static int search_doc_insert(struct sqlite_user *u, const char *blob, const struct search_doc *d,
			     int64_t *id)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_SEARCH_DOC_INSERT);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
	if (d->sent_day != SEARCH_DOC_NO_DATE)
		sqlite3_bind_int64(st, 2, d->sent_day);
	sqlite3_bind_int(st, 3, d->body_partial ? 1 : 0);
	for (int f = 0; f < SEARCH_DOC_NFIELDS; f++)
		bind_text_or_null(st, 4 + f, d->field[f]);
	int rc = sqlite3_step(st);
	*id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	if (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite_stmt_done(st);
	return rc == SQLITE_DONE ? STORE_OK : sqlite_db_error(u, "search_doc_insert");
}

static int search_text_insert(struct sqlite_user *u, int64_t id, const struct search_doc *d)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_SEARCH_TEXT_INSERT);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, d->hdrs ? d->hdrs : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->body ? d->body : "", -1, SQLITE_STATIC);
	return sqlite_stmt_run(u, st, "search_text_insert");
}

/* A failed removal is logged (sqlite_stmt_run) and left: the entry is
 * unreachable once its search_doc row is gone. */
static void search_text_delete(struct sqlite_user *u, int64_t id)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_SEARCH_TEXT_DELETE);
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, id);
	sqlite_stmt_run(u, st, "search_text_delete");
}

int sqlite_search_put_one(struct sqlite_user *u, const char *blob, const struct search_doc *d)
{
	int64_t id;
	int r = search_doc_insert(u, blob, d, &id);
	if (r != STORE_OK || id == 0)
		return r;
	return search_text_insert(u, id, d);
}

/* ftsbatch (issue #14): FTS5 moves the terms it holds in memory into a new
 * segment of search_text whenever a statement opens a savepoint, and every
 * statement that may write several rows does: the search_doc insert and
 * delete (their triggers update messages). One entry at a time, each
 * entry was a segment of its own, merged again later. The text changes
 * of a batch wait here until its other statements ran, and go in
 * together, FTS_FLUSH_EVERY at a time and before each commit
 * (sqlite_put_per_blob's flush, a yield's or the last): one segment per
 * FTS_FLUSH_EVERY entries. Removals first, as they were queued before the
 * inserts (a freed rowid can be given again). Bench messages of 4 KB: the
 * indexer's CPU per message 293-324 -> 196-232 us (BENCHMARKS.md). The
 * bound keeps what a waiting command sits behind short: the text of 16
 * entries is ~3 ms of inserts, that of a whole batch (256) was ~50 ms. */
#define FTS_FLUSH_EVERY 16
struct fts_batch {
	const struct search_doc *docs; /* search_put: the docs put_one's i indexes */
	struct fts_ins {
		int64_t id;
		size_t i;
	} *ins;
	size_t nins, cins;
	int64_t *del;
	size_t ndel, cdel;
};

static int fts_flush(struct sqlite_user *u, struct fts_batch *b)
{
	int r = STORE_OK;
	for (size_t k = 0; k < b->ndel; k++)
		search_text_delete(u, b->del[k]);
	for (size_t k = 0; k < b->nins && r == STORE_OK; k++)
		r = search_text_insert(u, b->ins[k].id, &b->docs[b->ins[k].i]);
	b->ndel = b->nins = 0;
	return r;
}

static void fts_batch_free(struct fts_batch *b)
{
	free(b->ins);
	free(b->del);
}

static int fts_flush_cb(struct sqlite_user *u, void *arg)
{
	return fts_flush(u, arg);
}

/* sqlite_tx_yield, with what flush (NULL: nothing) holds back written
 * before the commit. On failure a transaction may be open or not:
 * sqlite_tx_rollback() is right for both. */
static int yield_flushed(struct sqlite_user *u, int (*flush)(struct sqlite_user *u, void *arg),
			 void *arg)
{
	if (!sqlite_tx_yield_due(u))
		return STORE_OK;
	int r = flush ? flush(u, arg) : STORE_OK;
	return r == STORE_OK ? sqlite_tx_yield(u) : r;
}

/* Removes blob's search_doc row; its search_text rowid (0: none) is
 * returned for the caller to remove. */
static int64_t search_doc_delete(struct sqlite_user *u, const char *blob)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_SEARCH_DOC_DELETE);
	if (!st)
		return 0;
	sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
	int64_t id = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite_stmt_done(st);
	if (rc != SQLITE_DONE) {
		sqlite_db_error(u, "search_doc_delete");
		return 0;
	}
	return id;
}

void sqlite_search_forget(struct sqlite_user *u, const char *blob)
{
	int64_t id = search_doc_delete(u, blob);
	if (id != 0)
		search_text_delete(u, id);
}

void sqlite_search_forget_later(struct sqlite_user *u, const char *blob)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_SEARCH_GC_ADD);
	if (!st)
		return;
	sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
	sqlite_stmt_run(u, st, "search_gc_add");
}

/* search_gc (issue #14): an FTS5 delete tokenizes the entry's text again
 * and every transaction that changes search_text flushes a segment of its
 * own, so removing one entry inside each EXPUNGE's transaction cost more
 * than the expunge itself (~1.9 ms of CPU per 4 KB entry alone against
 * ~1.0 ms in batches of 8 or more: BENCHMARKS.md, seventh session). An
 * expunge queues the entry instead (sqlite_search_forget_later) and the
 * indexer removes up to SEARCH_GC_STEP of them in its own transaction,
 * beside the entries it adds. An entry whose blob is referenced again by
 * then (the same bytes appended or restored) stays. Inside the caller's
 * write transaction; *more: entries are left in the queue. */
#define SEARCH_GC_STEP 64

static int search_gc_batch(struct sqlite_user *u, struct fts_batch *b, bool *more)
{
	sqlite3_stmt *st = sqlite_stmt(u, STMT_SEARCH_GC_LIST);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int(st, 1, SEARCH_GC_STEP);
	char(*blobs)[65] = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *b = sqlite3_column_text(st, 0);
		xgrow((void **)&blobs, &cap, n + 1, sizeof(*blobs));
		snprintf(blobs[n++], sizeof(blobs[0]), "%s", b ? (const char *)b : "");
	}
	sqlite_stmt_done(st);
	int r = rc == SQLITE_DONE ? STORE_OK : sqlite_db_error(u, "search_gc_list");
	for (size_t i = 0; i < n && r == STORE_OK; i++) {
		/* Each removal stands alone (the reference is checked in
		 * the transaction that removes). */
		if (i > 0 && (r = yield_flushed(u, fts_flush_cb, b)) != STORE_OK)
			break;
		if (!(st = sqlite_stmt(u, STMT_BLOB_REFERENCED))) {
			r = STORE_EIO;
			break;
		}
		sqlite3_bind_text(st, 1, blobs[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite_stmt_done(st);
		if (rc == SQLITE_DONE) {
			int64_t id = search_doc_delete(u, blobs[i]);
			if (id != 0) {
				xgrow((void **)&b->del, &b->cdel, b->ndel + 1, sizeof(*b->del));
				b->del[b->ndel++] = id;
				if (b->ndel >= FTS_FLUSH_EVERY)
					r = fts_flush(u, b);
			}
		} else if (rc != SQLITE_ROW)
			r = sqlite_db_error(u, "search_gc_referenced");
		if (r == STORE_OK && (st = sqlite_stmt(u, STMT_SEARCH_GC_DONE))) {
			sqlite3_bind_text(st, 1, blobs[i], -1, SQLITE_STATIC);
			r = sqlite_stmt_run(u, st, "search_gc_done");
		}
	}
	free(blobs);
	*more = n == SEARCH_GC_STEP;
	return r;
}

static int search_gc_first(struct sqlite_user *u, void *arg)
{
	bool more;
	return search_gc_batch(u, arg, &more);
}

int sqlite_search_gc(struct store_user *base, bool *more)
{
	struct sqlite_user *u = sqlite_user_of(base);
	*more = false;
	/* Most calls find the queue empty: a read, not the write lock. */
	sqlite3_stmt *st = sqlite_stmt(u, STMT_SEARCH_GC_ANY);
	if (!st)
		return STORE_EIO;
	int rc = sqlite3_step(st);
	sqlite_stmt_done(st);
	if (rc == SQLITE_DONE)
		return STORE_OK;
	if (rc != SQLITE_ROW)
		return sqlite_db_error(u, "search_gc_any");
	/* newmsg: derived data, as the entries it removes: the metadata
	 * group commit. Lost by a power cut, the queue is still there. */
	int r = sqlite_tx_write_background(u);
	if (r != STORE_OK)
		return r;
	struct fts_batch b = { 0 };
	if ((r = search_gc_batch(u, &b, more)) != STORE_OK || (r = fts_flush(u, &b)) != STORE_OK) {
		fts_batch_free(&b);
		sqlite_tx_rollback(u);
		return r;
	}
	fts_batch_free(&b);
	return sqlite_tx_commit(u);
}

static int search_docs_read(struct sqlite_user *u, int64_t mailbox_id, uint32_t min_uid,
			    unsigned fields, struct store_search_row **out, size_t *n);

/* A SEARCH joins every message of the mailbox to its entry: with the
 * handle's usual 1 MiB page cache the entries' pages were read again and
 * again (two thirds of a header SEARCH over 100,000 messages went into
 * pread), so the search reads with a larger cache and memory-mapped I/O,
 * and hands both back after (db.c releases an unused handle's cache). */
#define SEARCH_CACHE_PRAGMAS "PRAGMA cache_size=-32768; " SQLITE_INDEX_MMAP_SQL
#define NORMAL_CACHE_SIZE "PRAGMA cache_size=-1024;"

static void search_pragmas(struct sqlite_user *u, bool searching)
{
	/* Only a hint: the search is right either way. A handle that maps
	 * its index for large rows (inline.c) keeps the same map after. */
	const char *sql = searching      ? SEARCH_CACHE_PRAGMAS
			  : u->mmap_rows ? NORMAL_CACHE_SIZE
					 : NORMAL_CACHE_SIZE " PRAGMA mmap_size=0;";
	sqlite3_exec(u->db, sql, NULL, NULL, NULL);
}

int sqlite_search_docs(struct store_user *base, int64_t mailbox_id, uint32_t min_uid,
		       unsigned fields, struct store_search_row **out, size_t *n)
{
	struct sqlite_user *u = sqlite_user_of(base);
	search_pragmas(u, true);
	int r = search_docs_read(u, mailbox_id, min_uid, fields, out, n);
	search_pragmas(u, false);
	return r;
}

static int search_docs_read(struct sqlite_user *u, int64_t mailbox_id, uint32_t min_uid,
			    unsigned fields, struct store_search_row **out, size_t *n)
{
	/* Only the columns asked for: a SEARCH SUBJECT over 100,000 messages
	 * should not copy their References. */
	struct strbuf sql = STRBUF_INIT;
	strbuf_adds(&sql, "SELECT m.uid,d.sent_day,d.partial");
	for (int f = 0; f < SEARCH_DOC_NFIELDS; f++)
		strbuf_addf(&sql, ",%s%s", (fields & (1u << f)) ? "d." : "",
			    (fields & (1u << f)) ? field_columns[f] : "NULL");
	strbuf_adds(&sql, " FROM messages m JOIN search_doc d ON d.id=m.doc_id"
			  " WHERE m.mailbox_id=?1 AND m.uid>=?2 ORDER BY m.uid");
	sqlite3_stmt *st = NULL;
	int r = STORE_OK;
	if (sqlite3_prepare_v2(u->db, sql.s, (int)sql.len, &st, NULL) != SQLITE_OK) {
		strbuf_free(&sql);
		return sqlite_db_error(u, "search_docs");
	}
	strbuf_free(&sql);
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, min_uid);
	struct store_search_row *a = NULL;
	size_t cap = 0, cnt = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow((void **)&a, &cap, cnt + 1, sizeof(*a));
		struct store_search_row *row = &a[cnt++];
		memset(row, 0, sizeof(*row));
		row->uid = (uint32_t)sqlite3_column_int64(st, 0);
		row->doc.sent_day = sqlite3_column_type(st, 1) == SQLITE_NULL
					    ? SEARCH_DOC_NO_DATE
					    : sqlite3_column_int64(st, 1);
		row->doc.body_partial = sqlite3_column_int(st, 2) != 0;
		for (int f = 0; f < SEARCH_DOC_NFIELDS; f++) {
			const unsigned char *v = sqlite3_column_text(st, 3 + f);
			if (v)
				row->doc.field[f] = xstrdup((const char *)v);
		}
	}
	if (rc != SQLITE_DONE) {
		r = sqlite_db_error(u, "search_docs");
		store_search_rows_free(a, cnt);
		a = NULL;
		cnt = 0;
	}
	sqlite3_finalize(st);
	*out = a;
	*n = cnt;
	return r;
}

static void match_add_quoted(struct strbuf *q, const char *s, size_t len)
{
	strbuf_addc(q, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			strbuf_addc(q, '"');
		strbuf_addc(q, s[i]);
	}
	strbuf_addc(q, '"');
}

/* Length of the UTF-8 character at s (0 when invalid or NUL). */
static size_t utf8_char_len(const unsigned char *s)
{
	if (s[0] == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	size_t n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* The FTS5 MATCH expression for needle's trigrams into q; false when the
 * index cannot help (fewer than three characters, or invalid UTF-8). */
static bool match_expr(const char *needle, bool body_only, struct strbuf *q)
{
	size_t nchars = 0, len = strlen(needle);
	size_t *pos = NULL, cap = 0;
	for (size_t i = 0; i < len;) {
		size_t l = utf8_char_len((const unsigned char *)needle + i);
		if (l == 0) {
			free(pos);
			return false;
		}
		xgrow((void **)&pos, &cap, nchars + 2, sizeof(*pos));
		pos[nchars++] = i;
		i += l;
	}
	if (nchars < 3) {
		free(pos);
		return false;
	}
	pos[nchars] = len;
	size_t ntri = nchars - 2;
	size_t step = (ntri + SEARCH_TRIGRAMS_MAX - 1) / SEARCH_TRIGRAMS_MAX;
	if (body_only)
		strbuf_adds(q, "{body} : (");
	bool first = true;
	for (size_t t = 0; t < ntri; t += step) {
		/* The last trigram always, so the sample covers both ends. */
		size_t at = (t + step >= ntri) ? ntri - 1 : t;
		if (!first)
			strbuf_adds(q, " AND ");
		first = false;
		match_add_quoted(q, needle + pos[at], pos[at + 3] - pos[at]);
		if (at == ntri - 1)
			break;
	}
	if (body_only)
		strbuf_addc(q, ')');
	free(pos);
	return true;
}

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static bool column_contains(sqlite3_stmt *st, int col, const char *needle, size_t nlen)
{
	const void *t = sqlite3_column_blob(st, col);
	size_t tl = (size_t)sqlite3_column_bytes(st, col);
	return t && tl >= nlen && memmem(t, tl, needle, nlen) != NULL;
}

int sqlite_search_text(struct store_user *base, int64_t mailbox_id, const char *folded,
		       bool body_only, uint32_t **uids, size_t *n)
{
	struct sqlite_user *u = sqlite_user_of(base);
	struct strbuf q = STRBUF_INIT;
	bool indexed = match_expr(folded, body_only, &q);
	const char *sql =
		/* CROSS JOIN fixes the order: the MATCH first. Left to the
		 * planner (no statistics) it walked the mailbox and ran the
		 * MATCH once per message. */
		indexed ? "SELECT m.uid,t.hdrs,t.body FROM search_text t"
			  " CROSS JOIN search_doc d ON d.id=t.rowid"
			  " CROSS JOIN messages m ON m.blob=d.blob"
			  " WHERE search_text MATCH ?1 AND m.mailbox_id=?2 AND d.partial=0"
			: "SELECT m.uid,t.hdrs,t.body FROM messages m"
			  " JOIN search_doc d ON d.blob=m.blob JOIN search_text t ON t.rowid=d.id"
			  " WHERE m.mailbox_id=?2 AND d.partial=0 AND ?1 IS NULL";
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(u->db, sql, -1, &st, NULL) != SQLITE_OK) {
		strbuf_free(&q);
		return sqlite_db_error(u, "search_text");
	}
	if (indexed)
		sqlite3_bind_text(st, 1, q.s, (int)q.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, mailbox_id);
	size_t nlen = strlen(folded), cap = 0, cnt = 0;
	uint32_t *a = NULL;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* The exact check: trigrams only propose. */
		if (!column_contains(st, 2, folded, nlen) &&
		    (body_only || !column_contains(st, 1, folded, nlen)))
			continue;
		xgrow((void **)&a, &cap, cnt + 1, sizeof(*a));
		a[cnt++] = (uint32_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	strbuf_free(&q);
	if (rc != SQLITE_DONE) {
		free(a);
		return sqlite_db_error(u, "search_text");
	}
	if (cnt > 1)
		qsort(a, cnt, sizeof(*a), uid_cmp);
	*uids = a;
	*n = cnt;
	return STORE_OK;
}

int sqlite_pending_blobs(struct sqlite_user *u, enum store_stmt which, const char *what,
			 int64_t *mailbox_id, uint32_t *uid, size_t max, char (**blobs)[65], size_t *n)
{
	sqlite3_stmt *st = sqlite_stmt(u, which);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, *mailbox_id);
	sqlite3_bind_int64(st, 2, *uid);
	sqlite3_bind_int64(st, 3, (int64_t)max);
	char (*a)[65] = NULL;
	size_t cap = 0, cnt = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*mailbox_id = sqlite3_column_int64(st, 0);
		*uid = (uint32_t)sqlite3_column_int64(st, 1);
		const unsigned char *b = sqlite3_column_text(st, 2);
		if (!b)
			continue;
		bool dup = false;
		for (size_t i = 0; i < cnt && !dup; i++)
			dup = strcmp(a[i], (const char *)b) == 0;
		if (dup)
			continue;
		xgrow((void **)&a, &cap, cnt + 1, sizeof(*a));
		snprintf(a[cnt++], sizeof(a[0]), "%s", (const char *)b);
	}
	sqlite_stmt_done(st);
	if (rc != SQLITE_DONE) {
		free(a);
		return sqlite_db_error(u, what);
	}
	*blobs = a;
	*n = cnt;
	return STORE_OK;
}

int sqlite_search_pending(struct store_user *base, int64_t *mailbox_id, uint32_t *uid, size_t max,
			  char (**blobs)[65], size_t *n)
{
	return sqlite_pending_blobs(sqlite_user_of(base), STMT_SEARCH_PENDING, "search_pending",
				    mailbox_id, uid, max, blobs, n);
}

int sqlite_put_per_blob(struct sqlite_user *u, char (*blobs)[65], size_t n,
			const struct sqlite_put_ops *ops)
{
	/* newmsg: derived data (search entries, previews), so the commit
	 * joins the metadata group commit (sync.c) instead of its own fsync:
	 * lost by a power cut, the rows are made again (their messages are
	 * pending again). */
	int r = sqlite_tx_write_background(u);
	if (r != STORE_OK)
		return r;
	if (ops->first)
		r = ops->first(u, ops->arg);
	for (size_t i = 0; i < n && r == STORE_OK; i++) {
		if (i > 0 && (r = yield_flushed(u, ops->flush, ops->arg)) != STORE_OK)
			break;
		/* Expunged (and collected) since it was read: no entry, or it
		 * would outlive its blob. */
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
			r = sqlite_db_error(u, ops->what);
		else
			r = ops->put_one(u, blobs[i], i, ops->arg);
	}
	if (r == STORE_OK && ops->flush)
		r = ops->flush(u, ops->arg);
	if (r != STORE_OK) {
		sqlite_tx_rollback(u);
		return r;
	}
	return sqlite_tx_commit(u);
}

/* Steps st, collecting column 0 as UIDs of the rows whose column 1
 * match() accepts (every row when match is NULL); SQLITE_DONE or the
 * error. The caller binds before and resets or finalizes after. */
static int uids_collect(sqlite3_stmt *st, store_search_match_fn match, void *ctx, uint32_t **out,
			size_t *n)
{
	uint32_t *a = NULL;
	size_t cap = 0, cnt = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (match) {
			const char *v = (const char *)sqlite3_column_text(st, 1);
			size_t len = (size_t)sqlite3_column_bytes(st, 1);
			if (!v || !match(v, len, ctx))
				continue;
		}
		xgrow((void **)&a, &cap, cnt + 1, sizeof(*a));
		a[cnt++] = (uint32_t)sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE) {
		free(a);
		a = NULL;
		cnt = 0;
	}
	*out = a;
	*n = cnt;
	return rc;
}

int sqlite_search_field(struct store_user *base, int64_t mailbox_id, uint32_t min_uid, int field,
			store_search_match_fn match, void *ctx, uint32_t **uids, size_t *n)
{
	struct sqlite_user *u = sqlite_user_of(base);
	/* One pass in UID order over the mailbox's rows, each joined to its
	 * entry by rowid; only the one column is read. */
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT m.uid,d.%s FROM messages m INDEXED BY messages_flags"
		 " JOIN search_doc d ON d.id=m.doc_id"
		 " WHERE m.mailbox_id=?1 AND m.uid>=?2 AND d.%s IS NOT NULL ORDER BY m.uid",
		 field_columns[field], field_columns[field]);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(u->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sqlite_db_error(u, "search_field");
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, min_uid);
	/* The same pages as search_docs: the same cache. */
	search_pragmas(u, true);
	int rc = uids_collect(st, match, ctx, uids, n);
	sqlite3_finalize(st);
	search_pragmas(u, false);
	return rc == SQLITE_DONE ? STORE_OK : sqlite_db_error(u, "search_field");
}

static int uid_column_list(struct sqlite_user *u, enum store_stmt id, int64_t mailbox_id,
			   uint32_t min_uid, uint32_t **out, size_t *n)
{
	sqlite3_stmt *st = sqlite_stmt(u, id);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, min_uid);
	int rc = uids_collect(st, NULL, NULL, out, n);
	sqlite_stmt_done(st);
	return rc == SQLITE_DONE ? STORE_OK : sqlite_db_error(u, "search_coverage");
}

int sqlite_search_coverage(struct store_user *base, int64_t mailbox_id, uint32_t min_uid,
			   uint32_t **unindexed, size_t *nu, uint32_t **partial, size_t *np)
{
	struct sqlite_user *u = sqlite_user_of(base);
	/* Neither walks the mailbox: the first starts at its mark. */
	int r = uid_column_list(u, STMT_SEARCH_UNINDEXED, mailbox_id, min_uid, unindexed, nu);
	if (r == STORE_OK)
		r = uid_column_list(u, STMT_SEARCH_PARTIAL, mailbox_id, min_uid, partial, np);
	if (r != STORE_OK) {
		free(*unindexed);
		*unindexed = NULL;
		*nu = 0;
	}
	return r;
}

static int search_put_at(struct sqlite_user *u, const char *blob, size_t i, void *arg)
{
	struct fts_batch *b = arg;
	int64_t id;
	int r = search_doc_insert(u, blob, &b->docs[i], &id);
	if (r != STORE_OK || id == 0)
		return r;
	xgrow((void **)&b->ins, &b->cins, b->nins + 1, sizeof(*b->ins));
	b->ins[b->nins++] = (struct fts_ins){ .id = id, .i = i };
	return b->nins < FTS_FLUSH_EVERY ? STORE_OK : fts_flush(u, b);
}

/* index_mark (migration 25): before each commit of new entries, each
 * mailbox's mark moves up past the messages that now have theirs. */
static int search_put_flush(struct sqlite_user *u, void *arg)
{
	int r = fts_flush(u, arg);
	return r == STORE_OK ? sqlite_stmt_run(u, sqlite_stmt(u, STMT_SEARCH_MARK), "search_mark")
			     : r;
}

int sqlite_search_put(struct store_user *base, char (*blobs)[65], const struct search_doc *docs,
		      size_t n)
{
	/* search_gc: the queued removals go in the same transaction, so one
	 * FTS5 segment carries both. */
	struct fts_batch b = { .docs = docs };
	const struct sqlite_put_ops ops = { .what = "search_put",
					    .first = search_gc_first,
					    .put_one = search_put_at,
					    .flush = search_put_flush,
					    .arg = &b };
	int r = sqlite_put_per_blob(sqlite_user_of(base), blobs, n, &ops);
	fts_batch_free(&b);
	return r;
}
