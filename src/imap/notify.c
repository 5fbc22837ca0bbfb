/* Which sessions of a worker thread are logged in as which user, so that
 * a change the store's watcher reports for a user reaches exactly that
 * user's sessions. The registry is per thread (_Thread_local): a session
 * lives and dies on its worker's thread, and each worker is told about
 * every change (server_post_all), so no lock is needed. A fixed array of
 * hash chains costs 8 KB per thread and needs no freeing at thread exit. */
#include "imap/notify.h"
#include "imap/session.h"
#include "core/util.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define NOTIFY_BUCKETS 1024

static _Thread_local struct imap_notify_entry *tl_buckets[NOTIFY_BUCKETS];

static struct imap_notify_entry **notify_bucket(const char *user)
{
	return &tl_buckets[hash_bytes(user, strlen(user)) % NOTIFY_BUCKETS];
}

void imap_notify_register(struct imap_notify_entry *e, struct imap_session *sess,
			  const char *user)
{
	imap_notify_unregister(e);
	e->user = xstrdup(user);
	e->sess = sess;
	struct imap_notify_entry **b = notify_bucket(user);
	e->next = *b;
	*b = e;
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
