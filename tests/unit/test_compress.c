/* net/compress.c: raw DEFLATE both ways, the inflate cap that turns a
 * compressed bomb into bounded slices, and corrupt input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <event2/buffer.h>

#include "net/compress.h"

/* What a client sends: raw DEFLATE with a sync flush. */
static struct evbuffer *client_deflate(const void *data, size_t len)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&zs, len) + 64;
	unsigned char *out = malloc(cap);
	zs.next_in = (Bytef *)(uintptr_t)data;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, out, cap - zs.avail_out);
	deflateEnd(&zs);
	free(out);
	return b;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct compress *z = compress_new();
	assert_non_null(z);
	const char cmd[] = "a1 NOOP\r\n";
	struct evbuffer *raw = client_deflate(cmd, strlen(cmd));
	assert_int_equal(compress_inflate(z, raw, 1 << 16), 0);
	assert_int_equal(evbuffer_get_length(raw), 0);
	struct evbuffer *plain = compress_plain(z);
	assert_int_equal(evbuffer_get_length(plain), strlen(cmd));
	assert_memory_equal(evbuffer_pullup(plain, -1), cmd, strlen(cmd));

	/* Server to client: every write is readable at once (sync flush). */
	struct evbuffer *out = evbuffer_new();
	const char resp[] = "a1 OK NOOP completed\r\n";
	assert_int_equal(compress_deflate(z, resp, strlen(resp), out), 0);
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, -15), Z_OK);
	unsigned char got[128];
	size_t n = evbuffer_get_length(out);
	zs.next_in = evbuffer_pullup(out, -1);
	zs.avail_in = (uInt)n;
	zs.next_out = got;
	zs.avail_out = sizeof(got);
	assert_int_equal(inflate(&zs, Z_SYNC_FLUSH), Z_OK);
	assert_int_equal(sizeof(got) - zs.avail_out, strlen(resp));
	assert_memory_equal(got, resp, strlen(resp));
	inflateEnd(&zs);
	evbuffer_free(out);
	evbuffer_free(raw);
	compress_free(z);
}

/* 64 MiB of one byte inflate from ~64 KB: each call yields at most the
 * cap, the rest waits (in the source or inside zlib) until the consumer
 * has taken the slice, and nothing is lost. */
static void test_bomb_in_slices(void **state)
{
	(void)state;
	const size_t big = 64u << 20, cap = 256 * 1024;
	char *data = malloc(big);
	memset(data, 'a', big);
	struct evbuffer *raw = client_deflate(data, big);
	free(data);
	assert_true(evbuffer_get_length(raw) < big / 500);
	struct compress *z = compress_new();
	struct evbuffer *plain = compress_plain(z);
	size_t total = 0, calls = 0, peak = 0;
	while (calls < 10000) {
		assert_int_equal(compress_inflate(z, raw, cap), 0);
		size_t n = evbuffer_get_length(plain);
		if (n > peak)
			peak = n;
		if (n == 0)
			break;
		total += n;
		evbuffer_drain(plain, n);
		calls++;
		assert_true(compress_input_pending(z) || evbuffer_get_length(raw) == 0 ||
			    total == big);
	}
	assert_true(peak <= cap);
	assert_int_equal(total, big);
	assert_true(calls >= big / cap);
	assert_false(compress_input_pending(z));
	evbuffer_free(raw);
	compress_free(z);
}

static void test_corrupt_and_held(void **state)
{
	(void)state;
	struct compress *z = compress_new();
	struct evbuffer *raw = evbuffer_new();
	evbuffer_add(raw, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
	assert_int_equal(compress_inflate(z, raw, 4096), -1);
	compress_free(z);
	evbuffer_free(raw);

	/* Bytes held at the switch are inflated before newer ones. */
	z = compress_new();
	struct evbuffer *all = client_deflate("a NOOP\r\nb NOOP\r\n", 16);
	size_t n = evbuffer_get_length(all);
	struct evbuffer *early = evbuffer_new();
	evbuffer_remove_buffer(all, early, n / 2);
	compress_hold(z, early);
	assert_int_equal(evbuffer_get_length(early), 0);
	assert_true(compress_input_pending(z));
	assert_int_equal(compress_inflate(z, all, 4096), 0);
	struct evbuffer *plain = compress_plain(z);
	assert_int_equal(evbuffer_get_length(plain), 16);
	assert_memory_equal(evbuffer_pullup(plain, -1), "a NOOP\r\nb NOOP\r\n", 16);
	evbuffer_free(early);
	evbuffer_free(all);
	compress_free(z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bomb_in_slices),
		cmocka_unit_test(test_corrupt_and_held),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
