/* STORE and UID STORE (RFC 9051 6.4.6, 6.4.9).
 *
 * One store_flags() call changes the whole set in one transaction; then
 * the new flags of every message of the set are reported (unless .SILENT),
 * paced like FETCH output so a STORE over 1:* of a large mailbox doesn't
 * buffer megabytes for a slow client. */
#include "imap/session_internal.h"
#include "imap/condstore.h"
#include "imap/namespace.h"
#include "imap/uidonly.h"
#include "core/flags.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* Sets up to this size are looked up message by message afterwards. */
#define STORE_GET_MAX 256

struct store_state {
	bool uid;
	uint32_t *uids;
	size_t n, pos;
	struct store_msg *msgs;    /* current state, ascending UIDs (may hold extra UIDs) */
	size_t nmsgs, mpos;
	/* RFC 7162 3.1.3 */
	bool condstore;            /* FETCH responses carry MODSEQ */
	bool modseq_only;          /* .SILENT with CONDSTORE: FETCH (MODSEQ) only */
	uint32_t *failed;          /* UNCHANGEDSINCE failed: ascending UIDs */
	size_t nfailed, fpos;
};

static void store_state_free(struct store_state *st)
{
	if (!st)
		return;
	free(st->uids);
	store_msg_array_free(st->msgs, st->nmsgs);
	free(st->failed);
	free(st);
}

/* The session went away while the command waited for output room. */
static void store_cancel(struct imap_cmd *cmd)
{
	store_state_free(cmd->state);
	cmd->state = NULL;
}

/* RFC 7162 3.1.3: "[MODIFIED set]", UIDs for UID STORE, else sequence
 * numbers (of messages still in the view). NULL when nothing failed. */
static char *store_modified(struct imap_session *s, const struct store_state *st)
{
	if (st->nfailed == 0)
		return NULL;
	uint32_t *v = xmalloc(st->nfailed * sizeof(uint32_t));
	size_t n = 0;
	for (size_t i = 0; i < st->nfailed; i++) {
		uint32_t x = st->uid ? st->failed[i] : view_seq_of(&s->view, st->failed[i]);
		if (x)
			v[n++] = x;
	}
	struct strbuf b = STRBUF_INIT;
	if (n) {
		strbuf_adds(&b, "[MODIFIED ");
		seqset_format_list(&b, v, n);
		strbuf_adds(&b, "] ");
	}
	free(v);
	if (!b.len) {
		strbuf_free(&b);
		return NULL;
	}
	return b.s;
}

static void store_finish(struct imap_session *s, struct store_state *st)
{
	bool uid = st->uid;
	char *modified = store_modified(s, st);
	store_state_free(st);
	/* The command may have paused before: nothing is left to cancel. */
	s->cmd->state = NULL;
	s->cmd->cancel = NULL;
	/* RFC 9051 7.5.1: no EXPUNGE while answering STORE. */
	if (!view_sync(s, false)) {
		free(modified);
		return;
	}
	sess_tagged(s, "OK", "%s%sSTORE completed", modified ? modified : "", uid ? "UID " : "");
	free(modified);
}

static void store_resume(struct imap_cmd *cmd);

static void store_run(struct imap_session *s, struct store_state *st)
{
	struct strbuf line = STRBUF_INIT;
	while (st->pos < st->n) {
		uint32_t uid = st->uids[st->pos++];
		while (st->mpos < st->nmsgs && st->msgs[st->mpos].uid < uid)
			st->mpos++;
		if (st->mpos >= st->nmsgs || st->msgs[st->mpos].uid != uid)
			continue; /* expunged meanwhile */
		/* RFC 7162 3.1.3: a message that failed UNCHANGEDSINCE is named
		 * by MODIFIED, not by a FETCH. */
		while (st->fpos < st->nfailed && st->failed[st->fpos] < uid)
			st->fpos++;
		if (st->fpos < st->nfailed && st->failed[st->fpos] == uid)
			continue;
		const struct store_msg *m = &st->msgs[st->mpos];
		view_keywords_note(s, m->keywords); /* RFC 9051 7.3.5: FLAGS first */
		strbuf_reset(&line);
		bool by_uid = uidonly_fetch_open(s, &line, uid); /* uidonly */
		/* RFC 9051 6.4.9: UID STORE responses carry the UID; rev2
		 * clients get it always, as in unsolicited FETCH. */
		if ((st->uid || s->rev2) && !by_uid)
			strbuf_addf(&line, "UID %u ", uid);
		if (!st->modseq_only) {
			strbuf_adds(&line, "FLAGS ");
			sess_write_flags(s, &line, m->flags, m->keywords, view_recent(&s->view, uid));
		}
		if (st->condstore)
			strbuf_addf(&line, "%sMODSEQ (%llu)", st->modseq_only ? "" : " ",
				    (unsigned long long)m->modseq);
		strbuf_adds(&line, ")\r\n");
		sess_write(s, line.s, line.len);
		if (st->pos < st->n && sess_output_full(s)) {
			strbuf_free(&line);
			s->cmd->state = st;
			s->cmd->cancel = store_cancel;
			sess_wait_output(s->cmd, store_resume);
			return;
		}
	}
	strbuf_free(&line);
	store_finish(s, st);
}

static void store_resume(struct imap_cmd *cmd)
{
	store_run(cmd->s, cmd->state);
}

/* The store phase of STORE, on the work pool: the change in one
 * transaction, then (unless .SILENT) the state of the set to report. */
struct store_job {
	struct cmd_job job;          /* first member */
	int64_t mailbox;
	uint32_t *uids;
	size_t n;
	enum store_flag_mode mode;
	uint32_t flags;
	char *keywords;
	bool silent;
	bool condstore;              /* FETCH (MODSEQ) even when .SILENT */
	struct condstore_store mods;
	int err;
	uint32_t *failed;            /* UNCHANGEDSINCE failures, ascending */
	size_t nfailed;
	struct store_msg *changed;   /* what store_flags changed (uid, modseq) */
	size_t nchanged;
	struct store_msg *msgs;      /* the set's state now, ascending UIDs */
	size_t nmsgs;
};

static int store_unchanged_zero(struct store_user *u, struct store_job *j)
{
	struct store_msg *msgs = NULL;
	size_t n = 0;
	int r = store_msg_get(u, j->mailbox, j->uids, j->n, &msgs, &n);
	if (r != STORE_OK)
		return r;
	j->failed = xmalloc((n ? n : 1) * sizeof(uint32_t));
	for (size_t i = 0; i < n; i++)
		j->failed[j->nfailed++] = msgs[i].uid;
	store_msg_array_free(msgs, n);
	return STORE_OK;
}

static void store_job_run(struct cmd_job *job)
{
	struct store_job *j = (struct store_job *)job;
	struct store_user *u = cmd_job_store(job);
	if (!u) {
		j->err = STORE_EIO;
		return;
	}
	if (j->mods.unchangedsince_set && j->mods.unchangedsince == 0) {
		/* RFC 7162 3.1.3: UNCHANGEDSINCE 0 fails for every message
		 * (every message has a modseq). */
		j->err = store_unchanged_zero(u, j);
		return;
	}
	/* The UNCHANGEDSINCE test is made per message inside store_flags'
	 * write transaction: never check-then-write (RFC 7162 3.1.3). */
	j->err = store_flags_as(u, job->reader, j->mailbox, j->uids, j->n, j->mode, j->flags,
				j->keywords, j->mods.unchangedsince, &j->changed, &j->nchanged,
				&j->failed, &j->nfailed);
	if (j->err != STORE_OK || j->silent)
		return;
	/* Every message of the set is reported, changed or not: read the
	 * state of the set once more (changes of others included). */
	if (j->n <= STORE_GET_MAX)
		j->err = store_msg_get(u, j->mailbox, j->uids, j->n, &j->msgs, &j->nmsgs);
	else
		j->err = store_msg_list(u, j->mailbox, j->uids[0], false, &j->msgs, &j->nmsgs);
	if (j->err == STORE_OK) /* aclseen: the reader's \Seen */
		j->err = store_pvtseen_apply(u, j->mailbox, job->reader, j->msgs, j->nmsgs);
}

static void store_job_free(struct cmd_job *job)
{
	struct store_job *j = (struct store_job *)job;
	free(j->uids);
	free(j->keywords);
	free(j->failed);
	store_msg_array_free(j->changed, j->nchanged);
	store_msg_array_free(j->msgs, j->nmsgs);
	free(j);
}

static void store_job_done(struct cmd_job *job)
{
	struct store_job *j = (struct store_job *)job;
	struct imap_session *s = job->cmd->s;
	if (j->err != STORE_OK) {
		sess_store_error(s, j->err, "STORE");
		return;
	}
	/* The FETCH we send reports our change, and RFC 9051 6.4.6 .SILENT
	 * changes are not echoed: either way view_sync must not repeat it. A
	 * message changed again by someone else since has a newer modseq and
	 * is reported by the sync, as it should be. */
	for (size_t i = 0; i < j->nchanged; i++)
		view_note_own_change(s, j->changed[i].uid, j->changed[i].modseq);
	struct store_state *st = xcalloc(1, sizeof(*st));
	st->uid = job->cmd->uid;
	st->condstore = j->condstore;
	st->failed = j->failed;
	st->nfailed = j->nfailed;
	j->failed = NULL;
	/* RFC 7162 3.1.3: .SILENT with CONDSTORE still reports the new
	 * MODSEQ of the messages that changed. */
	st->modseq_only = j->silent && j->condstore;
	if (!j->silent || j->condstore) {
		struct store_msg **msgs = j->silent ? &j->changed : &j->msgs;
		size_t *nmsgs = j->silent ? &j->nchanged : &j->nmsgs;
		st->uids = j->uids;
		st->n = j->n;
		st->msgs = *msgs;
		st->nmsgs = *nmsgs;
		j->uids = NULL;
		*msgs = NULL;
		*nmsgs = 0;
	}
	store_run(s, st);
}

/* "[+|-]FLAGS[.SILENT]" (RFC 9051 9 store-att-flags). */
static int store_mode_parse(const struct imap_arg *a, enum store_flag_mode *mode, bool *silent)
{
	const char *s;
	if (!imap_arg_get_atom(a, &s))
		return -1;
	*mode = STORE_FLAGS_SET;
	if (*s == '+') {
		*mode = STORE_FLAGS_ADD;
		s++;
	} else if (*s == '-') {
		*mode = STORE_FLAGS_REMOVE;
		s++;
	}
	*silent = false;
	if (ascii_ieq(s, "FLAGS.SILENT"))
		*silent = true;
	else if (!ascii_ieq(s, "FLAGS"))
		return -1;
	return 0;
}

void cmd_store(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	bool uid = cmd->uid;
	if (nargs < 3) {
		sess_tagged(s, "BAD", "STORE needs a sequence set, an item and flags");
		return;
	}
	const struct imap_arg *set = &args[0];
	struct condstore_store mods;
	memset(&mods, 0, sizeof(mods));
	if (args[1].type == IMAP_ARG_LIST) {
		/* RFC 7162 3.1.3: STORE set (UNCHANGEDSINCE n) item flags */
		const char *merr;
		if (condstore_store_parse(&args[1], &mods, &merr) < 0) {
			sess_tagged(s, "BAD", "%s", merr);
			return;
		}
		args++;
		nargs--;
		if (nargs < 3) {
			sess_tagged(s, "BAD", "STORE needs a sequence set, an item and flags");
			return;
		}
		condstore_enable(s);
	}
	enum store_flag_mode mode;
	bool silent;
	if (store_mode_parse(&args[1], &mode, &silent) < 0) {
		sess_tagged(s, "BAD", "STORE item must be FLAGS, +FLAGS or -FLAGS (optionally .SILENT)");
		return;
	}
	if (args[2].type == IMAP_ARG_LIST && nargs > 3) {
		sess_tagged(s, "BAD", "Unexpected arguments after the flag list");
		return;
	}
	uint32_t flags;
	char *keywords = NULL;
	const char *err = NULL;
	int fr = sess_parse_flags(&args[2], nargs - 2, &flags, &keywords, &err);
	if (fr < 0) {
		sess_flags_error(s, fr, err);
		return;
	}
	uint32_t *uids = NULL;
	size_t n = 0;
	int r = view_resolve_set(s, set, uid, &uids, &n);
	if (r < 0) {
		free(keywords);
		sess_tagged(s, "BAD", r == -2 ? "Sequence number out of range" : "Invalid sequence set");
		return;
	}
	if (s->view.readonly) {
		free(keywords);
		free(uids);
		sess_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (!imap_view_may_flags(s, flags, keywords, mode == STORE_FLAGS_SET)) { /* acl */
		free(keywords);
		free(uids);
		sess_tagged(s, "NO", "[NOPERM] STORE: permission denied");
		return;
	}
	if (n == 0) {
		free(keywords);
		free(uids);
		struct store_state *st = xcalloc(1, sizeof(*st));
		st->uid = uid;
		store_finish(s, st);
		return;
	}
	struct store_job *j = xcalloc(1, sizeof(*j));
	j->mailbox = s->view.id;
	j->uids = uids;
	j->n = n;
	j->mode = mode;
	j->flags = flags;
	j->keywords = keywords;
	j->silent = silent;
	j->mods = mods;
	j->condstore = condstore_on(s);
	cmd_run_on_pool(cmd, &j->job, store_job_run, store_job_done, store_job_free);
}
