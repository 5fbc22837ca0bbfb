/* store/blob_durable.c: a file noted durable is known as long as the same
 * inode, unchanged, holds the name; a rename over it, an unlink and a new
 * file, a change of its inode (ctime) make it unknown again. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store/blob_durable.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/rampart-blobdur-XXXXXX";

static void put(const char *path, const char *bytes)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
	close(fd);
}

static struct stat st_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st;
}

/* ctime has nanoseconds on ext4 and tmpfs, but a coarse clock may give two
 * changes within a tick the same value: wait for the next tick. */
static void next_tick(void)
{
	struct timespec a, b;
	clock_gettime(CLOCK_REALTIME_COARSE, &a);
	for (int i = 0; i < 1000; i++) {
		usleep(1000);
		clock_gettime(CLOCK_REALTIME_COARSE, &b);
		if (b.tv_sec != a.tv_sec || b.tv_nsec != a.tv_nsec)
			return;
	}
}

static void test_known_until_changed(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	char path[256], other[256];
	snprintf(path, sizeof(path), "%s/blob", dir);
	snprintf(other, sizeof(other), "%s/tmp", dir);
	put(path, "same bytes");
	struct stat st = st_of(path);
	assert_false(blob_durable_known(&st));
	blob_durable_note(&st);
	st = st_of(path);
	assert_true(blob_durable_known(&st));

	/* Another writer renames a new file (same bytes) over the name. */
	next_tick();
	put(other, "same bytes");
	assert_int_equal(rename(other, path), 0);
	st = st_of(path);
	assert_false(blob_durable_known(&st));
	blob_durable_note(&st);
	assert_true(blob_durable_known(&st));

	/* The inode changes (a chmod, a link): unknown, to be safe. */
	next_tick();
	assert_int_equal(chmod(path, 0400), 0);
	st = st_of(path);
	assert_false(blob_durable_known(&st));
	blob_durable_note(&st);

	/* Unlinked and written again. */
	next_tick();
	assert_int_equal(unlink(path), 0);
	put(path, "same bytes");
	st = st_of(path);
	assert_false(blob_durable_known(&st));

	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_until_changed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
