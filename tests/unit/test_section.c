/* FETCH BODY[section] / BINARY[section]: section-spec parsing (RFC 9051
 * section 9) and the bytes each section yields (RFC 9051 6.4.5).
 *
 * tests/data/mime/sections.txt holds the expected bytes for a grid of
 * sections over the corpus. They are what Dovecot 2.3.19 returned for the
 * same messages, except:
 * - BINARY[n] of a part that doesn't exist: Dovecot sends "", our contract
 *   returns 1 (ABSENT) and the caller decides.
 * - headers_only HEADER.FIELDS.NOT: the header block has no terminating
 *   blank line; Dovecot returns the fields without a final line break, we
 *   complete the last field's CRLF and add the blank line RFC 9051 6.4.5
 *   promises ("the subset of the header ... and the blank line").
 * - message_global: 2.HEADER, 2.TEXT, 2.1 ... address the encapsulated
 *   message, since we parse message/global like message/rfc822 (RFC 6532
 *   3.7 and RFC 9051 6.4.5); Dovecot 2.3 treats it as opaque. */
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

static char *data_file(const char *name, size_t *len)
{
	const char *dir = getenv("RAMPART_TEST_DATA");
	assert_non_null(dir);
	char *p = xasprintf("%s/mime/%s", dir, name);
	char *s = read_file(p, len);
	if (!s)
		fail_msg("cannot read %s", p);
	free(p);
	return s;
}

static void unescape(const char *s, struct strbuf *out)
{
	strbuf_adds(out, "");
	while (*s) {
		if (*s != '\\') {
			strbuf_addc(out, *s++);
			continue;
		}
		s++;
		switch (*s) {
		case 'r': strbuf_addc(out, '\r'); s++; break;
		case 'n': strbuf_addc(out, '\n'); s++; break;
		case 't': strbuf_addc(out, '\t'); s++; break;
		case 'x': {
			char hex[3] = { s[1], s[2], 0 };
			strbuf_addc(out, (char)strtoul(hex, NULL, 16));
			s += 3;
			break;
		}
		default: strbuf_addc(out, *s++); break;
		}
	}
}

static void test_sections_grid(void **state)
{
	(void)state;
	size_t len;
	char *txt = data_file("sections.txt", &len);
	int checked = 0, ranged = 0;
	char *save = NULL;
	for (char *line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		char *f[4];
		char *p = line;
		for (int i = 0; i < 4; i++) {
			f[i] = p;
			p = i < 3 ? strchr(p, '\t') : NULL;
			if (i < 3) {
				assert_non_null(p);
				*p++ = '\0';
			}
		}
		char *fn = xasprintf("%s.eml", f[0]);
		size_t mlen;
		char *msg = data_file(fn, &mlen);
		struct mail_msg *m = mail_parse(msg, mlen);
		struct strbuf got = STRBUF_INIT, want = STRBUF_INIT;
		int rc = 0;
		if (strcmp(f[1], "BODY") == 0) {
			struct mail_section s;
			assert_int_equal(mail_section_parse(f[2], strlen(f[2]), &s), 0);
			rc = mail_section_fetch(m, &s, &got);
			/* alloc: the sections found without a parse are the
			 * same bytes. */
			size_t off, n;
			if (mail_section_range(&s, msg, mlen, &off, &n)) {
				assert_int_equal(n, got.len);
				assert_memory_equal(msg + off, got.s, n);
				ranged++;
			}
			mail_section_free(&s);
		} else {
			uint32_t part[MAIL_MAX_SECTION_PARTS];
			size_t np = 0;
			for (char *q = f[2]; *q;) {
				part[np++] = (uint32_t)strtoul(q, &q, 10);
				if (*q == '.')
					q++;
			}
			rc = mail_binary_fetch(m, part, np, &got);
		}
		if (strcmp(f[3], "ABSENT") == 0) {
			assert_int_equal(rc, 1);
		} else if (strcmp(f[3], "UNKNOWN-CTE") == 0) {
			assert_int_equal(rc, -1);
		} else {
			assert_int_equal(rc, 0);
			unescape(f[3], &want);
			if (got.len != want.len || memcmp(got.s, want.s, got.len) != 0)
				fail_msg("%s %s[%s]:\n got: %.*s\nwant: %.*s", f[0], f[1], f[2],
					 (int)got.len, got.s ? got.s : "", (int)want.len, want.s);
		}
		strbuf_free(&got);
		strbuf_free(&want);
		mail_msg_free(m);
		free(msg);
		free(fn);
		checked++;
	}
	free(txt);
	assert_true(checked > 300);
	assert_true(ranged > 20);
}

/* alloc: edge cases of the header end mail_section_range() finds, each
 * checked against mail_parse() + mail_section_fetch(). */
static void test_section_range_edges(void **state)
{
	(void)state;
	static const char *msgs[] = {
		"", "\r\n", "\n", "\r\nbody", "A: b\r\n", "A: b", "A: b\r\n\r\n",
		"A: b\n\nbody\n", "A: b\r\n \r\n\r\nx", "A: b\r\n\r\r\n\r\ny",
		"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\np\r\n--x--\r\n",
		"Content-Type: message/rfc822\r\n\r\nB: c\r\n\r\ninner\r\n",
	};
	static const char *specs[] = { "", "HEADER", "TEXT" };
	for (size_t i = 0; i < ARRAY_SIZE(msgs); i++) {
		size_t len = strlen(msgs[i]);
		struct mail_msg *m = mail_parse(msgs[i], len);
		for (size_t k = 0; k < ARRAY_SIZE(specs); k++) {
			struct mail_section s;
			struct strbuf got = STRBUF_INIT;
			size_t off = 0, n = 0;
			assert_int_equal(mail_section_parse(specs[k], strlen(specs[k]), &s), 0);
			mail_section_fetch(m, &s, &got);
			assert_true(mail_section_range(&s, msgs[i], len, &off, &n));
			if (n != got.len || (n && memcmp(msgs[i] + off, got.s, n) != 0))
				fail_msg("message %zu [%s]: range %zu+%zu, fetch %zu bytes", i, specs[k],
					 off, n, got.len);
			strbuf_free(&got);
			mail_section_free(&s);
		}
		mail_msg_free(m);
	}
	struct mail_section s;
	size_t off, n;
	assert_int_equal(mail_section_parse("1.HEADER", 8, &s), 0);
	assert_false(mail_section_range(&s, "A: b\r\n\r\n", 8, &off, &n));
	mail_section_free(&s);
	assert_int_equal(mail_section_parse("HEADER.FIELDS (A)", 17, &s), 0);
	assert_false(mail_section_range(&s, "A: b\r\n\r\n", 8, &off, &n));
	mail_section_free(&s);
}

static void test_section_parse(void **state)
{
	(void)state;
	struct mail_section s;
#define P(str) mail_section_parse(str, strlen(str), &s)
	assert_int_equal(P(""), 0);
	assert_int_equal(s.kind, MAIL_SECTION_ALL);
	assert_int_equal(s.nparts, 0);

	assert_int_equal(P("1.2.3"), 0);
	assert_int_equal(s.kind, MAIL_SECTION_ALL);
	assert_int_equal(s.nparts, 3);
	assert_int_equal(s.part[0], 1);
	assert_int_equal(s.part[2], 3);

	assert_int_equal(P("header"), 0);
	assert_int_equal(s.kind, MAIL_SECTION_HEADER);
	assert_int_equal(P("Text"), 0);
	assert_int_equal(s.kind, MAIL_SECTION_TEXT);
	assert_int_equal(P("2.HEADER"), 0);
	assert_int_equal(s.kind, MAIL_SECTION_HEADER);
	assert_int_equal(s.nparts, 1);
	assert_int_equal(P("4.2.TEXT"), 0);
	assert_int_equal(s.kind, MAIL_SECTION_TEXT);
	assert_int_equal(s.nparts, 2);
	assert_int_equal(P("1.mime"), 0);
	assert_int_equal(s.kind, MAIL_SECTION_MIME);

	assert_int_equal(P("HEADER.FIELDS (From \"To\" x-Spam)"), 0);
	assert_int_equal(s.kind, MAIL_SECTION_HEADER_FIELDS);
	assert_int_equal(s.nfields, 3);
	assert_string_equal(s.fields[0], "From");
	assert_string_equal(s.fields[1], "To");
	assert_string_equal(s.fields[2], "x-Spam");
	mail_section_free(&s);

	assert_int_equal(P("3.header.fields.not (Received)"), 0);
	assert_int_equal(s.kind, MAIL_SECTION_HEADER_FIELDS_NOT);
	assert_int_equal(s.nparts, 1);
	assert_int_equal(s.nfields, 1);
	mail_section_free(&s);

	/* A literal as header-fld-name (astring). */
	static const char lit[] = "HEADER.FIELDS ({7}\r\nSubject Date)";
	assert_int_equal(mail_section_parse(lit, sizeof(lit) - 1, &s), 0);
	assert_int_equal(s.nfields, 2);
	assert_string_equal(s.fields[0], "Subject");
	mail_section_free(&s);

	static const char *const bad[] = {
		"MIME", "0", "1.0", "01", "1.", ".1", "1..2", "HEADER.FIELDS", "HEADER.FIELDS ()",
		"HEADER.FIELDS (From", "HEADER.FIELDS From", "HEADER.FIELDS  (From)", "HEADERS",
		"TEXT ", "1.HEADER.MIME", "1.BOGUS", "4294967296", "HEADER.FIELDS (\"unterminated)",
		"HEADER.FIELDS ({99}\r\nab)", "1 ", "HEADER.FIELDS (a)x",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (P(bad[i]) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_null(s.fields);
	}
	/* MAIL_MAX_SECTION_PARTS numbers, not one more. */
	struct strbuf b = STRBUF_INIT;
	for (int i = 0; i < MAIL_MAX_SECTION_PARTS; i++)
		strbuf_adds(&b, i ? ".1" : "1");
	assert_int_equal(mail_section_parse(b.s, b.len, &s), 0);
	strbuf_adds(&b, ".1");
	assert_int_equal(mail_section_parse(b.s, b.len, &s), -1);
	strbuf_free(&b);
#undef P
}

static void fetch(const char *msg, const char *spec, const char *want)
{
	struct mail_msg *m = mail_parse(msg, strlen(msg));
	struct mail_section s;
	assert_int_equal(mail_section_parse(spec, strlen(spec), &s), 0);
	struct strbuf b = STRBUF_INIT;
	assert_int_equal(mail_section_fetch(m, &s, &b), 0);
	if (strcmp(b.s, want) != 0)
		fail_msg("BODY[%s]: got '%s' want '%s'", spec, b.s, want);
	strbuf_free(&b);
	mail_section_free(&s);
	mail_msg_free(m);
}

static void test_header_fields(void **state)
{
	(void)state;
	const char *msg = "Received: by x\r\n\tfolded\r\nFrom: a@b\r\nSUBJECT: s\r\nX-A: 1\r\n"
			  "subject: again\r\nReceived: second\r\n\r\nbody\r\n";
	/* Matching is case-insensitive; lines keep their original form and
	 * order, continuation lines included, then the blank line. */
	fetch(msg, "HEADER.FIELDS (subject received)",
	      "Received: by x\r\n\tfolded\r\nSUBJECT: s\r\nsubject: again\r\nReceived: second\r\n\r\n");
	fetch(msg, "HEADER.FIELDS.NOT (Received Subject)", "From: a@b\r\nX-A: 1\r\n\r\n");
	fetch(msg, "HEADER.FIELDS (X-None)", "\r\n");
	fetch(msg, "HEADER", "Received: by x\r\n\tfolded\r\nFrom: a@b\r\nSUBJECT: s\r\nX-A: 1\r\n"
			     "subject: again\r\nReceived: second\r\n\r\n");
	fetch(msg, "TEXT", "body\r\n");
	fetch(msg, "1", "body\r\n");
	fetch(msg, "1.MIME", "Received: by x\r\n\tfolded\r\nFrom: a@b\r\nSUBJECT: s\r\nX-A: 1\r\n"
			     "subject: again\r\nReceived: second\r\n\r\n");
	/* A non-multipart message has only part 1; HEADER after a number
	 * needs a message/rfc822 part. */
	fetch(msg, "2", "");
	fetch(msg, "1.1", "");
	fetch(msg, "1.HEADER", "");
	/* Bare LF is returned as stored. */
	fetch("A: 1\nB: 2\n\nx\n", "HEADER.FIELDS (b)", "B: 2\n\r\n");
}

static void test_binary(void **state)
{
	(void)state;
	const char *msg = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
			  "--b\r\nContent-Transfer-Encoding: base64\r\n\r\n"
			  "aGVs\r\n bG8g\td29y\r\nbGQ=\r\n"
			  "--b\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\n"
			  "caf=C3=A9 =\r\nsoft=3Dbreak   \r\nnext=\r\n"
			  "--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xff\xfe raw\r\n"
			  "--b\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n"
			  "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ninner\r\n"
			  "--b--\r\n";
	struct mail_msg *m = mail_parse(msg, strlen(msg));
	struct strbuf b = STRBUF_INIT;
	uint32_t p[2] = { 1, 0 };
	assert_int_equal(mail_binary_fetch(m, p, 1, &b), 0);
	assert_string_equal(b.s, "hello world");
	strbuf_reset(&b);
	p[0] = 2;
	assert_int_equal(mail_binary_fetch(m, p, 1, &b), 0);
	assert_string_equal(b.s, "caf\xc3\xa9 soft=break\r\nnext");
	strbuf_reset(&b);
	p[0] = 3;
	assert_int_equal(mail_binary_fetch(m, p, 1, &b), 0);
	assert_string_equal(b.s, "\xff\xfe raw");
	strbuf_reset(&b);
	p[0] = 4;
	assert_int_equal(mail_binary_fetch(m, p, 1, &b), -1);
	p[0] = 5;
	assert_int_equal(mail_binary_fetch(m, p, 1, &b), 0);
	assert_string_equal(b.s, "Subject: in\r\n\r\ninner");
	strbuf_reset(&b);
	p[1] = 1;
	assert_int_equal(mail_binary_fetch(m, p, 2, &b), 0);
	assert_string_equal(b.s, "inner");
	strbuf_reset(&b);
	p[0] = 6;
	assert_int_equal(mail_binary_fetch(m, p, 1, &b), 1);
	assert_int_equal(mail_binary_fetch(m, p, 0, &b), 0);
	assert_int_equal(b.len, strlen(msg));
	strbuf_free(&b);
	mail_msg_free(m);
}

static void test_nested_numbering(void **state)
{
	(void)state;
	/* The RFC 9051 6.4.5 example shape (parts 3 and 4.2 are
	 * message/rfc822, 4.2.2 a multipart/alternative). */
	const char *msg =
		"Content-Type: multipart/mixed; boundary=o\r\n\r\n"
		"--o\r\n\r\np1\r\n"
		"--o\r\nContent-Type: application/octet-stream\r\n\r\np2\r\n"
		"--o\r\nContent-Type: message/rfc822\r\n\r\nSubject: m3\r\n"
		"Content-Type: multipart/mixed; boundary=i3\r\n\r\n"
		"--i3\r\n\r\np3.1\r\n--i3\r\nContent-Type: application/octet-stream\r\n\r\np3.2\r\n--i3--\r\n"
		"--o\r\nContent-Type: multipart/mixed; boundary=i4\r\n\r\n"
		"--i4\r\nContent-Type: image/gif\r\n\r\np4.1\r\n"
		"--i4\r\nContent-Type: message/rfc822\r\n\r\nSubject: m42\r\n"
		"Content-Type: multipart/mixed; boundary=j\r\n\r\n"
		"--j\r\n\r\np4.2.1\r\n--j\r\nContent-Type: multipart/alternative; boundary=k\r\n\r\n"
		"--k\r\n\r\np4.2.2.1\r\n--k\r\nContent-Type: text/richtext\r\n\r\np4.2.2.2\r\n--k--\r\n"
		"--j--\r\n--i4--\r\n--o--\r\n";
	fetch(msg, "1", "p1");
	fetch(msg, "2", "p2");
	fetch(msg, "3.HEADER", "Subject: m3\r\nContent-Type: multipart/mixed; boundary=i3\r\n\r\n");
	fetch(msg, "3.HEADER.FIELDS (subject)", "Subject: m3\r\n\r\n");
	fetch(msg, "3.1", "p3.1");
	fetch(msg, "3.2", "p3.2");
	fetch(msg, "4.1", "p4.1");
	fetch(msg, "4.1.MIME", "Content-Type: image/gif\r\n\r\n");
	fetch(msg, "4.2.HEADER.FIELDS (SUBJECT)", "Subject: m42\r\n\r\n");
	fetch(msg, "4.2.1", "p4.2.1");
	fetch(msg, "4.2.2.1", "p4.2.2.1");
	fetch(msg, "4.2.2.2", "p4.2.2.2");
	fetch(msg, "4.2.2.3", "");
	fetch(msg, "5", "");
	fetch(msg, "1.HEADER", "");
	fetch(msg, "4.2.2.2.MIME", "Content-Type: text/richtext\r\n\r\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sections_grid),
		cmocka_unit_test(test_section_parse),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_nested_numbering),
		cmocka_unit_test(test_section_range_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
