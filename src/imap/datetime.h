/* IMAP date-time ("17-Jul-1996 02:44:25 -0700", RFC 9051 9) and date
 * ("1-Feb-1994") strings. */
#ifndef RAMPART_IMAP_DATETIME_H
#define RAMPART_IMAP_DATETIME_H

#include <stddef.h>
#include <stdint.h>

/* Parses date-time; the day may be space-padded. *t is UTC seconds,
 * *tz minutes east of UTC. 0 or -1. */
int imap_datetime_parse(const char *s, size_t len, int64_t *t, int *tz);
/* Writes "\"17-Jul-1996 02:44:25 -0700\"" (with the quotes); buf >= 32. */
void imap_datetime_format(int64_t t, int tz, char *buf, size_t size);

#endif
