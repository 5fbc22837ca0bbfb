/* A small pool of threads for work that must not run on an event loop
 * (password hashing, the store phase of IMAP commands). A job runs on a
 * pool thread; its completion runs back on the event_base that submitted
 * it. */
#ifndef RAMPART_CORE_WORKPOOL_H
#define RAMPART_CORE_WORKPOOL_H

struct event_base;

struct workpool_job {
	void (*run)(struct workpool_job *job);  /* on a pool thread */
	void (*done)(struct workpool_job *job); /* on the submitting event_base's thread */
	struct event_base *base;
	struct workpool_job *next;
};

#include <stdbool.h>

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

#endif
