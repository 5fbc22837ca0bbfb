/* STORE and UID STORE (RFC 9051 6.4.6, 6.4.9).
 *
 * One store_flags() call changes the whole set in one transaction; then
 * the new flags of every message of the set are reported (unless .SILENT),
 * paced like FETCH output so a STORE over 1:* of a large mailbox doesn't
 * buffer megabytes for a slow client. */
#include "imap/session_internal.h"
#include "imap/namespace.h"
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
};

static void store_state_free(struct store_state *st)
{
	if (!st)
		return;
	free(st->uids);
	store_msg_array_free(st->msgs, st->nmsgs);
	free(st);
}

/* The session went away while the command waited for output room. */
static void store_cancel(struct imap_cmd *cmd)
{
	store_state_free(cmd->state);
	cmd->state = NULL;
}

static void store_finish(struct imap_session *s, struct store_state *st)
{
	bool uid = st->uid;
	store_state_free(st);
	/* The command may have paused before: nothing is left to cancel. */
	s->cmd->state = NULL;
	s->cmd->cancel = NULL;
	/* RFC 9051 7.5.1: no EXPUNGE while answering STORE. */
	if (!view_sync(s, false))
		return;
	sess_tagged(s, "OK", "%sSTORE completed", uid ? "UID " : "");
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
		const struct store_msg *m = &st->msgs[st->mpos];
		strbuf_reset(&line);
		strbuf_addf(&line, "* %u FETCH (", view_seq_of(&s->view, uid));
		/* RFC 9051 6.4.9: UID STORE responses carry the UID; rev2
		 * clients get it always, as in unsolicited FETCH. */
		if (st->uid || s->rev2)
			strbuf_addf(&line, "UID %u ", uid);
		strbuf_adds(&line, "FLAGS ");
		sess_write_flags(s, &line, m->flags, m->keywords, uid >= s->view.first_recent);
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
	int err;
	struct store_msg *changed;   /* what store_flags changed (uid, modseq) */
	size_t nchanged;
	struct store_msg *msgs;      /* the set's state now, ascending UIDs */
	size_t nmsgs;
};

static void store_job_run(struct cmd_job *job)
{
	struct store_job *j = (struct store_job *)job;
	struct store_user *u = cmd_job_store(job);
	if (!u) {
		j->err = STORE_EIO;
		return;
	}
	j->err = store_flags(u, j->mailbox, j->uids, j->n, j->mode, j->flags, j->keywords, 0,
			     &j->changed, &j->nchanged, NULL, NULL);
	if (j->err != STORE_OK || j->silent)
		return;
	/* Every message of the set is reported, changed or not: read the
	 * state of the set once more (changes of others included). */
	if (j->n <= STORE_GET_MAX)
		j->err = store_msg_get(u, j->mailbox, j->uids, j->n, &j->msgs, &j->nmsgs);
	else
		j->err = store_msg_list(u, j->mailbox, j->uids[0], false, &j->msgs, &j->nmsgs);
}

static void store_job_free(struct cmd_job *job)
{
	struct store_job *j = (struct store_job *)job;
	free(j->uids);
	free(j->keywords);
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
	if (!j->silent) {
		st->uids = j->uids;
		st->n = j->n;
		st->msgs = j->msgs;
		st->nmsgs = j->nmsgs;
		j->uids = NULL;
		j->msgs = NULL;
		j->nmsgs = 0;
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
	if (args[1].type == IMAP_ARG_LIST) {
		/* RFC 7162 (UNCHANGEDSINCE n): CONDSTORE is not advertised yet. */
		sess_tagged(s, "BAD", "STORE modifiers are not supported");
		return;
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
	int r = view_resolve_set(s, &args[0], uid, &uids, &n);
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
	cmd_run_on_pool(cmd, &j->job, store_job_run, store_job_done, store_job_free);
}
