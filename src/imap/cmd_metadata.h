/* The METADATA commands' argument rules (RFC 5464 4.2, 4.3, 5), exported
 * so the fuzz harness (tests/fuzz/fuzz_metadata.c) drives the same parser
 * GETMETADATA and SETMETADATA use. Not a public interface outside
 * src/imap/ and its tests. */
#ifndef RAMPART_IMAP_CMD_METADATA_H
#define RAMPART_IMAP_CMD_METADATA_H

#include <stddef.h>

#include "imap/parser.h"
#include "store/store.h"

/* Entry names one command may name: more is abuse (NO [LIMIT]). */
#define METADATA_NAMES_MAX 1000

/* The arguments of one command. names/e own their strings (names and
 * values are copies); mailbox points into the parsed arguments. */
struct metadata_req {
	const struct imap_arg *mailbox;
	/* GETMETADATA */
	size_t maxsize;          /* SIZE_MAX: no MAXSIZE option */
	int depth;               /* 0, 1, or -1 for "infinity" */
	char **names;            /* checked, lowercased (store_meta_name_check) */
	size_t nnames;
	/* SETMETADATA: value NULL for NIL (remove) */
	struct store_meta_entry *e;
	size_t ne;
};

/* "GETMETADATA [options] mailbox entries" (options are also taken after
 * the mailbox, where RFC 5464's examples put them) and "SETMETADATA
 * mailbox (entry value ...)". Return 0; -1 for a syntax error (BAD);
 * -2 for a limit (an entry name over STORE_META_NAME_MAX, more than
 * METADATA_NAMES_MAX names: NO [LIMIT]). *err is a static explanation on
 * failure, and *req is then empty. */
int metadata_get_parse(const struct imap_arg *args, size_t nargs, struct metadata_req *req,
		       const char **err);
int metadata_set_parse(const struct imap_arg *args, size_t nargs, struct metadata_req *req,
		       const char **err);
void metadata_req_free(struct metadata_req *req);

#endif
