/* SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE and UID EXPUNGE. */
#include "imap/session_internal.h"
#include "imap/namespace.h"
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
	uint32_t first_recent;
	uint32_t *uids;
	size_t n;
	uint32_t recent, first_unseen;
	uint64_t modseq;
};

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
	uint32_t first_recent = j->mb.first_recent_uid;
	if (!j->readonly && !j->rev2)
		store_mailbox_take_recent(u, j->mb.id, &first_recent);
	j->first_recent = j->rev2 ? UINT32_MAX : first_recent;
	struct store_msg *msgs = NULL;
	size_t n = 0;
	j->err = store_msg_list(u, j->mb.id, 1, true, &msgs, &n);
	if (j->err != STORE_OK)
		return;
	j->uids = xmalloc((n ? n : 16) * sizeof(uint32_t));
	j->n = n;
	uint64_t maxmod = 0;
	for (size_t i = 0; i < n; i++) {
		j->uids[i] = msgs[i].uid;
		if (msgs[i].uid >= j->first_recent)
			j->recent++;
		if (!j->first_unseen && !(msgs[i].flags & MAIL_FLAG_SEEN))
			j->first_unseen = (uint32_t)i + 1;
		if (msgs[i].modseq > maxmod)
			maxmod = msgs[i].modseq;
	}
	/* Everything up to the mailbox's modseq is what the client now knows. */
	j->modseq = j->mb.highestmodseq > maxmod ? j->mb.highestmodseq : maxmod;
	store_msg_array_free(msgs, n);
}

static void select_job_free(struct cmd_job *job)
{
	struct select_job *j = (struct select_job *)job;
	free(j->name);
	free(j->uids);
	store_mailbox_clear(&j->mb);
	free(j);
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
	nv.first_recent = j->first_recent;
	nv.uids = j->uids;
	nv.cap = (uint32_t)(j->n ? j->n : 16);
	nv.count = (uint32_t)j->n;
	j->uids = NULL;
	nv.modseq = nv.flags_modseq = j->modseq;
	imap_mailbox_view_adopt(job->cmd, &nv); /* acl */
	sess_select(s, &nv);
	const struct imap_view *v = &s->view;

	sess_printf(s, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)");
	if (j->readonly)
		sess_printf(s, "* OK [PERMANENTFLAGS ()] Read-only mailbox.");
	else if (v->owner) /* acl: the flags this user may change (RFC 4314 4) */
		imap_view_permanentflags(s);
	else
		sess_printf(s, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.");
	sess_printf(s, "* %u EXISTS", v->count);
	if (!s->rev2) {
		sess_printf(s, "* %u RECENT", j->recent);
		if (j->first_unseen)
			sess_printf(s, "* OK [UNSEEN %u] First unseen.", j->first_unseen);
	}
	sess_printf(s, "* OK [UIDVALIDITY %u] UIDs valid", j->mb.uidvalidity);
	sess_printf(s, "* OK [UIDNEXT %u] Predicted next UID", j->mb.uidnext);
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

static void do_select(struct imap_cmd *c, const struct imap_arg *args, size_t nargs,
		      bool readonly)
{
	struct imap_session *s = c->s;
	const char *cmd = readonly ? "EXAMINE" : "SELECT";
	if (nargs < 1 || nargs > 2) {
		sess_tagged(s, "BAD", "%s needs a mailbox name", cmd);
		return;
	}
	if (nargs == 2) {
		/* (CONDSTORE) and other select parameters are not supported yet. */
		sess_tagged(s, "BAD", "Unknown %s parameters", cmd);
		return;
	}
	char *name = sess_mailbox_arg(s, &args[0]);
	if (!name) {
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
			   size_t nonly)
{
	if (!u)
		return STORE_EIO;
	struct store_msg *msgs = NULL;
	size_t n = 0;
	int r;
	if (only)
		r = store_msg_get(u, mailbox, only, nonly, &msgs, &n);
	else
		r = store_msg_list(u, mailbox, 1, true, &msgs, &n);
	if (r != STORE_OK)
		return r;
	uint32_t *del = NULL;
	size_t ndel = 0, cap = 0;
	for (size_t i = 0; i < n; i++) {
		if (msgs[i].flags & MAIL_FLAG_DELETED) {
			xgrow((void **)&del, &cap, ndel + 1, sizeof(uint32_t));
			del[ndel++] = msgs[i].uid;
		}
	}
	store_msg_array_free(msgs, n);
	r = ndel ? store_expunge(u, mailbox, del, ndel) : STORE_OK;
	free(del);
	return r;
}

/* EXPUNGE, UID EXPUNGE and CLOSE on the work pool. */
struct expunge_job {
	struct cmd_job job;          /* first member */
	int64_t mailbox;
	uint32_t *only;              /* UID EXPUNGE: the set */
	size_t nonly;
	int err;
};

static void expunge_job_run(struct cmd_job *job)
{
	struct expunge_job *j = (struct expunge_job *)job;
	j->err = expunge_deleted(cmd_job_store(job), j->mailbox, j->only, j->nonly);
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
