/* The background checkpointer (ckpt, issue #14; store/sqlite/ckpt.c):
 * while it runs, a user's WAL that grew past 1,000 pages is copied back
 * into the database by its thread, never inside the commit that grew it;
 * every message is still there afterwards, across a restart; and a
 * connection whose checkpointer went away checkpoints itself again, so
 * the WAL never grows without bound. The counts come from
 * store_sync_stats(). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <sys/stat.h>

#include "core/util.h"
#include "store/sqlite/sqlite_internal.h"
#include "store/store.h"
#include "store_test_util.h"

/* A WAL of 1,000 pages takes ~100 APPENDs of ~10 pages each. */
#define MAX_APPENDS 3000

static char g_mail[300];

static struct store_sync_stats stats_now(void)
{
	struct store_sync_stats s;
	store_sync_stats(&s);
	return s;
}

static void restart(void)
{
	store_shutdown();
	assert_int_equal(store_init(g_mail), STORE_OK);
	assert_int_equal(store_sync_start(0), STORE_OK);
}

static void append_n(struct store_user *u, unsigned n, unsigned *count)
{
	for (unsigned i = 0; i < n; i++) {
		char text[128];
		snprintf(text, sizeof(text), "Subject: m%u\r\nMessage-ID: <%u@ckpt>\r\n\r\nbody %u\r\n",
			 *count, *count, *count);
		append_msg(u, "INBOX", text, 0, NULL);
		(*count)++;
	}
}

static off_t wal_size(const char *user)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/local/%s/index.sqlite-wal", g_mail, user);
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_checkpoints_leave_the_commit(void **state)
{
	(void)state;
	restart();
	assert_true(sqlite_ckpt_active());
	struct store_sync_stats s0 = stats_now();
	struct store_user *u = store_user_open("writer");
	assert_non_null(u);
	unsigned count = 0;
	struct store_sync_stats s1 = s0;
	while (count < MAX_APPENDS && s1.checkpoints == s0.checkpoints) {
		append_n(u, 10, &count);
		sqlite_ckpt_wait();
		s1 = stats_now();
	}
	assert_true(s1.checkpoints > s0.checkpoints);
	assert_int_equal(s1.checkpoints_inline, s0.checkpoints_inline);
	/* The WAL starts over once copied: three times as many messages
	 * again (~3,000 pages) leave it below twice the threshold. */
	for (unsigned goal = 4 * count; count < goal;) {
		append_n(u, 10, &count);
		sqlite_ckpt_wait();
	}
	off_t wal = wal_size("writer");
	assert_true(wal > 0);
	assert_true(wal < 2 * 1000 * (4096 + 24) + 32);
	store_user_close(u);
	restart();
	u = store_user_open("writer");
	assert_non_null(u);
	struct store_mailbox mb = status_of(u, "INBOX");
	assert_int_equal(mb.messages, count);
	store_mailbox_clear(&mb);
	store_user_close(u);
}

/* A handle whose thread stopped (shutdown, a forked child) checkpoints
 * inside its commits as SQLite would. */
static void test_without_the_thread_the_commit_checkpoints(void **state)
{
	(void)state;
	restart();
	struct store_user *u = store_user_open("alone");
	assert_non_null(u);
	sqlite_ckpt_stop();
	assert_false(sqlite_ckpt_active());
	struct store_sync_stats s0 = stats_now();
	struct store_sync_stats s1 = s0;
	unsigned count = 0;
	while (count < MAX_APPENDS && s1.checkpoints_inline == s0.checkpoints_inline) {
		append_n(u, 10, &count);
		s1 = stats_now();
	}
	assert_true(s1.checkpoints_inline > s0.checkpoints_inline);
	assert_int_equal(s1.checkpoints, s0.checkpoints);
	store_user_close(u);
	restart();
	assert_true(sqlite_ckpt_active());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checkpoints_leave_the_commit),
		cmocka_unit_test(test_without_the_thread_the_commit_checkpoints),
	};
	return store_test_run("store_ckpt", tests, ARRAY_SIZE(tests), g_mail);
}
