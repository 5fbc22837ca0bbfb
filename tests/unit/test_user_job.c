/* imap/user_job.c (issue #14): background jobs per (kind, user) on the
 * work pool, run from a real event loop with a real store. A job kicked
 * with a delay waits for it; the kick that completes the batch, or a
 * plain kick (a SEARCH asking), starts the pass at once, not at some
 * later tick; kicks during a pass make one more pass; a thousand users'
 * jobs are kept apart (the table grows) and all end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "imap/user_job.h"
#include "core/util.h"
#include "core/workpool.h"
#include "store/store.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_mail[] = "/tmp/rampart-userjob-XXXXXX";
static struct event_base *g_base;

/* Passes per user index (users "u<n>"), and when the first began. */
#define NUSERS 1000
static atomic_uint g_passes[NUSERS];
static _Atomic uint64_t g_first_ms[NUSERS];

static unsigned user_index(const char *user)
{
	return (unsigned)atoi(user + 1);
}

/* One step = one pass (nothing more to do after it). */
static bool count_step(struct user_job *j, struct store_user *u)
{
	(void)u;
	unsigned i = user_index(j->user);
	uint64_t zero = 0;
	atomic_compare_exchange_strong(&g_first_ms[i], &zero, now_ms());
	atomic_fetch_add(&g_passes[i], 1);
	return false;
}

static const struct user_job_kind kind = { "test_job", "passes", count_step };

/* Runs the loop until cond() holds or ms passed; true when it held. */
static bool loop_until(bool (*cond)(void *), void *arg, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	while (now_ms() < end) {
		if (cond && cond(arg))
			return true;
		struct timeval tv = { 0, 10000 };
		event_base_loopexit(g_base, &tv);
		event_base_dispatch(g_base);
	}
	return cond && cond(arg);
}

static bool none_running(void *arg)
{
	(void)arg;
	return user_job_running(&kind) == 0;
}

static bool passes_at_least(void *arg)
{
	unsigned *want = arg; /* [user, count] */
	return atomic_load(&g_passes[want[0]]) >= want[1];
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(g_mail));
	assert_int_equal(store_init(g_mail), STORE_OK);
	evthread_use_pthreads();
	g_base = event_base_new();
	assert_non_null(g_base);
	assert_int_equal(workpool_start(2), 0);
	workpool_set_background_threads(1, 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	workpool_stop();
	event_base_free(g_base);
	store_shutdown();
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_mail);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_batch_starts_the_pass_at_once(void **state)
{
	(void)state;
	/* A minute's delay, a batch of 3. */
	user_job_kick_soon(&kind, g_base, "u1", 60000, 3, 1);
	user_job_kick_soon(&kind, g_base, "u1", 60000, 3, 1);
	assert_false(loop_until(NULL, NULL, 300));
	assert_int_equal(atomic_load(&g_passes[1]), 0);
	assert_int_equal(user_job_running(&kind), 1);
	uint64_t t0 = now_ms();
	user_job_kick_soon(&kind, g_base, "u1", 60000, 3, 1);
	unsigned want[2] = { 1, 1 };
	assert_true(loop_until(passes_at_least, want, 5000));
	/* At once: well within the second the old tick could take. */
	assert_true(atomic_load(&g_first_ms[1]) - t0 < 500);
	assert_true(loop_until(none_running, NULL, 5000));
	assert_int_equal(atomic_load(&g_passes[1]), 1);
}

static void test_a_kick_asks_for_now(void **state)
{
	(void)state;
	user_job_kick_soon(&kind, g_base, "u2", 60000, 100, 1);
	assert_false(loop_until(NULL, NULL, 200));
	assert_int_equal(atomic_load(&g_passes[2]), 0);
	uint64_t t0 = now_ms();
	user_job_kick(&kind, g_base, "u2"); /* a SEARCH found the index behind */
	unsigned want[2] = { 2, 1 };
	assert_true(loop_until(passes_at_least, want, 5000));
	assert_true(atomic_load(&g_first_ms[2]) - t0 < 500);
	assert_true(loop_until(none_running, NULL, 5000));
}

static void test_the_delay_ends_the_wait(void **state)
{
	(void)state;
	uint64_t t0 = now_ms();
	user_job_kick_soon(&kind, g_base, "u3", 300, 100, 1);
	unsigned want[2] = { 3, 1 };
	assert_true(loop_until(passes_at_least, want, 5000));
	uint64_t took = atomic_load(&g_first_ms[3]) - t0;
	assert_true(took >= 290);
	assert_true(loop_until(none_running, NULL, 5000));
	assert_int_equal(atomic_load(&g_passes[3]), 1);
}

static void test_many_users(void **state)
{
	(void)state;
	char user[16];
	for (unsigned i = 10; i < NUSERS; i++) {
		snprintf(user, sizeof(user), "u%u", i);
		user_job_kick_soon(&kind, g_base, user, 200, 1000, 1);
		/* Kicks again: the same job, found in the table. */
		user_job_kick_soon(&kind, g_base, user, 200, 1000, 1);
	}
	assert_int_equal(user_job_running(&kind), NUSERS - 10);
	assert_true(loop_until(none_running, NULL, 30000));
	for (unsigned i = 10; i < NUSERS; i++)
		assert_int_equal(atomic_load(&g_passes[i]), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_starts_the_pass_at_once),
		cmocka_unit_test(test_a_kick_asks_for_now),
		cmocka_unit_test(test_the_delay_ends_the_wait),
		cmocka_unit_test(test_many_users),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
