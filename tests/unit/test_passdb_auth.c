/* passdb_authenticate: every branch (primary password, allow_nets, app
 * passwords with expiry and --from, app_passwords_only, unknown users),
 * that each failure does the same work (counted, not timed), and the app
 * password store (file edits, limits, refresh on change, last use). Also
 * the migrated {SSHA512}/{SSHA256}/{SSHA} schemes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/apppass.h"
#include "auth/passdb.h"
#include "auth/passdb_internal.h"
#include "core/base64.h"
#include "core/util.h"

struct fix {
	char dir[64];
	char users[128];
	char apps[128];
	char state[128];
	char *alice_hash;
};

static char *cached_hash; /* argon2id of "alice-primary-pw", made once */

static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(p);
		else
			unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(path);
}

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
}

/* A users file edit the stat-based refresh sees even within one second
 * on filesystems with coarse timestamps: a new inode each time. */
static void write_users(struct fix *f, const char *fields_alice)
{
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.new", f->users);
	char *content = xasprintf("alice:%s::::::%s\nbob:{NONE}::::::\n", f->alice_hash, fields_alice);
	write_file(tmp, content);
	free(content);
	assert_int_equal(rename(tmp, f->users), 0);
}

static int fix_setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/rampart-pauth-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->users, sizeof(f->users), "%s/users", f->dir);
	snprintf(f->apps, sizeof(f->apps), "%s/" APPPASS_FILE_NAME, f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	mkdir(f->state, 0700);
	if (!cached_hash)
		cached_hash = password_hash("alice-primary-pw");
	f->alice_hash = cached_hash;
	write_users(f, "");
	*state = f;
	return 0;
}

static int fix_teardown(void **state)
{
	struct fix *f = *state;
	rm_tree(f->dir);
	free(f);
	return 0;
}

/* One call, with the work it did. */
static enum passdb_result auth(struct passdb *db, const char *user, const char *pw, const char *ip,
			       struct passdb_auth *out, struct passdb_work *work)
{
	struct passdb_work a, b;
	passdb_work_get(&a);
	enum passdb_result r = passdb_authenticate(db, user, pw, ip, out);
	passdb_work_get(&b);
	work->slow = b.slow - a.slow;
	work->keyed = b.keyed - a.keyed;
	return r;
}

/* A failure costs one slow hash and every keyed-hash slot, always. */
static void assert_fail_work(const struct passdb_work *w)
{
	assert_int_equal(w->slow, 1);
	assert_int_equal(w->keyed, APPPASS_MAX_PER_USER);
}

static void test_primary_and_unknown(void **state)
{
	struct fix *f = *state;
	struct passdb *db = passdb_load(f->users, NULL);
	assert_non_null(db);
	struct passdb_auth out;
	struct passdb_work w;
	assert_int_equal(auth(db, "alice", "alice-primary-pw", "127.0.0.1", &out, &w), PASSDB_OK);
	assert_string_equal(out.credential, "password");
	assert_string_equal(out.reason, "ok");
	assert_false(out.legacy_scheme);
	assert_int_equal(w.slow, 1);

	assert_int_equal(auth(db, "alice", "wrong", "127.0.0.1", &out, &w), PASSDB_FAIL);
	assert_string_equal(out.reason, "bad_credentials");
	assert_string_equal(out.credential, "");
	assert_fail_work(&w);

	assert_int_equal(auth(db, "nobody", "alice-primary-pw", "127.0.0.1", &out, &w), PASSDB_FAIL);
	assert_string_equal(out.reason, "unknown_user");
	assert_fail_work(&w);

	assert_int_equal(auth(db, "../etc", "x", "127.0.0.1", &out, &w), PASSDB_FAIL);
	assert_fail_work(&w);

	/* bob's hash has no scheme: no primary password, same work. */
	assert_int_equal(auth(db, "bob", "{NONE}", "127.0.0.1", &out, &w), PASSDB_FAIL);
	assert_string_equal(out.reason, "bad_credentials");
	assert_fail_work(&w);

	assert_int_equal(passdb_authenticate(NULL, "alice", "x", "127.0.0.1", &out), PASSDB_ERROR);
	assert_string_equal(out.reason, "passdb_error");
	passdb_free(db);
}

static void test_allow_nets(void **state)
{
	struct fix *f = *state;
	write_users(f, "allow_nets=10.0.0.0/8,2001:db8::/32");
	struct passdb *db = passdb_load(f->users, NULL);
	struct passdb_auth out;
	struct passdb_work w;
	assert_int_equal(auth(db, "alice", "alice-primary-pw", "127.0.0.1", &out, &w), PASSDB_FAIL);
	assert_string_equal(out.reason, "source_not_allowed");
	assert_fail_work(&w);
	assert_int_equal(auth(db, "alice", "alice-primary-pw", "10.9.8.7", &out, &w), PASSDB_OK);
	assert_int_equal(auth(db, "alice", "alice-primary-pw", "2001:db8::5", &out, &w), PASSDB_OK);
	assert_int_equal(auth(db, "alice", "alice-primary-pw", "::ffff:10.1.1.1", &out, &w), PASSDB_OK);
	/* Not an address (a unix socket peer): outside every list. */
	assert_int_equal(auth(db, "alice", "alice-primary-pw", "unix", &out, &w), PASSDB_FAIL);
	assert_int_equal(auth(db, "alice", "alice-primary-pw", NULL, &out, &w), PASSDB_FAIL);

	struct passdb_user u;
	assert_true(passdb_user_get(db, "alice", &u));
	assert_true(passdb_user_source_allowed(&u, "10.0.0.1"));
	assert_false(passdb_user_source_allowed(&u, "127.0.0.1"));
	passdb_user_clear(&u);
	assert_true(passdb_user_get(db, "bob", &u));
	assert_true(passdb_user_source_allowed(&u, "127.0.0.1")); /* no list: anywhere */
	passdb_user_clear(&u);
	assert_false(passdb_user_source_allowed(NULL, "127.0.0.1"));

	/* Changed by the CLI: seen by the next call without a reload. */
	write_users(f, "allow_nets=127.0.0.0/8");
	assert_int_equal(auth(db, "alice", "alice-primary-pw", "127.0.0.1", &out, &w), PASSDB_OK);
	/* A list that does not parse allows nothing. */
	write_users(f, "allow_nets=10.0.0.0/99");
	assert_int_equal(auth(db, "alice", "alice-primary-pw", "10.0.0.1", &out, &w), PASSDB_FAIL);
	assert_string_equal(out.reason, "source_not_allowed");
	passdb_free(db);
}

static void test_app_passwords(void **state)
{
	struct fix *f = *state;
	struct passdb *db = passdb_load(f->users, NULL);
	passdb_set_state_dir(db, f->state);
	char *phone = NULL, *laptop = NULL, *office = NULL;
	assert_int_equal(apppass_file_add(f->apps, "alice", "phone", 0, NULL, &phone), 0);
	assert_int_equal(strlen(phone), 24);
	assert_int_equal(apppass_file_add(f->apps, "alice", "laptop", time(NULL) + 3600, "", &laptop), 0);
	assert_int_equal(apppass_file_add(f->apps, "alice", "office", 0, "10.0.0.0/8,2001:db8::/32",
					  &office), 0);
	assert_int_equal(apppass_file_add(f->apps, "alice", "phone", 0, NULL, &(char *){ NULL }), -2);

	struct passdb_auth out;
	struct passdb_work w;
	assert_int_equal(auth(db, "alice", phone, "127.0.0.1", &out, &w), PASSDB_OK);
	assert_string_equal(out.credential, "app:phone");
	/* A success by app password costs no slow hash. */
	assert_int_equal(w.slow, 0);
	assert_int_equal(w.keyed, APPPASS_MAX_PER_USER);
	assert_int_equal(auth(db, "alice", laptop, "127.0.0.1", &out, &w), PASSDB_OK);
	assert_string_equal(out.credential, "app:laptop");
	/* Retyped from the screen: upper case, spaces instead of dashes. */
	char retyped[32];
	snprintf(retyped, sizeof(retyped), "%s", phone);
	for (char *p = retyped; *p; p++)
		*p = *p == '-' ? ' ' : (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : *p);
	assert_int_equal(auth(db, "alice", retyped, "127.0.0.1", &out, &w), PASSDB_OK);
	/* The primary password still works alongside. */
	assert_int_equal(auth(db, "alice", "alice-primary-pw", "127.0.0.1", &out, &w), PASSDB_OK);
	assert_string_equal(out.credential, "password");
	/* Another user's app password is not this user's. */
	assert_int_equal(auth(db, "nobody", phone, "127.0.0.1", &out, &w), PASSDB_FAIL);
	assert_fail_work(&w);

	/* --from: refused outside its list, with the same work. */
	assert_int_equal(auth(db, "alice", office, "127.0.0.1", &out, &w), PASSDB_FAIL);
	assert_string_equal(out.reason, "app_password_source");
	assert_fail_work(&w);
	assert_int_equal(auth(db, "alice", office, "10.1.2.3", &out, &w), PASSDB_OK);
	assert_int_equal(auth(db, "alice", office, "2001:db8::7", &out, &w), PASSDB_OK);

	/* Last use recorded in state_dir, keyed by the entry's id. */
	struct apppass_entry *v;
	size_t n;
	assert_int_equal(apppass_file_list(f->apps, "alice", &v, &n), 0);
	assert_int_equal(n, 3);
	time_t when = 0;
	char ip[64];
	assert_true(apppass_use_get(f->state, "alice", v[2].id, &when, ip, sizeof(ip)));
	assert_string_equal(ip, "2001:db8::7");
	assert_string_equal(v[2].from, "10.0.0.0/8,2001:db8::/32");
	assert_true(when >= time(NULL) - 60);
	assert_true(apppass_use_get(f->state, "alice", v[0].id, &when, ip, sizeof(ip)));
	assert_string_equal(ip, "127.0.0.1");
	apppass_entries_free(v, n);

	/* Revoked: refused by the very next call. */
	assert_int_equal(apppass_file_revoke(f->apps, "alice", "phone"), 0);
	assert_int_equal(apppass_file_revoke(f->apps, "alice", "phone"), -2);
	assert_int_equal(auth(db, "alice", phone, "127.0.0.1", &out, &w), PASSDB_FAIL);
	assert_string_equal(out.reason, "bad_credentials");
	assert_fail_work(&w);
	assert_int_equal(auth(db, "alice", laptop, "127.0.0.1", &out, &w), PASSDB_OK);

	/* The whole file gone: no app passwords. */
	unlink(f->apps);
	assert_int_equal(auth(db, "alice", laptop, "127.0.0.1", &out, &w), PASSDB_FAIL);

	char *pws[] = { phone, laptop, office };
	for (size_t i = 0; i < 3; i++) {
		sodium_memzero(pws[i], strlen(pws[i]));
		free(pws[i]);
	}
	passdb_free(db);
}

static void test_app_password_expired_and_only(void **state)
{
	struct fix *f = *state;
	struct passdb *db = passdb_load(f->users, NULL);
	char *old = NULL, *cur = NULL, *bobs = NULL;
	assert_int_equal(apppass_file_add(f->apps, "alice", "old", 1, NULL, &old), 0);
	assert_int_equal(apppass_file_add(f->apps, "alice", "cur", 0, NULL, &cur), 0);
	assert_int_equal(apppass_file_add(f->apps, "bob", "only", 0, NULL, &bobs), 0);
	struct passdb_auth out;
	struct passdb_work w;
	assert_int_equal(auth(db, "alice", old, "127.0.0.1", &out, &w), PASSDB_FAIL);
	assert_string_equal(out.reason, "app_password_expired");
	assert_fail_work(&w);
	/* bob has no usable primary password but an app password. */
	assert_int_equal(auth(db, "bob", bobs, "127.0.0.1", &out, &w), PASSDB_OK);
	assert_string_equal(out.credential, "app:only");

	write_users(f, "app_passwords_only=yes");
	assert_int_equal(auth(db, "alice", "alice-primary-pw", "127.0.0.1", &out, &w), PASSDB_FAIL);
	assert_string_equal(out.reason, "app_passwords_only");
	assert_fail_work(&w);
	assert_int_equal(auth(db, "alice", "wrong", "127.0.0.1", &out, &w), PASSDB_FAIL);
	assert_string_equal(out.reason, "bad_credentials");
	assert_int_equal(auth(db, "alice", cur, "127.0.0.1", &out, &w), PASSDB_OK);

	/* allow_nets covers app passwords too. */
	write_users(f, "allow_nets=10.0.0.0/8");
	assert_int_equal(auth(db, "alice", cur, "127.0.0.1", &out, &w), PASSDB_FAIL);
	assert_string_equal(out.reason, "source_not_allowed");
	assert_fail_work(&w);
	free(old);
	free(cur);
	free(bobs);
	passdb_free(db);
}

static void test_app_password_limit_and_store(void **state)
{
	struct fix *f = *state;
	struct passdb *db = passdb_load(f->users, NULL);
	char *last = NULL;
	for (int i = 0; i < APPPASS_MAX_PER_USER; i++) {
		char name[16];
		snprintf(name, sizeof(name), "dev%d", i);
		char *pw = NULL;
		assert_int_equal(apppass_file_add(f->apps, "alice", name, 0, NULL, &pw), 0);
		free(last);
		last = pw;
	}
	char *pw = NULL;
	assert_int_equal(apppass_file_add(f->apps, "alice", "one-more", 0, NULL, &pw), -3);
	assert_null(pw);
	/* Another user is not limited by alice's count. */
	assert_int_equal(apppass_file_add(f->apps, "bob", "one", 0, NULL, &pw), 0);
	free(pw);
	/* 50 app passwords: a wrong password still costs one slow hash. */
	struct passdb_auth out;
	struct passdb_work w;
	assert_int_equal(auth(db, "alice", "wrong", "127.0.0.1", &out, &w), PASSDB_FAIL);
	assert_fail_work(&w);
	assert_int_equal(auth(db, "alice", last, "127.0.0.1", &out, &w), PASSDB_OK);
	assert_string_equal(out.credential, "app:dev49");
	assert_int_equal(w.slow, 0);
	free(last);

	/* Invalid input refused before touching the file. */
	assert_int_equal(apppass_file_add(f->apps, "alice", "bad:name", 0, NULL, &pw), -1);
	assert_int_equal(apppass_file_add(f->apps, "alice", "x", 0, "10.0.0.0/8 evil", &pw), -1);
	assert_int_equal(apppass_file_add(f->apps, "../x", "x", 0, NULL, &pw), -1);

	/* user del takes the user's app passwords with it. */
	assert_int_equal(apppass_file_delete_user(f->apps, "alice"), 0);
	struct apppass_entry *v;
	size_t n;
	assert_int_equal(apppass_file_list(f->apps, "alice", &v, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(apppass_file_list(f->apps, "bob", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].name, "one");
	apppass_entries_free(v, n);

	/* Malformed lines are skipped, not fatal. */
	FILE *fp = fopen(f->apps, "a");
	fputs("garbage line\nalice:x:1:0:blake2b$zz$zz:\n# comment\n\n", fp);
	fclose(fp);
	assert_int_equal(apppass_file_list(f->apps, NULL, &v, &n), 0);
	assert_int_equal(n, 1);
	apppass_entries_free(v, n);
	passdb_free(db);
}

static void test_generate(void **state)
{
	(void)state;
	char *a = apppass_generate(), *b = apppass_generate();
	assert_int_equal(strlen(a), 24);
	assert_string_not_equal(a, b);
	for (int i = 0; i < 24; i++) {
		if (i % 5 == 4)
			assert_int_equal(a[i], '-');
		else
			assert_true((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= '0' && a[i] <= '9'));
	}
	free(a);
	free(b);
	assert_true(apppass_name_valid("phone-2.home_x"));
	assert_false(apppass_name_valid(""));
	assert_false(apppass_name_valid("-x"));
	assert_false(apppass_name_valid("a b"));
	assert_false(apppass_name_valid("a:b"));
	char *p = apppass_path_for("/etc/rampart/users");
	assert_string_equal(p, "/etc/rampart/app_passwords");
	free(p);
	p = apppass_path_for("users");
	assert_string_equal(p, "app_passwords");
	free(p);
}

/* {SSHA*} = base64(digest(pw || salt) || salt), as slappasswd writes it. */
static char *ssha(const char *scheme, const EVP_MD *md, const char *pw, const char *salt)
{
	unsigned char buf[EVP_MAX_MD_SIZE + 64];
	unsigned int dl = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, md, NULL);
	EVP_DigestUpdate(ctx, pw, strlen(pw));
	EVP_DigestUpdate(ctx, salt, strlen(salt));
	EVP_DigestFinal_ex(ctx, buf, &dl);
	EVP_MD_CTX_free(ctx);
	memcpy(buf + dl, salt, strlen(salt));
	char enc[BASE64_ENCODED_SIZE(sizeof(buf))];
	base64_encode(buf, dl + strlen(salt), enc);
	return xasprintf("{%s}%s", scheme, enc);
}

static void test_ssha_schemes(void **state)
{
	(void)state;
	struct {
		const char *name;
		const EVP_MD *md;
	} s[] = { { "SSHA512", EVP_sha512() }, { "SSHA256", EVP_sha256() }, { "SSHA", EVP_sha1() } };
	for (size_t i = 0; i < 3; i++) {
		char *h = ssha(s[i].name, s[i].md, "migrated pw", "saltsalt");
		assert_true(password_scheme_known(h));
		assert_true(password_scheme_legacy(h));
		assert_true(password_verify(h, "migrated pw"));
		assert_false(password_verify(h, "migrated pW"));
		assert_false(password_verify(h, ""));
		free(h);
	}
	/* Fixed vectors computed independently (python hashlib) for
	 * "secret" with salt "abcd". */
	assert_true(password_verify("{SSHA}+RFhsab2AfzZ0VfEdyknXtUT06RhYmNk", "secret"));
	assert_true(password_verify("{ssha512}gpIcMUqzt0RlQondmbeEc/HmIdV69pfARsPgzg5Vtsfw0BMT4rcfl70x"
				    "xlEukHYl5CkaIgLmipghMxv+WTEta2FiY2Q=", "secret"));
	/* Truncated or non-base64 values never match. */
	assert_false(password_verify("{SSHA512}AAAA", "x"));
	assert_false(password_verify("{SSHA512}!!!!", "x"));
	assert_false(password_verify("{SSHA512}", ""));
	assert_false(password_scheme_legacy(cached_hash ? cached_hash : "{ARGON2ID}$argon2id$"));
	assert_false(password_scheme_known("{PLAIN}x"));
}

static void test_legacy_login_flagged(void **state)
{
	struct fix *f = *state;
	char *h = ssha("SSHA512", EVP_sha512(), "old-ldap-password", "0123456789ab");
	char *content = xasprintf("carol:%s\n", h);
	write_file(f->users, content);
	free(content);
	free(h);
	struct passdb *db = passdb_load(f->users, NULL);
	struct passdb_auth out;
	struct passdb_work w;
	assert_int_equal(auth(db, "carol", "old-ldap-password", "127.0.0.1", &out, &w), PASSDB_OK);
	assert_true(out.legacy_scheme);
	assert_int_equal(auth(db, "carol", "wrong", "127.0.0.1", &out, &w), PASSDB_FAIL);
	assert_fail_work(&w);
	passdb_free(db);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_primary_and_unknown, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_allow_nets, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_app_passwords, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_app_password_expired_and_only, fix_setup,
						fix_teardown),
		cmocka_unit_test_setup_teardown(test_app_password_limit_and_store, fix_setup,
						fix_teardown),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_ssha_schemes),
		cmocka_unit_test_setup_teardown(test_legacy_login_flagged, fix_setup, fix_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(cached_hash);
	return rc;
}
