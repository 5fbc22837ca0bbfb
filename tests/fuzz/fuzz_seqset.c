/* libFuzzer harness for sequence sets (core/seqset.c), on their own: the
 * parser, normalisation, membership, counting and formatting.
 * (fuzz_parser.c also feeds every atom of a command through the parser.)
 *
 * Input layout: bytes 0..3 are '*' (little endian, 0 = '*' not allowed),
 * the rest is the set text. The same text is also read as pairs of 32-bit
 * numbers fed to seqset_add(), which must build the same set as adding
 * them one by one to a naive model over small values.
 *
 * What is checked, beyond "no crash, no leak, no UB":
 *  - a parsed set is sorted, disjoint and non-adjacent, never contains 0,
 *    and formats back to text that parses to the same ranges;
 *  - a failed parse leaves the output set untouched;
 *  - seqset_count() is the sum of the range sizes; seqset_contains()
 *    agrees with the ranges at and around every edge. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/seqset.h"
#include "fuzz_common.h"

static void check_normal(const struct seqset *set)
{
	uint64_t total = 0;
	for (size_t i = 0; i < set->n; i++) {
		CHECK(set->r[i].lo >= 1 && set->r[i].lo <= set->r[i].hi);
		if (i)
			CHECK((uint64_t)set->r[i - 1].hi + 1 < set->r[i].lo);
		total += (uint64_t)set->r[i].hi - set->r[i].lo + 1;
		CHECK(seqset_contains(set, set->r[i].lo));
		CHECK(seqset_contains(set, set->r[i].hi));
		if (set->r[i].lo > 1)
			CHECK(!seqset_contains(set, set->r[i].lo - 1));
		if (set->r[i].hi < UINT32_MAX)
			CHECK(!seqset_contains(set, set->r[i].hi + 1));
	}
	CHECK(seqset_count(set) == total);
	CHECK(!seqset_contains(set, 0));
}

static void check_roundtrip(const struct seqset *set)
{
	size_t need = seqset_format_len(set);
	CHECK(need >= 1);
	char *buf = malloc(need);
	CHECK(buf);
	size_t w = seqset_format(set, buf, need);
	CHECK(w + 1 == need && strlen(buf) == w);
	if (set->n) {
		struct seqset back = SEQSET_INIT;
		CHECK(seqset_parse(buf, w, 0, &back) == 0);
		CHECK(back.n == set->n && memcmp(back.r, set->r, set->n * sizeof(set->r[0])) == 0);
		seqset_free(&back);
	}
	/* A short buffer truncates but stays NUL-terminated. */
	if (need > 1) {
		char small[8];
		size_t sz = need - 1 < sizeof(small) ? need - 1 : sizeof(small);
		size_t ws = seqset_format(set, small, sz);
		CHECK(ws < sz && strlen(small) == ws);
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint32_t star = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
			(uint32_t)data[3] << 24;
	const char *s = (const char *)data + 4;
	size_t len = size - 4;

	struct seqset set = SEQSET_INIT;
	seqset_add(&set, 7, 9);
	if (seqset_parse(s, len, star, &set) < 0) {
		/* Untouched: still just 7:9. */
		CHECK(set.n == 1 && set.r[0].lo == 7 && set.r[0].hi == 9);
	} else {
		check_normal(&set);
		check_roundtrip(&set);
	}
	seqset_free(&set);

	/* seqset_add() against a bitmap model over 1..256. */
	struct seqset built = SEQSET_INIT;
	uint8_t model[257];
	memset(model, 0, sizeof(model));
	for (size_t i = 0; i + 1 < len && i < 512; i += 2) {
		uint32_t a = (uint8_t)s[i] + 1u, b = (uint8_t)s[i + 1] + 1u;
		uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
		seqset_add(&built, lo, hi);
		for (uint32_t v = lo; v <= hi; v++)
			model[v] = 1;
		check_normal(&built);
	}
	for (uint32_t v = 1; v <= 256; v++)
		CHECK(seqset_contains(&built, v) == (model[v] != 0));
	check_roundtrip(&built);
	seqset_clear(&built);
	CHECK(built.n == 0);
	seqset_free(&built);
	return 0;
}
