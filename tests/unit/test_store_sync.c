/* The metadata syncer (durable, issue #14; store/sqlite/sync.c): with it
 * running, flag changes and expunges are handed to it instead of being
 * synced before their answer; it syncs them on its own within the delay,
 * one sync for every commit of a user since the last; a flush (and the
 * store's shutdown) syncs them at once; and the file of an expunged
 * message stays until the sync that made its expunge durable (sessx,
 * issue #14: no sync before an EXPUNGE's answer), and stays for good when
 * an APPEND of the same bytes came meanwhile. Without a syncer nothing is
 * deferred and the file goes at once. The counts come
 * from store_sync_stats(); the integration test (test_durability.py)
 * watches the real fdatasync calls with strace. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <time.h>

#include "core/flags.h"
#include "core/util.h"
#include "store/store.h"
#include "store_test_util.h"

static char g_mail[300];

static struct store_sync_stats stats_now(void)
{
	struct store_sync_stats s;
	store_sync_stats(&s);
	return s;
}

static bool blob_present(struct store_user *u, const char *blob)
{
	const char *data;
	size_t len;
	if (store_blob_map(u, blob, &data, &len) != STORE_OK)
		return false;
	store_blob_unmap(data, len);
	return true;
}

static void add_flag(struct store_user *u, int64_t mb, uint32_t uid, uint32_t flag,
		     const char *kw)
{
	assert_int_equal(store_flags(u, mb, &uid, 1, STORE_FLAGS_ADD, flag, kw, 0, NULL, NULL,
				     NULL, NULL),
			 STORE_OK);
}

/* Restarts the store with a syncer of this delay (0: none). */
static void restart(unsigned delay_ms)
{
	store_shutdown();
	assert_int_equal(store_init(g_mail), STORE_OK);
	assert_int_equal(store_sync_start(delay_ms), STORE_OK);
}

/* restart(delay_ms), then the user's store open and *mb its INBOX. */
static struct store_user *begin(unsigned delay_ms, const char *user, int64_t *mb)
{
	restart(delay_ms);
	struct store_user *u = store_user_open(user);
	assert_non_null(u);
	*mb = mailbox_id(u, "INBOX");
	return u;
}

static void test_without_syncer_nothing_waits(void **state)
{
	(void)state;
	int64_t mb;
	struct store_user *u = begin(0, "nosync", &mb);
	uint32_t uid = append_msg(u, "INBOX", "Subject: a\r\n\r\nnosync\r\n", 0, NULL);
	struct store_msg m = get_one(u, mb, uid);
	struct store_sync_stats before = stats_now();
	add_flag(u, mb, uid, MAIL_FLAG_FLAGGED, "$Later");
	assert_int_equal(store_expunge(u, mb, &uid, 1), STORE_OK);
	struct store_sync_stats after = stats_now();
	assert_int_equal(after.deferred, before.deferred);
	/* Durable before the answer, so the file went at once. */
	assert_false(blob_present(u, m.blob));
	free(m.keywords);
	store_user_close(u);
}

static void test_deferred_until_flush(void **state)
{
	(void)state;
	int64_t mb;
	struct store_user *u = begin(60000, "late", &mb);  /* the thread would wait a minute */
	uint32_t keep = append_msg(u, "INBOX", "Subject: keep\r\n\r\nkeep\r\n", 0, NULL);
	uint32_t gone = append_msg(u, "INBOX", "Subject: gone\r\n\r\ngone\r\n", 0, NULL);
	struct store_msg g = get_one(u, mb, gone);
	struct store_sync_stats s0 = stats_now();
	add_flag(u, mb, keep, MAIL_FLAG_FLAGGED, "$Later");
	struct store_sync_stats s1 = stats_now();
	assert_int_equal(s1.deferred, s0.deferred + 1);
	assert_int_equal(s1.syncs, s0.syncs);
	/* Answered and visible, not yet synced. */
	struct store_msg k = get_one(u, mb, keep);
	assert_true(k.flags & MAIL_FLAG_FLAGGED);
	assert_string_equal(k.keywords, "$Later");
	free(k.keywords);
	/* An expunge that frees a file is deferred too: answered with no
	 * sync, and the file waits for the sync. */
	assert_int_equal(store_expunge(u, mb, &gone, 1), STORE_OK);
	struct store_sync_stats s2 = stats_now();
	assert_int_equal(s2.deferred, s1.deferred + 1);
	assert_int_equal(s2.syncs, s1.syncs);
	struct store_msg *list;
	size_t n;
	assert_int_equal(store_msg_list(u, mb, 1, true, &list, &n), STORE_OK);
	assert_int_equal(n, 1);
	store_msg_array_free(list, n);
	assert_true(blob_present(u, g.blob));
	store_user_close(u);

	store_sync_flush();
	struct store_sync_stats s3 = stats_now();
	/* One sync of the user's log for both commits (group commit), then
	 * the file. */
	assert_int_equal(s3.syncs, s2.syncs + 1);
	assert_int_equal(s3.failed, s0.failed);
	assert_int_equal(s3.unlinks, s2.unlinks + 1);
	u = store_user_open("late");
	assert_false(blob_present(u, g.blob));
	free(g.keywords);
	store_user_close(u);
}

/* An APPEND of the same bytes between the expunge and its sync reuses the
 * waiting file: the syncer's check under the write lock keeps it. */
static void test_reappended_blob_survives_the_sync(void **state)
{
	(void)state;
	int64_t mb;
	struct store_user *u = begin(60000, "again", &mb);
	const char *text = "Subject: twice\r\n\r\nthe same bytes\r\n";
	uint32_t first = append_msg(u, "INBOX", text, 0, NULL);
	struct store_msg m = get_one(u, mb, first);
	assert_int_equal(store_expunge(u, mb, &first, 1), STORE_OK);
	uint32_t second = append_msg(u, "INBOX", text, 0, NULL);
	assert_true(second > first);
	store_sync_flush();
	assert_true(blob_present(u, m.blob));
	struct store_msg s = get_one(u, mb, second);
	assert_string_equal(s.blob, m.blob);
	free(s.keywords);
	free(m.keywords);
	store_user_close(u);
}

/* An APPEND's own sync covers the flag change committed before it: the
 * syncer then has nothing left to sync for that user. */
static void test_message_commit_covers(void **state)
{
	(void)state;
	int64_t mb;
	struct store_user *u = begin(60000, "covered", &mb);
	uint32_t uid = append_msg(u, "INBOX", "Subject: a\r\n\r\ncovered\r\n", 0, NULL);
	struct store_sync_stats s0 = stats_now();
	add_flag(u, mb, uid, MAIL_FLAG_ANSWERED, NULL);
	append_msg(u, "INBOX", "Subject: b\r\n\r\nthe cover\r\n", 0, NULL);
	store_user_close(u);
	store_sync_flush();
	struct store_sync_stats s1 = stats_now();
	assert_int_equal(s1.deferred, s0.deferred + 1);
	assert_int_equal(s1.covered, s0.covered + 1);
	assert_int_equal(s1.syncs, s0.syncs);
}

/* Nobody flushes: the thread syncs within its delay (bounded wait). */
static void test_syncer_syncs_on_its_own(void **state)
{
	(void)state;
	int64_t mb;
	struct store_user *u = begin(20, "alone", &mb);
	uint32_t uid = append_msg(u, "INBOX", "Subject: a\r\n\r\nalone\r\n", 0, NULL);
	struct store_msg m = get_one(u, mb, uid);
	struct store_sync_stats s0 = stats_now();
	add_flag(u, mb, uid, MAIL_FLAG_DRAFT, NULL);
	assert_int_equal(store_expunge(u, mb, &uid, 1), STORE_OK);
	store_user_close(u);
	struct store_sync_stats s1 = stats_now();
	assert_int_equal(s1.deferred, s0.deferred + 2);
	for (int i = 0; i < 1000 && s1.unlinks == s0.unlinks; i++) {
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000000L }, NULL);
		s1 = stats_now();
	}
	assert_true(s1.syncs > s0.syncs);
	assert_int_equal(s1.unlinks, s0.unlinks + 1);
	u = store_user_open("alone");
	assert_false(blob_present(u, m.blob));
	free(m.keywords);
	store_user_close(u);
}

/* The store's shutdown makes the deferred commits durable. */
static void test_shutdown_flushes(void **state)
{
	(void)state;
	int64_t mb;
	struct store_user *u = begin(60000, "bye", &mb);
	uint32_t uid = append_msg(u, "INBOX", "Subject: a\r\n\r\nbye\r\n", 0, NULL);
	struct store_sync_stats s0 = stats_now();
	add_flag(u, mb, uid, MAIL_FLAG_SEEN, NULL);
	store_user_close(u);
	restart(0);
	struct store_sync_stats s1 = stats_now();
	assert_int_equal(s1.syncs, s0.syncs + 1);
	u = store_user_open("bye");
	struct store_msg m = get_one(u, mb, uid);
	assert_true(m.flags & MAIL_FLAG_SEEN);
	free(m.keywords);
	store_user_close(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_without_syncer_nothing_waits),
		cmocka_unit_test(test_deferred_until_flush),
		cmocka_unit_test(test_reappended_blob_survives_the_sync),
		cmocka_unit_test(test_message_commit_covers),
		cmocka_unit_test(test_syncer_syncs_on_its_own),
		cmocka_unit_test(test_shutdown_flushes),
	};
	return store_test_run("store_sync", tests, ARRAY_SIZE(tests), g_mail);
}
