/* fastnotify (issue #14; store/sqlite/watch.c): a commit tells this
 * process's watchers directly and touches the user's notify file only
 * while another process watches that user (it holds a read lock on the
 * user's slot of <mail root>/.watchers). The other direction (a change of
 * another process reaching this one's watchers) is in
 * test_store_conformance.c test_notifications. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/backend.h"
#include "store/store.h"
#include "store_test_util.h"

static atomic_uint g_notes;

static void on_change(const char *user, void *arg)
{
	(void)arg;
	if (strcmp(user, "n-fast") == 0)
		atomic_fetch_add(&g_notes, 1);
}

static bool noted_since(unsigned c0)
{
	return store_test_counted_since(&g_notes, c0);
}

static char g_notify[1024];

/* The notify file's mtime set far in the past; true when a touch since. */
static void mark_old(void)
{
	struct timespec ts[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };
	assert_int_equal(utimensat(AT_FDCWD, g_notify, ts, 0), 0);
}

static bool touched(void)
{
	struct stat st;
	assert_int_equal(stat(g_notify, &st), 0);
	return st.st_mtim.tv_sec != 1000000000;
}

static void test_touch_only_for_other_processes(void **state)
{
	(void)state;
	struct store_user *u = store_user_open("n-fast");
	assert_non_null(u);
	char *dir = store_user_dir("n-fast");
	snprintf(g_notify, sizeof(g_notify), "%s/notify", dir);
	free(dir);
	assert_int_equal(store_watch_start(on_change, NULL), STORE_OK);
	assert_int_equal(store_watch_user("n-fast"), STORE_OK);

	/* Only this process watches: told at once, no touch. */
	mark_old();
	unsigned c0 = atomic_load(&g_notes);
	append_msg(u, "INBOX", "Subject: a\r\n\r\na\r\n", 0, NULL);
	assert_true(atomic_load(&g_notes) != c0);
	assert_false(touched());

	/* Another process watches (its read lock on the registry, here on
	 * every slot): the file is touched for it, and this process's
	 * watcher is told as well. */
	int go[2], done[2];
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(done), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char path[1100];
		snprintf(path, sizeof(path), "%s/.watchers", store_mail_root());
		int fd = open(path, O_RDWR);
		struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
		char c = fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 ? 'y' : 'n';
		if (write(go[1], &c, 1) != 1 || read(done[0], &c, 1) != 1)
			_exit(2);
		_exit(0);
	}
	char c = 0;
	assert_int_equal(read(go[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	mark_old();
	c0 = atomic_load(&g_notes);
	append_msg(u, "INBOX", "Subject: b\r\n\r\nb\r\n", 0, NULL);
	assert_true(touched());
	assert_true(noted_since(c0));
	assert_int_equal(write(done[1], "x", 1), 1);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* Gone again: no touch. */
	mark_old();
	append_msg(u, "INBOX", "Subject: c\r\n\r\nc\r\n", 0, NULL);
	assert_false(touched());

	/* Nobody watches in this process either: a process that is not
	 * watching still cannot tell other processes apart from none, so it
	 * asks the registry, which is empty: no touch. */
	store_unwatch_user("n-fast");
	mark_old();
	c0 = atomic_load(&g_notes);
	append_msg(u, "INBOX", "Subject: d\r\n\r\nd\r\n", 0, NULL);
	assert_false(touched());
	assert_int_equal(atomic_load(&g_notes), c0);
	store_watch_stop();
	store_user_close(u);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_touch_only_for_other_processes),
	};
	return store_test_run("store_notify", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
