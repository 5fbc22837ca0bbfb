/* Byte-string decoders for mail: quoted-printable, RFC 2047 encoded words,
 * charset conversion to UTF-8. They depend on nothing else in src/mail
 * (see decode.c); base64 is core/base64.h. */
#ifndef RAMPART_MAIL_DECODE_H
#define RAMPART_MAIL_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/strbuf.h"

/* RFC 2047 encoded words to UTF-8; the rest is copied (raw 8-bit text is
 * kept when valid UTF-8, else read as ISO-8859-1). */
void mail_rfc2047_decode(const char *s, size_t len, struct strbuf *out);
/* Appends s converted from charset to UTF-8 (glibc iconv). An unknown
 * charset or an invalid sequence yields U+FFFD for the bad bytes. */
void mail_charset_to_utf8(const char *charset, const char *s, size_t len, struct strbuf *out);
/* RFC 2045 6.7 quoted-printable; header = RFC 2047 "Q" (underscore is space). */
void mail_qp_decode(const char *s, size_t len, bool header, struct strbuf *out);

enum mail_cte { MAIL_CTE_IDENTITY, MAIL_CTE_BASE64, MAIL_CTE_QP, MAIL_CTE_UNKNOWN };
/* Appends s with transfer encoding cte removed: base64 leniently (RFC 2045
 * 6.8), quoted-printable per 6.7, identity as is. false (out untouched)
 * for MAIL_CTE_UNKNOWN, which each caller treats its own way. */
bool mail_cte_decode(enum mail_cte cte, const char *s, size_t len, struct strbuf *out);

#endif
