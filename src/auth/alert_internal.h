/* What the alert files (auth/alert*.c) share; private to auth/alert*. */
#ifndef RAMPART_AUTH_ALERT_INTERNAL_H
#define RAMPART_AUTH_ALERT_INTERNAL_H

#include "auth/alert.h"
#include "core/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct config;

/* ---- alert_geo.c ---- */
struct alert_geo {
	char country[3];             /* ISO 3166-1 alpha-2, upper case */
	bool has_location;
	double lat, lon;
};
/* Opens (or re-opens: the old handle is swapped out) the database; -1 logged. */
int alert_geo_open(const char *path);
void alert_geo_close(void);
/* False when no database is open or it knows no country for ip. */
bool alert_geo_lookup(const char *ip, struct alert_geo *out);

/* ---- alert_history.c: per-user login history ---- */
#define ALERT_PREFIXES_MAX 8         /* remembered networks per user, newest first */
#define ALERT_COUNTRIES_MAX 8        /* remembered countries per user, newest first */
#define ALERT_PREFIX_LEN 48          /* "xxxx:xxxx:xxxx:xxxx::/64" fits */
#define ALERT_USERS_MAX 200000       /* the oldest login goes when full */

struct alert_user {
	char *name;
	struct alert_user *next;     /* hash chain */
	time_t last_login;           /* 0: never logged in (only downloads seen) */
	time_t geo_time;             /* the last login with a known country */
	char geo_country[3];
	bool geo_has_location;
	double geo_lat, geo_lon;
	char countries[ALERT_COUNTRIES_MAX][3];
	unsigned ncountries;
	char prefixes[ALERT_PREFIXES_MAX][ALERT_PREFIX_LEN];
	unsigned nprefixes;
	struct alert_spike spike;    /* only the baseline is saved */
};

struct alert_hist {
	struct alert_user **bucket;
	size_t nbuckets, n;
	bool dirty;                  /* changed since the last save */
};

void alert_hist_init(struct alert_hist *h);
void alert_hist_free(struct alert_hist *h);
/* The user's record; with create, a new empty one (evicting the oldest
 * when ALERT_USERS_MAX are held). NULL only without create. */
struct alert_user *alert_hist_get(struct alert_hist *h, const char *name, bool create);
bool alert_hist_prefix_known(const struct alert_user *u, const char *prefix);
/* Moves (or adds) the prefix to the front; the oldest falls off. */
void alert_hist_prefix_add(struct alert_user *u, const char *prefix);
bool alert_hist_country_known(const struct alert_user *u, const char *cc);
void alert_hist_country_add(struct alert_user *u, const char *cc);
/* The whole table in the file's format (one line per user). */
void alert_hist_format(const struct alert_hist *h, struct strbuf *out);
/* Reads the file into h (a missing file is an empty history). -1 logged. */
int alert_hist_load(struct alert_hist *h, const char *path);
/* Replaces the file atomically (temp file, fsync, rename). -1 logged. */
int alert_hist_write(const char *path, const struct strbuf *data);

/* ---- alert_sink.c: webhook, command, the background thread ---- */
/* Starts the thread; webhook_url and command may be NULL. */
int alert_sink_start(const struct config *cfg);
/* Queues one alert's JSON (the sink takes it); dropped, with a log
 * line, when the queue is full. */
void alert_sink_post(char *json);
/* Sends what is queued (bounded), waits for commands, stops. */
void alert_sink_stop(void);

/* ---- alert.c, for the thread ---- */
/* Writes the history when it changed. */
void alert_history_flush(void);

#endif
