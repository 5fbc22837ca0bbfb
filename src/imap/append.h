/* The parts of APPEND (imap/cmd_append.c) that REPLACE (RFC 8508,
 * imap/cmd_replace.c) shares: reading one message's arguments, including
 * a literal the parser spooled to a file, and computing what the store
 * keeps with it. */
#ifndef RAMPART_IMAP_APPEND_H
#define RAMPART_IMAP_APPEND_H

#include <stddef.h>

#include "imap/parser.h"
#include "store/store.h"

struct imap_session;

/* Reads "[flags] [date-time] literal" (or UTF8 (literal8), RFC 6855)
 * from args[*pos] on into m (zeroed first; m points into args), and
 * advances *pos past it. *kw receives the keyword string m->keywords
 * points to (caller frees); *spool_err the errno of a failed literal
 * spool, when it was 0. Returns 0; -1 with *err set (answer BAD); -2
 * when a flag error was already answered. */
int append_msg_parse(struct imap_session *s, const struct imap_arg *args, size_t nargs,
		     size_t *pos, struct store_append *m, char **kw, int *spool_err,
		     const char **err);
/* The tagged NO for a literal that could not be spooled (errno
 * spool_err): [OVERQUOTA] for a full disk, else [SERVERBUG]. */
void append_spool_fail(struct imap_session *s, int spool_err, const char *what);
/* Computes the cached structure, search entry and preview of m (on a
 * pool thread: it parses the message). */
void append_msg_prepare(struct store_append *m);
/* Frees what append_msg_prepare() made. */
void append_msg_clear(struct store_append *m);

#endif
