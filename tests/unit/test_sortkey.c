/* SORT/THREAD logic without a server: RFC 5256 2.1 base subjects
 * (mail/basesubject.c), keys read from a cached ENVELOPE (mail/sortkey.c),
 * References parsing with its bound, and both threading algorithms
 * (mail/thread.c) on the RFC's shapes: dummies, loops, duplicate ids,
 * subject merging, deep chains without recursion. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/util.h"
#include "mail/mail.h"
#include "mail/sortkey.h"
#include "mail/thread.h"

/* ---- base subject ------------------------------------------------------- */

static void check_base(const char *raw, const char *want, bool want_reply)
{
	bool reply = !want_reply;
	char *got = mail_base_subject(raw, strlen(raw), &reply);
	if (strcmp(got, want) != 0 || reply != want_reply)
		fail_msg("subject \"%s\": got \"%s\" reply=%d, want \"%s\" reply=%d", raw, got,
			 reply, want, want_reply);
	free(got);
}

static void test_base_subject(void **state)
{
	(void)state;
	check_base("hello", "hello", false);
	check_base("Re: hello", "hello", true);
	check_base("RE: Re: re:  hello", "hello", true);
	check_base("Fwd: hello", "hello", true);
	check_base("FW: hello", "hello", true);
	/* step 2: "(fwd)" and trailing whitespace, repeatedly */
	check_base("hello (fwd)", "hello", true);
	check_base("hello (FWD) (fwd)  ", "hello", true);
	/* a blob before and inside subj-refwd */
	check_base("[list] Re: hello", "hello", true);
	check_base("Re[2]: hello", "hello", true);
	check_base("Re [2] : hello", "hello", true);
	check_base("[a][b] Re: [c] hello", "hello", true);
	/* step 4: a leading blob goes only when text remains */
	check_base("[blob]", "[blob]", false);
	check_base("re: [blob]", "[blob]", true);
	check_base("[a] [b]", "[b]", false);
	check_base("[a] b", "b", false);
	/* step 6: [fwd: ...], then again from step 2 */
	check_base("[Fwd: hello]", "hello", true);
	check_base("[fwd: Re: [x] hello (fwd)]", "hello", true);
	check_base("[Fwd: [Fwd: hello]]", "hello", true);
	check_base("Re: [fwd: Re: [x] y]", "y", true);
	/* not decorations */
	check_base("Re :no", "no", true); /* *WSP before the colon */
	check_base("Reply: x", "Reply: x", false);
	check_base("Fwdx: y", "Fwdx: y", false);
	check_base("Re", "Re", false);
	check_base("[unclosed hello", "[unclosed hello", false);
	check_base("hello]", "hello]", false);
	/* step 1: RFC 2047, tabs and folds as spaces, runs collapsed */
	check_base("=?ISO-8859-1?Q?Re=3A_caf=E9?=", "caf\xc3\xa9", true);
	check_base("Re: =?UTF-8?B?w4l0w6k=?=  \t (fwd)", "\xc3\x89t\xc3\xa9", true);
	check_base("   \t a\r\n   b    c  ", "a b c", false);
	/* empty results */
	check_base("", "", false);
	check_base("   ", "", false);
	check_base("Re:", "", true);
	check_base("[fwd: ]", "", true);
	check_base("(fwd)", "", true);
	bool r;
	char *s = mail_base_subject(NULL, 0, &r);
	assert_string_equal(s, "");
	free(s);
}

/* Long decorations: every step shortens the string, so this ends, and
 * in time linear-ish in practice. */
static void test_base_subject_long(void **state)
{
	(void)state;
	struct strbuf b = STRBUF_INIT;
	for (int i = 0; i < 5000; i++)
		strbuf_adds(&b, "Re: [x] ");
	strbuf_adds(&b, "end");
	for (int i = 0; i < 2000; i++)
		strbuf_adds(&b, " (fwd)");
	bool reply;
	char *s = mail_base_subject(b.s, b.len, &reply);
	assert_string_equal(s, "end");
	assert_true(reply);
	free(s);
	strbuf_free(&b);
}

/* ---- keys from the cached envelope -------------------------------------- */

static void test_keys_from_envelope(void **state)
{
	(void)state;
	const char *msg = "Date: Mon, 5 Feb 2024 09:30:00 -0300\r\n"
			  "From: undisclosed:;, =?UTF-8?Q?=C3=81da?= <Ada@A.example>\r\n"
			  "To: zoe@x.example\r\n"
			  "Cc: \"Bert B\" <bert@x.example>, c@x\r\n"
			  "Subject: Re: [list] =?UTF-8?Q?caf=C3=A9?= (fwd)\r\n"
			  "Message-ID: < id1@x >\r\n"
			  "In-Reply-To: <> junk <p@x> <q@x>\r\n"
			  "\r\nbody\r\n";
	struct mail_msg *m = mail_parse(msg, strlen(msg));
	struct strbuf env = STRBUF_INIT;
	mail_write_envelope(&env, m);
	mail_msg_free(m);
	struct sortkey k;
	sortkey_from_envelope(env.s, 42, &k);
	assert_int_equal(k.date, 1707136200); /* 12:30 UTC */
	assert_string_equal(k.subject, "CAFE\xcc\x81");
	assert_true(k.reply);
	/* the group marker is skipped: Ada is the first From address */
	assert_string_equal(k.from, "ADA");
	assert_string_equal(k.displayfrom, "A\xcc\x81" "DA");
	assert_string_equal(k.to, "ZOE");
	assert_string_equal(k.displayto, "ZOE@X.EXAMPLE");
	assert_string_equal(k.cc, "BERT");
	assert_string_equal(k.message_id, "id1@x");
	assert_string_equal(k.in_reply_to, "p@x");
	sortkey_free(&k);
	strbuf_free(&env);

	/* no Date:, no addresses: the internal date and empty keys */
	sortkey_from_envelope("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)", 42, &k);
	assert_int_equal(k.date, 42);
	assert_string_equal(k.subject, "");
	assert_string_equal(k.from, "");
	assert_string_equal(k.displayfrom, "");
	assert_null(k.message_id);
	sortkey_free(&k);
	/* an unparseable date, a literal subject, truncated input */
	sortkey_from_envelope("(\"not a date\" {6}\r\nRe: ok", 7, &k);
	assert_int_equal(k.date, 7);
	assert_string_equal(k.subject, "OK");
	sortkey_free(&k);
	sortkey_from_envelope(NULL, 1, &k);
	assert_string_equal(k.to, "");
	sortkey_free(&k);
	sortkey_from_envelope("({999}\r\nx", 1, &k);
	sortkey_free(&k);
}

static void test_references(void **state)
{
	(void)state;
	const char *msg = "Subject: x\r\n"
			  "References: <a@x>\r\n <b@x> (comment) <>\r\n\t<c\r\n @x>\r\n"
			  "\r\nReferences: <body@x>\r\n";
	char **ids;
	size_t n = sortkey_references(msg, strlen(msg), &ids);
	assert_int_equal(n, 3);
	assert_string_equal(ids[0], "a@x");
	assert_string_equal(ids[1], "b@x");
	assert_string_equal(ids[2], "c@x");
	sortkey_ids_free(ids, n);
	/* only in the body: none */
	const char *nohdr = "Subject: x\r\n\r\nReferences: <body@x>\r\n";
	assert_int_equal(sortkey_references(nohdr, strlen(nohdr), &ids), 0);
	assert_null(ids);
	/* the bound keeps the last SORTKEY_MAX_REFS, in order */
	struct strbuf b = STRBUF_INIT;
	strbuf_adds(&b, "References:");
	for (int i = 0; i < 1000; i++)
		strbuf_addf(&b, " <%d@x>", i);
	strbuf_adds(&b, "\r\n\r\n");
	n = sortkey_references(b.s, b.len, &ids);
	assert_int_equal(n, SORTKEY_MAX_REFS);
	char want[32];
	snprintf(want, sizeof(want), "%d@x", 1000 - SORTKEY_MAX_REFS);
	assert_string_equal(ids[0], want);
	assert_string_equal(ids[n - 1], "999@x");
	sortkey_ids_free(ids, n);
	strbuf_free(&b);
}

/* ---- threading ------------------------------------------------------------ */

/* A message for thread_write: id = sequence number i + 1. */
struct tm_spec {
	int64_t date;
	const char *subject;
	bool reply;
	const char *mid;
	const char *refs[4];
};

static char *threads(enum thread_algo algo, const struct tm_spec *spec, size_t n)
{
	struct thread_msg *m = xcalloc(n ? n : 1, sizeof(*m));
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		while (k < 4 && spec[i].refs[k])
			k++;
		m[i] = (struct thread_msg){ (uint32_t)i + 1, spec[i].date, spec[i].subject,
					     spec[i].reply, spec[i].mid,
					     (char *const *)spec[i].refs, k };
	}
	struct strbuf out = STRBUF_INIT;
	thread_write(algo, m, n, &out);
	free(m);
	char *s = xstrndup(out.s ? out.s : "", out.len);
	strbuf_free(&out);
	return s;
}

static void expect_threads(enum thread_algo algo, const struct tm_spec *spec, size_t n,
			   const char *want)
{
	char *got = threads(algo, spec, n);
	assert_string_equal(got, want);
	free(got);
}

static void test_orderedsubject(void **state)
{
	(void)state;
	const struct tm_spec s[] = {
		{ 3, "B", false, NULL, { 0 } }, { 2, "A", true, NULL, { 0 } },
		{ 1, "A", false, NULL, { 0 } }, { 4, "B", true, NULL, { 0 } },
		{ 9, "C", false, NULL, { 0 } }, { 5, "A", true, NULL, { 0 } },
		{ 5, "A", true, NULL, { 0 } },
	};
	expect_threads(THREAD_ORDEREDSUBJECT, s, 7, "(3 (2)(6)(7))(1 4)(5)");
	expect_threads(THREAD_ORDEREDSUBJECT, s, 0, "");
	expect_threads(THREAD_ORDEREDSUBJECT, s, 1, "(1)");
}

static void test_references_shapes(void **state)
{
	(void)state;
	const struct tm_spec s[] = {
		{ 1, "ROOT", false, "1@x", { 0 } },
		{ 2, "ROOT", true, "2@x", { "1@x" } },
		{ 3, "ROOT", true, "3@x", { "1@x" } },
		{ 4, "ROOT", true, "4@x", { "1@x", "2@x" } },
		/* missing parent, one child: promoted */
		{ 5, "LOST", false, "6@x", { "5@x" } },
		/* missing parent, two children: a top-level dummy */
		{ 6, "ORPHAN", false, "8@x", { "7@x" } },
		{ 7, "ORPHAN", true, "9@x", { "7@x" } },
		{ 8, "LOST", true, "10@x", { "6@x" } },
	};
	expect_threads(THREAD_REFERENCES, s, 8, "(1 (2 4)(3))(5 8)((6)(7))");

	/* loop, duplicate ids, a self-reference, subject merges */
	const struct tm_spec l[] = {
		{ 1, "LOOP A", false, "A@x", { "B@x" } },
		{ 2, "LOOP B", false, "B@x", { "A@x" } },
		{ 3, "DUP ONE", false, "D@x", { 0 } },
		{ 4, "DUP TWO", false, "D@x", { 0 } },
		{ 5, "DUP ONE", true, "E@x", { "D@x" } },
		{ 6, "SELFISH", false, "S@x", { "S@x" } },
		{ 7, "TOPIC", false, NULL, { 0 } },
		{ 8, "TOPIC", true, "T2@x", { 0 } },
		{ 9, "SAME", false, "S1@x", { 0 } },
		{ 10, "SAME", false, "S2@x", { 0 } },
	};
	expect_threads(THREAD_REFERENCES, l, 10, "(2 1)(3 5)(4)(6)(7 8)((9)(10))");

	/* a longer References loop: a->b->c->a across three messages */
	const struct tm_spec c[] = {
		{ 1, "X1", false, "a", { "c", "b" } },
		{ 2, "X2", false, "b", { "a", "c" } },
		{ 3, "X3", false, "c", { "b", "a" } },
	};
	char *got = threads(THREAD_REFERENCES, c, 3);
	/* every message appears once, parentheses balance */
	int depth = 0, seen[4] = { 0 };
	for (const char *p = got; *p; p++) {
		depth += *p == '(';
		depth -= *p == ')';
		assert_true(depth >= 0);
		if (*p >= '1' && *p <= '3')
			seen[*p - '0']++;
	}
	assert_int_equal(depth, 0);
	assert_int_equal(seen[1] + seen[2] + seen[3], 3);
	assert_true(seen[1] == 1 && seen[2] == 1 && seen[3] == 1);
	free(got);

	/* empty subjects are never merged; a reply joins a non-reply */
	const struct tm_spec e[] = {
		{ 1, "", false, "e1", { 0 } },
		{ 2, "", false, "e2", { 0 } },
		{ 3, "Q", true, "q1", { 0 } },
		{ 4, "Q", false, "q2", { 0 } },
	};
	expect_threads(THREAD_REFERENCES, e, 4, "(1)(2)(4 3)");
}

/* 20000 messages in one reply chain, then a caterpillar: no recursion
 * (ASan's stack would catch it), and the shapes are right. */
static void test_references_deep(void **state)
{
	(void)state;
	enum { N = 20000 };
	struct thread_msg *m = xcalloc(N, sizeof(*m));
	char (*ids)[16] = xcalloc(N, sizeof(*ids));
	char **parent = xcalloc(N, sizeof(*parent));
	for (size_t i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%zu", i);
		parent[i] = i ? ids[i - 1] : NULL;
		m[i] = (struct thread_msg){ (uint32_t)i + 1, (int64_t)i, "S", false, ids[i],
					     &parent[i], i ? 1 : 0 };
	}
	struct strbuf out = STRBUF_INIT;
	thread_write(THREAD_REFERENCES, m, N, &out);
	/* "(1 2 3 ... 20000)" */
	assert_int_equal(out.s[0], '(');
	assert_int_equal(out.s[out.len - 1], ')');
	assert_null(memchr(out.s + 1, '(', out.len - 1));
	strbuf_reset(&out);
	/* caterpillar: message 2k+1 continues from 2k-1, 2k+2 is a leaf on it */
	for (size_t i = 0; i < N; i++) {
		/* messages 1 and 2 reply to 0, 3 and 4 to 2, 5 and 6 to 4... */
		parent[i] = i ? ids[((i - 1) / 2) * 2] : NULL;
		m[i].nrefs = i ? 1 : 0;
	}
	thread_write(THREAD_REFERENCES, m, N, &out);
	int depth = 0, maxdepth = 0;
	for (size_t i = 0; i < out.len; i++) {
		depth += out.s[i] == '(';
		depth -= out.s[i] == ')';
		if (depth > maxdepth)
			maxdepth = depth;
	}
	assert_int_equal(depth, 0);
	assert_true(maxdepth >= N / 2 - 1);
	strbuf_free(&out);
	free(parent);
	free(ids);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_base_subject_long),
		cmocka_unit_test(test_keys_from_envelope),
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_orderedsubject),
		cmocka_unit_test(test_references_shapes),
		cmocka_unit_test(test_references_deep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
