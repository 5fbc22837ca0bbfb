/* Security alerts (issue #11): a login from a network never seen for that
 * user, from a new country, "impossible travel", a lockout, a spraying
 * source and a mailbox download spike. Each alert is one log line
 * (`event=alert kind=... user=... ip=...`) and, when configured, a JSON
 * object POSTed to a webhook and/or piped to a command, both from one
 * background thread (auth/alert_sink.c) so no client ever waits on them.
 *
 * Files: alert.c (the entry points, per-user state, rate limit), alert_rule.c
 * (the decisions as pure functions, unit-tested), alert_geo.c (the MaxMind
 * database), alert_history.c (per-user login history in state_dir),
 * alert_sink.c (webhook, command, the background thread).
 *
 * Every entry point is thread-safe and a no-op before alert_init() (tools,
 * unit tests of other modules). */
#ifndef RAMPART_AUTH_ALERT_H
#define RAMPART_AUTH_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct config;

enum alert_kind {
	ALERT_NEW_SOURCE,        /* login from a /24 or /64 never seen for the user */
	ALERT_NEW_COUNTRY,       /* login from a country never seen for the user */
	ALERT_IMPOSSIBLE_TRAVEL, /* two logins too far apart for the time between */
	ALERT_LOCKOUT,           /* the policy engine locked a source or user out */
	ALERT_SPRAYING,          /* one source trying many usernames */
	ALERT_DOWNLOAD_SPIKE,    /* bytes fetched in a window far above the baseline */
	ALERT__COUNT,
};

/* "new_source", "impossible_travel"...: the `kind` of the log line and JSON. */
const char *alert_kind_name(enum alert_kind k);

/* ---- lifetime (app/serve.c) ---- */
/* Loads the login history from cfg->state_dir, opens geoip_database and
 * starts the sender thread. cfg must outlive alert_shutdown(). Returns -1
 * (logged) when the history or the database cannot be read. */
int alert_init(const struct config *cfg);
/* SIGHUP: re-opens geoip_database (the old one stays on failure). */
void alert_reload(void);
/* Writes the history, lets queued alerts go out (bounded), stops the thread. */
void alert_shutdown(void);

/* ---- events ---- */
/* A login completed. prefix_known: the source's /24 (IPv4) or /64 (IPv6)
 * logged in as this user before (the policy engine's known-sources
 * record). Never alerts on the user's very first login. */
void alert_login_ok(const char *user, const char *ip, bool prefix_known, time_t now);
/* The same, with this module's own history deciding whether the prefix
 * is known (the default when no known-sources record is wired). */
void alert_login_seen(const char *user, const char *ip, time_t now);
/* Where alert_login_seen() learns whether a prefix is known: the
 * composition root sets the policy engine's known-sources record here
 * (before the workers start); NULL (the default): this module's history. */
void alert_set_prefix_known(bool (*fn)(const char *user, const char *ip));
/* The policy engine's hook: ALERT_LOCKOUT or ALERT_SPRAYING (user may be
 * NULL, detail a short key=value text or NULL). */
void alert_policy_event(enum alert_kind kind, const char *ip, const char *user, const char *detail);
/* FETCH output: `bytes` more were sent to `user` at now_ms (monotonic). */
void alert_download_add(const char *user, const char *ip, uint64_t bytes, uint64_t now_ms);
/* Milliseconds the user's FETCH output must wait before the next message
 * (download_spike_action = throttle during a spike window), else 0. */
uint64_t alert_download_wait(const char *user, uint64_t now_ms);

/* ---- the decisions, as pure functions (alert_rule.c) ---- */
/* "a.b.c.0/24" or the /64 of an IPv6 address ("::ffff:a.b.c.d" counts as
 * IPv4). False for something that is not an address (a unix socket). */
bool alert_rule_prefix(const char *ip, char *out, size_t cap);
/* Great-circle distance in km (haversine, mean Earth radius). */
double alert_rule_distance_km(double lat1, double lon1, double lat2, double lon2);
/* Travel from a login at t1 to one at t2 (seconds) covering km is faster
 * than speed_kmh allows. Less than a second counts as one second. */
bool alert_rule_travel_impossible(double km, time_t t1, time_t t2, unsigned speed_kmh);

/* One user's download accounting: bytes in the current window against an
 * exponentially decayed average of past windows. */
struct alert_spike {
	uint64_t win_start_ms;   /* 0: nothing counted yet */
	uint64_t win_bytes;
	double baseline;         /* decayed average bytes per window */
	bool alerted;            /* this window's spike was reported */
	uint64_t throttle_until; /* ms; pacing applies before this */
	uint64_t pace_next;      /* ms; when the next bytes may go out */
};
struct alert_spike_params {
	uint64_t window_ms;
	unsigned factor;         /* spike: > factor x baseline ... */
	uint64_t floor;          /* ... and > floor bytes */
	bool throttle;           /* pace the user's output until the window ends */
	uint64_t rate;           /* bytes per second while throttled */
};
/* The weight of the newest window in the baseline. */
#define ALERT_SPIKE_ALPHA 0.25
/* Counts bytes at now_ms; true when this makes the window a spike (once
 * per window). */
bool alert_rule_spike_add(struct alert_spike *sp, const struct alert_spike_params *p,
			  uint64_t bytes, uint64_t now_ms);
/* Milliseconds to wait before sending more (0 when not throttled). */
uint64_t alert_rule_spike_wait(const struct alert_spike *sp, uint64_t now_ms);

/* Rate limit: at most one alert per key (kind+user, or kind+ip) per
 * interval, in a fixed table (an attack cannot grow it), plus a global
 * cap per minute. */
#define ALERT_RATE_SLOTS 4096
#define ALERT_RATE_PER_MINUTE 120
struct alert_rate {
	struct { uint64_t key; time_t last; } slot[ALERT_RATE_SLOTS];
	time_t minute;           /* the current minute's start */
	unsigned in_minute;      /* alerts let through in it */
};
bool alert_rule_rate_allow(struct alert_rate *r, const char *key, time_t now, unsigned interval);

/* ---- status: the last alerts, in memory, for the status page
 * (alert_recent.c) ---- */
#define ALERT_RECENT_MAX 20
struct alert_recent {
	char kind[24];
	char user[64];           /* "" when none; truncated */
	char ip[64];
	char country[8];
	char detail[128];
	time_t time;
};
/* Remembers an alert that went out (alert.c, after its rate limit). */
void alert_recent_add(enum alert_kind kind, const char *user, const char *ip,
		      const char *country, const char *detail, time_t now);
/* Copies up to max of the last ALERT_RECENT_MAX alerts, newest first;
 * their number. Thread-safe. */
size_t alert_recent_get(struct alert_recent *out, size_t max);
/* A JSON string for v that jansson accepts whatever the bytes (non-ASCII
 * bytes become '?' when v is not valid UTF-8); JSON null for NULL. New
 * reference. Also for the status page's strings. */
struct json_t *alert_json_str(const char *v);

#endif
