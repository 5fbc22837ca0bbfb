/* ENVELOPE and BODYSTRUCTURE of small inline messages. Unless a comment
 * says otherwise, every expected string is what Dovecot 2.3.19 answered
 * for the same bytes (strings it sent as literals, being semantically the
 * same, are written here as the quoted strings quote_string() produces). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/util.h"
#include "mail/mail.h"

/* The test messages are written with \n; they go through the parser with
 * CRLF, as IMAP messages normally are. */
static char *crlf(const char *s, size_t *len)
{
	struct strbuf b = STRBUF_INIT;
	strbuf_adds(&b, "");
	for (; *s; s++) {
		if (*s == '\n')
			strbuf_addc(&b, '\r');
		strbuf_addc(&b, *s);
	}
	return strbuf_detach(&b, len);
}

static void check_env(const char *msg, const char *want)
{
	size_t len;
	char *data = crlf(msg, &len);
	struct mail_msg *m = mail_parse(data, len);
	struct strbuf b = STRBUF_INIT;
	mail_write_envelope(&b, m);
	if (strcmp(b.s, want) != 0)
		fail_msg("envelope\n got: %s\nwant: %s", b.s, want);
	strbuf_free(&b);
	mail_msg_free(m);
	free(data);
}

static void check_bs(const char *msg, const char *want)
{
	size_t len;
	char *data = crlf(msg, &len);
	struct mail_msg *m = mail_parse(data, len);
	struct strbuf b = STRBUF_INIT;
	mail_write_bodystructure(&b, m, true);
	if (strcmp(b.s, want) != 0)
		fail_msg("bodystructure\n got: %s\nwant: %s", b.s, want);
	strbuf_free(&b);
	mail_msg_free(m);
	free(data);
}

#define A_BC "((NIL NIL \"a\" \"b.c\"))"

static void test_envelope_defaults(void **state)
{
	(void)state;
	/* RFC 9051 7.5.2: Sender and Reply-To default to From; an empty
	 * Subject is "", an absent one NIL. */
	check_env("Subject:\nFrom: a@b.c\n\nx\n",
		  "(NIL \"\" " A_BC " " A_BC " " A_BC " NIL NIL NIL NIL NIL)");
	check_env("From: a@b.c\nSender:\nReply-To: (nobody)\n\nx\n",
		  "(NIL NIL " A_BC " " A_BC " " A_BC " NIL NIL NIL NIL NIL)");
	check_env("From: a@b.c\nSender: s@b.c\nReply-To: r@b.c\n\n",
		  "(NIL NIL " A_BC " ((NIL NIL \"s\" \"b.c\")) ((NIL NIL \"r\" \"b.c\")) NIL NIL NIL NIL NIL)");
	/* No From: everything defaulting to it is NIL too. */
	check_env("To: t@b.c\n\n", "(NIL NIL NIL NIL NIL ((NIL NIL \"t\" \"b.c\")) NIL NIL NIL NIL)");
	/* Only the first occurrence counts. */
	check_env("From: a@b.c\nFrom: z@b.c\nSubject: one\nSubject: two\n\n",
		  "(NIL \"one\" " A_BC " " A_BC " " A_BC " NIL NIL NIL NIL NIL)");
}

static void test_envelope_strings(void **state)
{
	(void)state;
	/* Folded Subject: CRLF removed, the TAB opening the continuation
	 * becomes a space; RFC 2047 words are NOT decoded. */
	check_env("From: a@b.c\nSubject: =?utf-8?q?x?=\n\t(folded)\n\n",
		  "(NIL \"=?utf-8?q?x?= (folded)\" " A_BC " " A_BC " " A_BC " NIL NIL NIL NIL NIL)");
	/* In-Reply-To and Message-ID as raw strings, even empty. */
	check_env("From: a@b.c\nIn-Reply-To: \nMessage-ID: <m@x>\n\n",
		  "(NIL NIL " A_BC " " A_BC " " A_BC " NIL NIL NIL \"\" \"<m@x>\")");
	/* 8-bit goes out as a literal (RFC 9051 4.3). */
	check_env("Subject: caf\xc3\xa9\n\n", "(NIL {5}\r\ncaf\xc3\xa9 NIL NIL NIL NIL NIL NIL NIL NIL)");
}

static void test_envelope_addresses(void **state)
{
	(void)state;
	/* Unterminated angle-addr: Dovecot says host "SYNTAX_ERROR"; we keep
	 * the domain we read (documented difference). A comment after a bare
	 * addr-spec is the name (the last one). */
	check_env("From: \"A\" <a@b.c>, B <b@c.d\nTo: \nCc: (only comment)\n"
		  "Bcc: a@b.c (c1) (c2), \"q\\\\x\" <x@y>\n\nx\n",
		  "(NIL NIL ((\"A\" NIL \"a\" \"b.c\")(\"B\" NIL \"b\" \"c.d\")) "
		  "((\"A\" NIL \"a\" \"b.c\")(\"B\" NIL \"b\" \"c.d\")) "
		  "((\"A\" NIL \"a\" \"b.c\")(\"B\" NIL \"b\" \"c.d\")) NIL NIL "
		  "((\"c2\" NIL \"a\" \"b.c\")(\"q\\\\x\" NIL \"x\" \"y\")) NIL NIL)");
	/* RFC 9051 7.5.2 groups: (NIL NIL "name" NIL) ... (NIL NIL NIL NIL). */
	check_env("To: G: a@b.c, <d@e.f>;, h@i.j\n\n",
		  "(NIL NIL NIL NIL NIL ((NIL NIL \"G\" NIL)(NIL NIL \"a\" \"b.c\")(NIL NIL \"d\" \"e.f\")"
		  "(NIL NIL NIL NIL)(NIL NIL \"h\" \"i.j\")) NIL NIL NIL NIL)");
	/* An unterminated group still gets its end marker. */
	check_env("To: G: a@b.c\n\n",
		  "(NIL NIL NIL NIL NIL ((NIL NIL \"G\" NIL)(NIL NIL \"a\" \"b.c\")(NIL NIL NIL NIL)) NIL NIL NIL NIL)");
	/* From RFC 5322 A.1.3 and A.5 (by reasoning from the RFC: quoted
	 * pairs and comments inside the phrase, a folded list). */
	check_env("To: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\n\n",
		  "(NIL NIL NIL NIL NIL ((\"Pete\" NIL \"pete\" \"silly.test\")) NIL NIL NIL NIL)");
	check_env("Cc: \"Mary Smith: Personal Account\" <smith@home.example>,\n"
		  "  John Q. Public <jqp@x.y>\n\n",
		  "(NIL NIL NIL NIL NIL NIL ((\"Mary Smith: Personal Account\" NIL \"smith\" \"home.example\")"
		  "(\"John Q. Public\" NIL \"jqp\" \"x.y\")) NIL NIL NIL)");
	/* Junk never loops or crashes (our own output, not Dovecot's). */
	check_env("To: <<<>>> ,,, ;;; @@@ :::\n\n",
		  "(NIL NIL NIL NIL NIL ((NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")"
		  "(NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")(NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")"
		  "(NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")"
		  "(NIL NIL \"\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL)");
}

static void test_bodystructure_params(void **state)
{
	(void)state;
	/* "text" without a subtype: Dovecot sends "text" ""; RFC 2045 5.2
	 * makes an invalid Content-Type text/plain; charset=us-ascii. */
	check_bs("From: a@b.c\nContent-Type: text\n\nx\n",
		 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL)");
	/* RFC 2231 with a missing index goes out unmerged. Dovecot sends
	 * "foo*2*" for "foo*": its parser doesn't reset the index between
	 * parameters (a Dovecot bug); we send "foo*". */
	check_bs("Content-Type: application/x; name*0=\"a\"; name*2=\"c\"; foo*=us-ascii'en'%41; bar*1*=x\n"
		 "Content-Language: EN-us\n\nx\n",
		 "(\"application\" \"x\" (\"bar*1*\" \"x\" \"foo*\" \"us-ascii'en'%41\" \"name*0\" \"a\" "
		 "\"name*2\" \"c\") NIL NIL \"7bit\" 3 NIL NIL (\"EN-us\") NIL)");
	/* Type strings and parameters as they appear; junk after a value
	 * is dropped; the default charset is appended last. */
	check_bs("Content-Type: Text/Plain; name=\"foo bar.txt\" (comment); format=flowed junk; x=y\n\nx\n",
		 "(\"Text\" \"Plain\" (\"name\" \"foo bar.txt\" \"format\" \"flowed\" \"x\" \"y\" \"charset\" "
		 "\"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL)");
	/* Content-ID kept with trailing blanks, CTE as written. */
	check_bs("Content-Type: text/plain; charset=utf-8; charset=latin1\nContent-ID:   <x@y>  \n"
		 "Content-Transfer-Encoding: BASE64\n\nx\n",
		 "(\"text\" \"plain\" (\"charset\" \"utf-8\" \"charset\" \"latin1\") \"<x@y>  \" NIL \"BASE64\" "
		 "3 1 NIL NIL NIL NIL)");
	/* RFC 2231 continuation of a non-encoded value, plus an encoded
	 * first piece followed by a plain one whose '%' gets escaped. */
	check_bs("Content-Type: text/plain\nContent-Disposition: attachment; filename*1=\"b%c\";\n"
		 " filename*0*=utf-8''a%20\n\nx\n",
		 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL (\"attachment\" "
		 "(\"filename*\" \"utf-8''a%20b%25c\")) NIL NIL)");
}

static void test_bodystructure_multipart_ext(void **state)
{
	(void)state;
	/* Multipart extension data: params, disposition, language, location. */
	check_bs("From: a@b.c\nContent-Type: multipart/mixed; boundary=\"x\"\nContent-Disposition: inline\n"
		 "Content-Language: fr\nContent-Location: foo\n\n--x\n\n--x--\n",
		 "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" "
		 "(\"boundary\" \"x\") (\"inline\" NIL) (\"fr\") \"foo\")");
	/* An empty message/rfc822 part. */
	check_bs("From: a@b.c\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: message/rfc822\n\n--x--\n",
		 "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 0 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
		 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) 0 NIL NIL "
		 "NIL NIL) \"mixed\" (\"boundary\" \"x\") NIL NIL NIL)");
	/* A base64 message/rfc822 (not allowed by RFC 2046 5.2.1) is parsed
	 * as is, like Dovecot does. */
	check_bs("From: a@b.c\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
		 "U3ViamVjdDogaGkKCmJvZHkK\n",
		 "(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 26 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
		 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) 1 NIL NIL NIL NIL)");
}

/* RFC 5322 3.2.2 CFWS has one home (mail_cfws_skip): the same nested
 * comment with a quoted ")" and a fold is skipped alike by Content-Type
 * and Content-Disposition values, Content-Language, addresses (where the
 * comment after an addr-spec is the name; the tab of the fold makes it a
 * literal) and Date. */
#define CFWS_C "(a (b)\n\t\\) c)"
static void test_cfws_one_rule(void **state)
{
	(void)state;
	check_bs("Content-Type: text/plain " CFWS_C "; charset=" CFWS_C " utf-8\n"
		 "Content-Disposition: " CFWS_C " inline " CFWS_C "; x=" CFWS_C " y\n"
		 "Content-Language: en " CFWS_C ", " CFWS_C " de\n\nx\n",
		 "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 3 1 NIL "
		 "(\"inline\" (\"x\" \"y\")) (\"en\" \"de\") NIL)");
	check_env("From: a@b.c " CFWS_C "\n\n",
		  "(NIL NIL (({9}\r\na (b)\t) c NIL \"a\" \"b.c\")) (({9}\r\na (b)\t) c NIL \"a\" \"b.c\")) "
		  "(({9}\r\na (b)\t) c NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)");
	const char *plain = "Tue, 1 Jul 2003 10:52:37 +0200";
	const char *commented = "Tue, " CFWS_C " 1 Jul 2003 " CFWS_C " 10:52:37 " CFWS_C " +0200 " CFWS_C;
	int tz1 = 1, tz2 = 2;
	int64_t t1 = mail_parse_rfc5322_date(plain, strlen(plain), &tz1);
	int64_t t2 = mail_parse_rfc5322_date(commented, strlen(commented), &tz2);
	assert_true(t1 > 0);
	assert_int_equal(t1, t2);
	assert_int_equal(tz1, tz2);
}

static void test_body_vs_bodystructure(void **state)
{
	(void)state;
	/* BODY is BODYSTRUCTURE without extension data. */
	size_t len;
	char *data = crlf("Content-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: text/plain\n"
			  "Content-MD5: abc\nContent-Disposition: inline\n\nhi\n--q--\n", &len);
	struct mail_msg *m = mail_parse(data, len);
	struct strbuf b = STRBUF_INIT;
	mail_write_bodystructure(&b, m, false);
	assert_string_equal(b.s, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 2 0) \"mixed\")");
	strbuf_reset(&b);
	mail_write_bodystructure(&b, m, true);
	assert_string_equal(b.s, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 2 0 \"abc\" "
				 "(\"inline\" NIL) NIL NIL) \"mixed\" (\"boundary\" \"q\") NIL NIL NIL)");
	strbuf_free(&b);
	mail_msg_free(m);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope_defaults),
		cmocka_unit_test(test_envelope_strings),
		cmocka_unit_test(test_envelope_addresses),
		cmocka_unit_test(test_bodystructure_params),
		cmocka_unit_test(test_bodystructure_multipart_ext),
		cmocka_unit_test(test_body_vs_bodystructure),
		cmocka_unit_test(test_cfws_one_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
