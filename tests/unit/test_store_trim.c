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

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app/memtrim.h"
#include "store/store.h"
#include "store_test_util.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trim_keeps_young_and_used_handles),
	};
	return store_test_run("store_trim", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
