/* Namespaces (RFC 2342) and shared mailboxes (RFC 4314): which store a
 * mailbox name on the wire lives in, under which name, and what the user
 * may do there. Every command that names a mailbox resolves it here once
 * (imap_mailbox_resolve), so the rights checks have one home and the
 * command files carry one call each. NAMESPACE is answered here too.
 *
 * Names: the user's own mailboxes as they are; "Other Users/<owner>/<name>"
 * for a mailbox <name> of <owner>; "Shared Folders/<name>" for one of the
 * configured public owner ([namespace] keys). The owner's ACL (in the
 * owner's store) is the truth; the registry (store_acl_owners) only says
 * whose stores are worth opening, so a name of a user who never shared
 * anything is answered without opening (and creating) that user's store.
 * docs/architecture.md "Shared mailboxes" has the design. */
#include "imap/namespace.h"
#include "imap/notify.h"
#include "imap/session_internal.h"
#include "core/config.h"
#include "core/flags.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum ns_kind {
	NS_OWN,      /* the user's own mailbox */
	NS_SHARED,   /* another user's (Other Users/ or Shared Folders/) */
	NS_LEVEL,    /* "Other Users", "Other Users/bob": a namespace's own level */
};

/* Splits name by namespace: for NS_SHARED, *owner (caller frees), *rest
 * (into name) and the prefix length. */
static enum ns_kind ns_split(const struct config *cfg, const char *name, char **owner,
			     const char **rest, size_t *plen)
{
	const char *p = cfg->ns_other_users_prefix;
	size_t n = p ? strlen(p) : 0;
	if (p && strncmp(name, p, n) == 0 && (name[n] == '\0' || name[n] == '/')) {
		const char *after = name[n] ? name + n + 1 : name + n;
		const char *slash = strchr(after, '/');
		if (!slash || !slash[1])
			return NS_LEVEL;
		*owner = xstrndup(after, (size_t)(slash - after));
		*rest = slash + 1;
		*plen = (size_t)(*rest - name);
		return NS_SHARED;
	}
	p = cfg->ns_public_owner ? cfg->ns_shared_prefix : NULL;
	n = p ? strlen(p) : 0;
	if (p && strncmp(name, p, n) == 0 && (name[n] == '\0' || name[n] == '/')) {
		if (!name[n] || !name[n + 1])
			return NS_LEVEL;
		*owner = xstrdup(cfg->ns_public_owner);
		*rest = name + n + 1;
		*plen = n + 1;
		return NS_SHARED;
	}
	return NS_OWN;
}

/* Does owner have a store at all? Opening one creates it, which a stale
 * registry row (a removed user) must not cause. */
static bool ns_store_exists(const char *owner)
{
	char *dir = store_user_dir(owner);
	struct stat st;
	bool ok = dir && stat(dir, &st) == 0;
	free(dir);
	return ok;
}

static char *cmd_strdup(struct imap_cmd *cmd, const char *str, size_t len)
{
	char *d = imap_cmd_alloc(cmd, len + 1);
	memcpy(d, str, len);
	return d;
}

/* The rights of user on owner's mailbox (owner's name), or a store error. */
static int ns_rights(const char *owner, const char *user, const char *mailbox, uint32_t *rights)
{
	if (!ns_store_exists(owner))
		return STORE_ENOENT;
	struct store_user *u = store_user_open(owner);
	if (!u)
		return STORE_EIO;
	struct store_acl_entry *e;
	size_t n;
	int r = store_acl_list(u, mailbox, &e, &n);
	store_user_close(u);
	if (r != STORE_OK)
		return r;
	*rights = store_acl_rights_of(owner, user, NULL, e, n);
	store_acl_entries_free(e, n);
	return STORE_OK;
}

int imap_mailbox_resolve(struct imap_cmd *cmd, char **name, uint32_t need)
{
	struct imap_session *s = cmd->s;
	const char *what = cmd->def ? cmd->def->name : "command";
	struct imap_mailbox_ref *ref = imap_cmd_alloc(cmd, sizeof(*ref));
	char *owner = NULL, *mbname = NULL;
	const char *rest = NULL;
	size_t plen = 0;
	enum ns_kind kind = ns_split(s->cfg, *name, &owner, &rest, &plen);
	if (kind == NS_OWN) {
		ref->owner = cmd_strdup(cmd, s->user, strlen(s->user));
		ref->prefix = cmd_strdup(cmd, "", 0);
		ref->rights = STORE_ACL_ALL;
		cmd->mbref = ref;
		return 0;
	}
	int err = STORE_ENOENT;
	if (kind == NS_LEVEL) {
		if (need & (IMAP_NEED_PARENT | STORE_ACL_CREATE))
			err = STORE_ECANNOT;
		goto refuse;
	}
	bool named_ok = store_acl_ident_valid(owner) && owner[0] != '-' &&
			strcmp(owner, "anyone") != 0 && strcmp(owner, "authenticated") != 0 &&
			strcmp(owner, s->user) != 0;
	/* RFC 4314 4: a user without l and r must not learn that it exists. */
	if (!named_ok || store_mailbox_name_normalize(rest, &mbname) != STORE_OK)
		goto refuse;
	bool public = s->cfg->ns_public_owner && strcmp(owner, s->cfg->ns_public_owner) == 0;
	if (!public && !store_acl_shared_with(owner, s->user))
		goto refuse;
	char *target = mbname;
	if (need & IMAP_NEED_PARENT) {
		char *slash = strrchr(mbname, '/');
		if (!slash) {
			err = STORE_ECANNOT; /* no parent to hold k in another's namespace */
			goto refuse;
		}
		target = xstrndup(mbname, (size_t)(slash - mbname));
	}
	uint32_t rights = 0;
	err = ns_rights(owner, s->user, target, &rights);
	if (target != mbname)
		free(target);
	if (err != STORE_OK)
		goto refuse;
	if (!(rights & (STORE_ACL_LOOKUP | STORE_ACL_READ))) {
		err = STORE_ENOENT;
		goto refuse;
	}
	if ((rights & need & ~IMAP_NEED_PARENT) != (need & ~IMAP_NEED_PARENT)) {
		free(owner);
		free(mbname);
		free(*name);
		*name = NULL;
		sess_tagged(s, "NO", "[NOPERM] %s: permission denied", what);
		return -1;
	}
	ref->owner = cmd_strdup(cmd, owner, strlen(owner));
	ref->prefix = cmd_strdup(cmd, *name, plen);
	ref->rights = rights;
	cmd->mbref = ref;
	free(owner);
	free(*name);
	*name = mbname;
	return 0;
refuse:
	free(owner);
	free(mbname);
	free(*name);
	*name = NULL;
	sess_store_error(s, err, what);
	return -1;
}

int imap_mailbox_is_shared(struct imap_cmd *cmd, char *name)
{
	char *copy = xstrdup(name);
	if (imap_mailbox_resolve(cmd, &copy, STORE_ACL_LOOKUP) < 0) {
		free(name);
		return -1;
	}
	int shared = *cmd->mbref->prefix != '\0';
	free(copy);
	cmd->mbref = NULL; /* the subscription lives in the user's own store */
	return shared;
}

const char *imap_cmd_store_user(const struct imap_cmd *cmd)
{
	const struct imap_session *s = cmd->s;
	if (cmd->def && cmd->def->states == CMD_S_SELECTED && s->state == ST_SELECTED)
		return s->view.owner ? s->view.owner : s->user;
	if (cmd->mbref)
		return cmd->mbref->owner;
	return s->user;
}

const char *imap_seen_reader(const struct imap_session *s, const char *owner)
{
	if (!s->user || !owner || !s->cfg->ns_private_seen || strcmp(owner, s->user) == 0)
		return NULL;
	return s->user;
}

const char *imap_cmd_seen_reader(const struct imap_cmd *cmd)
{
	return imap_seen_reader(cmd->s, imap_cmd_store_user(cmd));
}

const char *imap_view_seen_reader(const struct imap_session *s)
{
	return imap_seen_reader(s, s->view.owner);
}

char *imap_mailbox_shown(const struct imap_cmd *cmd, const char *name)
{
	const char *prefix = cmd->mbref ? cmd->mbref->prefix : "";
	return xasprintf("%s%s", prefix, name);
}

void imap_mailbox_show(const struct imap_cmd *cmd, struct store_mailbox *mb)
{
	if (!cmd->mbref || !*cmd->mbref->prefix || !mb->name)
		return;
	char *shown = imap_mailbox_shown(cmd, mb->name);
	free(mb->name);
	mb->name = shown;
}

void imap_mailbox_view_adopt(struct imap_cmd *cmd, struct imap_view *v)
{
	struct imap_session *s = cmd->s;
	const struct imap_mailbox_ref *ref = cmd->mbref;
	v->rights = STORE_ACL_ALL;
	if (!ref || strcmp(ref->owner, s->user) == 0)
		return;
	v->owner = xstrdup(ref->owner);
	v->rights = ref->rights;
	char *shown = imap_mailbox_shown(cmd, v->name);
	free(v->name);
	v->name = shown;
	/* The owner's commits must wake this session as its own do. */
	v->watch = xcalloc(1, sizeof(*v->watch));
	imap_notify_register(v->watch, s, v->owner);
}

void imap_mailbox_view_release(struct imap_view *v)
{
	if (v->watch) {
		imap_notify_unregister(v->watch);
		free(v->watch);
		v->watch = NULL;
	}
	free(v->owner);
	v->owner = NULL;
}

bool imap_view_may(const struct imap_session *s, uint32_t r)
{
	return !s->view.owner || (s->view.rights & r) == r;
}

bool imap_view_may_flags(const struct imap_session *s, uint32_t flags, const char *keywords,
			 bool replace)
{
	uint32_t need = 0;
	if (replace)
		need = STORE_ACL_SEEN | STORE_ACL_DELMSG | STORE_ACL_WRITE;
	if (flags & MAIL_FLAG_SEEN)
		need |= STORE_ACL_SEEN;
	if (flags & MAIL_FLAG_DELETED)
		need |= STORE_ACL_DELMSG;
	if ((flags & ~(MAIL_FLAG_SEEN | MAIL_FLAG_DELETED)) || (keywords && *keywords))
		need |= STORE_ACL_WRITE;
	return imap_view_may(s, need);
}

void imap_view_permanentflags(struct imap_session *s)
{
	struct strbuf f = STRBUF_INIT;
	if (imap_view_may(s, STORE_ACL_WRITE))
		strbuf_adds(&f, " \\Answered \\Flagged \\Draft \\*");
	if (imap_view_may(s, STORE_ACL_DELMSG))
		strbuf_adds(&f, " \\Deleted");
	if (imap_view_may(s, STORE_ACL_SEEN))
		strbuf_adds(&f, " \\Seen");
	sess_printf(s, "* OK [PERMANENTFLAGS (%s)] Flags permitted.", f.len ? f.s + 1 : "");
	strbuf_free(&f);
}

int imap_cmd_acl_copy(struct imap_cmd *cmd, char **name, bool move)
{
	struct imap_session *s = cmd->s;
	const char *what = cmd->def ? cmd->def->name : "COPY";
	/* RFC 6851 3.1 / RFC 4314 4: MOVE expunges, so it needs t and e. */
	if (move && !imap_view_may(s, STORE_ACL_DELMSG | STORE_ACL_EXPUNGE)) {
		free(*name);
		*name = NULL;
		sess_tagged(s, "NO", "[NOPERM] %s: permission denied", what);
		return -1;
	}
	/* aclcopy: a target in another owner's store is copied to by
	 * imap/copy_cross.c. */
	return imap_mailbox_resolve(cmd, name, STORE_ACL_INSERT) < 0 ? -1 : 0;
}

/* ---- LIST: what others shared ---- */

struct imap_shared_list {
	char *user;
	char *other_prefix;   /* NULL: namespace off */
	char *shared_prefix;  /* NULL: no public namespace */
	char *public_owner;
};

struct imap_shared_list *imap_mailbox_shared_begin(struct imap_session *s)
{
	const struct config *c = s->cfg;
	struct imap_shared_list *l = xcalloc(1, sizeof(*l));
	l->user = xstrdup(s->user);
	l->other_prefix = c->ns_other_users_prefix ? xstrdup(c->ns_other_users_prefix) : NULL;
	if (c->ns_shared_prefix && c->ns_public_owner) {
		l->shared_prefix = xstrdup(c->ns_shared_prefix);
		l->public_owner = xstrdup(c->ns_public_owner);
	}
	return l;
}

void imap_mailbox_shared_free(struct imap_shared_list *l)
{
	if (!l)
		return;
	free(l->user);
	free(l->other_prefix);
	free(l->shared_prefix);
	free(l->public_owner);
	free(l);
}

/* Appends owner's mailboxes that user may look up, as prefix + name. */
static void shared_add_owner(const struct imap_shared_list *l, const char *owner,
			     const char *prefix, struct store_mailbox **mbs, size_t *n)
{
	if (!ns_store_exists(owner))
		return;
	struct store_user *u = store_user_open(owner);
	if (!u)
		return;
	struct store_acl_entry *e;
	size_t ne;
	if (store_acl_list(u, NULL, &e, &ne) == STORE_OK) {
		size_t cap = *n;
		for (size_t i = 0; i < ne; i++) {
			if (i > 0 && strcmp(e[i].mailbox, e[i - 1].mailbox) == 0)
				continue; /* entries come in mailbox order */
			uint32_t r = store_acl_rights_of(owner, l->user, e[i].mailbox, e, ne);
			if (!(r & STORE_ACL_LOOKUP))
				continue;
			xgrow((void **)mbs, &cap, *n + 1, sizeof(**mbs));
			memset(&(*mbs)[*n], 0, sizeof(**mbs));
			(*mbs)[*n].name = xasprintf("%s%s", prefix, e[i].mailbox);
			(*n)++;
		}
		store_acl_entries_free(e, ne);
	}
	store_user_close(u);
}

static int mb_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_mailbox *)a)->name,
		      ((const struct store_mailbox *)b)->name);
}

void imap_mailbox_shared_add(struct imap_shared_list *l, struct store_mailbox **mbs, size_t *n)
{
	size_t before = *n;
	if (l->other_prefix) {
		char **owners;
		size_t no;
		if (store_acl_owners(l->user, &owners, &no) == STORE_OK) {
			for (size_t i = 0; i < no; i++) {
				if (!l->public_owner || strcmp(owners[i], l->public_owner) != 0) {
					char *prefix = xasprintf("%s/%s/", l->other_prefix, owners[i]);
					shared_add_owner(l, owners[i], prefix, mbs, n);
					free(prefix);
				}
				free(owners[i]);
			}
			free(owners);
		}
	}
	if (l->public_owner && strcmp(l->public_owner, l->user) != 0) {
		char *prefix = xasprintf("%s/", l->shared_prefix);
		shared_add_owner(l, l->public_owner, prefix, mbs, n);
		free(prefix);
	}
	if (*n > before)
		qsort(*mbs, *n, sizeof(**mbs), mb_name_cmp);
}

/* aclcopy: LIST-MYRIGHTS (RFC 8440) of a listed name. */
bool imap_mailbox_shared_rights(const struct imap_shared_list *l, const char *name,
				uint32_t *rights)
{
	const char *p = l->other_prefix, *rest = NULL;
	size_t n = p ? strlen(p) : 0;
	char *owner = NULL;
	if (p && strncmp(name, p, n) == 0 && name[n] == '/') {
		const char *slash = strchr(name + n + 1, '/');
		if (!slash)
			return false;
		owner = xstrndup(name + n + 1, (size_t)(slash - name - n - 1));
		rest = slash + 1;
	} else if ((p = l->shared_prefix) && strncmp(name, p, n = strlen(p)) == 0 &&
		   name[n] == '/') {
		owner = xstrdup(l->public_owner);
		rest = name + n + 1;
	} else {
		*rights = STORE_ACL_ALL; /* the user's own */
		return true;
	}
	int r = ns_rights(owner, l->user, rest, rights);
	free(owner);
	return r == STORE_OK;
}

/* ---- NAMESPACE (RFC 2342 5) ---- */

static void ns_write_one(struct imap_session *s, struct strbuf *line, const char *prefix)
{
	if (!prefix) {
		strbuf_adds(line, " NIL");
		return;
	}
	char *p = xasprintf("%s/", prefix);
	strbuf_adds(line, " ((");
	sess_write_mailbox(s, line, p);
	strbuf_adds(line, " \"/\"))");
	free(p);
}

void cmd_namespace(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	(void)args;
	if (nargs != 0) {
		sess_tagged(s, "BAD", "NAMESPACE takes no arguments");
		return;
	}
	const struct config *c = s->cfg;
	struct strbuf line = STRBUF_INIT;
	strbuf_adds(&line, "* NAMESPACE ((\"\" \"/\"))");
	ns_write_one(s, &line, c->ns_other_users_prefix);
	ns_write_one(s, &line, c->ns_public_owner ? c->ns_shared_prefix : NULL);
	sess_printf(s, "%s", line.s);
	strbuf_free(&line);
	sess_tagged(s, "OK", "NAMESPACE completed");
}
