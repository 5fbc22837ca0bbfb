/* Internals shared by the files of src/mail that implement mail.h: the part
 * tree built by mime.c, header field iteration and the RFC 822 lexer in
 * header.c, the Content-Transfer-Encoding of a part. The decoders
 * themselves are mail/decode.h. Nothing outside src/mail
 * includes this. */
#ifndef RAMPART_MAIL_MIME_INTERNAL_H
#define RAMPART_MAIL_MIME_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "mail/decode.h"
#include "mail/mail.h"

enum mail_part_kind {
	MAIL_PART_LEAF,      /* anything whose body is not parsed further */
	MAIL_PART_MULTIPART, /* multipart/ with a boundary: children are its body parts */
	MAIL_PART_MESSAGE,   /* message/rfc822 or message/global: children is the encapsulated message */
};

/* One entity (RFC 2045 section 2.4): a header block and a body, as byte
 * offsets into mail_msg.data. hdr_end == body_start: the header block
 * includes the blank line that ends it (that is what BODY[HEADER] sends). */
struct mail_part {
	struct mail_part *parent;
	struct mail_part *children; /* first child */
	struct mail_part *last_child;
	struct mail_part *next;     /* next sibling */
	size_t nchildren;
	size_t hdr_start, hdr_end;
	size_t body_start, body_end;
	size_t body_lines;          /* LF count in the body */
	char *type, *subtype;       /* as they appear, or the RFC 2045 default */
	char *boundary;             /* MAIL_PART_MULTIPART only */
	enum mail_part_kind kind;
	bool type_defaulted;        /* no (valid) Content-Type: the default applies */
};

/* RFC 9051 6.4.5 part numbering; NULL when the part doesn't exist.
 * nparts == 0 is the root. */
const struct mail_part *mail_part_find(const struct mail_msg *m, const uint32_t *part,
				       size_t nparts);

/* ---- header fields (header.c) ---- */

struct mail_hdr {
	const char *name;   /* points into the message */
	size_t name_len;
	size_t start;       /* first byte of the field */
	size_t value_start; /* after the colon */
	size_t end;         /* after the field's last line break (or end of block) */
};

struct mail_hdr_iter {
	const char *d;
	size_t pos, end;
};

/* Iterates the fields of the header block d[start..end), stopping at the
 * blank line. Lines without a colon are fields with an empty value. */
void mail_hdr_iter_init(struct mail_hdr_iter *it, const char *d, size_t start, size_t end);
bool mail_hdr_iter_next(struct mail_hdr_iter *it, struct mail_hdr *h);
bool mail_hdr_name_is(const struct mail_hdr *h, const char *name);
/* First field `name` (case-insensitive) in the part's header block. */
bool mail_part_hdr_find(const char *d, const struct mail_part *p, const char *name,
			struct mail_hdr *h);
/* Appends the field value unfolded (line breaks removed, leading
 * whitespace dropped). */
void mail_hdr_unfold(const char *d, const struct mail_hdr *h, struct strbuf *out);

/* Skips CFWS (RFC 5322 3.2.2) from *p: whitespace, line breaks of folds,
 * and comments, which nest and may hold quoted-pairs; an unterminated
 * comment runs to e. The one CFWS rule of src/mail: Content-Type values,
 * addresses, dates and Content-Language all skip it here. When comment is
 * not NULL it receives the text of the last comment skipped (outer
 * parentheses dropped, quoted-pairs unescaped, line breaks removed).
 * Returns the number of comments skipped. */
size_t mail_cfws_skip(const char **p, const char *e, struct strbuf *comment);

/* ---- MIME parameters (header.c) ---- */

struct mail_param {
	char *name;
	char *value;
};

struct mail_params {
	struct mail_param *v;
	size_t n, cap;
};

/* Parses "type/subtype; a=b; ..." from s[0..len) (raw, may contain folds).
 * type/subtype are malloc'd (NULL when the value isn't a valid media type,
 * in which case no parameters are parsed). */
void mail_content_type_parse(const char *s, size_t len, char **type, char **subtype,
			     struct mail_params *params);
/* Parses "token; a=b; ..." (Content-Disposition): *token malloc'd or NULL. */
void mail_disposition_parse(const char *s, size_t len, char **token, struct mail_params *params);
/* The parameter list after the first token: ";" attribute "=" value, with
 * RFC 2231 continuations merged the way Dovecot does (names kept, "name*"
 * for charset-encoded values whose text stays percent-encoded). */
void mail_params_parse(const char *s, size_t len, struct mail_params *out);
void mail_params_free(struct mail_params *ps);
const char *mail_params_get(const struct mail_params *ps, const char *name);

/* The first token (RFC 2045 token) of a raw value, e.g. Content-Transfer-
 * Encoding; malloc'd, NULL when there is none. */
char *mail_hdr_token(const char *s, size_t len);

/* ---- transfer encoding (section.c) ---- */

/* The Content-Transfer-Encoding of a leaf part (enum in decode.h). */
enum mail_cte mail_part_cte(const char *d, const struct mail_part *p);
/* The body of leaf p, at most in_max bytes of it, transfer-decoded and
 * converted from its charset to UTF-8, appended to out (bodytext.c; the
 * one decoder of SEARCH text and PREVIEW). */
void mail_part_text_utf8(const struct mail_msg *m, const struct mail_part *p, size_t in_max,
			 struct strbuf *out);

/* Writes the ENVELOPE of the header block of part p. */
void mail_envelope_write_part(struct strbuf *out, const char *d, const struct mail_part *p);

#endif
