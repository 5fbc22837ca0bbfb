/* snapd (issue #14): store/snapmerge.c, a snapshot's listing brought up
 * to date from a delta, against a plain model (a map from UID to row
 * rebuilt and sorted): fixed cases (expunges of the first, last and
 * middle rows, new keyword lists, new UIDs at the end and in between,
 * history naming UIDs the listing never had) and a bounded random run. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/snapmerge.h"

struct row {
	uint32_t uid;
	uint8_t flags;
	uint64_t modseq;
	const char *kw;          /* NULL: none */
};

/* A listing of rows (ascending), keyword lists interned naively. */
static void mk(struct store_flag_list *l, const struct row *r, size_t n)
{
	memset(l, 0, sizeof(*l));
	size_t alloc = n ? n : 1;
	l->uids = xmalloc(alloc * sizeof(*l->uids));
	l->flags = xmalloc(alloc * sizeof(*l->flags));
	l->modseqs = xmalloc(alloc * sizeof(*l->modseqs));
	l->kw = xmalloc(alloc * sizeof(*l->kw));
	l->kws = xcalloc(n + 1, sizeof(*l->kws));
	l->nkws = 1;
	for (size_t i = 0; i < n; i++) {
		l->uids[i] = r[i].uid;
		l->flags[i] = r[i].flags;
		l->modseqs[i] = r[i].modseq;
		l->max_modseq = MAX(l->max_modseq, r[i].modseq);
		l->kw[i] = 0;
		if (!r[i].kw)
			continue;
		size_t k = 1;
		while (k < l->nkws && strcmp(l->kws[k], r[i].kw) != 0)
			k++;
		if (k == l->nkws)
			l->kws[l->nkws++] = xstrdup(r[i].kw);
		l->kw[i] = (uint32_t)k;
	}
	l->n = n;
}

static int row_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct row *)a)->uid, y = ((const struct row *)b)->uid;
	return x < y ? -1 : x > y;
}

/* The model: old's rows, delta's replacing or added, exp's removed
 * unless delta names them; sorted. Returns the count. */
static size_t model(const struct row *old, size_t nold, const struct row *delta, size_t nd,
		    const uint32_t *exp, size_t nexp, struct row *out)
{
	size_t n = 0;
	for (size_t i = 0; i < nold; i++) {
		bool gone = false;
		for (size_t j = 0; j < nd; j++)
			gone |= delta[j].uid == old[i].uid;
		for (size_t j = 0; j < nexp; j++)
			gone |= exp[j] == old[i].uid;
		if (!gone)
			out[n++] = old[i];
	}
	for (size_t j = 0; j < nd; j++)
		out[n++] = delta[j];
	qsort(out, n, sizeof(*out), row_cmp);
	return n;
}

static void check(const struct store_flag_list *got, const struct row *want, size_t n)
{
	assert_int_equal(got->n, n);
	uint64_t max = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(got->uids[i], want[i].uid);
		assert_int_equal(got->flags[i], want[i].flags);
		assert_int_equal(got->modseqs[i], want[i].modseq);
		assert_true(got->kw[i] < got->nkws);
		const char *kw = got->kws[got->kw[i]];
		if (want[i].kw)
			assert_string_equal(kw, want[i].kw);
		else
			assert_null(kw);
		max = MAX(max, want[i].modseq);
	}
	assert_null(got->kws[0]);
	assert_int_equal(got->max_modseq, max);
}

static void run_case(const struct row *old, size_t nold, const struct row *delta, size_t nd,
		     const uint32_t *exp, size_t nexp)
{
	struct store_flag_list lo, ld, out;
	mk(&lo, old, nold);
	mk(&ld, delta, nd);
	struct row *want = xcalloc(nold + nd + 1, sizeof(*want));
	size_t n = model(old, nold, delta, nd, exp, nexp, want);
	snap_merge(&lo, &ld, exp, nexp, &out);
	check(&out, want, n);
	free(want);
	store_flag_list_free(&lo);
	store_flag_list_free(&ld);
	store_flag_list_free(&out);
}

static const struct row base[] = {
	{ 1, 1, 5, NULL }, { 2, 0, 9, "$Junk" }, { 4, 3, 7, "a b" },
	{ 5, 1, 12, NULL }, { 9, 4, 3, "$Junk" }, { 10, 0, 12, NULL },
};
#define NBASE (sizeof(base) / sizeof(base[0]))

static void test_nothing_changed(void **state)
{
	(void)state;
	run_case(base, NBASE, NULL, 0, NULL, 0);
}

static void test_expunge_first_last_middle(void **state)
{
	(void)state;
	static const uint32_t first[] = { 1 }, last[] = { 10 }, mid[] = { 4 }, all3[] = { 1, 4, 10 };
	run_case(base, NBASE, NULL, 0, first, 1);
	run_case(base, NBASE, NULL, 0, last, 1);
	run_case(base, NBASE, NULL, 0, mid, 1);
	run_case(base, NBASE, NULL, 0, all3, 3);
}

static void test_expunge_max_modseq_recomputed(void **state)
{
	(void)state;
	/* rows 5 and 10 hold the highest modseq (12); both go */
	static const uint32_t exp[] = { 5, 10 };
	run_case(base, NBASE, NULL, 0, exp, 2);
}

static void test_history_names_unknown_uids(void **state)
{
	(void)state;
	/* ranges cover UIDs expunged before the snapshot (3, 6-8) and after it */
	static const uint32_t exp[] = { 3, 6, 7, 8, 9, 11 };
	run_case(base, NBASE, NULL, 0, exp, 6);
}

static void test_changed_and_new_keywords(void **state)
{
	(void)state;
	static const struct row delta[] = {
		{ 2, 2, 13, "New" }, { 5, 0, 13, "a b" }, { 9, 4, 13, NULL },
		{ 11, 1, 13, "$Junk" }, { 12, 0, 13, "Other" },
	};
	run_case(base, NBASE, delta, 5, NULL, 0);
}

static void test_new_uid_between_and_expunged_same(void **state)
{
	(void)state;
	/* a UID new to the listing in between (it was read before the row
	 * appeared), and one the history names that exists (delta wins) */
	static const struct row delta[] = { { 3, 0, 14, NULL }, { 4, 8, 14, "a b" } };
	static const uint32_t exp[] = { 1, 4 };
	run_case(base, NBASE, delta, 2, exp, 2);
}

static void test_empty_old_and_all_gone(void **state)
{
	(void)state;
	static const struct row delta[] = { { 7, 1, 2, "x" } };
	static const uint32_t all[] = { 1, 2, 4, 5, 9, 10 };
	run_case(NULL, 0, delta, 1, NULL, 0);
	run_case(base, NBASE, NULL, 0, all, 6);
}

/* Many keyword lists, most unused after the merge: the table is tidied
 * and every row still names its own list. */
static void test_keyword_lists_tidied(void **state)
{
	(void)state;
	enum { N = 200 };
	struct row *old = xcalloc(N, sizeof(*old)), *delta = xcalloc(N, sizeof(*delta));
	char (*names)[16] = xcalloc(N, sizeof(*names));
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "k%zu", i);
		old[i] = (struct row){ (uint32_t)i + 1, 0, 1, names[i] };
		delta[i] = (struct row){ (uint32_t)i + 1, 1, 2, i % 2 ? "odd" : NULL };
	}
	struct store_flag_list lo, ld, out;
	mk(&lo, old, N);
	mk(&ld, delta, N);
	snap_merge(&lo, &ld, NULL, 0, &out);
	assert_true(out.nkws <= 2);
	check(&out, delta, N);
	store_flag_list_free(&lo);
	store_flag_list_free(&ld);
	store_flag_list_free(&out);
	free(old);
	free(delta);
	free(names);
}

/* Random listings and deltas (bounded, deterministic) against the model. */
static void test_random_model(void **state)
{
	(void)state;
	static const char *const kws[] = { NULL, "$Junk", "a b", "c", "$Label1 x" };
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	enum { ROUNDS = 300, MAXN = 64 };
	struct row old[MAXN], delta[MAXN];
	uint32_t exp[MAXN];
	for (int round = 0; round < ROUNDS; round++) {
		size_t nold = 0, nd = 0, nexp = 0;
		for (uint32_t uid = 1; uid <= MAXN; uid++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			unsigned r = (unsigned)(seed >> 33);
			bool live = r % 3 != 0;
			if (live)
				old[nold++] = (struct row){ uid, (uint8_t)(r % 32), 1 + r % 50,
							    kws[(r >> 5) % 5] };
			if ((r >> 8) % 4 == 0) /* changed or new */
				delta[nd++] = (struct row){ uid, (uint8_t)((r >> 10) % 32), 60,
							    kws[(r >> 12) % 5] };
			else if ((r >> 8) % 4 == 1) /* expunged (or never there) */
				exp[nexp++] = uid;
		}
		run_case(old, nold, delta, nd, exp, nexp);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_changed),
		cmocka_unit_test(test_expunge_first_last_middle),
		cmocka_unit_test(test_expunge_max_modseq_recomputed),
		cmocka_unit_test(test_history_names_unknown_uids),
		cmocka_unit_test(test_changed_and_new_keywords),
		cmocka_unit_test(test_new_uid_between_and_expunged_same),
		cmocka_unit_test(test_empty_old_and_all_gone),
		cmocka_unit_test(test_keyword_lists_tidied),
		cmocka_unit_test(test_random_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
