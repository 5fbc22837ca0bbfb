/* GETQUOTA, GETQUOTAROOT and SETQUOTA (RFC 9208 4.1), and the QUOTA and
 * QUOTAROOT responses they give (RFC 9208 5, 9).
 *
 * Every user has one quota root, QUOTA_ROOT_NAME ("User quota", the name
 * Dovecot clients know), over all of the user's mailboxes. Its resources
 * are STORAGE (KiB, RFC 9208 5.1), MESSAGE and MAILBOX; the usage and the
 * limits come from the store (store_quota_get: usage kept in the same
 * transaction as every change, limits per user over the [quota] defaults),
 * which also enforces them (NO [OVERQUOTA] on APPEND, COPY, CREATE).
 *
 * A QUOTA response lists only the resources that have a limit (the grammar
 * needs at least one), so a user without any limit has no quota root:
 * GETQUOTAROOT names none and GETQUOTA answers NO. Nothing is pushed after
 * a change: RFC 9208 leaves untagged QUOTA to the commands that ask.
 *
 * SETQUOTA changes the limits of the caller's own root and is allowed only
 * to the users in [quota] admins (RFC 9208 4.1.3 leaves who may to the
 * server); others get NO [NOPERM]. The store work runs on the pool like
 * every other store phase. */
#include "imap/cmd_quota.h"
#include "imap/session_internal.h"
#include "core/config.h"
#include "core/quote.h"
#include "core/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum quota_op { QUOTA_GET, QUOTA_GETROOT, QUOTA_SET };

static const char *const quota_op_names[] = {
	[QUOTA_GET] = "GETQUOTA", [QUOTA_GETROOT] = "GETQUOTAROOT", [QUOTA_SET] = "SETQUOTA",
};

struct quota_job {
	struct cmd_job job;          /* first member */
	enum quota_op op;
	char *mailbox;               /* GETQUOTAROOT: UTF-8, as the store names it */
	struct store_quota_limits set;
	int err;
	struct store_quota_usage usage;
	struct store_quota_limits eff;
};

/* ---- arguments ---- */

static int setlist_parse(const struct imap_arg *list, struct store_quota_limits *out,
			 const char **err)
{
	static const char *const names[3] = { "STORAGE", "MESSAGE", "MAILBOX" };
	uint64_t *fields[3] = { &out->storage_kib, &out->messages, &out->mailboxes };
	bool seen[3] = { false, false, false };
	*out = (struct store_quota_limits){ 0, 0, 0 };
	if (list->type != IMAP_ARG_LIST || list->count % 2 != 0) {
		*err = "SETQUOTA needs a list of resource names and limits";
		return -1;
	}
	int r = 0;
	for (size_t i = 0; i < list->count; i += 2) {
		const char *name, *num;
		uint64_t v;
		if (!imap_arg_get_atom(&list->list[i], &name) ||
		    !imap_arg_get_atom(&list->list[i + 1], &num)) {
			*err = "SETQUOTA: a resource is an atom and a number";
			return -1;
		}
		/* RFC 9208 9: resource-limit = number64 (up to 2^63 - 1). */
		size_t len = strlen(num);
		if (len == 0 || strspn(num, "0123456789") != len || parse_u64(num, len, &v) < 0 ||
		    v > INT64_MAX) {
			*err = "SETQUOTA: a limit is a number below 2^63";
			return -1;
		}
		size_t k = 0;
		while (k < 3 && !ascii_ieq(name, names[k]))
			k++;
		if (k == 3) {
			/* Checked after the syntax of the whole list. */
			if (r == 0) {
				*err = "SETQUOTA: unsupported resource";
				r = -2;
			}
			continue;
		}
		if (seen[k]) {
			*err = "SETQUOTA: a resource appears twice";
			return -1;
		}
		seen[k] = true;
		if (v == 0 && r == 0) {
			*err = "SETQUOTA: a limit of 0 is not supported, leave the resource out for "
			       "no limit";
			r = -3;
		}
		*fields[k] = v;
	}
	return r;
}

int quota_setlist_parse(const struct imap_arg *list, struct store_quota_limits *out,
			const char **err)
{
	int r = setlist_parse(list, out, err);
	if (r != 0)
		*out = (struct store_quota_limits){ 0, 0, 0 };
	return r;
}

bool quota_is_admin(const char *admins, const char *user)
{
	if (!admins || !user)
		return false;
	size_t ulen = strlen(user);
	for (const char *p = admins; *p;) {
		p += strspn(p, " ,\t");
		size_t n = strcspn(p, " ,\t");
		if (n == ulen && n > 0 && memcmp(p, user, n) == 0)
			return true;
		p += n;
	}
	return false;
}

/* ---- the store phase, on the work pool ---- */

static void quota_job_run(struct cmd_job *job)
{
	struct quota_job *j = (struct quota_job *)job;
	struct store_user *u = cmd_job_store(job);
	if (!u) {
		j->err = STORE_EIO;
		return;
	}
	j->err = STORE_OK;
	if (j->op == QUOTA_GETROOT) {
		struct store_mailbox mb;
		j->err = store_mailbox_get(u, j->mailbox, &mb);
		store_mailbox_clear(&mb);
	} else if (j->op == QUOTA_SET) {
		j->err = store_quota_set(u, &j->set);
	}
	if (j->err == STORE_OK)
		j->err = store_quota_get(u, &j->usage, NULL, &j->eff);
}

static void quota_job_free(struct cmd_job *job)
{
	struct quota_job *j = (struct quota_job *)job;
	free(j->mailbox);
	free(j);
}

static bool quota_root_exists(const struct store_quota_limits *eff)
{
	return eff->storage_kib || eff->messages || eff->mailboxes;
}

/* "* QUOTA "User quota" (STORAGE 10 512 ...)": the limited resources. */
static void quota_write(struct imap_session *s, const struct store_quota_usage *us,
			const struct store_quota_limits *eff)
{
	struct strbuf line = STRBUF_INIT;
	strbuf_adds(&line, "* QUOTA ");
	quote_string(&line, QUOTA_ROOT_NAME, strlen(QUOTA_ROOT_NAME));
	strbuf_adds(&line, " (");
	size_t start = line.len;
	const struct {
		const char *name;
		uint64_t usage, limit;
	} res[3] = {
		{ "STORAGE", store_quota_storage_kib(us->storage), eff->storage_kib },
		{ "MESSAGE", us->messages, eff->messages },
		{ "MAILBOX", us->mailboxes, eff->mailboxes },
	};
	for (size_t i = 0; i < 3; i++) {
		if (res[i].limit == 0)
			continue;
		if (line.len > start)
			strbuf_addc(&line, ' ');
		strbuf_addf(&line, "%s %" PRIu64 " %" PRIu64, res[i].name, res[i].usage,
			    res[i].limit);
	}
	strbuf_addc(&line, ')');
	sess_printf(s, "%s", line.s);
	strbuf_free(&line);
}

static void quota_job_done(struct cmd_job *job)
{
	struct quota_job *j = (struct quota_job *)job;
	struct imap_session *s = job->cmd->s;
	const char *cmd = quota_op_names[j->op];
	if (j->err != STORE_OK) {
		sess_store_error(s, j->err, cmd);
		return;
	}
	bool exists = quota_root_exists(&j->eff);
	if (j->op == QUOTA_GETROOT) {
		/* RFC 9208 4.1.2: QUOTAROOT names the roots, then one QUOTA each. */
		struct strbuf line = STRBUF_INIT;
		strbuf_adds(&line, "* QUOTAROOT ");
		sess_write_mailbox(s, &line, j->mailbox);
		if (exists) {
			strbuf_addc(&line, ' ');
			quote_string(&line, QUOTA_ROOT_NAME, strlen(QUOTA_ROOT_NAME));
		}
		sess_printf(s, "%s", line.s);
		strbuf_free(&line);
	} else if (!exists && j->op == QUOTA_GET) {
		sess_tagged(s, "NO", "[NONEXISTENT] GETQUOTA: no such quota root");
		return;
	}
	/* RFC 9208 4.1.3: SETQUOTA answers with the root's new state. */
	if (exists)
		quota_write(s, &j->usage, &j->eff);
	sess_tagged(s, "OK", "%s completed", cmd);
}

static void quota_start(struct imap_cmd *cmd, enum quota_op op, char *mailbox,
			const struct store_quota_limits *set)
{
	struct quota_job *j = xcalloc(1, sizeof(*j));
	j->op = op;
	j->mailbox = mailbox;
	if (set)
		j->set = *set;
	cmd_run_on_pool(cmd, &j->job, quota_job_run, quota_job_done, quota_job_free);
}

/* The root argument of GETQUOTA/SETQUOTA: 1 for ours, 0 after a tagged
 * reply. */
static int quota_root_arg(struct imap_session *s, const struct imap_arg *a, const char *cmd)
{
	const char *root;
	size_t len;
	if (!imap_arg_get_astring(a, &root, &len)) {
		sess_tagged(s, "BAD", "%s: the quota root is a string", cmd);
		return 0;
	}
	if (len != strlen(QUOTA_ROOT_NAME) || memcmp(root, QUOTA_ROOT_NAME, len) != 0) {
		sess_tagged(s, "NO", "[NONEXISTENT] %s: no such quota root", cmd);
		return 0;
	}
	return 1;
}

void cmd_getquota(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs != 1) {
		sess_tagged(s, "BAD", "GETQUOTA needs a quota root");
		return;
	}
	if (quota_root_arg(s, &args[0], "GETQUOTA"))
		quota_start(cmd, QUOTA_GET, NULL, NULL);
}

void cmd_getquotaroot(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs != 1) {
		sess_tagged(s, "BAD", "GETQUOTAROOT needs a mailbox name");
		return;
	}
	char *name = sess_mailbox_arg(s, &args[0]);
	if (!name) {
		sess_tagged(s, "BAD", "GETQUOTAROOT: invalid mailbox name");
		return;
	}
	quota_start(cmd, QUOTA_GETROOT, name, NULL);
}

void cmd_setquota(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs != 2) {
		sess_tagged(s, "BAD", "SETQUOTA needs a quota root and a list of limits");
		return;
	}
	struct store_quota_limits set;
	const char *err = NULL;
	int r = quota_setlist_parse(&args[1], &set, &err);
	if (r == -1) {
		sess_tagged(s, "BAD", "%s", err);
		return;
	}
	if (!quota_root_arg(s, &args[0], "SETQUOTA"))
		return;
	if (!quota_is_admin(s->cfg->quota_admins, s->user)) {
		sess_tagged(s, "NO", "[NOPERM] SETQUOTA: only a quota administrator may change quotas");
		return;
	}
	if (r < 0) {
		sess_tagged(s, "NO", "[CANNOT] %s", err);
		return;
	}
	quota_start(cmd, QUOTA_SET, NULL, &set);
}
