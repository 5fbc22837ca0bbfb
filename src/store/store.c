/* The store front: the one place every public store.h call passes
 * through. It owns process set-up (mail_root, the user directories, which
 * backend runs), checks each rule once (rules.c: names and INBOX, keyword
 * syntax and limits, special-use; here: INBOX's special cases and argument
 * sanity) and then calls the backend through its table (backend.h) with
 * canonical arguments only. It holds no storage state of its own, so
 * adding a backend means writing storage code, not copying rules.
 *
 * What stays in the backend is what depends on stored state and must be
 * decided under its write lock: whether a mailbox exists, the mailbox
 * count, the keywords a message ends up with. */
#include "store/backend.h"
#include "store/blob.h"
#include "store/blob_cache.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const struct store_backend *const backends[] = {
	&store_sqlite_backend,
};

/* Set by store_init*() before any thread uses the store; the default lets
 * store_watch_stop() and store_cache_drop() run even after a failed init. */
static const struct store_backend *g_be = &store_sqlite_backend;

/* acl (issue #12): the registry calls of store/acl.c have no handle. */
const struct store_backend *store_backend_current(void)
{
	return g_be;
}
static char *g_mail_root;

/* ---- set-up ---- */

const char *store_backend_name(size_t i)
{
	return i < ARRAY_SIZE(backends) ? backends[i]->name : NULL;
}

int store_init_backend(const char *backend, const char *mail_root)
{
	const struct store_backend *be = NULL;
	for (size_t i = 0; backend && i < ARRAY_SIZE(backends); i++)
		if (strcmp(backends[i]->name, backend) == 0)
			be = backends[i];
	if (!be || !mail_root || !*mail_root || strlen(mail_root) > 4000)
		return STORE_EINVAL;
	char *root = xstrdup(mail_root);
	size_t len = strlen(root);
	while (len > 1 && root[len - 1] == '/')
		root[--len] = '\0';
	if (store_mkdirs(root) < 0) {
		log_err("event=store_init_error path=\"%s\" errno=%d", root, errno);
		free(root);
		return STORE_EIO;
	}
	free(g_mail_root);
	g_mail_root = root;
	g_be = be;
	return be->init ? be->init(root) : STORE_OK;
}

int store_init(const char *mail_root)
{
	return store_init_backend(store_sqlite_backend.name, mail_root);
}

void store_shutdown(void)
{
	g_be->shutdown();
	store_snap_sweep(0); /* snap: every snapshot */
	free(g_mail_root);
	g_mail_root = NULL;
}

const char *store_mail_root(void)
{
	return g_mail_root;
}

/* A path component of a user directory: non-empty, not hidden, so "."
 * and ".." (and anything a shell would hide) never name a directory. */
static bool user_component_ok(const char *s, size_t len)
{
	return len > 0 && s[0] != '.';
}

/* The two components of username's directory, mail_root/domain/local;
 * false for a name that may not be a user. No allocation: every command's
 * store_user_open() checks its name here. */
static bool user_dir_parts(const char *username, const char **local, size_t *local_len,
			   const char **domain, size_t *domain_len)
{
	if (!g_mail_root || !username)
		return false;
	size_t len = strnlen(username, STORE_USERNAME_MAX + 1);
	if (len == 0 || len > STORE_USERNAME_MAX)
		return false;
	const char *at = NULL;
	for (size_t i = 0; i < len; i++) {
		char c = username[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '_' || c == '+' || c == '-' || c == '@';
		if (!ok)
			return false;
		if (c == '@') {
			if (at)
				return false;
			at = username + i;
		}
	}
	if (strstr(username, ".."))
		return false;
	*local = username;
	*local_len = at ? (size_t)(at - username) : len;
	*domain = at ? at + 1 : "local";
	*domain_len = strlen(*domain);
	if (!user_component_ok(*local, *local_len) || !user_component_ok(*domain, *domain_len))
		return false;
	/* "bob@local" would share the directory of "bob": keep the mapping
	 * one-to-one. */
	return !(at && strcmp(*domain, "local") == 0);
}

char *store_user_dir(const char *username)
{
	const char *local, *domain;
	size_t local_len, domain_len;
	if (!user_dir_parts(username, &local, &local_len, &domain, &domain_len))
		return NULL;
	return xasprintf("%s/%.*s/%.*s", g_mail_root, (int)domain_len, domain, (int)local_len,
			 local);
}

char *store_user_spool_dir(const char *username)
{
	char *dir = store_user_dir(username);
	if (!dir)
		return NULL;
	char *spool = xasprintf("%s/" STORE_BLOB_TMP_DIR, dir);
	free(dir);
	return spool;
}

/* ---- users ---- */

/* A username store_user_dir() accepts: every backend keeps its files (at
 * least the blobs) in that directory. */
static bool username_ok(const char *username)
{
	const char *local, *domain;
	size_t local_len, domain_len;
	return user_dir_parts(username, &local, &local_len, &domain, &domain_len);
}

struct store_user *store_user_open(const char *username)
{
	if (!username_ok(username)) {
		log_warn("event=store_open_error reason=bad_username");
		return NULL;
	}
	return g_be->user_open(username);
}

void store_user_close(struct store_user *u)
{
	if (u)
		u->be->user_close(u);
}

unsigned store_cache_drop_count(void)
{
	return g_be->cache_drop();
}

void store_cache_drop(void)
{
	g_be->cache_drop();
}

int store_user_remove(const char *username)
{
	if (!username_ok(username))
		return STORE_EINVAL;
	return g_be->user_remove(username);
}

/* ---- mailboxes ---- */

void store_mailbox_clear(struct store_mailbox *mb)
{
	if (!mb)
		return;
	free(mb->name);
	free(mb->special_use);
	memset(mb, 0, sizeof(*mb));
}

void store_mailbox_array_free(struct store_mailbox *mbs, size_t n)
{
	if (!mbs)
		return;
	for (size_t i = 0; i < n; i++)
		store_mailbox_clear(&mbs[i]);
	free(mbs);
}

int store_mailbox_list(struct store_user *u, bool want_counts, struct store_mailbox **out,
		       size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!u)
		return STORE_EINVAL;
	return u->be->mailbox_list(u, want_counts, out, n);
}

int store_subscription_list(struct store_user *u, char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	if (!u)
		return STORE_EINVAL;
	return u->be->subscription_list(u, names, n);
}

int store_subscribe(struct store_user *u, const char *name, bool subscribe)
{
	if (!u)
		return STORE_EINVAL;
	char *norm;
	int r = store_mailbox_name_normalize(name, &norm);
	if (r != STORE_OK)
		return r;
	r = u->be->subscribe(u, norm, subscribe);
	free(norm);
	return r;
}

static int mailbox_lookup(struct store_user *u, const char *name, bool counts,
			  struct store_mailbox *out)
{
	memset(out, 0, sizeof(*out));
	if (!u)
		return STORE_EINVAL;
	char *norm;
	if (store_mailbox_name_normalize(name, &norm) != STORE_OK)
		return STORE_ENOENT;  /* an invalid name cannot exist */
	int r = u->be->mailbox_get(u, norm, counts, out);
	free(norm);
	return r;
}

int store_mailbox_status(struct store_user *u, const char *name, struct store_mailbox *out)
{
	return mailbox_lookup(u, name, true, out);
}

int store_mailbox_get(struct store_user *u, const char *name, struct store_mailbox *out)
{
	return mailbox_lookup(u, name, false, out);
}

/* The name (normalised, caller frees) and special-use attribute of a
 * mailbox about to be made: a default mailbox deleted and created again
 * gets its use back. */
static int mailbox_new_args(const char *name, const char *special_use, char **norm,
			    const char **su)
{
	if (store_special_use_canon(special_use, su) != STORE_OK)
		return STORE_EINVAL;
	int r = store_mailbox_name_normalize(name, norm);
	if (r != STORE_OK)
		return r;
	if (!*su)
		*su = store_special_use_default(*norm);
	return STORE_OK;
}

int store_mailbox_create_bounded(struct store_user *u, const char *name, const char *special_use,
				 unsigned max_mailboxes)
{
	if (!u)
		return STORE_EINVAL;
	const char *su;
	char *norm;
	int r = mailbox_new_args(name, special_use, &norm, &su);
	if (r != STORE_OK)
		return r;
	r = u->be->mailbox_create(u, norm, su, max_mailboxes);
	free(norm);
	return r;
}

int store_mailbox_create(struct store_user *u, const char *name, const char *special_use)
{
	return store_mailbox_create_bounded(u, name, special_use, 0);
}

int store_mailbox_delete(struct store_user *u, const char *name)
{
	if (!u)
		return STORE_EINVAL;
	char *norm;
	if (store_mailbox_name_normalize(name, &norm) != STORE_OK)
		return STORE_ENOENT;  /* an invalid name cannot exist */
	/* Invariant 9: INBOX always exists. */
	int r = strcmp(norm, "INBOX") == 0 ? STORE_ECANNOT : u->be->mailbox_delete(u, norm);
	free(norm);
	return r;
}

int store_mailbox_rename(struct store_user *u, const char *from, const char *to)
{
	if (!u)
		return STORE_EINVAL;
	char *nfrom = NULL, *nto = NULL;
	int r = store_mailbox_name_normalize(from, &nfrom);
	if (r != STORE_OK) {
		r = STORE_ENOENT;  /* an invalid name cannot exist */
		goto out;
	}
	if ((r = store_mailbox_name_normalize(to, &nto)) != STORE_OK)
		goto out;
	if (strcmp(nto, "INBOX") == 0 || strcmp(nfrom, nto) == 0) {
		r = STORE_EEXIST;
		goto out;
	}
	/* A mailbox cannot become its own child (INBOX's children are not
	 * renamed along with it, so INBOX may: RFC 9051 6.3.6). */
	size_t flen = strlen(nfrom);
	if (strcmp(nfrom, "INBOX") != 0 && strncmp(nto, nfrom, flen) == 0 && nto[flen] == '/') {
		r = STORE_ECANNOT;
		goto out;
	}
	r = u->be->mailbox_rename(u, nfrom, nto);
out:
	free(nfrom);
	free(nto);
	return r;
}

int store_mailbox_take_recent(struct store_user *u, int64_t mailbox_id, uint32_t *first_recent,
			      uint32_t *claimed_end)
{
	if (!u || !first_recent)
		return STORE_EINVAL;
	uint32_t end;
	return u->be->mailbox_take_recent(u, mailbox_id, first_recent,
					  claimed_end ? claimed_end : &end);
}

int store_mailbox_keywords(struct store_user *u, int64_t mailbox_id, char **keywords)
{
	if (!u || !keywords)
		return STORE_EINVAL;
	*keywords = NULL;
	char *all = NULL;
	int r = u->be->mailbox_keywords(u, mailbox_id, &all);
	if (r != STORE_OK || !all)
		return r;
	struct store_kwset set;
	r = store_kwset_parse(all, false, &set);
	if (r == STORE_OK && set.n) {
		struct strbuf b = STRBUF_INIT;
		for (size_t i = 0; i < set.n; i++) {
			if (i)
				strbuf_addc(&b, ' ');
			strbuf_adds(&b, set.kw[i]);
		}
		*keywords = strbuf_detach(&b, NULL);
		strbuf_free(&b);
	}
	store_kwset_free(&set);
	free(all);
	return r;
}

/* ---- messages ---- */

void store_msg_array_free(struct store_msg *msgs, size_t n)
{
	if (!msgs)
		return;
	for (size_t i = 0; i < n; i++)
		free(msgs[i].keywords);
	free(msgs);
}

int store_msg_list(struct store_user *u, int64_t mailbox_id, uint32_t min_uid, bool meta_only,
		   struct store_msg **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!u)
		return STORE_EINVAL;
	return u->be->msg_list(u, mailbox_id, min_uid, meta_only, out, n);
}

int store_msg_get(struct store_user *u, int64_t mailbox_id, const uint32_t *uids, size_t nuids,
		  struct store_msg **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!u || (nuids > 0 && !uids))
		return STORE_EINVAL;
	return u->be->msg_get(u, mailbox_id, uids, nuids, out, n);
}

int store_msg_cached(struct store_user *u, int64_t mailbox_id, uint32_t uid, char **envelope,
		     char **bodystructure, char **body)
{
	char **outs[3] = { envelope, bodystructure, body };
	for (size_t i = 0; i < 3; i++)
		if (outs[i])
			*outs[i] = NULL;
	if (!u)
		return STORE_EINVAL;
	return u->be->msg_cached(u, mailbox_id, uid, envelope, bodystructure, body);
}

int store_changes(struct store_user *u, int64_t mailbox_id, uint64_t since,
		  struct store_msg **changed, size_t *nchanged, uint32_t **expunged,
		  size_t *nexpunged)
{
	return store_changes_as(u, mailbox_id, NULL, since, changed, nchanged, expunged,
				nexpunged);
}

static unsigned g_expunged_history_days = 180;

void store_set_expunged_history_days(unsigned days)
{
	g_expunged_history_days = days;
}

unsigned store_expunged_history_days(void)
{
	return g_expunged_history_days;
}

int store_expunged_floor(struct store_user *u, int64_t mailbox_id, uint64_t *floor)
{
	*floor = 0;
	if (!u)
		return STORE_EINVAL;
	return u->be->expunged_floor(u, mailbox_id, floor);
}

/* A keyword list checked and reduced to distinct words (first spelling
 * wins) in *out (NULL when empty; caller frees). */
static int keywords_canon(const char *in, char **out)
{
	*out = NULL;
	struct store_kwset arg, none = { 0 };
	int r = store_kwset_parse(in, true, &arg);
	if (r == STORE_OK)
		r = store_kwset_apply(&none, &arg, STORE_FLAGS_SET, out);
	store_kwset_free(&arg);
	return r;
}

/* store_append(), and with replace_mb > 0 store_replace(): every rule
 * checked before the backend writes anything. */
static int append_checked(struct store_user *u, const char *mailbox, struct store_append *msgs,
			  size_t n, uint32_t *uidvalidity, int64_t replace_mb, uint32_t replace_uid,
			  bool import, struct store_recent_claim *claim)
{
	if (!u || !mailbox || !msgs || n == 0 || n > UINT32_MAX)
		return STORE_EINVAL;
	for (size_t i = 0; i < n; i++)
		msgs[i].uid = 0;
	char *name = NULL;
	if (store_mailbox_name_normalize(mailbox, &name) != STORE_OK)
		return STORE_ENOENT;  /* an invalid name cannot exist */
	/* The backend gets a copy with canonical flags and keywords, so
	 * everything that can be refused is refused before any write. */
	struct store_append *c = xcalloc(n, sizeof(*c));
	char **kws = xcalloc(n, sizeof(*kws));
	int r = STORE_OK;
	for (size_t i = 0; i < n && r == STORE_OK; i++) {
		bool bytes_ok = msgs[i].in_file ? msgs[i].fd >= 0 && !msgs[i].data &&
							  msgs[i].off <= UINT64_MAX - msgs[i].len
						: msgs[i].data || msgs[i].len == 0;
		if (!bytes_ok || msgs[i].internaldate_tz < -1440 || msgs[i].internaldate_tz > 1440) {
			r = STORE_EINVAL;
			break;
		}
		c[i] = msgs[i];
		c[i].flags &= MAIL_FLAGS_STORED;
		if (!import) /* migrate: only the import path picks UIDs */
			c[i].want_uid = 0;
		else if (i > 0 && c[i].want_uid && c[i].want_uid <= c[i - 1].want_uid)
			r = STORE_EINVAL;
		if (r != STORE_OK)
			break;
		r = keywords_canon(msgs[i].keywords, &kws[i]);
		c[i].keywords = kws[i];
	}
	if (r == STORE_OK && import)
		r = u->be->import_append(u, name, c, n, uidvalidity);
	else if (r == STORE_OK && replace_mb > 0)
		r = u->be->replace(u, replace_mb, replace_uid, name, c, uidvalidity);
	else if (r == STORE_OK)
		r = u->be->append(u, name, c, n, uidvalidity, claim);
	for (size_t i = 0; i < n; i++) {
		msgs[i].uid = r == STORE_OK ? c[i].uid : 0;
		free(kws[i]);
	}
	free(kws);
	free(c);
	free(name);
	return r;
}

int store_append(struct store_user *u, const char *mailbox, struct store_append *msgs, size_t n,
		 uint32_t *uidvalidity)
{
	return append_checked(u, mailbox, msgs, n, uidvalidity, 0, 0, false, NULL);
}

int store_append_claim(struct store_user *u, const char *mailbox, struct store_append *msgs,
		       size_t n, uint32_t *uidvalidity, struct store_recent_claim *claim)
{
	if (!claim || claim->mailbox_id <= 0)
		return STORE_EINVAL;
	claim->made = false;
	claim->from = claim->end = 0;
	return append_checked(u, mailbox, msgs, n, uidvalidity, 0, 0, false, claim);
}

int store_replace(struct store_user *u, int64_t mailbox_id, uint32_t uid, const char *to,
		  struct store_append *msg, uint32_t *uidvalidity)
{
	if (mailbox_id <= 0 || uid == 0)
		return STORE_EINVAL;
	return append_checked(u, to, msg, 1, uidvalidity, mailbox_id, uid, false, NULL);
}

int store_flags(struct store_user *u, int64_t mailbox_id, const uint32_t *uids, size_t nuids,
		enum store_flag_mode mode, uint32_t flags, const char *keywords,
		uint64_t unchangedsince, struct store_msg **changed, size_t *nchanged,
		uint32_t **failed, size_t *nfailed)
{
	return store_flags_as(u, NULL, mailbox_id, uids, nuids, mode, flags, keywords,
			      unchangedsince, changed, nchanged, failed, nfailed);
}

int store_flags_as(struct store_user *u, const char *reader, int64_t mailbox_id,
		   const uint32_t *uids, size_t nuids, enum store_flag_mode mode, uint32_t flags,
		   const char *keywords, uint64_t unchangedsince, struct store_msg **changed,
		   size_t *nchanged, uint32_t **failed, size_t *nfailed)
{
	struct store_msg *ch = NULL;
	uint32_t *fl = NULL;
	size_t nch = 0, nfl = 0;
	if (changed)
		*changed = NULL;
	if (nchanged)
		*nchanged = 0;
	if (failed)
		*failed = NULL;
	if (nfailed)
		*nfailed = 0;
	if (!u || (nuids > 0 && !uids))
		return STORE_EINVAL;
	if (mode != STORE_FLAGS_SET && mode != STORE_FLAGS_ADD && mode != STORE_FLAGS_REMOVE)
		return STORE_EINVAL;
	char *kw;
	int r = keywords_canon(keywords, &kw);
	if (r != STORE_OK)
		return r;
	r = u->be->flags(u, reader, mailbox_id, uids, nuids, mode, flags & MAIL_FLAGS_STORED, kw,
			 unchangedsince, &ch, &nch, &fl, &nfl);
	free(kw);
	if (r == STORE_OK && changed && nchanged) {
		*changed = ch;
		*nchanged = nch;
		ch = NULL;
		nch = 0;
	}
	if (r == STORE_OK && failed && nfailed) {
		*failed = fl;
		*nfailed = nfl;
		fl = NULL;
	}
	store_msg_array_free(ch, nch);
	free(fl);
	return r;
}

int store_copy(struct store_user *u, int64_t mailbox_id, const uint32_t *uids, size_t nuids,
	       const char *to, bool move, uint32_t *uidvalidity, uint32_t **src_uids,
	       uint32_t **dst_uids, size_t *ncopied)
{
	uint32_t *su = NULL, *du = NULL, uv = 0;
	size_t n = 0;
	if (src_uids)
		*src_uids = NULL;
	if (dst_uids)
		*dst_uids = NULL;
	if (ncopied)
		*ncopied = 0;
	if (!u || (nuids > 0 && !uids))
		return STORE_EINVAL;
	char *name;
	if (store_mailbox_name_normalize(to, &name) != STORE_OK)
		return STORE_ENOENT;  /* an invalid name cannot exist */
	int r = u->be->copy(u, mailbox_id, uids, nuids, name, move, &uv, &su, &du, &n);
	free(name);
	if (r == STORE_OK) {
		if (uidvalidity)
			*uidvalidity = uv;
		if (ncopied)
			*ncopied = n;
		if (src_uids) {
			*src_uids = su;
			su = NULL;
		}
		if (dst_uids) {
			*dst_uids = du;
			du = NULL;
		}
	}
	free(su);
	free(du);
	return r;
}

int store_expunge(struct store_user *u, int64_t mailbox_id, const uint32_t *uids, size_t nuids)
{
	if (!u || (nuids > 0 && !uids))
		return STORE_EINVAL;
	return u->be->expunge(u, mailbox_id, uids, nuids);
}

/* ---- search index (searchidx) ---- */

void store_search_rows_free(struct store_search_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		search_doc_clear(&rows[i].doc);
	free(rows);
}

int store_search_docs(struct store_user *u, int64_t mailbox_id, uint32_t min_uid, unsigned fields,
		      struct store_search_row **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!u || (fields >> SEARCH_DOC_NFIELDS) != 0)
		return STORE_EINVAL;
	return u->be->search_docs(u, mailbox_id, min_uid, fields, out, n);
}

int store_search_text(struct store_user *u, int64_t mailbox_id, const char *folded,
		      bool body_only, uint32_t **uids, size_t *n)
{
	*uids = NULL;
	*n = 0;
	if (!u || !folded || !*folded)
		return STORE_EINVAL;
	return u->be->search_text(u, mailbox_id, folded, body_only, uids, n);
}

int store_search_field(struct store_user *u, int64_t mailbox_id, uint32_t min_uid, int field,
		       store_search_match_fn match, void *ctx, uint32_t **uids, size_t *n)
{
	*uids = NULL;
	*n = 0;
	if (!u || !match || field < 0 || field >= SEARCH_DOC_NFIELDS)
		return STORE_EINVAL;
	return u->be->search_field(u, mailbox_id, min_uid, field, match, ctx, uids, n);
}

int store_search_coverage(struct store_user *u, int64_t mailbox_id, uint32_t min_uid,
			  uint32_t **unindexed, size_t *nu, uint32_t **partial, size_t *np)
{
	*unindexed = *partial = NULL;
	*nu = *np = 0;
	if (!u)
		return STORE_EINVAL;
	return u->be->search_coverage(u, mailbox_id, min_uid, unindexed, nu, partial, np);
}

int store_search_pending(struct store_user *u, int64_t *mailbox_id, uint32_t *uid, size_t max,
			 char (**blobs)[65], size_t *n)
{
	*blobs = NULL;
	*n = 0;
	if (!u || max == 0)
		return STORE_EINVAL;
	return u->be->search_pending(u, mailbox_id, uid, max, blobs, n);
}

int store_search_put(struct store_user *u, char (*blobs)[65], const struct search_doc *docs,
		     size_t n)
{
	if (!u || (n > 0 && (!blobs || !docs)))
		return STORE_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!store_blob_name_valid(blobs[i]))
			return STORE_EINVAL;
	if (n == 0)
		return STORE_OK;
	return u->be->search_put(u, blobs, docs, n);
}

int store_search_gc(struct store_user *u, bool *more)
{
	*more = false;
	if (!u)
		return STORE_EINVAL;
	return u->be->search_gc(u, more);
}

/* ---- preview (RFC 8970) ---- */

int store_msg_preview(struct store_user *u, int64_t mailbox_id, uint32_t uid, char **preview)
{
	*preview = NULL;
	if (!u)
		return STORE_EINVAL;
	return u->be->msg_preview(u, mailbox_id, uid, preview);
}

int store_preview_pending(struct store_user *u, int64_t *mailbox_id, uint32_t *uid, size_t max,
			  char (**blobs)[65], size_t *n)
{
	*blobs = NULL;
	*n = 0;
	if (!u || max == 0)
		return STORE_EINVAL;
	return u->be->preview_pending(u, mailbox_id, uid, max, blobs, n);
}

int store_preview_put(struct store_user *u, char (*blobs)[65], char *const *previews, size_t n)
{
	if (!u || (n > 0 && (!blobs || !previews)))
		return STORE_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!store_blob_name_valid(blobs[i]) || !previews[i])
			return STORE_EINVAL;
	if (n == 0)
		return STORE_OK;
	return u->be->preview_put(u, blobs, previews, n);
}

/* How a front reader uses the message cache (msgcache). */
enum blob_read_how { BLOB_KEEP, BLOB_ONCE, BLOB_CACHED };

/* The front of the ways to read a message's bytes: nothing out and the
 * user's blob handle checked; then the message cache (asked once: a read
 * is one hit or one miss), the backend's own copy of a small message
 * (inline), the file (store/blob.c). BLOB_KEEP remembers what it read. */
static int blob_read(struct store_user *u, const char *blob, const char **data, size_t *len,
		     enum blob_read_how how)
{
	*data = NULL;
	*len = 0;
	if (!u || !u->blobs)
		return STORE_EINVAL;
	int r = store_blobs_cached(u->blobs, blob, data, len);
	if (r != STORE_ENOENT || how == BLOB_CACHED)
		return r;
	r = u->be->blob_get ? u->be->blob_get(u, blob, data, len) : STORE_ENOENT;
	if (r == STORE_ENOENT)
		r = store_blobs_map_file(u->blobs, blob, data, len);
	if (r == STORE_OK && how == BLOB_KEEP)
		store_blobs_remember(u->blobs, blob, *data, *len);
	return r;
}

int store_blob_map(struct store_user *u, const char *blob, const char **data, size_t *len)
{
	return blob_read(u, blob, data, len, BLOB_KEEP);
}

/* msgcache (issue #14) */
int store_blob_cached(struct store_user *u, const char *blob, const char **data, size_t *len)
{
	return blob_read(u, blob, data, len, BLOB_CACHED);
}

int store_blob_map_once(struct store_user *u, const char *blob, const char **data, size_t *len)
{
	return blob_read(u, blob, data, len, BLOB_ONCE);
}

/* inline (issue #14) */
int store_blob_inline(struct store_user *u, const char *blob, const char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	if (!u || !u->blobs || !store_blob_name_valid(blob))
		return STORE_EINVAL;
	return u->be->blob_get ? u->be->blob_get(u, blob, data, len) : STORE_ENOENT;
}

static size_t g_inline_max;

void store_inline_set(size_t max_bytes)
{
	g_inline_max = MIN(max_bytes, (size_t)STORE_BLOB_READ_MAX);
}

bool store_inline_fits(size_t len)
{
	return g_inline_max > 0 && len <= g_inline_max;
}

void store_message_cache_set(size_t max_bytes)
{
	blob_cache_setup(max_bytes, STORE_BLOB_READ_MAX);
}

void store_message_cache_stats(struct store_message_cache_stats *out)
{
	blob_cache_stats(out);
}

int store_blob_open(struct store_user *u, const char *blob, int *fd, uint64_t *size)
{
	*fd = -1;
	*size = 0;
	if (!u || !u->blobs)
		return STORE_EINVAL;
	int r = store_blobs_open_fd(u->blobs, blob, fd, size);
	if (r != STORE_ENOENT || !u->be->blob_get)
		return r;
	/* inline: a small message kept by the backend, as an anonymous file
	 * (callers take this path for big messages, which are files). */
	const char *data;
	size_t len;
	if ((r = u->be->blob_get(u, blob, &data, &len)) != STORE_OK)
		return r;
	int f = memfd_create("rampart-msg", MFD_CLOEXEC);
	if (f < 0 || (len > 0 && write_all(f, data, len) < 0)) {
		log_err("event=store_blob_error op=memfd errno=%d", errno);
		if (f >= 0)
			close(f);
		store_blob_unmap(data, len);
		return STORE_EIO;
	}
	store_blob_unmap(data, len);
	*fd = f;
	*size = len;
	return STORE_OK;
}

/* ---- change notification ---- */

int store_watch_start(store_change_cb cb, void *arg)
{
	if (!cb)
		return STORE_EINVAL;
	return g_be->watch_start(cb, arg);
}

void store_watch_stop(void)
{
	g_be->watch_stop();
}

int store_watch_user(const char *username)
{
	if (!username_ok(username))
		return STORE_EINVAL;
	return g_be->watch_user(username);
}

void store_unwatch_user(const char *username)
{
	if (username)
		g_be->unwatch_user(username);
}

/* ---- quota (RFC 9208; quota part) ---- */

/* The [quota] defaults: written once at start-up, read by every thread
 * inside write transactions; atomics so a test may change them between
 * calls without a data race. */
static _Atomic uint64_t g_quota_default[3];

void store_quota_defaults_set(const struct store_quota_limits *d)
{
	g_quota_default[0] = d ? d->storage_kib : 0;
	g_quota_default[1] = d ? d->messages : 0;
	g_quota_default[2] = d ? d->mailboxes : 0;
}

void store_quota_defaults_get(struct store_quota_limits *d)
{
	d->storage_kib = g_quota_default[0];
	d->messages = g_quota_default[1];
	d->mailboxes = g_quota_default[2];
}

void store_quota_effective(const struct store_quota_limits *own, struct store_quota_limits *eff)
{
	struct store_quota_limits def;
	store_quota_defaults_get(&def);
	eff->storage_kib = own->storage_kib == STORE_QUOTA_DEFAULT ? def.storage_kib
								    : own->storage_kib;
	eff->messages = own->messages == STORE_QUOTA_DEFAULT ? def.messages : own->messages;
	eff->mailboxes = own->mailboxes == STORE_QUOTA_DEFAULT ? def.mailboxes : own->mailboxes;
}

uint64_t store_quota_storage_kib(uint64_t bytes)
{
	return bytes / 1024 + (bytes % 1024 != 0);
}

static bool quota_grew_over(uint64_t before, uint64_t after, uint64_t limit)
{
	return limit != 0 && after > before && after > limit;
}

bool store_quota_exceeded(const struct store_quota_usage *before,
			  const struct store_quota_usage *after, const struct store_quota_limits *eff)
{
	/* Compared in KiB rounded up: usage above the limit as GETQUOTA shows
	 * it is exactly what refuses (RFC 9208 5.1 counts in KiB). Growth is
	 * judged in bytes, so a message smaller than 1 KiB still counts. */
	bool storage = after->storage > before->storage && eff->storage_kib != 0 &&
		       store_quota_storage_kib(after->storage) > eff->storage_kib;
	return storage || quota_grew_over(before->messages, after->messages, eff->messages) ||
	       quota_grew_over(before->mailboxes, after->mailboxes, eff->mailboxes);
}

int store_quota_get(struct store_user *u, struct store_quota_usage *usage,
		    struct store_quota_limits *own, struct store_quota_limits *effective)
{
	struct store_quota_usage us = { 0 };
	struct store_quota_limits ow = { STORE_QUOTA_DEFAULT, STORE_QUOTA_DEFAULT,
					 STORE_QUOTA_DEFAULT };
	if (!u)
		return STORE_EINVAL;
	int r = u->be->quota_get(u, &us, &ow);
	if (r != STORE_OK)
		return r;
	if (usage)
		*usage = us;
	if (own)
		*own = ow;
	if (effective)
		store_quota_effective(&ow, effective);
	return STORE_OK;
}

int store_quota_set(struct store_user *u, const struct store_quota_limits *own)
{
	if (!u || !own)
		return STORE_EINVAL;
	/* Stored as SQL-style signed 64-bit integers (RFC 9208 number64). */
	const uint64_t v[3] = { own->storage_kib, own->messages, own->mailboxes };
	for (size_t i = 0; i < 3; i++)
		if (v[i] != STORE_QUOTA_DEFAULT && v[i] > INT64_MAX)
			return STORE_EINVAL;
	return u->be->quota_set(u, own);
}

int store_quota_recount(struct store_user *u, struct store_quota_usage *stored,
			struct store_quota_usage *counted)
{
	struct store_quota_usage s = { 0 }, c = { 0 };
	if (!u)
		return STORE_EINVAL;
	int r = u->be->quota_recount(u, &s, &c);
	if (r == STORE_OK && stored)
		*stored = s;
	if (r == STORE_OK && counted)
		*counted = c;
	return r;
}

/* check (issue #13): the front's part is the arguments; the backend
 * knows its files. */
int store_check_user(const char *username, const struct store_check_opts *o,
		     struct store_check_summary *sum)
{
	if (!o || !o->report || !sum)
		return STORE_EINVAL;
	char *dir = store_user_dir(username);
	if (!dir)
		return STORE_EINVAL;
	free(dir);
	memset(sum, 0, sizeof(*sum));
	return g_be->check(username, o, sum);
}

/* lmtp (issue #13): the blob half of an append, done early. */
int store_msg_prepare(struct store_user *u, const struct store_append *m, char hex[65])
{
	if (!u || !m || !u->blobs || (m->in_file && m->fd < 0))
		return STORE_EINVAL;
	int r = store_blob_hash_msg(m, hex);
	/* inline: a small message is written by the append itself. */
	if (r == STORE_OK && !(u->be->blob_get && store_inline_fits(m->len)))
		r = store_blobs_put_msg(u->blobs, hex, m);
	return r;
}

/* ---- Import (issue #13 migrate) ---- */

int store_import_mailbox(struct store_user *u, const char *name, const char *special_use,
			 uint32_t uidvalidity)
{
	const char *su;
	char *norm;
	if (!u || uidvalidity == 0)
		return STORE_EINVAL;
	int r = mailbox_new_args(name, special_use, &norm, &su);
	if (r != STORE_OK)
		return r;
	r = u->be->import_mailbox(u, norm, su, uidvalidity);
	free(norm);
	return r;
}

int store_import_append(struct store_user *u, const char *mailbox, struct store_append *msgs,
			size_t n, uint32_t *uidvalidity)
{
	return append_checked(u, mailbox, msgs, n, uidvalidity, 0, 0, true, NULL);
}

int store_import_uidnext(struct store_user *u, const char *mailbox, uint32_t uidnext)
{
	if (!u || !mailbox || uidnext == 0)
		return STORE_EINVAL;
	char *norm;
	if (store_mailbox_name_normalize(mailbox, &norm) != STORE_OK)
		return STORE_ENOENT;
	int r = u->be->import_uidnext(u, norm, uidnext);
	free(norm);
	return r;
}

/* ---- durable (issue #14) ---- */

int store_sync_start(unsigned delay_ms)
{
	return g_be->sync_start ? g_be->sync_start(delay_ms) : STORE_OK;
}

void store_sync_flush(void)
{
	if (g_be->sync_flush)
		g_be->sync_flush();
}

void store_sync_stats(struct store_sync_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (g_be->sync_stats)
		g_be->sync_stats(out);
}

/* idle (issue #14) */
unsigned store_cache_trim(unsigned idle_ms)
{
	return g_be->cache_trim ? g_be->cache_trim(idle_ms) : 0;
}

/* fetchtx (issue #14): store.h */
void store_read_hold(struct store_user *u)
{
	if (u && u->be->read_hold)
		u->be->read_hold(u);
}

void store_read_release(struct store_user *u)
{
	if (u && u->be->read_release)
		u->be->read_release(u);
}

/* sessx (issue #14): the mailbox's version for a FETCH that waited */
int store_mailbox_version(struct store_user *u, int64_t mailbox_id, struct store_mbox_version *out)
{
	if (!u->be->mailbox_version)
		return STORE_EIO;  /* a backend without versions: never equal */
	return u->be->mailbox_version(u, mailbox_id, out);
}
