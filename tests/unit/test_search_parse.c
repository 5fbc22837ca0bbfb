/* SEARCH criteria parsing (imap/search_parse.c) and evaluation of the keys
 * that need no message content (mail/search.c): flags, keywords, sequence
 * and UID sets with '*' and '$', dates, sizes, MODSEQ, OLDER/YOUNGER,
 * nesting, OR/NOT, CHARSET conversion, syntax errors, IMAP4rev1 vs rev2,
 * and i;unicode-casemap folding. Criteria go through the real command
 * parser, as they would from a client. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/flags.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "imap/parser.h"
#include "imap/search_parse.h"
#include "core/seqset.h"
#include "mail/search.h"

/* ---- helpers -------------------------------------------------------- */

static const struct search_parse_ctx ctx_rev1 = { .max_seq = 10, .max_uid = 500 };
static const struct search_parse_ctx ctx_rev2 = { .max_seq = 10, .max_uid = 500, .rev2 = true };

/* Parses "t SEARCH <criteria>\r\n" with the command parser, then the
 * arguments with imap_search_parse(). Literals in criteria must be
 * non-synchronizing ({n+}). */
static enum search_parse_result parse_ctx(const char *criteria, size_t clen,
					  const struct search_parse_ctx *ctx,
					  struct search_key **key, const char **err)
{
	struct strbuf cmd = STRBUF_INIT;
	strbuf_adds(&cmd, "t SEARCH ");
	strbuf_add(&cmd, criteria, clen);
	strbuf_adds(&cmd, "\r\n");
	struct imap_parser *p = imap_parser_new(NULL);
	size_t off = 0;
	enum imap_parse_result r;
	do {
		size_t used = 0;
		r = imap_parser_feed(p, cmd.s + off, cmd.len - off, &used);
		off += used;
	} while (r == IMAP_PARSE_CONTINUE || (r == IMAP_PARSE_NEED_MORE && off < cmd.len));
	if (r != IMAP_PARSE_DONE)
		fail_msg("command parser: %s on \"%s\"", imap_parser_error(p), cmd.s);
	size_t n = 0;
	const struct imap_arg *args = imap_parser_args(p, &n);
	*key = NULL;
	*err = NULL;
	enum search_parse_result res = imap_search_parse(args, n, ctx, key, err);
	if (res == SEARCH_PARSE_OK) {
		assert_non_null(*key);
		assert_int_equal((*key)->type, SK_AND);
	} else {
		assert_null(*key);
	}
	if (res == SEARCH_PARSE_BAD) {
		assert_non_null(*err);
		assert_true(strlen(*err) > 0);
	}
	imap_parser_free(p);
	strbuf_free(&cmd);
	return res;
}

static struct search_key *parse_ok_ctx(const char *criteria, const struct search_parse_ctx *ctx)
{
	struct search_key *k;
	const char *err;
	enum search_parse_result r = parse_ctx(criteria, strlen(criteria), ctx, &k, &err);
	if (r != SEARCH_PARSE_OK)
		fail_msg("\"%s\" -> %d (%s)", criteria, r, err ? err : "");
	return k;
}

static struct search_key *parse_ok(const char *criteria)
{
	return parse_ok_ctx(criteria, &ctx_rev1);
}

/* Returns the BAD message (static/thread-local storage). */
static const char *parse_bad_ctx(const char *criteria, const struct search_parse_ctx *ctx)
{
	struct search_key *k;
	const char *err;
	enum search_parse_result r = parse_ctx(criteria, strlen(criteria), ctx, &k, &err);
	if (r != SEARCH_PARSE_BAD)
		fail_msg("\"%s\" expected BAD, got %d", criteria, r);
	return err;
}

static const char *parse_bad(const char *criteria)
{
	return parse_bad_ctx(criteria, &ctx_rev1);
}

static int load_calls;

static const struct mail_msg *load_counting(void *ctx)
{
	load_calls++;
	return NULL;
}

static struct search_msg msg_default(void)
{
	struct search_msg m = {
		.seq = 1,
		.uid = 100,
		.flags = 0,
		.keywords = NULL,
		.internaldate = 1700000000, /* 2023-11-14 22:13:20 UTC */
		.internaldate_tz = 0,
		.savedate = -1,
		.size = 1000,
		.modseq = 5,
		.now = 1700000000,
		.load = load_counting,
		.load_ctx = NULL,
	};
	return m;
}

static bool match(const char *criteria, struct search_msg *m)
{
	struct search_key *k = parse_ok(criteria);
	bool r = search_match(k, m);
	search_key_free(k);
	return r;
}

static bool match_ctx(const char *criteria, const struct search_parse_ctx *ctx,
		      struct search_msg *m)
{
	struct search_key *k = parse_ok_ctx(criteria, ctx);
	bool r = search_match(k, m);
	search_key_free(k);
	return r;
}

/* Compact tree form for structural checks. */
static void dump(struct strbuf *b, const struct search_key *k)
{
	static const char *const names[] = {
		[SK_ALL] = "ALL", [SK_AND] = "AND", [SK_OR] = "OR", [SK_NOT] = "NOT",
		[SK_SEQSET] = "SEQ", [SK_UIDSET] = "UID", [SK_FLAG] = "FLAG", [SK_NOFLAG] = "NOFLAG",
		[SK_NEW] = "NEW", [SK_OLD] = "OLD", [SK_KEYWORD] = "KW", [SK_UNKEYWORD] = "UNKW",
		[SK_BEFORE] = "BEFORE", [SK_ON] = "ON", [SK_SINCE] = "SINCE",
		[SK_SENTBEFORE] = "SENTBEFORE", [SK_SENTON] = "SENTON", [SK_SENTSINCE] = "SENTSINCE",
		[SK_SAVEDBEFORE] = "SAVEDBEFORE", [SK_SAVEDON] = "SAVEDON",
		[SK_SAVEDSINCE] = "SAVEDSINCE", [SK_SAVEDATESUPPORTED] = "SAVEDATESUPPORTED",
		[SK_LARGER] = "LARGER", [SK_SMALLER] = "SMALLER", [SK_HEADER] = "HEADER",
		[SK_BODY] = "BODY", [SK_TEXT] = "TEXT", [SK_MODSEQ] = "MODSEQ", [SK_OLDER] = "OLDER",
		[SK_YOUNGER] = "YOUNGER",
		[SK_EMAILID] = "EMAILID", [SK_THREADID] = "THREADID", /* objectid */
	};
	strbuf_adds(b, names[k->type]);
	switch (k->type) {
	case SK_SEQSET:
	case SK_UIDSET: {
		char buf[256];
		seqset_format(&k->set, buf, sizeof(buf));
		strbuf_addf(b, ":%s", buf);
		break;
	}
	case SK_FLAG:
	case SK_NOFLAG:
		strbuf_addf(b, ":%u", k->flag);
		break;
	case SK_KEYWORD:
	case SK_UNKEYWORD:
	case SK_BODY:
	case SK_TEXT:
	case SK_EMAILID:
	case SK_THREADID:
		strbuf_addf(b, ":%s", k->str);
		break;
	case SK_HEADER:
		strbuf_addf(b, ":%s:%s", k->field, k->str);
		break;
	case SK_LARGER:
	case SK_SMALLER:
	case SK_MODSEQ:
	case SK_OLDER:
	case SK_YOUNGER:
		strbuf_addf(b, ":%llu", (unsigned long long)k->num);
		break;
	case SK_BEFORE:
	case SK_ON:
	case SK_SINCE:
	case SK_SENTBEFORE:
	case SK_SENTON:
	case SK_SENTSINCE:
	case SK_SAVEDBEFORE:
	case SK_SAVEDON:
	case SK_SAVEDSINCE:
		strbuf_addf(b, ":%lld", (long long)k->date);
		break;
	default:
		break;
	}
	if (k->nchildren) {
		strbuf_addc(b, '(');
		for (size_t i = 0; i < k->nchildren; i++) {
			if (i)
				strbuf_addc(b, ' ');
			dump(b, k->children[i]);
		}
		strbuf_addc(b, ')');
	}
}

static void assert_tree(const char *criteria, const struct search_parse_ctx *ctx,
			const char *want)
{
	struct search_key *k = parse_ok_ctx(criteria, ctx);
	struct strbuf b = STRBUF_INIT;
	dump(&b, k);
	assert_string_equal(b.s, want);
	strbuf_free(&b);
	search_key_free(k);
}

static char *fold(const char *s)
{
	return search_casefold(s, strlen(s), NULL);
}

static void assert_fold_eq(const char *a, const char *b)
{
	char *fa = fold(a), *fb = fold(b);
	assert_string_equal(fa, fb);
	free(fa);
	free(fb);
}

static void assert_fold_ne(const char *a, const char *b)
{
	char *fa = fold(a), *fb = fold(b);
	assert_string_not_equal(fa, fb);
	free(fa);
	free(fb);
}

/* ---- flags ------------------------------------------------------------ */

static void test_all(void **state)
{
	struct search_msg m = msg_default();
	assert_true(match("ALL", &m));
	m.flags = MAIL_FLAGS_STORED;
	assert_true(match("all", &m));
	assert_tree("ALL", &ctx_rev1, "AND(ALL)");
}

static void test_system_flags(void **state)
{
	static const struct {
		const char *set, *unset;
		unsigned flag;
	} f[] = {
		{ "ANSWERED", "UNANSWERED", MAIL_FLAG_ANSWERED },
		{ "DELETED", "UNDELETED", MAIL_FLAG_DELETED },
		{ "DRAFT", "UNDRAFT", MAIL_FLAG_DRAFT },
		{ "FLAGGED", "UNFLAGGED", MAIL_FLAG_FLAGGED },
		{ "SEEN", "UNSEEN", MAIL_FLAG_SEEN },
	};
	load_calls = 0;
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		struct search_msg m = msg_default();
		assert_false(match(f[i].set, &m));
		assert_true(match(f[i].unset, &m));
		m.flags = f[i].flag;
		assert_true(match(f[i].set, &m));
		assert_false(match(f[i].unset, &m));
		/* Every other flag set but this one. */
		m.flags = MAIL_FLAGS_STORED & ~f[i].flag;
		assert_false(match(f[i].set, &m));
		assert_true(match(f[i].unset, &m));
	}
	assert_int_equal(load_calls, 0);
}

static void test_keys_case_insensitive(void **state)
{
	struct search_msg m = msg_default();
	m.flags = MAIL_FLAG_SEEN;
	assert_true(match("sEeN", &m));
	assert_false(match("unseen", &m));
	assert_true(match("Or fLaGgEd seen", &m));
	assert_true(match("not Deleted", &m));
}

static void test_rev1_new_old_recent(void **state)
{
	struct search_msg m = msg_default();
	m.flags = MAIL_FLAG_RECENT;
	assert_true(match("RECENT", &m));
	assert_true(match("NEW", &m));
	assert_false(match("OLD", &m));
	m.flags = MAIL_FLAG_RECENT | MAIL_FLAG_SEEN;
	assert_true(match("RECENT", &m));
	assert_false(match("NEW", &m));
	assert_false(match("OLD", &m));
	m.flags = MAIL_FLAG_SEEN;
	assert_false(match("RECENT", &m));
	assert_false(match("NEW", &m));
	assert_true(match("OLD", &m));
	/* RFC 3501: OLD is NOT RECENT, as opposed to NOT NEW. */
	assert_true(match("NOT NEW", &m));
}

static void test_rev2_rejects_new_old_recent(void **state)
{
	const char *e = parse_bad_ctx("NEW", &ctx_rev2);
	assert_non_null(strstr(e, "NEW"));
	assert_non_null(strstr(e, "IMAP4rev2"));
	e = parse_bad_ctx("SEEN OLD", &ctx_rev2);
	assert_non_null(strstr(e, "OLD"));
	e = parse_bad_ctx("OR SEEN recent", &ctx_rev2);
	assert_non_null(strstr(e, "recent"));
	/* Everything else is the same in both. */
	struct search_msg m = msg_default();
	m.flags = MAIL_FLAG_SEEN;
	assert_true(match_ctx("SEEN UID 100", &ctx_rev2, &m));
	assert_true(match_ctx("UNFLAGGED", &ctx_rev2, &m));
}

static void test_keyword(void **state)
{
	struct search_msg m = msg_default();
	assert_false(match("KEYWORD $Junk", &m));
	assert_true(match("UNKEYWORD $Junk", &m));
	m.keywords = "";
	assert_false(match("KEYWORD $Junk", &m));
	m.keywords = "$Forwarded $Junk work";
	assert_true(match("KEYWORD $Junk", &m));
	assert_true(match("KEYWORD $junk", &m));
	assert_true(match("KEYWORD work", &m));
	assert_true(match("KEYWORD $forwarded", &m));
	assert_false(match("KEYWORD $Jun", &m));
	assert_false(match("KEYWORD Junk", &m));
	assert_false(match("UNKEYWORD WORK", &m));
	assert_true(match("UNKEYWORD private", &m));
	assert_tree("KEYWORD $MDNSent", &ctx_rev1, "AND(KW:$MDNSent)");
}

static void test_keyword_invalid(void **state)
{
	assert_non_null(strstr(parse_bad("KEYWORD \\Seen"), "KEYWORD"));
	parse_bad("KEYWORD \"two words\"");
	parse_bad("UNKEYWORD (a)");
	assert_non_null(strstr(parse_bad("KEYWORD"), "Missing"));
}

/* ---- sets ------------------------------------------------------------- */

static void test_seqset(void **state)
{
	struct search_msg m = msg_default();
	bool want[11] = { false, false, true, true, true, false, false, false, false, false, false };
	for (uint32_t s = 1; s <= 10; s++) {
		m.seq = s;
		assert_int_equal(match("2:4", &m), want[s]);
		assert_int_equal(match("4:2", &m), want[s]);
		assert_int_equal(match("*", &m), s == 10);
		assert_int_equal(match("1,3,7:*", &m), s == 1 || s == 3 || s >= 7);
		assert_int_equal(match("NOT 2:4", &m), !want[s]);
	}
	assert_tree("1,3:5,8:*", &ctx_rev1, "AND(SEQ:1,3:5,8:10)");
}

static void test_uidset(void **state)
{
	struct search_msg m = msg_default();
	m.uid = 450;
	assert_true(match("UID 400:*", &m));
	assert_true(match("UID *:400", &m));
	assert_false(match("UID 1:449", &m));
	assert_true(match("UID 1:449,450", &m));
	assert_false(match("UID 451:*", &m));
	m.uid = 500;
	assert_true(match("UID *", &m));
	assert_tree("uid 1:3,*", &ctx_rev1, "AND(UID:1:3,500)");
}

static void test_saved_result(void **state)
{
	struct seqset saved = SEQSET_INIT;
	seqset_add(&saved, 100, 102);
	seqset_add(&saved, 300, 300);
	struct search_parse_ctx ctx = ctx_rev1;
	ctx.saved = &saved;
	/* RFC 5182: "$" holds UIDs, in both "$" and "UID $". */
	assert_tree("$", &ctx, "AND(UID:100:102,300)");
	assert_tree("UID $", &ctx, "AND(UID:100:102,300)");
	struct search_msg m = msg_default();
	m.seq = 300;
	m.uid = 101;
	assert_true(match_ctx("$", &ctx, &m));
	assert_true(match_ctx("UID $", &ctx, &m));
	assert_false(match_ctx("NOT $", &ctx, &m));
	m.uid = 103;
	assert_false(match_ctx("$", &ctx, &m));
	/* No saved result: "$" is the empty set. */
	ctx.saved = NULL;
	m.uid = 101;
	assert_false(match_ctx("$", &ctx, &m));
	assert_false(match_ctx("UID $", &ctx, &m));
	assert_true(match_ctx("NOT $", &ctx, &m));
	seqset_free(&saved);
}

static void test_seqset_invalid(void **state)
{
	assert_non_null(strstr(parse_bad("1:"), "sequence set"));
	parse_bad("0");
	parse_bad("1,,2");
	parse_bad("1:2:3");
	parse_bad("$,1");
	parse_bad("UID");
	parse_bad("UID abc");
	parse_bad("UID \"1:2\"");
}

/* ---- structure ---------------------------------------------------------- */

static void test_parenthesised(void **state)
{
	struct search_msg m = msg_default();
	m.flags = MAIL_FLAG_SEEN | MAIL_FLAG_FLAGGED;
	assert_true(match("(SEEN FLAGGED)", &m));
	assert_false(match("(SEEN DELETED)", &m));
	assert_true(match("((SEEN) ((FLAGGED)))", &m));
	assert_true(match("NOT (SEEN DELETED)", &m));
	assert_tree("(SEEN (FLAGGED)) UID 1", &ctx_rev1,
		    "AND(AND(FLAG:1 AND(FLAG:4)) UID:1)");
}

static void test_or_nested(void **state)
{
	struct search_msg m = msg_default();
	m.flags = MAIL_FLAG_DELETED;
	assert_true(match("OR SEEN OR FLAGGED DELETED", &m));
	assert_true(match("OR OR SEEN FLAGGED DELETED", &m));
	assert_false(match("OR SEEN OR FLAGGED ANSWERED", &m));
	assert_true(match("OR (SEEN FLAGGED) (DELETED UNSEEN)", &m));
	assert_false(match("OR (SEEN DELETED) (DELETED SEEN)", &m));
	assert_tree("OR SEEN OR FLAGGED UID 5", &ctx_rev1,
		    "AND(OR(FLAG:1 OR(FLAG:4 UID:5)))");
}

static void test_not(void **state)
{
	struct search_msg m = msg_default();
	m.flags = MAIL_FLAG_SEEN;
	assert_false(match("NOT SEEN", &m));
	assert_true(match("NOT NOT SEEN", &m));
	assert_true(match("NOT OR FLAGGED DELETED", &m));
	assert_false(match("NOT OR FLAGGED SEEN", &m));
	assert_tree("NOT NOT SEEN", &ctx_rev1, "AND(NOT(NOT(FLAG:1)))");
}

static void test_implicit_and(void **state)
{
	struct search_msg m = msg_default();
	m.flags = MAIL_FLAG_SEEN;
	m.seq = 3;
	assert_true(match("SEEN 1:5 UNFLAGGED SMALLER 2000", &m));
	assert_false(match("SEEN 1:5 UNFLAGGED SMALLER 1000", &m));
	assert_false(match("SEEN 4:5", &m));
}

static void test_unknown_key(void **state)
{
	const char *e = parse_bad("FOOBAR");
	assert_non_null(strstr(e, "Unknown"));
	assert_non_null(strstr(e, "FOOBAR"));
	parse_bad("SEEN X-GM-RAW foo");
	parse_bad("NIL");
	/* A string where a key belongs. */
	parse_bad("\"SEEN\"");
	/* The name in the message is bounded and printable. */
	char longkey[300];
	memset(longkey, 'Q', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	e = parse_bad(longkey);
	assert_true(strlen(e) < 160);
	assert_non_null(strstr(e, "..."));
}

static void test_missing_argument(void **state)
{
	static const char *const cases[] = {
		"SUBJECT", "FROM", "TO", "CC", "BCC", "BODY", "TEXT", "HEADER", "HEADER Subject",
		"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "SAVEDBEFORE",
		"SAVEDON", "SAVEDSINCE", "LARGER", "SMALLER", "OLDER", "YOUNGER", "MODSEQ",
		"EMAILID", "THREADID", /* objectid */
		"KEYWORD", "UNKEYWORD", "UID", "NOT", "OR", "OR SEEN", "(NOT)", "SEEN (OR SEEN)",
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *e = parse_bad(cases[i]);
		if (!strstr(e, "Missing"))
			fail_msg("\"%s\": %s", cases[i], e);
	}
}

static void test_unbalanced_parens(void **state)
{
	/* Unbalanced parentheses never reach the search parser: the command
	 * parser answers BAD. */
	static const char *const cases[] = { "(SEEN", "SEEN)", "((SEEN)", "(SEEN))" };
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char cmd[64];
		snprintf(cmd, sizeof(cmd), "t SEARCH %s\r\n", cases[i]);
		struct imap_parser *p = imap_parser_new(NULL);
		size_t used;
		enum imap_parse_result r = imap_parser_feed(p, cmd, strlen(cmd), &used);
		assert_int_equal(r, IMAP_PARSE_ERROR);
		assert_non_null(imap_parser_error(p));
		imap_parser_free(p);
	}
	/* An empty list is ours to refuse. */
	assert_non_null(strstr(parse_bad("()"), "Empty"));
	parse_bad("SEEN ()");
}

static void test_no_criteria(void **state)
{
	struct search_key *k = (struct search_key *)1;
	const char *err = NULL;
	assert_int_equal(imap_search_parse(NULL, 0, &ctx_rev1, &k, &err), SEARCH_PARSE_BAD);
	assert_null(k);
	assert_non_null(err);
}

static void test_depth_limit(void **state)
{
	struct strbuf b = STRBUF_INIT;
	for (int i = 0; i < 200; i++)
		strbuf_adds(&b, "NOT ");
	strbuf_adds(&b, "SEEN");
	assert_non_null(strstr(parse_bad(b.s), "deeply"));
	strbuf_reset(&b);
	for (int i = 0; i < 200; i++)
		strbuf_adds(&b, "OR SEEN ");
	strbuf_adds(&b, "SEEN");
	parse_bad(b.s);
	/* Reasonable nesting is fine. */
	strbuf_reset(&b);
	for (int i = 0; i < 20; i++)
		strbuf_adds(&b, "NOT ");
	strbuf_adds(&b, "SEEN");
	struct search_msg m = msg_default();
	m.flags = MAIL_FLAG_SEEN;
	assert_true(match(b.s, &m));
	m.flags = 0;
	assert_false(match(b.s, &m));
	strbuf_free(&b);
}

static void test_large_flat_list(void **state)
{
	/* Thousands of keys (as many as a 64 KiB line holds) in one flat
	 * list. */
	struct strbuf b = STRBUF_INIT;
	for (unsigned i = 1; i <= 6000; i++)
		strbuf_addf(&b, "%sNOT %u", i > 1 ? " " : "", i * 2);
	struct search_parse_ctx ctx = ctx_rev1;
	ctx.max_seq = 100000;
	struct search_key *k = parse_ok_ctx(b.s, &ctx);
	assert_int_equal(k->nchildren, 6000);
	struct search_msg m = msg_default();
	m.seq = 7;
	assert_true(search_match(k, &m));
	m.seq = 12000;
	assert_false(search_match(k, &m));
	search_key_free(k);
	strbuf_free(&b);
}

/* ---- dates -------------------------------------------------------------- */

static void test_date_internal(void **state)
{
	load_calls = 0;
	struct search_msg m = msg_default();
	/* 2024-03-10 23:30 -0500 == 2024-03-11 04:30 UTC: the day is the
	 * 10th, in the internal date's own zone. */
	m.internaldate = 1710131400;
	m.internaldate_tz = -300;
	assert_true(match("ON 10-Mar-2024", &m));
	assert_false(match("ON 11-Mar-2024", &m));
	assert_true(match("BEFORE 11-Mar-2024", &m));
	assert_false(match("BEFORE 10-Mar-2024", &m));
	assert_true(match("SINCE 10-Mar-2024", &m));
	assert_false(match("SINCE 11-Mar-2024", &m));
	/* The same instant seen from +0900 is already the 11th. */
	m.internaldate_tz = 540;
	assert_true(match("ON 11-Mar-2024", &m));
	assert_false(match("ON 10-Mar-2024", &m));
	/* Before 1970 works too. */
	m.internaldate = -86400 * 365 + 3600;
	m.internaldate_tz = 0;
	assert_true(match("ON 1-Jan-1969", &m));
	assert_true(match("BEFORE 1-Jan-1970", &m));
	assert_int_equal(load_calls, 0);
}

static void test_date_formats(void **state)
{
	assert_tree("ON 1-Feb-1994", &ctx_rev1, "AND(ON:760060800)");
	assert_tree("ON 01-Feb-1994", &ctx_rev1, "AND(ON:760060800)");
	assert_tree("ON \"1-Feb-1994\"", &ctx_rev1, "AND(ON:760060800)");
	assert_tree("ON 1-fEB-1994", &ctx_rev1, "AND(ON:760060800)");
	assert_tree("SINCE 1-Jan-1970", &ctx_rev1, "AND(SINCE:0)");
	assert_tree("BEFORE 29-Feb-2024", &ctx_rev1, "AND(BEFORE:1709164800)");
	assert_tree("SENTON 31-Dec-1999 SAVEDSINCE 15-Jul-2021", &ctx_rev1,
		    "AND(SAVEDSINCE:1626307200 SENTON:946598400)");
}

static void test_date_invalid(void **state)
{
	static const char *const cases[] = {
		"ON 32-Jan-2024", "ON 0-Jan-2024", "ON 29-Feb-2023", "ON 31-Apr-2024",
		"ON 1-Foo-2024", "ON 1-Feb-94", "ON 001-Feb-2024", "ON 1-Feb-19945",
		"ON 1/Feb/1994", "ON 1-Feb-1994x", "ON Feb-1-1994", "ON -Feb-1994",
		"ON {10+}\r\n1-Feb-1994", "ON (1-Feb-1994)", "SINCE 1-February-1994",
		"BEFORE 1--1994", "SENTBEFORE 31-Jun-2020", "SAVEDON 30-Feb-2000",
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *e = parse_bad(cases[i]);
		if (!strstr(e, "date"))
			fail_msg("\"%s\": %s", cases[i], e);
	}
}

static void test_savedate(void **state)
{
	struct search_msg m = msg_default();
	/* No save date: RFC 8514 keys match nothing. */
	assert_false(match("SAVEDATESUPPORTED", &m));
	assert_false(match("SAVEDON 14-Nov-2023", &m));
	assert_false(match("SAVEDBEFORE 1-Jan-2100", &m));
	assert_false(match("SAVEDSINCE 1-Jan-1970", &m));
	assert_true(match("NOT SAVEDATESUPPORTED", &m));
	m.savedate = 1700000000; /* 2023-11-14 22:13:20 UTC */
	assert_true(match("SAVEDATESUPPORTED", &m));
	assert_true(match("SAVEDON 14-Nov-2023", &m));
	assert_false(match("SAVEDON 15-Nov-2023", &m));
	assert_true(match("SAVEDBEFORE 15-Nov-2023", &m));
	assert_false(match("SAVEDBEFORE 14-Nov-2023", &m));
	assert_true(match("SAVEDSINCE 14-Nov-2023", &m));
	assert_false(match("SAVEDSINCE 15-Nov-2023", &m));
}

static void test_older_younger(void **state)
{
	struct search_msg m = msg_default();
	m.now = 1700000000;
	m.internaldate = m.now - 3600;
	assert_true(match("YOUNGER 3601", &m));
	assert_true(match("YOUNGER 3600", &m));
	assert_false(match("YOUNGER 3599", &m));
	assert_false(match("OLDER 3600", &m));
	assert_true(match("OLDER 3599", &m));
	assert_true(match("OLDER 1 YOUNGER 86400", &m));
	/* A date in the future is younger than anything. */
	m.internaldate = m.now + 100;
	assert_true(match("YOUNGER 1", &m));
	assert_false(match("OLDER 1", &m));
	parse_bad("OLDER 0");
	parse_bad("YOUNGER -5");
	parse_bad("YOUNGER 4294967296");
	parse_bad("OLDER \"60\"");
}

/* ---- numbers -------------------------------------------------------------- */

static void test_larger_smaller(void **state)
{
	struct search_msg m = msg_default();
	m.size = 1000;
	assert_true(match("LARGER 999", &m));
	assert_false(match("LARGER 1000", &m));
	assert_true(match("SMALLER 1001", &m));
	assert_false(match("SMALLER 1000", &m));
	assert_false(match("SMALLER 0", &m));
	/* number64: 63 bits. */
	m.size = 5000000000ull;
	assert_true(match("LARGER 4294967296", &m));
	assert_true(match("SMALLER 9223372036854775807", &m));
	parse_bad("LARGER 9223372036854775808");
	parse_bad("LARGER -1");
	parse_bad("LARGER 1k");
	parse_bad("SMALLER \"10\"");
	parse_bad("SMALLER (10)");
}

/* objectid: RFC 8474 6. An EMAILID is "M" and a prefix of the blob hash. */
static void test_objectid(void **state)
{
	(void)state;
	struct search_msg m = msg_default();
	m.blob = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	assert_true(match("EMAILID M0123456789abcdef01234567", &m));
	assert_false(match("EMAILID M0123456789abcdef01234568", &m));
	assert_false(match("EMAILID M0123456789ABCDEF01234567", &m)); /* not one we issue */
	assert_false(match("EMAILID M0123", &m));
	assert_false(match("EMAILID F0123456789abcdef01234567", &m));
	assert_false(match("THREADID T0123456789abcdef01234567", &m));
	assert_true(match("NOT THREADID T1", &m));
	assert_true(match("OR THREADID T1 emailid M0123456789abcdef01234567", &m));
	m.blob = NULL;
	assert_false(match("EMAILID M0123456789abcdef01234567", &m));
	assert_tree("EMAILID M0123456789abcdef01234567", &ctx_rev1,
		    "AND(EMAILID:0123456789abcdef01234567)");
	assert_tree("THREADID T-_9", &ctx_rev1, "AND(THREADID:)");
	parse_bad("EMAILID \"a b\"");
	parse_bad("EMAILID \"M01\"");
	parse_bad("EMAILID (M01)");
	parse_bad("THREADID M.1");
	char big[300];
	memset(big, 0, sizeof(big));
	memcpy(big, "EMAILID ", 8);
	memset(big + 8, 'M', 256);
	parse_bad(big);
	big[8 + 255] = '\0';
	assert_false(match(big, &m));
}

static void test_modseq(void **state)
{
	struct search_msg m = msg_default();
	m.modseq = 620162338;
	assert_true(match("MODSEQ 620162338", &m));
	assert_true(match("MODSEQ 0", &m));
	assert_false(match("MODSEQ 620162339", &m));
	/* RFC 7162 3.1.5: optional entry name and type. */
	assert_true(match("MODSEQ \"/flags/\\\\draft\" all 620162338", &m));
	assert_true(match("MODSEQ \"/flags/$Junk\" priv 5", &m));
	assert_false(match("MODSEQ \"/flags/\\\\seen\" SHARED 620162339", &m));
	assert_tree("MODSEQ \"/flags/\\\\draft\" all 620162338", &ctx_rev1,
		    "AND(MODSEQ:620162338)");
	parse_bad("MODSEQ \"/flags/\\\\draft\" every 5");
	parse_bad("MODSEQ \"/vendor/x\" all 5");
	parse_bad("MODSEQ \"/flags/\\\\draft\" all");
	parse_bad("MODSEQ \"/flags/\\\\draft\"");
	parse_bad("MODSEQ x");
	parse_bad("MODSEQ 9223372036854775808");
}

/* ---- strings and charsets ---------------------------------------------- */

static void test_header_keys_tree(void **state)
{
	assert_tree("FROM alice TO \"Bob B\" CC {3+}\r\ncar BCC dan SUBJECT hello", &ctx_rev1,
		    "AND(HEADER:From:alice HEADER:To:Bob B HEADER:Cc:car HEADER:Bcc:dan "
		    "HEADER:Subject:hello)");
	assert_tree("HEADER X-Mailer \"\"", &ctx_rev1, "AND(HEADER:X-Mailer:)");
	assert_tree("HEADER \"List-Id\" NIL", &ctx_rev1, "AND(HEADER:List-Id:NIL)");
	assert_tree("BODY x TEXT y", &ctx_rev1, "AND(BODY:x TEXT:y)");
	parse_bad("HEADER \"Sub:ject\" x");
	parse_bad("HEADER \"\" x");
	parse_bad("HEADER \"a b\" x");
	parse_bad("SUBJECT (hello)");
	parse_bad("BODY (x)");
}

static void test_string_folded_at_parse(void **state)
{
	struct search_key *k = parse_ok("SUBJECT \"Hello W\xc3\xb6rld\"");
	assert_int_equal(k->nchildren, 1);
	assert_string_equal(k->children[0]->str, "Hello W\xc3\xb6rld");
	assert_string_equal(k->children[0]->folded, "HELLO WO\xcc\x88RLD");
	search_key_free(k);
}

static void test_nul_in_literal(void **state)
{
	struct search_key *k;
	const char *err;
	static const char c[] = "BODY {3+}\r\na\0b";
	assert_int_equal(parse_ctx(c, sizeof(c) - 1, &ctx_rev1, &k, &err), SEARCH_PARSE_BAD);
	assert_non_null(strstr(err, "NUL"));
}

static void test_charset_latin1(void **state)
{
	struct search_parse_ctx ctx = ctx_rev1;
	ctx.charset = "ISO-8859-1";
	struct search_key *k;
	const char *err;
	/* "Gr\xfc\xdf" is "Grüß" in Latin-1, sent as a literal. */
	static const char c[] = "SUBJECT {4+}\r\nGr\xfc\xdf BODY caf\xe9";
	assert_int_equal(parse_ctx(c, sizeof(c) - 1, &ctx, &k, &err), SEARCH_PARSE_OK);
	assert_string_equal(k->children[0]->str, "Gr\xc3\xbc\xc3\x9f");
	assert_string_equal(k->children[0]->folded, "GRU\xcc\x88\xc3\x9f");
	assert_string_equal(k->children[1]->str, "caf\xc3\xa9");
	search_key_free(k);
}

static void test_charset_koi8r(void **state)
{
	struct search_parse_ctx ctx = ctx_rev1;
	ctx.charset = "koi8-r";
	struct search_key *k;
	const char *err;
	/* KOI8-R "\xd0\xd2\xc9\xd7\xc5\xd4" = "привет". */
	static const char c[] = "TEXT {6+}\r\n\xd0\xd2\xc9\xd7\xc5\xd4";
	assert_int_equal(parse_ctx(c, sizeof(c) - 1, &ctx, &k, &err), SEARCH_PARSE_OK);
	assert_string_equal(k->children[0]->str,
			    "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	/* Folded to titlecase: "ПРИВЕТ". */
	assert_string_equal(k->children[0]->folded,
			    "\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2");
	search_key_free(k);
}

static void test_charset_utf8_ascii(void **state)
{
	static const char *const ok[] = { "UTF-8", "utf-8", "US-ASCII", "us-ascii", NULL };
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		struct search_parse_ctx ctx = ctx_rev1;
		ctx.charset = ok[i];
		struct search_key *k = parse_ok_ctx("SUBJECT \"\xc3\xa4\"", &ctx);
		assert_string_equal(k->children[0]->str, "\xc3\xa4");
		search_key_free(k);
	}
}

static void test_badcharset(void **state)
{
	static const char *const bad[] = {
		"X-UNKNOWN-CHARSET", "UTF-8//TRANSLIT", "ISO-8859-1//IGNORE", "", "bogus charset",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct search_parse_ctx ctx = ctx_rev1;
		ctx.charset = bad[i];
		struct search_key *k;
		const char *err;
		/* Even without any string key: the charset itself is refused. */
		assert_int_equal(parse_ctx("SEEN", 4, &ctx, &k, &err), SEARCH_PARSE_BADCHARSET);
		assert_int_equal(parse_ctx("BODY x", 6, &ctx, &k, &err), SEARCH_PARSE_BADCHARSET);
	}
}

static void test_charset_invalid_bytes(void **state)
{
	struct search_parse_ctx ctx = ctx_rev1;
	ctx.charset = "SHIFT_JIS";
	struct search_key *k;
	const char *err;
	/* 0x81 starts a two-byte sequence; 0x20 can't end it. */
	static const char c[] = "BODY {2+}\r\n\x81\x20";
	assert_int_equal(parse_ctx(c, sizeof(c) - 1, &ctx, &k, &err), SEARCH_PARSE_BAD);
	assert_non_null(strstr(err, "CHARSET"));
}

/* ---- casefold ------------------------------------------------------------ */

static void test_casefold_basic(void **state)
{
	assert_fold_eq("hello", "HELLO");
	assert_fold_eq("\xc3\x84" "BC", "\xc3\xa4" "bc"); /* ÄBC / äbc */
	char *f = fold("\xc3\xa4" "bc");
	/* NFKD: A + COMBINING DIAERESIS. */
	assert_string_equal(f, "A\xcc\x88" "BC");
	free(f);
	/* Precomposed and combining forms are equal. */
	assert_fold_eq("caf\xc3\xa9", "CAFE\xcc\x81");
	/* Greek: final and medial sigma fold together. */
	assert_fold_eq("\xcf\x82", "\xcf\x83");
	assert_fold_eq("\xce\xa3", "\xcf\x83");
	/* Cyrillic. */
	assert_fold_eq("\xd0\xbf\xd1\x80\xd0\xb8", "\xd0\x9f\xd0\xa0\xd0\x98");
}

static void test_casefold_unicode_casemap(void **state)
{
	/* RFC 5051 uses the simple titlecase mapping of UnicodeData.txt:
	 * U+00DF has none, so "Straße" does not fold to "STRASSE" (which is
	 * what Dovecot answers too); it does equal "STRAßE". */
	assert_fold_ne("STRASSE", "Stra\xc3\x9f" "e");
	assert_fold_eq("stra\xc3\x9f" "e", "STRA\xc3\x9f" "E");
	/* NFKD: compatibility characters fold to their plain forms. */
	assert_fold_eq("\xef\xac\x81", "FI");          /* U+FB01 ligature */
	assert_fold_eq("\xef\xbc\xa1", "a");           /* U+FF21 fullwidth A */
	assert_fold_eq("\xe2\x84\xab", "\xc3\xa5");    /* U+212B ANGSTROM SIGN */
	/* Titlecase digraphs: DŽ, Dž and dž are one. */
	assert_fold_eq("\xc7\x84", "\xc7\x86");
	assert_fold_eq("\xc7\x85", "\xc7\x86");
}

static void test_casefold_invalid_utf8(void **state)
{
	size_t n;
	char *f = search_casefold("ab\xff" "cd\xc3", 6, &n);
	assert_int_equal(n, 6);
	assert_memory_equal(f, "AB\xff" "CD\xc3", 6);
	assert_int_equal(f[6], '\0');
	free(f);
	f = search_casefold("", 0, &n);
	assert_int_equal(n, 0);
	assert_string_equal(f, "");
	free(f);
	/* Embedded NUL (only via the length) is kept. */
	f = search_casefold("a\0b", 3, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(f, "A\0B", 3);
	free(f);
}

static void test_casefold_reordering(void **state)
{
	/* NFKD puts combining marks in canonical order: acute (230) after
	 * dot below (220), whether precomposed or not. */
	assert_fold_eq("a\xcc\x81\xcc\xa3", "a\xcc\xa3\xcc\x81");
	assert_fold_eq("\xc3\xa4\xcc\xa3", "A\xcc\xa3\xcc\x88");
	assert_fold_eq("x\xc3\xa4\xcc\xa3y", "XA\xcc\xa3\xcc\x88Y");
	char *f = fold("\xc3\xa4\xcc\xa3");
	assert_string_equal(f, "A\xcc\xa3\xcc\x88");
	free(f);
}

static void test_casefold_table_matches_slow_path(void **state)
{
	/* A lone two-byte character between ASCII takes the precomputed
	 * table; followed by U+4E00 (a starter without decomposition) it
	 * takes the general path. Both must agree for every character. */
	for (unsigned cp = 0x80; cp < 0x800; cp++) {
		char in1[8], in2[8];
		unsigned char b0 = (unsigned char)(0xc0 | (cp >> 6)), b1 = (unsigned char)(0x80 | (cp & 0x3f));
		snprintf(in1, sizeof(in1), "a%c%cb", b0, b1);
		snprintf(in2, sizeof(in2), "a%c%c\xe4\xb8\x80", b0, b1);
		size_t n1, n2;
		char *f1 = search_casefold(in1, strlen(in1), &n1);
		char *f2 = search_casefold(in2, strlen(in2), &n2);
		assert_true(n1 >= 2 && n2 >= 4);
		assert_int_equal(n1 - 1, n2 - 3);
		if (memcmp(f1, f2, n1 - 1) != 0)
			fail_msg("U+%04X folds differently on the fast path", cp);
		assert_int_equal(f1[n1 - 1], 'B');
		free(f1);
		free(f2);
	}
}

/* ---- evaluation plumbing ---------------------------------------------- */

static void test_needs_content(void **state)
{
	static const struct {
		const char *c;
		bool content;
	} cases[] = {
		{ "SEEN", false }, { "UID 1:*", false }, { "ON 1-Jan-2020", false },
		{ "LARGER 5", false }, { "KEYWORD a", false }, { "SAVEDON 1-Jan-2020", false },
		{ "SUBJECT x", true }, { "BODY x", true }, { "TEXT x", true },
		{ "HEADER X-A \"\"", true }, { "SENTON 1-Jan-2020", true },
		{ "NOT (SEEN OR FLAGGED FROM x)", true }, { "OR SEEN NOT SENTSINCE 1-Jan-2000", true },
		{ "NOT (SEEN OR FLAGGED DELETED)", false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct search_key *k = parse_ok(cases[i].c);
		assert_int_equal(search_needs_content(k), cases[i].content);
		search_key_free(k);
	}
}

static void test_cheap_keys_first(void **state)
{
	/* Content keys move behind cheap ones in an AND, and to the second
	 * branch of an OR; the client's order is kept otherwise. */
	assert_tree("BODY x SEEN SUBJECT y UID 1", &ctx_rev1,
		    "AND(FLAG:1 UID:1 BODY:x HEADER:Subject:y)");
	assert_tree("OR BODY x SEEN", &ctx_rev1, "AND(OR(FLAG:1 BODY:x))");
	assert_tree("(TEXT a DELETED) FLAGGED", &ctx_rev1,
		    "AND(FLAG:4 AND(FLAG:8 TEXT:a))");
	/* So an unseen message is rejected without loading its content. */
	load_calls = 0;
	struct search_msg m = msg_default();
	assert_false(match("BODY x SUBJECT y SEEN", &m));
	assert_false(match("OR BODY x SEEN UNSEEN DELETED", &m));
	assert_int_equal(load_calls, 0);
	/* With a content key to evaluate, load is called (once) and its
	 * failure means no match, even under NOT. */
	m.flags = MAIL_FLAG_SEEN;
	assert_false(match("SEEN BODY x SUBJECT y", &m));
	assert_int_equal(load_calls, 1);
	load_calls = 0;
	assert_false(match("NOT BODY x", &m));
	assert_int_equal(load_calls, 1);
	/* No loader at all: the same. */
	load_calls = 0;
	m.load = NULL;
	assert_false(match("NOT SUBJECT x", &m));
	assert_true(match("SEEN", &m));
}

/* One list of content keys (mail/search.c) serves both the parser, which
 * puts content keys behind cheap ones, and search_needs_content(), which
 * decides whether messages are loaded: for every key the client can send,
 * the two agree with each other and with the list written here. */
static void test_content_keys_one_list(void **state)
{
	static const struct {
		const char *c;
		bool content;
	} keys[] = {
		{ "ALL", false }, { "ANSWERED", false }, { "BCC x", true },
		{ "BEFORE 1-Jan-2020", false }, { "BODY x", true }, { "CC x", true },
		{ "DRAFT", false }, { "FLAGGED", false }, { "FROM x", true },
		{ "HEADER X-A y", true }, { "KEYWORD k", false }, { "LARGER 5", false },
		{ "NEW", false }, { "OLD", false }, { "ON 1-Jan-2020", false },
		{ "RECENT", false }, { "SEEN", false }, { "SENTBEFORE 1-Jan-2020", true },
		{ "SENTON 1-Jan-2020", true }, { "SENTSINCE 1-Jan-2020", true },
		{ "SINCE 1-Jan-2020", false }, { "SMALLER 5", false }, { "SUBJECT x", true },
		{ "TEXT x", true }, { "TO x", true }, { "UID 1:5", false }, { "UNANSWERED", false },
		{ "UNDELETED", false }, { "UNDRAFT", false }, { "UNFLAGGED", false },
		{ "UNKEYWORD k", false }, { "UNSEEN", false }, { "1:3", false },
		{ "MODSEQ 5", false }, { "OLDER 5", false }, { "YOUNGER 5", false },
		{ "SAVEDBEFORE 1-Jan-2020", false }, { "SAVEDON 1-Jan-2020", false },
		{ "SAVEDSINCE 1-Jan-2020", false }, { "SAVEDATESUPPORTED", false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char *c = xasprintf("%s DELETED", keys[i].c);
		struct search_key *k = parse_ok(c);
		assert_int_equal(k->nchildren, 2);
		/* DELETED (cheap) went first exactly when the key is content. */
		bool moved = k->children[0]->type == SK_FLAG && k->children[0]->flag == MAIL_FLAG_DELETED;
		struct search_key *key = k->children[moved ? 1 : 0];
		if (moved != keys[i].content || search_needs_content(key) != keys[i].content ||
		    search_key_type_needs_content(key->type) != keys[i].content)
			fail_msg("%s: parser moved=%d, needs_content=%d, want %d", keys[i].c, moved,
				 search_needs_content(key), keys[i].content);
		search_key_free(k);
		free(c);
	}
	assert_false(search_key_type_needs_content(SK__COUNT));
}

static void test_random_criteria(void **state)
{
	/* Random token soups: every outcome must be OK or BAD with a
	 * message, and nothing may leak or crash (ASan). */
	static const char *const vocab[] = {
		"ALL", "OR", "NOT", "(", ")", "SEEN", "UID", "1:*", "$", "*", "3,5", "SUBJECT",
		"\"x\"", "HEADER", "From", "ON", "1-Jan-2020", "LARGER", "10", "MODSEQ",
		"\"/flags/\\\\seen\"", "all", "KEYWORD", "foo", "BODY", "TEXT", "NEW",
		"OLDER", "SENTON", "{2+}\r\nab", "NIL", "0", "\"\"",
	};
	unsigned seed = 12345;
	struct search_msg m = msg_default();
	m.load = NULL;
	for (int iter = 0; iter < 3000; iter++) {
		struct strbuf b = STRBUF_INIT;
		int depth = 0;
		int ntok = 1 + (int)(rand_r(&seed) % 12);
		for (int t = 0; t < ntok; t++) {
			const char *w = vocab[rand_r(&seed) % ARRAY_SIZE(vocab)];
			if (w[0] == ')' && depth == 0)
				continue;
			if (b.len && b.s[b.len - 1] != '(' && w[0] != ')')
				strbuf_addc(&b, ' ');
			strbuf_adds(&b, w);
			depth += w[0] == '(' ? 1 : w[0] == ')' ? -1 : 0;
		}
		while (depth-- > 0)
			strbuf_addc(&b, ')');
		if (!b.len || b.s[b.len - 1] == '(') {
			strbuf_free(&b);
			continue;
		}
		struct search_key *k;
		const char *err;
		enum search_parse_result r =
			parse_ctx(b.s, b.len, iter % 2 ? &ctx_rev2 : &ctx_rev1, &k, &err);
		assert_true(r == SEARCH_PARSE_OK || r == SEARCH_PARSE_BAD);
		if (r == SEARCH_PARSE_OK) {
			(void)search_match(k, &m);
			search_key_free(k);
		}
		strbuf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all),
		cmocka_unit_test(test_system_flags),
		cmocka_unit_test(test_keys_case_insensitive),
		cmocka_unit_test(test_rev1_new_old_recent),
		cmocka_unit_test(test_rev2_rejects_new_old_recent),
		cmocka_unit_test(test_keyword),
		cmocka_unit_test(test_keyword_invalid),
		cmocka_unit_test(test_seqset),
		cmocka_unit_test(test_uidset),
		cmocka_unit_test(test_saved_result),
		cmocka_unit_test(test_seqset_invalid),
		cmocka_unit_test(test_parenthesised),
		cmocka_unit_test(test_or_nested),
		cmocka_unit_test(test_not),
		cmocka_unit_test(test_implicit_and),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_missing_argument),
		cmocka_unit_test(test_unbalanced_parens),
		cmocka_unit_test(test_no_criteria),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_large_flat_list),
		cmocka_unit_test(test_date_internal),
		cmocka_unit_test(test_date_formats),
		cmocka_unit_test(test_date_invalid),
		cmocka_unit_test(test_savedate),
		cmocka_unit_test(test_older_younger),
		cmocka_unit_test(test_larger_smaller),
		cmocka_unit_test(test_modseq),
		cmocka_unit_test(test_objectid),
		cmocka_unit_test(test_header_keys_tree),
		cmocka_unit_test(test_string_folded_at_parse),
		cmocka_unit_test(test_nul_in_literal),
		cmocka_unit_test(test_charset_latin1),
		cmocka_unit_test(test_charset_koi8r),
		cmocka_unit_test(test_charset_utf8_ascii),
		cmocka_unit_test(test_badcharset),
		cmocka_unit_test(test_charset_invalid_bytes),
		cmocka_unit_test(test_casefold_basic),
		cmocka_unit_test(test_casefold_unicode_casemap),
		cmocka_unit_test(test_casefold_invalid_utf8),
		cmocka_unit_test(test_casefold_reordering),
		cmocka_unit_test(test_casefold_table_matches_slow_path),
		cmocka_unit_test(test_needs_content),
		cmocka_unit_test(test_cheap_keys_first),
		cmocka_unit_test(test_content_keys_one_list),
		cmocka_unit_test(test_random_criteria),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
