/* SEARCH keys that look at message content (mail/search.c over messages
 * parsed by mail_parse): HEADER and the address/subject keys with RFC 2047
 * decoding, BODY and TEXT over transfer-decoded parts, SENT* dates by the
 * Date: header's own day, loading at most once, and i;unicode-casemap
 * matching of real text. */
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
#include "mail/mail.h"
#include "mail/search.h"
#include "mail/searchdoc.h"

/* ---- helpers -------------------------------------------------------- */

struct loader {
	const char *text;
	struct mail_msg *mail;
	int calls;
};

static const struct mail_msg *loader_load(void *ctx)
{
	struct loader *l = ctx;
	l->calls++;
	if (!l->mail)
		l->mail = mail_parse(l->text, strlen(l->text));
	return l->mail;
}

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
	enum search_parse_result res = imap_search_parse(args, n, ctx, key, err);
	imap_parser_free(p);
	strbuf_free(&cmd);
	return res;
}

static const struct search_parse_ctx ctx_default = { .max_seq = 1, .max_uid = 1 };

/* Matches criteria against message text; *calls receives how many times
 * the content was loaded. */
static bool match_full(const char *criteria, size_t clen, const struct search_parse_ctx *ctx,
		       const char *text, unsigned flags, int *calls)
{
	struct search_key *k = NULL;
	const char *err = NULL;
	if (parse_ctx(criteria, clen, ctx, &k, &err) != SEARCH_PARSE_OK)
		fail_msg("\"%s\": %s", criteria, err ? err : "parse failed");
	struct loader l = { .text = text };
	struct search_msg m = {
		.seq = 1,
		.uid = 1,
		.flags = flags,
		.internaldate = 1700000000,
		.savedate = -1,
		.size = strlen(text),
		.now = 1700000000,
		.load = loader_load,
		.load_ctx = &l,
	};
	bool r = search_match(k, &m);
	if (calls)
		*calls = l.calls;
	assert_true(l.calls <= 1);
	mail_msg_free(l.mail);
	search_key_free(k);
	return r;
}

static bool match(const char *criteria, const char *text)
{
	return match_full(criteria, strlen(criteria), &ctx_default, text, 0, NULL);
}

static const char msg_simple[] =
	"From: Alice Example <alice@example.org>\r\n"
	"To: Bob <bob@example.net>, carol@example.com\r\n"
	"Cc: Dave <dave@example.org>\r\n"
	"Bcc: eve@example.org\r\n"
	"Subject: Quarterly Report\r\n"
	"Date: Mon, 1 Jan 2024 23:30:00 -0500\r\n"
	"Message-ID: <1@example.org>\r\n"
	"X-Empty:\r\n"
	"Received: from a.example by b.example\r\n"
	"Received: from c.example by d.example\r\n"
	"\r\n"
	"Hello Bob,\r\n"
	"the numbers are in. Revenue is UP.\r\n";

static const char msg_encoded[] =
	"From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>\r\n"
	"To: =?UTF-8?B?SsO8cmdlbg==?= <juergen@example.de>\r\n"
	"Subject: =?UTF-8?B?w4RyZ2VyIG1pdCBkZXIgU3RyYcOfZQ==?=\r\n"
	"Date: 15 Jul 2021 00:10:00 +0200\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Gr=FC=DFe aus K=F6ln, caf=E9 ist fertig.\r\n";

static const char msg_multipart[] =
	"From: robot@example.org\r\n"
	"Subject: attachments\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
	"\r\n"
	"preamble is not text\r\n"
	"--XYZ\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"U2VjcmV0IHBhc3N3b3JkOiBzd29yZGZpc2g=\r\n"
	"--XYZ\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inner forwarded\r\n"
	"\r\n"
	"inner body text\r\n"
	"--XYZ--\r\n";

static const char msg_nodate[] =
	"Subject: no date here\r\n"
	"\r\n"
	"body\r\n";

/* ---- headers -------------------------------------------------------- */

static void test_subject_substring(void **state)
{
	assert_true(match("SUBJECT report", msg_simple));
	assert_true(match("SUBJECT \"QUARTERLY REP\"", msg_simple));
	assert_false(match("SUBJECT invoice", msg_simple));
	/* Only the Subject field, not the body. */
	assert_false(match("SUBJECT revenue", msg_simple));
	assert_true(match("SUBJECT \"\"", msg_simple));
	assert_true(match("NOT SUBJECT invoice", msg_simple));
}

static void test_address_keys(void **state)
{
	assert_true(match("FROM alice", msg_simple));
	assert_true(match("FROM \"ALICE@EXAMPLE.ORG\"", msg_simple));
	assert_false(match("FROM bob", msg_simple));
	assert_true(match("TO carol", msg_simple));
	assert_true(match("TO \"Bob <bob\"", msg_simple));
	assert_true(match("CC dave", msg_simple));
	assert_false(match("CC eve", msg_simple));
	assert_true(match("BCC eve", msg_simple));
	/* A field the message lacks matches nothing, not even "". */
	assert_false(match("BCC \"\"", msg_nodate));
	assert_false(match("FROM x", msg_nodate));
}

static void test_header_key(void **state)
{
	assert_true(match("HEADER Message-ID \"<1@\"", msg_simple));
	assert_true(match("HEADER message-id 1@EXAMPLE", msg_simple));
	/* RFC 9051 6.4.4: "" matches when the field exists, even empty. */
	assert_true(match("HEADER X-Empty \"\"", msg_simple));
	assert_false(match("HEADER X-Missing \"\"", msg_simple));
	assert_true(match("NOT HEADER X-Missing \"\"", msg_simple));
	/* Every occurrence is searched. */
	assert_true(match("HEADER Received a.example", msg_simple));
	assert_true(match("HEADER Received d.example", msg_simple));
	assert_false(match("HEADER Received e.example", msg_simple));
}

static void test_rfc2047_subject(void **state)
{
	/* Subject is "Ärger mit der Straße" encoded in base64 UTF-8. */
	assert_true(match("SUBJECT \"\xc3\x84rger\"", msg_encoded));
	assert_true(match("SUBJECT \"\xc3\xa4RGER MIT\"", msg_encoded));
	assert_true(match("SUBJECT \"stra\xc3\x9f" "e\"", msg_encoded));
	/* The encoded form itself is not what is searched. */
	assert_false(match("SUBJECT w4RyZ2Vy", msg_encoded));
	assert_false(match("SUBJECT \"=?UTF-8?B?\"", msg_encoded));
	/* i;unicode-casemap: ß has no simple titlecase, so no "SS". */
	assert_false(match("SUBJECT STRASSE", msg_encoded));
	/* Q-encoded Latin-1 and B-encoded UTF-8 addresses. */
	assert_true(match("FROM \"andr\xc3\xa9\"", msg_encoded));
	assert_true(match("FROM \"ANDR\xc3\x89\"", msg_encoded));
	assert_true(match("TO \"j\xc3\xbcrgen\"", msg_encoded));
}

/* ---- body and text ---------------------------------------------------- */

static void test_body(void **state)
{
	assert_true(match("BODY revenue", msg_simple));
	assert_true(match("BODY \"numbers are\"", msg_simple));
	assert_false(match("BODY quarterly", msg_simple)); /* only in the header */
	assert_false(match("BODY alice", msg_simple));
	assert_true(match("BODY \"\"", msg_simple));
}

static void test_body_decoded(void **state)
{
	/* Quoted-printable Latin-1, converted to UTF-8 and folded. */
	assert_true(match("BODY \"gr\xc3\xbc\xc3\x9f" "e\"", msg_encoded));
	assert_true(match("BODY \"K\xc3\x96LN\"", msg_encoded));
	assert_true(match("BODY \"CAF\xc3\x89\"", msg_encoded));
	assert_false(match("BODY =FC", msg_encoded));
	/* Base64 part of a multipart. */
	assert_true(match("BODY swordfish", msg_multipart));
	assert_false(match("BODY U2VjcmV0", msg_multipart));
	/* The encapsulated message's header and body are text too. */
	assert_true(match("BODY \"inner forwarded\"", msg_multipart));
	assert_true(match("BODY \"inner body\"", msg_multipart));
	assert_false(match("BODY preamble", msg_multipart));
}

static void test_text(void **state)
{
	/* TEXT: header or body. */
	assert_true(match("TEXT quarterly", msg_simple));
	assert_true(match("TEXT revenue", msg_simple));
	assert_true(match("TEXT \"subject: quarterly\"", msg_simple));
	assert_true(match("TEXT d.example", msg_simple));
	assert_false(match("TEXT nowhere", msg_simple));
	/* Header text is searched decoded. */
	assert_true(match("TEXT \"\xc3\xa4rger\"", msg_encoded));
	assert_true(match("TEXT \"j\xc3\xbcrgen\"", msg_encoded));
	assert_true(match("TEXT \"k\xc3\xb6ln\"", msg_encoded));
	assert_true(match("TEXT swordfish", msg_multipart));
}

/* ---- dates -------------------------------------------------------------- */

static void test_sent_dates(void **state)
{
	/* "Mon, 1 Jan 2024 23:30:00 -0500" is 2 Jan in UTC, but SENT* go by
	 * the day as written (RFC 9051: disregarding time and timezone). */
	assert_true(match("SENTON 1-Jan-2024", msg_simple));
	assert_false(match("SENTON 2-Jan-2024", msg_simple));
	assert_true(match("SENTBEFORE 2-Jan-2024", msg_simple));
	assert_false(match("SENTBEFORE 1-Jan-2024", msg_simple));
	assert_true(match("SENTSINCE 1-Jan-2024", msg_simple));
	assert_false(match("SENTSINCE 2-Jan-2024", msg_simple));
	/* 15 Jul 2021 00:10 +0200 is 14 Jul in UTC. */
	assert_true(match("SENTON 15-Jul-2021", msg_encoded));
	assert_false(match("SENTON 14-Jul-2021", msg_encoded));
}

/* Without a Date: header SENT* compare the internal date's day (as RFC
 * 5256 3 does for SORT): 1700000000 is 14-Nov-2023 22:13:20 UTC. */
static void test_sent_no_date(void **state)
{
	assert_false(match("SENTON 1-Jan-2024", msg_nodate));
	assert_true(match("SENTON 14-Nov-2023", msg_nodate));
	assert_true(match("SENTBEFORE 15-Nov-2023", msg_nodate));
	assert_false(match("SENTBEFORE 14-Nov-2023", msg_nodate));
	assert_true(match("SENTSINCE 14-Nov-2023", msg_nodate));
	assert_false(match("SENTSINCE 15-Nov-2023", msg_nodate));
	assert_false(match("NOT SENTSINCE 1-Jan-1970", msg_nodate));
}

/* ---- from the search index ------------------------------------------------ */

/* The same criteria answered from the message's index entry: header keys
 * of indexed fields and SENT* never load the message. */
static bool match_indexed(const char *criteria, const char *text, int *calls)
{
	struct search_key *k = NULL;
	const char *err = NULL;
	if (parse_ctx(criteria, strlen(criteria), &ctx_default, &k, &err) != SEARCH_PARSE_OK)
		fail_msg("\"%s\": %s", criteria, err ? err : "parse failed");
	struct search_doc doc;
	mail_search_doc_compute(text, strlen(text), &doc);
	struct loader l = { .text = text };
	struct search_msg m = {
		.seq = 1, .uid = 1, .internaldate = 1700000000, .savedate = -1,
		.size = strlen(text), .now = 1700000000, .load = loader_load, .load_ctx = &l,
		.doc = &doc,
	};
	bool r = search_match(k, &m);
	*calls = l.calls;
	mail_msg_free(l.mail);
	search_key_free(k);
	search_doc_clear(&doc);
	return r;
}

static const char msg_comments[] =
	"From: <user-from (comment)@ (comment) domain.org>\r\n"
	"To: =?ISO-8859-1?Q?Andr=E9?= <andre@x.example>\r\n"
	"Subject: =?UTF-8?Q?Inv?= =?UTF-8?Q?oice?= 42\r\n"
	"\r\n"
	"body\r\n";

static void test_address_comments(void **state)
{
	/* Issue #12: the address without its RFC 5322 comments matches. */
	static const char *const yes[] = {
		"FROM user-from@domain.org", "FROM USER-FROM@DOMAIN", "FROM \"(comment)\"",
		"TO \"andré <andre@\"", "TO andre@x.example", "SUBJECT invoice",
		"SENTON 14-Nov-2023", "HEADER Message-ID \"\"",
	};
	static const char *const no[] = { "FROM other@domain.org", "CC andre", "SUBJECT \"inv oice\"" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		int calls;
		if (strncmp(yes[i], "HEADER", 6) != 0)
			assert_true(match(yes[i], msg_comments));
		bool r = match_indexed(yes[i], msg_comments, &calls);
		if (strncmp(yes[i], "HEADER", 6) == 0) {
			/* Message-ID is indexed and absent: no match, no load. */
			assert_false(r);
		} else {
			assert_true(r);
		}
		assert_int_equal(calls, 0);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		int calls;
		assert_false(match(no[i], msg_comments));
		assert_false(match_indexed(no[i], msg_comments, &calls));
		assert_int_equal(calls, 0);
	}
	/* A field the index does not hold is read from the message. */
	int calls;
	assert_false(match_indexed("HEADER X-Other y", msg_comments, &calls));
	assert_int_equal(calls, 1);
}

/* ---- loading ------------------------------------------------------------ */

static void test_load_once(void **state)
{
	int calls = -1;
	static const char c[] = "SUBJECT report FROM alice BODY revenue TEXT bob SENTON 1-Jan-2024 "
				"OR SUBJECT x BODY numbers HEADER Received a.example";
	assert_true(match_full(c, strlen(c), &ctx_default, msg_simple, 0, &calls));
	assert_int_equal(calls, 1);
}

static void test_short_circuit(void **state)
{
	int calls = -1;
	static const char c[] = "BODY revenue SEEN";
	/* Not \Seen: decided without loading. */
	assert_false(match_full(c, strlen(c), &ctx_default, msg_simple, 0, &calls));
	assert_int_equal(calls, 0);
	assert_true(match_full(c, strlen(c), &ctx_default, msg_simple, MAIL_FLAG_SEEN, &calls));
	assert_int_equal(calls, 1);
	/* OR: the cheap side is tried first. */
	static const char o[] = "OR BODY nothing-here FLAGGED";
	assert_true(match_full(o, strlen(o), &ctx_default, msg_simple, MAIL_FLAG_FLAGGED, &calls));
	assert_int_equal(calls, 0);
	assert_false(match_full(o, strlen(o), &ctx_default, msg_simple, 0, &calls));
	assert_int_equal(calls, 1);
}

static void test_charset_search_content(void **state)
{
	/* A Latin-1 literal finds UTF-8 text (decoded from QP Latin-1). */
	struct search_parse_ctx ctx = ctx_default;
	ctx.charset = "ISO-8859-1";
	static const char c[] = "BODY {4+}\r\nK\xd6LN SUBJECT {5+}\r\n\xe4rger";
	assert_true(match_full(c, sizeof(c) - 1, &ctx, msg_encoded, 0, NULL));
	static const char d[] = "BODY {4+}\r\nK\xd6LX";
	assert_false(match_full(d, sizeof(d) - 1, &ctx, msg_encoded, 0, NULL));
}

static void test_casemap_content(void **state)
{
	static const char m[] =
		"Subject: \xce\x9f\xce\x94\xce\xa5\xce\xa3\xce\xa3\xce\x95\xce\x8e\xce\xa3\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"\r\n"
		"\xef\xac\x81nance caf\x65\xcc\x81 \xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3\r\n";
	/* Compatibility forms: the "fi" ligature and fullwidth letters. */
	assert_true(match("BODY FINANCE", m));
	assert_true(match("BODY abc", m));
	/* Combining acute vs precomposed é. */
	assert_true(match("BODY \"CAF\xc3\xa9\"", m));
	/* Greek, with final sigma. */
	assert_true(match("SUBJECT \"\xce\xbf\xce\xb4\xcf\x85\xcf\x83\xcf\x83\"", m));
	assert_true(match("SUBJECT \"\xcf\x82\"", m));
}

static void test_invalid_utf8_content(void **state)
{
	static const char m[] =
		"Subject: bad \xff\xfe bytes here\r\n"
		"\r\n"
		"body \xc3 with \x80 junk ASCII-still-works\r\n";
	assert_true(match("SUBJECT \"bytes here\"", m));
	assert_true(match("BODY ascii-still-works", m));
	assert_true(match("BODY \"with\"", m));
}

/* search: search_value_contains compares an ASCII value in place, without
 * folding a copy; its answer must be the fold-and-memmem one for every
 * value and needle (bounded pseudo-random ASCII over a small alphabet so
 * matches are frequent, plus values with non-ASCII and folded needles
 * that are not ASCII). */
static bool value_contains_ref(const char *v, const char *folded)
{
	size_t fl = 0;
	char *f = search_casefold(v, strlen(v), &fl);
	bool r = !*folded || memmem(f, fl, folded, strlen(folded)) != NULL;
	free(f);
	return r;
}

static void test_value_contains_in_place(void **state)
{
	(void)state;
	static const char alphabet[] = "aAbBzZ <@>.-\n09";
	uint32_t seed = 12345;
	char value[40], needle[6];
	size_t hits = 0;
	for (int round = 0; round < 20000; round++) {
		seed = seed * 1103515245u + 12345u;
		size_t vl = (seed >> 8) % sizeof(value), nl = 1 + (seed >> 20) % (sizeof(needle) - 1);
		for (size_t i = 0; i < vl; i++) {
			seed = seed * 1103515245u + 12345u;
			value[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		value[vl] = '\0';
		for (size_t i = 0; i < nl; i++) {
			seed = seed * 1103515245u + 12345u;
			needle[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		needle[nl] = '\0';
		char *folded = search_casefold(needle, nl, NULL);
		bool want = value_contains_ref(value, folded);
		assert_int_equal(search_value_contains(value, vl, folded), want);
		hits += want;
		free(folded);
	}
	assert_true(hits > 1000); /* the generator does make matches */
	static const char *const cases[][2] = {
		{ "Re: invoice", "INVOICE" },    { "Re: invoice", "invoice" }, /* unfolded: never */
		{ "", "" },                      { "abc", "" },
		{ "caf\xc3\xa9 x", "CAF\xc3\x89" }, { "office", "\xef\xac\x81" },
		{ "\xef\xac\x81le", "FI" },        { "fi", "\xef\xac\x81" },
		{ "zzzZz", "ZZZZZ" },            { "zzzZ", "ZZZZZ" },
		{ "aaab", "AAB" },               { "x@Example.ORG", "@EXAMPLE.ORG" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(search_value_contains(cases[i][0], strlen(cases[i][0]), cases[i][1]),
				 value_contains_ref(cases[i][0], cases[i][1]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subject_substring),
		cmocka_unit_test(test_address_keys),
		cmocka_unit_test(test_address_comments),
		cmocka_unit_test(test_header_key),
		cmocka_unit_test(test_rfc2047_subject),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_body_decoded),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_sent_dates),
		cmocka_unit_test(test_sent_no_date),
		cmocka_unit_test(test_load_once),
		cmocka_unit_test(test_short_circuit),
		cmocka_unit_test(test_charset_search_content),
		cmocka_unit_test(test_casemap_content),
		cmocka_unit_test(test_invalid_utf8_content),
		/* search: the in-place ASCII comparison */
		cmocka_unit_test(test_value_contains_in_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
