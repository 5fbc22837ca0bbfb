/* Background work per user (imap/user_job.h). Each step is a separate
 * work-pool job queued behind whatever is waiting, so a job over 100,000
 * messages never holds a thread or a session for long. It lives in imap/
 * because its kinds need both the MIME code and the store, and run on the
 * same pool as the commands. The running jobs are kept in one list (one
 * per kind and user at most); a job still queued when the server stops
 * stays on it. */
#include "imap/user_job.h"
#include "imap/map_slots.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct user_job *g_jobs;

/* Message bytes whose items a step stores together at most (plus one). */
#define USER_JOB_STEP_BYTES (8u << 20)

/* One step (pool thread). */
static void job_step(struct workpool_job *wj)
{
	struct user_job *j = (struct user_job *)wj;
	j->more = false;
	pthread_mutex_lock(&g_lock);
	j->waiting = false; /* a kick from now on may come after the pass looked */
	if (j->mailbox == 0 && j->uid == 0)
		j->kicks = 0; /* a pass begins: what came before it, it covers */
	pthread_mutex_unlock(&g_lock);
	struct store_user *u = store_user_open(j->user);
	if (!u)
		return;
	j->more = j->kind->step(j, u);
	store_user_close(u);
}

static void job_tick_arm(struct user_job *j, uint64_t wait_ms);

/* A tick of a waiting job (its base's loop): the pass starts once due,
 * or once enough kicks asked for it; otherwise the next tick. The job
 * stays on g_jobs while waiting, so j is alive here. */
static void job_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct user_job *j = arg;
	uint64_t now = now_ms();
	pthread_mutex_lock(&g_lock);
	bool go = now >= j->due_ms || j->kicks >= j->batch;
	uint64_t left = go ? 0 : j->due_ms - now;
	pthread_mutex_unlock(&g_lock);
	if (go)
		workpool_submit(&j->wp);
	else
		job_tick_arm(j, left);
}

static void job_tick_arm(struct user_job *j, uint64_t wait_ms)
{
	if (wait_ms > USER_JOB_TICK_MS)
		wait_ms = USER_JOB_TICK_MS;
	struct timeval tv = { (time_t)(wait_ms / 1000), (suseconds_t)(wait_ms % 1000) * 1000 };
	/* event_base_once is thread-safe (evthread_use_pthreads, net/worker.c). */
	if (event_base_once(j->wp.base, -1, EV_TIMEOUT, job_tick_cb, j, &tv) < 0)
		workpool_submit(&j->wp);
}

/* Submits j's next step now, or after delay_ms on its base's loop. */
static void job_submit_after(struct user_job *j, unsigned delay_ms)
{
	atomic_store(&j->wp.cancelled, false);
	if (delay_ms == 0) {
		workpool_submit(&j->wp);
		return;
	}
	pthread_mutex_lock(&g_lock);
	j->waiting = true;
	j->due_ms = now_ms() + delay_ms;
	pthread_mutex_unlock(&g_lock);
	job_tick_arm(j, delay_ms);
}

/* After a step, on the worker's loop: the next step, one more pass when
 * kicked meanwhile, or the end. The choice between the last two is made
 * under the lock, so a kick is never lost between them. */
static void job_step_done(struct workpool_job *wj)
{
	struct user_job *j = (struct user_job *)wj;
	if (j->more && !wj->skipped) {
		job_submit_after(j, 0);
		return;
	}
	bool again = false;
	unsigned delay_ms = j->delay_ms;
	pthread_mutex_lock(&g_lock);
	bool quiet = j->quiet;
	if (j->again && !wj->skipped) {
		again = true;
		j->again = false;
		if (j->asked)
			delay_ms = 0;
		j->asked = false;
	} else {
		for (struct user_job **pp = &g_jobs; *pp; pp = &(*pp)->next) {
			if (*pp == j) {
				*pp = j->next;
				break;
			}
		}
	}
	pthread_mutex_unlock(&g_lock);
	if (again) {
		j->mailbox = 0;
		j->uid = 0;
		job_submit_after(j, delay_ms);
		return;
	}
	if (quiet)
		log_debug("event=%s_done user=%s %s=%zu", j->kind->name, j->user,
			  j->kind->count_key, j->count);
	else
		log_info("event=%s_done user=%s %s=%zu", j->kind->name, j->user,
			 j->kind->count_key, j->count);
	free(j->user);
	free(j);
}

static void job_kick(const struct user_job_kind *kind, struct event_base *base, const char *user,
		     bool soon, unsigned delay_ms, unsigned batch, size_t news)
{
	if (!workpool_running() || !base || !user)
		return;
	pthread_mutex_lock(&g_lock);
	for (struct user_job *j = g_jobs; j; j = j->next) {
		if (j->kind == kind && strcmp(j->user, user) == 0) {
			/* A pass already under way may be past what is new. */
			j->again |= !j->waiting;
			j->quiet &= soon;
			if (soon)
				j->kicks += news;
			else if (j->waiting)
				j->due_ms = 0; /* asked for now: starts at the next tick */
			else
				j->asked = true; /* the next pass without the delay */
			pthread_mutex_unlock(&g_lock);
			return;
		}
	}
	struct user_job *j = xcalloc(1, sizeof(*j));
	j->kind = kind;
	j->user = xstrdup(user);
	j->quiet = soon;
	j->delay_ms = soon ? delay_ms : 0;
	j->waiting = j->delay_ms > 0;
	j->kicks = soon ? news : 0;
	j->batch = batch > 0 ? batch : 1;
	j->wp.run = job_step;
	j->wp.done = job_step_done;
	j->wp.background = true;
	j->wp.base = base;
	j->next = g_jobs;
	g_jobs = j;
	pthread_mutex_unlock(&g_lock);
	if (soon)
		log_debug("event=%s_start user=%s", kind->name, user);
	else
		log_info("event=%s_start user=%s", kind->name, user);
	job_submit_after(j, j->delay_ms);
}

void user_job_kick(const struct user_job_kind *kind, struct event_base *base, const char *user)
{
	job_kick(kind, base, user, false, 0, 1, 0);
}

void user_job_kick_soon(const struct user_job_kind *kind, struct event_base *base,
			const char *user, unsigned delay_ms, unsigned batch, size_t news)
{
	job_kick(kind, base, user, true, delay_ms, batch, news);
}

/* Stores k items of a step and frees them; false on a store error. */
static bool blobs_put_items(struct user_job *j, struct store_user *u, const struct user_job_blobs *b,
			    char (*blobs)[65], void **items, size_t k)
{
	bool ok = b->put(u, blobs, items, k) == STORE_OK;
	if (ok)
		j->count += k;
	else
		log_warn("event=%s_error user=%s", j->kind->name, j->user);
	for (size_t i = 0; i < k; i++)
		b->free_item(items[i]);
	return ok;
}

bool user_job_blobs_step(struct user_job *j, struct store_user *u, const struct user_job_blobs *b)
{
	char (*blobs)[65] = NULL;
	size_t n = 0;
	bool more = false;
	if (b->pending(u, &j->mailbox, &j->uid, b->max, &blobs, &n) == STORE_OK && n > 0) {
		void **items = xcalloc(n, sizeof(*items));
		size_t k = 0, bytes = 0;
		more = true; /* a step of missing files only still goes on */
		for (size_t i = 0; i < n; i++) {
			const char *data;
			size_t len;
			/* The cursor has moved past a missing file anyway. */
			if (store_blob_map_once(u, blobs[i], &data, &len) != STORE_OK)
				continue;
			/* A big message takes one of APPEND's parse slots:
			 * its mapped pages count in the RSS while parsed. */
			bool slot = len >= MAP_SLOT_MIN_BYTES;
			if (slot)
				map_slot_take();
			items[k] = b->make(data, len);
			store_blob_unmap(data, len);
			if (slot)
				map_slot_give();
			memmove(blobs[k++], blobs[i], sizeof(blobs[0]));
			bytes += len;
			/* Items of big messages are stored a few at a time: what
			 * a step holds in memory stays bounded by bytes, not only
			 * by its count (64 entries of 1 MiB body text each). */
			if (bytes >= USER_JOB_STEP_BYTES) {
				more = blobs_put_items(j, u, b, blobs, items, k) && more;
				k = bytes = 0;
			}
		}
		if (k > 0)
			more = blobs_put_items(j, u, b, blobs, items, k) && more;
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
