/* SASL PLAIN (RFC 4616) and the SASL client-response decoding; base64
 * itself is tested in test_base64.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"

static long decode(const char *s, unsigned char *out)
{
	return sasl_base64_decode(s, strlen(s), out);
}

static void test_plain_valid(void **state)
{
	(void)state;
	char *z, *c, *p;
	/* RFC 4616 section 4 example: "\0tim\0tanstaaftanstaaf" */
	unsigned char buf[64];
	long n = decode("AHRpbQB0YW5zdGFhZnRhbnN0YWFm", buf);
	assert_int_equal(n, 21);
	assert_int_equal(sasl_plain_parse(buf, (size_t)n, &z, &c, &p), 0);
	assert_string_equal(z, "");
	assert_string_equal(c, "tim");
	assert_string_equal(p, "tanstaaftanstaaf");
	free(z), free(c), free(p);

	/* "Ursel\0Kurt\0xipj3plmq" from the same section, with an authzid */
	static const unsigned char m[] = "Ursel\0Kurt\0xipj3plmq";
	assert_int_equal(sasl_plain_parse(m, sizeof(m) - 1, &z, &c, &p), 0);
	assert_string_equal(z, "Ursel");
	assert_string_equal(c, "Kurt");
	assert_string_equal(p, "xipj3plmq");
	free(z), free(c), free(p);
}

static void test_plain_limits(void **state)
{
	(void)state;
	char *z, *c, *p;
	unsigned char msg[2048];
	/* authcid of 255 bytes and a password of 1024 bytes are the maximum */
	msg[0] = '\0';
	memset(msg + 1, 'u', 255);
	msg[256] = '\0';
	memset(msg + 257, 'p', 1024);
	assert_int_equal(sasl_plain_parse(msg, 257 + 1024, &z, &c, &p), 0);
	assert_int_equal(strlen(c), 255);
	assert_int_equal(strlen(p), 1024);
	free(z), free(c), free(p);
	/* one more byte of password */
	memset(msg + 257, 'p', 1025);
	assert_int_equal(sasl_plain_parse(msg, 257 + 1025, &z, &c, &p), -1);
	assert_null(z);
	assert_null(c);
	assert_null(p);
	/* authcid of 256 bytes */
	msg[0] = '\0';
	memset(msg + 1, 'u', 256);
	msg[257] = '\0';
	msg[258] = 'x';
	assert_int_equal(sasl_plain_parse(msg, 259, &z, &c, &p), -1);
	/* authzid of 256 bytes */
	memset(msg, 'z', 256);
	memcpy(msg + 256, "\0u\0p", 4);
	assert_int_equal(sasl_plain_parse(msg, 260, &z, &c, &p), -1);
	memcpy(msg + 255, "\0u\0p", 4);
	assert_int_equal(sasl_plain_parse(msg, 259, &z, &c, &p), 0);
	assert_int_equal(strlen(z), 255);
	free(z), free(c), free(p);
}

static void test_plain_malformed(void **state)
{
	(void)state;
	char *z = (char *)1, *c = (char *)1, *p = (char *)1;
	static const struct {
		const char *m;
		size_t len;
	} bad[] = {
		{ "", 0 },                    /* empty */
		{ "alicesecret", 11 },        /* no NUL */
		{ "alice\0secret", 12 },      /* one NUL */
		{ "\0\0secret", 8 },          /* empty authcid */
		{ "\0alice\0", 7 },           /* empty password */
		{ "\0alice\0sec\0ret", 14 },  /* three NULs */
		{ "\0\0", 2 },
		{ "\0", 1 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sasl_plain_parse((const unsigned char *)bad[i].m, bad[i].len, &z, &c, &p), -1);
		assert_null(z);
		assert_null(c);
		assert_null(p);
	}
	assert_int_equal(sasl_plain_parse(NULL, 0, &z, &c, &p), -1);
}

/* Random messages of a few bytes, NULs frequent: whatever PLAIN accepts
 * has exactly the three parts, the last two non-empty. (The base64 side
 * of random inputs is test_base64.c's.) */
static void test_random_inputs(void **state)
{
	(void)state;
	static const unsigned char bytes[] = { 0, 0, 0, 'a', 'b', 0xff, ' ' };
	uint32_t rng = 777;
	unsigned char msg[12];
	size_t accepted = 0;
	for (int iter = 0; iter < 200000; iter++) {
		rng = rng * 1103515245u + 12345u;
		size_t len = (rng >> 16) % sizeof(msg);
		for (size_t i = 0; i < len; i++) {
			rng = rng * 1103515245u + 12345u;
			msg[i] = bytes[(rng >> 16) % sizeof(bytes)];
		}
		char *z, *c, *p;
		if (sasl_plain_parse(msg, len, &z, &c, &p) != 0) {
			assert_null(z);
			continue;
		}
		accepted++;
		assert_true(strlen(c) > 0 && strlen(p) > 0);
		assert_int_equal(strlen(z) + strlen(c) + strlen(p) + 2, len);
		free(z), free(c), free(p);
	}
	/* the generator does reach the accepting path */
	assert_true(accepted > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_valid),
		cmocka_unit_test(test_plain_limits),
		cmocka_unit_test(test_plain_malformed),
		cmocka_unit_test(test_random_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
