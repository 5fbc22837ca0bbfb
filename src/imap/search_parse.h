/* Builds a search_key tree from SEARCH arguments (RFC 9051 6.4.4, the
 * search-key grammar of section 9, plus RFC 8514 SAVEDATE keys, RFC 5032
 * OLDER/YOUNGER and RFC 7162 MODSEQ). Sequence sets are resolved against
 * the session's view; "$" is the SEARCHRES saved result (as UIDs). */
#ifndef RAMPART_IMAP_SEARCH_PARSE_H
#define RAMPART_IMAP_SEARCH_PARSE_H

#include "imap/parser.h"
#include "core/seqset.h"
#include "mail/search.h"

struct search_parse_ctx {
	uint32_t max_seq;            /* '*' in a sequence set */
	uint32_t max_uid;            /* '*' in a UID set */
	const struct seqset *saved;  /* "$": UIDs, or NULL when nothing saved */
	const char *charset;         /* NULL: US-ASCII/UTF-8 */
	bool rev2;                   /* IMAP4rev2: NEW/OLD/RECENT are BAD */
	/* uidonly, multisearch: when set, a sequence-number set is refused
	 * with this text (RFC 9586 3; RFC 7377 2) */
	const char *no_seqs;
};

enum search_parse_result {
	SEARCH_PARSE_OK = 0,
	SEARCH_PARSE_BAD = -1,        /* syntax: tagged BAD with *err */
	SEARCH_PARSE_BADCHARSET = -2, /* NO [BADCHARSET (UTF-8 US-ASCII)] */
};

/* args[0..n) are the search keys (after CHARSET and RETURN have been
 * taken off by the caller). On OK *out is an SK_AND node; free it with
 * search_key_free(). */
enum search_parse_result imap_search_parse(const struct imap_arg *args, size_t n,
					   const struct search_parse_ctx *ctx,
					   struct search_key **out, const char **err);

#endif
