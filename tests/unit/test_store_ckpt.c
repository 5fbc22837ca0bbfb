/* Background work that used to sit in commands' way (ckpt, issue #14).
 * The checkpointer (store/sqlite/ckpt.c): while it runs, a user's WAL
 * that grew past 1,000 pages is copied back into the database by its
 * thread, never inside the commit that grew it; every message is still
 * there afterwards, across a restart; and a connection whose checkpointer
 * went away checkpoints itself again, so the WAL never grows without
 * bound. Background writers (db.c sqlite_tx_yield): a command waiting for
 * the write lock of a user whose search entries are being written gets
 * it between two entries, not after the whole batch. The counts come
 * from store_sync_stats(). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "core/flags.h"
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

/* After a restart of the store, user's INBOX holds count messages. */
static void assert_kept_across_restart(const char *user, unsigned count)
{
	restart();
	struct store_user *u = store_user_open(user);
	assert_non_null(u);
	struct store_mailbox mb = status_of(u, "INBOX");
	assert_int_equal(mb.messages, count);
	store_mailbox_clear(&mb);
	store_user_close(u);
}

/* Whether every page of the user's WAL is in the database file: the
 * wal-index (-shm) header's mxFrame (offset 16) against the checkpoint
 * info's nBackfill (offset 96), sqlite.org/walformat.html. */
static bool wal_all_copied(const char *user)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/local/%s/index.sqlite-shm", g_mail, user);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	uint32_t mx = 0, backfill = 0;
	assert_int_equal(pread(fd, &mx, 4, 16), 4);
	assert_int_equal(pread(fd, &backfill, 4, 96), 4);
	close(fd);
	fprintf(stderr, "%s: WAL pages %u, copied %u\n", user, mx, backfill);
	return mx > 0 && backfill == mx;
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
	assert_kept_across_restart("writer", count);
}

/* A writer that never pauses (one sender, each APPEND right after the
 * last): the next writer starts the WAL over only if it began after a
 * checkpoint's copy ended, which such a writer rarely does, so the WAL
 * grows past 1,000 pages and stays there. Every commit then asked for
 * another checkpoint of its few new pages, two syncs each (1,175
 * checkpoints for these 1,500 APPENDs); a handle now asks again only
 * once the WAL grew by another CKPT_AGAIN pages. And once the writer
 * stops, the thread's follow-up copies what it wrote after the last
 * checkpoint (without it, that tail stayed in the WAL until the writer
 * came back, which then could not start the WAL over). */
static void test_checkpoints_do_not_chase_a_busy_writer(void **state)
{
	(void)state;
	restart();
	store_inline_set(64 * 1024); /* messages as rows: no file syncs between commits */
	struct store_user *u = store_user_open("busy");
	assert_non_null(u);
	struct store_sync_stats s0 = stats_now();
	unsigned count = 0;
	append_n(u, 1500, &count);
	sqlite_ckpt_wait();
	struct store_sync_stats s1 = stats_now();
	uint64_t n = s1.checkpoints - s0.checkpoints;
	uint64_t inl = s1.checkpoints_inline - s0.checkpoints_inline;
	fprintf(stderr, "busy writer: %u APPENDs, %llu checkpoints, %llu inline\n", count,
		(unsigned long long)n, (unsigned long long)inl);
	assert_true(n + inl >= 1);
	assert_true(n <= count / 10);
	assert_true(wal_all_copied("busy"));
	store_inline_set(0);
	store_user_close(u);
	assert_kept_across_restart("busy", count);
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

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct flagger {
	int64_t mb;
	uint32_t uid;
	double took;
	int r;
};

/* A command on another thread (so another handle): one flag change. */
static void *flag_thread(void *arg)
{
	struct flagger *f = arg;
	struct store_user *u = store_user_open("shared");
	double t0 = now_s();
	f->r = store_flags(u, f->mb, &f->uid, 1, STORE_FLAGS_ADD, MAIL_FLAG_FLAGGED, NULL, 0, NULL,
			   NULL, NULL, NULL);
	f->took = now_s() - t0;
	store_user_close(u);
	return NULL;
}

static void test_background_writer_yields_to_a_command(void **state)
{
	(void)state;
	restart();
	struct store_user *u = store_user_open("shared");
	assert_non_null(u);
	struct flagger f = { .mb = mailbox_id(u, "INBOX") };
	f.uid = append_msg(u, "INBOX", "Subject: y\r\n\r\nyield\r\n", 0, NULL);
	struct sqlite_user *su = sqlite_user_of(u);
	uint64_t y0 = stats_now().yields;
	/* A background transaction that would hold the lock for 2 s. */
	assert_int_equal(sqlite_tx_write_background(su), STORE_OK);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, flag_thread, &f), 0);
	double t0 = now_s();
	while (now_s() - t0 < 2.0) {
		assert_int_equal(sqlite_tx_yield(su), STORE_OK);
		nanosleep(&(struct timespec){ .tv_nsec = 1000000L }, NULL);
	}
	assert_int_equal(sqlite_tx_commit(su), STORE_OK);
	pthread_join(t, NULL);
	assert_int_equal(f.r, STORE_OK);
	assert_true(f.took < 1.0);
	assert_true(stats_now().yields > y0);
	struct store_msg m = get_one(u, f.mb, f.uid);
	assert_true(m.flags & MAIL_FLAG_FLAGGED);
	free(m.keywords);
	store_user_close(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checkpoints_leave_the_commit),
		cmocka_unit_test(test_checkpoints_do_not_chase_a_busy_writer),
		cmocka_unit_test(test_without_the_thread_the_commit_checkpoints),
		cmocka_unit_test(test_background_writer_yields_to_a_command),
	};
	return store_test_run("store_ckpt", tests, ARRAY_SIZE(tests), g_mail);
}
