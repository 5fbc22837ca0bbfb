/* Change notifications, routed to sessions: which sessions of this worker
 * thread belong to which user, and which worker threads have sessions of a
 * user at all (so that a change wakes only those workers). The network
 * layer runs imap_notify_user on the workers it is told to; finding the
 * sessions is the IMAP layer's business. */
#ifndef RAMPART_IMAP_NOTIFY_H
#define RAMPART_IMAP_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

struct imap_session;

/* A session's place in its thread's registry; zeroed means "not in it". */
struct imap_notify_entry {
	char *user;
	struct imap_session *sess;
	struct imap_notify_entry *next;
	int slot;     /* the thread's slot when registered */
};

/* The calling thread is worker number `slot` (hooks.worker_start). A
 * thread that never says so counts as "any worker". */
void imap_notify_thread_slot(unsigned slot);
/* Which workers have sessions of `user`: true with *mask (bit i: worker
 * i; 0: none in this process), or false when a change must go to every
 * worker (a session on a thread without a slot, or a slot beyond 63).
 * Thread-safe: for the change watcher's thread. */
bool imap_notify_slots(const char *user, uint64_t *mask);

/* The session logged in as `user` on this thread: route that user's
 * changes to it, and have the store watch the user's mail. */
void imap_notify_register(struct imap_notify_entry *e, struct imap_session *sess,
			  const char *user);
/* The session is going away (or logging in again). */
void imap_notify_unregister(struct imap_notify_entry *e);
/* The mail of `user` changed: every session of that user on the calling
 * worker thread reports what its client may see (imap_session_notify). */
void imap_notify_user(const char *user);

#endif
