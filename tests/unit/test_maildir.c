/* Maildir++ as Dovecot and Courier write it (admin/maildir.h): UID lists
 * of version 3 and 1, keywords and file-name flags (Dovecot's mapping),
 * folder names in modified UTF-7 both ways, both subscription formats. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/maildir.h"
#include "core/flags.h"

static char g_dir[64];

static void put(const char *name, const char *text)
{
	char p[MAILDIR_PATH_MAX];
	assert_true(maildir_path(p, g_dir, name));
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void drop(const char *name)
{
	char p[MAILDIR_PATH_MAX];
	assert_true(maildir_path(p, g_dir, name));
	unlink(p);
}

static void test_uidlist(void **state)
{
	(void)state;
	struct maildir_uidlist l;
	const char *err;
	assert_int_equal(maildir_uidlist_read(g_dir, &l, &err), 0);
	assert_int_equal(l.uidvalidity, 0); /* no file */
	put("dovecot-uidlist", "3 V1796044713 N9 Gd0183339a8770d6bfd2b000083ecc375\n"
			       "1 :1700.M1P2.host,S=18,W=21\n"
			       "4 W30 S28 :1701.M3P4.host\n");
	assert_int_equal(maildir_uidlist_read(g_dir, &l, &err), 0);
	assert_int_equal(l.uidvalidity, 1796044713u);
	assert_int_equal(l.uidnext, 9);
	assert_int_equal(maildir_uidlist_find(&l, "1700.M1P2.host,S=18,W=21:2,S"), 1);
	assert_int_equal(maildir_uidlist_find(&l, "1701.M3P4.host"), 4);
	assert_int_equal(maildir_uidlist_find(&l, "1701.M3P4.hos"), 0);
	assert_int_equal(maildir_uidlist_find(&l, "1702.x"), 0);
	maildir_uidlist_free(&l);
	/* A UID at or above N raises it; a bad line fails the whole list. */
	put("dovecot-uidlist", "3 V5 N2\n7 :a\n");
	assert_int_equal(maildir_uidlist_read(g_dir, &l, &err), 0);
	assert_int_equal(l.uidnext, 8);
	maildir_uidlist_free(&l);
	put("dovecot-uidlist", "3 V5 N2\nx :a\n");
	assert_int_equal(maildir_uidlist_read(g_dir, &l, &err), -1);
	put("dovecot-uidlist", "2 V5 N2\n");
	assert_int_equal(maildir_uidlist_read(g_dir, &l, &err), -1);
	drop("dovecot-uidlist");
	/* Courier (and Dovecot's version 1). */
	put("courierimapuiddb", "1 1234 3\n1 1700.abc\n2 1701.def:2,S\n");
	assert_int_equal(maildir_uidlist_read(g_dir, &l, &err), 0);
	assert_int_equal(l.uidvalidity, 1234);
	assert_int_equal(l.uidnext, 3);
	assert_int_equal(maildir_uidlist_find(&l, "1701.def:2,RS"), 2);
	maildir_uidlist_free(&l);
	drop("courierimapuiddb");
}

static void test_flags_and_keywords(void **state)
{
	(void)state;
	char *names[MAILDIR_KEYWORDS_MAX];
	put("dovecot-keywords", "0 $Forwarded\n1 Junk\n3 $Label1\nbad line\n30 toolarge\n");
	assert_int_equal(maildir_keywords_read(g_dir, names), 0);
	assert_string_equal(names[0], "$Forwarded");
	assert_null(names[2]);
	assert_string_equal(names[3], "$Label1");
	uint32_t flags;
	struct strbuf kw = STRBUF_INIT;
	maildir_name_flags("1.M1.h,S=5:2,DFRSTabcd", names, &flags, &kw);
	assert_int_equal(flags, MAIL_FLAG_DRAFT | MAIL_FLAG_FLAGGED | MAIL_FLAG_ANSWERED |
					MAIL_FLAG_SEEN | MAIL_FLAG_DELETED);
	assert_string_equal(strbuf_cstr(&kw), "$Forwarded Junk $Label1"); /* c is unset */
	strbuf_reset(&kw);
	maildir_name_flags("1.M1.h:2,P", names, &flags, &kw);
	assert_int_equal(flags, 0);
	assert_string_equal(strbuf_cstr(&kw), "$Forwarded");
	strbuf_reset(&kw);
	maildir_name_flags("1.M1.h", names, &flags, &kw); /* new/: no info */
	assert_int_equal(flags, 0);
	assert_int_equal(kw.len, 0);
	strbuf_free(&kw);
	maildir_keywords_free(names);
	drop("dovecot-keywords");
}

static void test_folder_names(void **state)
{
	(void)state;
	struct strbuf b = STRBUF_INIT;
	assert_int_equal(maildir_folder_name(".&AOQ-rger.Unter", &b), 0);
	assert_string_equal(b.s, "\xc3\xa4rger/Unter");
	assert_int_equal(maildir_folder_dirent("\xc3\xa4rger/Unter", &b), 0);
	assert_string_equal(b.s, ".&AOQ-rger.Unter");
	assert_int_equal(maildir_folder_name(".Caf&AOk- &JhU-", &b), 0);
	assert_string_equal(b.s, "Caf\xc3\xa9 \xe2\x98\x95");
	assert_int_equal(maildir_folder_name("cur", &b), -1);
	assert_int_equal(maildir_folder_name(".", &b), -1);
	assert_int_equal(maildir_folder_name("..", &b), -1);
	assert_int_equal(maildir_folder_name(".a..b", &b), -1);
	assert_int_equal(maildir_folder_name(".a.", &b), -1);
	assert_int_equal(maildir_folder_name(".&Jjo", &b), -1); /* bad modified UTF-7 */
	assert_int_equal(maildir_folder_dirent("v1.2/x", &b), -1); /* '.' in a level */
	strbuf_free(&b);
}

static void test_subscriptions(void **state)
{
	(void)state;
	char **names;
	size_t n;
	assert_int_equal(maildir_subscriptions_read(g_dir, &names, &n), 0);
	assert_int_equal(n, 0);
	put("subscriptions", "V\t2\n\n&AOQ-rger\tUnter\nINBOX\n");
	assert_int_equal(maildir_subscriptions_read(g_dir, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "\xc3\xa4rger/Unter");
	assert_string_equal(names[1], "INBOX");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	put("subscriptions", "Sent\nA.B\n"); /* version 1 */
	assert_int_equal(maildir_subscriptions_read(g_dir, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[1], "A/B");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	drop("subscriptions");
	put("courierimapsubscribed", "INBOX.Sent\nINBOX.A.B\n");
	assert_int_equal(maildir_subscriptions_read(g_dir, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "Sent");
	assert_string_equal(names[1], "A/B");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	drop("courierimapsubscribed");
}

int main(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/test_maildir.XXXXXX");
	if (!mkdtemp(g_dir))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uidlist),
		cmocka_unit_test(test_flags_and_keywords),
		cmocka_unit_test(test_folder_names),
		cmocka_unit_test(test_subscriptions),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(g_dir);
	return rc;
}
