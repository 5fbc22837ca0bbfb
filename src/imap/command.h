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
};

struct imap_cmd_def {
	const char *name;
	imap_cmd_fn *fn;
	unsigned states;             /* CMD_S_* */
	unsigned flags;              /* enum imap_cmd_flag */
};

struct imap_cmd_mem;

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
};

/* The definition of `name` (case-insensitive), NULL when unknown. */
const struct imap_cmd_def *imap_cmd_find(const char *name);

/* A running command; tag may be NULL. */
struct imap_cmd *imap_cmd_new(struct imap_session *s, const struct imap_cmd_def *def,
			      const char *tag, bool uid);
/* Frees the command and its memory (not `state`: the command frees that
 * when it finishes, its cancel hook when the session goes first). */
void imap_cmd_free(struct imap_cmd *cmd);
/* Zeroed memory that lives as long as the command. */
void *imap_cmd_alloc(struct imap_cmd *cmd, size_t n);
/* RFC 9051 7.5.1: may EXPUNGE responses be sent while this command runs? */
bool imap_cmd_allows_expunge(const struct imap_cmd *cmd);

/* The commands (imap/cmd_*.c). */
imap_cmd_fn cmd_capability, cmd_noop, cmd_logout, cmd_id, cmd_enable, cmd_starttls,
	cmd_login, cmd_authenticate, cmd_select, cmd_examine, cmd_create, cmd_delete,
	cmd_rename, cmd_subscribe, cmd_unsubscribe, cmd_list, cmd_lsub, cmd_namespace,
	cmd_status, cmd_append, cmd_idle, cmd_check, cmd_close, cmd_unselect, cmd_expunge,
	cmd_search, cmd_fetch, cmd_store, cmd_copy, cmd_move;

#endif
