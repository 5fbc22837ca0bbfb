/* The authentication policy engine (auth/policy.c) on a fake clock:
 * leaky-bucket windows, source lockout and its doubling, /24 and /64
 * grouping, spraying, known sources against a distributed attack, the
 * circuit breaker, trusted sources, session counts, unlock, the eviction
 * bound and a persistence round trip (including a corrupt file). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/policy.h"
#include "core/config.h"
#include "core/strbuf.h"
#include "core/util.h"

static uint64_t fake_now = 1700000000000ULL;
static uint64_t fake_clock(void)
{
	return fake_now;
}

struct fx {
	char dir[64];
	struct config *cfg;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/rampart-policy-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->cfg = config_new_defaults(f->dir);
	free(f->cfg->state_dir);
	f->cfg->state_dir = xstrdup(f->dir);
	f->cfg->policy_table_size = 4096;
	fake_now = 1700000000000ULL;
	policy_set_clock(fake_clock);
	if (policy_init(f->cfg) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	policy_shutdown();
	char *path = xasprintf("%s/policy.state", f->dir);
	unlink(path);
	free(path);
	rmdir(f->dir);
	config_free(f->cfg);
	free(f);
	policy_set_clock(NULL);
	return 0;
}

/* One attempt; returns the verdict and records `ok` (or a failure). */
static enum policy_verdict attempt(const char *user, const char *ip, bool ok, unsigned *delay)
{
	struct policy_auth a;
	policy_auth_begin(&a, user, ip, false);
	enum policy_outcome o = a.verdict == POLICY_REFUSE ? POLICY_REFUSED
				: ok ? POLICY_OK : POLICY_FAIL;
	unsigned d = policy_auth_end(&a, o);
	if (delay)
		*delay = d;
	return a.verdict;
}

static void test_source_lockout_and_doubling(void **state)
{
	struct fx *f = *state;
	unsigned n = f->cfg->policy_lockout_failures;
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(attempt("alice", "192.0.2.7", false, NULL), POLICY_ALLOW);
	/* Locked: even the right password is refused. */
	assert_int_equal(attempt("alice", "192.0.2.7", true, NULL), POLICY_REFUSE);
	/* Another address is not affected. */
	assert_int_equal(attempt("alice", "198.51.100.1", true, NULL), POLICY_ALLOW);
	/* The first lockout lasts lockout_duration. */
	fake_now += (uint64_t)f->cfg->policy_lockout_duration * 1000 - 1000;
	assert_int_equal(attempt("alice", "192.0.2.7", true, NULL), POLICY_REFUSE);
	fake_now += 2000;
	assert_int_equal(attempt("alice", "192.0.2.7", false, NULL), POLICY_ALLOW);
	/* A second lockout lasts twice as long. */
	for (unsigned i = 0; i < n; i++)
		attempt("alice", "192.0.2.7", false, NULL);
	fake_now += (uint64_t)f->cfg->policy_lockout_duration * 1000 + 1000;
	assert_int_equal(attempt("alice", "192.0.2.7", true, NULL), POLICY_REFUSE);
	fake_now += (uint64_t)f->cfg->policy_lockout_duration * 1000;
	assert_int_equal(attempt("alice", "192.0.2.7", true, NULL), POLICY_ALLOW);
}

/* A leaky bucket: failures spread out below the rate never lock. */
static void test_window_drains(void **state)
{
	struct fx *f = *state;
	unsigned n = f->cfg->policy_lockout_failures;
	uint64_t gap = (uint64_t)f->cfg->policy_lockout_window * 1000 / n + 1000;
	for (unsigned i = 0; i < 5 * n; i++) {
		assert_int_equal(attempt("alice", "192.0.2.8", false, NULL), POLICY_ALLOW);
		fake_now += gap;
	}
}

static void test_progressive_delay(void **state)
{
	struct fx *f = *state;
	unsigned d1, d2, d3;
	attempt("bob", "192.0.2.9", false, &d1);
	attempt("bob", "192.0.2.9", false, &d2);
	attempt("bob", "192.0.2.9", false, &d3);
	assert_int_equal(d1, 0);
	assert_int_equal(d2, f->cfg->policy_delay_base_ms);
	assert_true(d3 > d2 && d3 <= f->cfg->policy_delay_max_ms);
}

static void test_spraying(void **state)
{
	struct fx *f = *state;
	char user[32];
	for (unsigned i = 0; i < f->cfg->policy_spray_users; i++) {
		snprintf(user, sizeof(user), "user%u", i);
		assert_int_equal(attempt(user, "203.0.113.5", false, NULL), POLICY_ALLOW);
	}
	assert_int_equal(attempt("alice", "203.0.113.5", true, NULL), POLICY_REFUSE);
	/* The same name over and over is not spraying (below lockout_failures). */
	for (unsigned i = 0; i < f->cfg->policy_lockout_failures - 1; i++)
		assert_int_equal(attempt("carol", "203.0.113.6", false, NULL), POLICY_ALLOW);
}

/* /24 and /64 grouping: failures from many addresses of one prefix lock
 * the prefix for sources that never logged in, not for a known one. */
static void test_prefix_grouping(void **state)
{
	struct fx *f = *state;
	assert_int_equal(attempt("dave", "10.1.2.200", true, NULL), POLICY_ALLOW);
	char ip[64];
	for (unsigned i = 0; i < f->cfg->policy_prefix_failures; i++) {
		snprintf(ip, sizeof(ip), "10.1.2.%u", 1 + i % 100);
		char user[32];
		snprintf(user, sizeof(user), "p%u", i);
		attempt(user, ip, false, NULL);
	}
	assert_int_equal(attempt("gina", "10.1.2.150", true, NULL), POLICY_REFUSE);
	assert_int_equal(attempt("dave", "10.1.2.200", true, NULL), POLICY_ALLOW);
	assert_int_equal(attempt("gina", "10.1.3.1", true, NULL), POLICY_ALLOW);

	/* IPv6: the /64 is the prefix. */
	for (unsigned i = 0; i < f->cfg->policy_prefix_failures; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:1:2::%x", 1 + i);
		char user[32];
		snprintf(user, sizeof(user), "q%u", i);
		attempt(user, ip, false, NULL);
	}
	assert_int_equal(attempt("gina", "2001:db8:1:2:ffff::1", true, NULL), POLICY_REFUSE);
	assert_int_equal(attempt("gina", "2001:db8:1:3::1", true, NULL), POLICY_ALLOW);

	uint8_t a[16], b[16];
	assert_true(policy_addr_parse("192.0.2.77", a));
	policy_addr_prefix(a, b);
	char s[64];
	policy_addr_format(b, s, sizeof(s));
	assert_string_equal(s, "192.0.2.0");
}

/* Many sources on one user: sources that never logged in as that user
 * are refused once the user's counter fills; the known device is not. */
static void test_distributed_attack_known_source(void **state)
{
	struct fx *f = *state;
	assert_int_equal(attempt("alice", "198.51.100.10", true, NULL), POLICY_ALLOW);
	char ip[64];
	unsigned refused = 0;
	for (unsigned i = 0; i < 3 * f->cfg->policy_user_failures; i++) {
		snprintf(ip, sizeof(ip), "172.16.%u.%u", i / 200, 1 + i % 200);
		refused += attempt("alice", ip, false, NULL) == POLICY_REFUSE;
		unsigned d;
		assert_int_equal(attempt("alice", "198.51.100.10", true, &d), POLICY_ALLOW);
		assert_int_equal(d, 0);
	}
	assert_true(refused >= f->cfg->policy_user_failures);
	assert_int_equal(attempt("alice", "172.31.0.1", true, NULL), POLICY_REFUSE);
	/* Another user is not affected. */
	assert_int_equal(attempt("bob", "172.31.0.1", true, NULL), POLICY_ALLOW);
}

static void test_breaker(void **state)
{
	struct fx *f = *state;
	char ip[64];
	unsigned d = 0;
	for (unsigned i = 0; i < 3 * f->cfg->policy_breaker_rate; i++) {
		snprintf(ip, sizeof(ip), "100.64.%u.%u", i / 250, 1 + i % 250);
		char user[32];
		snprintf(user, sizeof(user), "u%u", i);
		attempt(user, ip, false, &d);
	}
	assert_int_equal(d, f->cfg->policy_delay_max_ms);
	struct strbuf sb = STRBUF_INIT;
	policy_status(&sb);
	assert_non_null(strstr(strbuf_cstr(&sb), "breaker=on"));
	strbuf_free(&sb);
	fake_now += 60000;
	attempt("someone", "100.65.0.1", false, &d);
	assert_int_equal(d, 0);
}

static void test_trusted_exempt(void **state)
{
	struct fx *f = *state;
	for (unsigned i = 0; i < 3 * f->cfg->policy_lockout_failures; i++) {
		struct policy_auth a;
		policy_auth_begin(&a, "alice", "10.9.9.9", true);
		assert_int_equal(a.verdict, POLICY_ALLOW);
		assert_int_equal(policy_auth_end(&a, POLICY_FAIL), 0);
	}
	/* And "unix" has no address: never locked. */
	for (unsigned i = 0; i < 3 * f->cfg->policy_lockout_failures; i++)
		assert_int_equal(attempt("alice", "unix", false, NULL), POLICY_ALLOW);
}

static void test_unlock_and_status(void **state)
{
	struct fx *f = *state;
	for (unsigned i = 0; i < f->cfg->policy_lockout_failures; i++)
		attempt("alice", "192.0.2.44", false, NULL);
	for (unsigned i = 0; i < 3; i++)
		attempt("alice", "192.0.2.45", false, NULL);
	struct strbuf sb = STRBUF_INIT;
	policy_status(&sb);
	assert_non_null(strstr(strbuf_cstr(&sb), "locked scope=source ip=192.0.2.44"));
	assert_non_null(strstr(strbuf_cstr(&sb), "failing ip=192.0.2.45"));
	strbuf_free(&sb);
	assert_true(policy_unlock("192.0.2.44") > 0);
	assert_int_equal(attempt("alice", "192.0.2.44", true, NULL), POLICY_ALLOW);

	for (unsigned i = 0; i < f->cfg->policy_user_failures; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "192.0.%u.1", 100 + i);
		attempt("henry", ip, false, NULL);
	}
	assert_int_equal(attempt("henry", "192.0.99.1", true, NULL), POLICY_REFUSE);
	assert_true(policy_unlock("henry") > 0);
	assert_int_equal(attempt("henry", "192.0.99.1", true, NULL), POLICY_ALLOW);
	assert_int_equal(policy_unlock(""), -1);
}

static void test_sessions(void **state)
{
	struct fx *f = *state;
	unsigned max = f->cfg->policy_max_sessions_per_user;
	for (unsigned i = 0; i < max; i++) {
		assert_true(policy_session_room("ivy"));
		policy_session_open("ivy");
	}
	assert_false(policy_session_room("ivy"));
	assert_true(policy_session_room("jack"));
	policy_session_close("ivy");
	assert_true(policy_session_room("ivy"));
	for (unsigned i = 0; i < max - 1; i++)
		policy_session_close("ivy");
}

static void test_known_addr_for_reserve(void **state)
{
	(void)state;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, "192.0.2.200", &sa.sin_addr);
	assert_false(policy_addr_known((struct sockaddr *)&sa));
	attempt("kate", "192.0.2.200", true, NULL);
	assert_true(policy_addr_known((struct sockaddr *)&sa));
	/* IPv6: the /64 is remembered. */
	attempt("kate", "2001:db8:5:6::1", true, NULL);
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "2001:db8:5:6::abcd", &s6.sin6_addr);
	assert_true(policy_addr_known((struct sockaddr *)&s6));
	inet_pton(AF_INET6, "2001:db8:5:7::1", &s6.sin6_addr);
	assert_false(policy_addr_known((struct sockaddr *)&s6));
}

/* The table never grows past table_size, however many sources fail. */
static void test_eviction_bound(void **state)
{
	struct fx *f = *state;
	char ip[64];
	for (unsigned i = 0; i < 40000; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
		attempt("x", ip, false, NULL);
	}
	assert_true(policy_entries() <= f->cfg->policy_table_size);
	assert_true(policy_entries() > f->cfg->policy_table_size / 2);
}

/* Lockouts and known sources survive a save and a restart; a corrupt
 * file starts empty. */
static void test_persistence(void **state)
{
	struct fx *f = *state;
	for (unsigned i = 0; i < f->cfg->policy_lockout_failures; i++)
		attempt("alice", "192.0.2.55", false, NULL);
	attempt("alice", "198.51.100.77", true, NULL);
	assert_int_equal(policy_save(), 0);
	policy_shutdown();
	assert_int_equal(policy_init(f->cfg), 0);
	assert_int_equal(attempt("alice", "192.0.2.55", true, NULL), POLICY_REFUSE);
	struct policy_auth a;
	policy_auth_begin(&a, "alice", "198.51.100.77", false);
	assert_true(a.known);
	policy_auth_end(&a, POLICY_OK);
	policy_shutdown();

	/* Flip one byte in the middle: the checksum fails, start empty. */
	char *path = xasprintf("%s/policy.state", f->dir);
	FILE *fp = fopen(path, "r+b");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	long len = ftell(fp);
	fseek(fp, len / 2, SEEK_SET);
	int c = fgetc(fp);
	fseek(fp, len / 2, SEEK_SET);
	fputc(c ^ 0x55, fp);
	fclose(fp);
	free(path);
	assert_int_equal(policy_init(f->cfg), 0);
	assert_int_equal(attempt("alice", "192.0.2.55", true, NULL), POLICY_ALLOW);
	assert_int_equal(policy_entries() < 8, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_source_lockout_and_doubling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progressive_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spraying, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_grouping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_distributed_attack_known_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_breaker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trusted_exempt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlock_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_known_addr_for_reserve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eviction_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
