/* A parsed RFC 5322 / MIME message over a caller-owned byte buffer.
 * The parser records byte offsets of every part's header and body so that
 * BODY[1.2.MIME]<0.100> is a slice, not a re-encoding. It never fails on
 * malformed input: it degrades to text/plain as RFC 2045 says, and bounds
 * nesting depth and part count (MAIL_MAX_DEPTH, MAIL_MAX_PARTS).
 *
 * The data buffer must outlive the mail_msg. */
#ifndef RAMPART_MAIL_MAIL_H
#define RAMPART_MAIL_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/strbuf.h"

#define MAIL_MAX_DEPTH 32
#define MAIL_MAX_PARTS 10000
#define MAIL_MAX_SECTION_PARTS 32

struct mail_part;

struct mail_msg {
	const char *data;
	size_t len;
	struct mail_part *root;
};

struct mail_msg *mail_parse(const char *data, size_t len);
void mail_msg_free(struct mail_msg *m);

/* RFC 9051 7.5.2 ENVELOPE, the parenthesised list without the "ENVELOPE "
 * prefix. Header values are sent as they appear (RFC 2047 words NOT
 * decoded), unfolded; 8-bit values go out as literals. */
void mail_write_envelope(struct strbuf *out, const struct mail_msg *m);

/* RFC 9051 7.5.2 BODYSTRUCTURE (extended=true) or BODY (extended=false),
 * the parenthesised list without the prefix. */
void mail_write_bodystructure(struct strbuf *out, const struct mail_msg *m, bool extended);

enum mail_section_kind {
	MAIL_SECTION_ALL,               /* BODY[] or BODY[1.2] */
	MAIL_SECTION_HEADER,            /* BODY[HEADER], BODY[1.HEADER] (message/rfc822 parts) */
	MAIL_SECTION_HEADER_FIELDS,     /* BODY[HEADER.FIELDS (A B)] */
	MAIL_SECTION_HEADER_FIELDS_NOT, /* BODY[HEADER.FIELDS.NOT (A B)] */
	MAIL_SECTION_TEXT,              /* BODY[TEXT], BODY[1.TEXT] */
	MAIL_SECTION_MIME,              /* BODY[1.MIME] */
};

struct mail_section {
	uint32_t part[MAIL_MAX_SECTION_PARTS];
	size_t nparts;
	enum mail_section_kind kind;
	char **fields; /* HEADER.FIELDS(.NOT): header names as sent */
	size_t nfields;
};

/* Parses the text between '[' and ']' of a FETCH BODY[...] item, e.g.
 * "1.2.HEADER.FIELDS (From \"To\")". Returns 0, or -1 on syntax error
 * (e.g. MIME without a part number, part number 0). Free with
 * mail_section_free(). */
int mail_section_parse(const char *spec, size_t len, struct mail_section *out);
void mail_section_free(struct mail_section *s);

/* Appends the exact bytes of the section to out (RFC 9051 6.4.5): a
 * nonexistent part yields an empty string. HEADER.FIELDS output ends with
 * the blank line. Returns 0. */
int mail_section_fetch(const struct mail_msg *m, const struct mail_section *s, struct strbuf *out);
/* alloc: where the section lies in the message data[0..len), found
 * without mail_parse() (no allocation): the whole message, HEADER or
 * TEXT without a part number; the same bytes mail_section_fetch()
 * returns. false for any other section (parse, then fetch). */
bool mail_section_range(const struct mail_section *s, const char *data, size_t len, size_t *off,
			size_t *n);
/* alloc: true when mail_section_range() answers the section. */
bool mail_section_is_range(const struct mail_section *s);

/* BINARY[part] (RFC 3516/9051): the part's body with its
 * Content-Transfer-Encoding removed. Returns 0, -1 for an encoding the
 * server can't decode (the caller answers NO [UNKNOWN-CTE]), 1 when the part
 * doesn't exist. nparts == 0 means the whole message. */
int mail_binary_fetch(const struct mail_msg *m, const uint32_t *part, size_t nparts,
		      struct strbuf *out);

/* For SEARCH: every occurrence of header `name` (case-insensitive),
 * unfolded, RFC 2047-decoded to UTF-8, joined by "\n". Returns the number
 * of occurrences found (0: none, and out is untouched). */
int mail_header_decoded(const struct mail_msg *m, const char *name, struct strbuf *out);
/* For SEARCH BODY/TEXT: the text of every text/ part (and message/rfc822
 * headers), transfer-decoded and converted to UTF-8 from its charset. */
void mail_body_text(const struct mail_msg *m, struct strbuf *out);
/* The same, at most max bytes (and never more than mail_body_text()
 * gives), decoding no more input than that needs: false when text was
 * left out (searchidx: the index takes only the first SEARCH_DOC_BODY_MAX). */
bool mail_body_text_max(const struct mail_msg *m, struct strbuf *out, size_t max);
/* The Date: header as a time (for SENTBEFORE/SENTON/SENTSINCE), or -1 when
 * missing or unparseable. *tz_offset_min receives the zone offset. */
int64_t mail_date_sent(const struct mail_msg *m, int *tz_offset_min);

/* Parses an RFC 5322 date-time ("Tue, 1 Jul 2003 10:52:37 +0200", lenient
 * about day names, 2-digit years and obsolete zones). -1 on failure. */
int64_t mail_parse_rfc5322_date(const char *s, size_t len, int *tz_offset_min);

#endif
