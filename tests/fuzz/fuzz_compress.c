/* libFuzzer harness for COMPRESS=DEFLATE's inflater (net/compress.c):
 * arbitrary bytes from a client, fed in two pieces (as two reads), must
 * inflate or fail cleanly, never yield more than the cap per call, and be
 * consumed in bounded calls. Byte 0 picks the split point and the cap.
 *
 * What is checked, beyond "no crash, no leak, no UB":
 *  - compress_plain() never holds more than the cap after a call;
 *  - a successful stream is fully consumed: no input left and nothing
 *    pending once the consumer has taken every slice;
 *  - deflating what was inflated and inflating that again gives it back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "net/compress.h"
#include "fuzz_common.h"

static int drain_all(struct compress *z, struct evbuffer *src, size_t cap, struct evbuffer *all)
{
	struct evbuffer *plain = compress_plain(z);
	/* Each call yields up to cap or ends the input: at most in/1 + out/cap. */
	for (int calls = 0; calls < 100000; calls++) {
		if (compress_inflate(z, src, cap) < 0)
			return -1;
		size_t n = evbuffer_get_length(plain);
		CHECK(n <= cap);
		if (n == 0)
			return 0;
		evbuffer_remove_buffer(plain, all, n);
	}
	CHECK(!"inflate did not finish");
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t cap = (size_t)(1 + (data[0] & 0x0f)) * 4096;
	data++, size--;
	size_t split = size ? (size_t)data[0] % (size + 1) : 0;
	struct compress *z = compress_new();
	CHECK(z);
	struct evbuffer *src = evbuffer_new(), *all = evbuffer_new();
	evbuffer_add(src, data, split);
	int r = drain_all(z, src, cap, all);
	if (r == 0) {
		evbuffer_add(src, data + split, size - split);
		r = drain_all(z, src, cap, all);
	}
	if (r == 0 && evbuffer_get_length(all) > 0) {
		CHECK(!compress_input_pending(z));
		/* Round trip through a second filter. */
		size_t n = evbuffer_get_length(all);
		struct compress *y = compress_new();
		struct evbuffer *wire = evbuffer_new(), *back = evbuffer_new();
		CHECK(compress_deflate(y, evbuffer_pullup(all, -1), n, wire) == 0);
		struct compress *x = compress_new();
		CHECK(drain_all(x, wire, 65536, back) == 0);
		CHECK(evbuffer_get_length(back) == n);
		CHECK(memcmp(evbuffer_pullup(back, -1), evbuffer_pullup(all, -1), n) == 0);
		compress_free(x);
		compress_free(y);
		evbuffer_free(wire);
		evbuffer_free(back);
	}
	compress_free(z);
	evbuffer_free(src);
	evbuffer_free(all);
	return 0;
}
