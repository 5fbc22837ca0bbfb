/* The seam between the store front (store/store.c) and a storage backend
 * (store/sqlite/ today, PostgreSQL later). Private to src/store/.
 *
 * The front checks every rule once (names and their normalisation, INBOX,
 * keyword syntax and limits, special-use attributes, argument sanity) and
 * then calls the backend with canonical arguments only: a mailbox name is
 * already normalised ("inbox/x" -> "INBOX/x"), a keyword list is already
 * valid and free of duplicates, flags are masked to MAIL_FLAGS_STORED.
 * The backend does storage and keeps the invariants listed in store.h; the
 * rules that depend on stored state (the mailbox count, the keywords a
 * message has after +FLAGS, a renamed child's length) it checks inside its
 * write transaction, with the helpers below so each rule still has one
 * home. docs/store-backends.md says how to add a backend. */
#ifndef RAMPART_STORE_BACKEND_H
#define RAMPART_STORE_BACKEND_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_blobs;

/* What the front sees of an open user store. A backend embeds it as the
 * first member of its own handle and returns a pointer to it. */
struct store_user {
	const struct store_backend *be;
	/* The user's message files (store/blob.h); set by the backend when it
	 * opens the user, used by the front for store_blob_map(). */
	struct store_blobs *blobs;
};

/* One backend. Every member is required. Names arrive normalised; a
 * mailbox that does not exist is STORE_ENOENT. The semantics of each
 * member are those of the public function of the same name in store.h. */
/* snapd (issue #14): the answer of snap_read, all read in one
 * transaction. With since > 0, the same uidvalidity as the mailbox's,
 * since at most its highestmodseq and the expunge history complete after
 * since (floor <= since): a delta, the rows whose modseq is above since
 * (with keywords) and the UIDs expunged after since (which may name UIDs
 * expunged earlier, never one that exists). Otherwise the whole listing
 * (full), with keywords unless kw_min > 0 and the mailbox's UIDNEXT says
 * it holds fewer than kw_min messages. Free with store_snap_read_free. */
struct store_snap_read {
	struct store_mbox_version ver;  /* the mailbox's, in the same transaction */
	bool full;
	struct store_flag_list list;
	uint32_t *expunged;             /* ascending; delta only */
	size_t nexpunged;
};
void store_snap_read_free(struct store_snap_read *rd);

struct store_backend {
	const char *name;
	/* Process set-up after the front created mail_root; may be NULL. */
	int (*init)(const char *mail_root);
	void (*shutdown)(void);

	struct store_user *(*user_open)(const char *username);
	void (*user_close)(struct store_user *u);
	/* Closes unused cached handles; returns how many there were. */
	unsigned (*cache_drop)(void);
	int (*user_remove)(const char *username);

	int (*mailbox_list)(struct store_user *u, bool want_counts, struct store_mailbox **out,
			    size_t *n);
	int (*mailbox_get)(struct store_user *u, const char *name, bool want_counts,
			   struct store_mailbox *out);
	/* max_mailboxes (0: none) is checked inside the write transaction that
	 * inserts, so two concurrent CREATEs cannot both pass it. The check
	 * comes before the existence check (STORE_ELIMIT wins). special_use is
	 * canonical or NULL. */
	int (*mailbox_create)(struct store_user *u, const char *name, const char *special_use,
			      unsigned max_mailboxes);
	/* name is not INBOX. */
	int (*mailbox_delete)(struct store_user *u, const char *name);
	/* from != to, to is not INBOX, to is not inside from (unless from is
	 * INBOX, whose children stay). */
	int (*mailbox_rename)(struct store_user *u, const char *from, const char *to);
	/* Both out pointers are non-NULL. */
	int (*mailbox_take_recent)(struct store_user *u, int64_t mailbox_id,
				   uint32_t *first_recent, uint32_t *claimed_end);
	int (*subscription_list)(struct store_user *u, char ***names, size_t *n);
	int (*subscribe)(struct store_user *u, const char *name, bool subscribe);

	int (*msg_list)(struct store_user *u, int64_t mailbox_id, uint32_t min_uid, bool meta_only,
			struct store_msg **out, size_t *n);
	int (*msg_get)(struct store_user *u, int64_t mailbox_id, const uint32_t *uids, size_t nuids,
		       struct store_msg **out, size_t *n);
	int (*msg_cached)(struct store_user *u, int64_t mailbox_id, uint32_t uid, char **envelope,
			  char **bodystructure, char **body);
	/* since <= INT64_MAX. aclseen: with a reader (not NULL), as
	 * store_changes_as, the reader's rows read in the same transaction as
	 * the messages (a sync must not skip a change committed between). */
	int (*changes)(struct store_user *u, const char *reader, int64_t mailbox_id,
		       uint64_t since, struct store_msg **changed, size_t *nchanged,
		       uint32_t **expunged, size_t *nexpunged);
	/* n >= 1; every msgs[i].keywords is a checked, duplicate-free list or
	 * NULL, flags are masked, internaldate_tz is in range, uid is 0.
	 * claim: NULL, or as store_append_claim() with made false. */
	int (*append)(struct store_user *u, const char *mailbox, struct store_append *msgs,
		      size_t n, uint32_t *uidvalidity, struct store_recent_claim *claim);
	/* mode is valid, flags masked, keywords checked and duplicate-free;
	 * every out pointer is non-NULL and cleared. aclseen: with a reader
	 * (not NULL), \Seen is that reader's private one (store_flags_as). */
	int (*flags)(struct store_user *u, const char *reader, int64_t mailbox_id,
		     const uint32_t *uids, size_t nuids, enum store_flag_mode mode, uint32_t flags,
		     const char *keywords, uint64_t unchangedsince, struct store_msg **changed,
		     size_t *nchanged, uint32_t **failed, size_t *nfailed);
	/* Every out pointer is non-NULL and cleared. */
	int (*copy)(struct store_user *u, int64_t mailbox_id, const uint32_t *uids, size_t nuids,
		    const char *to, bool move, uint32_t *uidvalidity, uint32_t **src_uids,
		    uint32_t **dst_uids, size_t *ncopied);
	int (*expunge)(struct store_user *u, int64_t mailbox_id, const uint32_t *uids,
		       size_t nuids);
	/* condstore: the modseq up to which the expunge history was pruned
	 * (0: complete); see store_expunged_floor(). */
	int (*expunged_floor)(struct store_user *u, int64_t mailbox_id, uint64_t *floor);
	/* Quota (invariant 13; quota part). append, copy and mailbox_create
	 * check store_quota_exceeded() in their write transaction, with the
	 * user's limits made effective by store_quota_effective(). Every out
	 * pointer is non-NULL. */
	int (*quota_get)(struct store_user *u, struct store_quota_usage *usage,
			 struct store_quota_limits *own);
	int (*quota_set)(struct store_user *u, const struct store_quota_limits *own);
	int (*quota_recount)(struct store_user *u, struct store_quota_usage *stored,
			     struct store_quota_usage *counted);

	/* The change feed (invariant 7 of store.h): after every commit, the
	 * callback fires for that user in every process that watches it. */
	int (*watch_start)(store_change_cb cb, void *arg);
	void (*watch_stop)(void);
	int (*watch_user)(const char *username);
	void (*unwatch_user)(const char *username);

	/* correct: every keyword list in use in the mailbox, space-joined
	 * (duplicates allowed: the front reduces them), NULL when none. */
	int (*mailbox_keywords)(struct store_user *u, int64_t mailbox_id, char **out);
	/* Search index (searchidx): as store_search_* in store.h. */
	int (*search_docs)(struct store_user *u, int64_t mailbox_id, uint32_t min_uid,
			   unsigned fields, struct store_search_row **out, size_t *n);
	int (*search_text)(struct store_user *u, int64_t mailbox_id, const char *folded,
			   bool body_only, uint32_t **uids, size_t *n);
	int (*search_pending)(struct store_user *u, int64_t *mailbox_id, uint32_t *uid,
			      size_t max, char (**blobs)[65], size_t *n);
	int (*search_put)(struct store_user *u, char (*blobs)[65], const struct search_doc *docs,
			  size_t n);
	int (*search_gc)(struct store_user *u, bool *more);
	void (*read_hold)(struct store_user *u);
	void (*read_release)(struct store_user *u);
	int (*search_field)(struct store_user *u, int64_t mailbox_id, uint32_t min_uid, int field,
			    store_search_match_fn match, void *ctx, uint32_t **uids, size_t *n);
	int (*search_coverage)(struct store_user *u, int64_t mailbox_id, uint32_t min_uid,
			       uint32_t **unindexed, size_t *nu, uint32_t **partial, size_t *np);
	/* acl (issue #12, RFC 4314): a mailbox's ACL lives in its owner's
	 * store. mailbox is normalised (NULL in acl_list: every mailbox's
	 * entries, in name order); ident is valid; rights is the canonical
	 * text of store_acl_rights_format(), "" removes the entry. */
	int (*acl_list)(struct store_user *u, const char *mailbox, struct store_acl_entry **out,
			size_t *n);
	int (*acl_set)(struct store_user *u, const char *mailbox, const char *ident,
		       const char *rights);
	/* The server-wide registry of (owner, grantee) pairs: the front keeps
	 * it a superset of the truth (store/acl.c). */
	int (*acl_registry_add)(const char *owner, const char *grantee);
	int (*acl_registry_remove)(const char *owner, const char *grantee);
	int (*acl_registry_owners)(const char *user, char ***owners, size_t *n);
	/* metadata (issue #12, RFC 5464): as store_meta_get/store_meta_set,
	 * names checked, mailbox normalised or NULL (the server), values
	 * within lim->value_max; the backend keeps the other limits. meta_get
	 * may give an entry once per name that covers it (the front sorts
	 * and drops the repeats). */
	int (*meta_get)(struct store_user *u, const char *mailbox, char *const *names, size_t n,
			int depth, struct store_meta_entry **out, size_t *nout);
	int (*meta_set)(struct store_user *u, const char *mailbox, const struct store_meta_entry *e,
			size_t n, const struct store_meta_limits *lim, enum store_meta_limit *hit);
	/* preview (RFC 8970): as store_msg_preview / store_preview_* in
	 * store.h; arguments checked by the front. */
	int (*msg_preview)(struct store_user *u, int64_t mailbox_id, uint32_t uid, char **preview);
	int (*preview_pending)(struct store_user *u, int64_t *mailbox_id, uint32_t *uid,
			       size_t max, char (**blobs)[65], size_t *n);
	int (*preview_put)(struct store_user *u, char (*blobs)[65], char *const *previews,
			   size_t n);
	/* preview: REPLACE (RFC 8508) as store_replace(); `to` normalised,
	 * msg checked as for append. */
	int (*replace)(struct store_user *u, int64_t mailbox_id, uint32_t uid, const char *to,
		       struct store_append *msg, uint32_t *uidvalidity);
	/* aclseen (issue #12): a reader's private \Seen rows of a mailbox,
	 * ascending UID (both out pointers non-NULL), and how many of them
	 * say seen. Rows go with their message (expunge, MOVE, DELETE). */
	int (*pvtseen_rows)(struct store_user *u, int64_t mailbox_id, const char *reader,
			    struct store_pvtseen **out, size_t *n);
	int (*pvtseen_count)(struct store_user *u, int64_t mailbox_id, const char *reader,
			     uint32_t *seen);
	/* check (issue #13): as store_check_user(); o->report is set, the
	 * username valid. */
	int (*check)(const char *username, const struct store_check_opts *o,
		     struct store_check_summary *sum);
	/* migrate (issue #13): as store_import_* in store.h; names
	 * normalised, uidvalidity and uidnext non-zero, msgs checked as for
	 * append and their want_uid strictly ascending where non-zero (the
	 * backend compares them with UIDNEXT inside its transaction). */
	int (*import_mailbox)(struct store_user *u, const char *name, const char *special_use,
			      uint32_t uidvalidity);
	int (*import_append)(struct store_user *u, const char *mailbox, struct store_append *msgs,
			     size_t n, uint32_t *uidvalidity);
	int (*import_uidnext)(struct store_user *u, const char *mailbox, uint32_t uidnext);
	/* bigsel (issue #14): store_msg_flags_as without the reader; every
	 * out array allocated (also when empty), kws[0] NULL. */
	int (*msg_flags)(struct store_user *u, int64_t mailbox_id, uint32_t min_uid,
			 uint32_t max_uid, bool keywords, struct store_flag_list *out);
	/* durable (issue #14): the metadata syncer, store_sync_*() in store.h;
	 * shutdown() flushes and stops it. All three may be NULL: a backend
	 * whose every commit is durable before it returns. */
	int (*sync_start)(unsigned delay_ms);
	void (*sync_flush)(void);
	void (*sync_stats)(struct store_sync_stats *out);
	/* snap (issue #14): what a mailbox's listing is valid for, read in
	 * one statement: uidvalidity, uidnext and highestmodseq. Every write
	 * to a mailbox's messages raises uidnext or highestmodseq in its
	 * transaction (invariant 1), so equal versions mean equal listings. */
	int (*mailbox_version)(struct store_user *u, int64_t mailbox_id,
			       struct store_mbox_version *out);
	/* idle (issue #14): closes unused cached handles idle for idle_ms or
	 * more; returns how many. May be NULL (nothing cached). */
	unsigned (*cache_trim)(unsigned idle_ms);
	/* snapd (issue #14): what brings a snapshot up to date (struct
	 * store_snap_read), read in one transaction. May be NULL (the front
	 * reads whole listings with msg_flags). */
	int (*snap_read)(struct store_user *u, int64_t mailbox_id, uint32_t uidvalidity,
			 uint64_t since, uint32_t kw_min, struct store_snap_read *out);
	/* inline (issue #14): the bytes of blob hex when the backend keeps
	 * them itself (a small message written inside its APPEND transaction,
	 * store_inline_fits()) rather than as a file of u->blobs: a copy for
	 * store_blob_unmap(), or STORE_ENOENT (then the front reads the file).
	 * May be NULL (every message is a file). */
	int (*blob_get)(struct store_user *u, const char *hex, const char **data, size_t *len);
};

/* snap (issue #14): a reader's private \Seen laid over a listing
 * (flaglist.c), the rule of store_pvtseen_overlay; nothing when reader
 * is NULL or the list empty. */
int store_flag_list_reader(struct store_user *u, int64_t mailbox_id, const char *reader,
			   struct store_flag_list *l);

/* The registered backends (store.c lists them). */
extern const struct store_backend store_sqlite_backend;

/* ---- helpers the front offers every backend ---- */

/* How many days of expunge history a backend keeps (0: forever); set
 * by store_set_expunged_history_days(). */
unsigned store_expunged_history_days(void);
/* inline (issue #14): true when a backend with blob_get should keep a
 * message of len bytes itself, inside the transaction that adds it
 * (store_inline_set()); such a message gets no file. */
bool store_inline_fits(size_t len);
/* The mail_root given to store_init(); NULL before. */
const char *store_mail_root(void);
/* The backend store_init() chose (acl: calls without a handle). */
const struct store_backend *store_backend_current(void);
/* Closes the current backend's unused handles; returns how many. */
unsigned store_cache_drop_count(void);
/* After a failed open(): true when err says the process is out of
 * descriptors, having closed the backend's unused handles, so one more try
 * can succeed. */
bool store_fds_relieve(int err);
/* fsync()s a directory so a rename or create inside it is durable. */
int store_fsync_dir(const char *path);
/* mkdir(path) if missing, fsync'ing the parent when it was created. */
int store_mkdir_durable(const char *path);
/* mkdir -p, each created level made durable. */
int store_mkdirs(const char *path);

/* The canonical spelling of a special-use attribute (RFC 6154 2) in *out,
 * NULL for none; STORE_EINVAL for an unknown one. */
int store_special_use_canon(const char *in, const char **out);
/* ext (issue #12): the special-use a mailbox named `norm` (normalised)
 * gets when created without one; NULL when the name is no default's. */
const char *store_special_use_default(const char *norm);
/* The i-th mailbox a new store gets besides INBOX (0..): false past the
 * last. */
bool store_special_default_at(size_t i, const char **name, const char **use);

/* aclseen: lays a reader's rows (ascending UID) over msgs[0..n): \Seen
 * from the row (no row: not seen), modseq the greater (store/pvtseen.c). */
void store_pvtseen_overlay(struct store_msg *msgs, size_t n, const struct store_pvtseen *rows,
			   size_t nrows);

/* A keyword set (RFC 9051 2.3.2): the words point into buf. */
struct store_kwset {
	char *buf;
	const char **kw;
	size_t n;
};

/* Parses a space-separated keyword list, dropping later case-insensitive
 * duplicates (the first spelling wins). strict applies the keyword rules
 * of store.h (input from clients); stored lists are trusted. */
int store_kwset_parse(const char *in, bool strict, struct store_kwset *s);
void store_kwset_free(struct store_kwset *s);
/* The set after applying mode with arg to cur, as a space-separated string
 * (NULL when empty; caller frees). Existing words keep their position and
 * spelling, so "no real change" compares equal. STORE_ELIMIT (with *out
 * still set) when the result has more than STORE_KEYWORDS_MAX words. */
int store_kwset_apply(const struct store_kwset *cur, const struct store_kwset *arg,
		      enum store_flag_mode mode, char **out);

#endif
