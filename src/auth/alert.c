/* The alert front: what the login path, the policy engine and FETCH call,
 * and the one lock over the per-user state (login history, download
 * accounting) and the rate limit.
 *
 * Each entry point decides under the lock (alert_rule.c does the
 * arithmetic), then, without it, writes the log line and hands the JSON
 * to the background thread (alert_sink.c). Workers call in on their event
 * loops, so nothing here waits for I/O: the GeoIP lookup reads a memory
 * map, and the history is written by the background thread. */
#include "auth/alert_internal.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALERT_HISTORY_FILE "alert-history"
#define ALERT_DETAIL_MAX 256

static const char *const alert_kind_names[ALERT__COUNT] = {
	[ALERT_NEW_SOURCE] = "new_source",
	[ALERT_NEW_COUNTRY] = "new_country",
	[ALERT_IMPOSSIBLE_TRAVEL] = "impossible_travel",
	[ALERT_LOCKOUT] = "lockout",
	[ALERT_SPRAYING] = "spraying",
	[ALERT_DOWNLOAD_SPIKE] = "download_spike",
};

static struct {
	pthread_mutex_t lock;
	bool up;
	const struct config *cfg;
	char *hist_path;
	struct alert_hist hist;
	struct alert_rate rate;
	struct alert_spike_params spike;
	bool (*prefix_known)(const char *user, const char *ip);
} A = { .lock = PTHREAD_MUTEX_INITIALIZER };

const char *alert_kind_name(enum alert_kind k)
{
	return (unsigned)k < ALERT__COUNT ? alert_kind_names[k] : "unknown";
}

/* ---- one alert out ---- */

/* A value for a key=value log line: no quotes or control bytes, and no
 * blanks unless the value is quoted (spaces). */
static void alert_log_safe(char *dst, size_t size, const char *v, bool spaces)
{
	size_t j = 0;
	for (size_t i = 0; v && v[i] && j + 1 < size; i++) {
		unsigned char c = (unsigned char)v[i];
		bool ok = c > 0x20 || (spaces && c == ' ');
		dst[j++] = (!ok || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
	}
	dst[j] = '\0';
	if (j == 0)
		snprintf(dst, size, "-");
}

/* A JSON string for v (null for NULL). jansson takes only valid UTF-8,
 * and a username from a spraying source may be anything: such a value
 * goes out with its non-ASCII bytes as '?'. */
json_t *alert_json_str(const char *v)
{
	if (!v)
		return json_null();
	json_t *j = json_string(v);
	if (j)
		return j;
	char *copy = xstrdup(v);
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j ? j : json_null();
}

static char *alert_json(enum alert_kind kind, const char *user, const char *ip,
			const char *country, const char *detail, time_t now)
{
	char when[32];
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:s, s:o}", "kind", alert_kind_name(kind),
			      "user", alert_json_str(user), "ip", alert_json_str(ip), "country",
			      alert_json_str(country), "time", when, "detail", alert_json_str(detail));
	if (!o)
		return NULL;
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* Rate-limited per kind and user (or source, when there is no user): one
 * alert per alert_interval; the log line says how many were held back
 * only through the debug level, so an attack cannot flood the log either. */
static void alert_emit(enum alert_kind kind, const char *user, const char *ip,
		       const char *country, const char *detail, time_t now)
{
	char key[320];
	snprintf(key, sizeof(key), "%s|%s", alert_kind_name(kind), user && *user ? user : ip ? ip : "");
	pthread_mutex_lock(&A.lock);
	bool ok = alert_rule_rate_allow(&A.rate, key, now, A.cfg->alert_interval);
	pthread_mutex_unlock(&A.lock);
	char u[128], i[64];
	alert_log_safe(u, sizeof(u), user, false);
	alert_log_safe(i, sizeof(i), ip, false);
	if (!ok) {
		log_debug("event=alert_suppressed kind=%s user=%s ip=%s", alert_kind_name(kind), u, i);
		return;
	}
	char d[ALERT_DETAIL_MAX];
	alert_log_safe(d, sizeof(d), detail, true);
	log_warn("event=alert kind=%s user=%s ip=%s country=%s detail=\"%s\"", alert_kind_name(kind),
		 u, i, country && *country ? country : "-", d);
	alert_recent_add(kind, user, ip, country, detail, now);   /* status page */
	if (A.cfg->alert_webhook_url || A.cfg->alert_command) {
		char *json = alert_json(kind, user, ip, country && *country ? country : NULL, detail, now);
		if (json) {
			/* The sink frees with free(); jansson's default allocator is malloc. */
			alert_sink_post(json);
		}
	}
}

/* ---- lifetime ---- */

int alert_init(const struct config *cfg)
{
	A.cfg = cfg;
	A.hist_path = xasprintf("%s/%s", cfg->state_dir, ALERT_HISTORY_FILE);
	alert_hist_init(&A.hist);
	memset(&A.rate, 0, sizeof(A.rate));
	A.spike = (struct alert_spike_params){
		.window_ms = (uint64_t)cfg->alert_download_window * 1000,
		.factor = cfg->alert_download_factor,
		.floor = cfg->alert_download_floor,
		.throttle = cfg->alert_download_spike_action == ALERT_SPIKE_THROTTLE,
		.rate = cfg->alert_download_throttle_rate,
	};
	if (alert_hist_load(&A.hist, A.hist_path) < 0)
		goto fail;
	if (cfg->alert_geoip_database && alert_geo_open(cfg->alert_geoip_database) < 0)
		goto fail;
	if (alert_sink_start(cfg) < 0) {
		alert_sink_stop();
		alert_geo_close();
		goto fail;
	}
	pthread_mutex_lock(&A.lock);
	A.up = true;
	pthread_mutex_unlock(&A.lock);
	return 0;
fail:
	alert_hist_free(&A.hist);
	free(A.hist_path);
	A.hist_path = NULL;
	return -1;
}

void alert_reload(void)
{
	if (A.up && A.cfg->alert_geoip_database)
		alert_geo_open(A.cfg->alert_geoip_database);
}

void alert_shutdown(void)
{
	pthread_mutex_lock(&A.lock);
	bool up = A.up;
	A.up = false;
	pthread_mutex_unlock(&A.lock);
	if (!up)
		return;
	/* The thread's last act is writing the history. */
	alert_sink_stop();
	alert_geo_close();
	alert_hist_free(&A.hist);
	free(A.hist_path);
	A.hist_path = NULL;
	A.prefix_known = NULL;
}

void alert_set_prefix_known(bool (*fn)(const char *user, const char *ip))
{
	A.prefix_known = fn;
}

void alert_history_flush(void)
{
	struct strbuf buf = STRBUF_INIT;
	pthread_mutex_lock(&A.lock);
	if (!A.hist.dirty || !A.hist_path) {
		pthread_mutex_unlock(&A.lock);
		return;
	}
	alert_hist_format(&A.hist, &buf);
	A.hist.dirty = false;
	pthread_mutex_unlock(&A.lock);
	if (alert_hist_write(A.hist_path, &buf) < 0) {
		pthread_mutex_lock(&A.lock);
		A.hist.dirty = true;
		pthread_mutex_unlock(&A.lock);
	}
	strbuf_free(&buf);
}

/* ---- logins ---- */

struct login_alerts {
	bool new_source, new_country, travel;
	char prefix[ALERT_PREFIX_LEN];
	char detail_country[ALERT_DETAIL_MAX];
	char detail_travel[ALERT_DETAIL_MAX];
};

/* The geographic part of a login, under the lock: new country, and the
 * speed from the last located login. */
static void login_geo(struct alert_user *u, bool first, const struct alert_geo *g, time_t now,
		      struct login_alerts *out)
{
	if (!first && u->ncountries && !alert_hist_country_known(u, g->country)) {
		out->new_country = true;
		snprintf(out->detail_country, sizeof(out->detail_country), "country=%s previous=%s",
			 g->country, u->countries[0]);
	}
	if (!first && u->geo_time && u->geo_has_location && g->has_location &&
	    strcmp(u->geo_country, g->country) != 0) {
		double km = alert_rule_distance_km(u->geo_lat, u->geo_lon, g->lat, g->lon);
		if (alert_rule_travel_impossible(km, u->geo_time, now, A.cfg->alert_travel_speed_kmh)) {
			long long secs = now > u->geo_time ? (long long)(now - u->geo_time) : 0;
			out->travel = true;
			snprintf(out->detail_travel, sizeof(out->detail_travel),
				 "from=%s to=%s km=%.0f seconds=%lld", u->geo_country, g->country, km, secs);
		}
	}
	alert_hist_country_add(u, g->country);
	u->geo_time = now;
	memcpy(u->geo_country, g->country, sizeof(u->geo_country));
	u->geo_has_location = g->has_location;
	u->geo_lat = g->lat;
	u->geo_lon = g->lon;
}

/* known: 1/0 from the caller, -1 when this module's history decides. */
static void alert_login(const char *user, const char *ip, int known, time_t now)
{
	if (!user || !*user)
		return;
	struct alert_geo geo;
	bool located = alert_geo_lookup(ip, &geo);
	struct login_alerts la;
	memset(&la, 0, sizeof(la));
	bool has_prefix = alert_rule_prefix(ip, la.prefix, sizeof(la.prefix));
	pthread_mutex_lock(&A.lock);
	if (!A.up) {
		pthread_mutex_unlock(&A.lock);
		return;
	}
	struct alert_user *u = alert_hist_get(&A.hist, user, true);
	bool first = u->last_login == 0;
	if (known < 0)
		known = has_prefix && alert_hist_prefix_known(u, la.prefix);
	la.new_source = !first && has_prefix && !known;
	if (has_prefix)
		alert_hist_prefix_add(u, la.prefix);
	if (located)
		login_geo(u, first, &geo, now, &la);
	u->last_login = now;
	A.hist.dirty = true;
	pthread_mutex_unlock(&A.lock);

	const char *cc = located ? geo.country : NULL;
	if (la.new_source) {
		char d[ALERT_DETAIL_MAX];
		snprintf(d, sizeof(d), "prefix=%s", la.prefix);
		alert_emit(ALERT_NEW_SOURCE, user, ip, cc, d, now);
	}
	if (la.new_country)
		alert_emit(ALERT_NEW_COUNTRY, user, ip, cc, la.detail_country, now);
	if (la.travel)
		alert_emit(ALERT_IMPOSSIBLE_TRAVEL, user, ip, cc, la.detail_travel, now);
}

void alert_login_ok(const char *user, const char *ip, bool prefix_known, time_t now)
{
	alert_login(user, ip, prefix_known ? 1 : 0, now);
}

void alert_login_seen(const char *user, const char *ip, time_t now)
{
	bool (*fn)(const char *, const char *) = A.prefix_known;
	alert_login(user, ip, fn ? (fn(user, ip) ? 1 : 0) : -1, now);
}

/* ---- the policy engine ---- */

void alert_policy_event(enum alert_kind kind, const char *ip, const char *user, const char *detail)
{
	pthread_mutex_lock(&A.lock);
	bool up = A.up;
	pthread_mutex_unlock(&A.lock);
	if (!up || (kind != ALERT_LOCKOUT && kind != ALERT_SPRAYING))
		return;
	struct alert_geo geo;
	bool located = alert_geo_lookup(ip, &geo);
	alert_emit(kind, user, ip, located ? geo.country : NULL, detail, time(NULL));
}

/* ---- downloads ---- */

void alert_download_add(const char *user, const char *ip, uint64_t bytes, uint64_t now_ms)
{
	if (!user || !bytes)
		return;
	pthread_mutex_lock(&A.lock);
	if (!A.up) {
		pthread_mutex_unlock(&A.lock);
		return;
	}
	struct alert_user *u = alert_hist_get(&A.hist, user, true);
	double before = u->spike.baseline;
	bool spike = alert_rule_spike_add(&u->spike, &A.spike, bytes, now_ms);
	if (u->spike.baseline != before)
		A.hist.dirty = true;
	uint64_t in_window = u->spike.win_bytes;
	double baseline = u->spike.baseline;
	pthread_mutex_unlock(&A.lock);
	if (!spike)
		return;
	char d[ALERT_DETAIL_MAX];
	snprintf(d, sizeof(d), "bytes=%llu window=%u baseline=%.0f action=%s",
		 (unsigned long long)in_window, A.cfg->alert_download_window, baseline,
		 A.spike.throttle ? "throttle" : "log");
	struct alert_geo geo;
	bool located = alert_geo_lookup(ip, &geo);
	alert_emit(ALERT_DOWNLOAD_SPIKE, user, ip, located ? geo.country : NULL, d, time(NULL));
}

uint64_t alert_download_wait(const char *user, uint64_t now_ms)
{
	if (!user)
		return 0;
	uint64_t wait = 0;
	pthread_mutex_lock(&A.lock);
	if (A.up && A.spike.throttle) {
		const struct alert_user *u = alert_hist_get(&A.hist, user, false);
		if (u)
			wait = alert_rule_spike_wait(&u->spike, now_ms);
	}
	pthread_mutex_unlock(&A.lock);
	return wait;
}
