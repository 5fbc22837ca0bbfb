/* Modified UTF-7 mailbox names (RFC 3501 5.1.3), used with IMAP4rev1
 * clients; IMAP4rev2 clients use UTF-8 (RFC 9051 5.1). */
#ifndef RAMPART_CORE_MUTF7_H
#define RAMPART_CORE_MUTF7_H

#include "core/strbuf.h"

/* UTF-8 -> modified UTF-7. Returns 0, -1 on invalid UTF-8. */
int mutf7_encode(const char *utf8, struct strbuf *out);
/* Modified UTF-7 -> UTF-8. Returns 0, -1 on invalid input (bad base64,
 * non-canonical encoding, raw 8-bit bytes). */
int mutf7_decode(const char *mutf7, struct strbuf *out);
/* What an IMAP4rev1 session's mailbox argument means: modified UTF-7,
 * or well-formed UTF-8 with 8-bit bytes and no '&'. 0 or -1. */
int mutf7_decode_rev1(const char *in, struct strbuf *out);

#endif
