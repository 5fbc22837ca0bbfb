/* Writing IMAP strings (RFC 9051 4.3): a quoted string when the value is
 * short printable ASCII, otherwise a literal. Shared by every layer that
 * produces response data (ENVELOPE, BODYSTRUCTURE, LIST, STATUS...). */
#ifndef RAMPART_CORE_QUOTE_H
#define RAMPART_CORE_QUOTE_H

#include <stdbool.h>
#include <stddef.h>
#include "core/strbuf.h"

/* string: quoted or {n} literal. */
void quote_string(struct strbuf *out, const char *s, size_t len);
/* nstring: NIL for s == NULL. */
void quote_nstring(struct strbuf *out, const char *s, size_t len);
/* astring: a bare atom when every byte is an ATOM-CHAR, else string. */
void quote_astring(struct strbuf *out, const char *s, size_t len);
/* Like quote_string but UTF-8 octets may stay inside quotes (rev2 and
 * UTF8=ACCEPT sessions); other 8-bit or control bytes force a literal. */
void quote_string_utf8(struct strbuf *out, const char *s, size_t len, bool utf8_ok);

#endif
