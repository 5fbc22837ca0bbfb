/* The new-password policy: the Have I Been Pwned binary search over a
 * sorted file made here (every listed digest found, absent ones not,
 * O(log n) reads counted), and libpwquality's refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/breach.h"
#include "auth/pwpolicy.h"
#include "core/util.h"

#define N_RANDOM 20000

static char path[64];

static void sha1_hex(const char *pw, char out[41])
{
	unsigned char d[20];
	unsigned int dl;
	EVP_Digest(pw, strlen(pw), d, &dl, EVP_sha1(), NULL);
	for (int i = 0; i < 20; i++)
		snprintf(out + 2 * i, 3, "%02X", d[i]);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The listed passwords, then N_RANDOM random digests, sorted, CRLF like
 * the real download. */
static const char *const listed[] = { "password", "Winter2024!", "123456", "hunter2",
				      "correct horse battery staple minus one" };

static void make_file(const char *eol, bool include_last_newline)
{
	size_t n = N_RANDOM + ARRAY_SIZE(listed);
	char **lines = calloc(n, sizeof(*lines));
	for (size_t i = 0; i < ARRAY_SIZE(listed); i++) {
		char hex[41];
		sha1_hex(listed[i], hex);
		lines[i] = xasprintf("%s:%zu", hex, i + 7);
	}
	for (size_t i = ARRAY_SIZE(listed); i < n; i++) {
		unsigned char r[20];
		randombytes_buf(r, sizeof(r));
		char hex[41];
		for (int j = 0; j < 20; j++)
			snprintf(hex + 2 * j, 3, "%02X", r[j]);
		lines[i] = xasprintf("%s:%u", hex, randombytes_uniform(100000) + 1);
	}
	qsort(lines, n, sizeof(*lines), cmp_str);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (size_t i = 0; i < n; i++) {
		fputs(lines[i], f);
		if (i + 1 < n || include_last_newline)
			fputs(eol, f);
		free(lines[i]);
	}
	fclose(f);
	free(lines);
}

static void test_breach_lookup(void **state)
{
	(void)state;
	const char *eols[] = { "\r\n", "\n" };
	for (int e = 0; e < 2; e++) {
		make_file(eols[e], e == 0);
		for (size_t i = 0; i < ARRAY_SIZE(listed); i++) {
			uint64_t count = 0;
			unsigned long before = breach_reads();
			assert_int_equal(breach_file_lookup(path, listed[i], &count), 1);
			assert_int_equal(count, i + 7);
			/* log2(20000 lines * 46 bytes) ~ 20 probes of 2 reads. */
			assert_true(breach_reads() - before <= 2 * 24);
		}
		static const char *const absent[] = { "not listed at all", "", "x", "Winter2025!" };
		for (size_t i = 0; i < ARRAY_SIZE(absent); i++) {
			unsigned long before = breach_reads();
			assert_int_equal(breach_file_lookup(path, absent[i], NULL), 0);
			assert_true(breach_reads() - before <= 2 * 24);
		}
	}
	/* The first and last line of a file are found too. */
	char hex_a[41], hex_b[41];
	sha1_hex("password", hex_a);
	sha1_hex("123456", hex_b);
	FILE *f = fopen(path, "w");
	fprintf(f, "%s:1\n%s:2\n", strcmp(hex_a, hex_b) < 0 ? hex_a : hex_b,
		strcmp(hex_a, hex_b) < 0 ? hex_b : hex_a);
	fclose(f);
	assert_int_equal(breach_file_lookup(path, "password", NULL), 1);
	assert_int_equal(breach_file_lookup(path, "123456", NULL), 1);
	assert_int_equal(breach_file_lookup(path, "hunter2", NULL), 0);
	/* Empty file: nothing listed. A file of another format: an error. */
	f = fopen(path, "w");
	fclose(f);
	assert_int_equal(breach_file_lookup(path, "password", NULL), 0);
	f = fopen(path, "w");
	for (int i = 0; i < 100; i++)
		fputs("this is not a hash list\n", f);
	fclose(f);
	assert_int_equal(breach_file_lookup(path, "password", NULL), -1);
	assert_int_equal(breach_file_lookup("/nonexistent/pwned.txt", "password", NULL), -1);
	unlink(path);
}

static void test_policy(void **state)
{
	(void)state;
	struct pwpolicy p = { .min_length = 12, .pwquality = true };
	char *why = NULL;
	/* Too short, whatever else. */
	assert_int_equal(pwpolicy_check(&p, "alice", "Xq7#vR2!", &why), -1);
	assert_non_null(strstr(why, "shorter than 12"));
	free(why);
	/* Characters, not bytes: 11 code points in 22 bytes is short. */
	assert_int_equal(pwpolicy_check(&p, "alice", "äöüäöüäöüäö", &why), -1);
	free(why);
	/* A dictionary word with decoration: cracklib refuses it. */
	assert_int_equal(pwpolicy_check(&p, "alice", "Administrator1", &why), -1);
	assert_non_null(strstr(why, "dictionary"));
	free(why);
	assert_int_equal(pwpolicy_check(&p, "alice", "aaaabbbbcccc", &why), -1);
	free(why);
	assert_int_equal(pwpolicy_check(&p, "alice", "abcdefghijklmn", &why), -1);
	free(why);
	/* Monotonic sequence / too simple. */
	assert_int_equal(pwpolicy_check(&p, "alice", "123456789012345", &why), -1);
	free(why);
	/* The user name inside the password. */
	assert_int_equal(pwpolicy_check(&p, "kowalczyk", "kowalczyk-2024-Mail", &why), -1);
	free(why);
	/* Good ones, including the test harness's passphrase. */
	assert_int_equal(pwpolicy_check(&p, "alice", "correct horse battery staple", &why), 0);
	assert_null(why);
	assert_int_equal(pwpolicy_check(&p, "alice", "vq8-Lm2r-Tz9w-Kd4x", &why), 0);
	/* pwquality off: only the length remains. */
	p.pwquality = false;
	assert_int_equal(pwpolicy_check(&p, "alice", "Administrator1", &why), 0);

	/* The breached list refuses a password pwquality would pass. */
	make_file("\r\n", true);
	p.pwquality = true;
	p.breached_file = path;
	assert_int_equal(pwpolicy_check(&p, "alice", "correct horse battery staple minus one", &why), -1);
	assert_non_null(strstr(why, "breached"));
	free(why);
	assert_int_equal(pwpolicy_check(&p, "alice", "correct horse battery staple", &why), 0);
	unlink(path);
	/* An unreadable list is an error, not a pass. */
	assert_int_equal(pwpolicy_check(&p, "alice", "correct horse battery staple", &why), -2);
	assert_non_null(why);
	free(why);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	snprintf(path, sizeof(path), "/tmp/rampart-pwned-%d.txt", (int)getpid());
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_breach_lookup),
		cmocka_unit_test(test_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
