/* MULTISEARCH (RFC 7377): the source options of ESEARCH, parsed apart from
 * the command (imap/cmd_multisearch.c) so that the grammar can be fuzzed
 * (tests/fuzz/fuzz_multisearch.c). */
#ifndef RAMPART_IMAP_MULTISEARCH_H
#define RAMPART_IMAP_MULTISEARCH_H

#include <stddef.h>

#include "imap/parser.h"

/* At most this many filters in one IN (...), this many names in all, and
 * this many mailboxes searched by one command (NO [LIMIT] beyond). */
#define MULTISEARCH_MAX_FILTERS 64
#define MULTISEARCH_MAX_NAMES 256
#define MULTISEARCH_MAX_MAILBOXES 1000

/* RFC 7377 2.2 filter-mailboxes. */
enum multisearch_filter {
	MS_SELECTED,        /* also "selected-delayed" */
	MS_INBOXES,
	MS_PERSONAL,
	MS_SUBSCRIBED,
	MS_SUBTREE,         /* the named mailboxes and all below them */
	MS_SUBTREE_ONE,     /* the named mailboxes and their children */
	MS_MAILBOXES,       /* exactly the named mailboxes */
};

struct multisearch_source {
	enum multisearch_filter filter;
	char **names;       /* UTF-8, as decode() gave them; SUBTREE* and MAILBOXES */
	size_t nnames;
};

struct multisearch_sources {
	struct multisearch_source *v;
	size_t n, cap;
};

/* Turns a mailbox argument into a UTF-8 name (caller frees), NULL when it
 * is not a valid name. */
typedef char *multisearch_decode_fn(void *ctx, const struct imap_arg *a);

/* `list` is the argument after "IN": "(" source-mbox [SP "(" scope-options
 * ")"] ")". 0 with *out filled (free with multisearch_sources_free), or -1
 * with *err set and *out empty. No scope options are supported (RFC 7377
 * defines none): a list of them is refused. */
int multisearch_sources_parse(const struct imap_arg *list, multisearch_decode_fn *decode,
			      void *ctx, struct multisearch_sources *out, const char **err);
void multisearch_sources_free(struct multisearch_sources *s);

#endif
