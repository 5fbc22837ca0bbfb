/* Sequence sets: parsing, normalisation, membership, counting, formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/util.h"
#include "core/seqset.h"

/* Parses s with the given star and returns the formatted result (static
 * buffer), or "ERR". */
static const char *norm(const char *s, uint32_t star)
{
	static char buf[256];
	struct seqset set = SEQSET_INIT;
	if (seqset_parse(s, strlen(s), star, &set) < 0) {
		assert_null(set.r);
		return "ERR";
	}
	size_t need = seqset_format_len(&set);
	assert_true(need <= sizeof(buf));
	size_t w = seqset_format(&set, buf, sizeof(buf));
	assert_int_equal(w + 1, need);
	assert_int_equal(strlen(buf), w);
	seqset_free(&set);
	return buf;
}

static void test_parse_basic(void **state)
{
	assert_string_equal(norm("1", 10), "1");
	assert_string_equal(norm("1:3", 10), "1:3");
	assert_string_equal(norm("1,3:5,7", 10), "1,3:5,7");
	assert_string_equal(norm("4294967295", 10), "4294967295");
	assert_string_equal(norm("1:4294967295", 10), "1:4294967295");
}

static void test_parse_star(void **state)
{
	assert_string_equal(norm("*", 42), "42");
	assert_string_equal(norm("7:*", 42), "7:42");
	/* RFC 9051 9: "*:7" and "50:*" with * = 42 are the same as 7:42. */
	assert_string_equal(norm("*:7", 42), "7:42");
	assert_string_equal(norm("50:*", 42), "42:50");
	assert_string_equal(norm("*:*", 42), "42");
	/* Without a meaning for '*' it is rejected. */
	assert_string_equal(norm("1:*", 0), "ERR");
}

static void test_parse_reversed_and_merge(void **state)
{
	assert_string_equal(norm("5:3", 10), "3:5");
	assert_string_equal(norm("3:5,1:2", 10), "1:5");
	assert_string_equal(norm("1:3,2:6,10,9,8", 10), "1:6,8:10");
	assert_string_equal(norm("7,5,3,1,2", 10), "1:3,5,7");
	assert_string_equal(norm("1,1,1", 10), "1");
	assert_string_equal(norm("4294967295,4294967294,1", 10), "1,4294967294:4294967295");
	assert_string_equal(norm("10:20,15,1:100", 10), "1:100");
}

static void test_parse_reject(void **state)
{
	static const char *const bad[] = {
		"", "0", "0:5", "5:0", "1,", ",1", "1,,2", "a", "1a", "1:", ":1", "1:2:3",
		"4294967296", "99999999999999999999", "01", " 1", "1 ", "1,*,", "-1", "+1",
		"1;2", "$", "1:2,", "**", "1.5",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct seqset set = SEQSET_INIT;
		if (seqset_parse(bad[i], strlen(bad[i]), 100, &set) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_null(set.r);
		assert_int_equal(set.n, 0);
	}
	/* Embedded NUL is not a digit. */
	struct seqset set = SEQSET_INIT;
	assert_int_equal(seqset_parse("1\0002", 3, 100, &set), -1);
}

static void test_parse_failure_keeps_old(void **state)
{
	struct seqset set = SEQSET_INIT;
	assert_int_equal(seqset_parse("1:5", 3, 0, &set), 0);
	assert_int_equal(seqset_parse("1:x", 3, 0, &set), -1);
	assert_int_equal(set.n, 1);
	assert_true(seqset_contains(&set, 5));
	/* A successful parse replaces the contents. */
	assert_int_equal(seqset_parse("9", 1, 0, &set), 0);
	assert_int_equal(set.n, 1);
	assert_false(seqset_contains(&set, 5));
	assert_true(seqset_contains(&set, 9));
	seqset_free(&set);
	assert_null(set.r);
}

static void test_parse_length_bounded(void **state)
{
	/* Only s[0..len) is read. */
	struct seqset set = SEQSET_INIT;
	assert_int_equal(seqset_parse("12,xyz", 2, 0, &set), 0);
	assert_int_equal(set.n, 1);
	assert_int_equal(set.r[0].lo, 12);
	seqset_free(&set);
}

static void test_max_ranges(void **state)
{
	/* 1,000,000 elements are fine; one more is refused. */
	struct strbuf b = STRBUF_INIT;
	for (unsigned i = 0; i < 1000000; i++)
		strbuf_addf(&b, "%u,", 2 * i + 1);
	struct seqset set = SEQSET_INIT;
	assert_int_equal(seqset_parse(b.s, b.len - 1, 0, &set), 0);
	assert_int_equal(set.n, 1000000);
	assert_int_equal(seqset_count(&set), 1000000);
	assert_true(seqset_contains(&set, 1999999));
	assert_false(seqset_contains(&set, 2000000));
	strbuf_adds(&b, "5000000");
	struct seqset set2 = SEQSET_INIT;
	assert_int_equal(seqset_parse(b.s, b.len, 0, &set2), -1);
	assert_null(set2.r);
	seqset_free(&set);
	strbuf_free(&b);
}

static void test_count(void **state)
{
	struct seqset set = SEQSET_INIT;
	assert_int_equal(seqset_count(&set), 0);
	assert_int_equal(seqset_parse("1:*", 3, UINT32_MAX, &set), 0);
	assert_int_equal(seqset_count(&set), 4294967295ull);
	assert_int_equal(seqset_parse("1:3,5,10:19", 11, 0, &set), 0);
	assert_int_equal(seqset_count(&set), 14);
	seqset_free(&set);
}

static void test_contains(void **state)
{
	struct seqset set = SEQSET_INIT;
	assert_false(seqset_contains(&set, 1));
	assert_int_equal(seqset_parse("2:4,8,10:12,4294967295", 22, 0, &set), 0);
	static const uint32_t yes[] = { 2, 3, 4, 8, 10, 11, 12, 4294967295u };
	static const uint32_t no[] = { 0, 1, 5, 7, 9, 13, 4294967294u };
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		assert_true(seqset_contains(&set, yes[i]));
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		assert_false(seqset_contains(&set, no[i]));
	seqset_free(&set);
}

static void test_format_truncation(void **state)
{
	struct seqset set = SEQSET_INIT;
	assert_int_equal(seqset_parse("1:3,5,100:200", 13, 0, &set), 0);
	assert_int_equal(seqset_format_len(&set), 14);
	char buf[16];
	/* Only whole elements: the result stays a valid set. */
	assert_int_equal(seqset_format(&set, buf, 6), 5);
	assert_string_equal(buf, "1:3,5");
	assert_int_equal(seqset_format(&set, buf, 5), 3);
	assert_string_equal(buf, "1:3");
	assert_int_equal(seqset_format(&set, buf, 1), 0);
	assert_string_equal(buf, "");
	assert_int_equal(seqset_format(&set, buf, 0), 0);
	assert_int_equal(seqset_format(&set, buf, 14), 13);
	assert_string_equal(buf, "1:3,5,100:200");
	seqset_clear(&set);
	assert_int_equal(seqset_format_len(&set), 1);
	assert_int_equal(seqset_format(&set, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	seqset_free(&set);
}

static void test_add_basic(void **state)
{
	struct seqset set = SEQSET_INIT;
	char buf[128];
	seqset_add(&set, 10, 12);
	seqset_add(&set, 1, 1);
	seqset_add(&set, 5, 3);
	seqset_format(&set, buf, sizeof(buf));
	assert_string_equal(buf, "1,3:5,10:12");
	seqset_add(&set, 2, 2); /* joins 1 and 3:5 */
	seqset_format(&set, buf, sizeof(buf));
	assert_string_equal(buf, "1:5,10:12");
	seqset_add(&set, 6, 9); /* joins everything */
	seqset_format(&set, buf, sizeof(buf));
	assert_string_equal(buf, "1:12");
	seqset_add(&set, UINT32_MAX, UINT32_MAX);
	seqset_add(&set, UINT32_MAX - 1, UINT32_MAX);
	seqset_add(&set, 0, 0);
	seqset_format(&set, buf, sizeof(buf));
	assert_string_equal(buf, "0:12,4294967294:4294967295");
	seqset_free(&set);
}

/* seqset_add against a bitmap model over a small universe. */
static void test_add_random_model(void **state)
{
	enum { U = 200 };
	unsigned seed = 12345;
	for (int round = 0; round < 300; round++) {
		bool model[U + 2] = { false };
		struct seqset set = SEQSET_INIT;
		int adds = 1 + round % 40;
		for (int k = 0; k < adds; k++) {
			seed = seed * 1103515245u + 12345u;
			uint32_t a = (seed >> 8) % U + 1;
			seed = seed * 1103515245u + 12345u;
			uint32_t b = (seed >> 8) % 6 == 0 ? (seed >> 12) % U + 1 : a + (seed >> 12) % 4;
			if (b > U)
				b = U;
			seqset_add(&set, a, b);
			for (uint32_t v = MIN(a, b); v <= MAX(a, b); v++)
				model[v] = true;
			/* Invariants: sorted, disjoint, not adjacent. */
			for (size_t i = 0; i < set.n; i++) {
				assert_true(set.r[i].lo <= set.r[i].hi);
				if (i > 0)
					assert_true((uint64_t)set.r[i - 1].hi + 1 < set.r[i].lo);
			}
		}
		uint64_t cnt = 0;
		for (uint32_t v = 0; v <= U + 1; v++) {
			assert_int_equal(seqset_contains(&set, v), model[v]);
			cnt += model[v];
		}
		assert_int_equal(seqset_count(&set), cnt);
		/* Formatting and parsing back gives the same set. */
		char buf[2048];
		size_t w = seqset_format(&set, buf, sizeof(buf));
		struct seqset back = SEQSET_INIT;
		assert_int_equal(seqset_parse(buf, w, 0, &back), 0);
		assert_int_equal(back.n, set.n);
		assert_memory_equal(back.r, set.r, set.n * sizeof(set.r[0]));
		seqset_free(&back);
		seqset_free(&set);
	}
}

/* Parsing a shuffled list of elements equals adding them one by one. */
static void test_parse_matches_add(void **state)
{
	unsigned seed = 777;
	for (int round = 0; round < 200; round++) {
		struct strbuf b = STRBUF_INIT;
		struct seqset model = SEQSET_INIT;
		int n = 1 + round % 50;
		for (int k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			uint32_t a = (seed >> 8) % 1000 + 1;
			seed = seed * 1103515245u + 12345u;
			uint32_t c = (seed >> 8) % 1000 + 1;
			if (k)
				strbuf_addc(&b, ',');
			if (seed & 1) {
				strbuf_addf(&b, "%u:%u", a, c);
				seqset_add(&model, a, c);
			} else {
				strbuf_addf(&b, "%u", a);
				seqset_add(&model, a, a);
			}
		}
		struct seqset set = SEQSET_INIT;
		assert_int_equal(seqset_parse(b.s, b.len, 0, &set), 0);
		assert_int_equal(set.n, model.n);
		assert_memory_equal(set.r, model.r, set.n * sizeof(set.r[0]));
		seqset_free(&set);
		seqset_free(&model);
		strbuf_free(&b);
	}
}

/* The UID lists of COPYUID/APPENDUID and ESEARCH ALL go through
 * seqset_format_list; sets through seqset_format. Both write the same
 * elements: for ascending lists they give the same text. */
static const char *fmt_list(const uint32_t *v, size_t n)
{
	static char buf[4096];
	struct strbuf b = STRBUF_INIT;
	seqset_format_list(&b, v, n);
	assert_non_null(b.s);
	assert_true(b.len < sizeof(buf));
	memcpy(buf, b.s, b.len + 1);
	strbuf_free(&b);
	return buf;
}

static void test_format_list(void **state)
{
	static const uint32_t a[] = { 1, 2, 3, 7 };
	static const uint32_t b[] = { 4294967294u, 4294967295u };
	static const uint32_t c[] = { 9, 5, 6, 1 }; /* COPYUID source order is kept */
	static const uint32_t d[] = { 4294967295u, 0, 1 };
	assert_string_equal(fmt_list(a, 0), "");
	assert_string_equal(fmt_list(a, 1), "1");
	assert_string_equal(fmt_list(a, 4), "1:3,7");
	assert_string_equal(fmt_list(b, 2), "4294967294:4294967295");
	assert_string_equal(fmt_list(c, 4), "9,5:6,1");
	assert_string_equal(fmt_list(d, 3), "4294967295,0:1");

	uint32_t rng = 4315;
	uint32_t v[300];
	for (int iter = 0; iter < 2000; iter++) {
		size_t n = 0;
		uint32_t x = 0;
		rng = rng * 1103515245u + 12345u;
		size_t len = 1 + (rng >> 16) % 300;
		struct seqset set = SEQSET_INIT;
		while (n < len) {
			rng = rng * 1103515245u + 12345u;
			x += 1 + ((rng >> 16) % 4 ? 0 : (rng >> 20) % 5);
			v[n++] = x;
			seqset_add(&set, x, x);
		}
		char buf[4096];
		seqset_format(&set, buf, sizeof(buf));
		assert_string_equal(fmt_list(v, n), buf);
		seqset_free(&set);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_basic),
		cmocka_unit_test(test_parse_star),
		cmocka_unit_test(test_parse_reversed_and_merge),
		cmocka_unit_test(test_parse_reject),
		cmocka_unit_test(test_parse_failure_keeps_old),
		cmocka_unit_test(test_parse_length_bounded),
		cmocka_unit_test(test_max_ranges),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_format_truncation),
		cmocka_unit_test(test_add_basic),
		cmocka_unit_test(test_add_random_model),
		cmocka_unit_test(test_parse_matches_add),
		cmocka_unit_test(test_format_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
