/* LIST (RFC 9051 6.3.9 with LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819,
 * SPECIAL-USE RFC 6154) and LSUB for IMAP4rev1 clients. */
#include "imap/session_internal.h"
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
	bool exists;
	bool subscribed;
	const char *special_use;
	int64_t id;
};

struct list_ctx {
	struct list_entry *e;
	size_t n, cap;
	char **pats;
	size_t npats;
};

static int entry_cmp(const void *a, const void *b)
{
	const struct list_entry *x = a, *y = b;
	bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;
	if (xi != yi)
		return xi ? -1 : 1;
	return strcmp(x->name, y->name);
}

static struct list_entry *entry_find(struct list_ctx *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->e[i].name, name) == 0)
			return &c->e[i];
	return NULL;
}

static struct list_entry *entry_add(struct list_ctx *c, const char *name)
{
	struct list_entry *e = entry_find(c, name);
	if (e)
		return e;
	xgrow((void **)&c->e, &c->cap, c->n + 1, sizeof(*c->e));
	e = &c->e[c->n++];
	memset(e, 0, sizeof(*e));
	e->name = xstrdup(name);
	return e;
}

static bool matches_any(struct list_ctx *c, const char *name)
{
	for (size_t i = 0; i < c->npats; i++)
		if (name_match(c->pats[i], strlen(c->pats[i]), name))
			return true;
	return false;
}

static bool has_child(struct list_ctx *c, const char *name, bool need_exist, bool need_sub)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < c->n; i++) {
		const struct list_entry *e = &c->e[i];
		if (strncmp(e->name, name, len) == 0 && e->name[len] == '/' &&
		    (!need_exist || e->exists) && (!need_sub || e->subscribed))
			return true;
	}
	return false;
}

static bool child_matches(struct list_ctx *c, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < c->n; i++) {
		const struct list_entry *e = &c->e[i];
		if (strncmp(e->name, name, len) == 0 && e->name[len] == '/' && matches_any(c, e->name))
			return true;
	}
	return false;
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

static void do_list(struct imap_session *s, const struct imap_arg *args, size_t nargs, bool lsub)
{
	const char *cmd = lsub ? "LSUB" : "LIST";
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

	/* The empty pattern asks for the delimiter (RFC 9051 6.3.9). */
	if (c.npats == 1 && c.pats[0][0] == '\0' && !lsub) {
		sess_printf(s, "* LIST (\\Noselect) \"/\" \"\"");
		free(refname);
		list_ctx_free(&c);
		sess_tagged(s, "OK", "LIST completed");
		return;
	}

	struct store_user *u = sess_store(s);
	struct store_mailbox *mbs = NULL;
	size_t nmb = 0;
	char **subs = NULL;
	size_t nsubs = 0;
	int r = u ? store_mailbox_list(u, false, &mbs, &nmb) : STORE_EIO;
	if (r == STORE_OK)
		r = store_subscription_list(u, &subs, &nsubs);
	if (r != STORE_OK) {
		free(refname);
		list_ctx_free(&c);
		store_mailbox_array_free(mbs, nmb);
		sess_store_error(s, r, cmd);
		return;
	}
	for (size_t j = 0; j < nmb; j++) {
		struct list_entry *e = entry_add(&c, mbs[j].name);
		e->exists = true;
		e->special_use = mbs[j].special_use;
		e->id = mbs[j].id;
	}
	for (size_t j = 0; j < nsubs; j++)
		entry_add(&c, subs[j])->subscribed = true;
	/* Parents of existing or subscribed names that are not mailboxes. */
	size_t nreal = c.n;
	for (size_t j = 0; j < nreal; j++) {
		char *name = xstrdup(c.e[j].name);
		for (char *p = strrchr(name, '/'); p; p = strrchr(name, '/')) {
			*p = '\0';
			if (*name)
				entry_add(&c, name);
		}
		free(name);
	}
	qsort(c.e, c.n, sizeof(*c.e), entry_cmp);

	bool want_sub_attr = (opts & RET_SUBSCRIBED) != 0;
	struct strbuf line = STRBUF_INIT;
	for (size_t j = 0; j < c.n; j++) {
		struct list_entry *e = &c.e[j];
		bool match = matches_any(&c, e->name);
		bool childinfo = false;
		if (lsub || (opts & SEL_SUBSCRIBED)) {
			if (!e->subscribed) {
				/* A parent whose subscribed children the pattern
				 * did not reach (RFC 3501 6.3.9 / RFC 5258 CHILDINFO). */
				if (!match || !has_child(&c, e->name, false, true) ||
				    child_matches(&c, e->name))
					continue;
				if (!lsub && !(opts & SEL_RECURSIVEMATCH))
					continue;
				childinfo = !lsub;
			}
		} else if (!e->exists) {
			/* A hierarchy level with no mailbox: shown only where a
			 * '%' stopped short of its children. */
			if (!match || !has_child(&c, e->name, true, false) || child_matches(&c, e->name))
				continue;
		}
		if (!match)
			continue;
		if ((opts & SEL_SPECIALUSE) && !e->special_use)
			continue;
		strbuf_reset(&line);
		strbuf_addf(&line, "* %s (", cmd);
		size_t attr_start = line.len;
#define ATTR(a) do { if (line.len > attr_start) strbuf_addc(&line, ' '); strbuf_adds(&line, a); } while (0)
		if (!e->exists) {
			if (lsub || childinfo)
				ATTR("\\Noselect");
			else
				ATTR(s->rev2 || (opts & SEL_SUBSCRIBED) ? "\\NonExistent" : "\\Noselect");
		}
		if (!lsub) {
			bool children = has_child(&c, e->name, true, false);
			ATTR(children ? "\\HasChildren" : "\\HasNoChildren");
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
		if ((opts & RET_STATUS) && e->exists) {
			struct store_mailbox mb;
			memset(&mb, 0, sizeof(mb));
			if (store_mailbox_status(u, e->name, &mb) == STORE_OK)
				status_items_write(s, &mb, status_items);
			store_mailbox_clear(&mb);
		}
	}
	strbuf_free(&line);
	for (size_t j = 0; j < nsubs; j++)
		free(subs[j]);
	free(subs);
	store_mailbox_array_free(mbs, nmb);
	free(refname);
	list_ctx_free(&c);
	sess_tagged(s, "OK", "%s completed", cmd);
	return;

bad_free:
	free(refname);
	list_ctx_free(&c);
bad:
	sess_tagged(s, "BAD", "%s: %s", cmd, err ? err : "invalid arguments");
}

void cmd_list(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	do_list(cmd->s, args, nargs, false);
}

void cmd_lsub(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	do_list(cmd->s, args, nargs, true);
}
