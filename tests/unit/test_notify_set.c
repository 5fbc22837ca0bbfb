/* The NOTIFY setting (imap/notify_set.c, RFC 5465): what the grammar
 * accepts and refuses (BAD for syntax and RFC 5465 5's rules, BADEVENT for
 * events not supported), and which events a mailbox gets: the first
 * matching group, SUBTREE covering children but not siblings that share a
 * prefix, INBOXES as INBOX, SUBSCRIBED following the subscription. */
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
#include "imap/notify_set.h"
#include "imap/parser.h"

static char *copy_name(void *ctx, const struct imap_arg *a)
{
	(void)ctx;
	const char *s;
	size_t len;
	if (!imap_arg_get_astring(a, &s, &len) || strcmp(s, "bad") == 0)
		return NULL;
	return xstrdup(s);
}

/* Parses "t NOTIFY <text>" into *set; returns notify_set_parse's result. */
static enum notify_set_result parse(const char *text, struct notify_set *set)
{
	struct strbuf cmd = STRBUF_INIT;
	strbuf_addf(&cmd, "t NOTIFY %s\r\n", text);
	struct imap_parser *p = imap_parser_new(NULL);
	size_t used = 0;
	enum imap_parse_result pr = imap_parser_feed(p, cmd.s, cmd.len, &used);
	if (pr != IMAP_PARSE_DONE)
		fail_msg("command parser: %s on \"%s\"", imap_parser_error(p), cmd.s);
	size_t n;
	const struct imap_arg *args = imap_parser_args(p, &n);
	const char *err = NULL;
	enum notify_set_result r = notify_set_parse(args, n, copy_name, NULL, set, &err);
	if (r != NOTIFY_SET_OK)
		assert_non_null(err);
	imap_parser_free(p);
	strbuf_free(&cmd);
	return r;
}

static void expect(const char *text, enum notify_set_result want)
{
	struct notify_set set;
	enum notify_set_result r = parse(text, &set);
	if (r != want)
		fail_msg("NOTIFY %s: got %d, want %d", text, r, want);
	notify_set_free(&set);
}

#define NEWEXP (NOTIFY_EV_MESSAGE_NEW | NOTIFY_EV_MESSAGE_EXPUNGE)

static void test_accepted(void **state)
{
	(void)state;
	expect("NONE", NOTIFY_SET_OK);
	expect("set (selected (messagenew messageexpunge))", NOTIFY_SET_OK);
	expect("SET STATUS (INBOXES (MessageNew MessageExpunge FlagChange)) (PERSONAL NONE)",
	       NOTIFY_SET_OK);
	expect("SET (SUBTREE (a b) (MailboxName)) (MAILBOXES c (SubscriptionChange))", NOTIFY_SET_OK);
	expect("SET (SELECTED-DELAYED (MessageNew (UID FLAGS ENVELOPE MODSEQ) MessageExpunge))",
	       NOTIFY_SET_OK);
}

static void test_refused(void **state)
{
	(void)state;
	expect("", NOTIFY_SET_BAD);
	expect("NONE NONE", NOTIFY_SET_BAD);
	expect("SET", NOTIFY_SET_BAD);
	expect("SET STATUS", NOTIFY_SET_BAD);
	expect("SET ()", NOTIFY_SET_BAD);
	expect("SET (PERSONAL)", NOTIFY_SET_BAD);
	expect("SET (PERSONAL ())", NOTIFY_SET_BAD);
	expect("SET (ELSEWHERE (MailboxName))", NOTIFY_SET_BAD);
	expect("SET (SUBTREE (MailboxName))", NOTIFY_SET_BAD);
	expect("SET (MAILBOXES () (MailboxName))", NOTIFY_SET_BAD);
	expect("SET (PERSONAL extra (MailboxName))", NOTIFY_SET_BAD);
	/* RFC 5465 5.1-5.3 and 6. */
	expect("SET (PERSONAL (MessageNew))", NOTIFY_SET_BAD);
	expect("SET (PERSONAL (MessageExpunge))", NOTIFY_SET_BAD);
	expect("SET (PERSONAL (FlagChange))", NOTIFY_SET_BAD);
	expect("SET (SELECTED (MailboxName))", NOTIFY_SET_BAD);
	expect("SET (SELECTED NONE) (SELECTED-DELAYED NONE)", NOTIFY_SET_BAD);
	expect("SET (SELECTED (MessageNew (BODY[]) MessageExpunge))", NOTIFY_SET_BAD);
	expect("SET (SELECTED (MessageNew (NOSUCH) MessageExpunge))", NOTIFY_SET_BAD);
	expect("SET (MAILBOXES bad (MailboxName))", NOTIFY_SET_BADNAME);
	/* Unsupported events: BADEVENT, but syntax errors still win. */
	expect("SET (PERSONAL (AnnotationChange))", NOTIFY_SET_BADEVENT);
	expect("SET (PERSONAL (MailboxMetadataChange MailboxName))", NOTIFY_SET_BADEVENT);
	expect("SET (PERSONAL (XFuture)) (INBOXES (MessageNew))", NOTIFY_SET_BAD);
}

static void test_matching(void **state)
{
	(void)state;
	struct notify_set set;
	assert_int_equal(parse("SET (INBOXES (MessageNew MessageExpunge)) "
			       "(SUBTREE Work (MailboxName)) "
			       "(SUBSCRIBED (SubscriptionChange)) "
			       "(MAILBOXES (INBOX Lists) (FlagChange MessageNew MessageExpunge)) "
			       "(SELECTED (MessageNew (UID) MessageExpunge))", &set),
			 NOTIFY_SET_OK);
	assert_int_equal(set.nnames, 3);
	/* First match wins: INBOX is INBOXES', not MAILBOXES'. */
	assert_int_equal(notify_set_events(&set, "INBOX", false), NEWEXP);
	assert_int_equal(notify_set_events(&set, "Work", false), NOTIFY_EV_MAILBOX_NAME);
	assert_int_equal(notify_set_events(&set, "Work/2024", true), NOTIFY_EV_MAILBOX_NAME);
	/* "Workshop" is not under "Work". */
	assert_int_equal(notify_set_events(&set, "Workshop", false), 0);
	assert_int_equal(notify_set_events(&set, "Workshop", true), NOTIFY_EV_SUBSCRIPTION_CHANGE);
	assert_int_equal(notify_set_events(&set, "Lists", false), NEWEXP | NOTIFY_EV_FLAG_CHANGE);
	assert_int_equal(notify_set_events(&set, "Lists/x", false), 0);
	const struct notify_group *g = notify_set_selected(&set);
	assert_non_null(g);
	assert_int_equal(g->filter, NOTIFY_F_SELECTED);
	assert_int_equal(g->fetch.n, 1);
	assert_true(notify_set_wants(&set, NOTIFY_EV_MESSAGE));
	assert_false(notify_set_wants(&set, ~0u & ~(NOTIFY_EV_MESSAGE | NOTIFY_EV_MAILBOX_NAME |
						     NOTIFY_EV_SUBSCRIPTION_CHANGE)));
	notify_set_free(&set);

	/* fetch-att on a group other than SELECTED is dropped. */
	assert_int_equal(parse("SET (PERSONAL (MessageNew (UID) MessageExpunge))", &set),
			 NOTIFY_SET_OK);
	assert_int_equal(set.groups[0].fetch.n, 0);
	assert_null(notify_set_selected(&set));
	assert_int_equal(notify_set_events(&set, "Anything/at/all", false), NEWEXP);
	notify_set_free(&set);

	assert_int_equal(parse("NONE", &set), NOTIFY_SET_OK);
	assert_true(set.none);
	assert_int_equal(notify_set_events(&set, "INBOX", true), 0);
	notify_set_free(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_matching),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
