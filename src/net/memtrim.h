/* Giving freed heap back to the kernel after a burst of connections
 * (net/memtrim.c). Called on a worker's thread only. */
#ifndef RAMPART_NET_MEMTRIM_H
#define RAMPART_NET_MEMTRIM_H

struct event_base;

/* A connection came or went on this worker: trim the heap once the burst
 * is MEMTRIM_DELAY_S seconds old (at most once per that period). */
void memtrim_note(struct event_base *base);
/* The worker's loop has ended: its timer goes. */
void memtrim_stop(void);

#endif
