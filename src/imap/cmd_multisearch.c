/* ESEARCH: the multimailbox search of MULTISEARCH (RFC 7377).
 *
 *   ESEARCH [IN (filters)] [RETURN (options)] [CHARSET c] criteria
 *
 * searches several mailboxes in one command, with or without a selected
 * mailbox, and answers one "* ESEARCH (TAG "t" MAILBOX "m" UIDVALIDITY n)
 * UID ..." per mailbox that has a match (RFC 7377 2.1: results are always
 * UIDs). The filters (selected, inboxes, personal, subscribed, subtree,
 * subtree-one, mailboxes) are expanded against the user's own mailboxes on
 * a pool thread; each mailbox is then searched by the SEARCH engine
 * (cmd_search_matches, which uses the search index). A name that is not
 * one of the user's own mailboxes (another user's, a missing one) is
 * skipped, so nothing is searched that the user could not read. The work
 * is bounded: MULTISEARCH_MAX_MAILBOXES mailboxes per command, beyond
 * which the command answers NO [LIMIT] without searching.
 *
 * RFC 7377 2.2: without IN the source is "selected". Message sequence
 * numbers mean nothing across mailboxes, so a sequence-set key is BAD, and
 * RETURN (SAVE) is BAD (SEARCHRES "$" belongs to one mailbox: "$" as a key
 * matches nothing here). "*" in a UID set stands for the highest UID of
 * any mailbox (UID n:* is every UID from n). */
#include "imap/multisearch.h"
#include "imap/inprogress.h"
#include "imap/search_parse.h"
#include "imap/session_internal.h"
#include "imap/capability.h"
#include "core/quote.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* ---- IN (...) ---------------------------------------------------------- */

static const struct {
	const char *name;
	enum multisearch_filter filter;
	bool names;             /* followed by one-or-more-mailbox */
} ms_filters[] = {
	{ "selected", MS_SELECTED, false },
	{ "selected-delayed", MS_SELECTED, false },
	{ "inboxes", MS_INBOXES, false },
	{ "personal", MS_PERSONAL, false },
	{ "subscribed", MS_SUBSCRIBED, false },
	{ "subtree", MS_SUBTREE, true },
	{ "subtree-one", MS_SUBTREE_ONE, true },
	{ "mailboxes", MS_MAILBOXES, true },
};

void multisearch_sources_free(struct multisearch_sources *s)
{
	for (size_t i = 0; i < s->n; i++) {
		for (size_t k = 0; k < s->v[i].nnames; k++)
			free(s->v[i].names[k]);
		free(s->v[i].names);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* one-or-more-mailbox: a mailbox or "(" mailbox *(SP mailbox) ")". */
static int ms_names(const struct imap_arg *a, multisearch_decode_fn *decode, void *ctx,
		    struct multisearch_source *src, size_t *total, const char **err)
{
	const struct imap_arg *v = a->type == IMAP_ARG_LIST ? a->list : a;
	size_t n = a->type == IMAP_ARG_LIST ? a->count : 1;
	if (n == 0) {
		*err = "Empty mailbox list in ESEARCH IN";
		return -1;
	}
	if (*total + n > MULTISEARCH_MAX_NAMES) {
		*err = "Too many mailbox names in ESEARCH IN";
		return -1;
	}
	src->names = xcalloc(n, sizeof(*src->names));
	for (size_t i = 0; i < n; i++) {
		if (v[i].type == IMAP_ARG_LIST || !(src->names[i] = decode(ctx, &v[i]))) {
			*err = "Invalid mailbox name in ESEARCH IN";
			return -1;
		}
		src->nnames++;
	}
	*total += n;
	return 0;
}

int multisearch_sources_parse(const struct imap_arg *list, multisearch_decode_fn *decode,
			      void *ctx, struct multisearch_sources *out, const char **err)
{
	memset(out, 0, sizeof(*out));
	*err = "ESEARCH IN needs a list of mailbox filters";
	if (list->type != IMAP_ARG_LIST || list->count == 0)
		return -1;
	size_t total = 0;
	for (size_t i = 0; i < list->count; i++) {
		const struct imap_arg *a = &list->list[i];
		if (a->type == IMAP_ARG_LIST) {
			/* RFC 7377 2.2: scope-options; none is defined there. */
			*err = "ESEARCH scope options are not supported";
			goto bad;
		}
		size_t f;
		for (f = 0; f < ARRAY_SIZE(ms_filters); f++)
			if (imap_arg_atom_ieq(a, ms_filters[f].name))
				break;
		if (f == ARRAY_SIZE(ms_filters)) {
			*err = "Unknown ESEARCH mailbox filter";
			goto bad;
		}
		if (out->n == MULTISEARCH_MAX_FILTERS) {
			*err = "Too many ESEARCH mailbox filters";
			goto bad;
		}
		xgrow((void **)&out->v, &out->cap, out->n + 1, sizeof(*out->v));
		struct multisearch_source *src = &out->v[out->n++];
		memset(src, 0, sizeof(*src));
		src->filter = ms_filters[f].filter;
		if (!ms_filters[f].names)
			continue;
		if (i + 1 >= list->count) {
			*err = "ESEARCH mailbox filter needs mailbox names";
			goto bad;
		}
		if (ms_names(&list->list[++i], decode, ctx, src, &total, err) < 0)
			goto bad;
	}
	return 0;
bad:
	multisearch_sources_free(out);
	return -1;
}

/* ---- the search, on the work pool ------------------------------------------ */

struct ms_result {
	char *name;
	uint32_t uidvalidity;
	uint32_t *uids;
	size_t n;
};

struct ms_job {
	struct cmd_job job;          /* first member */
	struct multisearch_sources src;
	struct search_key *key;
	int64_t selected;            /* the selected mailbox of the user's own, or 0 */
	unsigned ret;
	int err;
	struct ms_result *res;
	size_t nres, rescap;
};

static bool ms_name_in(const struct multisearch_source *src, const char *name, bool sub,
		       bool one_level)
{
	for (size_t i = 0; i < src->nnames; i++) {
		const char *p = src->names[i];
		size_t len = strlen(p);
		if (strcmp(name, p) == 0)
			return true;
		if (!sub || strncmp(name, p, len) != 0 || name[len] != '/')
			continue;
		if (!one_level || !strchr(name + len + 1, '/'))
			return true;
	}
	return false;
}

static bool ms_subscribed(char **subs, size_t nsubs, const char *name)
{
	for (size_t i = 0; i < nsubs; i++)
		if (strcmp(subs[i], name) == 0)
			return true;
	return false;
}

/* Does any filter of the command take this mailbox? */
static bool ms_wanted(const struct ms_job *j, const struct store_mailbox *mb, char **subs,
		      size_t nsubs)
{
	for (size_t i = 0; i < j->src.n; i++) {
		const struct multisearch_source *src = &j->src.v[i];
		switch (src->filter) {
		case MS_SELECTED:
			if (mb->id == j->selected)
				return true;
			break;
		case MS_INBOXES:
			if (strcmp(mb->name, "INBOX") == 0)
				return true;
			break;
		case MS_PERSONAL:
			return true;
		case MS_SUBSCRIBED:
			if (ms_subscribed(subs, nsubs, mb->name))
				return true;
			break;
		case MS_SUBTREE:
		case MS_SUBTREE_ONE:
		case MS_MAILBOXES:
			if (ms_name_in(src, mb->name, src->filter != MS_MAILBOXES,
				       src->filter == MS_SUBTREE_ONE))
				return true;
			break;
		}
	}
	return false;
}

/* One mailbox: its UIDs as the "view", then the SEARCH engine. */
static int ms_search_one(struct store_user *u, struct ms_job *j, const struct store_mailbox *mb)
{
	struct store_msg *msgs = NULL;
	size_t n = 0;
	int r = store_msg_list(u, mb->id, 1, true, &msgs, &n);
	if (r != STORE_OK)
		return r == STORE_ENOENT ? STORE_OK : r; /* deleted meanwhile: skipped */
	uint32_t *view = n ? xmalloc(n * sizeof(*view)) : NULL;
	for (size_t i = 0; i < n; i++)
		view[i] = msgs[i].uid;
	store_msg_array_free(msgs, n);
	struct seqset recent = SEQSET_INIT; /* \Recent belongs to a selecting session */
	uint32_t *seqs = NULL, *uids = NULL;
	size_t nm = 0;
	/* Own mailboxes only: no other reader's \Seen to lay over. */
	r = cmd_search_matches(u, NULL, j->key, mb->id, view, (uint32_t)n, &recent, &seqs, &uids,
			       &nm);
	free(view);
	free(seqs);
	if (r != STORE_OK || nm == 0) {
		free(uids);
		return r == STORE_ENOENT ? STORE_OK : r;
	}
	xgrow((void **)&j->res, &j->rescap, j->nres + 1, sizeof(*j->res));
	j->res[j->nres++] = (struct ms_result){ .name = xstrdup(mb->name),
						.uidvalidity = mb->uidvalidity,
						.uids = uids,
						.n = nm };
	return STORE_OK;
}

static int ms_run(struct store_user *u, struct ms_job *j)
{
	if (!u)
		return STORE_EIO;
	struct store_mailbox *mbs = NULL;
	size_t nmbs = 0;
	char **subs = NULL;
	size_t nsubs = 0;
	int r = store_mailbox_list(u, false, &mbs, &nmbs);
	for (size_t i = 0; r == STORE_OK && i < j->src.n; i++)
		if (j->src.v[i].filter == MS_SUBSCRIBED && !subs)
			r = store_subscription_list(u, &subs, &nsubs);
	size_t nwanted = 0;
	bool *wanted = nmbs ? xcalloc(nmbs, sizeof(*wanted)) : NULL;
	for (size_t i = 0; r == STORE_OK && i < nmbs; i++)
		if ((wanted[i] = ms_wanted(j, &mbs[i], subs, nsubs)))
			nwanted++;
	if (r == STORE_OK && nwanted > MULTISEARCH_MAX_MAILBOXES)
		r = STORE_ELIMIT;
	size_t searched = 0;
	for (size_t i = 0; r == STORE_OK && i < nmbs; i++) {
		if (!wanted[i])
			continue;
		/* inprogress: RFC 9585, counted in mailboxes */
		cmd_job_progress(&j->job, (uint32_t)searched++, (uint32_t)nwanted);
		r = ms_search_one(u, j, &mbs[i]);
	}
	free(wanted);
	for (size_t i = 0; i < nsubs; i++)
		free(subs[i]);
	free(subs);
	store_mailbox_array_free(mbs, nmbs);
	return r;
}

static void ms_job_run(struct cmd_job *job)
{
	struct ms_job *j = (struct ms_job *)job;
	j->err = ms_run(cmd_job_store(job), j);
}

static void ms_job_free(struct cmd_job *job)
{
	struct ms_job *j = (struct ms_job *)job;
	multisearch_sources_free(&j->src);
	search_key_free(j->key);
	for (size_t i = 0; i < j->nres; i++) {
		free(j->res[i].name);
		free(j->res[i].uids);
	}
	free(j->res);
	free(j);
}

/* "* ESEARCH (TAG "t" MAILBOX "m" UIDVALIDITY n) UID" and the data
 * (RFC 7377 2.1, search-correlator). */
static void ms_write(struct imap_session *s, unsigned ret, const struct ms_result *r)
{
	struct strbuf line = STRBUF_INIT;
	const char *tag = s->cmd->tag ? s->cmd->tag : "*";
	strbuf_adds(&line, "* ESEARCH (TAG ");
	quote_string(&line, tag, strlen(tag));
	strbuf_adds(&line, " MAILBOX ");
	sess_write_mailbox(s, &line, r->name);
	strbuf_addf(&line, " UIDVALIDITY %u) UID", r->uidvalidity);
	if (ret & ESEARCH_MIN)
		strbuf_addf(&line, " MIN %u", r->uids[0]);
	if (ret & ESEARCH_MAX)
		strbuf_addf(&line, " MAX %u", r->uids[r->n - 1]);
	if (ret & ESEARCH_COUNT)
		strbuf_addf(&line, " COUNT %zu", r->n);
	if (ret & ESEARCH_ALL) {
		strbuf_adds(&line, " ALL ");
		seqset_format_list(&line, r->uids, r->n);
	}
	strbuf_adds(&line, "\r\n");
	sess_write(s, line.s, line.len);
	strbuf_free(&line);
}

static void ms_job_done(struct cmd_job *job)
{
	struct ms_job *j = (struct ms_job *)job;
	struct imap_session *s = job->cmd->s;
	if (j->err == STORE_ELIMIT) {
		sess_tagged(s, "NO", "[LIMIT] ESEARCH would search more than %d mailboxes",
			    MULTISEARCH_MAX_MAILBOXES);
		return;
	}
	if (j->err != STORE_OK) {
		sess_store_error(s, j->err, "ESEARCH");
		return;
	}
	for (size_t i = 0; i < j->nres; i++)
		ms_write(s, j->ret, &j->res[i]);
	sess_tagged(s, "OK", "ESEARCH completed");
}

/* ---- the command ------------------------------------------------------- */

static char *ms_decode(void *ctx, const struct imap_arg *a)
{
	return sess_mailbox_arg(ctx, a);
}

void cmd_esearch(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	struct ms_job *j = xcalloc(1, sizeof(*j));
	const char *err = "ESEARCH needs search criteria";
	size_t i = 0;
	if (i < nargs && imap_arg_atom_ieq(&args[i], "IN")) {
		if (i + 1 >= nargs ||
		    multisearch_sources_parse(&args[i + 1], ms_decode, s, &j->src, &err) < 0)
			goto bad;
		i += 2;
	} else {
		/* RFC 7377 2.2: without IN, the selected mailbox. */
		j->src.v = xcalloc(1, sizeof(*j->src.v));
		j->src.v[0].filter = MS_SELECTED;
		j->src.n = 1;
	}
	j->ret = ESEARCH_ALL;
	if (i < nargs && imap_arg_atom_ieq(&args[i], "RETURN")) {
		if (i + 1 >= nargs || cmd_esearch_return_parse(&args[i + 1], &j->ret) < 0) {
			err = "Invalid ESEARCH RETURN options (MIN MAX COUNT ALL)";
			goto bad;
		}
		if (j->ret & ESEARCH_SAVE) {
			err = "ESEARCH can't SAVE a result over several mailboxes";
			goto bad;
		}
		i += 2;
	}
	const char *charset = NULL;
	if (i < nargs && imap_arg_atom_ieq(&args[i], "CHARSET")) {
		size_t len;
		/* As SEARCH: RFC 6855 3 forbids CHARSET after UTF8=ACCEPT. */
		if (i + 1 >= nargs || !imap_arg_get_astring(&args[i + 1], &charset, &len) ||
		    imap_cap_enabled(s, "UTF8=ACCEPT")) {
			err = "Invalid ESEARCH CHARSET";
			goto bad;
		}
		if (ascii_ieq(charset, "UTF-8") || ascii_ieq(charset, "US-ASCII"))
			charset = NULL;
		i += 2;
	}
	if (i >= nargs)
		goto bad;
	struct search_parse_ctx ctx = {
		.max_seq = 1,
		.max_uid = UINT32_MAX,
		.charset = charset,
		.rev2 = s->rev2,
		.no_seqs = "ESEARCH names messages by UID only (RFC 7377 2.2)",
	};
	enum search_parse_result pr = imap_search_parse(&args[i], nargs - i, &ctx, &j->key, &err);
	if (pr == SEARCH_PARSE_BADCHARSET) {
		ms_job_free(&j->job);
		sess_tagged(s, "NO", "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return;
	}
	if (pr != SEARCH_PARSE_OK)
		goto bad;
	/* The selected mailbox, when it is one of the user's own. */
	if (s->state == ST_SELECTED && !s->view.owner)
		j->selected = s->view.id;
	cmd_job_progress_counted(&j->job); /* inprogress: in mailboxes, once listed */
	cmd_run_on_pool(cmd, &j->job, ms_job_run, ms_job_done, ms_job_free);
	return;
bad:
	ms_job_free(&j->job);
	sess_tagged(s, "BAD", "%s", err ? err : "Invalid ESEARCH arguments");
}
