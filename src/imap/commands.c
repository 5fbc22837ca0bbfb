/* The IMAP command table and the life of a running command.
 *
 * Every command is one row: where it is allowed and what RFC 9051 5.5 and
 * 7.5.1 say about it, as flags, so that the session enforces the rules
 * from data and a new command is one row plus its cmd_*.c entry point.
 *
 * Pipelining (RFC 9051 5.5): the session runs one command at a time and
 * reads nothing while a command is in progress (waiting for output room or
 * for the work pool), so a command that uses sequence numbers never runs
 * beside one that may expunge. CMD_USES_SEQS and CMD_MAY_EXPUNGE record
 * the facts a concurrent scheduler would need; CMD_NO_EXPUNGE_RESP is
 * enforced today (imap_cmd_allows_expunge). */
#include "imap/command.h"
#include "core/metrics.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

#define SEQ CMD_USES_SEQS
#define EXP CMD_MAY_EXPUNGE
#define NOEXP CMD_NO_EXPUNGE_RESP
#define PROG CMD_PROGRESS /* inprogress */

static const struct imap_cmd_def commands[] = {
	{ "CAPABILITY", cmd_capability, CMD_S_ANY, 0 },
	{ "NOOP", cmd_noop, CMD_S_ANY, 0 },
	{ "LOGOUT", cmd_logout, CMD_S_ANY, 0 },
	{ "ID", cmd_id, CMD_S_ANY, 0 },
	{ "ENABLE", cmd_enable, CMD_S_LOGGED_IN, 0 },
	{ "STARTTLS", cmd_starttls, CMD_S_NOTAUTH, 0 },
	{ "LOGIN", cmd_login, CMD_S_NOTAUTH, 0 },
	{ "AUTHENTICATE", cmd_authenticate, CMD_S_NOTAUTH, 0 },
	{ "SELECT", cmd_select, CMD_S_LOGGED_IN, 0 },
	{ "EXAMINE", cmd_examine, CMD_S_LOGGED_IN, 0 },
	{ "CREATE", cmd_create, CMD_S_LOGGED_IN, 0 },
	{ "DELETE", cmd_delete, CMD_S_LOGGED_IN, 0 },
	{ "RENAME", cmd_rename, CMD_S_LOGGED_IN, 0 },
	{ "SUBSCRIBE", cmd_subscribe, CMD_S_LOGGED_IN, 0 },
	{ "UNSUBSCRIBE", cmd_unsubscribe, CMD_S_LOGGED_IN, 0 },
	{ "LIST", cmd_list, CMD_S_LOGGED_IN, 0 },
	{ "LSUB", cmd_lsub, CMD_S_LOGGED_IN, 0 },
	{ "NAMESPACE", cmd_namespace, CMD_S_LOGGED_IN, 0 },
	{ "STATUS", cmd_status, CMD_S_LOGGED_IN, 0 },
	{ "APPEND", cmd_append, CMD_S_LOGGED_IN, 0 },
	{ "IDLE", cmd_idle, CMD_S_LOGGED_IN, 0 },
	{ "CHECK", cmd_check, CMD_S_SELECTED, 0 },
	/* CLOSE expunges silently (RFC 9051 6.4.1). */
	{ "CLOSE", cmd_close, CMD_S_SELECTED, EXP },
	{ "UNSELECT", cmd_unselect, CMD_S_SELECTED, 0 },
	{ "EXPUNGE", cmd_expunge, CMD_S_SELECTED, CMD_UID | EXP },
	{ "SEARCH", cmd_search, CMD_S_SELECTED, CMD_UID | SEQ | NOEXP | PROG },
	{ "FETCH", cmd_fetch, CMD_S_SELECTED, CMD_UID | SEQ | NOEXP | PROG },
	{ "STORE", cmd_store, CMD_S_SELECTED, CMD_UID | SEQ | NOEXP | PROG },
	{ "COPY", cmd_copy, CMD_S_SELECTED, CMD_UID | SEQ | PROG },
	{ "MOVE", cmd_move, CMD_S_SELECTED, CMD_UID | SEQ | EXP | PROG },
	/* quota part (RFC 9208, imap/cmd_quota.c) */
	{ "GETQUOTA", cmd_getquota, CMD_S_LOGGED_IN, 0 },
	{ "GETQUOTAROOT", cmd_getquotaroot, CMD_S_LOGGED_IN, 0 },
	{ "SETQUOTA", cmd_setquota, CMD_S_LOGGED_IN, 0 },
	/* sort: SORT and THREAD (RFC 5256), imap/cmd_sort.c */
	{ "SORT", cmd_sort, CMD_S_SELECTED, CMD_UID | SEQ | NOEXP | PROG },
	{ "THREAD", cmd_thread, CMD_S_SELECTED, CMD_UID | SEQ | NOEXP | PROG },
	/* ext (issue #12): folders and the smaller extensions */
	{ "COMPRESS", cmd_compress, CMD_S_LOGGED_IN, 0 },
	/* acl (issue #12): RFC 4314 3 (imap/cmd_acl.c) */
	{ "SETACL", cmd_setacl, CMD_S_LOGGED_IN, 0 },
	{ "DELETEACL", cmd_deleteacl, CMD_S_LOGGED_IN, 0 },
	{ "GETACL", cmd_getacl, CMD_S_LOGGED_IN, 0 },
	{ "LISTRIGHTS", cmd_listrights, CMD_S_LOGGED_IN, 0 },
	{ "MYRIGHTS", cmd_myrights, CMD_S_LOGGED_IN, 0 },
	/* notify (issue #12): RFC 5465 (imap/cmd_notify.c) */
	{ "NOTIFY", cmd_notify, CMD_S_LOGGED_IN, 0 },
	/* context (issue #12): RFC 5267 4.3.5 (imap/search_context.c) */
	{ "CANCELUPDATE", cmd_cancelupdate, CMD_S_SELECTED, 0 },
	/* metadata (issue #12): RFC 5464 4.2, 4.3 (imap/cmd_metadata.c) */
	{ "GETMETADATA", cmd_getmetadata, CMD_S_LOGGED_IN, 0 },
	{ "SETMETADATA", cmd_setmetadata, CMD_S_LOGGED_IN, 0 },
	/* preview: REPLACE and UID REPLACE (RFC 8508, imap/cmd_replace.c) */
	{ "REPLACE", cmd_replace, CMD_S_SELECTED, CMD_UID | SEQ | EXP },
	/* multisearch: RFC 7377, always by UID (imap/cmd_multisearch.c) */
	{ "ESEARCH", cmd_esearch, CMD_S_LOGGED_IN, PROG },
};

const struct imap_cmd_def *imap_cmd_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (ascii_ieq(commands[i].name, name))
			return &commands[i];
	return NULL;
}

size_t imap_cmd_index(const struct imap_cmd_def *def)
{
	return def ? (size_t)(def - commands) : METRICS_CMD_OTHER;
}

const char *imap_cmd_name_at(size_t i)
{
	return i < ARRAY_SIZE(commands) ? commands[i].name : NULL;
}

bool imap_cmd_allows_expunge(const struct imap_cmd *cmd)
{
	/* The UID forms name messages by UID: an EXPUNGE response can't
	 * shift what they answer about (RFC 9051 7.5.1 names FETCH, STORE
	 * and SEARCH, which clients pipeline by sequence number). */
	return !cmd || !cmd->def || !(cmd->def->flags & CMD_NO_EXPUNGE_RESP) || cmd->uid;
}

/* ---- command-scoped memory: a list of blocks freed together ---- */

struct imap_cmd_mem {
	struct imap_cmd_mem *next;
	max_align_t data[];
};

void *imap_cmd_alloc(struct imap_cmd *cmd, size_t n)
{
	struct imap_cmd_mem *m = xcalloc(1, sizeof(*m) + n);
	m->next = cmd->mem;
	cmd->mem = m;
	return m->data;
}

struct imap_cmd *imap_cmd_new(struct imap_session *s, const struct imap_cmd_def *def,
			      const char *tag, bool uid)
{
	struct imap_cmd *cmd = xcalloc(1, sizeof(*cmd));
	cmd->s = s;
	cmd->def = def;
	cmd->uid = uid;
	cmd->start_ns = metrics_now_ns();
	if (tag) {
		size_t len = strlen(tag);
		cmd->tag = imap_cmd_alloc(cmd, len + 1);
		memcpy(cmd->tag, tag, len);
	}
	return cmd;
}

void imap_cmd_free(struct imap_cmd *cmd)
{
	if (!cmd)
		return;
	if (cmd->job)
		cmd_job_detach(cmd->job);
	while (cmd->mem) {
		struct imap_cmd_mem *next = cmd->mem->next;
		free(cmd->mem);
		cmd->mem = next;
	}
	free(cmd);
}
