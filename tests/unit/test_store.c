/* The SQLite backend behind store.h: users, mailboxes, subscriptions,
 * APPEND (single, multi, atomicity), listing, flags and modseqs, COPY/MOVE
 * with shared blobs, EXPUNGE, change tracking, counts, UIDVALIDITY, the
 * change watcher across threads and processes, concurrency, and the cost
 * of listing 100,000 messages. What every backend must do is in
 * test_store_conformance.c; this file may look at the SQLite files. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/flags.h"
#include "core/util.h"
#include "store/store.h"
#include "store_test_util.h"

static char g_mail[300];

/* ---- helpers ---- */

static bool has_mailbox(struct store_user *u, const char *name)
{
	struct store_mailbox *mbs;
	size_t n;
	assert_int_equal(store_mailbox_list(u, false, &mbs, &n), STORE_OK);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		found |= strcmp(mbs[i].name, name) == 0;
	store_mailbox_array_free(mbs, n);
	return found;
}

static bool blob_exists(struct store_user *u, const char *blob)
{
	const char *data;
	size_t len;
	int r = store_blob_map(u, blob, &data, &len);
	if (r == STORE_OK)
		store_blob_unmap(data, len);
	assert_true(r == STORE_OK || r == STORE_ENOENT);
	return r == STORE_OK;
}

/* A direct SQLite connection to a user's index, for what the interface
 * does not expose (test set-up of huge mailboxes, invariants). */
static sqlite3 *open_index(const char *user)
{
	char *dir = store_user_dir(user);
	assert_non_null(dir);
	char *path = xasprintf("%s/index.sqlite", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	free(path);
	free(dir);
	return db;
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fprintf(stderr, "sql error: %s\n", err ? err : "?");
	sqlite3_free(err);
	assert_int_equal(rc, SQLITE_OK);
}

/* ---- tests ---- */

static void test_user_dir(void **state)
{
	char *d = store_user_dir("bob");
	char *want = xasprintf("%s/local/bob", g_mail);
	assert_string_equal(d, want);
	free(d);
	free(want);
	d = store_user_dir("Bob.Smith+x@example.com");
	want = xasprintf("%s/example.com/Bob.Smith+x", g_mail);
	assert_string_equal(d, want);
	free(d);
	free(want);
	static const char *const bad[] = {
		"",        "..",      "../x",    "a/b",    "a..b",   ".bob",   "bob@",
		"@x.org",  "a@b@c",   "bob@local", "bob@.x", "x y",   "bob\n",  "b\\c",
		"a@..",    "%",       "bob@ex/a",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = store_user_dir(bad[i]);
		if (d)
			fail_msg("accepted \"%s\" as %s", bad[i], d);
	}
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_null(store_user_dir(longname));
	assert_null(store_user_open("../evil"));
}

static void test_user_defaults(void **state)
{
	struct store_user *u = store_user_open("defaults");
	assert_non_null(u);
	/* The same thread gets the cached, refcounted handle. */
	struct store_user *u2 = store_user_open("defaults");
	assert_ptr_equal(u, u2);
	store_user_close(u2);

	struct store_mailbox *mbs;
	size_t n;
	assert_int_equal(store_mailbox_list(u, true, &mbs, &n), STORE_OK);
	assert_int_equal(n, 6);
	static const char *const names[] = { "Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash" };
	static const char *const uses[] = { "\\Archive", "\\Drafts", NULL, "\\Junk", "\\Sent",
					    "\\Trash" };
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(mbs[i].name, names[i]);
		if (uses[i])
			assert_string_equal(mbs[i].special_use, uses[i]);
		else
			assert_null(mbs[i].special_use);
		assert_true(mbs[i].subscribed);
		assert_int_equal(mbs[i].messages, 0);
		assert_int_equal(mbs[i].uidnext, 1);
		assert_true(mbs[i].uidvalidity > 0);
		for (size_t j = 0; j < i; j++)
			assert_true(mbs[i].uidvalidity != mbs[j].uidvalidity);
	}
	store_mailbox_array_free(mbs, n);
	for (size_t i = 0; i < 6; i++)
		assert_true(is_subscribed(u, names[i]));
	store_user_close(u);

	/* A removed store is recreated empty on the next open. */
	assert_int_equal(store_user_remove("defaults"), STORE_OK);
	assert_int_equal(store_user_remove("defaults"), STORE_ENOENT);
	u = store_user_open("defaults");
	assert_non_null(u);
	assert_true(has_mailbox(u, "Trash"));
	store_user_close(u);
	store_cache_drop();
}

static void test_mailbox_names(void **state)
{
	struct store_user *u = store_user_open("names");
	assert_non_null(u);
	assert_int_equal(store_mailbox_create(u, "a/b/c", NULL), STORE_OK);
	/* No implicit parents. */
	assert_true(has_mailbox(u, "a/b/c"));
	assert_false(has_mailbox(u, "a"));
	assert_false(has_mailbox(u, "a/b"));
	assert_int_equal(store_mailbox_create(u, "a/b/c", NULL), STORE_EEXIST);
	assert_int_equal(store_mailbox_create(u, "inbox", NULL), STORE_EEXIST);
	assert_int_equal(store_mailbox_create(u, "InBoX", NULL), STORE_EEXIST);
	static const char *const bad[] = { "", "/a", "a/", "a//b", "/", "a*", "b%", "x\ty",
					   "bad\xff", "\xc0\xaf", "\xed\xa0\x80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_mailbox_create(u, bad[i], NULL), STORE_EINVAL);
	char name[1002];
	memset(name, 'n', 1001);
	name[1001] = '\0';
	assert_int_equal(store_mailbox_create(u, name, NULL), STORE_ELIMIT);
	name[1000] = '\0';
	assert_int_equal(store_mailbox_create(u, name, NULL), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "Ünïcödé/日本", NULL), STORE_OK);
	assert_true(has_mailbox(u, "Ünïcödé/日本"));
	/* INBOX's children share its canonical spelling. */
	assert_int_equal(store_mailbox_create(u, "inbox/Sub", NULL), STORE_OK);
	assert_true(has_mailbox(u, "INBOX/Sub"));
	assert_int_equal(store_mailbox_create(u, "INBOX/Sub", NULL), STORE_EEXIST);
	assert_int_equal(store_mailbox_create(u, "Inboxes", NULL), STORE_OK);
	assert_true(has_mailbox(u, "Inboxes"));
	struct store_mailbox mb = status_of(u, "iNbOx");
	assert_string_equal(mb.name, "INBOX");
	store_mailbox_clear(&mb);
	assert_int_equal(store_mailbox_status(u, "nope", &mb), STORE_ENOENT);
	/* An invalid name cannot exist: lookups say so. */
	assert_int_equal(store_mailbox_status(u, "a//b", &mb), STORE_ENOENT);
	assert_int_equal(store_mailbox_delete(u, "a//b"), STORE_ENOENT);
	assert_int_equal(store_mailbox_rename(u, "a//b", "c"), STORE_ENOENT);
	struct store_append a;
	memset(&a, 0, sizeof(a));
	a.data = "x";
	a.len = 1;
	assert_int_equal(store_append(u, "/bad", &a, 1, NULL), STORE_ENOENT);
	/* Special-use on create (RFC 6154). */
	assert_int_equal(store_mailbox_create(u, "Flagged", "\\flagged"), STORE_OK);
	mb = status_of(u, "Flagged");
	assert_string_equal(mb.special_use, "\\Flagged");
	store_mailbox_clear(&mb);
	assert_int_equal(store_mailbox_create(u, "Bogus", "\\Bogus"), STORE_EINVAL);
	assert_false(has_mailbox(u, "Bogus"));
	store_user_close(u);
}

static void test_mailbox_delete_rename(void **state)
{
	struct store_user *u = store_user_open("rename");
	assert_non_null(u);
	assert_int_equal(store_mailbox_delete(u, "INBOX"), STORE_ECANNOT);
	assert_int_equal(store_mailbox_delete(u, "inbox"), STORE_ECANNOT);
	assert_int_equal(store_mailbox_delete(u, "Nope"), STORE_ENOENT);
	assert_int_equal(store_mailbox_create(u, "P", NULL), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "P/2026/Q1", NULL), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "Pother", NULL), STORE_OK);
	assert_int_equal(store_subscribe(u, "P/2026/Q1", true), STORE_OK);
	uint32_t uid = append_msg(u, "P/2026/Q1", "Subject: q1\r\n\r\nq1\r\n", 0, NULL);
	int64_t q1 = mailbox_id(u, "P/2026/Q1");
	struct store_mailbox before = status_of(u, "P/2026/Q1");

	assert_int_equal(store_mailbox_rename(u, "P", "W"), STORE_OK);
	assert_false(has_mailbox(u, "P"));
	assert_false(has_mailbox(u, "P/2026/Q1"));
	assert_true(has_mailbox(u, "W"));
	assert_true(has_mailbox(u, "W/2026/Q1"));
	assert_true(has_mailbox(u, "Pother"));
	assert_true(is_subscribed(u, "W/2026/Q1"));
	assert_false(is_subscribed(u, "P/2026/Q1"));
	/* Same mailbox, same id, UIDVALIDITY and messages. */
	struct store_mailbox after = status_of(u, "W/2026/Q1");
	assert_int_equal(after.id, q1);
	assert_int_equal(after.uidvalidity, before.uidvalidity);
	assert_int_equal(after.messages, 1);
	store_mailbox_clear(&before);
	store_mailbox_clear(&after);
	struct store_msg m = get_one(u, q1, uid);
	assert_int_equal(m.uid, uid);
	free(m.keywords);

	assert_int_equal(store_mailbox_rename(u, "W", "Pother"), STORE_EEXIST);
	assert_int_equal(store_mailbox_rename(u, "W", "W"), STORE_EEXIST);
	assert_int_equal(store_mailbox_rename(u, "W", "INBOX"), STORE_EEXIST);
	assert_int_equal(store_mailbox_rename(u, "W", "W/x"), STORE_ECANNOT);
	assert_int_equal(store_mailbox_rename(u, "Missing", "M2"), STORE_ENOENT);
	assert_int_equal(store_mailbox_rename(u, "W", "bad//name"), STORE_EINVAL);
	/* A child's new name taken: nothing is renamed. */
	assert_int_equal(store_mailbox_create(u, "X", NULL), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "X/c", NULL), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "Y/c", NULL), STORE_OK);
	assert_int_equal(store_mailbox_rename(u, "X", "Y"), STORE_EEXIST);
	assert_true(has_mailbox(u, "X"));
	assert_true(has_mailbox(u, "X/c"));
	assert_false(has_mailbox(u, "Y"));

	/* DELETE removes the mailbox, not its children. */
	assert_int_equal(store_mailbox_delete(u, "W"), STORE_OK);
	assert_false(has_mailbox(u, "W"));
	assert_true(has_mailbox(u, "W/2026/Q1"));

	/* RFC 9051 6.3.6: renaming INBOX moves its messages to a new
	 * mailbox and leaves INBOX (and its children) in place. */
	assert_int_equal(store_mailbox_create(u, "INBOX/kid", NULL), STORE_OK);
	append_msg(u, "INBOX", "Subject: 1\r\n\r\n1\r\n", MAIL_FLAG_SEEN, "$Work");
	append_msg(u, "INBOX", "Subject: 2\r\n\r\n2\r\n", 0, NULL);
	struct store_mailbox in0 = status_of(u, "INBOX");
	assert_int_equal(store_mailbox_rename(u, "INBOX", "Old-Inbox"), STORE_OK);
	struct store_mailbox in1 = status_of(u, "INBOX");
	struct store_mailbox old = status_of(u, "Old-Inbox");
	assert_int_equal(in1.messages, 0);
	assert_int_equal(in1.id, in0.id);
	assert_int_equal(in1.uidvalidity, in0.uidvalidity);
	assert_int_equal(in1.uidnext, 3);
	assert_true(in1.highestmodseq > in0.highestmodseq);
	assert_int_equal(old.messages, 2);
	assert_int_equal(old.unseen, 1);
	assert_true(old.uidvalidity != in0.uidvalidity);
	assert_true(old.uidnext >= 3);
	assert_true(has_mailbox(u, "INBOX/kid"));
	struct store_msg *ch;
	uint32_t *ex;
	size_t nch, nex;
	assert_int_equal(store_changes(u, in0.id, in0.highestmodseq, &ch, &nch, &ex, &nex), STORE_OK);
	assert_int_equal(nch, 0);
	assert_int_equal(nex, 2);
	assert_int_equal(ex[0], 1);
	assert_int_equal(ex[1], 2);
	store_msg_array_free(ch, nch);
	free(ex);
	m = get_one(u, old.id, 1);
	assert_string_equal(m.keywords, "$Work");
	assert_int_equal(m.flags, MAIL_FLAG_SEEN);
	free(m.keywords);
	store_mailbox_clear(&in0);
	store_mailbox_clear(&in1);
	store_mailbox_clear(&old);
	assert_int_equal(store_mailbox_rename(u, "INBOX", "Old-Inbox"), STORE_EEXIST);
	store_user_close(u);
}

static void test_subscriptions(void **state)
{
	struct store_user *u = store_user_open("subs");
	assert_non_null(u);
	/* RFC 9051 6.3.7: names need not exist, and outlive their mailbox. */
	assert_int_equal(store_subscribe(u, "Not/There", true), STORE_OK);
	assert_int_equal(store_subscribe(u, "Not/There", true), STORE_OK);
	assert_true(is_subscribed(u, "Not/There"));
	assert_false(has_mailbox(u, "Not/There"));
	assert_int_equal(store_subscribe(u, "inbox", true), STORE_OK);
	assert_true(is_subscribed(u, "INBOX"));
	assert_int_equal(store_subscribe(u, "a//b", true), STORE_EINVAL);
	assert_int_equal(store_mailbox_create(u, "News", NULL), STORE_OK);
	assert_int_equal(store_subscribe(u, "News", true), STORE_OK);
	struct store_mailbox mb = status_of(u, "News");
	assert_true(mb.subscribed);
	store_mailbox_clear(&mb);
	assert_int_equal(store_mailbox_delete(u, "News"), STORE_OK);
	assert_true(is_subscribed(u, "News"));
	assert_int_equal(store_subscribe(u, "News", false), STORE_OK);
	assert_false(is_subscribed(u, "News"));
	assert_int_equal(store_subscribe(u, "Not/There", false), STORE_OK);
	assert_false(is_subscribed(u, "Not/There"));
	store_user_close(u);
}

static void test_append(void **state)
{
	struct store_user *u = store_user_open("append");
	assert_non_null(u);
	struct store_mailbox mb0 = status_of(u, "INBOX");
	const char *text = "From: a@example.org\r\nSubject: hi\r\n\r\nHello\r\n";
	struct store_append a;
	memset(&a, 0, sizeof(a));
	a.data = text;
	a.len = strlen(text);
	a.flags = MAIL_FLAG_SEEN | MAIL_FLAG_RECENT;  /* \Recent is never stored */
	a.keywords = "$Label1 work $label1 Work";
	a.internaldate = 1234567890;
	a.internaldate_tz = -300;
	a.envelope = "ENV";
	a.bodystructure = "BS";
	a.body = "BODY";
	uint32_t uv = 0;
	assert_int_equal(store_append(u, "inbox", &a, 1, &uv), STORE_OK);
	assert_int_equal(a.uid, 1);
	assert_int_equal(uv, mb0.uidvalidity);
	struct store_msg m = get_one(u, mb0.id, 1);
	assert_int_equal(m.flags, MAIL_FLAG_SEEN);
	assert_string_equal(m.keywords, "$Label1 work");
	assert_int_equal(m.internaldate, 1234567890);
	assert_int_equal(m.internaldate_tz, -300);
	assert_true(m.savedate >= time(NULL) - 60);
	assert_int_equal(m.size, strlen(text));
	assert_int_equal(m.modseq, mb0.highestmodseq + 1);
	assert_int_equal(strlen(m.blob), 64);
	const char *data;
	size_t len;
	assert_int_equal(store_blob_map(u, m.blob, &data, &len), STORE_OK);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(data, text, len);
	store_blob_unmap(data, len);
	assert_int_equal(store_blob_map(u, "../../etc/passwd", &data, &len), STORE_EINVAL);
	free(m.keywords);
	char *env, *bs, *body;
	assert_int_equal(store_msg_cached(u, mb0.id, 1, &env, &bs, &body), STORE_OK);
	assert_string_equal(env, "ENV");
	assert_string_equal(bs, "BS");
	assert_string_equal(body, "BODY");
	free(env);
	free(bs);
	free(body);
	assert_int_equal(store_msg_cached(u, mb0.id, 99, &env, NULL, NULL), STORE_ENOENT);

	/* MULTIAPPEND: consecutive UIDs, one modseq, one transaction. */
	struct store_append multi[3];
	const char *texts[3] = { "Subject: m1\r\n\r\n1\r\n", "Subject: m2\r\n\r\n2\r\n",
				 "Subject: m1\r\n\r\n1\r\n" };
	memset(multi, 0, sizeof(multi));
	for (int i = 0; i < 3; i++) {
		multi[i].data = texts[i];
		multi[i].len = strlen(texts[i]);
		multi[i].internaldate = -1;
	}
	assert_int_equal(store_append(u, "INBOX", multi, 3, &uv), STORE_OK);
	assert_int_equal(multi[0].uid, 2);
	assert_int_equal(multi[1].uid, 3);
	assert_int_equal(multi[2].uid, 4);
	struct store_mailbox mb1 = status_of(u, "INBOX");
	assert_int_equal(mb1.messages, 4);
	assert_int_equal(mb1.uidnext, 5);
	assert_int_equal(mb1.highestmodseq, mb0.highestmodseq + 2);
	struct store_msg m2 = get_one(u, mb0.id, 2), m4 = get_one(u, mb0.id, 4);
	/* Same bytes, same blob. */
	assert_string_equal(m2.blob, m4.blob);
	assert_true(m2.internaldate >= time(NULL) - 60);
	free(m2.keywords);
	free(m4.keywords);

	/* All or nothing: a bad second message refuses the whole batch. */
	multi[1].keywords = "bad\\keyword";
	assert_int_equal(store_append(u, "INBOX", multi, 3, &uv), STORE_EINVAL);
	multi[1].keywords = NULL;
	multi[2].internaldate_tz = 5000;
	assert_int_equal(store_append(u, "INBOX", multi, 3, &uv), STORE_EINVAL);
	multi[2].internaldate_tz = 0;
	for (int i = 0; i < 3; i++)
		assert_int_equal(multi[i].uid, 0);
	assert_int_equal(store_append(u, "Nowhere", multi, 3, &uv), STORE_ENOENT);
	assert_int_equal(store_append(u, "INBOX", multi, 0, &uv), STORE_EINVAL);
	struct store_mailbox mb2 = status_of(u, "INBOX");
	assert_int_equal(mb2.messages, 4);
	assert_int_equal(mb2.uidnext, 5);
	assert_int_equal(mb2.highestmodseq, mb1.highestmodseq);

	/* Running out of UIDs mid-batch refuses the whole batch. */
	assert_int_equal(store_mailbox_create(u, "Full", NULL), STORE_OK);
	sqlite3 *db = open_index("append");
	exec_sql(db, "UPDATE mailboxes SET uidnext=4294967293 WHERE name='Full'");
	sqlite3_close(db);
	assert_int_equal(store_append(u, "Full", multi, 3, &uv), STORE_ELIMIT);
	struct store_mailbox full = status_of(u, "Full");
	assert_int_equal(full.messages, 0);
	assert_int_equal(full.uidnext, 4294967293u);
	assert_int_equal(store_append(u, "Full", multi, 2, &uv), STORE_OK);
	assert_int_equal(multi[1].uid, 4294967294u);
	store_mailbox_clear(&full);

	/* An empty message is a valid, empty mapping. */
	struct store_append e;
	memset(&e, 0, sizeof(e));
	e.data = "";
	e.internaldate = -1;
	assert_int_equal(store_append(u, "INBOX", &e, 1, NULL), STORE_OK);
	m = get_one(u, mb0.id, e.uid);
	assert_int_equal(m.size, 0);
	assert_int_equal(store_blob_map(u, m.blob, &data, &len), STORE_OK);
	assert_int_equal(len, 0);
	assert_non_null(data);
	store_blob_unmap(data, len);
	free(m.keywords);

	store_mailbox_clear(&mb0);
	store_mailbox_clear(&mb1);
	store_mailbox_clear(&mb2);
	store_user_close(u);
}

static void test_list_get(void **state)
{
	struct store_user *u = store_user_open("listget");
	assert_non_null(u);
	int64_t id = mailbox_id(u, "INBOX");
	for (int i = 0; i < 5; i++) {
		char text[64];
		snprintf(text, sizeof(text), "Subject: %d\r\n\r\n%d\r\n", i, i);
		append_msg(u, "INBOX", text, i == 2 ? MAIL_FLAG_FLAGGED : 0, i == 3 ? "k" : NULL);
	}
	struct store_msg *m;
	size_t n;
	assert_int_equal(store_msg_list(u, id, 1, true, &m, &n), STORE_OK);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(m[i].uid, i + 1);
		assert_null(m[i].keywords);
		assert_int_equal(m[i].blob[0], '\0');
		assert_true(m[i].modseq > 1);
	}
	assert_int_equal(m[2].flags, MAIL_FLAG_FLAGGED);
	store_msg_array_free(m, n);
	assert_int_equal(store_msg_list(u, id, 4, false, &m, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(m[0].uid, 4);
	assert_string_equal(m[0].keywords, "k");
	assert_int_equal(strlen(m[0].blob), 64);
	assert_int_equal(m[0].internaldate, 1700000000);
	store_msg_array_free(m, n);
	assert_int_equal(store_msg_list(u, id, 6, true, &m, &n), STORE_OK);
	assert_int_equal(n, 0);
	store_msg_array_free(m, n);
	assert_int_equal(store_msg_list(u, 999999, 1, true, &m, &n), STORE_ENOENT);
	uint32_t want[] = { 2, 4, 7 };
	assert_int_equal(store_msg_get(u, id, want, 3, &m, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(m[0].uid, 2);
	assert_int_equal(m[1].uid, 4);
	store_msg_array_free(m, n);
	assert_int_equal(store_msg_get(u, 999999, want, 3, &m, &n), STORE_ENOENT);
	store_user_close(u);
}

static void test_flags(void **state)
{
	struct store_user *u = store_user_open("flags");
	assert_non_null(u);
	int64_t id = mailbox_id(u, "INBOX");
	append_msg(u, "INBOX", "Subject: a\r\n\r\na\r\n", 0, NULL);
	append_msg(u, "INBOX", "Subject: b\r\n\r\nb\r\n", MAIL_FLAG_SEEN, "$Foo");
	uint32_t both[] = { 1, 2 };
	struct store_msg *ch;
	uint32_t *failed;
	size_t nch, nfailed;
	struct store_mailbox mb = status_of(u, "INBOX");
	uint64_t ms0 = mb.highestmodseq;
	store_mailbox_clear(&mb);

	/* ADD: only message 1 really changes. */
	assert_int_equal(store_flags(u, id, both, 2, STORE_FLAGS_ADD, MAIL_FLAG_SEEN, NULL, 0, &ch,
				     &nch, &failed, &nfailed),
			 STORE_OK);
	assert_int_equal(nch, 1);
	assert_int_equal(ch[0].uid, 1);
	assert_int_equal(ch[0].flags, MAIL_FLAG_SEEN);
	assert_int_equal(ch[0].modseq, ms0 + 1);
	assert_int_equal(nfailed, 0);
	store_msg_array_free(ch, nch);
	free(failed);
	struct store_msg m2 = get_one(u, id, 2);
	uint64_t m2mod = m2.modseq;
	assert_true(m2mod <= ms0);
	free(m2.keywords);

	/* Keywords: normalised set, case-insensitive, first spelling kept. */
	assert_int_equal(store_flags(u, id, both, 2, STORE_FLAGS_ADD, 0, "$foo Bar bar $Baz", 0, &ch,
				     &nch, NULL, NULL),
			 STORE_OK);
	assert_int_equal(nch, 2);
	assert_string_equal(ch[0].keywords, "$foo Bar $Baz");
	assert_string_equal(ch[1].keywords, "$Foo Bar $Baz");
	store_msg_array_free(ch, nch);
	/* Adding what is there (in another case) changes nothing. */
	assert_int_equal(store_flags(u, id, both, 2, STORE_FLAGS_ADD, MAIL_FLAG_SEEN, "BAR", 0, &ch,
				     &nch, NULL, NULL),
			 STORE_OK);
	assert_int_equal(nch, 0);
	store_msg_array_free(ch, nch);
	mb = status_of(u, "INBOX");
	uint64_t ms1 = mb.highestmodseq;
	store_mailbox_clear(&mb);
	assert_int_equal(ms1, ms0 + 2);

	/* REMOVE, case-insensitively. */
	assert_int_equal(store_flags(u, id, both, 1, STORE_FLAGS_REMOVE, MAIL_FLAG_SEEN, "bar $BAZ",
				     0, &ch, &nch, NULL, NULL),
			 STORE_OK);
	assert_int_equal(nch, 1);
	assert_int_equal(ch[0].flags, 0);
	assert_string_equal(ch[0].keywords, "$foo");
	store_msg_array_free(ch, nch);
	/* SET replaces both flags and keywords; NULL keywords clear them. */
	assert_int_equal(store_flags(u, id, both + 1, 1, STORE_FLAGS_SET,
				     MAIL_FLAG_ANSWERED | MAIL_FLAG_DRAFT, NULL, 0, &ch, &nch, NULL,
				     NULL),
			 STORE_OK);
	assert_int_equal(nch, 1);
	assert_int_equal(ch[0].flags, MAIL_FLAG_ANSWERED | MAIL_FLAG_DRAFT);
	assert_null(ch[0].keywords);
	uint64_t m2set = ch[0].modseq;
	store_msg_array_free(ch, nch);
	/* SET to the same keywords in another case is no change. */
	assert_int_equal(store_flags(u, id, both, 1, STORE_FLAGS_SET, 0, "$FOO", 0, &ch, &nch, NULL,
				     NULL),
			 STORE_OK);
	assert_int_equal(nch, 0);
	store_msg_array_free(ch, nch);

	/* UNCHANGEDSINCE (RFC 7162 3.1.3): message 2 was modified after
	 * m2set - 1, so it fails; message 1 was not. */
	struct store_msg m1 = get_one(u, id, 1);
	assert_true(m1.modseq < m2set);
	assert_int_equal(store_flags(u, id, both, 2, STORE_FLAGS_ADD, MAIL_FLAG_FLAGGED, NULL,
				     m2set - 1, &ch, &nch, &failed, &nfailed),
			 STORE_OK);
	assert_int_equal(nch, 1);
	assert_int_equal(ch[0].uid, 1);
	assert_int_equal(nfailed, 1);
	assert_int_equal(failed[0], 2);
	store_msg_array_free(ch, nch);
	free(failed);
	free(m1.keywords);

	/* Bad input changes nothing. */
	assert_int_equal(store_flags(u, id, both, 2, STORE_FLAGS_ADD, 0, "ok \\Seen", 0, &ch, &nch,
				     NULL, NULL),
			 STORE_EINVAL);
	assert_int_equal(store_flags(u, id, both, 2, (enum store_flag_mode)7, 0, NULL, 0, &ch, &nch,
				     NULL, NULL),
			 STORE_EINVAL);
	assert_int_equal(store_flags(u, 999999, both, 2, STORE_FLAGS_ADD, 1, NULL, 0, &ch, &nch,
				     NULL, NULL),
			 STORE_ENOENT);
	/* Unknown UIDs are ignored. */
	uint32_t ghost = 77;
	assert_int_equal(store_flags(u, id, &ghost, 1, STORE_FLAGS_ADD, 1, NULL, 0, &ch, &nch, NULL,
				     NULL),
			 STORE_OK);
	assert_int_equal(nch, 0);
	store_user_close(u);
}

static void test_copy_move(void **state)
{
	struct store_user *u = store_user_open("copy");
	assert_non_null(u);
	int64_t inbox = mailbox_id(u, "INBOX");
	int64_t arch = mailbox_id(u, "Archive");
	append_msg(u, "INBOX", "Subject: 1\r\n\r\none\r\n", MAIL_FLAG_SEEN | MAIL_FLAG_DELETED,
		   "$Important");
	append_msg(u, "INBOX", "Subject: 2\r\n\r\ntwo\r\n", 0, NULL);
	append_msg(u, "INBOX", "Subject: 3\r\n\r\nthree\r\n", MAIL_FLAG_FLAGGED, NULL);
	append_msg(u, "Archive", "Subject: a\r\n\r\na\r\n", 0, NULL);

	uint32_t src[] = { 1, 3, 9 };
	uint32_t uv, *su, *du;
	size_t n;
	assert_int_equal(store_copy(u, inbox, src, 3, "archive", false, &uv, &su, &du, &n),
			 STORE_ENOENT);
	assert_int_equal(store_copy(u, inbox, src, 3, "Archive", false, &uv, &su, &du, &n), STORE_OK);
	struct store_mailbox amb = status_of(u, "Archive");
	assert_int_equal(uv, amb.uidvalidity);
	store_mailbox_clear(&amb);
	assert_int_equal(n, 2);
	assert_int_equal(su[0], 1);
	assert_int_equal(su[1], 3);
	assert_int_equal(du[0], 2);
	assert_int_equal(du[1], 3);
	free(su);
	free(du);
	struct store_msg s1 = get_one(u, inbox, 1), d1 = get_one(u, arch, 2);
	assert_int_equal(d1.flags, MAIL_FLAG_SEEN | MAIL_FLAG_DELETED);
	assert_string_equal(d1.keywords, "$Important");
	assert_int_equal(d1.internaldate, s1.internaldate);
	assert_int_equal(d1.internaldate_tz, s1.internaldate_tz);
	assert_string_equal(d1.blob, s1.blob);
	char blob1[65];
	memcpy(blob1, s1.blob, 65);
	free(s1.keywords);
	free(d1.keywords);
	char *env;
	assert_int_equal(store_msg_cached(u, arch, 2, &env, NULL, NULL), STORE_OK);
	assert_string_equal(env, "(NIL \"env\")");
	free(env);

	/* The blob is shared: expunging one copy keeps it. */
	uint32_t one = 1;
	assert_int_equal(store_expunge(u, inbox, &one, 1), STORE_OK);
	assert_true(blob_exists(u, blob1));
	uint32_t two = 2;
	assert_int_equal(store_expunge(u, arch, &two, 1), STORE_OK);
	assert_false(blob_exists(u, blob1));

	/* MOVE: new UIDs in the target, sources expunged atomically. */
	struct store_mailbox before = status_of(u, "INBOX");
	uint32_t mv[] = { 2, 3 };
	assert_int_equal(store_copy(u, inbox, mv, 2, "Trash", true, &uv, &su, &du, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(du[0], 1);
	assert_int_equal(du[1], 2);
	free(su);
	free(du);
	struct store_mailbox after = status_of(u, "INBOX"), trash = status_of(u, "Trash");
	assert_int_equal(after.messages, 0);
	assert_int_equal(trash.messages, 2);
	assert_true(after.highestmodseq > before.highestmodseq);
	struct store_msg *ch;
	uint32_t *ex;
	size_t nch, nex;
	assert_int_equal(store_changes(u, inbox, before.highestmodseq, &ch, &nch, &ex, &nex),
			 STORE_OK);
	assert_int_equal(nch, 0);
	assert_int_equal(nex, 2);
	assert_int_equal(ex[0], 2);
	assert_int_equal(ex[1], 3);
	store_msg_array_free(ch, nch);
	free(ex);
	struct store_msg t2 = get_one(u, trash.id, 2);
	assert_int_equal(t2.flags, MAIL_FLAG_FLAGGED);
	assert_true(blob_exists(u, t2.blob));
	free(t2.keywords);
	store_mailbox_clear(&before);
	store_mailbox_clear(&after);
	store_mailbox_clear(&trash);

	/* MOVE within one mailbox renumbers. */
	int64_t tid = mailbox_id(u, "Trash");
	assert_int_equal(store_copy(u, tid, &one, 1, "Trash", true, &uv, &su, &du, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(du[0], 3);
	free(su);
	free(du);
	trash = status_of(u, "Trash");
	assert_int_equal(trash.messages, 2);
	store_mailbox_clear(&trash);
	/* Outputs are optional. */
	assert_int_equal(store_copy(u, tid, &two, 1, "INBOX", false, NULL, NULL, NULL, NULL),
			 STORE_OK);
	assert_int_equal(store_copy(u, 999999, &two, 1, "INBOX", false, NULL, NULL, NULL, NULL),
			 STORE_ENOENT);

	/* Deleting a mailbox collects the blobs only it referenced. */
	struct store_msg a1 = get_one(u, arch, 1);
	assert_true(blob_exists(u, a1.blob));
	assert_int_equal(store_mailbox_delete(u, "Archive"), STORE_OK);
	assert_false(blob_exists(u, a1.blob));
	free(a1.keywords);
	store_user_close(u);
}

static void test_expunge_changes(void **state)
{
	struct store_user *u = store_user_open("changes");
	assert_non_null(u);
	int64_t id = mailbox_id(u, "INBOX");
	append_msg(u, "INBOX", "Subject: 1\r\n\r\n1\r\n", 0, NULL);
	append_msg(u, "INBOX", "Subject: 2\r\n\r\n2\r\n", 0, NULL);
	struct store_mailbox mb = status_of(u, "INBOX");
	uint64_t since = mb.highestmodseq;
	store_mailbox_clear(&mb);
	append_msg(u, "INBOX", "Subject: 3\r\n\r\n3\r\n", 0, NULL);
	uint32_t two = 2, one = 1;
	assert_int_equal(store_flags(u, id, &two, 1, STORE_FLAGS_ADD, MAIL_FLAG_DELETED, "x", 0, NULL,
				     NULL, NULL, NULL),
			 STORE_OK);
	assert_int_equal(store_expunge(u, id, &one, 1), STORE_OK);
	/* Expunging what is gone is no change. */
	mb = status_of(u, "INBOX");
	uint64_t hms = mb.highestmodseq;
	store_mailbox_clear(&mb);
	assert_int_equal(store_expunge(u, id, &one, 1), STORE_OK);
	mb = status_of(u, "INBOX");
	assert_int_equal(mb.highestmodseq, hms);
	assert_int_equal(mb.messages, 2);
	store_mailbox_clear(&mb);

	struct store_msg *ch;
	uint32_t *ex;
	size_t nch, nex;
	assert_int_equal(store_changes(u, id, since, &ch, &nch, &ex, &nex), STORE_OK);
	assert_int_equal(nch, 2);
	assert_int_equal(ch[0].uid, 2);
	assert_int_equal(ch[0].flags, MAIL_FLAG_DELETED);
	assert_string_equal(ch[0].keywords, "x");
	assert_int_equal(ch[1].uid, 3);
	assert_int_equal(nex, 1);
	assert_int_equal(ex[0], 1);
	store_msg_array_free(ch, nch);
	free(ex);
	assert_int_equal(store_changes(u, id, hms, &ch, &nch, &ex, &nex), STORE_OK);
	assert_int_equal(nch, 0);
	assert_int_equal(nex, 0);
	assert_int_equal(store_changes(u, 999999, 0, &ch, &nch, &ex, &nex), STORE_ENOENT);
	/* A deleted mailbox's id is never reused. */
	assert_int_equal(store_mailbox_create(u, "Tmp", NULL), STORE_OK);
	int64_t tmp = mailbox_id(u, "Tmp");
	assert_int_equal(store_mailbox_delete(u, "Tmp"), STORE_OK);
	assert_int_equal(store_changes(u, tmp, 0, &ch, &nch, &ex, &nex), STORE_ENOENT);
	assert_int_equal(store_mailbox_create(u, "Tmp", NULL), STORE_OK);
	assert_true(mailbox_id(u, "Tmp") != tmp);
	assert_int_equal(store_changes(u, tmp, 0, &ch, &nch, &ex, &nex), STORE_ENOENT);
	store_user_close(u);
}

/* RFC 3501 2.3.2: an APPEND into the session's selected mailbox claims
 * \Recent in its own transaction: every unclaimed UID up to the new ones,
 * so a take_recent afterwards finds nothing; into another mailbox, none. */
static void test_append_claims_recent(void **state)
{
	(void)state;
	struct store_user *u = store_user_open("claimrecent");
	assert_non_null(u);
	append_msg(u, "INBOX", "Subject: a\r\n\r\na\r\n", 0, NULL);
	assert_int_equal(store_mailbox_create(u, "Other", NULL), STORE_OK);
	int64_t inbox = mailbox_id(u, "INBOX"), other = mailbox_id(u, "Other");
	struct store_append a;
	uint32_t uv = 0, fr = 0, end = 0;
	struct store_recent_claim c = { .mailbox_id = inbox };
	append_init(&a, "Subject: b\r\n\r\nb\r\n", 0, NULL);
	assert_int_equal(store_append_claim(u, "INBOX", &a, 1, &uv, &c), STORE_OK);
	assert_int_equal(a.uid, 2);
	assert_true(c.made);
	assert_int_equal(c.from, 1);
	assert_int_equal(c.end, 3);
	assert_int_equal(store_mailbox_take_recent(u, inbox, &fr, &end), STORE_OK);
	assert_int_equal(fr, 3);
	assert_int_equal(end, 3);
	/* Nothing left to claim: made, with an empty range. */
	append_init(&a, "Subject: c\r\n\r\nc\r\n", 0, NULL);
	assert_int_equal(store_append_claim(u, "INBOX", &a, 1, &uv, &c), STORE_OK);
	assert_true(c.made);
	assert_int_equal(c.from, 3);
	assert_int_equal(c.end, 4);
	/* Into a mailbox other than the claim's: no claim, \Recent left. */
	c = (struct store_recent_claim){ .mailbox_id = other };
	append_init(&a, "Subject: d\r\n\r\nd\r\n", 0, NULL);
	assert_int_equal(store_append_claim(u, "INBOX", &a, 1, &uv, &c), STORE_OK);
	assert_false(c.made);
	assert_int_equal(store_mailbox_take_recent(u, inbox, &fr, &end), STORE_OK);
	assert_int_equal(fr, 4);
	assert_int_equal(end, 5);
	/* A failed append claims nothing. */
	c = (struct store_recent_claim){ .mailbox_id = inbox };
	append_init(&a, "Subject: e\r\n\r\ne\r\n", 0, NULL);
	assert_int_equal(store_append_claim(u, "Nowhere", &a, 1, &uv, &c), STORE_ENOENT);
	assert_false(c.made);
	c.mailbox_id = 0;
	assert_int_equal(store_append_claim(u, "INBOX", &a, 1, &uv, &c), STORE_EINVAL);
	struct store_mailbox mb = status_of(u, "INBOX");
	assert_int_equal(mb.uidnext, 5);
	assert_int_equal(mb.first_recent_uid, 5);
	store_mailbox_clear(&mb);
	store_user_close(u);
}

static void test_status_counts(void **state)
{
	struct store_user *u = store_user_open("status");
	assert_non_null(u);
	append_msg(u, "INBOX", "Subject: 1\r\n\r\n1\r\n", MAIL_FLAG_SEEN, NULL);
	append_msg(u, "INBOX", "Subject: 22\r\n\r\n22\r\n", MAIL_FLAG_DELETED, NULL);
	append_msg(u, "INBOX", "Subject: 333\r\n\r\n333\r\n", MAIL_FLAG_SEEN | MAIL_FLAG_DELETED,
		   NULL);
	append_msg(u, "Sent", "Subject: s\r\n\r\ns\r\n", MAIL_FLAG_SEEN, NULL);
	struct store_mailbox mb = status_of(u, "INBOX");
	assert_int_equal(mb.messages, 3);
	assert_int_equal(mb.unseen, 1);
	assert_int_equal(mb.deleted, 2);
	assert_int_equal(mb.recent, 3);
	assert_int_equal(mb.uidnext, 4);
	assert_int_equal(mb.first_recent_uid, 1);
	uint64_t s1 = strlen("Subject: 1\r\n\r\n1\r\n"), s2 = strlen("Subject: 22\r\n\r\n22\r\n"),
		 s3 = strlen("Subject: 333\r\n\r\n333\r\n");
	assert_int_equal(mb.size, s1 + s2 + s3);
	assert_int_equal(mb.deleted_size, s2 + s3);
	assert_true(mb.subscribed);
	/* \Recent is taken once (rev1). */
	uint32_t fr = 0, end = 0;
	assert_int_equal(store_mailbox_take_recent(u, mb.id, &fr, &end), STORE_OK);
	assert_int_equal(fr, 1);
	assert_int_equal(end, 4);
	assert_int_equal(store_mailbox_take_recent(u, mb.id, &fr, &end), STORE_OK);
	assert_int_equal(fr, 4);
	assert_int_equal(end, 4);
	assert_int_equal(store_mailbox_take_recent(u, mb.id, &fr, NULL), STORE_OK);
	assert_int_equal(store_mailbox_take_recent(u, 999999, &fr, &end), STORE_ENOENT);
	store_mailbox_clear(&mb);
	mb = status_of(u, "INBOX");
	assert_int_equal(mb.recent, 0);
	assert_int_equal(mb.first_recent_uid, 4);
	/* The same row without counts (what SELECT needs). */
	struct store_mailbox got;
	assert_int_equal(store_mailbox_get(u, "inbox", &got), STORE_OK);
	assert_int_equal(got.id, mb.id);
	assert_int_equal(got.uidvalidity, mb.uidvalidity);
	assert_int_equal(got.uidnext, mb.uidnext);
	assert_int_equal(got.highestmodseq, mb.highestmodseq);
	assert_int_equal(got.first_recent_uid, mb.first_recent_uid);
	assert_true(got.subscribed);
	assert_string_equal(got.name, "INBOX");
	assert_int_equal(got.messages, 0);
	store_mailbox_clear(&got);
	assert_int_equal(store_mailbox_get(u, "Nope", &got), STORE_ENOENT);
	store_mailbox_clear(&got);
	store_mailbox_clear(&mb);

	/* The listing's counts agree with STATUS. */
	struct store_mailbox *mbs;
	size_t n;
	assert_int_equal(store_mailbox_list(u, true, &mbs, &n), STORE_OK);
	for (size_t i = 0; i < n; i++) {
		struct store_mailbox one = status_of(u, mbs[i].name);
		assert_int_equal(one.messages, mbs[i].messages);
		assert_int_equal(one.unseen, mbs[i].unseen);
		assert_int_equal(one.deleted, mbs[i].deleted);
		assert_int_equal(one.size, mbs[i].size);
		if (strcmp(mbs[i].name, "Sent") == 0)
			assert_int_equal(mbs[i].messages, 1);
		store_mailbox_clear(&one);
	}
	store_mailbox_array_free(mbs, n);
	store_user_close(u);
}

static void test_uidvalidity_unique(void **state)
{
	struct store_user *u = store_user_open("uidvalidity");
	assert_non_null(u);
	uint32_t seen[8];
	for (int i = 0; i < 8; i++) {
		assert_int_equal(store_mailbox_create(u, "Again", NULL), STORE_OK);
		struct store_mailbox mb = status_of(u, "Again");
		seen[i] = mb.uidvalidity;
		store_mailbox_clear(&mb);
		/* Never reused for a recreated name (RFC 9051 2.3.1.1). */
		for (int j = 0; j < i; j++)
			assert_true(seen[i] > seen[j]);
		if (i == 3)
			assert_int_equal(store_mailbox_rename(u, "Again", "Renamed"), STORE_OK);
		else
			assert_int_equal(store_mailbox_delete(u, "Again"), STORE_OK);
	}
	struct store_mailbox mb = status_of(u, "Renamed");
	assert_int_equal(mb.uidvalidity, seen[3]);
	store_mailbox_clear(&mb);
	struct store_mailbox *mbs;
	size_t n;
	assert_int_equal(store_mailbox_list(u, false, &mbs, &n), STORE_OK);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			assert_true(mbs[i].uidvalidity != mbs[j].uidvalidity);
	store_mailbox_array_free(mbs, n);
	store_user_close(u);
}

/* ---- watcher ---- */

static pthread_mutex_t g_cb_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cb_cond = PTHREAD_COND_INITIALIZER;
static unsigned g_cb_count;
static char g_cb_user[64];
static bool g_cb_bad_arg;

/* Runs on the watcher thread: no cmocka assertions here. */
static void on_change(const char *username, void *arg)
{
	pthread_mutex_lock(&g_cb_lock);
	if (arg != &g_cb_count)
		g_cb_bad_arg = true;
	if (strcmp(username, "watched") == 0) {
		g_cb_count++;
		snprintf(g_cb_user, sizeof(g_cb_user), "%s", username);
	}
	pthread_cond_broadcast(&g_cb_cond);
	pthread_mutex_unlock(&g_cb_lock);
}

/* Waits until the callback count passes `old`; returns the latency in
 * microseconds, or UINT64_MAX after a second. */
static uint64_t wait_callback(unsigned old, uint64_t t0)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 1;
	pthread_mutex_lock(&g_cb_lock);
	while (g_cb_count == old)
		if (pthread_cond_timedwait(&g_cb_cond, &g_cb_lock, &deadline) == ETIMEDOUT)
			break;
	bool fired = g_cb_count != old;
	pthread_mutex_unlock(&g_cb_lock);
	return fired ? now_us() - t0 : UINT64_MAX;
}

static unsigned cb_count(void)
{
	pthread_mutex_lock(&g_cb_lock);
	unsigned c = g_cb_count;
	pthread_mutex_unlock(&g_cb_lock);
	return c;
}

static void *append_thread(void *arg)
{
	uint64_t *t_done = arg;
	struct store_user *u = store_user_open("watched");
	if (!u)
		return NULL;
	struct store_append a;
	memset(&a, 0, sizeof(a));
	a.data = "Subject: from a thread\r\n\r\nx\r\n";
	a.len = strlen(a.data);
	a.internaldate = -1;
	int r = store_append(u, "INBOX", &a, 1, NULL);
	*t_done = now_us();
	store_user_close(u);
	store_cache_drop();
	return r == STORE_OK ? arg : NULL;
}

static void test_watch(void **state)
{
	struct store_user *u = store_user_open("watched");
	assert_non_null(u);
	store_user_close(u);
	store_cache_drop();
	assert_int_equal(store_watch_start(on_change, &g_cb_count), STORE_OK);
	assert_int_equal(store_watch_start(on_change, &g_cb_count), STORE_EINVAL);
	assert_int_equal(store_watch_user("watched"), STORE_OK);
	assert_int_equal(store_watch_user("watched"), STORE_OK);
	assert_int_equal(store_watch_user("../bad"), STORE_EINVAL);

	/* Another thread with its own handle. */
	unsigned c0 = cb_count();
	uint64_t t_done = 0;
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, append_thread, &t_done), 0);
	void *res;
	pthread_join(th, &res);
	assert_non_null(res);
	uint64_t lat = wait_callback(c0, t_done);
	assert_true(lat != UINT64_MAX);
	printf("watch latency (thread): %llu us\n", (unsigned long long)lat);
	assert_true(lat < 100000);
	assert_string_equal(g_cb_user, "watched");

	/* Another process, like `rampart deliver`. */
	usleep(20000);
	c0 = cb_count();
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store_user *cu = store_user_open("watched");
		struct store_append a;
		memset(&a, 0, sizeof(a));
		a.data = "Subject: from a process\r\n\r\ny\r\n";
		a.len = strlen(a.data);
		a.internaldate = -1;
		int r = cu ? store_append(cu, "INBOX", &a, 1, NULL) : STORE_EIO;
		uint64_t t = now_us();
		if (write(pfd[1], &t, sizeof(t)) != sizeof(t))
			r = STORE_EIO;
		_exit(r == STORE_OK ? 0 : 1);
	}
	close(pfd[1]);
	uint64_t t_child = 0;
	assert_int_equal(read(pfd[0], &t_child, sizeof(t_child)), sizeof(t_child));
	close(pfd[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	lat = wait_callback(c0, t_child);
	assert_true(lat != UINT64_MAX);
	printf("watch latency (process): %llu us\n", (unsigned long long)lat);
	assert_true(lat < 100000);

	/* Flag changes are changes too. */
	usleep(20000);
	c0 = cb_count();
	u = store_user_open("watched");
	uint32_t one = 1;
	uint64_t t0 = now_us();
	assert_int_equal(store_flags(u, mailbox_id(u, "INBOX"), &one, 1, STORE_FLAGS_ADD,
				     MAIL_FLAG_SEEN, NULL, 0, NULL, NULL, NULL, NULL),
			 STORE_OK);
	assert_true(wait_callback(c0, t0) < 100000);
	store_user_close(u);

	/* Opening, reading and closing a store is not a change: a reader that
	 * woke the watchers would wake every IDLE session of the user, each
	 * of which opens the store again, for ever. */
	store_cache_drop();
	usleep(20000);
	c0 = cb_count();
	for (int i = 0; i < 3; i++) {
		u = store_user_open("watched");
		assert_non_null(u);
		struct store_mailbox *mbs = NULL;
		size_t nmbs = 0;
		assert_int_equal(store_mailbox_list(u, true, &mbs, &nmbs), STORE_OK);
		store_mailbox_array_free(mbs, nmbs);
		store_user_close(u);
		store_cache_drop();
	}
	usleep(200000);
	assert_int_equal(cb_count(), c0);

	/* Unwatched users are not reported. */
	store_unwatch_user("watched");
	store_unwatch_user("watched");
	store_unwatch_user("watched");
	usleep(20000);
	c0 = cb_count();
	u = store_user_open("watched");
	append_msg(u, "INBOX", "Subject: quiet\r\n\r\nq\r\n", 0, NULL);
	store_user_close(u);
	usleep(100000);
	assert_int_equal(cb_count(), c0);

	/* A watch on a user whose store does not exist yet arms itself once
	 * the store appears. */
	assert_int_equal(store_watch_user("watched-later"), STORE_OK);
	u = store_user_open("watched-later");
	assert_non_null(u);
	store_user_close(u);
	store_unwatch_user("watched-later");
	store_watch_stop();
	assert_false(g_cb_bad_arg);
	store_watch_stop();
	store_cache_drop();
}

/* ---- concurrency ---- */

#define CONC_THREADS 4
#define CONC_PER_THREAD 25

static void *conc_thread(void *arg)
{
	intptr_t t = (intptr_t)arg;
	struct store_user *u = store_user_open("concurrent");
	if (!u)
		return NULL;
	bool ok = true;
	for (int i = 0; i < CONC_PER_THREAD && ok; i++) {
		char text[96];
		snprintf(text, sizeof(text), "Subject: t%ld m%d\r\n\r\nbody\r\n", (long)t, i);
		struct store_append a;
		memset(&a, 0, sizeof(a));
		a.data = text;
		a.len = strlen(text);
		a.internaldate = -1;
		ok = store_append(u, "INBOX", &a, 1, NULL) == STORE_OK;
	}
	store_user_close(u);
	store_cache_drop();
	return ok ? arg : NULL;
}

#define CONC_PROCS 2

/* Threads with their own handles and other processes (like `rampart
 * deliver`) append to one mailbox at once: every message gets its own UID,
 * none is lost. */
static void test_concurrent_appends(void **state)
{
	struct store_user *u = store_user_open("concurrent");
	assert_non_null(u);
	/* Fork before any thread runs, so no lock is held across fork. */
	pid_t pids[CONC_PROCS];
	for (intptr_t i = 0; i < CONC_PROCS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(conc_thread((void *)(100 + i)) ? 0 : 1);
	}
	pthread_t th[CONC_THREADS];
	for (intptr_t i = 0; i < CONC_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, conc_thread, (void *)(i + 1)), 0);
	for (int i = 0; i < CONC_THREADS; i++) {
		void *res;
		pthread_join(th[i], &res);
		assert_non_null(res);
	}
	for (int i = 0; i < CONC_PROCS; i++) {
		int status;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	struct store_msg *m;
	size_t n;
	assert_int_equal(store_msg_list(u, mailbox_id(u, "INBOX"), 1, false, &m, &n), STORE_OK);
	assert_int_equal(n, (CONC_THREADS + CONC_PROCS) * CONC_PER_THREAD);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(m[i].uid, i + 1);
		assert_true(blob_exists(u, m[i].blob));
	}
	store_msg_array_free(m, n);
	store_user_close(u);
}

/* ---- handle cache ---- */

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void *open_and_report(void *arg)
{
	struct store_user **out = arg;
	*out = store_user_open("pool-shared");
	if (*out)
		store_user_close(*out);
	return NULL;
}

static void test_handle_cache(void **state)
{
	store_cache_drop();
	int fds0 = count_fds();
	struct store_user *first = store_user_open("cache0");
	assert_non_null(first);
	store_user_close(first);
	/* More users than the pool holds: the least recently used unused
	 * handles are closed, so the descriptors the pool holds (index, WAL,
	 * shm, blobs/ per handle) stay bounded, and reopening works. */
	for (int i = 1; i < 300; i++) {
		char name[32];
		snprintf(name, sizeof(name), "cache%d", i);
		struct store_user *u = store_user_open(name);
		assert_non_null(u);
		store_user_close(u);
	}
	int fds_full = count_fds();
	printf("descriptors: %d before, %d with a full pool\n", fds0, fds_full);
	assert_true(fds_full - fds0 <= 256 * 4 + 8);  /* index, WAL, shm, blobs dir */
	assert_true(fds_full - fds0 >= 100);  /* it does keep handles */
	struct store_user *u = store_user_open("cache0");
	assert_non_null(u);
	assert_true(has_mailbox(u, "INBOX"));
	/* Nested opens on one thread share the handle. */
	struct store_user *again = store_user_open("cache0");
	assert_ptr_equal(again, u);
	store_user_close(again);
	/* In use: cannot be removed. */
	assert_int_equal(store_user_remove("cache0"), STORE_EINUSE);
	store_user_close(u);
	store_cache_drop();
	assert_true(count_fds() <= fds0 + 1);
	assert_int_equal(store_user_remove("cache0"), STORE_OK);

	/* An unused handle serves any thread; one in use by another thread is
	 * not shared (another handle is opened). */
	struct store_user *mine = store_user_open("pool-shared");
	assert_non_null(mine);
	store_user_close(mine);
	struct store_user *theirs = NULL;
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, open_and_report, &theirs), 0);
	pthread_join(th, NULL);
	assert_ptr_equal(theirs, mine);
	mine = store_user_open("pool-shared");
	/* Held here while the other thread opens: a second handle. */
	assert_int_equal(pthread_create(&th, NULL, open_and_report, &theirs), 0);
	pthread_join(th, NULL);
	assert_non_null(theirs);
	assert_ptr_not_equal(theirs, mine);
	store_user_close(mine);
	store_cache_drop();
}

/* sess (issue #14): a closed handle keeps its page cache for the next
 * open; a change another connection (another process: rampart deliver,
 * the CLI) made meanwhile is still seen, not the cached pages. */
static void test_warm_handle_sees_other_writers(void **state)
{
	(void)state;
	store_cache_drop();
	struct store_user *u = store_user_open("warm1");
	assert_non_null(u);
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(u, "INBOX", &mb), STORE_OK);
	uint32_t uidnext = mb.uidnext;
	store_mailbox_clear(&mb);
	store_user_close(u);
	for (int round = 1; round <= 3; round++) {
		sqlite3 *db = open_index("warm1");
		exec_sql(db, "UPDATE mailboxes SET uidnext=uidnext+7 WHERE name='INBOX';");
		sqlite3_close(db);
		struct store_user *again = store_user_open("warm1");
		assert_ptr_equal(again, u); /* the kept handle, not a new one */
		assert_int_equal(store_mailbox_get(again, "INBOX", &mb), STORE_OK);
		assert_int_equal(mb.uidnext, uidnext + 7u * (uint32_t)round);
		store_mailbox_clear(&mb);
		store_user_close(again);
	}
	store_cache_drop();
}

/* ---- scale ---- */

static void test_list_100k(void **state)
{
	struct store_user *u = store_user_open("big");
	assert_non_null(u);
	append_msg(u, "INBOX", "Subject: big\r\n\r\nbig\r\n", 0, NULL);
	int64_t id = mailbox_id(u, "INBOX");
	/* 100,000 more rows sharing the blob, inserted directly: what is
	 * measured is the listing, not 100,000 fsyncs. */
	sqlite3 *db = open_index("big");
	exec_sql(db, "BEGIN IMMEDIATE;"
		     "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i+1 FROM n WHERE i<100001) "
		     "INSERT INTO messages(mailbox_id,uid,modseq,flags,keywords,internaldate,"
		     "internaldate_tz,savedate,size,blob) "
		     "SELECT m.mailbox_id,n.i,m.modseq,n.i%4,NULL,m.internaldate,0,m.savedate,m.size,"
		     "m.blob FROM n, messages m WHERE m.uid=1;"
		     "UPDATE mailboxes SET uidnext=100002 WHERE name='INBOX';"
		     "COMMIT;");
	sqlite3_close(db);
	struct store_msg *m;
	size_t n;
	uint64_t t0 = now_us();
	assert_int_equal(store_msg_list(u, id, 1, true, &m, &n), STORE_OK);
	uint64_t t1 = now_us();
	assert_int_equal(n, 100001);
	for (size_t i = 0; i < n; i++)
		if (m[i].uid != i + 1)
			fail_msg("uid %u at %zu", m[i].uid, i);
	assert_int_equal(m[100000].flags, 100001 % 4);
	store_msg_array_free(m, n);
	struct store_mailbox mb;
	uint64_t t2 = now_us();
	assert_int_equal(store_mailbox_status(u, "INBOX", &mb), STORE_OK);
	uint64_t t3 = now_us();
	assert_int_equal(mb.messages, 100001);
	store_mailbox_clear(&mb);
	uint64_t t4 = now_us();
	assert_int_equal(store_msg_list(u, id, 1, false, &m, &n), STORE_OK);
	uint64_t t5 = now_us();
	assert_int_equal(n, 100001);
	store_msg_array_free(m, n);
	printf("100k messages: list(meta_only) %.1f ms, status %.1f ms, list(full) %.1f ms\n",
	       (double)(t1 - t0) / 1000, (double)(t3 - t2) / 1000, (double)(t5 - t4) / 1000);
	store_user_close(u);
}

/* ---- quota (quota part): SQLite-specific; the promises are in
 * test_store_conformance.c ---- */

static struct store_quota_usage quota_usage_of(struct store_user *u)
{
	struct store_quota_usage us;
	assert_int_equal(store_quota_get(u, &us, NULL, NULL), STORE_OK);
	return us;
}

/* A store of schema version 1 (before quota) with mail in it gets exact
 * counters when it is opened by this version. */
static void test_migration_counts_existing_mail(void **state)
{
	struct store_user *u = store_user_open("q-migrate");
	assert_non_null(u);
	const char *m = "Subject: old\r\n\r\nold mail\r\n";
	append_msg(u, "INBOX", m, 0, NULL);
	append_msg(u, "Sent", m, 0, NULL);
	assert_int_equal(store_mailbox_create(u, "Extra", NULL), STORE_OK);
	store_user_close(u);
	store_cache_drop();
	sqlite3 *db = open_index("q-migrate");
	exec_sql(db, "DROP TRIGGER quota_msg_add; DROP TRIGGER quota_msg_del;"
		 "DROP TRIGGER quota_msg_size; DROP TRIGGER quota_mb_add;"
		 "DROP TRIGGER quota_mb_del; DROP TABLE quota;"
		 "DELETE FROM store_meta WHERE key='migration.2'; PRAGMA user_version=1;");
	sqlite3_close(db);
	u = store_user_open("q-migrate");
	assert_non_null(u);
	struct store_quota_usage us = quota_usage_of(u);
	assert_int_equal(us.storage, 2 * strlen(m));
	assert_int_equal(us.messages, 2);
	assert_int_equal(us.mailboxes, 7);
	store_user_close(u);
}

/* Counters damaged behind the store's back: the recount reports and
 * repairs them; statements outside the store functions are counted too. */
static void test_recount_repairs(void **state)
{
	struct store_user *u = store_user_open("q-recount");
	assert_non_null(u);
	append_msg(u, "INBOX", "Subject: a\r\n\r\nabc\r\n", 0, NULL);
	store_user_close(u);
	store_cache_drop();
	sqlite3 *db = open_index("q-recount");
	exec_sql(db, "UPDATE quota SET storage=999999, messages=42, mailboxes=1");
	sqlite3_close(db);
	u = store_user_open("q-recount");
	struct store_quota_usage stored, counted;
	assert_int_equal(store_quota_recount(u, &stored, &counted), STORE_OK);
	assert_int_equal(stored.messages, 42);
	assert_int_equal(counted.messages, 1);
	assert_int_equal(counted.mailboxes, 6);
	assert_int_equal(quota_usage_of(u).storage, strlen("Subject: a\r\n\r\nabc\r\n"));
	assert_int_equal(quota_usage_of(u).messages, 1);
	store_user_close(u);
	store_cache_drop();
	db = open_index("q-recount");
	exec_sql(db, "DELETE FROM messages; DELETE FROM mailboxes WHERE name='Junk'");
	sqlite3_close(db);
	u = store_user_open("q-recount");
	assert_int_equal(quota_usage_of(u).storage, 0);
	assert_int_equal(quota_usage_of(u).messages, 0);
	assert_int_equal(quota_usage_of(u).mailboxes, 5);
	store_user_close(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_dir),
		cmocka_unit_test(test_user_defaults),
		cmocka_unit_test(test_mailbox_names),
		cmocka_unit_test(test_mailbox_delete_rename),
		cmocka_unit_test(test_subscriptions),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_list_get),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_copy_move),
		cmocka_unit_test(test_expunge_changes),
		cmocka_unit_test(test_status_counts),
		cmocka_unit_test(test_append_claims_recent),
		cmocka_unit_test(test_uidvalidity_unique),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_concurrent_appends),
		cmocka_unit_test(test_handle_cache),
		cmocka_unit_test(test_warm_handle_sees_other_writers), /* sess */
		cmocka_unit_test(test_list_100k),
		cmocka_unit_test(test_migration_counts_existing_mail),
		cmocka_unit_test(test_recount_repairs),
	};
	return store_test_run("store", tests, sizeof(tests) / sizeof(tests[0]), g_mail);
}
