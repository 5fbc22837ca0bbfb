/* Helpers for the SQLite backend's unit tests that look inside a user's
 * index with a connection of their own. Include after <cmocka.h>. */
#ifndef RAMPART_TESTS_STORE_SQLITE_TEST_UTIL_H
#define RAMPART_TESTS_STORE_SQLITE_TEST_UTIL_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"

/* A connection of the test's own to user's index.sqlite (waits up to 5 s
 * for the server's locks); the caller closes it. */
static inline sqlite3 *store_test_index_open(const char *user)
{
	char *dir = store_user_dir(user);
	char path[1024];
	snprintf(path, sizeof(path), "%s/index.sqlite", dir);
	free(dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

#endif
