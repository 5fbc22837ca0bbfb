/* The command table (imap/commands.c) and the capability registry
 * (imap/capability.c): the RFC facts they hold, what is offered in which
 * state and on which connection, and ENABLE. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/strbuf.h"
#include "imap/capability.h"
#include "imap/command.h"
#include "imap/session_internal.h"

static void test_table(void **state)
{
	(void)state;
	const struct imap_cmd_def *d = imap_cmd_find("fetch");
	assert_non_null(d);
	assert_string_equal(d->name, "FETCH");
	assert_true(d->flags & CMD_UID);
	assert_true(d->flags & CMD_USES_SEQS);
	assert_true(d->flags & CMD_NO_EXPUNGE_RESP);
	assert_int_equal(d->states, CMD_S_SELECTED);
	assert_true(imap_cmd_find("EXPUNGE")->flags & CMD_MAY_EXPUNGE);
	assert_true(imap_cmd_find("MOVE")->flags & CMD_MAY_EXPUNGE);
	assert_false(imap_cmd_find("SELECT")->flags & CMD_UID);
	assert_int_equal(imap_cmd_find("LOGIN")->states, CMD_S_NOTAUTH);
	assert_null(imap_cmd_find("XYZZY"));
	assert_null(imap_cmd_find("UID"));

	/* RFC 9051 7.5.1: no EXPUNGE while answering FETCH; UID FETCH may. */
	struct imap_cmd *c = imap_cmd_new(NULL, imap_cmd_find("FETCH"), "a1", false);
	assert_false(imap_cmd_allows_expunge(c));
	c->uid = true;
	assert_true(imap_cmd_allows_expunge(c));
	assert_string_equal(c->tag, "a1");
	memset(imap_cmd_alloc(c, 100), 1, 100);
	imap_cmd_free(c);
	c = imap_cmd_new(NULL, imap_cmd_find("NOOP"), NULL, false);
	assert_null(c->tag);
	assert_true(imap_cmd_allows_expunge(c));
	imap_cmd_free(c);
}

static struct config cfg;

static char *caps(struct imap_session *s)
{
	struct strbuf b = STRBUF_INIT;
	imap_cap_write(s, &b);
	return strbuf_detach(&b, NULL);
}

static const char *const COMMON =
	"ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN LIST-EXTENDED "
	"LIST-STATUS SPECIAL-USE ESEARCH SEARCHRES BINARY MULTIAPPEND STATUS=SIZE "
	"APPENDLIMIT=1048576 CONDSTORE QRESYNC"
	" SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES ESORT WITHIN CREATE-SPECIAL-USE";
/* ext (issue #12): offered after login only */
static const char *const AFTER_LOGIN = " COMPRESS=DEFLATE UTF8=ACCEPT";
/* savedate, objectid, context ... (issue #12): every state, last rows
 * offered in all states */
static const char *const TAIL =
	" SAVEDATE OBJECTID CONTEXT=SEARCH CONTEXT=SORT PARTIAL PREVIEW REPLACE UIDONLY"
	" MULTISEARCH INPROGRESS";
/* The last rows of the table, offered after login only (notify, metadata ...) */
static const char *const LOGGED_TAIL = " NOTIFY METADATA METADATA-SERVER ACL RIGHTS=texk LIST-MYRIGHTS";

static void expect(struct imap_session *s, const char *head)
{
	char want[1024];
	snprintf(want, sizeof(want), "%s %s%s%s%s", head, COMMON,
		 s->state == ST_NOTAUTH ? "" : AFTER_LOGIN, TAIL,
		 s->state == ST_NOTAUTH ? "" : LOGGED_TAIL);
	char *got = caps(s);
	assert_string_equal(got, want);
	free(got);
}

static void test_capabilities(void **state)
{
	(void)state;
	cfg.max_message_size = 1048576;
	struct imap_session s;
	memset(&s, 0, sizeof(s));
	s.cfg = &cfg;
	s.state = ST_NOTAUTH;
	/* Port 143 before STARTTLS: no password may be sent. */
	s.info.starttls_offered = true;
	expect(&s, "IMAP4rev1 IMAP4rev2 STARTTLS LOGINDISABLED SASL-IR LITERAL-");
	assert_false(imap_cap_offered(&s, "AUTH=PLAIN"));
	/* After STARTTLS, or on 993. */
	s.info.tls = true;
	expect(&s, "IMAP4rev1 IMAP4rev2 AUTH=SCRAM-SHA-256 AUTH=PLAIN AUTH=LOGIN SASL-IR LITERAL-");
	assert_true(imap_cap_offered(&s, "auth=plain"));
	assert_false(imap_cap_offered(&s, "AUTH=CRAM-MD5"));
	/* A trusted network in clear. */
	s.info.tls = false;
	s.info.trusted = true;
	s.info.starttls_offered = false;
	expect(&s, "IMAP4rev1 IMAP4rev2 AUTH=SCRAM-SHA-256 AUTH=PLAIN AUTH=LOGIN SASL-IR LITERAL-");
	s.state = ST_AUTH;
	/* RFC 7888: small non-synchronizing literals before login only;
	 * RFC 9208 QUOTA after login only (quota part). */
	char want[1024];
	snprintf(want, sizeof(want), "IMAP4rev1 IMAP4rev2 LITERAL+ %s %s%s%s%s", COMMON,
		 "QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE QUOTA=RES-MAILBOX", AFTER_LOGIN, TAIL,
		 LOGGED_TAIL);
	char *got = caps(&s);
	assert_string_equal(got, want);
	free(got);
	/* RFC 9208 4.1.3: QUOTASET only to the users who may SETQUOTA. */
	assert_false(imap_cap_offered(&s, "QUOTASET"));
	s.user = "boss";
	cfg.quota_admins = "chief, boss";
	assert_true(imap_cap_offered(&s, "QUOTASET"));
	got = caps(&s);
	assert_non_null(strstr(got, "QUOTA=RES-MAILBOX QUOTASET "));
	free(got);
	s.user = "alice";
	assert_false(imap_cap_offered(&s, "QUOTASET"));
	cfg.quota_admins = NULL;
	s.user = NULL;
	assert_false(imap_cap_offered(&s, "AUTH=PLAIN"));
}

static void test_enable(void **state)
{
	(void)state;
	struct imap_session s;
	memset(&s, 0, sizeof(s));
	s.cfg = &cfg;
	s.state = ST_AUTH;
	assert_false(imap_cap_enabled(&s, "IMAP4rev2"));
	assert_string_equal(imap_cap_enable(&s, "imap4REV2"), "IMAP4rev2");
	assert_true(s.rev2);
	assert_true(s.utf8);
	assert_true(imap_cap_enabled(&s, "IMAP4rev2"));
	/* RFC 9051 6.3.1: listed only the first time. */
	assert_null(imap_cap_enable(&s, "IMAP4rev2"));
	/* Unknown or not ENABLE-able: ignored (RFC 5161 3.1). */
	assert_null(imap_cap_enable(&s, "X-UNKNOWN"));
	assert_null(imap_cap_enable(&s, "IDLE"));
	assert_false(imap_cap_enabled(&s, "IDLE"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_enable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
