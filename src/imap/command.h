/* IMAP commands as objects: the definition of a command (one row of the
 * table in imap/commands.c) and a running command (struct imap_cmd).
 *
 * A running command owns its tag, its memory and its state, and installs
 * the hooks through which the session continues it: `resume` when the
 * output has drained, `line` for continuation lines (IDLE, SASL), `notify`
 * when the user's mail changed, `cancel` when the session goes away. The
 * session (imap/session.c) knows only these hooks, never a command by name.
 * Not a public interface outside src/imap/. */
#ifndef RAMPART_IMAP_COMMAND_H
#define RAMPART_IMAP_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/workpool.h"

struct imap_arg;
struct imap_cmd;
struct imap_session;

/* A command's entry point: args/nargs are valid only until it returns (the
 * parser reuses them); a command that continues later copies what it needs. */
typedef void imap_cmd_fn(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs);

/* States a command is allowed in: bits of enum imap_state. */
#define CMD_S_NOTAUTH (1u << 0)
#define CMD_S_AUTH (1u << 1)
#define CMD_S_SELECTED (1u << 2)
#define CMD_S_ANY (CMD_S_NOTAUTH | CMD_S_AUTH | CMD_S_SELECTED)
#define CMD_S_LOGGED_IN (CMD_S_AUTH | CMD_S_SELECTED)

/* What the RFC says about a command, as data. */
enum imap_cmd_flag {
	CMD_UID = 1u << 0,           /* has a UID form (RFC 9051 6.4.9) */
	CMD_UID_REQUIRED = 1u << 1,  /* exists only as "UID x" */
	/* RFC 9051 5.5: the non-UID form names messages by sequence number,
	 * so it must not run while a command that may expunge runs. */
	CMD_USES_SEQS = 1u << 2,
	/* RFC 9051 5.5: may expunge messages (changes sequence numbers). */
	CMD_MAY_EXPUNGE = 1u << 3,
	/* RFC 9051 7.5.1: no EXPUNGE response while answering the non-UID
	 * form (FETCH, STORE, SEARCH). */
	CMD_NO_EXPUNGE_RESP = 1u << 4,
	/* inprogress: RFC 9585 updates while it runs on the work pool */
	CMD_PROGRESS = 1u << 5,
};

struct imap_cmd_def {
	const char *name;
	imap_cmd_fn *fn;
	unsigned states;             /* CMD_S_* */
	unsigned flags;              /* enum imap_cmd_flag */
};

struct imap_cmd_mem;
struct cmd_job;

struct imap_cmd {
	const struct imap_cmd_def *def;  /* NULL for a line that failed to parse */
	struct imap_session *s;
	char *tag;                       /* NULL when the client sent none */
	bool uid;                        /* called as "UID <name>" */
	struct imap_cmd_mem *mem;        /* imap_cmd_alloc(), freed with the command */
	/* Hooks, installed through the session (session_internal.h). */
	void (*resume)(struct imap_cmd *cmd);
	void (*line)(struct imap_cmd *cmd, const char *line, size_t len);
	void (*notify)(struct imap_cmd *cmd);
	void (*cancel)(struct imap_cmd *cmd);
	void *state;                     /* the command's own */
	struct cmd_job *job;             /* running on the work pool (cmd_pool.c) */
	/* acl: the mailbox the command named, resolved (imap/namespace.c) */
	struct imap_mailbox_ref *mbref;
	/* metrics: when the command's line was read (metrics_now_ns) */
	uint64_t start_ns;
};

/* The definition of `name` (case-insensitive), NULL when unknown. */
const struct imap_cmd_def *imap_cmd_find(const char *name);
/* metrics: def's row in the table; METRICS_CMD_OTHER for NULL. */
size_t imap_cmd_index(const struct imap_cmd_def *def);

/* A running command; tag may be NULL. */
struct imap_cmd *imap_cmd_new(struct imap_session *s, const struct imap_cmd_def *def,
			      const char *tag, bool uid);
/* Frees the command and its memory (not `state`: the command frees that
 * when it finishes, its cancel hook when the session goes first). A job
 * of the command still on the work pool is detached and frees itself. */
void imap_cmd_free(struct imap_cmd *cmd);
/* Zeroed memory that lives as long as the command. */
void *imap_cmd_alloc(struct imap_cmd *cmd, size_t n);
/* RFC 9051 7.5.1: may EXPUNGE responses be sent while this command runs? */
bool imap_cmd_allows_expunge(const struct imap_cmd *cmd);

/* ---- store work off the event loop (imap/cmd_pool.c) ----
 *
 * A command whose store phase may take more than a few milliseconds
 * embeds a struct cmd_job as the first member of its own job, fills in its
 * inputs and calls cmd_run_on_pool(). The session stops reading (commands
 * pipelined behind it wait, which keeps RFC 9051 5.5 trivially) and the
 * worker's loop serves other clients meanwhile.
 *  - run(job) runs on a pool thread: it may touch only the job and the
 *    store, through cmd_job_store() (a handle of its own: a store_user is
 *    used by one thread at a time); it records results in the job.
 *  - done(job) runs back on the worker's thread with job->cmd valid and
 *    writes the responses; it ends the command or lets it continue.
 *  - free(job) frees the job's own fields and the job; called after done,
 *    or instead of it when the session went away meanwhile.
 * The command's arguments stay valid until free: the job keeps the
 * parser that holds them (so APPEND's literals are not copied). Without a
 * running pool (unit tests) run and done are called at once. */
struct cmd_job {
	struct imap_cmd *cmd;            /* NULL once the session went away */
	void (*run)(struct cmd_job *job);
	void (*done)(struct cmd_job *job);
	void (*free)(struct cmd_job *job);
	/* cmd_pool.c's own */
	struct imap_parser *parser;
	char *user;
	/* aclseen: whose private \Seen run() sees in user's store (NULL:
	 * the message's), imap_cmd_seen_reader() of the command */
	char *reader;
	struct store_user *store;
	struct workpool_job wp;
	/* inprogress (imap/inprogress.c): how far run() got, and the timer */
	_Atomic uint32_t progress_done, progress_total;
	struct inprogress *progress;
	/* metrics: the command's table index, read on the pool thread */
	size_t metrics_cmd;
};
void cmd_run_on_pool(struct imap_cmd *cmd, struct cmd_job *job, void (*run)(struct cmd_job *),
		     void (*done)(struct cmd_job *), void (*free_fn)(struct cmd_job *));
/* The command's session is gone: the job will only be freed; a password
 * check (a job with a fair_key) is not run at all if no pool thread has
 * taken it yet. */
void cmd_job_detach(struct cmd_job *job);
/* In run(): the pool thread's store handle for the user, NULL when the
 * store can't be opened (answer STORE_EIO). */
struct store_user *cmd_job_store(struct cmd_job *job);

/* The commands (imap/cmd_*.c). */
imap_cmd_fn cmd_capability, cmd_noop, cmd_logout, cmd_id, cmd_enable, cmd_starttls,
	cmd_login, cmd_authenticate, cmd_select, cmd_examine, cmd_create, cmd_delete,
	cmd_rename, cmd_subscribe, cmd_unsubscribe, cmd_list, cmd_lsub, cmd_namespace,
	cmd_status, cmd_append, cmd_idle, cmd_check, cmd_close, cmd_unselect, cmd_expunge,
	cmd_search, cmd_fetch, cmd_store, cmd_copy, cmd_move;
/* quota part (imap/cmd_quota.c) */
imap_cmd_fn cmd_getquota, cmd_getquotaroot, cmd_setquota;
/* sort: imap/cmd_sort.c */
imap_cmd_fn cmd_sort, cmd_thread;
/* ext (issue #12): folders and the smaller extensions */
imap_cmd_fn cmd_compress;
/* acl (issue #12): imap/cmd_acl.c */
imap_cmd_fn cmd_setacl, cmd_deleteacl, cmd_getacl, cmd_listrights, cmd_myrights;
/* notify (issue #12): imap/cmd_notify.c */
imap_cmd_fn cmd_notify;
/* context (issue #12): imap/search_context.c */
imap_cmd_fn cmd_cancelupdate;
/* metadata (issue #12): imap/cmd_metadata.c */
imap_cmd_fn cmd_getmetadata, cmd_setmetadata;
/* preview: REPLACE (RFC 8508), imap/cmd_replace.c */
imap_cmd_fn cmd_replace;
/* multisearch: RFC 7377 (imap/cmd_multisearch.c) */
imap_cmd_fn cmd_esearch;

#endif
