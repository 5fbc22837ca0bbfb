/* store_append() of messages given as a file range (struct store_append
 * in_file), as the IMAP parser's spool hands them over: the bytes come
 * back identical, an unlinked file holding exactly the message becomes the
 * blob by a link (same inode, no copy), ranges of a shared file and named
 * files are copied, bad arguments and a file shorter than announced are
 * refused with nothing visible. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "store_test_util.h"

static char *make_message(const char *subject, size_t len)
{
	char *m = malloc(len);
	int h = snprintf(m, len, "Subject: %s\r\n\r\n", subject);
	for (size_t i = (size_t)h; i < len; i++)
		m[i] = (i % 78 == 77) ? '\n' : (char)('!' + (i * 7) % 90);
	return m;
}

/* An unlinked file in the user's spool directory holding data. */
static int spool_file(const char *user, const char *data, size_t len)
{
	char *dir = store_user_spool_dir(user);
	assert_non_null(dir);
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	free(dir);
	return fd;
}

static void file_init(struct store_append *a, int fd, uint64_t off, size_t len)
{
	append_init(a, "", 0, NULL);
	a->data = NULL;
	a->in_file = true;
	a->fd = fd;
	a->off = off;
	a->len = len;
}

/* The message's blob file, by its name in the index. */
static void blob_stat(struct store_user *u, const char *user, uint32_t uid, struct stat *st,
		      char blob[65])
{
	struct store_mailbox mb = status_of(u, "INBOX");
	struct store_msg *m;
	size_t n;
	assert_int_equal(store_msg_get(u, mb.id, &uid, 1, &m, &n), STORE_OK);
	assert_int_equal(n, 1);
	memcpy(blob, m[0].blob, 65);
	char *dir = store_user_dir(user);
	char path[1024];
	snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", dir, blob, blob + 2);
	assert_int_equal(stat(path, st), 0);
	free(dir);
	store_msg_array_free(m, n);
	store_mailbox_clear(&mb);
}

static void test_spool_becomes_the_blob(void **state)
{
	(void)state;
	struct store_user *u = store_user_open("linker");
	assert_non_null(u);
	size_t len = 300 * 1024 + 7;
	char *msg = make_message("linked", len);
	int fd = spool_file("linker", msg, len);
	struct store_append a;
	file_init(&a, fd, 0, len);
	uint32_t uv;
	assert_int_equal(store_append(u, "INBOX", &a, 1, &uv), STORE_OK);
	struct stat fst, bst;
	char blob[65];
	assert_int_equal(fstat(fd, &fst), 0);
	blob_stat(u, "linker", a.uid, &bst, blob);
	/* No copy: the spool itself got the blob's name, read-only. */
	assert_int_equal(bst.st_ino, fst.st_ino);
	assert_int_equal(bst.st_mode & 0777, 0400);
	assert_blob_bytes(u, blob, msg, len);
	/* The same bytes again (another spool): the blob is shared. */
	int fd2 = spool_file("linker", msg, len);
	struct store_append b;
	file_init(&b, fd2, 0, len);
	assert_int_equal(store_append(u, "INBOX", &b, 1, &uv), STORE_OK);
	char blob2[65];
	blob_stat(u, "linker", b.uid, &bst, blob2);
	assert_string_equal(blob, blob2);
	assert_int_equal(bst.st_ino, fst.st_ino);
	close(fd);
	close(fd2);
	free(msg);
	store_user_close(u);
}

static void test_ranges_and_named_files_are_copied(void **state)
{
	(void)state;
	struct store_user *u = store_user_open("copier");
	assert_non_null(u);
	size_t l1 = 100 * 1024 + 1, l2 = 70 * 1024 + 3;
	char *m1 = make_message("first", l1);
	char *m2 = make_message("second", l2);
	char *both = malloc(l1 + l2);
	memcpy(both, m1, l1);
	memcpy(both + l1, m2, l2);
	/* MULTIAPPEND: two ranges of one spool and one message in memory. */
	int fd = spool_file("copier", both, l1 + l2);
	struct store_append a[3];
	file_init(&a[0], fd, 0, l1);
	append_init(&a[1], "Subject: small\r\n\r\nin memory\r\n", 0, NULL);
	file_init(&a[2], fd, l1, l2);
	uint32_t uv;
	assert_int_equal(store_append(u, "INBOX", a, 3, &uv), STORE_OK);
	struct stat fst, bst;
	assert_int_equal(fstat(fd, &fst), 0);
	char blob[65];
	blob_stat(u, "copier", a[0].uid, &bst, blob);
	assert_true(bst.st_ino != fst.st_ino);
	assert_blob_bytes(u, blob, m1, l1);
	blob_stat(u, "copier", a[2].uid, &bst, blob);
	assert_true(bst.st_ino != fst.st_ino);
	assert_blob_bytes(u, blob, m2, l2);
	blob_stat(u, "copier", a[1].uid, &bst, blob);
	assert_blob_bytes(u, blob, a[1].data, a[1].len);
	close(fd);

	/* A file with a name can change after the append: copied, never
	 * linked, so the blob keeps the bytes appended (store.h 12). */
	char path[512];
	char *dir = store_user_spool_dir("copier");
	snprintf(path, sizeof(path), "%s/named.eml", dir);
	free(dir);
	int nfd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(nfd >= 0);
	char *m3 = make_message("named", l2);
	assert_int_equal(write(nfd, m3, l2), (ssize_t)l2);
	struct store_append c;
	file_init(&c, nfd, 0, l2);
	assert_int_equal(store_append(u, "INBOX", &c, 1, &uv), STORE_OK);
	assert_int_equal(fstat(nfd, &fst), 0);
	blob_stat(u, "copier", c.uid, &bst, blob);
	assert_true(bst.st_ino != fst.st_ino);
	assert_int_equal(pwrite(nfd, "CHANGED", 7, 0), 7);
	assert_blob_bytes(u, blob, m3, l2);
	close(nfd);
	unlink(path);
	free(m1);
	free(m2);
	free(m3);
	free(both);
	store_user_close(u);
}

static void test_bad_file_arguments(void **state)
{
	(void)state;
	struct store_user *u = store_user_open("refuser");
	assert_non_null(u);
	struct store_mailbox before = status_of(u, "INBOX");
	uint32_t uv;
	struct store_append a;
	file_init(&a, -1, 0, 10);
	assert_int_equal(store_append(u, "INBOX", &a, 1, &uv), STORE_EINVAL);
	int fd = spool_file("refuser", "Subject: x\r\n\r\nshort\r\n", 21);
	file_init(&a, fd, 0, 10);
	a.data = "both";
	assert_int_equal(store_append(u, "INBOX", &a, 1, &uv), STORE_EINVAL);
	/* Announced longer than the file: an I/O error, nothing stored. */
	struct store_append m[2];
	append_init(&m[0], "Subject: ok\r\n\r\nfine\r\n", 0, NULL);
	file_init(&m[1], fd, 0, 4096);
	assert_int_equal(store_append(u, "INBOX", m, 2, &uv), STORE_EIO);
	file_init(&m[1], fd, 10, 4096);
	assert_int_equal(store_append(u, "INBOX", m, 2, &uv), STORE_EIO);
	struct store_mailbox after = status_of(u, "INBOX");
	assert_int_equal(after.messages, before.messages);
	assert_int_equal(after.uidnext, before.uidnext);
	close(fd);
	store_mailbox_clear(&before);
	store_mailbox_clear(&after);
	store_user_close(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spool_becomes_the_blob),
		cmocka_unit_test(test_ranges_and_named_files_are_copied),
		cmocka_unit_test(test_bad_file_arguments),
	};
	return store_test_run("store-spool", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
