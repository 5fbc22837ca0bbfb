/* Mailbox management: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
 * STATUS. */
#include "imap/session_internal.h"
#include "imap/namespace.h"
#include "imap/status_items.h"
#include "imap/condstore.h"
#include "imap/objectid.h"
#include "core/config.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* A mailbox argument, with the trailing delimiter CREATE allows removed. */
static char *mailbox_arg_checked(struct imap_session *s, const struct imap_arg *args, size_t nargs,
				 size_t want, const char *cmd)
{
	if (nargs != want) {
		sess_tagged(s, "BAD", "%s: wrong number of arguments", cmd);
		return NULL;
	}
	char *name = sess_mailbox_arg(s, &args[0]);
	if (!name) {
		sess_tagged(s, "BAD", "%s: invalid mailbox name", cmd);
		return NULL;
	}
	size_t max = s->cfg->max_mailbox_name;
	if (strlen(name) > max) {
		free(name);
		sess_tagged(s, "NO", "[LIMIT] %s: mailbox name too long", cmd);
		return NULL;
	}
	return name;
}

/* The store phase of CREATE, DELETE, RENAME, SUBSCRIBE and UNSUBSCRIBE,
 * on the work pool: no store write runs on the worker's event loop.
 * DELETE of a mailbox with 100,000 messages removes their rows and
 * collects their blobs, which takes seconds. */
enum mbox_op { MBOX_CREATE, MBOX_DELETE, MBOX_RENAME, MBOX_SUBSCRIBE, MBOX_UNSUBSCRIBE,
	       MBOX_SUBSCRIBE_SHARED /* acl: checked by the resolver */ };

static const char *const mbox_op_names[] = {
	[MBOX_CREATE] = "CREATE", [MBOX_DELETE] = "DELETE", [MBOX_RENAME] = "RENAME",
	[MBOX_SUBSCRIBE] = "SUBSCRIBE", [MBOX_UNSUBSCRIBE] = "UNSUBSCRIBE",
	[MBOX_SUBSCRIBE_SHARED] = "SUBSCRIBE",
};

struct mbox_job {
	struct cmd_job job;          /* first member */
	enum mbox_op op;
	char *name;                  /* UTF-8 */
	char *to;                    /* RENAME's new name */
	unsigned max_mailboxes;      /* CREATE */
	const char *use;             /* CREATE (USE (...)): a static "\\Sent" etc. */
	int err;
	int64_t created_id;          /* objectid: CREATE's new mailbox, 0 unknown */
	uint32_t created_uidvalidity;
};

static void mbox_job_run(struct cmd_job *job)
{
	struct mbox_job *j = (struct mbox_job *)job;
	struct store_user *u = cmd_job_store(job);
	if (!u) {
		j->err = STORE_EIO;
		return;
	}
	switch (j->op) {
	case MBOX_CREATE:
		/* The count limit is checked in the store's transaction, and
		 * the store answers EEXIST for INBOX in any spelling. */
		j->err = store_mailbox_create_bounded(u, j->name, j->use, j->max_mailboxes);
		if (j->err == STORE_OK) {
			/* objectid: its MAILBOXID for the tagged OK (RFC 8474 4.1). */
			struct store_mailbox mb;
			memset(&mb, 0, sizeof(mb));
			if (store_mailbox_get(u, j->name, &mb) == STORE_OK) {
				j->created_id = mb.id;
				j->created_uidvalidity = mb.uidvalidity;
			}
			store_mailbox_clear(&mb);
		}
		break;
	case MBOX_DELETE:
		j->err = store_mailbox_delete(u, j->name);
		break;
	case MBOX_RENAME:
		j->err = store_mailbox_rename(u, j->name, j->to);
		break;
	case MBOX_SUBSCRIBE: {
		/* Subscribing to a mailbox that does not exist is refused
		 * (RFC 9051 6.3.7 leaves it to the server); unsubscribing from
		 * a deleted one must work. */
		struct store_mailbox mb;
		memset(&mb, 0, sizeof(mb));
		j->err = store_mailbox_status(u, j->name, &mb);
		store_mailbox_clear(&mb);
		if (j->err == STORE_OK)
			j->err = store_subscribe(u, j->name, true);
		break;
	}
	case MBOX_UNSUBSCRIBE:
		j->err = store_subscribe(u, j->name, false);
		break;
	case MBOX_SUBSCRIBE_SHARED:
		j->err = store_subscribe(u, j->name, true);
		break;
	}
}

static void mbox_job_free(struct cmd_job *job)
{
	struct mbox_job *j = (struct mbox_job *)job;
	free(j->name);
	free(j->to);
	free(j);
}

/* Back on the worker: the selected mailbox follows what happened to it. */
static void mbox_job_done(struct cmd_job *job)
{
	struct mbox_job *j = (struct mbox_job *)job;
	struct imap_session *s = job->cmd->s;
	const char *cmd = mbox_op_names[j->op];
	if (j->err != STORE_OK) {
		sess_store_error(s, j->err, cmd);
		return;
	}
	if (j->op == MBOX_DELETE && s->state == ST_SELECTED && strcmp(s->view.name, j->name) == 0) {
		/* The client deleted what it had selected: it is no longer
		 * selected rather than told BYE. */
		sess_unselect(s);
	} else if (j->op == MBOX_RENAME && s->state == ST_SELECTED &&
		   strcmp(j->name, "INBOX") != 0 && strcmp(s->view.name, j->name) == 0) {
		sess_view_rename(s, j->to);
		j->to = NULL;
	}
	if (j->op == MBOX_CREATE && j->created_id > 0) {
		char id[OBJECTID_SIZE];
		objectid_mailbox(imap_cmd_store_user(job->cmd), j->created_id, j->created_uidvalidity, id);
		sess_tagged(s, "OK", "[MAILBOXID (%s)] %s completed", id, cmd);
		return;
	}
	sess_tagged(s, "OK", "%s completed", cmd);
}

static void mbox_start_use(struct imap_cmd *cmd, enum mbox_op op, char *name, char *to,
			   const char *use)
{
	struct mbox_job *j = xcalloc(1, sizeof(*j));
	j->op = op;
	j->use = use;
	j->name = name;
	j->to = to;
	j->max_mailboxes = cmd->s->cfg->max_mailboxes;
	cmd_run_on_pool(cmd, &j->job, mbox_job_run, mbox_job_done, mbox_job_free);
}

static void mbox_start(struct imap_cmd *cmd, enum mbox_op op, char *name, char *to)
{
	mbox_start_use(cmd, op, name, to, NULL);
}

/* ext (issue #12), RFC 6154 3: the special uses CREATE may ask for. \All
 * and \Flagged name virtual mailboxes, which a plain mailbox is not. */
static const char *const create_uses[] = { "\\Archive", "\\Drafts", "\\Junk", "\\Sent",
					   "\\Trash" };

/* RFC 4466 / RFC 6154 3: CREATE's parameter list. *use gets the one use
 * asked for (NULL: none); returns "BAD"/"NO" with *err, or NULL. */
static const char *create_params(const struct imap_arg *list, const char **use, const char **err)
{
	*use = NULL;
	if (list->type != IMAP_ARG_LIST) {
		*err = "CREATE: parameters must be a list";
		return "BAD";
	}
	for (size_t i = 0; i < list->count; i++) {
		const struct imap_arg *p = &list->list[i];
		if (p->type != IMAP_ARG_ATOM || !ascii_ieq(p->str, "USE") || i + 1 >= list->count ||
		    list->list[i + 1].type != IMAP_ARG_LIST) {
			*err = "CREATE: unknown parameter";
			return "BAD";
		}
		const struct imap_arg *uses = &list->list[++i];
		for (size_t k = 0; k < uses->count; k++) {
			const char *found = NULL;
			for (size_t c = 0; uses->list[k].type == IMAP_ARG_ATOM && c < ARRAY_SIZE(create_uses);
			     c++)
				if (ascii_ieq(uses->list[k].str, create_uses[c]))
					found = create_uses[c];
			/* One use per mailbox: the store keeps one. */
			if (!found || (*use && *use != found)) {
				*err = found ? "[USEATTR] One special use per mailbox"
					     : "[USEATTR] Unsupported special use";
				return "NO";
			}
			*use = found;
		}
	}
	return NULL;
}

void cmd_create(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	const char *use = NULL, *err = NULL, *status = NULL;
	if (nargs == 2 && (status = create_params(&args[1], &use, &err)) != NULL) {
		sess_tagged(cmd->s, status, "%s", err);
		return;
	}
	char *name = mailbox_arg_checked(cmd->s, args, nargs, nargs == 2 ? 2 : 1, "CREATE");
	if (!name)
		return;
	/* RFC 9051 6.3.4: "CREATE foo/" creates foo. */
	size_t len = strlen(name);
	if (len > 1 && name[len - 1] == '/')
		name[len - 1] = '\0';
	if (imap_mailbox_resolve(cmd, &name, STORE_ACL_CREATE | IMAP_NEED_PARENT) < 0) /* acl */
		return;
	mbox_start_use(cmd, MBOX_CREATE, name, NULL, use);
}

void cmd_delete(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	char *name = mailbox_arg_checked(s, args, nargs, 1, "DELETE");
	if (!name)
		return;
	if (strcmp(name, "INBOX") == 0) {
		free(name);
		sess_tagged(s, "NO", "[CANNOT] INBOX can't be deleted");
		return;
	}
	if (imap_mailbox_resolve(cmd, &name, STORE_ACL_DELMBOX) < 0) /* acl */
		return;
	mbox_start(cmd, MBOX_DELETE, name, NULL);
}

void cmd_rename(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs != 2) {
		sess_tagged(s, "BAD", "RENAME needs two mailbox names");
		return;
	}
	char *from = sess_mailbox_arg(s, &args[0]);
	char *to = sess_mailbox_arg(s, &args[1]);
	if (!from || !to) {
		free(from);
		free(to);
		sess_tagged(s, "BAD", "RENAME: invalid mailbox name");
		return;
	}
	size_t len = strlen(to);
	if (len > 1 && to[len - 1] == '/')
		to[len - 1] = '\0';
	if (strcmp(to, "INBOX") == 0) {
		free(from);
		free(to);
		sess_store_error(s, STORE_EEXIST, "RENAME");
		return;
	}
	/* acl: x on the source, k on the target's parent, one owner's store */
	if (imap_mailbox_resolve(cmd, &from, STORE_ACL_DELMBOX) < 0) {
		free(to);
		return;
	}
	const struct imap_mailbox_ref *src = cmd->mbref;
	if (imap_mailbox_resolve(cmd, &to, STORE_ACL_CREATE | IMAP_NEED_PARENT) < 0) {
		free(from);
		return;
	}
	if (strcmp(src->owner, cmd->mbref->owner) != 0) {
		free(from);
		free(to);
		sess_tagged(s, "NO", "[CANNOT] RENAME: a mailbox can't change owner; copy or move its messages");
		return;
	}
	mbox_start(cmd, MBOX_RENAME, from, to);
}

void cmd_subscribe(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	char *name = mailbox_arg_checked(cmd->s, args, nargs, 1, "SUBSCRIBE");
	int shared = name ? imap_mailbox_is_shared(cmd, name) : -1; /* acl: -1 answered */
	if (shared >= 0)
		mbox_start(cmd, shared ? MBOX_SUBSCRIBE_SHARED : MBOX_SUBSCRIBE, name, NULL);
}

void cmd_unsubscribe(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	char *name = mailbox_arg_checked(cmd->s, args, nargs, 1, "UNSUBSCRIBE");
	if (name)
		mbox_start(cmd, MBOX_UNSUBSCRIBE, name, NULL);
}

int status_items_parse(struct imap_session *s, const struct imap_arg *list, unsigned *items,
		       const char **err)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "MESSAGES", STATUS_MESSAGES }, { "UIDNEXT", STATUS_UIDNEXT },
		{ "UIDVALIDITY", STATUS_UIDVALIDITY }, { "UNSEEN", STATUS_UNSEEN },
		{ "DELETED", STATUS_DELETED }, { "SIZE", STATUS_SIZE }, { "RECENT", STATUS_RECENT },
		{ "HIGHESTMODSEQ", STATUS_HIGHESTMODSEQ }, /* condstore: RFC 7162 3.1.6 */
		{ "DELETED-STORAGE", STATUS_DELETED_STORAGE },
		{ "MAILBOXID", STATUS_MAILBOXID }, /* objectid: RFC 8474 4 */
	};
	*items = 0;
	if (list->type != IMAP_ARG_LIST || list->count == 0) {
		*err = "STATUS items must be a non-empty list";
		return -1;
	}
	for (size_t i = 0; i < list->count; i++) {
		const char *a;
		size_t j;
		if (!imap_arg_get_atom(&list->list[i], &a)) {
			*err = "STATUS items are atoms";
			return -1;
		}
		for (j = 0; j < ARRAY_SIZE(names); j++)
			if (ascii_ieq(a, names[j].name))
				break;
		/* RFC 9051 removed RECENT. */
		if (j == ARRAY_SIZE(names) || (names[j].bit == STATUS_RECENT && s->rev2)) {
			*err = "Unknown STATUS item";
			return -1;
		}
		*items |= names[j].bit;
	}
	if (*items & STATUS_HIGHESTMODSEQ)
		condstore_enable(s); /* RFC 7162 3.1: an enabling command */
	return 0;
}

/* owner: whose store mb is in (MAILBOXID is keyed by it). */
static void status_items_write_as(struct imap_session *s, const char *owner,
				  const struct store_mailbox *mb, unsigned items)
{
	struct strbuf line = STRBUF_INIT;
	strbuf_adds(&line, "* STATUS ");
	sess_write_mailbox(s, &line, mb->name);
	strbuf_adds(&line, " (");
	size_t start = line.len;
#define ITEM(bit, fmt, val) \
	if (items & (bit)) { \
		if (line.len > start) \
			strbuf_addc(&line, ' '); \
		strbuf_addf(&line, fmt, val); \
	}
	ITEM(STATUS_MESSAGES, "MESSAGES %u", mb->messages);
	ITEM(STATUS_RECENT, "RECENT %u", mb->recent);
	ITEM(STATUS_UIDNEXT, "UIDNEXT %u", mb->uidnext);
	ITEM(STATUS_UIDVALIDITY, "UIDVALIDITY %u", mb->uidvalidity);
	ITEM(STATUS_UNSEEN, "UNSEEN %u", mb->unseen);
	ITEM(STATUS_DELETED, "DELETED %u", mb->deleted);
	/* A rev1 client may not parse a size above 2^32-1 (IMAP4REV2.md). */
	ITEM(STATUS_SIZE, "SIZE %llu",
	     (unsigned long long)(s->rev2 || mb->size <= UINT32_MAX ? mb->size : UINT32_MAX));
	ITEM(STATUS_HIGHESTMODSEQ, "HIGHESTMODSEQ %llu", (unsigned long long)mb->highestmodseq);
	/* RFC 9208 4.2: what EXPUNGE would free, in KiB as STORAGE counts. */
	ITEM(STATUS_DELETED_STORAGE, "DELETED-STORAGE %llu",
	     (unsigned long long)store_quota_storage_kib(mb->deleted_size));
	if (items & STATUS_MAILBOXID) {
		/* objectid: keyed by the owner, as in SELECT and CREATE. */
		char id[OBJECTID_SIZE];
		objectid_mailbox(owner, mb->id, mb->uidvalidity, id);
		ITEM(STATUS_MAILBOXID, "MAILBOXID (%s)", id);
	}
#undef ITEM
	strbuf_addc(&line, ')');
	sess_printf(s, "%s", line.s);
	strbuf_free(&line);
}

/* LIST-STATUS reads the user's own store only. */
void status_items_write(struct imap_session *s, const struct store_mailbox *mb, unsigned items)
{
	status_items_write_as(s, s->user, mb, items);
}

/* STATUS counts a mailbox's messages: on the work pool. */
struct status_job {
	struct cmd_job job;          /* first member */
	char *name;
	unsigned items;
	int err;
	struct store_mailbox mb;
};

static void status_job_run(struct cmd_job *job)
{
	struct status_job *j = (struct status_job *)job;
	struct store_user *u = cmd_job_store(job);
	j->err = u ? store_mailbox_status(u, j->name, &j->mb) : STORE_EIO;
	if (j->err == STORE_OK) /* aclseen: UNSEEN counts the reader's \Seen */
		j->err = store_pvtseen_status(u, job->reader, &j->mb);
}

static void status_job_free(struct cmd_job *job)
{
	struct status_job *j = (struct status_job *)job;
	free(j->name);
	store_mailbox_clear(&j->mb);
	free(j);
}

static void status_job_done(struct cmd_job *job)
{
	struct status_job *j = (struct status_job *)job;
	struct imap_session *s = job->cmd->s;
	if (j->err != STORE_OK) {
		sess_store_error(s, j->err, "STATUS");
		return;
	}
	imap_mailbox_show(job->cmd, &j->mb); /* acl */
	status_items_write_as(s, imap_cmd_store_user(job->cmd), &j->mb, j->items);
	sess_tagged(s, "OK", "STATUS completed");
}

void cmd_status(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs != 2) {
		sess_tagged(s, "BAD", "STATUS needs a mailbox and a list of items");
		return;
	}
	unsigned items;
	const char *err;
	if (status_items_parse(s, &args[1], &items, &err) < 0) {
		sess_tagged(s, "BAD", "%s", err);
		return;
	}
	char *name = sess_mailbox_arg(s, &args[0]);
	if (!name) {
		sess_tagged(s, "BAD", "STATUS: invalid mailbox name");
		return;
	}
	if (imap_mailbox_resolve(cmd, &name, STORE_ACL_READ) < 0) /* acl */
		return;
	struct status_job *j = xcalloc(1, sizeof(*j));
	j->name = name;
	j->items = items;
	cmd_run_on_pool(cmd, &j->job, status_job_run, status_job_done, status_job_free);
}
