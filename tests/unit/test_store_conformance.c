/* The store conformance suite: what every backend behind store.h must do,
 * written only against the public interface (no SQLite, no store
 * internals), and run once per registered backend (store_backend_name()),
 * or only for RAMPART_STORE_BACKEND when set. A new backend (PostgreSQL)
 * is done when this passes for it.
 *
 * One test per invariant of store.h (numbered as there), then the rules
 * the front applies for every backend: mailbox names and INBOX, keywords,
 * special-use, RENAME semantics, subscriptions of names that do not
 * exist, and the mailbox-count limit under concurrency; then quota usage
 * and limits (invariant 13), also under concurrency.
 *
 * Each test uses its own user, so the tests are independent of order. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/flags.h"
#include "store/store.h"
#include "store_test_util.h"

static const char *g_backend;
static char g_root[256];

/* ---- helpers ---- */

static struct store_user *open_user(const char *name)
{
	struct store_user *u = store_user_open(name);
	assert_non_null(u);
	return u;
}

static uint64_t modseq_of(struct store_user *u, const char *name)
{
	struct store_mailbox mb = status_of(u, name);
	uint64_t m = mb.highestmodseq;
	store_mailbox_clear(&mb);
	return m;
}

static bool exists(struct store_user *u, const char *name)
{
	struct store_mailbox mb;
	int r = store_mailbox_get(u, name, &mb);
	assert_true(r == STORE_OK || r == STORE_ENOENT);
	store_mailbox_clear(&mb);
	return r == STORE_OK;
}

static size_t mailbox_count(struct store_user *u)
{
	struct store_mailbox *mbs;
	size_t n;
	assert_int_equal(store_mailbox_list(u, false, &mbs, &n), STORE_OK);
	store_mailbox_array_free(mbs, n);
	return n;
}

static size_t msg_count(struct store_user *u, int64_t mbid)
{
	struct store_msg *m;
	size_t n;
	assert_int_equal(store_msg_list(u, mbid, 1, true, &m, &n), STORE_OK);
	store_msg_array_free(m, n);
	return n;
}

/* ---- invariant 1: one modseq per write transaction ---- */

static void test_modseq_per_transaction(void **state)
{
	struct store_user *u = open_user("c-modseq");
	assert_int_equal(store_mailbox_create(u, "Dst", NULL), STORE_OK);
	int64_t inbox = mailbox_id(u, "INBOX");
	uint64_t m0 = modseq_of(u, "INBOX");

	/* MULTIAPPEND: three messages, one modseq, the new HIGHESTMODSEQ. */
	struct store_append a[3];
	append_init(&a[0], "Subject: 1\r\n\r\n1\r\n", 0, NULL);
	append_init(&a[1], "Subject: 2\r\n\r\n2\r\n", 0, NULL);
	append_init(&a[2], "Subject: 3\r\n\r\n3\r\n", 0, NULL);
	assert_int_equal(store_append(u, "INBOX", a, 3, NULL), STORE_OK);
	uint64_t m1 = modseq_of(u, "INBOX");
	assert_true(m1 > m0);
	for (int i = 0; i < 3; i++) {
		struct store_msg m = get_one(u, inbox, a[i].uid);
		assert_int_equal(m.modseq, m1);
		free(m.keywords);
	}

	/* STORE on two messages: both get the same, higher modseq; the third
	 * keeps its own. */
	uint32_t two[2] = { a[0].uid, a[2].uid };
	struct store_msg *ch;
	size_t nch;
	uint32_t *failed;
	size_t nfailed;
	assert_int_equal(store_flags(u, inbox, two, 2, STORE_FLAGS_ADD, MAIL_FLAG_SEEN, NULL, 0,
				     &ch, &nch, &failed, &nfailed),
			 STORE_OK);
	assert_int_equal(nch, 2);
	assert_int_equal(nfailed, 0);
	uint64_t m2 = modseq_of(u, "INBOX");
	assert_true(m2 > m1);
	assert_int_equal(ch[0].modseq, m2);
	assert_int_equal(ch[1].modseq, m2);
	store_msg_array_free(ch, nch);
	free(failed);
	struct store_msg mid = get_one(u, inbox, a[1].uid);
	assert_int_equal(mid.modseq, m1);
	free(mid.keywords);

	/* A STORE that changes nothing changes no modseq (RFC 7162 3.1.3). */
	assert_int_equal(store_flags(u, inbox, two, 2, STORE_FLAGS_ADD, MAIL_FLAG_SEEN, NULL, 0,
				     &ch, &nch, NULL, NULL),
			 STORE_OK);
	assert_int_equal(nch, 0);
	store_msg_array_free(ch, nch);
	assert_int_equal(modseq_of(u, "INBOX"), m2);

	/* An EXPUNGE of two: one new modseq. An EXPUNGE of nothing: none. */
	assert_int_equal(store_expunge(u, inbox, two, 2), STORE_OK);
	uint64_t m3 = modseq_of(u, "INBOX");
	assert_true(m3 > m2);
	assert_int_equal(store_expunge(u, inbox, two, 2), STORE_OK);
	assert_int_equal(modseq_of(u, "INBOX"), m3);

	/* COPY of one: the destination's copies share its new modseq. */
	uint32_t b = append_msg(u, "INBOX", "Subject: 4\r\n\r\n4\r\n", 0, NULL);
	uint32_t pair[2] = { a[1].uid, b };
	uint64_t d0 = modseq_of(u, "Dst");
	uint32_t *src, *dst;
	size_t n;
	assert_int_equal(store_copy(u, inbox, pair, 2, "Dst", false, NULL, &src, &dst, &n),
			 STORE_OK);
	assert_int_equal(n, 2);
	uint64_t d1 = modseq_of(u, "Dst");
	assert_true(d1 > d0);
	int64_t dstid = mailbox_id(u, "Dst");
	for (size_t i = 0; i < n; i++) {
		struct store_msg m = get_one(u, dstid, dst[i]);
		assert_int_equal(m.modseq, d1);
		free(m.keywords);
	}
	free(src);
	free(dst);
	store_user_close(u);
}

/* ---- invariant 2: UIDs ascending, never reused ---- */

static void test_uids_never_reused(void **state)
{
	struct store_user *u = open_user("c-uids");
	int64_t inbox = mailbox_id(u, "INBOX");
	uint32_t prev = 0;
	for (int i = 0; i < 5; i++) {
		uint32_t uid = append_msg(u, "INBOX", "Subject: u\r\n\r\nu\r\n", 0, NULL);
		assert_true(uid > prev);
		prev = uid;
	}
	/* Expunging the highest UID does not give it back. */
	struct store_mailbox before = status_of(u, "INBOX");
	assert_int_equal(store_expunge(u, inbox, &prev, 1), STORE_OK);
	struct store_mailbox after = status_of(u, "INBOX");
	assert_int_equal(after.uidnext, before.uidnext);
	uint32_t next = append_msg(u, "INBOX", "Subject: u\r\n\r\nu\r\n", 0, NULL);
	assert_true(next > prev);
	assert_true(next >= before.uidnext);
	store_mailbox_clear(&before);
	store_mailbox_clear(&after);

	/* A MULTIAPPEND gets consecutive ascending UIDs. */
	struct store_append a[4];
	for (int i = 0; i < 4; i++)
		append_init(&a[i], "Subject: m\r\n\r\nm\r\n", 0, NULL);
	assert_int_equal(store_append(u, "INBOX", a, 4, NULL), STORE_OK);
	assert_true(a[0].uid > next);
	for (int i = 1; i < 4; i++)
		assert_int_equal(a[i].uid, a[i - 1].uid + 1);
	struct store_mailbox mb = status_of(u, "INBOX");
	assert_int_equal(mb.uidnext, a[3].uid + 1);
	store_mailbox_clear(&mb);
	store_user_close(u);
}

/* ---- invariant 3: UIDVALIDITY never reused ---- */

static void test_uidvalidity_never_reused(void **state)
{
	struct store_user *u = open_user("c-uidvalidity");
	uint32_t seen[8];
	size_t nseen = 0;
	assert_int_equal(store_mailbox_create(u, "X", NULL), STORE_OK);
	struct store_mailbox mb = status_of(u, "X");
	seen[nseen++] = mb.uidvalidity;
	int64_t old_id = mb.id;
	store_mailbox_clear(&mb);
	/* DELETE then CREATE of the same name: a new UIDVALIDITY (and, by
	 * invariant 8, a new id). */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(store_mailbox_delete(u, "X"), STORE_OK);
		assert_int_equal(store_mailbox_create(u, "X", NULL), STORE_OK);
		mb = status_of(u, "X");
		assert_true(mb.uidvalidity > seen[nseen - 1]);
		assert_true(mb.id != old_id);
		seen[nseen++] = mb.uidvalidity;
		store_mailbox_clear(&mb);
	}
	/* RENAME keeps it. */
	assert_int_equal(store_mailbox_rename(u, "X", "Y"), STORE_OK);
	mb = status_of(u, "Y");
	assert_int_equal(mb.uidvalidity, seen[nseen - 1]);
	store_mailbox_clear(&mb);
	/* RENAME INBOX creates a mailbox: a new value. */
	append_msg(u, "INBOX", "Subject: i\r\n\r\ni\r\n", 0, NULL);
	assert_int_equal(store_mailbox_rename(u, "INBOX", "Old"), STORE_OK);
	mb = status_of(u, "Old");
	for (size_t i = 0; i < nseen; i++)
		assert_true(mb.uidvalidity != seen[i]);
	assert_true(mb.uidvalidity > seen[nseen - 1]);
	store_mailbox_clear(&mb);
	store_user_close(u);
}

/* ---- invariant 4: acknowledged means durable ---- */

#define DURABLE_MAX 200

/* A process appends and reports each acknowledged UID, then is killed
 * without warning: every UID it reported must be there afterwards, with
 * its bytes. (A process crash, not a power cut: test_store_crash.c covers
 * the SQLite files themselves.) */
static void test_acknowledged_is_durable(void **state)
{
	struct store_user *u = open_user("c-durable");
	store_user_close(u);
	store_cache_drop();
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		struct store_user *cu = store_user_open("c-durable");
		for (int i = 0; cu && i < DURABLE_MAX; i++) {
			char text[64];
			snprintf(text, sizeof(text), "Subject: d%d\r\n\r\nd%d\r\n", i, i);
			struct store_append a;
			append_init(&a, text, 0, NULL);
			if (store_append(cu, "INBOX", &a, 1, NULL) != STORE_OK)
				break;
			if (write(pfd[1], &a.uid, sizeof(a.uid)) != sizeof(a.uid))
				break;
		}
		/* Wait to be killed with the handle still open. */
		for (int i = 0; i < 600; i++)
			sleep(1);
		_exit(0);
	}
	close(pfd[1]);
	uint32_t acked[DURABLE_MAX];
	size_t nacked = 0;
	/* Kill it mid-stream: after 20 acknowledgements, or when it stops. */
	while (nacked < 20) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		if (poll(&p, 1, 60000) <= 0)
			break;
		if (read(pfd[0], &acked[nacked], sizeof(acked[0])) != sizeof(acked[0]))
			break;
		nacked++;
	}
	kill(pid, SIGKILL);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* UIDs acknowledged before the kill but not yet read are in the pipe. */
	while (nacked < DURABLE_MAX &&
	       read(pfd[0], &acked[nacked], sizeof(acked[0])) == sizeof(acked[0]))
		nacked++;
	close(pfd[0]);
	assert_true(nacked >= 20);

	store_cache_drop();
	u = open_user("c-durable");
	int64_t inbox = mailbox_id(u, "INBOX");
	for (size_t i = 0; i < nacked; i++) {
		struct store_msg m = get_one(u, inbox, acked[i]);
		const char *data;
		size_t len;
		assert_int_equal(store_blob_map(u, m.blob, &data, &len), STORE_OK);
		char want[64];
		snprintf(want, sizeof(want), "Subject: d%zu\r\n\r\nd%zu\r\n", i, i);
		assert_int_equal(len, strlen(want));
		assert_memory_equal(data, want, len);
		store_blob_unmap(data, len);
		free(m.keywords);
	}
	store_user_close(u);
}

/* ---- invariant 5: one call, one transaction ---- */

static void test_multiappend_atomic(void **state)
{
	struct store_user *u = open_user("c-multiappend");
	int64_t inbox = mailbox_id(u, "INBOX");
	struct store_mailbox before = status_of(u, "INBOX");
	/* The third message is refused: none of the three is stored. */
	struct store_append a[3];
	append_init(&a[0], "Subject: a\r\n\r\na\r\n", 0, NULL);
	append_init(&a[1], "Subject: b\r\n\r\nb\r\n", 0, "$Fine");
	append_init(&a[2], "Subject: c\r\n\r\nc\r\n", 0, "bad\\keyword");
	assert_int_equal(store_append(u, "INBOX", a, 3, NULL), STORE_EINVAL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(a[i].uid, 0);
	a[2].internaldate_tz = 5000;
	a[2].keywords = NULL;
	assert_int_equal(store_append(u, "INBOX", a, 3, NULL), STORE_EINVAL);
	assert_int_equal(store_append(u, "Nowhere", a, 2, NULL), STORE_ENOENT);
	assert_int_equal(store_append(u, "INBOX", a, 0, NULL), STORE_EINVAL);
	struct store_mailbox after = status_of(u, "INBOX");
	assert_int_equal(after.messages, 0);
	assert_int_equal(after.uidnext, before.uidnext);
	assert_int_equal(after.highestmodseq, before.highestmodseq);
	assert_int_equal(msg_count(u, inbox), 0);
	store_mailbox_clear(&before);
	store_mailbox_clear(&after);

	/* All or nothing the other way: all get UIDs and APPENDUID's
	 * UIDVALIDITY. */
	a[2].internaldate_tz = 0;
	uint32_t uv = 0;
	assert_int_equal(store_append(u, "INBOX", a, 3, &uv), STORE_OK);
	struct store_mailbox mb = status_of(u, "INBOX");
	assert_int_equal(uv, mb.uidvalidity);
	assert_int_equal(mb.messages, 3);
	store_mailbox_clear(&mb);
	struct store_msg m = get_one(u, inbox, a[1].uid);
	assert_string_equal(m.keywords, "$Fine");
	assert_int_equal(m.internaldate, 1700000000);
	assert_int_equal(m.internaldate_tz, 60);
	assert_int_equal(m.size, strlen(a[1].data));
	free(m.keywords);
	store_user_close(u);
}

/* COPYUID (RFC 4315): source and destination UIDs pairwise, ascending;
 * flags, keywords and INTERNALDATE travel; MOVE expunges the sources in
 * the same call; UIDs that do not exist are skipped. */
static void test_copy_move_uid_mapping(void **state)
{
	struct store_user *u = open_user("c-copy");
	assert_int_equal(store_mailbox_create(u, "Dst", NULL), STORE_OK);
	/* Give Dst a UIDNEXT different from INBOX's. */
	append_msg(u, "Dst", "Subject: pad\r\n\r\np\r\n", 0, NULL);
	append_msg(u, "Dst", "Subject: pad\r\n\r\np\r\n", 0, NULL);
	int64_t inbox = mailbox_id(u, "INBOX"), dstid = mailbox_id(u, "Dst");
	uint32_t uids[4];
	uids[0] = append_msg(u, "INBOX", "Subject: 1\r\n\r\n1\r\n", MAIL_FLAG_FLAGGED, "$A");
	uids[1] = append_msg(u, "INBOX", "Subject: 2\r\n\r\n2\r\n", 0, NULL);
	uids[2] = append_msg(u, "INBOX", "Subject: 3\r\n\r\n3\r\n", MAIL_FLAG_SEEN, "$B $C");
	uids[3] = uids[2] + 50;  /* never existed */
	assert_int_equal(store_expunge(u, inbox, &uids[1], 1), STORE_OK);

	struct store_mailbox dst0 = status_of(u, "Dst");
	uint32_t *src, *dst, uv = 0;
	size_t n;
	assert_int_equal(store_copy(u, inbox, uids, 4, "Dst", false, &uv, &src, &dst, &n),
			 STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(uv, dst0.uidvalidity);
	assert_int_equal(src[0], uids[0]);
	assert_int_equal(src[1], uids[2]);
	assert_int_equal(dst[0], dst0.uidnext);
	assert_int_equal(dst[1], dst0.uidnext + 1);
	struct store_msg m = get_one(u, dstid, dst[1]);
	assert_int_equal(m.flags, MAIL_FLAG_SEEN);
	assert_string_equal(m.keywords, "$B $C");
	assert_int_equal(m.internaldate, 1700000000);
	free(m.keywords);
	free(src);
	free(dst);
	assert_int_equal(msg_count(u, inbox), 2);
	store_mailbox_clear(&dst0);

	/* MOVE: copies and expunges in one call; the expunge is recorded
	 * with the source's new modseq. */
	uint64_t s0 = modseq_of(u, "INBOX");
	dst0 = status_of(u, "Dst");
	assert_int_equal(store_copy(u, inbox, uids, 3, "dst", true, &uv, &src, &dst, &n),
			 STORE_ENOENT);  /* names are case-sensitive except INBOX */
	assert_int_equal(store_copy(u, inbox, uids, 3, "Dst", true, &uv, &src, &dst, &n),
			 STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(dst[0], dst0.uidnext);
	assert_int_equal(dst[1], dst0.uidnext + 1);
	assert_int_equal(msg_count(u, inbox), 0);
	uint64_t s1 = modseq_of(u, "INBOX");
	assert_true(s1 > s0);
	struct store_msg *ch;
	uint32_t *exp;
	size_t nch, nexp;
	assert_int_equal(store_changes(u, inbox, s0, &ch, &nch, &exp, &nexp), STORE_OK);
	assert_int_equal(nch, 0);
	/* Both moved UIDs; uids[1], expunged before, may be named again
	 * (invariant 6: history is kept as ranges), nothing else. */
	assert_true(nexp == 2 || nexp == 3);
	assert_int_equal(exp[0], uids[0]);
	assert_int_equal(exp[nexp - 1], uids[2]);
	if (nexp == 3)
		assert_int_equal(exp[1], uids[1]);
	store_msg_array_free(ch, nch);
	free(exp);
	free(src);
	free(dst);
	store_mailbox_clear(&dst0);

	/* COPY into the mailbox itself: new UIDs above the old ones. */
	uint32_t one = append_msg(u, "INBOX", "Subject: self\r\n\r\ns\r\n", 0, NULL);
	assert_int_equal(store_copy(u, inbox, &one, 1, "INBOX", false, NULL, &src, &dst, &n),
			 STORE_OK);
	assert_int_equal(n, 1);
	assert_true(dst[0] > one);
	free(src);
	free(dst);
	/* To a mailbox that does not exist: nothing happens. */
	assert_int_equal(store_copy(u, inbox, &one, 1, "Nowhere", true, NULL, NULL, NULL, NULL),
			 STORE_ENOENT);
	assert_int_equal(msg_count(u, inbox), 2);
	store_user_close(u);
}

static int cmp_u32_conf(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y ? 1 : 0;
}

/* ---- invariant 6: changes since a modseq ---- */

/* The expunge history (kept as ranges) names every UID expunged after
 * `since`, never a live one, across interleaved expunges of scattered
 * UIDs; with nothing pruned the floor is 0 (condstore). */
static void test_expunge_history_ranges(void **state)
{
	(void)state;
	struct store_user *u = open_user("c-history");
	int64_t inbox = mailbox_id(u, "INBOX");
	enum { N = 200 };
	uint32_t uids[N];
	for (int i = 0; i < N; i++)
		uids[i] = append_msg(u, "INBOX", "Subject: h\r\n\r\nh\r\n", 0, NULL);
	/* Round 1: every third; round 2: every third + 1 in one call with the
	 * first 10 of round 1 again (already gone); between them a mark. */
	uint32_t del[N];
	size_t nd = 0;
	for (int i = 0; i < N; i += 3)
		del[nd++] = uids[i];
	assert_int_equal(store_expunge(u, inbox, del, nd), STORE_OK);
	uint64_t mark = modseq_of(u, "INBOX");
	size_t nd2 = 0;
	for (int i = 1; i < N; i += 3)
		del[nd2++] = uids[i];
	for (int i = 0; i < 30; i += 3)
		del[nd2++] = uids[i];
	assert_int_equal(store_expunge(u, inbox, del, nd2), STORE_OK);
	struct store_msg *ch;
	uint32_t *exp;
	size_t nch, nexp;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t since = pass ? mark : 0;
		assert_int_equal(store_changes(u, inbox, since, &ch, &nch, &exp, &nexp), STORE_OK);
		/* Ascending, distinct, no live UID, every expected one named. */
		for (size_t k = 1; k < nexp; k++)
			assert_true(exp[k - 1] < exp[k]);
		size_t want = 0;
		for (int i = 0; i < N; i++) {
			bool gone = i % 3 == 0 || i % 3 == 1;
			bool named = bsearch(&uids[i], exp, nexp, sizeof(*exp), cmp_u32_conf) != NULL;
			if (i % 3 == 2)
				assert_false(named);
			else if (pass == 0 || i % 3 == 1)
				assert_true(named);
			want += gone;
		}
		if (pass == 0)
			assert_int_equal(nexp, want);
		store_msg_array_free(ch, nch);
		free(exp);
	}
	uint64_t floor = 1;
	assert_int_equal(store_expunged_floor(u, inbox, &floor), STORE_OK);
	assert_int_equal(floor, 0);
	store_user_close(u);
}

static void test_changes_since(void **state)
{
	struct store_user *u = open_user("c-changes");
	int64_t inbox = mailbox_id(u, "INBOX");
	uint32_t uids[4];
	for (int i = 0; i < 4; i++)
		uids[i] = append_msg(u, "INBOX", "Subject: c\r\n\r\nc\r\n", 0, NULL);
	uint64_t base = modseq_of(u, "INBOX");

	struct store_msg *ch;
	uint32_t *exp;
	size_t nch, nexp;
	assert_int_equal(store_changes(u, inbox, base, &ch, &nch, &exp, &nexp), STORE_OK);
	assert_int_equal(nch + nexp, 0);
	store_msg_array_free(ch, nch);
	free(exp);

	/* Flags on uids[1], expunge of uids[2], then a keyword on uids[3]. */
	assert_int_equal(store_flags(u, inbox, &uids[1], 1, STORE_FLAGS_ADD, MAIL_FLAG_ANSWERED,
				     NULL, 0, NULL, NULL, NULL, NULL),
			 STORE_OK);
	uint64_t after_flags = modseq_of(u, "INBOX");
	assert_int_equal(store_expunge(u, inbox, &uids[2], 1), STORE_OK);
	uint64_t after_expunge = modseq_of(u, "INBOX");
	assert_int_equal(store_flags(u, inbox, &uids[3], 1, STORE_FLAGS_ADD, 0, "$Later", 0, NULL,
				     NULL, NULL, NULL),
			 STORE_OK);

	assert_int_equal(store_changes(u, inbox, base, &ch, &nch, &exp, &nexp), STORE_OK);
	assert_int_equal(nch, 2);  /* in UID order */
	assert_int_equal(ch[0].uid, uids[1]);
	assert_int_equal(ch[0].flags, MAIL_FLAG_ANSWERED);
	assert_int_equal(ch[0].modseq, after_flags);
	assert_int_equal(ch[1].uid, uids[3]);
	assert_string_equal(ch[1].keywords, "$Later");
	assert_int_equal(nexp, 1);
	assert_int_equal(exp[0], uids[2]);
	store_msg_array_free(ch, nch);
	free(exp);

	/* Since the expunge: only the keyword change. */
	assert_int_equal(store_changes(u, inbox, after_expunge, &ch, &nch, &exp, &nexp), STORE_OK);
	assert_int_equal(nch, 1);
	assert_int_equal(ch[0].uid, uids[3]);
	assert_int_equal(nexp, 0);
	store_msg_array_free(ch, nch);
	free(exp);
	/* Since the flag change: the expunge is still there. */
	assert_int_equal(store_changes(u, inbox, after_flags, &ch, &nch, &exp, &nexp), STORE_OK);
	assert_int_equal(nexp, 1);
	store_msg_array_free(ch, nch);
	free(exp);
	/* Out of range, and a mailbox that does not exist. */
	assert_int_equal(store_changes(u, inbox, UINT64_MAX, &ch, &nch, &exp, &nexp), STORE_EINVAL);
	assert_int_equal(store_changes(u, inbox + 1000000, 0, &ch, &nch, &exp, &nexp),
			 STORE_ENOENT);

	/* UNCHANGEDSINCE (RFC 7162 3.1.3): a message modified after it is
	 * left alone and reported. */
	uint32_t both[2] = { uids[1], uids[3] };
	uint32_t *failed;
	size_t nfailed;
	assert_int_equal(store_flags(u, inbox, both, 2, STORE_FLAGS_ADD, MAIL_FLAG_FLAGGED, NULL,
				     after_flags, &ch, &nch, &failed, &nfailed),
			 STORE_OK);
	assert_int_equal(nch, 1);
	assert_int_equal(ch[0].uid, uids[1]);
	assert_int_equal(nfailed, 1);
	assert_int_equal(failed[0], uids[3]);
	store_msg_array_free(ch, nch);
	free(failed);
	store_user_close(u);
}

/* ---- invariant 7: a notification after every commit ---- */

static atomic_uint g_notes;
static atomic_bool g_note_bad;

static void on_change(const char *username, void *arg)
{
	if (arg != &g_notes || strcmp(username, "c-notify") != 0)
		atomic_store(&g_note_bad, true);
	atomic_fetch_add(&g_notes, 1);
}

static bool noted_since(unsigned c0)
{
	return store_test_counted_since(&g_notes, c0);
}

static void test_notifications(void **state)
{
	struct store_user *u = open_user("c-notify");
	int64_t inbox = mailbox_id(u, "INBOX");
	store_user_close(u);
	assert_int_equal(store_watch_start(on_change, &g_notes), STORE_OK);
	assert_int_equal(store_watch_user("c-notify"), STORE_OK);
	assert_int_equal(store_watch_user("../bad"), STORE_EINVAL);
	u = open_user("c-notify");
	uint32_t uid = 0;

	unsigned c0 = atomic_load(&g_notes);
	assert_int_equal(store_mailbox_create(u, "N", NULL), STORE_OK);
	assert_true(noted_since(c0));
	c0 = atomic_load(&g_notes);
	assert_int_equal(store_subscribe(u, "Elsewhere", true), STORE_OK);
	assert_true(noted_since(c0));
	c0 = atomic_load(&g_notes);
	uid = append_msg(u, "INBOX", "Subject: n\r\n\r\nn\r\n", 0, NULL);
	assert_true(noted_since(c0));
	c0 = atomic_load(&g_notes);
	assert_int_equal(store_flags(u, inbox, &uid, 1, STORE_FLAGS_ADD, MAIL_FLAG_SEEN, NULL, 0,
				     NULL, NULL, NULL, NULL),
			 STORE_OK);
	assert_true(noted_since(c0));
	c0 = atomic_load(&g_notes);
	assert_int_equal(store_copy(u, inbox, &uid, 1, "N", true, NULL, NULL, NULL, NULL),
			 STORE_OK);
	assert_true(noted_since(c0));
	c0 = atomic_load(&g_notes);
	uid = append_msg(u, "INBOX", "Subject: n2\r\n\r\nn\r\n", 0, NULL);
	assert_true(noted_since(c0));
	c0 = atomic_load(&g_notes);
	assert_int_equal(store_expunge(u, inbox, &uid, 1), STORE_OK);
	assert_true(noted_since(c0));
	c0 = atomic_load(&g_notes);
	assert_int_equal(store_mailbox_rename(u, "N", "M"), STORE_OK);
	assert_true(noted_since(c0));
	c0 = atomic_load(&g_notes);
	assert_int_equal(store_mailbox_delete(u, "M"), STORE_OK);
	assert_true(noted_since(c0));
	store_user_close(u);

	/* A change made by another process (like `rampart deliver`). */
	c0 = atomic_load(&g_notes);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store_user *cu = store_user_open("c-notify");
		struct store_append a;
		append_init(&a, "Subject: p\r\n\r\np\r\n", 0, NULL);
		int r = cu ? store_append(cu, "INBOX", &a, 1, NULL) : STORE_EIO;
		_exit(r == STORE_OK ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(noted_since(c0));

	store_unwatch_user("c-notify");
	store_unwatch_user("c-notify");
	store_watch_stop();
	assert_false(atomic_load(&g_note_bad));
}

/* ---- invariant 8: mailbox ids are never reused ---- */

static void test_mailbox_ids_not_reused(void **state)
{
	struct store_user *u = open_user("c-ids");
	assert_int_equal(store_mailbox_create(u, "Gone", NULL), STORE_OK);
	int64_t old = mailbox_id(u, "Gone");
	append_msg(u, "Gone", "Subject: g\r\n\r\ng\r\n", 0, NULL);
	assert_int_equal(store_mailbox_delete(u, "Gone"), STORE_OK);
	assert_false(exists(u, "Gone"));
	assert_int_equal(store_mailbox_delete(u, "Gone"), STORE_ENOENT);
	assert_int_equal(store_mailbox_create(u, "Gone", NULL), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "Other", NULL), STORE_OK);
	assert_true(mailbox_id(u, "Gone") != old);
	assert_true(mailbox_id(u, "Other") != old);
	/* A session still holding the old id. */
	struct store_msg *m;
	size_t n;
	assert_int_equal(store_msg_list(u, old, 1, true, &m, &n), STORE_ENOENT);
	uint32_t uid = 1;
	assert_int_equal(store_msg_get(u, old, &uid, 1, &m, &n), STORE_ENOENT);
	assert_int_equal(store_expunge(u, old, &uid, 1), STORE_ENOENT);
	assert_int_equal(store_flags(u, old, &uid, 1, STORE_FLAGS_ADD, MAIL_FLAG_SEEN, NULL, 0,
				     NULL, NULL, NULL, NULL),
			 STORE_ENOENT);
	store_user_close(u);
}

/* ---- invariant 9: INBOX ---- */

static void test_inbox_rules(void **state)
{
	struct store_user *u = open_user("c-inbox");
	assert_int_equal(store_mailbox_delete(u, "INBOX"), STORE_ECANNOT);
	assert_int_equal(store_mailbox_delete(u, "inbox"), STORE_ECANNOT);
	assert_int_equal(store_mailbox_create(u, "inbox", NULL), STORE_EEXIST);
	assert_int_equal(store_mailbox_create(u, "Inbox/Sub", NULL), STORE_OK);
	assert_true(exists(u, "INBOX/Sub"));
	assert_true(exists(u, "inBOX/sub") == false);  /* only the INBOX part folds */
	assert_true(exists(u, "inbox/Sub"));
	assert_false(exists(u, "Inbox2"));
	assert_int_equal(store_mailbox_create(u, "Inboxes", NULL), STORE_OK);
	assert_true(exists(u, "Inboxes"));
	assert_false(exists(u, "INBOXES"));
	assert_int_equal(store_mailbox_create(u, "Box", NULL), STORE_OK);
	assert_int_equal(store_mailbox_rename(u, "Box", "inbox"), STORE_EEXIST);
	assert_int_equal(store_mailbox_rename(u, "Box", "INBOX"), STORE_EEXIST);

	/* RENAME INBOX (RFC 9051 6.3.6): the messages move to a new mailbox;
	 * INBOX stays, empty, with its UIDVALIDITY and UIDNEXT; its children
	 * stay where they are. */
	uint32_t a = append_msg(u, "INBOX", "Subject: a\r\n\r\na\r\n", MAIL_FLAG_SEEN, "$K");
	uint32_t b = append_msg(u, "INBOX", "Subject: b\r\n\r\nb\r\n", 0, NULL);
	struct store_mailbox before = status_of(u, "INBOX");
	assert_int_equal(store_mailbox_rename(u, "inbox", "Saved"), STORE_OK);
	struct store_mailbox in = status_of(u, "INBOX");
	struct store_mailbox saved = status_of(u, "Saved");
	assert_int_equal(in.messages, 0);
	assert_int_equal(in.uidvalidity, before.uidvalidity);
	assert_int_equal(in.uidnext, before.uidnext);
	assert_true(in.highestmodseq > before.highestmodseq);
	assert_int_equal(saved.messages, 2);
	assert_true(saved.uidvalidity != before.uidvalidity);
	assert_true(exists(u, "INBOX/Sub"));
	assert_false(exists(u, "Saved/Sub"));
	struct store_msg m = get_one(u, saved.id, a);
	assert_int_equal(m.flags, MAIL_FLAG_SEEN);
	assert_string_equal(m.keywords, "$K");
	free(m.keywords);
	/* A session on INBOX learns the messages went. */
	struct store_msg *ch;
	uint32_t *exp;
	size_t nch, nexp;
	assert_int_equal(store_changes(u, in.id, before.highestmodseq, &ch, &nch, &exp, &nexp),
			 STORE_OK);
	assert_int_equal(nexp, 2);
	assert_int_equal(exp[0], a);
	assert_int_equal(exp[1], b);
	store_msg_array_free(ch, nch);
	free(exp);
	/* The next message in INBOX does not reuse a UID. */
	assert_true(append_msg(u, "INBOX", "Subject: c\r\n\r\nc\r\n", 0, NULL) >= before.uidnext);
	/* INBOX may move under itself (its children do not follow). */
	assert_int_equal(store_mailbox_rename(u, "INBOX", "INBOX/Old"), STORE_OK);
	assert_true(exists(u, "INBOX/Old"));
	assert_int_equal(store_mailbox_rename(u, "INBOX", "Saved"), STORE_EEXIST);
	store_mailbox_clear(&before);
	store_mailbox_clear(&in);
	store_mailbox_clear(&saved);
	store_user_close(u);
}

/* RENAME of an ordinary mailbox takes its children along and refuses to
 * make a mailbox its own child or to overwrite. */
static void test_rename_tree(void **state)
{
	struct store_user *u = open_user("c-rename");
	assert_int_equal(store_mailbox_create(u, "A", NULL), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "A/B", NULL), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "A/B/C", NULL), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "AB", NULL), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "Taken", NULL), STORE_OK);
	append_msg(u, "A/B", "Subject: r\r\n\r\nr\r\n", 0, NULL);
	assert_int_equal(store_mailbox_rename(u, "A", "A/X"), STORE_ECANNOT);
	assert_int_equal(store_mailbox_rename(u, "A", "A"), STORE_EEXIST);
	assert_int_equal(store_mailbox_rename(u, "A", "Taken"), STORE_EEXIST);
	assert_int_equal(store_mailbox_rename(u, "Missing", "New"), STORE_ENOENT);
	assert_int_equal(store_mailbox_rename(u, "A", "bad\001name"), STORE_EINVAL);
	assert_int_equal(store_mailbox_rename(u, "A", "Z"), STORE_OK);
	assert_false(exists(u, "A"));
	assert_false(exists(u, "A/B"));
	assert_true(exists(u, "Z"));
	assert_true(exists(u, "Z/B/C"));
	assert_true(exists(u, "AB"));  /* a sibling sharing the prefix stays */
	struct store_mailbox zb = status_of(u, "Z/B");
	assert_int_equal(zb.messages, 1);
	store_mailbox_clear(&zb);
	/* A child whose new name would collide refuses the whole rename. */
	assert_int_equal(store_mailbox_create(u, "Y/B", NULL), STORE_OK);
	assert_int_equal(store_mailbox_rename(u, "Z", "Y"), STORE_EEXIST);
	assert_true(exists(u, "Z/B/C"));
	store_user_close(u);
}

/* ---- invariant 10: subscriptions are names ---- */

static void test_subscriptions(void **state)
{
	struct store_user *u = open_user("c-subs");
	assert_true(is_subscribed(u, "INBOX"));
	assert_int_equal(store_subscribe(u, "Ghost/Never", true), STORE_OK);
	assert_true(is_subscribed(u, "Ghost/Never"));
	assert_false(exists(u, "Ghost/Never"));
	assert_int_equal(store_subscribe(u, "Ghost/Never", true), STORE_OK);  /* twice is fine */
	assert_int_equal(store_subscribe(u, "NotThere", false), STORE_OK);
	assert_int_equal(store_subscribe(u, "bad%name", true), STORE_EINVAL);
	assert_int_equal(store_subscribe(u, "inbox/Sub", true), STORE_OK);
	assert_true(is_subscribed(u, "INBOX/Sub"));

	assert_int_equal(store_mailbox_create(u, "Folder", NULL), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "Folder/Kid", NULL), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "Plain", NULL), STORE_OK);
	assert_int_equal(store_subscribe(u, "Folder", true), STORE_OK);
	assert_int_equal(store_subscribe(u, "Folder/Kid", true), STORE_OK);
	struct store_mailbox mb = status_of(u, "Folder");
	assert_true(mb.subscribed);
	store_mailbox_clear(&mb);
	/* RENAME carries subscriptions along; unsubscribed stays so. */
	assert_int_equal(store_mailbox_rename(u, "Folder", "Moved"), STORE_OK);
	assert_true(is_subscribed(u, "Moved"));
	assert_true(is_subscribed(u, "Moved/Kid"));
	assert_false(is_subscribed(u, "Folder"));
	assert_int_equal(store_mailbox_rename(u, "Plain", "Plain2"), STORE_OK);
	assert_false(is_subscribed(u, "Plain2"));
	/* DELETE leaves the subscription (RFC 9051 6.3.7). */
	assert_int_equal(store_mailbox_delete(u, "Moved/Kid"), STORE_OK);
	assert_true(is_subscribed(u, "Moved/Kid"));
	assert_int_equal(store_subscribe(u, "Moved/Kid", false), STORE_OK);
	assert_false(is_subscribed(u, "Moved/Kid"));
	store_user_close(u);
}

/* ---- invariant 11: the mailbox-count limit ---- */

#define LIMIT_THREADS 6
#define LIMIT_EXTRA 3

struct limit_arg {
	unsigned max;
	int idx;
	int result;
};

static void *limit_thread(void *p)
{
	struct limit_arg *a = p;
	struct store_user *u = store_user_open("c-limit");
	char name[32];
	snprintf(name, sizeof(name), "Racer%d", a->idx);
	a->result = u ? store_mailbox_create_bounded(u, name, NULL, a->max) : STORE_EIO;
	store_user_close(u);
	return NULL;
}

static void test_mailbox_limit(void **state)
{
	struct store_user *u = open_user("c-limit");
	size_t n0 = mailbox_count(u);
	assert_int_equal(store_mailbox_create_bounded(u, "Over", NULL, (unsigned)n0), STORE_ELIMIT);
	assert_false(exists(u, "Over"));
	assert_int_equal(store_mailbox_create_bounded(u, "Fits", NULL, (unsigned)n0 + 1), STORE_OK);
	assert_int_equal(store_mailbox_create_bounded(u, "Over", NULL, (unsigned)n0 + 1),
			 STORE_ELIMIT);
	assert_int_equal(store_mailbox_create_bounded(u, "Free", NULL, 0), STORE_OK);
	store_user_close(u);

	/* Threads with their own handles race to create: exactly as many
	 * succeed as the limit leaves room for. */
	u = open_user("c-limit");
	size_t n1 = mailbox_count(u);
	store_user_close(u);
	pthread_t th[LIMIT_THREADS];
	struct limit_arg args[LIMIT_THREADS];
	for (int i = 0; i < LIMIT_THREADS; i++) {
		args[i] = (struct limit_arg){ .max = (unsigned)n1 + LIMIT_EXTRA, .idx = i };
		assert_int_equal(pthread_create(&th[i], NULL, limit_thread, &args[i]), 0);
	}
	int ok = 0, limited = 0;
	for (int i = 0; i < LIMIT_THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += args[i].result == STORE_OK;
		limited += args[i].result == STORE_ELIMIT;
	}
	assert_int_equal(ok, LIMIT_EXTRA);
	assert_int_equal(limited, LIMIT_THREADS - LIMIT_EXTRA);
	u = open_user("c-limit");
	assert_int_equal(mailbox_count(u), n1 + LIMIT_EXTRA);
	store_user_close(u);
	store_cache_drop();
}

/* ---- invariant 12: blobs ---- */

static void test_blob_bytes(void **state)
{
	struct store_user *u = open_user("c-blobs");
	int64_t inbox = mailbox_id(u, "INBOX");
	assert_int_equal(store_mailbox_create(u, "Keep", NULL), STORE_OK);
	/* Empty, small, and above STORE_BLOB_READ_MAX (mapped). */
	size_t sizes[3] = { 0, 40, STORE_BLOB_READ_MAX * 3 + 7 };
	for (size_t k = 0; k < 3; k++) {
		char *text = malloc(sizes[k] + 1);
		assert_non_null(text);
		for (size_t i = 0; i < sizes[k]; i++)
			text[i] = (char)('a' + (i * 7 + k) % 26);
		text[sizes[k]] = '\0';
		struct store_append a;
		append_init(&a, text, 0, NULL);
		assert_int_equal(store_append(u, "INBOX", &a, 1, NULL), STORE_OK);
		struct store_msg m = get_one(u, inbox, a.uid);
		assert_int_equal(m.size, sizes[k]);
		const char *data;
		size_t len;
		assert_int_equal(store_blob_map(u, m.blob, &data, &len), STORE_OK);
		assert_int_equal(len, sizes[k]);
		if (len)
			assert_memory_equal(data, text, len);
		store_blob_unmap(data, len);

		/* A copy keeps the bytes reachable after the original goes. */
		assert_int_equal(store_copy(u, inbox, &a.uid, 1, "Keep", false, NULL, NULL, NULL,
					    NULL),
				 STORE_OK);
		assert_int_equal(store_expunge(u, inbox, &a.uid, 1), STORE_OK);
		assert_int_equal(store_blob_map(u, m.blob, &data, &len), STORE_OK);
		assert_int_equal(len, sizes[k]);
		if (len)
			assert_memory_equal(data, text, len);
		store_blob_unmap(data, len);
		free(m.keywords);
		free(text);
	}
	const char *data;
	size_t len;
	assert_int_equal(store_blob_map(u, "../../etc/passwd", &data, &len), STORE_EINVAL);
	char absent[65];
	memset(absent, '0', 64);
	absent[64] = '\0';
	assert_int_equal(store_blob_map(u, absent, &data, &len), STORE_ENOENT);
	store_user_close(u);
}

/* ---- the rules the front applies for every backend ---- */

static void test_name_rules(void **state)
{
	static const struct {
		const char *in;
		int r;
		const char *out;
	} cases[] = {
		{ "INBOX", STORE_OK, "INBOX" },
		{ "inbox", STORE_OK, "INBOX" },
		{ "iNbOx/Sub/x", STORE_OK, "INBOX/Sub/x" },
		{ "Inboxes", STORE_OK, "Inboxes" },
		{ "My/inbox", STORE_OK, "My/inbox" },
		{ "Entw\xc3\xbcrfe", STORE_OK, "Entw\xc3\xbcrfe" },
		{ "", STORE_EINVAL, NULL },
		{ "/a", STORE_EINVAL, NULL },
		{ "a/", STORE_EINVAL, NULL },
		{ "a//b", STORE_EINVAL, NULL },
		{ "a\tb", STORE_EINVAL, NULL },
		{ "a\x7f", STORE_EINVAL, NULL },
		{ "a%", STORE_EINVAL, NULL },
		{ "a*b", STORE_EINVAL, NULL },
		{ "\xc3", STORE_EINVAL, NULL },          /* truncated UTF-8 */
		{ "\xc0\xaf", STORE_EINVAL, NULL },      /* overlong */
		{ "\xed\xa0\x80", STORE_EINVAL, NULL },  /* surrogate */
		/* path-like names (issue #11) */
		{ "..", STORE_EINVAL, NULL },
		{ ".", STORE_EINVAL, NULL },
		{ "../x", STORE_EINVAL, NULL },
		{ "a/../b", STORE_EINVAL, NULL },
		{ "a/..", STORE_EINVAL, NULL },
		{ "a/./b", STORE_EINVAL, NULL },
		{ "~root", STORE_EINVAL, NULL },
		{ "~", STORE_EINVAL, NULL },
		{ "...", STORE_OK, "..." },
		{ ".hidden", STORE_OK, ".hidden" },
		{ "a..b/c.", STORE_OK, "a..b/c." },
		{ "a/~b", STORE_OK, "a/~b" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = (char *)"unset";
		int r = store_mailbox_name_normalize(cases[i].in, &out);
		assert_int_equal(r, cases[i].r);
		if (cases[i].out)
			assert_string_equal(out, cases[i].out);
		else
			assert_null(out);
		free(out);
	}
	char *out;
	assert_int_equal(store_mailbox_name_normalize(NULL, &out), STORE_EINVAL);
	char longname[STORE_MAILBOX_NAME_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[STORE_MAILBOX_NAME_MAX] = '\0';
	assert_int_equal(store_mailbox_name_normalize(longname, &out), STORE_OK);
	free(out);
	longname[STORE_MAILBOX_NAME_MAX] = 'x';
	longname[STORE_MAILBOX_NAME_MAX + 1] = '\0';
	assert_int_equal(store_mailbox_name_normalize(longname, &out), STORE_ELIMIT);

	/* Every call applies them the same way: CREATE refuses, lookups say
	 * the mailbox does not exist. */
	struct store_user *u = open_user("c-names");
	assert_int_equal(store_mailbox_create(u, "a\tb", NULL), STORE_EINVAL);
	assert_int_equal(store_mailbox_create(u, longname, NULL), STORE_ELIMIT);
	assert_int_equal(store_mailbox_create(u, "Ok", "\\Nonsense"), STORE_EINVAL);
	assert_int_equal(store_mailbox_create(u, "Sent2", "\\sent"), STORE_OK);
	struct store_mailbox mb = status_of(u, "Sent2");
	assert_string_equal(mb.special_use, "\\Sent");
	store_mailbox_clear(&mb);
	assert_int_equal(store_mailbox_status(u, "a\tb", &mb), STORE_ENOENT);
	assert_int_equal(store_mailbox_get(u, longname, &mb), STORE_ENOENT);
	assert_int_equal(store_mailbox_delete(u, "a%"), STORE_ENOENT);
	assert_int_equal(store_mailbox_rename(u, "a%", "b"), STORE_ENOENT);
	struct store_append a;
	append_init(&a, "Subject: n\r\n\r\nn\r\n", 0, NULL);
	assert_int_equal(store_append(u, "a*", &a, 1, NULL), STORE_ENOENT);
	/* The default mailboxes of a new user, with their special-use. */
	mb = status_of(u, "Drafts");
	assert_string_equal(mb.special_use, "\\Drafts");
	store_mailbox_clear(&mb);
	assert_true(exists(u, "Trash") && exists(u, "Junk") && exists(u, "Archive"));
	store_user_close(u);
	assert_null(store_user_open("../evil"));
	assert_null(store_user_open(""));
	assert_int_equal(store_user_remove("a/b"), STORE_EINVAL);
}

static void test_keyword_rules(void **state)
{
	char k128[STORE_KEYWORD_LEN_MAX + 2];
	memset(k128, 'k', sizeof(k128));
	k128[STORE_KEYWORD_LEN_MAX] = '\0';
	assert_true(store_keyword_valid("$Label1", 7));
	assert_true(store_keyword_valid("NonJunk", 7));
	char k129[STORE_KEYWORD_LEN_MAX + 1];
	memset(k129, 'k', sizeof(k129));
	assert_true(store_keyword_valid(k128, STORE_KEYWORD_LEN_MAX));
	assert_false(store_keyword_valid(k129, sizeof(k129)));
	assert_false(store_keyword_valid("", 0));
	assert_false(store_keyword_valid("\\Seen", 5));
	assert_int_equal(store_keyword_check(k128, STORE_KEYWORD_LEN_MAX), STORE_OK);
	assert_int_equal(store_keyword_check(k129, sizeof(k129)), STORE_ELIMIT);
	assert_int_equal(store_keyword_check("a]", 2), STORE_EINVAL);
	static const char *const bad[] = { "a b", "a(", "a)", "a{", "a%", "a*", "a\"", "a]",
					   "a\x7f", "a\x01", "\xc3\xa4" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(store_keyword_valid(bad[i], strlen(bad[i])));

	assert_int_equal(store_keywords_check(NULL), STORE_OK);
	assert_int_equal(store_keywords_check("a b $c"), STORE_OK);
	assert_int_equal(store_keywords_check("a a A"), STORE_OK);
	assert_int_equal(store_keywords_check("a \\Seen"), STORE_EINVAL);
	assert_int_equal(store_keywords_check("a (b"), STORE_EINVAL);
	k128[STORE_KEYWORD_LEN_MAX] = 'k';
	k128[STORE_KEYWORD_LEN_MAX + 1] = '\0';
	assert_int_equal(store_keywords_check(k128), STORE_ELIMIT);
	/* STORE_KEYWORDS_MAX distinct ones, then one more. */
	char list[STORE_KEYWORDS_MAX * 8 + 16] = "";
	for (int i = 0; i < STORE_KEYWORDS_MAX; i++) {
		char w[16];
		snprintf(w, sizeof(w), "%sk%d", i ? " " : "", i);
		strcat(list, w);
	}
	assert_int_equal(store_keywords_check(list), STORE_OK);
	strcat(list, " K0");  /* a duplicate (case-insensitive): still fine */
	assert_int_equal(store_keywords_check(list), STORE_OK);
	strcat(list, " extra");
	assert_int_equal(store_keywords_check(list), STORE_ELIMIT);

	/* APPEND and STORE apply the same rules with the same results. */
	struct store_user *u = open_user("c-keywords");
	int64_t inbox = mailbox_id(u, "INBOX");
	struct store_append a;
	append_init(&a, "Subject: k\r\n\r\nk\r\n", 0, k128);
	assert_int_equal(store_append(u, "INBOX", &a, 1, NULL), STORE_ELIMIT);
	append_init(&a, "Subject: k\r\n\r\nk\r\n", 0, list);
	assert_int_equal(store_append(u, "INBOX", &a, 1, NULL), STORE_ELIMIT);
	append_init(&a, "Subject: k\r\n\r\nk\r\n", 0, "a\\b");
	assert_int_equal(store_append(u, "INBOX", &a, 1, NULL), STORE_EINVAL);
	uint32_t uid = append_msg(u, "INBOX", "Subject: k\r\n\r\nk\r\n", 0, "Foo foo $Bar FOO");
	struct store_msg m = get_one(u, inbox, uid);
	assert_string_equal(m.keywords, "Foo $Bar");  /* first spelling wins */
	free(m.keywords);
	assert_int_equal(store_flags(u, inbox, &uid, 1, STORE_FLAGS_ADD, 0, k128, 0, NULL, NULL,
				     NULL, NULL),
			 STORE_ELIMIT);
	assert_int_equal(store_flags(u, inbox, &uid, 1, STORE_FLAGS_ADD, 0, "x\\y", 0, NULL, NULL,
				     NULL, NULL),
			 STORE_EINVAL);
	assert_int_equal(store_flags(u, inbox, &uid, 1, (enum store_flag_mode)42, 0, NULL, 0, NULL,
				     NULL, NULL, NULL),
			 STORE_EINVAL);
	/* The per-message limit counts what the message would end up with:
	 * 99 new ones fit beside "Foo $Bar"? No: 101 > 100, refused whole. */
	char many[STORE_KEYWORDS_MAX * 8] = "";
	for (int i = 0; i < STORE_KEYWORDS_MAX - 1; i++) {
		char w[16];
		snprintf(w, sizeof(w), "%sm%d", i ? " " : "", i);
		strcat(many, w);
	}
	uint64_t before = modseq_of(u, "INBOX");
	assert_int_equal(store_flags(u, inbox, &uid, 1, STORE_FLAGS_ADD, 0, many, 0, NULL, NULL,
				     NULL, NULL),
			 STORE_ELIMIT);
	assert_int_equal(modseq_of(u, "INBOX"), before);
	m = get_one(u, inbox, uid);
	assert_string_equal(m.keywords, "Foo $Bar");
	free(m.keywords);
	/* Replacing (FLAGS) with the same 99 fits. */
	assert_int_equal(store_flags(u, inbox, &uid, 1, STORE_FLAGS_SET, 0, many, 0, NULL, NULL,
				     NULL, NULL),
			 STORE_OK);
	/* Keywords compare case-insensitively when removed. */
	assert_int_equal(store_flags(u, inbox, &uid, 1, STORE_FLAGS_REMOVE, 0, "M0 m1", 0, NULL,
				     NULL, NULL, NULL),
			 STORE_OK);
	m = get_one(u, inbox, uid);
	assert_non_null(m.keywords);
	assert_null(strstr(m.keywords, "m0 "));
	assert_true(strncmp(m.keywords, "m2 ", 3) == 0);
	free(m.keywords);
	store_user_close(u);
}

/* correct: the keywords in use in a mailbox (SELECT's FLAGS) and \Recent
 * claimed by exactly one caller (RFC 3501 2.3.2). */
static void test_mailbox_keywords_and_recent(void **state)
{
	struct store_user *u = open_user("c-mbkeywords");
	int64_t inbox = mailbox_id(u, "INBOX");
	char *kw = (char *)"x";
	assert_int_equal(store_mailbox_keywords(u, inbox, &kw), STORE_OK);
	assert_null(kw);
	append_msg(u, "INBOX", "Subject: 1\r\n\r\n1\r\n", 0, "$Junk Foo");
	append_msg(u, "INBOX", "Subject: 2\r\n\r\n2\r\n", 0, NULL);
	uint32_t uid3 = append_msg(u, "INBOX", "Subject: 3\r\n\r\n3\r\n", 0, "foo $Forwarded");
	assert_int_equal(store_mailbox_keywords(u, inbox, &kw), STORE_OK);
	assert_non_null(kw);
	/* Each keyword once, whatever the order of the lists. */
	assert_int_equal(strlen(kw), strlen("$Junk Foo $Forwarded"));
	assert_non_null(strstr(kw, "$Junk"));
	assert_non_null(strstr(kw, "$Forwarded"));
	assert_true(strstr(kw, "Foo") || strstr(kw, "foo"));
	free(kw);
	assert_int_equal(store_flags(u, inbox, &uid3, 1, STORE_FLAGS_SET, 0, NULL, 0, NULL, NULL,
				     NULL, NULL),
			 STORE_OK);
	assert_int_equal(store_mailbox_keywords(u, inbox, &kw), STORE_OK);
	assert_int_equal(strlen(kw), strlen("$Junk Foo"));
	free(kw);
	assert_int_equal(store_mailbox_keywords(u, 999999, &kw), STORE_OK);
	assert_null(kw);

	uint32_t fr, end;
	assert_int_equal(store_mailbox_take_recent(u, inbox, &fr, &end), STORE_OK);
	assert_int_equal(fr, 1);
	assert_int_equal(end, 4);
	append_msg(u, "INBOX", "Subject: 4\r\n\r\n4\r\n", 0, NULL);
	assert_int_equal(store_mailbox_take_recent(u, inbox, &fr, &end), STORE_OK);
	assert_int_equal(fr, 4);
	assert_int_equal(end, 5);
	assert_int_equal(store_mailbox_take_recent(u, inbox, &fr, &end), STORE_OK);
	assert_int_equal(fr, end);
	store_user_close(u);
}

/* ---- per backend ---- */

/* ---- invariant 13: quota (quota part) ---- */

static struct store_quota_usage usage_of(struct store_user *u)
{
	struct store_quota_usage us;
	assert_int_equal(store_quota_get(u, &us, NULL, NULL), STORE_OK);
	return us;
}

/* The counters equal a recount (which changes nothing then). */
static void assert_usage_exact(struct store_user *u)
{
	struct store_quota_usage stored, counted;
	assert_int_equal(store_quota_recount(u, &stored, &counted), STORE_OK);
	assert_int_equal(stored.storage, counted.storage);
	assert_int_equal(stored.messages, counted.messages);
	assert_int_equal(stored.mailboxes, counted.mailboxes);
}

static void set_limits(struct store_user *u, uint64_t kib, uint64_t msgs, uint64_t mbs)
{
	struct store_quota_limits own = { kib, msgs, mbs };
	assert_int_equal(store_quota_set(u, &own), STORE_OK);
}

static void test_quota_usage(void **state)
{
	struct store_user *u = open_user("c-quota-usage");
	struct store_quota_usage us = usage_of(u);
	assert_int_equal(us.storage, 0);
	assert_int_equal(us.messages, 0);
	assert_int_equal(us.mailboxes, mailbox_count(u));
	const char *m1 = "Subject: a\r\n\r\nhello\r\n", *m2 = "Subject: bb\r\n\r\nworld!\r\n";
	size_t l1 = strlen(m1), l2 = strlen(m2);
	int64_t inbox = mailbox_id(u, "INBOX");
	uint32_t uid1 = append_msg(u, "INBOX", m1, 0, NULL);
	append_msg(u, "INBOX", m2, 0, NULL);
	us = usage_of(u);
	assert_int_equal(us.storage, l1 + l2);
	assert_int_equal(us.messages, 2);
	/* COPY counts per message, although the blob is shared. */
	assert_int_equal(store_mailbox_create(u, "Q", NULL), STORE_OK);
	assert_int_equal(usage_of(u).mailboxes, mailbox_count(u));
	assert_int_equal(store_copy(u, inbox, &uid1, 1, "Q", false, NULL, NULL, NULL, NULL),
			 STORE_OK);
	assert_int_equal(usage_of(u).storage, 2 * l1 + l2);
	assert_int_equal(usage_of(u).messages, 3);
	/* MOVE changes nothing. */
	assert_int_equal(store_copy(u, inbox, &uid1, 1, "Q", true, NULL, NULL, NULL, NULL),
			 STORE_OK);
	assert_int_equal(usage_of(u).storage, 2 * l1 + l2);
	assert_int_equal(usage_of(u).messages, 3);
	assert_usage_exact(u);
	/* EXPUNGE and DELETE give back. */
	assert_int_equal(store_mailbox_delete(u, "Q"), STORE_OK);
	us = usage_of(u);
	assert_int_equal(us.storage, l2);
	assert_int_equal(us.messages, 1);
	assert_int_equal(us.mailboxes, mailbox_count(u));
	uint32_t uid2 = uid1 + 1;
	assert_int_equal(store_expunge(u, inbox, &uid2, 1), STORE_OK);
	assert_int_equal(usage_of(u).storage, 0);
	assert_int_equal(usage_of(u).messages, 0);
	/* RENAME of INBOX moves messages and adds a mailbox. */
	append_msg(u, "INBOX", m1, 0, NULL);
	assert_int_equal(store_mailbox_rename(u, "INBOX", "Old"), STORE_OK);
	assert_int_equal(usage_of(u).messages, 1);
	assert_int_equal(usage_of(u).mailboxes, mailbox_count(u));
	assert_usage_exact(u);
	store_user_close(u);
}

static void test_quota_limits(void **state)
{
	struct store_user *u = open_user("c-quota-limits");
	struct store_quota_limits own, eff;
	assert_int_equal(store_quota_get(u, NULL, &own, &eff), STORE_OK);
	assert_true(own.storage_kib == STORE_QUOTA_DEFAULT && own.messages == STORE_QUOTA_DEFAULT &&
		    own.mailboxes == STORE_QUOTA_DEFAULT);
	assert_int_equal(eff.storage_kib, 0);
	int64_t inbox = mailbox_id(u, "INBOX");
	/* MESSAGE: 2 messages. */
	set_limits(u, 0, 2, 0);
	uint32_t uid1 = append_msg(u, "INBOX", "Subject: 1\r\n\r\nx\r\n", 0, NULL);
	append_msg(u, "INBOX", "Subject: 2\r\n\r\nx\r\n", 0, NULL);
	struct store_append a;
	append_init(&a, "Subject: 3\r\n\r\nx\r\n", 0, NULL);
	assert_int_equal(store_append(u, "INBOX", &a, 1, NULL), STORE_EOVERQUOTA);
	assert_int_equal(usage_of(u).messages, 2);
	assert_int_equal(msg_count(u, inbox), 2);
	assert_int_equal(store_copy(u, inbox, &uid1, 1, "Trash", false, NULL, NULL, NULL, NULL),
			 STORE_EOVERQUOTA);
	/* At the limit, MOVE still works: usage does not grow. */
	assert_int_equal(store_copy(u, inbox, &uid1, 1, "Trash", true, NULL, NULL, NULL, NULL),
			 STORE_OK);
	assert_int_equal(usage_of(u).messages, 2);
	/* STORAGE, in KiB rounded up: 1 KiB holds a 1024-byte message, not
	 * one more byte. */
	set_limits(u, 1, 0, 0);
	assert_int_equal(store_expunge(u, inbox, &(uint32_t){ uid1 + 1 }, 1), STORE_OK);
	int64_t trash = mailbox_id(u, "Trash");
	struct store_msg *ms;
	size_t nm;
	assert_int_equal(store_msg_list(u, trash, 1, true, &ms, &nm), STORE_OK);
	assert_int_equal(store_expunge(u, trash, &ms[0].uid, 1), STORE_OK);
	store_msg_array_free(ms, nm);
	assert_int_equal(usage_of(u).storage, 0);
	char big[1025];
	memset(big, 'a', sizeof(big));
	memcpy(big, "Subject: b\r\n\r\n", 14);
	big[1024] = '\0';
	append_init(&a, big, 0, NULL);
	assert_int_equal(store_append(u, "INBOX", &a, 1, NULL), STORE_OK);
	append_init(&a, "x", 0, NULL);
	assert_int_equal(store_append(u, "INBOX", &a, 1, NULL), STORE_EOVERQUOTA);
	assert_int_equal(store_quota_storage_kib(usage_of(u).storage), 1);
	/* A lowered limit refuses only growth: EXPUNGE and MOVE still work. */
	set_limits(u, 0, 0, mailbox_count(u));
	assert_int_equal(store_mailbox_create(u, "More", NULL), STORE_EOVERQUOTA);
	assert_false(exists(u, "More"));
	assert_int_equal(store_mailbox_create(u, "INBOX", NULL), STORE_EEXIST);
	assert_int_equal(store_mailbox_delete(u, "Junk"), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "More", NULL), STORE_OK);
	/* Back to the defaults, which the process sets. */
	set_limits(u, STORE_QUOTA_DEFAULT, STORE_QUOTA_DEFAULT, STORE_QUOTA_DEFAULT);
	struct store_quota_limits def = { 0, 1, 0 };
	store_quota_defaults_set(&def);
	append_init(&a, "y", 0, NULL);
	assert_int_equal(store_append(u, "INBOX", &a, 1, NULL), STORE_EOVERQUOTA);
	assert_int_equal(store_quota_get(u, NULL, NULL, &eff), STORE_OK);
	assert_int_equal(eff.messages, 1);
	set_limits(u, STORE_QUOTA_DEFAULT, 0, STORE_QUOTA_DEFAULT);  /* own: unlimited */
	assert_int_equal(store_append(u, "INBOX", &a, 1, NULL), STORE_OK);
	store_quota_defaults_set(NULL);
	struct store_quota_limits bad = { (uint64_t)INT64_MAX + 1, 0, 0 };
	assert_int_equal(store_quota_set(u, &bad), STORE_EINVAL);
	assert_usage_exact(u);
	store_user_close(u);
}

#define QUOTA_THREADS 8
#define QUOTA_ROOM 3

struct quota_arg {
	int idx;
	int result;
};

static void *quota_thread(void *p)
{
	struct quota_arg *a = p;
	struct store_user *u = store_user_open("c-quota-race");
	char text[64];
	snprintf(text, sizeof(text), "Subject: racer %d\r\n\r\nbody\r\n", a->idx);
	struct store_append ap;
	append_init(&ap, text, 0, NULL);
	a->result = u ? store_append(u, "INBOX", &ap, 1, NULL) : STORE_EIO;
	store_user_close(u);
	return NULL;
}

/* Threads with their own handles race to append: exactly as many pass as
 * the MESSAGE limit leaves room for. */
static void test_quota_concurrent(void **state)
{
	struct store_user *u = open_user("c-quota-race");
	append_msg(u, "INBOX", "Subject: first\r\n\r\nx\r\n", 0, NULL);
	set_limits(u, 0, 1 + QUOTA_ROOM, 0);
	store_user_close(u);
	pthread_t th[QUOTA_THREADS];
	struct quota_arg args[QUOTA_THREADS];
	for (int i = 0; i < QUOTA_THREADS; i++) {
		args[i] = (struct quota_arg){ .idx = i };
		assert_int_equal(pthread_create(&th[i], NULL, quota_thread, &args[i]), 0);
	}
	int ok = 0, over = 0;
	for (int i = 0; i < QUOTA_THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += args[i].result == STORE_OK;
		over += args[i].result == STORE_EOVERQUOTA;
	}
	assert_int_equal(ok, QUOTA_ROOM);
	assert_int_equal(over, QUOTA_THREADS - QUOTA_ROOM);
	u = open_user("c-quota-race");
	assert_int_equal(usage_of(u).messages, 1 + QUOTA_ROOM);
	assert_usage_exact(u);
	store_user_close(u);
	store_cache_drop();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int group_setup(void **state)
{
	snprintf(g_root, sizeof(g_root), "/tmp/rampart-conformance-XXXXXX");
	if (!mkdtemp(g_root))
		return -1;
	char mail[300];
	snprintf(mail, sizeof(mail), "%s/mail", g_root);
	return store_init_backend(g_backend, mail) == STORE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	store_shutdown();
	nftw(g_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- search index (searchidx) ---- */

static uint32_t append_doc(struct store_user *u, const char *mailbox, const char *text,
			   const struct search_doc *doc)
{
	struct store_append a;
	append_init(&a, text, 0, NULL);
	a.search = doc;
	assert_int_equal(store_append(u, mailbox, &a, 1, NULL), STORE_OK);
	return a.uid;
}

/* A field rule for the test: the raw value contains ctx. */
static bool field_has(const char *value, size_t len, void *ctx)
{
	return memmem(value, len, ctx, strlen(ctx)) != NULL;
}

/* store_search_field() of field with field_has(needle) gives want[0..n). */
static void expect_field(struct store_user *u, int64_t mb, uint32_t min_uid, int field,
			 const char *needle, const uint32_t *want, size_t nwant)
{
	uint32_t *uids;
	size_t n;
	assert_int_equal(store_search_field(u, mb, min_uid, field, field_has, (void *)needle, &uids,
					    &n),
			 STORE_OK);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(uids[i], want[i]);
	free(uids);
}

/* The index answers exactly from what was stored with the message, shares
 * one entry per blob across COPY, lists what is missing, and forgets an
 * entry with its blob. */
static void test_search_index(void **state)
{
	struct store_user *u = open_user("conf-searchidx");
	int64_t inbox = mailbox_id(u, "INBOX");
	struct search_doc d1, d2, d4;
	doc_init(&d1, "Hello", "SUBJECT: HELLO\n", "WE WILL MEET IN ZANZIBAR");
	doc_init(&d2, "Other", "SUBJECT: OTHER\n", "ZANZ IBAR");
	doc_init(&d4, "Big", "SUBJECT: BIG\n", "ZANZIBAR");
	d4.body_partial = true;
	uint32_t u1 = append_doc(u, "INBOX", "Subject: Hello\r\n\r\n1\r\n", &d1);
	uint32_t u2 = append_doc(u, "INBOX", "Subject: Other\r\n\r\n2\r\n", &d2);
	uint32_t u3 = append_doc(u, "INBOX", "Subject: None\r\n\r\n3\r\n", NULL);
	uint32_t u4 = append_doc(u, "INBOX", "Subject: Big\r\n\r\n4\r\n", &d4);

	struct store_search_row *rows;
	size_t n;
	assert_int_equal(store_search_docs(u, inbox, 1, 1u << SEARCH_DOC_SUBJECT, &rows, &n),
			 STORE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(rows[0].uid, u1);
	assert_string_equal(rows[0].doc.field[SEARCH_DOC_SUBJECT], "Hello");
	assert_null(rows[0].doc.field[SEARCH_DOC_FROM]);
	assert_int_equal(rows[0].doc.sent_day, 19723);
	assert_false(rows[0].doc.body_partial);
	assert_int_equal(rows[1].uid, u2);
	assert_int_equal(rows[2].uid, u4);
	assert_true(rows[2].doc.body_partial);
	store_search_rows_free(rows, n);

	/* Exact substrings, not trigram candidates; partial entries never. */
	uint32_t *uids;
	assert_int_equal(store_search_text(u, inbox, "ZANZIBAR", true, &uids, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(uids[0], u1);
	free(uids);
	assert_int_equal(store_search_text(u, inbox, "AN", true, &uids, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(uids[0], u1);
	assert_int_equal(uids[1], u2);
	free(uids);
	assert_int_equal(store_search_text(u, inbox, "SUBJECT: OTH", true, &uids, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(uids);
	assert_int_equal(store_search_text(u, inbox, "SUBJECT: OTH", false, &uids, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(uids[0], u2);
	free(uids);
	assert_int_equal(store_search_text(u, inbox, "\"Q\" AND", false, &uids, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(uids);

	/* Header fields answered by the caller's rule, in UID order, from
	 * min_uid; coverage names what the index cannot answer for. */
	expect_field(u, inbox, 1, SEARCH_DOC_SUBJECT, "e", (uint32_t[]){ u1, u2 }, 2);
	expect_field(u, inbox, u2, SEARCH_DOC_SUBJECT, "", (uint32_t[]){ u2, u4 }, 2);
	expect_field(u, inbox, 1, SEARCH_DOC_FROM, "", NULL, 0);
	uint32_t *unidx, *part;
	size_t nunidx, npart;
	assert_int_equal(store_search_coverage(u, inbox, 1, &unidx, &nunidx, &part, &npart),
			 STORE_OK);
	assert_int_equal(nunidx, 1);
	assert_int_equal(unidx[0], u3);
	assert_int_equal(npart, 1);
	assert_int_equal(part[0], u4);
	free(unidx);
	free(part);

	/* What is missing: u3 only; once put, nothing. */
	int64_t cmb = 0;
	uint32_t cuid = 0;
	char (*blobs)[65];
	assert_int_equal(store_search_pending(u, &cmb, &cuid, 10, &blobs, &n), STORE_OK);
	assert_int_equal(n, 1);
	struct search_doc d3;
	doc_init(&d3, "None", "SUBJECT: NONE\n", "3");
	assert_int_equal(store_search_put(u, blobs, &d3, 1), STORE_OK);
	free(blobs);
	assert_int_equal(store_search_pending(u, &cmb, &cuid, 10, &blobs, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(blobs);
	cmb = 0;
	cuid = 0;
	assert_int_equal(store_search_pending(u, &cmb, &cuid, 10, &blobs, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(blobs);
	assert_int_equal(store_search_docs(u, inbox, u3, 0, &rows, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].uid, u3);
	store_search_rows_free(rows, n);
	/* An entry put after its message covers it. */
	assert_int_equal(store_search_coverage(u, inbox, 1, &unidx, &nunidx, &part, &npart),
			 STORE_OK);
	assert_int_equal(nunidx, 0);
	assert_int_equal(npart, 1);
	free(unidx);
	free(part);
	expect_field(u, inbox, 1, SEARCH_DOC_SUBJECT, "None", &u3, 1);

	/* COPY shares the entry. */
	assert_int_equal(store_mailbox_create(u, "Copies", NULL), STORE_OK);
	uint32_t one[1] = { u1 }, *src, *dst;
	assert_int_equal(store_copy(u, inbox, one, 1, "Copies", false, NULL, &src, &dst, &n),
			 STORE_OK);
	assert_int_equal(n, 1);
	uint32_t c1 = dst[0];
	free(src);
	free(dst);
	int64_t copies = mailbox_id(u, "Copies");
	assert_int_equal(store_search_text(u, copies, "ZANZIBAR", true, &uids, &n), STORE_OK);
	assert_int_equal(n, 1);
	free(uids);
	expect_field(u, copies, 1, SEARCH_DOC_SUBJECT, "Hell", &c1, 1);

	/* Gone with the last message of its blob: a late put is skipped. */
	assert_int_equal(store_expunge(u, inbox, one, 1), STORE_OK);
	assert_int_equal(store_search_text(u, copies, "ZANZIBAR", true, &uids, &n), STORE_OK);
	assert_int_equal(n, 1);
	free(uids);
	assert_int_equal(store_expunge(u, copies, &c1, 1), STORE_OK);
	assert_int_equal(store_search_text(u, copies, "ZANZIBAR", true, &uids, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(uids);
	char gone[1][65];
	memset(gone[0], 'a', 64);
	gone[0][64] = '\0';
	assert_int_equal(store_search_put(u, gone, &d1, 1), STORE_OK);
	assert_int_equal(store_search_docs(u, copies, 1, 0, &rows, &n), STORE_OK);
	assert_int_equal(n, 0);
	store_search_rows_free(rows, n);
	store_user_close(u);
}

/* search_gc (issue #14): expunging a blob's last message makes its entry
 * unreachable at once; the entry itself is removed later, in a batch, by
 * store_search_gc or inside the next store_search_put, unless the same
 * bytes came back meanwhile (their message then has it at once). */
static void test_search_gc(void **state)
{
	(void)state;
	struct store_user *u = open_user("conf-searchgc");
	int64_t inbox = mailbox_id(u, "INBOX");
	const char *quokka = "Subject: Quokka\r\n\r\nquokka\r\n";
	struct search_doc dq, dw;
	doc_init(&dq, "Quokka", "SUBJECT: QUOKKA\n", "A QUOKKA ON ROTTNEST");
	uint32_t a = append_doc(u, "INBOX", quokka, &dq);
	assert_int_equal(text_hits(u, inbox, "QUOKKA"), 1);
	assert_int_equal(store_expunge(u, inbox, &a, 1), STORE_OK);
	assert_int_equal(text_hits(u, inbox, "QUOKKA"), 0);

	/* The same bytes again before the removal: the entry is theirs. */
	uint32_t b = append_doc(u, "INBOX", quokka, NULL);
	assert_int_equal(unindexed(u, NULL), 0);
	assert_int_equal(text_hits(u, inbox, "QUOKKA"), 1);
	bool more = true;
	assert_int_equal(store_search_gc(u, &more), STORE_OK);
	assert_false(more);
	assert_int_equal(text_hits(u, inbox, "QUOKKA"), 1);

	/* Removed by store_search_gc: the bytes come back without one. */
	assert_int_equal(store_expunge(u, inbox, &b, 1), STORE_OK);
	assert_int_equal(store_search_gc(u, &more), STORE_OK);
	uint32_t c = append_doc(u, "INBOX", quokka, NULL);
	assert_int_equal(unindexed(u, NULL), 1);
	assert_int_equal(text_hits(u, inbox, "QUOKKA"), 0);
	assert_int_equal(store_expunge(u, inbox, &c, 1), STORE_OK);

	/* Removed inside the put of another entry. */
	const char *wombat = "Subject: Wombat\r\n\r\nwombat\r\n";
	doc_init(&dw, "Wombat", "SUBJECT: WOMBAT\n", "A WOMBAT IN TASMANIA");
	uint32_t w = append_doc(u, "INBOX", wombat, &dw);
	assert_int_equal(store_expunge(u, inbox, &w, 1), STORE_OK);
	append_doc(u, "INBOX", "Subject: Emu\r\n\r\nemu\r\n", NULL);
	char(*blobs)[65];
	assert_int_equal(unindexed(u, &blobs), 1);
	struct search_doc de;
	doc_init(&de, "Emu", "SUBJECT: EMU\n", "AN EMU");
	assert_int_equal(store_search_put(u, blobs, &de, 1), STORE_OK);
	free(blobs);
	assert_int_equal(text_hits(u, inbox, "EMU"), 1);
	append_doc(u, "INBOX", wombat, NULL);
	assert_int_equal(unindexed(u, NULL), 1);
	assert_int_equal(text_hits(u, inbox, "WOMBAT"), 0);
	assert_int_equal(store_search_gc(u, &more), STORE_OK);
	assert_false(more);
	store_user_close(u);
}

/* Another handle of the user (another thread's) appends one message. */
static void *hold_writer(void *arg)
{
	struct store_user *w = store_user_open(arg);
	assert_non_null(w);
	append_msg(w, "INBOX", "Subject: other\r\n\r\nother\r\n", 0, NULL);
	store_user_close(w);
	return NULL;
}

/* fetchtx (issue #14): reads between store_read_hold and
 * store_read_release share one snapshot; a write of this handle in
 * between ends it (and succeeds); holds nest. */
static void test_read_hold(void **state)
{
	(void)state;
	struct store_user *u = open_user("conf-hold");
	int64_t inbox = mailbox_id(u, "INBOX");
	append_msg(u, "INBOX", "Subject: one\r\n\r\none\r\n", 0, NULL);
	store_read_hold(u);
	store_read_hold(u);
	assert_int_equal(msg_count(u, inbox), 1);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, hold_writer, "conf-hold"), 0);
	pthread_join(th, NULL);
	assert_int_equal(msg_count(u, inbox), 1); /* the snapshot */
	store_read_release(u);
	assert_int_equal(msg_count(u, inbox), 1); /* still held once */
	store_read_release(u);
	assert_int_equal(msg_count(u, inbox), 2);

	store_read_hold(u);
	assert_int_equal(msg_count(u, inbox), 2);
	append_msg(u, "INBOX", "Subject: three\r\n\r\nthree\r\n", 0, NULL);
	assert_int_equal(msg_count(u, inbox), 3);
	assert_int_equal(pthread_create(&th, NULL, hold_writer, "conf-hold"), 0);
	pthread_join(th, NULL);
	assert_int_equal(msg_count(u, inbox), 4); /* no snapshot after the write */
	store_read_release(u);
	store_read_release(u); /* unbalanced: ignored */
	append_msg(u, "INBOX", "Subject: five\r\n\r\nfive\r\n", 0, NULL);
	assert_int_equal(msg_count(u, inbox), 5);
	store_user_close(u);
}

/* metadata (issue #12, RFC 5464): entries per mailbox and for the server,
 * trees by depth, binary values, all-or-nothing sets within the limits;
 * RENAME keeps a mailbox's entries, DELETE drops them. */
static struct store_meta_entry meta_e(const char *name, const char *value, size_t len)
{
	return (struct store_meta_entry){ (char *)name, (char *)value, len };
}

static size_t meta_count(struct store_user *u, const char *mailbox, const char *root, int depth)
{
	char *names[1] = { (char *)root };
	struct store_meta_entry *e;
	size_t n;
	assert_int_equal(store_meta_get(u, mailbox, names, 1, depth, &e, &n), STORE_OK);
	store_meta_entries_free(e, n);
	return n;
}

static void test_metadata(void **state)
{
	(void)state;
	struct store_user *u = open_user("meta");
	const struct store_meta_limits lim = { 16, 4, 200 };
	enum store_meta_limit hit;
	assert_int_equal(store_mailbox_create(u, "M", NULL), STORE_OK);
	struct store_meta_entry set[4] = {
		meta_e("/private/a", "one", 3), meta_e("/private/a/b", "x\0y", 3),
		meta_e("/private/a/b/c", "", 0), meta_e("/shared/a", "s", 1),
	};
	assert_int_equal(store_meta_set(u, "M", set, 4, &lim, &hit), STORE_OK);
	assert_int_equal(meta_count(u, "M", "/private/a", 0), 1);
	assert_int_equal(meta_count(u, "M", "/private/a", 1), 2);
	assert_int_equal(meta_count(u, "M", "/private/a", -1), 3);
	assert_int_equal(meta_count(u, "M", "/private", -1), 3);
	assert_int_equal(meta_count(u, NULL, "/private", -1), 0);
	char *names[2] = { "/private/a/b", "/private/a" };
	struct store_meta_entry *e;
	size_t n;
	assert_int_equal(store_meta_get(u, "M", names, 2, -1, &e, &n), STORE_OK);
	assert_int_equal(n, 3); /* each once, sorted */
	assert_string_equal(e[0].name, "/private/a");
	assert_int_equal(e[1].len, 3);
	assert_memory_equal(e[1].value, "x\0y", 3);
	assert_int_equal(e[2].len, 0);
	assert_non_null(e[2].value);
	store_meta_entries_free(e, n);
	/* Names reach the store checked and lowercased, or not at all. */
	struct store_meta_entry upper = meta_e("/Private/A", "v", 1);
	assert_int_equal(store_meta_set(u, "M", &upper, 1, &lim, &hit), STORE_EINVAL);
	/* Limits, all or nothing; a change that does not grow is never refused. */
	struct store_meta_entry big = meta_e("/private/big", "0123456789abcdefX", 17);
	assert_int_equal(store_meta_set(u, "M", &big, 1, &lim, &hit), STORE_ELIMIT);
	assert_int_equal(hit, STORE_META_LIMIT_VALUE);
	struct store_meta_entry two[2] = { meta_e("/private/a", NULL, 0), meta_e("/private/e", "e", 1) };
	struct store_meta_entry more[2] = { meta_e("/private/f", "f", 1), meta_e("/private/g", "g", 1) };
	assert_int_equal(store_meta_set(u, "M", more, 2, &lim, &hit), STORE_ELIMIT);
	assert_int_equal(hit, STORE_META_LIMIT_ENTRIES);
	assert_int_equal(meta_count(u, "M", "/private", -1), 3);
	assert_int_equal(store_meta_set(u, "M", two, 2, &lim, &hit), STORE_OK);
	assert_int_equal(meta_count(u, "M", "/private", -1), 3);
	/* The bytes of the whole store, server entries included. */
	struct store_meta_entry srv[4] = {
		meta_e("/private/s1", "0123456789abcdef", 16), meta_e("/private/s2", "0123456789abcdef", 16),
		meta_e("/private/s3", "0123456789abcdef", 16), meta_e("/private/s4", "0123456789abcdef", 16),
	};
	assert_int_equal(store_meta_set(u, NULL, srv, 4, &lim, &hit), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "N", NULL), STORE_OK);
	assert_int_equal(store_meta_set(u, "N", srv, 2, &lim, &hit), STORE_ELIMIT);
	assert_int_equal(hit, STORE_META_LIMIT_TOTAL);
	assert_int_equal(meta_count(u, "N", "/private", -1), 0);
	/* RENAME keeps, DELETE drops (a new mailbox of the name has none). */
	assert_int_equal(store_mailbox_rename(u, "M", "M2"), STORE_OK);
	assert_int_equal(meta_count(u, "M2", "/private", -1), 3);
	assert_int_equal(store_mailbox_delete(u, "M2"), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "M2", NULL), STORE_OK);
	assert_int_equal(meta_count(u, "M2", "/private", -1), 0);
	assert_int_equal(meta_count(u, NULL, "/private", -1), 4);
	char *missing[1] = { "/private/a" };
	assert_int_equal(store_meta_get(u, "Nope", missing, 1, 0, &e, &n), STORE_ENOENT);
	assert_int_equal(store_meta_set(u, "Nope", srv, 1, &lim, &hit), STORE_ENOENT);
	store_user_close(u);
}

/* ---- preview: RFC 8970 preview text, RFC 8508 REPLACE ---- */

static void test_preview_text(void **state)
{
	(void)state;
	struct store_user *u = open_user("conf-preview");
	int64_t inbox = mailbox_id(u, "INBOX");
	struct store_append a;
	append_init(&a, "Subject: p\r\n\r\nhello\r\n", 0, NULL);
	a.preview = "hello";
	assert_int_equal(store_append(u, "INBOX", &a, 1, NULL), STORE_OK);
	uint32_t u1 = a.uid;
	append_init(&a, "Subject: e\r\n\r\n", 0, NULL);
	a.preview = "";
	assert_int_equal(store_append(u, "INBOX", &a, 1, NULL), STORE_OK);
	uint32_t u2 = a.uid;
	uint32_t u3 = append_msg(u, "INBOX", "Subject: later\r\n\r\nlater\r\n", 0, NULL);
	char *p;
	assert_int_equal(store_msg_preview(u, inbox, u1, &p), STORE_OK);
	assert_string_equal(p, "hello");
	free(p);
	/* "" is a made, empty preview; NULL none made yet. */
	assert_int_equal(store_msg_preview(u, inbox, u2, &p), STORE_OK);
	assert_string_equal(p, "");
	free(p);
	assert_int_equal(store_msg_preview(u, inbox, u3, &p), STORE_OK);
	assert_null(p);
	assert_int_equal(store_msg_preview(u, inbox, 999, &p), STORE_ENOENT);

	int64_t cmb = 0;
	uint32_t cuid = 0;
	char (*blobs)[65];
	size_t n;
	assert_int_equal(store_preview_pending(u, &cmb, &cuid, 10, &blobs, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(cuid, u3);
	char *made[1] = { "later" };
	assert_int_equal(store_preview_put(u, blobs, made, 1), STORE_OK);
	free(blobs);
	cmb = 0;
	cuid = 0;
	assert_int_equal(store_preview_pending(u, &cmb, &cuid, 10, &blobs, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(blobs);
	assert_int_equal(store_msg_preview(u, inbox, u3, &p), STORE_OK);
	assert_string_equal(p, "later");
	free(p);

	/* COPY shares it; a put for a blob no message has is skipped. */
	assert_int_equal(store_mailbox_create(u, "Copies", NULL), STORE_OK);
	uint32_t one[1] = { u1 }, *src, *dst;
	assert_int_equal(store_copy(u, inbox, one, 1, "Copies", true, NULL, &src, &dst, &n),
			 STORE_OK);
	int64_t copies = mailbox_id(u, "Copies");
	assert_int_equal(store_msg_preview(u, copies, dst[0], &p), STORE_OK);
	assert_string_equal(p, "hello");
	free(p);
	free(src);
	free(dst);
	char gone[1][65];
	memset(gone[0], 'a', 64);
	gone[0][64] = '\0';
	assert_int_equal(store_preview_put(u, gone, made, 1), STORE_OK);
	cmb = 0;
	cuid = 0;
	assert_int_equal(store_preview_pending(u, &cmb, &cuid, 10, &blobs, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(blobs);
	store_user_close(u);
}

static void test_replace(void **state)
{
	(void)state;
	struct store_user *u = open_user("conf-replace");
	int64_t inbox = mailbox_id(u, "INBOX");
	uint32_t u1 = append_msg(u, "INBOX", "Subject: v1\r\n\r\n1\r\n", 0, NULL);
	uint32_t u2 = append_msg(u, "INBOX", "Subject: keep\r\n\r\n2\r\n", 0, NULL);
	uint64_t before = modseq_of(u, "INBOX");

	/* Same mailbox: one transaction, one modseq (invariant 1). */
	struct store_append a;
	append_init(&a, "Subject: v2\r\n\r\n3\r\n", MAIL_FLAG_DRAFT, NULL);
	uint32_t uv = 0;
	assert_int_equal(store_replace(u, inbox, u1, "INBOX", &a, &uv), STORE_OK);
	assert_true(uv != 0);
	uint32_t u3 = a.uid;
	assert_true(u3 > u2);
	assert_int_equal(modseq_of(u, "INBOX"), before + 1);
	assert_int_equal(msg_count(u, inbox), 2);
	struct store_msg *ch;
	uint32_t *exp;
	size_t nch, nexp;
	assert_int_equal(store_changes(u, inbox, before, &ch, &nch, &exp, &nexp), STORE_OK);
	assert_int_equal(nch, 1);
	assert_int_equal(ch[0].uid, u3);
	assert_int_equal(ch[0].modseq, before + 1);
	assert_int_equal(nexp, 1);
	assert_int_equal(exp[0], u1);
	store_msg_array_free(ch, nch);
	free(exp);

	/* Another mailbox; the replaced message's mailbox gets its own modseq. */
	assert_int_equal(store_mailbox_create(u, "Other", NULL), STORE_OK);
	int64_t other = mailbox_id(u, "Other");
	before = modseq_of(u, "INBOX");
	append_init(&a, "Subject: v3\r\n\r\n4\r\n", 0, NULL);
	assert_int_equal(store_replace(u, inbox, u3, "Other", &a, &uv), STORE_OK);
	assert_int_equal(msg_count(u, inbox), 1);
	assert_int_equal(msg_count(u, other), 1);
	assert_int_equal(modseq_of(u, "INBOX"), before + 1);

	/* Nothing happens when either side is missing. */
	append_init(&a, "Subject: v4\r\n\r\n5\r\n", 0, NULL);
	assert_int_equal(store_replace(u, inbox, u1, "INBOX", &a, &uv), STORE_ECANNOT);
	assert_int_equal(store_replace(u, inbox, u2, "Nowhere", &a, &uv), STORE_ENOENT);
	assert_int_equal(msg_count(u, inbox), 1);
	assert_int_equal(msg_count(u, other), 1);
	assert_int_equal(store_replace(u, inbox, 0, "INBOX", &a, &uv), STORE_EINVAL);
	store_user_close(u);
}

/* ---- migrate (issue #13): the import path keeps invariants 2 and 3 ---- */

static void test_import(void **state)
{
	(void)state;
	struct store_user *u = open_user("c-import");
	struct store_mailbox inbox = status_of(u, "INBOX");
	uint32_t native = inbox.uidvalidity;
	store_mailbox_clear(&inbox);
	/* An empty INBOX is adopted with the old server's UIDVALIDITY; a new
	 * mailbox is created with one; a second run changes nothing. */
	assert_int_equal(store_import_mailbox(u, "INBOX", NULL, 1000), STORE_OK);
	assert_int_equal(store_import_mailbox(u, "INBOX", NULL, 1000), STORE_OK);
	assert_int_equal(store_import_mailbox(u, "Old/Sub", NULL, 1001), STORE_OK);
	struct store_mailbox mb = status_of(u, "Old/Sub");
	assert_int_equal(mb.uidvalidity, 1001);
	assert_int_equal(mb.uidnext, 1);
	store_mailbox_clear(&mb);
	/* A mailbox that never held a message (made with the store, like
	 * Drafts here) gives its value up for a fresh, greater one: no
	 * client can have cached a UID under it. */
	struct store_mailbox drafts = status_of(u, "Drafts");
	assert_int_equal(drafts.uidnext, 1);
	assert_int_equal(store_import_mailbox(u, "B", NULL, drafts.uidvalidity), STORE_OK);
	mb = status_of(u, "B");
	assert_int_equal(mb.uidvalidity, drafts.uidvalidity);
	store_mailbox_clear(&mb);
	mb = status_of(u, "Drafts");
	assert_true(mb.uidvalidity > drafts.uidvalidity);
	store_mailbox_clear(&mb);
	store_mailbox_clear(&drafts);
	/* Invariant 3: a value in use (by a mailbox that holds or held
	 * mail), imported before, or one the store may have given to a
	 * deleted mailbox is refused. */
	struct store_append held;
	append_init(&held, "Subject: held\r\n\r\nx\r\n", 0, NULL);
	uint32_t held_uv;
	assert_int_equal(store_append(u, "Sent", &held, 1, &held_uv), STORE_OK);
	struct store_mailbox sent = status_of(u, "Sent");
	assert_int_equal(store_import_mailbox(u, "A", NULL, sent.uidvalidity), STORE_ECANNOT);
	assert_int_equal(store_import_mailbox(u, "A", NULL, 1001), STORE_ECANNOT);
	/* The value the adopted INBOX gave up named no message: free. */
	assert_int_equal(store_import_mailbox(u, "Was-inbox", NULL, native), STORE_OK);
	assert_int_equal(store_mailbox_delete(u, "Old/Sub"), STORE_OK);
	assert_int_equal(store_import_mailbox(u, "A", NULL, 1001), STORE_ECANNOT);
	assert_int_equal(store_mailbox_delete(u, "Sent"), STORE_OK);
	assert_int_equal(store_import_mailbox(u, "A", NULL, sent.uidvalidity), STORE_ECANNOT);
	store_mailbox_clear(&sent);
	assert_false(exists(u, "A"));
	/* A value above the counter moves the counter: the next native
	 * mailbox gets a greater one. */
	assert_int_equal(store_import_mailbox(u, "Future", NULL, 4000000000u), STORE_OK);
	assert_int_equal(store_mailbox_create(u, "Later", NULL), STORE_OK);
	mb = status_of(u, "Later");
	assert_true(mb.uidvalidity > 4000000000u);
	store_mailbox_clear(&mb);

	/* Invariant 2: chosen UIDs ascending from UIDNEXT, with gaps. */
	struct store_append a[3];
	append_init(&a[0], "Subject: 1\r\n\r\n1\r\n", MAIL_FLAG_SEEN, "$Label1");
	append_init(&a[1], "Subject: 2\r\n\r\n2\r\n", 0, NULL);
	append_init(&a[2], "Subject: 3\r\n\r\n3\r\n", 0, NULL);
	a[0].want_uid = 5;
	a[1].want_uid = 9;
	a[2].want_uid = 0; /* the next: 10 */
	uint32_t uv = 0;
	assert_int_equal(store_import_append(u, "INBOX", a, 3, &uv), STORE_OK);
	assert_int_equal(uv, 1000);
	assert_int_equal(a[0].uid, 5);
	assert_int_equal(a[1].uid, 9);
	assert_int_equal(a[2].uid, 10);
	/* Below UIDNEXT or out of order: refused, nothing written. */
	a[0].want_uid = 7;
	assert_int_equal(store_import_append(u, "INBOX", a, 1, &uv), STORE_EINVAL);
	a[0].want_uid = 20;
	a[1].want_uid = 15;
	assert_int_equal(store_import_append(u, "INBOX", a, 2, &uv), STORE_EINVAL);
	/* store_append ignores want_uid. */
	a[0].want_uid = 100;
	assert_int_equal(store_append(u, "INBOX", a, 1, &uv), STORE_OK);
	assert_int_equal(a[0].uid, 11);
	int64_t id = mailbox_id(u, "INBOX");
	assert_int_equal(msg_count(u, id), 4);
	/* UIDNEXT is raised, never lowered. */
	assert_int_equal(store_import_uidnext(u, "INBOX", 50), STORE_OK);
	assert_int_equal(store_import_uidnext(u, "INBOX", 20), STORE_OK);
	mb = status_of(u, "INBOX");
	assert_int_equal(mb.uidnext, 50);
	store_mailbox_clear(&mb);
	/* A mailbox that held messages keeps its UIDVALIDITY. */
	assert_int_equal(store_import_mailbox(u, "INBOX", NULL, 999), STORE_EEXIST);
	assert_int_equal(store_import_uidnext(u, "Nowhere", 5), STORE_ENOENT);
	store_user_close(u);
}

/* ---- bigsel (issue #14): store_msg_flags_as answers as store_msg_list ---- */

static void test_msg_flags_list(void **state)
{
	struct store_user *u = open_user("c-flaglist");
	int64_t inbox = mailbox_id(u, "INBOX");
	const char *kws[] = { NULL, "$Junk", "work urgent", NULL, "$Junk" };
	struct store_append a[12];
	for (size_t i = 0; i < 12; i++)
		append_init(&a[i], "Subject: f\r\n\r\nf\r\n", (uint32_t)(i * 5) & MAIL_FLAGS_STORED,
			    kws[i % 5]);
	assert_int_equal(store_append(u, "INBOX", a, 12, NULL), STORE_OK);
	/* A UID gap and a later change of one message's flags. */
	assert_int_equal(store_expunge(u, inbox, &a[4].uid, 1), STORE_OK);
	struct store_msg *ch;
	size_t nch;
	uint32_t *failed;
	size_t nfailed;
	assert_int_equal(store_flags(u, inbox, &a[7].uid, 1, STORE_FLAGS_ADD, MAIL_FLAG_FLAGGED,
				     "later", 0, &ch, &nch, &failed, &nfailed),
			 STORE_OK);
	store_msg_array_free(ch, nch);
	free(failed);
	struct store_msg *m;
	size_t n;
	assert_int_equal(store_msg_list(u, inbox, 1, false, &m, &n), STORE_OK);
	assert_int_equal(n, 11);
	struct store_flag_list l;
	assert_int_equal(store_msg_flags_as(u, inbox, NULL, 1, UINT32_MAX, true, &l), STORE_OK);
	assert_int_equal(l.n, n);
	uint64_t maxmod = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(l.uids[i], m[i].uid);
		assert_int_equal(l.flags[i], m[i].flags);
		assert_int_equal(l.modseqs[i], m[i].modseq);
		const char *kw = l.kws[l.kw[i]];
		assert_true((kw == NULL) == (m[i].keywords == NULL));
		if (kw)
			assert_string_equal(kw, m[i].keywords);
		if (m[i].modseq > maxmod)
			maxmod = m[i].modseq;
	}
	assert_int_equal(l.max_modseq, maxmod);
	/* Interned: "$Junk" is stored once. */
	size_t junk = 0;
	for (size_t i = 1; i < l.nkws; i++)
		junk += strcmp(l.kws[i], "$Junk") == 0;
	assert_int_equal(junk, 1);
	store_flag_list_free(&l);
	/* A range: only its messages, no keywords asked. */
	assert_int_equal(store_msg_flags_as(u, inbox, NULL, a[2].uid, a[6].uid, false, &l),
			 STORE_OK);
	assert_int_equal(l.n, 4); /* a[4] is gone */
	assert_int_equal(l.uids[0], a[2].uid);
	assert_null(l.kw);
	store_flag_list_free(&l);
	store_msg_array_free(m, n);
	/* Empty mailbox: OK and nothing; no such mailbox: ENOENT. */
	assert_int_equal(store_mailbox_create(u, "Empty", NULL), STORE_OK);
	assert_int_equal(store_msg_flags_as(u, mailbox_id(u, "Empty"), NULL, 1, UINT32_MAX, true, &l),
			 STORE_OK);
	assert_int_equal(l.n, 0);
	store_flag_list_free(&l);
	assert_int_equal(store_msg_flags_as(u, 987654, NULL, 1, UINT32_MAX, false, &l),
			 STORE_ENOENT);
	store_user_close(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modseq_per_transaction),
		cmocka_unit_test(test_uids_never_reused),
		cmocka_unit_test(test_uidvalidity_never_reused),
		cmocka_unit_test(test_acknowledged_is_durable),
		cmocka_unit_test(test_multiappend_atomic),
		cmocka_unit_test(test_copy_move_uid_mapping),
		cmocka_unit_test(test_changes_since),
		cmocka_unit_test(test_notifications),
		cmocka_unit_test(test_mailbox_ids_not_reused),
		cmocka_unit_test(test_inbox_rules),
		cmocka_unit_test(test_rename_tree),
		cmocka_unit_test(test_subscriptions),
		cmocka_unit_test(test_mailbox_limit),
		cmocka_unit_test(test_blob_bytes),
		cmocka_unit_test(test_name_rules),
		cmocka_unit_test(test_keyword_rules),
		cmocka_unit_test(test_mailbox_keywords_and_recent),
		cmocka_unit_test(test_expunge_history_ranges),
		cmocka_unit_test(test_quota_usage),
		cmocka_unit_test(test_quota_limits),
		cmocka_unit_test(test_quota_concurrent),
		cmocka_unit_test(test_search_index),
		cmocka_unit_test(test_search_gc),
		cmocka_unit_test(test_read_hold),
		cmocka_unit_test(test_metadata), /* metadata (issue #12) */
		cmocka_unit_test(test_preview_text),
		cmocka_unit_test(test_replace),
		/* migrate (issue #13) */
		cmocka_unit_test(test_import),
		/* bigsel (issue #14) */
		cmocka_unit_test(test_msg_flags_list),
	};
	const char *only = getenv("RAMPART_STORE_BACKEND");
	int failed = 0, ran = 0;
	for (size_t i = 0; store_backend_name(i); i++) {
		g_backend = store_backend_name(i);
		if (only && *only && strcmp(only, g_backend) != 0)
			continue;
		ran++;
		size_t ntests = sizeof(tests) / sizeof(tests[0]);
		failed += _cmocka_run_group_tests(g_backend, tests, ntests, group_setup,
						  group_teardown);
	}
	if (ran == 0) {
		fprintf(stderr, "no store backend named %s\n", only);
		return 1;
	}
	return failed;
}
