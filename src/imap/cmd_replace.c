/* REPLACE and UID REPLACE (RFC 8508): a client edits a draft by sending
 * the new version and naming the message it replaces; the server appends
 * the new one (to any mailbox the user may insert into) and expunges the
 * old one from the selected mailbox.
 *
 * Both happen in one store transaction (store_replace), so a crash leaves
 * either the old message or the new one, never neither and never both
 * (RFC 8508 3.3: the APPEND and the expunge are one operation). The target
 * must be in the same owner's store as the selected mailbox, as for MOVE
 * (imap_cmd_acl_copy: i on the target, t and e on the source).
 *
 * The message is read exactly as APPEND reads it (imap/append.h: flags,
 * date, literal or UTF8 (literal8), a large literal spooled to a file),
 * and is acknowledged only once durable. Responses, as RFC 8508 3.1 shows
 * them: an untagged OK [APPENDUID] (RFC 4315), then the expunge of the
 * replaced message (EXPUNGE, or VANISHED under QRESYNC) and the new
 * message's EXISTS when it went to the selected mailbox, then the tagged
 * OK. */
#include "imap/append.h"
#include "imap/namespace.h"
#include "imap/search_index.h"
#include "imap/session_internal.h"
#include "core/config.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

struct replace_job {
	struct cmd_job job;          /* first member */
	struct store_append msg;     /* points into the command's literal */
	char *keywords;              /* msg.keywords */
	char *name;                  /* the target mailbox (owner's name) */
	int64_t mailbox;             /* the selected mailbox */
	uint32_t uid;                /* the message replaced */
	uint32_t uidvalidity;
	int err;
};

static void replace_job_run(struct cmd_job *job)
{
	struct replace_job *j = (struct replace_job *)job;
	struct store_user *u = cmd_job_store(job);
	if (!u) {
		j->err = STORE_EIO;
		return;
	}
	append_msg_prepare(&j->msg);
	j->err = store_replace(u, j->mailbox, j->uid, j->name, &j->msg, &j->uidvalidity);
}

static void replace_job_free(struct cmd_job *job)
{
	struct replace_job *j = (struct replace_job *)job;
	append_msg_clear(&j->msg);
	free(j->keywords);
	free(j->name);
	free(j);
}

static void replace_job_done(struct cmd_job *job)
{
	struct replace_job *j = (struct replace_job *)job;
	struct imap_session *s = job->cmd->s;
	const char *what = job->cmd->uid ? "UID REPLACE" : "REPLACE";
	if (j->err == STORE_ENOENT) {
		/* RFC 8508 3.3, as APPEND: the client may CREATE and retry. */
		sess_tagged(s, "NO", "[TRYCREATE] Mailbox does not exist");
		return;
	}
	if (j->err == STORE_ECANNOT) {
		/* Expunged by another session meanwhile: nothing was stored. */
		if (view_sync(s, true))
			sess_tagged(s, "NO", "[EXPUNGEISSUED] The message to replace was expunged");
		return;
	}
	if (j->err != STORE_OK) {
		sess_store_error(s, j->err, what);
		return;
	}
	search_index_kick_soon(s->info.base, job->user); /* newmsg: as APPEND */
	/* RFC 8508 3.1: APPENDUID before the expunge it causes. */
	sess_printf(s, "* OK [APPENDUID %u %u] Replacement message added", j->uidvalidity,
		    j->msg.uid);
	if (!view_sync(s, true))
		return;
	sess_tagged(s, "OK", "%s completed", what);
}

/* The message to replace: one sequence number or UID of the view ("*"
 * is the last), 0 when there is no such message, -1 for bad syntax. */
static int replace_target(struct imap_session *s, const struct imap_arg *a, bool uid,
			  uint32_t *out)
{
	const char *str;
	if (!imap_arg_get_atom(a, &str) || strpbrk(str, ",:$") != NULL)
		return -1;
	uint32_t *uids = NULL;
	size_t n = 0;
	int r = view_resolve_set(s, a, uid, &uids, &n);
	if (r == -2) {
		*out = 0;
		return 0;
	}
	if (r < 0 || n > 1) {
		free(uids);
		return -1;
	}
	*out = n ? uids[0] : 0;
	free(uids);
	return 0;
}

void cmd_replace(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	const char *what = cmd->uid ? "UID REPLACE" : "REPLACE";
	if (nargs < 3) {
		sess_tagged(s, "BAD", "%s needs a message number, a mailbox and a message", what);
		return;
	}
	uint32_t uid = 0;
	if (replace_target(s, &args[0], cmd->uid, &uid) < 0) {
		sess_tagged(s, "BAD", "%s: invalid message number", what);
		return;
	}
	struct replace_job *j = xcalloc(1, sizeof(*j));
	const char *err = NULL;
	int spool_err = 0;
	size_t pos = 2;
	int pr = append_msg_parse(s, args, nargs, &pos, &j->msg, &j->keywords, &spool_err, &err);
	if (pr == 0 && pos != nargs) {
		pr = -1;
		err = "One message only";
	}
	if (pr < 0) {
		if (pr == -1)
			sess_tagged(s, "BAD", "%s: %s", what, err);
		replace_job_free(&j->job);
		return;
	}
	/* RFC 8508 3.3: the literal is read; a message that is not there is
	 * a NO, like a failed APPEND, and nothing is stored. */
	if (uid == 0) {
		sess_tagged(s, "NO", "%s: no such message", what);
		replace_job_free(&j->job);
		return;
	}
	j->name = sess_mailbox_arg(s, &args[1]);
	if (!j->name) {
		sess_tagged(s, "BAD", "%s: invalid mailbox name", what);
		replace_job_free(&j->job);
		return;
	}
	/* acl: i on the target, t and e on the source, one owner. */
	if (imap_cmd_acl_copy(cmd, &j->name, true) < 0) {
		replace_job_free(&j->job);
		return;
	}
	/* The append and the expunge are one transaction of one store
	 * (store_replace); COPY/MOVE may cross owners, REPLACE may not. */
	const char *src = s->view.owner ? s->view.owner : s->user;
	if (strcmp(src, cmd->mbref->owner) != 0) {
		sess_tagged(s, "NO", "[CANNOT] %s: not between two users' mailboxes", what);
		replace_job_free(&j->job);
		return;
	}
	if (s->view.readonly) {
		sess_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only: messages can't be replaced");
		replace_job_free(&j->job);
		return;
	}
	size_t max = s->cfg->max_message_size;
	if (j->msg.len > max) {
		sess_tagged(s, "NO", "[TOOBIG] Message exceeds APPENDLIMIT %zu", max);
		replace_job_free(&j->job);
		return;
	}
	if (spool_err) {
		append_spool_fail(s, spool_err, what);
		replace_job_free(&j->job);
		return;
	}
	if (j->msg.len == 0) {
		sess_tagged(s, "NO", "[CANNOT] Empty messages are not accepted");
		replace_job_free(&j->job);
		return;
	}
	j->mailbox = s->view.id;
	j->uid = uid;
	cmd_run_on_pool(cmd, &j->job, replace_job_run, replace_job_done, replace_job_free);
}
