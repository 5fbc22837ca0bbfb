/* Returning what a burst of connections freed to the kernel.
 *
 * glibc keeps freed memory in its arenas for reuse: what thousands of TLS
 * handshakes, logins and SELECTs allocated for a moment (handshake
 * messages, SQLite statements on the work pool's arenas) stays resident
 * after the clients have gone idle, between the long-lived objects of
 * the connections that stay. malloc_trim(3) hands every whole free page
 * of every arena back (MADV_DONTNEED), and a later burst gets fresh pages.
 *
 * Cost: malloc_trim walks the free chunks of each arena under its lock
 * (milliseconds for a heap of hundreds of MiB), so a worker trims only
 * after it saw connections come or go, once the burst is MEMTRIM_DELAY_S
 * old, at most once per that period; a quiet server never trims. The
 * timer is per worker thread: no shared state. */
#include "net/memtrim.h"

#include <event2/event.h>
#include <malloc.h>
#include <stddef.h>

#define MEMTRIM_DELAY_S 5

static _Thread_local struct event *memtrim_ev;

static void memtrim_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	malloc_trim(0);
}

void memtrim_note(struct event_base *base)
{
	if (!memtrim_ev) {
		memtrim_ev = evtimer_new(base, memtrim_cb, NULL);
		if (!memtrim_ev)
			return;
	}
	if (evtimer_pending(memtrim_ev, NULL))
		return;
	struct timeval tv = { MEMTRIM_DELAY_S, 0 };
	evtimer_add(memtrim_ev, &tv);
}

void memtrim_stop(void)
{
	if (memtrim_ev) {
		event_free(memtrim_ev);
		memtrim_ev = NULL;
	}
}
