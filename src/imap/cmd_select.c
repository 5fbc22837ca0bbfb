/* SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE and UID EXPUNGE; with
 * RFC 7162 (CONDSTORE) and (QRESYNC ...) select parameters. */
#include "imap/session_internal.h"
#include "imap/condstore.h"
#include "imap/objectid.h"
#include "imap/search_index.h"
#include "imap/namespace.h"
#include "imap/uidonly.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* SELECT/EXAMINE's store phase, on the work pool: the mailbox and its
 * listing (one scan gives EXISTS, RECENT, UNSEEN and the view's UIDs). */
struct select_job {
	struct cmd_job job;          /* first member */
	char *name;                  /* UTF-8; handed to the view on success */
	bool readonly, rev2;
	int err;
	struct store_mailbox mb;
	uint32_t recent_lo, recent_hi; /* \Recent here: [lo, hi], none when lo > hi */
	uint32_t recent_end;           /* imap_view.recent_end */
	char *keywords;                /* in use in the mailbox (FLAGS) */
	uint32_t *uids;
	size_t n;
	uint32_t first_unseen;
	uint64_t modseq;
	/* RFC 7162 3.2.5: what changed since the client's modseq. */
	struct condstore_select params;
	bool resync;                 /* QRESYNC given and UIDVALIDITY matches */
	bool pruned;                 /* ... but the expunge history is pruned */
	struct store_msg *changed;
	size_t nchanged;
	uint32_t *vanished;
	size_t nvanished;
};

/* correct: the keywords FLAGS lists (RFC 9051 7.3.5) and the \Recent
 * claim (RFC 3501 2.3.2), after the listing: a message delivered in
 * between is claimed here and reaches the view by the next sync. */
static void select_job_flags(struct select_job *j, struct store_user *u)
{
	if (j->err == STORE_OK)
		j->err = store_mailbox_keywords(u, j->mb.id, &j->keywords);
	j->recent_lo = 1;
	j->recent_hi = 0;
	if (j->err != STORE_OK || j->rev2)
		return;
	if (j->readonly) {
		j->recent_lo = j->mb.first_recent_uid;
		j->recent_hi = UINT32_MAX;
		return;
	}
	uint32_t from = 0, end = 0;
	j->err = store_mailbox_take_recent(u, j->mb.id, &from, &end);
	if (j->err == STORE_OK)
		j->recent_end = end;
	if (j->err == STORE_OK && end > from) {
		j->recent_lo = from;
		j->recent_hi = end - 1;
	}
}

/* Is uid in the listing (ascending)? Answered by the view's own search. */
static bool view_has(const uint32_t *uids, size_t n, uint32_t uid)
{
	struct imap_view v = { .uids = (uint32_t *)uids, .count = (uint32_t)n };
	return view_seq_of(&v, uid) != 0;
}

/* RFC 7162 3.2.5.1: messages changed and UIDs expunged since the client's
 * modseq, limited to its known UIDs. An expunge the listing did not see
 * yet (the UID is still in the view) is left to the view's next sync, so
 * nothing is reported twice or lost. */
static int select_qresync_run(struct store_user *u, struct select_job *j)
{
	struct store_msg *ch = NULL;
	uint32_t *ex = NULL;
	size_t nch = 0, nex = 0;
	int r = store_changes_as(u, j->mb.id, j->job.reader, j->params.modseq, &ch, &nch, &ex,
				 &nex);
	if (r != STORE_OK)
		return r;
	const struct seqset *known = j->params.has_known ? &j->params.known : NULL;
	uint64_t floor = 0;
	if ((r = store_expunged_floor(u, j->mb.id, &floor)) != STORE_OK) {
		store_msg_array_free(ch, nch);
		free(ex);
		return r;
	}
	/* RFC 7162 3.2.5.2: history that old was pruned; every UID the
	 * client may know that is not here is reported instead. */
	j->pruned = j->params.modseq < floor;
	j->resync = true;
	j->changed = xcalloc(nch ? nch : 1, sizeof(*j->changed));
	for (size_t i = 0; i < nch; i++) {
		if (ch[i].modseq > j->modseq || !view_has(j->uids, j->n, ch[i].uid) ||
		    (known && !seqset_contains(known, ch[i].uid)))
			continue;
		j->changed[j->nchanged] = ch[i];
		ch[i].keywords = NULL;
		j->nchanged++;
	}
	j->vanished = xmalloc((nex ? nex : 1) * sizeof(uint32_t));
	for (size_t i = 0; i < nex; i++) {
		if (view_has(j->uids, j->n, ex[i]) || (known && !seqset_contains(known, ex[i])))
			continue;
		j->vanished[j->nvanished++] = ex[i];
	}
	store_msg_array_free(ch, nch);
	free(ex);
	return STORE_OK;
}

static void select_job_run(struct cmd_job *job)
{
	struct select_job *j = (struct select_job *)job;
	struct store_user *u = cmd_job_store(job);
	if (!u) {
		j->err = STORE_EIO;
		return;
	}
	/* No counts: EXISTS, RECENT and UNSEEN come from the listing below,
	 * and a second scan of a 100,000-message mailbox cost ~35 ms. */
	j->err = store_mailbox_get(u, j->name, &j->mb);
	if (j->err != STORE_OK)
		return;
	/* bigsel: uid, flags and modseq as arrays, the UIDs kept as the
	 * view's; aclseen: UNSEEN is the reader's, the modseq stays the
	 * listing's (store.h: store_msg_flags_as). */
	struct store_flag_list l;
	/* snap: the process's snapshot of the mailbox when current */
	j->err = store_msg_flags_snap(u, j->mb.id, job->reader, 1, UINT32_MAX, false, &l);
	if (j->err != STORE_OK)
		return;
	for (size_t i = 0; i < l.n && !j->first_unseen; i++)
		if (!(l.flags[i] & MAIL_FLAG_SEEN))
			j->first_unseen = (uint32_t)i + 1;
	/* Everything up to the mailbox's modseq is what the client now knows. */
	j->modseq = MAX(j->mb.highestmodseq, l.max_modseq);
	j->n = l.n;
	j->uids = xrealloc(l.uids, MAX(l.n, (size_t)16) * sizeof(uint32_t)); /* exact, as kept */
	l.uids = NULL;
	store_flag_list_free(&l);
	select_job_flags(j, u);
	if (j->err == STORE_OK && j->params.qresync &&
	    j->params.uidvalidity == j->mb.uidvalidity)
		j->err = select_qresync_run(u, j);
}

static void select_job_free(struct cmd_job *job)
{
	struct select_job *j = (struct select_job *)job;
	free(j->name);
	free(j->keywords);
	free(j->uids);
	store_mailbox_clear(&j->mb);
	condstore_select_free(&j->params);
	store_msg_array_free(j->changed, j->nchanged);
	free(j->vanished);
	free(j);
}

/* RFC 7162 3.1.2.1: every SELECT/EXAMINE says HIGHESTMODSEQ; with QRESYNC
 * the expunged UIDs come first, then the changed messages (3.2.5). */
static void select_write_condstore(struct imap_session *s, struct select_job *j)
{
	sess_printf(s, "* OK [HIGHESTMODSEQ %llu] Highest", (unsigned long long)j->modseq);
	if (!j->resync)
		return;
	if (j->pruned) {
		struct seqset all = SEQSET_INIT;
		seqset_add(&all, 1, UINT32_MAX);
		condstore_write_vanished_absent(s, j->params.has_known ? &j->params.known : &all,
						j->mb.uidnext, s->view.uids, s->view.count);
		seqset_free(&all);
	} else {
		condstore_write_vanished(s, true, j->vanished, j->nvanished);
	}
	struct strbuf line = STRBUF_INIT;
	for (size_t i = 0; i < j->nchanged; i++) {
		const struct store_msg *m = &j->changed[i];
		strbuf_reset(&line);
		if (!uidonly_fetch_open(s, &line, m->uid)) /* uidonly */
			strbuf_addf(&line, "UID %u ", m->uid);
		strbuf_adds(&line, "FLAGS ");
		sess_write_flags(s, &line, m->flags, m->keywords, view_recent(&s->view, m->uid));
		strbuf_addf(&line, " MODSEQ (%llu))\r\n", (unsigned long long)m->modseq);
		sess_write(s, line.s, line.len);
	}
	strbuf_free(&line);
}

static void select_job_done(struct cmd_job *job)
{
	struct select_job *j = (struct select_job *)job;
	struct imap_session *s = job->cmd->s;
	const char *cmd = j->readonly ? "EXAMINE" : "SELECT";
	if (j->err != STORE_OK) {
		sess_store_error(s, j->err, cmd);
		return;
	}
	struct imap_view nv;
	memset(&nv, 0, sizeof(nv));
	nv.id = j->mb.id;
	nv.name = j->name;
	j->name = NULL;
	nv.readonly = j->readonly;
	nv.uidvalidity = j->mb.uidvalidity;
	if (j->recent_lo <= j->recent_hi)
		seqset_add(&nv.recent, j->recent_lo, j->recent_hi);
	nv.recent_end = j->recent_end;
	view_keywords_add(&nv, j->keywords);
	nv.uids = j->uids;
	nv.cap = (uint32_t)(j->n ? j->n : 16);
	nv.count = (uint32_t)j->n;
	j->uids = NULL;
	nv.modseq = nv.flags_modseq = j->modseq;
	imap_mailbox_view_adopt(job->cmd, &nv); /* acl */
	sess_select(s, &nv);
	const struct imap_view *v = &s->view;

	view_write_flags(s);
	sess_printf(s, "* %u EXISTS", v->count);
	if (!s->rev2) {
		sess_printf(s, "* %u RECENT", view_recent_count(v));
		if (j->first_unseen && !uidonly_on(s)) /* uidonly: a sequence number */
			sess_printf(s, "* OK [UNSEEN %u] First unseen.", j->first_unseen);
	}
	sess_printf(s, "* OK [UIDVALIDITY %u] UIDs valid", j->mb.uidvalidity);
	sess_printf(s, "* OK [UIDNEXT %u] Predicted next UID", j->mb.uidnext);
	select_write_condstore(s, j);
	/* objectid: RFC 8474 4.2, keyed by the owner as CREATE's is. */
	char mbid[OBJECTID_SIZE];
	objectid_mailbox(v->owner ? v->owner : s->user, v->id, v->uidvalidity, mbid);
	sess_printf(s, "* OK [MAILBOXID (%s)] Ok", mbid);
	if (s->rev2) {
		/* RFC 9051 6.3.2: an untagged LIST for the selected mailbox. */
		struct strbuf line = STRBUF_INIT;
		strbuf_adds(&line, "* LIST (");
		if (j->mb.special_use)
			strbuf_adds(&line, j->mb.special_use);
		strbuf_adds(&line, ") \"/\" ");
		sess_write_mailbox(s, &line, v->name);
		sess_printf(s, "%s", line.s);
		strbuf_free(&line);
	}
	sess_tagged(s, "OK", "[%s] %s completed", j->readonly ? "READ-ONLY" : "READ-WRITE", cmd);
}

/* RFC 7162 3.1.8 (CONDSTORE) and 3.2.5 (QRESYNC ...): 0, or -1 after a
 * tagged BAD. QRESYNC needs ENABLE QRESYNC first. */
static int select_params(struct imap_session *s, const struct imap_arg *a,
			 struct condstore_select *p)
{
	const char *err;
	if (condstore_select_parse(a, p, &err) < 0) {
		condstore_select_free(p);
		sess_tagged(s, "BAD", "%s", err);
		return -1;
	}
	if (p->qresync && !condstore_qresync(s)) {
		condstore_select_free(p);
		sess_tagged(s, "BAD", "QRESYNC must be enabled first");
		return -1;
	}
	/* uidonly: the sequence match data names sequence numbers (RFC 9586 3) */
	if (p->has_match && uidonly_on(s)) {
		condstore_select_free(p);
		sess_tagged(s, "BAD", "%s", UIDONLY_REFUSED);
		return -1;
	}
	if (p->condstore)
		condstore_enable(s);
	return 0;
}

static void do_select(struct imap_cmd *c, const struct imap_arg *args, size_t nargs,
		      bool readonly)
{
	struct imap_session *s = c->s;
	const char *cmd = readonly ? "EXAMINE" : "SELECT";
	if (nargs < 1 || nargs > 2) {
		sess_tagged(s, "BAD", "%s needs a mailbox name", cmd);
		return;
	}
	struct condstore_select params;
	memset(&params, 0, sizeof(params));
	if (nargs == 2 && select_params(s, &args[1], &params) < 0)
		return;
	char *name = sess_mailbox_arg(s, &args[0]);
	if (!name) {
		condstore_select_free(&params);
		sess_tagged(s, "BAD", "Invalid mailbox name");
		return;
	}
	if (s->state == ST_SELECTED) {
		/* RFC 9051 6.3.2: the old mailbox is closed without expunge. */
		sess_unselect(s);
		sess_printf(s, "* OK [CLOSED] Previous mailbox closed.");
	}
	if (imap_mailbox_resolve(c, &name, STORE_ACL_READ) < 0) /* acl */
		return;
	struct select_job *j = xcalloc(1, sizeof(*j));
	j->name = name;
	j->readonly = readonly;
	/* acl: \Recent in another user's mailbox stays its owner's */
	j->rev2 = s->rev2 || strcmp(c->mbref->owner, s->user) != 0;
	j->params = params;
	cmd_run_on_pool(c, &j->job, select_job_run, select_job_done, select_job_free);
}

void cmd_select(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	do_select(cmd, args, nargs, false);
}

void cmd_examine(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	do_select(cmd, args, nargs, true);
}

/* Expunges the \Deleted messages of a mailbox (limited to `only` when
 * given). On a pool thread. */
static int expunge_deleted(struct store_user *u, int64_t mailbox, const uint32_t *only,
			   size_t nonly, size_t *nexp)
{
	if (!u)
		return STORE_EIO;
	uint32_t *del = NULL;
	size_t ndel = 0, cap = 0;
	int r;
	if (only) {
		struct store_msg *msgs = NULL;
		size_t n = 0;
		if ((r = store_msg_get(u, mailbox, only, nonly, &msgs, &n)) != STORE_OK)
			return r;
		for (size_t i = 0; i < n; i++) {
			if (msgs[i].flags & MAIL_FLAG_DELETED) {
				xgrow((void **)&del, &cap, ndel + 1, sizeof(uint32_t));
				del[ndel++] = msgs[i].uid;
			}
		}
		store_msg_array_free(msgs, n);
	} else {
		/* bigsel: the whole mailbox as compact arrays. \Deleted is
		 * never private, so no reader. */
		struct store_flag_list l;
		if ((r = store_msg_flags_as(u, mailbox, NULL, 1, UINT32_MAX, false, &l)) != STORE_OK)
			return r;
		for (size_t i = 0; i < l.n; i++) {
			if (l.flags[i] & MAIL_FLAG_DELETED) {
				xgrow((void **)&del, &cap, ndel + 1, sizeof(uint32_t));
				del[ndel++] = l.uids[i];
			}
		}
		store_flag_list_free(&l);
	}
	r = ndel ? store_expunge(u, mailbox, del, ndel) : STORE_OK;
	free(del);
	*nexp = ndel;
	return r;
}

/* EXPUNGE, UID EXPUNGE and CLOSE on the work pool. */
struct expunge_job {
	struct cmd_job job;          /* first member */
	int64_t mailbox;
	uint32_t *only;              /* UID EXPUNGE: the set */
	size_t nonly;
	size_t nexp;                 /* messages it expunged */
	int err;
};

static void expunge_job_run(struct cmd_job *job)
{
	struct expunge_job *j = (struct expunge_job *)job;
	j->err = expunge_deleted(cmd_job_store(job), j->mailbox, j->only, j->nonly, &j->nexp);
}

/* search_gc: the index entries of what went are removed by the indexer,
 * in a batch of its own. */
static void expunge_kick_index(struct cmd_job *job)
{
	struct expunge_job *j = (struct expunge_job *)job;
	if (j->err == STORE_OK && j->nexp > 0)
		search_index_kick_gc(job->cmd->s->info.base, job->user); /* acl: whose store */
}

static void expunge_job_free(struct cmd_job *job)
{
	struct expunge_job *j = (struct expunge_job *)job;
	free(j->only);
	free(j);
}

static void expunge_start(struct imap_cmd *cmd, uint32_t *only, size_t nonly,
			  void (*done)(struct cmd_job *))
{
	struct expunge_job *j = xcalloc(1, sizeof(*j));
	j->mailbox = cmd->s->view.id;
	j->only = only;
	j->nonly = nonly;
	cmd_run_on_pool(cmd, &j->job, expunge_job_run, done, expunge_job_free);
}

static void close_done(struct cmd_job *job)
{
	struct expunge_job *j = (struct expunge_job *)job;
	struct imap_session *s = job->cmd->s;
	if (j->err != STORE_OK)
		log_warn("event=close_expunge_failed user=%s code=%d", s->user, j->err);
	expunge_kick_index(job);
	sess_unselect(s);
	sess_tagged(s, "OK", "CLOSE completed");
}

void cmd_close(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs) {
		sess_tagged(s, "BAD", "CLOSE takes no arguments");
		return;
	}
	/* RFC 9051 6.4.1: silent expunge, no EXPUNGE responses. */
	if (!s->view.readonly && imap_view_may(s, STORE_ACL_EXPUNGE) /* acl: RFC 4314 4 */) {
		expunge_start(cmd, NULL, 0, close_done);
		return;
	}
	sess_unselect(s);
	sess_tagged(s, "OK", "CLOSE completed");
}

void cmd_unselect(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs) {
		sess_tagged(s, "BAD", "UNSELECT takes no arguments");
		return;
	}
	sess_unselect(s);
	sess_tagged(s, "OK", "UNSELECT completed");
}

static void expunge_done(struct cmd_job *job)
{
	struct expunge_job *j = (struct expunge_job *)job;
	struct imap_session *s = job->cmd->s;
	if (j->err != STORE_OK) {
		sess_store_error(s, j->err, "EXPUNGE");
		return;
	}
	expunge_kick_index(job);
	if (!view_sync(s, true))
		return;
	sess_tagged(s, "OK", "EXPUNGE completed");
}

void cmd_expunge(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	bool uid = cmd->uid;
	if (nargs != (uid ? 1u : 0u)) {
		sess_tagged(s, "BAD", uid ? "UID EXPUNGE needs a UID set" : "EXPUNGE takes no arguments");
		return;
	}
	if (s->view.readonly) {
		sess_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (!imap_view_may(s, STORE_ACL_EXPUNGE)) { /* acl */
		sess_tagged(s, "NO", "[NOPERM] EXPUNGE: permission denied");
		return;
	}
	uint32_t *uids = NULL;
	size_t n = 0;
	if (uid && view_resolve_set(s, &args[0], true, &uids, &n) < 0) {
		sess_tagged(s, "BAD", "Invalid UID set");
		return;
	}
	if (uid && n == 0) {
		free(uids);
		if (!view_sync(s, true))
			return;
		sess_tagged(s, "OK", "EXPUNGE completed");
		return;
	}
	expunge_start(cmd, uid ? uids : NULL, n, expunge_done);
}
