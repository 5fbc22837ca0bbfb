/* Which sessions of a worker thread are logged in as which user, so that
 * a change the store's watcher reports for a user reaches exactly that
 * user's sessions. The registry is per thread (_Thread_local): a session
 * lives and dies on its worker's thread, so no lock is needed. A fixed
 * array of hash chains costs 8 KB per thread and needs no freeing at
 * thread exit.
 *
 * Beside it, one process-wide table (under a mutex) counts the sessions
 * of each user per worker slot, so that a change is posted only to the
 * workers that have a session of that user (imap_notify_slots): posted
 * to every worker, each change woke all of them, a cost that grew with
 * the number of cores (issue #14). */
#include "imap/notify.h"
#include "imap/session.h"
#include "core/util.h"
#include "store/store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NOTIFY_BUCKETS 1024
#define SLOT_BITS 64

static _Thread_local struct imap_notify_entry *tl_buckets[NOTIFY_BUCKETS];
static _Thread_local int tl_slot = -1;

static struct imap_notify_entry **notify_bucket(const char *user)
{
	return &tl_buckets[hash_bytes(user, strlen(user)) % NOTIFY_BUCKETS];
}

/* ---- the process-wide table: sessions per (user, slot) ---- */

struct interest {
	char *user;
	int slot;
	unsigned refs;
	struct interest *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct interest *g_buckets[NOTIFY_BUCKETS];

static struct interest **interest_bucket(const char *user)
{
	return &g_buckets[hash_bytes(user, strlen(user)) % NOTIFY_BUCKETS];
}

static void interest_change(const char *user, int slot, int delta)
{
	pthread_mutex_lock(&g_lock);
	struct interest **pp = interest_bucket(user);
	while (*pp && ((*pp)->slot != slot || strcmp((*pp)->user, user) != 0))
		pp = &(*pp)->next;
	if (delta > 0) {
		if (!*pp) {
			struct interest *in = xcalloc(1, sizeof(*in));
			in->user = xstrdup(user);
			in->slot = slot;
			*pp = in;
		}
		(*pp)->refs++;
	} else if (*pp && --(*pp)->refs == 0) {
		struct interest *gone = *pp;
		*pp = gone->next;
		free(gone->user);
		free(gone);
	}
	pthread_mutex_unlock(&g_lock);
}

void imap_notify_thread_slot(unsigned slot)
{
	tl_slot = slot < SLOT_BITS ? (int)slot : -1;
}

bool imap_notify_slots(const char *user, uint64_t *mask)
{
	uint64_t m = 0;
	bool exact = true;
	pthread_mutex_lock(&g_lock);
	for (struct interest *in = *interest_bucket(user); in && exact; in = in->next) {
		if (strcmp(in->user, user) != 0)
			continue;
		if (in->slot < 0)
			exact = false;
		else
			m |= (uint64_t)1 << in->slot;
	}
	pthread_mutex_unlock(&g_lock);
	*mask = m;
	return exact;
}

/* ---- the thread's registry ---- */

void imap_notify_register(struct imap_notify_entry *e, struct imap_session *sess,
			  const char *user)
{
	imap_notify_unregister(e);
	e->user = xstrdup(user);
	e->sess = sess;
	e->slot = tl_slot;
	struct imap_notify_entry **b = notify_bucket(user);
	e->next = *b;
	*b = e;
	/* Counted before the store watches: a change from now on reaches
	 * this thread. */
	interest_change(user, e->slot, +1);
	store_watch_user(user);
}

void imap_notify_unregister(struct imap_notify_entry *e)
{
	if (!e->user)
		return;
	struct imap_notify_entry **pp = notify_bucket(e->user);
	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (*pp)
		*pp = e->next;
	store_unwatch_user(e->user);
	interest_change(e->user, e->slot, -1);
	free(e->user);
	e->user = NULL;
	e->next = NULL;
}

void imap_notify_user(const char *user)
{
	/* imap_session_notify only marks the session or writes to it; it
	 * never frees a session, so the chain stays valid while we walk. */
	for (struct imap_notify_entry *e = *notify_bucket(user); e; e = e->next)
		if (strcmp(e->user, user) == 0)
			imap_session_notify(e->sess);
}
