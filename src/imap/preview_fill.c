/* The background preview maker (imap/preview_fill.h). FETCH PREVIEW
 * notices a message without a stored preview (delivered before the
 * preview migration) and kicks this: one job per user walks the user's
 * messages in (mailbox, UID) order, PREVIEW_FILL_STEP of them per step,
 * makes each preview from the message bytes (mail/preview.c) and stores
 * the step's previews in one transaction. Each step is a separate
 * work-pool job queued behind whatever is waiting, as the search indexer
 * does (imap/search_index.c), so a large old mailbox never holds a thread
 * or a session for long.
 *
 * RFC 8970 4: a FETCH PREVIEW (LAZY) answers NIL for a preview that is
 * not made yet, and the server should then make it so that a later
 * request gets it; this is that maker. */
#include "imap/preview_fill.h"
#include "core/log.h"
#include "core/util.h"
#include "core/workpool.h"
#include "mail/preview.h"
#include "store/store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct fill_job {
	struct workpool_job wp;      /* first member */
	char *user;
	int64_t mailbox;             /* cursor: the last message looked at */
	uint32_t uid;
	size_t made;                 /* previews stored so far */
	bool more;                   /* the last step found messages */
	struct fill_job *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fill_job *g_jobs;
static size_t g_njobs;

/* One step: the next messages without a preview after the cursor (pool
 * thread). */
static void fill_step(struct workpool_job *wj)
{
	struct fill_job *j = (struct fill_job *)wj;
	j->more = false;
	struct store_user *u = store_user_open(j->user);
	if (!u)
		return;
	char (*blobs)[65] = NULL;
	size_t n = 0;
	if (store_preview_pending(u, &j->mailbox, &j->uid, PREVIEW_FILL_STEP, &blobs, &n) ==
		    STORE_OK &&
	    n > 0) {
		char **previews = xcalloc(n, sizeof(*previews));
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			const char *data;
			size_t len;
			/* A missing file gets no preview; the cursor has
			 * moved past it anyway. */
			if (store_blob_map(u, blobs[i], &data, &len) != STORE_OK)
				continue;
			previews[k] = mail_preview_compute(data, len);
			store_blob_unmap(data, len);
			memmove(blobs[k++], blobs[i], sizeof(blobs[0]));
		}
		if (store_preview_put(u, blobs, previews, k) == STORE_OK) {
			j->made += k;
			j->more = true;
		} else {
			log_warn("event=preview_fill_error user=%s", j->user);
		}
		for (size_t i = 0; i < k; i++)
			free(previews[i]);
		free(previews);
	}
	free(blobs);
	store_user_close(u);
}

static void fill_forget(struct fill_job *j)
{
	pthread_mutex_lock(&g_lock);
	for (struct fill_job **pp = &g_jobs; *pp; pp = &(*pp)->next) {
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
static void fill_step_done(struct workpool_job *wj)
{
	struct fill_job *j = (struct fill_job *)wj;
	if (j->more && !wj->skipped) {
		atomic_store(&wj->cancelled, false);
		workpool_submit(wj);
		return;
	}
	log_info("event=preview_fill_done user=%s made=%zu", j->user, j->made);
	fill_forget(j);
}

void preview_fill_kick(struct event_base *base, const char *user)
{
	if (!workpool_running() || !base || !user)
		return;
	pthread_mutex_lock(&g_lock);
	for (struct fill_job *j = g_jobs; j; j = j->next) {
		if (strcmp(j->user, user) == 0) {
			pthread_mutex_unlock(&g_lock);
			return;
		}
	}
	struct fill_job *j = xcalloc(1, sizeof(*j));
	j->user = xstrdup(user);
	j->wp.run = fill_step;
	j->wp.done = fill_step_done;
	j->wp.base = base;
	atomic_store(&j->wp.cancelled, false);
	j->next = g_jobs;
	g_jobs = j;
	g_njobs++;
	pthread_mutex_unlock(&g_lock);
	log_info("event=preview_fill_start user=%s", user);
	workpool_submit(&j->wp);
}

size_t preview_fill_running(void)
{
	pthread_mutex_lock(&g_lock);
	size_t n = g_njobs;
	pthread_mutex_unlock(&g_lock);
	return n;
}
