/* The work pool (core/workpool.h): threads that take jobs off two kinds
 * of queue and post each completion back to the submitting event loop.
 *
 * Fairness: password checks (argon2id, tens of milliseconds each) arrive
 * with the client's address prefix as fair_key. Each key has its own FIFO
 * and the keys with work take turns (round robin), alternating with the
 * common FIFO of store work. So 200 parallel guessers from one address
 * queue behind each other, and another user's LOGIN waits for at most one
 * job per active key, not for the attacker's whole backlog. One key runs
 * on at most a quarter of the threads at once, so the others keep threads (and
 * CPU) for everyone else. The number of jobs queued per key is bounded (workpool_set_fair_bound): the caller
 * answers the excess without computing it (imap/cmd_pool.c).
 *
 * A job whose owner went away while it waited (the client disconnected)
 * is cancelled: run() is skipped, so a flood of connect-guess-disconnect
 * costs no hashing.
 *
 * Disk threads (issue #14): jobs marked `disk` (message writes, which
 * spend most of their time in fsync) have a FIFO and threads of their
 * own. A pool sized for the CPU lets four APPENDs wait on the disk while
 * 28 clients wait for a thread; with a thread each, their fsyncs are in
 * flight together and ext4's journal (jbd2) commits them in one
 * transaction. Password checks never run on these threads, so hashing
 * stays bounded by the CPU threads.
 *
 * Background threads (issue #14): jobs marked `background` (the search
 * index and previews of new messages, derived data that SEARCH and FETCH
 * do without) run on `[store] background_threads` threads of their own,
 * their nice raised by `background_nice`. On a busy machine the kernel
 * gives commands the CPU first and the index catches up in bigger steps;
 * on 32 parallel delivery streams that was +35% APPENDs/s and 1.69 ->
 * 1.33 ms of server CPU per message with the index complete
 * (BENCHMARKS.md). The nice is a weight, not a starvation: a background
 * step holding a user's write lock still runs. */
#include "core/workpool.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FAIR_BUCKETS 1024

/* A FIFO of jobs, linked through job->next. Under g_lock. */
struct job_list {
	struct workpool_job *head, *tail;
};

static void job_list_push(struct job_list *l, struct workpool_job *job)
{
	if (l->tail)
		l->tail->next = job;
	else
		l->head = job;
	l->tail = job;
}

static struct workpool_job *job_list_pop(struct job_list *l)
{
	struct workpool_job *job = l->head;
	if (job) {
		l->head = job->next;
		if (!l->head)
			l->tail = NULL;
	}
	return job;
}

/* One key's FIFO; exists while it has jobs. */
struct fair_queue {
	uint64_t key;
	struct fair_queue *hnext;       /* hash chain */
	struct fair_queue *rnext;       /* the round-robin ring (a list: head is next) */
	struct job_list jobs;
	unsigned n;                     /* queued */
	unsigned running;               /* taken by a pool thread, not finished */
	bool in_ring;
};

/* A FIFO of jobs and the wake-up of the threads that take it.
 *
 * The wake-up is a semaphore, not a condition variable: glibc's
 * pthread_cond_signal can block the caller in
 * __condvar_quiesce_and_switch_g1 until threads woken earlier have run,
 * and the caller is an event loop. Under SCHED_BATCH those threads wait
 * for a CPU, so the loop slept on a futex in one command of every few
 * dozen (perf --call-graph dwarf of imaptest-like, BENCHMARKS.md issue
 * #14 thirteenth session). sem_post never waits. A thread counts itself
 * in `idle` (under g_lock) before it sleeps; whoever makes work for the
 * class takes one off and posts once, after unlocking (wake_owed). */
struct job_fifo {
	struct job_list jobs;
	sem_t wake;
	unsigned idle;          /* threads asleep or going to sleep on wake */
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
/* The common threads' FIFO of store work; its wake also wakes them for
 * the fair keys' jobs. */
static struct job_fifo g_common;
static struct fair_queue *g_fair[FAIR_BUCKETS];
static struct fair_queue *g_ring_head, *g_ring_tail;
static unsigned g_fair_bound;
static bool g_fair_turn;
static bool g_stopping;
static pthread_t *g_threads;
static unsigned g_nthreads;
static atomic_ulong g_skipped;
static atomic_uint g_queued;        /* metrics: jobs waiting for a thread */

/* dlv: the disk class (jobs marked `disk`, when g_ndisk > 0) */
static struct job_fifo g_disk;
static unsigned g_disk_want;        /* workpool_set_disk_threads */
static pthread_t *g_disk_threads;
static unsigned g_ndisk;            /* started */

/* The background class (jobs marked `background`, when g_nbg > 0). */
static struct job_fifo g_bg;
static unsigned g_bg_want;
static int g_bg_nice;
static pthread_t *g_bg_threads;
static unsigned g_nbg;

static bool g_sched_batch;          /* workpool_set_sched_batch */

static void job_done_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct workpool_job *job = arg;
	job->done(job);
}

static struct fair_queue **fair_slot(uint64_t key)
{
	struct fair_queue **pp = &g_fair[(key ^ (key >> 29)) % FAIR_BUCKETS];
	while (*pp && (*pp)->key != key)
		pp = &(*pp)->hnext;
	return pp;
}

static void ring_append(struct fair_queue *q)
{
	q->rnext = NULL;
	q->in_ring = true;
	if (g_ring_tail)
		g_ring_tail->rnext = q;
	else
		g_ring_head = q;
	g_ring_tail = q;
}

/* One key may run on at most a quarter of the threads at once (one of
 * the minimum four): argon2id is CPU- and memory-bound, so the rest of the
 * pool and of the machine stays for other clients while one key has work
 * queued. */
static unsigned fair_running_cap(void)
{
	return g_nthreads >= 8 ? g_nthreads / 4 : 1;
}

/* The next fair job: the first key of the ring that is below its running
 * cap gives one job and goes to the back of the ring (or leaves it,
 * empty). The scan skips only keys at their cap, of which there are at
 * most as many as threads. Under g_lock. */
static struct workpool_job *fair_pop(void)
{
	struct fair_queue *q = g_ring_head, *prev = NULL;
	while (q && q->running >= fair_running_cap()) {
		prev = q;
		q = q->rnext;
	}
	if (!q)
		return NULL;
	if (prev)
		prev->rnext = q->rnext;
	else
		g_ring_head = q->rnext;
	if (g_ring_tail == q)
		g_ring_tail = prev;
	q->in_ring = false;
	struct workpool_job *job = job_list_pop(&q->jobs);
	q->n--;
	q->running++;
	if (q->n)
		ring_append(q);
	return job;
}

/* Whether a sleeping thread of f is to be woken (one is taken off its
 * idle count): post f->wake after unlocking when true. Under g_lock. */
static bool wake_owed(struct job_fifo *f)
{
	if (!f->idle)
		return false;
	f->idle--;
	return true;
}

/* Wakes one thread of f when owed; never under g_lock. */
static void wake_post(struct job_fifo *f, bool owed)
{
	if (owed && sem_post(&f->wake) != 0)
		fatal("workpool: sem_post");
}

/* Sleeps until a wake of f is posted, g_lock released meanwhile. Under
 * g_lock on entry and on return. */
static void idle_wait(struct job_fifo *f)
{
	f->idle++;
	pthread_mutex_unlock(&g_lock);
	while (sem_wait(&f->wake) != 0)
		if (errno != EINTR)
			fatal("workpool: sem_wait");
	pthread_mutex_lock(&g_lock);
}

/* A fair job finished running: its key may run another, so a thread
 * asleep is owed a wake. Under g_lock. */
static bool fair_finished(uint64_t key)
{
	struct fair_queue **pp = fair_slot(key), *q = *pp;
	if (!q)
		return false;
	q->running--;
	if (!q->n && !q->running) {
		*pp = q->hnext;
		free(q);
	}
	return wake_owed(&g_common);
}

/* Under g_lock. */
static struct workpool_job *fifo_pop(struct job_fifo *f)
{
	return job_list_pop(&f->jobs);
}

/* Alternates between the common queue and the fair keys when both have
 * work. Under g_lock. */
static struct workpool_job *next_job(void)
{
	g_fair_turn = !g_fair_turn;
	struct workpool_job *job = g_fair_turn ? fair_pop() : fifo_pop(&g_common);
	if (!job)
		job = g_fair_turn ? fifo_pop(&g_common) : fair_pop();
	return job;
}

/* Runs a job taken off a queue (unless cancelled) and posts its
 * completion to its event_base. */
static void job_run_post(struct workpool_job *job)
{
	uint64_t key = job->fair_key;
	if (atomic_load(&job->cancelled)) {
		job->skipped = true;
		atomic_fetch_add(&g_skipped, 1);
		log_debug("event=pool_job_dropped reason=owner_gone");
	} else {
		job->run(job);
	}
	if (key) {
		pthread_mutex_lock(&g_lock);
		bool owed = fair_finished(key);
		pthread_mutex_unlock(&g_lock);
		wake_post(&g_common, owed);
	}
	/* event_base_once is thread-safe once evthread_use_pthreads() ran. */
	struct timeval zero = { 0, 0 };
	if (event_base_once(job->base, -1, EV_TIMEOUT, job_done_cb, job, &zero) < 0)
		fatal("workpool: cannot post completion");
}

/* A command or write thread as SCHED_BATCH (workpool_set_sched_batch):
 * the kernel does not let it preempt a running thread when it is woken,
 * so the event loop that queued a job goes on with its other clients and
 * the job runs when a CPU is free or the loop waits. On a saturated
 * machine that is a quarter fewer context switches per command and
 * 8-15% more commands/s (BENCHMARKS.md, issue #14, twelfth session); an
 * idle CPU still takes the job at once. */
static void sched_batch(void)
{
	if (!g_sched_batch)
		return;
	struct sched_param sp = { 0 };
	int rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
	if (rc != 0)
		log_warn("event=workpool_sched_error errno=%d", rc);
}

static void *pool_thread(void *arg)
{
	(void)arg;
	thread_name("rampart-cpu");
	sched_batch();
	for (;;) {
		pthread_mutex_lock(&g_lock);
		struct workpool_job *job;
		while (!(job = next_job()) && !g_stopping)
			idle_wait(&g_common);
		if (job)
			atomic_fetch_sub_explicit(&g_queued, 1, memory_order_relaxed);
		pthread_mutex_unlock(&g_lock);
		if (!job)
			return NULL;
		job_run_post(job);
	}
}

/* A thread of a class takes only that class's FIFO. */
static void fifo_serve(struct job_fifo *f)
{
	for (;;) {
		pthread_mutex_lock(&g_lock);
		struct workpool_job *job;
		while (!(job = fifo_pop(f)) && !g_stopping)
			idle_wait(f);
		if (job)
			atomic_fetch_sub_explicit(&g_queued, 1, memory_order_relaxed);
		pthread_mutex_unlock(&g_lock);
		if (!job)
			return;
		job_run_post(job);
	}
}

/* Under g_lock; post the wake after unlocking (wake_post). */
static bool fifo_push_locked(struct job_fifo *f, struct workpool_job *job)
{
	job_list_push(&f->jobs, job);
	atomic_fetch_add_explicit(&g_queued, 1, memory_order_relaxed);
	return wake_owed(f);
}

/* dlv: a disk thread. */
static void *disk_thread(void *arg)
{
	(void)arg;
	thread_name("rampart-disk");
	sched_batch();
	fifo_serve(&g_disk);
	return NULL;
}

/* A background thread lowers its own priority (any thread may). */
static void *bg_thread(void *arg)
{
	(void)arg;
	thread_name("rampart-bg");
	/* Relative to the server's own nice value (a thread starts with its
	 * creator's), capped at 19. */
	id_t tid = (id_t)syscall(SYS_gettid);
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, tid);
	if (errno == 0) {
		nice = nice + g_bg_nice > 19 ? 19 : nice + g_bg_nice;
		if (setpriority(PRIO_PROCESS, tid, nice) < 0)
			log_warn("event=workpool_nice_error errno=%d", errno);
	}
	fifo_serve(&g_bg);
	return NULL;
}

/* Starts want threads running fn into *threads; *started counts them. */
static int threads_start(pthread_t **threads, unsigned want, unsigned *started,
			 void *(*fn)(void *))
{
	if (want == 0)
		return 0;
	*threads = xcalloc(want, sizeof(**threads));
	for (unsigned i = 0; i < want; i++) {
		if (pthread_create(&(*threads)[i], NULL, fn, NULL) != 0)
			return -1;
		(*started)++;
	}
	return 0;
}

/* Joins and forgets what threads_start() started. */
static void threads_join(pthread_t **threads, unsigned *started)
{
	for (unsigned i = 0; i < *started; i++)
		pthread_join((*threads)[i], NULL);
	free(*threads);
	*threads = NULL;
	*started = 0;
}

int workpool_start(unsigned nthreads)
{
	/* Once per process: a stopped pool leaves its semaphores at zero
	 * with no thread asleep on them (workpool_stop). */
	static bool sems;
	if (!sems) {
		if (sem_init(&g_common.wake, 0, 0) != 0 || sem_init(&g_disk.wake, 0, 0) != 0 ||
		    sem_init(&g_bg.wake, 0, 0) != 0)
			return -1;
		sems = true;
	}
	if (nthreads < WORKPOOL_MIN_THREADS)
		nthreads = WORKPOOL_MIN_THREADS;
	/* dlv: g_ndisk and g_nbg are read by submitters under g_lock; all
	 * threads start before any job is submitted. */
	if (threads_start(&g_threads, nthreads, &g_nthreads, pool_thread) < 0 ||
	    threads_start(&g_disk_threads, g_disk_want, &g_ndisk, disk_thread) < 0 ||
	    threads_start(&g_bg_threads, g_bg_want, &g_nbg, bg_thread) < 0)
		return -1;
	return 0;
}

void workpool_set_background_threads(unsigned n, int nice)
{
	g_bg_want = n;
	g_bg_nice = nice;
}

void workpool_set_sched_batch(bool on)
{
	g_sched_batch = on;
}

void workpool_set_disk_threads(unsigned n)
{
	g_disk_want = n;
}

bool workpool_running(void)
{
	/* Written before the workers start and after they stopped. */
	return g_nthreads > 0;
}

void workpool_stop(void)
{
	struct job_fifo *fifos[] = { &g_common, &g_disk, &g_bg };
	unsigned asleep[3];
	pthread_mutex_lock(&g_lock);
	g_stopping = true;
	for (size_t i = 0; i < 3; i++) {
		asleep[i] = fifos[i]->idle;
		fifos[i]->idle = 0;
	}
	pthread_mutex_unlock(&g_lock);
	/* Every thread asleep gets one wake; the others see g_stopping. */
	for (size_t i = 0; i < 3; i++)
		for (unsigned k = 0; k < asleep[i]; k++)
			wake_post(fifos[i], true);
	threads_join(&g_threads, &g_nthreads);
	threads_join(&g_disk_threads, &g_ndisk);
	threads_join(&g_bg_threads, &g_nbg);
	g_stopping = false;
}

void workpool_submit(struct workpool_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&g_lock);
	struct job_fifo *f = job->background && g_nbg > 0 ? &g_bg
			     : job->disk && g_ndisk > 0	 ? &g_disk	/* dlv: the disk class */
			     : !job->fair_key		 ? &g_common
							 : NULL;
	if (f) {
		bool owed = fifo_push_locked(f, job);
		pthread_mutex_unlock(&g_lock);
		wake_post(f, owed);
		return;
	}
	struct fair_queue **pp = fair_slot(job->fair_key), *q = *pp;
	if (!q) {
		q = *pp = xcalloc(1, sizeof(*q));
		q->key = job->fair_key;
	}
	if (!q->in_ring)
		ring_append(q);
	job_list_push(&q->jobs, job);
	q->n++;
	atomic_fetch_add_explicit(&g_queued, 1, memory_order_relaxed);
	bool owed = wake_owed(&g_common);
	pthread_mutex_unlock(&g_lock);
	wake_post(&g_common, owed);
}

void workpool_complete_unrun(struct workpool_job *job)
{
	job->skipped = true;
	struct timeval zero = { 0, 0 };
	if (event_base_once(job->base, -1, EV_TIMEOUT, job_done_cb, job, &zero) < 0)
		fatal("workpool: cannot post completion");
}

bool workpool_fair_room(uint64_t key)
{
	if (!key)
		return true;
	pthread_mutex_lock(&g_lock);
	struct fair_queue *q = *fair_slot(key);
	bool room = !g_fair_bound || !q || q->n < g_fair_bound;
	pthread_mutex_unlock(&g_lock);
	return room;
}

void workpool_set_fair_bound(unsigned n)
{
	pthread_mutex_lock(&g_lock);
	g_fair_bound = n;
	pthread_mutex_unlock(&g_lock);
}

void workpool_job_cancel(struct workpool_job *job)
{
	atomic_store(&job->cancelled, true);
}

unsigned long workpool_skipped_count(void)
{
	return atomic_load(&g_skipped);
}

unsigned workpool_queued(void)
{
	return atomic_load_explicit(&g_queued, memory_order_relaxed);
}
