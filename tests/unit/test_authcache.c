/* The authentication cache (auth/authcache.c) on its own, with a fake
 * clock: a hit needs the same user, hash string and password; the ttl is
 * counted from the verification; the table never holds more than its
 * bound and gives up the oldest entry of a full set; forgetting a user,
 * clearing and reconfiguring drop entries; ttl or size 0 is off. Then
 * through passdb_authenticate: a second right password runs no slow
 * hash, a wrong one still runs one, a changed hash misses at once, and
 * app_passwords_only is not bypassed by an entry made before it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/authcache.h"
#include "auth/passdb.h"
#include "auth/passdb_internal.h"

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static int setup(void **state)
{
	(void)state;
	fake_now = 1000000;
	authcache_set_clock(fake_clock);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	authcache_set_clock(NULL);
	return 0;
}

#define H1 "{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
#define H2 "{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNo"

static void test_key_binds_user_hash_password(void **state)
{
	(void)state;
	struct authcache *c = authcache_new(60, 64);
	assert_true(authcache_enabled(c));
	assert_false(authcache_lookup(c, "alice", H1, "secret one"));
	authcache_insert(c, "alice", H1, "secret one");
	assert_true(authcache_lookup(c, "alice", H1, "secret one"));
	assert_false(authcache_lookup(c, "alice", H1, "secret two"));
	assert_false(authcache_lookup(c, "alice", H1, "secret on"));
	assert_false(authcache_lookup(c, "alice", H1, ""));
	assert_false(authcache_lookup(c, "alice", H2, "secret one"));   /* password changed */
	assert_false(authcache_lookup(c, "bob", H1, "secret one"));
	assert_false(authcache_lookup(c, "alic", H1, "esecret one"));   /* NUL separators */
	assert_int_equal(authcache_entries(c), 1);
	authcache_free(c);
}

static void test_ttl_from_verification(void **state)
{
	(void)state;
	struct authcache *c = authcache_new(10, 64);
	authcache_insert(c, "alice", H1, "pw");
	fake_now += 9999;
	assert_true(authcache_lookup(c, "alice", H1, "pw"));
	/* a hit does not extend the ttl */
	fake_now += 1;
	assert_false(authcache_lookup(c, "alice", H1, "pw"));
	assert_int_equal(authcache_entries(c), 0);
	/* a new verification gives a new ttl */
	authcache_insert(c, "alice", H1, "pw");
	fake_now += 5000;
	authcache_insert(c, "alice", H1, "pw");
	fake_now += 9000;
	assert_true(authcache_lookup(c, "alice", H1, "pw"));
	assert_int_equal(authcache_entries(c), 1);
	authcache_free(c);
}

static void test_bound_and_oldest_evicted(void **state)
{
	(void)state;
	/* One set of 8: the ninth user evicts the oldest. */
	struct authcache *c = authcache_new(3600, 8);
	char name[32];
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		authcache_insert(c, name, H1, "pw");
		fake_now += 10;
	}
	assert_int_equal(authcache_entries(c), 8);
	authcache_insert(c, "user8", H1, "pw");
	assert_int_equal(authcache_entries(c), 8);
	assert_false(authcache_lookup(c, "user0", H1, "pw"));
	for (int i = 1; i <= 8; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		assert_true(authcache_lookup(c, name, H1, "pw"));
	}
	authcache_free(c);

	/* Many users through a small table: never more than the bound, the
	 * newest always there, the first long gone. */
	c = authcache_new(3600, 16);
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "many%d", i);
		authcache_insert(c, name, H1, "pw");
		fake_now += 1;
		assert_true(authcache_entries(c) <= 16);
		assert_true(authcache_lookup(c, name, H1, "pw"));
	}
	assert_int_equal(authcache_entries(c), 16);
	assert_false(authcache_lookup(c, "many0", H1, "pw"));
	authcache_free(c);
}

static void test_forget_clear_configure(void **state)
{
	(void)state;
	struct authcache *c = authcache_new(60, 1024);
	authcache_insert(c, "alice", H1, "pw");
	authcache_insert(c, "alice", H2, "pw2");
	authcache_insert(c, "bob", H1, "pw");
	authcache_forget(c, "alice");
	assert_false(authcache_lookup(c, "alice", H1, "pw"));
	assert_false(authcache_lookup(c, "alice", H2, "pw2"));
	assert_true(authcache_lookup(c, "bob", H1, "pw"));
	authcache_forget(c, "nobody");
	assert_true(authcache_lookup(c, "bob", H1, "pw"));

	authcache_clear(c);
	assert_false(authcache_lookup(c, "bob", H1, "pw"));
	assert_int_equal(authcache_entries(c), 0);

	authcache_insert(c, "bob", H1, "pw");
	authcache_configure(c, 60, 1024);   /* SIGHUP: forgets */
	assert_false(authcache_lookup(c, "bob", H1, "pw"));

	authcache_configure(c, 0, 1024);    /* off */
	assert_false(authcache_enabled(c));
	authcache_insert(c, "bob", H1, "pw");
	assert_false(authcache_lookup(c, "bob", H1, "pw"));
	assert_int_equal(authcache_entries(c), 0);
	authcache_configure(c, 60, 0);      /* off too */
	assert_false(authcache_enabled(c));
	authcache_configure(c, 60, 8);
	assert_true(authcache_enabled(c));
	authcache_free(c);

	c = authcache_new(0, 100);
	assert_false(authcache_enabled(c));
	authcache_insert(c, "bob", H1, "pw");
	assert_false(authcache_lookup(c, "bob", H1, "pw"));
	authcache_free(c);
	authcache_free(NULL);
	assert_false(authcache_lookup(NULL, "bob", H1, "pw"));
}

/* ---- through passdb_authenticate ---- */

struct pfix {
	char dir[64];
	char users[128];
};

static void pfix_write(struct pfix *f, const char *content)
{
	FILE *fp = fopen(f->users, "w");
	assert_non_null(fp);
	fputs(content, fp);
	fclose(fp);
}

static unsigned long slow_of(struct passdb *db, const char *user, const char *pw,
			     enum passdb_result want, const char *cache)
{
	struct passdb_work a, b;
	struct passdb_auth out;
	passdb_work_get(&a);
	assert_int_equal(passdb_authenticate(db, user, pw, "127.0.0.1", &out), want);
	passdb_work_get(&b);
	assert_string_equal(out.cache, cache);
	return b.slow - a.slow;
}

static void test_passdb_uses_cache(void **state)
{
	(void)state;
	authcache_set_clock(NULL);
	struct pfix f;
	snprintf(f.dir, sizeof(f.dir), "/tmp/rampart-authcache-XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	snprintf(f.users, sizeof(f.users), "%s/users", f.dir);
	/* argon2id, as the CLI writes them */
	char *h1 = password_hash("first password 1");
	char *h2 = password_hash("second password 2");
	assert_non_null(h1);
	assert_non_null(h2);
	char buf[1024];
	snprintf(buf, sizeof(buf), "alice:%s\n", h1);
	pfix_write(&f, buf);
	char *err = NULL;
	struct passdb *db = passdb_load(f.users, &err);
	assert_non_null(db);

	/* No cache until it is configured. */
	assert_int_equal(slow_of(db, "alice", "first password 1", PASSDB_OK, "off"), 1);
	passdb_set_cache(db, 60, 64);
	assert_int_equal(slow_of(db, "alice", "first password 1", PASSDB_OK, "miss"), 1);
	assert_int_equal(slow_of(db, "alice", "first password 1", PASSDB_OK, "hit"), 0);
	/* The probe asked before queueing a check (imap/cmd_auth.c) agrees,
	 * and answers no for anything the check would hash. */
	assert_true(passdb_cache_would_hit(db, "alice", "first password 1", "127.0.0.1"));
	assert_false(passdb_cache_would_hit(db, "alice", "first password", "127.0.0.1"));
	assert_false(passdb_cache_would_hit(db, "nobody", "first password 1", "127.0.0.1"));
	assert_false(passdb_cache_would_hit(db, "alice", NULL, "127.0.0.1"));
	/* A wrong password still costs one slow hash, and forgets alice. */
	assert_int_equal(slow_of(db, "alice", "wrong", PASSDB_FAIL, "miss"), 1);
	assert_int_equal(slow_of(db, "alice", "first password 1", PASSDB_OK, "miss"), 1);
	assert_int_equal(slow_of(db, "alice", "first password 1", PASSDB_OK, "hit"), 0);
	/* Unknown user: the dummy hash, cache not asked. */
	assert_int_equal(slow_of(db, "nobody", "first password 1", PASSDB_FAIL, "-"), 1);

	/* A new password: the old one is refused at once, no reload. The
	 * rewrite must look different to stat (size differs: new hash). */
	snprintf(buf, sizeof(buf), "alice:%s:::::: \n", h2);
	pfix_write(&f, buf);
	assert_int_equal(slow_of(db, "alice", "first password 1", PASSDB_FAIL, "miss"), 1);
	assert_int_equal(slow_of(db, "alice", "second password 2", PASSDB_OK, "miss"), 1);
	assert_int_equal(slow_of(db, "alice", "second password 2", PASSDB_OK, "hit"), 0);
	/* Only from other networks (the file read again through another
	 * user's check, so alice's entry stays): the check would refuse
	 * 127.0.0.1 after the dummy hash, so the probe says no there. */
	snprintf(buf, sizeof(buf), "alice:%s::::::allow_nets=192.0.2.0/24\n", h2);
	pfix_write(&f, buf);
	assert_int_equal(slow_of(db, "nobody", "x", PASSDB_FAIL, "-"), 1);
	assert_true(passdb_cache_would_hit(db, "alice", "second password 2", "192.0.2.7"));
	assert_false(passdb_cache_would_hit(db, "alice", "second password 2", "127.0.0.1"));

	/* app_passwords_only set after the entry was made: refused, and at
	 * the cost of a slow hash (the cache is not asked). */
	snprintf(buf, sizeof(buf), "alice:%s::::::app_passwords_only=yes\n", h2);
	pfix_write(&f, buf);
	assert_int_equal(slow_of(db, "alice", "second password 2", PASSDB_FAIL, "-"), 1);
	assert_false(passdb_cache_would_hit(db, "alice", "second password 2", "127.0.0.1"));

	/* Deleted: refused. */
	pfix_write(&f, "bob:{ARGON2ID}x\n");
	assert_int_equal(slow_of(db, "alice", "second password 2", PASSDB_FAIL, "-"), 1);

	/* Off. */
	snprintf(buf, sizeof(buf), "alice:%s\n", h2);
	pfix_write(&f, buf);
	passdb_set_cache(db, 0, 64);
	assert_int_equal(slow_of(db, "alice", "second password 2", PASSDB_OK, "off"), 1);
	assert_false(passdb_cache_would_hit(db, "alice", "second password 2", "127.0.0.1"));
	assert_int_equal(slow_of(db, "alice", "second password 2", PASSDB_OK, "off"), 1);

	passdb_free(db);
	free(h1);
	free(h2);
	unlink(f.users);
	rmdir(f.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_key_binds_user_hash_password, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_from_verification, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_and_oldest_evicted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget_clear_configure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passdb_uses_cache, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
