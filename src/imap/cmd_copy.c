/* COPY, MOVE and their UID forms (RFC 9051 6.4.7, 6.4.8, 6.4.9; RFC 4315
 * UIDPLUS COPYUID; RFC 6851 MOVE).
 *
 * Within one owner's store the whole set goes to the store in one call
 * (one transaction; blobs are shared, not copied). Into another owner's
 * store (shared mailboxes, RFC 4314), or where the user may not set every
 * flag on the target, imap/copy_cross.c appends to the target in one
 * transaction and then expunges the source for MOVE. COPYUID pairs source
 * and destination UIDs in order, so both sets are compressed together: a
 * range only grows while both sides stay consecutive. */
#include "imap/session_internal.h"
#include "imap/copy_cross.h"
#include "imap/namespace.h"
#include "core/config.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* sess_tagged() formats into a bounded buffer: a COPYUID longer than this
 * goes out as an untagged OK before the tagged one (RFC 4315 allows
 * response codes on untagged OK; RFC 6851 does so for MOVE). */
#define COPYUID_TAGGED_MAX 800

/* "uidvalidity src-set dst-set". Both lists ascend together, so each side
 * can be compressed on its own and the n-th source still maps to the n-th
 * destination (RFC 4315 3). */
static void copyuid_format(struct strbuf *out, uint32_t uidvalidity, const uint32_t *su,
			   const uint32_t *du, size_t n)
{
	strbuf_addf(out, "%u ", uidvalidity);
	seqset_format_list(out, su, n);
	strbuf_addc(out, ' ');
	seqset_format_list(out, du, n);
}

/* The store phase of COPY/MOVE, on the work pool: one transaction. */
struct copy_job {
	struct cmd_job job;          /* first member */
	int64_t mailbox;
	uint32_t *uids;
	size_t n;
	char *name;
	bool move;
	struct copy_cross_req cross;  /* aclcopy: used when cross.dst_owner */
	int err;
	uint32_t uidvalidity, *su, *du;
	size_t ncopied;
};

static void copy_job_run(struct cmd_job *job)
{
	struct copy_job *j = (struct copy_job *)job;
	struct store_user *u = cmd_job_store(job);
	if (!u) {
		j->err = STORE_EIO;
	} else if (j->cross.dst_owner) {
		j->cross.src = u;
		j->err = copy_cross_run(&j->cross, &j->uidvalidity, &j->su, &j->du, &j->ncopied);
	} else if (j->n == 0) {
		/* Nothing to copy, but a missing target is still reported. */
		struct store_mailbox mb;
		memset(&mb, 0, sizeof(mb));
		j->err = store_mailbox_status(u, j->name, &mb);
		store_mailbox_clear(&mb);
	} else {
		j->err = store_copy(u, j->mailbox, j->uids, j->n, j->name, j->move, &j->uidvalidity,
				    &j->su, &j->du, &j->ncopied);
	}
}

static void copy_job_free(struct cmd_job *job)
{
	struct copy_job *j = (struct copy_job *)job;
	free(j->uids);
	free(j->name);
	free((char *)j->cross.dst_owner);
	free(j->su);
	free(j->du);
	free(j);
}

static void copy_job_done(struct cmd_job *job)
{
	struct copy_job *j = (struct copy_job *)job;
	struct imap_session *s = job->cmd->s;
	bool uid = job->cmd->uid, move = j->move;
	const char *cmd = move ? (uid ? "UID MOVE" : "MOVE") : (uid ? "UID COPY" : "COPY");
	if (j->err == STORE_ENOENT) {
		/* RFC 9051 6.4.7: the client may CREATE and retry. */
		sess_tagged(s, "NO", "[TRYCREATE] Target mailbox does not exist");
		return;
	}
	if (j->err == COPY_CROSS_ETOOBIG) {
		sess_tagged(s, "NO", "[TOOBIG] %s: a message exceeds APPENDLIMIT %zu", cmd,
			    j->cross.max_size);
		return;
	}
	if (j->err != STORE_OK) {
		sess_store_error(s, j->err, cmd);
		return;
	}
	struct strbuf code = STRBUF_INIT;
	if (j->ncopied)
		copyuid_format(&code, j->uidvalidity, j->su, j->du, j->ncopied);
	bool untagged = j->ncopied && (move || code.len > COPYUID_TAGGED_MAX);
	if (untagged) {
		/* RFC 6851 4.3: before the EXPUNGEs of a MOVE. */
		sess_printf(s, "* OK [COPYUID %s] %s", code.s, move ? "Moved" : "Copied");
	}
	/* MOVE's expunges are reported now (RFC 6851 3.3), as are others'. */
	if (!view_sync(s, true)) {
		strbuf_free(&code);
		return;
	}
	if (j->ncopied && !untagged)
		sess_tagged(s, "OK", "[COPYUID %s] %s completed", code.s, cmd);
	else
		sess_tagged(s, "OK", "%s completed", cmd);
	strbuf_free(&code);
}

/* aclcopy: another owner's store, or a target where some flags may not
 * be set (RFC 4314 4: \Seen needs s, \Deleted t, the others w), goes
 * through copy_cross; the rest is one store_copy. */
static void copy_route_cross(struct imap_cmd *c, struct copy_job *j)
{
	struct imap_session *s = c->s;
	const struct imap_mailbox_ref *dst = c->mbref;
	const char *src = s->view.owner ? s->view.owner : s->user;
	uint32_t flag_rights = STORE_ACL_SEEN | STORE_ACL_WRITE | STORE_ACL_DELMSG;
	if (!dst || (strcmp(src, dst->owner) == 0 && (dst->rights & flag_rights) == flag_rights))
		return;
	j->cross.dst_owner = xstrdup(dst->owner);
	j->cross.mailbox = j->mailbox;
	j->cross.uids = j->uids;
	j->cross.n = j->n;
	j->cross.dst_name = j->name;
	j->cross.dst_rights = dst->rights;
	j->cross.max_size = s->cfg->max_message_size;
	j->cross.move = j->move;
}

static void do_copy(struct imap_cmd *c, const struct imap_arg *args, size_t nargs, bool move)
{
	struct imap_session *s = c->s;
	bool uid = c->uid;
	const char *cmd = move ? (uid ? "UID MOVE" : "MOVE") : (uid ? "UID COPY" : "COPY");
	if (nargs != 2) {
		sess_tagged(s, "BAD", "%s needs a sequence set and a mailbox name", cmd);
		return;
	}
	uint32_t *uids = NULL;
	size_t n = 0;
	int r = view_resolve_set(s, &args[0], uid, &uids, &n);
	if (r < 0) {
		sess_tagged(s, "BAD", r == -2 ? "Sequence number out of range" : "Invalid sequence set");
		return;
	}
	char *name = sess_mailbox_arg(s, &args[1]);
	if (!name) {
		free(uids);
		sess_tagged(s, "BAD", "Invalid mailbox name");
		return;
	}
	if (imap_cmd_acl_copy(c, &name, move) < 0) { /* acl */
		free(uids);
		return;
	}
	if (move && s->view.readonly) {
		free(uids);
		free(name);
		sess_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only: messages can't be moved out");
		return;
	}
	struct copy_job *j = xcalloc(1, sizeof(*j));
	j->mailbox = s->view.id;
	j->uids = uids;
	j->n = n;
	j->name = name;
	j->move = move;
	copy_route_cross(c, j);
	cmd_run_on_pool(c, &j->job, copy_job_run, copy_job_done, copy_job_free);
}

void cmd_copy(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	do_copy(cmd, args, nargs, false);
}

void cmd_move(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	do_copy(cmd, args, nargs, true);
}
