/* Crash safety of the store. A child appends in a loop (single and multi
 * appends, plus COPY+EXPUNGE and flag changes that exercise blob sharing
 * and collection) and reports every acknowledged UID and SHA-256 through a
 * pipe; the parent SIGKILLs it at a random moment, reopens the store and
 * checks that every acknowledged message is present exactly once with
 * intact bytes, that no index row points at a missing blob, and that the
 * index passes PRAGMA integrity_check. Set RAMPART_CRASH_SEED to replay.
 *
 * durable (issue #14): the child also flags and expunges messages it
 * appended and reports each acknowledged change; every other round it
 * runs the metadata syncer (store_sync_start), so those changes commit
 * without their own fsync. An acknowledged flag change must be there
 * after the kill and an acknowledged expunge must stay done, in both
 * modes (docs/durability.md: a kill -9 loses nothing acknowledged). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
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

#define ROUNDS 20
#define ROUNDS_MAX 200
#define MIN_ACKED 10
#define KILL_MIN_MS 20
#define KILL_MAX_MS 400
#define USER "crash"

static char g_root[256];
static unsigned g_seed;

struct ack {
	uint32_t uid;
	char sha[65];
	bool flagged;         /* durable: +FLAGS (\Flagged $Kept) acknowledged */
	bool expunging;       /* an expunge was asked (may or may not have run) */
	bool expunged;        /* ... and acknowledged */
};

/* durable: every other round the child runs the syncer with this delay. */
#define SYNC_DELAY_MS 50

static struct ack *g_acks;
static size_t g_nacks, g_acks_cap;

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

static int expunge_in(struct store_user *u, const char *name, const uint32_t *uids, size_t n)
{
	struct store_mailbox mb;
	int r = store_mailbox_status(u, name, &mb);
	if (r != STORE_OK)
		return r;
	r = store_expunge(u, mb.id, uids, n);
	store_mailbox_clear(&mb);
	return r;
}

/* One line of < PIPE_BUF bytes: it arrives whole or not at all. */
static void report(int fd, const char *fmt, ...)
{
	char line[128];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (write(fd, line, (size_t)len) != len)
		_exit(4);
}

/* The child: appends until killed. Never returns. */
static void child_loop(int fd, unsigned round)
{
	unsigned seed = g_seed ^ (round * 2654435761u);
	if (round % 2 == 1 && store_sync_start(SYNC_DELAY_MS) != STORE_OK)
		_exit(2);
	struct store_user *u = store_user_open(USER);
	if (!u)
		_exit(2);
	for (unsigned i = 0;; i++) {
		size_t nmsg = 1 + (size_t)(rand_r(&seed) % 3);
		struct store_append a[3];
		char *bufs[3];
		memset(a, 0, sizeof(a));
		for (size_t k = 0; k < nmsg; k++) {
			size_t body = 64 + (size_t)(rand_r(&seed) % 32768);
			bufs[k] = xmalloc(body + 256);
			int h = snprintf(bufs[k], 256,
					 "Message-ID: <%u.%u.%zu.%ld@crash.test>\r\nSubject: crash\r\n\r\n",
					 round, i, k, (long)getpid());
			for (size_t b = 0; b < body; b++)
				bufs[k][h + (int)b] = (char)('a' + rand_r(&seed) % 26);
			a[k].data = bufs[k];
			a[k].len = (size_t)h + body;
			a[k].internaldate = -1;
			a[k].keywords = (i % 5 == 0) ? "$Crash" : NULL;
			a[k].envelope = "(NIL)";
		}
		if (store_append(u, "INBOX", a, nmsg, NULL) != STORE_OK)
			_exit(3);
		for (size_t k = 0; k < nmsg; k++) {
			char sha[65];
			sha256_hex(bufs[k], a[k].len, sha);
			report(fd, "%u %s\n", a[k].uid, sha);
			free(bufs[k]);
		}
		struct store_mailbox mb;
		if (store_mailbox_status(u, "INBOX", &mb) != STORE_OK)
			_exit(5);
		int64_t inbox = mb.id;
		store_mailbox_clear(&mb);
		uint32_t last = a[nmsg - 1].uid;
		if (i % 3 == 0) {
			/* A copy sharing the blob, then its expunge: the blob must
			 * survive for the INBOX message. */
			uint32_t *su = NULL, *du = NULL;
			size_t n = 0;
			if (store_copy(u, inbox, &last, 1, "Archive", false, NULL, &su, &du, &n) !=
			    STORE_OK)
				_exit(6);
			if (expunge_in(u, "Archive", du, n) != STORE_OK)
				_exit(7);
			free(su);
			free(du);
		}
		if (i % 4 == 1) {
			uint32_t target = 1 + (uint32_t)rand_r(&seed) % last;
			if (store_flags(u, inbox, &target, 1, STORE_FLAGS_ADD, MAIL_FLAG_SEEN, "$Seen1",
					0, NULL, NULL, NULL, NULL) != STORE_OK)
				_exit(8);
		}
		/* durable: acknowledged metadata changes of its own messages. */
		if (i % 3 == 2) {
			if (store_flags(u, inbox, &last, 1, STORE_FLAGS_ADD, MAIL_FLAG_FLAGGED, "$Kept",
					0, NULL, NULL, NULL, NULL) != STORE_OK)
				_exit(9);
			report(fd, "F %u\n", last);
		}
		if (i % 5 == 4) {
			uint32_t first = a[0].uid;
			report(fd, "x %u\n", first);
			if (expunge_in(u, "INBOX", &first, 1) != STORE_OK)
				_exit(10);
			report(fd, "X %u\n", first);
		}
	}
}

/* The acknowledgement of a UID (the latest: UIDs of INBOX never repeat). */
static struct ack *find_ack(uint32_t uid)
{
	for (size_t i = g_nacks; i-- > 0;)
		if (g_acks[i].uid == uid)
			return &g_acks[i];
	return NULL;
}

/* Reads complete "uid sha" lines (and durable's "F uid", "x uid", "X uid")
 * from buf into the acknowledgement list;
 * returns how many bytes were consumed. */
static size_t parse_acks(const char *buf, size_t len)
{
	size_t used = 0;
	for (;;) {
		const char *nl = memchr(buf + used, '\n', len - used);
		if (!nl)
			break;
		struct ack a;
		memset(&a, 0, sizeof(a));
		unsigned uid;
		char line[128], kind;
		size_t ll = (size_t)(nl - (buf + used));
		assert_true(ll < sizeof(line));
		memcpy(line, buf + used, ll);
		line[ll] = '\0';
		used = (size_t)(nl - buf) + 1;
		if (sscanf(line, "%c %u", &kind, &uid) == 2 && strchr("FxX", kind)) {
			struct ack *t = find_ack(uid);
			if (!t)
				fail_msg("change of unknown uid %u", uid);
			t->flagged |= kind == 'F';
			t->expunging |= kind == 'x';
			t->expunged |= kind == 'X';
			continue;
		}
		assert_int_equal(sscanf(line, "%u %64s", &uid, a.sha), 2);
		a.uid = uid;
		xgrow((void **)&g_acks, &g_acks_cap, g_nacks + 1, sizeof(*g_acks));
		g_acks[g_nacks++] = a;
	}
	return used;
}

/* Runs one child for a random time, kills it, and collects what it
 * acknowledged. Returns the number of new acknowledgements. */
static size_t run_round(unsigned round, unsigned *seed)
{
	/* The child must not inherit open database handles. */
	store_cache_drop();
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		child_loop(p[1], round);
	}
	close(p[1]);
	size_t before = g_nacks;
	unsigned delay = KILL_MIN_MS + rand_r(seed) % (KILL_MAX_MS - KILL_MIN_MS);
	uint64_t deadline = now_ms() + delay;
	char buf[65536];
	size_t have = 0;
	bool killed = false, eof = false;
	while (!eof) {
		uint64_t now = now_ms();
		if (!killed && now >= deadline) {
			kill(pid, SIGKILL);
			killed = true;
		}
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		int timeout = killed ? 1000 : (int)(deadline - now);
		int r = poll(&pfd, 1, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		assert_true(r >= 0);
		if (r == 0)
			continue;
		ssize_t n = read(p[0], buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n >= 0);
		if (n == 0) {
			eof = true;
			break;
		}
		have += (size_t)n;
		size_t used = parse_acks(buf, have);
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* Killed by us, not failed on its own. */
	if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
		fail_msg("round %u: child exited with status %d", round, status);
	return g_nacks - before;
}

static sqlite3 *open_index(void)
{
	char *dir = store_user_dir(USER);
	assert_non_null(dir);
	char *path = xasprintf("%s/index.sqlite", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	free(path);
	free(dir);
	return db;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Every acknowledged message is there once with its bytes; every row's
 * blob exists; the index is sound. */
static void verify_store(unsigned round)
{
	struct store_user *u = store_user_open(USER);
	assert_non_null(u);
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_status(u, "INBOX", &mb), STORE_OK);
	int64_t inbox = mb.id;
	store_mailbox_clear(&mb);
	struct store_msg *msgs;
	size_t n;
	assert_int_equal(store_msg_list(u, inbox, 1, false, &msgs, &n), STORE_OK);
	sqlite3 *db = open_index();
	sqlite3_stmt *count;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM messages WHERE mailbox_id=?2 AND blob=?1", -1,
					    &count, NULL),
			 SQLITE_OK);
	for (size_t i = 0; i < g_nacks; i++) {
		const struct ack *a = &g_acks[i];
		uint32_t key = a->uid;
		struct store_msg *m = bsearch(&key, msgs, n, sizeof(*msgs), cmp_u32);
		if (a->expunged && m)
			fail_msg("round %u: acknowledged expunge of uid %u undone", round, a->uid);
		if (a->expunging)
			continue;  /* gone or not, as the kill fell */
		if (!m)
			fail_msg("round %u: acknowledged uid %u is missing", round, a->uid);
		if (a->flagged && (!(m->flags & MAIL_FLAG_FLAGGED) || !m->keywords ||
				   !strstr(m->keywords, "$Kept")))
			fail_msg("round %u: acknowledged flags of uid %u lost", round, a->uid);
		assert_string_equal(m->blob, a->sha);
		/* Archive may hold a copy the child had no time to expunge. */
		sqlite3_bind_text(count, 1, a->sha, -1, SQLITE_STATIC);
		sqlite3_bind_int64(count, 2, inbox);
		assert_int_equal(sqlite3_step(count), SQLITE_ROW);
		if (sqlite3_column_int(count, 0) != 1)
			fail_msg("round %u: uid %u stored %d times", round, a->uid,
				 sqlite3_column_int(count, 0));
		sqlite3_reset(count);
		const char *data;
		size_t len;
		assert_int_equal(store_blob_map(u, a->sha, &data, &len), STORE_OK);
		assert_int_equal(len, m->size);
		char sha[65];
		sha256_hex(data, len, sha);
		store_blob_unmap(data, len);
		assert_string_equal(sha, a->sha);
	}
	sqlite3_finalize(count);
	store_msg_array_free(msgs, n);

	/* No row of any mailbox points at a missing blob. */
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT DISTINCT blob FROM messages", -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *blob = (const char *)sqlite3_column_text(st, 0);
		const char *data;
		size_t len;
		if (store_blob_map(u, blob, &data, &len) != STORE_OK)
			fail_msg("round %u: blob %s referenced but missing", round, blob);
		store_blob_unmap(data, len);
	}
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);
	store_user_close(u);
	store_cache_drop();
}

static void test_crash_rounds(void **state)
{
	unsigned seed = g_seed;
	uint64_t t0 = now_ms();
	for (unsigned round = 0; round < ROUNDS_MAX; round++) {
		/* ROUNDS rounds, then more only while the children have not
		 * yet had MIN_ACKED messages acknowledged (a loaded machine
		 * under ASan can kill most children before their first commit). */
		uint64_t spent = now_ms() - t0;
		if (round >= ROUNDS && g_nacks >= MIN_ACKED)
			break;
		/* Bounded: stop early rather than run past the budget. */
		if ((g_nacks >= MIN_ACKED && spent > 25000) || spent > 90000)
			break;
		run_round(round, &seed);
		verify_store(round);
	}
	size_t flagged = 0, expunged = 0;
	for (size_t i = 0; i < g_nacks; i++) {
		flagged += g_acks[i].flagged;
		expunged += g_acks[i].expunged;
	}
	printf("crash test: seed=%u, %zu acknowledged messages (%zu flag changes, %zu expunges) "
	       "verified in %.1f s\n",
	       g_seed, g_nacks, flagged, expunged, (double)(now_ms() - t0) / 1000);
	/* Not vacuous: the children got work acknowledged. */
	assert_true(g_nacks >= MIN_ACKED);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int main(void)
{
	const char *env = getenv("RAMPART_CRASH_SEED");
	g_seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
	snprintf(g_root, sizeof(g_root), "/tmp/rampart-crash-XXXXXX");
	if (!mkdtemp(g_root)) {
		perror("mkdtemp");
		return 1;
	}
	char *mail = xasprintf("%s/mail", g_root);
	if (store_init(mail) != STORE_OK) {
		fprintf(stderr, "store_init failed\n");
		return 1;
	}
	free(mail);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_rounds),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	free(g_acks);
	store_shutdown();
	nftw(g_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return r;
}
