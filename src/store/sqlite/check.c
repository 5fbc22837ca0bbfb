/* `rampart check` for the SQLite backend (issue #13 check): the index of
 * one user against its message files and against the invariants of
 * store.h, and with repair the fixes, each one reported.
 *
 * Order of a run (docs/operations.md "Checking and repairing the index"
 * gives the rules to administrators):
 *   1. SQLite's own PRAGMA quick_check (--quick) or integrity_check on a
 *      connection of its own. A file that fails it is, with repair, set
 *      aside (renamed index.sqlite.damaged-<time>, never deleted) and a
 *      fresh index built: what rows of the damaged file can still be read
 *      are salvaged into their mailboxes, every other message file goes
 *      to Lost+Found. The sqlite3_recover API is not in Debian 12's
 *      libsqlite3 (3.40.1 ships it only inside the sqlite3 shell), so the
 *      salvage is a scan and, past a damaged page, lookups by key; a file
 *      whose schema pages are gone gives nothing (all to Lost+Found).
 *   2. One transaction over the index: BEGIN IMMEDIATE with repair (the
 *      write lock every writer of the store takes, in any process, so
 *      nothing changes under the check; the server's writers wait up to
 *      their busy timeout), a read snapshot without.
 *   3. Mailboxes: names, INBOX, UIDVALIDITY unique (invariant 3) and the
 *      counter behind it; per mailbox UIDs below UIDNEXT (2) and modseqs
 *      at most HIGHESTMODSEQ (1), expunge history included; rows of no
 *      mailbox.
 *   4. Quota counters (13) against a recount.
 *   5. Every row's file: present, of the recorded size, and (without
 *      --quick) named by the SHA-256 of its bytes (12). Repairs: a row
 *      whose bytes are gone (no file, an empty file, EIO) is expunged
 *      with a new modseq and expunge history (6), so clients resync; a
 *      file whose bytes are not what the row says is kept: its rows move
 *      to Lost+Found with the bytes as they are, stored under their real
 *      hash. A file that hashes right under a wrong recorded size only
 *      gets the size corrected.
 *   6. Files nobody refers to. Bytes are written before the commit that
 *      names them (4), so a failed or crashed APPEND leaves such files;
 *      they were never acknowledged and are garbage (DESIGN.md). A file
 *      whose cached data or search entry is still in the index was
 *      committed once: its row was lost (index damage, a row deleted by
 *      hand), and it is recovered into Lost+Found. So: with cached data
 *      or after a rebuild -> Lost+Found; without, older than the grace
 *      period -> removed; younger -> left alone (an APPEND in flight).
 *      Temp files older than the grace period are removed.
 *   7. Cached data of message files that no message uses, removed.
 *   8. Cached ENVELOPE/BODYSTRUCTURE/BODY against a re-parse (the
 *      caller's function: the store has no MIME code), rewritten.
 *   9. Subscriptions: valid names in normal form.
 * A repair is one transaction: a failure rolls it all back. */
#include "store/sqlite/sqlite_internal.h"
#include "store/blob.h"
#include "core/log.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ck_mbox {
	int64_t id;
	char *name;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint64_t modseq;         /* this run's modseq once it changed the mailbox, else 0 */
	bool dirty;              /* uidnext/highestmodseq to write back */
};

/* One message row as read before any repair. */
struct ck_row {
	int64_t mailbox_id;
	uint32_t uid;
	uint64_t size;
	struct store_msg msg;    /* flags, keywords, dates for a move */
};

struct ck {
	const struct store_check_opts *o;
	struct store_check_summary *sum;
	const char *username;
	char *dir;
	struct sqlite_user *u;
	struct ck_mbox *mb;
	size_t nmb;
	int64_t lf_id;           /* Lost+Found's id, 0 until needed */
	bool recover_all;        /* after a rebuild every unreferenced file is mail */
	char (*bad)[65];         /* files the file pass found damaged, sorted */
	size_t nbad;
	uint64_t quota_stored[3];
	bool quota_bad;
};

static void ck_report(struct ck *c, const char *check, const char *mailbox, uint32_t uid,
		      const char *blob, const char *problem, const char *action,
		      const char *detail)
{
	bool fixed = c->o->repair && strcmp(action, "none") != 0;
	struct store_check_finding f = {
		.check = check,
		.mailbox = mailbox,
		.uid = uid,
		.blob = blob,
		.problem = problem,
		.action = c->o->repair ? action : "none",
		.detail = detail,
	};
	c->sum->findings++;
	if (fixed)
		c->sum->repaired++;
	c->o->report(&f, c->o->ctx);
}

static struct ck_mbox *ck_mbox_of(struct ck *c, int64_t id)
{
	for (size_t i = 0; i < c->nmb; i++)
		if (c->mb[i].id == id)
			return &c->mb[i];
	return NULL;
}

/* The modseq of this run's changes in mb: one per transaction
 * (invariant 1), above everything the mailbox holds. */
static uint64_t ck_modseq(struct ck_mbox *mb)
{
	if (!mb->modseq)
		mb->modseq = mb->highestmodseq + 1;
	mb->highestmodseq = mb->modseq;
	mb->dirty = true;
	return mb->modseq;
}

/* Runs one SQL text, integers bound to ?1..?3 and text to ?4 as far as
 * the statement has parameters; rows ignored. */
static int ck_exec(struct ck *c, const char *sql, int64_t a, int64_t b, int64_t d,
		   const char *text)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->u->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sqlite_db_error(c->u, "check_prepare");
	int n = sqlite3_bind_parameter_count(st);
	const int64_t v[3] = { a, b, d };
	for (int i = 0; i < n && i < 3; i++)
		sqlite3_bind_int64(st, i + 1, v[i]);
	if (n >= 4 && text)
		sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? STORE_OK : sqlite_db_error(c->u, "check_exec");
}

/* ---- 1. SQLite's own check, and the rebuild ---- */

static size_t ck_blob_names(struct ck *c, size_t max, bool report, char (**out)[65]);

/* True when blobs/ holds at least one message file. */
static bool ck_has_files(struct ck *c)
{
	char (*names)[65] = NULL;
	size_t n = ck_blob_names(c, 1, false, &names);
	free(names);
	return n > 0;
}

/* *damaged when the file cannot be opened as a database or its check
 * finds anything; each of the first lines SQLite gives is reported. */
static int ck_integrity(struct ck *c, const char *index, bool *damaged)
{
	*damaged = false;
	sqlite3 *db = NULL;
	sqlite_lib_init();
	int rc = sqlite3_open_v2(index, &db, SQLITE_OPEN_READONLY, NULL);
	sqlite3_stmt *st = NULL;
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
		rc = sqlite3_prepare_v2(db, c->o->quick ? "PRAGMA quick_check(20)"
							: "PRAGMA integrity_check(20)",
					-1, &st, NULL);
	}
	int lines = 0;
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		const char *t = (const char *)sqlite3_column_text(st, 0);
		if (t && strcmp(t, "ok") == 0)
			continue;
		*damaged = true;
		char *d = xasprintf("sqlite=\"%.200s\"", t ? t : "");
		for (char *p = d + 8; *p && p[1]; p++)
			if (*p == '"' || *p == '\n')
				*p = '\'';
		if (lines++ < 5)
			ck_report(c, "integrity", NULL, 0, NULL, "sqlite_check", "rebuilt", d);
		free(d);
	}
	if (rc != SQLITE_DONE) {
		if (rc == SQLITE_BUSY) {
			sqlite3_finalize(st);
			sqlite3_close(db);
			return STORE_EIO;
		}
		char *d = xasprintf("sqlite_code=%d", rc);
		*damaged = true;
		ck_report(c, "integrity", NULL, 0, NULL, "unreadable", "rebuilt", d);
		free(d);
	}
	sqlite3_finalize(st);
	st = NULL;
	/* An empty or zeroed file passes SQLite's check as an empty
	 * database; with message files beside it, the index was lost (a
	 * store whose creation was cut short has none). */
	if (!*damaged && ck_has_files(c) && (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE "
					     "name IN ('messages','mailboxes','quota')",
					     -1, &st, NULL) != SQLITE_OK ||
			  sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 3)) {
		*damaged = true;
		ck_report(c, "integrity", NULL, 0, NULL, "no_schema", "rebuilt", NULL);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return STORE_OK;
}

/* What the damaged file still gives. */
struct ck_salvage {
	struct { int64_t id; char *name; } *mb;
	size_t nmb;
	struct ck_row *rows;
	char (*blobs)[65];
	size_t nrows;
	char **subs;
	size_t nsubs;
};

static void salvage_free(struct ck_salvage *s)
{
	for (size_t i = 0; i < s->nmb; i++)
		free(s->mb[i].name);
	free(s->mb);
	for (size_t i = 0; i < s->nrows; i++)
		free(s->rows[i].msg.keywords);
	free(s->rows);
	free(s->blobs);
	for (size_t i = 0; i < s->nsubs; i++)
		free(s->subs[i]);
	free(s->subs);
}

/* Appends the current row of a SALVAGE_COLUMNS statement. */
#define SALVAGE_COLUMNS "mailbox_id,uid,flags,keywords,internaldate,internaldate_tz,size,blob"
static void salvage_row(sqlite3_stmt *st, struct ck_salvage *s, size_t *cap, size_t *bcap)
{
	const char *blob = (const char *)sqlite3_column_text(st, 7);
	const char *kw = (const char *)sqlite3_column_text(st, 3);
	if (!store_blob_name_valid(blob))
		return;
	xgrow((void **)&s->rows, cap, s->nrows + 1, sizeof(*s->rows));
	xgrow((void **)&s->blobs, bcap, s->nrows + 1, sizeof(*s->blobs));
	struct ck_row *r = &s->rows[s->nrows];
	memset(r, 0, sizeof(*r));
	r->mailbox_id = sqlite3_column_int64(st, 0);
	r->uid = (uint32_t)sqlite3_column_int64(st, 1);
	r->msg.flags = (uint32_t)sqlite3_column_int64(st, 2);
	r->msg.keywords = kw && *kw ? xstrdup(kw) : NULL;
	r->msg.internaldate = sqlite3_column_int64(st, 4);
	r->msg.internaldate_tz = sqlite3_column_int(st, 5);
	r->size = (uint64_t)sqlite3_column_int64(st, 6);
	memcpy(s->blobs[s->nrows++], blob, 65);
}

/* Probes a budget of lookups this large at most (a few seconds). */
#define SALVAGE_PROBES_MAX 5000000u

/* When a scan of messages stops at a damaged page, the rows behind it
 * may still be reachable by key: per mailbox, seek the next UID from the
 * last one found; a seek that fails skips one UID, up to the mailbox's
 * UIDNEXT (bounded by SALVAGE_PROBES_MAX in all). */
static void salvage_probe(sqlite3 *db, struct ck_salvage *s, const uint32_t *uidnext)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT " SALVAGE_COLUMNS " FROM messages WHERE mailbox_id=?1 "
			       "AND uid>=?2 ORDER BY uid LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return;
	size_t cap = 0, bcap = 0;
	unsigned probes = 0;
	for (size_t m = 0; m < s->nmb; m++) {
		for (uint64_t uid = 1; uid < uidnext[m] && probes < SALVAGE_PROBES_MAX; probes++) {
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, s->mb[m].id);
			sqlite3_bind_int64(st, 2, (int64_t)uid);
			int rc = sqlite3_step(st);
			if (rc == SQLITE_DONE)
				break;
			if (rc != SQLITE_ROW) {
				uid++;
				continue;
			}
			uid = (uint64_t)sqlite3_column_int64(st, 1) + 1;
			salvage_row(st, s, &cap, &bcap);
		}
	}
	sqlite3_finalize(st);
}

/* Reads what rows it can: a scan stops at the first page SQLite cannot
 * read; then the messages are looked up by key (salvage_probe). */
static void salvage_read(const char *path, struct ck_salvage *s)
{
	sqlite3 *db = NULL;
	sqlite_lib_init();
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return;
	}
	sqlite3_stmt *st;
	size_t cap = 0, ucap = 0;
	uint32_t *uidnext = NULL;
	if (sqlite3_prepare_v2(db, "SELECT id,name,uidnext FROM mailboxes", -1, &st, NULL) ==
	    SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(st, 1);
			if (!name)
				continue;
			xgrow((void **)&s->mb, &cap, s->nmb + 1, sizeof(*s->mb));
			xgrow((void **)&uidnext, &ucap, s->nmb + 1, sizeof(*uidnext));
			uidnext[s->nmb] = (uint32_t)sqlite3_column_int64(st, 2);
			s->mb[s->nmb].id = sqlite3_column_int64(st, 0);
			s->mb[s->nmb++].name = xstrdup(name);
		}
	}
	sqlite3_finalize(st);
	cap = 0;
	size_t bcap = 0;
	int rc = SQLITE_ERROR;
	if (sqlite3_prepare_v2(db, "SELECT " SALVAGE_COLUMNS " FROM messages", -1, &st, NULL) ==
	    SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			salvage_row(st, s, &cap, &bcap);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < s->nrows; i++)
			free(s->rows[i].msg.keywords);
		s->nrows = 0;
		free(s->rows);
		free(s->blobs);
		s->rows = NULL;
		s->blobs = NULL;
		salvage_probe(db, s, uidnext);
	}
	free(uidnext);
	cap = 0;
	if (sqlite3_prepare_v2(db, "SELECT name FROM subscriptions", -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(st, 0);
			if (!name)
				continue;
			xgrow((void **)&s->subs, &cap, s->nsubs + 1, sizeof(*s->subs));
			s->subs[s->nsubs++] = xstrdup(name);
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* inline (issue #14): the rows of small messages the damaged file still
 * gives become files under the hash of their bytes, so the rebuild finds
 * them like every other message file (damaged bytes go to Lost+Found). */
static void salvage_inline(struct ck *c, const char *path)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return;
	}
	struct store_blobs *b = store_blobs_open(c->dir, c->username);
	sqlite3_stmt *st = NULL;
	if (b && sqlite3_prepare_v2(db, "SELECT data FROM blob_inline", -1, &st, NULL) ==
		 SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const void *data = sqlite3_column_blob(st, 0);
			size_t len = (size_t)sqlite3_column_bytes(st, 0);
			char real[65];
			store_blob_hash(data, len, real);
			if (store_blobs_put(b, real, data, len) != STORE_OK)
				break;  /* logged; what is not saved is reported missing */
		}
	}
	sqlite3_finalize(st);
	store_blobs_close(b);
	sqlite3_close(db);
}

/* Renames index.sqlite (and its -wal and -shm, which SQLite then finds
 * beside the new name) to <aside>; *aside malloc'd. */
static int ck_set_aside(struct ck *c, const char *index, char **aside)
{
	struct tm tm;
	time_t now = time(NULL);
	char stamp[32];
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	*aside = xasprintf("%s.damaged-%s", index, stamp);
	for (int i = 1; access(*aside, F_OK) == 0 && i < 100; i++) {
		free(*aside);
		*aside = xasprintf("%s.damaged-%s.%d", index, stamp, i);
	}
	static const char *const sfx[] = { "-wal", "-shm", "" };
	for (size_t i = 0; i < 3; i++) {
		char *from = xasprintf("%s%s", index, sfx[i]);
		char *to = xasprintf("%s%s", *aside, sfx[i]);
		int r = rename(from, to);
		int e = errno;
		free(from);
		free(to);
		if (r < 0 && e != ENOENT) {
			log_err("event=check_set_aside_error user=%s errno=%d", c->username, e);
			return STORE_EIO;
		}
	}
	return store_fsync_dir(c->dir) < 0 ? STORE_EIO : STORE_OK;
}

static int ck_mailboxes_load(struct ck *c);
static int ck_mailboxes_store(struct ck *c);

/* Puts one salvaged row into its mailbox of the fresh index under the
 * next UID; a row whose bytes are not there is reported and dropped. */
static int ck_salvage_row(struct ck *c, const struct ck_salvage *s, size_t i)
{
	const struct ck_row *r = &s->rows[i];
	const char *name = NULL;
	for (size_t k = 0; k < s->nmb && !name; k++)
		if (s->mb[k].id == r->mailbox_id)
			name = s->mb[k].name;
	struct store_mbox_row row;
	struct ck_mbox *mb = NULL;
	if (name && sqlite_mbox_by_name(c->u, name, &row) == STORE_OK)
		mb = ck_mbox_of(c, row.id);
	if (!store_blobs_present(c->u->base.blobs, s->blobs[i], r->size)) {
		ck_report(c, "blob", name, r->uid, s->blobs[i], "missing", "dropped",
			  "from=damaged_index");
		return STORE_OK;
	}
	if (!mb)
		return STORE_OK;  /* its mailbox is lost: the file goes to Lost+Found */
	struct store_msg m = r->msg;
	m.size = r->size;
	m.savedate = (int64_t)time(NULL);
	memcpy(m.blob, s->blobs[i], 65);
	int e = sqlite_msg_insert(c->u, mb->id, mb->uidnext, ck_modseq(mb), &m);
	if (e == STORE_OK)
		mb->uidnext++;
	return e;
}

/* A fresh index from the damaged one's readable rows, in one write
 * transaction. The normal pass then checks every row and takes every
 * other file into Lost+Found (recover_all). */
static int ck_rebuild(struct ck *c, const char *index)
{
	char *aside = NULL;
	int r = ck_set_aside(c, index, &aside);
	if (r != STORE_OK) {
		free(aside);
		return r;
	}
	const char *base = strrchr(aside, '/');
	char *d = xasprintf("kept=%s", base ? base + 1 : aside);
	ck_report(c, "integrity", NULL, 0, NULL, "corrupt", "set_aside_and_rebuilt", d);
	free(d);
	log_warn("event=check_index_rebuilt user=%s kept=%s", c->username, aside);
	struct ck_salvage s;
	memset(&s, 0, sizeof(s));
	salvage_read(aside, &s);
	salvage_inline(c, aside);
	free(aside);
	c->sum->rebuilt = true;
	c->recover_all = true;
	struct store_user *base_u = sqlite_user_open(c->username);
	if (!base_u) {
		salvage_free(&s);
		return STORE_EIO;
	}
	c->u = sqlite_user_of(base_u);
	if ((r = sqlite_tx_write(c->u)) != STORE_OK)
		goto out;
	for (size_t i = 0; i < s.nmb && r == STORE_OK; i++) {
		char *norm = NULL;
		struct store_mbox_row row;
		if (store_mailbox_name_normalize(s.mb[i].name, &norm) == STORE_OK &&
		    strcmp(norm, s.mb[i].name) == 0 &&
		    sqlite_mbox_by_name(c->u, norm, &row) == STORE_ENOENT)
			r = sqlite_mbox_insert_subscribed(c->u, norm, NULL);
		free(norm);
	}
	for (size_t i = 0; i < s.nsubs && r == STORE_OK; i++)
		r = ck_exec(c, "INSERT OR IGNORE INTO subscriptions(name) VALUES(?4)", 0, 0, 0,
			    s.subs[i]);
	if (r == STORE_OK)
		r = ck_mailboxes_load(c);
	for (size_t i = 0; i < s.nrows && r == STORE_OK; i++)
		r = ck_salvage_row(c, &s, i);
	if (r == STORE_OK)
		r = ck_mailboxes_store(c);
	if (r == STORE_OK)
		r = sqlite_tx_commit(c->u);
	else
		sqlite_tx_rollback(c->u);
out:
	salvage_free(&s);
	return r;
}

/* ---- 3. mailboxes ---- */

static void ck_mailboxes_free(struct ck *c)
{
	for (size_t i = 0; i < c->nmb; i++)
		free(c->mb[i].name);
	free(c->mb);
	c->mb = NULL;
	c->nmb = 0;
}

static int ck_mailboxes_load(struct ck *c)
{
	ck_mailboxes_free(c);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->u->db, "SELECT id,name,uidvalidity,uidnext,highestmodseq "
				      "FROM mailboxes ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return sqlite_db_error(c->u, "check_mailboxes");
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow((void **)&c->mb, &cap, c->nmb + 1, sizeof(*c->mb));
		struct ck_mbox *m = &c->mb[c->nmb++];
		memset(m, 0, sizeof(*m));
		m->id = sqlite3_column_int64(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		m->name = xstrdup(name ? name : "");
		m->uidvalidity = (uint32_t)sqlite3_column_int64(st, 2);
		m->uidnext = (uint32_t)sqlite3_column_int64(st, 3);
		m->highestmodseq = (uint64_t)sqlite3_column_int64(st, 4);
		if (strcmp(m->name, STORE_CHECK_LOST_FOUND) == 0)
			c->lf_id = m->id;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? STORE_OK : sqlite_db_error(c->u, "check_mailboxes");
}

/* Writes back the counters this run raised. */
static int ck_mailboxes_store(struct ck *c)
{
	int r = STORE_OK;
	for (size_t i = 0; i < c->nmb && r == STORE_OK; i++) {
		struct ck_mbox *m = &c->mb[i];
		if (m->dirty)
			r = ck_exec(c, "UPDATE mailboxes SET uidnext=?2,highestmodseq=?3 WHERE id=?1",
				    m->id, m->uidnext, (int64_t)m->highestmodseq, NULL);
		m->dirty = false;
	}
	return r;
}

/* Lost+Found, created (a normal, subscribed mailbox) on first use. */
static int ck_lost_found(struct ck *c, struct ck_mbox **out)
{
	if (!c->lf_id) {
		/* Added to the list, not reloaded: the others' raised counters
		 * and this run's modseqs are still to be written. */
		struct store_mbox_row row;
		int r = sqlite_mbox_insert_subscribed(c->u, STORE_CHECK_LOST_FOUND, &c->lf_id);
		if (r == STORE_OK)
			r = sqlite_mbox_by_id(c->u, c->lf_id, &row);
		if (r != STORE_OK)
			return r;
		c->mb = xrealloc(c->mb, (c->nmb + 1) * sizeof(*c->mb));
		struct ck_mbox *m = &c->mb[c->nmb++];
		memset(m, 0, sizeof(*m));
		m->id = row.id;
		m->name = xstrdup(STORE_CHECK_LOST_FOUND);
		m->uidvalidity = row.uidvalidity;
		m->uidnext = row.uidnext;
		m->highestmodseq = row.highestmodseq;
	}
	*out = ck_mbox_of(c, c->lf_id);
	return *out ? STORE_OK : STORE_EIO;
}

static int ck_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int ck_uidvalidity(struct ck *c)
{
	uint32_t *v = xcalloc(c->nmb + 1, sizeof(*v));
	uint32_t max = 0;
	for (size_t i = 0; i < c->nmb; i++) {
		v[i] = c->mb[i].uidvalidity;
		max = MAX(max, v[i]);
	}
	qsort(v, c->nmb, sizeof(*v), ck_u32_cmp);
	int r = STORE_OK;
	/* Every mailbox after the first (by id) of a repeated value gets a
	 * new one: its clients resync, which is what a repeat needs. */
	for (size_t i = 1; i < c->nmb && r == STORE_OK; i++) {
		if (v[i] != v[i - 1])
			continue;
		bool first = true;
		for (size_t k = 0; k < c->nmb && r == STORE_OK; k++) {
			struct ck_mbox *m = &c->mb[k];
			if (m->uidvalidity != v[i])
				continue;
			if (first) {
				first = false;
				continue;
			}
			ck_report(c, "uidvalidity", m->name, 0, NULL, "duplicate", "new_uidvalidity",
				  NULL);
			uint32_t nv;
			if (c->o->repair && (r = sqlite_uidvalidity_next(c->u, &nv)) == STORE_OK) {
				m->uidvalidity = nv;
				r = ck_exec(c, "UPDATE mailboxes SET uidvalidity=?2 WHERE id=?1", m->id,
					    nv, 0, NULL);
			}
		}
		while (i + 1 < c->nmb && v[i + 1] == v[i])
			i++;
	}
	free(v);
	if (r != STORE_OK)
		return r;
	/* The counter must be at least every value given (invariant 3). */
	sqlite3_stmt *st = sqlite_stmt(c->u, STMT_META_GET);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_text(st, 1, "last_uidvalidity", -1, SQLITE_STATIC);
	int64_t last = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite_stmt_done(st);
	if (last < (int64_t)max) {
		ck_report(c, "uidvalidity", NULL, 0, NULL, "counter_behind", "raised", NULL);
		if (c->o->repair) {
			if (!(st = sqlite_stmt(c->u, STMT_META_SET)))
				return STORE_EIO;
			sqlite3_bind_text(st, 1, "last_uidvalidity", -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, max);
			r = sqlite_stmt_run(c->u, st, "check_uidvalidity");
		}
	}
	return r;
}

/* Two integers of one row of sql bound to ?1 = id. */
static int ck_two(struct ck *c, const char *sql, int64_t id, int64_t *a, int64_t *b)
{
	sqlite3_stmt *st;
	*a = *b = 0;
	if (sqlite3_prepare_v2(c->u->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sqlite_db_error(c->u, "check_prepare");
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*a = sqlite3_column_int64(st, 0);
		*b = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK : sqlite_db_error(c->u, "check");
}

/* UIDs below UIDNEXT, modseqs at most HIGHESTMODSEQ (expunged ones too:
 * a client that saw them must never see the counters go back). */
static int ck_counters(struct ck *c, struct ck_mbox *m)
{
	int64_t uid, modseq, xuid, xmodseq;
	int r = ck_two(c, "SELECT max(uid),max(modseq) FROM messages WHERE mailbox_id=?1", m->id,
		       &uid, &modseq);
	if (r == STORE_OK)
		r = ck_two(c, "SELECT max(uid_hi),max(modseq) FROM expunged_ranges "
			      "WHERE mailbox_id=?1", m->id, &xuid, &xmodseq);
	if (r != STORE_OK)
		return r;
	uid = MAX(uid, xuid);
	modseq = MAX(modseq, xmodseq);
	if (uid >= (int64_t)m->uidnext) {
		char *d = xasprintf("uidnext=%" PRIu32 " max_uid=%" PRId64, m->uidnext, uid);
		ck_report(c, "uid", m->name, (uint32_t)uid, NULL, "uid_not_below_uidnext", "raised", d);
		free(d);
		if (c->o->repair) {
			m->uidnext = (uint32_t)MIN(uid + 1, (int64_t)UINT32_MAX);
			m->dirty = true;
		}
	}
	if ((uint64_t)modseq > m->highestmodseq) {
		char *d = xasprintf("highestmodseq=%" PRIu64 " max_modseq=%" PRId64,
				    m->highestmodseq, modseq);
		ck_report(c, "modseq", m->name, 0, NULL, "modseq_above_highestmodseq", "raised", d);
		free(d);
		if (c->o->repair) {
			m->highestmodseq = (uint64_t)modseq;
			m->dirty = true;
		}
	}
	return STORE_OK;
}

static int ck_mailboxes(struct ck *c)
{
	int r = ck_mailboxes_load(c);
	if (r != STORE_OK)
		return r;
	c->sum->mailboxes = c->nmb;
	bool inbox = false;
	for (size_t i = 0; i < c->nmb; i++) {
		char *norm = NULL;
		const char *name = c->mb[i].name;
		inbox |= strcmp(name, "INBOX") == 0;
		if (store_mailbox_name_normalize(name, &norm) != STORE_OK || strcmp(norm, name) != 0)
			ck_report(c, "mailbox", name, 0, NULL, "bad_name", "none", NULL);
		free(norm);
	}
	if (!inbox) {
		/* Invariant 9. */
		ck_report(c, "mailbox", "INBOX", 0, NULL, "missing", "created", NULL);
		if (c->o->repair && ((r = sqlite_mbox_insert_subscribed(c->u, "INBOX", NULL)) !=
					     STORE_OK ||
				     (r = ck_mailboxes_load(c)) != STORE_OK))
			return r;
	}
	if ((r = ck_uidvalidity(c)) != STORE_OK)
		return r;
	for (size_t i = 0; i < c->nmb && r == STORE_OK; i++)
		r = ck_counters(c, &c->mb[i]);
	return r;
}

/* ---- 4. quota ---- */

static int ck_quota_counts(struct ck *c, uint64_t stored[3], uint64_t counted[3])
{
	struct store_quota_usage us;
	int r = sqlite_quota_read(c->u, &us, NULL);
	if (r != STORE_OK)
		return r;
	stored[0] = us.storage;
	stored[1] = us.messages;
	stored[2] = us.mailboxes;
	sqlite3_stmt *st = sqlite_stmt(c->u, STMT_QUOTA_COUNT);
	if (!st)
		return STORE_EIO;
	int rc = sqlite3_step(st);
	for (int i = 0; i < 3 && rc == SQLITE_ROW; i++)
		counted[i] = (uint64_t)sqlite3_column_int64(st, i);
	sqlite_stmt_done(st);
	return rc == SQLITE_ROW ? STORE_OK : sqlite_db_error(c->u, "check_quota");
}

static int ck_quota(struct ck *c)
{
	static const char *const what[3] = { "storage", "messages", "mailboxes" };
	uint64_t counted[3];
	int r = ck_quota_counts(c, c->quota_stored, counted);
	for (int i = 0; i < 3 && r == STORE_OK; i++) {
		if (c->quota_stored[i] == counted[i])
			continue;
		char *d = xasprintf("stored=%" PRIu64 " counted=%" PRIu64, c->quota_stored[i],
				    counted[i]);
		ck_report(c, "quota", NULL, 0, NULL, what[i], "recounted", d);
		free(d);
		c->quota_bad = true;
	}
	return r;
}

/* At the end, after the repairs (which the triggers counted). */
static int ck_quota_fix(struct ck *c)
{
	uint64_t stored[3], counted[3];
	int r = ck_quota_counts(c, stored, counted);
	if (r != STORE_OK || memcmp(stored, counted, sizeof(stored)) == 0)
		return r;
	sqlite3_stmt *st = sqlite_stmt(c->u, STMT_QUOTA_SET_USAGE);
	if (!st)
		return STORE_EIO;
	for (int i = 0; i < 3; i++)
		sqlite3_bind_int64(st, i + 1, (int64_t)counted[i]);
	return sqlite_stmt_run(c->u, st, "check_quota_fix");
}

/* ---- 5. message files of the rows ---- */

enum ck_blob_state {
	CK_BLOB_OK,
	CK_BLOB_GONE,        /* no bytes: no file, empty, EIO */
	CK_BLOB_UNREADABLE,  /* bytes may be there (EACCES...): not repaired */
	CK_BLOB_BAD,         /* bytes there, not those named (size or hash) */
};

static char *ck_blob_path(struct ck *c, const char *hex)
{
	return xasprintf("%s/blobs/%.2s/%s", c->dir, hex, hex + 2);
}

/* Opens a blob file read-only: fd, or -1 with errno. */
static int ck_blob_open(struct ck *c, const char *hex, struct stat *st)
{
	char *path = ck_blob_path(c, hex);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int e = errno;
	free(path);
	if (fd >= 0 && (fstat(fd, st) < 0 || !S_ISREG(st->st_mode))) {
		e = fstat(fd, st) < 0 ? errno : EISDIR;
		close(fd);
		fd = -1;
	}
	errno = e;
	return fd;
}

/* The SHA-256 of a whole open file, read in chunks. */
static int ck_hash_fd(int fd, uint64_t size, char hex[65])
{
	struct store_append a;
	memset(&a, 0, sizeof(a));
	a.in_file = true;
	a.fd = fd;
	a.len = (size_t)size;
	return store_blob_hash_msg(&a, hex);
}

/* inline (issue #14): the bytes of a small message kept as a row of the
 * index (store/sqlite/inline.c), read like a file: true with *state when
 * there is such a row. */
static bool ck_inline_state(struct ck *c, const char *hex, uint64_t size, char real[65],
			    const char **problem, enum ck_blob_state *state)
{
	char *data;
	size_t len;
	int r = sqlite_inline_get(c->u, hex, &data, &len);
	if (r == STORE_ENOENT)
		return false;
	c->sum->blobs++;
	*state = CK_BLOB_OK;
	if (r != STORE_OK) {
		*problem = "unreadable";
		*state = CK_BLOB_UNREADABLE;
		return true;
	}
	if (len == 0 && size > 0) {
		*problem = "empty";
		*state = CK_BLOB_GONE;
	} else if (!c->o->quick || (uint64_t)len != size) {
		store_blob_hash(data, len, real);
		if (strcmp(real, hex) != 0) {
			*problem = (uint64_t)len != size ? "size" : "hash";
			*state = CK_BLOB_BAD;
		} else if ((uint64_t)len != size) {
			*problem = "size_recorded";
			*state = CK_BLOB_BAD;
		}
	}
	store_blob_unmap(data, len);
	return true;
}

/* The bytes of blob hex, from its row or its file (store_blob_unmap). */
static int ck_bytes(struct ck *c, const char *hex, const char **data, size_t *len)
{
	char *d;
	int r = sqlite_inline_get(c->u, hex, &d, len);
	*data = d;
	if (r != STORE_ENOENT)
		return r;
	return store_blobs_map_file(c->u->base.blobs, hex, data, len);
}

/* The state of blob hex for rows whose recorded sizes are sizes[0..n);
 * *real receives the file's hash when it was computed ("" otherwise). */
static enum ck_blob_state ck_blob_state(struct ck *c, const char *hex, uint64_t size,
					 char real[65], const char **problem)
{
	real[0] = '\0';
	if (!store_blob_name_valid(hex)) {
		*problem = "missing";
		return CK_BLOB_GONE;
	}
	enum ck_blob_state is;
	if (ck_inline_state(c, hex, size, real, problem, &is))
		return is;
	struct stat st;
	int fd = ck_blob_open(c, hex, &st);
	if (fd < 0) {
		*problem = errno == ENOENT ? "missing" : errno == EIO ? "unreadable" : "no_access";
		return errno == ENOENT || errno == EIO ? CK_BLOB_GONE : CK_BLOB_UNREADABLE;
	}
	c->sum->blobs++;
	enum ck_blob_state s = CK_BLOB_OK;
	if (st.st_size == 0 && size > 0) {
		*problem = "empty";
		s = CK_BLOB_GONE;
	} else if (!c->o->quick || (uint64_t)st.st_size != size) {
		/* A size that differs still needs the hash to tell a damaged
		 * file from a damaged row. */
		if (ck_hash_fd(fd, (uint64_t)st.st_size, real) != STORE_OK) {
			*problem = "unreadable";
			s = CK_BLOB_GONE;
		} else if (strcmp(real, hex) != 0) {
			*problem = (uint64_t)st.st_size != size ? "size" : "hash";
			s = CK_BLOB_BAD;
		} else if ((uint64_t)st.st_size != size) {
			*problem = "size_recorded";
			s = CK_BLOB_BAD;
		}
	}
	close(fd);
	return s;
}

/* The row is gone with its bytes: expunged like an EXPUNGE (history and
 * modseq, invariant 6) so clients drop it. */
static int ck_row_expunge(struct ck *c, const struct ck_row *r)
{
	struct ck_mbox *mb = ck_mbox_of(c, r->mailbox_id);
	char blob[65];
	int e = sqlite_msg_delete_one(c->u, r->mailbox_id, r->uid, blob);
	if (e == STORE_OK && mb)
		e = sqlite_expunged_add(c->u, mb->id, &r->uid, 1, ck_modseq(mb));
	return e;
}

/* Stores the bytes of file hex (damaged or unindexed) under their real
 * hash real and copies their cached strings; the caller adds the row. */
static int ck_restore_bytes(struct ck *c, const char *hex, const char *real, uint64_t *size)
{
	const char *data;
	size_t len;
	char *row;
	int r = sqlite_inline_get(c->u, hex, &row, &len);
	if (r == STORE_OK) {
		/* inline: the bytes stay a row, under their real name. */
		*size = len;
		if (strcmp(hex, real) != 0)
			r = sqlite_inline_put(c->u, real, row, len);
		store_blob_unmap(row, len);
		if (r != STORE_OK)
			return r;
	} else if (r != STORE_ENOENT) {
		return r;
	} else {
		struct stat st;
		int fd = ck_blob_open(c, hex, &st);
		if (fd < 0)
			return STORE_EIO;
		*size = (uint64_t)st.st_size;
		struct store_append a;
		memset(&a, 0, sizeof(a));
		a.in_file = true;
		a.fd = fd;
		a.len = (size_t)st.st_size;
		r = strcmp(hex, real) == 0 ? STORE_OK
					   : store_blobs_put_msg(c->u->base.blobs, real, &a);
		close(fd);
		if (r != STORE_OK)
			return r;
	}
	if (!c->o->cache)
		return STORE_OK;
	if (ck_bytes(c, real, &data, &len) != STORE_OK)
		return STORE_OK;  /* the cache check will say */
	char *env = NULL, *bs = NULL, *body = NULL;
	c->o->cache(data, len, &env, &bs, &body);
	store_blob_unmap(data, len);
	sqlite3_stmt *q = sqlite_stmt(c->u, STMT_CACHE_UPSERT);
	if (!q) {
		r = STORE_EIO;
	} else {
		sqlite3_bind_text(q, 1, real, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, env, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 3, bs, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 4, body, -1, SQLITE_STATIC);
		r = sqlite_stmt_run(c->u, q, "check_cache");
	}
	free(env);
	free(bs);
	free(body);
	return r;
}

/* Adds message m (bytes already stored as m->blob) to Lost+Found. */
static int ck_lost_found_add(struct ck *c, struct store_msg *m)
{
	struct ck_mbox *lf;
	int r = ck_lost_found(c, &lf);
	if (r != STORE_OK)
		return r;
	m->savedate = (int64_t)time(NULL);
	r = sqlite_msg_insert(c->u, lf->id, lf->uidnext, ck_modseq(lf), m);
	if (r == STORE_OK) {
		lf->uidnext++;
		c->sum->lost_found++;
	}
	return r;
}

/* A file name nothing refers to any more: its cached data and search
 * entry go, and the file. */
static void ck_forget_blob(struct ck *c, const char *hex)
{
	sqlite3_stmt *st = sqlite_stmt(c->u, STMT_CACHE_DELETE);
	if (st) {
		sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
		sqlite_stmt_run(c->u, st, "check_cache_delete");
	}
	sqlite_search_forget(c->u, hex);
	sqlite_inline_delete(c->u, hex);
	store_blobs_unlink(c->u->base.blobs, hex);
}

/* A damaged file's row moves to Lost+Found: a new row there (m, whose
 * bytes are stored), the old one expunged. */
static int ck_row_move(struct ck *c, const struct ck_row *row, struct store_msg *m)
{
	int r = ck_lost_found_add(c, m);
	return r == STORE_OK ? ck_row_expunge(c, row) : r;
}

/* Repairs the rows rows[0..n) of one file in state s. */
static int ck_blob_repair(struct ck *c, const char *hex, const char *real, enum ck_blob_state s,
			  const char *problem, struct ck_row *rows, size_t n)
{
	if (s == CK_BLOB_UNREADABLE)
		return STORE_OK;
	int r = STORE_OK;
	uint64_t size = 0;
	bool move = s == CK_BLOB_BAD && strcmp(problem, "size_recorded") != 0;
	uint64_t have = 0;  /* the size of the bytes there */
	if (move) {
		r = ck_restore_bytes(c, hex, real, &size);
	} else if (s == CK_BLOB_BAD) {
		const char *data;
		size_t len;
		if (ck_bytes(c, hex, &data, &len) != STORE_OK)
			return STORE_EIO;
		store_blob_unmap(data, len);
		have = len;
	}
	for (size_t i = 0; i < n && r == STORE_OK; i++) {
		struct ck_row *row = &rows[i];
		if (s == CK_BLOB_GONE) {
			r = ck_row_expunge(c, row);
		} else if (move) {
			struct store_msg m = row->msg;
			m.size = size;
			memcpy(m.blob, real, 65);
			r = ck_row_move(c, row, &m);
		} else if (row->size != have) {
			/* The bytes are right, the row is not: the quota trigger
			 * follows the size. */
			r = ck_exec(c, "UPDATE messages SET size=?3 WHERE mailbox_id=?1 AND uid=?2",
				    row->mailbox_id, row->uid, (int64_t)have, NULL);
		}
	}
	/* A moved file lives on under its real name; a file without its
	 * bytes (empty, EIO) goes too, or the orphan pass would take it. */
	if (r == STORE_OK && (move || s == CK_BLOB_GONE))
		ck_forget_blob(c, hex);
	return r;
}

static const char *ck_action(enum ck_blob_state s, const char *problem)
{
	switch (s) {
	case CK_BLOB_GONE:
		return "expunged";
	case CK_BLOB_BAD:
		return strcmp(problem, "size_recorded") == 0 ? "size_corrected"
							      : "moved_to_lost_found";
	default:
		return "none";
	}
}

/* Every row, grouped by file: a file is opened and hashed once however
 * many copies refer to it. The rows are read first, then repaired. */
static int ck_blobs(struct ck *c)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->u->db, "SELECT blob,mailbox_id,uid,size,flags,keywords,"
				      "internaldate,internaldate_tz FROM messages ORDER BY blob",
			       -1, &st, NULL) != SQLITE_OK)
		return sqlite_db_error(c->u, "check_blobs");
	struct ck_row *rows = NULL;
	char (*blobs)[65] = NULL;
	size_t n = 0, cap = 0, bcap = 0, bcap_bad = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow((void **)&rows, &cap, n + 1, sizeof(*rows));
		xgrow((void **)&blobs, &bcap, n + 1, sizeof(*blobs));
		const char *b = (const char *)sqlite3_column_text(st, 0);
		const char *kw = (const char *)sqlite3_column_text(st, 5);
		snprintf(blobs[n], 65, "%s", b ? b : "");
		struct ck_row *r = &rows[n++];
		memset(r, 0, sizeof(*r));
		r->mailbox_id = sqlite3_column_int64(st, 1);
		r->uid = (uint32_t)sqlite3_column_int64(st, 2);
		r->size = (uint64_t)sqlite3_column_int64(st, 3);
		r->msg.flags = (uint32_t)sqlite3_column_int64(st, 4);
		r->msg.keywords = kw && *kw ? xstrdup(kw) : NULL;
		r->msg.internaldate = sqlite3_column_int64(st, 6);
		r->msg.internaldate_tz = sqlite3_column_int(st, 7);
	}
	sqlite3_finalize(st);
	int r = rc == SQLITE_DONE ? STORE_OK : sqlite_db_error(c->u, "check_blobs");
	c->sum->messages = n;
	for (size_t i = 0; i < n && r == STORE_OK;) {
		size_t k = i + 1;
		while (k < n && strcmp(blobs[k], blobs[i]) == 0)
			k++;
		/* Rows of one file with different sizes: the first decides
		 * the state, the others are corrected with it. */
		char real[65];
		const char *problem = NULL;
		enum ck_blob_state s = ck_blob_state(c, blobs[i], rows[i].size, real, &problem);
		for (size_t j = i + 1; s == CK_BLOB_OK && j < k; j++)
			if (rows[j].size != rows[i].size) {
				s = CK_BLOB_BAD;
				problem = "size_recorded";
			}
		if (s != CK_BLOB_OK) {
			/* Rows come sorted by file: the list stays sorted. */
			xgrow((void **)&c->bad, &bcap_bad, c->nbad + 1, sizeof(*c->bad));
			memcpy(c->bad[c->nbad++], blobs[i], 65);
			for (size_t j = i; j < k; j++) {
				struct ck_mbox *mb = ck_mbox_of(c, rows[j].mailbox_id);
				ck_report(c, "blob", mb ? mb->name : "(none)", rows[j].uid, blobs[i],
					  problem, ck_action(s, problem), NULL);
			}
			if (c->o->repair)
				r = ck_blob_repair(c, blobs[i], real, s, problem, rows + i, k - i);
		}
		i = k;
	}
	for (size_t i = 0; i < n; i++)
		free(rows[i].msg.keywords);
	free(rows);
	free(blobs);
	return r;
}

/* Rows whose mailbox is gone (the index lost it): to Lost+Found. */
static int ck_rows_without_mailbox(struct ck *c)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->u->db, "SELECT mailbox_id,uid," STORE_MSG_COLUMNS
				      " FROM messages WHERE mailbox_id NOT IN "
				      "(SELECT id FROM mailboxes)", -1, &st, NULL) != SQLITE_OK)
		return sqlite_db_error(c->u, "check_rows");
	struct ck_row *rows = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow((void **)&rows, &cap, n + 1, sizeof(*rows));
		struct ck_row *r = &rows[n++];
		memset(r, 0, sizeof(*r));
		r->mailbox_id = sqlite3_column_int64(st, 0);
		r->uid = (uint32_t)sqlite3_column_int64(st, 1);
		r->msg.flags = (uint32_t)sqlite3_column_int64(st, 3);
		const char *kw = (const char *)sqlite3_column_text(st, 5);
		r->msg.keywords = kw && *kw ? xstrdup(kw) : NULL;
		r->msg.internaldate = sqlite3_column_int64(st, 6);
		r->msg.internaldate_tz = sqlite3_column_int(st, 7);
		r->msg.size = r->size = (uint64_t)sqlite3_column_int64(st, 9);
		const char *b = (const char *)sqlite3_column_text(st, 10);
		snprintf(r->msg.blob, 65, "%s", b ? b : "");
	}
	sqlite3_finalize(st);
	int r = rc == SQLITE_DONE ? STORE_OK : sqlite_db_error(c->u, "check_rows");
	for (size_t i = 0; i < n && r == STORE_OK; i++) {
		char *d = xasprintf("mailbox_id=%" PRId64, rows[i].mailbox_id);
		ck_report(c, "mailbox", NULL, rows[i].uid, rows[i].msg.blob, "row_without_mailbox",
			  "moved_to_lost_found", d);
		free(d);
		if (c->o->repair) {
			char blob[65];
			r = ck_lost_found_add(c, &rows[i].msg);
			if (r == STORE_OK)
				r = sqlite_msg_delete_one(c->u, rows[i].mailbox_id, rows[i].uid, blob);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(rows[i].msg.keywords);
	free(rows);
	return r;
}

/* ---- 6. files nobody refers to ---- */

/* 1 when the statement sql (?4 = hex) gives a row. */
static int ck_has_row(struct ck *c, const char *sql, const char *hex)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->u->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* True when blob hex has a row (or the question fails). */
static bool ck_inline_has(struct ck *c, const char *hex)
{
	return ck_has_row(c, "SELECT 1 FROM blob_inline WHERE blob=?1", hex) != 0;
}

/* Bytes nobody refers to: a file (fst) or, inline, a row of the index
 * (fst NULL, size its length). */
static int ck_orphan(struct ck *c, const char *hex, const struct stat *fst, uint64_t size)
{
	int ref = ck_has_row(c, "SELECT 1 FROM messages WHERE blob=?1 LIMIT 1", hex);
	if (ref != 0)
		return ref < 0 ? sqlite_db_error(c->u, "check_orphan") : STORE_OK;
	c->sum->blobs++;
	/* An entry queued for removal (search_gc) is of an expunged message:
	 * no sign of mail to recover. */
	int cached = ck_has_row(c, "SELECT 1 FROM message_cache WHERE blob=?1 UNION ALL "
				   "SELECT 1 FROM search_doc WHERE blob=?1 AND NOT EXISTS("
				   "SELECT 1 FROM search_gc WHERE blob=?1)", hex);
	if (cached < 0)
		return sqlite_db_error(c->u, "check_orphan");
	/* An empty file holds no mail, whatever the index says of it. */
	bool recover = (cached || c->recover_all) && size > 0;
	/* A row is written with the messages that use it, never ahead: no
	 * APPEND in flight owns one. */
	if (!recover && fst && time(NULL) - fst->st_mtime < (time_t)c->o->grace_seconds)
		return STORE_OK;  /* an APPEND may be about to commit it */
	const char *problem = recover ? "unindexed" : size == 0 ? "empty"
				    : fst ? "uncommitted" : "unreferenced";
	if (!recover) {
		/* Removed first, so a file that would not go is reported as
		 * not repaired. */
		bool gone = false;
		if (c->o->repair) {
			char *path = ck_blob_path(c, hex);
			ck_forget_blob(c, hex);
			gone = (access(path, F_OK) < 0 && errno == ENOENT) &&
			       !ck_inline_has(c, hex);
			free(path);
		}
		ck_report(c, "orphan", NULL, 0, hex, problem, gone ? "removed" : "none",
			  c->o->repair && !gone ? "error=cannot_remove" : NULL);
		return STORE_OK;
	}
	ck_report(c, "orphan", NULL, 0, hex, problem, "moved_to_lost_found", NULL);
	if (!c->o->repair)
		return STORE_OK;
	const char *data;
	size_t len;
	if (ck_bytes(c, hex, &data, &len) != STORE_OK)
		return STORE_OK;
	char real[65];
	store_blob_hash(data, len, real);
	store_blob_unmap(data, len);
	uint64_t got = 0;
	int r = ck_restore_bytes(c, hex, real, &got);
	if (r != STORE_OK)
		return r;
	struct store_msg m;
	memset(&m, 0, sizeof(m));
	/* when the bytes were stored; a row has no time of its own */
	m.internaldate = fst ? (int64_t)fst->st_mtime : (int64_t)time(NULL);
	m.size = got;
	memcpy(m.blob, real, 65);
	r = ck_lost_found_add(c, &m);
	if (r == STORE_OK && strcmp(real, hex) != 0)
		ck_forget_blob(c, hex);
	return r;
}

/* The names of the message files in blobs/xx/, at most max of them;
 * with report, other files there are reported. Caller frees *out. */
static size_t ck_blob_names(struct ck *c, size_t max, bool report, char (**out)[65])
{
	char *top = xasprintf("%s/blobs", c->dir);
	DIR *d = opendir(top);
	size_t n = 0, cap = 0;
	struct dirent *e;
	*out = NULL;
	while (d && n < max && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *sub = xasprintf("%s/%s", top, e->d_name);
		DIR *sd = opendir(sub);
		struct dirent *f;
		while (sd && n < max && (f = readdir(sd))) {
			if (f->d_name[0] == '.')
				continue;
			char hex[66];
			int len = snprintf(hex, sizeof(hex), "%s%s", e->d_name, f->d_name);
			if (len == 64 && store_blob_name_valid(hex)) {
				xgrow((void **)out, &cap, n + 1, sizeof(**out));
				memcpy((*out)[n++], hex, 65);
			} else if (report) {
				char *dt = xasprintf("file=blobs/%.20s/%.80s", e->d_name, f->d_name);
				ck_report(c, "orphan", NULL, 0, NULL, "stray_file", "none", dt);
				free(dt);
			}
		}
		if (sd)
			closedir(sd);
		free(sub);
	}
	if (d)
		closedir(d);
	free(top);
	return n;
}

/* Every file of blobs/ (the names are collected first: repairs add
 * files). */
static int ck_orphans(struct ck *c)
{
	char (*names)[65] = NULL;
	size_t n = ck_blob_names(c, SIZE_MAX, true, &names);
	int r = STORE_OK;
	for (size_t i = 0; i < n && r == STORE_OK; i++) {
		struct stat st;
		char *path = ck_blob_path(c, names[i]);
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
			r = ck_orphan(c, names[i], &st, (uint64_t)st.st_size);
		free(path);
	}
	free(names);
	if (r != STORE_OK)
		return r;
	/* inline: rows of the index (store/sqlite/inline.c) nobody refers
	 * to; left by a crash between a commit and its collection (REPLACE,
	 * a MOVE between users) or by hand. */
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->u->db, "SELECT blob,length(data) FROM blob_inline b WHERE "
				      "NOT EXISTS(SELECT 1 FROM messages m WHERE m.blob=b.blob)",
			       -1, &st, NULL) != SQLITE_OK)
		return sqlite_db_error(c->u, "check_orphan");
	size_t cap = 0;
	uint64_t *sizes = NULL;
	n = 0;
	names = NULL;
	size_t scap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *b = (const char *)sqlite3_column_text(st, 0);
		xgrow((void **)&names, &cap, n + 1, sizeof(*names));
		xgrow((void **)&sizes, &scap, n + 1, sizeof(*sizes));
		snprintf(names[n], 65, "%s", b ? b : "");
		sizes[n++] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		r = sqlite_db_error(c->u, "check_orphan");
	for (size_t i = 0; i < n && r == STORE_OK; i++) {
		if (!store_blob_name_valid(names[i])) {
			/* not a name the store writes: the row is dropped */
			ck_report(c, "orphan", NULL, 0, NULL, "bad_row", "removed", NULL);
			if (c->o->repair)
				r = ck_exec(c, "DELETE FROM blob_inline WHERE blob=?4", 0, 0, 0, names[i]);
			continue;
		}
		r = ck_orphan(c, names[i], NULL, sizes[i]);
	}
	free(names);
	free(sizes);
	return r;
}

/* Temp files of writers that died (store/blob.c cleans them on open too,
 * after an hour). */
static void ck_tmp(struct ck *c)
{
	char *tmp = xasprintf("%s/" STORE_BLOB_TMP_DIR, c->dir);
	DIR *d = opendir(tmp);
	free(tmp);
	if (!d)
		return;
	struct dirent *e;
	time_t now = time(NULL);
	while ((e = readdir(d))) {
		struct stat st;
		if (strncmp(e->d_name, "blob.", 5) != 0 ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    now - st.st_mtime < (time_t)c->o->grace_seconds)
			continue;
		bool gone = c->o->repair && unlinkat(dirfd(d), e->d_name, 0) == 0;
		char *dt = xasprintf("file=tmp/%.80s%s", e->d_name,
				     c->o->repair && !gone ? " error=cannot_remove" : "");
		ck_report(c, "tmp", NULL, 0, NULL, "stale_temp", gone ? "removed" : "none", dt);
		free(dt);
	}
	closedir(d);
}

/* ---- 7. cached data of files no message uses ---- */

static int ck_stale_cache(struct ck *c)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->u->db, "SELECT blob FROM message_cache c WHERE NOT EXISTS("
				      "SELECT 1 FROM messages m WHERE m.blob=c.blob) UNION "
				      "SELECT blob FROM search_doc d WHERE NOT EXISTS("
				      "SELECT 1 FROM messages m WHERE m.blob=d.blob) AND NOT EXISTS("
				      "SELECT 1 FROM search_gc g WHERE g.blob=d.blob)",
			       -1, &st, NULL) != SQLITE_OK)
		return sqlite_db_error(c->u, "check_stale");
	char (*blobs)[65] = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *b = (const char *)sqlite3_column_text(st, 0);
		xgrow((void **)&blobs, &cap, n + 1, sizeof(*blobs));
		snprintf(blobs[n++], 65, "%s", b ? b : "");
	}
	sqlite3_finalize(st);
	int r = rc == SQLITE_DONE ? STORE_OK : sqlite_db_error(c->u, "check_stale");
	for (size_t i = 0; i < n && r == STORE_OK; i++) {
		struct stat fst;
		char *path = ck_blob_path(c, blobs[i]);
		bool present = store_blob_name_valid(blobs[i]) &&
			       (stat(path, &fst) == 0 ||
				ck_inline_has(c, blobs[i]));
		free(path);
		if (present)
			continue;  /* an unindexed file the orphan pass left alone */
		ck_report(c, "cache", NULL, 0, blobs[i], "stale", "removed", NULL);
		if (c->o->repair)
			ck_forget_blob(c, blobs[i]);
	}
	free(blobs);
	return r;
}

/* ---- 8. cached strings against a re-parse ---- */

static int ck_blob_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static bool ck_str_eq(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

static int ck_cache_one(struct ck *c, const char *hex, const char *cached[3], const char *mbname,
			uint32_t uid)
{
	const char *data;
	size_t len;
	if (ck_bytes(c, hex, &data, &len) != STORE_OK)
		return STORE_OK;  /* reported by the file pass */
	char *fresh[3] = { NULL, NULL, NULL };
	c->o->cache(data, len, &fresh[0], &fresh[1], &fresh[2]);
	store_blob_unmap(data, len);
	static const char *const what[3] = { "envelope", "bodystructure", "body" };
	char problem[64] = "";
	for (int i = 0; i < 3; i++)
		if (!ck_str_eq(cached[i], fresh[i]))
			snprintf(problem + strlen(problem), sizeof(problem) - strlen(problem), "%s%s",
				 problem[0] ? "," : "", what[i]);
	if (problem[0] && !cached[0] && !cached[1] && !cached[2])
		snprintf(problem, sizeof(problem), "missing");
	int r = STORE_OK;
	if (problem[0]) {
		ck_report(c, "cache", mbname, uid, hex, problem, "recomputed", NULL);
		sqlite3_stmt *st = c->o->repair ? sqlite_stmt(c->u, STMT_CACHE_UPSERT) : NULL;
		if (st) {
			sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
			for (int i = 0; i < 3; i++)
				sqlite3_bind_text(st, i + 2, fresh[i], -1, SQLITE_STATIC);
			r = sqlite_stmt_run(c->u, st, "check_cache");
		} else if (c->o->repair) {
			r = STORE_EIO;
		}
	}
	for (int i = 0; i < 3; i++)
		free(fresh[i]);
	return r;
}

static int ck_cache(struct ck *c)
{
	if (!c->o->cache || c->o->quick)
		return STORE_OK;
	/* One row per file (the first message using it names it); the
	 * statement is finalized before the repairs write. */
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->u->db, "SELECT m.blob,min(m.mailbox_id),min(m.uid) "
				      "FROM messages m GROUP BY m.blob", -1, &st, NULL) != SQLITE_OK)
		return sqlite_db_error(c->u, "check_cache");
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(c->u->db, "SELECT envelope,bodystructure,body FROM message_cache "
				      "WHERE blob=?1", -1, &q, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return sqlite_db_error(c->u, "check_cache");
	}
	int r = STORE_OK, rc;
	char (*blobs)[65] = NULL;
	int64_t *ids = NULL;
	uint32_t *uids = NULL;
	size_t n = 0, cap = 0, icap = 0, ucap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *b = (const char *)sqlite3_column_text(st, 0);
		/* A damaged file's strings are not worth comparing. */
		if (!store_blob_name_valid(b) ||
		    (c->nbad && bsearch(b, c->bad, c->nbad, sizeof(*c->bad), ck_blob_cmp)))
			continue;
		xgrow((void **)&blobs, &cap, n + 1, sizeof(*blobs));
		xgrow((void **)&ids, &icap, n + 1, sizeof(*ids));
		xgrow((void **)&uids, &ucap, n + 1, sizeof(*uids));
		memcpy(blobs[n], b, 65);
		ids[n] = sqlite3_column_int64(st, 1);
		uids[n++] = (uint32_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		r = sqlite_db_error(c->u, "check_cache");
	for (size_t i = 0; i < n && r == STORE_OK; i++) {
		sqlite3_reset(q);
		sqlite3_bind_text(q, 1, blobs[i], -1, SQLITE_STATIC);
		char *cached[3] = { NULL, NULL, NULL };
		if (sqlite3_step(q) == SQLITE_ROW)
			for (int k = 0; k < 3; k++) {
				const char *t = (const char *)sqlite3_column_text(q, k);
				cached[k] = t ? xstrdup(t) : NULL;
			}
		sqlite3_reset(q);
		struct ck_mbox *mb = ck_mbox_of(c, ids[i]);
		r = ck_cache_one(c, blobs[i], (const char **)cached, mb ? mb->name : NULL, uids[i]);
		for (int k = 0; k < 3; k++)
			free(cached[k]);
	}
	sqlite3_finalize(q);
	free(blobs);
	free(ids);
	free(uids);
	return r;
}

/* ---- 9. subscriptions ---- */

static int ck_subscriptions(struct ck *c)
{
	char **names = NULL;
	size_t n = 0;
	int r = sqlite_subscription_list(&c->u->base, &names, &n);
	for (size_t i = 0; i < n && r == STORE_OK; i++) {
		char *norm = NULL;
		int v = store_mailbox_name_normalize(names[i], &norm);
		if (v == STORE_OK && strcmp(norm, names[i]) == 0) {
			free(norm);
			continue;
		}
		ck_report(c, "subscription", names[i], 0, NULL,
			  v == STORE_OK ? "not_normalised" : "bad_name",
			  v == STORE_OK ? "normalised" : "removed", NULL);
		if (c->o->repair) {
			r = ck_exec(c, "DELETE FROM subscriptions WHERE name=?4", 0, 0, 0, names[i]);
			if (r == STORE_OK && v == STORE_OK)
				r = ck_exec(c, "INSERT OR IGNORE INTO subscriptions(name) VALUES(?4)",
					    0, 0, 0, norm);
		}
		free(norm);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/* ---- the run ---- */

static int ck_pass(struct ck *c)
{
	int r = c->o->repair ? sqlite_tx_write(c->u) : sqlite_tx_read(c->u);
	if (r != STORE_OK)
		return r;
	if ((r = ck_mailboxes(c)) == STORE_OK && (r = ck_quota(c)) == STORE_OK &&
	    (r = ck_rows_without_mailbox(c)) == STORE_OK && (r = ck_blobs(c)) == STORE_OK &&
	    (r = ck_orphans(c)) == STORE_OK && (r = ck_stale_cache(c)) == STORE_OK &&
	    (r = ck_cache(c)) == STORE_OK && (r = ck_subscriptions(c)) == STORE_OK)
		ck_tmp(c);
	if (r == STORE_OK && c->o->repair && (r = ck_mailboxes_store(c)) == STORE_OK)
		r = ck_quota_fix(c);
	if (r != STORE_OK) {
		sqlite_tx_rollback(c->u);
		return r;
	}
	r = sqlite_tx_commit(c->u);
	if (r == STORE_OK && c->o->repair && c->sum->repaired > 0)
		sqlite_notify(c->u);
	return r;
}

int sqlite_check(const char *username, const struct store_check_opts *o,
		 struct store_check_summary *sum)
{
	struct ck c;
	memset(&c, 0, sizeof(c));
	c.o = o;
	c.sum = sum;
	c.username = username;
	c.dir = store_user_dir(username);
	if (!c.dir)
		return STORE_EINVAL;
	char *index = xasprintf("%s/index.sqlite", c.dir);
	struct stat st;
	int r = STORE_ENOENT;
	bool damaged = false;
	if (stat(index, &st) == 0) {
		if ((r = ck_integrity(&c, index, &damaged)) != STORE_OK)
			goto out;
	} else {
		/* No index: a store only when message files are there. */
		if (!ck_has_files(&c))
			goto out;
		ck_report(&c, "integrity", NULL, 0, NULL, "missing_index", "rebuilt", NULL);
		damaged = true;
	}
	if (damaged && !o->repair)
		goto out;  /* nothing else can be trusted */
	if (damaged) {
		r = ck_rebuild(&c, index);
	} else {
		struct store_user *base = sqlite_user_open(username);
		c.u = base ? sqlite_user_of(base) : NULL;
		r = c.u ? STORE_OK : STORE_EIO;
	}
	if (r == STORE_OK)
		r = ck_pass(&c);
out:
	if (c.u)
		sqlite_user_close(&c.u->base);
	ck_mailboxes_free(&c);
	free(c.bad);
	free(index);
	free(c.dir);
	return r;
}
