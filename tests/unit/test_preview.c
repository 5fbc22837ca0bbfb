/* Preview text extraction (mail/preview.c, RFC 8970 3.3): which part it
 * comes from, decoding (quoted-printable, base64, charsets), HTML
 * stripping, whitespace folding, quoted lines, the 200-character cut on a
 * UTF-8 boundary, and "" when there is no text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "mail/preview.h"

static void expect_preview(const char *msg, const char *want)
{
	char *p = mail_preview_compute(msg, strlen(msg));
	assert_non_null(p);
	assert_string_equal(p, want);
	free(p);
}

/* Code points of a valid UTF-8 string (fails on an invalid one). */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t l = *p < 0x80 ? 1 : *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
		assert_true(*p < 0x80 || *p >= 0xc2);
		for (size_t i = 1; i < l; i++)
			assert_int_equal(p[i] & 0xc0, 0x80);
		p += l;
		n++;
	}
	return n;
}

static void test_plain(void **state)
{
	(void)state;
	expect_preview("Subject: x\r\n\r\nHello   world,\r\n\r\n\tsecond line.  \r\n",
		       "Hello world, second line.");
}

static void test_no_body_is_empty(void **state)
{
	(void)state;
	expect_preview("Subject: x\r\n\r\n", "");
	expect_preview("Subject: x\r\n\r\n \r\n\t\r\n", "");
	expect_preview("Subject: x\r\nContent-Type: image/png\r\n"
		       "Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n",
		       "");
}

static void test_quoted_printable(void **state)
{
	(void)state;
	expect_preview("Content-Type: text/plain; charset=iso-8859-1\r\n"
		       "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		       "Caf=E9 cr=E8me, a soft=\r\n break.\r\n",
		       "Caf\xc3\xa9 cr\xc3\xa8me, a soft break.");
}

static void test_base64_utf8(void **state)
{
	(void)state;
	/* "Grüße aus Köln" */
	expect_preview("Content-Type: text/plain; charset=utf-8\r\n"
		       "Content-Transfer-Encoding: base64\r\n\r\n"
		       "R3LDvMOfZSBhdXMgS8O2bG4=\r\n",
		       "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln");
}

static void test_html_only(void **state)
{
	(void)state;
	expect_preview("Content-Type: text/html; charset=utf-8\r\n\r\n"
		       "<html><head><title>T</title><style>p { color: red; }</style></head>"
		       "<body><!-- hidden --><p>Fish &amp; chips</p><p>for&nbsp;two"
		       "&#33; &#x263A;</p><script>alert(1)</script>"
		       "<a href=\"x>y\">link</a> <b>bo</b>ld 1 &lt; 2 & 3</body></html>\r\n",
		       "Fish & chips for two! \xe2\x98\xba link bold 1 < 2 & 3");
}

static void test_alternative_prefers_plain(void **state)
{
	(void)state;
	expect_preview("Content-Type: multipart/alternative; boundary=b\r\n\r\n"
		       "--b\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n"
		       "--b\r\nContent-Type: text/plain\r\n\r\nplain version\r\n--b--\r\n",
		       "plain version");
}

static void test_attachment_skipped(void **state)
{
	(void)state;
	expect_preview("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		       "--b\r\nContent-Type: text/plain\r\n"
		       "Content-Disposition: attachment; filename=a.txt\r\n\r\nattached\r\n"
		       "--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n"
		       "--c\r\nContent-Type: text/html\r\n\r\n<div>in html</div>\r\n--c--\r\n"
		       "--b--\r\n",
		       "in html");
}

static void test_encapsulated_not_used(void **state)
{
	(void)state;
	expect_preview("Content-Type: message/rfc822\r\n\r\n"
		       "Subject: inner\r\n\r\ninner text\r\n",
		       "");
}

static void test_quoted_lines_skipped(void **state)
{
	(void)state;
	expect_preview("\r\nSounds good.\r\n\r\n> On Monday you wrote:\r\n>> old\r\n"
		       "  > indented quote\r\nSee you.\r\n",
		       "Sounds good. See you.");
}

static void test_cut_at_200_chars_on_boundary(void **state)
{
	(void)state;
	struct strbuf m = STRBUF_INIT;
	strbuf_adds(&m, "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	for (int i = 0; i < 300; i++)
		strbuf_adds(&m, "\xc3\xa9"); /* é */
	strbuf_adds(&m, "\r\n");
	char *p = mail_preview_compute(m.s, m.len);
	assert_int_equal(utf8_chars(p), 200);
	assert_int_equal(strlen(p), 400);
	free(p);
	/* Words: no trailing space when the cut falls after one. */
	strbuf_reset(&m);
	strbuf_adds(&m, "\r\n");
	for (int i = 0; i < 100; i++)
		strbuf_adds(&m, "a ");
	p = mail_preview_compute(m.s, m.len);
	assert_int_equal(strlen(p), 199);
	assert_true(p[198] == 'a');
	free(p);
	strbuf_free(&m);
}

static void test_invalid_utf8_and_controls(void **state)
{
	(void)state;
	expect_preview("Content-Type: text/plain; charset=utf-8\r\n\r\n"
		       "a\xff" "b\x01" "c\xe2\x80\x8b" "d\xc2\xa0" "e\r\n",
		       "a\xef\xbf\xbd" "b c" "d e");
	/* A NUL from quoted-printable is a space, not the end. */
	expect_preview("Content-Transfer-Encoding: quoted-printable\r\n\r\nx=00y\r\n", "x y");
}

static void test_unknown_charset(void **state)
{
	(void)state;
	const char *msg = "Content-Type: text/plain; charset=x-nonsense\r\n\r\nok \xe9t\xe9\r\n";
	char *p = mail_preview_compute(msg, strlen(msg));
	assert_true(strncmp(p, "ok ", 3) == 0);
	(void)utf8_chars(p);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_no_body_is_empty),
		cmocka_unit_test(test_quoted_printable),
		cmocka_unit_test(test_base64_utf8),
		cmocka_unit_test(test_html_only),
		cmocka_unit_test(test_alternative_prefers_plain),
		cmocka_unit_test(test_attachment_skipped),
		cmocka_unit_test(test_encapsulated_not_used),
		cmocka_unit_test(test_quoted_lines_skipped),
		cmocka_unit_test(test_cut_at_200_chars_on_boundary),
		cmocka_unit_test(test_invalid_utf8_and_controls),
		cmocka_unit_test(test_unknown_charset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
