/* Session-level transcript tests: real IMAP sessions over an in-memory
 * connection (session_harness.h), each case feeding client bytes and
 * checking the server's bytes exactly. They pin the behaviour at the seam
 * between the network layer and the IMAP layer: the greeting and
 * capabilities with and without TLS, LOGOUT ordering, pipelining, IDLE,
 * SEARCHRES, when EXPUNGE may be sent (RFC 9051 7.5.1), errors, literals
 * and back-pressure. Everything behind the session is real (store, users
 * file, work pool, configuration). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "session_harness.h"

static struct sh_env *g_env;

/* The limits under test: literals above 4096 bytes are refused. */
#define LIMITS "max_literal = 4096\nmax_message_size = 4096"

static int group_setup(void **state)
{
	(void)state;
	g_env = sh_env_new(LIMITS);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	sh_env_free(g_env);
	return 0;
}

/* Removes the test user's mail between cases, so each starts with the
 * default mailboxes and an empty INBOX. */
static int case_setup(void **state)
{
	(void)state;
	store_user_remove(SH_USER);
	return 0;
}

/* ---- capabilities ---- */

#define CAPS_COMMON                                                                        \
	" ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN LIST-EXTENDED" \
	" LIST-STATUS SPECIAL-USE ESEARCH SEARCHRES BINARY MULTIAPPEND STATUS=SIZE"       \
	" APPENDLIMIT=4096 CONDSTORE QRESYNC"                                                            \
	" SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES ESORT WITHIN CREATE-SPECIAL-USE" \
	" OBJECTID"
/* RFC 7888: LITERAL- before login (small pre-login literals), LITERAL+ after. */
/* savedate (issue #12): RFC 8514, every state, last row of the table */
#define CAPS_TAIL \
	" SAVEDATE CONTEXT=SEARCH CONTEXT=SORT PARTIAL PREVIEW REPLACE UIDONLY MULTISEARCH INPROGRESS"
#define CAPS_PLAIN "IMAP4rev1 IMAP4rev2 STARTTLS LOGINDISABLED SASL-IR LITERAL-" CAPS_COMMON CAPS_TAIL
#define CAPS_TLS "IMAP4rev1 IMAP4rev2 AUTH=SCRAM-SHA-256 AUTH=PLAIN AUTH=LOGIN SASL-IR LITERAL-" CAPS_COMMON CAPS_TAIL
#define CAPS_AUTH "IMAP4rev1 IMAP4rev2 LITERAL+" CAPS_COMMON CAPS_QUOTA " COMPRESS=DEFLATE UTF8=ACCEPT" CAPS_TAIL \
	CAPS_LOGGED
#define CAPS_LOGGED " NOTIFY METADATA METADATA-SERVER ACL RIGHTS=texk LIST-MYRIGHTS" /* after login only, last rows */
/* RFC 9208, after login only (quota part). */
#define CAPS_QUOTA " QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE QUOTA=RES-MAILBOX"

/* Capability lists compare as sets of tokens: the order carries no meaning
 * (RFC 9051 7.2.2), every token does. */
static int token_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *caps_sorted(const char *caps)
{
	char *copy = xstrdup(caps);
	char *tok[128];
	size_t n = 0;
	for (char *save, *t = strtok_r(copy, " ", &save); t && n < 128; t = strtok_r(NULL, " ", &save))
		tok[n++] = t;
	qsort(tok, n, sizeof(tok[0]), token_cmp);
	struct strbuf b = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (i)
			strbuf_addc(&b, ' ');
		strbuf_adds(&b, tok[i]);
	}
	free(copy);
	return strbuf_detach(&b, NULL);
}

/* Checks that `line` is prefix + a capability list + suffix, and that the
 * list holds exactly the tokens of `expected`. */
static void assert_caps_line(const char *line, const char *prefix, const char *suffix,
			     const char *expected)
{
	size_t pl = strlen(prefix), sl = strlen(suffix), ll = strlen(line);
	if (ll < pl + sl || strncmp(line, prefix, pl) || strcmp(line + ll - sl, suffix))
		fail_msg("expected \"%s...%s\", got \"%s\"", prefix, suffix, line);
	char *list = xstrndup(line + pl, ll - pl - sl);
	char *got = caps_sorted(list), *want = caps_sorted(expected);
	if (strcmp(got, want) != 0)
		fail_msg("capabilities\n want: %s\n got:  %s", want, got);
	free(got);
	free(want);
	free(list);
}

static void test_greeting_plain_port(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, false, false);
	char *greeting = sh_take(c);
	assert_caps_line(greeting, "* OK [CAPABILITY ", "] Rampart ready.\r\n", CAPS_PLAIN);
	free(greeting);
	assert_int_equal(c->timeout, 60); /* preauth_timeout */
	char *got = sh_cmd(c, "c1", "CAPABILITY");
	assert_caps_line(got, "* CAPABILITY ", "\r\nc1 OK CAPABILITY completed\r\n", CAPS_PLAIN);
	free(got);
	/* RFC 9051 6.2.3: LOGINDISABLED, and LOGIN is refused. */
	sh_expect_tagged(c, "c2", "LOGIN " SH_USER " \"" SH_PASSWORD "\"", "NO [PRIVACYREQUIRED]");
	assert_null(c->user);
	sh_expect_tagged(c, "c3", "AUTHENTICATE PLAIN", "NO [PRIVACYREQUIRED]");
	assert_false(c->closed);
	sh_close(c);
}

static void test_greeting_tls_and_login(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, true, false);
	char *greeting = sh_take(c);
	assert_caps_line(greeting, "* OK [CAPABILITY ", "] Rampart ready.\r\n", CAPS_TLS);
	free(greeting);
	char *got = sh_cmd(c, "c1", "CAPABILITY");
	assert_caps_line(got, "* CAPABILITY ", "\r\nc1 OK CAPABILITY completed\r\n", CAPS_TLS);
	free(got);
	/* The tagged OK of LOGIN carries the new list (RFC 9051 6.2.3). */
	got = sh_cmd(c, "c2", "LOGIN " SH_USER " \"" SH_PASSWORD "\"");
	assert_caps_line(got, "c2 OK [CAPABILITY ", "] Logged in\r\n", CAPS_AUTH);
	free(got);
	assert_non_null(c->user);
	assert_string_equal(c->user, SH_USER);
	assert_int_equal(c->timeout, 1800); /* idle_timeout */
	got = sh_cmd(c, "c3", "CAPABILITY");
	assert_caps_line(got, "* CAPABILITY ", "\r\nc3 OK CAPABILITY completed\r\n", CAPS_AUTH);
	free(got);
	sh_close(c);
}

/* A trusted network may log in without TLS; STARTTLS is still offered. */
static void test_trusted_plain_port(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, false, true);
	char *greeting = sh_take(c);
	assert_caps_line(greeting, "* OK [CAPABILITY ", "] Rampart ready.\r\n",
			 "IMAP4rev1 IMAP4rev2 STARTTLS AUTH=SCRAM-SHA-256 AUTH=PLAIN AUTH=LOGIN SASL-IR LITERAL-" CAPS_COMMON CAPS_TAIL);
	free(greeting);
	sh_login(c);
	sh_close(c);
}

static void test_wrong_password(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, true, false);
	sh_skip(c);
	sh_expect(c, "w1", "LOGIN " SH_USER " wrong",
		  "w1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	assert_null(c->user);
	sh_close(c);
}

/* RFC 9051 6.2.1: nothing pipelined behind STARTTLS is read; after the
 * handshake the capabilities are those of a TLS connection. */
static void test_starttls(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, false, false);
	sh_skip(c);
	sh_send(c, "t1 STARTTLS\r\nt2 LOGIN " SH_USER " \"" SH_PASSWORD "\"\r\n");
	sh_wait_line(c, "t1 ");
	sh_settle(c);
	char *got = sh_take(c);
	assert_string_equal(got, "t1 OK Begin TLS negotiation now\r\n");
	free(got);
	assert_true(c->starttls);
	sh_tls_handshake(c);
	sh_settle(c);
	got = sh_take(c);
	assert_string_equal(got, ""); /* t2 was discarded, not answered */
	free(got);
	got = sh_cmd(c, "t3", "CAPABILITY");
	assert_caps_line(got, "* CAPABILITY ", "\r\nt3 OK CAPABILITY completed\r\n", CAPS_TLS);
	free(got);
	sh_expect_tagged(c, "t4", "STARTTLS", "BAD");
	sh_login(c);
	sh_close(c);
}

/* SASL PLAIN (RFC 4616) with an empty continuation, and with SASL-IR
 * (RFC 4959); "*" cancels (RFC 9051 6.2.2). */
static void test_authenticate_plain(void **state)
{
	(void)state;
	/* base64("\0alice\0correct horse") */
	const char *b64 = "AGFsaWNlAGNvcnJlY3QgaG9yc2U=";
	struct sh_conn *c = sh_open(g_env, true, false);
	sh_skip(c);
	sh_send(c, "a1 AUTHENTICATE PLAIN\r\n");
	sh_wait_line(c, "+");
	sh_settle(c);
	char *got = sh_take(c);
	assert_string_equal(got, "+ \r\n");
	free(got);
	sh_send(c, "*\r\n");
	sh_wait_line(c, "a1 ");
	got = sh_take(c);
	assert_string_equal(got, "a1 BAD Authentication cancelled\r\n");
	free(got);

	sh_send(c, "a2 AUTHENTICATE PLAIN\r\n");
	sh_wait_line(c, "+");
	sh_skip(c);
	char *line = xasprintf("%s\r\n", b64);
	sh_send(c, line);
	free(line);
	sh_wait_line(c, "a2 ");
	got = sh_take(c);
	assert_caps_line(got, "a2 OK [CAPABILITY ", "] Logged in\r\n", CAPS_AUTH);
	free(got);
	sh_close(c);

	c = sh_open(g_env, true, false);
	sh_skip(c);
	char *cmd = xasprintf("AUTHENTICATE PLAIN %s", b64);
	got = sh_cmd(c, "a3", cmd);
	assert_caps_line(got, "a3 OK [CAPABILITY ", "] Logged in\r\n", CAPS_AUTH);
	free(got);
	free(cmd);
	sh_close(c);
}

/* ---- LOGOUT ---- */

/* RFC 9051 6.1.3: the untagged BYE comes first, then the tagged OK, then
 * the server closes; nothing pipelined behind LOGOUT is answered. */
static void test_logout_order(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, true, false);
	sh_login(c);
	sh_send(c, "x1 LOGOUT\r\nx2 NOOP\r\n");
	sh_wait_line(c, "x1 ");
	sh_settle(c);
	char *got = sh_take(c);
	assert_string_equal(got, "* BYE Logging out\r\nx1 OK LOGOUT completed\r\n");
	free(got);
	assert_true(c->closed);
	assert_int_equal(c->closed_at, c->out.len);
	assert_int_equal(c->writes_after_close, 0);
	sh_close(c);
}

static void test_logout_not_authenticated(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, false, false);
	sh_skip(c);
	sh_expect(c, "x1", "LOGOUT", "* BYE Logging out\r\nx1 OK LOGOUT completed\r\n");
	assert_true(c->closed);
	assert_int_equal(c->closed_at, c->out.len);
	sh_close(c);
}

/* ---- pipelining ---- */

/* RFC 9051 5.5: commands sent together are answered in order, each with
 * its untagged data before its tagged completion. */
static void test_pipelined_in_order(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, true, false);
	sh_login(c);
	sh_append(c, "INBOX", "", "one");
	sh_append(c, "INBOX", "(\\Seen) ", "two");
	sh_skip(c);
	sh_send(c, "p1 NOOP\r\n"
		   "p2 EXAMINE INBOX\r\n"
		   "p3 FETCH 1:* (UID FLAGS)\r\n"
		   "p4 SEARCH SEEN\r\n"
		   "p5 STATUS Drafts (MESSAGES)\r\n"
		   "p6 NOOP\r\n");
	sh_wait_line(c, "p6 ");
	sh_settle(c);
	char *got = sh_take(c);
	const char *order[] = { "p1 OK", "* 2 EXISTS", "p2 OK", "* 1 FETCH (UID 1 FLAGS (\\Recent))",
				"* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent))", "p3 OK", "* SEARCH 2", "p4 OK",
				"* STATUS \"Drafts\" (MESSAGES 0)", "p5 OK", "p6 OK" };
	const char *at = got;
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		const char *hit = strstr(at, order[i]);
		if (!hit)
			fail_msg("\"%s\" missing or out of order in:\n%s", order[i], got);
		at = hit + strlen(order[i]);
	}
	free(got);
	sh_close(c);
}

/* Commands pipelined behind LOGIN wait for its (asynchronous) answer and
 * then run in the authenticated state. */
static void test_pipelined_behind_login(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, true, false);
	sh_skip(c);
	sh_send(c, "q1 LOGIN " SH_USER " \"" SH_PASSWORD "\"\r\n"
		   "q2 STATUS INBOX (MESSAGES)\r\n"
		   "q3 LOGOUT\r\n");
	sh_wait_line(c, "q3 ");
	sh_settle(c);
	char *got = sh_take(c);
	const char *q2 = strstr(got, "\r\n* STATUS \"INBOX\" (MESSAGES 0)\r\nq2 OK STATUS completed\r\n");
	if (strncmp(got, "q1 OK [CAPABILITY ", 18) != 0 || !q2 ||
	    strcmp(q2, "\r\n* STATUS \"INBOX\" (MESSAGES 0)\r\nq2 OK STATUS completed\r\n"
		       "* BYE Logging out\r\nq3 OK LOGOUT completed\r\n") != 0)
		fail_msg("unexpected transcript:\n%s", got);
	free(got);
	sh_close(c);
}

/* ---- errors ---- */

static void test_bad_commands(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, true, false);
	sh_skip(c);
	sh_expect_tagged(c, "b1", "FROBNICATE", "BAD");
	sh_expect_tagged(c, "b2", "SELECT INBOX", "BAD");          /* not authenticated */
	sh_expect_tagged(c, "b3", "UID NOOP", "BAD");              /* no UID form */
	sh_expect_tagged(c, "b4", "NOOP extra", "BAD");
	sh_login(c);
	sh_expect_tagged(c, "b5", "LOGIN a b", "BAD");             /* already authenticated */
	sh_expect_tagged(c, "b6", "FETCH 1 FLAGS", "BAD");         /* no mailbox selected */
	sh_expect_tagged(c, "b7", "STORE 1 +FLAGS (\\Seen)", "BAD");
	sh_expect_tagged(c, "b8", "SELECT", "BAD");                /* missing argument */
	char *got = sh_cmd(c, "b9", "SELECT INBOX");
	assert_non_null(strstr(got, "\r\nb9 OK [READ-WRITE] "));
	free(got);
	sh_expect_tagged(c, "b10", "FETCH 1 (FLAGS X-NOPE)", "BAD");
	sh_expect_tagged(c, "b11", "FETCH 0 FLAGS", "BAD");
	sh_expect_tagged(c, "b12", "SEARCH FROBNICATE", "BAD");
	/* A line that does not parse gets BAD with its tag. */
	sh_expect_tagged(c, "b13", "LIST \"unterminated", "BAD");
	sh_expect(c, "b14", "NOOP", "b14 OK NOOP completed\r\n");
	sh_close(c);
}

/* A client that keeps sending bad commands is not speaking IMAP: after
 * ten in a row the server says BYE and closes. */
static void test_too_many_bad_commands(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, false, false);
	sh_skip(c);
	for (int i = 0; i < 10; i++) {
		char tag[8];
		snprintf(tag, sizeof(tag), "z%d", i);
		sh_expect_tagged(c, tag, "FROBNICATE", "BAD");
	}
	assert_false(c->closed);
	sh_send(c, "z10 NOOP\r\n");
	sh_wait_line(c, "* BYE");
	sh_settle(c);
	char *got = sh_take(c);
	assert_string_equal(got, "* BYE Too many invalid commands\r\n");
	free(got);
	assert_true(c->closed);
	assert_int_equal(c->closed_at, c->out.len);
	sh_close(c);
}

/* The inactivity timeout and a server shutdown end with an untagged BYE,
 * then close; RFC 9051 7.1.5. */
static void test_timeout_and_shutdown_bye(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, true, false);
	sh_login(c);
	imap_session_timeout(c->s);
	sh_settle(c);
	char *got = sh_take(c);
	assert_string_equal(got, "* BYE Autologout; idle for too long\r\n");
	free(got);
	assert_true(c->closed);
	sh_close(c);

	c = sh_open(g_env, true, false);
	sh_skip(c);
	imap_session_shutdown(c->s);
	sh_settle(c);
	got = sh_take(c);
	assert_string_equal(got, "* BYE [UNAVAILABLE] shutting down\r\n");
	free(got);
	assert_true(c->closed);
	assert_int_equal(c->closed_at, c->out.len);
	sh_close(c);
}

/* ---- literals ---- */

/* RFC 9051 4.3: a synchronizing literal waits for a "+" continuation. */
static void test_literal_continuation(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, true, false);
	sh_skip(c);
	sh_send(c, "l1 LOGIN {5}\r\n");
	sh_settle(c);
	char *got = sh_take(c);
	assert_string_equal(got, "+ Ready for literal data\r\n");
	free(got);
	char *pw = xasprintf("alice {%zu}\r\n", strlen(SH_PASSWORD));
	sh_send(c, pw);
	free(pw);
	sh_settle(c);
	got = sh_take(c);
	assert_string_equal(got, "+ Ready for literal data\r\n");
	free(got);
	sh_send(c, SH_PASSWORD "\r\n");
	sh_wait_line(c, "l1 ");
	got = sh_take(c);
	assert_true(strncmp(got, "l1 OK [CAPABILITY ", 18) == 0);
	free(got);
	/* LITERAL+ (RFC 7888): no continuation. */
	sh_expect(c, "l2", "STATUS {5+}\r\nINBOX (MESSAGES)",
		  "* STATUS \"INBOX\" (MESSAGES 0)\r\nl2 OK STATUS completed\r\n");
	sh_close(c);
}

/* A synchronizing literal over max_literal is refused before the client
 * sends it (no "+"), with [TOOBIG]; the session goes on. An oversized
 * non-synchronizing literal cannot be skipped safely: BYE and close. */
static void test_oversized_literal(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, true, false);
	sh_login(c);
	sh_send(c, "o1 APPEND INBOX {4097}\r\n");
	sh_wait_line(c, "o1 ");
	sh_settle(c);
	char *got = sh_take(c);
	assert_true(strncmp(got, "o1 BAD [TOOBIG] ", 16) == 0);
	assert_true(strchr(got, '\n') == got + strlen(got) - 1); /* one line */
	free(got);
	sh_expect(c, "o2", "NOOP", "o2 OK NOOP completed\r\n");
	assert_false(c->closed);
	/* The limit itself is fine. */
	sh_send(c, "o3 APPEND INBOX {4096}\r\n");
	sh_settle(c);
	got = sh_take(c);
	assert_string_equal(got, "+ Ready for literal data\r\n");
	free(got);
	char body[4097];
	memset(body, 'x', sizeof(body) - 1);
	memcpy(body, "Subject: big\r\n\r\n", 16);
	body[4096] = '\0';
	sh_send(c, body);
	sh_send(c, "\r\n");
	sh_wait_line(c, "o3 ");
	got = sh_take(c);
	assert_non_null(strstr(got, "o3 OK [APPENDUID "));
	free(got);
	sh_send(c, "o4 APPEND INBOX {4097+}\r\n");
	sh_settle(c);
	got = sh_take(c);
	assert_true(strncmp(got, "* BYE ", 6) == 0);
	assert_true(c->closed);
	assert_int_equal(c->closed_at, c->out.len);
	free(got);
	sh_close(c);
}

/* ---- selected state with a second client ---- */

/* Two logged-in connections: `a` selected INBOX holding `n` messages
 * appended by `b` (subjects m1..mn, UIDs 1..n). */
static void two_clients(struct sh_conn **a, struct sh_conn **b, unsigned n)
{
	*b = sh_open(g_env, true, false);
	sh_login(*b);
	for (unsigned i = 1; i <= n; i++) {
		char subj[16];
		snprintf(subj, sizeof(subj), "m%u", i);
		sh_append(*b, "INBOX", "", subj);
	}
	/* b selects first and so takes \Recent (RFC 3501 2.3.2): a's
	 * transcripts stay free of it. */
	char *got = sh_cmd(*b, "s1", "SELECT INBOX");
	assert_non_null(strstr(got, "s1 OK [READ-WRITE]"));
	free(got);
	*a = sh_open(g_env, true, false);
	sh_login(*a);
	got = sh_cmd(*a, "s0", "SELECT INBOX");
	char exists[32];
	snprintf(exists, sizeof(exists), "* %u EXISTS\r\n", n);
	assert_non_null(strstr(got, exists));
	assert_non_null(strstr(got, "* 0 RECENT\r\n"));
	assert_non_null(strstr(got, "s0 OK [READ-WRITE]"));
	free(got);
}

/* `b` expunges message `seq` (UID seq) and the change is announced to `a`
 * as the watcher would. */
static void other_expunges(struct sh_conn *a, struct sh_conn *b, unsigned seq)
{
	char cmd[64], want[128];
	snprintf(cmd, sizeof(cmd), "STORE %u +FLAGS.SILENT (\\Deleted)", seq);
	sh_expect(b, "e1", cmd, "e1 OK STORE completed\r\n");
	snprintf(want, sizeof(want), "* %u EXPUNGE\r\ne2 OK EXPUNGE completed\r\n", seq);
	sh_expect(b, "e2", "EXPUNGE", want);
	imap_session_notify(a->s);
	sh_settle(a);
}

/* RFC 9051 7.5.1: no EXPUNGE while answering FETCH, STORE or SEARCH (the
 * client's sequence numbers would shift under it); NOOP reports it. */
static void test_no_expunge_during_fetch_store_search(void **state)
{
	(void)state;
	struct sh_conn *a, *b;
	two_clients(&a, &b, 3);
	other_expunges(a, b, 2);
	char *got = sh_take(a);
	assert_string_equal(got, ""); /* nothing unsolicited outside a command */
	free(got);

	got = sh_cmd(a, "f1", "FETCH 1:3 (UID)");
	assert_null(strstr(got, " EXPUNGE\r\n"));
	assert_non_null(strstr(got, "f1 OK [EXPUNGEISSUED] ")); /* RFC 5530 3 */
	assert_non_null(strstr(got, "* 1 FETCH (UID 1)\r\n"));
	assert_non_null(strstr(got, "* 3 FETCH (UID 3)\r\n"));
	assert_true(strstr(got, "f1 OK") || strstr(got, "f1 NO"));
	free(got);

	got = sh_cmd(a, "f2", "STORE 3 +FLAGS (\\Flagged)");
	assert_string_equal(got, "* 3 FETCH (FLAGS (\\Flagged))\r\nf2 OK STORE completed\r\n");
	free(got);

	got = sh_cmd(a, "f3", "SEARCH FLAGGED");
	assert_string_equal(got, "* SEARCH 3\r\nf3 OK SEARCH completed\r\n");
	free(got);

	/* Sequence numbers are still those of the client's view. */
	got = sh_cmd(a, "f4", "FETCH 3 (UID FLAGS)");
	assert_string_equal(got, "* 3 FETCH (UID 3 FLAGS (\\Flagged))\r\nf4 OK FETCH completed\r\n");
	free(got);

	sh_expect(a, "f5", "NOOP", "* 2 EXPUNGE\r\nf5 OK NOOP completed\r\n");
	sh_expect(a, "f6", "FETCH 2 (UID)", "* 2 FETCH (UID 3)\r\nf6 OK FETCH completed\r\n");
	sh_close(a);
	sh_close(b);
}

/* UID FETCH may report expunges (RFC 9051 7.5.1 covers only the
 * sequence-number forms); what it must not do is lose the tagged reply. */
static void test_expunge_reported_by_noop_after_uid_fetch(void **state)
{
	(void)state;
	struct sh_conn *a, *b;
	two_clients(&a, &b, 2);
	other_expunges(a, b, 1);
	char *got = sh_cmd(a, "u1", "UID FETCH 1:* (FLAGS)");
	char *got2 = sh_cmd(a, "u2", "NOOP");
	char *both = xasprintf("%s%s", got, got2);
	assert_non_null(strstr(got, " FETCH (UID 2 FLAGS ())\r\n"));
	assert_non_null(strstr(got, "u1 OK"));
	assert_non_null(strstr(got2, "u2 OK NOOP completed\r\n"));
	/* Exactly one EXPUNGE, for message 1, over both answers. */
	const char *hit = strstr(both, " EXPUNGE\r\n");
	assert_non_null(hit);
	assert_null(strstr(hit + 1, " EXPUNGE\r\n"));
	assert_non_null(strstr(both, "* 1 EXPUNGE\r\n"));
	free(both);
	free(got);
	free(got2);
	sh_close(a);
	sh_close(b);
}

/* ---- IDLE ---- */

static void test_idle_done(void **state)
{
	(void)state;
	struct sh_conn *a, *b;
	two_clients(&a, &b, 1);
	sh_send(a, "i1 IDLE\r\n");
	sh_wait_line(a, "+ ");
	sh_settle(a);
	char *got = sh_take(a);
	assert_string_equal(got, "+ idling\r\n");
	free(got);

	/* A new message arrives through the other connection. */
	sh_append(b, "INBOX", "", "m2");
	imap_session_notify(a->s);
	sh_wait_line(a, "* 2 EXISTS");
	sh_settle(a);
	got = sh_take(a);
	/* b, selected, saw it first when its APPEND completed: \Recent is
	 * b's alone (RFC 3501 2.3.2; issue #12 saw it in both). */
	assert_string_equal(got, "* 2 EXISTS\r\n* 0 RECENT\r\n");
	free(got);

	/* Expunges are reported while idling. */
	sh_expect(b, "e1", "STORE 1 +FLAGS.SILENT (\\Deleted)", "e1 OK STORE completed\r\n");
	sh_expect(b, "e2", "EXPUNGE", "* 1 EXPUNGE\r\ne2 OK EXPUNGE completed\r\n");
	imap_session_notify(a->s);
	sh_wait_line(a, "* 1 EXPUNGE");
	sh_settle(a);
	got = sh_take(a);
	assert_string_equal(got, "* 1 EXPUNGE\r\n");
	free(got);

	sh_send(a, "DONE\r\n");
	sh_wait_line(a, "i1 ");
	sh_settle(a);
	got = sh_take(a);
	assert_string_equal(got, "i1 OK IDLE terminated\r\n");
	free(got);
	sh_expect(a, "i2", "FETCH 1 (UID)", "* 1 FETCH (UID 2)\r\ni2 OK FETCH completed\r\n");
	sh_close(a);
	sh_close(b);
}

/* Anything but DONE ends IDLE with BAD; the session stays usable. */
static void test_idle_not_done(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, true, false);
	sh_login(c);
	sh_send(c, "i1 IDLE\r\n");
	sh_wait_line(c, "+ ");
	sh_skip(c);
	sh_send(c, "i2 NOOP\r\n");
	sh_wait_line(c, "i1 ");
	sh_settle(c);
	char *got = sh_take(c);
	assert_true(strncmp(got, "i1 BAD ", 7) == 0);
	free(got);
	sh_expect(c, "i3", "NOOP", "i3 OK NOOP completed\r\n");
	sh_close(c);
}

/* ---- SEARCHRES ---- */

/* RFC 5182: SEARCH RETURN (SAVE) answers no ESEARCH (only SAVE was
 * asked), and "$" then names the saved messages. */
static void test_searchres(void **state)
{
	(void)state;
	struct sh_conn *a, *b;
	two_clients(&a, &b, 4);
	sh_expect(a, "r1", "STORE 2,4 +FLAGS.SILENT (\\Flagged)", "r1 OK STORE completed\r\n");
	sh_expect(a, "r2", "SEARCH RETURN (SAVE) FLAGGED", "r2 OK SEARCH completed\r\n");
	sh_expect(a, "r3", "FETCH $ (UID)",
		  "* 2 FETCH (UID 2)\r\n* 4 FETCH (UID 4)\r\nr3 OK FETCH completed\r\n");
	sh_expect(a, "r4", "UID FETCH $ (FLAGS)",
		  "* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\n* 4 FETCH (UID 4 FLAGS (\\Flagged))\r\n"
		  "r4 OK UID FETCH completed\r\n");
	/* SAVE with MIN: the ESEARCH answer carries MIN, "$" holds only it. */
	sh_expect(a, "r5", "SEARCH RETURN (SAVE MIN) FLAGGED",
		  "* ESEARCH (TAG \"r5\") MIN 2\r\nr5 OK SEARCH completed\r\n");
	sh_expect(a, "r6", "FETCH $ (UID)", "* 2 FETCH (UID 2)\r\nr6 OK FETCH completed\r\n");
	/* "$" inside a search. */
	sh_expect(a, "r7", "SEARCH RETURN (SAVE) UNFLAGGED", "r7 OK SEARCH completed\r\n");
	sh_expect(a, "r8", "SEARCH $ 1:2", "* SEARCH 1\r\nr8 OK SEARCH completed\r\n");
	sh_close(a);
	sh_close(b);
}

/* ---- the selected mailbox renamed or deleted ---- */

/* RENAME of the selected mailbox keeps it selected under its new name;
 * DELETE of it (by that name) leaves the selected state quietly, no BYE. */
static void test_rename_delete_selected(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, true, false);
	sh_login(c);
	/* objectid: RFC 8474 4.1, the new mailbox's MAILBOXID. */
	char *got = sh_cmd(c, "d1", "CREATE Sel");
	assert_non_null(strstr(got, "d1 OK [MAILBOXID (F"));
	assert_non_null(strstr(got, ")] CREATE completed\r\n"));
	free(got);
	sh_append(c, "Sel", "", "one");
	got = sh_cmd(c, "d2", "SELECT Sel");
	assert_non_null(strstr(got, "* 1 EXISTS\r\n"));
	assert_non_null(strstr(got, "d2 OK [READ-WRITE] SELECT completed\r\n"));
	free(got);
	sh_expect(c, "d3", "RENAME Sel Sel2", "d3 OK RENAME completed\r\n");
	sh_expect(c, "d4", "FETCH 1 (UID)", "* 1 FETCH (UID 1)\r\nd4 OK FETCH completed\r\n");
	sh_expect(c, "d5", "DELETE Sel2", "d5 OK DELETE completed\r\n");
	sh_expect(c, "d6", "FETCH 1 (UID)", "d6 BAD No mailbox selected\r\n");
	sh_expect(c, "d7", "NOOP", "d7 OK NOOP completed\r\n");
	assert_false(c->closed);
	sh_close(c);
}

/* ---- back-pressure ---- */

/* A client that does not read its responses stops being read: with more
 * than max_output_buffer unsent, pipelined commands wait; once the output
 * drains they are answered in order. */
static void test_slow_reader_is_not_read(void **state)
{
	(void)state;
	struct sh_conn *c = sh_open(g_env, true, false);
	sh_login(c);
	c->pending = 2u << 20; /* above the 1 MiB default */
	sh_send(c, "n1 NOOP\r\nn2 NOOP\r\n");
	sh_settle(c);
	char *got = sh_take(c);
	assert_string_equal(got, "");
	free(got);
	assert_true(c->paused);
	c->pending = 0;
	imap_session_drained(c->s);
	sh_wait_line(c, "n2 ");
	sh_settle(c);
	got = sh_take(c);
	assert_string_equal(got, "n1 OK NOOP completed\r\nn2 OK NOOP completed\r\n");
	free(got);
	assert_false(c->paused);
	sh_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_greeting_plain_port, case_setup),
		cmocka_unit_test_setup(test_greeting_tls_and_login, case_setup),
		cmocka_unit_test_setup(test_trusted_plain_port, case_setup),
		cmocka_unit_test_setup(test_wrong_password, case_setup),
		cmocka_unit_test_setup(test_starttls, case_setup),
		cmocka_unit_test_setup(test_authenticate_plain, case_setup),
		cmocka_unit_test_setup(test_logout_order, case_setup),
		cmocka_unit_test_setup(test_logout_not_authenticated, case_setup),
		cmocka_unit_test_setup(test_pipelined_in_order, case_setup),
		cmocka_unit_test_setup(test_pipelined_behind_login, case_setup),
		cmocka_unit_test_setup(test_bad_commands, case_setup),
		cmocka_unit_test_setup(test_too_many_bad_commands, case_setup),
		cmocka_unit_test_setup(test_timeout_and_shutdown_bye, case_setup),
		cmocka_unit_test_setup(test_literal_continuation, case_setup),
		cmocka_unit_test_setup(test_oversized_literal, case_setup),
		cmocka_unit_test_setup(test_no_expunge_during_fetch_store_search, case_setup),
		cmocka_unit_test_setup(test_expunge_reported_by_noop_after_uid_fetch, case_setup),
		cmocka_unit_test_setup(test_idle_done, case_setup),
		cmocka_unit_test_setup(test_idle_not_done, case_setup),
		cmocka_unit_test_setup(test_searchres, case_setup),
		cmocka_unit_test_setup(test_rename_delete_selected, case_setup),
		cmocka_unit_test_setup(test_slow_reader_is_not_read, case_setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
