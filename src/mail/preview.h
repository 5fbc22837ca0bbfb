/* The preview text of a message (RFC 8970 FETCH PREVIEW): a short plain
 * text taken from the message's first text/plain part, or from its first
 * text/html part stripped of markup, for a client's message list.
 * Computed once at delivery and kept by the store; mail/preview.c. */
#ifndef RAMPART_MAIL_PREVIEW_H
#define RAMPART_MAIL_PREVIEW_H

#include <stddef.h>

#include "mail/mail.h"

/* RFC 8970 3.3: SHOULD be at most 200 preview characters, MUST NOT
 * exceed 256; we count Unicode code points and stop at 200. */
#define MAIL_PREVIEW_CHARS 200

/* The preview of m: valid UTF-8 without control characters, whitespace
 * runs collapsed to one space, no leading or trailing space, at most
 * MAIL_PREVIEW_CHARS code points; "" when the message has no text to show
 * (RFC 8970 3.2: a zero-length string). Caller frees. */
char *mail_preview_build(const struct mail_msg *m);
/* The same from the raw message bytes. */
char *mail_preview_compute(const char *data, size_t len);

#endif
