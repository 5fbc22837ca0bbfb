/* ftsbatch (issue #14; store/sqlite/search.c): the search entries of one
 * store_search_put batch reach the FTS5 index as one segment, not one per
 * entry. FTS5 flushes what it holds in memory whenever a statement opens a
 * savepoint, and the search_doc insert (its trigger updates messages) is
 * such a statement, so the text waits until the batch's other statements
 * ran. The removals queued by expunges (search_gc) go the same way, and the
 * index stays consistent (FTS5's own integrity-check) and exact. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "store_sqlite_test_util.h"
#include "store_test_util.h"

#define N 10 /* unindexed() lists at most 10 */

static int64_t scalar(const char *user, const char *sql)
{
	sqlite3 *db = store_test_index_open(user);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* FTS5's check of its index against the stored text. */
static void assert_fts_consistent(const char *user)
{
	sqlite3 *db = store_test_index_open(user);
	char *err = NULL;
	int rc = sqlite3_exec(db, "INSERT INTO search_text(search_text) VALUES('integrity-check')",
			      NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fail_msg("integrity-check: %s", err ? err : "?");
	sqlite3_close(db);
}

static void test_one_segment_per_batch(void **state)
{
	(void)state;
	const char *user = "fts-batch";
	struct store_user *u = store_user_open(user);
	assert_non_null(u);
	int64_t inbox = mailbox_id(u, "INBOX");
	char text[N][64], subj[N][32], hdrs[N][48], body[N][96];
	for (int i = 0; i < N; i++) {
		snprintf(text[i], sizeof(text[i]), "Subject: note %d\r\n\r\nbody %d\r\n", i, i);
		append_msg(u, "INBOX", text[i], 0, NULL);
	}
	char(*blobs)[65];
	assert_int_equal(unindexed(u, &blobs), N);
	struct search_doc docs[N];
	for (int i = 0; i < N; i++) {
		snprintf(subj[i], sizeof(subj[i]), "note %d", i);
		snprintf(hdrs[i], sizeof(hdrs[i]), "SUBJECT: NOTE %d\n", i);
		snprintf(body[i], sizeof(body[i]), "QUOKKA%02d LIVES ON ROTTNEST ISLAND", i);
		doc_init(&docs[i], subj[i], hdrs[i], body[i]);
	}
	int64_t before = scalar(user, "SELECT count(*) FROM search_text_data");
	assert_int_equal(store_search_put(u, blobs, docs, N), STORE_OK);
	free(blobs);
	/* One new segment: a leaf page or two and the structure record.
	 * Entry by entry it was N segments, some merged again. */
	int64_t added = scalar(user, "SELECT count(*) FROM search_text_data") - before;
	assert_true(added <= 3);
	assert_int_equal(unindexed(u, NULL), 0);
	assert_int_equal(text_hits(u, inbox, "ROTTNEST"), N);
	assert_int_equal(text_hits(u, inbox, "QUOKKA07"), 1);
	assert_fts_consistent(user);

	/* Removals queued by expunges go first, then the new entries, in one
	 * transaction: what is gone is not found, what came is. */
	uint32_t gone[3] = { 2, 5, 9 };
	assert_int_equal(store_expunge(u, inbox, gone, 3), STORE_OK);
	append_msg(u, "INBOX", "Subject: emu\r\n\r\nemu\r\n", 0, NULL);
	assert_int_equal(unindexed(u, &blobs), 1);
	struct search_doc de;
	doc_init(&de, "emu", "SUBJECT: EMU\n", "AN EMU ON ROTTNEST ISLAND");
	assert_int_equal(store_search_put(u, blobs, &de, 1), STORE_OK);
	free(blobs);
	/* An expunge's blobs may be collected (and their entries queued)
	 * after its commit is synced: what the put did not see, a later
	 * store_search_gc removes. */
	bool more = true;
	for (int i = 0; i < 100 && (more || scalar(user, "SELECT count(*) FROM search_gc") > 0);
	     i++) {
		assert_int_equal(store_search_gc(u, &more), STORE_OK);
		if (!more)
			usleep(10000);
	}
	assert_int_equal(scalar(user, "SELECT count(*) FROM search_gc"), 0);
	assert_int_equal(scalar(user, "SELECT count(*) FROM search_text"), N - 3 + 1);
	assert_int_equal(text_hits(u, inbox, "ROTTNEST"), N - 3 + 1);
	assert_int_equal(text_hits(u, inbox, "QUOKKA04"), 0) /* UID 5 */;
	assert_int_equal(text_hits(u, inbox, "EMU"), 1);
	assert_fts_consistent(user);
	store_user_close(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_segment_per_batch),
	};
	return store_test_run("store_ftsbatch", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
