/* The background indexer (imap/search_index.h). SEARCH notices messages
 * the index does not hold (it then reads them from their files, so its
 * answer is right either way) and kicks this: one job per user walks the
 * user's messages in (mailbox, UID) order, SEARCH_INDEX_STEP of them per
 * step, computing each entry from the message bytes (mail/searchdoc.c)
 * and storing the step's entries in one transaction. Each step is a
 * separate work-pool job queued behind whatever is waiting, so indexing
 * 100,000 messages never holds a thread or a session for long, and a
 * SEARCH during it sees the index grow.
 *
 * It lives in imap/ because it needs both the MIME code and the store,
 * and runs on the same pool as the commands. The running jobs are kept
 * in a list (one per user at most); a job still queued when the server
 * stops stays on it. */
#include "imap/search_index.h"
#include "core/log.h"
#include "core/util.h"
#include "core/workpool.h"
#include "mail/searchdoc.h"
#include "store/store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct index_job {
	struct workpool_job wp;      /* first member */
	char *user;
	int64_t mailbox;             /* cursor: the last message looked at */
	uint32_t uid;
	size_t indexed;              /* entries stored so far */
	bool more;                   /* the last step found messages to index */
	struct index_job *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct index_job *g_jobs;
static size_t g_njobs;

/* One step: the next unindexed messages after the cursor (pool thread). */
static void index_step(struct workpool_job *wj)
{
	struct index_job *j = (struct index_job *)wj;
	j->more = false;
	struct store_user *u = store_user_open(j->user);
	if (!u)
		return;
	char (*blobs)[65] = NULL;
	size_t n = 0;
	if (store_search_pending(u, &j->mailbox, &j->uid, SEARCH_INDEX_STEP, &blobs, &n) ==
		    STORE_OK &&
	    n > 0) {
		struct search_doc *docs = xcalloc(n, sizeof(*docs));
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			const char *data;
			size_t len;
			/* A missing file gets no entry (SEARCH reports it);
			 * the cursor has moved past it anyway. */
			if (store_blob_map(u, blobs[i], &data, &len) != STORE_OK)
				continue;
			mail_search_doc_compute(data, len, &docs[k]);
			store_blob_unmap(data, len);
			memmove(blobs[k++], blobs[i], sizeof(blobs[0]));
		}
		n = k;
		if (store_search_put(u, blobs, docs, n) == STORE_OK) {
			j->indexed += n;
			/* A step of missing files only still goes on. */
			j->more = true;
		} else {
			log_warn("event=search_index_error user=%s", j->user);
		}
		for (size_t i = 0; i < n; i++)
			search_doc_clear(&docs[i]);
		free(docs);
	}
	free(blobs);
	store_user_close(u);
}

static void index_forget(struct index_job *j)
{
	pthread_mutex_lock(&g_lock);
	for (struct index_job **pp = &g_jobs; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			g_njobs--;
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
	free(j->user);
	free(j);
}

/* After a step, on the worker's loop: the next step, or the end. */
static void index_step_done(struct workpool_job *wj)
{
	struct index_job *j = (struct index_job *)wj;
	if (j->more && !wj->skipped) {
		atomic_store(&wj->cancelled, false);
		workpool_submit(wj);
		return;
	}
	log_info("event=search_index_done user=%s indexed=%zu", j->user, j->indexed);
	index_forget(j);
}

void search_index_kick(struct event_base *base, const char *user)
{
	if (!workpool_running() || !base || !user)
		return;
	pthread_mutex_lock(&g_lock);
	for (struct index_job *j = g_jobs; j; j = j->next) {
		if (strcmp(j->user, user) == 0) {
			pthread_mutex_unlock(&g_lock);
			return;
		}
	}
	struct index_job *j = xcalloc(1, sizeof(*j));
	j->user = xstrdup(user);
	j->wp.run = index_step;
	j->wp.done = index_step_done;
	j->wp.base = base;
	atomic_store(&j->wp.cancelled, false);
	j->next = g_jobs;
	g_jobs = j;
	g_njobs++;
	pthread_mutex_unlock(&g_lock);
	log_info("event=search_index_start user=%s", user);
	workpool_submit(&j->wp);
}

size_t search_index_running(void)
{
	pthread_mutex_lock(&g_lock);
	size_t n = g_njobs;
	pthread_mutex_unlock(&g_lock);
	return n;
}
