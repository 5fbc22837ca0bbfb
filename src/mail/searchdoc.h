/* The searchable form of a message (core/search_doc.h): computed once at
 * delivery for the search index, and on demand by SEARCH for a message
 * the index does not hold yet, by the same functions, so both paths see
 * the same text. */
#ifndef RAMPART_MAIL_SEARCHDOC_H
#define RAMPART_MAIL_SEARCHDOC_H

#include <stddef.h>

#include "core/search_doc.h"
#include "core/strbuf.h"
#include "mail/mail.h"

/* Fills d (cleared first; free with search_doc_clear()). */
void mail_search_doc_build(const struct mail_msg *m, struct search_doc *d);
/* The same from the raw bytes. */
void mail_search_doc_compute(const char *data, size_t len, struct search_doc *d);
/* The same in a new allocation, for struct store_append.search; free
 * with mail_search_doc_free() (NULL is fine). */
struct search_doc *mail_search_doc_new(const char *data, size_t len);
void mail_search_doc_free(struct search_doc *d);
/* Header field `name` as SEARCH HEADER/FROM/... compares it (not yet
 * casefolded): every occurrence decoded and joined by "\n", and for the
 * address fields the parsed addresses after it (core/search_doc.h).
 * Returns the number of occurrences (0: none, out untouched). */
int mail_search_header(const struct mail_msg *m, const char *name, struct strbuf *out);
/* The body text as BODY/TEXT search it (mail_body_text(), not yet
 * casefolded). */
void mail_search_body_text(const struct mail_msg *m, struct strbuf *out);
/* The top-level header as TEXT searches it: "Name: value\n" lines,
 * unfolded and RFC 2047-decoded (not yet casefolded). */
void mail_search_hdrs_text(const struct mail_msg *m, struct strbuf *out);

#endif
