/* The SQLite backend: the process-wide pool of open handles, the schema
 * and its migrations, statement caching, transactions, and the notify file
 * its change feed (watch.c) listens to. Rules are the front's (store.c);
 * this file only stores.
 *
 * Each user has <mail_root>/<domain or "local">/<localpart>/ holding
 * index.sqlite (WAL, synchronous=FULL), blobs/ab/cdef... (message bytes by
 * SHA-256), tmp/ (blobs being written) and notify (touched after every
 * commit so watchers in any process wake up). */
#include "store/sqlite/sqlite_internal.h"
#include "store/blob.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Open handles kept by the process (in use or not). Opening one costs a
 * file open, WAL/shm mapping and a schema parse (~1 ms); an unused one
 * costs ~90 KB and 4 descriptors. With fewer handles than active users,
 * every command of a busy server paid the open: 200 long-lived sessions
 * ran at a quarter of the speed with 32 per thread. In-use handles are
 * never closed, so the pool exceeds this only while more are in use. */
#define STORE_CACHE_MAX 256

/* Unused handles that keep their page cache: the most recently closed
 * ones. A session's next command (the view sync after each command, the
 * pool job of a STORE or APPEND) reopens its user's handle within
 * milliseconds, and with one connection per user nothing made those pages
 * stale: releasing them at every close made each command read its pages
 * again from the WAL and the database (pread and a malloc per page;
 * sessions: ~12 preads per command). SQLite still checks at each read
 * transaction whether another connection wrote and drops the cache then,
 * so a kept cache is never served stale. A cache is at most cache_size
 * (1 MiB), in practice the few hundred KiB a mailbox's pages take.
 * Issue #14, fifth session: every unused handle of the pool (at most
 * STORE_CACHE_MAX) keeps its cache; until then only the 64 most recently
 * closed did. At 64, the
 * imaptest-like mix with 200 clients (200 users, each with a handle or
 * two in use and more unused) read every page again at most commands:
 * 30 preads per command on the pool threads and 16 on the event loops,
 * 16 and 7 with 256 (-8% CPU per command, +10% commands/s). Beyond
 * STORE_WARM_KEEP, a cache unused for STORE_WARM_EXCESS_MS gives its
 * pages back at the next trim (sqlite_cache_trim, every 2 s), so a wave
 * of logins (1,000 users entering IDLE) leaves no more memory behind
 * than before. */
#define STORE_WARM_KEEP 64
#define STORE_WARM_EXCESS_MS 1000

/* ---- statements and transactions ---- */

#define STORE_STMT_SQL(id, sql) sql,
static const char *const stmt_sql[STMT__COUNT] = { STORE_STMTS(STORE_STMT_SQL) };
#undef STORE_STMT_SQL

static bool fd_shortage(int err)
{
	return err == EMFILE || err == ENFILE;
}

int sqlite_db_error(struct sqlite_user *u, const char *what)
{
	/* The caller retries once the pool has given descriptors back. */
	if (u->opening && fd_shortage(sqlite3_system_errno(u->db)))
		return STORE_EIO;
	log_err("event=sqlite_db_error user=%s what=%s code=%d msg=\"%s\"", u->username, what,
		sqlite3_extended_errcode(u->db), sqlite3_errmsg(u->db));
	return STORE_EIO;
}

sqlite3_stmt *sqlite_stmt(struct sqlite_user *u, enum store_stmt id)
{
	if (!u->stmts[id]) {
		if (sqlite3_prepare_v3(u->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
				       &u->stmts[id], NULL) != SQLITE_OK) {
			sqlite_db_error(u, "prepare");
			u->stmts[id] = NULL;
			return NULL;
		}
	} else {
		sqlite3_reset(u->stmts[id]);
		sqlite3_clear_bindings(u->stmts[id]);
	}
	return u->stmts[id];
}

void sqlite_stmt_done(sqlite3_stmt *st)
{
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

int sqlite_stmt_run(struct sqlite_user *u, sqlite3_stmt *st, const char *what)
{
	if (!st)
		return STORE_EIO;
	int rc = sqlite3_step(st);
	int r = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? STORE_OK : sqlite_db_error(u, what);
	sqlite_stmt_done(st);
	return r;
}

static int tx_simple(struct sqlite_user *u, enum store_stmt id, const char *what)
{
	return sqlite_stmt_run(u, sqlite_stmt(u, id), what);
}

/* durable (issue #14): PRAGMA synchronous of the connection, switched only
 * between transactions and only when it differs. */
static int tx_sync_mode(struct sqlite_user *u, bool normal)
{
	if (u->sync_normal == normal || !sqlite3_get_autocommit(u->db))
		return STORE_OK;
	int r = tx_simple(u, normal ? STMT_SYNC_NORMAL : STMT_SYNC_FULL, "synchronous");
	if (r == STORE_OK)
		u->sync_normal = normal;
	return r;
}

/* fetchtx: a write ends a held read transaction first (a write
 * transaction cannot start inside it); the hold's later reads go
 * one transaction each. */
static void read_hold_end(struct sqlite_user *u)
{
	if (u->read_hold_began && !sqlite3_get_autocommit(u->db))
		tx_simple(u, STMT_COMMIT, "commit");
	u->read_hold_began = false;
}

/* Writers of this process waiting for (or taking) a user's write lock,
 * by a hash of the user name: background writers (search index, previews)
 * give the lock up between two rows while a command waits for it
 * (sqlite_tx_yield). A collision only makes one yield for nothing. */
#define WAITER_SLOTS 256
static atomic_uint g_waiters[WAITER_SLOTS];
static atomic_uint_fast64_t g_yields;

uint64_t sqlite_tx_yields(void)
{
	return atomic_load(&g_yields);
}

static atomic_uint *waiters_of(const struct sqlite_user *u)
{
	return &g_waiters[hash_bytes(u->username, strlen(u->username)) % WAITER_SLOTS];
}

static int tx_begin_write(struct sqlite_user *u, bool meta, bool background)
{
	read_hold_end(u);
	int r = tx_sync_mode(u, meta);
	atomic_uint *waiting = background ? NULL : waiters_of(u);
	if (waiting)
		atomic_fetch_add(waiting, 1);
	/* BEGIN IMMEDIATE takes the write lock up front (waiting up to the
	 * busy timeout), so UID allocation never races and a read snapshot is
	 * never upgraded into SQLITE_BUSY_SNAPSHOT. */
	if (r == STORE_OK)
		r = tx_simple(u, STMT_BEGIN_WRITE, "begin_write");
	if (waiting)
		atomic_fetch_sub(waiting, 1);
	u->tx_write = r == STORE_OK;
	u->tx_meta = r == STORE_OK && meta;
	u->tx_changes0 = sqlite3_total_changes64(u->db);
	return r;
}

int sqlite_tx_write(struct sqlite_user *u)
{
	return tx_begin_write(u, false, false);
}

int sqlite_tx_write_meta(struct sqlite_user *u)
{
	return tx_begin_write(u, sqlite_sync_active(), false);
}

/* Lets the commands of this process waiting for u's write lock go first,
 * for at most 50 ms. */
static void writers_first(struct sqlite_user *u)
{
	atomic_uint *waiting = waiters_of(u);
	for (int i = 0; i < 500 && atomic_load(waiting) > 0; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000L }, NULL);
}

int sqlite_tx_write_background(struct sqlite_user *u)
{
	writers_first(u);
	return tx_begin_write(u, sqlite_sync_active(), true);
}

bool sqlite_tx_yield_due(struct sqlite_user *u)
{
	return u->tx_write && atomic_load(waiters_of(u)) > 0;
}

int sqlite_tx_yield(struct sqlite_user *u)
{
	if (!sqlite_tx_yield_due(u))
		return STORE_OK;
	int r = sqlite_tx_commit(u);
	if (r == STORE_OK)
		r = sqlite_tx_write_background(u);
	if (r == STORE_OK)
		atomic_fetch_add(&g_yields, 1);
	return r;
}

int sqlite_tx_read(struct sqlite_user *u)
{
	/* fetchtx: inside a hold, the held transaction. */
	if (u->read_hold_began && !sqlite3_get_autocommit(u->db))
		return STORE_OK;
	return tx_simple(u, STMT_BEGIN_READ, "begin_read");
}

/* fetchtx (issue #14): a FETCH read a message's cached strings (one
 * autocommit statement) and the mailbox's rows in a read transaction of
 * their own per message: a BEGIN, a shared lock of the WAL index (an
 * fcntl), the WAL header check, then the unlock. The reads of a run now
 * share one, begun lazily by their first statement (BEGIN is deferred). */
void sqlite_read_hold(struct store_user *base)
{
	struct sqlite_user *u = sqlite_user_of(base);
	if (u->read_hold++ > 0 || !sqlite3_get_autocommit(u->db))
		return;
	u->read_hold_began = tx_simple(u, STMT_BEGIN_READ, "begin_read") == STORE_OK;
}

void sqlite_read_release(struct store_user *base)
{
	struct sqlite_user *u = sqlite_user_of(base);
	if (u->read_hold == 0 || --u->read_hold > 0)
		return;
	if (!u->tx_write)
		read_hold_end(u);
	u->read_hold_began = false;
}

int sqlite_tx_commit_gc(struct sqlite_user *u, char (*blobs)[65], size_t n)
{
	/* fetchtx: a read inside a hold ends with the hold. */
	if (!u->tx_write && u->read_hold_began && !sqlite3_get_autocommit(u->db))
		return STORE_OK;
	bool meta = u->tx_meta;
	bool changed = u->tx_write && sqlite3_total_changes64(u->db) != u->tx_changes0;
	u->tx_write = u->tx_meta = false;
	/* Read before the commit's sync: what it covers (sync.c). */
	uint64_t seq = sqlite_sync_seq();
	int r = tx_simple(u, STMT_COMMIT, "commit");
	if (r != STORE_OK) {
		sqlite_tx_rollback(u);
		return r;
	}
	/* sessx (issue #14): an expunge that frees message files is deferred
	 * like any metadata commit; the syncer unlinks the files after its
	 * sync (sync.c), so a power loss never leaves a row without its file. */
	if (meta && (changed || n > 0) && sqlite_sync_defer(u, blobs, n))
		return STORE_OK;
	if (changed && !meta) {
		metrics_store_fsync(METRICS_FSYNC_COMMIT);
		sqlite_sync_covered(u, seq);
	}
	/* Durable now: the files can go. */
	if (n > 0)
		sqlite_blobs_collect(u, blobs, n);
	return STORE_OK;
}

int sqlite_tx_commit(struct sqlite_user *u)
{
	return sqlite_tx_commit_gc(u, NULL, 0);
}

void sqlite_tx_rollback(struct sqlite_user *u)
{
	u->tx_write = u->tx_meta = false;
	if (!sqlite3_get_autocommit(u->db)) {
		sqlite3_stmt *st = sqlite_stmt(u, STMT_ROLLBACK);
		if (!st || sqlite3_step(st) != SQLITE_DONE)
			log_err("event=store_rollback_error user=%s msg=\"%s\"", u->username,
				sqlite3_errmsg(u->db));
		sqlite_stmt_done(st);
	}
}

void sqlite_notify(struct sqlite_user *u)
{
	/* fastnotify: this process's watchers are told directly; the file is
	 * touched only for another process's. */
	if (!sqlite_watch_changed(u->username))
		return;
	/* utimensat raises IN_ATTRIB on the file for every watcher, in this
	 * process or another, without the file growing. */
	if (utimensat(AT_FDCWD, u->notify_path, NULL, 0) == 0)
		return;
	if (errno == ENOENT) {
		int fd = open(u->notify_path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0)
			close(fd);
		return;
	}
	log_warn("event=store_notify_error user=%s errno=%d", u->username, errno);
}

/* ---- schema ---- */

static const char schema_v1[] =
	"CREATE TABLE store_meta(key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;"
	/* AUTOINCREMENT: a deleted mailbox's id is never reused, so a session
	 * that still holds it gets ENOENT instead of another mailbox. */
	"CREATE TABLE mailboxes("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE,"
	" uidvalidity INTEGER NOT NULL,"
	" uidnext INTEGER NOT NULL DEFAULT 1,"
	" highestmodseq INTEGER NOT NULL DEFAULT 1,"
	" special_use TEXT,"
	" first_recent_uid INTEGER NOT NULL DEFAULT 1);"
	"CREATE TABLE subscriptions(name TEXT PRIMARY KEY) WITHOUT ROWID;"
	/* Small rows clustered by (mailbox, uid): the SELECT of a whole
	 * mailbox is one range scan. The large cached strings live in
	 * message_cache, keyed by blob, so they neither slow that scan nor
	 * get duplicated by COPY. */
	"CREATE TABLE messages("
	" mailbox_id INTEGER NOT NULL,"
	" uid INTEGER NOT NULL,"
	" modseq INTEGER NOT NULL,"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" keywords TEXT,"
	" internaldate INTEGER NOT NULL,"
	" internaldate_tz INTEGER NOT NULL DEFAULT 0,"
	" savedate INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" blob TEXT NOT NULL,"
	" PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;"
	"CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);"
	"CREATE INDEX messages_blob ON messages(blob);"
	"CREATE TABLE message_cache("
	" blob TEXT PRIMARY KEY,"
	" envelope TEXT,"
	" bodystructure TEXT,"
	" body TEXT);"
	"CREATE TABLE expunged("
	" mailbox_id INTEGER NOT NULL,"
	" uid INTEGER NOT NULL,"
	" modseq INTEGER NOT NULL,"
	" PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;"
	"CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);";

static int db_exec(struct sqlite_user *u, const char *sql, const char *what)
{
	if (sqlite3_exec(u->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sqlite_db_error(u, what);
	return STORE_OK;
}

static int db_user_version(struct sqlite_user *u, int *version)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(u->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return sqlite_db_error(u, "user_version");
	int r = STORE_OK;
	if (sqlite3_step(st) == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	else
		r = sqlite_db_error(u, "user_version");
	sqlite3_finalize(st);
	return r;
}

/* Migrations after schema_v1, applied in ascending order inside one write
 * transaction. One entry per feature (they are independent of each other),
 * numbered once and never renumbered after a release. Each one applied is
 * recorded in store_meta as "migration.N", so a file is brought up to date
 * by running exactly the entries it lacks, whatever order they were added
 * in; PRAGMA user_version holds the latest number only as the fast path. */
struct db_migration {
	int version;
	const char *what;
	const char *sql;
};

static const struct db_migration db_migrations[] = {
	{ 2, "quota", sqlite_quota_schema },
	/* searchidx: the search index (store/sqlite/search.c). One row per
	 * blob, like message_cache; search_text's rowid is search_doc.id. */
	{ 3, "search_index",
	  "CREATE TABLE search_doc("
	  " id INTEGER PRIMARY KEY,"
	  " blob TEXT NOT NULL UNIQUE,"
	  " sent_day INTEGER,"
	  " partial INTEGER NOT NULL DEFAULT 0,"
	  " f_from TEXT, f_to TEXT, f_cc TEXT, f_bcc TEXT, f_subject TEXT,"
	  " f_message_id TEXT, f_in_reply_to TEXT, f_references TEXT);"
	  "CREATE VIRTUAL TABLE search_text USING fts5(hdrs, body,"
	  " tokenize='trigram case_sensitive 1', detail=column);" },
	/* { 2, "quota", "..." }, */
	/* preview (RFC 8970): the preview text with the other cached strings
	 * of a blob; NULL: not made yet (store/sqlite/preview.c). */
	{ 4, "preview", "ALTER TABLE message_cache ADD COLUMN preview TEXT;" },
	/* acl (issue #12): RFC 4314 access control lists, keyed by mailbox id
	 * so RENAME keeps them; the trigger drops them with the mailbox. */
	{ 5, "acl",
	  "CREATE TABLE acl(mailbox_id INTEGER NOT NULL, ident TEXT NOT NULL,"
	  " rights TEXT NOT NULL, PRIMARY KEY(mailbox_id, ident)) WITHOUT ROWID;"
	  "CREATE TRIGGER acl_mailbox_gone AFTER DELETE ON mailboxes"
	  " BEGIN DELETE FROM acl WHERE mailbox_id=old.id; END;" },
	/* condstore: the expunge history as coalesced ranges with the time of
	 * the expunge (for pruning), and per mailbox the modseq up to which it
	 * was pruned (store/sqlite/expunged.c). Existing rows become ranges
	 * of consecutive UIDs of one modseq. */
	{ 6, "condstore_expunged_ranges",
	  "CREATE TABLE expunged_ranges("
	  " mailbox_id INTEGER NOT NULL,"
	  " modseq INTEGER NOT NULL,"
	  " uid_lo INTEGER NOT NULL,"
	  " uid_hi INTEGER NOT NULL,"
	  " expunged_at INTEGER NOT NULL,"
	  " PRIMARY KEY(mailbox_id, modseq, uid_lo)) WITHOUT ROWID;"
	  "CREATE TABLE expunged_floor(mailbox_id INTEGER PRIMARY KEY, modseq INTEGER NOT NULL);"
	  "INSERT INTO expunged_ranges(mailbox_id,modseq,uid_lo,uid_hi,expunged_at)"
	  " SELECT mailbox_id, modseq, min(uid), max(uid), CAST(strftime('%s','now') AS INTEGER)"
	  " FROM (SELECT mailbox_id, modseq, uid, uid - row_number() OVER"
	  "  (PARTITION BY mailbox_id, modseq ORDER BY uid) AS run FROM expunged)"
	  " GROUP BY mailbox_id, modseq, run;"
	  "DROP TABLE expunged;" },
	/* The keywords in use in a mailbox (FLAGS at SELECT, RFC 9051 7.3.5)
	 * from an index of the few messages that have any: ~50 ms -> ~3 ms
	 * on 100k messages. */
	{ 7, "keywords_index",
	  "CREATE INDEX messages_keywords ON messages(mailbox_id, keywords)"
	  " WHERE keywords IS NOT NULL;" },
	/* metadata (issue #12): RFC 5464 entries, keyed by mailbox id so
	 * RENAME keeps them (0: the server's); the trigger drops them with the
	 * mailbox (store/sqlite/metadata.c). */
	{ 8, "metadata",
	  "CREATE TABLE metadata(mailbox_id INTEGER NOT NULL, name TEXT NOT NULL,"
	  " value BLOB NOT NULL, PRIMARY KEY(mailbox_id, name)) WITHOUT ROWID;"
	  "CREATE TRIGGER metadata_mailbox_gone AFTER DELETE ON mailboxes"
	  " BEGIN DELETE FROM metadata WHERE mailbox_id=old.id; END;" },
	/* aclseen (issue #12): each reader's own \Seen in a shared mailbox
	 * (store/sqlite/pvtseen.c). */
	{ 9, "private_seen", sqlite_pvtseen_schema },
	/* searchidx: each message names its index entry by integer id, so a
	 * SEARCH joins on the entry's rowid instead of seeking the 64-byte
	 * blob key per message (100k messages: ~200 -> ~35 ms of CPU), and
	 * "not indexed yet" is an indexed NULL. Kept by MSG_INSERT and the
	 * triggers below, whichever of message and entry comes first. */
	{ 10, "search_doc_id",
	  "ALTER TABLE messages ADD COLUMN doc_id INTEGER;"
	  "UPDATE messages SET doc_id=(SELECT id FROM search_doc d WHERE d.blob=messages.blob);"
	  "CREATE INDEX messages_unindexed ON messages(mailbox_id, uid) WHERE doc_id IS NULL;"
	  "CREATE INDEX search_doc_partial ON search_doc(id) WHERE partial=1;"
	  "CREATE TRIGGER search_doc_link AFTER INSERT ON search_doc BEGIN"
	  " UPDATE messages SET doc_id=NEW.id WHERE blob=NEW.blob; END;"
	  "CREATE TRIGGER search_doc_unlink AFTER DELETE ON search_doc BEGIN"
	  " UPDATE messages SET doc_id=NULL WHERE blob=OLD.blob; END;" },
	/* bigsel (issue #14): SELECT and FETCH (UID FLAGS) read these columns
	 * of every message; the index holds them in ~20 bytes a message where
	 * the table row takes ~150 (the blob hash, dates), so the scan reads
	 * 7x fewer pages (100,000 messages: ~25 -> ~11 ms of CPU in sqlite3).
	 * keywords is NULL for most messages (one byte). msgflags.c. */
	{ 17, "select_covering",
	  "CREATE INDEX messages_flags ON messages(mailbox_id, uid, flags, modseq, keywords);" },
	/* search (issue #14): a header SEARCH walks the mailbox's messages
	 * joined to their index entries; this index gives the walk uid and
	 * doc_id in ~15 bytes a message instead of the ~150-byte table row
	 * (store/sqlite/search.c). */
	{ 20, "search_covering", "CREATE INDEX messages_doc ON messages(mailbox_id, uid, doc_id);" },
	/* search (issue #14): FTS5 merges a level's segments once 8 of them
	 * exist instead of 4 (its default), so each entry is rewritten about
	 * half as often: -13% of the CPU of indexing a 4 KB message, queries
	 * unchanged (BENCHMARKS.md, fifth session). The setting is stored in
	 * search_text_config and applies to every later write. */
	{ 21, "search_automerge",
	  "INSERT INTO search_text(search_text, rank) VALUES('automerge', 8);" },
	/* search_gc (issue #14): the entries of blobs no message references
	 * any more, removed by the indexer in its own batches rather than one
	 * by one inside each EXPUNGE (store/sqlite/search.c). A queued entry
	 * is unreachable: SEARCH reaches entries through messages. */
	{ 22, "search_gc", "CREATE TABLE search_gc(blob TEXT PRIMARY KEY) WITHOUT ROWID;" },
	/* inline (issue #14): the bytes of small messages, written in the
	 * APPEND's transaction instead of a file (store/sqlite/inline.c):
	 * rows added at the table's end, found by name through the index. */
	{ 23, "blob_inline",
	  "CREATE TABLE blob_inline(id INTEGER PRIMARY KEY, blob TEXT NOT NULL UNIQUE,"
	  " data BLOB NOT NULL);" },
	/* flags_doc (issue #14): messages_doc folded into messages_flags, whose
	 * entries already start with (mailbox_id, uid): one index page less
	 * written by every APPEND (14 -> 13 WAL frames of a 4 KiB message), and
	 * SEARCH walks (uid, doc_id) in ~23 bytes a message instead of ~15. */
	{ 24, "flags_doc",
	  "DROP INDEX IF EXISTS messages_doc; DROP INDEX IF EXISTS messages_flags;"
	  "CREATE INDEX messages_flags ON messages(mailbox_id, uid, flags, modseq, keywords,"
	  " doc_id);" },
	/* index_mark (issue #14): "not indexed yet" as a mark per mailbox,
	 * every message below indexed_below has its entry (doc_id), instead of
	 * the partial index messages_unindexed, which every APPEND wrote a
	 * page of and every indexed message deleted from again (13 -> 12 WAL
	 * frames of a 4 KiB message). New mail arrives at uidnext, above the
	 * mark; the first two triggers lower it for anything else that leaves
	 * a message without its entry (an import below it, a removed entry, a
	 * move). The other two move it past a message at the mark that has
	 * its entry (a COPY of indexed mail, `rampart deliver`, which indexes
	 * inline), so a mailbox no indexer runs for keeps it at uidnext; the
	 * indexer raises it past gaps too (search.c, STMT_SEARCH_MARK). */
	{ 25, "index_mark",
	  "ALTER TABLE mailboxes ADD COLUMN indexed_below INTEGER NOT NULL DEFAULT 1;"
	  "UPDATE mailboxes SET indexed_below=coalesce((SELECT min(uid) FROM messages m"
	  " WHERE m.mailbox_id=mailboxes.id AND m.doc_id IS NULL), uidnext);"
	  "DROP INDEX IF EXISTS messages_unindexed;"
	  "CREATE TRIGGER messages_unindexed_new AFTER INSERT ON messages"
	  " WHEN NEW.doc_id IS NULL BEGIN UPDATE mailboxes SET indexed_below=NEW.uid"
	  " WHERE id=NEW.mailbox_id AND indexed_below>NEW.uid; END;"
	  "CREATE TRIGGER messages_unindexed_set AFTER UPDATE OF mailbox_id, uid, doc_id"
	  " ON messages WHEN NEW.doc_id IS NULL BEGIN UPDATE mailboxes SET indexed_below=NEW.uid"
	  " WHERE id=NEW.mailbox_id AND indexed_below>NEW.uid; END;"
	  "CREATE TRIGGER messages_indexed_new AFTER INSERT ON messages"
	  " WHEN NEW.doc_id IS NOT NULL BEGIN UPDATE mailboxes SET indexed_below=NEW.uid+1"
	  " WHERE id=NEW.mailbox_id AND indexed_below=NEW.uid; END;"
	  "CREATE TRIGGER messages_indexed_set AFTER UPDATE OF mailbox_id, uid, doc_id"
	  " ON messages WHEN NEW.doc_id IS NOT NULL BEGIN UPDATE mailboxes SET"
	  " indexed_below=NEW.uid+1 WHERE id=NEW.mailbox_id AND indexed_below=NEW.uid; END;" },
	{ 0, NULL, NULL },
};

/* The version a file has once every migration above ran. */
static int db_schema_latest(void)
{
	int v = 1;
	for (const struct db_migration *m = db_migrations; m->sql; m++)
		if (m->version > v)
			v = m->version;
	return v;
}

static int db_migration_done(struct sqlite_user *u, int version, bool *done)
{
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT 1 FROM store_meta WHERE key='migration.%d'", version);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(u->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sqlite_db_error(u, "migration_done");
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sqlite_db_error(u, "migration_done");
	*done = rc == SQLITE_ROW;
	return STORE_OK;
}

static int db_migration_record(struct sqlite_user *u, int version)
{
	char sql[96];
	snprintf(sql, sizeof(sql), "INSERT INTO store_meta(key,value) VALUES('migration.%d',1)",
		 version);
	return db_exec(u, sql, "migration_record");
}

/* Creates or migrates the schema. Several processes may open a new user at
 * once: the write lock makes exactly one of them create it. */
static int db_schema_apply(struct sqlite_user *u)
{
	int version = 0;
	int r = db_user_version(u, &version);
	if (r != STORE_OK)
		return r;
	const int latest = db_schema_latest();
	if (version == latest)
		return STORE_OK;
	r = sqlite_tx_write(u);
	if (r != STORE_OK)
		return r;
	r = db_user_version(u, &version);
	if (r != STORE_OK)
		goto fail;
	if (version > latest) {
		log_err("event=store_schema_error user=%s version=%d supported=%d", u->username,
			version, latest);
		r = STORE_EIO;
		goto fail;
	}
	if (version == 0) {
		r = db_exec(u, schema_v1, "schema_v1");
		if (r == STORE_OK)
			r = sqlite_mailbox_create_defaults(u);
		if (r != STORE_OK)
			goto fail;
		version = 1;
	}
	for (const struct db_migration *m = db_migrations; m->sql; m++) {
		bool done = false;
		r = db_migration_done(u, m->version, &done);
		if (r == STORE_OK && !done) {
			r = db_exec(u, m->sql, m->what);
			if (r == STORE_OK)
				r = db_migration_record(u, m->version);
		}
		if (r != STORE_OK)
			goto fail;
	}
	version = latest;
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", version);
	r = db_exec(u, sql, "set_user_version");
	if (r != STORE_OK)
		goto fail;
	return sqlite_tx_commit(u);
fail:
	sqlite_tx_rollback(u);
	return r;
}

/* ---- handles ---- */

static void user_free(struct sqlite_user *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < STMT__COUNT; i++)
		sqlite3_finalize(u->stmts[i]);
	if (u->db && sqlite3_close(u->db) != SQLITE_OK)
		log_err("event=store_close_error user=%s msg=\"%s\"", u->username,
			sqlite3_errmsg(u->db));
	store_blobs_close(u->base.blobs);
	free(u->username);
	free(u->dir);
	free(u->notify_path);
	free(u);
}

/* Notes why opening u failed: *short_fds when err says the process is out
 * of descriptors, which a first attempt (u->opening) does not log since
 * the caller retries once. */
static void open_failed(struct sqlite_user *u, int err, const char *msg, bool *short_fds)
{
	*short_fds = fd_shortage(err);
	if (u->opening && *short_fds)
		return;
	if (msg)
		log_err("event=store_open_error user=%s msg=\"%s\"", u->username, msg);
	else
		log_err("event=store_open_error user=%s errno=%d", u->username, err);
}

/* Library settings, before SQLite's first use in the process. Its memory
 * statistics (on by default) put one global mutex around every
 * sqlite3_malloc and sqlite3_free: with 32 disk threads committing
 * APPENDs it was most of the server's futex calls (issue #14). Nothing
 * here reads them (no soft heap limit, no sqlite3_memory_used). */
static const char *g_index_vfs; /* walvfs.c, or NULL: SQLite's default */

static void sqlite_lib_init_once(void)
{
	if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
		log_warn("event=store_sqlite_config_error what=memstatus");
	g_index_vfs = sqlite_walvfs_register();
}

void sqlite_lib_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, sqlite_lib_init_once);
}

const char *sqlite_index_vfs(void)
{
	return g_index_vfs;
}

/* The busy handler of a user's connections: a writer waiting for another
 * one's write lock (in WAL mode, a BEGIN IMMEDIATE) retries every 0.25 ms
 * for the first 5 ms, every 1 ms up to 100 ms, then every 5 ms, and gives
 * up after STORE_BUSY_TIMEOUT_MS. SQLite's own (sqlite3_busy_timeout)
 * sleeps 1, 2, 5, 10, 15, 20, 25... ms, so a lock given up by a yielding
 * background writer (sqlite_tx_yield) sat unused for milliseconds, and a
 * writer that kept waking late lost it again and again (APPEND max
 * latency 186-240 ms behind the search indexer, issue #14). */
static int store_busy_wait(void *arg, int count)
{
	(void)arg;
	long us;
	uint64_t waited_us;
	if (count < 20) {
		us = 250;
		waited_us = (uint64_t)count * 250;
	} else if (count < 115) {
		us = 1000;
		waited_us = 5000 + (uint64_t)(count - 20) * 1000;
	} else {
		us = 5000;
		waited_us = 100000 + (uint64_t)(count - 115) * 5000;
	}
	if (waited_us >= (uint64_t)STORE_BUSY_TIMEOUT_MS * 1000)
		return 0;
	nanosleep(&(struct timespec){ .tv_nsec = us * 1000 }, NULL);
	return 1;
}

/* Opens a new handle. On failure *short_fds tells whether the process was
 * out of descriptors; with quiet, that case is not logged (the caller
 * retries once). */
static struct sqlite_user *user_open_new(const char *username, const char *dir_in, bool quiet,
					 bool *short_fds)
{
	struct sqlite_user *u = xcalloc(1, sizeof(*u));
	u->base.be = &store_sqlite_backend;
	char *dir = xstrdup(dir_in);
	*short_fds = false;
	u->opening = quiet;
	u->username = xstrdup(username);
	u->dir = dir;
	u->notify_path = xasprintf("%s/notify", dir);
	char *index = xasprintf("%s/index.sqlite", dir);
	if (store_mkdirs(dir) < 0 || !(u->base.blobs = store_blobs_open(dir, username))) {
		open_failed(u, errno, NULL, short_fds);
		goto fail;
	}
	sqlite_lib_init();
	/* NOMUTEX: a handle is only ever used by one thread at a time. */
	if (sqlite3_open_v2(index, &u->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    g_index_vfs) !=
	    SQLITE_OK) {
		open_failed(u, u->db ? sqlite3_system_errno(u->db) : ENOMEM,
			    u->db ? sqlite3_errmsg(u->db) : "out of memory", short_fds);
		goto fail;
	}
	sqlite3_extended_result_codes(u->db, 1);
	sqlite3_busy_handler(u->db, store_busy_wait, NULL);
	/* Handles come and go (a per-thread cache, many users): the last
	 * close must not checkpoint, truncate and unlink the WAL and -shm
	 * only for the next open to create them again. Checkpoints happen
	 * as the WAL grows, on the checkpointer's thread when it runs
	 * (ckpt.c), else inside the commit (wal_autocheckpoint); every
	 * commit is already durable in the WAL (synchronous=FULL), or will
	 * be by the syncer (sync.c), which finds the WAL by its name. */
	int persist = 1;
	sqlite3_file_control(u->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
	sqlite3_db_config(u->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
	if (db_exec(u, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		    "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-1024;", "pragmas") != STORE_OK ||
	    db_schema_apply(u) != STORE_OK) {
		*short_fds = fd_shortage(sqlite3_system_errno(u->db));
		goto fail;
	}
	sqlite_ckpt_attach(u);
	/* Created only when missing: the watchers listen for IN_ATTRIB, but
	 * there is no reason to touch the file on every open. */
	if (access(u->notify_path, F_OK) < 0 && errno == ENOENT) {
		int fd = open(u->notify_path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0)
			close(fd);
	}
	struct stat st;
	if (stat(index, &st) < 0)
		goto fail;
	u->dev = st.st_dev;
	u->ino = st.st_ino;
	u->opening = false;
	free(index);
	return u;
fail:
	free(index);
	user_free(u);
	return NULL;
}

/* True while the files behind a cached handle are still the user's store
 * (store_user_remove() from another thread would leave it stale). */
static bool user_still_valid(struct sqlite_user *u)
{
	/* Runs at every reuse of a pooled handle (most commands): the path on
	 * the stack, not the heap. */
	static const char name[] = "/index.sqlite";
	char buf[512];
	size_t dlen = strlen(u->dir);
	char *index = dlen + sizeof(name) <= sizeof(buf) ? buf : xmalloc(dlen + sizeof(name));
	memcpy(index, u->dir, dlen);
	memcpy(index + dlen, name, sizeof(name));
	struct stat st;
	bool ok = stat(index, &st) == 0 && st.st_dev == u->dev && st.st_ino == u->ino;
	if (index != buf)
		free(index);
	return ok;
}

/* The process-wide pool of open handles. A handle in use belongs to one
 * thread (SQLite connections are NOMUTEX); an unused one waits on the LRU
 * list for whichever thread next needs that user. The pool is bounded as
 * a whole, so the descriptors it holds (index, WAL, shm, blobs/) do not grow with
 * the number of threads, and store_cache_drop() gives them back when the
 * server runs short of descriptors. */
#define POOL_BUCKETS 1024

static struct {
	pthread_mutex_t lock;
	struct sqlite_user *by_name[POOL_BUCKETS]; /* every handle, chained by hnext */
	struct dlist lru;  /* unused handles, most recent first; n: how many */
	unsigned total;
	/* sess: the unused handles that kept their page cache, same order */
	struct dlist warm;
	uint64_t released;        /* handles released so far (released_seq) */
	pid_t pid;
} g_pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct sqlite_user **pool_bucket(const char *username)
{
	return &g_pool.by_name[hash_bytes(username, strlen(username)) % POOL_BUCKETS];
}

/* A forked child inherited the parent's connections: SQLite forbids using
 * them across fork (and closing them could disturb the parent's locks), so
 * they are abandoned. */
static void pool_check_fork_locked(void)
{
	pid_t me = (pid_t)proc_pid();
	if (g_pool.pid == me)
		return;
	memset(g_pool.by_name, 0, sizeof(g_pool.by_name));
	memset(&g_pool.lru, 0, sizeof(g_pool.lru));
	memset(&g_pool.warm, 0, sizeof(g_pool.warm));
	g_pool.total = 0;
	g_pool.pid = me;
}

static void warm_unlink_locked(struct sqlite_user *u)
{
	if (!u->warm)
		return;
	dlist_unlink(&g_pool.warm, &u->warm_node);
	u->warm = false;
}

/* u, just closed, keeps its page cache (warm handles are unused ones, so
 * no more than the pool keeps; sqlite_cache_trim gives back those beyond
 * STORE_WARM_KEEP). Under the pool lock: an unused handle belongs to no
 * thread until it is taken. */
static void warm_push_locked(struct sqlite_user *u)
{
	u->warm = true;
	dlist_push_head(&g_pool.warm, &u->warm_node);
}

static void lru_unlink_locked(struct sqlite_user *u)
{
	warm_unlink_locked(u);
	dlist_unlink(&g_pool.lru, &u->lru);
}

static void lru_push_locked(struct sqlite_user *u)
{
	u->unused_since_ms = now_ms();
	u->released_seq = ++g_pool.released;
	dlist_push_head(&g_pool.lru, &u->lru);
}

/* The handle unused the longest, or NULL. */
static struct sqlite_user *pool_oldest_unused_locked(void)
{
	return g_pool.lru.tail ? DLIST_ENTRY(g_pool.lru.tail, struct sqlite_user, lru) : NULL;
}

static void pool_remove_locked(struct sqlite_user *u)
{
	struct sqlite_user **pp = pool_bucket(u->username);
	while (*pp && *pp != u)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = u->hnext;
	u->hnext = NULL;
	g_pool.total--;
}

/* Takes unused handles off the pool until at most keep remain in it;
 * returns them chained by next, to be freed without the lock. */
static struct sqlite_user *pool_evict_locked(unsigned keep)
{
	struct sqlite_user *victims = NULL;
	while (g_pool.total > keep && g_pool.lru.tail) {
		struct sqlite_user *u = pool_oldest_unused_locked();
		lru_unlink_locked(u);
		pool_remove_locked(u);
		u->next = victims;
		victims = u;
	}
	return victims;
}

static void free_chain(struct sqlite_user *u)
{
	while (u) {
		struct sqlite_user *next = u->next;
		user_free(u);
		u = next;
	}
}

struct store_user *sqlite_user_open(const char *username)
{
	/* A name found in the pool was checked when its handle was made: only
	 * a miss builds (and so checks) the directory. */
	char *dir;
	pthread_t self = pthread_self();
	for (;;) {
		pthread_mutex_lock(&g_pool.lock);
		pool_check_fork_locked();
		struct sqlite_user *idle = NULL, *u;
		for (u = *pool_bucket(username); u; u = u->hnext) {
			if (strcmp(u->username, username) != 0)
				continue;
			if (u->refs > 0 && pthread_equal(u->owner, self))
				break;  /* nested open on this thread: the same handle */
			/* Of a user's unused handles, the one released last:
			 * its page cache is the one most likely still valid
			 * (SQLite drops a handle's cache when another handle
			 * wrote). Issue #14, fifth session: the imaptest-like
			 * mix at 200 clients took whichever was made last, and
			 * ran 8% slower for it. */
			if (u->refs == 0 && (!idle || u->released_seq > idle->released_seq))
				idle = u;
		}
		if (u) {
			u->refs++;
			pthread_mutex_unlock(&g_pool.lock);
			return &u->base;
		}
		if (!idle) {
			pthread_mutex_unlock(&g_pool.lock);
			dir = store_user_dir(username);
			if (!dir)
				return NULL;
			break;
		}
		lru_unlink_locked(idle);
		idle->refs = 1;
		idle->owner = self;
		pthread_mutex_unlock(&g_pool.lock);
		if (user_still_valid(idle))
			return &idle->base;
		pthread_mutex_lock(&g_pool.lock);
		pool_remove_locked(idle);
		pthread_mutex_unlock(&g_pool.lock);
		user_free(idle);
	}
	bool short_fds;
	struct sqlite_user *u = user_open_new(username, dir, true, &short_fds);
	if (!u && short_fds) {
		/* Out of descriptors: the unused handles give theirs back. */
		store_fds_relieve(EMFILE);
		u = user_open_new(username, dir, false, &short_fds);
	}
	free(dir);
	if (!u)
		return NULL;
	u->refs = 1;
	u->owner = self;
	pthread_mutex_lock(&g_pool.lock);
	pool_check_fork_locked();
	struct sqlite_user **b = pool_bucket(username);
	u->hnext = *b;
	*b = u;
	g_pool.total++;
	struct sqlite_user *victims = pool_evict_locked(STORE_CACHE_MAX);
	pthread_mutex_unlock(&g_pool.lock);
	free_chain(victims);
	return &u->base;
}

struct store_user *sqlite_user_open_existing(const char *username, const char *dir)
{
	char *index = xasprintf("%s/index.sqlite", dir);
	bool exists = access(index, F_OK) == 0;
	free(index);
	return exists ? sqlite_user_open(username) : NULL;
}

void sqlite_user_close(struct store_user *base)
{
	struct sqlite_user *u = sqlite_user_of(base);
	if (u->refs == 0) {
		log_err("event=store_close_error user=%s reason=not_open", u->username);
		return;
	}
	/* A forgotten transaction would hold the write lock for everyone. */
	sqlite_tx_rollback(u);
	/* ... and a forgotten read hold a snapshot for the next user. */
	u->read_hold = 0;
	u->read_hold_began = false;
	pthread_mutex_lock(&g_pool.lock);
	bool nested = u->refs > 1;
	if (nested)
		u->refs--;
	pthread_mutex_unlock(&g_pool.lock);
	if (nested)
		return;
	/* An unused handle keeps its schema, prepared statements and page
	 * cache (warm_push_locked). */
	pthread_mutex_lock(&g_pool.lock);
	u->refs = 0;
	struct sqlite_user *victims = NULL;
	if (g_pool.pid == (pid_t)proc_pid()) {
		lru_push_locked(u);
		warm_push_locked(u);
		victims = pool_evict_locked(STORE_CACHE_MAX);
	} else {
		victims = u;  /* opened before a fork: not ours to keep */
		u->next = NULL;
	}
	pthread_mutex_unlock(&g_pool.lock);
	free_chain(victims);
}

unsigned sqlite_cache_drop(void)
{
	pthread_mutex_lock(&g_pool.lock);
	pool_check_fork_locked();
	unsigned unused = g_pool.lru.n;
	struct sqlite_user *victims = pool_evict_locked(0);
	pthread_mutex_unlock(&g_pool.lock);
	free_chain(victims);
	return unused;
}

/* idle (issue #14): an unused handle costs ~80 KiB of heap (schema,
 * prepared statements, lookaside) and a 32 KiB -shm mapping, ~110 KiB of
 * RSS measured (bench/idle_mem.py, 256 handles dropped: -28 MB). A server
 * whose clients all sit in IDLE uses none of them, yet a full pool is
 * 1.5 KiB per connection at 19,000. Handles nobody took for idle_ms are
 * closed; a busy server reuses its handles within milliseconds, so only
 * a command after idle_ms without any pays the ~1 ms open again; warm
 * caches beyond STORE_WARM_KEEP go after STORE_WARM_EXCESS_MS. The LRU
 * and warm lists are most recent first, so each scan stops at the first
 * young one. */
unsigned sqlite_cache_trim(unsigned idle_ms)
{
	uint64_t now = now_ms();
	struct sqlite_user *victims = NULL;
	unsigned n = 0;
	pthread_mutex_lock(&g_pool.lock);
	pool_check_fork_locked();
	struct sqlite_user *u;
	while ((u = pool_oldest_unused_locked()) && now - u->unused_since_ms >= idle_ms) {
		lru_unlink_locked(u);
		pool_remove_locked(u);
		u->next = victims;
		victims = u;
		n++;
	}
	while (g_pool.warm.n > STORE_WARM_KEEP) {
		u = DLIST_ENTRY(g_pool.warm.tail, struct sqlite_user, warm_node);
		if (now - u->unused_since_ms < STORE_WARM_EXCESS_MS)
			break;
		warm_unlink_locked(u);
		sqlite3_db_release_memory(u->db);
	}
	pthread_mutex_unlock(&g_pool.lock);
	free_chain(victims);
	return n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	int r = (flag == FTW_DP) ? rmdir(path) : unlink(path);
	if (r < 0 && errno != ENOENT)
		log_warn("event=store_remove_error errno=%d", errno);
	return 0;
}

int sqlite_user_remove(const char *username)
{
	char *dir = store_user_dir(username);
	if (!dir)
		return STORE_EINVAL;
	/* Unused handles of this user are closed; one in use refuses. */
	struct sqlite_user *victims = NULL;
	pthread_mutex_lock(&g_pool.lock);
	pool_check_fork_locked();
	bool busy = false;
	for (struct sqlite_user *u = *pool_bucket(username); u; u = u->hnext)
		busy |= strcmp(u->username, username) == 0 && u->refs > 0;
	if (!busy) {
		struct sqlite_user **pp = pool_bucket(username);
		while (*pp) {
			struct sqlite_user *u = *pp;
			if (strcmp(u->username, username) != 0) {
				pp = &u->hnext;
				continue;
			}
			lru_unlink_locked(u);
			*pp = u->hnext;
			u->hnext = NULL;
			g_pool.total--;
			u->next = victims;
			victims = u;
		}
	}
	pthread_mutex_unlock(&g_pool.lock);
	free_chain(victims);
	if (busy) {
		free(dir);
		return STORE_EINUSE;
	}
	struct stat st;
	if (lstat(dir, &st) < 0) {
		free(dir);
		return STORE_ENOENT;
	}
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	int r = (lstat(dir, &st) == 0) ? STORE_EIO : STORE_OK;
	char *parent = xstrdup(dir);
	char *slash = strrchr(parent, '/');
	if (slash) {
		*slash = '\0';
		store_fsync_dir(parent);
	}
	free(parent);
	free(dir);
	return r;
}
