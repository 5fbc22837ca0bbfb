/* The background indexer: brings the search index (store.h "Search
 * index") up to date, a bounded step at a time on the work pool, for
 * messages stored before it existed and, since issue #14, for every new
 * message: APPEND and LMTP no longer write the entry in their durable
 * transaction (it is derived from the file) but kick this. */
#ifndef RAMPART_IMAP_SEARCH_INDEX_H
#define RAMPART_IMAP_SEARCH_INDEX_H

#include <stddef.h>

struct event_base;

/* Messages indexed per step: one step holds a pool thread for about as
 * long as a small SEARCH, then goes to the back of the queue. */
#define SEARCH_INDEX_STEP 64

/* Starts indexing the user's unindexed messages unless that is already
 * under way; steps are chained through base (a worker's loop). Without a
 * work pool (tools, unit tests) it does nothing. Thread: base's. */
void search_index_kick(struct event_base *base, const char *user);
/* newmsg: messages just stored (APPEND, LMTP) are indexed here, not in
 * their storing transaction: this waits `[store] index_delay_ms` (30 s),
 * or until `index_batch` (256) new messages kicked it, or a SEARCH found the
 * index behind, then indexes what is new; EXPUNGE and CLOSE kick it too,
 * for the entries they left (store_search_gc). An FTS5 transaction of
 * one entry costs about three times what an entry costs in a batch of
 * eight (its segment and merges), and a message expunged before the wait
 * ends (a draft saved again, mail a client rule deleted, imaptest's
 * churn) is never indexed at all (lazyidx, BENCHMARKS.md ninth session).
 * SEARCH is right meanwhile: it reads what the index lacks from the
 * files. Any thread. */
void search_index_kick_new(struct event_base *base, const char *user, size_t n);
/* One new message (LMTP's new_mail callback). */
void search_index_kick_soon(struct event_base *base, const char *user);
/* EXPUNGE/CLOSE: entries to remove, no new mail (not counted in the
 * batch; the removal waits for the next pass). */
void search_index_kick_gc(struct event_base *base, const char *user);
/* The wait and batch above (`[store]`); before the workers start. */
void search_index_configure(unsigned delay_ms, unsigned batch);
/* How many users are being indexed now (for tests and logs). */
size_t search_index_running(void);

#endif
