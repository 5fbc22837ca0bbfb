/* SORT, UID SORT, THREAD and UID THREAD (RFC 5256), with ESORT's RETURN
 * options (RFC 5267 3) and the RFC 5957 DISPLAYFROM/DISPLAYTO keys.
 *
 * The search criteria are SEARCH's (imap/search_parse.c), evaluated the
 * same way (cmd_search_matches); the keys of each match come from its
 * cached ENVELOPE (mail/sortkey.c) and, for THREAD=REFERENCES only, the
 * References field of the message header. All of it runs on the work
 * pool: the response is computed there and only written on the worker.
 * PARTIAL (RFC 5267 4.4) pages the sort order; RETURN (UPDATE) keeps
 * the keys of the matches (struct sort_order) for a live context
 * (imap/search_context.c, CONTEXT=SORT). */
#include "imap/search_parse.h"
#include "imap/capability.h"
#include "imap/session_internal.h"
#include "imap/uidonly.h"
#include "core/log.h"
#include "core/util.h"
#include "mail/sortkey.h"
#include "mail/thread.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* sort-key (RFC 5256 4, RFC 5957 3) */
enum sort_key {
	SORT_ARRIVAL,
	SORT_CC,
	SORT_DATE,
	SORT_FROM,
	SORT_SIZE,
	SORT_SUBJECT,
	SORT_TO,
	SORT_DISPLAYFROM,
	SORT_DISPLAYTO,
};

static const char *const sort_key_names[] = {
	[SORT_ARRIVAL] = "ARRIVAL", [SORT_CC] = "CC",     [SORT_DATE] = "DATE",
	[SORT_FROM] = "FROM",       [SORT_SIZE] = "SIZE", [SORT_SUBJECT] = "SUBJECT",
	[SORT_TO] = "TO",           [SORT_DISPLAYFROM] = "DISPLAYFROM",
	[SORT_DISPLAYTO] = "DISPLAYTO",
};

/* More criteria than keys exist say nothing new. */
#define SORT_MAX_CRITERIA 16

struct sort_crit {
	enum sort_key key;
	bool reverse;
};


/* One matching message with its keys. */
struct sort_item {
	uint32_t seq, uid;
	uint64_t size;
	int64_t arrival;
	struct sortkey k;
	char **refs;
	size_t nrefs;
};

struct sort_job {
	struct cmd_job job;           /* first member */
	struct search_key *key;
	int64_t mailbox;
	uint32_t *view;
	uint32_t count;
	struct seqset recent;         /* copy of the view's \Recent UIDs */
	bool thread;
	enum thread_algo algo;
	struct sort_crit crit[SORT_MAX_CRITERIA];
	size_t ncrit;
	unsigned ret;                 /* ESEARCH_*, 0: a plain SORT response */
	struct search_partial partial; /* context: with ESEARCH_PARTIAL */
	bool uid;
	int err;
	uint32_t *result;             /* SORT: numbers in sort order */
	size_t n;
	struct sort_order *order;     /* context: UPDATE, the keys of the matches */
	uint32_t *order_uids;         /* ... and their UIDs in sort order */
	struct strbuf threads;        /* THREAD: the thread lists */
};

/* ---- parsing ------------------------------------------------------------ */

static int sort_criteria_parse(const struct imap_arg *a, struct sort_job *j)
{
	if (a->type != IMAP_ARG_LIST || a->count == 0)
		return -1;
	bool reverse = false;
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *o = &a->list[i];
		if (imap_arg_atom_ieq(o, "REVERSE")) {
			if (reverse)
				return -1;
			reverse = true;
			continue;
		}
		size_t k = 0;
		while (k < ARRAY_SIZE(sort_key_names) && !imap_arg_atom_ieq(o, sort_key_names[k]))
			k++;
		if (k == ARRAY_SIZE(sort_key_names) || j->ncrit == SORT_MAX_CRITERIA)
			return -1;
		j->crit[j->ncrit++] = (struct sort_crit){ (enum sort_key)k, reverse };
		reverse = false;
	}
	return reverse ? -1 : 0;
}

/* ---- on the pool ---------------------------------------------------------- */

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

static int cmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

static int sort_key_cmp(enum sort_key key, const struct sort_item *x, const struct sort_item *y)
{
	switch (key) {
	case SORT_ARRIVAL:
		return cmp_i64(x->arrival, y->arrival);
	case SORT_DATE:
		return cmp_i64(x->k.date, y->k.date);
	case SORT_SIZE:
		return cmp_u64(x->size, y->size);
	case SORT_CC:
		return strcmp(x->k.cc, y->k.cc);
	case SORT_FROM:
		return strcmp(x->k.from, y->k.from);
	case SORT_TO:
		return strcmp(x->k.to, y->k.to);
	case SORT_SUBJECT:
		return strcmp(x->k.subject, y->k.subject);
	case SORT_DISPLAYFROM:
		return strcmp(x->k.displayfrom, y->k.displayfrom);
	case SORT_DISPLAYTO:
		return strcmp(x->k.displayto, y->k.displayto);
	}
	return 0;
}

/* The criteria in order; RFC 5256 3: messages equal under all of them
 * keep their mailbox order (UID order), REVERSE or not. */
static int sort_items_cmp(const struct sort_crit *crit, size_t ncrit, const struct sort_item *x,
			  const struct sort_item *y)
{
	for (size_t i = 0; i < ncrit; i++) {
		int r = sort_key_cmp(crit[i].key, x, y);
		if (r)
			return crit[i].reverse ? -r : r;
	}
	return cmp_u64(x->uid, y->uid);
}

static int sort_item_cmp(const void *a, const void *b, void *ctx)
{
	const struct sort_job *j = ctx;
	return sort_items_cmp(j->crit, j->ncrit, a, b);
}

/* The References ids, or In-Reply-To's first when there are none
 * (RFC 5256 3 REFERENCES step 1). */
static void item_refs(struct store_user *u, const struct store_msg *m, struct sort_item *it)
{
	const char *data;
	size_t len;
	if (store_blob_map(u, m->blob, &data, &len) == STORE_OK) {
		it->nrefs = sortkey_references(data, len, &it->refs);
		store_blob_unmap(data, len);
	} else {
		log_warn("event=thread_blob_missing blob=%s", m->blob);
	}
	if (it->nrefs == 0 && it->k.in_reply_to) {
		it->refs = xmalloc(sizeof(*it->refs));
		it->refs[0] = xstrdup(it->k.in_reply_to);
		it->nrefs = 1;
	}
}

/* The keys of the matches; expunged meanwhile ones are dropped. */
static int sort_items_load(struct store_user *u, int64_t mailbox, bool refs, const uint32_t *seqs,
			   const uint32_t *uids, size_t n, struct sort_item **out, size_t *nout)
{
	struct store_msg *msgs = NULL;
	size_t nmsgs = 0;
	int r = store_msg_get(u, mailbox, uids, n, &msgs, &nmsgs);
	if (r != STORE_OK)
		return r;
	struct sort_item *items = xcalloc(n ? n : 1, sizeof(*items));
	size_t ni = 0, mpos = 0;
	for (size_t i = 0; i < n && r == STORE_OK; i++) {
		while (mpos < nmsgs && msgs[mpos].uid < uids[i])
			mpos++;
		if (mpos >= nmsgs || msgs[mpos].uid != uids[i])
			continue;
		const struct store_msg *m = &msgs[mpos];
		char *env = NULL;
		r = store_msg_cached(u, mailbox, m->uid, &env, NULL, NULL);
		if (r == STORE_ENOENT) {
			r = STORE_OK;
			continue;
		}
		if (r != STORE_OK)
			break;
		struct sort_item *it = &items[ni++];
		it->seq = seqs[i];
		it->uid = m->uid;
		it->size = m->size;
		it->arrival = m->internaldate;
		sortkey_from_envelope(env, m->internaldate, &it->k);
		free(env);
		if (refs)
			item_refs(u, m, it);
	}
	store_msg_array_free(msgs, nmsgs);
	*out = items;
	*nout = ni;
	return r;
}

static void sort_items_free_keys(struct sort_item *it)
{
	sortkey_free(&it->k);
	sortkey_ids_free(it->refs, it->nrefs);
}

static void sort_items_free(struct sort_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sort_items_free_keys(&items[i]);
	free(items);
}

static void thread_items(struct sort_job *j, const struct sort_item *items, size_t n)
{
	struct thread_msg *tm = xcalloc(n ? n : 1, sizeof(*tm));
	for (size_t i = 0; i < n; i++) {
		const struct sort_item *it = &items[i];
		tm[i] = (struct thread_msg){
			.id = j->uid ? it->uid : it->seq,
			.date = it->k.date,
			.subject = it->k.subject,
			.reply = it->k.reply,
			.message_id = it->k.message_id,
			.refs = it->refs,
			.nrefs = it->nrefs,
		};
	}
	thread_write(j->algo, tm, n, &j->threads);
	free(tm);
}

/* ---- context: the keys of a live SORT (RFC 5267 4.3, CONTEXT=SORT) ------ */

struct sort_order {
	struct sort_crit crit[SORT_MAX_CRITERIA];
	size_t ncrit;
	struct sort_item *items;      /* the members' keys, by UID */
	size_t n, cap;
};

static int item_uid_cmp(const void *a, const void *b)
{
	const struct sort_item *x = a, *y = b;
	return cmp_u64(x->uid, y->uid);
}

/* Takes items[0..n) (in sort order); *uids gets that order. */
static struct sort_order *sort_order_new(const struct sort_job *j, struct sort_item *items,
					 size_t n, uint32_t **uids)
{
	struct sort_order *o = xcalloc(1, sizeof(*o));
	memcpy(o->crit, j->crit, sizeof(o->crit));
	o->ncrit = j->ncrit;
	*uids = xmalloc((n ? n : 1) * sizeof(**uids));
	for (size_t i = 0; i < n; i++)
		(*uids)[i] = items[i].uid;
	if (n > 1)
		qsort(items, n, sizeof(*items), item_uid_cmp);
	o->items = items;
	o->n = o->cap = n;
	return o;
}

static struct sort_item *sort_order_find(const struct sort_order *o, uint32_t uid)
{
	struct sort_item key = { .uid = uid };
	return o->n ? bsearch(&key, o->items, o->n, sizeof(*o->items), item_uid_cmp) : NULL;
}

bool sort_order_has(const struct sort_order *o, uint32_t uid)
{
	return sort_order_find(o, uid) != NULL;
}

int sort_order_cmp(const struct sort_order *o, uint32_t a, uint32_t b)
{
	const struct sort_item *x = sort_order_find(o, a), *y = sort_order_find(o, b);
	assert(x && y);
	return sort_items_cmp(o->crit, o->ncrit, x, y);
}

int sort_order_load(struct sort_order *o, struct store_user *u, int64_t mailbox,
		    const uint32_t *uids, size_t n)
{
	struct sort_item *items = NULL;
	size_t ni = 0;
	/* the sequence numbers are not used: ties fall back to UIDs */
	int r = sort_items_load(u, mailbox, false, uids, uids, n, &items, &ni);
	if (r == STORE_OK && ni) {
		xgrow((void **)&o->items, &o->cap, o->n + ni, sizeof(*o->items));
		memcpy(o->items + o->n, items, ni * sizeof(*items));
		o->n += ni;
		qsort(o->items, o->n, sizeof(*o->items), item_uid_cmp);
		free(items);
	} else {
		sort_items_free(items, ni);
	}
	return r;
}

void sort_order_forget(struct sort_order *o, uint32_t uid)
{
	struct sort_item *it = sort_order_find(o, uid);
	if (!it)
		return;
	sort_items_free_keys(it);
	size_t i = (size_t)(it - o->items);
	memmove(it, it + 1, (o->n - i - 1) * sizeof(*it));
	o->n--;
}

void sort_order_free(struct sort_order *o)
{
	if (!o)
		return;
	sort_items_free(o->items, o->n);
	free(o);
}

static int sort_run(struct sort_job *j)
{
	struct store_user *u = cmd_job_store(&j->job);
	if (!u)
		return STORE_EIO;
	uint32_t *seqs = NULL, *uids = NULL;
	size_t n = 0;
	int r = cmd_search_matches(u, j->job.reader, j->key, j->mailbox, j->view, j->count,
				   &j->recent, &seqs, &uids, &n);
	struct sort_item *items = NULL;
	size_t ni = 0;
	if (r == STORE_OK && n)
		r = sort_items_load(u, j->mailbox, j->thread && j->algo == THREAD_REFERENCES, seqs,
				    uids, n, &items, &ni);
	free(seqs);
	free(uids);
	if (r == STORE_OK && j->thread) {
		thread_items(j, items, ni);
	} else if (r == STORE_OK) {
		if (ni > 1) /* items is NULL when nothing matched */
			qsort_r(items, ni, sizeof(*items), sort_item_cmp, j);
		j->result = xmalloc((ni ? ni : 1) * sizeof(*j->result));
		for (size_t i = 0; i < ni; i++)
			j->result[i] = j->uid ? items[i].uid : items[i].seq;
		j->n = ni;
		if (j->ret & ESEARCH_UPDATE) { /* context: the keys stay */
			j->order = sort_order_new(j, items, ni, &j->order_uids);
			items = NULL;
			ni = 0;
		}
	}
	sort_items_free(items, ni);
	return r;
}

static void sort_job_run(struct cmd_job *job)
{
	struct sort_job *j = (struct sort_job *)job;
	j->err = sort_run(j);
}

static void sort_job_free(struct cmd_job *job)
{
	struct sort_job *j = (struct sort_job *)job;
	search_key_free(j->key);
	free(j->view);
	seqset_free(&j->recent);
	free(j->result);
	sort_order_free(j->order);
	free(j->order_uids);
	strbuf_free(&j->threads);
	free(j);
}

/* ---- back on the worker --------------------------------------------------- */

/* RFC 5267 3: ALL in sort order as a sequence-set; only ascending runs
 * become ranges, so the order survives. */
static void write_ordered_set(struct strbuf *out, const uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = i;
		while (k + 1 < n && v[k + 1] == v[k] + 1)
			k++;
		strbuf_addf(out, i ? ",%u" : "%u", v[i]);
		if (k > i)
			strbuf_addf(out, ":%u", v[k]);
		i = k + 1;
	}
}

/* RFC 5267 3: MIN/MAX are the first/last in sort order, and ALL lists
 * the sort order. */
static void write_esort(struct imap_session *s, struct strbuf *line, unsigned ret, bool uid,
			const uint32_t *res, size_t n)
{
	cmd_esearch_write(s, line, ret & ~(unsigned)ESEARCH_ALL, uid, res, n);
	if ((ret & ESEARCH_ALL) && n) {
		strbuf_adds(line, " ALL ");
		write_ordered_set(line, res, n);
	}
}

static void sort_job_done(struct cmd_job *job)
{
	struct sort_job *j = (struct sort_job *)job;
	struct imap_session *s = job->cmd->s;
	const char *what = j->thread ? "THREAD" : "SORT";
	if (j->err != STORE_OK) {
		sess_store_error(s, j->err, what);
		return;
	}
	struct strbuf line = STRBUF_INIT;
	if (j->thread) {
		strbuf_adds(&line, "* THREAD");
		if (j->threads.len) {
			strbuf_addc(&line, ' ');
			strbuf_add(&line, j->threads.s, j->threads.len);
		}
	} else if (j->ret) {
		/* context: RFC 5267 4.3.1, a refused UPDATE is an untagged NO */
		const char *noupdate =
			j->ret & ESEARCH_UPDATE ? search_context_refusal(s, j->key) : NULL;
		if (noupdate)
			search_context_write_noupdate(s, noupdate);
		else if (j->ret & ESEARCH_UPDATE) {
			search_context_add(s, j->uid, j->key, j->order_uids, j->n, j->order);
			j->key = NULL;
			j->order = NULL;
		}
		write_esort(s, &line, j->ret, j->uid, j->result, j->n);
		/* RFC 5267 4.4: positions in sort order */
		if (j->ret & ESEARCH_PARTIAL)
			search_partial_write(&line, &j->partial, j->result, j->n, write_ordered_set);
	} else {
		strbuf_adds(&line, "* SORT");
		for (size_t i = 0; i < j->n; i++)
			strbuf_addf(&line, " %u", j->result[i]);
	}
	strbuf_adds(&line, "\r\n");
	sess_write(s, line.s, line.len);
	strbuf_free(&line);
	/* RFC 9051 7.5.1: no EXPUNGE while answering (as for SEARCH). */
	if (!view_sync(s, false))
		return;
	sess_tagged(s, "OK", "%s%s completed", j->uid ? "UID " : "", what);
}

/* charset and search criteria, shared by SORT and THREAD: starts the job,
 * or answers BAD/NO and frees it. */
static void sort_start(struct imap_cmd *cmd, struct sort_job *j, const struct imap_arg *args,
		       size_t nargs)
{
	struct imap_session *s = cmd->s;
	const char *err = NULL, *charset = NULL;
	size_t clen;
	/* RFC 5256 4: the charset is not optional here. */
	if (nargs < 2 || !imap_arg_get_astring(&args[0], &charset, &clen)) {
		err = "Missing charset or search criteria";
		goto bad;
	}
	/* RFC 6855 3 (erratum 4029): after ENABLE UTF8=ACCEPT the mandatory
	 * charset must be UTF-8; any other label conflicts. */
	if (imap_cap_enabled(s, "UTF8=ACCEPT") && !ascii_ieq(charset, "UTF-8")) {
		err = "Only charset UTF-8 is allowed after ENABLE UTF8=ACCEPT";
		goto bad;
	}
	if (ascii_ieq(charset, "UTF-8") || ascii_ieq(charset, "US-ASCII"))
		charset = NULL;
	const struct imap_view *v = &s->view;
	struct search_parse_ctx ctx = {
		.max_seq = v->count ? v->count : 1,
		.max_uid = v->count ? v->uids[v->count - 1] : 1,
		.saved = s->searchres_set ? &s->searchres : NULL,
		.charset = charset,
		.rev2 = s->rev2,
		.no_seqs = uidonly_on(s) ? UIDONLY_REFUSED : NULL,
	};
	enum search_parse_result pr = imap_search_parse(&args[1], nargs - 1, &ctx, &j->key, &err);
	if (pr == SEARCH_PARSE_BADCHARSET) {
		sort_job_free(&j->job);
		sess_tagged(s, "NO", "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return;
	}
	if (pr != SEARCH_PARSE_OK)
		goto bad;
	j->mailbox = v->id;
	j->count = v->count;
	for (size_t k = 0; k < v->recent.n; k++)
		seqset_add(&j->recent, v->recent.r[k].lo, v->recent.r[k].hi);
	j->uid = cmd->uid;
	if (v->count) {
		j->view = xmalloc(v->count * sizeof(*j->view));
		memcpy(j->view, v->uids, v->count * sizeof(*j->view));
	}
	cmd_run_on_pool(cmd, &j->job, sort_job_run, sort_job_done, sort_job_free);
	return;
bad:
	sort_job_free(&j->job);
	sess_tagged(s, "BAD", "%s", err ? err : "Invalid search criteria");
}

void cmd_sort(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct sort_job *j = xcalloc(1, sizeof(*j));
	size_t i = 0;
	if (i < nargs && imap_arg_atom_ieq(&args[i], "RETURN")) {
		/* RFC 5267 3: MIN MAX COUNT ALL, and PARTIAL/UPDATE/CONTEXT
		 * (4.4, 4.3); SAVE is not offered. */
		struct search_return sr;
		const char *err;
		if (i + 1 >= nargs || search_return_parse(&args[i + 1], &sr, &err) < 0 ||
		    (sr.opts & ESEARCH_SAVE)) {
			sort_job_free(&j->job);
			sess_tagged(cmd->s, "BAD",
				    "Invalid SORT RETURN options (MIN MAX COUNT ALL PARTIAL UPDATE)");
			return;
		}
		/* RFC 5267 4.3: a tag already naming a live context is BAD. */
		if ((sr.opts & ESEARCH_UPDATE) && search_context_tag_busy(cmd->s, cmd->tag)) {
			sort_job_free(&j->job);
			sess_tagged(cmd->s, "BAD", "Tag reuse: a search context has this tag");
			return;
		}
		j->ret = sr.opts;
		j->partial = sr.partial;
		i += 2;
	}
	if (i >= nargs || sort_criteria_parse(&args[i], j) < 0) {
		sort_job_free(&j->job);
		sess_tagged(cmd->s, "BAD", "Invalid sort criteria");
		return;
	}
	sort_start(cmd, j, args + i + 1, nargs - i - 1);
}

void cmd_thread(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct sort_job *j = xcalloc(1, sizeof(*j));
	j->thread = true;
	if (nargs && imap_arg_atom_ieq(&args[0], "ORDEREDSUBJECT")) {
		j->algo = THREAD_ORDEREDSUBJECT;
	} else if (nargs && imap_arg_atom_ieq(&args[0], "REFERENCES")) {
		j->algo = THREAD_REFERENCES;
	} else {
		sort_job_free(&j->job);
		sess_tagged(cmd->s, "BAD", "Unknown threading algorithm");
		return;
	}
	sort_start(cmd, j, args + 1, nargs - 1);
}
