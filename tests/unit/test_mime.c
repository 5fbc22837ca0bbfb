/* MIME structure: the corpus in tests/data/mime (BODYSTRUCTURE, BODY and
 * ENVELOPE compared byte for byte with the .bodystructure/.body/.envelope
 * files), offsets, limits, header decoding, body text and dates.
 *
 * How the expected files were made: each was checked against RFC 9051
 * 7.5.2 by hand and against Dovecot 2.3.19 (APPEND of the same bytes to a
 * throwaway dovecot on 127.0.0.1, FETCH BODYSTRUCTURE BODY ENVELOPE). They
 * are identical to Dovecot's output except for:
 * - bare_lf: Dovecot counts sizes as if lines ended in CRLF (21 and 16);
 *   we report the stored bytes (20 and 15), which is what BODY[1] returns.
 * - garbage: "Content-Type: ;;;text" is invalid; Dovecot sends "" "" with
 *   no parameters and no line count, we apply RFC 2045 5.2 (text/plain;
 *   charset=us-ascii, so the line count follows).
 * - message_global: Dovecot 2.3 treats message/global as a basic body; RFC
 *   9051 section 9 (media-message) makes it a body-type-msg, so we send the
 *   envelope, body and lines of the encapsulated message.
 * - addresses, rfc2047: the same strings, but Dovecot sends a literal for
 *   strings holding '"' or a fold and we send a quoted string.
 * - empty: Dovecot refuses to APPEND a 0-byte message; the expected values
 *   are from the RFC: a text/plain body of 0 octets, 0 lines, an envelope of
 *   NILs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/util.h"
#include "mail/mail.h"
#include "mail/decode.h"
#include "mail/mime_internal.h"

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct strbuf b = STRBUF_INIT;
	char buf[65536];
	size_t n;
	strbuf_adds(&b, "");
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_add(&b, buf, n);
	fclose(f);
	return strbuf_detach(&b, len);
}

static char *data_path(const char *name)
{
	const char *dir = getenv("RAMPART_TEST_DATA");
	assert_non_null(dir);
	return xasprintf("%s/mime/%s", dir, name);
}

static char *data_file(const char *name, size_t *len)
{
	char *p = data_path(name);
	char *s = read_file(p, len);
	if (!s)
		fail_msg("cannot read %s", p);
	free(p);
	return s;
}

static void expect_file(const char *name, const char *ext, const struct strbuf *got)
{
	char *fn = xasprintf("%s.%s", name, ext);
	size_t elen;
	char *exp = data_file(fn, &elen);
	if (elen != got->len || memcmp(exp, got->s, elen) != 0)
		fail_msg("%s:\n got: %.*s\nwant: %.*s", fn, (int)got->len, got->s, (int)elen, exp);
	free(exp);
	free(fn);
}

/* Every part's offsets are inside the message and ordered. */
static void check_offsets(const struct mail_part *p, size_t len, size_t *count)
{
	for (; p; p = p->next) {
		(*count)++;
		assert_true(p->hdr_start <= p->hdr_end);
		assert_true(p->hdr_end <= p->body_start);
		assert_true(p->body_start <= p->body_end);
		assert_true(p->body_end <= len);
		assert_non_null(p->type);
		assert_non_null(p->subtype);
		if (p->parent) {
			assert_true(p->hdr_start >= p->parent->body_start);
			assert_true(p->body_end <= p->parent->body_end);
		}
		if (p->next)
			assert_true(p->body_end <= p->next->hdr_start);
		check_offsets(p->children, len, count);
	}
}

static void test_corpus(void **state)
{
	(void)state;
	char *dir = data_path("");
	DIR *dh = opendir(dir);
	assert_non_null(dh);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(dh)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".eml") != 0)
			continue;
		char *name = xstrndup(de->d_name, l - 4);
		size_t len;
		char *data = data_file(de->d_name, &len);
		struct mail_msg *m = mail_parse(data, len);
		struct strbuf b = STRBUF_INIT;
		mail_write_bodystructure(&b, m, true);
		expect_file(name, "bodystructure", &b);
		strbuf_reset(&b);
		mail_write_bodystructure(&b, m, false);
		expect_file(name, "body", &b);
		strbuf_reset(&b);
		mail_write_envelope(&b, m);
		expect_file(name, "envelope", &b);
		size_t count = 0;
		check_offsets(m->root, len, &count);
		strbuf_free(&b);
		mail_msg_free(m);
		free(data);
		free(name);
		n++;
	}
	closedir(dh);
	free(dir);
	assert_true(n >= 12);
}

/* Parses every prefix of every corpus message (truncation at each byte is
 * the most common real-world damage) and renders everything: offsets must
 * stay in bounds, and ASan checks we never read past len. */
static void test_corpus_prefixes(void **state)
{
	(void)state;
	char *dir = data_path("");
	DIR *dh = opendir(dir);
	assert_non_null(dh);
	struct dirent *de;
	while ((de = readdir(dh)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".eml") != 0)
			continue;
		size_t len;
		char *data = data_file(de->d_name, &len);
		for (size_t cut = 0; cut <= len; cut++) {
			/* An exact-size copy so ASan sees any overread. */
			char *copy = xmalloc(cut ? cut : 1);
			memcpy(copy, data, cut);
			struct mail_msg *m = mail_parse(copy, cut);
			struct strbuf b = STRBUF_INIT;
			mail_write_bodystructure(&b, m, true);
			mail_write_envelope(&b, m);
			mail_body_text(m, &b);
			size_t count = 0;
			check_offsets(m->root, cut, &count);
			strbuf_free(&b);
			mail_msg_free(m);
			free(copy);
		}
		free(data);
	}
	closedir(dh);
	free(dir);
}

static struct mail_msg *parse_str(const char *s)
{
	return mail_parse(s, strlen(s));
}

static const char *slice(const struct mail_msg *m, size_t a, size_t b, struct strbuf *tmp)
{
	strbuf_reset(tmp);
	strbuf_add(tmp, m->data + a, b - a);
	return tmp->s;
}

static void test_offsets_multipart(void **state)
{
	(void)state;
	const char *msg = "Subject: x\r\n"
			  "Content-Type: multipart/mixed; boundary=\"b\"\r\n"
			  "\r\n"
			  "preamble\r\n"
			  "--b\r\n"
			  "Content-Type: text/plain\r\n"
			  "\r\n"
			  "one\r\n"
			  "two\r\n"
			  "--b\r\n"
			  "\r\n"
			  "implicit text\r\n"
			  "--b--\r\n"
			  "epilogue\r\n";
	struct mail_msg *m = parse_str(msg);
	struct strbuf t = STRBUF_INIT;
	const struct mail_part *r = m->root;
	assert_int_equal(r->kind, MAIL_PART_MULTIPART);
	assert_int_equal(r->nchildren, 2);
	assert_string_equal(slice(m, r->hdr_start, r->hdr_end, &t),
			    "Subject: x\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n");
	assert_int_equal(r->body_end, strlen(msg));
	const struct mail_part *p1 = r->children, *p2 = p1->next;
	assert_string_equal(slice(m, p1->hdr_start, p1->hdr_end, &t), "Content-Type: text/plain\r\n\r\n");
	/* RFC 2046 5.1.1: the CRLF before the boundary is the boundary's. */
	assert_string_equal(slice(m, p1->body_start, p1->body_end, &t), "one\r\ntwo");
	assert_int_equal(p1->body_lines, 1);
	assert_string_equal(slice(m, p2->hdr_start, p2->hdr_end, &t), "\r\n");
	assert_string_equal(slice(m, p2->body_start, p2->body_end, &t), "implicit text");
	assert_true(p2->type_defaulted);
	assert_string_equal(p2->type, "text");
	strbuf_free(&t);
	mail_msg_free(m);
}

static void test_lf_and_crlf_same_shape(void **state)
{
	(void)state;
	const char *lf = "Content-Type: multipart/alternative; boundary=q\n\n--q\n"
			 "Content-Type: text/plain\n\na\nb\n--q\nContent-Type: text/html\n\n<p>\n--q--\n";
	struct strbuf crlf = STRBUF_INIT;
	for (const char *p = lf; *p; p++) {
		if (*p == '\n')
			strbuf_addc(&crlf, '\r');
		strbuf_addc(&crlf, *p);
	}
	struct mail_msg *a = parse_str(lf), *b = mail_parse(crlf.s, crlf.len);
	struct strbuf sa = STRBUF_INIT, sb = STRBUF_INIT;
	mail_write_bodystructure(&sa, a, false);
	mail_write_bodystructure(&sb, b, false);
	assert_string_equal(sa.s, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)"
				  "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0) \"alternative\")");
	assert_string_equal(sb.s, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 1)"
				  "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0) \"alternative\")");
	strbuf_free(&sa);
	strbuf_free(&sb);
	strbuf_free(&crlf);
	mail_msg_free(a);
	mail_msg_free(b);
}

static void test_no_boundary_found(void **state)
{
	(void)state;
	/* A multipart whose boundary never appears has no body parts:
	 * Dovecot (and we) send one empty text/plain so the result still
	 * parses as body-type-mpart. */
	struct mail_msg *m = parse_str("Content-Type: multipart/mixed; boundary=zz\r\n\r\nno parts here\r\n");
	struct strbuf b = STRBUF_INIT;
	mail_write_bodystructure(&b, m, true);
	assert_string_equal(b.s, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"
				 " \"mixed\" (\"boundary\" \"zz\") NIL NIL NIL)");
	mail_msg_free(m);
	/* Without a boundary parameter it is not parsed as a multipart. */
	m = parse_str("Content-Type: multipart/mixed\r\n\r\nx\r\n");
	strbuf_reset(&b);
	mail_write_bodystructure(&b, m, false);
	assert_string_equal(b.s, "(\"multipart\" \"mixed\" NIL NIL NIL \"7bit\" 3)");
	strbuf_free(&b);
	mail_msg_free(m);
}

/* Builds n nested multiparts (or message/rfc822 when rfc822). */
static char *nested(int n, bool rfc822, size_t *len)
{
	struct strbuf b = STRBUF_INIT;
	for (int i = 0; i < n; i++) {
		if (rfc822)
			strbuf_addf(&b, "Content-Type: message/rfc822\r\n\r\n");
		else
			strbuf_addf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	}
	strbuf_adds(&b, "Content-Type: text/plain\r\n\r\ndeep\r\n");
	for (int i = n - 1; !rfc822 && i >= 0; i--)
		strbuf_addf(&b, "--b%d--\r\n", i);
	return strbuf_detach(&b, len);
}

static size_t depth_of(const struct mail_part *p)
{
	size_t d = 0;
	while (p->children) {
		p = p->children;
		d++;
	}
	return d;
}

static void test_depth_limit(void **state)
{
	(void)state;
	for (int rfc822 = 0; rfc822 <= 1; rfc822++) {
		size_t len;
		char *s = nested(MAIL_MAX_DEPTH * 4, rfc822, &len);
		struct mail_msg *m = mail_parse(s, len);
		assert_int_equal(depth_of(m->root), MAIL_MAX_DEPTH);
		struct strbuf b = STRBUF_INIT;
		mail_write_bodystructure(&b, m, true);
		mail_body_text(m, &b);
		strbuf_free(&b);
		mail_msg_free(m);
		free(s);
		/* Under the limit everything is parsed. */
		s = nested(5, rfc822, &len);
		m = mail_parse(s, len);
		assert_int_equal(depth_of(m->root), 5);
		mail_msg_free(m);
		free(s);
	}
}

static size_t count_parts(const struct mail_part *p)
{
	size_t n = 0;
	for (; p; p = p->next)
		n += 1 + count_parts(p->children);
	return n;
}

static void test_part_limit(void **state)
{
	(void)state;
	struct strbuf b = STRBUF_INIT;
	strbuf_adds(&b, "Content-Type: multipart/mixed; boundary=x\r\n\r\n");
	for (int i = 0; i < MAIL_MAX_PARTS + 500; i++)
		strbuf_adds(&b, "--x\r\n\r\np\r\n");
	strbuf_adds(&b, "--x--\r\n");
	struct mail_msg *m = mail_parse(b.s, b.len);
	assert_int_equal(count_parts(m->root), MAIL_MAX_PARTS);
	struct strbuf out = STRBUF_INIT;
	mail_write_bodystructure(&out, m, true);
	assert_true(out.len > 0);
	strbuf_free(&out);
	strbuf_free(&b);
	mail_msg_free(m);
}

static void test_boundary_prefix_nesting(void **state)
{
	(void)state;
	/* Inner boundary "ab-c" starts with the outer "ab": the innermost is
	 * tried first, so inner lines don't end the outer part. */
	struct mail_msg *m = parse_str("Content-Type: multipart/mixed; boundary=ab\r\n\r\n--ab\r\n"
				       "Content-Type: multipart/alternative; boundary=ab-c\r\n\r\n"
				       "--ab-c\r\n\r\nx\r\n--ab-c\r\n\r\ny\r\n--ab-c--\r\n"
				       "--ab\r\n\r\nz\r\n--ab--\r\n");
	struct strbuf b = STRBUF_INIT;
	mail_write_bodystructure(&b, m, false);
	assert_string_equal(b.s, "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0)"
				 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0) \"alternative\")"
				 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0) \"mixed\")");
	strbuf_free(&b);
	mail_msg_free(m);
}

/* Found by fuzzing: a header block that ends right before a boundary must
 * keep its line break, or the enclosing bodies would end inside it. */
static void test_header_then_boundary(void **state)
{
	(void)state;
	static const char *const msgs[] = {
		"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
		"Content-Type: message/rfc822\r\n\r\nFrom: x\r\n\r\n--o--\r\n",
		"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
		"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\nX: y\r\n--o--\r\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(msgs); i++) {
		struct mail_msg *m = parse_str(msgs[i]);
		size_t count = 0;
		check_offsets(m->root, strlen(msgs[i]), &count);
		assert_int_equal(count, i == 0 ? 3 : 4);
		mail_msg_free(m);
	}
	struct mail_msg *m = parse_str(msgs[0]);
	struct strbuf t = STRBUF_INIT;
	const struct mail_part *msgpart = m->root->children;
	assert_int_equal(msgpart->kind, MAIL_PART_MESSAGE);
	assert_string_equal(slice(m, msgpart->body_start, msgpart->body_end, &t), "From: x\r\n\r\n");
	strbuf_free(&t);
	mail_msg_free(m);
}

static void test_header_decoded(void **state)
{
	(void)state;
	size_t len;
	char *data = data_file("rfc2047.eml", &len);
	struct mail_msg *m = mail_parse(data, len);
	struct strbuf b = STRBUF_INIT;
	assert_int_equal(mail_header_decoded(m, "subject", &b), 1);
	/* RFC 2047 6.2: the space between the two words disappears, the
	 * fold becomes a space. */
	assert_string_equal(b.s, "Grüße aus Köln and more");
	strbuf_reset(&b);
	assert_int_equal(mail_header_decoded(m, "FROM", &b), 1);
	assert_string_equal(b.s, "Jürgen Müller <juergen@example.de>");
	strbuf_reset(&b);
	assert_int_equal(mail_header_decoded(m, "Reply-To", &b), 1);
	assert_string_equal(b.s, "André Pirard <PIRARD@vm1.ulg.ac.be>, list@example.de");
	strbuf_free(&b);
	assert_int_equal(mail_header_decoded(m, "X-None", &b), 0);
	assert_null(b.s);
	mail_msg_free(m);
	free(data);

	/* Several occurrences, raw 8-bit Latin-1, malformed words. */
	m = parse_str("Received: a\r\nX-T: =?utf-8?q?bad?x?= =?unknown-cs?q?ok?=\r\nReceived: b\r\n"
		      " c\r\nSubject: Ma\xf1" "ana =?iso-8859-1?b?Y2Fm6Q==?=\r\n\r\n");
	assert_int_equal(mail_header_decoded(m, "received", &b), 2);
	assert_string_equal(b.s, "a\nb c");
	strbuf_reset(&b);
	assert_int_equal(mail_header_decoded(m, "x-t", &b), 1);
	assert_string_equal(b.s, "=?utf-8?q?bad?x?= ok");
	strbuf_reset(&b);
	assert_int_equal(mail_header_decoded(m, "subject", &b), 1);
	assert_string_equal(b.s, "Mañana café");
	strbuf_free(&b);
	mail_msg_free(m);
}

static void test_rfc2047_words(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "=?ISO-8859-1?Q?a?=", "a" },
		{ "=?ISO-8859-1?Q?a?= b", "a b" },
		{ "=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab" },
		{ "=?ISO-8859-1?Q?a?=  \t =?ISO-8859-1?Q?b?=", "ab" },
		{ "=?ISO-8859-1?Q?a_b?=", "a b" },
		{ "=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=", "a b" },
		{ "=?UTF-8*en?B?w6k=?=", "é" },
		{ "=?utf-8?B?4oKs?= x =?utf-8?B?4oKs?=", "€ x €" },
		{ "=?utf-8?Q?unterminated", "=?utf-8?Q?unterminated" },
		{ "=??Q?x?=", "=??Q?x?=" },
		{ "=?utf-8?X?x?=", "=?utf-8?X?x?=" },
		{ "=?utf-8?q?=FF?=", "\xef\xbf\xbd" },
		{ "=?iso-2022-jp?B?GyRCJEYkOSRIGyhC?=", "てすと" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct strbuf b = STRBUF_INIT;
		mail_rfc2047_decode(cases[i].in, strlen(cases[i].in), &b);
		if (strcmp(b.s, cases[i].out) != 0)
			fail_msg("%s -> '%s', want '%s'", cases[i].in, b.s, cases[i].out);
		strbuf_free(&b);
	}
}

static void test_body_text(void **state)
{
	(void)state;
	struct mail_msg *m = parse_str(
		"Subject: t\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
		"--B\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 =\r\nau lait\r\n"
		"--B\r\nContent-Type: application/octet-stream\r\n\r\nBINARYJUNK\r\n"
		"--B\r\nContent-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		"PHA+wqE=\r\nSG9sYSE8L3A+\r\n"
		"--B\r\nContent-Type: message/rfc822\r\n\r\nSubject: =?utf-8?q?inn=C3=A9r?=\r\n\r\ninner body\r\n"
		"--B--\r\n");
	struct strbuf b = STRBUF_INIT;
	mail_body_text(m, &b);
	assert_non_null(strstr(b.s, "café au lait"));
	assert_null(strstr(b.s, "BINARYJUNK"));
	assert_non_null(strstr(b.s, "<p>¡Hola!</p>"));
	assert_non_null(strstr(b.s, "Subject: innér"));
	assert_non_null(strstr(b.s, "inner body"));
	/* The top-level header is not body text. */
	assert_null(strstr(b.s, "Subject: t"));
	strbuf_free(&b);
	mail_msg_free(m);

	size_t len;
	char *data = data_file("eightbit.eml", &len);
	m = mail_parse(data, len);
	mail_body_text(m, &b);
	assert_string_equal(b.s, "Hola María,\r\nnos vemos mañana en la café.\r\n");
	strbuf_free(&b);
	mail_msg_free(m);
	free(data);
}

static void test_body_text_cap(void **state)
{
	(void)state;
	size_t big = 17u * 1024 * 1024;
	struct strbuf s = STRBUF_INIT;
	strbuf_adds(&s, "Content-Type: text/plain\r\n\r\n");
	strbuf_grow(&s, big);
	memset(s.s + s.len, 'a', big);
	s.len += big;
	s.s[s.len] = '\0';
	struct mail_msg *m = mail_parse(s.s, s.len);
	struct strbuf b = STRBUF_INIT;
	mail_body_text(m, &b);
	assert_int_equal(b.len, 16u * 1024 * 1024);
	strbuf_free(&b);
	mail_msg_free(m);
	strbuf_free(&s);
}

static void test_dates(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int64_t t;
		int tz;
	} cases[] = {
		{ "Tue, 1 Jul 2003 10:52:37 +0200", 1057049557, 120 },
		{ "1 Jul 2003 10:52:37 +0200", 1057049557, 120 },
		{ "Tue,  1 Jul 2003 10:52:37 +0200 (CEST)", 1057049557, 120 },
		{ "Fri, 21 Nov 1997 09:55:06 -0600", 880127706, -360 },
		{ "Thu, 13 Feb 1969 23:32:54 -0330", -27723426, -210 },
		{ "8 Mar 24 15:00 EST", 1709928000, -300 },
		{ "8 Mar 99 15:00 GMT", 920905200, 0 },
		{ "8 Mar 124 15:00 UT", 1709910000, 0 },
		{ "Mon, 01 Jan 2024 00:00:00 Z", 1704067200, 0 },
		{ "Mon, 01 Jan 2024 00:00:00", 1704067200, 0 },
		{ "Mon, 01 Jan 2024 00:00:00 +0000", 1704067200, 0 },
		{ "29 Feb 2024 12:00:00 PDT", 1709233200, -420 },
		{ "1-Jan-2000 00:00:00 +0100", 946681200, 60 },
		{ "Sat, 31 Dec 2016 23:59:60 +0000", 1483228800, 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int tz = 12345;
		int64_t t = mail_parse_rfc5322_date(cases[i].in, strlen(cases[i].in), &tz);
		if (t != cases[i].t || tz != cases[i].tz)
			fail_msg("%s -> %lld tz %d", cases[i].in, (long long)t, tz);
	}
	static const char *const bad[] = { "", "garbage", "32 Jan 2024 00:00", "1 Foo 2024 00:00",
					   "1 Jan 2024", "1 Jan 2024 25:00", "1 Jan 2024 10:61",
					   "1 Jan 2024 10:00 +01" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(mail_parse_rfc5322_date(bad[i], strlen(bad[i]), NULL), -1);

	struct mail_msg *m = parse_str("Subject: x\r\nDate: Wed,\r\n 15 Mar 2023 12:00:00 -0500\r\n\r\n");
	int tz = 0;
	assert_int_equal(mail_date_sent(m, &tz), 1678899600);
	assert_int_equal(tz, -300);
	mail_msg_free(m);
	m = parse_str("Subject: no date\r\n\r\n");
	assert_int_equal(mail_date_sent(m, &tz), -1);
	mail_msg_free(m);
}

static void test_empty_and_null(void **state)
{
	(void)state;
	struct mail_msg *m = mail_parse(NULL, 0);
	struct strbuf b = STRBUF_INIT;
	mail_write_envelope(&b, m);
	assert_string_equal(b.s, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	mail_msg_free(m);
	mail_msg_free(NULL);
	strbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_corpus_prefixes),
		cmocka_unit_test(test_offsets_multipart),
		cmocka_unit_test(test_lf_and_crlf_same_shape),
		cmocka_unit_test(test_no_boundary_found),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_part_limit),
		cmocka_unit_test(test_boundary_prefix_nesting),
		cmocka_unit_test(test_header_then_boundary),
		cmocka_unit_test(test_header_decoded),
		cmocka_unit_test(test_rfc2047_words),
		cmocka_unit_test(test_body_text),
		cmocka_unit_test(test_body_text_cap),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_empty_and_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
