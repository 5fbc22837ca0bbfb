/* The VFS of users' indexes (store/sqlite/walvfs.c, issue #14): a WAL
 * transaction reaches the kernel as one write instead of two per page;
 * a command's "what changed since" in a mailbox where nothing committed
 * is answered from the wal-index header without a read transaction (no
 * lock), and a commit by another connection is seen at once;
 * another connection (with SQLite's own VFS, reading the WAL through its
 * own descriptor) sees every commit whole the moment it returns, across
 * transactions larger than one run, pages spilled before COMMIT and
 * rollbacks; and a write that fails (a file size limit, as a full disk)
 * fails the COMMIT, leaving the database as it was.
 *
 * The writes are counted through the unix VFS's system-call hooks
 * (xSetSystemCall "pwrite"/"pwrite64"), under the layer being tested. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/flags.h"
#include "store/sqlite/sqlite_internal.h"
#include "store/store.h"
#include "store_test_util.h"

#include <fcntl.h>
#include <pthread.h>

static char g_dir[64];
static char g_path[128];
static unsigned long g_writes;
static sqlite3_syscall_ptr g_real_pwrite, g_real_pwrite64, g_real_fcntl;
static unsigned long g_fcntls;

static ssize_t counting_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	g_writes++;
	return ((ssize_t(*)(int, const void *, size_t, off_t))g_real_pwrite)(fd, buf, n, off);
}

static ssize_t counting_pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	g_writes++;
	return ((ssize_t(*)(int, const void *, size_t, off_t))g_real_pwrite64)(fd, buf, n, off);
}

static int counting_fcntl(int fd, int op, ...)
{
	va_list ap;
	va_start(ap, op);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	g_fcntls++;
	return ((int (*)(int, int, ...))g_real_fcntl)(fd, op, arg);
}

static int setup(void **state)
{
	(void)state;
	strcpy(g_dir, "/tmp/rampart-walvfs-XXXXXX");
	assert_non_null(mkdtemp(g_dir));
	snprintf(g_path, sizeof(g_path), "%s/index.sqlite", g_dir);
	sqlite_lib_init();
	assert_non_null(sqlite_index_vfs());
	sqlite3_vfs *unix_vfs = sqlite3_vfs_find("unix");
	assert_non_null(unix_vfs);
	g_real_pwrite = unix_vfs->xGetSystemCall(unix_vfs, "pwrite");
	g_real_pwrite64 = unix_vfs->xGetSystemCall(unix_vfs, "pwrite64");
	assert_true(g_real_pwrite || g_real_pwrite64);
	if (g_real_pwrite)
		unix_vfs->xSetSystemCall(unix_vfs, "pwrite", (sqlite3_syscall_ptr)counting_pwrite);
	if (g_real_pwrite64)
		unix_vfs->xSetSystemCall(unix_vfs, "pwrite64",
					 (sqlite3_syscall_ptr)counting_pwrite64);
	g_real_fcntl = unix_vfs->xGetSystemCall(unix_vfs, "fcntl");
	assert_non_null(g_real_fcntl);
	unix_vfs->xSetSystemCall(unix_vfs, "fcntl", (sqlite3_syscall_ptr)counting_fcntl);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sqlite3_vfs *unix_vfs = sqlite3_vfs_find("unix");
	unix_vfs->xSetSystemCall(unix_vfs, NULL, NULL); /* all back to the defaults */
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* A fresh database at g_path opened with vfs (NULL: SQLite's default),
 * as db.c opens users' indexes: WAL, no checkpoint on close. */
static sqlite3 *open_db(const char *vfs, bool fresh)
{
	if (fresh) {
		char p[160];
		unlink(g_path);
		snprintf(p, sizeof(p), "%s-wal", g_path);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", g_path);
		unlink(p);
	}
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 vfs),
			 SQLITE_OK);
	exec_ok(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
		    "PRAGMA wal_autocheckpoint=0;"
		    "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB, s INTEGER)");
	return db;
}

/* Inserts n rows of size bytes each (key from k0, a checksum column s) in
 * one transaction; the COMMIT's result. */
static int insert_rows(sqlite3 *db, int k0, int n, int size)
{
	exec_ok(db, "BEGIN IMMEDIATE");
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(k, v, s) VALUES (?, ?, ?)", -1, &st,
					    NULL),
			 SQLITE_OK);
	unsigned char *v = malloc((size_t)size);
	assert_non_null(v);
	for (int i = 0; i < n; i++) {
		int64_t sum = 0;
		for (int j = 0; j < size; j++) {
			v[j] = (unsigned char)((k0 + i) * 31 + j * 7);
			sum += v[j];
		}
		sqlite3_bind_int(st, 1, k0 + i);
		sqlite3_bind_blob(st, 2, v, size, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, sum);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	free(v);
	return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
}

/* What a reader sees must be whole: each row's bytes match its checksum. */
static int64_t rows_checked(sqlite3 *db)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT k, v, s FROM t", -1, &st, NULL), SQLITE_OK);
	int64_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_blob(st, 1);
		int len = sqlite3_column_bytes(st, 1);
		int64_t sum = 0;
		for (int j = 0; j < len; j++)
			sum += v[j];
		assert_int_equal(sum, sqlite3_column_int64(st, 2));
		n++;
	}
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);
	return n;
}

/* 40 rows of 1,500 bytes: ~20 pages. SQLite's own VFS writes each frame
 * as its header and its page; through ours the transaction is one
 * write. */
static void test_a_transaction_is_one_write(void **state)
{
	(void)state;
	sqlite3 *plain = open_db(NULL, true);
	assert_int_equal(insert_rows(plain, 0, 1, 100), SQLITE_OK); /* the WAL header */
	g_writes = 0;
	assert_int_equal(insert_rows(plain, 1000, 40, 1500), SQLITE_OK);
	unsigned long plain_writes = g_writes;
	sqlite3_close(plain);

	sqlite3 *db = open_db(sqlite_index_vfs(), true);
	assert_int_equal(insert_rows(db, 0, 1, 100), SQLITE_OK);
	g_writes = 0;
	assert_int_equal(insert_rows(db, 1000, 40, 1500), SQLITE_OK);
	unsigned long walvfs_writes = g_writes;
	assert_int_equal(rows_checked(db), 41);
	sqlite3_close(db);

	assert_true(plain_writes >= 40);
	assert_int_equal(walvfs_writes, 1);
}

/* Writer through our VFS, reader through SQLite's: after every COMMIT the
 * reader sees exactly the rows committed, whole. Transactions from one
 * page to ~150 (longer than one run of 128 KiB), a page cache of 8 pages
 * so big ones spill frames before their COMMIT, and every fifth one
 * rolled back after its inserts. */
static void test_each_commit_is_whole_for_another_connection(void **state)
{
	(void)state;
	sqlite3 *db = open_db(sqlite_index_vfs(), true);
	exec_ok(db, "PRAGMA cache_size=8");
	sqlite3 *reader = open_db(NULL, false);
	int64_t expect = 0;
	int k = 0;
	for (int i = 0; i < 60; i++) {
		int n = 1 + (i * 37) % 150;
		int size = 200 + (i * 997) % 3500;
		if (i % 5 == 4) {
			exec_ok(db, "SAVEPOINT s");
			exec_ok(db, "INSERT INTO t(k, v, s) SELECT k + 1000000, v, s FROM t");
			exec_ok(db, "ROLLBACK TO s; RELEASE s");
			exec_ok(db, "BEGIN IMMEDIATE;"
				    "INSERT INTO t(k, v, s) SELECT k + 2000000, v, s FROM t;"
				    "ROLLBACK");
		}
		assert_int_equal(insert_rows(db, k, n, size), SQLITE_OK);
		k += n;
		expect += n;
		assert_int_equal(rows_checked(reader), expect);
		assert_int_equal(query_int(reader, "SELECT count(*) FROM t"), expect);
	}
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(reader, "PRAGMA integrity_check", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(reader);
	sqlite3_close(db);

	/* And after both closed, from the files alone (WAL recovery). */
	reader = open_db(NULL, false);
	assert_int_equal(rows_checked(reader), expect);
	sqlite3_close(reader);
}

/* A write the kernel refuses (EFBIG past RLIMIT_FSIZE, as ENOSPC on a
 * full disk) fails the COMMIT that needed it, and the database keeps
 * every earlier commit and none of the failed one. In a child: the limit
 * is the process's. */
static void test_a_failed_write_fails_the_commit(void **state)
{
	(void)state;
	sqlite3 *db = open_db(sqlite_index_vfs(), true);
	assert_int_equal(insert_rows(db, 0, 10, 1000), SQLITE_OK);
	sqlite3_close(db); /* checkpointed: the WAL starts again from nothing */

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		sqlite3 *c = open_db(sqlite_index_vfs(), false);
		/* ~10 pages, one run of ~41 KiB: written only at the COMMIT,
		 * past the limit. */
		struct rlimit rl = { .rlim_cur = 16384, .rlim_max = RLIM_INFINITY };
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(2);
		int prim = insert_rows(c, 100, 20, 1500) & 0xff;
		_exit(prim == SQLITE_FULL || prim == SQLITE_IOERR ? 0 : 1);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	sqlite3 *reader = open_db(NULL, false);
	assert_int_equal(rows_checked(reader), 10);
	sqlite3_close(reader);
	db = open_db(sqlite_index_vfs(), false);
	assert_int_equal(insert_rows(db, 100, 20, 1500), SQLITE_OK);
	assert_int_equal(rows_checked(db), 30);
	sqlite3_close(db);
}

/* Another handle of the same user, on a thread of its own (the pool gives
 * it a connection of its own while the test's is in use), flags UID 1. */
static void *flag_from_another_connection(void *arg)
{
	int64_t mb = *(int64_t *)arg;
	struct store_user *u = store_user_open("quiet");
	assert_non_null(u);
	uint32_t uid = 1;
	struct store_msg *changed = NULL;
	size_t nchanged = 0, nfailed = 0;
	uint32_t *failed = NULL;
	assert_int_equal(store_flags(u, mb, &uid, 1, STORE_FLAGS_ADD, MAIL_FLAG_FLAGGED, NULL, 0,
				     &changed, &nchanged, &failed, &nfailed),
			 STORE_OK);
	assert_int_equal(nchanged, 1);
	store_msg_array_free(changed, nchanged);
	free(failed);
	store_user_close(u);
	return NULL;
}

/* How many changes since `since`, and how many fcntl calls (locks) it
 * took. */
static size_t changes_since(struct store_user *u, int64_t mb, uint64_t since,
			    unsigned long *fcntls, uint64_t *modseq)
{
	struct store_msg *changed = NULL;
	uint32_t *expunged = NULL;
	size_t n = 0, ne = 0;
	unsigned long f0 = g_fcntls;
	assert_int_equal(store_changes(u, mb, since, &changed, &n, &expunged, &ne), STORE_OK);
	*fcntls = g_fcntls - f0;
	for (size_t i = 0; i < n; i++)
		*modseq = changed[i].modseq > *modseq ? changed[i].modseq : *modseq;
	store_msg_array_free(changed, n);
	free(expunged);
	return n + ne;
}

static void test_quiet_mailbox_needs_no_transaction(void **state)
{
	(void)state;
	char mail[128];
	snprintf(mail, sizeof(mail), "%s/mail", g_dir);
	assert_int_equal(store_init(mail), STORE_OK);
	struct store_user *u = store_user_open("quiet");
	assert_non_null(u);
	append_msg(u, "INBOX", "Subject: q\r\n\r\nbody\r\n", 0, NULL);
	struct store_mailbox st = status_of(u, "INBOX");
	int64_t mb = st.id;
	uint64_t since = st.highestmodseq;
	store_mailbox_clear(&st);

	/* The first look reads the mailbox; the next ones take no lock. */
	unsigned long fcntls;
	uint64_t modseq = 0;
	assert_int_equal(changes_since(u, mb, since, &fcntls, &modseq), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(changes_since(u, mb, since, &fcntls, &modseq), 0);
		assert_int_equal(fcntls, 0);
	}
	/* Another connection commits: seen at the very next look. */
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, flag_from_another_connection, &mb), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(changes_since(u, mb, since, &fcntls, &modseq), 1);
	assert_true(fcntls > 0);
	assert_true(modseq > since);
	/* And quiet again from the new modseq. */
	assert_int_equal(changes_since(u, mb, modseq, &fcntls, &modseq), 0);
	assert_int_equal(changes_since(u, mb, modseq, &fcntls, &modseq), 0);
	assert_int_equal(fcntls, 0);
	/* Still a change to report for a caller behind it. */
	assert_int_equal(changes_since(u, mb, since, &fcntls, &modseq), 1);
	store_user_close(u);
	store_shutdown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_transaction_is_one_write),
		cmocka_unit_test(test_each_commit_is_whole_for_another_connection),
		cmocka_unit_test(test_a_failed_write_fails_the_commit),
		cmocka_unit_test(test_quiet_mailbox_needs_no_transaction),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
