/* Password hashes (argon2id/argon2i via libsodium, SHA-crypt and bcrypt
 * via libcrypt), the users file in memory, and the CLI's atomic edits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <crypt.h>
#include <dirent.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "auth/scram_cred.h"
#include "core/util.h"

struct tmp {
	char dir[64];
	char users[128];
};

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/rampart-passdb-XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	snprintf(t->users, sizeof(t->users), "%s/users", t->dir);
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	DIR *d = opendir(t->dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", t->dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(t->dir);
	free(t);
	return 0;
}

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = calloc(1, 1 << 16);
	size_t n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static char *crypt_hash(const char *scheme, const char *setting, const char *pw)
{
	struct crypt_data cd;
	memset(&cd, 0, sizeof(cd));
	const char *h = crypt_r(pw, setting, &cd);
	assert_non_null(h);
	assert_true(h[0] != '*');
	return xasprintf("{%s}%s", scheme, h);
}

static size_t count_dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* ---- usernames ---- */

static void test_username_valid(void **state)
{
	(void)state;
	static const char *good[] = { "alice", "a", "bob.smith", "carol+tag", "dave_x-y",
				      "eve@example.org", "Mixed.Case9", "a.b@c.d" };
	static const char *bad[] = { "", ".alice", "-alice", "al ice", "al:ice", "al/ice", "..",
				     "a..b", "a@b@c", "@example.org", "alice@", "alice@.org",
				     "alice@local", "al\nice", "ålice", "al%ice", "al*ice" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!passdb_username_valid(good[i]))
			fail_msg("refused '%s'", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (passdb_username_valid(bad[i]))
			fail_msg("accepted '%s'", bad[i]);
	char name[300];
	memset(name, 'a', sizeof(name));
	name[255] = '\0';
	assert_true(passdb_username_valid(name));
	name[255] = 'a';
	name[256] = '\0';
	assert_false(passdb_username_valid(name));
	assert_false(passdb_username_valid(NULL));
}

/* ---- hashes ---- */

static void test_argon2id_hash_verify(void **state)
{
	(void)state;
	char *h = password_hash("correct horse battery staple");
	assert_non_null(h);
	assert_true(strncmp(h, "{ARGON2ID}$argon2id$v=19$", 25) == 0);
	assert_true(password_verify(h, "correct horse battery staple"));
	assert_false(password_verify(h, "correct horse battery stapl"));
	assert_false(password_verify(h, "Correct horse battery staple"));
	assert_false(password_verify(h, ""));
	/* salted: the same password hashes differently */
	char *h2 = password_hash("correct horse battery staple");
	assert_string_not_equal(h, h2);
	/* the scheme name is case-insensitive, as in Dovecot */
	char *lower = xasprintf("{argon2id}%s", h + 10);
	assert_true(password_verify(lower, "correct horse battery staple"));
	/* an {ARGON2ID} entry must really be argon2id */
	char *wrong = xasprintf("{ARGON2I}%s", h + 10);
	assert_false(password_verify(wrong, "correct horse battery staple"));
	free(h), free(h2), free(lower), free(wrong);

	assert_null(password_hash(""));
	assert_null(password_hash(NULL));
	char big[1026];
	memset(big, 'x', sizeof(big) - 1);
	big[1025] = '\0';
	assert_null(password_hash(big));
	big[1024] = '\0';
	h = password_hash(big);
	assert_non_null(h);
	assert_true(password_verify(h, big));
	free(h);
}

static void test_argon2i_verify(void **state)
{
	(void)state;
	assert_true(sodium_init() >= 0);
	char enc[crypto_pwhash_STRBYTES];
	assert_int_equal(crypto_pwhash_str_alg(enc, "secret", 6, crypto_pwhash_argon2i_OPSLIMIT_INTERACTIVE,
					       crypto_pwhash_argon2i_MEMLIMIT_INTERACTIVE,
					       crypto_pwhash_ALG_ARGON2I13), 0);
	assert_true(strncmp(enc, "$argon2i$", 9) == 0);
	char *stored = xasprintf("{ARGON2I}%s", enc);
	assert_true(password_verify(stored, "secret"));
	assert_false(password_verify(stored, "Secret"));
	free(stored);
	/* Dovecot's layout: {ARGON2ID} followed by the PHC string, here with
	 * its usual m=65536,t=3,p=1 parameters */
	assert_int_equal(crypto_pwhash_str_alg(enc, "dovecot", 7, 3, 65536u * 1024,
					       crypto_pwhash_ALG_ARGON2ID13), 0);
	assert_non_null(strstr(enc, "$m=65536,t=3,p=1$"));
	stored = xasprintf("{ARGON2ID}%s", enc);
	assert_true(password_verify(stored, "dovecot"));
	free(stored);
}

static void test_crypt_schemes(void **state)
{
	(void)state;
	char *h = crypt_hash("SHA512-CRYPT", "$6$rampartsalt$", "hunter2");
	assert_true(password_verify(h, "hunter2"));
	assert_false(password_verify(h, "hunter3"));
	assert_false(password_verify(h, "hunter22"));
	free(h);
	/* the reference vector of the SHA-crypt specification */
	assert_true(password_verify("{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"
				    "O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
				    "Hello world!"));
	assert_false(password_verify("{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"
				     "O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
				     "Hello world"));
	assert_true(password_verify("{SHA256-CRYPT}$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/"
				    "GNooZaBBGWEc5",
				    "Hello world!"));
	h = crypt_hash("SHA256-CRYPT", "$5$rounds=6000$abcdefgh$", "pässwörd");
	assert_true(password_verify(h, "pässwörd"));
	assert_false(password_verify(h, "passwort"));
	free(h);

	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, setting, sizeof(setting)));
	h = crypt_hash("BLF-CRYPT", setting, "bcrypt me");
	assert_true(password_verify(h, "bcrypt me"));
	assert_false(password_verify(h, "bcrypt mE"));
	free(h);

	/* scheme and encoding must agree */
	h = crypt_hash("SHA512-CRYPT", "$5$abc$", "x");
	assert_false(password_verify(h, "x"));
	free(h);
}

static void test_refused_hashes(void **state)
{
	(void)state;
	static const char *bad[] = {
		"{PLAIN}secret", "{CLEARTEXT}secret", "secret", "{MD5}whatever", "", "{", "{}secret",
		"{ARGON2ID}", "{ARGON2ID}$argon2id$garbage", "{SHA512-CRYPT}", "{SHA512-CRYPT}secret",
		"{SHA512-CRYPT}$6$", "{BLF-CRYPT}$2x$04$abcdefghijklmnopqrstuu", "{CRYPT}abJnggxhB/yWI",
		"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (password_verify(bad[i], "secret"))
			fail_msg("accepted '%s'", bad[i]);
		assert_false(password_verify(bad[i], ""));
	}
	assert_false(password_verify(NULL, "secret"));
	assert_false(password_verify("{PLAIN}secret", NULL));
	/* a password beyond 1024 bytes is refused before hashing */
	char big[1100];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(password_verify("{SHA512-CRYPT}$6$saltstring$abc", big));
}

/* ---- the in-memory database ---- */

static void test_passdb_load_verify(void **state)
{
	struct tmp *t = *state;
	char *alice = password_hash("alice-pw");
	char *bob = crypt_hash("SHA512-CRYPT", "$6$bobsalt$", "bob-pw");
	char *dup = crypt_hash("SHA512-CRYPT", "$6$dupsalt$", "second");
	char *content = xasprintf(
		"# users of example.org\n"
		"\n"
		"alice:%s\n"
		"bob:%s:1000:1000::/home/bob::userdb_quota_rule=*:storage=1G\r\n"
		"   # indented comment\n"
		"this line has no colon\n"
		".hidden:%s\n"
		"carol:{PLAIN}cleartext\n"
		"alice:%s\n"
		"dave:",
		alice, bob, bob, dup);
	write_file(t->users, content);
	char *err = NULL;
	struct passdb *db = passdb_load(t->users, &err);
	assert_non_null(db);
	assert_null(err);

	assert_int_equal(passdb_verify(db, "alice", "alice-pw"), PASSDB_OK);
	assert_int_equal(passdb_verify(db, "alice", "second"), PASSDB_FAIL); /* first line wins */
	assert_int_equal(passdb_verify(db, "alice", "alice-pw "), PASSDB_FAIL);
	assert_int_equal(passdb_verify(db, "bob", "bob-pw"), PASSDB_OK);
	assert_int_equal(passdb_verify(db, "bob", "alice-pw"), PASSDB_FAIL);
	assert_int_equal(passdb_verify(db, "Bob", "bob-pw"), PASSDB_FAIL);
	/* cleartext is never accepted, even when it matches */
	assert_int_equal(passdb_verify(db, "carol", "cleartext"), PASSDB_FAIL);
	assert_int_equal(passdb_verify(db, "dave", ""), PASSDB_FAIL);
	assert_int_equal(passdb_verify(db, ".hidden", "bob-pw"), PASSDB_FAIL);
	assert_int_equal(passdb_verify(db, "nobody", "x"), PASSDB_FAIL);
	assert_int_equal(passdb_verify(db, "", "x"), PASSDB_FAIL);
	assert_int_equal(passdb_verify(db, "alice", ""), PASSDB_FAIL);
	assert_int_equal(passdb_verify(NULL, "alice", "alice-pw"), PASSDB_ERROR);

	assert_true(passdb_user_exists(db, "alice"));
	assert_true(passdb_user_exists(db, "bob"));
	assert_true(passdb_user_exists(db, "carol"));
	assert_true(passdb_user_exists(db, "dave"));
	assert_false(passdb_user_exists(db, ".hidden"));
	assert_false(passdb_user_exists(db, "this line has no colon"));
	assert_false(passdb_user_exists(db, "nobody"));
	assert_false(passdb_user_exists(db, NULL));
	passdb_free(db);
	free(alice), free(bob), free(dup), free(content);

	assert_null(passdb_load("/nonexistent/rampart/users", &err));
	assert_non_null(err);
	assert_non_null(strstr(err, "/nonexistent/rampart/users"));
	free(err);
	err = NULL;
	assert_null(passdb_load(t->dir, &err)); /* a directory is not a users file */
	assert_non_null(err);
	free(err);
}

static double elapsed_ms(struct timespec a, struct timespec b)
{
	return (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

static void test_unknown_user_costs_a_hash(void **state)
{
	struct tmp *t = *state;
	char *h = password_hash("pw");
	char *content = xasprintf("known:%s\n", h);
	write_file(t->users, content);
	struct passdb *db = passdb_load(t->users, NULL);
	assert_non_null(db);
	/* warm the dummy hash (computed once) */
	assert_int_equal(passdb_verify(db, "unknown", "pw"), PASSDB_FAIL);
	struct timespec a, b, c;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(passdb_verify(db, "known", "wrong"), PASSDB_FAIL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_int_equal(passdb_verify(db, "unknown", "wrong"), PASSDB_FAIL);
	clock_gettime(CLOCK_MONOTONIC, &c);
	double known = elapsed_ms(a, b), unknown = elapsed_ms(b, c);
	/* Without the dummy hash an unknown user answers in microseconds;
	 * with it, in the same order of time as a known one. */
	if (unknown < known / 5)
		fail_msg("unknown user took %.2f ms, known %.2f ms", unknown, known);
	passdb_free(db);
	free(h), free(content);
}

static void test_refresh(void **state)
{
	struct tmp *t = *state;
	char *h1 = crypt_hash("SHA512-CRYPT", "$6$one$", "one");
	char *h2 = crypt_hash("SHA512-CRYPT", "$6$two$", "two");
	assert_int_equal(passdb_file_set(t->users, "alice", h1), 0);
	struct passdb *db = passdb_load(t->users, NULL);
	assert_non_null(db);
	assert_false(passdb_user_exists(db, "bob"));
	assert_int_equal(passdb_file_set(t->users, "bob", h2), 0);
	assert_false(passdb_user_exists(db, "bob")); /* not until refreshed */
	passdb_refresh(db);
	assert_true(passdb_user_exists(db, "bob"));
	assert_int_equal(passdb_verify(db, "bob", "two"), PASSDB_OK);
	/* a file that vanished keeps the loaded users */
	assert_int_equal(unlink(t->users), 0);
	passdb_refresh(db);
	assert_true(passdb_user_exists(db, "alice"));
	assert_int_equal(passdb_verify(db, "alice", "one"), PASSDB_OK);
	/* and comes back */
	assert_int_equal(passdb_file_set(t->users, "carol", h1), 0);
	passdb_refresh(db);
	assert_true(passdb_user_exists(db, "carol"));
	assert_false(passdb_user_exists(db, "alice"));
	passdb_free(db);
	free(h1), free(h2);
}

struct reader_arg {
	struct passdb *db;
	volatile int stop;
	int misses;
};

static void *reader_thread(void *p)
{
	struct reader_arg *a = p;
	while (!a->stop)
		if (!passdb_user_exists(a->db, "stable"))
			a->misses++;
	return NULL;
}

static void test_refresh_concurrent(void **state)
{
	struct tmp *t = *state;
	char *h = crypt_hash("SHA512-CRYPT", "$6$salt$", "pw");
	assert_int_equal(passdb_file_set(t->users, "stable", h), 0);
	struct passdb *db = passdb_load(t->users, NULL);
	assert_non_null(db);
	struct reader_arg arg = { .db = db };
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reader_thread, &arg), 0);
	for (int i = 0; i < 100; i++) {
		char name[32];
		snprintf(name, sizeof(name), "u%d", i);
		assert_int_equal(passdb_file_set(t->users, name, h), 0);
		passdb_refresh(db);
		assert_true(passdb_user_exists(db, name));
	}
	arg.stop = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(arg.misses, 0);
	assert_int_equal(passdb_verify(db, "u42", "pw"), PASSDB_OK);
	passdb_free(db);
	free(h);
}

/* ---- editing the file ---- */

static void test_file_set_delete_list(void **state)
{
	struct tmp *t = *state;
	char *h1 = crypt_hash("SHA512-CRYPT", "$6$one$", "one");
	char *h2 = crypt_hash("SHA512-CRYPT", "$6$two$", "two");
	char **users;
	size_t n;

	/* a missing file is created */
	assert_int_equal(passdb_file_list(t->users, &users, &n), -1);
	assert_int_equal(passdb_file_set(t->users, "alice", h1), 0);
	struct stat st;
	assert_int_equal(stat(t->users, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	char *c = read_file(t->users);
	char *want = xasprintf("alice:%s\n", h1);
	assert_string_equal(c, want);
	free(c), free(want);

	/* comments, other users, CRLF and extra fields survive edits */
	char *content = xasprintf("# managed by rampart\n"
				  "alice:%s\n"
				  "\n"
				  "bob:%s:1000:1000::/home/bob::\n"
				  "   # note about carol\n"
				  "carol:%s\r\n"
				  "no colon line\n"
				  "dave:%s",
				  h1, h1, h1, h1);
	write_file(t->users, content);
	chmod(t->users, 0600);
	assert_int_equal(passdb_file_set(t->users, "bob", h2), 0);
	c = read_file(t->users);
	want = xasprintf("# managed by rampart\n"
			 "alice:%s\n"
			 "\n"
			 "bob:%s:1000:1000::/home/bob::\n"
			 "   # note about carol\n"
			 "carol:%s\r\n"
			 "no colon line\n"
			 "dave:%s\n",
			 h1, h2, h1, h1);
	assert_string_equal(c, want);
	free(c), free(want);
	assert_int_equal(stat(t->users, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);

	/* adding appends after a last line without '\n' */
	assert_int_equal(passdb_file_set(t->users, "erin@example.org", h2), 0);
	assert_int_equal(passdb_file_list(t->users, &users, &n), 0);
	assert_int_equal(n, 5);
	static const char *order[] = { "alice", "bob", "carol", "dave", "erin@example.org" };
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(users[i], order[i]);
		free(users[i]);
	}
	free(users);

	/* delete */
	assert_int_equal(passdb_file_delete(t->users, "carol"), 0);
	assert_int_equal(passdb_file_delete(t->users, "carol"), -2);
	assert_int_equal(passdb_file_delete(t->users, "zed"), -2);
	c = read_file(t->users);
	assert_null(strstr(c, "carol:"));
	assert_non_null(strstr(c, "   # note about carol\n"));
	assert_non_null(strstr(c, "# managed by rampart\n"));
	free(c);

	/* the CLI's view and the server's agree */
	struct passdb *db = passdb_load(t->users, NULL);
	assert_int_equal(passdb_verify(db, "bob", "two"), PASSDB_OK);
	assert_int_equal(passdb_verify(db, "erin@example.org", "two"), PASSDB_OK);
	assert_false(passdb_user_exists(db, "carol"));
	passdb_free(db);

	/* no temporary file is left behind */
	assert_int_equal(count_dir_entries(t->dir), 1);
	free(content), free(h1), free(h2);
}

static void test_file_bad_input(void **state)
{
	struct tmp *t = *state;
	char *h = crypt_hash("SHA512-CRYPT", "$6$one$", "one");
	assert_int_equal(passdb_file_set(t->users, "alice", h), 0);
	char *before = read_file(t->users);
	assert_int_equal(passdb_file_set(t->users, "bad name", h), -1);
	assert_int_equal(passdb_file_set(t->users, "x:y", h), -1);
	assert_int_equal(passdb_file_set(t->users, "alice", "{ARGON2ID}a:b"), -1);
	assert_int_equal(passdb_file_set(t->users, "alice", "{ARGON2ID}a\nmallory:{PLAIN}x"), -1);
	assert_int_equal(passdb_file_set(t->users, "alice", "nobrace"), -1);
	assert_int_equal(passdb_file_set(t->users, "alice", NULL), -1);
	assert_int_equal(passdb_file_delete(t->users, "../etc"), -1);
	char *after = read_file(t->users);
	assert_string_equal(before, after);
	/* a directory that does not exist cannot be written */
	assert_int_equal(passdb_file_set("/nonexistent-rampart-dir/users", "alice", h), -1);
	assert_int_equal(count_dir_entries(t->dir), 1);
	free(before), free(after), free(h);
}

static void test_file_symlink_kept(void **state)
{
	struct tmp *t = *state;
	char real[160], link[160];
	snprintf(real, sizeof(real), "%s/users.real", t->dir);
	snprintf(link, sizeof(link), "%s/users", t->dir);
	write_file(real, "# real file\n");
	assert_int_equal(symlink("users.real", link), 0);
	char *h = crypt_hash("SHA512-CRYPT", "$6$one$", "one");
	assert_int_equal(passdb_file_set(link, "alice", h), 0);
	struct stat st;
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	char *c = read_file(real);
	assert_non_null(strstr(c, "# real file\nalice:{SHA512-CRYPT}"));
	free(c), free(h);
}

/* Extra fields (the 8th passwd-file field): read back, set, replaced,
 * removed, other fields and middle fields kept, lines padded. */
static void test_fields(void **state)
{
	struct tmp *t = *state;
	write_file(t->users, "alice:{SHA512-CRYPT}$6$x$y:1000:1000::/home/a::userdb_mail=maildir:~/M "
			     "allow_nets=10.0.0.0/8\n"
			     "bob:{SHA512-CRYPT}$6$x$z\n");
	char *err = NULL;
	struct passdb *db = passdb_load(t->users, &err);
	assert_non_null(db);
	struct passdb_user u;
	assert_true(passdb_user_get(db, "alice", &u));
	assert_string_equal(u.hash, "{SHA512-CRYPT}$6$x$y");
	char *v = passdb_fields_get(u.fields, "allow_nets");
	assert_string_equal(v, "10.0.0.0/8");
	free(v);
	v = passdb_fields_get(u.fields, "userdb_mail");
	assert_string_equal(v, "maildir:~/M");
	free(v);
	assert_null(passdb_fields_get(u.fields, "allow"));
	passdb_user_clear(&u);
	assert_true(passdb_user_get(db, "bob", &u));
	assert_string_equal(u.fields, "");
	passdb_user_clear(&u);
	assert_false(passdb_user_get(db, "carol", &u));
	passdb_free(db);

	assert_int_equal(passdb_file_set_field(t->users, "bob", "app_passwords_only", "yes"), 0);
	assert_int_equal(passdb_file_set_field(t->users, "alice", "allow_nets", "192.0.2.0/24"), 0);
	assert_int_equal(passdb_file_set_field(t->users, "alice", "userdb_mail", NULL), 0);
	assert_int_equal(passdb_file_set_field(t->users, "carol", "x", "1"), -2);
	assert_int_equal(passdb_file_set_field(t->users, "bob", "bad key", "1"), -1);
	assert_int_equal(passdb_file_set_field(t->users, "bob", "k", "a b"), -1);
	char *c = read_file(t->users);
	assert_string_equal(c, "alice:{SHA512-CRYPT}$6$x$y:1000:1000::/home/a::allow_nets=192.0.2.0/24\n"
			       "bob:{SHA512-CRYPT}$6$x$z::::::app_passwords_only=yes\n");
	free(c);
	/* a new password keeps the fields */
	assert_int_equal(passdb_file_set(t->users, "bob", "{SHA512-CRYPT}$6$x$w"), 0);
	c = read_file(t->users);
	assert_non_null(strstr(c, "bob:{SHA512-CRYPT}$6$x$w::::::app_passwords_only=yes\n"));
	free(c);
	/* password and SCRAM keys in one rewrite; new users are added */
	assert_int_equal(passdb_file_set_password(t->users, "bob", "{SHA512-CRYPT}$6$x$v", "S1"), 0);
	assert_int_equal(passdb_file_set_password(t->users, "carol", "{SHA512-CRYPT}$6$x$u", "S2"), 0);
	assert_int_equal(passdb_file_set_password(t->users, "bob", "{SHA512-CRYPT}$6$x$t", "S3"), 0);
	c = read_file(t->users);
	assert_non_null(strstr(c, "bob:{SHA512-CRYPT}$6$x$t::::::app_passwords_only=yes scram-sha-256=S3\n"));
	assert_non_null(strstr(c, "carol:{SHA512-CRYPT}$6$x$u::::::scram-sha-256=S2\n"));
	free(c);
}

/* RFC 7677 3's example: user "user", password "pencil", this salt and 4096
 * iterations; the keys were computed with python hashlib/hmac. */
static void test_scram_cred(void **state)
{
	(void)state;
	static const unsigned char salt[] = { 0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
					      0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81 };
	struct scram_cred c, p;
	assert_int_equal(scram_cred_derive_salted("pencil", salt, sizeof(salt), 4096, &c), 0);
	char *f = scram_cred_format(&c);
	assert_string_equal(f, "4096,W22ZaJ0SNY7soEsUEjb6gQ==,"
			       "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
			       "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
	assert_int_equal(scram_cred_parse(f, &p), 0);
	assert_memory_equal(&c, &p, sizeof(c));
	free(f);
	assert_int_equal(scram_cred_parse("100,W22ZaJ0SNY7soEsUEjb6gQ==,"
					  "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
					  "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=", &p), -1);
	assert_int_equal(scram_cred_parse("4096,W22Z,WG5d,wfPL", &p), -1);
	assert_int_equal(scram_cred_parse("4096,W22ZaJ0SNY7soEsUEjb6gQ==", &p), -1);
	assert_int_equal(scram_cred_parse("", &p), -1);
	assert_int_equal(scram_cred_derive("pencil", 0, &c), 0);
	assert_int_equal(c.iter, SCRAM_ITER_DEFAULT);
	assert_int_equal(c.salt_len, SCRAM_SALT_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_username_valid),
		cmocka_unit_test(test_argon2id_hash_verify),
		cmocka_unit_test(test_argon2i_verify),
		cmocka_unit_test(test_crypt_schemes),
		cmocka_unit_test(test_refused_hashes),
		cmocka_unit_test_setup_teardown(test_passdb_load_verify, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_user_costs_a_hash, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_refresh, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_refresh_concurrent, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_file_set_delete_list, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_file_bad_input, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_file_symlink_kept, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_fields, tmp_setup, tmp_teardown),
		cmocka_unit_test(test_scram_cred),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
