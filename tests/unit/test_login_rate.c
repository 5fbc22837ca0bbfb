/* The status page's per-minute login counts (auth/login_rate.c) and its
 * recent-alerts ring (auth/alert_recent.c): what counts, which minute it
 * lands in, that an hour-old slot reads as zero, newest alert first. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "auth/alert.h"
#include "auth/login_rate.h"

#define T0 ((time_t)1796040000)   /* a minute boundary: 1796040000 % 60 == 0 */

static unsigned sum(const unsigned *v)
{
	unsigned s = 0;
	for (int i = 0; i < LOGIN_RATE_MINUTES; i++)
		s += v[i];
	return s;
}

static void test_counts_and_minutes(void **state)
{
	(void)state;
	unsigned ok[LOGIN_RATE_MINUTES], fail[LOGIN_RATE_MINUTES];
	login_rate_record("ok", T0);
	login_rate_record("ok", T0 + 59);
	login_rate_record("fail", T0 + 60);
	login_rate_record("locked", T0 + 61);
	login_rate_record("refused", T0 + 62);   /* not an attempt at a password */
	login_rate_record(NULL, T0 + 62);
	login_rate_get(T0 + 90, ok, fail);
	assert_int_equal(ok[LOGIN_RATE_MINUTES - 2], 2);
	assert_int_equal(fail[LOGIN_RATE_MINUTES - 1], 2);
	assert_int_equal(sum(ok), 2);
	assert_int_equal(sum(fail), 2);
	/* 59 minutes later the first minute is the oldest shown ... */
	login_rate_get(T0 + 59 * 60, ok, fail);
	assert_int_equal(ok[0], 2);
	assert_int_equal(fail[1], 2);
	/* ... and an hour later it is gone, although its slot was never
	 * overwritten. */
	login_rate_get(T0 + 60 * 60, ok, fail);
	assert_int_equal(sum(ok), 0);
	assert_int_equal(fail[0], 2);
	/* A new count in a reused slot starts from zero. */
	login_rate_record("ok", T0 + 3600);
	login_rate_get(T0 + 3600, ok, fail);
	assert_int_equal(ok[LOGIN_RATE_MINUTES - 1], 1);
	assert_int_equal(sum(ok), 1);
}

static void test_alert_ring(void **state)
{
	(void)state;
	struct alert_recent a[ALERT_RECENT_MAX];
	assert_int_equal(alert_recent_get(a, ALERT_RECENT_MAX), 0);
	for (int i = 0; i < ALERT_RECENT_MAX + 5; i++)
		alert_recent_add(ALERT_LOCKOUT, i % 2 ? "<b>x</b>" : NULL, "192.0.2.1", NULL,
				 "scope=source", T0 + i);
	size_t n = alert_recent_get(a, ALERT_RECENT_MAX);
	assert_int_equal(n, ALERT_RECENT_MAX);
	assert_int_equal(a[0].time, T0 + ALERT_RECENT_MAX + 4);   /* newest first */
	assert_int_equal(a[n - 1].time, T0 + 5);
	assert_string_equal(a[0].kind, "lockout");
	assert_string_equal(a[0].user, "");                       /* NULL user */
	assert_string_equal(a[1].user, "<b>x</b>");               /* kept as is: the page escapes */
	assert_int_equal(alert_recent_get(a, 3), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_and_minutes),
		cmocka_unit_test(test_alert_ring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
