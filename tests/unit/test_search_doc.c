/* The searchable form of a message (mail/searchdoc.c), which the search
 * index stores at delivery and SEARCH computes for unindexed messages:
 * RFC 2047 words and charsets decoded, addresses also without their RFC
 * 5322 comments, the Date: day as written, folded header and body text,
 * and the body cap. Also: the evaluator answers the same from an indexed
 * entry as from the message. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/search_doc.h"
#include "core/strbuf.h"
#include "mail/search.h"
#include "mail/searchdoc.h"

static void doc_of(const char *text, struct search_doc *d)
{
	mail_search_doc_compute(text, strlen(text), d);
}

static void assert_has(const char *hay, const char *needle)
{
	if (!hay || !strstr(hay, needle))
		fail_msg("\"%s\" not in \"%s\"", needle, hay ? hay : "(null)");
}

static void test_encoded_subject(void **state)
{
	(void)state;
	struct search_doc d;
	doc_of("Subject: =?UTF-8?B?w4lsw6h2ZQ==?= and =?ISO-8859-1?Q?caf=E9?=\r\n"
	       "\r\nx\r\n", &d);
	assert_string_equal(d.field[SEARCH_DOC_SUBJECT], "\xc3\x89l\xc3\xa8ve and caf\xc3\xa9");
	assert_null(d.field[SEARCH_DOC_FROM]);
	assert_int_equal(d.sent_day, SEARCH_DOC_NO_DATE);
	search_doc_clear(&d);
	/* RFC 2047 6.2: whitespace between adjacent encoded words goes, so a
	 * word split across them is whole again. */
	doc_of("Subject: =?UTF-8?Q?Inv?= =?UTF-8?Q?oice?= 42\r\n\r\n", &d);
	assert_string_equal(d.field[SEARCH_DOC_SUBJECT], "Invoice 42");
	search_doc_clear(&d);
}

static void test_addresses(void **state)
{
	(void)state;
	struct search_doc d;
	doc_of("From: <user-from (comment)@ (comment) domain.org>\r\n"
	       "To: =?ISO-8859-1?Q?Andr=E9?= <andre@x.example>, bob@y.example (Bob)\r\n"
	       "Cc: team: a@b.example, c@d.example;\r\n"
	       "\r\n", &d);
	/* The raw text first, then each address without comments. */
	assert_has(d.field[SEARCH_DOC_FROM], "<user-from (comment)@ (comment) domain.org>");
	assert_has(d.field[SEARCH_DOC_FROM], "\nuser-from@domain.org");
	assert_has(d.field[SEARCH_DOC_TO], "\nAndr\xc3\xa9 <andre@x.example>");
	assert_has(d.field[SEARCH_DOC_TO], "\nBob <bob@y.example>");
	assert_has(d.field[SEARCH_DOC_CC], "\na@b.example\nc@d.example");
	assert_null(d.field[SEARCH_DOC_BCC]);
	search_doc_clear(&d);
}

static void test_other_fields(void **state)
{
	(void)state;
	struct search_doc d;
	doc_of("Message-ID: <1@x>\r\nIn-Reply-To: <0@x>\r\nReferences: <a@x>\r\n <0@x>\r\n"
	       "Date: Mon, 1 Jan 2024 23:30:00 -0500\r\n\r\n", &d);
	assert_string_equal(d.field[SEARCH_DOC_MESSAGE_ID], "<1@x>");
	assert_string_equal(d.field[SEARCH_DOC_IN_REPLY_TO], "<0@x>");
	assert_string_equal(d.field[SEARCH_DOC_REFERENCES], "<a@x> <0@x>");
	/* The day as written: 1 Jan 2024 is day 19723. */
	assert_int_equal(d.sent_day, 19723);
	search_doc_clear(&d);
}

static void test_text(void **state)
{
	(void)state;
	struct search_doc d;
	doc_of("Subject: Hello\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
	       "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe aus Z=FCrich\r\n", &d);
	assert_has(d.hdrs, "SUBJECT: HELLO\n");
	/* Folded like the needle will be (i;unicode-casemap). */
	size_t n;
	char *needle = search_casefold("grüße aus zürich", strlen("grüße aus zürich"), &n);
	assert_has(d.body, needle);
	free(needle);
	assert_false(d.body_partial);
	search_doc_clear(&d);
}

static void test_body_cap(void **state)
{
	(void)state;
	struct strbuf b = STRBUF_INIT;
	strbuf_adds(&b, "Subject: big\r\n\r\n");
	while (b.len < SEARCH_DOC_BODY_MAX + 4096)
		strbuf_adds(&b, "0123456789abcdef\r\n");
	struct search_doc d;
	mail_search_doc_compute(b.s, b.len, &d);
	assert_true(d.body_partial);
	assert_true(strlen(d.body) <= SEARCH_DOC_BODY_MAX);
	search_doc_clear(&d);
	strbuf_free(&b);
}

static void test_field_names(void **state)
{
	(void)state;
	assert_int_equal(search_doc_field_find("message-id"), SEARCH_DOC_MESSAGE_ID);
	assert_int_equal(search_doc_field_find("FROM"), SEARCH_DOC_FROM);
	assert_int_equal(search_doc_field_find("X-Spam"), -1);
	assert_string_equal(search_doc_field_name(SEARCH_DOC_REFERENCES), "References");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoded_subject), cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_other_fields),    cmocka_unit_test(test_text),
		cmocka_unit_test(test_body_cap),        cmocka_unit_test(test_field_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
