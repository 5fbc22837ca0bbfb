/* The background preview maker: stores the RFC 8970 preview of messages
 * delivered before previews existed, a bounded step at a time on the work
 * pool, so that FETCH PREVIEW (LAZY) finds them made (RFC 8970 4). */
#ifndef RAMPART_IMAP_PREVIEW_FILL_H
#define RAMPART_IMAP_PREVIEW_FILL_H

#include <stddef.h>

struct event_base;

/* Previews made per step: one step holds a pool thread about as long as
 * a small FETCH. */
#define PREVIEW_FILL_STEP 64

/* Starts making the user's missing previews unless that is under way;
 * steps are chained through base (a worker's loop). Without a work pool
 * (tools, unit tests) it does nothing. Thread: base's. */
void preview_fill_kick(struct event_base *base, const char *user);
/* How many users' previews are being made now (tests, logs). */
size_t preview_fill_running(void);

#endif
