/* LMTP (src/lmtp/): the command grammar (parse.c), recipient lookup
 * (rcpt.c) and the session's state machine (session.c) over a real
 * config, users file and store in a temporary directory, with deliveries
 * committed inline (no work pool) through the group commit (commit.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lmtp_test_io.h"
#include "lmtp/parse.h"
#include "lmtp/rcpt.h"
#include "core/util.h"

#include <sys/stat.h>
#include <unistd.h>

struct fx {
	char dir[64];
	struct config *cfg;
	struct passdb *db;
	struct lmtp_proto lp;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/rampart-lmtp-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char *users = xasprintf("%s/users", f->dir);
	FILE *u = fopen(users, "w");
	assert_non_null(u);
	fputs("bob:{PLAIN}x\ncarol@example.org:{PLAIN}x\n", u);
	fclose(u);
	char *err = NULL;
	f->db = passdb_load(users, &err);
	assert_non_null(f->db);
	free(users);
	f->cfg = config_new_defaults(f->dir);
	f->cfg->max_message_size = 4096;
	f->cfg->lmtp_max_recipients = 3;
	f->cfg->lmtp_max_text_line = 1000;
	char *mail = xasprintf("%s/mail", f->dir);
	free(f->cfg->mail_root);
	f->cfg->mail_root = mail;
	assert_int_equal(store_init(mail), 0);
	f->lp = (struct lmtp_proto){ .cfg = f->cfg, .passdb = f->db };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_cache_drop();
	store_shutdown();
	passdb_free(f->db);
	config_free(f->cfg);
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

/* ---- grammar ---- */

static void test_parse_verb(void **state)
{
	(void)state;
	const char *arg;
	assert_int_equal(lmtp_parse_verb("lhlo mx.example", &arg), LMTP_LHLO);
	assert_string_equal(arg, "mx.example");
	assert_int_equal(lmtp_parse_verb("DATA", &arg), LMTP_DATA);
	assert_string_equal(arg, "");
	assert_int_equal(lmtp_parse_verb("DATAX", &arg), LMTP_UNKNOWN);
	assert_int_equal(lmtp_parse_verb("", &arg), LMTP_UNKNOWN);
	assert_int_equal(lmtp_parse_verb("EHLO x", &arg), LMTP_EHLO);
}

static void test_parse_path(void **state)
{
	(void)state;
	struct lmtp_path p;
	assert_null(lmtp_parse_path("FROM:<a@b.example> SIZE=100 BODY=8BITMIME SMTPUTF8", true, &p));
	assert_string_equal(p.addr, "a@b.example");
	assert_int_equal(p.size, 100);
	assert_int_equal(p.body, LMTP_BODY_8BITMIME);
	assert_true(p.smtputf8);
	free(p.addr);
	assert_null(lmtp_parse_path("from: <>", true, &p)); /* null sender, a space */
	assert_string_equal(p.addr, "");
	free(p.addr);
	assert_null(lmtp_parse_path("TO:<@relay.example,@r2:bob@example.org>", false, &p));
	assert_string_equal(p.addr, "bob@example.org");
	free(p.addr);
	assert_null(lmtp_parse_path("TO:<postmaster>", false, &p));
	free(p.addr);
	/* Refusals, each with an enhanced code. */
	const char *bad[] = { "TO:<>", "TO:bob@x", "TO:<bob@x", "TO:<a b@x>", "TO:<@x>",
			      "TO:<bob@>", "TO:<bob@x>junk", "TO:<bob@x> ORCPT=rfc822;x",
			      "TO:<a\x01@x>" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *e = lmtp_parse_path(bad[i], false, &p);
		assert_non_null(e);
		assert_true(e[0] == '5' && e[3] == ' ' && e[4] == '5' && e[5] == '.');
	}
	assert_non_null(lmtp_parse_path("FROM:<a@b> SIZE=x", true, &p));
	assert_non_null(lmtp_parse_path("FROM:<a@b> BODY=BINARYMIME", true, &p));
	assert_non_null(lmtp_parse_path("FROM:<a@b> SIZE=99999999999999999999999", true, &p));
	char longp[400];
	memset(longp, 'a', sizeof(longp));
	memcpy(longp, "TO:<", 4);
	memcpy(longp + sizeof(longp) - 4, "@x>", 4);
	assert_non_null(lmtp_parse_path(longp, false, &p));
}

static void test_parse_bdat(void **state)
{
	(void)state;
	uint64_t n;
	bool last;
	assert_true(lmtp_parse_bdat("100", &n, &last));
	assert_int_equal(n, 100);
	assert_false(last);
	assert_true(lmtp_parse_bdat("0 last", &n, &last));
	assert_true(last);
	assert_false(lmtp_parse_bdat("", &n, &last));
	assert_false(lmtp_parse_bdat("-1", &n, &last));
	assert_false(lmtp_parse_bdat("5 LASTX", &n, &last));
	assert_false(lmtp_parse_bdat("99999999999999999999", &n, &last));
}

static void test_addr_split_and_resolve(void **state)
{
	struct fx *f = *state;
	char *l, *d, *dom;
	lmtp_addr_split("Bob+Lists+x@Example.ORG", "+", &l, &d, &dom);
	assert_string_equal(l, "Bob");
	assert_string_equal(d, "Lists+x");
	assert_string_equal(dom, "example.org");
	free(l), free(d), free(dom);
	lmtp_addr_split("a-b@x", "+-", &l, &d, &dom);
	assert_string_equal(l, "a");
	assert_string_equal(d, "b");
	free(l), free(d), free(dom);

	char *det = NULL;
	char *u = lmtp_rcpt_resolve(f->db, "bob@any.example", "+", &det);
	assert_string_equal(u, "bob"); /* a users file without domains */
	assert_null(det);
	free(u);
	u = lmtp_rcpt_resolve(f->db, "BOB+lists@x", "+", &det);
	assert_string_equal(u, "bob");
	assert_string_equal(det, "lists");
	free(u), free(det);
	u = lmtp_rcpt_resolve(f->db, "carol+a@EXAMPLE.org", "+", &det);
	assert_string_equal(u, "carol@example.org");
	assert_string_equal(det, "a");
	free(u), free(det);
	assert_null(lmtp_rcpt_resolve(f->db, "carol@other.example", "+", &det));
	assert_null(lmtp_rcpt_resolve(f->db, "bob+x@y", "", &det)); /* no delimiter */
	assert_null(lmtp_rcpt_resolve(f->db, "nobody@x", "+", &det));
}

/* ---- the session ---- */

/* The reply codes in s's output from `from` on, space-separated. */
static char *codes(const struct lmtp_test_conn *c, size_t from)
{
	struct strbuf b = STRBUF_INIT;
	const char *p = c->out.s ? c->out.s + from : "";
	while (*p) {
		const char *nl = strstr(p, "\r\n");
		assert_non_null(nl);
		strbuf_add(&b, p, 3);
		if (p[3] == '-')
			strbuf_addc(&b, '-');
		strbuf_addc(&b, ' ');
		p = nl + 2;
	}
	if (b.len)
		b.s[--b.len] = '\0';
	return b.len ? strbuf_detach(&b, NULL) : xstrdup("");
}

static void send_expect(struct lmtp_test_conn *c, const char *in, const char *want)
{
	size_t from = c->out.len;
	lmtp_test_feed(c, in, strlen(in));
	char *got = codes(c, from);
	if (strcmp(got, want) != 0)
		fail_msg("after %s: codes '%s', want '%s'; output:\n%s", in, got, want, c->out.s + from);
	free(got);
}

static uint32_t messages_in(const char *user, const char *mailbox)
{
	struct store_user *u = store_user_open(user);
	assert_non_null(u);
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_status(u, mailbox, &mb), STORE_OK);
	uint32_t n = mb.messages;
	store_mailbox_clear(&mb);
	store_user_close(u);
	return n;
}

static void test_session_sequence(void **state)
{
	struct fx *f = *state;
	struct lmtp_test_conn c;
	lmtp_test_open(&c, &f->lp);
	assert_non_null(strstr(c.out.s, "220 "));
	assert_int_equal(c.timeout, 300);
	send_expect(&c, "MAIL FROM:<a@b>\r\n", "503");
	send_expect(&c, "HELO x\r\n", "500");
	send_expect(&c, "LHLO\r\n", "501");
	send_expect(&c, "LHLO mx\r\n", "250- 250- 250- 250- 250- 250- 250");
	assert_non_null(strstr(c.out.s, "250 SIZE 4096\r\n"));
	send_expect(&c, "RCPT TO:<bob@x>\r\n", "503");
	send_expect(&c, "DATA\r\n", "503");
	send_expect(&c, "MAIL FROM:<a@b> SIZE=4097\r\n", "552");
	send_expect(&c, "MAIL FROM:<a@b>\r\n", "250");
	send_expect(&c, "MAIL FROM:<a@b>\r\n", "503");
	send_expect(&c, "RCPT TO:<ghost@x>\r\n", "550");
	assert_non_null(strstr(c.out.s, "550 5.1.1 <ghost@x> User doesn't exist\r\n"));
	send_expect(&c, "RCPT TO:<bob@x>\r\nRCPT TO:<carol@example.org>\r\nRCPT TO:<bob+nf@x>\r\n"
			"RCPT TO:<bob@x>\r\n", "250 250 250 452");
	send_expect(&c, "VRFY bob\r\nNOOP\r\nHELP\r\n", "252 250 214");
	struct lmtp_counters before;
	lmtp_counters_get(&before);
	send_expect(&c, "DATA\r\n", "354");
	send_expect(&c, "Subject: t\r\n\r\n..dot\r\nbare lf\n.\r\n", "250 250 250");
	struct lmtp_counters after;
	lmtp_counters_get(&after);
	assert_int_equal(after.delivered - before.delivered, 3);
	assert_true(after.commits > before.commits);
	assert_int_equal(messages_in("bob", "INBOX"), 2); /* bob and bob+nf (no folder "nf") */
	assert_int_equal(messages_in("carol@example.org", "INBOX"), 1);
	/* RSET forgets; the next transaction starts clean. */
	send_expect(&c, "MAIL FROM:<>\r\nRSET\r\nRCPT TO:<bob@x>\r\n", "250 250 503");
	send_expect(&c, "QUIT\r\n", "221");
	assert_true(c.closed);
	lmtp_test_close(&c);
}

static void test_session_limits(void **state)
{
	struct fx *f = *state;
	struct lmtp_test_conn c;
	lmtp_test_open(&c, &f->lp);
	send_expect(&c, "LHLO mx\r\n", "250- 250- 250- 250- 250- 250- 250");
	/* A command line over 1000 bytes: one 500, then the session goes on. */
	struct strbuf big = STRBUF_INIT;
	strbuf_adds(&big, "NOOP ");
	for (int i = 0; i < 3000; i++)
		strbuf_addc(&big, 'x');
	strbuf_adds(&big, "\r\nNOOP\r\n");
	send_expect(&c, big.s, "500 250");
	/* Too big: read to the end, refused per recipient. */
	send_expect(&c, "MAIL FROM:<a@b>\r\nRCPT TO:<bob@x>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n",
		    "250 250 250 354");
	strbuf_reset(&big);
	for (int i = 0; i < 60; i++)
		strbuf_adds(&big, "0123456789012345678901234567890123456789012345678901234567890123456789"
				  "012345678901234567890\r\n");
	send_expect(&c, big.s, "");
	send_expect(&c, ".\r\n", "552 552");
	/* A text line over max_text_line. */
	send_expect(&c, "MAIL FROM:<a@b>\r\nRCPT TO:<bob@x>\r\nDATA\r\n", "250 250 354");
	strbuf_reset(&big);
	for (int i = 0; i < 1500; i++)
		strbuf_addc(&big, 'y');
	strbuf_adds(&big, "\r\n.\r\n");
	send_expect(&c, big.s, "500");
	strbuf_free(&big);
	/* Bad commands are counted (the long line was one): the 20th closes
	 * with 421. */
	for (int i = 0; i < 18; i++)
		send_expect(&c, "BOGUS\r\n", "500");
	send_expect(&c, "BOGUS\r\n", "500 421");
	assert_true(c.closed);
	lmtp_test_close(&c);
}

static void test_session_bdat(void **state)
{
	struct fx *f = *state;
	struct lmtp_test_conn c;
	lmtp_test_open(&c, &f->lp);
	send_expect(&c, "LHLO mx\r\n", "250- 250- 250- 250- 250- 250- 250");
	/* Out of a transaction the chunk is read, then refused. */
	send_expect(&c, "BDAT 6\r\nRSET\r\nNOOP\r\n", "503 250");
	uint32_t n0 = messages_in("bob", "INBOX");
	send_expect(&c, "MAIL FROM:<a@b>\r\nRCPT TO:<bob@x>\r\nBDAT 4\r\n.x\r\n", "250 250 250");
	send_expect(&c, "DATA\r\n", "503"); /* no DATA after BDAT */
	send_expect(&c, "BDAT 0 LAST\r\n", "250");
	assert_int_equal(messages_in("bob", "INBOX"), n0 + 1);
	/* Too big across chunks. */
	send_expect(&c, "MAIL FROM:<a@b>\r\nRCPT TO:<bob@x>\r\n", "250 250");
	char chunk[3000];
	memset(chunk, 'z', sizeof(chunk));
	send_expect(&c, "BDAT 3000\r\n", "");
	lmtp_test_feed(&c, chunk, 1500);
	size_t from = c.out.len;
	lmtp_test_feed(&c, chunk, 1500);
	char *got = codes(&c, from);
	assert_string_equal(got, "250");
	free(got);
	send_expect(&c, "BDAT 3000 LAST\r\n", "");
	from = c.out.len;
	lmtp_test_feed(&c, chunk, sizeof(chunk));
	got = codes(&c, from);
	assert_string_equal(got, "552");
	free(got);
	assert_int_equal(messages_in("bob", "INBOX"), n0 + 1);
	lmtp_test_close(&c);
}

/* The same transcript fed whole and a byte at a time gives the same
 * replies: no state depends on how TCP cut the stream. */
static void test_session_byte_by_byte(void **state)
{
	struct fx *f = *state;
	const char *t = "LHLO mx\r\nMAIL FROM:<a@b> BODY=8BITMIME\r\nRCPT TO:<bob+q@x>\r\n"
			"RCPT TO:<nope@x>\r\nDATA\r\nA: b\r\n\r\n..\r\n.\r\n"
			"MAIL FROM:<a@b>\r\nRCPT TO:<bob@x>\r\nBDAT 3\r\nabcBDAT 2 LAST\r\nde"
			"NOOP\r\nQUIT\r\n";
	struct lmtp_test_conn a, b;
	lmtp_test_open(&a, &f->lp);
	lmtp_test_feed(&a, t, strlen(t));
	lmtp_test_open(&b, &f->lp);
	for (size_t i = 0; i < strlen(t); i++)
		lmtp_test_feed(&b, t + i, 1);
	char *ca = codes(&a, 0), *cb = codes(&b, 0);
	assert_string_equal(ca, cb);
	assert_string_equal(ca, "220 250- 250- 250- 250- 250- 250- 250 250 250 550 354 250 250 250 "
				"250 250 250 221");
	free(ca);
	free(cb);
	lmtp_test_close(&a);
	lmtp_test_close(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_verb),
		cmocka_unit_test(test_parse_path),
		cmocka_unit_test(test_parse_bdat),
		cmocka_unit_test_setup_teardown(test_addr_split_and_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_bdat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_byte_by_byte, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
