/* Streaming IMAP command parser (RFC 9051 section 9 grammar, RFC 7888
 * LITERAL+/LITERAL-). Bytes are fed as they arrive; a command is complete
 * when its final CRLF (after any literals) has been seen. The parser owns
 * every string it returns until imap_parser_reset()/imap_parser_free().
 *
 * Tokens:
 *  - ATOM: any run of bytes other than SP, CTL, '(', ')', '{' (at token
 *    start), '"'. In FETCH, UID FETCH and NOTIFY, a '[' right after BODY,
 *    BODY.PEEK, BINARY, BINARY.PEEK or BINARY.SIZE opens a section that
 *    runs to the matching ']' and may contain spaces, parentheses and
 *    quoted strings, so `BODY[HEADER.FIELDS (From To)]<0.100>` is ONE atom
 *    with that exact text; anywhere else '[' and ']' are plain atom bytes
 *    (RFC 9051 9), so `SELECT a[b` names "a[b". Flags like `\Seen` and
 *    LIST patterns with `*`/`%` are atoms.
 *  - STRING: a quoted string, unescaped (\" and \\).
 *  - LITERAL: {n}, {n+} or {n-} (non-synchronizing), ~{n} (literal8, BINARY).
 *    A literal of APPEND larger than limits.spool_min, with a spool_dir
 *    set, is not held in memory: its bytes are written as they arrive to
 *    one unlinked temporary file per command (the "spool"), and the
 *    argument names its range in that file (imap_arg.spooled).
 *  - NIL: the atom NIL (case-insensitive); still has str "NIL".
 *  - LIST: ( ... ), nested up to limits.max_depth.
 */
#ifndef RAMPART_IMAP_PARSER_H
#define RAMPART_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum imap_arg_type {
	IMAP_ARG_ATOM,
	IMAP_ARG_STRING,
	IMAP_ARG_LITERAL,
	IMAP_ARG_NIL,
	IMAP_ARG_LIST,
};

struct imap_arg {
	enum imap_arg_type type;
	/* ATOM/STRING/LITERAL/NIL: the bytes, NUL-terminated (literals may also
	 * contain NULs: use len). */
	const char *str;
	size_t len;
	/* LIST: the children. */
	struct imap_arg *list;
	size_t count;
	/* LITERAL only: it was a literal8 (~{n}). */
	bool literal8;
	/* LITERAL only: spooled to a file; then str is "" and len 0, and the
	 * bytes are file_fd[file_off .. file_off + file_len). file_err is the
	 * errno of a failed spool write or open (0: the bytes are all there,
	 * file_fd >= 0). The parser owns the descriptor until reset/free. */
	bool spooled;
	int file_fd;
	int file_err;
	uint64_t file_off;
	uint64_t file_len;
};

struct imap_parser_limits {
	size_t max_line;        /* bytes of one line outside literals; default 65536 */
	size_t max_literal;     /* bytes of one literal; default 64 MiB */
	size_t max_command;     /* bytes of a whole command incl. literals; default 128 MiB */
	size_t max_nonsync;     /* largest accepted {n+} literal; 4096 for LITERAL- */
	unsigned max_depth;     /* list nesting; default 16 */
	unsigned max_args;      /* total tokens in a command; default 100000 */
	/* Where literals of APPEND larger than spool_min bytes are written
	 * (O_TMPFILE, or a file unlinked at once where the filesystem lacks
	 * it); NULL keeps every literal in memory. Put it on the filesystem
	 * of the message store so a spooled message becomes its blob by a
	 * link, not a copy. The parser keeps its own copy of the path. */
	const char *spool_dir;
	size_t spool_min;       /* default IMAP_SPOOL_MIN */
};

/* Literals up to this size stay in memory even for APPEND: most mail is
 * smaller, and a file per message would cost more than it saves. */
#define IMAP_SPOOL_MIN (64u * 1024)

void imap_parser_limits_default(struct imap_parser_limits *lim);

enum imap_parse_result {
	IMAP_PARSE_NEED_MORE,     /* fed data used up; feed more */
	IMAP_PARSE_CONTINUE,      /* synchronizing literal announced and accepted:
	                             send "+ ..." then feed more */
	IMAP_PARSE_DONE,          /* a full command is ready */
	IMAP_PARSE_ERROR,         /* syntax error or limit; the offending line has
	                             been consumed: answer tag BAD (or untagged BAD
	                             when the tag is NULL), then reset */
	IMAP_PARSE_FATAL,         /* the stream can't be resynchronised (e.g. an
	                             oversized non-synchronizing literal):
	                             answer BYE and close */
};

struct imap_parser;

struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim);
void imap_parser_free(struct imap_parser *p);
/* An unlinked spool file in dir (O_TMPFILE, else a named file unlinked
 * at once), as APPEND literals use; also imap/copy_cross.c. -1 + errno. */
int imap_parser_spool_open(const char *dir);
/* Forgets the current command and frees its memory (keeps the limits). */
void imap_parser_reset(struct imap_parser *p);
/* Replaces the limits (zero fields as in imap_parser_new). Call it only
 * between commands (before the first feed, or after DONE/ERROR): limits
 * changed in the middle of a command would judge its parts differently. */
void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *lim);

/* Consumes bytes from data[0..len); *consumed tells how many were used.
 * After DONE, ERROR or FATAL the caller must reset before feeding again;
 * unconsumed bytes belong to the next command. */
enum imap_parse_result imap_parser_feed(struct imap_parser *p, const char *data, size_t len,
					size_t *consumed);

/* After DONE (and, where known, after ERROR): the tag and command name as
 * sent (NULL if not parsed yet). The command name is not case-folded. */
const char *imap_parser_tag(const struct imap_parser *p);
const char *imap_parser_command(const struct imap_parser *p);
/* After DONE: the arguments after the command name. */
const struct imap_arg *imap_parser_args(const struct imap_parser *p, size_t *count);
/* After ERROR/FATAL: a short human-readable reason. */
const char *imap_parser_error(const struct imap_parser *p);
/* After ERROR: true when a limit (rather than syntax) was exceeded, so the
 * response carries [TOOBIG] / [LIMIT]. */
bool imap_parser_error_is_limit(const struct imap_parser *p);
/* Bytes currently buffered by the parser in memory (for memory
 * accounting; spooled literals are on disk and not counted). */
size_t imap_parser_buffered(const struct imap_parser *p);

/* Helpers for command implementations. */
/* True for ATOM, STRING, LITERAL (an astring); sets s and len. */
bool imap_arg_get_astring(const struct imap_arg *a, const char **s, size_t *len);
/* True for ATOM only. */
bool imap_arg_get_atom(const struct imap_arg *a, const char **s);
/* True for STRING or LITERAL (not atom). */
bool imap_arg_get_string(const struct imap_arg *a, const char **s, size_t *len);
bool imap_arg_atom_ieq(const struct imap_arg *a, const char *word);

#endif
