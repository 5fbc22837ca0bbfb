/* Modified UTF-7 (RFC 3501 5.1.3) and IMAP date-time round trips. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "imap/datetime.h"
#include "imap/mutf7.h"

static void check_pair(const char *utf8, const char *mutf7)
{
	struct strbuf b = STRBUF_INIT;
	assert_int_equal(mutf7_encode(utf8, &b), 0);
	assert_string_equal(strbuf_cstr(&b), mutf7);
	strbuf_reset(&b);
	assert_int_equal(mutf7_decode(mutf7, &b), 0);
	assert_string_equal(strbuf_cstr(&b), utf8);
	strbuf_free(&b);
}

static void test_roundtrips(void **state)
{
	(void)state;
	check_pair("INBOX", "INBOX");
	check_pair("a&b", "a&-b");
	check_pair("Entwürfe", "Entw&APw-rfe");
	/* The RFC 3501 example. */
	check_pair("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	check_pair("😀", "&2D3eAA-");
	check_pair("", "");
}

static void test_invalid(void **state)
{
	(void)state;
	struct strbuf b = STRBUF_INIT;
	const char *bad[] = { "&", "&U,BTFw", "&AGE-", "&-&", "a\xc3\xa4", "&2D3-", "&3gA-", "&Jjo!", NULL };
	for (int i = 0; bad[i]; i++) {
		strbuf_reset(&b);
		assert_int_equal(mutf7_decode(bad[i], &b), -1);
	}
	strbuf_reset(&b);
	assert_int_equal(mutf7_encode("bad \xff utf8", &b), -1);
	strbuf_free(&b);
}

/* ext (issue #12): a rev1 client's raw UTF-8 name (alpine) is taken as
 * UTF-8 when it cannot be modified UTF-7; anything ambiguous or malformed
 * is refused. */
static void test_rev1_names(void **state)
{
	(void)state;
	struct strbuf b = STRBUF_INIT;
	assert_int_equal(mutf7_decode_rev1("Gr\xc3\xbc\xc3\x9f" "e", &b), 0);
	assert_string_equal(b.s, "Gr\xc3\xbc\xc3\x9f" "e");
	strbuf_reset(&b);
	assert_int_equal(mutf7_decode_rev1("Gr&APwA3w-e", &b), 0);
	assert_string_equal(b.s, "Gr\xc3\xbc\xc3\x9f" "e");
	const char *bad[] = { "caf\xc3\xa9&AOk-", "caf\xe9", "\xc3\x28", "a\xed\xa0\x80" "b",
			      "\xc2\x85x", "&", NULL };
	for (int i = 0; bad[i]; i++) {
		strbuf_reset(&b);
		assert_int_equal(mutf7_decode_rev1(bad[i], &b), -1);
	}
	strbuf_free(&b);
}

static void test_datetime(void **state)
{
	(void)state;
	int64_t t;
	int tz;
	const char *s = "17-Jul-1996 02:44:25 -0700";
	assert_int_equal(imap_datetime_parse(s, strlen(s), &t, &tz), 0);
	assert_int_equal(t, 837596665);
	assert_int_equal(tz, -420);
	char buf[40];
	imap_datetime_format(t, tz, buf, sizeof(buf));
	assert_string_equal(buf, "\"17-Jul-1996 02:44:25 -0700\"");
	s = " 1-Feb-2024 00:00:00 +0000";
	assert_int_equal(imap_datetime_parse(s, strlen(s), &t, &tz), 0);
	imap_datetime_format(t, tz, buf, sizeof(buf));
	assert_string_equal(buf, "\"01-Feb-2024 00:00:00 +0000\"");
	const char *bad[] = { "17-Jul-1996 02:44:25", "32-Jul-1996 02:44:25 -0700",
			      "17-Foo-1996 02:44:25 -0700", "17-Jul-1996 25:44:25 -0700",
			      "17-Jul-1996 02:44:25 x0700", NULL };
	for (int i = 0; bad[i]; i++)
		assert_int_equal(imap_datetime_parse(bad[i], strlen(bad[i]), &t, &tz), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrips),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_datetime),
		cmocka_unit_test(test_rev1_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
