/* Helpers shared by the store's unit tests (test_store*.c), written
 * against store.h only. Include after <cmocka.h>: failures are cmocka
 * assertions. */
#ifndef RAMPART_TESTS_STORE_TEST_UTIL_H
#define RAMPART_TESTS_STORE_TEST_UTIL_H

#include <ftw.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

/* One message to append, with a fixed INTERNALDATE and cached strings. */
static inline void append_init(struct store_append *a, const char *text, uint32_t flags,
			       const char *keywords)
{
	memset(a, 0, sizeof(*a));
	a->data = text;
	a->len = strlen(text);
	a->flags = flags;
	a->keywords = keywords;
	a->internaldate = 1700000000;
	a->internaldate_tz = 60;
	a->envelope = "(NIL \"env\")";
	a->bodystructure = "(\"text\" \"plain\")";
}

/* Appends one message, which must succeed; returns its UID. */
static inline uint32_t append_msg(struct store_user *u, const char *mailbox, const char *text,
				  uint32_t flags, const char *keywords)
{
	struct store_append a;
	append_init(&a, text, flags, keywords);
	uint32_t uv = 0;
	assert_int_equal(store_append(u, mailbox, &a, 1, &uv), STORE_OK);
	assert_true(uv != 0);
	assert_true(a.uid != 0);
	return a.uid;
}

/* How many messages have no search index entry, from the start (at most
 * 10); their blobs in *out when asked (the caller frees). */
static inline size_t unindexed(struct store_user *u, char (**out)[65])
{
	int64_t mb = 0;
	uint32_t uid = 0;
	char(*blobs)[65];
	size_t n;
	assert_int_equal(store_search_pending(u, &mb, &uid, 10, &blobs, &n), STORE_OK);
	if (out)
		*out = blobs;
	else
		free(blobs);
	return n;
}

/* A search entry with a subject, the header text and the body text (the
 * strings are the caller's). */
static inline void doc_init(struct search_doc *d, char *subject, char *hdrs, char *body)
{
	memset(d, 0, sizeof(*d));
	d->field[SEARCH_DOC_SUBJECT] = subject;
	d->sent_day = 19723;
	d->hdrs = hdrs;
	d->body = body;
}

/* Messages of mailbox mb whose indexed text contains folded. */
static inline size_t text_hits(struct store_user *u, int64_t mb, const char *folded)
{
	uint32_t *uids;
	size_t n;
	assert_int_equal(store_search_text(u, mb, folded, true, &uids, &n), STORE_OK);
	free(uids);
	return n;
}

/* Waits (up to 10 s, in 5 ms steps) for *counter to differ from c0 (a
 * change notification counted by the test's callback). */
static inline bool store_test_counted_since(atomic_uint *counter, unsigned c0)
{
	for (int i = 0; i < 2000; i++) {
		if (atomic_load(counter) != c0)
			return true;
		usleep(5000);
	}
	return false;
}

/* The status of a mailbox that must exist; caller clears it. */
static inline struct store_mailbox status_of(struct store_user *u, const char *name)
{
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_status(u, name, &mb), STORE_OK);
	return mb;
}

static inline int64_t mailbox_id(struct store_user *u, const char *name)
{
	struct store_mailbox mb = status_of(u, name);
	int64_t id = mb.id;
	store_mailbox_clear(&mb);
	return id;
}

static inline bool is_subscribed(struct store_user *u, const char *name)
{
	char **names;
	size_t n;
	assert_int_equal(store_subscription_list(u, &names, &n), STORE_OK);
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		found |= strcmp(names[i], name) == 0;
		free(names[i]);
	}
	free(names);
	return found;
}

/* The one message with this UID (full metadata); caller frees keywords. */
static inline struct store_msg get_one(struct store_user *u, int64_t mbid, uint32_t uid)
{
	struct store_msg *m;
	size_t n;
	assert_int_equal(store_msg_get(u, mbid, &uid, 1, &m, &n), STORE_OK);
	assert_int_equal(n, 1);
	struct store_msg r = m[0];
	r.keywords = m[0].keywords ? strdup(m[0].keywords) : NULL;
	store_msg_array_free(m, n);
	return r;
}

/* store_blob_map() of blob gives exactly want[0..len). */
static inline void assert_blob_bytes(struct store_user *u, const char *blob, const char *want,
				     size_t len)
{
	const char *data;
	size_t got;
	assert_int_equal(store_blob_map(u, blob, &data, &got), STORE_OK);
	assert_int_equal(got, len);
	assert_memory_equal(data, want, len);
	store_blob_unmap(data, got);
}

static inline int store_test_rm_entry(const char *path, const struct stat *st, int flag,
				      struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* The main() of a store test program: store_init() on "mail" inside a
 * fresh /tmp directory (its path copied to mail[300] when mail is not
 * NULL), the tests as one group, then the directory removed. */
static inline int store_test_run(const char *group, const struct CMUnitTest *tests, size_t n,
				 char *mail)
{
	char root[256], path[300];
	snprintf(root, sizeof(root), "/tmp/rampart-%s-XXXXXX", group);
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/mail", root);
	if (mail)
		memcpy(mail, path, sizeof(path));
	if (store_init(path) != STORE_OK) {
		fprintf(stderr, "store_init failed\n");
		return 1;
	}
	int r = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
	store_shutdown();
	nftw(root, store_test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return r;
}

#endif
