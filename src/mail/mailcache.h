/* What is computed once per message at delivery (APPEND, deliver, COPY
 * never needs it again) and cached in the index, so FETCH ENVELOPE/BODY/
 * BODYSTRUCTURE never re-parses the message. */
#ifndef RAMPART_MAIL_MAILCACHE_H
#define RAMPART_MAIL_MAILCACHE_H

#include <stddef.h>

/* Fills malloc'd strings (caller frees each). */
void mail_cache_compute(const char *data, size_t len, char **envelope, char **bodystructure,
			char **body);

#endif
