/* What the search index keeps of one message: the header fields SEARCH
 * asks for most, decoded at delivery, the Date: header's day, and the
 * casefolded text BODY/TEXT look at. The one shape shared by the code
 * that computes it (mail/searchdoc.c, which knows MIME) and the code that
 * stores and reads it (store/, which must not): so it lives below both.
 *
 * Field values are UTF-8 (RFC 2047 words and charsets decoded), every
 * occurrence of the field joined by "\n"; the address fields (From, To,
 * Cc, Bcc) are followed by one "\n"-separated line per parsed address,
 * `name <local@domain>` without RFC 5322 comments, so a SEARCH FROM for
 * the address matches even when the header writes it with comments. */
#ifndef RAMPART_CORE_SEARCH_DOC_H
#define RAMPART_CORE_SEARCH_DOC_H

#include <stdbool.h>
#include <stdint.h>

enum search_doc_field {
	SEARCH_DOC_FROM,
	SEARCH_DOC_TO,
	SEARCH_DOC_CC,
	SEARCH_DOC_BCC,
	SEARCH_DOC_SUBJECT,
	SEARCH_DOC_MESSAGE_ID,
	SEARCH_DOC_IN_REPLY_TO,
	SEARCH_DOC_REFERENCES,
};
#define SEARCH_DOC_NFIELDS (SEARCH_DOC_REFERENCES + 1)

/* Text past this many bytes of folded body is not indexed: the message
 * is then marked partial and searched from its file. */
#define SEARCH_DOC_BODY_MAX (1024u * 1024)

/* sent_day when the message has no valid Date: header. */
#define SEARCH_DOC_NO_DATE INT64_MIN

struct search_doc {
	char *field[SEARCH_DOC_NFIELDS]; /* NULL: the message has no such field */
	int64_t sent_day;  /* days since 1970-01-01 as written in Date:, or SEARCH_DOC_NO_DATE */
	char *hdrs;        /* casefolded "Name: value\n" lines of the top header (TEXT) */
	char *body;        /* casefolded body text (BODY, TEXT), at most SEARCH_DOC_BODY_MAX */
	bool body_partial; /* body was cut: the index cannot answer BODY/TEXT alone */
};

/* The header name of a field ("From", "Message-ID"...). */
const char *search_doc_field_name(enum search_doc_field f);
/* The field named `name` (case-insensitive), or -1 when not indexed. */
int search_doc_field_find(const char *name);
/* Frees the strings (not d itself) and clears d. */
void search_doc_clear(struct search_doc *d);

#endif
