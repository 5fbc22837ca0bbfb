/* Private \Seen in shared mailboxes (issue #12 aclseen), the store's
 * promise (store.h "Private \Seen"), through the public interface only:
 * a reader's \Seen is its own, the owner's is the message's; a reader's
 * change takes a new modseq that only that reader sees; the other flags
 * stay shared; UNCHANGEDSINCE compares the reader's modseq; rows follow
 * their message (expunge, RENAME of INBOX). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/flags.h"
#include "store/store.h"
#include "store_test_util.h"

#define TEXT "Subject: p\r\n\r\np\r\n"

/* \Seen of msgs[0..n) as a bit per position (bit i: msgs[i] seen). */
static unsigned seen_bits(const struct store_msg *m, size_t n)
{
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++)
		if (m[i].flags & MAIL_FLAG_SEEN)
			bits |= 1u << i;
	return bits;
}

/* The mailbox's messages as reader sees them (NULL: the owner). */
static unsigned view_of(struct store_user *u, int64_t mb, const char *reader,
			struct store_msg **out, size_t *n)
{
	assert_int_equal(store_msg_list(u, mb, 1, false, out, n), STORE_OK);
	assert_int_equal(store_pvtseen_apply(u, mb, reader, *out, *n), STORE_OK);
	return seen_bits(*out, *n);
}

static unsigned seen_of(struct store_user *u, int64_t mb, const char *reader)
{
	struct store_msg *m;
	size_t n;
	unsigned bits = view_of(u, mb, reader, &m, &n);
	store_msg_array_free(m, n);
	return bits;
}

static uint32_t unseen_of(struct store_user *u, const char *name, const char *reader)
{
	struct store_mailbox mb = status_of(u, name);
	assert_int_equal(store_pvtseen_status(u, reader, &mb), STORE_OK);
	uint32_t unseen = mb.unseen;
	store_mailbox_clear(&mb);
	return unseen;
}

static int set_seen(struct store_user *u, const char *reader, int64_t mb, uint32_t uid,
		    enum store_flag_mode mode, uint32_t flags, uint64_t unchangedsince,
		    size_t *nchanged, size_t *nfailed)
{
	struct store_msg *ch = NULL;
	uint32_t *fl = NULL;
	size_t nch = 0, nfl = 0;
	int r = store_flags_as(u, reader, mb, &uid, 1, mode, flags, NULL, unchangedsince, &ch,
			       &nch, &fl, &nfl);
	store_msg_array_free(ch, nch);
	free(fl);
	if (nchanged)
		*nchanged = nch;
	if (nfailed)
		*nfailed = nfl;
	return r;
}

static void test_readers_have_own_seen(void **state)
{
	(void)state;
	struct store_user *u = store_user_open("pvt-owner");
	assert_non_null(u);
	assert_int_equal(store_mailbox_create(u, "Team", NULL), STORE_OK);
	int64_t mb = mailbox_id(u, "Team");
	uint32_t uids[3];
	uids[0] = append_msg(u, "Team", TEXT, 0, NULL);
	uids[1] = append_msg(u, "Team", TEXT, 0, NULL);
	uids[2] = append_msg(u, "Team", TEXT, MAIL_FLAG_SEEN, NULL); /* the owner's */
	struct store_mailbox st = status_of(u, "Team");
	uint64_t base = st.highestmodseq;
	store_mailbox_clear(&st);

	/* The owner's \Seen is not a reader's. */
	assert_int_equal(seen_of(u, mb, NULL), 4u);
	assert_int_equal(seen_of(u, mb, "bob"), 0u);

	struct store_msg *ch;
	size_t nch;
	uint32_t *fl;
	size_t nfl;
	assert_int_equal(store_flags_as(u, "bob", mb, &uids[0], 1, STORE_FLAGS_ADD,
					MAIL_FLAG_SEEN, NULL, 0, &ch, &nch, &fl, &nfl),
			 STORE_OK);
	assert_int_equal(nch, 1);
	assert_int_equal(ch[0].flags, MAIL_FLAG_SEEN);
	uint64_t after = ch[0].modseq;
	assert_true(after > base);
	store_msg_array_free(ch, nch);
	free(fl);
	st = status_of(u, "Team");
	assert_int_equal(st.highestmodseq, after); /* one modseq per transaction */
	store_mailbox_clear(&st);

	assert_int_equal(seen_of(u, mb, "bob"), 1u);
	assert_int_equal(seen_of(u, mb, "carol"), 0u);
	assert_int_equal(seen_of(u, mb, NULL), 4u);
	/* The message itself did not change: its modseq is the old one. */
	struct store_msg m = get_one(u, mb, uids[0]);
	assert_true(m.modseq <= base);
	assert_int_equal(m.flags & MAIL_FLAG_SEEN, 0);
	free(m.keywords);
	struct store_msg *all;
	size_t nall;
	view_of(u, mb, "bob", &all, &nall);
	assert_int_equal(all[0].modseq, after);
	store_msg_array_free(all, nall);

	/* Changes: bob's only. */
	uint32_t *ex;
	size_t nex;
	assert_int_equal(store_changes_as(u, mb, NULL, base, &ch, &nch, &ex, &nex), STORE_OK);
	assert_int_equal(nch, 0);
	store_msg_array_free(ch, nch);
	free(ex);
	assert_int_equal(store_changes_as(u, mb, "carol", base, &ch, &nch, &ex, &nex), STORE_OK);
	assert_int_equal(nch, 0);
	store_msg_array_free(ch, nch);
	free(ex);
	assert_int_equal(store_changes_as(u, mb, "bob", base, &ch, &nch, &ex, &nex), STORE_OK);
	assert_int_equal(nch, 1);
	assert_int_equal(ch[0].uid, uids[0]);
	assert_int_equal(ch[0].flags, MAIL_FLAG_SEEN);
	assert_int_equal(ch[0].modseq, after);
	store_msg_array_free(ch, nch);
	free(ex);
	assert_int_equal(store_changes_as(u, mb, "bob", after, &ch, &nch, &ex, &nex), STORE_OK);
	assert_int_equal(nch, 0);
	store_msg_array_free(ch, nch);
	free(ex);

	/* STATUS UNSEEN as each sees it. */
	assert_int_equal(unseen_of(u, "Team", NULL), 2);
	assert_int_equal(unseen_of(u, "Team", "bob"), 2);
	assert_int_equal(unseen_of(u, "Team", "carol"), 3);

	/* Setting it again changes nothing and keeps the modseq (RFC 7162
	 * 3.1.3). */
	size_t n = 9;
	assert_int_equal(set_seen(u, "bob", mb, uids[0], STORE_FLAGS_ADD, MAIL_FLAG_SEEN, 0, &n,
				  NULL),
			 STORE_OK);
	assert_int_equal(n, 0);

	/* Other flags are the message's; \Seen stays the reader's. */
	assert_int_equal(set_seen(u, "bob", mb, uids[1], STORE_FLAGS_ADD,
				  MAIL_FLAG_SEEN | MAIL_FLAG_FLAGGED, 0, &n, NULL),
			 STORE_OK);
	assert_int_equal(n, 1);
	m = get_one(u, mb, uids[1]);
	assert_int_equal(m.flags, MAIL_FLAG_FLAGGED);
	free(m.keywords);
	assert_int_equal(seen_of(u, mb, "bob"), 3u);
	/* SET replaces the reader's \Seen, not the owner's. */
	assert_int_equal(set_seen(u, "bob", mb, uids[2], STORE_FLAGS_SET, MAIL_FLAG_ANSWERED, 0,
				  &n, NULL),
			 STORE_OK);
	m = get_one(u, mb, uids[2]);
	assert_int_equal(m.flags, MAIL_FLAG_SEEN | MAIL_FLAG_ANSWERED);
	free(m.keywords);
	assert_int_equal(seen_of(u, mb, "bob"), 3u);

	/* UNCHANGEDSINCE compares bob's modseq of the message. */
	assert_int_equal(set_seen(u, "bob", mb, uids[0], STORE_FLAGS_REMOVE, MAIL_FLAG_SEEN, base,
				  &n, &nfl),
			 STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(nfl, 1);
	assert_int_equal(set_seen(u, "bob", mb, uids[0], STORE_FLAGS_REMOVE, MAIL_FLAG_SEEN, after,
				  &n, &nfl),
			 STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(nfl, 0);
	/* Clearing is a change bob sees. */
	assert_int_equal(store_changes_as(u, mb, "bob", after, &ch, &nch, &ex, &nex), STORE_OK);
	bool cleared = false;
	for (size_t i = 0; i < nch; i++)
		if (ch[i].uid == uids[0])
			cleared = !(ch[i].flags & MAIL_FLAG_SEEN);
	assert_true(cleared);
	store_msg_array_free(ch, nch);
	free(ex);
	assert_int_equal(seen_of(u, mb, "bob"), 2u);

	/* Expunge takes bob's row along. */
	assert_int_equal(store_expunge(u, mb, &uids[1], 1), STORE_OK);
	assert_int_equal(unseen_of(u, "Team", "bob"), 2);
	assert_int_equal(seen_of(u, mb, "bob"), 0u);
	store_user_close(u);
}

/* RENAME INBOX moves the messages to a new mailbox (RFC 9051 6.3.6): the
 * readers' \Seen goes with them. */
static void test_rename_inbox_keeps_rows(void **state)
{
	(void)state;
	struct store_user *u = store_user_open("pvt-inbox");
	assert_non_null(u);
	int64_t inbox = mailbox_id(u, "INBOX");
	uint32_t uid = append_msg(u, "INBOX", TEXT, 0, NULL);
	append_msg(u, "INBOX", TEXT, 0, NULL);
	assert_int_equal(set_seen(u, "bob", inbox, uid, STORE_FLAGS_ADD, MAIL_FLAG_SEEN, 0, NULL,
				  NULL),
			 STORE_OK);
	assert_int_equal(store_mailbox_rename(u, "INBOX", "Old"), STORE_OK);
	int64_t old = mailbox_id(u, "Old");
	assert_int_equal(seen_of(u, old, "bob"), 1u);
	assert_int_equal(unseen_of(u, "Old", "bob"), 1);
	assert_int_equal(unseen_of(u, "INBOX", "bob"), 0);
	store_user_close(u);
}

/* Without a reader every function is the plain one. */
static void test_no_reader_is_plain(void **state)
{
	(void)state;
	struct store_user *u = store_user_open("pvt-plain");
	assert_non_null(u);
	int64_t inbox = mailbox_id(u, "INBOX");
	uint32_t uid = append_msg(u, "INBOX", TEXT, 0, NULL);
	assert_int_equal(set_seen(u, NULL, inbox, uid, STORE_FLAGS_ADD, MAIL_FLAG_SEEN, 0, NULL,
				  NULL),
			 STORE_OK);
	struct store_msg m = get_one(u, inbox, uid);
	assert_int_equal(m.flags, MAIL_FLAG_SEEN);
	free(m.keywords);
	assert_int_equal(seen_of(u, inbox, NULL), 1u);
	assert_int_equal(unseen_of(u, "INBOX", NULL), 0);
	store_user_close(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readers_have_own_seen),
		cmocka_unit_test(test_rename_inbox_keeps_rows),
		cmocka_unit_test(test_no_reader_is_plain),
	};
	return store_test_run("pvtseen", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
