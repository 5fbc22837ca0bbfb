/* The RETURN options of SEARCH and SORT (RFC 4731 3.1, RFC 5182, RFC 5267
 * 4, RFC 9394), the PARTIAL position arithmetic, and the live search
 * contexts of RETURN (UPDATE) (RFC 5267 4.3, CONTEXT=SEARCH).
 *
 * A context is a search the server keeps alive in the selected mailbox:
 * its key tree and the UIDs it matches. It belongs to the view, so it
 * ends with the selection (view_clear) or by CANCELUPDATE. The view's
 * change feed (view.c, view_sync) calls in twice: before the view drops
 * expunged messages, which leave every context (REMOVEFROM while their
 * sequence numbers still hold, RFC 5267 4.3.4), and after EXISTS, when
 * only the messages the store reports as new or changed are matched
 * again, so the work is bounded by the size of the change, not of the
 * mailbox. The difference goes out as ADDTO/REMOVEFROM with context
 * position 0 (RFC 5267 4.3.3: allowed for SEARCH; the sets are in
 * mailbox order, as RECOMMENDED there).
 *
 * Not kept alive: a key with message sequence numbers, whose meaning
 * moves with every expunge (answered NOUPDATE), and more than
 * [limits] max_search_contexts contexts per session. Keys relative to the clock
 * (OLDER, YOUNGER) are re-evaluated only when a message changes. */
#include "imap/search_context.h"
#include "imap/namespace.h"
#include "imap/session_internal.h"
#include "core/config.h"
#include "core/quote.h"
#include "core/util.h"
#include "mail/search.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- RETURN options ----------------------------------------------------- */

int search_partial_parse(const char *s, struct search_partial *p)
{
	int64_t v[2];
	bool neg[2];
	for (int k = 0; k < 2; k++) {
		neg[k] = *s == '-';
		if (neg[k])
			s++;
		/* nz-number: no leading zero, at most 4294967295 (RFC 9051 9). */
		if (*s < '1' || *s > '9')
			return -1;
		uint64_t n = 0;
		while (*s >= '0' && *s <= '9') {
			n = n * 10 + (uint64_t)(*s++ - '0');
			if (n > UINT32_MAX)
				return -1;
		}
		v[k] = neg[k] ? -(int64_t)n : (int64_t)n;
		if (k == 0 && *s++ != ':')
			return -1;
	}
	/* RFC 9394 4: both ends positive or both negative, no '*'. */
	if (*s || neg[0] != neg[1])
		return -1;
	p->first = v[0];
	p->last = v[1];
	return 0;
}

static int return_option(const struct imap_arg *list, size_t *i, struct search_return *out,
			 const char **err)
{
	static const struct {
		const char *name;
		unsigned bit;
	} simple[] = {
		{ "MIN", ESEARCH_MIN },   { "MAX", ESEARCH_MAX },         { "COUNT", ESEARCH_COUNT },
		{ "ALL", ESEARCH_ALL },   { "SAVE", ESEARCH_SAVE },       { "CONTEXT", ESEARCH_CONTEXT },
		{ "UPDATE", ESEARCH_UPDATE },
	};
	const struct imap_arg *o = &list->list[*i];
	for (size_t k = 0; k < ARRAY_SIZE(simple); k++) {
		if (imap_arg_atom_ieq(o, simple[k].name)) {
			out->opts |= simple[k].bit;
			return 0;
		}
	}
	const char *range;
	if (!imap_arg_atom_ieq(o, "PARTIAL")) {
		*err = "Unknown RETURN option";
		return -1;
	}
	/* RFC 9394 3.1: one PARTIAL at most. */
	if ((out->opts & ESEARCH_PARTIAL) || *i + 1 >= list->count ||
	    !imap_arg_get_atom(&list->list[*i + 1], &range) ||
	    search_partial_parse(range, &out->partial) < 0) {
		*err = "PARTIAL needs one range m:n or -m:-n";
		return -1;
	}
	out->opts |= ESEARCH_PARTIAL;
	(*i)++;
	return 0;
}

int search_return_parse(const struct imap_arg *a, struct search_return *out, const char **err)
{
	memset(out, 0, sizeof(*out));
	*err = "RETURN needs a list of options";
	if (a->type != IMAP_ARG_LIST)
		return -1;
	for (size_t i = 0; i < a->count; i++)
		if (return_option(a, &i, out, err) < 0)
			return -1;
	/* RFC 9394 3.1: either one PARTIAL, one ALL, or neither. */
	if ((out->opts & ESEARCH_PARTIAL) && (out->opts & ESEARCH_ALL)) {
		*err = "PARTIAL and ALL exclude each other";
		return -1;
	}
	/* RFC 4731 3.1: "RETURN ()" means ALL; CONTEXT is only a hint. */
	if ((out->opts & ~(unsigned)ESEARCH_CONTEXT) == 0)
		out->opts |= ESEARCH_ALL;
	return 0;
}

/* ---- PARTIAL positions (RFC 9394 3.1) ----------------------------------- */

size_t search_partial_slice(const struct search_partial *p, size_t n, size_t *from)
{
	/* "A range 500:400 is the same as 400:500", and likewise negative. */
	uint64_t a = (uint64_t)(p->first < 0 ? -p->first : p->first);
	uint64_t b = (uint64_t)(p->last < 0 ? -p->last : p->last);
	if (a > b) {
		uint64_t t = a;
		a = b;
		b = t;
	}
	*from = 0;
	if (a == 0 || a > n)
		return 0;
	if (p->first > 0) {
		/* positions a..b, 1 being the first result */
		*from = (size_t)(a - 1);
		return (size_t)(MIN(b, (uint64_t)n) - a + 1);
	}
	/* -1 is the last result: -b..-a are indexes n-b .. n-a */
	*from = b >= n ? 0 : (size_t)(n - b);
	return (size_t)(n - a) + 1 - *from;
}

void search_partial_write(struct strbuf *out, const struct search_partial *p,
			  const uint32_t *res, size_t n,
			  void (*fmt)(struct strbuf *, const uint32_t *, size_t))
{
	size_t from;
	size_t k = search_partial_slice(p, n, &from);
	/* The range as the client sent it (RFC 9394 3.1). */
	strbuf_addf(out, " PARTIAL (%lld:%lld ", (long long)p->first, (long long)p->last);
	if (k)
		fmt(out, res + from, k);
	else
		strbuf_adds(out, "NIL");
	strbuf_addc(out, ')');
}

/* ---- live contexts (RFC 5267 4.3) --------------------------------------- */

struct search_context {
	struct search_context *next;
	char *tag;
	bool uid;                    /* UID SEARCH: updates carry UIDs */
	struct search_key *key;
	uint32_t *uids;              /* the matches: ascending, or in sort order */
	size_t n, cap;
	struct sort_order *order;    /* SORT: the matches' keys; NULL: SEARCH */
};

static struct search_context *context_find(const struct imap_view *v, const char *tag)
{
	for (struct search_context *c = v->contexts; c; c = c->next)
		if (strcmp(c->tag, tag) == 0)
			return c;
	return NULL;
}

bool search_context_tag_busy(const struct imap_session *s, const char *tag)
{
	return tag && context_find(&s->view, tag);
}

static bool key_has_seqs(const struct search_key *k)
{
	if (k->type == SK_SEQSET)
		return true;
	for (size_t i = 0; i < k->nchildren; i++)
		if (key_has_seqs(k->children[i]))
			return true;
	return false;
}

const char *search_context_refusal(const struct imap_session *s, const struct search_key *key)
{
	if (!s->cmd || !s->cmd->tag)
		return "No tag to correlate updates with";
	if (key_has_seqs(key))
		return "Sequence numbers in the criteria move with every expunge, will not notify";
	size_t n = 0;
	for (const struct search_context *c = s->view.contexts; c; c = c->next)
		n++;
	/* [limits] max_search_contexts; RFC 5267 4.3.1 asks for at least one */
	if (n >= s->cfg->max_search_contexts)
		return "Too many contexts, will not notify";
	return NULL;
}

void search_context_write_noupdate(struct imap_session *s, const char *why)
{
	struct strbuf no = STRBUF_INIT;
	const char *tag = s->cmd && s->cmd->tag ? s->cmd->tag : "";
	strbuf_adds(&no, "* NO [NOUPDATE ");
	quote_string(&no, tag, strlen(tag));
	strbuf_addf(&no, "] %s", why);
	sess_printf(s, "%s", no.s);
	strbuf_free(&no);
}

void search_context_add(struct imap_session *s, bool uid, struct search_key *key,
			const uint32_t *uids, size_t n, struct sort_order *order)
{
	struct search_context *c = xcalloc(1, sizeof(*c));
	c->tag = xstrdup(s->cmd->tag);
	c->uid = uid;
	c->key = key;
	c->order = order;
	if (n) {
		c->uids = xmalloc(n * sizeof(*c->uids));
		memcpy(c->uids, uids, n * sizeof(*c->uids));
		c->n = c->cap = n;
	}
	c->next = s->view.contexts;
	s->view.contexts = c;
}

static void context_free(struct search_context *c)
{
	search_key_free(c->key);
	sort_order_free(c->order);
	free(c->tag);
	free(c->uids);
	free(c);
}

void search_contexts_free(struct imap_view *v)
{
	while (v->contexts) {
		struct search_context *c = v->contexts;
		v->contexts = c->next;
		context_free(c);
	}
}

/* "* ESEARCH (TAG t) [UID] what (0 set)", or with positions pos[]
 * "what (pos1 v1 pos2 v2 ...)": UIDs, or without UID their sequence
 * numbers in the view as it stands (RFC 5267 4.3.2). */
static void context_write(struct imap_session *s, const struct search_context *c,
			  const char *what, const uint32_t *pos, const uint32_t *uids, size_t n)
{
	struct strbuf line = STRBUF_INIT;
	strbuf_adds(&line, "* ESEARCH (TAG ");
	quote_string(&line, c->tag, strlen(c->tag));
	strbuf_addf(&line, ")%s %s (", c->uid ? " UID" : "", what);
	uint32_t *vals = xmalloc(n * sizeof(*vals));
	for (size_t i = 0; i < n; i++)
		vals[i] = c->uid ? uids[i] : view_seq_of(&s->view, uids[i]);
	if (!pos) {
		strbuf_adds(&line, "0 ");
		seqset_format_list(&line, vals, n);
	}
	for (size_t i = 0; pos && i < n; i++)
		strbuf_addf(&line, i ? " %u %u" : "%u %u", pos[i], vals[i]);
	free(vals);
	strbuf_addc(&line, ')');
	sess_printf(s, "%s", line.s);
	strbuf_free(&line);
}

/* c->uids minus the ascending drop[0..n) (which it all contains). */
static void context_remove(struct search_context *c, const uint32_t *drop, size_t n)
{
	size_t k = 0, j = 0;
	for (size_t i = 0; i < c->n; i++) {
		while (j < n && drop[j] < c->uids[i])
			j++;
		if (j < n && drop[j] == c->uids[i])
			continue;
		c->uids[k++] = c->uids[i];
	}
	c->n = k;
}

/* c->uids merged with the ascending add[0..n) (none of which it holds). */
static void context_insert(struct search_context *c, const uint32_t *add, size_t n)
{
	xgrow((void **)&c->uids, &c->cap, c->n + n, sizeof(*c->uids));
	size_t i = c->n, j = n, out = c->n + n;
	while (j > 0) {
		if (i > 0 && c->uids[i - 1] > add[j - 1])
			c->uids[--out] = c->uids[--i];
		else
			c->uids[--out] = add[--j];
	}
	c->n += n;
}

static bool context_has(const struct search_context *c, uint32_t uid)
{
	if (c->order)
		return sort_order_has(c->order, uid);
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->uids[mid] == uid)
			return true;
		if (c->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* REMOVEFROM the ascending drop[0..n), all members. RFC 5267 4.3.4: a
 * SORT context names each by its position, counted as the client removes
 * them one after the other. */
static void context_drop(struct imap_session *s, struct search_context *c, const uint32_t *drop,
			 size_t n)
{
	if (!c->order) {
		context_write(s, c, "REMOVEFROM", NULL, drop, n);
		context_remove(c, drop, n);
		return;
	}
	uint32_t *pos = xmalloc(n * sizeof(*pos));
	for (size_t k = 0; k < n; k++) {
		size_t i = 0;
		while (i < c->n && c->uids[i] != drop[k])
			i++;
		assert(i < c->n);
		pos[k] = (uint32_t)i + 1;
		memmove(&c->uids[i], &c->uids[i + 1], (c->n - i - 1) * sizeof(*c->uids));
		c->n--;
		sort_order_forget(c->order, drop[k]);
	}
	context_write(s, c, "REMOVEFROM", pos, drop, n);
	free(pos);
}

/* ADDTO the ascending add[0..n), none a member. RFC 5267 4.3.3: a SORT
 * context names the position each takes in sort order, counted as the
 * client inserts them one after the other. */
static void context_add(struct imap_session *s, struct store_user *u, struct search_context *c,
			const uint32_t *add, size_t n)
{
	if (!c->order) {
		context_write(s, c, "ADDTO", NULL, add, n);
		context_insert(c, add, n);
		return;
	}
	if (sort_order_load(c->order, u, s->view.id, add, n) != STORE_OK)
		return; /* logged by the store; the next change tries again */
	uint32_t *pos = xmalloc(n * sizeof(*pos)), *vals = xmalloc(n * sizeof(*vals));
	size_t k = 0;
	xgrow((void **)&c->uids, &c->cap, c->n + n, sizeof(*c->uids));
	for (size_t j = 0; j < n; j++) {
		if (!sort_order_has(c->order, add[j]))
			continue; /* expunged meanwhile */
		size_t lo = 0, hi = c->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (sort_order_cmp(c->order, c->uids[mid], add[j]) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		memmove(&c->uids[lo + 1], &c->uids[lo], (c->n - lo) * sizeof(*c->uids));
		c->uids[lo] = add[j];
		c->n++;
		pos[k] = (uint32_t)lo + 1;
		vals[k++] = add[j];
	}
	if (k)
		context_write(s, c, "ADDTO", pos, vals, k);
	free(pos);
	free(vals);
}

void search_context_expunged(struct imap_session *s, const uint32_t *uids, size_t n)
{
	uint32_t *gone = NULL;
	for (struct search_context *c = s->view.contexts; c; c = c->next) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			if (!context_has(c, uids[i]))
				continue;
			if (!gone)
				gone = xmalloc(n * sizeof(*gone));
			gone[k++] = uids[i];
		}
		if (k)
			context_drop(s, c, gone, k);
	}
	free(gone);
}

void search_context_changed(struct imap_session *s, struct store_user *u,
			    const struct store_msg *changed, size_t nchanged)
{
	struct imap_view *v = &s->view;
	if (!v->contexts || !nchanged)
		return;
	/* The changed messages this view shows, ascending and distinct. */
	uint32_t *uids = xmalloc(nchanged * sizeof(*uids));
	size_t k = 0;
	for (size_t i = 0; i < nchanged; i++)
		if (view_seq_of(v, changed[i].uid) && (!k || uids[k - 1] < changed[i].uid))
			uids[k++] = changed[i].uid;
	struct store_msg *msgs = NULL;
	size_t nmsgs = 0;
	/* aclseen: the reader's own \Seen in another user's mailbox. */
	if (!k || store_msg_get(u, v->id, uids, k, &msgs, &nmsgs) != STORE_OK || !nmsgs ||
	    store_pvtseen_apply(u, v->id, imap_view_seen_reader(s), msgs, nmsgs) != STORE_OK) {
		store_msg_array_free(msgs, nmsgs);
		free(uids);
		return;
	}
	/* Gone meanwhile: the expunge will remove it from the contexts. */
	uint32_t *seqs = xmalloc(nmsgs * sizeof(*seqs));
	for (size_t i = 0; i < nmsgs; i++)
		seqs[i] = view_seq_of(v, msgs[i].uid);
	bool *match = xmalloc(nmsgs * sizeof(*match));
	uint32_t *add = xmalloc(nmsgs * sizeof(*add)), *drop = xmalloc(nmsgs * sizeof(*drop));
	for (struct search_context *c = v->contexts; c; c = c->next) {
		cmd_search_match_msgs(u, c->key, msgs, seqs, nmsgs, &v->recent, match);
		size_t na = 0, nd = 0;
		for (size_t i = 0; i < nmsgs; i++) {
			bool had = context_has(c, msgs[i].uid);
			if (match[i] && !had)
				add[na++] = msgs[i].uid;
			else if (!match[i] && had)
				drop[nd++] = msgs[i].uid;
		}
		if (nd)
			context_drop(s, c, drop, nd);
		/* RFC 5267 4.3.3: after the EXISTS that numbered them. */
		if (na)
			context_add(s, u, c, add, na);
	}
	free(add);
	free(drop);
	free(match);
	free(seqs);
	free(uids);
	store_msg_array_free(msgs, nmsgs);
}

/* CANCELUPDATE "tag" ... (RFC 5267 4.3.5): every named context ends; a
 * tag that names none is BAD and ends nothing. */
void cmd_cancelupdate(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs == 0) {
		sess_tagged(s, "BAD", "CANCELUPDATE needs the tags of searches");
		return;
	}
	for (size_t i = 0; i < nargs; i++) {
		const char *tag;
		size_t len;
		if (!imap_arg_get_string(&args[i], &tag, &len) || strlen(tag) != len ||
		    !context_find(&s->view, tag)) {
			sess_tagged(s, "BAD", "No search context with that tag");
			return;
		}
	}
	for (size_t i = 0; i < nargs; i++) {
		struct search_context **pp = &s->view.contexts;
		while (*pp && strcmp((*pp)->tag, args[i].str) != 0)
			pp = &(*pp)->next;
		if (*pp) { /* a tag named twice is gone the second time */
			struct search_context *c = *pp;
			*pp = c->next;
			context_free(c);
		}
	}
	sess_tagged(s, "OK", "CANCELUPDATE completed");
}

/* ---- UID FETCH (PARTIAL range) (RFC 9394 3.3) --------------------------- */

int search_partial_modifier(const struct imap_arg *mods, struct search_partial *p,
			    bool *found, struct imap_arg *rest, const char **err)
{
	*found = false;
	*rest = *mods;
	rest->list = NULL;
	rest->count = 0;
	if (mods->type != IMAP_ARG_LIST)
		return 0; /* the FETCH modifier parser answers that */
	rest->list = xcalloc(mods->count ? mods->count : 1, sizeof(*rest->list));
	rest->count = 0;
	for (size_t i = 0; i < mods->count; i++) {
		const char *range;
		if (!imap_arg_atom_ieq(&mods->list[i], "PARTIAL")) {
			rest->list[rest->count++] = mods->list[i];
			continue;
		}
		if (*found || i + 1 >= mods->count || !imap_arg_get_atom(&mods->list[i + 1], &range) ||
		    search_partial_parse(range, p) < 0) {
			*err = "PARTIAL needs one range m:n or -m:-n";
			return -1;
		}
		*found = true;
		i++;
	}
	return 0;
}
