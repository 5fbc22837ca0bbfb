/* Streaming IMAP command parser: tokens, literals, error recovery, limits
 * and split feeding. */
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
#include "imap/parser.h"

/* ---- helpers -------------------------------------------------------- */

static void dump_bytes(struct strbuf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '|')
			strbuf_addc(b, (char)c);
		else
			strbuf_addf(b, "\\x%02x", c);
	}
}

static void dump_arg(struct strbuf *b, const struct imap_arg *a)
{
	switch (a->type) {
	case IMAP_ARG_ATOM:
		strbuf_adds(b, "A|");
		break;
	case IMAP_ARG_STRING:
		strbuf_adds(b, "S|");
		break;
	case IMAP_ARG_LITERAL:
		strbuf_adds(b, a->literal8 ? "L8|" : "L|");
		break;
	case IMAP_ARG_NIL:
		strbuf_adds(b, "N|");
		break;
	case IMAP_ARG_LIST:
		strbuf_adds(b, "(");
		for (size_t i = 0; i < a->count; i++) {
			if (i)
				strbuf_addc(b, ' ');
			dump_arg(b, &a->list[i]);
		}
		strbuf_adds(b, ")");
		return;
	}
	/* Every string must be NUL-terminated at len. */
	assert_int_equal(a->str[a->len], '\0');
	if (a->type != IMAP_ARG_LITERAL)
		assert_int_equal(strlen(a->str), a->len);
	dump_bytes(b, a->str, a->len);
	strbuf_addc(b, '|');
}

static void dump_result(struct strbuf *b, struct imap_parser *p, enum imap_parse_result r)
{
	const char *tag = imap_parser_tag(p);
	switch (r) {
	case IMAP_PARSE_CONTINUE:
		strbuf_adds(b, "CONT\n");
		return;
	case IMAP_PARSE_DONE: {
		size_t n;
		const struct imap_arg *args = imap_parser_args(p, &n);
		strbuf_addf(b, "DONE %s %s", tag, imap_parser_command(p));
		for (size_t i = 0; i < n; i++) {
			strbuf_addc(b, ' ');
			dump_arg(b, &args[i]);
		}
		strbuf_addc(b, '\n');
		return;
	}
	case IMAP_PARSE_ERROR:
		strbuf_addf(b, "ERROR %s %s%s\n", tag ? tag : "-", imap_parser_error(p),
			    imap_parser_error_is_limit(p) ? " [limit]" : "");
		return;
	case IMAP_PARSE_FATAL:
		strbuf_addf(b, "FATAL %s\n", imap_parser_error(p));
		return;
	case IMAP_PARSE_NEED_MORE:
		break;
	}
	fail_msg("unexpected result");
}

/* Feeds data in chunks whose sizes come from chunk(); returns the
 * transcript of every result (the caller frees it). */
typedef size_t (*chunk_fn)(size_t pos, size_t left, unsigned *seed);

static char *run(const struct imap_parser_limits *lim, const char *data, size_t len, chunk_fn chunk,
		 unsigned seed)
{
	struct imap_parser *p = imap_parser_new(lim);
	struct strbuf b = STRBUF_INIT;
	size_t pos = 0;
	bool fatal = false;
	while (pos < len && !fatal) {
		size_t n = chunk(pos, len - pos, &seed);
		if (n > len - pos)
			n = len - pos;
		size_t off = 0;
		while (off < n) {
			size_t used = 99999999;
			enum imap_parse_result r = imap_parser_feed(p, data + pos + off, n - off, &used);
			assert_true(used <= n - off);
			off += used;
			if (r == IMAP_PARSE_NEED_MORE) {
				assert_int_equal(off, n);
				break;
			}
			dump_result(&b, p, r);
			if (r == IMAP_PARSE_FATAL) {
				fatal = true;
				break;
			}
			if (r != IMAP_PARSE_CONTINUE)
				imap_parser_reset(p);
		}
		pos += n;
	}
	if (!fatal && imap_parser_buffered(p) > 0)
		strbuf_adds(&b, "PARTIAL\n");
	imap_parser_free(p);
	return strbuf_detach(&b, NULL);
}

static size_t chunk_all(size_t pos, size_t left, unsigned *seed)
{
	return left;
}

static size_t chunk_one(size_t pos, size_t left, unsigned *seed)
{
	return 1;
}

static size_t chunk_random(size_t pos, size_t left, unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return 1 + (*seed >> 16) % 23;
}

/* Splits once at the position given by the seed. */
static size_t chunk_split(size_t pos, size_t left, unsigned *seed)
{
	if (pos == 0 && *seed > 0)
		return *seed;
	return left;
}

static char *parse_all(const struct imap_parser_limits *lim, const char *s)
{
	return run(lim, s, strlen(s), chunk_all, 0);
}

static void expect(const char *input, const char *transcript)
{
	char *t = parse_all(NULL, input);
	assert_string_equal(t, transcript);
	free(t);
}

static void expect_lim(const struct imap_parser_limits *lim, const char *input,
		       const char *transcript)
{
	char *t = run(lim, input, strlen(input), chunk_all, 0);
	assert_string_equal(t, transcript);
	free(t);
}

/* ---- basic tokens --------------------------------------------------- */

static void test_simple(void **state)
{
	expect("a1 NOOP\r\n", "DONE a1 NOOP\n");
	expect("a1 noop\r\n", "DONE a1 noop\n");
	/* Pipelined commands come out one at a time. */
	expect("a NOOP\r\nb CAPABILITY\r\n", "DONE a NOOP\nDONE b CAPABILITY\n");
}

static void test_atoms_strings(void **state)
{
	expect("t LOGIN user \"pa ss\\\"x\\\\\"\r\n",
	       "DONE t LOGIN A|user| S|pa ss\"x\\x5c|\n");
	expect("t LOGIN \"\" \"\"\r\n", "DONE t LOGIN S|| S||\n");
	expect("t STORE 1 +FLAGS (\\Seen \\Flagged $Junk)\r\n",
	       "DONE t STORE A|1| A|+FLAGS| (A|\\x5cSeen| A|\\x5cFlagged| A|$Junk|)\n");
}

static void test_nil(void **state)
{
	expect("t X NIL nil Nil NILS \"NIL\"\r\n", "DONE t X N|NIL| N|nil| N|Nil| A|NILS| S|NIL|\n");
}

static void test_nested_lists(void **state)
{
	expect("t X (a (b (c)) ()) d\r\n", "DONE t X (A|a| (A|b| (A|c|)) ()) A|d|\n");
	expect("t X ((()))\r\n", "DONE t X ((()))\n");
	expect("t X (\"a b\" NIL {1+}\r\nz)\r\n", "DONE t X (S|a b| N|NIL| L|z|)\n");
}

static void test_list_wildcards(void **state)
{
	expect("t LIST \"\" *\r\n", "DONE t LIST S|| A|*|\n");
	expect("t LIST \"\" %/x*\r\n", "DONE t LIST S|| A|%/x*|\n");
	expect("t LIST (SUBSCRIBED) \"\" (\"a\" b%) RETURN (CHILDREN)\r\n",
	       "DONE t LIST (A|SUBSCRIBED|) S|| (S|a| A|b%|) A|RETURN| (A|CHILDREN|)\n");
}

static void test_lenient_spaces(void **state)
{
	expect("a  NOOP \r\n", "DONE a NOOP\n");
	expect("a X ( a  b )\r\n", "DONE a X (A|a| A|b|)\n");
}

static void test_utf8_quoted(void **state)
{
	/* RFC 9051: UTF-8 is allowed inside quoted strings. */
	expect("t SELECT \"Entw\xc3\xbcrfe/\xe5\x8f\xb0\xe5\x8c\x97\"\r\n",
	       "DONE t SELECT S|Entw\\xc3\\xbcrfe/\\xe5\\x8f\\xb0\\xe5\\x8c\\x97|\n");
}

static void test_fetch_brackets(void **state)
{
	expect("t FETCH 1:* (FLAGS BODY[HEADER.FIELDS (From \"To\")]<0.100> BODY.PEEK[1.2.MIME]<10.20>)\r\n",
	       "DONE t FETCH A|1:*| (A|FLAGS| A|BODY[HEADER.FIELDS (From \"To\")]<0.100>| "
	       "A|BODY.PEEK[1.2.MIME]<10.20>|)\n");
	expect("t FETCH 1 BODY[]\r\n", "DONE t FETCH A|1| A|BODY[]|\n");
	expect("t FETCH 1 (BINARY.PEEK[1]<0.5> BODY[TEXT])\r\n",
	       "DONE t FETCH A|1| (A|BINARY.PEEK[1]<0.5>| A|BODY[TEXT]|)\n");
	/* A quoted ']' does not close the section; escapes stay as sent. */
	expect("t FETCH 1 BODY[HEADER.FIELDS (\"a]b\\\"\")]\r\n",
	       "DONE t FETCH A|1| A|BODY[HEADER.FIELDS (\"a]b\\x5c\"\")]|\n");
	/* The exact atom text is reachable through the helpers. */
	struct imap_parser *p = imap_parser_new(NULL);
	const char *in = "t FETCH 1 BODY[HEADER.FIELDS (From \"To\")]<0.100>\r\n";
	size_t used, n;
	assert_int_equal(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_DONE);
	const struct imap_arg *args = imap_parser_args(p, &n);
	const char *s;
	assert_int_equal(n, 2);
	assert_true(imap_arg_get_atom(&args[1], &s));
	assert_string_equal(s, "BODY[HEADER.FIELDS (From \"To\")]<0.100>");
	imap_parser_free(p);
}

static void test_bracket_errors(void **state)
{
	expect("t FETCH 1 BODY[HEADER\r\nu NOOP\r\n", "ERROR t Missing ']'\nDONE u NOOP\n");
	expect("t FETCH 1 BODY[\"x\r\nu NOOP\r\n", "ERROR t Unterminated quoted string\nDONE u NOOP\n");
}

static void test_authenticate_base64(void **state)
{
	expect("a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
	       "DONE a AUTHENTICATE A|PLAIN| A|AGFsaWNlAHNlY3JldA==|\n");
	expect("a AUTHENTICATE PLAIN =\r\n", "DONE a AUTHENTICATE A|PLAIN| A|=|\n");
	expect("a AUTHENTICATE XOAUTH2 dXNlcj1h+/b==\r\n",
	       "DONE a AUTHENTICATE A|XOAUTH2| A|dXNlcj1h+/b==|\n");
}

static void test_odd_tags(void **state)
{
	expect("a.b-c_1]!&'#$ NOOP\r\n", "DONE a.b-c_1]!&'#$ NOOP\n");
	expect("~x[ NOOP\r\n", "DONE ~x[ NOOP\n");
	expect("0 NOOP\r\n", "DONE 0 NOOP\n");
	/* '+' is not allowed in a tag (RFC 9051 9), nor '*', nor '{'. */
	expect("a+ NOOP\r\nb NOOP\r\n", "ERROR - Invalid characters in tag\nDONE b NOOP\n");
	expect("+ NOOP\r\n", "ERROR - Invalid tag\n");
	expect("* OK hi\r\n", "ERROR - Invalid tag\n");
	expect("{3}\r\n", "ERROR - Invalid tag\n");
	expect("\xc3\xa4 NOOP\r\n", "ERROR - Invalid tag\n");
}

static void test_empty_and_missing(void **state)
{
	expect("\r\nb NOOP\r\n", "ERROR - Empty command line\nDONE b NOOP\n");
	expect("a\r\n", "ERROR a Missing command\n");
	expect("a \r\n", "ERROR a Missing command\n");
	expect(" a NOOP\r\n", "ERROR - Invalid tag\n");
}

static void test_uid_command(void **state)
{
	expect("A003 UID FETCH 1:5,7 (UID RFC822.SIZE)\r\n",
	       "DONE A003 UID A|FETCH| A|1:5,7| (A|UID| A|RFC822.SIZE|)\n");
}

/* ---- literals ------------------------------------------------------- */

static void test_sync_literal_continue(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	const char *l1 = "t LOGIN {4}\r\n";
	size_t used;
	assert_int_equal(imap_parser_feed(p, l1, strlen(l1), &used), IMAP_PARSE_CONTINUE);
	assert_int_equal(used, strlen(l1));
	assert_string_equal(imap_parser_tag(p), "t");
	const char *l2 = "user {6}\r\n";
	assert_int_equal(imap_parser_feed(p, l2, strlen(l2), &used), IMAP_PARSE_CONTINUE);
	assert_int_equal(used, strlen(l2));
	const char *l3 = "se\0ret\r\nnext";
	assert_int_equal(imap_parser_feed(p, l3, 12, &used), IMAP_PARSE_DONE);
	assert_int_equal(used, 8);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	assert_int_equal(n, 2);
	assert_int_equal(a[0].type, IMAP_ARG_LITERAL);
	assert_false(a[0].literal8);
	assert_string_equal(a[0].str, "user");
	assert_int_equal(a[1].len, 6);
	assert_memory_equal(a[1].str, "se\0ret", 6);
	/* Without a reset the result sticks and nothing is consumed. */
	assert_int_equal(imap_parser_feed(p, "x", 1, &used), IMAP_PARSE_DONE);
	assert_int_equal(used, 0);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_buffered(p), 0);
	assert_null(imap_parser_tag(p));
	imap_parser_free(p);
}

static void test_nonsync_literals(void **state)
{
	/* LITERAL+ and the "{n-}" spelling: no continuation request. */
	expect("t LOGIN {4+}\r\nuser {3-}\r\npwd\r\n", "DONE t LOGIN L|user| L|pwd|\n");
	/* Data may hold CRLF, NUL and anything else. */
	const char in[] = "t X {7+}\r\na\r\n\0)\"( y\r\n";
	char *t = run(NULL, in, sizeof(in) - 1, chunk_all, 0);
	assert_string_equal(t, "DONE t X L|a\\x0d\\x0a\\x00)\"(| A|y|\n");
	free(t);
}

static void test_literal8(void **state)
{
	expect("t APPEND box ~{3}\r\nabc\r\n", "CONT\nDONE t APPEND A|box| L8|abc|\n");
	const char in[] = "t APPEND box (\\Seen) ~{3+}\r\na\0b ~x\r\n";
	char *t = run(NULL, in, sizeof(in) - 1, chunk_all, 0);
	assert_string_equal(t, "DONE t APPEND A|box| (A|\\x5cSeen|) L8|a\\x00b| A|~x|\n");
	free(t);
	expect("t X ~ ~{\r\n", "ERROR t Invalid literal size\n");
}

static void test_zero_literal(void **state)
{
	expect("t X {0}\r\n \"\"\r\n", "CONT\nDONE t X L|| S||\n");
	expect("t X {0+}\r\n\r\n", "DONE t X L||\n");
	expect("t X ({0+}\r\n)\r\n", "DONE t X (L||)\n");
}

static void test_literal_syntax_errors(void **state)
{
	expect("t X {abc}\r\nu NOOP\r\n", "ERROR t Invalid literal size\nDONE u NOOP\n");
	expect("t X {}\r\nu NOOP\r\n", "ERROR t Invalid literal size\nDONE u NOOP\n");
	expect("t X {3+x}\r\nu NOOP\r\n", "ERROR t Invalid literal size\nDONE u NOOP\n");
	/* RFC 9051 4.3: the byte after '}' must start CRLF. */
	expect("t X {3} \r\nu NOOP\r\n", "ERROR t Expected CRLF after literal size\nDONE u NOOP\n");
	expect("t X {3}\n", "ERROR t Expected CRLF after literal size\n");
	/* After the data the line goes on with SP, ')' or CRLF only. */
	expect("t X {3+}\r\nabcd\r\nu NOOP\r\n", "ERROR t Missing space after argument\nDONE u NOOP\n");
}

static void test_append(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	const char *l1 = "A1 APPEND \"Sent Items\" (\\Seen \\Draft) \"05-Jan-2024 10:00:00 +0100\" {13}\r\n";
	const char *l2 = "Hello\r\nWorld!\r\n";
	size_t used, n;
	assert_int_equal(imap_parser_feed(p, l1, strlen(l1), &used), IMAP_PARSE_CONTINUE);
	assert_int_equal(used, strlen(l1));
	assert_int_equal(imap_parser_feed(p, l2, strlen(l2), &used), IMAP_PARSE_DONE);
	assert_int_equal(used, strlen(l2));
	assert_string_equal(imap_parser_command(p), "APPEND");
	const struct imap_arg *a = imap_parser_args(p, &n);
	assert_int_equal(n, 4);
	const char *s;
	size_t len;
	assert_true(imap_arg_get_astring(&a[0], &s, &len));
	assert_string_equal(s, "Sent Items");
	assert_int_equal(a[1].type, IMAP_ARG_LIST);
	assert_int_equal(a[1].count, 2);
	assert_true(imap_arg_atom_ieq(&a[1].list[0], "\\SEEN"));
	assert_true(imap_arg_atom_ieq(&a[1].list[1], "\\draft"));
	assert_true(imap_arg_get_string(&a[2], &s, &len));
	assert_string_equal(s, "05-Jan-2024 10:00:00 +0100");
	assert_true(imap_arg_get_string(&a[3], &s, &len));
	assert_int_equal(len, 13);
	assert_memory_equal(s, "Hello\r\nWorld!", 13);
	imap_parser_free(p);
}

static void test_arg_helpers(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	const char *in = "t X atom \"str\" {3+}\r\nlit NIL (l)\r\n";
	size_t used, n, len;
	const char *s;
	assert_int_equal(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_DONE);
	const struct imap_arg *a = imap_parser_args(p, &n);
	assert_int_equal(n, 5);
	for (int i = 0; i < 4; i++)
		assert_true(imap_arg_get_astring(&a[i], &s, &len));
	assert_false(imap_arg_get_astring(&a[4], &s, &len));
	assert_true(imap_arg_get_atom(&a[0], &s));
	assert_string_equal(s, "atom");
	assert_false(imap_arg_get_atom(&a[1], &s));
	assert_false(imap_arg_get_atom(&a[2], &s));
	assert_false(imap_arg_get_atom(&a[3], &s));
	assert_false(imap_arg_get_string(&a[0], &s, &len));
	assert_true(imap_arg_get_string(&a[1], &s, &len));
	assert_true(imap_arg_get_string(&a[2], &s, &len));
	assert_string_equal(s, "lit");
	assert_false(imap_arg_get_string(&a[3], &s, &len));
	assert_true(imap_arg_atom_ieq(&a[0], "ATOM"));
	assert_false(imap_arg_atom_ieq(&a[0], "ATO"));
	assert_false(imap_arg_atom_ieq(&a[1], "str"));
	assert_true(imap_arg_atom_ieq(&a[3], "nil"));
	imap_parser_free(p);
}

/* ---- errors and recovery ------------------------------------------- */

static void test_error_recovery(void **state)
{
	expect("a X (x\r\nb NOOP\r\n", "ERROR a Missing ')'\nDONE b NOOP\n");
	expect("a X x)\r\nb NOOP\r\n", "ERROR a Unexpected ')'\nDONE b NOOP\n");
	expect("a X a\"b\r\nb NOOP\r\n", "ERROR a Invalid characters in atom\nDONE b NOOP\n");
	expect("a X a(b)\r\nb NOOP\r\n", "ERROR a Invalid characters in atom\nDONE b NOOP\n");
	expect("a X \x01\r\nb NOOP\r\n", "ERROR a Invalid characters in atom\nDONE b NOOP\n");
	expect("a X \"a\"b\r\nb NOOP\r\n", "ERROR a Missing space after argument\nDONE b NOOP\n");
	expect("a NO(OP\r\nb NOOP\r\n", "ERROR a Invalid characters in command name\nDONE b NOOP\n");
	/* The error is reported with consumed pointing just past the CRLF. */
	struct imap_parser *p = imap_parser_new(NULL);
	const char *in = "a X (x\r\nb NOOP\r\n";
	size_t used;
	assert_int_equal(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_ERROR);
	assert_int_equal(used, 8);
	assert_string_equal(imap_parser_tag(p), "a");
	assert_string_equal(imap_parser_command(p), "X");
	assert_false(imap_parser_error_is_limit(p));
	size_t n;
	assert_null(imap_parser_args(p, &n));
	assert_int_equal(n, 0);
	imap_parser_free(p);
}

static void test_quoted_errors(void **state)
{
	expect("a LOGIN \"a\\q\" b\r\nb NOOP\r\n",
	       "ERROR a Invalid escape in quoted string\nDONE b NOOP\n");
	expect("a LOGIN \"ab\r\nb NOOP\r\n", "ERROR a Unterminated quoted string\nDONE b NOOP\n");
	/* A bare LF ends the bad line too: what follows is a new line. */
	expect("a LOGIN \"a\nb\"\r\nb NOOP\r\n",
	       "ERROR a Unterminated quoted string\nERROR - Invalid characters in tag\nDONE b NOOP\n");
	const char in[] = "a LOGIN \"a\0b\"\r\nb NOOP\r\n";
	char *t = run(NULL, in, sizeof(in) - 1, chunk_all, 0);
	assert_string_equal(t, "ERROR a Invalid characters in quoted string\nDONE b NOOP\n");
	free(t);
}

static void test_bare_lf(void **state)
{
	expect("a NOOP\nb NOOP\r\n", "ERROR a Line must end with CRLF\nDONE b NOOP\n");
	expect("a X y\nb NOOP\r\n", "ERROR a Line must end with CRLF\nDONE b NOOP\n");
	expect("a X y\rz\r\nb NOOP\r\n", "ERROR a Line must end with CRLF\nDONE b NOOP\n");
}

static void test_discard_skips_nonsync_literal(void **state)
{
	/* The client sends a LITERAL+ payload without waiting, so the line
	 * after an error must be skipped together with its literal data. */
	expect("a X ) {5+}\r\nb NOO\r\nc NOOP\r\n", "ERROR a Unexpected ')'\nDONE c NOOP\n");
	expect("a X ) {5+}\r\nb NOO more {2+}\r\nxy\r\nc NOOP\r\n",
	       "ERROR a Unexpected ')'\nDONE c NOOP\n");
	/* A synchronizing one is not sent before "+": nothing to skip. */
	expect("a X ) {5}\r\nc NOOP\r\n", "ERROR a Unexpected ')'\nDONE c NOOP\n");
}

/* ---- limits --------------------------------------------------------- */

static void test_limit_line(void **state)
{
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	lim.max_line = 16;
	/* 16 bytes including CRLF fit exactly; 17 do not. */
	expect_lim(&lim, "a X 0123456789\r\nb NOOP\r\n", "DONE a X A|0123456789|\nDONE b NOOP\n");
	expect_lim(&lim, "a X 01234567890\r\nb NOOP\r\n",
		   "ERROR a Line too long [limit]\nDONE b NOOP\n");
	/* The limit applies per line segment: literals reset it. */
	expect_lim(&lim, "a X {3+}\r\nabc 0123456789012\r\n", "DONE a X L|abc| A|0123456789012|\n");
	expect_lim(&lim, "a X {3+}\r\nabc 01234567890123\r\n", "ERROR a Line too long [limit]\n");
}

static void test_limit_line_bounded_memory(void **state)
{
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	lim.max_line = 1024;
	struct imap_parser *p = imap_parser_new(&lim);
	char buf[4096];
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "a X ", 4);
	size_t used;
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(imap_parser_feed(p, buf, sizeof(buf), &used), IMAP_PARSE_NEED_MORE);
		assert_int_equal(used, sizeof(buf));
		/* 4 MB fed, never more than about a line buffered. */
		assert_true(imap_parser_buffered(p) < 4 * 1024 + 4096);
		memset(buf, 'y', 8);
	}
	assert_int_equal(imap_parser_feed(p, "zz\r\nb NOOP\r\n", 12, &used), IMAP_PARSE_ERROR);
	assert_int_equal(used, 4);
	assert_true(imap_parser_error_is_limit(p));
	assert_string_equal(imap_parser_tag(p), "a");
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed(p, "b NOOP\r\n", 8, &used), IMAP_PARSE_DONE);
	imap_parser_free(p);
}

static void test_limit_literal_sync(void **state)
{
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	lim.max_literal = 100;
	struct imap_parser *p = imap_parser_new(&lim);
	const char *in = "a APPEND box {101}\r\nb NOOP\r\n";
	size_t used;
	/* No CONTINUE: the client must not send the data. */
	assert_int_equal(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_ERROR);
	assert_int_equal(used, 20);
	assert_true(imap_parser_error_is_limit(p));
	assert_string_equal(imap_parser_error(p), "Literal too large");
	assert_string_equal(imap_parser_tag(p), "a");
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed(p, in + used, strlen(in + used), &used), IMAP_PARSE_DONE);
	imap_parser_free(p);
	expect_lim(&lim, "a APPEND box {100}\r\n", "CONT\nPARTIAL\n");
	expect_lim(&lim, "a APPEND box {99999999999999999999999999}\r\n",
		   "ERROR a Literal too large [limit]\n");
}

static void test_limit_literal_nonsync(void **state)
{
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	lim.max_literal = 100;
	expect_lim(&lim, "a APPEND box {101+}\r\nxxxx", "FATAL Literal too large\n");
	/* LITERAL- (RFC 7888 4): non-synchronizing only up to 4096. */
	imap_parser_limits_default(&lim);
	lim.max_nonsync = 4096;
	expect_lim(&lim, "a APPEND box {4097+}\r\n", "FATAL Non-synchronizing literal too large\n");
	expect_lim(&lim, "a APPEND box ~{4097-}\r\n", "FATAL Non-synchronizing literal too large\n");
	expect_lim(&lim, "a APPEND box {4097}\r\n", "CONT\nPARTIAL\n");
	struct imap_parser *p = imap_parser_new(&lim);
	size_t used;
	assert_int_equal(imap_parser_feed(p, "a X {5000+}\r\n", 13, &used), IMAP_PARSE_FATAL);
	assert_true(imap_parser_error_is_limit(p));
	imap_parser_free(p);
	/* An oversized one in a line being discarded is just as fatal. */
	expect_lim(&lim, "a X ) {5000+}\r\n", "FATAL Non-synchronizing literal too large\n");
}

static void test_literal_memory_follows_data(void **state)
{
	/* An announced size is not reserved up front: memory follows the
	 * bytes that actually arrive. */
	struct imap_parser *p = imap_parser_new(NULL);
	const char *in = "a APPEND box {50000000+}\r\n";
	size_t used;
	assert_int_equal(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_NEED_MORE);
	assert_true(imap_parser_buffered(p) < 64 * 1024);
	char *chunk = xmalloc(1 << 20);
	memset(chunk, 'm', 1 << 20);
	for (int i = 0; i < 3; i++)
		assert_int_equal(imap_parser_feed(p, chunk, 1 << 20, &used), IMAP_PARSE_NEED_MORE);
	assert_true(imap_parser_buffered(p) >= 3u << 20);
	assert_true(imap_parser_buffered(p) < 8u << 20);
	free(chunk);
	imap_parser_free(p);
}

static void test_limit_command(void **state)
{
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	lim.max_command = 64;
	expect_lim(&lim, "a X {20+}\r\n01234567890123456789 {30}\r\n",
		   "ERROR a Command too large [limit]\n");
	expect_lim(&lim, "a X {20+}\r\n01234567890123456789 {10}\r\n0123456789\r\n",
		   "CONT\nDONE a X L|01234567890123456789| L|0123456789|\n");
}

static void test_limit_depth(void **state)
{
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	char ok[64], bad[64];
	snprintf(ok, sizeof(ok), "a X %.16s%.16s\r\n", "((((((((((((((((", "))))))))))))))))");
	snprintf(bad, sizeof(bad), "a X %.17s%.17s\r\nb NOOP\r\n", "(((((((((((((((((",
		 ")))))))))))))))))");
	char want[64];
	snprintf(want, sizeof(want), "DONE a X %.16s%.16s\n", "((((((((((((((((",
		 "))))))))))))))))");
	char *t = run(&lim, ok, strlen(ok), chunk_all, 0);
	assert_string_equal(t, want);
	free(t);
	expect_lim(&lim, bad, "ERROR a Too deeply nested [limit]\nDONE b NOOP\n");
	/* Brackets inside an atom are bounded as well. */
	lim.max_depth = 2;
	expect_lim(&lim, "a FETCH 1 BODY[[y]]\r\n", "DONE a FETCH A|1| A|BODY[[y]]|\n");
	expect_lim(&lim, "a FETCH 1 BODY[[[y]]]\r\n", "ERROR a Too deeply nested [limit]\n");
}

/* RFC 9051 9: '[' is an ATOM-CHAR and ']' an ASTRING-CHAR; only a fetch
 * attribute that takes a section opens one (issue #12: SELECT of such a
 * name got "Missing ']'"). */
static void test_brackets_outside_sections(void **state)
{
	(void)state;
	expect("a SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}\r\n",
	       "DONE a SELECT A|!#$&'+,-.0123456789:;<=>?@^_`\\x7c[}|\n");
	expect("a CREATE [x y]\r\n", "DONE a CREATE A|[x| A|y]|\n");
	expect("a LIST \"\" a[*\r\n", "DONE a LIST S|| A|a[*|\n");
	expect("a SELECT BODY[x\r\n", "DONE a SELECT A|BODY[x|\n");
	expect("a UID FETCH 1 BODY.PEEK[HEADER.FIELDS (A B)]\r\n",
	       "DONE a UID A|FETCH| A|1| A|BODY.PEEK[HEADER.FIELDS (A B)]|\n");
	expect("a UID FETCH 1 (binary.size[1] X[y z])\r\n",
	       "DONE a UID A|FETCH| A|1| (A|binary.size[1]| A|X[y| A|z]|)\n");
	expect("a fetch 1 BODY[1]<0.5>[ x\r\n", "DONE a fetch A|1| A|BODY[1]<0.5>[| A|x|\n");
}

static void test_limit_args(void **state)
{
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	lim.max_args = 4;
	expect_lim(&lim, "a X 1 2 3 4\r\n", "DONE a X A|1| A|2| A|3| A|4|\n");
	expect_lim(&lim, "a X 1 2 3 4 5\r\nb NOOP\r\n",
		   "ERROR a Too many arguments [limit]\nDONE b NOOP\n");
	/* Lists count as arguments. */
	expect_lim(&lim, "a X (1 2) (3)\r\n", "ERROR a Too many arguments [limit]\n");
	/* The rejected token's non-synchronizing literal is skipped. */
	expect_lim(&lim, "a X 1 2 3 4 {3+}\r\nabc\r\nb NOOP\r\n",
		   "ERROR a Too many arguments [limit]\nDONE b NOOP\n");
}

static void test_limits_default(void **state)
{
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	assert_int_equal(lim.max_line, 65536);
	assert_int_equal(lim.max_literal, 64u * 1024 * 1024);
	assert_int_equal(lim.max_command, 128u * 1024 * 1024);
	assert_int_equal(lim.max_nonsync, 64u * 1024 * 1024);
	assert_int_equal(lim.max_depth, 16);
	assert_int_equal(lim.max_args, 100000);
}

/* ---- split feeding -------------------------------------------------- */

static const char *const corpus[] = {
	"a1 NOOP\r\n",
	"t LOGIN user \"pa ss\\\"x\\\\\"\r\n",
	"t X (a (b (c)) ()) NIL nil d\r\n",
	"t FETCH 1:* (FLAGS BODY[HEADER.FIELDS (From \"To\")]<0.100> BODY.PEEK[1.2.MIME]<10.20>)\r\n",
	"t FETCH 1 BODY[HEADER.FIELDS (\"a]b\\\"\")]\r\n",
	"A1 APPEND \"Sent\" (\\Seen \\Draft) \"05-Jan-2024 10:00:00 +0100\" {13}\r\nHello\r\nWorld!\r\n",
	"t LOGIN {4+}\r\nuser {3-}\r\npwd\r\n",
	"t APPEND box ~{3}\r\nabc ~x\r\n",
	"t X {0}\r\n \"\"\r\n",
	"t X ({0+}\r\n) ({2}\r\n\r\n)\r\n",
	"t SELECT \"Entw\xc3\xbcrfe\"\r\n",
	"a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
	"a.b-c_1]! NOOP\r\n",
	"\r\n",
	"a\r\n",
	"a+ NOOP\r\n",
	"a X (x\r\n",
	"a X x)\r\n",
	"a X a\"b\r\n",
	"a NOOP\n",
	"a LOGIN \"a\\q\" b\r\n",
	"a X ) {5+}\r\nb NOO\r\n",
	"a X ) {5}\r\n",
	"t FETCH 1 BODY[HEADER\r\n",
	"t X {abc}\r\n",
	"t X {3} \r\n",
	"t X {3+}\r\nabcd\r\n",
	"a X 0123456789012345678901234567890123456789012345678901234567890123456789\r\n",
	"a X ((((((((((((((((((((()))))))))))))))))))))\r\n",
	"a X {2000}\r\n",
	"a  NOOP \r\n",
};

static char *corpus_join(size_t *len)
{
	struct strbuf b = STRBUF_INIT;
	for (size_t i = 0; i < ARRAY_SIZE(corpus); i++)
		strbuf_adds(&b, corpus[i]);
	/* End with a good command so the last error is terminated. */
	strbuf_adds(&b, "z NOOP\r\n");
	return strbuf_detach(&b, len);
}

static void split_limits(struct imap_parser_limits *lim)
{
	imap_parser_limits_default(lim);
	lim->max_line = 64;
	lim->max_literal = 1000;
}

static void test_split_byte_by_byte(void **state)
{
	struct imap_parser_limits lim;
	split_limits(&lim);
	size_t len;
	char *all = corpus_join(&len);
	char *whole = run(&lim, all, len, chunk_all, 0);
	/* Sanity: the transcript really exercises the cases. */
	assert_non_null(strstr(whole, "DONE t APPEND A|box| L8|abc| A|~x|\n"));
	assert_non_null(strstr(whole, "ERROR a Line too long [limit]\n"));
	assert_non_null(strstr(whole, "ERROR a Too deeply nested [limit]\n"));
	assert_non_null(strstr(whole, "ERROR a Literal too large [limit]\n"));
	assert_non_null(strstr(whole, "DONE z NOOP\n"));
	char *bytes = run(&lim, all, len, chunk_one, 0);
	assert_string_equal(whole, bytes);
	free(bytes);
	/* Each corpus entry on its own as well. */
	for (size_t i = 0; i < ARRAY_SIZE(corpus); i++) {
		char *a = run(&lim, corpus[i], strlen(corpus[i]), chunk_all, 0);
		char *b = run(&lim, corpus[i], strlen(corpus[i]), chunk_one, 0);
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	free(whole);
	free(all);
}

static void test_split_every_position(void **state)
{
	struct imap_parser_limits lim;
	split_limits(&lim);
	size_t len;
	char *all = corpus_join(&len);
	char *whole = run(&lim, all, len, chunk_all, 0);
	for (unsigned k = 1; k < len; k++) {
		char *t = run(&lim, all, len, chunk_split, k);
		assert_string_equal(whole, t);
		free(t);
	}
	free(whole);
	free(all);
}

static void test_split_random_chunks(void **state)
{
	struct imap_parser_limits lim;
	split_limits(&lim);
	size_t len;
	char *all = corpus_join(&len);
	char *whole = run(&lim, all, len, chunk_all, 0);
	for (unsigned seed = 1; seed <= 300; seed++) {
		char *t = run(&lim, all, len, chunk_random, seed);
		assert_string_equal(whole, t);
		free(t);
	}
	free(whole);
	free(all);
}

static void test_continue_once_per_literal(void **state)
{
	const char *in = "t X {1}\r\na {2}\r\nbc ({0}\r\n) ~{1}\r\nd\r\n";
	char *whole = run(NULL, in, strlen(in), chunk_all, 0);
	char *bytes = run(NULL, in, strlen(in), chunk_one, 0);
	assert_string_equal(whole, "CONT\nCONT\nCONT\nCONT\nDONE t X L|a| L|bc| (L||) L8|d|\n");
	assert_string_equal(whole, bytes);
	free(whole);
	free(bytes);
}

/* ---- efficiency ----------------------------------------------------- */

/* Microseconds to parse a UID FETCH line of about `bytes` bytes, the
 * fastest of `rounds` tries. */
static uint64_t uid_set_parse_us(struct imap_parser *p, size_t bytes, int rounds)
{
	struct strbuf b = STRBUF_INIT;
	strbuf_adds(&b, "a UID FETCH ");
	for (unsigned i = 1; b.len < bytes; i += 2)
		strbuf_addf(&b, "%u,", i);
	strbuf_adds(&b, "1 (FLAGS)\r\n");
	uint64_t best = UINT64_MAX;
	size_t used, n;
	for (int i = 0; i < rounds; i++) {
		uint64_t t0 = now_us();
		assert_int_equal(imap_parser_feed(p, b.s, b.len, &used), IMAP_PARSE_DONE);
		uint64_t t = now_us() - t0;
		const struct imap_arg *a = imap_parser_args(p, &n);
		assert_int_equal(n, 3);
		assert_true(a[1].len > bytes - 100);
		imap_parser_reset(p);
		if (t < best)
			best = t;
	}
	strbuf_free(&b);
	return best;
}

/* A long sequence set costs time linear in its length: four times the
 * bytes may cost at most about four times as long (quadratic would be
 * sixteen). Relative, fastest-of-N figures so a loaded or sanitized build
 * does not fail it. */
static void test_big_uid_set_fast(void **state)
{
	(void)state;
	struct imap_parser *p = imap_parser_new(NULL);
	uint64_t small = 0, big = 0;
	for (int trial = 0; trial < 3; trial++) {
		small = uid_set_parse_us(p, 15000, 50) + 1;
		big = uid_set_parse_us(p, 60000, 50) + 1;
		if (big < small * 9)
			break;
	}
	print_message("UID FETCH line: 15 KB %llu us, 60 KB %llu us\n",
		      (unsigned long long)small, (unsigned long long)big);
	assert_true(big < small * 9);
	imap_parser_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_atoms_strings),
		cmocka_unit_test(test_nil),
		cmocka_unit_test(test_nested_lists),
		cmocka_unit_test(test_list_wildcards),
		cmocka_unit_test(test_lenient_spaces),
		cmocka_unit_test(test_utf8_quoted),
		cmocka_unit_test(test_fetch_brackets),
		cmocka_unit_test(test_bracket_errors),
		cmocka_unit_test(test_authenticate_base64),
		cmocka_unit_test(test_odd_tags),
		cmocka_unit_test(test_empty_and_missing),
		cmocka_unit_test(test_uid_command),
		cmocka_unit_test(test_sync_literal_continue),
		cmocka_unit_test(test_nonsync_literals),
		cmocka_unit_test(test_literal8),
		cmocka_unit_test(test_zero_literal),
		cmocka_unit_test(test_literal_syntax_errors),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_arg_helpers),
		cmocka_unit_test(test_error_recovery),
		cmocka_unit_test(test_quoted_errors),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_discard_skips_nonsync_literal),
		cmocka_unit_test(test_limit_line),
		cmocka_unit_test(test_limit_line_bounded_memory),
		cmocka_unit_test(test_limit_literal_sync),
		cmocka_unit_test(test_limit_literal_nonsync),
		cmocka_unit_test(test_literal_memory_follows_data),
		cmocka_unit_test(test_limit_command),
		cmocka_unit_test(test_limit_depth),
		cmocka_unit_test(test_brackets_outside_sections),
		cmocka_unit_test(test_limit_args),
		cmocka_unit_test(test_limits_default),
		cmocka_unit_test(test_split_byte_by_byte),
		cmocka_unit_test(test_split_every_position),
		cmocka_unit_test(test_split_random_chunks),
		cmocka_unit_test(test_continue_once_per_literal),
		cmocka_unit_test(test_big_uid_set_fast),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
