/* LIST (RFC 9051 6.3.9 with LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819,
 * SPECIAL-USE RFC 6154, LIST-MYRIGHTS RFC 8440) and LSUB for IMAP4rev1
 * clients. */
#include "imap/session_internal.h"
#include "imap/namespace.h"
#include "imap/status_items.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PATTERN 1024
#define MAX_PATTERNS 32

enum {
	SEL_SUBSCRIBED = 1 << 0,
	SEL_REMOTE = 1 << 1,
	SEL_RECURSIVEMATCH = 1 << 2,
	SEL_SPECIALUSE = 1 << 3,
	RET_SUBSCRIBED = 1 << 4,
	RET_CHILDREN = 1 << 5,
	RET_SPECIALUSE = 1 << 6,
	RET_STATUS = 1 << 7,
	RET_MYRIGHTS = 1 << 8,   /* aclcopy */
};

/* '*' matches anything, '%' anything but the delimiter. Dynamic
 * programming over (pattern, name) keeps it linear-times-linear however
 * many wildcards the client sends. */
static bool pattern_match(const char *pat, size_t plen, const char *name)
{
	size_t nlen = strlen(name);
	bool *prev = xcalloc(nlen + 1, sizeof(bool));
	bool *cur = xcalloc(nlen + 1, sizeof(bool));
	prev[0] = true;
	for (size_t i = 1; i <= plen; i++) {
		char pc = pat[i - 1];
		cur[0] = prev[0] && (pc == '*' || pc == '%');
		for (size_t j = 1; j <= nlen; j++) {
			char nc = name[j - 1];
			if (pc == '*')
				cur[j] = prev[j] || cur[j - 1];
			else if (pc == '%')
				cur[j] = prev[j] || (cur[j - 1] && nc != '/');
			else
				cur[j] = prev[j - 1] && pc == nc;
		}
		bool *t = prev;
		prev = cur;
		cur = t;
	}
	bool r = prev[nlen];
	free(prev);
	free(cur);
	return r;
}

/* RFC 9051 5.1: INBOX matches case-insensitively. */
static bool name_match(const char *pat, size_t plen, const char *name)
{
	if (pattern_match(pat, plen, name))
		return true;
	if (strncmp(name, "INBOX", 5) == 0 && plen >= 5 && strncasecmp(pat, "INBOX", 5) == 0) {
		char *p = xstrndup(pat, plen);
		memcpy(p, "INBOX", 5);
		bool r = pattern_match(p, plen, name);
		free(p);
		return r;
	}
	return false;
}

struct list_entry {
	char *name;
	size_t len;
	bool exists;
	bool subscribed;
	const char *special_use;
	int64_t id;
	bool match;              /* matches one of the patterns */
	/* Some descendant ("name/...", any depth) exists / is subscribed /
	 * matches a pattern: \HasChildren, CHILDINFO and '%' levels. */
	bool child_exists, child_subscribed, child_match;
};

struct list_ctx {
	struct list_entry *e;
	size_t n, cap;
	char **pats;
	size_t npats;
};

/* The order of the output: INBOX first, then by bytes. In it the names
 * below any "P/" form one contiguous run, which list_build relies on. */
static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	bool ai = alen == 5 && memcmp(a, "INBOX", 5) == 0;
	bool bi = blen == 5 && memcmp(b, "INBOX", 5) == 0;
	if (ai != bi)
		return ai ? -1 : 1;
	int r = memcmp(a, b, MIN(alen, blen));
	return r ? r : alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct list_entry *x = a, *y = b;
	return name_cmp(x->name, x->len, y->name, y->len);
}

/* Binary search of the first n entries (sorted) for name[0..len). */
static struct list_entry *entry_find(struct list_ctx *c, size_t n, const char *name, size_t len)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = name_cmp(c->e[mid].name, c->e[mid].len, name, len);
		if (r == 0)
			return &c->e[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct list_entry *entry_push(struct list_ctx *c, char *name, size_t len)
{
	xgrow((void **)&c->e, &c->cap, c->n + 1, sizeof(*c->e));
	struct list_entry *e = &c->e[c->n++];
	memset(e, 0, sizeof(*e));
	e->name = name;
	e->len = len;
	return e;
}

/* Sorts the entries and merges equal names (a mailbox that is also
 * subscribed arrives twice). */
static void entries_sort_merge(struct list_ctx *c)
{
	qsort(c->e, c->n, sizeof(*c->e), entry_cmp);
	size_t w = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct list_entry *e = &c->e[i];
		if (w > 0 && entry_cmp(&c->e[w - 1], e) == 0) {
			struct list_entry *k = &c->e[w - 1];
			if (e->exists) {
				k->exists = true;
				k->special_use = e->special_use;
				k->id = e->id;
			}
			k->subscribed |= e->subscribed;
			free(e->name);
			continue;
		}
		c->e[w++] = *e;
	}
	c->n = w;
}

static bool matches_any(struct list_ctx *c, const char *name)
{
	for (size_t i = 0; i < c->npats; i++)
		if (name_match(c->pats[i], strlen(c->pats[i]), name))
			return true;
	return false;
}

/* Every mailbox and subscription, plus each hierarchy level above them
 * that is neither, sorted; then what each one's descendants are. Costs
 * O(N log N) in the number of names (the levels included): a level is
 * looked up by binary search, never by a scan of the list. */
static void list_build(struct list_ctx *c, const struct store_mailbox *mbs, size_t nmb,
		       char **subs, size_t nsubs)
{
	for (size_t j = 0; j < nmb; j++) {
		struct list_entry *e = entry_push(c, xstrdup(mbs[j].name), strlen(mbs[j].name));
		e->exists = true;
		e->special_use = mbs[j].special_use;
		e->id = mbs[j].id;
	}
	for (size_t j = 0; j < nsubs; j++)
		entry_push(c, xstrdup(subs[j]), strlen(subs[j]))->subscribed = true;
	entries_sort_merge(c);
	/* Levels: a level "P" of name j that is also above (or is) name j-1
	 * is there already, since sorted names below "P/" are contiguous; of
	 * the rest, those that are no real name are added. */
	size_t nreal = c->n;
	for (size_t j = 0; j < nreal; j++) {
		const char *name = c->e[j].name, *prev = j ? c->e[j - 1].name : "";
		size_t len = c->e[j].len, common = 0;
		while (j && common < len && name[common] == prev[common])
			common++;
		for (size_t k = 1; k < len; k++) {
			if (name[k] != '/' || (j && (k < common || (k == common && !prev[k]))))
				continue;
			if (!entry_find(c, nreal, name, k))
				entry_push(c, xstrndup(name, k), k);
		}
	}
	if (c->n > nreal)
		entries_sort_merge(c);
	/* Each entry tells the levels above it what it is, walking up until
	 * a level already knows (then every level above it does too). */
	for (size_t j = 0; j < c->n; j++)
		c->e[j].match = matches_any(c, c->e[j].name);
	for (size_t j = 0; j < c->n; j++) {
		const struct list_entry *e = &c->e[j];
		bool ex = e->exists, sub = e->subscribed, m = e->match;
		for (size_t k = e->len; (ex || sub || m) && k-- > 1;) {
			if (e->name[k] != '/')
				continue;
			struct list_entry *p = entry_find(c, c->n, e->name, k);
			if (!p)
				continue;
			if ((!ex || p->child_exists) && (!sub || p->child_subscribed) &&
			    (!m || p->child_match))
				break;
			p->child_exists |= ex;
			p->child_subscribed |= sub;
			p->child_match |= m;
		}
	}
}

static void list_ctx_free(struct list_ctx *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->e[i].name);
	free(c->e);
	for (size_t i = 0; i < c->npats; i++)
		free(c->pats[i]);
	free(c->pats);
}

/* Would entry e be listed, and with CHILDINFO? The selection rules of
 * RFC 9051 6.3.9 and RFC 5258. *parent_only: listed only for the sake of
 * its subscribed descendants (LSUB shows it \Noselect, RFC 3501 6.3.9). */
static bool entry_shown(const struct list_entry *e, unsigned opts, bool lsub, bool *childinfo,
			bool *parent_only)
{
	bool match = e->match;
	*childinfo = false;
	*parent_only = false;
	if (lsub || (opts & SEL_SUBSCRIBED)) {
		if (!e->subscribed) {
			/* A parent whose subscribed children the pattern
			 * did not reach (RFC 3501 6.3.9 / RFC 5258 CHILDINFO;
			 * 5258 3.5: not when such a child is listed too). */
			if (!match || !e->child_subscribed || e->child_match)
				return false;
			if (!lsub && !(opts & SEL_RECURSIVEMATCH))
				return false;
			*childinfo = !lsub;
			*parent_only = true;
		} else if (!lsub && (opts & SEL_RECURSIVEMATCH) && e->child_subscribed) {
			/* RFC 5258 3.5: a listed mailbox with a descendant
			 * that meets the selection criteria carries CHILDINFO,
			 * whatever the pattern (Dovecot does the same). */
			*childinfo = true;
		}
	} else if (!e->exists) {
		/* A hierarchy level with no mailbox: shown only where a
		 * '%' stopped short of its children. */
		if (!match || !e->child_exists || e->child_match)
			return false;
	}
	if (!match)
		return false;
	if ((opts & SEL_SPECIALUSE) && !e->special_use)
		return false;
	return true;
}

/* A LIST or LSUB whose patterns are parsed: the store phase fills in the
 * entries (and, for RETURN (STATUS ...), the counts of every listed
 * mailbox), then list_answer writes them on the worker. */
struct list_job {
	struct cmd_job job;          /* first member */
	struct list_ctx c;
	unsigned opts, status_items;
	bool lsub;
	int err;
	struct store_mailbox *mbs;   /* entries' special_use points in here */
	size_t nmb;
	char **subs;
	size_t nsubs;
	struct store_mailbox *status; /* per entry, with RET_STATUS */
	bool *status_ok;
	struct imap_shared_list *shared; /* acl: LIST adds what others shared */
	uint32_t *rights;            /* aclcopy: per entry, with RET_MYRIGHTS */
	bool *rights_ok;
};

/* The store phase, on a pool thread: the names, and for every listed
 * mailbox that exists, with RET_STATUS its counts (seconds for many big
 * mailboxes) and with RET_MYRIGHTS the user's rights on it (RFC 8440 3:
 * none for \NonExistent or \Noselect levels; aclcopy). */
static void list_load(struct list_job *j, struct store_user *u)
{
	j->err = u ? store_mailbox_list(u, false, &j->mbs, &j->nmb) : STORE_EIO;
	if (j->err == STORE_OK && j->shared)
		imap_mailbox_shared_add(j->shared, &j->mbs, &j->nmb); /* acl */
	if (j->err == STORE_OK)
		j->err = store_subscription_list(u, &j->subs, &j->nsubs);
	if (j->err != STORE_OK)
		return;
	list_build(&j->c, j->mbs, j->nmb, j->subs, j->nsubs);
	if (!(j->opts & (RET_STATUS | RET_MYRIGHTS)))
		return;
	size_t cap = j->c.n ? j->c.n : 1;
	if (j->opts & RET_STATUS) {
		j->status = xcalloc(cap, sizeof(*j->status));
		j->status_ok = xcalloc(cap, sizeof(*j->status_ok));
	}
	if (j->opts & RET_MYRIGHTS) {
		j->rights = xcalloc(cap, sizeof(*j->rights));
		j->rights_ok = xcalloc(cap, sizeof(*j->rights_ok));
	}
	for (size_t k = 0; k < j->c.n; k++) {
		const struct list_entry *e = &j->c.e[k];
		bool childinfo, parent_only;
		if (!e->exists || !entry_shown(e, j->opts, j->lsub, &childinfo, &parent_only))
			continue;
		if (j->status)
			j->status_ok[k] = store_mailbox_status(u, e->name, &j->status[k]) == STORE_OK;
		if (j->rights)
			j->rights_ok[k] = imap_mailbox_shared_rights(j->shared, e->name,
								     &j->rights[k]);
	}
}

static void list_answer(struct imap_session *s, struct list_job *j)
{
	const char *cmd = j->lsub ? "LSUB" : "LIST";
	bool lsub = j->lsub;
	unsigned opts = j->opts;
	if (j->err != STORE_OK) {
		sess_store_error(s, j->err, cmd);
		return;
	}
	bool want_sub_attr = (opts & RET_SUBSCRIBED) != 0;
	struct strbuf line = STRBUF_INIT;
	for (size_t k = 0; k < j->c.n; k++) {
		struct list_entry *e = &j->c.e[k];
		bool childinfo, parent_only;
		if (!entry_shown(e, opts, lsub, &childinfo, &parent_only))
			continue;
		strbuf_reset(&line);
		strbuf_addf(&line, "* %s (", cmd);
		size_t attr_start = line.len;
#define ATTR(a) do { if (line.len > attr_start) strbuf_addc(&line, ' '); strbuf_adds(&line, a); } while (0)
		if (lsub && parent_only) {
			/* RFC 3501 6.3.9: "foo" of a subscribed "foo/bar",
			 * itself unsubscribed, is \Noselect in LSUB even when
			 * it exists. */
			ATTR("\\Noselect");
		} else if (!e->exists) {
			if (lsub || parent_only)
				ATTR("\\Noselect");
			else
				ATTR(s->rev2 || (opts & SEL_SUBSCRIBED) ? "\\NonExistent" : "\\Noselect");
		}
		if (!lsub) {
			ATTR(e->child_exists ? "\\HasChildren" : "\\HasNoChildren");
			if (e->subscribed && (want_sub_attr || (opts & SEL_SUBSCRIBED)))
				ATTR("\\Subscribed");
		}
		if (e->special_use && e->exists)
			ATTR(e->special_use);
#undef ATTR
		strbuf_adds(&line, ") \"/\" ");
		sess_write_mailbox(s, &line, e->name);
		if (childinfo)
			strbuf_adds(&line, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
		sess_printf(s, "%s", line.s);
		if (j->status_ok && j->status_ok[k])
			status_items_write(s, &j->status[k], j->status_items);
		if (j->rights_ok && j->rights_ok[k]) {
			char text[STORE_ACL_RIGHTS_TEXT_MAX];
			store_acl_rights_format(j->rights[k], text);
			strbuf_reset(&line);
			strbuf_adds(&line, "* MYRIGHTS ");
			sess_write_mailbox(s, &line, e->name);
			strbuf_addf(&line, " \"%s\"", text);
			sess_printf(s, "%s", line.s);
		}
	}
	strbuf_free(&line);
	sess_tagged(s, "OK", "%s completed", cmd);
}

static void list_job_run(struct cmd_job *job)
{
	list_load((struct list_job *)job, cmd_job_store(job));
}

static void list_job_done(struct cmd_job *job)
{
	list_answer(job->cmd->s, (struct list_job *)job);
}

static void list_job_free(struct cmd_job *job)
{
	struct list_job *j = (struct list_job *)job;
	if (j->status)
		for (size_t k = 0; k < j->c.n; k++)
			store_mailbox_clear(&j->status[k]);
	free(j->status);
	free(j->status_ok);
	free(j->rights);
	free(j->rights_ok);
	list_ctx_free(&j->c);
	for (size_t k = 0; k < j->nsubs; k++)
		free(j->subs[k]);
	free(j->subs);
	store_mailbox_array_free(j->mbs, j->nmb);
	imap_mailbox_shared_free(j->shared);
	free(j);
}

static int add_pattern(struct imap_session *s, struct list_ctx *c, const char *ref,
		       const struct imap_arg *a)
{
	char *p = sess_mailbox_arg(s, a);
	if (!p)
		return -1;
	char *full = xasprintf("%s%s", ref, p);
	free(p);
	if (strlen(full) > MAX_PATTERN || c->npats >= MAX_PATTERNS) {
		free(full);
		return -1;
	}
	c->pats = xrealloc(c->pats, (c->npats + 1) * sizeof(char *));
	c->pats[c->npats++] = full;
	return 0;
}

static void do_list(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs, bool lsub)
{
	struct imap_session *s = cmd->s;
	const char *name = lsub ? "LSUB" : "LIST";
	unsigned opts = 0, status_items = 0;
	size_t i = 0;
	bool extended = false;
	const char *err = NULL;

	if (!lsub && nargs > 0 && args[0].type == IMAP_ARG_LIST) {
		extended = true;
		for (size_t j = 0; j < args[0].count; j++) {
			const char *o;
			if (!imap_arg_get_atom(&args[0].list[j], &o))
				goto bad;
			if (ascii_ieq(o, "SUBSCRIBED"))
				opts |= SEL_SUBSCRIBED | RET_SUBSCRIBED;
			else if (ascii_ieq(o, "REMOTE"))
				opts |= SEL_REMOTE;
			else if (ascii_ieq(o, "RECURSIVEMATCH"))
				opts |= SEL_RECURSIVEMATCH;
			else if (ascii_ieq(o, "SPECIAL-USE"))
				opts |= SEL_SPECIALUSE;
			else
				goto bad;
		}
		/* RFC 5258 3: RECURSIVEMATCH alone is an error. */
		if ((opts & SEL_RECURSIVEMATCH) && !(opts & (SEL_SUBSCRIBED | SEL_SPECIALUSE)))
			goto bad;
		i = 1;
	}
	if (nargs < i + 2)
		goto bad;
	const char *ref;
	size_t reflen;
	if (!imap_arg_get_astring(&args[i], &ref, &reflen))
		goto bad;
	char *refname = NULL;
	if (reflen) {
		struct imap_arg tmp = args[i];
		refname = sess_mailbox_arg(s, &tmp);
		if (!refname)
			goto bad;
	}
	struct list_ctx c;
	memset(&c, 0, sizeof(c));
	const struct imap_arg *pa = &args[i + 1];
	if (pa->type == IMAP_ARG_LIST && !lsub) {
		extended = true;
		for (size_t j = 0; j < pa->count; j++)
			if (add_pattern(s, &c, refname ? refname : "", &pa->list[j]) < 0)
				goto bad_free;
	} else if (add_pattern(s, &c, refname ? refname : "", pa) < 0) {
		goto bad_free;
	}
	i += 2;
	if (i < nargs) {
		const char *kw;
		if (lsub || !imap_arg_get_atom(&args[i], &kw) || !ascii_ieq(kw, "RETURN") ||
		    i + 2 != nargs || args[i + 1].type != IMAP_ARG_LIST)
			goto bad_free;
		const struct imap_arg *rl = &args[i + 1];
		for (size_t j = 0; j < rl->count; j++) {
			const char *o;
			if (!imap_arg_get_atom(&rl->list[j], &o))
				goto bad_free;
			if (ascii_ieq(o, "SUBSCRIBED")) {
				opts |= RET_SUBSCRIBED;
			} else if (ascii_ieq(o, "CHILDREN")) {
				opts |= RET_CHILDREN;
			} else if (ascii_ieq(o, "SPECIAL-USE")) {
				opts |= RET_SPECIALUSE;
			} else if (ascii_ieq(o, "MYRIGHTS")) {
				opts |= RET_MYRIGHTS;
			} else if (ascii_ieq(o, "STATUS") && j + 1 < rl->count) {
				if (status_items_parse(s, &rl->list[++j], &status_items, &err) < 0)
					goto bad_free;
				opts |= RET_STATUS;
			} else {
				goto bad_free;
			}
		}
		extended = true;
	}
	(void)extended;
	free(refname);
	refname = NULL;

	/* The empty pattern asks for the delimiter (RFC 9051 6.3.9). */
	if (c.npats == 1 && c.pats[0][0] == '\0' && !lsub) {
		sess_printf(s, "* LIST (\\Noselect) \"/\" \"\"");
		list_ctx_free(&c);
		sess_tagged(s, "OK", "LIST completed");
		return;
	}

	struct list_job *j = xcalloc(1, sizeof(*j));
	j->c = c;
	j->opts = opts;
	j->status_items = status_items;
	j->lsub = lsub;
	j->shared = imap_mailbox_shared_begin(cmd->s); /* acl: what others shared */
	/* Every LIST/LSUB reads the store on the pool, not only those with
	 * RETURN (STATUS ...): names alone, at 10,000 mailboxes, cost ~30 ms
	 * (BENCHMARKS.md), more than the loop should stall for, and the trip
	 * through the pool costs microseconds. */
	cmd_run_on_pool(cmd, &j->job, list_job_run, list_job_done, list_job_free);
	return;

bad_free:
	free(refname);
	list_ctx_free(&c);
bad:
	sess_tagged(s, "BAD", "%s: %s", name, err ? err : "invalid arguments");
}

void cmd_list(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	do_list(cmd, args, nargs, false);
}

void cmd_lsub(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	do_list(cmd, args, nargs, true);
}
