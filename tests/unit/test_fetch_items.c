/* The FETCH attribute parser (imap/fetch_items.c): every attribute, the
 * macros, BODY[section]<partial> and BODY.PEEK, BINARY/BINARY.PEEK/
 * BINARY.SIZE, the labels responses carry (RFC 9051 7.5.2), the summary
 * flags cmd_fetch.c relies on, the limits, and every error message.
 * Lists come through the real command parser, as from a client; single
 * atoms are also built by hand so that atoms the command parser would
 * refuse (an unclosed '[') still reach fetch_request_parse(). */
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
#include "imap/fetch_items.h"
#include "imap/parser.h"

/* ---- helpers ---- */

/* Parses "t FETCH 1 <attrs>\r\n" and fetch_request_parse()s the attribute
 * argument. Returns its result; the parser is freed. */
static int parse_cmd(const char *attrs, struct fetch_request *r, const char **err)
{
	struct strbuf cmd = STRBUF_INIT;
	strbuf_addf(&cmd, "t FETCH 1 %s\r\n", attrs);
	struct imap_parser *p = imap_parser_new(NULL);
	size_t off = 0;
	enum imap_parse_result pr;
	do {
		size_t used = 0;
		pr = imap_parser_feed(p, cmd.s + off, cmd.len - off, &used);
		off += used;
	} while (pr == IMAP_PARSE_CONTINUE || (pr == IMAP_PARSE_NEED_MORE && off < cmd.len));
	if (pr != IMAP_PARSE_DONE)
		fail_msg("command parser: %s on \"%s\"", imap_parser_error(p), cmd.s);
	size_t n;
	const struct imap_arg *args = imap_parser_args(p, &n);
	assert_int_equal(n, 2);
	*err = NULL;
	int rc = fetch_request_parse(&args[1], r, err);
	imap_parser_free(p);
	strbuf_free(&cmd);
	return rc;
}

/* fetch_request_parse() of one hand-built atom. */
static int parse_atom(const char *atom, struct fetch_request *r, const char **err)
{
	struct imap_arg a;
	memset(&a, 0, sizeof(a));
	a.type = IMAP_ARG_ATOM;
	a.str = atom;
	a.len = strlen(atom);
	*err = NULL;
	return fetch_request_parse(&a, r, err);
}

static void parse_ok(const char *attrs, struct fetch_request *r)
{
	const char *err;
	if (parse_cmd(attrs, r, &err) != 0)
		fail_msg("\"%s\" refused: %s", attrs, err ? err : "(no message)");
	assert_null(err);
}

/* The attribute (or list) is refused with exactly `want`, and the request
 * is left empty. */
static void parse_bad(const char *attrs, const char *want)
{
	struct fetch_request r;
	const char *err;
	if (parse_cmd(attrs, &r, &err) == 0) {
		fetch_request_free(&r);
		fail_msg("\"%s\" accepted", attrs);
	}
	if (!err || strcmp(err, want) != 0)
		fail_msg("\"%s\": error \"%s\", want \"%s\"", attrs, err ? err : "(null)", want);
	assert_int_equal(r.n, 0);
	assert_null(r.items);
	fetch_request_free(&r);
}

static void atom_bad(const char *atom, const char *want)
{
	struct fetch_request r;
	const char *err;
	if (parse_atom(atom, &r, &err) == 0) {
		fetch_request_free(&r);
		fail_msg("\"%s\" accepted", atom);
	}
	if (!err || strcmp(err, want) != 0)
		fail_msg("\"%s\": error \"%s\", want \"%s\"", atom, err ? err : "(null)", want);
	assert_int_equal(r.n, 0);
	fetch_request_free(&r);
}

/* The labels of the request, space-separated. */
static char *labels(const struct fetch_request *r)
{
	struct strbuf b = STRBUF_INIT;
	for (size_t i = 0; i < r->n; i++) {
		if (i)
			strbuf_addc(&b, ' ');
		strbuf_adds(&b, r->items[i].label);
	}
	return strbuf_detach(&b, NULL);
}

static void assert_labels(const char *attrs, const char *want)
{
	struct fetch_request r;
	parse_ok(attrs, &r);
	char *got = labels(&r);
	if (strcmp(got, want) != 0)
		fail_msg("\"%s\": labels \"%s\", want \"%s\"", attrs, got, want);
	free(got);
	fetch_request_free(&r);
}

static const char *repeat(struct strbuf *b, const char *first, const char *item, const char *sep,
			  size_t n, const char *last)
{
	strbuf_reset(b);
	strbuf_adds(b, first);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strbuf_adds(b, sep);
		strbuf_adds(b, item);
	}
	strbuf_adds(b, last);
	return strbuf_cstr(b);
}

/* ---- simple attributes ---- */

static void test_simple_attributes(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		enum fetch_item_type type;
		bool meta, cache;
	} cases[] = {
		{ "UID", FI_UID, false, false },
		{ "FLAGS", FI_FLAGS, true, false },
		{ "INTERNALDATE", FI_INTERNALDATE, true, false },
		{ "RFC822.SIZE", FI_RFC822_SIZE, false, false },
		{ "SAVEDATE", FI_SAVEDATE, true, false },
		{ "ENVELOPE", FI_ENVELOPE, false, true },
		{ "BODY", FI_BODY, false, true },
		{ "BODYSTRUCTURE", FI_BODYSTRUCTURE, false, true },
		/* objectid: RFC 8474 5; EMAILID reads the blob hash (meta). */
		{ "EMAILID", FI_EMAILID, true, false },
		{ "THREADID", FI_THREADID, false, false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		/* Alone, in a list, and in lower case: the label is upper case. */
		char lower[32];
		size_t j;
		for (j = 0; cases[i].name[j]; j++)
			lower[j] = (char)(cases[i].name[j] | 0x20);
		lower[j] = '\0';
		char list[48];
		snprintf(list, sizeof(list), "(%s)", lower);
		const char *forms[] = { cases[i].name, list };
		for (size_t f = 0; f < ARRAY_SIZE(forms); f++) {
			struct fetch_request r;
			parse_ok(forms[f], &r);
			assert_int_equal(r.n, 1);
			assert_int_equal(r.items[0].type, cases[i].type);
			assert_string_equal(r.items[0].label, cases[i].name);
			assert_false(r.items[0].peek);
			assert_false(r.items[0].partial);
			assert_int_equal(r.has_uid, cases[i].type == FI_UID);
			assert_int_equal(r.has_flags, cases[i].type == FI_FLAGS);
			assert_int_equal(r.needs_meta, cases[i].meta);
			assert_int_equal(r.needs_cache, cases[i].cache);
			assert_false(r.needs_content);
			assert_false(r.needs_parse);
			assert_false(r.sets_seen);
			fetch_request_free(&r);
		}
	}
}

/* preview: RFC 8970 3.1, PREVIEW and PREVIEW (LAZY); the response label
 * carries no modifier. */
static void test_preview(void **state)
{
	(void)state;
	struct fetch_request r;
	parse_ok("PREVIEW", &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.items[0].type, FI_PREVIEW);
	assert_false(r.items[0].lazy);
	assert_true(r.needs_preview);
	assert_false(r.needs_content);
	fetch_request_free(&r);
	parse_ok("(UID preview (lazy) FLAGS)", &r);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.items[1].type, FI_PREVIEW);
	assert_true(r.items[1].lazy);
	assert_string_equal(r.items[1].label, "PREVIEW");
	assert_int_equal(r.items[2].type, FI_FLAGS);
	fetch_request_free(&r);
	parse_ok("(PREVIEW (LAZY LAZY))", &r);
	assert_true(r.items[0].lazy);
	fetch_request_free(&r);
	parse_bad("(PREVIEW (FUZZY))", "Unknown PREVIEW modifier");
	parse_bad("(PREVIEW ())", "PREVIEW needs modifiers in its list");
	parse_bad("(PREVIEW (\"LAZY\"))", "Unknown PREVIEW modifier");
	parse_bad("(FLAGS (LAZY))", "FETCH attributes must be atoms");
}

/* RFC 9051 6.4.5: the macros, alone only. */
static void test_macros(void **state)
{
	(void)state;
	assert_labels("ALL", "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE");
	assert_labels("FAST", "FLAGS INTERNALDATE RFC822.SIZE");
	assert_labels("FULL", "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY");
	assert_labels("fast", "FLAGS INTERNALDATE RFC822.SIZE");
	struct fetch_request r;
	parse_ok("FULL", &r);
	assert_true(r.has_flags && r.needs_meta && r.needs_cache);
	assert_false(r.needs_content || r.sets_seen || r.has_uid);
	fetch_request_free(&r);
	parse_bad("(ALL)", "Unknown FETCH attribute");
	parse_bad("(UID FAST)", "Unknown FETCH attribute");
}

/* RFC 3501 RFC822 forms: sections with labels of their own;
 * RFC822.HEADER does not set \Seen (RFC 3501 6.4.5). */
static void test_rfc822_forms(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		enum mail_section_kind kind;
		bool peek, parse;
	} cases[] = {
		{ "RFC822", MAIL_SECTION_ALL, false, false },
		/* alloc: found without a MIME parse (mail_section_range) */
		{ "RFC822.HEADER", MAIL_SECTION_HEADER, true, false },
		{ "RFC822.TEXT", MAIL_SECTION_TEXT, false, false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct fetch_request r;
		parse_ok(cases[i].name, &r);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.items[0].type, FI_SECTION);
		assert_int_equal(r.items[0].section.kind, cases[i].kind);
		assert_string_equal(r.items[0].label, cases[i].name);
		assert_int_equal(r.items[0].peek, cases[i].peek);
		assert_int_equal(r.sets_seen, !cases[i].peek);
		assert_true(r.needs_content);
		assert_int_equal(r.needs_parse, cases[i].parse);
		fetch_request_free(&r);
	}
}

/* ---- BODY[section]<partial> ---- */

static void test_body_sections(void **state)
{
	(void)state;
	struct fetch_request r;
	parse_ok("BODY[]", &r);
	assert_int_equal(r.items[0].type, FI_SECTION);
	assert_int_equal(r.items[0].section.kind, MAIL_SECTION_ALL);
	assert_int_equal(r.items[0].section.nparts, 0);
	assert_string_equal(r.items[0].label, "BODY[]");
	assert_true(r.sets_seen && r.needs_content);
	assert_false(r.needs_parse); /* the whole message needs no MIME parse */
	fetch_request_free(&r);

	parse_ok("BODY[1.2.MIME]", &r);
	assert_int_equal(r.items[0].section.kind, MAIL_SECTION_MIME);
	assert_int_equal(r.items[0].section.nparts, 2);
	assert_int_equal(r.items[0].section.part[0], 1);
	assert_int_equal(r.items[0].section.part[1], 2);
	assert_true(r.needs_parse);
	fetch_request_free(&r);

	parse_ok("BODY[HEADER.FIELDS (From \"To\" x-spam)]", &r);
	assert_int_equal(r.items[0].section.kind, MAIL_SECTION_HEADER_FIELDS);
	assert_int_equal(r.items[0].section.nfields, 3);
	assert_string_equal(r.items[0].section.fields[1], "To");
	fetch_request_free(&r);

	/* Keywords in upper case, field names as sent, quoted only when needed. */
	assert_labels("(body[header] body[text] body[2] body[3.header] body[4.1.text] body[5.mime])",
		      "BODY[HEADER] BODY[TEXT] BODY[2] BODY[3.HEADER] BODY[4.1.TEXT] BODY[5.MIME]");
	assert_labels("body[header.fields (From \"To\" x-spam)]",
		      "BODY[HEADER.FIELDS (From To x-spam)]");
	assert_labels("BODY[1.HEADER.FIELDS.NOT (Received)]", "BODY[1.HEADER.FIELDS.NOT (Received)]");
	assert_labels("BODY[HEADER.FIELDS (\"NIL\")]", "BODY[HEADER.FIELDS (\"NIL\")]");
}

/* RFC 9051 7.5.2: BODY.PEEK answers as BODY and sets no \Seen. */
static void test_body_peek(void **state)
{
	(void)state;
	struct fetch_request r;
	parse_ok("BODY.PEEK[HEADER]", &r);
	assert_true(r.items[0].peek);
	assert_string_equal(r.items[0].label, "BODY[HEADER]");
	assert_false(r.sets_seen);
	assert_true(r.needs_content);
	assert_false(r.needs_parse); /* alloc: the header is found without a MIME parse */
	fetch_request_free(&r);
	parse_ok("BODY.PEEK[1.HEADER]", &r);
	assert_true(r.needs_parse); /* ... that of a part is not */
	fetch_request_free(&r);
	/* One non-PEEK body item is enough for \Seen. */
	parse_ok("(BODY.PEEK[1] BODY[2] RFC822.HEADER)", &r);
	assert_true(r.sets_seen);
	fetch_request_free(&r);
	parse_ok("(BODY.PEEK[1] RFC822.HEADER BINARY.PEEK[1] BINARY.SIZE[1])", &r);
	assert_false(r.sets_seen);
	fetch_request_free(&r);
}

/* RFC 9051 6.4.5 / 7.5.2: <origin.count>; the response names the origin. */
static void test_partial(void **state)
{
	(void)state;
	struct fetch_request r;
	parse_ok("BODY.PEEK[TEXT]<5.10>", &r);
	assert_true(r.items[0].partial);
	assert_int_equal(r.items[0].origin, 5);
	assert_int_equal(r.items[0].count, 10);
	assert_string_equal(r.items[0].label, "BODY[TEXT]<5>");
	fetch_request_free(&r);
	parse_ok("BODY[]<18446744073709551615.18446744073709551615>", &r);
	assert_true(r.items[0].origin == UINT64_MAX && r.items[0].count == UINT64_MAX);
	assert_string_equal(r.items[0].label, "BODY[]<18446744073709551615>");
	fetch_request_free(&r);
	assert_labels("BODY[]<0.1>", "BODY[]<0>");

	const char *range = "Invalid partial range <origin.count>";
	parse_bad("BODY[]<5>", range);
	parse_bad("BODY[]<0.0>", range);          /* count is nz-number */
	parse_bad("BODY[]<.5>", range);
	parse_bad("BODY[]<5.>", range);
	parse_bad("BODY[]<1.2.3>", range);
	parse_bad("BODY[]<-1.5>", range);
	parse_bad("BODY[]<18446744073709551616.1>", range);
	parse_bad("BODY[]<123456789012345678901.1>", range);
	parse_bad("BODY[]x", range);
	parse_bad("BODY[]<1.2>x", range);
}

/* ---- BINARY (RFC 3516) ---- */

static void test_binary(void **state)
{
	(void)state;
	struct fetch_request r;
	parse_ok("BINARY[]", &r);
	assert_int_equal(r.items[0].type, FI_BINARY);
	assert_int_equal(r.items[0].nparts, 0);
	assert_string_equal(r.items[0].label, "BINARY[]");
	assert_true(r.sets_seen && r.needs_content && r.needs_parse);
	fetch_request_free(&r);

	parse_ok("BINARY.PEEK[1.2]<0.5>", &r);
	assert_int_equal(r.items[0].type, FI_BINARY);
	assert_true(r.items[0].peek && r.items[0].partial);
	assert_int_equal(r.items[0].nparts, 2);
	assert_int_equal(r.items[0].part[1], 2);
	assert_string_equal(r.items[0].label, "BINARY[1.2]<0>");
	assert_false(r.sets_seen);
	fetch_request_free(&r);

	parse_ok("binary.size[3]", &r);
	assert_int_equal(r.items[0].type, FI_BINARY_SIZE);
	assert_true(r.items[0].peek);
	assert_string_equal(r.items[0].label, "BINARY.SIZE[3]");
	assert_false(r.sets_seen);
	fetch_request_free(&r);

	parse_bad("BINARY.SIZE[1]<0.10>", "BINARY.SIZE takes no partial range");
	const char *bad = "Invalid section in BINARY[]";
	parse_bad("BINARY[0]", bad);
	parse_bad("BINARY[1.0]", bad);
	parse_bad("BINARY[1.]", bad);
	parse_bad("BINARY[.1]", bad);
	parse_bad("BINARY[1..2]", bad);
	parse_bad("BINARY[HEADER]", bad);         /* section-binary is parts only */
	parse_bad("BINARY[1.TEXT]", bad);
	parse_bad("BINARY[4294967296]", bad);
	parse_bad("BINARY.PEEK[x]", bad);
}

/* RFC 9051 9: section-part = nz-number *("." nz-number), nz-number =
 * digit-nz *DIGIT: a part number with a leading zero is a syntax error in
 * BINARY[] as in BODY[]. (Found by this test; binary_part_parse() accepted
 * BINARY[01].) */
static void test_binary_leading_zero(void **state)
{
	(void)state;
	parse_bad("BODY[01]", "Invalid section in BODY[]");
	parse_bad("BINARY[01]", "Invalid section in BINARY[]");
	parse_bad("BINARY.SIZE[1.02]", "Invalid section in BINARY[]");
}

/* ---- invalid sections, unknown attributes, list shape ---- */

static void test_invalid_sections(void **state)
{
	(void)state;
	const char *bad = "Invalid section in BODY[]";
	parse_bad("BODY[FOO]", bad);
	parse_bad("BODY[0]", bad);
	parse_bad("BODY[1.0]", bad);
	parse_bad("BODY[MIME]", bad);             /* MIME needs a part number */
	parse_bad("BODY[HEADER.FIELDS]", bad);
	parse_bad("BODY[HEADER.FIELDS ()]", bad);
	parse_bad("BODY[TEXT.HEADER]", bad);
	parse_bad("BODY[1.]", bad);
	parse_bad("BODY[ HEADER]", bad);
	const char *field = "Invalid header field name";
	parse_bad("BODY[HEADER.FIELDS (Fro:m)]", field);
	parse_bad("BODY[HEADER.FIELDS (\"Sub ject\")]", field);
	parse_bad("BODY[HEADER.FIELDS (\"\")]", field);
	atom_bad("BODY[HEADER", "Missing ] in FETCH attribute");
	atom_bad("BODY.PEEK[1.2", "Missing ] in FETCH attribute");
}

static void test_unknown_attributes(void **state)
{
	(void)state;
	const char *unknown = "Unknown FETCH attribute";
	parse_bad("X-UNKNOWN", unknown);
	parse_bad("(UID X-UNKNOWN)", unknown);
	parse_bad("BODY.PEEK", unknown);          /* PEEK needs a section */
	parse_bad("BINARY", unknown);
	parse_bad("BINARY.SIZE", unknown);
	parse_bad("RFC822.PEEK", unknown);
	parse_bad("BODYX[]", unknown);
	parse_bad("BODY.PEEKX[]", unknown);
	parse_bad("UID[]", unknown);
	parse_bad("MODSEQ[]", unknown);
	parse_bad("EMAILID[]", unknown);          /* objectid */
	parse_bad("MAILBOXID", unknown);         /* a STATUS item, not FETCH */
	parse_bad("EMAILID.PEEK", unknown);
	atom_bad("[]", unknown);

	parse_bad("()", "FETCH needs attributes");
	parse_bad("\"UID\"", "FETCH needs attributes");
	parse_bad("NIL", "FETCH needs attributes");
	parse_bad("(\"UID\")", "FETCH attributes must be atoms");
	parse_bad("(UID (FLAGS))", "FETCH attributes must be atoms");
	parse_bad("(UID NIL)", "FETCH attributes must be atoms");
}

/* FETCH_MAX_ITEMS (256) attributes, FETCH_MAX_BODY_ITEMS (32) body items,
 * MAIL_MAX_SECTION_PARTS (32) levels of part nesting, field names of at
 * most 200 bytes. */
static void test_limits(void **state)
{
	(void)state;
	struct strbuf b = STRBUF_INIT;
	struct fetch_request r;
	parse_ok(repeat(&b, "(", "UID", " ", 256, ")"), &r);
	assert_int_equal(r.n, 256);
	fetch_request_free(&r);
	parse_bad(repeat(&b, "(", "UID", " ", 257, ")"), "Too many FETCH attributes");

	parse_ok(repeat(&b, "(", "BODY.PEEK[1]", " ", 32, ")"), &r);
	assert_int_equal(r.n, 32);
	fetch_request_free(&r);
	parse_bad(repeat(&b, "(", "BODY.PEEK[1]", " ", 33, ")"), "Too many body sections in one FETCH");
	parse_bad(repeat(&b, "(", "BINARY.SIZE[1]", " ", 33, ")"), "Too many body sections in one FETCH");
	parse_bad(repeat(&b, "(RFC822.SIZE ", "RFC822", " ", 33, ")"), "Too many body sections in one FETCH");

	parse_ok(repeat(&b, "BODY[", "7", ".", 32, ".MIME]"), &r);
	assert_int_equal(r.items[0].section.nparts, 32);
	fetch_request_free(&r);
	parse_bad(repeat(&b, "BODY[", "7", ".", 33, "]"), "Invalid section in BODY[]");
	parse_ok(repeat(&b, "BINARY[", "7", ".", 32, "]"), &r);
	assert_int_equal(r.items[0].nparts, 32);
	fetch_request_free(&r);
	parse_bad(repeat(&b, "BINARY[", "7", ".", 33, "]"), "Invalid section in BINARY[]");

	char name[202];
	memset(name, 'X', sizeof(name));
	name[200] = '\0';
	strbuf_reset(&b);
	strbuf_addf(&b, "BODY[HEADER.FIELDS (%s)]", name);
	parse_ok(strbuf_cstr(&b), &r);
	fetch_request_free(&r);
	name[200] = 'X';
	name[201] = '\0';
	strbuf_reset(&b);
	strbuf_addf(&b, "BODY[HEADER.FIELDS (%s)]", name);
	parse_bad(strbuf_cstr(&b), "Invalid header field name");
	strbuf_free(&b);
}

/* RFC 9051 6.4.9: UID FETCH always returns UID; it goes first when added. */
/* RFC 7162 3.1.4.1: MODSEQ is an attribute; CHANGEDSINCE adds it once. */
static void test_modseq(void **state)
{
	(void)state;
	struct fetch_request r;
	parse_ok("(FLAGS modseq)", &r);
	assert_true(r.has_modseq);
	assert_false(r.needs_content);
	fetch_request_ensure_modseq(&r);
	char *got = labels(&r);
	assert_string_equal(got, "FLAGS MODSEQ");
	free(got);
	fetch_request_free(&r);
	parse_ok("FLAGS", &r);
	assert_false(r.has_modseq);
	fetch_request_ensure_modseq(&r);
	got = labels(&r);
	assert_string_equal(got, "FLAGS MODSEQ");
	free(got);
	fetch_request_free(&r);
}

static void test_ensure_uid(void **state)
{
	(void)state;
	struct fetch_request r;
	parse_ok("(FLAGS BODY.PEEK[]<0.10>)", &r);
	fetch_request_ensure_uid(&r);
	char *got = labels(&r);
	assert_string_equal(got, "UID FLAGS BODY[]<0>");
	free(got);
	assert_true(r.has_uid);
	assert_int_equal(r.items[2].origin, 0);
	assert_int_equal(r.items[2].count, 10);
	fetch_request_ensure_uid(&r);
	assert_int_equal(r.n, 3);
	fetch_request_free(&r);

	parse_ok("(FLAGS UID)", &r);
	fetch_request_ensure_uid(&r);
	got = labels(&r);
	assert_string_equal(got, "FLAGS UID");
	free(got);
	fetch_request_free(&r);

	parse_ok("FAST", &r);
	fetch_request_ensure_uid(&r);
	got = labels(&r);
	assert_string_equal(got, "UID FLAGS INTERNALDATE RFC822.SIZE");
	free(got);
	fetch_request_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_attributes),
		cmocka_unit_test(test_macros),
		cmocka_unit_test(test_preview),
		cmocka_unit_test(test_rfc822_forms),
		cmocka_unit_test(test_body_sections),
		cmocka_unit_test(test_body_peek),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_binary_leading_zero),
		cmocka_unit_test(test_invalid_sections),
		cmocka_unit_test(test_unknown_attributes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_ensure_uid),
		cmocka_unit_test(test_modseq),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
