/* Background work per user (imap/user_job.h). Each step is a separate
 * work-pool job queued behind whatever is waiting, so a job over 100,000
 * messages never holds a thread or a session for long. It lives in imap/
 * because its kinds need both the MIME code and the store, and run on the
 * same pool as the commands. The running jobs are kept in one table (one
 * per kind and user at most, found by a hash of both); a job still
 * queued when the server stops stays in it.
 *
 * A job waiting for its delay has one timer, on its base, armed for the
 * end of the wait; a kick that completes a batch (or a SEARCH asking)
 * makes that timer fire at once (event_active, thread-safe). Until the
 * tenth session of issue #14 a waiting job ticked every second instead:
 * with thousands of users receiving mail that was thousands of wakeups a
 * second, each taking the table's lock. */
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
/* The jobs: chains (through next) in g_nb buckets, a power of two or 0;
 * under g_lock. */
static struct user_job **g_tab;
static size_t g_nb, g_n;

static size_t job_hash(const struct user_job_kind *kind, const char *user)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)(uintptr_t)kind;
	for (const unsigned char *p = (const unsigned char *)user; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 32));
}

/* The link that holds the job of (kind, user), or the NULL link at the
 * end of its chain; NULL when the table is empty. Under the lock. */
static struct user_job **job_find(const struct user_job_kind *kind, const char *user)
{
	if (g_nb == 0)
		return NULL;
	struct user_job **pp = &g_tab[job_hash(kind, user) & (g_nb - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->kind == kind && strcmp((*pp)->user, user) == 0)
			break;
	return pp;
}

static void job_table_add(struct user_job *j)
{
	if (g_n >= g_nb) {
		size_t nb = g_nb ? g_nb * 2 : 64;
		struct user_job **tab = xcalloc(nb, sizeof(*tab));
		for (size_t i = 0; i < g_nb; i++) {
			for (struct user_job *e = g_tab[i], *next; e; e = next) {
				next = e->next;
				size_t b = job_hash(e->kind, e->user) & (nb - 1);
				e->next = tab[b];
				tab[b] = e;
			}
		}
		free(g_tab);
		g_tab = tab;
		g_nb = nb;
	}
	size_t b = job_hash(j->kind, j->user) & (g_nb - 1);
	j->next = g_tab[b];
	g_tab[b] = j;
	g_n++;
}

static void job_table_remove(struct user_job *j)
{
	struct user_job **pp = job_find(j->kind, j->user);
	if (pp && *pp == j) {
		*pp = j->next;
		g_n--;
	}
}

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

/* Sets the job waiting for delay_ms (its timer is armed by the caller
 * after the lock). Under the lock. */
static void job_wait_begin(struct user_job *j, unsigned delay_ms)
{
	j->waiting = true;
	j->fired = false;
	j->due_ms = now_ms() + delay_ms;
}

/* Adds the wait's timer for wait_ms: 0, or -1 when libevent could not.
 * Thread-safe: evthread_use_pthreads (net/worker.c). */
static int job_timer_add(struct user_job *j, uint64_t wait_ms)
{
	struct timeval tv = { (time_t)(wait_ms / 1000), (suseconds_t)(wait_ms % 1000) * 1000 };
	return evtimer_add(j->timer, &tv);
}

/* Arms the wait's timer; the job's base's thread only. */
static void job_timer_arm(struct user_job *j, uint64_t wait_ms)
{
	if (job_timer_add(j, wait_ms) == 0)
		return;
	pthread_mutex_lock(&g_lock);
	bool go = !j->fired;
	j->fired = true;
	pthread_mutex_unlock(&g_lock);
	if (go)
		workpool_submit(&j->wp);
}

/* The job's timer (its base's loop): the wait is over when due, or when
 * a kick found the batch complete or was asked (event_active). fired
 * makes the submit happen once per wait, however many activations and
 * expiries meet. The job is in the table while it waits, so alive. */
static void job_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct user_job *j = arg;
	uint64_t now = now_ms();
	bool go = false;
	uint64_t left = 0;
	pthread_mutex_lock(&g_lock);
	if (j->waiting && !j->fired) {
		if (now >= j->due_ms || j->kicks >= j->batch) {
			go = true;
			j->fired = true;
		} else {
			left = j->due_ms - now;
		}
	}
	pthread_mutex_unlock(&g_lock);
	if (go)
		workpool_submit(&j->wp);
	else if (left > 0)
		job_timer_arm(j, left);
}

/* Submits j's next step now, or after delay_ms (its timer). */
static void job_submit_after(struct user_job *j, unsigned delay_ms)
{
	atomic_store(&j->wp.cancelled, false);
	if (delay_ms == 0) {
		workpool_submit(&j->wp);
		return;
	}
	pthread_mutex_lock(&g_lock);
	job_wait_begin(j, delay_ms);
	pthread_mutex_unlock(&g_lock);
	job_timer_arm(j, delay_ms);
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
		job_table_remove(j);
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
	event_free(j->timer); /* not pending: the job no longer waits */
	free(j->user);
	free(j);
}

static void job_kick(const struct user_job_kind *kind, struct event_base *base, const char *user,
		     bool soon, unsigned delay_ms, unsigned batch, size_t news)
{
	if (!workpool_running() || !base || !user)
		return;
	pthread_mutex_lock(&g_lock);
	struct user_job **found = job_find(kind, user);
	if (found && *found) {
		struct user_job *j = *found;
		/* A pass already under way may be past what is new. */
		j->again |= !j->waiting;
		j->quiet &= soon;
		bool now = false;
		if (soon) {
			j->kicks += news;
			now = j->waiting && j->kicks >= j->batch;
		} else if (j->waiting) {
			j->due_ms = 0; /* asked for now */
			now = true;
		} else {
			j->asked = true; /* the next pass without the delay */
		}
		/* Under the lock: the job cannot end (and free its timer)
		 * before the activation is queued. */
		if (now && !j->fired)
			event_active(j->timer, EV_TIMEOUT, 1);
		pthread_mutex_unlock(&g_lock);
		return;
	}
	struct user_job *j = xcalloc(1, sizeof(*j));
	j->kind = kind;
	j->user = xstrdup(user);
	j->quiet = soon;
	j->delay_ms = soon ? delay_ms : 0;
	j->kicks = soon ? news : 0;
	j->batch = batch > 0 ? batch : 1;
	j->wp.run = job_step;
	j->wp.done = job_step_done;
	j->wp.background = true;
	j->wp.base = base;
	j->timer = evtimer_new(base, job_timer_cb, j);
	if (!j->timer)
		fatal("out of memory");
	/* Waiting (or not) before it can be found: a kick that finds it
	 * from now on sees its real state. */
	bool submit = true;
	if (j->delay_ms > 0) {
		job_wait_begin(j, j->delay_ms);
		/* Armed under the lock: this may be any thread, and once the
		 * lock is released the job may end (and free its timer). */
		submit = job_timer_add(j, j->delay_ms) < 0;
		j->fired = submit;
	}
	job_table_add(j);
	pthread_mutex_unlock(&g_lock);
	if (soon)
		log_debug("event=%s_start user=%s", kind->name, user);
	else
		log_info("event=%s_start user=%s", kind->name, user);
	if (submit)
		workpool_submit(&j->wp);
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
	for (size_t i = 0; i < g_nb; i++)
		for (struct user_job *j = g_tab[i]; j; j = j->next)
			n += j->kind == kind;
	pthread_mutex_unlock(&g_lock);
	return n;
}
