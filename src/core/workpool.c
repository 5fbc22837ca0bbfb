#include "core/workpool.h"
#include "core/log.h"
#include "core/util.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static struct workpool_job *g_head, *g_tail;
static bool g_stopping;
static pthread_t *g_threads;
static unsigned g_nthreads;

static void job_done_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct workpool_job *job = arg;
	job->done(job);
}

static void *pool_thread(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&g_lock);
		while (!g_head && !g_stopping)
			pthread_cond_wait(&g_cond, &g_lock);
		if (!g_head) {
			pthread_mutex_unlock(&g_lock);
			return NULL;
		}
		struct workpool_job *job = g_head;
		g_head = job->next;
		if (!g_head)
			g_tail = NULL;
		pthread_mutex_unlock(&g_lock);

		job->run(job);
		/* event_base_once is thread-safe once evthread_use_pthreads() ran. */
		struct timeval zero = { 0, 0 };
		if (event_base_once(job->base, -1, EV_TIMEOUT, job_done_cb, job, &zero) < 0)
			fatal("workpool: cannot post completion");
	}
}

int workpool_start(unsigned nthreads)
{
	if (nthreads < WORKPOOL_MIN_THREADS)
		nthreads = WORKPOOL_MIN_THREADS;
	g_threads = xcalloc(nthreads, sizeof(*g_threads));
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&g_threads[i], NULL, pool_thread, NULL) != 0)
			return -1;
		g_nthreads++;
	}
	return 0;
}

bool workpool_running(void)
{
	/* Written before the workers start and after they stopped. */
	return g_nthreads > 0;
}

void workpool_stop(void)
{
	pthread_mutex_lock(&g_lock);
	g_stopping = true;
	pthread_cond_broadcast(&g_cond);
	pthread_mutex_unlock(&g_lock);
	for (unsigned i = 0; i < g_nthreads; i++)
		pthread_join(g_threads[i], NULL);
	free(g_threads);
	g_threads = NULL;
	g_nthreads = 0;
	g_stopping = false;
}

void workpool_submit(struct workpool_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&g_lock);
	if (g_tail)
		g_tail->next = job;
	else
		g_head = job;
	g_tail = job;
	pthread_cond_signal(&g_cond);
	pthread_mutex_unlock(&g_lock);
}
