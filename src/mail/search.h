/* SEARCH criteria as a tree, and their evaluation against one message
 * (RFC 9051 6.4.4). The tree is built by imap/search_parse.c from the
 * command's arguments; evaluation needs only the per-message facts below
 * and, for header/body keys, the message content loaded on demand.
 *
 * String matching is case-insensitive substring over the i;unicode-casemap
 * collation (RFC 5051): both sides are casefolded UTF-8. */
#ifndef RAMPART_MAIL_SEARCH_H
#define RAMPART_MAIL_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/search_doc.h"
#include "core/seqset.h"
#include "mail/mail.h"

enum search_key_type {
	SK_ALL,
	SK_AND,        /* children: all must match */
	SK_OR,         /* children[0] or children[1] */
	SK_NOT,        /* children[0] */
	SK_SEQSET,     /* set: sequence numbers */
	SK_UIDSET,     /* set: UIDs */
	SK_FLAG,       /* flag bit set (ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, RECENT) */
	SK_NOFLAG,     /* flag bit clear (UNANSWERED, ..., UNSEEN) */
	SK_NEW,        /* RECENT and not SEEN */
	SK_OLD,        /* not RECENT */
	SK_KEYWORD,    /* str: keyword present */
	SK_UNKEYWORD,
	SK_BEFORE,     /* internal date, by day in the server's zone: date = day start (UTC seconds) */
	SK_ON,
	SK_SINCE,
	SK_SENTBEFORE, /* Date: header, by day, ignoring time and zone */
	SK_SENTON,
	SK_SENTSINCE,
	SK_SAVEDBEFORE, /* RFC 8514 save date */
	SK_SAVEDON,
	SK_SAVEDSINCE,
	SK_SAVEDATESUPPORTED,
	SK_LARGER,     /* num: RFC822.SIZE > num */
	SK_SMALLER,
	SK_HEADER,     /* field + str; FROM/TO/CC/BCC/SUBJECT map here */
	SK_BODY,       /* str */
	SK_TEXT,       /* str: headers + body */
	SK_MODSEQ,     /* num: modseq >= num (CONDSTORE, later) */
	SK_EMAILID,    /* objectid: str = blob hash prefix, "" matches nothing */
	SK_THREADID,   /* objectid: no THREADIDs (NIL), matches nothing */
	SK_OLDER,      /* num seconds (RFC 5032 WITHIN) */
	SK_YOUNGER,    /* keep last, or move SK__COUNT */
};
#define SK__COUNT (SK_YOUNGER + 1) /* the number of key types */

struct search_key {
	enum search_key_type type;
	unsigned flag;           /* SK_FLAG/SK_NOFLAG: MAIL_FLAG_* bit */
	char *field;             /* SK_HEADER: header name */
	char *str;               /* search string, as sent (UTF-8 after charset conversion) */
	char *folded;            /* str casefolded, filled by the parser */
	uint64_t num;
	int64_t date;            /* seconds at 00:00 of that day, UTC */
	struct seqset set;
	struct search_key **children;
	size_t nchildren;
};

void search_key_free(struct search_key *k);

/* What the evaluator knows of one message. load() returns the parsed
 * message (NULL on I/O error, which counts as "no match"); it is called at
 * most once per message and only when a key needs content. */
struct search_msg {
	uint32_t seq;
	uint32_t uid;
	unsigned flags;            /* MAIL_FLAG_* incl. MAIL_FLAG_RECENT */
	const char *keywords;      /* space-separated, NULL or "" for none */
	int64_t internaldate;      /* seconds since epoch */
	int internaldate_tz;       /* zone offset, minutes, of the internal date */
	int64_t savedate;          /* seconds since epoch, -1 unknown */
	uint64_t size;
	uint64_t modseq;
	const char *blob;          /* objectid: hex content hash, or NULL */
	int64_t now;               /* for OLDER/YOUNGER */
	const struct mail_msg *(*load)(void *ctx);
	void *load_ctx;
	/* From the search index, or NULL when it holds nothing for this
	 * message yet: the decoded header fields (answering FROM/TO/CC/BCC/
	 * SUBJECT and HEADER of an indexed field) and the Date: day; hdrs and
	 * body are not used. */
	const struct search_doc *doc;
	/* The index's answer to a BODY/TEXT key, or a HEADER key of an
	 * indexed field, for this message: 1 matches, 0 does not, -1 unknown
	 * (the message's content decides). NULL: -1. */
	int (*text_hit)(void *ctx, const struct search_key *k);
	void *text_ctx;
};

bool search_match(const struct search_key *k, struct search_msg *m);
/* Whether a key of this type reads the message content (header or body)
 * rather than per-message facts: the one list of content keys, used by
 * search_needs_content() and by the parser's ordering of cheap keys
 * before dear ones (imap/search_parse.c). */
bool search_key_type_needs_content(enum search_key_type type);
/* True when any key in the tree needs the message content (header/body),
 * so the caller can skip loading for flag-only searches. */
bool search_needs_content(const struct search_key *k);

/* The calendar day (days since 1970-01-01) of t seen in a zone offset_min
 * minutes east of UTC. */
int64_t search_day_of(int64_t t, int offset_min);

/* Casefolds UTF-8 s for i;unicode-casemap comparison; caller frees. Invalid
 * UTF-8 bytes are kept as-is (so ASCII search still works on bad input). */
char *search_casefold(const char *s, size_t len, size_t *outlen);
/* Whether a header field's value (UTF-8, as the index stores it) contains
 * the casefolded needle, exactly as a HEADER/FROM/SUBJECT... key compares
 * it (RFC 9051 6.4.4; "" matches any value). */
bool search_value_contains(const char *value, size_t len, const char *folded);

#endif
