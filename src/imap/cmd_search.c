/* SEARCH and UID SEARCH (RFC 9051 6.4.4, 6.4.9; RFC 4731 ESEARCH result
 * options; RFC 5182 SEARCHRES).
 *
 * The criteria are parsed by imap/search_parse.c and evaluated by
 * mail/search.c; this file feeds the evaluator the view's messages in
 * sequence order from one store listing, with what the search index
 * (store.h "Search index") knows of each: the decoded header fields and
 * Date: day, and the exact answer to each BODY/TEXT key. Only a message
 * the index does not hold yet has its content loaded (freed again per
 * message), and the background indexer (imap/search_index.c) is asked to
 * catch up with it. The answer:
 * "* SEARCH ..." for IMAP4rev1 clients, "* ESEARCH ..." for IMAP4rev2
 * clients and whenever RETURN was given. */
#include "imap/search_parse.h"
#include "imap/search_context.h"
#include "imap/session_internal.h"
#include "imap/condstore.h"
#include "imap/capability.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/quote.h"
#include "core/util.h"
#include "mail/mail.h"
#include "mail/search.h"
#include "imap/search_index.h"
#include "imap/uidonly.h"
#include "imap/inprogress.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	RET_MIN = ESEARCH_MIN,
	RET_MAX = ESEARCH_MAX,
	RET_COUNT = ESEARCH_COUNT,
	RET_ALL = ESEARCH_ALL,
	RET_SAVE = ESEARCH_SAVE,
	RET_PARTIAL = ESEARCH_PARTIAL,
};

/* RETURN (...) options of RFC 4731 3.1 and RFC 5182 2 only. */
int cmd_esearch_return_parse(const struct imap_arg *a, unsigned *ret)
{
	struct search_return r;
	const char *err;
	if (search_return_parse(a, &r, &err) < 0 ||
	    (r.opts & (ESEARCH_PARTIAL | ESEARCH_CONTEXT | ESEARCH_UPDATE)))
		return -1;
	*ret = r.opts;
	return 0;
}

/* Loads one message's content for the evaluator, at most once. */
struct search_loader {
	struct store_user *u;
	const char *blob;
	const char *data;
	size_t len;
	struct mail_msg *mail;
	bool tried;
};

static const struct mail_msg *search_load(void *ctx)
{
	struct search_loader *l = ctx;
	if (l->tried)
		return l->mail;
	l->tried = true;
	if (store_blob_map(l->u, l->blob, &l->data, &l->len) != STORE_OK) {
		l->data = NULL;
		log_warn("event=search_blob_missing blob=%s", l->blob);
		return NULL;
	}
	l->mail = mail_parse(l->data, l->len);
	return l->mail;
}

static void search_unload(struct search_loader *l)
{
	mail_msg_free(l->mail);
	if (l->data)
		store_blob_unmap(l->data, l->len);
	l->mail = NULL;
	l->data = NULL;
	l->tried = false;
}

/* A SEARCH on the work pool: the criteria and a copy of the view in, the
 * matches out. */
struct search_job {
	struct cmd_job job;          /* first member */
	struct search_key *key;
	int64_t mailbox;
	uint32_t *view;              /* the view's UIDs: sequence number - 1 -> UID */
	uint32_t count;
	struct seqset recent;        /* copy of the view's \Recent UIDs */
	unsigned ret;
	struct search_partial partial; /* context: with RET_PARTIAL */
	bool esearch;
	int err;
	uint32_t *seqs, *uids;       /* the matches, ascending */
	size_t n;
	bool modseq;                 /* condstore: MODSEQ key used (RFC 7162 3.1.5) */
	uint64_t maxmodseq;          /* ... the highest modseq matched */
	size_t unindexed;            /* messages the index did not hold */
};

/* What the index answered for the content keys of one search: BODY and
 * TEXT from the full-text index, FROM/TO/CC/BCC/SUBJECT and HEADER of an
 * indexed field from the stored fields. */
#define SEARCH_TEXT_KEYS_MAX 16

struct text_answer {
	const struct search_key *key;
	uint32_t *uids;              /* ascending; NULL: every indexed message */
	size_t n;
	bool all;
};

struct text_answers {
	struct text_answer a[SEARCH_TEXT_KEYS_MAX];
	size_t n;
	/* The messages the index cannot answer for: not indexed yet, and
	 * (BODY/TEXT only) indexed in part. Ascending, usually empty. */
	uint32_t *unindexed, *partial;
	size_t nunindexed, npartial;
	uint32_t uid;                /* the current message */
};

/* The index fields a key tree reads (bit per SEARCH_DOC_* field). */
static unsigned key_fields(const struct search_key *k)
{
	unsigned m = 0;
	if (k->type == SK_HEADER) {
		int f = search_doc_field_find(k->field);
		if (f >= 0)
			m |= 1u << f;
	}
	for (size_t i = 0; i < k->nchildren; i++)
		m |= key_fields(k->children[i]);
	return m;
}

/* Whether the tree needs the index entries themselves: only the Date:
 * day of SENT* is not answered by a query of its own. */
static bool key_needs_docs(const struct search_key *k)
{
	if (k->type == SK_SENTBEFORE || k->type == SK_SENTON || k->type == SK_SENTSINCE)
		return true;
	for (size_t i = 0; i < k->nchildren; i++)
		if (key_needs_docs(k->children[i]))
			return true;
	return false;
}

static bool field_match(const char *value, size_t len, void *ctx)
{
	return search_value_contains(value, len, ctx);
}

/* Asks the index for every content key of the tree it can answer (up to
 * SEARCH_TEXT_KEYS_MAX; the others are evaluated from the entries or the
 * messages). */
static void text_answers_fill(struct store_user *u, int64_t mailbox, uint32_t min_uid,
			      const struct search_key *k, struct text_answers *ta)
{
	int f = k->type == SK_HEADER && k->field ? search_doc_field_find(k->field) : -1;
	if ((k->type == SK_BODY || k->type == SK_TEXT || f >= 0) && ta->n < SEARCH_TEXT_KEYS_MAX) {
		struct text_answer *a = &ta->a[ta->n];
		memset(a, 0, sizeof(*a));
		a->key = k;
		int r = STORE_OK;
		if (f >= 0)
			r = store_search_field(u, mailbox, min_uid, f, field_match,
					       k->folded ? k->folded : "", &a->uids, &a->n);
		/* RFC 9051 6.4.4: the empty string is in every text. */
		else if (!k->folded || !*k->folded)
			a->all = true;
		else
			r = store_search_text(u, mailbox, k->folded, k->type == SK_BODY, &a->uids,
					      &a->n);
		if (r != STORE_OK)
			return;
		ta->n++;
	}
	for (size_t i = 0; i < k->nchildren; i++)
		text_answers_fill(u, mailbox, min_uid, k->children[i], ta);
}

static void text_answers_free(struct text_answers *ta)
{
	for (size_t i = 0; i < ta->n; i++)
		free(ta->a[i].uids);
	free(ta->unindexed);
	free(ta->partial);
}

/* search_msg.text_hit: the index's exact answer for a message it holds
 * (for BODY/TEXT: holds whole), -1 otherwise. */
static int text_hit(void *ctx, const struct search_key *k)
{
	const struct text_answers *ta = ctx;
	if (u32_sorted_has(ta->unindexed, ta->nunindexed, ta->uid))
		return -1;
	for (size_t i = 0; i < ta->n; i++) {
		const struct text_answer *a = &ta->a[i];
		if (a->key != k)
			continue;
		if (k->type != SK_HEADER && u32_sorted_has(ta->partial, ta->npartial, ta->uid))
			return -1;
		return a->all || u32_sorted_has(a->uids, a->n, ta->uid);
	}
	return -1;
}

/* What the evaluator knows of m without the index; loader reads its
 * content when a key needs it (NULL: none does). */
static void search_msg_fill(struct search_msg *sm, const struct store_msg *m, uint32_t seq,
			    const struct seqset *recent, int64_t now, struct search_loader *loader)
{
	*sm = (struct search_msg){
		.seq = seq,
		.uid = m->uid,
		.flags = m->flags | (seqset_contains(recent, m->uid) ? MAIL_FLAG_RECENT : 0),
		.keywords = m->keywords,
		.internaldate = m->internaldate,
		.internaldate_tz = m->internaldate_tz,
		.savedate = m->savedate > 0 ? m->savedate : -1,
		.size = m->size,
		.modseq = m->modseq,
		.blob = m->blob[0] ? m->blob : NULL, /* objectid */
		.now = now,
		.load = loader ? search_load : NULL,
		.load_ctx = loader,
	};
}

/* The same from the compact flag listing: no dates, size or blob. */
static void search_msg_fill_flags(struct search_msg *sm, const struct store_flag_list *l,
				  size_t i, uint32_t seq, const struct seqset *recent, int64_t now)
{
	*sm = (struct search_msg){
		.seq = seq,
		.uid = l->uids[i],
		.flags = l->flags[i] | (seqset_contains(recent, l->uids[i]) ? MAIL_FLAG_RECENT : 0),
		.keywords = l->kw ? l->kws[l->kw[i]] : NULL,
		.savedate = -1,
		.modseq = l->modseqs[i],
		.now = now,
	};
}

/* Whether every key of the tree is answered by what the compact flag
 * listing holds (uid, flags, modseq, keywords) or by the index's answers
 * in ta (no message content loaded, so no blob needed): then the search
 * reads that listing (a covering index, no allocation per message)
 * instead of every message row. A list of the keys known to qualify, so
 * a key type added later reads the rows until it is listed here. */
static bool key_fits_flag_list(const struct search_key *k, const struct text_answers *ta)
{
	switch (k->type) {
	case SK_ALL:
	case SK_AND:
	case SK_OR:
	case SK_NOT:
	case SK_SEQSET:
	case SK_UIDSET:
	case SK_FLAG:
	case SK_NOFLAG:
	case SK_NEW:
	case SK_OLD:
	case SK_KEYWORD:
	case SK_UNKEYWORD:
	case SK_MODSEQ:
	case SK_THREADID:
		break;
	case SK_HEADER:
	case SK_BODY:
	case SK_TEXT: {
		/* Answered for every message: nothing unindexed, no BODY/TEXT
		 * over a partial entry, and an answer for this key. */
		if (!ta || ta->nunindexed || (k->type != SK_HEADER && ta->npartial))
			return false;
		bool answered = false;
		for (size_t i = 0; i < ta->n && !answered; i++)
			answered = ta->a[i].key == k;
		if (!answered)
			return false;
		break;
	}
	default:
		return false;
	}
	for (size_t i = 0; i < k->nchildren; i++)
		if (!key_fits_flag_list(k->children[i], ta))
			return false;
	return true;
}

static bool key_uses_keywords(const struct search_key *k)
{
	if (k->type == SK_KEYWORD || k->type == SK_UNKEYWORD)
		return true;
	for (size_t i = 0; i < k->nchildren; i++)
		if (key_uses_keywords(k->children[i]))
			return true;
	return false;
}

/* The mailbox's messages as search_run walks them: full rows, or the
 * compact flag listing when the tree fits it (key_fits_flag_list). */
struct search_listing {
	struct store_msg *msgs;      /* rows, or NULL */
	struct store_flag_list fl;   /* the compact listing when msgs is NULL */
	size_t n;
};

static uint32_t listing_uid(const struct search_listing *l, size_t i)
{
	return l->msgs ? l->msgs[i].uid : l->fl.uids[i];
}

static int listing_read(struct store_user *u, const struct search_job *j, bool compact,
			struct search_listing *l)
{
	memset(l, 0, sizeof(*l));
	int r;
	if (compact) {
		r = store_msg_flags_as(u, j->mailbox, j->job.reader, j->view[0], UINT32_MAX,
				       key_uses_keywords(j->key), &l->fl);
		l->n = l->fl.n;
		return r;
	}
	r = store_msg_list(u, j->mailbox, j->view[0], false, &l->msgs, &l->n);
	if (r == STORE_OK) /* aclseen: SEEN/UNSEEN are the reader's */
		r = store_pvtseen_apply(u, j->mailbox, j->job.reader, l->msgs, l->n);
	return r;
}

static void listing_free(struct search_listing *l)
{
	store_msg_array_free(l->msgs, l->n);
	store_flag_list_free(&l->fl);
}

void cmd_search_match_msgs(struct store_user *u, const struct search_key *key,
			   const struct store_msg *msgs, const uint32_t *seqs, size_t n,
			   const struct seqset *recent, bool *match)
{
	bool content = search_needs_content(key);
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < n; i++) {
		struct search_loader loader = { .u = u, .blob = msgs[i].blob };
		struct search_msg sm;
		search_msg_fill(&sm, &msgs[i], seqs[i], recent, now, content ? &loader : NULL);
		match[i] = search_match(key, &sm);
		search_unload(&loader);
	}
}

/* Evaluates the tree over the view (on a pool thread). */
static int search_run(struct store_user *u, struct search_job *j)
{
	if (j->count == 0)
		return STORE_OK;
	if (!u)
		return STORE_EIO;
	bool content = search_needs_content(j->key);
	struct store_search_row *rows = NULL;
	size_t nrows = 0, rpos = 0;
	struct text_answers ta = { .n = 0 };
	bool indexed = false;
	if (content) {
		/* Without the index (an error is logged by the store) every
		 * message is read, as before it existed. */
		if (store_search_coverage(u, j->mailbox, j->view[0], &ta.unindexed, &ta.nunindexed,
					  &ta.partial, &ta.npartial) == STORE_OK) {
			indexed = true;
			if (key_needs_docs(j->key) &&
			    store_search_docs(u, j->mailbox, j->view[0], key_fields(j->key), &rows,
					      &nrows) != STORE_OK)
				nrows = 0;
			text_answers_fill(u, j->mailbox, j->view[0], j->key, &ta);
			/* The background indexer is started for these (below). */
			j->unindexed = ta.nunindexed;
		}
	}
	struct search_listing l;
	int r = listing_read(u, j, key_fits_flag_list(j->key, indexed ? &ta : NULL), &l);
	if (r != STORE_OK) {
		listing_free(&l);
		text_answers_free(&ta);
		store_search_rows_free(rows, nrows);
		return r;
	}
	int64_t now = (int64_t)time(NULL);
	size_t cap = 0, mpos = 0;
	for (uint32_t i = 0; i < j->count; i++) {
		if ((i & 255) == 0)
			cmd_job_progress(&j->job, i, j->count); /* inprogress: RFC 9585 */
		uint32_t uid = j->view[i];
		while (mpos < l.n && listing_uid(&l, mpos) < uid)
			mpos++;
		/* Expunged by someone else but still in our view: it matches
		 * nothing (its data is gone). */
		if (mpos >= l.n || listing_uid(&l, mpos) != uid)
			continue;
		while (rpos < nrows && rows[rpos].uid < uid)
			rpos++;
		const struct store_search_row *row =
			rpos < nrows && rows[rpos].uid == uid ? &rows[rpos] : NULL;
		ta.uid = uid;
		struct search_loader loader = { .u = u };
		struct search_msg sm;
		if (l.msgs) {
			loader.blob = l.msgs[mpos].blob;
			search_msg_fill(&sm, &l.msgs[mpos], i + 1, &j->recent, now,
					content ? &loader : NULL);
		} else {
			search_msg_fill_flags(&sm, &l.fl, mpos, i + 1, &j->recent, now);
		}
		sm.doc = row ? &row->doc : NULL;
		sm.text_hit = content ? text_hit : NULL;
		sm.text_ctx = &ta;
		bool match = search_match(j->key, &sm);
		search_unload(&loader);
		if (!match)
			continue;
		if (j->n == cap) {
			size_t c2 = cap;
			xgrow((void **)&j->seqs, &cap, j->n + 1, sizeof(*j->seqs));
			xgrow((void **)&j->uids, &c2, j->n + 1, sizeof(*j->uids));
		}
		j->seqs[j->n] = i + 1;
		j->uids[j->n] = uid;
		j->n++;
		if (sm.modseq > j->maxmodseq)
			j->maxmodseq = sm.modseq;
	}
	text_answers_free(&ta);
	store_search_rows_free(rows, nrows);
	listing_free(&l);
	return STORE_OK;
}

static void search_job_run(struct cmd_job *job)
{
	struct search_job *j = (struct search_job *)job;
	j->err = search_run(cmd_job_store(job), j);
}

/* SORT and THREAD (imap/cmd_sort.c) search the same way. */
int cmd_search_matches(struct store_user *u, const char *reader, const struct search_key *key,
		       int64_t mailbox, const uint32_t *view, uint32_t count,
		       const struct seqset *recent, uint32_t **seqs, uint32_t **uids, size_t *n)
{
	/* j.recent borrows the caller's set and j.job.reader the caller's
	 * string: search_run only reads them */
	struct search_job j = { .job.reader = (char *)reader, .key = (struct search_key *)key,
				.mailbox = mailbox, .view = (uint32_t *)view, .count = count,
				.recent = *recent };
	int r = search_run(u, &j);
	*seqs = j.seqs;
	*uids = j.uids;
	*n = j.n;
	return r;
}

static void search_job_free(struct cmd_job *job)
{
	struct search_job *j = (struct search_job *)job;
	search_key_free(j->key);
	free(j->view);
	seqset_free(&j->recent);
	free(j->seqs);
	free(j->uids);
	free(j);
}

/* RFC 5182 2.4: SAVE with only MIN and/or MAX saves just those; otherwise
 * the whole result. RFC 9394 3.2: with PARTIAL (and no COUNT) the
 * partial result, with MIN/MAX added. */
static void searchres_save(struct imap_session *s, unsigned ret, const struct search_partial *p,
			   const uint32_t *uids, size_t n)
{
	if (n && (ret & (RET_MIN | RET_MAX | RET_PARTIAL)) && !(ret & (RET_COUNT | RET_ALL))) {
		/* uids ascend: MIN, the slice and MAX stay in order */
		size_t from = 0, np = 0, k = 0;
		if (ret & RET_PARTIAL)
			np = search_partial_slice(p, n, &from);
		uint32_t *keep = xmalloc((np + 2) * sizeof(*keep));
		if (ret & RET_MIN)
			keep[k++] = uids[0];
		if (np)
			memcpy(keep + k, uids + from, np * sizeof(*keep));
		k += np;
		if (ret & RET_MAX)
			keep[k++] = uids[n - 1];
		sess_searchres_save(s, keep, k);
		free(keep);
		return;
	}
	sess_searchres_save(s, uids, n);
}

void cmd_esearch_write(struct imap_session *s, struct strbuf *line, unsigned ret, bool uid,
		       const uint32_t *res, size_t n)
{
	strbuf_adds(line, "* ESEARCH (TAG ");
	const char *tag = s->cmd->tag ? s->cmd->tag : "*";
	quote_string(line, tag, strlen(tag));
	strbuf_addc(line, ')');
	if (uid)
		strbuf_adds(line, " UID");
	/* RFC 4731 3.1: MIN, MAX and ALL are left out when nothing matched;
	 * COUNT 0 is still sent. */
	if ((ret & RET_MIN) && n)
		strbuf_addf(line, " MIN %u", res[0]);
	if ((ret & RET_MAX) && n)
		strbuf_addf(line, " MAX %u", res[n - 1]);
	if (ret & RET_COUNT)
		strbuf_addf(line, " COUNT %zu", n);
	if ((ret & RET_ALL) && n) {
		strbuf_adds(line, " ALL ");
		seqset_format_list(line, res, n);
	}
}

/* Back on the worker: the answer. */
static void search_job_done(struct cmd_job *job)
{
	struct search_job *j = (struct search_job *)job;
	struct imap_session *s = job->cmd->s;
	bool uid = job->cmd->uid;
	unsigned ret = j->ret;
	if (j->unindexed > 0 && s->user)
		search_index_kick(s->info.base, s->user);
	if (j->err != STORE_OK) {
		if (ret & RET_SAVE)
			searchres_save(s, ret, NULL, NULL, 0);
		sess_store_error(s, j->err, "SEARCH");
		return;
	}
	const uint32_t *res = uid ? j->uids : j->seqs;
	size_t n = j->n;
	if (ret & RET_SAVE)
		searchres_save(s, ret, &j->partial, j->uids, n);
	/* RFC 5267 4.3.1: a refused UPDATE is an untagged NO; the other
	 * options are still answered. */
	const char *noupdate = ret & ESEARCH_UPDATE ? search_context_refusal(s, j->key) : NULL;
	if (noupdate)
		search_context_write_noupdate(s, noupdate);
	struct strbuf line = STRBUF_INIT;
	if (!j->esearch && !s->rev2) {
		strbuf_adds(&line, "* SEARCH");
		for (size_t k = 0; k < n; k++)
			strbuf_addf(&line, " %u", res[k]);
		if (j->modseq && n)
			strbuf_addf(&line, " (MODSEQ %llu)", (unsigned long long)j->maxmodseq);
		strbuf_adds(&line, "\r\n");
	} else if (ret != RET_SAVE) {
		/* RFC 9051 6.4.4: a rev2 SEARCH without RETURN is RETURN (ALL).
		 * RFC 5182 2.1: SAVE alone produces no ESEARCH response. */
		cmd_esearch_write(s, &line, j->esearch ? ret : RET_ALL, uid, res, n);
		if (ret & RET_PARTIAL)
			search_partial_write(&line, &j->partial, res, n, seqset_format_list);
		if (j->modseq && n)
			strbuf_addf(&line, " MODSEQ %llu", (unsigned long long)j->maxmodseq);
		strbuf_adds(&line, "\r\n");
	}
	if (line.len)
		sess_write(s, line.s, line.len);
	strbuf_free(&line);
	if ((ret & ESEARCH_UPDATE) && !noupdate) {
		search_context_add(s, uid, j->key, j->uids, n, NULL);
		j->key = NULL; /* the context's now */
	}
	/* RFC 9051 7.5.1: no EXPUNGE while answering SEARCH. */
	if (!view_sync(s, false))
		return;
	sess_tagged(s, "OK", "%sSEARCH completed", uid ? "UID " : "");
}

void cmd_search(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	size_t i = 0;
	unsigned ret = 0;
	struct search_return sr = { 0 };
	bool esearch = false;
	const char *err = NULL;
	struct search_key *key = NULL;
	if (i < nargs && imap_arg_atom_ieq(&args[i], "RETURN")) {
		if (i + 1 >= nargs || search_return_parse(&args[i + 1], &sr, &err) < 0) {
			sess_tagged(s, "BAD", "Invalid SEARCH RETURN options: %s", err);
			return;
		}
		ret = sr.opts;
		/* RFC 5267 4.3: a tag already naming a live context is BAD. */
		if ((ret & ESEARCH_UPDATE) && search_context_tag_busy(s, cmd->tag)) {
			sess_tagged(s, "BAD", "Tag reuse: a search context has this tag");
			return;
		}
		esearch = true;
		i += 2;
	}
	const char *charset = NULL;
	if (i < nargs && imap_arg_atom_ieq(&args[i], "CHARSET")) {
		size_t clen;
		if (i + 1 >= nargs || !imap_arg_get_astring(&args[i + 1], &charset, &clen)) {
			err = "CHARSET needs a charset name";
			goto bad;
		}
		/* RFC 6855 3 (erratum 4029): after ENABLE UTF8=ACCEPT the
		 * strings are UTF-8, so any CHARSET label conflicts. */
		if (imap_cap_enabled(s, "UTF8=ACCEPT")) {
			err = "SEARCH CHARSET is not allowed after ENABLE UTF8=ACCEPT";
			goto bad;
		}
		/* The parser's NULL stands for both of the charsets every server
		 * supports (RFC 9051 6.4.4). */
		if (ascii_ieq(charset, "UTF-8") || ascii_ieq(charset, "US-ASCII"))
			charset = NULL;
		i += 2;
	}
	if (i >= nargs) {
		err = "SEARCH needs search criteria";
		goto bad;
	}
	const struct imap_view *v = &s->view;
	struct search_parse_ctx ctx = {
		.max_seq = v->count ? v->count : 1,
		.max_uid = v->count ? v->uids[v->count - 1] : 1,
		.saved = s->searchres_set ? &s->searchres : NULL,
		.charset = charset,
		.rev2 = s->rev2,
		.no_seqs = uidonly_on(s) ? UIDONLY_REFUSED : NULL,
	};
	enum search_parse_result pr = imap_search_parse(&args[i], nargs - i, &ctx, &key, &err);
	if (pr == SEARCH_PARSE_BADCHARSET) {
		if (ret & RET_SAVE)
			searchres_save(s, ret, NULL, NULL, 0);
		sess_tagged(s, "NO", "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return;
	}
	if (pr != SEARCH_PARSE_OK)
		goto bad;

	struct search_job *j = xcalloc(1, sizeof(*j));
	j->key = key;
	j->mailbox = v->id;
	j->count = v->count;
	for (size_t k = 0; k < v->recent.n; k++)
		seqset_add(&j->recent, v->recent.r[k].lo, v->recent.r[k].hi);
	if (v->count) {
		j->view = xmalloc(v->count * sizeof(*j->view));
		memcpy(j->view, v->uids, v->count * sizeof(*j->view));
	}
	j->ret = ret;
	j->partial = sr.partial;
	j->esearch = esearch;
	cmd_job_progress(&j->job, 0, j->count); /* inprogress: counted in messages */
	j->modseq = condstore_search_uses_modseq(key);
	if (j->modseq)
		condstore_enable(s);
	cmd_run_on_pool(cmd, &j->job, search_job_run, search_job_done, search_job_free);
	return;
bad:
	if (key)
		search_key_free(key);
	/* RFC 5182 2.1: a failed SEARCH ... RETURN (SAVE) empties "$". */
	if (ret & RET_SAVE)
		searchres_save(s, ret, NULL, NULL, 0);
	sess_tagged(s, "BAD", "%s", err ? err : "Invalid search criteria");
}
