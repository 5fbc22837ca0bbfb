/* RETURN options and PARTIAL position arithmetic (imap/search_context.c):
 * partial-range syntax (RFC 9394 4), which results a range selects among
 * n (positive from the first, negative from the last, reversed ends,
 * out of range), the PARTIAL return data item, the RETURN option list
 * (RFC 4731 3.1, RFC 5267 4, RFC 9394 3.1) and the UID FETCH modifier
 * list with PARTIAL taken out. Lists go through the real command parser. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/seqset.h"
#include "core/strbuf.h"
#include "imap/parser.h"
#include "imap/search_context.h"

/* ---- partial-range syntax --------------------------------------------- */

static void test_partial_parse(void **state)
{
	(void)state;
	struct search_partial p;
	assert_int_equal(search_partial_parse("1:500", &p), 0);
	assert_true(p.first == 1 && p.last == 500);
	assert_int_equal(search_partial_parse("500:400", &p), 0);
	assert_true(p.first == 500 && p.last == 400);
	assert_int_equal(search_partial_parse("-1:-100", &p), 0);
	assert_true(p.first == -1 && p.last == -100);
	assert_int_equal(search_partial_parse("4294967295:1", &p), 0);
	assert_true(p.first == 4294967295LL);
	assert_int_equal(search_partial_parse("-4294967295:-4294967295", &p), 0);
	static const char *const bad[] = {
		"", "1", "1:", ":1", "0:1", "1:0", "-0:-1", "-1:1", "1:-1", "1:*", "*:1",
		"01:2", "1:02", "1:4294967296", "-4294967296:-1", "1:2:3", "1,2", " 1:2",
		"1:2 ", "--1:-2", "+1:2", "-:-1", "1:99999999999999999999",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (search_partial_parse(bad[i], &p) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
}

/* ---- which results a range selects ------------------------------------ */

/* "from+count" of the slice, or "-" when empty. */
static const char *slice(const char *range, size_t n)
{
	static char buf[64];
	struct search_partial p;
	assert_int_equal(search_partial_parse(range, &p), 0);
	size_t from = 99;
	size_t k = search_partial_slice(&p, n, &from);
	if (!k)
		return "-";
	assert_true(from + k <= n);
	snprintf(buf, sizeof(buf), "%zu+%zu", from, k);
	return buf;
}

static void test_partial_slice(void **state)
{
	(void)state;
	/* positive: 1 is the first result */
	assert_string_equal(slice("1:3", 10), "0+3");
	assert_string_equal(slice("3:1", 10), "0+3");
	assert_string_equal(slice("4:4", 10), "3+1");
	assert_string_equal(slice("10:10", 10), "9+1");
	assert_string_equal(slice("9:20", 10), "8+2");
	assert_string_equal(slice("11:20", 10), "-");
	assert_string_equal(slice("1:4294967295", 10), "0+10");
	assert_string_equal(slice("1:1", 0), "-");
	/* negative: -1 is the last result */
	assert_string_equal(slice("-1:-1", 10), "9+1");
	assert_string_equal(slice("-1:-3", 10), "7+3");
	assert_string_equal(slice("-3:-1", 10), "7+3");
	assert_string_equal(slice("-10:-10", 10), "0+1");
	assert_string_equal(slice("-20:-9", 10), "0+2");
	assert_string_equal(slice("-11:-20", 10), "-");
	assert_string_equal(slice("-1:-4294967295", 10), "0+10");
	assert_string_equal(slice("-1:-1", 0), "-");
	/* every range against every small n: the slice is the positions the
	 * RFC names, computed the slow way */
	for (size_t n = 0; n <= 12; n++) {
		for (int64_t a = 1; a <= 14; a++) {
			for (int64_t b = 1; b <= 14; b++) {
				for (int sign = 1; sign >= -1; sign -= 2) {
					struct search_partial p = { sign * a, sign * b };
					size_t from, k = search_partial_slice(&p, n, &from);
					size_t want_k = 0, want_from = 0;
					for (size_t pos = 1; pos <= n; pos++) {
						/* the position counted from the chosen end */
						int64_t at = sign > 0 ? (int64_t)pos : (int64_t)(n - pos + 1);
						if (at >= (a < b ? a : b) && at <= (a < b ? b : a)) {
							if (!want_k)
								want_from = pos - 1;
							want_k++;
						}
					}
					assert_int_equal(k, want_k);
					if (k)
						assert_int_equal(from, want_from);
				}
			}
		}
	}
}

static void fmt_list(struct strbuf *out, const uint32_t *v, size_t n)
{
	seqset_format_list(out, v, n);
}

static void test_partial_write(void **state)
{
	(void)state;
	static const uint32_t res[] = { 3, 4, 5, 9, 20 };
	struct search_partial p;
	struct strbuf b = STRBUF_INIT;
	assert_int_equal(search_partial_parse("-1:-3", &p), 0);
	search_partial_write(&b, &p, res, 5, fmt_list);
	assert_string_equal(b.s, " PARTIAL (-1:-3 5,9,20)");
	strbuf_reset(&b);
	assert_int_equal(search_partial_parse("2:1", &p), 0);
	search_partial_write(&b, &p, res, 5, fmt_list);
	assert_string_equal(b.s, " PARTIAL (2:1 3:4)");
	strbuf_reset(&b);
	assert_int_equal(search_partial_parse("6:9", &p), 0);
	search_partial_write(&b, &p, res, 5, fmt_list);
	assert_string_equal(b.s, " PARTIAL (6:9 NIL)");
	strbuf_reset(&b);
	search_partial_write(&b, &p, NULL, 0, fmt_list);
	assert_string_equal(b.s, " PARTIAL (6:9 NIL)");
	strbuf_free(&b);
}

/* ---- RETURN (...) and FETCH modifiers --------------------------------- */

/* Parses "t X <text>\r\n" and hands the first argument to fn. */
static int with_arg(const char *text, int (*fn)(const struct imap_arg *, void *), void *ctx)
{
	struct strbuf cmd = STRBUF_INIT;
	strbuf_adds(&cmd, "t X ");
	strbuf_adds(&cmd, text);
	strbuf_adds(&cmd, "\r\n");
	/* one line without literals: one feed parses it all */
	struct imap_parser *p = imap_parser_new(NULL);
	size_t used = 0;
	if (imap_parser_feed(p, cmd.s, cmd.len, &used) != IMAP_PARSE_DONE || used != cmd.len)
		fail_msg("command parser: %s on \"%s\"", imap_parser_error(p), cmd.s);
	size_t n = 0;
	const struct imap_arg *args = imap_parser_args(p, &n);
	assert_true(n >= 1);
	int res = fn(&args[0], ctx);
	imap_parser_free(p);
	strbuf_free(&cmd);
	return res;
}

static int ret_fn(const struct imap_arg *a, void *ctx)
{
	const char *err = NULL;
	int r = search_return_parse(a, ctx, &err);
	if (r < 0)
		assert_non_null(err);
	return r;
}

static unsigned opts(const char *list)
{
	struct search_return r;
	if (with_arg(list, ret_fn, &r) < 0)
		return 0xdead;
	return r.opts;
}

static void test_return_parse(void **state)
{
	(void)state;
	assert_int_equal(opts("()"), ESEARCH_ALL);
	assert_int_equal(opts("(CONTEXT)"), ESEARCH_ALL | ESEARCH_CONTEXT);
	assert_int_equal(opts("(min Max COUNT)"), ESEARCH_MIN | ESEARCH_MAX | ESEARCH_COUNT);
	assert_int_equal(opts("(UPDATE)"), ESEARCH_UPDATE);
	assert_int_equal(opts("(SAVE)"), ESEARCH_SAVE);
	assert_int_equal(opts("(UPDATE CONTEXT COUNT)"),
			 ESEARCH_UPDATE | ESEARCH_CONTEXT | ESEARCH_COUNT);
	struct search_return r;
	assert_int_equal(with_arg("(COUNT PARTIAL -1:-50)", ret_fn, &r), 0);
	assert_int_equal(r.opts, ESEARCH_COUNT | ESEARCH_PARTIAL);
	assert_true(r.partial.first == -1 && r.partial.last == -50);
	assert_int_equal(opts("(partial 5:1)"), ESEARCH_PARTIAL);
	/* RFC 9394 3.1: one PARTIAL or one ALL, not both, not two */
	static const char *const bad[] = {
		"(PARTIAL 1:5 ALL)", "(ALL PARTIAL 1:5)", "(PARTIAL 1:5 PARTIAL 6:9)",
		"(PARTIAL)", "(PARTIAL 0:5)", "(PARTIAL (1:5))", "(PARTIAL \"1:5\")",
		"(FOO)", "(MIN FOO)", "MIN", "NIL",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (opts(bad[i]) != 0xdead)
			fail_msg("accepted %s", bad[i]);
}

struct mod_result {
	bool found;
	struct search_partial p;
	size_t rest;
	char first_rest[32];
};

static int mod_fn(const struct imap_arg *a, void *ctx)
{
	struct mod_result *m = ctx;
	struct imap_arg rest;
	const char *err = NULL;
	int r = search_partial_modifier(a, &m->p, &m->found, &rest, &err);
	m->rest = rest.count;
	m->first_rest[0] = '\0';
	if (r == 0 && rest.count && rest.list[0].str)
		snprintf(m->first_rest, sizeof(m->first_rest), "%s", rest.list[0].str);
	if (r < 0)
		assert_non_null(err);
	free(rest.list);
	return r;
}

static void test_fetch_modifier(void **state)
{
	(void)state;
	struct mod_result m;
	assert_int_equal(with_arg("(PARTIAL -1:-3)", mod_fn, &m), 0);
	assert_true(m.found && m.p.first == -1 && m.p.last == -3 && m.rest == 0);
	assert_int_equal(with_arg("(CHANGEDSINCE 5 PARTIAL 1:2 VANISHED)", mod_fn, &m), 0);
	assert_true(m.found && m.rest == 3);
	assert_string_equal(m.first_rest, "CHANGEDSINCE");
	assert_int_equal(with_arg("(CHANGEDSINCE 5)", mod_fn, &m), 0);
	assert_true(!m.found && m.rest == 2);
	assert_int_equal(with_arg("FOO", mod_fn, &m), 0); /* not a list: FETCH's parser says BAD */
	assert_true(!m.found && m.rest == 0);
	assert_int_equal(with_arg("(PARTIAL 1:2 PARTIAL 3:4)", mod_fn, &m), -1);
	assert_int_equal(with_arg("(PARTIAL)", mod_fn, &m), -1);
	assert_int_equal(with_arg("(PARTIAL 1:*)", mod_fn, &m), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partial_parse),
		cmocka_unit_test(test_partial_slice),
		cmocka_unit_test(test_partial_write),
		cmocka_unit_test(test_return_parse),
		cmocka_unit_test(test_fetch_modifier),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
