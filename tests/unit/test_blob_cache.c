/* msgcache (issue #14): store/blob_cache.c, the process's cache of small
 * messages' bytes, on its own (off by default, bounded in bytes, least
 * recently used out first, keyed by store and name, too-big messages
 * never kept, safe from several threads) and behind store/blob.c (a
 * stored message is read without its file; `rampart check`'s reads and
 * a deleted message's name do not come from the cache; a read-once pass
 * does not fill it). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store/blob.h"
#include "store/blob_cache.h"
#include "store/store.h"
#include "core/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void rm_rf(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* A message of len bytes made from seed, and its name. */
static char *msg_make(unsigned seed, size_t len, char hex[65])
{
	char *m = xmalloc(len);
	for (size_t i = 0; i < len; i++)
		m[i] = (char)('a' + (seed * 7 + i * 13) % 26);
	int n = snprintf(m, len, "msg %u ", seed);
	if (n > 0 && (size_t)n < len)
		m[n] = ' ';
	store_blob_hash(m, len, hex);
	return m;
}

static bool cache_has(uint64_t owner, const char *hex, const char *want, size_t wlen)
{
	char *data = NULL;
	size_t len = 0;
	if (!blob_cache_get(owner, hex, &data, &len))
		return false;
	assert_int_equal(len, wlen);
	assert_memory_equal(data, want, len);
	free(data);
	return true;
}

static void test_off_by_default_and_round_trip(void **state)
{
	(void)state;
	char hex[65];
	char *m = msg_make(1, 3000, hex);
	uint64_t a = blob_cache_owner("/mail/a"), b = blob_cache_owner("/mail/b");
	assert_true(a != b);
	/* Off (as for tools): nothing kept. */
	blob_cache_setup(0, 0);
	blob_cache_put(a, hex, m, 3000);
	assert_false(cache_has(a, hex, m, 3000));

	blob_cache_setup(1 << 20, 64 * 1024);
	blob_cache_put(a, hex, m, 3000);
	memset(m, 'x', 100); /* the cache holds a copy */
	char *orig = msg_make(1, 3000, hex);
	assert_true(cache_has(a, hex, orig, 3000));
	/* Another store's entry is its own. */
	assert_false(cache_has(b, hex, orig, 3000));
	blob_cache_forget(a, hex);
	assert_false(cache_has(a, hex, orig, 3000));
	/* Names that are not 64 lowercase hex digits are never kept. */
	blob_cache_put(a, "ABC", orig, 3000);
	char upper[65];
	for (int i = 0; i < 64; i++)
		upper[i] = (char)(hex[i] >= 'a' ? hex[i] - 32 : hex[i]);
	upper[64] = '\0';
	blob_cache_put(a, upper, orig, 3000);
	assert_false(cache_has(a, upper, orig, 3000));
	struct store_message_cache_stats st;
	blob_cache_stats(&st);
	assert_int_equal(st.count, 0);
	assert_int_equal(st.bytes, 0);
	assert_true(st.hits >= 1);
	assert_true(st.misses >= 2); /* another store's, after forget */
	free(m);
	free(orig);
	blob_cache_setup(0, 0);
}

static void test_bounded_lru_and_entry_limit(void **state)
{
	(void)state;
	const size_t max = 1 << 20, msg = 4000;
	blob_cache_setup(max, 16 * 1024);
	uint64_t o = blob_cache_owner("/mail/lru");
	char hex[65], first[65];
	char *m0 = msg_make(0, msg, first);
	blob_cache_put(o, first, m0, msg);
	/* Three times the budget: the total stays bounded. The first
	 * message is read after every put, so it stays the most recent of
	 * its shard and is never the one evicted. */
	unsigned n = (unsigned)(3 * max / msg);
	for (unsigned i = 1; i <= n; i++) {
		char *m = msg_make(i, msg, hex);
		blob_cache_put(o, hex, m, msg);
		free(m);
		assert_true(cache_has(o, first, m0, msg));
		struct store_message_cache_stats st;
		blob_cache_stats(&st);
		assert_true(st.bytes <= max);
	}
	struct store_message_cache_stats st;
	blob_cache_stats(&st);
	assert_true(st.count > n / 6);   /* most of the budget is used */
	assert_true(st.count < n / 2);
	/* The oldest others are gone, the newest are there. */
	char *m1 = msg_make(1, msg, hex);
	assert_false(cache_has(o, hex, m1, msg));
	free(m1);
	char *mn = msg_make(n, msg, hex);
	assert_true(cache_has(o, hex, mn, msg));
	free(mn);
	/* A message over the entry limit is never kept. */
	char *big = msg_make(99999, 20 * 1024, hex);
	blob_cache_put(o, hex, big, 20 * 1024);
	assert_false(cache_has(o, hex, big, 20 * 1024));
	free(big);
	/* Turned off: everything is given back. */
	blob_cache_setup(0, 0);
	blob_cache_stats(&st);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.count, 0);
	free(m0);
}

/* Threads putting, reading (checking the bytes) and forgetting the same
 * small set of messages in a cache small enough to evict all the time. */
struct worker_arg {
	unsigned id;
	unsigned errors;
};

#define MT_MSGS 64
#define MT_ROUNDS 20000
static char *g_msgs[MT_MSGS];
static char g_hex[MT_MSGS][65];
static size_t g_len[MT_MSGS];

static void *worker(void *p)
{
	struct worker_arg *w = p;
	uint64_t o = blob_cache_owner("/mail/mt");
	uint64_t x = 0x9e3779b97f4a7c15ull * (w->id + 1);
	for (unsigned r = 0; r < MT_ROUNDS; r++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		unsigned k = (unsigned)(x % MT_MSGS);
		switch ((x >> 32) % 4) {
		case 0:
			blob_cache_put(o, g_hex[k], g_msgs[k], g_len[k]);
			break;
		case 3:
			if (r % 16 == 0)
				blob_cache_forget(o, g_hex[k]);
			break;
		default: {
			char *d;
			size_t len;
			if (blob_cache_get(o, g_hex[k], &d, &len)) {
				if (len != g_len[k] || memcmp(d, g_msgs[k], len) != 0)
					w->errors++;
				free(d);
			}
		}
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	blob_cache_setup(16 * 16 * 1024, 8 * 1024);  /* a few entries a shard */
	for (unsigned i = 0; i < MT_MSGS; i++) {
		g_len[i] = 500 + i * 97;
		g_msgs[i] = msg_make(1000 + i, g_len[i], g_hex[i]);
	}
	pthread_t t[4];
	struct worker_arg a[4];
	for (unsigned i = 0; i < 4; i++) {
		a[i] = (struct worker_arg){ .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, worker, &a[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].errors, 0);
	}
	struct store_message_cache_stats st;
	blob_cache_stats(&st);
	assert_true(st.bytes <= 16 * 16 * 1024);
	assert_true(st.hits > 0);
	for (unsigned i = 0; i < MT_MSGS; i++)
		free(g_msgs[i]);
	blob_cache_setup(0, 0);
}

static int map_read(struct store_blobs *b, const char *hex, int how, const char *want, size_t wlen)
{
	const char *data;
	size_t len;
	int r = how == 1 ? store_blobs_map_file(b, hex, &data, &len)
			 : store_blobs_cached(b, hex, &data, &len);
	if (r != STORE_OK)
		return r;
	assert_int_equal(len, wlen);
	assert_memory_equal(data, want, len);
	store_blob_unmap(data, len);
	return r;
}

/* Behind store/blob.c: a stored message is read back without its file;
 * check's reads (the file reader) see the files and never fill; unlink
 * forgets; what the front remembers is there. (Which reads fill is the
 * front's rule: test_store_inline.c test_front_reads_fill_once.) */
static void test_behind_the_blob_store(void **state)
{
	(void)state;
	char dir[] = "/tmp/rampart-blobcache-XXXXXX";
	assert_non_null(mkdtemp(dir));
	store_message_cache_set(1 << 20);
	struct store_blobs *b = store_blobs_open(dir, "u");
	assert_non_null(b);
	char h1[65], h2[65], path[512];
	char *m1 = msg_make(1, 2000, h1), *m2 = msg_make(2, 3000, h2);
	assert_int_equal(store_blobs_put(b, h1, m1, 2000), STORE_OK);
	/* The file removed behind the store's back: the cached copy still
	 * answers, check's read sees the truth. */
	snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", dir, h1, h1 + 2);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(map_read(b, h1, 3, m1, 2000), STORE_OK);
	assert_int_equal(map_read(b, h1, 1, m1, 2000), STORE_ENOENT);
	/* The store deleting the message forgets it. */
	store_blobs_unlink(b, h1);
	assert_int_equal(map_read(b, h1, 3, m1, 2000), STORE_ENOENT);

	/* A message written by another process (not through this cache):
	 * the file reader reads it without keeping it; remembered, it is
	 * kept. */
	store_message_cache_set(0);
	assert_int_equal(store_blobs_put(b, h2, m2, 3000), STORE_OK);
	store_message_cache_set(1 << 20);
	assert_int_equal(map_read(b, h2, 3, m2, 3000), STORE_ENOENT);
	assert_int_equal(map_read(b, h2, 1, m2, 3000), STORE_OK);
	assert_int_equal(map_read(b, h2, 3, m2, 3000), STORE_ENOENT);
	store_blobs_remember(b, h2, m2, 3000);
	assert_int_equal(map_read(b, h2, 3, m2, 3000), STORE_OK);
	/* Another user's store with the same message has its own entry. */
	char dir2[] = "/tmp/rampart-blobcache-XXXXXX";
	assert_non_null(mkdtemp(dir2));
	struct store_blobs *b2 = store_blobs_open(dir2, "v");
	assert_non_null(b2);
	assert_int_equal(map_read(b2, h2, 3, m2, 3000), STORE_ENOENT);
	assert_int_equal(map_read(b2, h2, 1, m2, 3000), STORE_ENOENT);
	store_blobs_close(b2);
	rm_rf(dir2);

	store_blobs_close(b);
	store_message_cache_set(0);
	free(m1);
	free(m2);
	rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off_by_default_and_round_trip),
		cmocka_unit_test(test_bounded_lru_and_entry_limit),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_behind_the_blob_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
