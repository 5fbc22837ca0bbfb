/* The background indexer (imap/search_index.h). SEARCH notices messages
 * the index does not hold (it then reads them from their files, so its
 * answer is right either way) and kicks this: one job per user
 * (imap/user_job.h) walks the user's messages in (mailbox, UID) order,
 * SEARCH_INDEX_STEP of them per step, computing each entry from the
 * message bytes (mail/searchdoc.c) and storing the step's entries in one
 * transaction. A SEARCH during it sees the index grow. APPEND and LMTP
 * kick it too (search_index_kick_soon): their messages are stored
 * without an entry, and a burst of them becomes one step here, one FTS5
 * segment and one metadata commit (store/sqlite/search.c) instead of one
 * each inside every message's fsync'd transaction. */
#include "imap/search_index.h"
#include "imap/user_job.h"
#include "core/util.h"
#include "mail/searchdoc.h"
#include "store/store.h"

#include <stdlib.h>

static void *index_make(const char *data, size_t len)
{
	return mail_search_doc_new(data, len);
}

static int index_put(struct store_user *u, char (*blobs)[65], void *const *items, size_t n)
{
	/* store_search_put takes the entries side by side: a shallow copy. */
	struct search_doc *docs = xcalloc(n ? n : 1, sizeof(*docs));
	for (size_t i = 0; i < n; i++)
		docs[i] = *(const struct search_doc *)items[i];
	int r = store_search_put(u, blobs, docs, n);
	free(docs);
	return r;
}

static void index_free(void *item)
{
	mail_search_doc_free(item);
}

static const struct user_job_blobs index_blobs = { store_search_pending, SEARCH_INDEX_STEP,
						   index_make, index_put, index_free };

/* One step: the next unindexed messages after the cursor (pool thread);
 * when none are left, a batch of the entries expunges left behind
 * (store_search_gc; store_search_put removes them alongside new ones). */
static bool index_step(struct user_job *j, struct store_user *u)
{
	if (user_job_blobs_step(j, u, &index_blobs))
		return true;
	bool more = false;
	return store_search_gc(u, &more) == STORE_OK && more;
}

static const struct user_job_kind index_kind = { "search_index", "indexed", index_step };

void search_index_kick(struct event_base *base, const char *user)
{
	user_job_kick(&index_kind, base, user);
}

/* lazyidx: [store] index_delay_ms and index_batch (config.c defaults). */
static unsigned g_delay_ms = 30000, g_batch = 256;

void search_index_configure(unsigned delay_ms, unsigned batch)
{
	g_delay_ms = delay_ms;
	g_batch = batch;
}

void search_index_kick_new(struct event_base *base, const char *user, size_t n)
{
	user_job_kick_soon(&index_kind, base, user, g_delay_ms, g_batch, n);
}

void search_index_kick_soon(struct event_base *base, const char *user)
{
	search_index_kick_new(base, user, 1);
}

void search_index_kick_gc(struct event_base *base, const char *user)
{
	search_index_kick_new(base, user, 0);
}

size_t search_index_running(void)
{
	return user_job_running(&index_kind);
}
