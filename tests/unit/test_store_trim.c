/* store_cache_trim() (issue #14, idle): the memory housekeeping of an idle
 * server closes cached store handles nobody used for a while, and only
 * those: handles in use, and unused ones younger than the bound, stay; a
 * trimmed user's store opens again with its data. memtrim_run_once() is
 * the housekeeping thread's pass, run here directly. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app/memtrim.h"
#include "store/sqlite/sqlite_internal.h"
#include "store/store.h"
#include "store_test_util.h"

/* Does user `name`'s unused handle hold its pages (taken and given back:
 * taking one neither fills nor drops its cache)? A cache that gave its
 * pages back keeps ~5 KB of structure; one page read is 4 KB, INBOX's
 * ~140 KB here. */
static bool is_warm(const char *name)
{
	struct store_user *u = store_user_open(name);
	assert_non_null(u);
	int cur = 0, hi = 0;
	sqlite3_db_status(sqlite_user_of(u)->db, SQLITE_DBSTATUS_CACHE_USED, &cur, &hi, 0);
	store_user_close(u);
	return cur > 32 * 1024;
}

/* Issue #14, fifth session: every unused handle of the pool keeps its
 * page cache (200 busy users read every page again at most commands when
 * only 64 did); beyond 64, one unused for a second gives it back at the
 * next trim, so a wave of logins leaves no more memory than before. */
static void test_warm_caches(void **state)
{
	(void)state;
	store_cache_drop();
	enum { N = 100, KEEP = 64 };
	char name[N][32];
	for (int i = 0; i < N; i++) {
		snprintf(name[i], sizeof(name[i]), "warm%d", i);
		struct store_user *u = store_user_open(name[i]);
		assert_non_null(u);
		struct store_mailbox mb;
		assert_int_equal(store_mailbox_get(u, "INBOX", &mb), STORE_OK);
		store_mailbox_clear(&mb);
		store_user_close(u);
	}
	int warm = 0;
	for (int i = 0; i < N; i++)
		warm += is_warm(name[i]);
	assert_int_equal(warm, N);
	/* Young: a trim keeps them all. */
	assert_int_equal(store_cache_trim(3600 * 1000), 0);
	warm = 0;
	for (int i = 0; i < N; i++)
		warm += is_warm(name[i]);
	assert_int_equal(warm, N);
	/* A second later, the 64 most recently used keep theirs; no handle
	 * is closed. */
	usleep(1100 * 1000);
	assert_int_equal(store_cache_trim(3600 * 1000), 0);
	warm = 0;
	for (int i = 0; i < N; i++)
		warm += is_warm(name[i]);
	assert_int_equal(warm, KEEP);
	store_cache_drop();
}

static void test_trim_keeps_young_and_used_handles(void **state)
{
	(void)state;
	store_cache_drop();
	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "trim%d", i);
		struct store_user *u = store_user_open(name);
		assert_non_null(u);
		store_user_close(u);
	}
	/* Nothing is an hour old: nothing goes. */
	assert_int_equal(store_cache_trim(3600 * 1000), 0);
	/* In use: never trimmed, even with no age bound at all. */
	struct store_user *held = store_user_open("trim0");
	assert_non_null(held);
	usleep(20 * 1000);
	assert_int_equal(store_cache_trim(10), 4);
	assert_int_equal(store_cache_trim(0), 0);
	/* A trimmed user opens again, with its mailboxes. */
	struct store_user *again = store_user_open("trim1");
	assert_non_null(again);
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(again, "INBOX", &mb), STORE_OK);
	assert_string_equal(mb.name, "INBOX");
	store_mailbox_clear(&mb);
	store_user_close(again);
	store_user_close(held);
	/* The housekeeping pass closes the two now unused ones. */
	usleep(20 * 1000);
	memtrim_run_once(10, true);
	assert_int_equal(store_cache_trim(0), 0);
}

static void *open_pick(void *arg)
{
	*(struct store_user **)arg = store_user_open("pick");
	return NULL;
}

/* Issue #14, fifth session: of a user's unused handles, the one released
 * last is handed out (its page cache is the one most likely still valid:
 * SQLite drops a handle's cache when another handle wrote), not the one
 * made last. */
static void test_last_released_handle_first(void **state)
{
	(void)state;
	store_cache_drop();
	struct store_user *a = store_user_open("pick"), *b = NULL;
	assert_non_null(a);
	/* Another thread, while a is held, gets a second handle. */
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, open_pick, &b), 0);
	pthread_join(t, NULL);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	store_user_close(b);
	store_user_close(a);
	struct store_user *c = store_user_open("pick");
	assert_ptr_equal(c, a);
	store_user_close(c);
	/* And the other way round. */
	a = store_user_open("pick");
	assert_int_equal(pthread_create(&t, NULL, open_pick, &b), 0);
	pthread_join(t, NULL);
	store_user_close(a);
	store_user_close(b);
	c = store_user_open("pick");
	assert_ptr_equal(c, b);
	store_user_close(c);
	store_cache_drop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trim_keeps_young_and_used_handles),
		cmocka_unit_test(test_warm_caches),
		cmocka_unit_test(test_last_released_handle_first),
	};
	return store_test_run("store_trim", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
