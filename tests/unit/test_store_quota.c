/* SQLite-specific quota tests (the backend-neutral promises are in
 * test_store_conformance.c): migration 2 counts an existing version-1
 * store, the counters come back exact after being damaged (recount), and
 * the triggers follow statements no store function runs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"
#include "store_test_util.h"

static sqlite3 *open_index(const char *user)
{
	char *dir = store_user_dir(user);
	assert_non_null(dir);
	char *path = xasprintf("%s/index.sqlite", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	free(path);
	free(dir);
	return db;
}

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

static struct store_quota_usage usage_of(struct store_user *u)
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
	exec(db, "DROP TRIGGER quota_msg_add; DROP TRIGGER quota_msg_del;"
		 "DROP TRIGGER quota_msg_size; DROP TRIGGER quota_mb_add;"
		 "DROP TRIGGER quota_mb_del; DROP TABLE quota; PRAGMA user_version=1;");
	sqlite3_close(db);
	u = store_user_open("q-migrate");
	assert_non_null(u);
	struct store_quota_usage us = usage_of(u);
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
	exec(db, "UPDATE quota SET storage=999999, messages=42, mailboxes=1");
	sqlite3_close(db);
	u = store_user_open("q-recount");
	struct store_quota_usage stored, counted;
	assert_int_equal(store_quota_recount(u, &stored, &counted), STORE_OK);
	assert_int_equal(stored.messages, 42);
	assert_int_equal(counted.messages, 1);
	assert_int_equal(counted.mailboxes, 6);
	assert_int_equal(usage_of(u).storage, strlen("Subject: a\r\n\r\nabc\r\n"));
	assert_int_equal(usage_of(u).messages, 1);
	store_user_close(u);
	store_cache_drop();
	db = open_index("q-recount");
	exec(db, "DELETE FROM messages; DELETE FROM mailboxes WHERE name='Junk'");
	sqlite3_close(db);
	u = store_user_open("q-recount");
	assert_int_equal(usage_of(u).storage, 0);
	assert_int_equal(usage_of(u).messages, 0);
	assert_int_equal(usage_of(u).mailboxes, 5);
	store_user_close(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migration_counts_existing_mail),
		cmocka_unit_test(test_recount_repairs),
	};
	return store_test_run("store-quota", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
