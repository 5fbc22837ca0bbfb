/* store/blob.c's per-handle memory of existing subdirectories (issue #14):
 * a message skips the mkdir of a directory the handle saw, and a directory
 * removed behind its back is made again, not a failed APPEND. Also
 * core/util.c's proc_pid(): the cached pid is renewed in a fork()ed child,
 * which the store's pool and syncer rely on to notice a fork. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store/blob.h"
#include "store/store.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void rm_rf(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void read_back(struct store_blobs *b, const char *hex, const char *want)
{
	const char *data;
	size_t len;
	assert_int_equal(store_blobs_map_file(b, hex, &data, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(data, want, len);
	store_blob_unmap(data, len);
}

static void test_subdir_removed_behind_handle(void **state)
{
	(void)state;
	char dir[] = "/tmp/rampart-blobstore-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct store_blobs *b = store_blobs_open(dir, "u");
	assert_non_null(b);
	const char *one = "first message\r\n", *two = "second message\r\n";
	char h1[65], h2[65];
	store_blob_hash(one, strlen(one), h1);
	store_blob_hash(two, strlen(two), h2);
	assert_int_equal(store_blobs_put(b, h1, one, strlen(one)), 0);
	read_back(b, h1, one);

	/* The subdirectory h2 will go to, made and then removed by someone
	 * else after this handle remembered it. */
	char sub[256];
	snprintf(sub, sizeof(sub), "%s/blobs/%.2s", dir, h2);
	char h3[65];
	memcpy(h3, h2, 2);
	/* Another message in h2's directory teaches the handle it exists. */
	char probe[64];
	for (unsigned i = 0;; i++) {
		assert_true(i < 100000);
		snprintf(probe, sizeof(probe), "probe %u\r\n", i);
		store_blob_hash(probe, strlen(probe), h3);
		if (memcmp(h3, h2, 2) == 0)
			break;
	}
	assert_int_equal(store_blobs_put(b, h3, probe, strlen(probe)), 0);
	rm_rf(sub);
	struct stat st;
	assert_int_equal(stat(sub, &st), -1);

	assert_int_equal(store_blobs_put(b, h2, two, strlen(two)), 0);
	assert_int_equal(stat(sub, &st), 0);
	read_back(b, h2, two);
	store_blobs_close(b);
	rm_rf(dir);
}

static void test_proc_pid_renewed_after_fork(void **state)
{
	(void)state;
	assert_int_equal(proc_pid(), (long)getpid());
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		long mine = proc_pid();
		long real = (long)getpid();
		char c = mine == real ? 'y' : 'n';
		_exit(write(fds[1], &c, 1) == 1 ? 0 : 1);
	}
	close(fds[1]);
	char c = 0;
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(c, 'y');
	assert_int_equal(proc_pid(), (long)getpid());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subdir_removed_behind_handle),
		cmocka_unit_test(test_proc_pid_renewed_after_fork),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
