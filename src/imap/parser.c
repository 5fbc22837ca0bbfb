/* Streaming IMAP command parser.
 *
 * A byte-driven state machine: imap_parser_feed() may be handed a command
 * split at any byte boundary and resumes exactly where it stopped. Runs of
 * ordinary bytes (atom text, quoted text, literal data) are copied in bulk,
 * so the cost is a table lookup per byte and no allocation per byte.
 *
 * Memory: token text is collected in one growable buffer (bounded by
 * max_line), finished tokens and lists are copied into a per-command arena
 * of chunks, and arguments of the lists still open wait on one stack
 * (bounded by max_args). Everything is freed by imap_parser_reset(), so an
 * idle connection's parser owns nothing but its struct.
 *
 * The literal sink: a literal is collected in memory, except a large one
 * of APPEND (a message, RFC 9051 6.3.12; MULTIAPPEND, RFC 3502) when the
 * session gave a spool directory: its bytes are written as they arrive to
 * the command's spool, one unlinked temporary file that holds every such
 * literal of the command back to back. So a connection APPENDing a 60 MiB
 * message holds a few kilobytes of memory and one descriptor, not 60 MiB;
 * the disk it may fill is bounded by max_command, and the file vanishes
 * with its descriptor on reset, on a disconnect or a crash alike. A
 * failed write (disk full) does not stop the parse: the rest of the
 * literal is counted and dropped, and the argument carries the errno so
 * the command answers NO instead of the stream losing sync.
 *
 * Errors: the offending byte is not consumed; the parser switches to a
 * discard state that eats the rest of the line without buffering it. If
 * that line ends in a non-synchronizing literal announcement, the literal's
 * data is skipped too (the client sends it without waiting), so the next
 * command starts where the client thinks it does. */
#include "imap/parser.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

enum pstate {
	P_TAG,
	P_CMD_START,
	P_CMD,
	P_ARG_START,  /* a token may start here */
	P_SEP,        /* after a token: SP, ')' or CRLF */
	P_ATOM,
	P_BRK,        /* inside [...] of an atom */
	P_BRK_Q,      /* quoted string inside [...] */
	P_BRK_QESC,
	P_QUOTED,
	P_QESC,
	P_TILDE,      /* '~' at token start: literal8 or an atom */
	P_LIT_OPEN,   /* after '{' */
	P_LIT_DIGITS,
	P_LIT_CLOSE,  /* after '+' or '-' */
	P_LIT_CR,     /* after '}' */
	P_LIT_LF,
	P_LIT_DATA,
	P_EOL_LF,     /* CR seen at the end of the command */
	P_DISCARD,    /* error: eating the rest of the line */
	P_DISCARD_LIT,/* error: eating a non-synchronizing literal's data */
	P_END,        /* DONE, ERROR or FATAL returned; waiting for reset */
};

/* The discard state's watch for a trailing "{n+}" / "{n-}" CRLF. */
enum dstate {
	D_NONE,
	D_OPEN,
	D_DIGITS,
	D_PLUS,
	D_CLOSE_SYNC,
	D_CLOSE_NONSYNC,
	D_CR_SYNC,
	D_CR_NONSYNC,
};

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

#define ARENA_FIRST_CHUNK 2048u
#define ARENA_MAX_CHUNK 65536u
#define ARENA_ALIGN (alignof(max_align_t))
#define LITERAL_FIRST_CHUNK 16384u

struct imap_parser {
	struct imap_parser_limits lim;
	enum pstate state;
	enum imap_parse_result result;

	struct arena_chunk *arena;
	size_t arena_bytes;
	size_t next_chunk;

	/* Text of the token being read. */
	char *tok;
	size_t tok_len, tok_cap;

	/* Arguments of the top level and of the lists still open. */
	struct imap_arg *stack;
	size_t nstack, stack_cap;
	/* Stack index of each open list's own entry. */
	size_t *open;
	size_t open_cap;
	unsigned depth;
	unsigned nargs;

	const char *tag;
	const char *cmd;

	size_t line_len; /* bytes of the current line segment */
	size_t cmd_len;  /* bytes of the whole command */
	bool last_atom;  /* the token before P_SEP was an atom */
	unsigned brk_depth;

	uint64_t lit_size;
	unsigned lit_digits;
	bool lit8, lit_nonsync;
	/* The literal being received: a chunk of its own, grown as data
	 * arrives (an announced size costs nothing until it is sent) and
	 * linked into the arena when complete. */
	struct arena_chunk *lit_chunk;
	size_t lit_cap;
	uint64_t lit_got;
	/* The literal being received goes to the spool at lit_off instead. */
	bool lit_spool;
	uint64_t lit_off;

	/* The command's spool (see the file head): -1 until a literal needs
	 * it; spool_err is the errno that made it unusable. spool_path is the
	 * parser's copy of lim.spool_dir and survives reset. */
	char *spool_path;
	int spool_fd;
	int spool_err;
	uint64_t spool_size;

	enum dstate dstate;
	uint64_t dlit;
	uint64_t skip;

	const char *err;
	bool err_limit;
};

/* Character classes, built once from the grammar (RFC 9051 9). */
enum {
	C_TAG = 1,     /* tag: ASTRING-CHAR except '+' */
	C_ATOM = 2,    /* atom text outside brackets (contract in parser.h) */
	C_BRK = 4,     /* plain bytes inside [...] */
	C_QUOTED = 8,  /* plain bytes inside "..." */
};

static unsigned char ctab[256];

static void parser_tables_init(void)
{
	for (unsigned c = 0; c < 256; c++) {
		unsigned char f = 0;
		bool ctl = c < 0x20 || c == 0x7f;
		if (!ctl && c != ' ' && c < 0x80 && !strchr("(){%*\"\\+", (int)c))
			f |= C_TAG;
		if (!ctl && c != ' ' && !strchr("()\"[", (int)c))
			f |= C_ATOM;
		if (!ctl && !strchr("[]\"", (int)c))
			f |= C_BRK;
		/* RFC 9051 9: QUOTED-CHAR is any TEXT-CHAR but quoted-specials,
		 * plus UTF-8 in IMAP4rev2; NUL is never a CHAR. */
		if (c != '"' && c != '\\' && c != '\r' && c != '\n' && c != 0)
			f |= C_QUOTED;
		ctab[c] = f;
	}
	/* strchr() matches the terminating NUL: keep NUL out explicitly. */
	ctab[0] = 0;
}

static size_t span(unsigned char cls, const unsigned char *d, size_t n)
{
	size_t i = 0;
	while (i < n && (ctab[d[i]] & cls))
		i++;
	return i;
}

/* ---- arena ---------------------------------------------------------- */

static void *arena_alloc(struct imap_parser *p, size_t n)
{
	size_t need = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	struct arena_chunk *c = p->arena;
	if (c && c->size - c->used >= need) {
		void *r = c->data + c->used;
		c->used += need;
		return r;
	}
	if (need > p->next_chunk / 4) {
		/* Big blocks (literals, long lists) get a chunk of their own,
		 * placed behind the current one so its free space stays usable. */
		struct arena_chunk *b = xmalloc(sizeof(*b) + need);
		b->size = b->used = need;
		p->arena_bytes += need;
		if (c) {
			b->next = c->next;
			c->next = b;
		} else {
			b->next = NULL;
			p->arena = b;
		}
		return b->data;
	}
	size_t size = p->next_chunk;
	if (p->next_chunk < ARENA_MAX_CHUNK)
		p->next_chunk *= 2;
	struct arena_chunk *nc = xmalloc(sizeof(*nc) + size);
	nc->size = size;
	nc->used = need;
	nc->next = c;
	p->arena = nc;
	p->arena_bytes += size;
	return nc->data;
}

static char *arena_strndup(struct imap_parser *p, const char *s, size_t n)
{
	char *r = arena_alloc(p, n + 1);
	if (n)
		memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

/* ---- lifecycle ------------------------------------------------------ */

void imap_parser_limits_default(struct imap_parser_limits *lim)
{
	lim->max_line = 65536;
	lim->max_literal = 64u * 1024 * 1024;
	lim->max_command = 128u * 1024 * 1024;
	/* LITERAL+ (RFC 7888 3): any size up to max_literal. A LITERAL-
	 * server sets 4096 (RFC 7888 4). */
	lim->max_nonsync = 64u * 1024 * 1024;
	lim->max_depth = 16;
	lim->max_args = 100000;
	lim->spool_dir = NULL;
	lim->spool_min = IMAP_SPOOL_MIN;
}

/* A zero field means "the default": a zero max_line would make every
 * command fail, which is never what a configuration means. max_nonsync 0
 * (no LITERAL+ at all) and max_depth 0 (no lists) are meaningful settings
 * and stay as given. */
static void parser_limits_apply(struct imap_parser *p, const struct imap_parser_limits *lim)
{
	struct imap_parser_limits def;
	imap_parser_limits_default(&def);
	p->lim = lim ? *lim : def;
	if (!p->lim.max_line)
		p->lim.max_line = def.max_line;
	if (!p->lim.max_literal)
		p->lim.max_literal = def.max_literal;
	if (!p->lim.max_command)
		p->lim.max_command = def.max_command;
	if (!p->lim.max_args)
		p->lim.max_args = def.max_args;
	if (!p->lim.spool_min)
		p->lim.spool_min = IMAP_SPOOL_MIN;
	char *path = p->lim.spool_dir ? xstrdup(p->lim.spool_dir) : NULL;
	free(p->spool_path);
	p->spool_path = path;
	p->lim.spool_dir = path;
}

struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim)
{
	static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
	pthread_once(&tables_once, parser_tables_init);
	struct imap_parser *p = xcalloc(1, sizeof(*p));
	parser_limits_apply(p, lim);
	p->next_chunk = ARENA_FIRST_CHUNK;
	p->state = P_TAG;
	p->spool_fd = -1;
	return p;
}

void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *lim)
{
	parser_limits_apply(p, lim);
}

void imap_parser_reset(struct imap_parser *p)
{
	struct arena_chunk *c = p->arena;
	while (c) {
		struct arena_chunk *n = c->next;
		free(c);
		c = n;
	}
	free(p->lit_chunk);
	free(p->tok);
	free(p->stack);
	free(p->open);
	/* The spool is unlinked: closing it frees its blocks. */
	if (p->spool_fd >= 0)
		close(p->spool_fd);
	struct imap_parser_limits lim = p->lim;
	char *spool_path = p->spool_path;
	memset(p, 0, sizeof(*p));
	p->lim = lim;
	p->spool_path = spool_path;
	p->spool_fd = -1;
	p->next_chunk = ARENA_FIRST_CHUNK;
	p->state = P_TAG;
}

void imap_parser_free(struct imap_parser *p)
{
	if (!p)
		return;
	imap_parser_reset(p);
	free(p->spool_path);
	free(p);
}

/* ---- building the tree ---------------------------------------------- */

static void tok_add(struct imap_parser *p, const void *s, size_t n)
{
	if (n == 0)
		return;
	if (p->tok_len + n + 1 > p->tok_cap)
		xgrow((void **)&p->tok, &p->tok_cap, p->tok_len + n + 1, 1);
	memcpy(p->tok + p->tok_len, s, n);
	p->tok_len += n;
}

static struct imap_arg *arg_push(struct imap_parser *p, enum imap_arg_type type)
{
	if (p->nstack + 1 > p->stack_cap)
		xgrow((void **)&p->stack, &p->stack_cap, p->nstack + 1, sizeof(*p->stack));
	struct imap_arg *a = &p->stack[p->nstack++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	return a;
}

static void atom_finish(struct imap_parser *p)
{
	bool nil = p->tok_len == 3 && ascii_ieqn(p->tok, 3, "NIL");
	struct imap_arg *a = arg_push(p, nil ? IMAP_ARG_NIL : IMAP_ARG_ATOM);
	a->str = arena_strndup(p, p->tok, p->tok_len);
	a->len = p->tok_len;
	p->tok_len = 0;
	p->last_atom = true;
	p->state = P_SEP;
}

/* True when a '[' read now opens a section: the atom so far is a fetch
 * attribute that takes one (RFC 9051 9: section, section-binary) and the
 * command carries fetch attributes (FETCH, UID FETCH; NOTIFY's fetch-att,
 * RFC 5465 5). Anywhere else '[' is an ATOM-CHAR and ']' an ASTRING-CHAR,
 * so `SELECT a[b` names the mailbox "a[b". */
static bool section_opens(const struct imap_parser *p)
{
	static const char *const names[] = { "BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK",
					     "BINARY.SIZE" };
	bool fetch = p->cmd && (ascii_ieq(p->cmd, "FETCH") || ascii_ieq(p->cmd, "NOTIFY") ||
				(ascii_ieq(p->cmd, "UID") && p->nstack > 0 &&
				 p->stack[0].type == IMAP_ARG_ATOM &&
				 ascii_ieq(p->stack[0].str, "FETCH")));
	if (!fetch)
		return false;
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (ascii_ieqn(p->tok, p->tok_len, names[k]))
			return true;
	return false;
}

static void quoted_finish(struct imap_parser *p)
{
	struct imap_arg *a = arg_push(p, IMAP_ARG_STRING);
	a->str = arena_strndup(p, p->tok, p->tok_len);
	a->len = p->tok_len;
	p->tok_len = 0;
	p->last_atom = false;
	p->state = P_SEP;
}

/* Grows the literal's chunk to hold need bytes (never beyond its size + 1:
 * the limits were checked when the literal was announced). */
static void literal_reserve(struct imap_parser *p, size_t need)
{
	if (need <= p->lit_cap)
		return;
	size_t cap = p->lit_cap * 2;
	if (cap < need)
		cap = need;
	if (cap > p->lit_size + 1)
		cap = (size_t)p->lit_size + 1;
	p->lit_chunk = xrealloc(p->lit_chunk, sizeof(*p->lit_chunk) + cap);
	p->lit_cap = cap;
}

/* A literal whose data went to the spool: the argument names its range. */
static void literal_take_spooled(struct imap_parser *p, struct imap_arg *a)
{
	a->str = "";
	a->len = 0;
	a->spooled = true;
	a->file_fd = p->spool_err ? -1 : p->spool_fd;
	a->file_err = p->spool_err;
	a->file_off = p->lit_off;
	a->file_len = p->lit_size;
	p->lit_spool = false;
}

/* A literal collected in memory: its chunk joins the arena. */
static void literal_take_chunk(struct imap_parser *p, struct imap_arg *a)
{
	struct arena_chunk *c = p->lit_chunk;
	c->data[p->lit_size] = '\0';
	c->size = c->used = p->lit_cap;
	p->arena_bytes += p->lit_cap;
	/* Behind the head so the head's free space stays usable. */
	if (p->arena) {
		c->next = p->arena->next;
		p->arena->next = c;
	} else {
		c->next = NULL;
		p->arena = c;
	}
	a->str = (const char *)c->data;
	a->len = (size_t)p->lit_size;
	p->lit_chunk = NULL;
	p->lit_cap = 0;
}

static void literal_finish(struct imap_parser *p)
{
	struct imap_arg *a = arg_push(p, IMAP_ARG_LITERAL);
	a->literal8 = p->lit8;
	if (p->lit_spool)
		literal_take_spooled(p, a);
	else
		literal_take_chunk(p, a);
	p->last_atom = false;
	/* The line continues after the data: a new segment for max_line. */
	p->line_len = 0;
	p->state = P_SEP;
}

/* ---- errors --------------------------------------------------------- */

/* Enters the discard state without consuming the current byte. The watch
 * for a trailing non-synchronizing literal is primed with whatever part of
 * a literal announcement was already read. */
static void parser_fail(struct imap_parser *p, const char *msg, bool limit)
{
	enum dstate d = D_NONE;
	switch (p->state) {
	case P_LIT_OPEN:
		d = D_OPEN;
		break;
	case P_LIT_DIGITS:
		d = D_DIGITS;
		break;
	case P_LIT_CLOSE:
		d = D_PLUS;
		break;
	case P_LIT_CR:
		d = p->lit_nonsync ? D_CLOSE_NONSYNC : D_CLOSE_SYNC;
		break;
	case P_LIT_LF:
		d = p->lit_nonsync ? D_CR_NONSYNC : D_CR_SYNC;
		break;
	default:
		break;
	}
	p->dstate = d;
	p->dlit = d == D_OPEN ? 0 : p->lit_size;
	p->err = msg;
	p->err_limit = limit;
	p->state = P_DISCARD;
}

static enum imap_parse_result parser_end(struct imap_parser *p, enum imap_parse_result r)
{
	p->state = P_END;
	p->result = r;
	return r;
}

static enum imap_parse_result parser_fatal(struct imap_parser *p, const char *msg)
{
	p->err = msg;
	p->err_limit = true;
	return parser_end(p, IMAP_PARSE_FATAL);
}

/* Counts a token against max_args before any of it is buffered. */
static bool arg_reserve(struct imap_parser *p)
{
	if (p->nargs >= p->lim.max_args) {
		parser_fail(p, "Too many arguments", true);
		return false;
	}
	p->nargs++;
	return true;
}

static bool list_open(struct imap_parser *p)
{
	if (!arg_reserve(p))
		return false;
	if (p->depth >= p->lim.max_depth) {
		parser_fail(p, "Too deeply nested", true);
		return false;
	}
	if (p->depth + 1 > p->open_cap)
		xgrow((void **)&p->open, &p->open_cap, p->depth + 1, sizeof(*p->open));
	p->open[p->depth++] = p->nstack;
	arg_push(p, IMAP_ARG_LIST);
	return true;
}

static bool list_close(struct imap_parser *p)
{
	if (p->depth == 0) {
		parser_fail(p, "Unexpected ')'", false);
		return false;
	}
	size_t idx = p->open[--p->depth];
	size_t n = p->nstack - idx - 1;
	struct imap_arg *list = NULL;
	if (n) {
		list = arena_alloc(p, n * sizeof(*list));
		memcpy(list, &p->stack[idx + 1], n * sizeof(*list));
	}
	p->stack[idx].list = list;
	p->stack[idx].count = n;
	p->nstack = idx + 1;
	p->last_atom = false;
	p->state = P_SEP;
	return true;
}

/* The spool file in spool_path: O_TMPFILE has no name at all, so nothing
 * is left behind by any way out; a filesystem without it gets a named file
 * unlinked at once (its "blob." prefix lets the store's start-up sweep
 * remove it should the process die in between). */
int imap_parser_spool_open(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	char *path = xasprintf("%s/blob.spool.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0 && unlink(path) < 0) {
		int e = errno;
		close(fd);
		fd = -1;
		errno = e;
	}
	free(path);
	return fd;
}

/* Whether the literal being announced goes to the spool: only messages
 * (APPEND's and REPLACE's literals; a client's other literals are small
 * strings with limits of their own), and only large ones. */
static bool literal_spools(const struct imap_parser *p)
{
	if (!p->spool_path || p->lit_size <= p->lim.spool_min || !p->cmd)
		return false;
	/* preview: REPLACE and UID REPLACE (RFC 8508) carry a message too. */
	bool uid_replace = ascii_ieq(p->cmd, "UID") && p->nstack > 0 &&
			   p->stack[0].type == IMAP_ARG_ATOM && ascii_ieq(p->stack[0].str, "REPLACE");
	return ascii_ieq(p->cmd, "APPEND") || ascii_ieq(p->cmd, "REPLACE") || uid_replace;
}

/* Appends literal bytes to the spool; after a failure only counts them. */
static void spool_write(struct imap_parser *p, const unsigned char *d, size_t n)
{
	if (!p->spool_err && write_all(p->spool_fd, d, n) < 0)
		p->spool_err = errno ? errno : EIO;
	p->spool_size += n;
}

/* At the LF ending "{n}" / "{n+}": checks the size against every limit and
 * prepares the buffer. */
static enum imap_parse_result literal_begin(struct imap_parser *p)
{
	const char *too = NULL;
	if (p->lit_size > p->lim.max_literal)
		too = "Literal too large";
	else if (p->lit_size > p->lim.max_command - MIN(p->cmd_len, p->lim.max_command))
		too = "Command too large";
	else if (p->lit_nonsync && p->lit_size > p->lim.max_nonsync)
		too = "Non-synchronizing literal too large";
	if (too) {
		/* RFC 7888 4: the data of an unacceptable non-synchronizing
		 * literal is already on its way; there is no cheap way back
		 * into sync. A synchronizing literal's data is only sent after
		 * "+", so rejecting it consumes just this line. */
		if (p->lit_nonsync)
			return parser_fatal(p, too);
		p->err = too;
		p->err_limit = true;
		return parser_end(p, IMAP_PARSE_ERROR);
	}
	p->lit_got = 0;
	if (literal_spools(p)) {
		if (p->spool_fd < 0 && !p->spool_err) {
			p->spool_fd = imap_parser_spool_open(p->spool_path);
			if (p->spool_fd < 0)
				p->spool_err = errno ? errno : EIO;
		}
		p->lit_spool = true;
		p->lit_off = p->spool_size;
	} else {
		p->lit_cap = (size_t)MIN(p->lit_size + 1, (uint64_t)LITERAL_FIRST_CHUNK);
		p->lit_chunk = xmalloc(sizeof(*p->lit_chunk) + p->lit_cap);
	}
	p->state = P_LIT_DATA;
	if (p->lit_size == 0)
		literal_finish(p);
	/* RFC 9051 4.3: even a zero-length synchronizing literal waits for
	 * the continuation request. */
	return p->lit_nonsync ? IMAP_PARSE_NEED_MORE : IMAP_PARSE_CONTINUE;
}

/* Eats the rest of a bad line. Returns NEED_MORE with *used < n only when
 * it switched to skipping a literal. */
static enum imap_parse_result discard_run(struct imap_parser *p, const unsigned char *d, size_t n,
					  size_t *used)
{
	size_t i;
	for (i = 0; i < n; i++) {
		unsigned char c = d[i];
		if (c == '\n') {
			i++;
			*used = i;
			if (p->dstate == D_CR_NONSYNC) {
				if (p->dlit > p->lim.max_nonsync || p->dlit > p->lim.max_literal)
					return parser_fatal(p, "Non-synchronizing literal too large");
				p->skip = p->dlit;
				p->dstate = D_NONE;
				p->state = P_DISCARD_LIT;
				return IMAP_PARSE_NEED_MORE;
			}
			return parser_end(p, IMAP_PARSE_ERROR);
		}
		switch (c) {
		case '{':
			p->dstate = D_OPEN;
			p->dlit = 0;
			continue;
		case '+':
		case '-':
			p->dstate = p->dstate == D_DIGITS ? D_PLUS : D_NONE;
			continue;
		case '}':
			p->dstate = p->dstate == D_DIGITS ? D_CLOSE_SYNC
				    : p->dstate == D_PLUS ? D_CLOSE_NONSYNC
							  : D_NONE;
			continue;
		case '\r':
			p->dstate = p->dstate == D_CLOSE_SYNC ? D_CR_SYNC
				    : p->dstate == D_CLOSE_NONSYNC ? D_CR_NONSYNC
								   : D_NONE;
			continue;
		default:
			break;
		}
		if (c >= '0' && c <= '9' && (p->dstate == D_OPEN || p->dstate == D_DIGITS)) {
			unsigned dig = (unsigned)(c - '0');
			p->dlit = p->dlit > (UINT64_MAX - dig) / 10 ? UINT64_MAX : p->dlit * 10 + dig;
			p->dstate = D_DIGITS;
		} else {
			p->dstate = D_NONE;
		}
	}
	*used = n;
	return IMAP_PARSE_NEED_MORE;
}

/* ---- the state machine ---------------------------------------------- */

enum imap_parse_result imap_parser_feed(struct imap_parser *p, const char *data, size_t len,
					size_t *consumed)
{
	const unsigned char *d = (const unsigned char *)data;
	size_t i = 0;
	enum imap_parse_result r;

	*consumed = 0;
	if (p->state == P_END)
		return p->result;

/* Consumes k bytes of the line. */
#define EAT(k)                               \
	do {                                 \
		size_t k_ = (k);             \
		i += k_;                     \
		p->line_len += k_;           \
		p->cmd_len += k_;            \
	} while (0)

	while (i < len) {
		switch (p->state) {
		case P_LIT_DATA: {
			size_t n = (size_t)MIN((uint64_t)(len - i), p->lit_size - p->lit_got);
			if (p->lit_spool) {
				spool_write(p, d + i, n);
			} else {
				literal_reserve(p, (size_t)p->lit_got + n + 1);
				memcpy(p->lit_chunk->data + p->lit_got, d + i, n);
			}
			p->lit_got += n;
			p->cmd_len += n;
			i += n;
			if (p->lit_got == p->lit_size)
				literal_finish(p);
			continue;
		}
		case P_DISCARD_LIT: {
			size_t n = (size_t)MIN((uint64_t)(len - i), p->skip);
			p->skip -= n;
			i += n;
			if (p->skip == 0) {
				p->dstate = D_NONE;
				p->state = P_DISCARD;
			}
			continue;
		}
		case P_DISCARD: {
			size_t used;
			r = discard_run(p, d + i, len - i, &used);
			i += used;
			if (r != IMAP_PARSE_NEED_MORE) {
				*consumed = i;
				return r;
			}
			continue;
		}
		default:
			break;
		}

		/* A line state: enforce the line and command budgets. */
		if (p->line_len >= p->lim.max_line) {
			parser_fail(p, "Line too long", true);
			continue;
		}
		if (p->cmd_len >= p->lim.max_command) {
			parser_fail(p, "Command too large", true);
			continue;
		}
		size_t room = len - i;
		room = MIN(room, p->lim.max_line - p->line_len);
		room = MIN(room, p->lim.max_command - p->cmd_len);
		unsigned char c = d[i];
		size_t n;

		switch (p->state) {
		case P_TAG:
			n = span(C_TAG, d + i, room);
			tok_add(p, d + i, n);
			EAT(n);
			if (n == room)
				continue;
			c = d[i];
			if (p->tok_len == 0) {
				parser_fail(p, c == '\r' || c == '\n' ? "Empty command line" : "Invalid tag",
					    false);
			} else if (c == ' ') {
				p->tag = arena_strndup(p, p->tok, p->tok_len);
				p->tok_len = 0;
				EAT(1);
				p->state = P_CMD_START;
			} else if (c == '\r' || c == '\n') {
				p->tag = arena_strndup(p, p->tok, p->tok_len);
				p->tok_len = 0;
				parser_fail(p, "Missing command", false);
			} else {
				/* Not a tag we can quote back: answer untagged. */
				p->tok_len = 0;
				parser_fail(p, "Invalid characters in tag", false);
			}
			continue;

		case P_CMD_START:
			if (c == ' ')
				EAT(1);
			else
				p->state = P_CMD;
			continue;

		case P_CMD:
			n = span(C_ATOM, d + i, room);
			tok_add(p, d + i, n);
			EAT(n);
			if (n == room)
				continue;
			c = d[i];
			if (c == '\n') {
				parser_fail(p, "Line must end with CRLF", false);
			} else if (p->tok_len == 0) {
				parser_fail(p, c == '\r' ? "Missing command"
							 : "Invalid characters in command name",
					    false);
			} else if (c == ' ' || c == '\r') {
				p->cmd = arena_strndup(p, p->tok, p->tok_len);
				p->tok_len = 0;
				if (c == ' ')
					EAT(1);
				p->state = P_ARG_START;
			} else {
				parser_fail(p, "Invalid characters in command name", false);
			}
			continue;

		case P_ARG_START:
			switch (c) {
			case ' ':
				/* Lenient: extra spaces between tokens. */
				EAT(1);
				continue;
			case '\r':
				if (p->depth > 0) {
					parser_fail(p, "Missing ')'", false);
					continue;
				}
				EAT(1);
				p->state = P_EOL_LF;
				continue;
			case '(':
				if (list_open(p))
					EAT(1);
				continue;
			case ')':
				if (list_close(p))
					EAT(1);
				continue;
			case '"':
				if (arg_reserve(p)) {
					EAT(1);
					p->tok_len = 0;
					p->state = P_QUOTED;
				}
				continue;
			case '{':
				if (arg_reserve(p)) {
					EAT(1);
					p->lit8 = false;
					p->state = P_LIT_OPEN;
				}
				continue;
			case '~':
				if (arg_reserve(p)) {
					EAT(1);
					p->state = P_TILDE;
				}
				continue;
			default:
				break;
			}
			if ((ctab[c] & C_ATOM) || c == '[') {
				if (arg_reserve(p)) {
					p->tok_len = 0;
					p->state = P_ATOM;
				}
			} else {
				parser_fail(p, c == '\n' ? "Line must end with CRLF"
							 : "Invalid characters in atom",
					    false);
			}
			continue;

		case P_SEP:
			if (c == ' ') {
				EAT(1);
				p->state = P_ARG_START;
			} else if (c == ')') {
				if (list_close(p))
					EAT(1);
			} else if (c == '\r') {
				if (p->depth > 0) {
					parser_fail(p, "Missing ')'", false);
					continue;
				}
				EAT(1);
				p->state = P_EOL_LF;
			} else if (c == '\n') {
				parser_fail(p, "Line must end with CRLF", false);
			} else {
				parser_fail(p, p->last_atom ? "Invalid characters in atom"
							    : "Missing space after argument",
					    false);
			}
			continue;

		case P_EOL_LF:
			if (c != '\n') {
				parser_fail(p, "Line must end with CRLF", false);
				continue;
			}
			EAT(1);
			*consumed = i;
			return parser_end(p, IMAP_PARSE_DONE);

		case P_ATOM:
			n = span(C_ATOM, d + i, room);
			tok_add(p, d + i, n);
			EAT(n);
			if (n == room)
				continue;
			c = d[i];
			if (c == '[' && section_opens(p)) {
				/* RFC 9051 6.4.5: section specs such as
				 * BODY[HEADER.FIELDS (From To)]<0.100> hold spaces
				 * and parentheses; the whole thing is one atom. */
				tok_add(p, "[", 1);
				EAT(1);
				p->brk_depth = 1;
				p->state = P_BRK;
			} else if (c == '[') {
				/* RFC 9051 9: elsewhere '[' is an ATOM-CHAR. */
				tok_add(p, "[", 1);
				EAT(1);
			} else {
				atom_finish(p);
			}
			continue;

		case P_BRK:
			n = span(C_BRK, d + i, room);
			tok_add(p, d + i, n);
			EAT(n);
			if (n == room)
				continue;
			c = d[i];
			if (c == '[') {
				if (p->brk_depth >= MAX(p->lim.max_depth, 1u)) {
					parser_fail(p, "Too deeply nested", true);
					continue;
				}
				p->brk_depth++;
			} else if (c == ']') {
				if (--p->brk_depth == 0)
					p->state = P_ATOM;
			} else if (c == '"') {
				p->state = P_BRK_Q;
			} else if (c == '\r' || c == '\n') {
				parser_fail(p, "Missing ']'", false);
				continue;
			} else {
				parser_fail(p, "Invalid characters in atom", false);
				continue;
			}
			tok_add(p, &c, 1);
			EAT(1);
			continue;

		case P_BRK_Q:
			n = span(C_QUOTED, d + i, room);
			tok_add(p, d + i, n);
			EAT(n);
			if (n == room)
				continue;
			c = d[i];
			if (c == '"') {
				p->state = P_BRK;
			} else if (c == '\\') {
				p->state = P_BRK_QESC;
			} else {
				parser_fail(p, c ? "Unterminated quoted string"
						 : "Invalid characters in quoted string",
					    false);
				continue;
			}
			tok_add(p, &c, 1);
			EAT(1);
			continue;

		case P_BRK_QESC:
			if (c != '\\' && c != '"') {
				parser_fail(p, "Invalid escape in quoted string", false);
				continue;
			}
			tok_add(p, &c, 1);
			EAT(1);
			p->state = P_BRK_Q;
			continue;

		case P_QUOTED:
			n = span(C_QUOTED, d + i, room);
			tok_add(p, d + i, n);
			EAT(n);
			if (n == room)
				continue;
			c = d[i];
			if (c == '"') {
				EAT(1);
				quoted_finish(p);
			} else if (c == '\\') {
				EAT(1);
				p->state = P_QESC;
			} else {
				/* RFC 9051 4.3: a quoted string never holds CR or LF. */
				parser_fail(p, c ? "Unterminated quoted string"
						 : "Invalid characters in quoted string",
					    false);
			}
			continue;

		case P_QESC:
			/* RFC 9051 9: only quoted-specials may be escaped. */
			if (c != '\\' && c != '"') {
				parser_fail(p, "Invalid escape in quoted string", false);
				continue;
			}
			tok_add(p, &c, 1);
			EAT(1);
			p->state = P_QUOTED;
			continue;

		case P_TILDE:
			if (c == '{') {
				EAT(1);
				p->lit8 = true;
				p->state = P_LIT_OPEN;
			} else {
				/* "~foo" is an ordinary atom. */
				p->tok_len = 0;
				tok_add(p, "~", 1);
				p->state = P_ATOM;
			}
			continue;

		case P_LIT_OPEN:
		case P_LIT_DIGITS:
			if (c >= '0' && c <= '9') {
				unsigned dig = (unsigned)(c - '0');
				if (p->state == P_LIT_OPEN)
					p->lit_size = 0;
				p->lit_size = p->lit_size > (UINT64_MAX - dig) / 10 ? UINT64_MAX
										: p->lit_size * 10 + dig;
				EAT(1);
				p->state = P_LIT_DIGITS;
			} else if (p->state == P_LIT_DIGITS && (c == '+' || c == '-' || c == '}')) {
				/* RFC 7888: "{n+}" is LITERAL+/LITERAL-; "{n-}" is
				 * accepted as a synonym. */
				p->lit_nonsync = c != '}';
				EAT(1);
				p->state = c == '}' ? P_LIT_CR : P_LIT_CLOSE;
			} else {
				parser_fail(p, "Invalid literal size", false);
			}
			continue;

		case P_LIT_CLOSE:
			if (c != '}') {
				parser_fail(p, "Invalid literal size", false);
				continue;
			}
			EAT(1);
			p->state = P_LIT_CR;
			continue;

		case P_LIT_CR:
			if (c != '\r') {
				parser_fail(p, "Expected CRLF after literal size", false);
				continue;
			}
			EAT(1);
			p->state = P_LIT_LF;
			continue;

		case P_LIT_LF:
			if (c != '\n') {
				parser_fail(p, "Expected CRLF after literal size", false);
				continue;
			}
			EAT(1);
			r = literal_begin(p);
			if (r != IMAP_PARSE_NEED_MORE) {
				*consumed = i;
				return r;
			}
			continue;

		case P_LIT_DATA:
		case P_DISCARD:
		case P_DISCARD_LIT:
		case P_END:
			break;
		}
	}
#undef EAT
	*consumed = i;
	return IMAP_PARSE_NEED_MORE;
}

/* ---- accessors ------------------------------------------------------ */

const char *imap_parser_tag(const struct imap_parser *p)
{
	return p->tag;
}

const char *imap_parser_command(const struct imap_parser *p)
{
	return p->cmd;
}

const struct imap_arg *imap_parser_args(const struct imap_parser *p, size_t *count)
{
	if (p->state != P_END || p->result != IMAP_PARSE_DONE) {
		*count = 0;
		return NULL;
	}
	*count = p->nstack;
	return p->stack;
}

const char *imap_parser_error(const struct imap_parser *p)
{
	return p->err;
}

bool imap_parser_error_is_limit(const struct imap_parser *p)
{
	return p->err && p->err_limit;
}

size_t imap_parser_buffered(const struct imap_parser *p)
{
	size_t n = p->arena_bytes + p->tok_cap + p->stack_cap * sizeof(*p->stack) +
		   p->open_cap * sizeof(*p->open);
	return n + p->lit_cap;
}

/* ---- argument helpers ----------------------------------------------- */

/* NIL counts too: RFC 9051 9 makes an astring "NIL" the atom NIL, e.g. a
 * mailbox or user called "nil". */
bool imap_arg_get_astring(const struct imap_arg *a, const char **s, size_t *len)
{
	if (!a || a->type == IMAP_ARG_LIST)
		return false;
	*s = a->str;
	if (len)
		*len = a->len;
	return true;
}

bool imap_arg_get_atom(const struct imap_arg *a, const char **s)
{
	if (!a || a->type != IMAP_ARG_ATOM)
		return false;
	*s = a->str;
	return true;
}

bool imap_arg_get_string(const struct imap_arg *a, const char **s, size_t *len)
{
	if (!a || (a->type != IMAP_ARG_STRING && a->type != IMAP_ARG_LITERAL))
		return false;
	*s = a->str;
	if (len)
		*len = a->len;
	return true;
}

bool imap_arg_atom_ieq(const struct imap_arg *a, const char *word)
{
	if (!a || (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL))
		return false;
	return ascii_ieqn(a->str, a->len, word);
}
