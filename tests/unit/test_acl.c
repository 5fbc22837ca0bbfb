/* RFC 4314 rights (store/acl.c): parsing with the 2.1.1 aliases, the
 * canonical text, SETACL's +/- modifiers, identifiers, and whose rights
 * apply to a user (anyone, authenticated, negative entries, the owner);
 * then the ACL store calls and the registry on a real SQLite store. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <stdio.h>

#include "store/backend.h"
#include "store/store.h"
#include "store_test_util.h"

static uint32_t parse(const char *s)
{
	uint32_t r = 0xdeadu;
	assert_int_equal(store_acl_rights_parse(s, &r), STORE_OK);
	return r;
}

static const char *fmt(uint32_t r)
{
	static char buf[STORE_ACL_RIGHTS_TEXT_MAX];
	store_acl_rights_format(r, buf);
	return buf;
}

static void test_parse_and_format(void **state)
{
	(void)state;
	assert_int_equal(parse(""), 0);
	assert_int_equal(parse("l"), STORE_ACL_LOOKUP);
	assert_int_equal(parse("lrswipkxtea"), STORE_ACL_ALL);
	assert_string_equal(fmt(STORE_ACL_ALL), "lrswipkxteacd");
	assert_string_equal(fmt(parse("arl")), "lra");
	/* RFC 4314 2.1.1: c is k, d is xte; both come back as aliases. */
	assert_int_equal(parse("c"), STORE_ACL_CREATE);
	assert_int_equal(parse("d"), STORE_ACL_DELMBOX | STORE_ACL_DELMSG | STORE_ACL_EXPUNGE);
	assert_string_equal(fmt(parse("lrd")), "lrxted");
	assert_string_equal(fmt(parse("t")), "t"); /* d only with all of xte */
	assert_string_equal(fmt(parse("xe")), "xe");
	assert_string_equal(fmt(0), "");
	uint32_t r;
	assert_int_equal(store_acl_rights_parse("lrz", &r), STORE_EINVAL);
	assert_int_equal(store_acl_rights_parse("L", &r), STORE_EINVAL);
	assert_int_equal(store_acl_rights_parse("+l", &r), STORE_EINVAL);
	/* Every subset round-trips through its text. */
	for (uint32_t x = 0; x <= STORE_ACL_ALL; x++)
		assert_int_equal(parse(fmt(x)), x);
}

static void test_apply_modifiers(void **state)
{
	(void)state;
	uint32_t out;
	assert_int_equal(store_acl_rights_apply("+w", parse("lr"), &out), STORE_OK);
	assert_int_equal(out, parse("lrw"));
	assert_int_equal(store_acl_rights_apply("-rd", parse("lrxte"), &out), STORE_OK);
	assert_int_equal(out, parse("l"));
	assert_int_equal(store_acl_rights_apply("ia", parse("lr"), &out), STORE_OK);
	assert_int_equal(out, parse("ia"));
	assert_int_equal(store_acl_rights_apply("-", parse("lr"), &out), STORE_OK);
	assert_int_equal(out, parse("lr"));
	assert_int_equal(store_acl_rights_apply("+?", 0, &out), STORE_EINVAL);
}

static void test_identifiers(void **state)
{
	(void)state;
	const char *good[] = { "bob", "anyone", "authenticated", "-bob", "a.b+c@example.org", "x_1" };
	const char *bad[] = { "", "-", "--bob", "bo b", "a/b", "a..b", "ü", "bob\"" };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		assert_true(store_acl_ident_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_false(store_acl_ident_valid(bad[i]));
	char longid[STORE_USERNAME_MAX + 2];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_false(store_acl_ident_valid(longid));
}

static void test_rights_of(void **state)
{
	(void)state;
	struct store_acl_entry e[] = {
		{ "box", "anyone", STORE_ACL_LOOKUP },
		{ "box", "authenticated", STORE_ACL_READ },
		{ "box", "bob", STORE_ACL_WRITE | STORE_ACL_SEEN },
		{ "box", "-bob", STORE_ACL_READ },
		{ "box", "-anyone", STORE_ACL_SEEN },
		{ "other", "carol", STORE_ACL_ALL },
	};
	size_t n = sizeof(e) / sizeof(*e);
	/* Union of the positive entries minus the union of the negative. */
	assert_int_equal(store_acl_rights_of("alice", "bob", "box", e, n),
			 STORE_ACL_LOOKUP | STORE_ACL_WRITE);
	assert_int_equal(store_acl_rights_of("alice", "carol", "box", e, n),
			 STORE_ACL_LOOKUP | STORE_ACL_READ);
	assert_int_equal(store_acl_rights_of("alice", "carol", "other", e, n), STORE_ACL_ALL);
	assert_int_equal(store_acl_rights_of("alice", "dave", "other", e, n), 0);
	/* The owner holds every right whatever the list says. */
	assert_int_equal(store_acl_rights_of("bob", "bob", "box", e, n), STORE_ACL_ALL);
}

static void test_store_and_registry(void **state)
{
	(void)state;
	struct store_user *u = store_user_open("alice");
	assert_non_null(u);
	assert_int_equal(store_mailbox_create(u, "Shared", NULL), STORE_OK);
	struct store_acl_entry *e;
	size_t n;
	assert_int_equal(store_acl_list(u, "Shared", &e, &n), STORE_OK);
	assert_int_equal(n, 0);
	store_acl_entries_free(e, n);
	assert_int_equal(store_acl_list(u, "Nope", &e, &n), STORE_ENOENT);
	assert_int_equal(store_acl_set(u, "alice", "Nope", "bob", STORE_ACL_READ), STORE_ENOENT);

	assert_false(store_acl_shared_with("alice", "bob"));
	assert_int_equal(store_acl_set(u, "alice", "Shared", "bob", parse("lr")), STORE_OK);
	assert_true(store_acl_shared_with("alice", "bob"));
	assert_false(store_acl_shared_with("alice", "carol"));
	assert_int_equal(store_acl_set(u, "alice", "INBOX", "bob", parse("l")), STORE_OK);
	/* RENAME keeps the list (it is keyed by the mailbox). */
	assert_int_equal(store_mailbox_rename(u, "Shared", "Team"), STORE_OK);
	assert_int_equal(store_acl_list(u, "Team", &e, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].mailbox, "Team");
	assert_string_equal(e[0].ident, "bob");
	assert_int_equal(e[0].rights, parse("lr"));
	store_acl_entries_free(e, n);
	/* DELETE drops it; bob still has INBOX's entry, so stays registered. */
	assert_int_equal(store_mailbox_delete(u, "Team"), STORE_OK);
	assert_int_equal(store_acl_list(u, NULL, &e, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].mailbox, "INBOX");
	store_acl_entries_free(e, n);
	assert_true(store_acl_shared_with("alice", "bob"));
	/* The last entry gone: unregistered. */
	assert_int_equal(store_acl_set(u, "alice", "INBOX", "bob", 0), STORE_OK);
	assert_false(store_acl_shared_with("alice", "bob"));
	/* anyone reaches everybody; a negative entry registers nothing. */
	assert_int_equal(store_acl_set(u, "alice", "INBOX", "-carol", parse("r")), STORE_OK);
	assert_false(store_acl_shared_with("alice", "carol"));
	assert_int_equal(store_acl_set(u, "alice", "INBOX", "anyone", parse("l")), STORE_OK);
	assert_true(store_acl_shared_with("alice", "carol"));
	char **owners;
	assert_int_equal(store_acl_owners("alice", &owners, &n), STORE_OK);
	assert_int_equal(n, 0); /* never one's own */
	free(owners);
	assert_int_equal(store_acl_set(u, "alice", "INBOX", "bad id", parse("r")), STORE_EINVAL);
	store_user_close(u);
}

/* Runs sql on the registry through a connection of its own, as another
 * process (the admin CLI, another server) would. */
static void registry_exec(const char *sql)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/shared.sqlite", store_mail_root());
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static char *owners_of(const char *user)
{
	char **owners = NULL;
	size_t n = 0;
	assert_int_equal(store_acl_owners(user, &owners, &n), STORE_OK);
	static char buf[256];
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strcat(buf, i ? "," : "");
		strncat(buf, owners[i], 64);
		free(owners[i]);
	}
	free(owners);
	return buf;
}

/* The owners a user is shared with come from a copy of the registry kept
 * in memory: every commit by anyone, another connection included, shows
 * at the next call; sorted and distinct, never the user itself. */
static void test_registry_copy_follows_writers(void **state)
{
	(void)state;
	registry_exec("DELETE FROM shared"); /* what the test before left */
	for (int i = 0; i < 3; i++) /* a first read, then from the copy */
		assert_string_equal(owners_of("dave"), "");
	registry_exec("INSERT INTO shared(grantee, owner) VALUES('dave', 'erin')");
	assert_string_equal(owners_of("dave"), "erin");
	assert_string_equal(owners_of("dave"), "erin");
	registry_exec("INSERT INTO shared(grantee, owner) VALUES('anyone', 'erin'),"
		      " ('authenticated', 'cid'), ('dave', 'dave'), ('davey', 'zed'),"
		      " ('anyone', 'dave')");
	assert_string_equal(owners_of("dave"), "cid,erin");
	assert_string_equal(owners_of("gus"), "cid,dave,erin");
	registry_exec("DELETE FROM shared WHERE owner IN ('erin', 'cid')");
	assert_string_equal(owners_of("dave"), "");
	assert_string_equal(owners_of("gus"), "dave");
	/* And this process's own writes (SETACL). */
	struct store_user *u = store_user_open("hal");
	assert_non_null(u);
	assert_int_equal(store_acl_set(u, "hal", "INBOX", "dave", parse("lr")), STORE_OK);
	assert_string_equal(owners_of("dave"), "hal");
	assert_true(store_acl_shared_with("hal", "dave"));
	assert_int_equal(store_acl_set(u, "hal", "INBOX", "dave", 0), STORE_OK);
	assert_false(store_acl_shared_with("hal", "dave"));
	store_user_close(u);
	/* A registry too big to copy is queried instead, each call, with
	 * the same answers; shrunk again, it is copied again. */
	registry_exec("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c"
		      " WHERE x < 65537) INSERT INTO shared(grantee, owner)"
		      " SELECT 'g' || x, 'o' || x FROM c");
	registry_exec("INSERT INTO shared(grantee, owner) VALUES('dave', 'erin'),"
		      " ('anyone', 'cid')");
	for (int i = 0; i < 2; i++)
		assert_string_equal(owners_of("dave"), "cid,erin");
	assert_string_equal(owners_of("g7"), "cid,dave,o7");
	registry_exec("DELETE FROM shared WHERE grantee LIKE 'g%'");
	assert_string_equal(owners_of("g7"), "cid,dave");
	assert_string_equal(owners_of("dave"), "cid,erin");
	registry_exec("DELETE FROM shared");
	assert_string_equal(owners_of("dave"), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_format),
		cmocka_unit_test(test_apply_modifiers),
		cmocka_unit_test(test_identifiers),
		cmocka_unit_test(test_rights_of),
		cmocka_unit_test(test_store_and_registry),
		cmocka_unit_test(test_registry_copy_follows_writers),
	};
	return store_test_run("acl", tests, sizeof(tests) / sizeof(*tests), NULL);
}
