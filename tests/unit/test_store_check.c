/* store_check_user (issue #13 check; store/sqlite/check.c) on a temp
 * store: a clean store has no finding; each damage is reported without
 * change by a check and fixed by a repair, after which a check is clean,
 * and the mail that survives is what was appended (bytes, flags). Also:
 * a process killed in the middle of APPENDs leaves nothing a check
 * reports (its unfinished bytes are in flight, within the grace period),
 * and garbage older than the grace period is collected, never moved to
 * Lost+Found. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>

#include "core/flags.h"
#include "store/blob.h"
#include "store_test_util.h"

static char g_mail[300];

/* What a check found: the lines, "check/problem/action". */
struct found {
	char lines[64][96];
	size_t n;
};

static void report(const struct store_check_finding *f, void *ctx)
{
	struct found *fd = ctx;
	if (fd->n < 64)
		snprintf(fd->lines[fd->n++], sizeof(fd->lines[0]), "%s/%s/%s", f->check, f->problem,
			 f->action);
}

/* The strings append_init() caches, as if re-parsed from any bytes. */
static void cache_same(const char *data, size_t len, char **env, char **bs, char **body)
{
	(void)data;
	(void)len;
	*env = strdup("(NIL \"env\")");
	*bs = strdup("(\"text\" \"plain\")");
	*body = NULL;
}

static int check(const char *user, bool repair, unsigned grace, struct found *fd,
		 struct store_check_summary *sum)
{
	memset(fd, 0, sizeof(*fd));
	struct store_check_opts o = {
		.repair = repair,
		.grace_seconds = grace,
		.report = report,
		.cache = cache_same,
		.ctx = fd,
	};
	store_cache_drop();
	return store_check_user(user, &o, sum);
}

static bool has(const struct found *fd, const char *line)
{
	for (size_t i = 0; i < fd->n; i++)
		if (strcmp(fd->lines[i], line) == 0)
			return true;
	return false;
}

/* Reports, repairs, then is clean; the repair's findings returned. */
static void check_cycle(const char *user, const char *expect_ro, const char *expect_fix)
{
	struct found fd;
	struct store_check_summary s;
	assert_int_equal(check(user, false, 3600, &fd, &s), STORE_OK);
	assert_true(has(&fd, expect_ro));
	size_t n = fd.n;
	assert_int_equal(check(user, false, 3600, &fd, &s), STORE_OK);
	assert_int_equal(fd.n, n); /* the first check changed nothing */
	assert_int_equal(check(user, true, 3600, &fd, &s), STORE_OK);
	assert_true(has(&fd, expect_fix));
	assert_int_equal(s.repaired, s.findings);
	assert_int_equal(check(user, false, 3600, &fd, &s), STORE_OK);
	if (fd.n)
		fprintf(stderr, "left: %s\n", fd.lines[0]);
	assert_int_equal(fd.n, 0);
}

static char *blob_path(const char *user, const char *hex)
{
	char *dir = store_user_dir(user);
	char *p = NULL;
	assert_true(asprintf(&p, "%s/blobs/%.2s/%s", dir, hex, hex + 2) > 0);
	free(dir);
	return p;
}

static void sql(const char *user, const char *text)
{
	char *dir = store_user_dir(user);
	char *path = NULL;
	assert_true(asprintf(&path, "%s/index.sqlite", dir) > 0);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
	free(dir);
}

/* A store with three messages in INBOX; returns their blob names. */
static void seed(const char *user, char blobs[3][65])
{
	struct store_user *u = store_user_open(user);
	assert_non_null(u);
	int64_t id = mailbox_id(u, "INBOX");
	static const char *const text[3] = { "Subject: a\r\n\r\none\r\n", "Subject: b\r\n\r\ntwo\r\n",
					     "Subject: c\r\n\r\nthree\r\n" };
	for (int i = 0; i < 3; i++) {
		uint32_t uid = append_msg(u, "INBOX", text[i], i == 1 ? MAIL_FLAG_FLAGGED : 0, NULL);
		struct store_msg m = get_one(u, id, uid);
		memcpy(blobs[i], m.blob, 65);
		free(m.keywords);
	}
	store_user_close(u);
}

static size_t count_in(const char *user, const char *mailbox)
{
	struct store_user *u = store_user_open(user);
	struct store_mailbox mb;
	size_t n = 0;
	if (store_mailbox_status(u, mailbox, &mb) == STORE_OK) {
		n = mb.messages;
		store_mailbox_clear(&mb);
	}
	store_user_close(u);
	return n;
}

static void test_clean(void **state)
{
	(void)state;
	char b[3][65];
	seed("clean", b);
	struct found fd;
	struct store_check_summary s;
	assert_int_equal(check("clean", false, 3600, &fd, &s), STORE_OK);
	assert_int_equal(fd.n, 0);
	assert_int_equal(s.messages, 3);
	assert_int_equal(s.blobs, 3);
	assert_int_equal(check("nobody-yet", false, 3600, &fd, &s), STORE_ENOENT);
}

static void test_missing_blob_expunged(void **state)
{
	(void)state;
	char b[3][65];
	seed("missing", b);
	struct store_user *u = store_user_open("missing");
	struct store_mailbox before = status_of(u, "INBOX");
	store_user_close(u);
	char *p = blob_path("missing", b[0]);
	assert_int_equal(unlink(p), 0);
	free(p);
	check_cycle("missing", "blob/missing/none", "blob/missing/expunged");
	u = store_user_open("missing");
	struct store_msg *ch;
	uint32_t *exp;
	size_t nch, nexp;
	assert_int_equal(store_changes(u, before.id, before.highestmodseq, &ch, &nch, &exp, &nexp),
			 STORE_OK);
	assert_int_equal(nexp, 1); /* QRESYNC clients learn it as expunged */
	assert_int_equal(exp[0], 1);
	store_msg_array_free(ch, nch);
	free(exp);
	struct store_mailbox after = status_of(u, "INBOX");
	assert_int_equal(after.messages, 2);
	assert_true(after.highestmodseq > before.highestmodseq);
	store_mailbox_clear(&after);
	store_mailbox_clear(&before);
	store_user_close(u);
}

/* Message 1 of Lost+Found (mailbox lf) is seed()'s second message with its
 * first byte changed to 'X': flags kept, stored under its real hash. */
static void assert_lost_found_changed_b(struct store_user *u, int64_t lf)
{
	struct store_msg m = get_one(u, lf, 1);
	assert_true(m.flags & MAIL_FLAG_FLAGGED);
	assert_blob_bytes(u, m.blob, "Xubject: b\r\n\r\ntwo\r\n",
			  strlen("Xubject: b\r\n\r\ntwo\r\n"));
	char real[65];
	store_blob_hash("Xubject: b\r\n\r\ntwo\r\n", strlen("Xubject: b\r\n\r\ntwo\r\n"), real);
	assert_string_equal(real, m.blob);
	free(m.keywords);
}

static void test_changed_bytes_lost_found(void **state)
{
	(void)state;
	char b[3][65];
	seed("changed", b);
	char *p = blob_path("changed", b[1]);
	FILE *f = fopen(p, "r+");
	assert_non_null(f);
	fputc('X', f);
	fclose(f);
	free(p);
	check_cycle("changed", "blob/hash/none", "blob/hash/moved_to_lost_found");
	assert_int_equal(count_in("changed", "INBOX"), 2);
	struct store_user *u = store_user_open("changed");
	int64_t lf = mailbox_id(u, STORE_CHECK_LOST_FOUND);
	assert_lost_found_changed_b(u, lf);
	store_user_close(u);
}

static void test_quota_and_counters(void **state)
{
	(void)state;
	char b[3][65];
	seed("counters", b);
	sql("counters", "UPDATE quota SET messages=messages+7");
	check_cycle("counters", "quota/messages/none", "quota/messages/recounted");
	sql("counters", "UPDATE mailboxes SET uidnext=2, highestmodseq=1 WHERE name='INBOX'");
	check_cycle("counters", "uid/uid_not_below_uidnext/none", "uid/uid_not_below_uidnext/raised");
	struct store_user *u = store_user_open("counters");
	struct store_quota_usage us;
	assert_int_equal(store_quota_get(u, &us, NULL, NULL), STORE_OK);
	assert_int_equal(us.messages, 3);
	/* The next UID is above every one that exists (no reuse). */
	assert_int_equal(append_msg(u, "INBOX", "Subject: d\r\n\r\nfour\r\n", 0, NULL), 4);
	store_user_close(u);
}

/* Repairs in one run do not undo each other: Lost+Found created after
 * INBOX's UIDNEXT was raised keeps that raise. */
static void test_several_at_once(void **state)
{
	(void)state;
	char b[3][65];
	seed("several", b);
	sql("several", "UPDATE mailboxes SET uidnext=2 WHERE name='INBOX';"
		       "UPDATE quota SET storage=storage+1");
	char *p = blob_path("several", b[0]);
	FILE *f = fopen(p, "r+");
	fputc('Y', f);
	fclose(f);
	free(p);
	struct found fd;
	struct store_check_summary s;
	assert_int_equal(check("several", true, 3600, &fd, &s), STORE_OK);
	assert_true(has(&fd, "uid/uid_not_below_uidnext/raised"));
	assert_true(has(&fd, "blob/hash/moved_to_lost_found"));
	assert_true(has(&fd, "quota/storage/recounted"));
	assert_int_equal(check("several", false, 3600, &fd, &s), STORE_OK);
	assert_int_equal(fd.n, 0);
	struct store_user *u = store_user_open("several");
	assert_int_equal(append_msg(u, "INBOX", "Subject: e\r\n\r\nfive\r\n", 0, NULL), 4);
	store_user_close(u);
}

static void test_row_deleted_lost_found(void **state)
{
	(void)state;
	char b[3][65];
	seed("rowgone", b);
	sql("rowgone", "DELETE FROM messages WHERE uid=3");
	check_cycle("rowgone", "orphan/unindexed/none", "orphan/unindexed/moved_to_lost_found");
	assert_int_equal(count_in("rowgone", STORE_CHECK_LOST_FOUND), 1);
	assert_int_equal(count_in("rowgone", "INBOX"), 2);
}

static void test_garbage_collected(void **state)
{
	(void)state;
	char b[3][65];
	seed("garbage", b);
	/* Bytes no commit named (no cached data): an APPEND in flight while
	 * young, garbage once older than the grace period. */
	const char *text = "Subject: never committed\r\n\r\n";
	char hex[65];
	store_blob_hash(text, strlen(text), hex);
	char *p = blob_path("garbage", hex);
	char *d = strdup(p);
	*strrchr(d, '/') = '\0';
	mkdir(d, 0700);
	free(d);
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
	struct found fd;
	struct store_check_summary s;
	assert_int_equal(check("garbage", false, 3600, &fd, &s), STORE_OK);
	assert_int_equal(fd.n, 0);
	assert_int_equal(check("garbage", false, 0, &fd, &s), STORE_OK);
	assert_true(has(&fd, "orphan/uncommitted/none"));
	assert_int_equal(check("garbage", true, 0, &fd, &s), STORE_OK);
	assert_true(has(&fd, "orphan/uncommitted/removed"));
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(count_in("garbage", STORE_CHECK_LOST_FOUND), 0);
	free(p);
}

static void test_index_damaged_rebuilt(void **state)
{
	(void)state;
	char b[3][65];
	seed("damaged", b);
	struct store_user *u = store_user_open("damaged");
	assert_int_equal(store_mailbox_create(u, "Work", NULL), STORE_OK);
	append_msg(u, "Work", "Subject: w\r\n\r\nwork\r\n", 0, NULL);
	store_user_close(u);
	store_cache_drop();
	char *dir = store_user_dir("damaged");
	char *index = NULL;
	assert_true(asprintf(&index, "%s/index.sqlite", dir) > 0);
	sql("damaged", "PRAGMA wal_checkpoint(TRUNCATE)");
	/* Garbage over the header: not a database any more. */
	FILE *f = fopen(index, "r+");
	assert_non_null(f);
	for (int i = 0; i < 200; i++)
		fputc(0x5a, f);
	fclose(f);
	struct found fd;
	struct store_check_summary s;
	assert_int_equal(check("damaged", false, 3600, &fd, &s), STORE_OK);
	assert_true(fd.n >= 1 && strncmp(fd.lines[0], "integrity/", 10) == 0);
	assert_false(s.rebuilt);
	assert_int_equal(check("damaged", true, 3600, &fd, &s), STORE_OK);
	assert_true(s.rebuilt);
	assert_true(has(&fd, "integrity/corrupt/set_aside_and_rebuilt"));
	assert_int_equal(s.lost_found, 4);
	assert_int_equal(check("damaged", false, 3600, &fd, &s), STORE_OK);
	assert_int_equal(fd.n, 0);
	assert_int_equal(count_in("damaged", STORE_CHECK_LOST_FOUND), 4);
	/* The damaged file is kept. */
	char *pattern = NULL;
	assert_true(asprintf(&pattern, "ls %s/index.sqlite.damaged-* >/dev/null 2>&1", dir) > 0);
	assert_int_equal(system(pattern), 0);
	free(pattern);
	free(index);
	free(dir);
}

/* One damaged page of the messages table: the rows behind it are found
 * by key and go back to their mailboxes; only the damaged page's
 * messages end in Lost+Found; none is lost. */
static void test_bad_page_salvaged_by_key(void **state)
{
	(void)state;
	enum { N = 150 };
	struct store_user *u = store_user_open("badpage");
	assert_int_equal(store_mailbox_create(u, "Work", NULL), STORE_OK);
	static struct store_append a[N];
	static char text[N][64];
	for (int i = 0; i < N; i++) {
		snprintf(text[i], sizeof(text[i]), "Subject: %d\r\n\r\nbody %d\r\n", i, i);
		append_init(&a[i], text[i], 0, NULL);
	}
	uint32_t uv;
	assert_int_equal(store_append(u, "INBOX", a, N / 2, &uv), STORE_OK);
	assert_int_equal(store_append(u, "Work", a + N / 2, N - N / 2, &uv), STORE_OK);
	store_user_close(u);
	store_cache_drop();
	sql("badpage", "PRAGMA wal_checkpoint(TRUNCATE)");
	char *dir = store_user_dir("badpage");
	char *index = NULL;
	assert_true(asprintf(&index, "%s/index.sqlite", dir) > 0);
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t pages[64];
	int np = 0;
	assert_int_equal(sqlite3_open(index, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT pageno FROM dbstat WHERE name='messages' "
					    "AND pagetype='leaf' ORDER BY pageno", -1, &st, NULL),
			 SQLITE_OK);
	while (np < 64 && sqlite3_step(st) == SQLITE_ROW)
		pages[np++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_true(np >= 3);
	FILE *f = fopen(index, "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, (long)(pages[np / 2] - 1) * 4096, SEEK_SET), 0);
	for (int i = 0; i < 4096; i++)
		fputc(0xff, f);
	fclose(f);
	struct found fd;
	struct store_check_summary s;
	assert_int_equal(check("badpage", true, 3600, &fd, &s), STORE_OK);
	assert_true(s.rebuilt);
	assert_true(s.lost_found > 0 && s.lost_found < N / 2);
	size_t inbox = count_in("badpage", "INBOX"), work = count_in("badpage", "Work");
	assert_true(inbox > 0 && work > 0);
	assert_int_equal(inbox + work + s.lost_found, N);
	assert_int_equal(check("badpage", false, 3600, &fd, &s), STORE_OK);
	assert_int_equal(fd.n, 0);
	free(index);
	free(dir);
}

/* A child appends until killed, telling the parent of each APPEND
 * acknowledged; killed after a few, in the middle of the next: what the
 * crash leaves (bytes written, no commit) is in flight for a check, which
 * reports nothing. */
static void test_crash_leaves_nothing_to_report(void **state)
{
	(void)state;
	store_user_close(store_user_open("crash"));
	store_cache_drop();
	for (int round = 0; round < 3; round++) {
		int fds[2];
		assert_int_equal(pipe(fds), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			struct store_user *u = store_user_open("crash");
			if (!u)
				_exit(2);
			char text[128];
			for (unsigned i = 0;; i++) {
				snprintf(text, sizeof(text), "Subject: %d/%u\r\n\r\nbody\r\n", round, i);
				append_msg(u, "INBOX", text, 0, NULL);
				if (write(fds[1], "a", 1) != 1)
					_exit(3);
			}
		}
		close(fds[1]);
		/* Bounded: at most 3 acknowledgements, 10 s each. */
		char c;
		for (int k = 0; k <= round; k++) {
			struct pollfd p = { .fd = fds[0], .events = POLLIN };
			assert_int_equal(poll(&p, 1, 10000), 1);
			assert_int_equal(read(fds[0], &c, 1), 1);
		}
		struct timespec ts = { 0, (long)(round * 700) * 1000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		close(fds[0]);
		struct found fd;
		struct store_check_summary s;
		assert_int_equal(check("crash", false, 3600, &fd, &s), STORE_OK);
		if (fd.n)
			fprintf(stderr, "after crash: %s\n", fd.lines[0]);
		assert_int_equal(fd.n, 0);
	}
	assert_true(count_in("crash", "INBOX") >= 6);
}

/* search_gc (issue #14): an expunge queues its message's search entry
 * for the indexer. If the server dies after the expunge's commit and
 * before the file's unlink, check finds the file with an entry but no
 * message: the queued entry says "expunged", so the file is garbage, not
 * mail to recover into Lost+Found, and the entry is no stale cache. */
static void test_expunged_entry_is_not_mail(void **state)
{
	(void)state;
	char b[3][65];
	seed("gcq", b);
	struct store_user *u = store_user_open("gcq");
	assert_non_null(u);
	int64_t inbox = mailbox_id(u, "INBOX");
	char(*blobs)[65];
	assert_int_equal(unindexed(u, &blobs), 3);
	struct search_doc docs[3];
	memset(docs, 0, sizeof(docs));
	for (int i = 0; i < 3; i++) {
		docs[i].sent_day = SEARCH_DOC_NO_DATE;
		docs[i].hdrs = "SUBJECT: X\n";
		docs[i].body = "BODY";
	}
	assert_int_equal(store_search_put(u, blobs, docs, 3), STORE_OK);
	free(blobs);
	uint32_t three = 3;
	assert_int_equal(store_expunge(u, inbox, &three, 1), STORE_OK);
	store_user_close(u);
	/* The file as the crash left it. */
	char *p = blob_path("gcq", b[2]);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("Subject: c\r\n\r\nthree\r\n", f);
	fclose(f);
	struct found fd;
	struct store_check_summary s;
	assert_int_equal(check("gcq", false, 0, &fd, &s), STORE_OK);
	for (size_t i = 0; i < fd.n; i++)
		fprintf(stderr, "found: %s\n", fd.lines[i]);
	assert_true(has(&fd, "orphan/uncommitted/none"));
	assert_int_equal(fd.n, 1);
	assert_int_equal(check("gcq", true, 0, &fd, &s), STORE_OK);
	assert_true(has(&fd, "orphan/uncommitted/removed"));
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(count_in("gcq", STORE_CHECK_LOST_FOUND), 0);
	assert_int_equal(count_in("gcq", "INBOX"), 2);
	free(p);
}

/* ---- inline (issue #14): small messages kept as rows of the index ---- */

/* seed() with the messages written as rows: no file under blobs/. */
static void seed_inline(const char *user, char blobs[3][65])
{
	store_inline_set(64 * 1024);
	seed(user, blobs);
	store_inline_set(0);
	for (int i = 0; i < 3; i++) {
		char *p = blob_path(user, blobs[i]);
		assert_int_equal(access(p, F_OK), -1);
		free(p);
	}
}

static void test_inline_clean_and_changed_bytes(void **state)
{
	(void)state;
	char b[3][65];
	seed_inline("inl-changed", b);
	struct found fd;
	struct store_check_summary s;
	assert_int_equal(check("inl-changed", false, 3600, &fd, &s), STORE_OK);
	assert_int_equal(fd.n, 0);
	assert_int_equal(s.blobs, 3);
	char stmt[256];
	snprintf(stmt, sizeof(stmt),
		 "UPDATE blob_inline SET data=CAST('Xubject: b' || substr(CAST(data AS TEXT),11) "
		 "AS BLOB) WHERE blob='%s'", b[1]);
	sql("inl-changed", stmt);
	check_cycle("inl-changed", "blob/hash/none", "blob/hash/moved_to_lost_found");
	assert_int_equal(count_in("inl-changed", "INBOX"), 2);
	struct store_user *u = store_user_open("inl-changed");
	assert_lost_found_changed_b(u, mailbox_id(u, STORE_CHECK_LOST_FOUND));
	const char *data;
	size_t len;
	/* The damaged name is gone with its rows. */
	assert_int_equal(store_blob_map(u, b[1], &data, &len), STORE_ENOENT);
	store_user_close(u);
}

static void test_inline_row_gone_expunged_size_corrected(void **state)
{
	(void)state;
	char b[3][65];
	seed_inline("inl-gone", b);
	char stmt[256];
	snprintf(stmt, sizeof(stmt), "DELETE FROM blob_inline WHERE blob='%s'", b[0]);
	sql("inl-gone", stmt);
	check_cycle("inl-gone", "blob/missing/none", "blob/missing/expunged");
	assert_int_equal(count_in("inl-gone", "INBOX"), 2);
	sql("inl-gone", "UPDATE messages SET size=size+5 WHERE uid=2");
	check_cycle("inl-gone", "blob/size_recorded/none", "blob/size_recorded/size_corrected");
	struct store_user *u = store_user_open("inl-gone");
	struct store_msg m = get_one(u, mailbox_id(u, "INBOX"), 2);
	assert_int_equal(m.size, strlen("Subject: b\r\n\r\ntwo\r\n"));
	free(m.keywords);
	store_user_close(u);
}

/* A row nobody refers to: mail once (cached data) -> Lost+Found; else
 * (an EXPUNGE whose collection a crash cut short) removed at once. */
static void test_inline_orphans(void **state)
{
	(void)state;
	char b[3][65];
	seed_inline("inl-orphan", b);
	sql("inl-orphan", "DELETE FROM messages WHERE uid=3");
	check_cycle("inl-orphan", "orphan/unindexed/none", "orphan/unindexed/moved_to_lost_found");
	assert_int_equal(count_in("inl-orphan", STORE_CHECK_LOST_FOUND), 1);
	char stmt[256];
	snprintf(stmt, sizeof(stmt),
		 "DELETE FROM messages WHERE blob='%s'; DELETE FROM message_cache WHERE blob='%s'",
		 b[1], b[1]);
	sql("inl-orphan", stmt);
	check_cycle("inl-orphan", "orphan/unreferenced/none", "orphan/unreferenced/removed");
	assert_int_equal(count_in("inl-orphan", "INBOX"), 1);
	assert_int_equal(count_in("inl-orphan", STORE_CHECK_LOST_FOUND), 1);
}

/* A damaged index: the rows of small messages it still gives become
 * files, and the mail comes back like file-backed mail (here the page of
 * the messages table is gone: all three go to Lost+Found, bytes intact). */
static void test_inline_index_damaged_rebuilt(void **state)
{
	(void)state;
	char b[3][65];
	seed_inline("inl-damaged", b);
	store_cache_drop();
	sql("inl-damaged", "PRAGMA wal_checkpoint(TRUNCATE)");
	char *dir = store_user_dir("inl-damaged");
	char *index = NULL;
	assert_true(asprintf(&index, "%s/index.sqlite", dir) > 0);
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(index, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT pageno FROM dbstat WHERE name='messages' "
					    "AND pagetype='leaf'", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t page = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	FILE *f = fopen(index, "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, (long)(page - 1) * 4096, SEEK_SET), 0);
	for (int i = 0; i < 4096; i++)
		fputc(0xff, f);
	fclose(f);
	struct found fd;
	struct store_check_summary s;
	assert_int_equal(check("inl-damaged", true, 3600, &fd, &s), STORE_OK);
	assert_true(s.rebuilt);
	assert_int_equal(s.lost_found, 3);
	assert_int_equal(check("inl-damaged", false, 3600, &fd, &s), STORE_OK);
	assert_int_equal(fd.n, 0);
	struct store_user *u = store_user_open("inl-damaged");
	for (int i = 0; i < 3; i++) {
		const char *data;
		size_t len;
		assert_int_equal(store_blob_map(u, b[i], &data, &len), STORE_OK);
		char real[65];
		store_blob_hash(data, len, real);
		assert_string_equal(real, b[i]);
		store_blob_unmap(data, len);
		char *p = blob_path("inl-damaged", b[i]);
		assert_int_equal(access(p, F_OK), 0);
		free(p);
	}
	store_user_close(u);
	free(index);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_missing_blob_expunged),
		cmocka_unit_test(test_changed_bytes_lost_found),
		cmocka_unit_test(test_quota_and_counters),
		cmocka_unit_test(test_several_at_once),
		cmocka_unit_test(test_row_deleted_lost_found),
		cmocka_unit_test(test_garbage_collected),
		cmocka_unit_test(test_index_damaged_rebuilt),
		cmocka_unit_test(test_bad_page_salvaged_by_key),
		cmocka_unit_test(test_crash_leaves_nothing_to_report),
		cmocka_unit_test(test_expunged_entry_is_not_mail),
		cmocka_unit_test(test_inline_clean_and_changed_bytes),
		cmocka_unit_test(test_inline_row_gone_expunged_size_corrected),
		cmocka_unit_test(test_inline_orphans),
		cmocka_unit_test(test_inline_index_damaged_rebuilt),
	};
	return store_test_run("store_check", tests, sizeof(tests) / sizeof(tests[0]), g_mail);
}
