/* Internals shared by the SQLite backend's source files (store/sqlite/).
 * Nothing else includes this: the front and the blob files see only
 * store/backend.h and store/blob.h. */
#ifndef RAMPART_STORE_SQLITE_INTERNAL_H
#define RAMPART_STORE_SQLITE_INTERNAL_H

#include "store/backend.h"
#include "core/dlist.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define STORE_BUSY_TIMEOUT_MS 10000

/* Every SQL statement the store runs more than once, prepared lazily and
 * cached per handle. X(id, sql). */
#define STORE_STMTS(X)                                                                            \
	X(BEGIN_WRITE, "BEGIN IMMEDIATE")                                                         \
	X(BEGIN_READ, "BEGIN")                                                                    \
	X(COMMIT, "COMMIT")                                                                       \
	X(ROLLBACK, "ROLLBACK")                                                                   \
	X(META_GET, "SELECT value FROM store_meta WHERE key=?1")                                  \
	X(META_SET, "INSERT INTO store_meta(key,value) VALUES(?1,?2) "                            \
		    "ON CONFLICT(key) DO UPDATE SET value=excluded.value")                        \
	X(MB_BY_NAME, "SELECT id,uidvalidity,uidnext,highestmodseq,first_recent_uid "             \
		      "FROM mailboxes WHERE name=?1")                                             \
	X(MB_BY_ID, "SELECT id,uidvalidity,uidnext,highestmodseq,first_recent_uid "               \
		    "FROM mailboxes WHERE id=?1")                                                 \
	X(MB_SET_NEXT, "UPDATE mailboxes SET uidnext=?2,highestmodseq=?3 WHERE id=?1")            \
	X(MB_SET_MODSEQ, "UPDATE mailboxes SET highestmodseq=?2 WHERE id=?1")                     \
	X(MB_SET_RECENT, "UPDATE mailboxes SET first_recent_uid=?2 WHERE id=?1")                  \
	X(MB_INSERT, "INSERT INTO mailboxes(name,uidvalidity,uidnext,highestmodseq,special_use,"  \
		     "first_recent_uid) VALUES(?1,?2,?3,?4,?5,?6)")                               \
	X(MB_COUNT, "SELECT count(*) FROM mailboxes")                                             \
	X(MB_DELETE, "DELETE FROM mailboxes WHERE id=?1")                                         \
	X(MB_RENAME, "UPDATE mailboxes SET name=?2 WHERE id=?1")                                  \
	X(MB_CHILDREN, "SELECT id,name FROM mailboxes WHERE name>=?1 AND name<?2 ORDER BY name")  \
	X(MB_LIST, "SELECT m.id,m.name,m.uidvalidity,m.uidnext,m.highestmodseq,m.special_use,"    \
		   "m.first_recent_uid,"                                                          \
		   "EXISTS(SELECT 1 FROM subscriptions s WHERE s.name=m.name) "                   \
		   "FROM mailboxes m ORDER BY m.name")                                            \
	X(MB_LIST_COUNTS, "SELECT m.id,m.name,m.uidvalidity,m.uidnext,m.highestmodseq,"           \
			  "m.special_use,m.first_recent_uid,"                                     \
			  "EXISTS(SELECT 1 FROM subscriptions s WHERE s.name=m.name),"            \
			  STORE_COUNT_COLUMNS " FROM mailboxes m "                                \
			  "LEFT JOIN messages x ON x.mailbox_id=m.id "                            \
			  "GROUP BY m.id ORDER BY m.name")                                        \
	X(MB_GET, "SELECT m.id,m.name,m.uidvalidity,m.uidnext,m.highestmodseq,m.special_use,"     \
		  "m.first_recent_uid,"                                                           \
		  "EXISTS(SELECT 1 FROM subscriptions s WHERE s.name=m.name) "                    \
		  "FROM mailboxes m WHERE m.name=?1")                                             \
	X(MB_STATUS, "SELECT m.id,m.name,m.uidvalidity,m.uidnext,m.highestmodseq,"                \
		     "m.special_use,m.first_recent_uid,"                                          \
		     "EXISTS(SELECT 1 FROM subscriptions s WHERE s.name=m.name),"                 \
		     STORE_COUNT_COLUMNS " FROM mailboxes m "                                     \
		     "LEFT JOIN messages x ON x.mailbox_id=m.id "                                 \
		     "WHERE m.name=?1 GROUP BY m.id")                                             \
	X(SUB_LIST, "SELECT name FROM subscriptions ORDER BY name")                               \
	X(SUB_ADD, "INSERT OR IGNORE INTO subscriptions(name) VALUES(?1)")                        \
	X(SUB_DEL, "DELETE FROM subscriptions WHERE name=?1")                                     \
	X(MSG_LIST_META, "SELECT uid,flags,modseq,size FROM messages "                            \
			 "WHERE mailbox_id=?1 AND uid>=?2 ORDER BY uid")                          \
	X(MSG_LIST_FULL, "SELECT " STORE_MSG_COLUMNS " FROM messages "                            \
			 "WHERE mailbox_id=?1 AND uid>=?2 ORDER BY uid")                          \
	X(MSG_GET, "SELECT " STORE_MSG_COLUMNS " FROM messages WHERE mailbox_id=?1 AND uid=?2")   \
	/* snap: the modseq index, or SQLite walks the whole mailbox in uid order */               \
	X(MSG_CHANGED, "SELECT " STORE_MSG_COLUMNS " FROM messages INDEXED BY messages_modseq "  \
		       "WHERE mailbox_id=?1 AND modseq>?2 ORDER BY uid")                          \
	X(EXP_CHANGED, "SELECT uid_lo,uid_hi FROM expunged_ranges WHERE mailbox_id=?1 "           \
		       "AND modseq>?2 ORDER BY uid_lo")                                           \
	X(MSG_CACHED, "SELECT c.envelope,c.bodystructure,c.body FROM messages m "                 \
		      "LEFT JOIN message_cache c ON c.blob=m.blob "                               \
		      "WHERE m.mailbox_id=?1 AND m.uid=?2")                                       \
	X(MSG_INSERT, "INSERT INTO messages(mailbox_id,uid,modseq,flags,keywords,internaldate,"   \
		      "internaldate_tz,savedate,size,blob,doc_id) VALUES(?1,?2,?3,?4,?5,?6,?7,?8," \
		      "?9,?10,(SELECT id FROM search_doc WHERE blob=?10))")                     \
	X(MSG_SET_FLAGS, "UPDATE messages SET flags=?3,keywords=?4,modseq=?5 "                    \
			 "WHERE mailbox_id=?1 AND uid=?2")                                        \
	X(MSG_DELETE, "DELETE FROM messages WHERE mailbox_id=?1 AND uid=?2 RETURNING blob")       \
	X(MSG_BLOBS_OF_MB, "SELECT DISTINCT blob FROM messages WHERE mailbox_id=?1")              \
	X(MSG_DELETE_MB, "DELETE FROM messages WHERE mailbox_id=?1")                              \
	X(MSG_MOVE_ALL, "UPDATE messages SET mailbox_id=?2 WHERE mailbox_id=?1")                  \
	X(EXP_INSERT_ALL, "INSERT OR REPLACE INTO expunged_ranges(mailbox_id,modseq,uid_lo,uid_hi," \
			  "expunged_at) SELECT ?1,?2,min(uid),max(uid),"                          \
			  "CAST(strftime('%s','now') AS INTEGER) FROM messages "                  \
			  "WHERE mailbox_id=?1 HAVING count(*)>0")                                \
	X(EXP_DELETE_MB, "DELETE FROM expunged_ranges WHERE mailbox_id=?1")                       \
	X(BLOB_REFERENCED, "SELECT 1 FROM messages WHERE blob=?1 LIMIT 1")                        \
	/* ?5, the preview, as PREVIEW_PUT: a made one is kept (NULL: none) */ \
	X(CACHE_UPSERT, "INSERT INTO message_cache(blob,envelope,bodystructure,body,preview) "    \
			"VALUES(?1,?2,?3,?4,?5) ON CONFLICT(blob) DO UPDATE SET "                 \
			"envelope=coalesce(excluded.envelope,envelope),"                          \
			"bodystructure=coalesce(excluded.bodystructure,bodystructure),"           \
			"body=coalesce(excluded.body,body),"                                      \
			"preview=coalesce(preview,excluded.preview)")                             \
	X(CACHE_DELETE, "DELETE FROM message_cache WHERE blob=?1")                                \
	/* correct: the keyword lists in use in a mailbox (FLAGS, RFC 9051 7.3.5) */               \
	X(MSG_KEYWORDS, "SELECT DISTINCT keywords FROM messages "                                 \
			"WHERE mailbox_id=?1 AND keywords IS NOT NULL")                                                  \
	/* condstore: the expunge history as ranges (expunged.c, migration 6) */                 \
	X(EXPR_INSERT, "INSERT OR REPLACE INTO expunged_ranges(mailbox_id,modseq,uid_lo,uid_hi,"  \
		       "expunged_at) VALUES(?1,?2,?3,?4,?5)")                                     \
	X(EXPR_LIVE_BETWEEN, "SELECT 1 FROM messages WHERE mailbox_id=?1 AND uid>?2 AND uid<?3 "  \
			     "LIMIT 1")                                                           \
	X(EXPR_OLDEST, "SELECT modseq,expunged_at FROM expunged_ranges WHERE mailbox_id=?1 "      \
		       "ORDER BY modseq LIMIT ?2")                                                \
	X(EXPR_PRUNE, "DELETE FROM expunged_ranges WHERE mailbox_id=?1 AND modseq<=?2")           \
	X(EXPR_FLOOR_GET, "SELECT modseq FROM expunged_floor WHERE mailbox_id=?1")                \
	X(EXPR_FLOOR_SET, "INSERT INTO expunged_floor(mailbox_id,modseq) VALUES(?1,?2) "          \
			  "ON CONFLICT(mailbox_id) DO UPDATE SET modseq=max(modseq,excluded.modseq)") \
	X(EXPR_FLOOR_DELETE_MB, "DELETE FROM expunged_floor WHERE mailbox_id=?1")                        \
	/* quota part (quota.c) */                                                                \
	X(QUOTA_GET, "SELECT storage,messages,mailboxes,limit_storage,limit_messages,"            \
		     "limit_mailboxes FROM quota WHERE id=1")                                     \
	X(QUOTA_SET_LIMITS, "UPDATE quota SET limit_storage=?1,limit_messages=?2,"                \
			    "limit_mailboxes=?3 WHERE id=1")                                      \
	X(QUOTA_SET_USAGE, "UPDATE quota SET storage=?1,messages=?2,mailboxes=?3 WHERE id=1")     \
	X(QUOTA_COUNT, "SELECT (SELECT coalesce(sum(size),0) FROM messages),"                     \
		       "(SELECT count(*) FROM messages),(SELECT count(*) FROM mailboxes)")                      \
	/* searchidx: the search index (search.c) */                                              \
	X(SEARCH_DOC_INSERT, "INSERT INTO search_doc(blob,sent_day,partial,f_from,f_to,f_cc,"     \
			     "f_bcc,f_subject,f_message_id,f_in_reply_to,f_references) "          \
			     "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11) "                        \
			     "ON CONFLICT(blob) DO NOTHING RETURNING id")                         \
	X(SEARCH_TEXT_INSERT, "INSERT INTO search_text(rowid,hdrs,body) VALUES(?1,?2,?3)")        \
	X(SEARCH_DOC_DELETE, "DELETE FROM search_doc WHERE blob=?1 RETURNING id")                 \
	X(SEARCH_TEXT_DELETE, "DELETE FROM search_text WHERE rowid=?1")                           \
	/* search_gc (issue #14): entries of released blobs, forgotten later */                   \
	X(SEARCH_GC_ADD, "INSERT OR IGNORE INTO search_gc(blob) SELECT ?1 "                       \
			 "WHERE EXISTS(SELECT 1 FROM search_doc WHERE blob=?1)")                  \
	X(SEARCH_GC_ANY, "SELECT 1 FROM search_gc LIMIT 1")                                       \
	X(SEARCH_GC_LIST, "SELECT blob FROM search_gc LIMIT ?1")                                  \
	X(SEARCH_GC_DONE, "DELETE FROM search_gc WHERE blob=?1")                                  \
	/* index_mark: each mailbox from its mark (the cursor's from past the \
	 * cursor if that is higher); ordered as the loops go, no sort. */    \
	X(SEARCH_PENDING, "SELECT m.mailbox_id,m.uid,m.blob FROM mailboxes b CROSS JOIN "         \
			  "messages m ON m.mailbox_id=b.id AND m.uid>=max(b.indexed_below,"       \
			  "CASE WHEN b.id=?1 THEN ?2+1 ELSE 0 END) WHERE b.id>=?1 AND "          \
			  "b.indexed_below<b.uidnext AND m.doc_id IS NULL "                      \
			  "ORDER BY b.id,m.uid LIMIT ?3")                                         \
	/* Raises each mark to the mailbox's first message without an entry  \
	 * (uidnext: none); a mailbox whose mark stays is not written. */     \
	X(SEARCH_MARK, "UPDATE mailboxes SET indexed_below=n.below FROM (SELECT b.id AS id,"     \
		       "coalesce((SELECT m.uid FROM messages m INDEXED BY messages_flags "        \
		       "WHERE m.mailbox_id=b.id AND m.uid>=b.indexed_below AND m.doc_id IS NULL " \
		       "ORDER BY m.uid LIMIT 1),b.uidnext) AS below FROM mailboxes b "            \
		       "WHERE b.indexed_below<b.uidnext) n "                                      \
		       "WHERE mailboxes.id=n.id AND mailboxes.indexed_below<>n.below")            \
	/* search: the unindexed from the mark up, the partial from their     \
	 * partial index, so neither walks the mailbox (the planner took the  \
	 * primary key for the second and walked it: ~60 M instructions a    \
	 * SEARCH on 100k). */                                                \
	X(SEARCH_UNINDEXED, "SELECT uid FROM messages INDEXED BY messages_flags "                 \
			    "WHERE mailbox_id=?1 AND uid>=max(?2,(SELECT indexed_below FROM "      \
			    "mailboxes WHERE id=?1)) AND doc_id IS NULL ORDER BY uid")            \
	X(SEARCH_PARTIAL, "SELECT m.uid FROM search_doc d INDEXED BY search_doc_partial "         \
			  "CROSS JOIN messages m ON m.blob=d.blob WHERE d.partial=1 "             \
			  "AND m.mailbox_id=?1 AND m.uid>=?2 ORDER BY m.uid")                     \
	/* acl (issue #12, store/sqlite/acl.c) */                                                 \
	X(ACL_OF_MB, "SELECT m.name,a.ident,a.rights FROM acl a JOIN mailboxes m "                \
		     "ON m.id=a.mailbox_id WHERE a.mailbox_id=?1 ORDER BY a.ident")               \
	X(ACL_ALL, "SELECT m.name,a.ident,a.rights FROM acl a JOIN mailboxes m "                  \
		   "ON m.id=a.mailbox_id ORDER BY m.name,a.ident")                                \
	X(ACL_SET, "INSERT INTO acl(mailbox_id,ident,rights) VALUES(?1,?2,?3) "                   \
		   "ON CONFLICT(mailbox_id,ident) DO UPDATE SET rights=excluded.rights")          \
	X(ACL_DEL, "DELETE FROM acl WHERE mailbox_id=?1 AND ident=?2")                            \
	/* metadata (issue #12, store/sqlite/metadata.c); ?2||'0' ends the    \
	 * range of names under ?2||'/' ('0' follows '/') */                  \
	X(MD_GET, "SELECT name,value FROM metadata WHERE mailbox_id=?1 AND name=?2")            \
	X(MD_TREE, "SELECT name,value FROM metadata WHERE mailbox_id=?1 AND "                   \
		     "(name=?2 OR (name>?2||'/' AND name<?2||'0')) ORDER BY name")                \
	X(MD_PUT, "INSERT INTO metadata(mailbox_id,name,value) VALUES(?1,?2,?3) "                \
		    "ON CONFLICT(mailbox_id,name) DO UPDATE SET value=excluded.value")            \
	X(MD_DEL, "DELETE FROM metadata WHERE mailbox_id=?1 AND name=?2")                       \
	X(MD_COUNT, "SELECT count(*) FROM metadata WHERE mailbox_id=?1")                        \
	X(MD_BYTES, "SELECT coalesce(sum(length(CAST(name AS BLOB))+length(value)),0) "        \
		      "FROM metadata")                                                    \
	/* preview (RFC 8970, preview.c, migration 4): message_cache.preview */                    \
	X(PREVIEW_GET, "SELECT c.preview FROM messages m LEFT JOIN message_cache c "               \
		       "ON c.blob=m.blob WHERE m.mailbox_id=?1 AND m.uid=?2")                      \
	X(PREVIEW_PUT, "INSERT INTO message_cache(blob,preview) VALUES(?1,?2) "                    \
		       "ON CONFLICT(blob) DO UPDATE SET preview=coalesce(preview,excluded.preview)") \
	X(PREVIEW_PENDING, "SELECT m.mailbox_id,m.uid,m.blob FROM messages m "                     \
			   "LEFT JOIN message_cache c ON c.blob=m.blob "                           \
			   "WHERE (m.mailbox_id,m.uid)>(?1,?2) AND c.preview IS NULL "              \
			   "ORDER BY m.mailbox_id,m.uid LIMIT ?3")                                \
	/* aclseen (issue #12): private \Seen of readers (pvtseen.c, migration 9) */              \
	X(PVT_GET, "SELECT seen,modseq FROM pvt_seen WHERE mailbox_id=?1 AND reader=?2 AND uid=?3") \
	X(PVT_PUT, "INSERT INTO pvt_seen(mailbox_id,reader,uid,seen,modseq) VALUES(?1,?2,?3,?4,?5) " \
		   "ON CONFLICT(mailbox_id,reader,uid) DO UPDATE SET seen=excluded.seen,"         \
		   "modseq=excluded.modseq")                                                      \
	X(PVT_ROWS, "SELECT uid,seen,modseq FROM pvt_seen WHERE mailbox_id=?1 AND reader=?2 "     \
		    "ORDER BY uid")                                                               \
	X(PVT_COUNT, "SELECT count(*) FROM pvt_seen WHERE mailbox_id=?1 AND reader=?2 AND seen=1") \
	/* migrate (issue #13): the import path (import.c) */                                     \
	X(IMP_MB_SET_UIDVALIDITY, "UPDATE mailboxes SET uidvalidity=?2 WHERE id=?1")              \
	X(IMP_MB_WITH_UIDVALIDITY, "SELECT count(*) FROM mailboxes WHERE uidvalidity=?1")         \
	X(IMP_MB_MIN_UIDVALIDITY, "SELECT min(uidvalidity) FROM mailboxes")                       \
	X(IMP_MB_EVER_DELETED, "SELECT coalesce((SELECT seq FROM sqlite_sequence "                \
			       "WHERE name='mailboxes'),0) > (SELECT count(*) FROM mailboxes)")   \
	X(IMP_MB_SET_UIDNEXT, "UPDATE mailboxes SET uidnext=?2 WHERE id=?1 AND uidnext<?2")    \
	X(IMP_MB_RENUMBER_EMPTY, "UPDATE mailboxes SET uidvalidity=?2 WHERE uidvalidity=?1 "      \
				 "AND uidnext=1")                                                 \
	/* bigsel (issue #14): SELECT and FETCH (UID FLAGS) of a range (msgflags.c) */            \
	X(MSG_FLAGS, "SELECT uid,flags,modseq FROM messages "                                     \
		     "WHERE mailbox_id=?1 AND uid>=?2 AND uid<=?3 ORDER BY uid")                   \
	X(MSG_FLAGS_KW, "SELECT uid,flags,modseq,keywords FROM messages "                         \
			"WHERE mailbox_id=?1 AND uid>=?2 AND uid<=?3 ORDER BY uid")               \
	/* durable (issue #14): the commit kind of a transaction (db.c, sync.c) */                \
	X(SYNC_NORMAL, "PRAGMA synchronous=NORMAL")                                               \
	X(SYNC_FULL, "PRAGMA synchronous=FULL")                                                   \
	/* snapd (issue #14): a snapshot's delta, the rows changed since (snapread.c) */          \
	X(SNAP_CHANGED, "SELECT uid,flags,modseq,keywords FROM messages "                         \
			"INDEXED BY messages_modseq WHERE mailbox_id=?1 AND modseq>?2 "           \
			"ORDER BY uid")                                                             \
	/* inline (issue #14): small messages' bytes in the index (inline.c, migration 23) */     \
	X(INLINE_PUT, "INSERT INTO blob_inline(blob,data) VALUES(?1,?2) "                         \
		      "ON CONFLICT(blob) DO NOTHING")                                             \
	X(INLINE_GET, "SELECT data FROM blob_inline WHERE blob=?1")                               \
	X(INLINE_DELETE, "DELETE FROM blob_inline WHERE blob=?1")

/* Column list read by store_row_to_msg(). */
#define STORE_MSG_COLUMNS                                                                         \
	"uid,flags,modseq,keywords,internaldate,internaldate_tz,savedate,size,blob"
/* Columns 8.. of the counting mailbox queries, read by store_row_to_mailbox(). */
#define STORE_COUNT_COLUMNS                                                                       \
	"count(x.uid),coalesce(sum((x.flags&1)=0),0),coalesce(sum((x.flags&8)!=0),0),"           \
	"coalesce(sum(x.uid>=m.first_recent_uid),0),coalesce(sum(x.size),0),"                    \
	"coalesce(sum(CASE WHEN x.flags&8 THEN x.size ELSE 0 END),0)"

#define STORE_STMT_ENUM(id, sql) STMT_##id,
enum store_stmt { STORE_STMTS(STORE_STMT_ENUM) STMT__COUNT };
#undef STORE_STMT_ENUM

/* How much of a user's index a handle memory-maps when it maps it (a
 * SEARCH, search.c; large message rows, inline.c): one size, so either
 * leaves the other's map as it is. */
#define SQLITE_INDEX_MMAP_SQL "PRAGMA mmap_size=268435456;"

/* The size of SQLite's wal-index header (WalIndexHdr), walvfs.c. */
#define SQLITE_WAL_HEADER_BYTES 48
#define SQLITE_QUIET_MAILBOXES 4

/* An open user store. Owned by the process-wide pool in db.c; refs counts
 * the store_user_open() calls not yet closed. base is what the front sees
 * (base.blobs is this user's struct store_blobs). */
struct sqlite_user {
	struct store_user base;  /* first: sqlite_user_of() converts back */
	char *username;
	char *dir;          /* the user directory */
	char *notify_path;  /* <dir>/notify, touched after every commit */
	sqlite3 *db;
	sqlite3_stmt *stmts[STMT__COUNT];
	unsigned refs;
	dev_t dev;          /* of index.sqlite, to notice a removed store */
	ino_t ino;
	pthread_t owner;    /* the thread using it while refs > 0 */
	bool opening;       /* first open attempt: descriptor shortage not logged */
	int ckpt_asked;     /* WAL pages when this handle last asked ckpt.c */
	struct sqlite_user *hnext;        /* pool bucket chain */
	struct dlist_node lru;            /* pool list of unused handles */
	struct sqlite_user *next;         /* a chain of handles being freed */
	/* durable (issue #14): the connection's PRAGMA synchronous is NORMAL
	 * (else FULL); the open write transaction is a metadata one that
	 * commits NORMAL (sync.c), and the total of changes at its BEGIN. */
	bool sync_normal;
	bool tx_write;
	bool tx_meta;
	int64_t tx_changes0;
	/* fetchtx (issue #14): sqlite_read_hold depth, and whether the hold
	 * began the read transaction that the reads inside it share. */
	unsigned read_hold;
	bool read_hold_began;
	/* download (issue #14): the handle reads the index through a memory
	 * map since it read a large row (inline.c). */
	bool mmap_rows;
	/* sess (issue #14): an unused handle that still has its page cache,
	 * on the pool's list of those, most recently closed first (db.c). */
	bool warm;
	struct dlist_node warm_node;
	/* idle (issue #14): when it last went unused (now_ms), for
	 * sqlite_cache_trim(). */
	uint64_t unused_since_ms;
	uint64_t released_seq;    /* pool order of its last release (db.c) */
	/* quiet (issue #14): the HIGHESTMODSEQ of a few mailboxes as a read
	 * transaction found them, and the wal-index header read just before
	 * it began. While the header is unchanged nothing has committed, so
	 * sqlite_changes() answers "nothing since" without a transaction
	 * (message.c): most commands' sync, on the event loop. */
	unsigned char quiet_hdr[SQLITE_WAL_HEADER_BYTES];
	struct {
		int64_t id;
		uint64_t highestmodseq;
	} quiet[SQLITE_QUIET_MAILBOXES];
	unsigned nquiet, quiet_next;
};

static inline struct sqlite_user *sqlite_user_of(struct store_user *base)
{
	return (struct sqlite_user *)base;
}

/* The row of a mailbox that message operations need. */
struct store_mbox_row {
	int64_t id;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t first_recent_uid;
};

/* ---- db.c ---- */
/* The cached statement, reset and ready to bind; NULL (logged) if it cannot
 * be prepared. */
sqlite3_stmt *sqlite_stmt(struct sqlite_user *u, enum store_stmt id);
/* Resets a statement after use so it holds no read snapshot. */
void sqlite_stmt_done(sqlite3_stmt *st);
/* Logs the current SQLite error of u with context and returns STORE_EIO. */
int sqlite_db_error(struct sqlite_user *u, const char *what);
/* Steps a statement that returns no rows, then resets it. */
int sqlite_stmt_run(struct sqlite_user *u, sqlite3_stmt *st, const char *what);
/* SQLite's process-wide settings; call before any sqlite3_open. */
void sqlite_lib_init(void);
/* The VFS users' indexes are opened with (after sqlite_lib_init): walvfs.c,
 * or NULL (SQLite's default) if it could not be registered. */
const char *sqlite_index_vfs(void);
/* ---- walvfs.c ---- */
/* Registers the VFS users' indexes are opened with (one write per WAL
 * transaction) over SQLite's default one; its name, or NULL (logged) if
 * it could not be. Called once, by sqlite_lib_init(). */
const char *sqlite_walvfs_register(void);
/* The wal-index header (SQLite's WalIndexHdr, the first copy) of a
 * connection opened with that VFS, read without a transaction: equal
 * bytes at two moments mean no transaction committed between them, in any
 * process. False when it cannot be read (another VFS, no -shm mapped
 * yet). */
bool sqlite_walvfs_header(sqlite3 *db, unsigned char out[SQLITE_WAL_HEADER_BYTES]);
int sqlite_tx_write(struct sqlite_user *u);
/* durable (issue #14): a write transaction that changes only metadata
 * (flags, keywords, expunges, \Recent). With the syncer running it
 * commits with synchronous=NORMAL (in the WAL, not yet fsync'd) and
 * sqlite_tx_commit() hands the user to the syncer; else it is
 * sqlite_tx_write(). */
int sqlite_tx_write_meta(struct sqlite_user *u);
/* Background writers (search index, previews, search_gc): a write
 * transaction begun after the commands of this process that wait for the
 * lock, and sqlite_tx_yield() between two rows that stand alone: when a
 * command waits, what is done so far commits and a new transaction begins
 * after it (no transaction open when it fails). Issue #14, ckpt: 64
 * search entries held the lock 11-46 ms, an APPEND behind them as long. */
int sqlite_tx_write_background(struct sqlite_user *u);
int sqlite_tx_yield(struct sqlite_user *u);
/* True when sqlite_tx_yield(u) would commit now (a command waits). */
bool sqlite_tx_yield_due(struct sqlite_user *u);
uint64_t sqlite_tx_yields(void);
int sqlite_tx_read(struct sqlite_user *u);
/* store_read_hold / store_read_release (store.h). */
void sqlite_read_hold(struct store_user *u);
void sqlite_read_release(struct store_user *u);
int sqlite_tx_commit(struct sqlite_user *u);
/* durable (issue #14): commits, then has the blob files among blobs[0..n)
 * that no message references any more unlinked once the commit is
 * durable: at once (sqlite_blobs_collect) after a FULL commit, by the
 * syncer after a NORMAL one. */
int sqlite_tx_commit_gc(struct sqlite_user *u, char (*blobs)[65], size_t n);
void sqlite_tx_rollback(struct sqlite_user *u);
/* Tells watchers (this and other processes) that u changed: after commit. */
void sqlite_notify(struct sqlite_user *u);
/* fastnotify (watch.c): tells this process's watchers of username that its
 * store changed; true when another process may watch it too (the caller
 * then touches the notify file). */
bool sqlite_watch_changed(const char *username);
struct store_user *sqlite_user_open(const char *username);
/* sqlite_user_open() for the background threads (sync.c, ckpt.c): NULL,
 * without creating it again, when the store in dir was removed. */
struct store_user *sqlite_user_open_existing(const char *username, const char *dir);
void sqlite_user_close(struct store_user *u);
unsigned sqlite_cache_drop(void);
int sqlite_user_remove(const char *username);
/* idle (issue #14): closes the unused handles idle for idle_ms or more. */
unsigned sqlite_cache_trim(unsigned idle_ms);

/* ---- mailbox.c ---- */
/* Looks a mailbox up inside the caller's transaction. STORE_ENOENT if absent. */
int sqlite_mbox_by_name(struct sqlite_user *u, const char *name, struct store_mbox_row *out);
int sqlite_mbox_by_id(struct sqlite_user *u, int64_t id, struct store_mbox_row *out);
/* Inside a write transaction: mailbox id's first unclaimed \Recent UID
 * becomes uid (RFC 3501 2.3.2; mailbox.c). */
int sqlite_mbox_set_first_recent(struct sqlite_user *u, int64_t id, uint32_t uid);
/* Next UIDVALIDITY of this user: time-based, strictly increasing, never
 * reused (inside a write transaction). */
int sqlite_uidvalidity_next(struct sqlite_user *u, uint32_t *out);
/* Creates the default mailboxes of a new store (inside a write transaction). */
int sqlite_mailbox_create_defaults(struct sqlite_user *u);
int sqlite_mailbox_list(struct store_user *u, bool want_counts, struct store_mailbox **out,
			size_t *n);
int sqlite_mailbox_get(struct store_user *u, const char *name, bool want_counts,
		       struct store_mailbox *out);
int sqlite_mailbox_create(struct store_user *u, const char *name, const char *special_use,
			  unsigned max_mailboxes);
int sqlite_mailbox_delete(struct store_user *u, const char *name);
int sqlite_mailbox_rename(struct store_user *u, const char *from, const char *to);
int sqlite_mailbox_take_recent(struct store_user *u, int64_t mailbox_id, uint32_t *first_recent,
			       uint32_t *claimed_end);
int sqlite_mailbox_keywords(struct store_user *u, int64_t mailbox_id, char **out);
int sqlite_subscription_list(struct store_user *u, char ***names, size_t *n);
int sqlite_subscribe(struct store_user *u, const char *name, bool subscribe);

/* ---- inline.c (issue #14 inline) ---- */
/* Stores the bytes of blob hex in the caller's write transaction (a row
 * of that name already there, from a copy, is kept): STORE_OK or
 * STORE_EIO. */
int sqlite_inline_put(struct sqlite_user *u, const char *hex, const void *data, size_t len);
/* The bytes of blob hex from its row: a copy for store_blob_unmap() ("" when
 * empty), STORE_ENOENT when there is no row of that name, or STORE_EIO. */
int sqlite_inline_get(struct sqlite_user *u, const char *hex, char **data, size_t *len);
/* Deletes the row of blob hex; true when there was one. */
bool sqlite_inline_delete(struct sqlite_user *u, const char *hex);
/* The bytes of a message to append: m->data, or a spooled message read
 * into *own (the caller frees it). */
int sqlite_inline_bytes(const struct store_append *m, char **own, const void **bytes);
/* The backend's blob_get (store/backend.h). */
int sqlite_blob_get(struct store_user *u, const char *hex, const char **data, size_t *len);

/* ---- message.c ---- */
/* Deletes the blob files among blobs[0..n) that no message references any
 * more. Runs under a write lock so a concurrent append that reuses a blob
 * either sees the file gone (and rewrites it) or is seen referencing it. */
void sqlite_blobs_collect(struct sqlite_user *u, char (*blobs)[65], size_t n);
int sqlite_msg_list(struct store_user *u, int64_t mailbox_id, uint32_t min_uid, bool meta_only,
		    struct store_msg **out, size_t *n);
int sqlite_msg_get(struct store_user *u, int64_t mailbox_id, const uint32_t *uids, size_t nuids,
		   struct store_msg **out, size_t *n);
int sqlite_msg_cached(struct store_user *u, int64_t mailbox_id, uint32_t uid, char **envelope,
		      char **bodystructure, char **body);
int sqlite_changes(struct store_user *u, const char *reader, int64_t mailbox_id,
		   uint64_t since, struct store_msg **changed, size_t *nchanged,
		   uint32_t **expunged, size_t *nexpunged);
/* One message by UID inside the caller's transaction (caller frees its
 * keywords); STORE_ENOENT when absent. */
/* One message's text columns by statement (message.c): column i into
 * *outs[i] (copied; untouched for NULL or a NULL outs[i]); STORE_ENOENT
 * when (mailbox_id, uid) is no message. */
int sqlite_msg_texts(struct sqlite_user *u, enum store_stmt id, const char *what,
		     int64_t mailbox_id, uint32_t uid, char **const *outs, int n);
int sqlite_msg_get_one(struct sqlite_user *u, int64_t mailbox_id, uint32_t uid,
		       struct store_msg *m);
int sqlite_append(struct store_user *u, const char *mailbox, struct store_append *msgs, size_t n,
		  uint32_t *uidvalidity, struct store_recent_claim *claim);
int sqlite_flags(struct store_user *u, const char *reader, int64_t mailbox_id,
		 const uint32_t *uids, size_t nuids, enum store_flag_mode mode, uint32_t flags,
		 const char *keywords, uint64_t unchangedsince, struct store_msg **changed,
		 size_t *nchanged, uint32_t **failed, size_t *nfailed);
int sqlite_copy(struct store_user *u, int64_t mailbox_id, const uint32_t *uids, size_t nuids,
		const char *to, bool move, uint32_t *uidvalidity, uint32_t **src_uids,
		uint32_t **dst_uids, size_t *ncopied);
int sqlite_expunge(struct store_user *u, int64_t mailbox_id, const uint32_t *uids, size_t nuids);

/* ---- expunged.c: the expunge history (condstore) ---- */
/* Records uids[0..n) (any order) as expunged at modseq, inside the
 * caller's write transaction, after their rows left `messages`; prunes a
 * bounded part of the history older than store_expunged_history_days(). */
int sqlite_expunged_add(struct sqlite_user *u, int64_t mailbox_id, const uint32_t *uids, size_t n,
			uint64_t modseq);
/* UIDs expunged after since, ascending, inside the caller's transaction. */
int sqlite_expunged_since(struct sqlite_user *u, int64_t mailbox_id, uint64_t since,
			  uint32_t **out, size_t *n);
int sqlite_expunged_floor(struct store_user *u, int64_t mailbox_id, uint64_t *floor);

/* ---- quota.c (quota part) ---- */
/* The SQL of schema migration 2 (db.c): the usage row and its triggers. */
extern const char sqlite_quota_schema[];
/* Usage and the user's own limits (own may be NULL), inside the caller's
 * transaction. */
int sqlite_quota_read(struct sqlite_user *u, struct store_quota_usage *usage,
		      struct store_quota_limits *own);
/* Before COMMIT of a write that may grow usage: STORE_EOVERQUOTA when
 * store_quota_exceeded(before, now) for the user's effective limits. */
int sqlite_quota_check(struct sqlite_user *u, const struct store_quota_usage *before);
int sqlite_quota_get(struct store_user *u, struct store_quota_usage *usage,
		     struct store_quota_limits *own);
int sqlite_quota_set(struct store_user *u, const struct store_quota_limits *own);
int sqlite_quota_recount(struct store_user *u, struct store_quota_usage *stored,
			 struct store_quota_usage *counted);

/* ---- search.c: the search index (searchidx) ---- */
/* Stores blob's entry inside the caller's write transaction (nothing when
 * it has one). */
int sqlite_search_put_one(struct sqlite_user *u, const char *blob, const struct search_doc *d);
/* Removes blob's entry inside the caller's write transaction. */
void sqlite_search_forget(struct sqlite_user *u, const char *blob);
/* Queues blob's entry, if it has one, for the indexer to remove
 * (search_gc), inside the caller's write transaction. */
void sqlite_search_forget_later(struct sqlite_user *u, const char *blob);
int sqlite_search_gc(struct store_user *u, bool *more);
int sqlite_search_docs(struct store_user *u, int64_t mailbox_id, uint32_t min_uid,
		       unsigned fields, struct store_search_row **out, size_t *n);
int sqlite_search_text(struct store_user *u, int64_t mailbox_id, const char *folded,
		       bool body_only, uint32_t **uids, size_t *n);
int sqlite_search_pending(struct store_user *u, int64_t *mailbox_id, uint32_t *uid, size_t max,
			  char (**blobs)[65], size_t *n);
int sqlite_search_put(struct store_user *u, char (*blobs)[65], const struct search_doc *docs,
		      size_t n);
int sqlite_search_field(struct store_user *u, int64_t mailbox_id, uint32_t min_uid, int field,
			store_search_match_fn match, void *ctx, uint32_t **uids, size_t *n);
int sqlite_search_coverage(struct store_user *u, int64_t mailbox_id, uint32_t min_uid,
			   uint32_t **unindexed, size_t *nu, uint32_t **partial, size_t *np);
/* Up to max distinct blobs from statement `which` (bound to the cursor
 * ?1 mailbox, ?2 uid and ?3 max; rows mailbox_id, uid, blob), the cursor
 * advanced past the last row: search_pending and preview_pending. */
int sqlite_pending_blobs(struct sqlite_user *u, enum store_stmt which, const char *what,
			 int64_t *mailbox_id, uint32_t *uid, size_t max, char (**blobs)[65], size_t *n);

/* One write transaction calling put_one(u, blobs[i], i, arg) for each blob
 * that a message still references (a gone one is skipped): search_put
 * and preview_put. */
struct sqlite_put_ops {
	const char *what;
	int (*first)(struct sqlite_user *u, void *arg); /* NULL: none */
	int (*put_one)(struct sqlite_user *u, const char *blob, size_t i, void *arg);
	/* NULL, or before each commit (a yield's and the last): the writes
	 * put_one held back (search.c, ftsbatch). */
	int (*flush)(struct sqlite_user *u, void *arg);
	void *arg;
};
int sqlite_put_per_blob(struct sqlite_user *u, char (*blobs)[65], size_t n,
			const struct sqlite_put_ops *ops);

/* ---- preview.c: preview text (RFC 8970) ---- */
int sqlite_msg_preview(struct store_user *u, int64_t mailbox_id, uint32_t uid, char **preview);
int sqlite_preview_pending(struct store_user *u, int64_t *mailbox_id, uint32_t *uid, size_t max,
			   char (**blobs)[65], size_t *n);
int sqlite_preview_put(struct store_user *u, char (*blobs)[65], char *const *previews, size_t n);
/* REPLACE (RFC 8508), message.c: the append and the expunge in one
 * transaction. */
int sqlite_replace(struct store_user *u, int64_t mailbox_id, uint32_t uid, const char *to,
		   struct store_append *msg, uint32_t *uidvalidity);

/* ---- acl.c: access control lists and the shared registry (issue #12) ---- */
int sqlite_acl_list(struct store_user *u, const char *mailbox, struct store_acl_entry **out,
		    size_t *n);
int sqlite_acl_set(struct store_user *u, const char *mailbox, const char *ident, const char *rights);
int sqlite_acl_registry_add(const char *owner, const char *grantee);
int sqlite_acl_registry_remove(const char *owner, const char *grantee);
int sqlite_acl_registry_owners(const char *user, char ***owners, size_t *n);
void sqlite_acl_registry_close(void);

/* ---- metadata.c: RFC 5464 entries (issue #12 metadata) ---- */
int sqlite_meta_get(struct store_user *u, const char *mailbox, char *const *names, size_t n,
		    int depth, struct store_meta_entry **out, size_t *nout);
int sqlite_meta_set(struct store_user *u, const char *mailbox, const struct store_meta_entry *e,
		    size_t n, const struct store_meta_limits *lim, enum store_meta_limit *hit);
/* ---- pvtseen.c: private \Seen of the readers of a shared mailbox (aclseen) ---- */
/* The SQL of schema migration 9 (db.c). */
extern const char sqlite_pvtseen_schema[];
/* reader's row for a message inside the caller's transaction: no row is
 * *seen false, *modseq 0. */
int sqlite_pvtseen_get(struct sqlite_user *u, int64_t mailbox_id, const char *reader, uint32_t uid,
		       bool *seen, uint64_t *modseq);
/* Sets reader's row inside the caller's write transaction. */
int sqlite_pvtseen_put(struct sqlite_user *u, int64_t mailbox_id, const char *reader, uint32_t uid,
		       bool seen, uint64_t modseq);
/* store_changes_as's part inside sqlite_changes' read transaction: adds
 * to *msgs the messages whose row changed after since, then lays the rows
 * over all of them, in UID order. */
int sqlite_pvtseen_changes(struct sqlite_user *u, int64_t mailbox_id, const char *reader,
			   uint64_t since, struct store_msg **msgs, size_t *n);
int sqlite_pvtseen_rows(struct store_user *u, int64_t mailbox_id, const char *reader,
			struct store_pvtseen **out, size_t *n);
int sqlite_pvtseen_count(struct store_user *u, int64_t mailbox_id, const char *reader,
			 uint32_t *seen);

/* ---- check.c: `rampart check` (issue #13 check) ---- */
/* Row primitives of message.c and mailbox.c it uses, inside the caller's
 * write transaction (message.c: msg_insert, msg_delete_one). */
int sqlite_msg_insert(struct sqlite_user *u, int64_t mailbox_id, uint32_t uid, uint64_t modseq,
		      const struct store_msg *m);
int sqlite_msg_delete_one(struct sqlite_user *u, int64_t mailbox_id, uint32_t uid, char blob[65]);
int sqlite_mbox_insert_subscribed(struct sqlite_user *u, const char *name, int64_t *id);
/* A new mailbox with a given UIDVALIDITY (import.c; the rule of claiming it
 * is the caller's), inside the caller's write transaction. */
int sqlite_mbox_insert_imported(struct sqlite_user *u, const char *name, const char *special_use,
				uint32_t uidvalidity);
int sqlite_check(const char *username, const struct store_check_opts *o,
		 struct store_check_summary *sum);

/* ---- sync.c: the metadata syncer (durable, issue #14) ---- */
/* Starts the thread (delay_ms > 0); until then, and in any other process,
 * metadata commits are FULL. */
int sqlite_sync_start(unsigned delay_ms);
/* Flushes everything and stops the thread (store shutdown). */
void sqlite_sync_stop(void);
/* Every metadata commit acknowledged before the call durable on return. */
void sqlite_sync_flush(void);
bool sqlite_sync_active(void);
/* After a NORMAL commit of u: its WAL is fdatasync'd within the delay,
 * then the blobs (files its expunges freed) are collected. False when the
 * syncer stopped meanwhile: the WAL was synced here and the blobs are the
 * caller's to collect. */
bool sqlite_sync_defer(struct sqlite_user *u, char (*blobs)[65], size_t n);
void sqlite_sync_stats(struct store_sync_stats *out);
/* How many commits were handed over so far; read just before a FULL
 * commit and passed to sqlite_sync_covered() after it succeeded: the
 * user's pending commits up to there need no sync of their own. */
uint64_t sqlite_sync_seq(void);
void sqlite_sync_covered(struct sqlite_user *u, uint64_t seq);

/* ---- ckpt.c: the background checkpointer (issue #14, ckpt) ---- */
/* Starts the thread of this process (store_sync_start); stopped at the
 * store's shutdown. */
int sqlite_ckpt_start(void);
void sqlite_ckpt_stop(void);
bool sqlite_ckpt_active(void);
/* On a new connection while the thread runs: its WAL grown past 1,000
 * pages is checkpointed by the thread, not inside the commit. */
void sqlite_ckpt_attach(struct sqlite_user *u);
/* Returns once every requested checkpoint ran, follow-ups included (tests). */
void sqlite_ckpt_wait(void);
void sqlite_ckpt_stats(uint64_t *background, uint64_t *inline_done);

/* ---- watch.c: the change feed (inotify on each user's notify file) ---- */
int sqlite_watch_start(store_change_cb cb, void *arg);
void sqlite_watch_stop(void);
int sqlite_watch_user(const char *username);
void sqlite_unwatch_user(const char *username);

/* ---- import.c (migrate, issue #13): store_import_* ---- */
int sqlite_import_mailbox(struct store_user *u, const char *name, const char *special_use,
			  uint32_t uidvalidity);
/* message.c: append with the UIDs the caller asks for. */
int sqlite_import_append(struct store_user *u, const char *mailbox, struct store_append *msgs,
			 size_t n, uint32_t *uidvalidity);
int sqlite_import_uidnext(struct store_user *u, const char *mailbox, uint32_t uidnext);

/* ---- msgflags.c (bigsel, issue #14): store_msg_flags_as ---- */
int sqlite_msg_flags(struct store_user *u, int64_t mailbox_id, uint32_t min_uid, uint32_t max_uid,
		     bool keywords, struct store_flag_list *out);

/* ---- mboxver.c (snap, issue #14): a mailbox's listing version ---- */
int sqlite_mailbox_version(struct store_user *u, int64_t mailbox_id,
			   struct store_mbox_version *out);

/* ---- snapd (issue #14): snapshot reads (snapread.c) ---- */
/* Steps st (bound, columns uid, flags, modseq[, keywords]) into out: rows
 * appended, keyword lists interned (msgflags.c). */
int sqlite_flag_rows(struct sqlite_user *u, sqlite3_stmt *st, bool keywords,
		     struct store_flag_list *out);
int sqlite_snap_read(struct store_user *u, int64_t mailbox_id, uint32_t uidvalidity,
		     uint64_t since, uint32_t kw_min, struct store_snap_read *out);

#endif
