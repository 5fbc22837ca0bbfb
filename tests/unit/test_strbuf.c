/* core/strbuf.c: the decimal formatter every hot path shares
 * (strbuf_add_u64, strbuf_fmt_u64) gives exactly printf's "%llu" digits at
 * the edges (0, one and two digits, 2^32-1, 2^64-1) and for a sweep of
 * values, appends after what the buffer holds and keeps it terminated. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/strbuf.h"

static void expect_u64(uint64_t v, const char *want)
{
	struct strbuf b = STRBUF_INIT;
	strbuf_add_u64(&b, v);
	assert_string_equal(b.s, want);
	assert_int_equal(b.len, strlen(want));
	strbuf_free(&b);

	char out[STRBUF_U64_MAX + 1];
	memset(out, 'x', sizeof(out));
	size_t n = strbuf_fmt_u64(out, v);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	assert_int_equal(out[n], 'x'); /* nothing written past the digits */
}

static void test_edges(void **state)
{
	(void)state;
	expect_u64(0, "0");
	expect_u64(9, "9");
	expect_u64(10, "10");
	expect_u64(99, "99");
	expect_u64(100, "100");
	expect_u64(UINT32_MAX, "4294967295");
	expect_u64((uint64_t)UINT32_MAX + 1, "4294967296");
	expect_u64(UINT64_MAX, "18446744073709551615");
}

static void test_matches_printf(void **state)
{
	(void)state;
	/* Every power of ten and its neighbours, and a multiplicative sweep. */
	uint64_t p = 1;
	for (int i = 0; i < 20; i++, p *= 10) {
		for (int d = -1; d <= 1; d++) {
			uint64_t v = p + (uint64_t)(int64_t)d;
			char want[32];
			snprintf(want, sizeof(want), "%llu", (unsigned long long)v);
			expect_u64(v, want);
		}
	}
	for (uint64_t v = 1; v < UINT64_MAX / 7; v = v * 7 + 3) {
		char want[32];
		snprintf(want, sizeof(want), "%llu", (unsigned long long)v);
		expect_u64(v, want);
	}
}

static void test_appends(void **state)
{
	(void)state;
	struct strbuf b = STRBUF_INIT;
	strbuf_adds(&b, "* ");
	strbuf_add_u64(&b, 42);
	strbuf_adds(&b, " FETCH (UID ");
	strbuf_add_u64(&b, 4294967295u);
	strbuf_addc(&b, ')');
	assert_string_equal(b.s, "* 42 FETCH (UID 4294967295)");
	/* Growth from a buffer that is exactly full. */
	struct strbuf c = STRBUF_INIT;
	for (int i = 0; i < 1000; i++)
		strbuf_add_u64(&c, (uint64_t)i);
	assert_int_equal(c.len, 10 + 90 * 2 + 900 * 3);
	assert_int_equal(c.s[c.len], '\0');
	assert_memory_equal(c.s + c.len - 6, "998999", 6);
	strbuf_free(&b);
	strbuf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_matches_printf),
		cmocka_unit_test(test_appends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
