/* Small messages inside the index (issue #14 inline; store/sqlite/inline.c,
 * `[store] inline_max_kb`): a message up to the limit gets no file under
 * blobs/ but a row of index.sqlite written in the APPEND's transaction;
 * every reader (map, read-once, open as a descriptor) gets its bytes; a
 * bigger message, or any with the limit at 0, is a file as before; copies
 * share one row, which goes with the last message using it; a spooled
 * message (LMTP, big literal) and one named ahead by store_msg_prepare()
 * go inline too. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/blob.h"
#include "store/sqlite/sqlite_internal.h"
#include "store/store.h"
#include "store_sqlite_test_util.h"
#include "store_test_util.h"

static char *make_message(const char *subject, size_t len)
{
	char *m = malloc(len + 1);
	int h = snprintf(m, len + 1, "Subject: %s\r\n\r\n", subject);
	for (size_t i = (size_t)h; i < len; i++)
		m[i] = (i % 78 == 77) ? '\n' : (char)('!' + (i * 7) % 90);
	m[len] = '\0';
	return m;
}

static bool file_exists(const char *user, const char *blob)
{
	char *dir = store_user_dir(user);
	char path[1024];
	snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", dir, blob, blob + 2);
	free(dir);
	return access(path, F_OK) == 0;
}

/* Rows of blob_inline with this name (a scan: tests only). */
static int rows_of(const char *user, const char *blob)
{
	sqlite3 *db = store_test_index_open(user);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM blob_inline WHERE blob=?1",
					    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void sql(const char *user, const char *text)
{
	sqlite3 *db = store_test_index_open(user);
	assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void assert_bytes(struct store_user *u, const char *blob, const char *want, size_t len)
{
	assert_blob_bytes(u, blob, want, len);
	const char *data;
	size_t got;
	assert_int_equal(store_blob_map_once(u, blob, &data, &got), STORE_OK);
	assert_int_equal(got, len);
	assert_memory_equal(data, want, len);
	store_blob_unmap(data, got);
	/* As a descriptor (sendfile, streaming): the same bytes. */
	int fd;
	uint64_t size;
	assert_int_equal(store_blob_open(u, blob, &fd, &size), STORE_OK);
	assert_int_equal(size, len);
	char *buf = malloc(len + 1);
	assert_int_equal(pread(fd, buf, len + 1, 0), (ssize_t)len);
	assert_memory_equal(buf, want, len);
	free(buf);
	close(fd);
}

/* The store of user, with messages up to 64 KiB kept as rows. */
static struct store_user *open_inline(const char *user)
{
	store_inline_set(64 * 1024);
	struct store_user *u = store_user_open(user);
	assert_non_null(u);
	return u;
}

static char *blob_of(struct store_user *u, const char *mailbox, uint32_t uid)
{
	struct store_msg m = get_one(u, mailbox_id(u, mailbox), uid);
	free(m.keywords);
	return strdup(m.blob);
}

static void test_small_in_the_index_big_in_files(void **state)
{
	(void)state;
	struct store_user *u = open_inline("sizes");
	char *small = make_message("small", 4000);
	char *edge = make_message("edge", 64 * 1024);
	char *big = make_message("big", 64 * 1024 + 1);
	char *empty = strdup("");
	const char *texts[4] = { small, edge, big, empty };
	bool inlined[4] = { true, true, false, true };
	for (int i = 0; i < 4; i++) {
		uint32_t uid = append_msg(u, "INBOX", texts[i], 0, NULL);
		char *b = blob_of(u, "INBOX", uid);
		assert_int_equal(rows_of("sizes", b), inlined[i] ? 1 : 0);
		assert_int_equal(file_exists("sizes", b), !inlined[i]);
		assert_bytes(u, b, texts[i], strlen(texts[i]));
		free(b);
	}
	/* Off: every message a file again; the rows stay readable. */
	store_inline_set(0);
	char *other = make_message("other", 3000);
	uint32_t uid = append_msg(u, "INBOX", other, 0, NULL);
	char *b = blob_of(u, "INBOX", uid);
	assert_int_equal(rows_of("sizes", b), 0);
	assert_true(file_exists("sizes", b));
	free(b);
	b = blob_of(u, "INBOX", 1);
	assert_bytes(u, b, small, 4000);
	free(b);
	store_user_close(u);
	free(small);
	free(edge);
	free(big);
	free(empty);
	free(other);
}

/* Copies share one row; it goes with the last message using it. */
static void test_copies_share_the_row_until_the_last_expunge(void **state)
{
	(void)state;
	struct store_user *u = open_inline("copies");
	assert_int_equal(store_mailbox_create(u, "Keep", NULL), STORE_OK);
	char *text = make_message("copy", 5000);
	uint32_t uid = append_msg(u, "INBOX", text, 0, NULL);
	uint32_t again = append_msg(u, "INBOX", text, 0, NULL);  /* same bytes */
	char *b = blob_of(u, "INBOX", uid);
	int64_t inbox = mailbox_id(u, "INBOX");
	uint32_t uids[2] = { uid, again };
	assert_int_equal(store_copy(u, inbox, uids, 1, "Keep", false, NULL, NULL, NULL, NULL), STORE_OK);
	assert_int_equal(rows_of("copies", b), 1);
	assert_int_equal(store_expunge(u, inbox, uids, 2), STORE_OK);
	store_sync_flush();
	assert_int_equal(rows_of("copies", b), 1);  /* Keep still has it */
	assert_bytes(u, b, text, 5000);
	int64_t keep = mailbox_id(u, "Keep");
	uint32_t one = 1;
	assert_int_equal(store_expunge(u, keep, &one, 1), STORE_OK);
	store_sync_flush();
	assert_int_equal(rows_of("copies", b), 0);
	const char *data;
	size_t len;
	assert_int_equal(store_blob_map(u, b, &data, &len), STORE_ENOENT);
	/* The same bytes appended again: a new row. */
	uid = append_msg(u, "INBOX", text, 0, NULL);
	assert_int_equal(rows_of("copies", b), 1);
	assert_bytes(u, b, text, 5000);
	free(b);
	free(text);
	store_user_close(u);
}

/* A spooled message, and one whose name store_msg_prepare() gave ahead
 * (LMTP), are rows too: prepare writes no file for them. */
static void test_spooled_and_prepared_messages(void **state)
{
	(void)state;
	struct store_user *u = open_inline("spooled");
	char *text = make_message("spooled", 6000);
	char *dir = store_user_spool_dir("spooled");
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	free(dir);
	assert_int_equal(write(fd, "xx", 2), 2);
	assert_int_equal(write(fd, text, 6000), 6000);
	struct store_append a;
	append_init(&a, "", 0, NULL);
	a.data = NULL;
	a.in_file = true;
	a.fd = fd;
	a.off = 2;
	a.len = 6000;
	char hex[65];
	assert_int_equal(store_msg_prepare(u, &a, hex), STORE_OK);
	assert_false(file_exists("spooled", hex));
	a.blob_hex = hex;
	uint32_t uv;
	assert_int_equal(store_append(u, "INBOX", &a, 1, &uv), STORE_OK);
	close(fd);
	char *b = blob_of(u, "INBOX", a.uid);
	assert_string_equal(b, hex);
	assert_false(file_exists("spooled", b));
	assert_int_equal(rows_of("spooled", b), 1);
	assert_bytes(u, b, text, 6000);
	free(b);
	free(text);
	store_user_close(u);
}

/* A row made bigger than any the store writes (by hand): an error for
 * its readers, never a crash. */
static void test_oversized_row_is_an_error(void **state)
{
	(void)state;
	struct store_user *u = open_inline("oversized");
	char *text = make_message("oversized", 1000);
	uint32_t uid = append_msg(u, "INBOX", text, 0, NULL);
	char *b = blob_of(u, "INBOX", uid);
	store_user_close(u);
	store_cache_drop();
	char stmt[256];
	snprintf(stmt, sizeof(stmt), "UPDATE blob_inline SET data=zeroblob(%d) WHERE blob='%s'",
		 STORE_BLOB_READ_MAX + 1, b);
	sql("oversized", stmt);
	u = store_user_open("oversized");
	const char *data;
	size_t len;
	assert_int_equal(store_blob_map(u, b, &data, &len), STORE_EIO);
	int fd;
	uint64_t size;
	assert_int_equal(store_blob_open(u, b, &fd, &size), STORE_EIO);
	free(b);
	free(text);
	store_user_close(u);
}

/* The front's reads and the message cache, for a file and for a row: a
 * read-once pass (indexer, export) does not fill it, a normal read does
 * and is then answered from memory (also with the file gone behind the
 * store's back); each read that misses counts one miss. */
static void test_front_reads_fill_once(void **state)
{
	(void)state;
	for (int row = 0; row <= 1; row++) {
		store_inline_set(row ? 64 * 1024 : 0);
		struct store_user *u = store_user_open("frontread");
		assert_non_null(u);
		char *text = make_message(row ? "front row" : "front file", 3000);
		store_message_cache_set(0);  /* stored without filling it */
		uint32_t uid = append_msg(u, "INBOX", text, 0, NULL);
		store_message_cache_set(1 << 20);
		char *b = blob_of(u, "INBOX", uid);
		assert_int_equal(file_exists("frontread", b), !row);
		const char *data;
		size_t len;
		struct store_message_cache_stats st0, st1;
		store_message_cache_stats(&st0);
		assert_int_equal(store_blob_map_once(u, b, &data, &len), STORE_OK);
		store_blob_unmap(data, len);
		store_message_cache_stats(&st1);
		assert_int_equal(st1.misses - st0.misses, 1);
		assert_int_equal(store_blob_cached(u, b, &data, &len), STORE_ENOENT);
		assert_blob_bytes(u, b, text, 3000);
		assert_int_equal(store_blob_cached(u, b, &data, &len), STORE_OK);
		store_blob_unmap(data, len);
		if (!row) {
			char *dir = store_user_dir("frontread");
			char path[1024];
			snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", dir, b, b + 2);
			free(dir);
			assert_int_equal(unlink(path), 0);
		}
		store_message_cache_stats(&st0);
		assert_blob_bytes(u, b, text, 3000);
		store_message_cache_stats(&st1);
		assert_int_equal(st1.hits - st0.hits, 1);
		assert_int_equal(st1.misses, st0.misses);
		store_message_cache_set(0);
		free(b);
		free(text);
		store_user_close(u);
	}
}

/* An APPEND to a mailbox that does not exist is refused whether its
 * message is a row or a file, and leaves neither behind: a file-sized one
 * is refused before its file is written, a row-sized one by the
 * transaction's own lookup (no read transaction before it). */
static void test_missing_mailbox_writes_nothing(void **state)
{
	(void)state;
	struct store_user *u = open_inline("nowhere");
	char *small = make_message("small", 4000);
	char *big = make_message("big", 64 * 1024 + 1);
	const char *texts[2] = { small, big };
	for (int i = 0; i < 2; i++) {
		struct store_append a;
		append_init(&a, texts[i], 0, NULL);
		uint32_t uv = 0;
		assert_int_equal(store_append(u, "Nowhere", &a, 1, &uv), STORE_ENOENT);
		assert_int_equal(a.uid, 0);
		char hex[65];
		store_blob_hash(texts[i], strlen(texts[i]), hex);
		assert_int_equal(rows_of("nowhere", hex), 0);
		assert_false(file_exists("nowhere", hex));
	}
	/* The batch of both: refused whole. */
	struct store_append two[2];
	append_init(&two[0], small, 0, NULL);
	append_init(&two[1], big, 0, NULL);
	assert_int_equal(store_append(u, "Nowhere", two, 2, NULL), STORE_ENOENT);
	struct store_mailbox mb = status_of(u, "INBOX");
	assert_int_equal(mb.messages, 0);
	store_mailbox_clear(&mb);
	store_inline_set(0);
	free(small);
	free(big);
	store_user_close(u);
}

/* PRAGMA mmap_size of the handle: how much of its index it maps. */
static int64_t mapped(struct store_user *u)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(sqlite_user_of(u)->db, "PRAGMA mmap_size", -1, &st,
					    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* A handle that read a row of 16 KiB or more (a download) reads its index
 * through a memory map from then on, also after a SEARCH (which maps for
 * itself) and across closes (the pooled handle keeps it); the bytes are
 * the same, also of rows written after the map (the file grew). Rows of a
 * few KB leave the handle as it was. */
static void test_large_rows_map_the_index(void **state)
{
	(void)state;
	struct store_user *u = open_inline("mapped");
	char *small = make_message("small", 4000);
	char *large = make_message("large", 40000);
	char *later = make_message("later", 60000);
	char *bs = NULL, *bl = NULL, *bn = NULL;
	uint32_t us = append_msg(u, "INBOX", small, 0, NULL);
	uint32_t ul = append_msg(u, "INBOX", large, 0, NULL);
	bs = blob_of(u, "INBOX", us);
	bl = blob_of(u, "INBOX", ul);
	assert_int_equal(mapped(u), 0);
	assert_bytes(u, bs, small, strlen(small));
	assert_int_equal(mapped(u), 0);
	assert_bytes(u, bl, large, strlen(large));
	assert_true(mapped(u) > 0);
	assert_bytes(u, bl, large, strlen(large));
	/* Written after the map, at the end of a grown file. */
	for (int i = 0; i < 20; i++) {
		char *filler = make_message("filler", 30000 + (size_t)i);
		append_msg(u, "INBOX", filler, 0, NULL);
		free(filler);
	}
	uint32_t un = append_msg(u, "INBOX", later, 0, NULL);
	bn = blob_of(u, "INBOX", un);
	assert_bytes(u, bn, later, strlen(later));
	assert_bytes(u, bs, small, strlen(small));
	/* A SEARCH maps for itself and leaves this map in place. */
	struct store_search_row *rows = NULL;
	size_t n = 0;
	assert_int_equal(sqlite_search_docs(u, mailbox_id(u, "INBOX"), 0, 0, &rows, &n), STORE_OK);
	store_search_rows_free(rows, n);
	assert_true(mapped(u) > 0);
	store_user_close(u);
	u = store_user_open("mapped");
	assert_true(mapped(u) > 0);
	assert_bytes(u, bl, large, strlen(large));
	store_inline_set(0);
	store_user_close(u);
	free(bs);
	free(bl);
	free(bn);
	free(small);
	free(large);
	free(later);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_in_the_index_big_in_files),
		cmocka_unit_test(test_copies_share_the_row_until_the_last_expunge),
		cmocka_unit_test(test_spooled_and_prepared_messages),
		cmocka_unit_test(test_oversized_row_is_an_error),
		cmocka_unit_test(test_front_reads_fill_once),
		cmocka_unit_test(test_missing_mailbox_writes_nothing),
		cmocka_unit_test(test_large_rows_map_the_index),
	};
	return store_test_run("store_inline", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
