/* The hash upgrade on login (auth/rehash.h): which hashes need it, the
 * upgrade of one entry (verify against the file, re-hash, SCRAM keys,
 * only if the entry is unchanged), the helper's messages, and the helper
 * process itself over its socketpair. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <crypt.h>
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "auth/passdb_internal.h"
#include "auth/rehash.h"
#include "auth/rehash_internal.h"
#include "auth/scram_cred.h"
#include "core/config.h"
#include "core/strbuf.h"
#include "core/util.h"

struct tmp {
	char dir[64];
	char users[128];
};

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/rampart-rehash-XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	snprintf(t->users, sizeof(t->users), "%s/users", t->dir);
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	unlink(t->users);
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
	char *buf;
	size_t len;
	assert_int_equal(passdb_file_read(path, &buf, &len, NULL), 0);
	return buf;
}

static char *sha512_crypt(const char *pw)
{
	struct crypt_data cd;
	memset(&cd, 0, sizeof(cd));
	const char *h = crypt_r(pw, "$6$saltsalt$", &cd);
	assert_non_null(h);
	return xasprintf("{SHA512-CRYPT}%s", h);
}

/* The user's entry as the file has it now. */
static void entry_of(const char *path, const char *user, struct passdb_user *u)
{
	char *buf = read_file(path);
	assert_true(passdb_file_entry(buf, strlen(buf), user, u));
	free(buf);
}

static void test_needs_upgrade(void **state)
{
	(void)state;
	char *sha = sha512_crypt("pw");
	assert_true(password_needs_upgrade(sha));
	assert_true(password_needs_upgrade("{SSHA}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	char *cur = password_hash("pw");
	assert_false(password_needs_upgrade(cur));
	/* argon2id of a lower cost than password_hash's */
	char weak[crypto_pwhash_STRBYTES];
	assert_int_equal(crypto_pwhash_str_alg(weak, "pw", 2, crypto_pwhash_argon2id_OPSLIMIT_MIN,
					       8u << 20, crypto_pwhash_ALG_ARGON2ID13), 0);
	char *weak_s = xasprintf("{ARGON2ID}%s", weak);
	assert_true(password_needs_upgrade(weak_s));
	/* Dovecot's default (t=3) costs more: no downgrade */
	assert_false(password_needs_upgrade("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$"
					    "et73Se8OJhSY4r47BmhV4w$Oz/IX0NK6bdOsmxXXjRmOQaFqfjnqLHHY"
					    "tVmNxMhjME"));
	/* nothing we could verify is ever "upgraded" */
	assert_false(password_needs_upgrade("{PLAIN}pw"));
	assert_false(password_needs_upgrade("nothing"));
	assert_string_equal(password_scheme_name(sha), "SHA512-CRYPT");
	assert_string_equal(password_scheme_name("{ssha512}x"), "SSHA512");
	assert_string_equal(password_scheme_name("{PLAIN}x"), "UNKNOWN");
	/* a current hash without SCRAM keys still wants them */
	assert_true(passdb_entry_needs_upgrade(cur, ""));
	assert_false(passdb_entry_needs_upgrade(cur, "scram-sha-256=x"));
	free(sha);
	free(cur);
	free(weak_s);
}

static void test_upgrade_entry(void **state)
{
	struct tmp *t = *state;
	char *sha = sha512_crypt("secret one");
	char *content = xasprintf("# users\nbob:%s\nalice:%s:1000:1000::/home/a::allow_nets=127.0.0.0/8\n"
				  "carol:%s\n", sha, sha, sha);
	write_file(t->users, content);
	struct rehash_result r;

	/* a wrong password changes nothing */
	rehash_user(t->users, "alice", "wrong", &r);
	assert_int_equal(r.status, REHASH_MISMATCH);
	char *now = read_file(t->users);
	assert_string_equal(now, content);
	free(now);

	/* the right one upgrades alice, and only alice */
	rehash_user(t->users, "alice", "secret one", &r);
	assert_int_equal(r.status, REHASH_UPGRADED);
	assert_string_equal(r.from, "SHA512-CRYPT");
	assert_true(r.hashed);
	assert_true(r.scram_added);
	struct passdb_user u;
	entry_of(t->users, "alice", &u);
	assert_string_equal(password_scheme_name(u.hash), "ARGON2ID");
	assert_false(password_needs_upgrade(u.hash));
	assert_true(password_verify(u.hash, "secret one"));
	char *nets = passdb_fields_get(u.fields, "allow_nets");
	assert_string_equal(nets, "127.0.0.0/8");
	free(nets);
	char *field = passdb_fields_get(u.fields, SCRAM_SHA256_FIELD);
	struct scram_cred sc, again;
	assert_int_equal(scram_cred_parse(field, &sc), 0);
	assert_int_equal(scram_cred_derive_salted("secret one", sc.salt, sc.salt_len, sc.iter, &again), 0);
	assert_memory_equal(sc.stored_key, again.stored_key, sizeof(sc.stored_key));
	free(field);
	passdb_user_clear(&u);
	now = read_file(t->users);
	char *bob_line = xasprintf("\nbob:%s\n", sha), *carol_line = xasprintf("\ncarol:%s\n", sha);
	assert_non_null(strstr(now, "# users\n"));
	assert_non_null(strstr(now, bob_line));
	assert_non_null(strstr(now, carol_line));
	free(now);

	/* done once: the next login has nothing to do */
	rehash_user(t->users, "alice", "secret one", &r);
	assert_int_equal(r.status, REHASH_CURRENT);
	/* unknown user */
	rehash_user(t->users, "dave", "secret one", &r);
	assert_int_equal(r.status, REHASH_CHANGED);
	free(bob_line);
	free(carol_line);
	free(content);
	free(sha);
}

/* An argon2id entry without SCRAM keys gets them, its hash stays. */
static void test_upgrade_scram_only(void **state)
{
	struct tmp *t = *state;
	char *cur = password_hash("pw two");
	char *content = xasprintf("erin:%s\n", cur);
	write_file(t->users, content);
	struct rehash_result r;
	rehash_user(t->users, "erin", "pw two", &r);
	assert_int_equal(r.status, REHASH_UPGRADED);
	assert_false(r.hashed);
	assert_true(r.scram_added);
	struct passdb_user u;
	entry_of(t->users, "erin", &u);
	assert_string_equal(u.hash, cur);
	char *field = passdb_fields_get(u.fields, SCRAM_SHA256_FIELD);
	assert_non_null(field);
	free(field);
	passdb_user_clear(&u);
	free(content);
	free(cur);
}

/* What a concurrent `rampart user passwd` looks like to the upgrade: the
 * hash it verified is gone when it comes to write, and nothing is written. */
static void test_update_if_changed(void **state)
{
	struct tmp *t = *state;
	char *sha = sha512_crypt("old");
	char *content = xasprintf("frank:%s\n", sha);
	write_file(t->users, content);
	struct passdb_field f = { SCRAM_SHA256_FIELD, "x" };
	assert_int_equal(passdb_file_update_if(t->users, "frank", "{SHA512-CRYPT}$6$other$x",
					       "{ARGON2ID}$new", &f, 1), -3);
	char *now = read_file(t->users);
	assert_string_equal(now, content);
	free(now);
	assert_int_equal(passdb_file_update_if(t->users, "gone", sha, "{ARGON2ID}$new", &f, 1), -2);
	assert_int_equal(passdb_file_update_if(t->users, "frank", sha, "{ARGON2ID}$new", &f, 1), 0);
	now = read_file(t->users);
	assert_string_equal(now, "frank:{ARGON2ID}$new::::::scram-sha-256=x\n");
	free(now);
	free(content);
	free(sha);
}

static void test_messages(void **state)
{
	(void)state;
	char buf[REHASH_MSG_MAX + 1];
	const char *u, *p;
	size_t n = rehash_msg_encode(buf, sizeof(buf), "alice@example.org", "pass word");
	assert_int_equal(n, strlen("alice@example.org") + 1 + strlen("pass word"));
	assert_int_equal(rehash_msg_decode(buf, n, &u, &p), 0);
	assert_string_equal(u, "alice@example.org");
	assert_string_equal(p, "pass word");
	/* what the helper refuses */
	assert_int_equal(rehash_msg_encode(buf, sizeof(buf), "../x", "pw"), 0);
	assert_int_equal(rehash_msg_encode(buf, sizeof(buf), "alice", ""), 0);
	char big[REHASH_PASSWORD_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(rehash_msg_encode(buf, sizeof(buf), "alice", big), 0);
	memcpy(buf, "alice", 5);
	assert_int_equal(rehash_msg_decode(buf, 5, &u, &p), -1);          /* no separator */
	memcpy(buf, "alice\0", 6);
	assert_int_equal(rehash_msg_decode(buf, 6, &u, &p), -1);          /* no password */
	memcpy(buf, "alice\0p\0q", 9);
	assert_int_equal(rehash_msg_decode(buf, 9, &u, &p), -1);          /* two NULs */
	memcpy(buf, "\0pw", 3);
	assert_int_equal(rehash_msg_decode(buf, 3, &u, &p), -1);          /* no user */
	assert_int_equal(rehash_msg_decode(buf, 0, &u, &p), -1);

	struct rehash_result r = { .status = REHASH_UPGRADED, .hashed = true, .scram_added = true },
			     back;
	snprintf(r.from, sizeof(r.from), "BLF-CRYPT");
	char reply[128];
	n = rehash_reply_encode(&r, reply, sizeof(reply));
	assert_string_equal(reply, "upgraded BLF-CRYPT 1 1 0");
	assert_int_equal(rehash_reply_decode(reply, n, &back), 0);
	assert_int_equal(back.status, REHASH_UPGRADED);
	assert_string_equal(back.from, "BLF-CRYPT");
	assert_true(back.hashed && back.scram_added);
	assert_int_equal(rehash_reply_decode("bogus - 0 0 0", 13, &back), -1);
	assert_int_equal(rehash_reply_decode("error", 5, &back), -1);
}

/* One exchange with the helper: the reply, or -1 on end-of-file. */
static int helper_ask(int fd, const void *msg, size_t len, struct rehash_result *r)
{
	assert_true(send(fd, msg, len, 0) == (ssize_t)len);
	struct pollfd p = { fd, POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 60000), 1);
	char reply[128];
	ssize_t n = recv(fd, reply, sizeof(reply), 0);
	if (n <= 0)
		return -1;
	assert_int_equal(rehash_reply_decode(reply, (size_t)n, r), 0);
	return 0;
}

/* The helper process: upgrades with the right password only, refuses an
 * oversized record whole, and exits when its socket closes. */
static void test_helper_process(void **state)
{
	struct tmp *t = *state;
	char *sha = sha512_crypt("helper pw");
	char *content = xasprintf("gina:%s\n", sha);
	write_file(t->users, content);
	int fd;
	pid_t pid = rehash_helper_spawn(t->users, &fd);
	assert_true(pid > 0);
	char msg[REHASH_MSG_MAX * 2];
	struct rehash_result r;
	size_t n = rehash_msg_encode(msg, sizeof(msg), "gina", "not it");
	assert_int_equal(helper_ask(fd, msg, n, &r), 0);
	assert_int_equal(r.status, REHASH_MISMATCH);
	/* longer than the helper takes: refused, not cut and used */
	memset(msg, 'a', sizeof(msg));
	memcpy(msg, "gina\0", 5);
	assert_int_equal(helper_ask(fd, msg, sizeof(msg), &r), 0);
	assert_int_equal(r.status, REHASH_ERROR);
	assert_int_equal(r.errno_, EINVAL);
	char *now = read_file(t->users);
	assert_string_equal(now, content);
	free(now);
	n = rehash_msg_encode(msg, sizeof(msg), "gina", "helper pw");
	assert_int_equal(helper_ask(fd, msg, n, &r), 0);
	assert_int_equal(r.status, REHASH_UPGRADED);
	assert_string_equal(r.from, "SHA512-CRYPT");
	struct passdb_user u;
	entry_of(t->users, "gina", &u);
	assert_true(password_verify(u.hash, "helper pw"));
	assert_false(password_needs_upgrade(u.hash));
	passdb_user_clear(&u);
	/* the server goes: the helper follows */
	close(fd);
	int status = -1;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	free(content);
	free(sha);
}

/* Waits (bounded) until the queue has answered `want` requests. */
static void wait_done(struct rehash *rh, unsigned long want)
{
	struct rehash_counts c;
	for (int i = 0; i < 6000; i++) {
		rehash_counts_get(rh, &c);
		if (c.done >= want)
			return;
		struct timespec ts = { 0, 10 * 1000000 };
		nanosleep(&ts, NULL);
	}
	fail_msg("the queue answered %lu of %lu requests in 60 s", c.done, want);
}

/* A server that never was root: a password login through
 * passdb_authenticate queues the upgrade, the queue's thread does it
 * in-process, and the loaded table sees the new hash and SCRAM keys. */
static void test_queue_in_process(void **state)
{
	struct tmp *t = *state;
	char *sha = sha512_crypt("queue pw");
	char *content = xasprintf("hana:%s\n", sha);
	write_file(t->users, content);
	struct passdb *db = passdb_load(t->users, NULL);
	assert_non_null(db);
	struct config cfg = { .users_file = t->users, .pw_upgrade_on_login = true };
	struct rehash *rh = rehash_start(&cfg, db);
	assert_non_null(rh);
	struct passdb_auth pa;
	assert_int_equal(passdb_authenticate(db, "hana", "wrong", "127.0.0.1", &pa), PASSDB_FAIL);
	assert_int_equal(passdb_authenticate(db, "hana", "queue pw", "127.0.0.1", &pa), PASSDB_OK);
	wait_done(rh, 1);
	struct rehash_counts c;
	rehash_counts_get(rh, &c);
	assert_int_equal(c.queued, 1); /* the wrong password queued nothing */
	struct passdb_user u;
	assert_true(passdb_user_get(db, "hana", &u)); /* reloaded by the queue */
	assert_string_equal(password_scheme_name(u.hash), "ARGON2ID");
	char *field = passdb_fields_get(u.fields, SCRAM_SHA256_FIELD);
	assert_non_null(field);
	free(field);
	passdb_user_clear(&u);
	/* current now: the next login queues nothing */
	assert_int_equal(passdb_authenticate(db, "hana", "queue pw", "127.0.0.1", &pa), PASSDB_OK);
	rehash_counts_get(rh, &c);
	assert_int_equal(c.queued, 1);
	rehash_stop(rh);
	passdb_free(db);
	free(content);
	free(sha);
}

/* The queue is bounded and drops, never blocks: 100 requests arrive while
 * each takes an argon2id run, so at most a few are answered before the
 * rest are in; a user already queued is not queued twice; stopping with a
 * full queue returns (the rest is dropped). Counts work, not time: the
 * margin is 100 requests against 16 places. */
static void test_queue_bounded(void **state)
{
	struct tmp *t = *state;
	char *cur = password_hash("pw");
	struct strbuf b = STRBUF_INIT;
	for (int i = 0; i < 100; i++)
		strbuf_addf(&b, "q%d:%s\n", i, cur);
	write_file(t->users, strbuf_cstr(&b));
	struct passdb *db = passdb_load(t->users, NULL);
	struct config cfg = { .users_file = t->users, .pw_upgrade_on_login = true };
	struct rehash *rh = rehash_start(&cfg, db);
	assert_non_null(rh);
	rehash_request(rh, "q0", "not the password");
	rehash_request(rh, "q0", "not the password");
	for (int i = 1; i < 100; i++) {
		char user[8];
		snprintf(user, sizeof(user), "q%d", i);
		rehash_request(rh, user, "not the password");
	}
	struct rehash_counts c;
	rehash_counts_get(rh, &c);
	assert_int_equal(c.queued + c.full + c.again, 101);
	assert_int_equal(c.again, 1);
	assert_true(c.full >= 50);
	rehash_stop(rh);
	/* wrong passwords: the file is as it was */
	char *now = read_file(t->users);
	assert_string_equal(now, strbuf_cstr(&b));
	free(now);
	strbuf_free(&b);
	passdb_free(db);
	free(cur);
}

/* upgrade_on_login = no: nothing starts, nothing is hooked. */
static void test_queue_off(void **state)
{
	struct tmp *t = *state;
	write_file(t->users, "");
	struct passdb *db = passdb_load(t->users, NULL);
	struct config cfg = { .users_file = t->users, .pw_upgrade_on_login = false };
	assert_null(rehash_start(&cfg, db));
	rehash_stop(NULL);
	passdb_free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_needs_upgrade),
		cmocka_unit_test_setup_teardown(test_upgrade_entry, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_scram_only, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_update_if_changed, tmp_setup, tmp_teardown),
		cmocka_unit_test(test_messages),
		cmocka_unit_test_setup_teardown(test_helper_process, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_queue_in_process, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_queue_bounded, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_queue_off, tmp_setup, tmp_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
