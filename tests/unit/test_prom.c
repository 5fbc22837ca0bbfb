/* The metrics registry (core/prom.c): the text format (HELP/TYPE, label
 * escaping, histogram buckets cumulative with +Inf, _sum, _count), gauges
 * going down, indexes out of range ignored, and increments from many
 * threads summing exactly. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/prom.h"
#include "core/strbuf.h"

static char *render(void)
{
	struct strbuf b = STRBUF_INIT;
	prom_render(&b);
	return strbuf_detach(&b, NULL);
}

static int reset(void **state)
{
	(void)state;
	prom_reset();
	return 0;
}

static void test_counter_labels_escaped(void **state)
{
	(void)state;
	static const char *const odd[] = { "plain", "quo\"te", "back\\slash", "new\nline" };
	static const char *const st[] = { "ok", "no" };
	struct prom_family *f = prom_family_new(PROM_COUNTER, "t_total", "Help with \\ and\nnewline.",
						&(struct prom_labels){ "name", odd, 4 },
						&(struct prom_labels){ "status", st, 2 }, NULL, 0, 0);
	assert_non_null(f);
	prom_add(f, 1, 1, 3);
	prom_add(f, 3, 0, 2);
	prom_add(f, 4, 0, 100); /* out of range: ignored */
	prom_add(f, 0, 2, 100);
	char *out = render();
	assert_non_null(strstr(out, "# HELP t_total Help with \\\\ and\\nnewline.\n"
				    "# TYPE t_total counter\n"
				    "t_total{name=\"plain\",status=\"ok\"} 0\n"));
	assert_non_null(strstr(out, "t_total{name=\"quo\\\"te\",status=\"no\"} 3\n"));
	assert_non_null(strstr(out, "t_total{name=\"back\\\\slash\",status=\"ok\"} 0\n"));
	assert_non_null(strstr(out, "t_total{name=\"new\\nline\",status=\"ok\"} 2\n"));
	assert_null(strstr(out, "100"));
	assert_int_equal(prom_value(f, 1, 1), 3);
	free(out);
}

static void test_gauge_down_and_fn(void **state)
{
	(void)state;
	struct prom_family *g = prom_family_new(PROM_GAUGE, "t_open", "Open.", NULL, NULL, NULL, 0, 0);
	prom_add(g, 0, 0, 1);
	prom_add(g, 0, 0, (uint64_t)-1);
	prom_add(g, 0, 0, (uint64_t)-1);
	char *out = render();
	assert_non_null(strstr(out, "# TYPE t_open gauge\nt_open -1\n"));
	free(out);
}

static double forty_two(void *arg)
{
	return *(double *)arg;
}

static void test_gauge_fn(void **state)
{
	(void)state;
	static double v = 42.5;
	prom_gauge_fn("t_fn", "Read when rendered.", forty_two, &v);
	char *out = render();
	assert_non_null(strstr(out, "# HELP t_fn Read when rendered.\n# TYPE t_fn gauge\nt_fn 42.5\n"));
	free(out);
	prom_add(NULL, 0, 0, 1); /* a family never registered: nothing */
	prom_observe(NULL, 0, 0, 1);
}

static void test_histogram_cumulative(void **state)
{
	(void)state;
	static const char *const cmds[] = { "NOOP", "FETCH" };
	static const double bounds[] = { 0.001, 0.01, 0.1 };
	struct prom_family *h = prom_family_new(PROM_HISTOGRAM, "t_seconds", "Latency.",
						&(struct prom_labels){ "command", cmds, 2 }, NULL,
						bounds, 3, 1e9);
	assert_non_null(h);
	prom_observe(h, 1, 0, 500000);      /* 0.5 ms */
	prom_observe(h, 1, 0, 1000000);     /* 1 ms: on the bound, le is inclusive */
	prom_observe(h, 1, 0, 50000000);    /* 50 ms */
	prom_observe(h, 1, 0, 3000000000u); /* 3 s: +Inf only */
	char *out = render();
	/* NOOP, never observed, is left out */
	assert_non_null(strstr(out, "# TYPE t_seconds histogram\n"
				    "t_seconds_bucket{command=\"FETCH\",le=\"0.001\"} 2\n"));
	assert_null(strstr(out, "NOOP"));
	assert_non_null(strstr(out, "t_seconds_bucket{command=\"FETCH\",le=\"0.001\"} 2\n"
				    "t_seconds_bucket{command=\"FETCH\",le=\"0.01\"} 2\n"
				    "t_seconds_bucket{command=\"FETCH\",le=\"0.1\"} 3\n"
				    "t_seconds_bucket{command=\"FETCH\",le=\"+Inf\"} 4\n"
				    "t_seconds_sum{command=\"FETCH\"} 3.0515\n"
				    "t_seconds_count{command=\"FETCH\"} 4\n"));
	assert_int_equal(prom_value(h, 1, 0), 4);
	assert_int_equal(prom_value(h, 0, 0), 0);
	free(out);
}

#define THREADS 8
#define ROUNDS 200000

static struct prom_family *g_shared, *g_hist;

static void *hammer(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < ROUNDS; i++) {
		prom_add(g_shared, i % 2, 0, 1);
		prom_observe(g_hist, 0, 0, i % 3);
	}
	return NULL;
}

static void test_threads_sum_exactly(void **state)
{
	(void)state;
	static const char *const two[] = { "a", "b" };
	static const double bounds[] = { 1 };
	g_shared = prom_family_new(PROM_COUNTER, "t_shared_total", "Shared.",
				   &(struct prom_labels){ "x", two, 2 }, NULL, NULL, 0, 0);
	g_hist = prom_family_new(PROM_HISTOGRAM, "t_h", "H.", NULL, NULL, bounds, 1, 1);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(prom_value(g_shared, 0, 0), (uint64_t)THREADS * ROUNDS / 2);
	assert_int_equal(prom_value(g_shared, 1, 0), (uint64_t)THREADS * ROUNDS / 2);
	assert_int_equal(prom_value(g_hist, 0, 0), (uint64_t)THREADS * ROUNDS);
	char *out = render();
	/* values 0,1 land in le=1, value 2 in +Inf: per thread 2/3 of ROUNDS rounded */
	unsigned long low = 0;
	for (unsigned i = 0; i < ROUNDS; i++)
		low += i % 3 < 2;
	char want[128];
	snprintf(want, sizeof(want), "t_h_bucket{le=\"1\"} %lu\nt_h_bucket{le=\"+Inf\"} %lu\n",
		 low * THREADS, (unsigned long)THREADS * ROUNDS);
	assert_non_null(strstr(out, want));
	free(out);
}

static void test_cells_exhausted(void **state)
{
	(void)state;
	static const char *vals[1000];
	for (int i = 0; i < 1000; i++)
		vals[i] = "v";
	struct prom_labels l = { "l", vals, 1000 };
	/* 1000 x 1000 cells: more than the store holds, refused, not overrun */
	assert_null(prom_family_new(PROM_COUNTER, "t_big", "Big.", &l, &l, NULL, 0, 0));
	struct prom_family *ok = prom_family_new(PROM_COUNTER, "t_small", "Small.", NULL, NULL,
						 NULL, 0, 0);
	assert_non_null(ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_counter_labels_escaped, reset),
		cmocka_unit_test_setup(test_gauge_down_and_fn, reset),
		cmocka_unit_test_setup(test_gauge_fn, reset),
		cmocka_unit_test_setup(test_histogram_cumulative, reset),
		cmocka_unit_test_setup(test_threads_sum_exactly, reset),
		cmocka_unit_test_setup(test_cells_exhausted, reset),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	prom_reset();
	return rc;
}
