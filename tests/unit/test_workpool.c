/* The work pool's disk and background classes (core/workpool.h, issue
 * #14): jobs marked `disk` run on threads of their own, all at once, even
 * while every CPU thread is busy; password checks (fair_key) and other
 * jobs never run on those threads; without disk threads a disk job runs
 * on the common threads as before. Background jobs (the search index,
 * previews) run on their own threads at a lower priority. Fair-key round
 * robin is covered by tests/integration/test_policy_pool.py. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/workpool.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NDISK 8
#define WAIT_MS 10000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static unsigned disk_running;    /* disk jobs inside run() */
static unsigned cpu_running;     /* blocker jobs inside run() */
static bool release_cpu;         /* blockers may return */
static atomic_uint done_count;   /* done() calls */

struct tjob {
	struct workpool_job wp;
	atomic_bool ran;
	bool met;      /* disk: saw NDISK disk jobs running at once */
	int nice;      /* nice_run: the running thread's nice value */
};

static void deadline(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += WAIT_MS / 1000;
}

/* Waits until NDISK disk jobs are inside run() together (or the bound). */
static void disk_run(struct workpool_job *wp)
{
	struct tjob *j = (struct tjob *)wp;
	struct timespec ts;
	deadline(&ts);
	pthread_mutex_lock(&lock);
	disk_running++;
	pthread_cond_broadcast(&cond);
	while (disk_running < NDISK && pthread_cond_timedwait(&cond, &lock, &ts) == 0)
		;
	j->met = disk_running >= NDISK;
	pthread_mutex_unlock(&lock);
	atomic_store(&j->ran, true);
}

/* Holds a CPU thread until release_cpu (or the bound). */
static void cpu_run(struct workpool_job *wp)
{
	struct tjob *j = (struct tjob *)wp;
	struct timespec ts;
	deadline(&ts);
	pthread_mutex_lock(&lock);
	cpu_running++;
	pthread_cond_broadcast(&cond);
	while (!release_cpu && pthread_cond_timedwait(&cond, &lock, &ts) == 0)
		;
	pthread_mutex_unlock(&lock);
	atomic_store(&j->ran, true);
}

static void plain_run(struct workpool_job *wp)
{
	atomic_store(&((struct tjob *)wp)->ran, true);
}

/* Notes the nice value of the thread it runs on. */
static void nice_run(struct workpool_job *wp)
{
	struct tjob *j = (struct tjob *)wp;
	errno = 0;
	j->nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	atomic_store(&j->ran, true);
}

static void job_done(struct workpool_job *wp)
{
	(void)wp;
	atomic_fetch_add(&done_count, 1);
}

static void job_init(struct tjob *j, struct event_base *base, void (*run)(struct workpool_job *))
{
	*j = (struct tjob){ 0 };
	j->wp.run = run;
	j->wp.done = job_done;
	j->wp.base = base;
	atomic_store(&j->wp.cancelled, false);
	atomic_store(&j->ran, false);
}

/* Runs the loop until `n` completions arrived (bounded). */
static void wait_done(struct event_base *base, unsigned n)
{
	for (int i = 0; i < WAIT_MS && atomic_load(&done_count) < n; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(atomic_load(&done_count), n);
}

static void reset(void)
{
	disk_running = cpu_running = 0;
	release_cpu = false;
	atomic_store(&done_count, 0);
}

static void blockers_wait(unsigned n)
{
	struct timespec ts;
	deadline(&ts);
	pthread_mutex_lock(&lock);
	while (cpu_running < n && pthread_cond_timedwait(&cond, &lock, &ts) == 0)
		;
	assert_int_equal(cpu_running, n);
	pthread_mutex_unlock(&lock);
}

static void blockers_release(void)
{
	pthread_mutex_lock(&lock);
	release_cpu = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* A new pool with `disk` disk threads, and `n` of its CPU threads held
 * by blocker jobs (in cpu[]) until blockers_release(). */
static struct event_base *pool_with_blockers(unsigned disk, struct tjob *cpu, unsigned n)
{
	struct event_base *base = event_base_new();
	reset();
	workpool_set_disk_threads(disk);
	assert_int_equal(workpool_start(1), 0);  /* WORKPOOL_MIN_THREADS */
	for (unsigned i = 0; i < n; i++) {
		job_init(&cpu[i], base, cpu_run);
		workpool_submit(&cpu[i].wp);
	}
	blockers_wait(n);
	return base;
}

/* Every CPU thread busy: NDISK disk jobs still all run at once, and a
 * password check and a plain job wait for a CPU thread. */
static void test_disk_class_apart(void **state)
{
	(void)state;
	struct tjob cpu[WORKPOOL_MIN_THREADS], disk[NDISK], fair, plain;
	struct event_base *base = pool_with_blockers(NDISK, cpu, WORKPOOL_MIN_THREADS);
	job_init(&fair, base, plain_run);
	fair.wp.fair_key = 42;
	workpool_submit(&fair.wp);
	job_init(&plain, base, plain_run);
	workpool_submit(&plain.wp);
	for (unsigned i = 0; i < NDISK; i++) {
		job_init(&disk[i], base, disk_run);
		disk[i].wp.disk = true;
		workpool_submit(&disk[i].wp);
	}
	wait_done(base, NDISK);
	for (unsigned i = 0; i < NDISK; i++) {
		assert_true(atomic_load(&disk[i].ran));
		assert_true(disk[i].met);
	}
	/* The disk threads are idle now: had they taken the other queues,
	 * these two would have run meanwhile. */
	usleep(50 * 1000);
	assert_false(atomic_load(&fair.ran));
	assert_false(atomic_load(&plain.ran));
	assert_int_equal(workpool_queued(), 2);
	blockers_release();
	wait_done(base, NDISK + WORKPOOL_MIN_THREADS + 2);
	assert_true(atomic_load(&fair.ran));
	assert_true(atomic_load(&plain.ran));
	workpool_stop();
	event_base_free(base);
}

/* Without disk threads a disk job is an ordinary job: it runs on the
 * common threads (and waits for one). */
static void test_no_disk_threads(void **state)
{
	(void)state;
	struct tjob cpu[WORKPOOL_MIN_THREADS - 1], d;
	struct event_base *base = pool_with_blockers(0, cpu, WORKPOOL_MIN_THREADS - 1);
	job_init(&d, base, plain_run);
	d.wp.disk = true;
	workpool_submit(&d.wp);
	wait_done(base, 1);   /* on the one free common thread */
	assert_true(atomic_load(&d.ran));
	blockers_release();
	wait_done(base, WORKPOOL_MIN_THREADS);
	workpool_stop();
	event_base_free(base);
}

/* A cancelled disk job is skipped, done() still runs; stop joins the
 * disk threads with nothing queued. */
static void test_disk_cancel_and_stop(void **state)
{
	(void)state;
	struct event_base *base = pool_with_blockers(2, NULL, 0);
	unsigned long skipped0 = workpool_skipped_count();
	struct tjob d;
	job_init(&d, base, plain_run);
	d.wp.disk = true;
	workpool_job_cancel(&d.wp);
	workpool_submit(&d.wp);
	wait_done(base, 1);
	assert_false(atomic_load(&d.ran));
	assert_true(d.wp.skipped);
	assert_int_equal(workpool_skipped_count(), skipped0 + 1);
	workpool_stop();
	assert_false(workpool_running());
	workpool_set_disk_threads(0);
	event_base_free(base);
}

/* issue #14: background jobs (the search index, previews) run on their
 * own threads at the configured nice value, even while every common
 * thread is busy; a plain job never runs there. */
static void test_background_class(void **state)
{
	(void)state;
	int nice0 = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	workpool_set_background_threads(1, 10);
	struct tjob cpu[WORKPOOL_MIN_THREADS], bg, plain;
	struct event_base *base = pool_with_blockers(0, cpu, WORKPOOL_MIN_THREADS);
	job_init(&plain, base, plain_run);
	workpool_submit(&plain.wp);
	job_init(&bg, base, nice_run);
	bg.wp.background = true;
	workpool_submit(&bg.wp);
	wait_done(base, 1);
	assert_true(atomic_load(&bg.ran));
	assert_int_equal(bg.nice, nice0 + 10 > 19 ? 19 : nice0 + 10);
	usleep(50 * 1000);
	assert_false(atomic_load(&plain.ran));
	blockers_release();
	wait_done(base, WORKPOOL_MIN_THREADS + 2);
	assert_true(atomic_load(&plain.ran));
	workpool_stop();
	workpool_set_background_threads(0, 0);
	event_base_free(base);
}

/* Without background threads a background job is an ordinary job, on a
 * common thread at the process's priority. */
static void test_no_background_threads(void **state)
{
	(void)state;
	int nice0 = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	struct tjob bg;
	struct event_base *base = pool_with_blockers(0, NULL, 0);
	job_init(&bg, base, nice_run);
	bg.wp.background = true;
	workpool_submit(&bg.wp);
	wait_done(base, 1);
	assert_true(atomic_load(&bg.ran));
	assert_int_equal(bg.nice, nice0);
	workpool_stop();
	event_base_free(base);
}

/* Wake-ups (semaphores, core/workpool.c): four threads submit jobs of
 * every class at once (common, three fair keys at their running cap of
 * one, disk, background) while the pool's threads keep going to sleep
 * and waking; every job completes (a lost wake-up leaves one queued and
 * the bounded wait fails), and the pool stops and starts again with
 * threads asleep, three times. */
#define SUBMITTERS 4
#define PER_SUBMITTER 1500

struct submitter {
	struct tjob *jobs;
	unsigned n;
};

static void *submit_all(void *arg)
{
	struct submitter *sub = arg;
	for (unsigned i = 0; i < sub->n; i++) {
		workpool_submit(&sub->jobs[i].wp);
		if (i % 64 == 0)
			usleep(100);   /* let threads fall asleep in between */
	}
	return NULL;
}

static void test_wakeups_under_concurrent_submitters(void **state)
{
	(void)state;
	for (int round = 0; round < 3; round++) {
		struct event_base *base = event_base_new();
		reset();
		workpool_set_disk_threads(2);
		workpool_set_background_threads(1, 5);
		assert_int_equal(workpool_start(4), 0);
		struct tjob *jobs = calloc(SUBMITTERS * PER_SUBMITTER, sizeof(*jobs));
		assert_non_null(jobs);
		for (unsigned i = 0; i < SUBMITTERS * PER_SUBMITTER; i++) {
			job_init(&jobs[i], base, plain_run);
			switch (i % 5) {
			case 0: jobs[i].wp.disk = true; break;
			case 1: jobs[i].wp.background = true; break;
			case 2: jobs[i].wp.fair_key = 1 + i % 3; break;
			default: break;
			}
		}
		pthread_t th[SUBMITTERS];
		struct submitter subs[SUBMITTERS];
		for (unsigned t = 0; t < SUBMITTERS; t++) {
			subs[t] = (struct submitter){ jobs + t * PER_SUBMITTER, PER_SUBMITTER };
			assert_int_equal(pthread_create(&th[t], NULL, submit_all, &subs[t]), 0);
		}
		for (unsigned t = 0; t < SUBMITTERS; t++)
			pthread_join(th[t], NULL);
		wait_done(base, SUBMITTERS * PER_SUBMITTER);
		for (unsigned i = 0; i < SUBMITTERS * PER_SUBMITTER; i++)
			assert_true(atomic_load(&jobs[i].ran));
		assert_int_equal(workpool_queued(), 0);
		usleep(20000);   /* every thread asleep before the stop */
		workpool_stop();
		workpool_set_background_threads(0, 0);
		free(jobs);
		event_base_free(base);
	}
}

int main(void)
{
	evthread_use_pthreads();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disk_class_apart),
		cmocka_unit_test(test_no_disk_threads),
		cmocka_unit_test(test_disk_cancel_and_stop),
		cmocka_unit_test(test_background_class),
		cmocka_unit_test(test_no_background_threads),
		cmocka_unit_test(test_wakeups_under_concurrent_submitters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
