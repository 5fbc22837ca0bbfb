/* The decisions behind security alerts (auth/alert_rule.c) and the login
 * history's file format (auth/alert_history.c): networks of a source,
 * travel speed, the download baseline and its pacing, the rate limit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/alert.h"
#include "auth/alert_internal.h"
#include "core/config.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"

static void test_prefix(void **state)
{
	(void)state;
	char p[64];
	assert_true(alert_rule_prefix("192.0.2.77", p, sizeof(p)));
	assert_string_equal(p, "192.0.2.0/24");
	assert_true(alert_rule_prefix("::ffff:198.51.100.9", p, sizeof(p)));
	assert_string_equal(p, "198.51.100.0/24");
	assert_true(alert_rule_prefix("2001:db8:1:2:3:4:5:6", p, sizeof(p)));
	assert_string_equal(p, "2001:db8:1:2::/64");
	assert_false(alert_rule_prefix("unix", p, sizeof(p)));
	assert_false(alert_rule_prefix("", p, sizeof(p)));
	assert_false(alert_rule_prefix(NULL, p, sizeof(p)));
}

/* Paris - Sydney is about 16,960 km: no one covers that in a minute, an
 * airliner does it in a day; a few km between two logins never alert. */
static void test_travel(void **state)
{
	(void)state;
	double km = alert_rule_distance_km(48.8566, 2.3522, -33.8688, 151.2093);
	assert_true(km > 16800 && km < 17100);
	assert_true(alert_rule_distance_km(10, 20, 10, 20) < 0.001);
	/* Antipodes: the formula stays defined. */
	double half = alert_rule_distance_km(0, 0, 0, 180);
	assert_true(half > 20000 && half < 20040);
	assert_true(alert_rule_travel_impossible(km, 1000, 1060, 1000));
	assert_true(alert_rule_travel_impossible(km, 1000, 1000, 1000)); /* same second */
	assert_false(alert_rule_travel_impossible(km, 0, 24 * 3600, 1000));
	assert_true(alert_rule_travel_impossible(km, 0, 24 * 3600, 500));
	double short_hop = alert_rule_distance_km(48.8566, 2.3522, 48.80, 2.30);
	assert_false(alert_rule_travel_impossible(short_hop, 0, 60, 1000));
	/* Clock going backwards counts as one second, never a division by 0. */
	assert_true(alert_rule_travel_impossible(km, 2000, 1000, 1000));
}

static const struct alert_spike_params spike_log = {
	.window_ms = 1000, .factor = 10, .floor = 1000, .throttle = false, .rate = 1000,
};

static void test_spike_floor_and_once(void **state)
{
	(void)state;
	struct alert_spike sp;
	memset(&sp, 0, sizeof(sp));
	/* Under the floor: nothing, however far above a zero baseline. */
	assert_false(alert_rule_spike_add(&sp, &spike_log, 900, 10));
	assert_false(alert_rule_spike_add(&sp, &spike_log, 100, 20));
	/* Crossing it: one alert, not one per message. */
	assert_true(alert_rule_spike_add(&sp, &spike_log, 1, 30));
	assert_false(alert_rule_spike_add(&sp, &spike_log, 5000, 40));
	/* The next window may alert again, against the baseline it left:
	 * 6001 bytes x 1/4 = 1500. */
	assert_false(alert_rule_spike_add(&sp, &spike_log, 10000, 1010));
	assert_true(sp.baseline > 1499 && sp.baseline < 1501);
	assert_true(alert_rule_spike_add(&sp, &spike_log, 6000, 1020));
	assert_int_equal(sp.win_bytes, 16000);
	/* Not log mode's business to pace. */
	assert_int_equal(alert_rule_spike_wait(&sp, 1030), 0);
}

/* A user who fetches a lot every window builds a baseline that stops the
 * alerts; ten times that baseline alerts; idle windows let it decay. */
static void test_spike_baseline(void **state)
{
	(void)state;
	struct alert_spike sp;
	memset(&sp, 0, sizeof(sp));
	uint64_t t = 1;
	int alerts = 0;
	for (int w = 0; w < 40; w++, t += 1000)
		alerts += alert_rule_spike_add(&sp, &spike_log, 50000, t);
	/* Only the first windows, before the baseline caught up. */
	assert_true(alerts >= 1 && alerts <= 10);
	assert_true(sp.baseline > 45000 && sp.baseline <= 50000);
	/* 8x the baseline: no; 12x, in the same window: yes. */
	assert_false(alert_rule_spike_add(&sp, &spike_log, 400000, t));
	assert_true(alert_rule_spike_add(&sp, &spike_log, 200000, t + 10));
	/* A hundred idle windows later the baseline is gone: the same
	 * steady 50000 alerts again. */
	t += 100 * 1000;
	assert_true(alert_rule_spike_add(&sp, &spike_log, 50000, t));
	assert_true(sp.baseline < 1.0);
}

static void test_spike_throttle(void **state)
{
	(void)state;
	struct alert_spike_params p = spike_log;
	p.throttle = true;
	p.window_ms = 60000;
	struct alert_spike sp;
	memset(&sp, 0, sizeof(sp));
	assert_false(alert_rule_spike_add(&sp, &p, 500, 1000));
	assert_int_equal(alert_rule_spike_wait(&sp, 1000), 0);
	assert_true(alert_rule_spike_add(&sp, &p, 600, 1100));
	/* From now on 1000 bytes/s: 2000 bytes sent at 1100 -> 3100. */
	assert_int_equal(alert_rule_spike_wait(&sp, 1100), 0);
	alert_rule_spike_add(&sp, &p, 2000, 1100);
	assert_int_equal(alert_rule_spike_wait(&sp, 1100), 2000);
	assert_int_equal(alert_rule_spike_wait(&sp, 3000), 100);
	/* Sending late does not bank credit: 500 bytes at 5000 -> 5500. */
	alert_rule_spike_add(&sp, &p, 500, 5000);
	assert_int_equal(alert_rule_spike_wait(&sp, 5000), 500);
	/* The pace never outlasts the window (it ends at 61000). */
	alert_rule_spike_add(&sp, &p, 1000000, 6000);
	assert_int_equal(alert_rule_spike_wait(&sp, 60000), 1000);
	assert_int_equal(alert_rule_spike_wait(&sp, 61000), 0);
	/* The next window starts unthrottled. */
	assert_false(alert_rule_spike_add(&sp, &p, 10, 61001));
	assert_int_equal(alert_rule_spike_wait(&sp, 61001), 0);
}

static void test_rate_limit(void **state)
{
	(void)state;
	struct alert_rate *r = xcalloc(1, sizeof(*r));
	assert_true(alert_rule_rate_allow(r, "new_source|alice", 1000, 600));
	assert_false(alert_rule_rate_allow(r, "new_source|alice", 1001, 600));
	assert_false(alert_rule_rate_allow(r, "new_source|alice", 1599, 600));
	/* Another kind, another user: their own budget. */
	assert_true(alert_rule_rate_allow(r, "new_country|alice", 1001, 600));
	assert_true(alert_rule_rate_allow(r, "new_source|bob", 1001, 600));
	assert_true(alert_rule_rate_allow(r, "new_source|alice", 1600, 600));
	/* interval 0: every alert goes out. */
	assert_true(alert_rule_rate_allow(r, "lockout|x", 1700, 0));
	assert_true(alert_rule_rate_allow(r, "lockout|x", 1700, 0));
	free(r);

	/* An attack with many users or sources hits the global cap. */
	r = xcalloc(1, sizeof(*r));
	int passed = 0;
	for (int i = 0; i < 10000; i++) {
		char key[32];
		snprintf(key, sizeof(key), "spraying|10.%d.%d.1", i / 250, i % 250);
		passed += alert_rule_rate_allow(r, key, 5000 + i / 1000, 600);
	}
	assert_int_equal(passed, ALERT_RATE_PER_MINUTE);
	/* ... and the table, fixed in size, still holds the recent keys. */
	assert_true(alert_rule_rate_allow(r, "new_source|carol", 5100, 600));
	assert_false(alert_rule_rate_allow(r, "new_source|carol", 5101, 600));
	free(r);
}

static void test_history_lists(void **state)
{
	(void)state;
	struct alert_hist h;
	alert_hist_init(&h);
	struct alert_user *u = alert_hist_get(&h, "alice", true);
	assert_ptr_equal(alert_hist_get(&h, "alice", false), u);
	assert_null(alert_hist_get(&h, "bob", false));
	char p[32];
	for (int i = 0; i < 20; i++) {
		snprintf(p, sizeof(p), "10.0.%d.0/24", i);
		alert_hist_prefix_add(u, p);
	}
	assert_int_equal(u->nprefixes, ALERT_PREFIXES_MAX);
	assert_string_equal(u->prefixes[0], "10.0.19.0/24");
	assert_true(alert_hist_prefix_known(u, "10.0.12.0/24"));
	assert_false(alert_hist_prefix_known(u, "10.0.11.0/24"));
	/* Seen again: moves to the front, nothing is duplicated. */
	alert_hist_prefix_add(u, "10.0.12.0/24");
	assert_string_equal(u->prefixes[0], "10.0.12.0/24");
	assert_string_equal(u->prefixes[1], "10.0.19.0/24");
	assert_int_equal(u->nprefixes, ALERT_PREFIXES_MAX);
	alert_hist_country_add(u, "FR");
	alert_hist_country_add(u, "AU");
	alert_hist_country_add(u, "FR");
	assert_int_equal(u->ncountries, 2);
	assert_string_equal(u->countries[0], "FR");
	assert_true(alert_hist_country_known(u, "AU"));
	assert_false(alert_hist_country_known(u, "DE"));
	alert_hist_free(&h);
}

/* What is saved loads back the same (order of lists included), a torn or
 * foreign line is skipped, and many users grow the table. */
static void test_history_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_alert_XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *path = xasprintf("%s/alert-history", dir);
	struct alert_hist h;
	alert_hist_init(&h);
	assert_int_equal(alert_hist_load(&h, path), 0); /* missing: empty */
	for (int i = 0; i < 3000; i++) {
		char name[32];
		snprintf(name, sizeof(name), "user%d@example.org", i);
		struct alert_user *u = alert_hist_get(&h, name, true);
		u->last_login = 1000 + i;
	}
	struct alert_user *u = alert_hist_get(&h, "alice", true);
	u->last_login = 1700000000;
	u->geo_time = 1699999000;
	memcpy(u->geo_country, "AU", 3);
	u->geo_has_location = true;
	u->geo_lat = -33.8688;
	u->geo_lon = 151.2093;
	alert_hist_country_add(u, "FR");
	alert_hist_country_add(u, "AU");
	alert_hist_prefix_add(u, "127.0.0.0/24");
	alert_hist_prefix_add(u, "2001:db8::/64");
	u->spike.baseline = 123456;
	struct strbuf buf = STRBUF_INIT;
	alert_hist_format(&h, &buf);
	strbuf_adds(&buf, "garbage without tabs\n");
	assert_int_equal(alert_hist_write(path, &buf), 0);
	strbuf_free(&buf);
	alert_hist_free(&h);

	alert_hist_init(&h);
	assert_int_equal(alert_hist_load(&h, path), 0);
	assert_int_equal(h.n, 3001);
	u = alert_hist_get(&h, "alice", false);
	assert_non_null(u);
	assert_int_equal(u->last_login, 1700000000);
	assert_int_equal(u->geo_time, 1699999000);
	assert_string_equal(u->geo_country, "AU");
	assert_true(u->geo_has_location);
	assert_true(u->geo_lat < -33.86 && u->geo_lat > -33.87);
	assert_string_equal(u->countries[0], "AU");
	assert_string_equal(u->countries[1], "FR");
	assert_string_equal(u->prefixes[0], "2001:db8::/64");
	assert_string_equal(u->prefixes[1], "127.0.0.0/24");
	assert_true(u->spike.baseline > 123455 && u->spike.baseline < 123457);
	u = alert_hist_get(&h, "user2999@example.org", false);
	assert_non_null(u);
	assert_int_equal(u->last_login, 3999);
	assert_int_equal(u->nprefixes, 0);
	assert_false(u->geo_has_location);
	alert_hist_free(&h);
	unlink(path);
	rmdir(dir);
	free(path);
}

static size_t count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[1024];
	size_t n = 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static bool always_known(const char *user, const char *ip)
{
	(void)user;
	(void)ip;
	return true;
}

/* The front without a network: which calls alert (as log lines), the
 * policy engine's known-sources answer, its lockout and spraying events,
 * the rate limit, and the history written at shutdown. */
static void test_front(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_alert_front_XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *logp = xasprintf("%s/log", dir);
	struct config *c = config_new_defaults(dir);
	free(c->state_dir);
	c->state_dir = xstrdup(dir);
	/* A command sink: the JSON objects land in a file. */
	char *outp = xasprintf("%s/command.out", dir);
	char *cmd = xasprintf("%s/alert.sh", dir);
	FILE *sh = fopen(cmd, "w");
	assert_non_null(sh);
	fprintf(sh, "#!/bin/sh\ncat >> %s\n", outp);
	fclose(sh);
	assert_int_equal(chmod(cmd, 0755), 0);
	c->alert_command = cmd;
	assert_int_equal(log_set_file(logp), 0);
	assert_int_equal(alert_init(c), 0);
	time_t t = 1700000000;
	alert_login_ok("alice", "192.0.2.1", false, t);        /* first login: quiet */
	alert_login_seen("alice", "192.0.2.200", t + 1);        /* same /24 */
	assert_int_equal(count_lines(logp, "event=alert "), 0);
	alert_login_seen("alice", "198.51.100.1", t + 2);
	assert_int_equal(count_lines(logp, "event=alert kind=new_source user=alice ip=198.51.100.1 "
					   "country=- detail=\"prefix=198.51.100.0/24\""), 1);
	/* The policy engine says the network is known: no alert. */
	alert_login_ok("bob", "192.0.2.1", true, t);
	alert_login_ok("bob", "203.0.113.5", true, t + 5);
	alert_set_prefix_known(always_known);
	alert_login_seen("bob", "2001:db8::1", t + 6);
	alert_set_prefix_known(NULL);
	assert_int_equal(count_lines(logp, "user=bob"), 0);
	alert_policy_event(ALERT_LOCKOUT, "203.0.113.7", NULL, "failures=10 for=300s");
	alert_policy_event(ALERT_SPRAYING, "203.0.113.8", NULL, "users=50");
	alert_policy_event(ALERT_SPRAYING, "203.0.113.8", NULL, "users=60");   /* rate-limited */
	alert_policy_event(ALERT_NEW_SOURCE, "203.0.113.9", "x", NULL);       /* not the policy's */
	/* A sprayed username that is not UTF-8 still goes out as JSON. */
	alert_policy_event(ALERT_LOCKOUT, "203.0.113.10", "b\xe9\xff\"d", "users=3");
	assert_int_equal(count_lines(logp, "event=alert kind=lockout user=- ip=203.0.113.7 country=- "
					   "detail=\"failures=10 for=300s\""), 1);
	assert_int_equal(count_lines(logp, "event=alert kind=spraying"), 1);
	assert_int_equal(count_lines(logp, "event=alert kind=lockout user=b???d ip=203.0.113.10"), 1);
	assert_int_equal(count_lines(logp, "event=alert "), 4);
	/* Not logged in, so no throttle either way. */
	assert_int_equal(alert_download_wait("alice", 1000), 0);
	alert_shutdown(); /* waits for the commands */
	log_set_file(NULL);
	assert_int_equal(count_lines(outp, "{\"kind\":"), 4);
	assert_int_equal(count_lines(outp, "\"kind\":\"new_source\",\"user\":\"alice\",\"ip\":\"198.51.100.1\","
					   "\"country\":null,\"time\":\"2023-11-14T22:13:22Z\","
					   "\"detail\":\"prefix=198.51.100.0/24\"}"), 1);
	assert_int_equal(count_lines(outp, "\"user\":\"b??\\\"d\""), 1);
	unlink(outp);
	unlink(cmd);
	free(outp);
	char *hist = xasprintf("%s/alert-history", dir);
	assert_int_equal(count_lines(hist, "alice\t"), 1);
	assert_int_equal(count_lines(hist, "198.51.100.0/24,192.0.2.0/24"), 1);
	assert_int_equal(count_lines(hist, "bob\t"), 1);
	/* After shutdown every entry point is a no-op again. */
	alert_login_seen("alice", "10.0.0.1", t + 100);
	alert_policy_event(ALERT_LOCKOUT, "203.0.113.7", NULL, NULL);
	unlink(hist);
	unlink(logp);
	rmdir(dir);
	free(hist);
	free(logp);
	config_free(c);
}

/* Loads "[listener]... [alerts]\n<body>"; returns the config or NULL with
 * *err set. */
static struct config *load_alerts(const char *dir, const char *body, char **err)
{
	char *path = xasprintf("%s/rampart.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[listener imap]\naddress = 127.0.0.1:1143\ntls = none\n[alerts]\n%s", body);
	fclose(f);
	struct config *c = NULL;
	*err = NULL;
	if (config_load(path, &c, err) < 0)
		c = NULL;
	unlink(path);
	free(path);
	return c;
}

static void test_config_keys(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_alert_conf_XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *err;
	struct config *c = load_alerts(dir, "", &err);
	assert_non_null(c);
	assert_null(c->alert_webhook_url);
	assert_int_equal(c->alert_download_spike_action, ALERT_SPIKE_LOG);
	assert_int_equal(c->alert_download_floor, 200u << 20);
	config_free(c);
	c = load_alerts(dir, "webhook_url = https://hooks.example.org/x\ncommand = /usr/local/bin/page -u ops\n"
			     "download_spike_action = throttle\ndownload_floor = 1M\nalert_interval = 0\n", &err);
	assert_non_null(c);
	assert_string_equal(c->alert_webhook_url, "https://hooks.example.org/x");
	assert_string_equal(c->alert_command, "/usr/local/bin/page -u ops");
	assert_int_equal(c->alert_download_spike_action, ALERT_SPIKE_THROTTLE);
	assert_int_equal(c->alert_download_floor, 1u << 20);
	assert_int_equal(c->alert_interval, 0);
	config_free(c);
	static const char *const bad[][2] = {
		{ "webhook_url = file:///etc/passwd\n", "http://" },
		{ "command = page -u ops\n", "absolute path" },
		{ "download_spike_action = block\n", "log or throttle" },
		{ "travel_speed_kmh = 50\n", "out of range" },
		{ "download_factor = 1\n", "out of range" },
		{ "download_window = 1\n", "out of range" },
		{ "nope = 1\n", "unknown key 'nope' in [alerts]" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		c = load_alerts(dir, bad[i][0], &err);
		assert_null(c);
		assert_non_null(err);
		if (!strstr(err, bad[i][1]))
			fail_msg("%s: %s", bad[i][0], err);
		free(err);
	}
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_travel),
		cmocka_unit_test(test_spike_floor_and_once),
		cmocka_unit_test(test_spike_baseline),
		cmocka_unit_test(test_spike_throttle),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_history_lists),
		cmocka_unit_test(test_history_file),
		cmocka_unit_test(test_front),
		cmocka_unit_test(test_config_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
