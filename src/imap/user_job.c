/* Background work per user (imap/user_job.h). Each step is a separate
 * work-pool job queued behind whatever is waiting, so a job over 100,000
 * messages never holds a thread or a session for long. It lives in imap/
 * because its kinds need both the MIME code and the store, and run on the
 * same pool as the commands. The running jobs are kept in one list (one
 * per kind and user at most); a job still queued when the server stops
 * stays on it. */
#include "imap/user_job.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct user_job *g_jobs;

/* One step (pool thread). */
static void job_step(struct workpool_job *wj)
{
	struct user_job *j = (struct user_job *)wj;
	j->more = false;
	struct store_user *u = store_user_open(j->user);
	if (!u)
		return;
	j->more = j->kind->step(j, u);
	store_user_close(u);
}

static void job_forget(struct user_job *j)
{
	pthread_mutex_lock(&g_lock);
	for (struct user_job **pp = &g_jobs; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
	free(j->user);
	free(j);
}

/* After a step, on the worker's loop: the next step, or the end. */
static void job_step_done(struct workpool_job *wj)
{
	struct user_job *j = (struct user_job *)wj;
	if (j->more && !wj->skipped) {
		atomic_store(&wj->cancelled, false);
		workpool_submit(wj);
		return;
	}
	log_info("event=%s_done user=%s %s=%zu", j->kind->name, j->user, j->kind->count_key,
		 j->count);
	job_forget(j);
}

void user_job_kick(const struct user_job_kind *kind, struct event_base *base, const char *user)
{
	if (!workpool_running() || !base || !user)
		return;
	pthread_mutex_lock(&g_lock);
	for (struct user_job *j = g_jobs; j; j = j->next) {
		if (j->kind == kind && strcmp(j->user, user) == 0) {
			pthread_mutex_unlock(&g_lock);
			return;
		}
	}
	struct user_job *j = xcalloc(1, sizeof(*j));
	j->kind = kind;
	j->user = xstrdup(user);
	j->wp.run = job_step;
	j->wp.done = job_step_done;
	j->wp.base = base;
	atomic_store(&j->wp.cancelled, false);
	j->next = g_jobs;
	g_jobs = j;
	pthread_mutex_unlock(&g_lock);
	log_info("event=%s_start user=%s", kind->name, user);
	workpool_submit(&j->wp);
}

bool user_job_blobs_step(struct user_job *j, struct store_user *u, const struct user_job_blobs *b)
{
	char (*blobs)[65] = NULL;
	size_t n = 0;
	bool more = false;
	if (b->pending(u, &j->mailbox, &j->uid, b->max, &blobs, &n) == STORE_OK && n > 0) {
		void **items = xcalloc(n, sizeof(*items));
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			const char *data;
			size_t len;
			/* The cursor has moved past a missing file anyway. */
			if (store_blob_map(u, blobs[i], &data, &len) != STORE_OK)
				continue;
			items[k] = b->make(data, len);
			store_blob_unmap(data, len);
			memmove(blobs[k++], blobs[i], sizeof(blobs[0]));
		}
		if (b->put(u, blobs, items, k) == STORE_OK) {
			j->count += k;
			/* A step of missing files only still goes on. */
			more = true;
		} else {
			log_warn("event=%s_error user=%s", j->kind->name, j->user);
		}
		for (size_t i = 0; i < k; i++)
			b->free_item(items[i]);
		free(items);
	}
	free(blobs);
	return more;
}

size_t user_job_running(const struct user_job_kind *kind)
{
	size_t n = 0;
	pthread_mutex_lock(&g_lock);
	for (struct user_job *j = g_jobs; j; j = j->next)
		n += j->kind == kind;
	pthread_mutex_unlock(&g_lock);
	return n;
}
