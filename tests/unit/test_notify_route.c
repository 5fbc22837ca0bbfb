/* imap/notify.c (issue #14): a change of a user's mail is posted only to
 * the worker threads that have a session of that user. Sessions register
 * from real threads, each told its worker slot as hooks.worker_start
 * does; imap_notify_slots answers the watcher which workers to post to:
 * exactly the slots with a session, none when nobody is logged in, and
 * "every worker" when a session lives on a thread without a slot. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "imap/notify.h"
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_mail[] = "/tmp/rampart-notifyroute-XXXXXX";

struct reg {
	int slot;                /* -1: the thread never says */
	const char *user;
	struct imap_notify_entry e;
	bool unregister;         /* instead of registering */
};

static void *reg_thread(void *arg)
{
	struct reg *r = arg;
	if (r->slot >= 0)
		imap_notify_thread_slot((unsigned)r->slot);
	if (r->unregister)
		imap_notify_unregister(&r->e);
	else
		imap_notify_register(&r->e, NULL, r->user);
	return NULL;
}

/* Runs r's (un)registration on a thread of its own. */
static void on_thread(struct reg *r, bool unregister)
{
	r->unregister = unregister;
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, reg_thread, r), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
}

static uint64_t slots_of(const char *user)
{
	uint64_t mask = ~(uint64_t)0;
	assert_true(imap_notify_slots(user, &mask));
	return mask;
}

static void test_only_the_workers_with_sessions(void **state)
{
	(void)state;
	assert_int_equal(slots_of("alice"), 0);
	struct reg a3 = { .slot = 3, .user = "alice" }, a3b = { .slot = 3, .user = "alice" };
	struct reg a0 = { .slot = 0, .user = "alice" }, b63 = { .slot = 63, .user = "bob" };
	on_thread(&a3, false);
	on_thread(&a3b, false);
	on_thread(&a0, false);
	on_thread(&b63, false);
	assert_int_equal(slots_of("alice"), (1u << 3) | 1u);
	assert_int_equal(slots_of("bob"), (uint64_t)1 << 63);
	assert_int_equal(slots_of("carol"), 0);
	/* Two sessions on worker 3: it stays until both have gone. */
	on_thread(&a3, true);
	assert_int_equal(slots_of("alice"), (1u << 3) | 1u);
	on_thread(&a3b, true);
	assert_int_equal(slots_of("alice"), 1u);
	on_thread(&a0, true);
	on_thread(&b63, true);
	assert_int_equal(slots_of("alice"), 0);
	assert_int_equal(slots_of("bob"), 0);
}

static void test_a_thread_without_slot_means_every_worker(void **state)
{
	(void)state;
	struct reg any = { .slot = -1, .user = "dave" }, w1 = { .slot = 1, .user = "dave" };
	on_thread(&w1, false);
	on_thread(&any, false);
	uint64_t mask;
	assert_false(imap_notify_slots("dave", &mask));
	on_thread(&any, true);
	assert_int_equal(slots_of("dave"), 2u);
	on_thread(&w1, true);
	assert_int_equal(slots_of("dave"), 0);
	/* A slot beyond the mask's 64 bits counts as no slot. */
	struct reg far = { .slot = 64, .user = "erin" };
	on_thread(&far, false);
	assert_false(imap_notify_slots("erin", &mask));
	on_thread(&far, true);
	assert_int_equal(slots_of("erin"), 0);
}

/* Many users in the same table: each answers for itself only. */
static void test_many_users(void **state)
{
	(void)state;
	enum { N = 3000 };
	static struct reg regs[N];
	static char names[N][16];
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "u%d", i);
		regs[i] = (struct reg){ .slot = i % 7, .user = names[i] };
		on_thread(&regs[i], false);
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(slots_of(names[i]), (uint64_t)1 << (i % 7));
	for (int i = 0; i < N; i++)
		on_thread(&regs[i], true);
	for (int i = 0; i < N; i += 97)
		assert_int_equal(slots_of(names[i]), 0);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(g_mail))
		return -1;
	return store_init(g_mail) == STORE_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	store_shutdown();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_mail);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_the_workers_with_sessions),
		cmocka_unit_test(test_a_thread_without_slot_means_every_worker),
		cmocka_unit_test(test_many_users),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
