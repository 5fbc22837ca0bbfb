/* FETCH of flags only (bigsel, issue #14): a FETCH or UID FETCH that asks
 * for nothing but UID, FLAGS and MODSEQ (RFC 9051 6.4.5, RFC 7162
 * 3.1.4.1), the way clients resynchronise a mailbox (FETCH 1:* (UID
 * FLAGS)), over more than a few messages.
 *
 * The general path (cmd_fetch.c) reads a struct store_msg per message
 * and builds each response in a fresh buffer; at 100,000 messages that
 * is a 12 MB listing, a keyword copy per message and ~100,000 buffer
 * allocations. Here the store phase on the work pool reads one compact
 * listing of the set's UID range (store_msg_flags_as: uid, flags, modseq
 * arrays, keyword lists interned), and the worker writes the responses
 * in one merge pass of the set against it, through one reused line
 * buffer, pausing when the output is full exactly as cmd_fetch.c does.
 *
 * The answers are the general path's: the same responses in the same
 * order, \Recent from the view, a keyword new to the session announced in
 * FLAGS before the FETCH that shows it (RFC 9051 7.3.5), UIDFETCH under
 * UIDONLY (RFC 9586 3.3), CHANGEDSINCE's filter (RFC 7162 3.1.4.1), a
 * reader's private \Seen (aclseen), messages expunged meanwhile left out
 * with OK [EXPUNGEISSUED] (RFC 5530). VANISHED goes the general way. */
#include "imap/fetch_flags.h"
#include "imap/session_internal.h"
#include "imap/uidonly.h"
#include "auth/alert.h"
#include "core/flags.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* Smaller sets take the general path's point lookups (FETCH_GET_MAX). */
#define FETCH_FLAGS_MIN 257
/* UID, FLAGS and MODSEQ, each possibly repeated: as many as parsed. */
#define FETCH_FLAGS_ITEMS 16

struct fetch_flags {
	bool uid;                        /* UID FETCH */
	enum fetch_item_type items[FETCH_FLAGS_ITEMS];
	size_t nitems;
	bool changedsince_set;
	uint64_t changedsince;
	uint32_t *uids;                  /* the set, ascending */
	size_t n, pos;
	struct store_flag_list list;     /* the set's UID range, from the store */
	bool whole;                      /* the set is every message of the view (snap) */
	size_t lpos;
	bool *noted;                     /* keyword list i announced (view_keywords_note) */
	size_t gone;                     /* of the set, expunged before the listing */
	size_t hint;                     /* view index after the last message written */
	bool uidonly;                    /* UIDONLY enabled (asked once, not per line) */
	struct strbuf line;
	struct ff_text *text;            /* "(...)" of FLAGS by ff_text_at(), or NULL */
};

/* snap: the FLAGS text of a (keyword list, system flags, \Recent)
 * combination, made once by sess_write_flags and copied into every line
 * that has it; a mailbox has few combinations. Without it a line cost
 * ~1,250 instructions, most of them strlen and growth checks. */
struct ff_text {
	char *s;
	size_t len;
};
/* Tables for more keyword lists than this would outweigh their use. */
#define FF_TEXT_MAX_KWS 256
#define FF_TEXT_SLOTS 64                 /* MAIL_FLAGS_STORED bits and MAIL_FLAG_RECENT */

static void ff_free(struct fetch_flags *ff)
{
	if (!ff)
		return;
	free(ff->uids);
	if (ff->text)
		for (size_t i = 0; i < ff->list.nkws * FF_TEXT_SLOTS; i++)
			free(ff->text[i].s);
	free(ff->text);
	store_flag_list_free(&ff->list);
	free(ff->noted);
	strbuf_free(&ff->line);
	free(ff);
}

static void ff_cancel(struct imap_cmd *cmd)
{
	ff_free(cmd->state);
	cmd->state = NULL;
}

/* Decimal digits of v at p (core/strbuf.c's formatter); returns the end. */
static char *put_u64(char *p, uint64_t v)
{
	return p + strbuf_fmt_u64(p, v);
}

static char *put_str(char *p, const char *s, size_t len)
{
	memcpy(p, s, len);
	return p + len;
}

#define PUT_LIT(p, lit) put_str((p), (lit), sizeof(lit) - 1)

/* The FLAGS text of listing row i with \Recent as given: from the table
 * when there is one, else written into tmp. */
static struct ff_text ff_flags_text(struct imap_session *s, struct fetch_flags *ff, size_t i,
				    bool recent, struct strbuf *tmp)
{
	const struct store_flag_list *l = &ff->list;
	const char *kw = l->kws[l->kw[i]];
	unsigned stored = l->flags[i] & MAIL_FLAGS_STORED;
	unsigned slot = stored | (recent ? MAIL_FLAG_RECENT : 0u);
	struct ff_text *t = ff->text ? &ff->text[(size_t)l->kw[i] * FF_TEXT_SLOTS + slot] : NULL;
	if (t && t->s)
		return *t;
	strbuf_reset(tmp);
	sess_write_flags(s, tmp, stored, kw, recent);
	if (!t)
		return (struct ff_text){ tmp->s, tmp->len };
	t->s = xstrndup(tmp->s, tmp->len);
	t->len = tmp->len;
	return *t;
}

/* The sequence number of uid: the view index after the previous message
 * first (a set is ascending), else the view's search. */
static uint32_t ff_seq(struct imap_session *s, struct fetch_flags *ff, uint32_t uid)
{
	const struct imap_view *v = &s->view;
	if (ff->hint < v->count && v->uids[ff->hint] == uid)
		return (uint32_t)++ff->hint;
	uint32_t seq = view_seq_of(v, uid);
	ff->hint = seq;
	return seq;
}

/* One "* n FETCH (...)" line for listing row i, written straight into
 * the reused line buffer after one size check. */
static void ff_write_one(struct imap_session *s, struct fetch_flags *ff, size_t i)
{
	const struct store_flag_list *l = &ff->list;
	uint32_t uid = l->uids[i];
	const char *kw = l->kws[l->kw[i]];
	if (kw && !ff->noted[l->kw[i]]) {
		view_keywords_note(s, kw); /* RFC 9051 7.3.5: FLAGS first */
		ff->noted[l->kw[i]] = true;
	}
	struct strbuf tmp = STRBUF_INIT;
	struct ff_text flags = { "", 0 };
	size_t need = 48;
	for (size_t k = 0; k < ff->nitems; k++) {
		if (ff->items[k] == FI_FLAGS) {
			if (!flags.len)
				flags = ff_flags_text(s, ff, i, view_recent(&s->view, uid), &tmp);
			need += flags.len + 8;
		} else {
			need += 32;
		}
	}
	struct strbuf *line = &ff->line;
	strbuf_reset(line);
	strbuf_grow(line, need);
	char *p = line->s;
	p = PUT_LIT(p, "* ");
	if (ff->uidonly) { /* uidonly: RFC 9586 3.3, as uidonly_fetch_open */
		p = put_u64(p, uid);
		p = PUT_LIT(p, " UIDFETCH (");
	} else {
		p = put_u64(p, ff_seq(s, ff, uid));
		p = PUT_LIT(p, " FETCH (");
	}
	for (size_t k = 0; k < ff->nitems; k++) {
		if (k)
			*p++ = ' ';
		switch (ff->items[k]) {
		case FI_UID:
			p = PUT_LIT(p, "UID ");
			p = put_u64(p, uid);
			break;
		case FI_FLAGS:
			p = PUT_LIT(p, "FLAGS ");
			p = put_str(p, flags.s, flags.len);
			break;
		default: /* FI_MODSEQ */
			p = PUT_LIT(p, "MODSEQ (");
			p = put_u64(p, l->modseqs[i]);
			*p++ = ')';
			break;
		}
	}
	p = PUT_LIT(p, ")\r\n");
	line->len = (size_t)(p - line->s);
	line->s[line->len] = '\0';
	sess_write(s, line->s, line->len);
	strbuf_free(&tmp);
}

static void ff_resume(struct imap_cmd *cmd);

/* Writes from ff->pos on; parks when the output is full or a download
 * throttle (auth/alert.c) says wait. */
static void ff_run(struct imap_session *s, struct fetch_flags *ff)
{
	struct imap_cmd *cmd = s->cmd;
	uint64_t wait = alert_download_wait(s->user, now_ms());
	if (wait && sess_wait_timer(cmd, wait, ff_resume)) {
		cmd->state = ff;
		cmd->cancel = ff_cancel;
		return;
	}
	const struct store_flag_list *l = &ff->list;
	uint64_t written = s->written;
	while (ff->pos < ff->n) {
		uint32_t uid = ff->uids[ff->pos++];
		while (ff->lpos < l->n && l->uids[ff->lpos] < uid)
			ff->lpos++;
		if (ff->lpos >= l->n || l->uids[ff->lpos] != uid) {
			ff->gone++; /* expunged by another session: RFC 9051 allows leaving it out */
			continue;
		}
		/* RFC 7162 3.1.4.1: only messages changed after CHANGEDSINCE. */
		if (ff->changedsince_set && l->modseqs[ff->lpos] <= ff->changedsince)
			continue;
		ff_write_one(s, ff, ff->lpos);
		if (ff->pos < ff->n && sess_output_full(s)) {
			alert_download_add(s->user, s->peer, s->written - written, now_ms());
			cmd->state = ff;
			cmd->cancel = ff_cancel;
			sess_wait_output(cmd, ff_resume);
			return;
		}
	}
	alert_download_add(s->user, s->peer, s->written - written, now_ms());
	cmd->state = NULL;
	cmd->cancel = NULL;
	bool uid = ff->uid;
	size_t gone = ff->gone;
	ff_free(ff);
	cmd_fetch_reply(s, uid, gone);
}

static void ff_resume(struct imap_cmd *cmd)
{
	ff_run(cmd->s, cmd->state);
}

/* The store phase, on the work pool. */
struct ff_job {
	struct cmd_job job;              /* first member */
	struct fetch_flags *ff;          /* handed to the command in done */
	int64_t mailbox;
	int err;
};

static void ff_job_run(struct cmd_job *job)
{
	struct ff_job *j = (struct ff_job *)job;
	struct fetch_flags *ff = j->ff;
	struct store_user *u = cmd_job_store(job);
	/* snap: the whole mailbox is what the snapshot answers; rows the
	 * set does not name are passed over by the merge in ff_run. */
	uint32_t lo = ff->whole ? 1 : ff->uids[0];
	uint32_t hi = ff->whole ? UINT32_MAX : ff->uids[ff->n - 1];
	j->err = u ? store_msg_flags_snap(u, j->mailbox, job->reader, lo, hi, true, &ff->list)
		   : STORE_EIO;
}

static void ff_job_done(struct cmd_job *job)
{
	struct ff_job *j = (struct ff_job *)job;
	struct imap_session *s = job->cmd->s;
	struct fetch_flags *ff = j->ff;
	j->ff = NULL;
	if (j->err != STORE_OK) {
		ff_free(ff);
		sess_store_error(s, j->err, "FETCH");
		return;
	}
	ff->noted = xcalloc(ff->list.nkws, sizeof(*ff->noted));
	if (ff->list.kw && ff->list.nkws <= FF_TEXT_MAX_KWS)
		ff->text = xcalloc(ff->list.nkws * FF_TEXT_SLOTS, sizeof(*ff->text));
	ff->uidonly = uidonly_on(s);
	ff_run(s, ff);
}

static void ff_job_free(struct cmd_job *job)
{
	struct ff_job *j = (struct ff_job *)job;
	ff_free(j->ff);
	free(j);
}

bool fetch_flags_take(struct imap_cmd *cmd, const struct fetch_request *req,
		      const struct condstore_fetch *mods, uint32_t **uids, size_t n)
{
	if (n < FETCH_FLAGS_MIN || mods->vanished || req->n > FETCH_FLAGS_ITEMS)
		return false;
	for (size_t i = 0; i < req->n; i++) {
		enum fetch_item_type t = req->items[i].type;
		if (t != FI_UID && t != FI_FLAGS && t != FI_MODSEQ)
			return false;
	}
	struct fetch_flags *ff = xcalloc(1, sizeof(*ff));
	ff->uid = cmd->uid;
	for (size_t i = 0; i < req->n; i++)
		ff->items[i] = req->items[i].type;
	ff->nitems = req->n;
	ff->changedsince_set = mods->changedsince_set;
	ff->changedsince = mods->changedsince;
	ff->uids = *uids;
	*uids = NULL;
	ff->n = n;
	ff->whole = n == cmd->s->view.count;
	struct ff_job *j = xcalloc(1, sizeof(*j));
	j->ff = ff;
	j->mailbox = cmd->s->view.id;
	cmd_run_on_pool(cmd, &j->job, ff_job_run, ff_job_done, ff_job_free);
	return true;
}
