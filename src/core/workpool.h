/* A small pool of threads for work that must not run on an event loop
 * (password hashing, the store phase of IMAP commands). A job runs on a
 * pool thread; its completion runs back on the event_base that submitted
 * it. */
#ifndef RAMPART_CORE_WORKPOOL_H
#define RAMPART_CORE_WORKPOOL_H

struct event_base;

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct workpool_job {
	void (*run)(struct workpool_job *job);  /* on a pool thread */
	void (*done)(struct workpool_job *job); /* on the submitting event_base's thread */
	struct event_base *base;
	/* 0: the common FIFO queue. Otherwise the job waits in the queue of
	 * this key (a client's address prefix), and keys take turns: one
	 * client with 200 jobs queued delays another's by one job, not 200. */
	uint64_t fair_key;
	/* Set by workpool_job_cancel(): run() is skipped, done() still runs. */
	atomic_bool cancelled;
	/* run() was not called (cancelled); read in done(). */
	bool skipped;
	struct workpool_job *next;
	/* dlv (issue #14): the job mostly waits for fsync (a message write:
	 * APPEND, an LMTP delivery). With disk threads
	 * (workpool_set_disk_threads) it runs on one of them, never on the
	 * threads that hash passwords; without, in the common FIFO. */
	bool disk;
	/* Derived data made in the background (the search index, previews):
	 * with background threads (workpool_set_background_threads) it runs
	 * on one of them, at a lower CPU priority. */
	bool background;
};

/* Starts max(nthreads, WORKPOOL_MIN_THREADS) threads: jobs wait on the
 * disk as much as they compute, and one long job (a SEARCH over 100,000
 * messages) must not hold up every LOGIN and SELECT behind it. */
#define WORKPOOL_MIN_THREADS 4
int workpool_start(unsigned nthreads);
/* True between workpool_start() and workpool_stop(): without a pool
 * (tools, unit tests) callers run the job inline. */
bool workpool_running(void);
void workpool_stop(void);
/* Queues a job. run() must not touch state owned by the event loop. */
void workpool_submit(struct workpool_job *job);
/* Is there room for one more job of this fair_key (fewer than the bound
 * queued)? Without a bound, or for key 0, always. */
bool workpool_fair_room(uint64_t key);
/* Instead of workpool_submit(): done() runs soon on job->base with
 * `skipped` set, run() never (a job refused for want of room). */
void workpool_complete_unrun(struct workpool_job *job);
/* At most `n` queued jobs per fair_key (0: no bound). */
void workpool_set_fair_bound(unsigned n);
/* The job's owner is gone: if it has not started, run() is skipped.
 * Thread-safe; done() runs either way (it frees the job). */
void workpool_job_cancel(struct workpool_job *job);
/* Jobs skipped because they were cancelled, since the start. */
unsigned long workpool_skipped_count(void);
/* metrics: jobs queued and not yet taken by a thread (all queues). */
unsigned workpool_queued(void);

/* dlv (issue #14): before workpool_start(), the number of extra threads
 * that run only jobs marked `disk` ([store] write_threads). Those jobs
 * wait on the disk, not the CPU: 32 clients APPENDing at once keep 32
 * fsyncs in flight, which the filesystem's journal commits together,
 * while password hashing stays on the max(nthreads, 4) threads. */
void workpool_set_disk_threads(unsigned n);
/* Before workpool_start(): n threads that run only jobs marked
 * `background`, their nice value raised by `nice` (to at most 19); 0
 * threads: those jobs share the common threads at their priority. */
void workpool_set_background_threads(unsigned n, int nice);
/* Before workpool_start(): the common and disk threads run as
 * SCHED_BATCH (on) or SCHED_OTHER (off, the default). */
void workpool_set_sched_batch(bool on);

#endif
