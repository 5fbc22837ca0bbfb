/* The mail store interface: everything the IMAP and delivery layers may ask
 * of persistent storage.
 *
 * store/store.c is the front: it checks every rule once (mailbox names and
 * INBOX, keyword syntax and limits, special-use attributes, argument
 * sanity; the rule functions are exported below so the protocol layers use
 * the same ones) and calls a backend through a table of functions
 * (store/backend.h). store/sqlite/ is one backend (per-user index.sqlite in
 * WAL mode + content-addressed blob files, inotify change feed); a
 * PostgreSQL backend will be another. docs/store-backends.md describes the
 * split; tests/unit/test_store_conformance.c is what a backend must pass.
 *
 * Threading: a struct store_user is used by one thread at a time. Handles
 * are pooled by the process (a nested store_user_open on the same thread
 * returns the same refcounted handle; an unused one is reused by any
 * thread), so sessions do not each hold a database connection; they open
 * before a command and close after it.
 *
 * Errors: functions return STORE_OK (0) or a negative STORE_E... code; the
 * IMAP layer maps them to response codes.
 *
 * What every backend guarantees (the conformance suite checks each):
 *  1. One modseq per write transaction: every message a call adds, changes
 *     or expunges in a mailbox gets the same modseq, HIGHESTMODSEQ + 1, and
 *     HIGHESTMODSEQ becomes it; so HIGHESTMODSEQ strictly increases with
 *     every call that changes the mailbox. A call (or a message) that
 *     changes nothing keeps its modseq (RFC 7162 3.1.3).
 *  2. UIDs are given in ascending order from UIDNEXT; UIDNEXT never goes
 *     down, so a UID is never reused within one UIDVALIDITY (RFC 9051
 *     2.3.1.1). Expunge does not lower it.
 *  3. Every mailbox created (CREATE, RENAME of INBOX, DELETE then CREATE
 *     of the same name) gets a UIDVALIDITY this user's store never gave
 *     before (strictly increasing); a rename keeps it.
 *  4. A change is acknowledged (STORE_OK) only when durable: message bytes
 *     and their directory fsync'd, then the index committed and synced.
 *     durable (issue #14): with the syncer running, a metadata change
 *     (flags, keywords, expunge, \Recent) only when committed to the
 *     index's log in the kernel, synced within the delay (store_sync_*
 *     below, docs/durability.md).
 *     A failed call leaves nothing visible.
 *  5. One call is one transaction: MULTIAPPEND gives UIDs to all messages
 *     or to none (RFC 3502); MOVE copies and expunges together (RFC 6851);
 *     RENAME moves a mailbox with all its children. COPY/MOVE report the
 *     source and destination UIDs of every message copied, pairwise and
 *     ascending (RFC 4315 COPYUID).
 *  6. Expunged UIDs are recorded with the modseq that expunged them, so
 *     store_changes(since) returns every message changed and every UID
 *     expunged after `since` (RFC 7162 QRESYNC), for as long as the mailbox
 *     exists, except what was pruned: when since < store_expunged_floor()
 *     expunges at or below the floor may be missing (history older than
 *     store_set_expunged_history_days() is pruned). The list may also
 *     name UIDs expunged at or before `since` (history is kept as ranges),
 *     never a UID that exists.
 *  7. After every commit that changes what a client can see (mailboxes,
 *     subscriptions, messages, flags) the change callback fires for that
 *     user in every process watching it; never before the commit.
 *  8. Mailbox ids are never reused: a session holding a deleted mailbox's
 *     id gets STORE_ENOENT, never another mailbox.
 *  9. INBOX always exists and cannot be deleted; renaming it moves its
 *     messages to the new mailbox and leaves it empty with its UIDVALIDITY
 *     and UIDNEXT (RFC 9051 6.3.6).
 * 10. Subscriptions are names: subscribing a name that does not exist
 *     works, DELETE leaves the subscription, RENAME carries it along
 *     (RFC 9051 6.3.7).
 * 11. The mailbox-count limit is checked inside the write transaction
 *     that would create the mailbox: concurrent CREATEs cannot pass it.
 * 12. A message's blob, while any message refers to it, maps to exactly
 *     the bytes appended.
 * 13. Quota usage (store_quota_get) changes in the same transaction as the
 *     messages and mailboxes it counts, so it equals a recount after any
 *     crash; a call that would make a resource grow beyond its limit is
 *     refused with STORE_EOVERQUOTA inside that transaction (concurrent
 *     APPENDs cannot both pass), and one that does not grow it (MOVE) is
 *     never refused for quota.
 * 14. Metadata entries (store_meta_*) go with their mailbox's id: RENAME
 *     keeps them, DELETE drops them; a set is all or nothing, and its
 *     limits are counted inside its write transaction. */
#ifndef RAMPART_STORE_STORE_H
#define RAMPART_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/search_doc.h"

enum store_err {
	STORE_OK = 0,
	STORE_EIO = -1,          /* disk or database failure (logged) */
	STORE_ENOENT = -2,       /* no such mailbox / message */
	STORE_EEXIST = -3,       /* mailbox already exists */
	STORE_EINVAL = -4,       /* bad name or argument */
	STORE_EOVERQUOTA = -5,
	STORE_ELIMIT = -6,       /* a configured limit (mailbox count, name length...) */
	STORE_EINUSE = -7,       /* e.g. DELETE of a mailbox with children that is \Noselect */
	STORE_ECANNOT = -8,      /* operation not permitted, e.g. deleting INBOX */
};

/* ---- Rules (the one home of each; the front applies them to every call) ---- */

/* Mailbox names: UTF-8, '/'-separated, no empty level, no control
 * characters, no LIST wildcards '%' '*' (RFC 9051 5.1), at most this many
 * bytes. */
#define STORE_MAILBOX_NAME_MAX 1000
/* RFC 9051 9: flag-keyword = atom, and not starting with '\' (a system
 * flag). The byte limit is the stricter of the two the server had (128 in
 * the store, 200 in imap/); more keywords than STORE_KEYWORDS_MAX on one
 * message is abuse, not mail sorting. */
#define STORE_KEYWORD_LEN_MAX 128
#define STORE_KEYWORDS_MAX 100
#define STORE_USERNAME_MAX 255

/* Validates a mailbox name and returns it normalised in *out (caller
 * frees): INBOX is case-insensitive, also as a hierarchy prefix ("inbox"
 * -> "INBOX", "inbox/x" -> "INBOX/x"; RFC 9051 5.1). STORE_EINVAL for a
 * malformed name, STORE_ELIMIT for one over STORE_MAILBOX_NAME_MAX. */
int store_mailbox_name_normalize(const char *name, char **out);
/* Only the INBOX part of that, in place: for names the IMAP layer holds
 * before they reach the store (LIST references, the selected name). */
void store_mailbox_name_fold_inbox(char *name);
/* One keyword k[0..len): STORE_OK for an atom of 1 to
 * STORE_KEYWORD_LEN_MAX bytes without '\', STORE_ELIMIT for a longer
 * one, STORE_EINVAL otherwise. store_keyword_valid() is "== STORE_OK". */
int store_keyword_check(const char *k, size_t len);
bool store_keyword_valid(const char *k, size_t len);
/* Checks a space-separated keyword list as store_append/store_flags will:
 * STORE_OK, STORE_EINVAL (a malformed keyword) or STORE_ELIMIT (a keyword
 * over STORE_KEYWORD_LEN_MAX bytes, or more than STORE_KEYWORDS_MAX
 * distinct keywords, compared case-insensitively). NULL is the empty list. */
int store_keywords_check(const char *keywords);

/* ext (issue #12): the default special-use mailboxes (RFC 6154) as
 * configured in [mailboxes]: the names a new store gets when `autocreate`
 * (besides INBOX, always), and the attribute a mailbox of such a name gets
 * back when it is created without one (a client recreating a deleted
 * "Sent"). A NULL name: no mailbox for that use. Set once at start-up,
 * before any thread opens a store; STORE_EINVAL names a bad name. */
struct config;
int store_special_defaults_set(const struct config *cfg);

/* ---- Set-up ---- */

/* Process-wide set-up: where user directories live. Creates mail_root.
 * Uses the default backend ("sqlite"). */
int store_init(const char *mail_root);
/* The same with a named backend; STORE_EINVAL for an unknown name. */
int store_init_backend(const char *backend, const char *mail_root);
/* The name of the i-th registered backend, NULL past the last. */
const char *store_backend_name(size_t i);
void store_shutdown(void);
/* "mail_root/<domain or 'local'>/<localpart>"; caller frees. NULL for a
 * username with characters outside [A-Za-z0-9._+@-] or "..". */
char *store_user_dir(const char *username);
/* "<user dir>/tmp": a directory on the filesystem of the user's message
 * files (store_user_open() creates it) where a caller may create unlinked
 * temporary files (O_TMPFILE) to hand to store_append() as in_file
 * messages, which can then become blobs by a link instead of a copy.
 * Caller frees; NULL as store_user_dir(). */
char *store_user_spool_dir(const char *username);

struct store_user;

/* Opens (creating on first use, with INBOX, Drafts, Sent, Trash, Junk and
 * Archive and their SPECIAL-USE attributes, all subscribed) a user's
 * store. NULL on error. */
struct store_user *store_user_open(const char *username);
void store_user_close(struct store_user *u);
/* Closes every cached handle that is not in use (any thread's): at
 * shutdown, and when the process runs short of file descriptors. */
void store_cache_drop(void);
/* Removes a user's whole store (admin). */
int store_user_remove(const char *username);

/* ---- Mailboxes ---- */

struct store_mailbox {
	int64_t id;
	char *name;             /* full name, '/'-separated, UTF-8; "INBOX" exact */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	char *special_use;      /* "\\Sent" etc. or NULL */
	bool subscribed;
	/* Filled by store_mailbox_status() and store_mailbox_list(want_counts): */
	uint32_t messages;
	uint32_t unseen;
	uint32_t deleted;
	uint32_t recent;        /* uid >= first_recent_uid */
	uint64_t size;          /* sum of RFC822.SIZE */
	uint64_t deleted_size;
	uint32_t first_recent_uid;
};

void store_mailbox_clear(struct store_mailbox *mb);
void store_mailbox_array_free(struct store_mailbox *mbs, size_t n);

/* All existing mailboxes in name order. Counts are filled only when
 * want_counts (one aggregate query, not per-message work). */
int store_mailbox_list(struct store_user *u, bool want_counts, struct store_mailbox **out,
		       size_t *n);
/* Subscribed names, including names that no longer exist (RFC 9051 6.3.7). */
int store_subscription_list(struct store_user *u, char ***names, size_t *n);
int store_subscribe(struct store_user *u, const char *name, bool subscribe);

/* Looks a mailbox up by name ("INBOX" case-insensitively); with counts. */
int store_mailbox_status(struct store_user *u, const char *name, struct store_mailbox *out);
/* The same without the counts (which cost a scan of the mailbox). */
int store_mailbox_get(struct store_user *u, const char *name, struct store_mailbox *out);
int store_mailbox_create(struct store_user *u, const char *name, const char *special_use);
/* The same, refused with STORE_ELIMIT when the user already has
 * max_mailboxes mailboxes (0: no limit); counted inside the transaction
 * that creates (invariant 11). */
int store_mailbox_create_bounded(struct store_user *u, const char *name, const char *special_use,
				 unsigned max_mailboxes);
/* Deletes the mailbox and its messages (not its children). */
int store_mailbox_delete(struct store_user *u, const char *name);
/* Renames the mailbox and every child ("a/b" with "a"). Renaming INBOX
 * moves its messages to a new mailbox `to` and leaves INBOX empty
 * (RFC 9051 6.3.6). */
int store_mailbox_rename(struct store_user *u, const char *from, const char *to);

/* Claims the UIDs [old first_recent_uid, uidnext) as \Recent for the
 * caller and advances first_recent_uid to uidnext, in one write
 * transaction, so each UID is claimed by exactly one caller even when
 * sessions on different threads or processes race (RFC 3501 2.3.2; rev1
 * only). *first_recent receives the old value, *claimed_end (may be NULL)
 * the uidnext it advanced to: the caller's claim is [*first_recent,
 * *claimed_end), empty when equal. */
int store_mailbox_take_recent(struct store_user *u, int64_t mailbox_id, uint32_t *first_recent,
			      uint32_t *claimed_end);
/* correct: the distinct keywords of the messages in a mailbox (RFC 9051
 * 7.3.5 FLAGS), space-separated, case-insensitively distinct (first
 * spelling wins), NULL when none; caller frees. One scan of the mailbox. */
int store_mailbox_keywords(struct store_user *u, int64_t mailbox_id, char **keywords);

/* ---- Messages ---- */

struct store_msg {
	uint32_t uid;
	uint32_t flags;          /* MAIL_FLAG_ bits (stored ones) */
	uint64_t modseq;
	char *keywords;          /* space-separated, NULL when none */
	int64_t internaldate;    /* seconds since epoch */
	int internaldate_tz;     /* minutes east of UTC */
	int64_t savedate;
	uint64_t size;
	char blob[65];           /* hex SHA-256 of the message bytes */
};

void store_msg_array_free(struct store_msg *msgs, size_t n);

/* Messages of a mailbox with uid >= min_uid, in UID order. With
 * meta_only, keywords/dates/blob are left empty (cheap SELECT path). */
int store_msg_list(struct store_user *u, int64_t mailbox_id, uint32_t min_uid, bool meta_only,
		   struct store_msg **out, size_t *n);
/* Messages of the given UIDs (sorted ascending), full metadata. */
int store_msg_get(struct store_user *u, int64_t mailbox_id, const uint32_t *uids, size_t nuids,
		  struct store_msg **out, size_t *n);

/* Cached, per-message data computed at delivery time (so FETCH ENVELOPE /
 * BODYSTRUCTURE never re-parse): NULL-terminated strings; caller frees.
 * Any of the out pointers may be NULL. */
int store_msg_cached(struct store_user *u, int64_t mailbox_id, uint32_t uid, char **envelope,
		     char **bodystructure, char **body);

/* What changed in a mailbox since modseq `since` (exclusive):
 * messages whose modseq is greater (new or flag-changed), in UID order,
 * and UIDs expunged after `since`. */
int store_changes(struct store_user *u, int64_t mailbox_id, uint64_t since,
		  struct store_msg **changed, size_t *nchanged, uint32_t **expunged,
		  size_t *nexpunged);

/* The modseq up to which the mailbox's expunge history was pruned: 0 when
 * store_changes(since) is complete for every since. */
int store_expunged_floor(struct store_user *u, int64_t mailbox_id, uint64_t *floor);
/* Process-wide, before serving: keep expunge history this many days
 * (0: forever; config [store] expunged_history_days). */
void store_set_expunged_history_days(unsigned days);

/* One message to append: the full RFC 5322 message, len bytes at data,
 * or with in_file the bytes [off, off + len) of the regular file fd (data
 * NULL), which the store hashes and copies without reading the message
 * into memory; an unlinked file (st_nlink 0) holding exactly the message
 * becomes the blob itself by a link (so it must not change afterwards).
 * The caller keeps fd open until store_append() returns. */
struct store_append {
	const char *data;
	size_t len;
	bool in_file;
	int fd;
	uint64_t off;
	uint32_t flags;
	const char *keywords;    /* space-separated, or NULL */
	int64_t internaldate;    /* -1: now */
	int internaldate_tz;
	/* Filled by the store from the message (computed by the caller so the
	 * store needs no MIME code): */
	const char *envelope;
	const char *bodystructure;
	const char *body;
	/* The message's search index entry (mail/searchdoc.h), stored in the
	 * same transaction; NULL: indexed later in the background. */
	const struct search_doc *search;
	/* preview: the RFC 8970 preview text (mail/preview.h; "" for none),
	 * kept with the blob like the search entry; NULL: made later. */
	const char *preview;
	uint32_t uid;            /* out */
	/* lmtp (issue #13): the blob's name when store_msg_prepare() already
	 * made these bytes durable; NULL: the append hashes and writes them. */
	const char *blob_hex;
	/* migrate (issue #13): the UID store_import_append() must give this
	 * message (0: the next); ignored by store_append(). */
	uint32_t want_uid;
};

/* Appends all messages atomically (MULTIAPPEND, RFC 3502): every blob is
 * fsync'd, then one transaction; either all get UIDs or none do.
 * *uidvalidity receives the mailbox's UIDVALIDITY (APPENDUID). */
int store_append(struct store_user *u, const char *mailbox, struct store_append *msgs, size_t n,
		 uint32_t *uidvalidity);

/* RFC 3501 2.3.2: a rev1 session's \Recent claim made in its APPEND's own
 * transaction rather than in one of its own when the session next syncs
 * (view_recent_claim). In: mailbox_id, the session's selected mailbox; the
 * claim is made only when the messages go there. Out, once the append
 * committed: made, and the UIDs claimed, [from, end), none when equal;
 * every UID below end is then claimed by this session or an earlier one. */
struct store_recent_claim {
	int64_t mailbox_id;
	bool made;
	uint32_t from, end;
};

/* store_append(), claiming \Recent as above (claim not NULL). */
int store_append_claim(struct store_user *u, const char *mailbox, struct store_append *msgs,
		       size_t n, uint32_t *uidvalidity, struct store_recent_claim *claim);

/* preview (REPLACE, RFC 8508): appends msg to mailbox `to` and expunges
 * message uid of mailbox_id in the same transaction (both or neither;
 * `to` may be that mailbox). STORE_ENOENT: `to` does not exist;
 * STORE_ECANNOT: the message to replace (or its mailbox) is gone. */
int store_replace(struct store_user *u, int64_t mailbox_id, uint32_t uid, const char *to,
		  struct store_append *msg, uint32_t *uidvalidity);

enum store_flag_mode { STORE_FLAGS_SET, STORE_FLAGS_ADD, STORE_FLAGS_REMOVE };

/* Changes flags/keywords of the given UIDs (keywords: space-separated,
 * checked as store_keywords_check(); a message may end up with at most
 * STORE_KEYWORDS_MAX, else STORE_ELIMIT and nothing changes). Messages whose flags actually
 * change get a new modseq. With unchangedsince != 0 (CONDSTORE), messages
 * whose modseq is above it are left alone and listed in *failed.
 * *changed receives the new state of every message that changed. */
int store_flags(struct store_user *u, int64_t mailbox_id, const uint32_t *uids, size_t nuids,
		enum store_flag_mode mode, uint32_t flags, const char *keywords,
		uint64_t unchangedsince, struct store_msg **changed, size_t *nchanged,
		uint32_t **failed, size_t *nfailed);

/* Copies messages (sorted UIDs) to mailbox `to`; the blobs are shared.
 * src_uids/dst_uids receive the pairs actually copied (COPYUID).
 * With move, the sources are expunged in the same transaction. */
int store_copy(struct store_user *u, int64_t mailbox_id, const uint32_t *uids, size_t nuids,
	       const char *to, bool move, uint32_t *uidvalidity, uint32_t **src_uids,
	       uint32_t **dst_uids, size_t *ncopied);

/* Expunges the given UIDs (must be \Deleted or not, the caller decides). */
int store_expunge(struct store_user *u, int64_t mailbox_id, const uint32_t *uids, size_t nuids);

/* A message's bytes, read-only: read into memory up to
 * STORE_BLOB_READ_MAX bytes, mapped above. data and len stay valid until
 * store_blob_unmap(data, len), which must get the same len. */
#define STORE_BLOB_READ_MAX (64 * 1024)
int store_blob_map(struct store_user *u, const char *blob, const char **data, size_t *len);
void store_blob_unmap(const char *data, size_t len);
/* alloc: a message's file, opened read-only, for output that needs its
 * bytes as they are (FETCH BODY[]): the connection reads them straight
 * into its output (or sends them with sendfile) without a copy in
 * between. *fd is the caller's to close; *size is the message size.
 * STORE_ENOENT when the blob is gone. */
int store_blob_open(struct store_user *u, const char *blob, int *fd, uint64_t *size);
/* ---- msgcache (issue #14): the message cache ----
 * Small messages stored or read recently are kept in memory by the
 * process (store/blob_cache.c; content-addressed, so never stale), and
 * store_blob_map() answers from there without opening the file. */
/* The bytes of a message from the cache only, as store_blob_map() gives
 * them: STORE_ENOENT when not cached (the caller reads the file). */
int store_blob_cached(struct store_user *u, const char *blob, const char **data, size_t *len);
/* inline (issue #14): the bytes of a small message that the backend keeps
 * itself (store_inline_set()), as store_blob_map() gives them, without
 * touching the message cache; STORE_ENOENT when it is a file (then
 * store_blob_open() reads it) or gone. */
int store_blob_inline(struct store_user *u, const char *blob, const char **data, size_t *len);
/* store_blob_map() for a reader that goes through many messages once
 * (indexing, export): answered from the cache when there, never added to
 * it, so a pass over old mail does not push out what sessions read. */
int store_blob_map_once(struct store_user *u, const char *blob, const char **data, size_t *len);
/* Process setting: at most max_bytes (0: no cache, the default, as for
 * tools); messages up to STORE_BLOB_READ_MAX bytes. Call at start-up. */
void store_message_cache_set(size_t max_bytes);
/* inline (issue #14): messages of at most max_bytes (capped at
 * STORE_BLOB_READ_MAX; 0, the default: none) are written inside the
 * transaction that adds them, by a backend that can (SQLite: a row of the
 * index), instead of as a file: one sync per APPEND instead of three.
 * Reads find them either way. Call at start-up. */
void store_inline_set(size_t max_bytes);
struct store_message_cache_stats {
	uint64_t hits, misses;   /* reads answered from memory / from the file */
	size_t count, bytes;
};
void store_message_cache_stats(struct store_message_cache_stats *out);

/* ---- Search index (searchidx) ----
 * One entry per blob (so COPY shares it): the decoded header fields, the
 * Date: day and the casefolded text (core/search_doc.h), written with the
 * message by store_append() or later by a background indexer. The index
 * is an accelerator that must agree exactly with the message: entries are
 * made from the message bytes only and removed with the blob. */

/* One indexed message of a mailbox: doc.field[] holds the fields asked
 * for (others NULL), doc.sent_day and doc.body_partial are set, doc.hdrs
 * and doc.body are NULL. */
struct store_search_row {
	uint32_t uid;
	struct search_doc doc;
};
void store_search_rows_free(struct store_search_row *rows, size_t n);

/* The indexed messages of a mailbox with uid >= min_uid, in UID order;
 * messages without an entry are absent. fields: bit f for each
 * SEARCH_DOC_* field wanted. */
int store_search_docs(struct store_user *u, int64_t mailbox_id, uint32_t min_uid, unsigned fields,
		      struct store_search_row **out, size_t *n);
/* The UIDs, ascending, of the mailbox's indexed, not partial messages
 * whose folded text contains `folded` (already casefolded, non-empty
 * UTF-8): the body text, or with !body_only the header text or the body
 * (SEARCH TEXT). Exact, not candidates: the backend confirms each hit. */
int store_search_text(struct store_user *u, int64_t mailbox_id, const char *folded,
		      bool body_only, uint32_t **uids, size_t *n);
/* Up to max distinct blobs of messages that have no index entry, in
 * (mailbox id, uid) order after the cursor (*mailbox_id, *uid), which is
 * advanced past the last message looked at; start with 0, 0. n == 0: none
 * left after the cursor. Caller frees *blobs. */
int store_search_pending(struct store_user *u, int64_t *mailbox_id, uint32_t *uid, size_t max,
			 char (**blobs)[65], size_t *n);
/* Stores index entries for blobs[0..n) in one transaction; a blob that
 * already has one, or that no message references any more, is skipped. */
int store_search_put(struct store_user *u, char (*blobs)[65], const struct search_doc *docs,
		     size_t n);
/* The index entries of messages expunged (their last copy) are not
 * removed by the expunge: they are unreachable at once and removed later,
 * in batches, by store_search_put (in its transaction) and by this, which
 * removes a batch of them; *more: some are left. Nothing to do is cheap
 * (one read). */
int store_search_gc(struct store_user *u, bool *more);
/* Decides whether a stored field value (UTF-8, as in search_doc.field)
 * matches; the caller's rule, so the store needs no casefolding. */
typedef bool (*store_search_match_fn)(const char *value, size_t len, void *ctx);
/* The UIDs, ascending, of the mailbox's indexed messages with
 * uid >= min_uid whose field `field` (SEARCH_DOC_*) exists and match()
 * accepts: a header SEARCH answered without reading every entry into
 * memory. Messages the index does not hold are absent (see coverage). */
int store_search_field(struct store_user *u, int64_t mailbox_id, uint32_t min_uid, int field,
		       store_search_match_fn match, void *ctx, uint32_t **uids, size_t *n);
/* The mailbox's messages with uid >= min_uid that have no index entry
 * (*unindexed) and those whose entry holds only part of their text
 * (*partial: BODY/TEXT must read the file), both ascending and usually
 * empty. */
int store_search_coverage(struct store_user *u, int64_t mailbox_id, uint32_t min_uid,
			  uint32_t **unindexed, size_t *nu, uint32_t **partial, size_t *np);

/* ---- Preview text (preview, RFC 8970) ----
 * One per blob (so COPY and MOVE keep it), made from the message bytes
 * only (mail/preview.h): at delivery by store_append(), or later by
 * store_preview_put() for messages stored before previews existed. */

/* The stored preview of message uid: *preview malloc'd, or NULL when none
 * was made yet ("" is a made, empty preview). STORE_ENOENT: no such
 * message. */
int store_msg_preview(struct store_user *u, int64_t mailbox_id, uint32_t uid, char **preview);
/* As store_search_pending(), for messages without a preview. */
int store_preview_pending(struct store_user *u, int64_t *mailbox_id, uint32_t *uid, size_t max,
			  char (**blobs)[65], size_t *n);
/* Stores previews[i] for blobs[i] in one transaction; a blob that has one
 * already, or that no message references any more, is skipped. */
int store_preview_put(struct store_user *u, char (*blobs)[65], char *const *previews, size_t n);

/* ---- Change notification ----
 * Every committed change to a user's store (from this process, another
 * server process or `rampart deliver`) wakes the watcher callback with
 * that username, from the backend's watcher thread (SQLite: inotify on a
 * file touched after each commit; PostgreSQL: LISTEN/NOTIFY). The callback must be cheap and
 * thread-safe (typically: post an event to the workers). */
typedef void (*store_change_cb)(const char *username, void *arg);
int store_watch_start(store_change_cb cb, void *arg);
void store_watch_stop(void);
/* Reference-counted interest in a user. */
int store_watch_user(const char *username);
void store_unwatch_user(const char *username);

/* ---- Quota (RFC 9208; quota part) ----
 * One quota root per user covering all the user's mailboxes. Usage:
 * STORAGE is the sum of the RFC822.SIZE of every message, counted per
 * message (a COPY counts again although the blob is shared: RFC 9208 5.1
 * counts messages, and an expunge of either copy must give its size
 * back); MESSAGE the number of messages; MAILBOX the number of mailboxes
 * (INBOX included). Limits: 0 is unlimited. A user's own limits override
 * the process defaults resource by resource; STORE_QUOTA_DEFAULT in a
 * field of the user's limits means "the default". */
#define STORE_QUOTA_DEFAULT UINT64_MAX

struct store_quota_usage {
	uint64_t storage;        /* bytes */
	uint64_t messages;
	uint64_t mailboxes;
};

struct store_quota_limits {
	uint64_t storage_kib;    /* RFC 9208 5.1: units of 1024 octets */
	uint64_t messages;
	uint64_t mailboxes;
};

/* The defaults (from [quota] in the configuration): set once at start-up,
 * before threads use the store; every field 0 (unlimited) until then. */
void store_quota_defaults_set(const struct store_quota_limits *d);
void store_quota_defaults_get(struct store_quota_limits *d);
/* own with its STORE_QUOTA_DEFAULT fields replaced by the defaults. */
void store_quota_effective(const struct store_quota_limits *own, struct store_quota_limits *eff);
/* STORAGE usage as RFC 9208 reports it: KiB, rounded up, so a usage shown
 * above its limit is exactly a usage that refuses growth. */
uint64_t store_quota_storage_kib(uint64_t bytes);
/* The rule, in one place: true when a resource grew from before to after
 * and is now above its (effective) limit. */
bool store_quota_exceeded(const struct store_quota_usage *before,
			  const struct store_quota_usage *after, const struct store_quota_limits *eff);
/* The user's usage, own limits (STORE_QUOTA_DEFAULT where none is set)
 * and effective limits; any out pointer may be NULL. */
int store_quota_get(struct store_user *u, struct store_quota_usage *usage,
		    struct store_quota_limits *own, struct store_quota_limits *effective);
/* Replaces the user's own limits (STORE_QUOTA_DEFAULT: use the default).
 * Lowering a limit below the usage refuses only further growth. */
int store_quota_set(struct store_user *u, const struct store_quota_limits *own);
/* Counts usage from the messages and mailboxes themselves and stores it
 * if it differs: *stored receives the counters as they were, *counted the
 * recount (either may be NULL). For `rampart check` and the tests. */
int store_quota_recount(struct store_user *u, struct store_quota_usage *stored,
			struct store_quota_usage *counted);
/* ---- Access control lists (issue #12 acl; RFC 4314; store/acl.c) ----
 * A mailbox's ACL lives in its owner's store; the owner has every right
 * whatever the list says. A server-wide registry of (owner, grantee)
 * pairs answers "who may have shared something with me" without opening
 * every store; it may name too much, never too little (docs/architecture.md
 * "Shared mailboxes"). */

/* RFC 4314 2.1, in the RFC's order. */
enum store_acl_right {
	STORE_ACL_LOOKUP = 1u << 0,   /* l */
	STORE_ACL_READ = 1u << 1,     /* r */
	STORE_ACL_SEEN = 1u << 2,     /* s */
	STORE_ACL_WRITE = 1u << 3,    /* w */
	STORE_ACL_INSERT = 1u << 4,   /* i */
	STORE_ACL_POST = 1u << 5,     /* p */
	STORE_ACL_CREATE = 1u << 6,   /* k */
	STORE_ACL_DELMBOX = 1u << 7,  /* x */
	STORE_ACL_DELMSG = 1u << 8,   /* t */
	STORE_ACL_EXPUNGE = 1u << 9,  /* e */
	STORE_ACL_ADMIN = 1u << 10,   /* a */
};
#define STORE_ACL_ALL 0x7ffu
/* "lrswipkxtea" plus "cd" plus NUL. */
#define STORE_ACL_RIGHTS_TEXT_MAX 14

struct store_acl_entry {
	char *mailbox;          /* the owner's name for it */
	char *ident;            /* user, "anyone", "authenticated", or "-" + one of those */
	uint32_t rights;
};
void store_acl_entries_free(struct store_acl_entry *e, size_t n);

/* Parses rights text (without a leading '+'/'-' modifier). RFC 4314
 * 2.1.1: "c" means "k" and "d" means "xte". STORE_EINVAL for a character
 * that names no right. */
int store_acl_rights_parse(const char *text, uint32_t *out);
/* SETACL's rights argument (RFC 4314 3.1): "+r" adds to cur, "-r"
 * removes from it, "r" replaces it; *out is the result. STORE_EINVAL as
 * store_acl_rights_parse(). */
int store_acl_rights_apply(const char *arg, uint32_t cur, uint32_t *out);
/* Canonical text in the RFC's order, with "c" when "k" is in and "d"
 * when all of "xte" are (2.1.1: old clients look for them); parsing the
 * text gives the same rights back. */
void store_acl_rights_format(uint32_t rights, char out[STORE_ACL_RIGHTS_TEXT_MAX]);
/* A user name (store_user_dir's characters), "anyone" or "authenticated",
 * optionally after one '-' (negative rights, RFC 4314 2). */
bool store_acl_ident_valid(const char *ident);
/* What `user` may do in a mailbox of `owner` whose entries are e[0..n)
 * (entries of other mailboxes are ignored when mailbox is not NULL):
 * the union of the entries for user, "anyone" and "authenticated", minus
 * the union of the matching negative entries; every right for the owner. */
uint32_t store_acl_rights_of(const char *owner, const char *user, const char *mailbox,
			     const struct store_acl_entry *e, size_t n);

/* The ACL of one mailbox (NULL: of every mailbox, in name order; caller
 * frees). STORE_ENOENT when the mailbox does not exist. */
int store_acl_list(struct store_user *u, const char *mailbox, struct store_acl_entry **out,
		   size_t *n);
/* Sets (rights != 0) or removes (rights == 0) ident's entry on a mailbox
 * of `owner` (whose store u is) and keeps the registry a superset:
 * a grant is registered before it is committed, and a grantee's last
 * entry is unregistered after. */
int store_acl_set(struct store_user *u, const char *owner, const char *mailbox, const char *ident,
		  uint32_t rights);
/* True when `owner` may have shared something with `user` (directly, or
 * with anyone/authenticated): opening owner's store is worth it. */
bool store_acl_shared_with(const char *owner, const char *user);
/* Owners other than `user` that may have shared with user, sorted,
 * without duplicates (caller frees each and the array). */
int store_acl_owners(const char *user, char ***owners, size_t *n);

/* ---- Metadata (issue #12 metadata; RFC 5464; store/metadata.c) ----
 * Annotations ("entries") of a mailbox or of the server, in the store of
 * the mailbox's owner (server entries: in each user's own store). A
 * mailbox's entries are keyed by its id, so RENAME keeps them and DELETE
 * drops them (a renamed INBOX keeps its entries: INBOX keeps its id).
 * Names are valid entry names (store_meta_name_check), stored lowercased;
 * values are bytes and may hold NUL. */
#define STORE_META_NAME_MAX 1024

struct store_meta_entry {
	char *name;
	char *value;             /* NULL: no value (absent; in a set: remove) */
	size_t len;
};
void store_meta_entries_free(struct store_meta_entry *e, size_t n);
/* Sorts e[0..*n) by name and drops later entries of an equal name. */
void store_meta_entries_sort_unique(struct store_meta_entry *e, size_t *n);

/* The limits store_meta_set() keeps (each at least 1). */
struct store_meta_limits {
	size_t value_max;        /* bytes of one value */
	unsigned entries_max;    /* entries of one mailbox (or of the server) */
	uint64_t total_max;      /* bytes of names and values in the user's store */
};
enum store_meta_limit {
	STORE_META_LIMIT_NONE,
	STORE_META_LIMIT_VALUE,
	STORE_META_LIMIT_ENTRIES,
	STORE_META_LIMIT_TOTAL,
};

/* RFC 5464 3.2: in[0..len) is an entry name: "/private" or "/shared"
 * (case-insensitive) then "/"-separated components, no "//", no
 * trailing "/", no "*", "%", NUL or control character. *out receives it
 * with ASCII lowercased (caller frees). A bare "/private" or "/shared"
 * names a tree, not an entry: valid only with allow_root (GETMETADATA
 * with DEPTH). STORE_EINVAL for a malformed name, STORE_ELIMIT for one
 * over STORE_META_NAME_MAX bytes. */
int store_meta_name_check(const char *in, size_t len, bool allow_root, char **out);
/* The entries of `mailbox` (NULL: the server's) named names[0..n)
 * (checked names) and, with depth 1, their children, with depth -1 all
 * their descendants; sorted by name, each once. STORE_ENOENT when the
 * mailbox does not exist. */
int store_meta_get(struct store_user *u, const char *mailbox, char *const *names, size_t n,
		   int depth, struct store_meta_entry **out, size_t *nout);
/* Sets (value != NULL) or removes the entries e[0..n) (checked names) of
 * `mailbox` (NULL: the server) in one transaction: all or none. A value
 * over lim->value_max, or a change that makes the mailbox's entries or
 * the store's metadata bytes grow above their limit, is refused with
 * STORE_ELIMIT and *hit says which (a change that does not grow them is
 * never refused). STORE_ENOENT when the mailbox does not exist. */
int store_meta_set(struct store_user *u, const char *mailbox, const struct store_meta_entry *e,
		   size_t n, const struct store_meta_limits *lim, enum store_meta_limit *hit);
/* ---- Private \Seen in shared mailboxes (issue #12 aclseen; store/pvtseen.c) ----
 * In a mailbox of another user, \Seen may be private to each reader
 * (RFC 4314 leaves it to the server): the owner's \Seen is the message's
 * flag, a reader's is a row of the owner's store. Every function below
 * takes the reader (NULL: no private view, exactly the plain function) and
 * gives the messages as that reader sees them: \Seen from the reader's
 * row (no row: not seen), modseq the greater of the message's and the
 * row's. A reader's change takes a new modseq of the mailbox like any
 * change (HIGHESTMODSEQ goes up for everyone, RFC 7162 allows it) but
 * changes neither the message's modseq nor its flags, so the owner and
 * other readers see nothing changed. */
struct store_pvtseen {
	uint32_t uid;
	bool seen;
	uint64_t modseq;         /* of the reader's last \Seen change */
};

/* Replaces \Seen (and raises modseq) of msgs[0..n) as reader sees them,
 * msgs as store_msg_list/store_msg_get return them. The rows are read
 * after the messages, not in their snapshot: a modseq here may be newer
 * than the listing, so a caller must not take it as "known up to" (SELECT
 * takes HIGHESTMODSEQ from the plain listing); store_changes_as reads both
 * in one snapshot. */
int store_pvtseen_apply(struct store_user *u, int64_t mailbox_id, const char *reader,
			struct store_msg *msgs, size_t n);
/* store_changes for reader: also the messages whose \Seen the reader
 * changed after `since`, all in UID order, with the reader's flags, read
 * in one snapshot (a sync may advance its modseq to the greatest). */
int store_changes_as(struct store_user *u, int64_t mailbox_id, const char *reader,
		     uint64_t since, struct store_msg **changed, size_t *nchanged,
		     uint32_t **expunged, size_t *nexpunged);
/* store_flags for reader: \Seen set or cleared is the reader's own; the
 * other flags and keywords are the message's. UNCHANGEDSINCE compares the
 * reader's modseq; *changed gives the reader's view. */
int store_flags_as(struct store_user *u, const char *reader, int64_t mailbox_id,
		   const uint32_t *uids, size_t nuids, enum store_flag_mode mode, uint32_t flags,
		   const char *keywords, uint64_t unchangedsince, struct store_msg **changed,
		   size_t *nchanged, uint32_t **failed, size_t *nfailed);
/* mb (filled with counts by store_mailbox_status) as reader sees it:
 * unseen becomes the messages without the reader's \Seen. */
int store_pvtseen_status(struct store_user *u, const char *reader, struct store_mailbox *mb);

/* ---- Index check and repair (issue #13 check; store/sqlite/check.c) ----
 * `rampart check`: the index against the message files and against its
 * own invariants (numbers above). Each finding goes to the report
 * callback as it is found; with repair, each is fixed in the same run
 * without losing mail (docs/operations.md "Checking and repairing the
 * index" states every rule). The store cannot parse MIME: the caller
 * gives the function that computes the cached strings (mail/mailcache.h),
 * and without it cached data is not compared. */
#define STORE_CHECK_LOST_FOUND "Lost+Found"

struct store_check_finding {
	const char *check;       /* blob, orphan, tmp, quota, uid, modseq, uidvalidity, cache,
				  * integrity, subscription, mailbox */
	const char *mailbox;     /* NULL: none */
	uint32_t uid;            /* 0: none */
	const char *blob;        /* NULL: none */
	const char *problem;     /* missing, size, hash, ... */
	const char *action;      /* "none" without repair, else what was done */
	const char *detail;      /* NULL, or a short key=value text */
};
typedef void (*store_check_report_fn)(const struct store_check_finding *f, void *ctx);
/* What the cached strings of a message with these bytes are (malloc'd,
 * as mail_cache_compute). */
typedef void (*store_check_cache_fn)(const char *data, size_t len, char **envelope,
				     char **bodystructure, char **body);

struct store_check_opts {
	bool repair;
	bool quick;              /* existence and size only: no hashing, no re-parse */
	/* Blob and temp files younger than this may belong to an append in
	 * flight (bytes are written before the index commit): left alone. */
	unsigned grace_seconds;
	store_check_report_fn report;   /* required */
	store_check_cache_fn cache;     /* NULL: cached data not compared */
	void *ctx;
};

struct store_check_summary {
	uint64_t mailboxes;
	uint64_t messages;       /* index rows looked at */
	uint64_t blobs;          /* message files looked at */
	uint64_t findings;
	uint64_t repaired;
	uint64_t lost_found;     /* messages put into Lost+Found */
	bool rebuilt;            /* the index file was set aside and rebuilt */
};

/* Checks (and with o->repair repairs) the store of username, which need
 * not be open. STORE_ENOENT: the user has no store; STORE_EIO: the check
 * itself could not run (a finding is not an error). Safe against a
 * running server: see docs/operations.md. */
int store_check_user(const char *username, const struct store_check_opts *o,
		     struct store_check_summary *sum);
/* lmtp (issue #13): makes the blob of a message to append durable ahead
 * of store_append() (hash; write or link, fsync, rename, directory fsync)
 * without taking any lock, so concurrent deliveries write their files in
 * parallel and a group commit only inserts rows. hex receives the name
 * to pass as store_append.blob_hex, by the same thread's handle or
 * another's of the same user. A message that store_inline_set() lets the
 * backend keep is only hashed: the append writes it. */
int store_msg_prepare(struct store_user *u, const struct store_append *m, char hex[65]);
/* ---- Import (issue #13 migrate; `rampart import`, admin/cli_import.c) ----
 * A migration keeps what clients cached from the old server: each
 * mailbox's UIDVALIDITY, each message's UID, UIDNEXT. These calls are
 * the one deliberate way round the allocation rules of invariants 2 and
 * 3; the invariants still hold, as each call says. */

/* Makes `name` a mailbox with UIDVALIDITY uidvalidity: creates it, or
 * adopts an existing one that never held a message (UIDNEXT 1: no client
 * can have cached a UID of it, such as the INBOX a new store starts
 * with); STORE_OK also when it already has that UIDVALIDITY (a second
 * run). Invariant 3 holds for every value that named a message: a value
 * is refused (STORE_ECANNOT) when a mailbox that holds or held mail has
 * it, when it was imported before (recorded), or when the store may have
 * given it to a mailbox since deleted (store/sqlite/import.c says how a
 * backend knows). A mailbox that never held a message gives its value up
 * (adopted, or given a fresh one): it names no UID a client can have
 * cached. STORE_EEXIST: the mailbox exists with another UIDVALIDITY and
 * has held messages. */
int store_import_mailbox(struct store_user *u, const char *name, const char *special_use,
			 uint32_t uidvalidity);
/* store_append() with each message's UID chosen by the caller:
 * msgs[i].want_uid strictly ascending and the first >= UIDNEXT (0 means
 * "the next", as store_append), so invariant 2 holds: UIDNEXT becomes the
 * last UID + 1 and no UID is given twice. STORE_EINVAL for UIDs out of
 * order or below UIDNEXT (nothing is written). */
int store_import_append(struct store_user *u, const char *mailbox, struct store_append *msgs,
			size_t n, uint32_t *uidvalidity);
/* Raises the mailbox's UIDNEXT to uidnext (the old server's); a lower
 * value changes nothing (invariant 2: UIDNEXT never goes down). */
int store_import_uidnext(struct store_user *u, const char *mailbox, uint32_t uidnext);

/* ---- bigsel (issue #14): a mailbox's flags as compact arrays ---- */
/* The uid, flags and modseq of messages min_uid..max_uid as parallel
 * arrays, for SELECT and FETCH (UID FLAGS MODSEQ) of big mailboxes: one
 * pass, no allocation per message. Keyword lists are interned: kw[i] is
 * an index into kws (0: none, kws[0] is NULL); kw is NULL unless asked.
 * max_modseq is the highest stored modseq of the listed messages, before
 * a reader's rows are laid over them (as SELECT's HIGHESTMODSEQ needs).
 * reader: as store_changes_as (aclseen; NULL: the message's \Seen). */
struct store_flag_list {
	uint32_t *uids;          /* ascending */
	uint8_t *flags;          /* MAIL_FLAG_ bits (stored ones) */
	uint64_t *modseqs;
	uint32_t *kw;
	char **kws;
	size_t n, nkws;
	uint64_t max_modseq;
};
int store_msg_flags_as(struct store_user *u, int64_t mailbox_id, const char *reader,
		       uint32_t min_uid, uint32_t max_uid, bool keywords,
		       struct store_flag_list *out);
void store_flag_list_free(struct store_flag_list *l);
/* ---- durable (issue #14): when metadata commits reach the disk ----
 * docs/durability.md. Invariant 4 holds for messages always. A change of
 * flags, keywords or \Recent and an expunge are acknowledged, once the
 * syncer runs, when committed to the backend's log in the kernel (they
 * survive a crash of the process) and are made durable (power loss) at
 * most delay_ms later, all commits of a user since the last sync by one
 * sync; the files of expunged messages are removed only after that. */
struct store_sync_stats {
	uint64_t deferred;   /* metadata commits handed to the syncer */
	uint64_t syncs;      /* syncs of a user's log that covered them */
	uint64_t dir_syncs;  /* directory syncs (a log new to this process) */
	uint64_t failed;     /* syncs that failed (logged) */
	uint64_t covered;    /* syncs saved: a message commit's own sync covered them */
	/* sessx (issue #14) */
	uint64_t unlinks;    /* files of expunged messages passed on after a sync */
	/* ckpt (issue #14): WAL checkpoints run by the background thread, and
	 * by a committing connection (the WAL past 8,000 pages, or no thread) */
	uint64_t checkpoints;
	uint64_t checkpoints_inline;
	/* background writers (search index, previews) that committed early
	 * for a command waiting for the user's write lock */
	uint64_t yields;
};

/* Starts the syncer of this process (0: none, every commit durable before
 * it is acknowledged) and, whatever the delay, the backend's background
 * checkpointer (ckpt, issue #14: a growing log is copied back into the
 * database off the committing command). Call once at start-up;
 * store_shutdown() flushes and stops them. Other processes (tools,
 * `rampart deliver`) never defer. */
int store_sync_start(unsigned delay_ms);
/* Makes every deferred commit durable now and removes the files waiting
 * for it. */
void store_sync_flush(void);
void store_sync_stats(struct store_sync_stats *out);

/* ---- snap (issue #14): shared snapshots of big mailboxes' listings ----
 * store/snap.c. A process keeps the whole compact listing (struct
 * store_flag_list, keywords interned) of a mailbox that a SELECT read,
 * keyed by the user's store and the mailbox id, and stamped with the
 * mailbox's version: uidvalidity, uidnext, highestmodseq. Invariants 1,
 * 2 and 8 make a listing a function of that version, so a snapshot whose
 * stamp equals the mailbox's current one is the listing, and any other
 * is never used. Bounded in bytes; unused ones are dropped. */
struct store_mbox_version {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
};
/* The same version: the mailbox's listing has not changed between them. */
bool store_mbox_version_eq(const struct store_mbox_version *a, const struct store_mbox_version *b);
/* store_msg_flags_as, answered from the mailbox's snapshot when it is
 * current. When it is not, a request for the whole mailbox (min_uid 1,
 * max_uid UINT32_MAX) reads the listing once and keeps it, any other
 * reads the range. snapd: a stale snapshot of the same UIDVALIDITY is
 * brought up to date from what changed since (backend snap_read) and
 * kept, for any range. */
int store_msg_flags_snap(struct store_user *u, int64_t mailbox_id, const char *reader,
			 uint32_t min_uid, uint32_t max_uid, bool keywords,
			 struct store_flag_list *out);
/* Process settings (0 bytes: no snapshots, the default, as for tools):
 * at most max_bytes in all, only mailboxes of min_messages or more, a
 * snapshot unused for idle_ms dropped. Call once at start-up. */
void store_snap_setup(size_t max_bytes, uint32_t min_messages, uint64_t idle_ms);
/* Drops the snapshots unused for idle_ms (all with idle_ms 0). */
void store_snap_sweep(uint64_t idle_ms);
struct store_snap_stats {
	uint64_t hits, misses, built, dropped;
	size_t count, bytes;
	uint64_t updates;        /* snapd: snapshots brought up to date from a delta */
};
void store_snap_stats(struct store_snap_stats *out);
/* ---- idle (issue #14) ---- */
/* Closes the cached handles that no one has used for idle_ms or more (the
 * memory housekeeping of a server whose clients sit in IDLE); returns how
 * many. */
unsigned store_cache_trim(unsigned idle_ms);
/* ---- sessx (issue #14) ---- */
/* The mailbox's version (struct store_mbox_version above): a FETCH that
 * waited for output room learns whether the mailbox changed meanwhile. */
int store_mailbox_version(struct store_user *u, int64_t mailbox_id, struct store_mbox_version *out);
/* ---- fetchtx (issue #14) ---- */
/* The reads on this handle between store_read_hold() and
 * store_read_release() share one read transaction, so one snapshot,
 * instead of one each: for a short run of reads that does not wait (a
 * FETCH batch on the event loop); never held across a wait, which would
 * keep SQLite from checkpointing behind it. A write in between ends the
 * shared transaction first. Nestable; a backend may ignore it. */
void store_read_hold(struct store_user *u);
void store_read_release(struct store_user *u);

#endif
