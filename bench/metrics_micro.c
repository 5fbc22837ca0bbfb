/* The CPU cost of recording one metric (core/prom.c), without a server:
 * nanoseconds per prom_add, per prom_observe and per metrics_now_ns, from
 * one thread and from several at once (the shards at work). What an IMAP
 * command pays is two clock reads, one counter add and one observation,
 * plus one add per socket read or write. Usage: metrics_micro [THREADS]. */
#include "core/metrics.h"
#include "core/prom.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define OPS 20000000u

static struct prom_family *g_counter, *g_hist;
static volatile uint64_t g_sink;

static void *add_loop(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < OPS; i++)
		prom_add(g_counter, i & 31, 0, 1);
	return NULL;
}

static void *observe_loop(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < OPS; i++)
		prom_observe(g_hist, i & 31, 0, (uint64_t)i * 97);
	return NULL;
}

static void *clock_loop(void *arg)
{
	(void)arg;
	uint64_t s = 0;
	for (unsigned i = 0; i < OPS; i++)
		s += metrics_now_ns();
	g_sink = s;
	return NULL;
}

static double run(void *(*fn)(void *), int threads)
{
	pthread_t t[64];
	uint64_t t0 = metrics_now_ns();
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, fn, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	/* wall time per operation of one thread */
	return (double)(metrics_now_ns() - t0) / OPS;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 2;
	if (threads < 1 || threads > 64)
		threads = 2;
	static const char *vals[32];
	for (int i = 0; i < 32; i++)
		vals[i] = "v";
	static const double bounds[] = { 0.0001, 0.001, 0.01, 0.1, 1, 10 };
	struct prom_labels l = { "l", vals, 32 };
	g_counter = prom_family_new(PROM_COUNTER, "c_total", "C.", &l, NULL, NULL, 0, 0);
	g_hist = prom_family_new(PROM_HISTOGRAM, "h_seconds", "H.", &l, NULL, bounds, 6, 1e9);
	for (int n = 1; n <= threads; n *= 2) {
		printf("threads %d: prom_add %.1f ns, prom_observe %.1f ns, metrics_now_ns %.1f ns\n", n,
		       run(add_loop, n), run(observe_loop, n), run(clock_loop, n));
		if (n * 2 > threads && n != threads)
			n = threads / 2;
	}
	return 0;
}
