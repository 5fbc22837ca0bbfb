/* The decisions behind security alerts, as pure functions over plain
 * structs: which network a source belongs to, how far apart two logins
 * are and whether anyone could travel that fast, when a user's downloads
 * are a spike and how to pace them, and the rate limit that keeps an
 * attack from flooding the administrator. No locks, no clock, no I/O:
 * alert.c holds the state and the lock; tests/unit/test_alert.c proves
 * these one by one. */
#include "auth/alert.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

bool alert_rule_prefix(const char *ip, char *out, size_t cap)
{
	unsigned char a[16];
	if (!ip)
		return false;
	if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.'))
		ip += 7;
	if (inet_pton(AF_INET, ip, a) == 1) {
		snprintf(out, cap, "%u.%u.%u.0/24", a[0], a[1], a[2]);
		return true;
	}
	if (inet_pton(AF_INET6, ip, a) == 1) {
		memset(a + 8, 0, 8);
		char buf[INET6_ADDRSTRLEN];
		if (!inet_ntop(AF_INET6, a, buf, sizeof(buf)))
			return false;
		snprintf(out, cap, "%s/64", buf);
		return true;
	}
	return false;
}

double alert_rule_distance_km(double lat1, double lon1, double lat2, double lon2)
{
	const double r = 6371.0088, rad = M_PI / 180.0;
	double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
	double h = sin(dlat / 2) * sin(dlat / 2) +
		   cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
	if (h > 1)
		h = 1;
	return 2 * r * asin(sqrt(h));
}

bool alert_rule_travel_impossible(double km, time_t t1, time_t t2, unsigned speed_kmh)
{
	double secs = t2 > t1 ? (double)(t2 - t1) : 1.0;
	return km / (secs / 3600.0) > (double)speed_kmh;
}

/* Closes the windows that ended before now_ms: each folds its bytes into
 * the baseline (empty ones too, so an idle user's baseline decays). */
static void spike_roll(struct alert_spike *sp, const struct alert_spike_params *p, uint64_t now_ms)
{
	if (sp->win_start_ms == 0) {
		sp->win_start_ms = now_ms ? now_ms : 1;
		return;
	}
	if (now_ms < sp->win_start_ms + p->window_ms)
		return;
	uint64_t k = (now_ms - sp->win_start_ms) / p->window_ms;
	sp->baseline = sp->baseline * (1 - ALERT_SPIKE_ALPHA) + (double)sp->win_bytes * ALERT_SPIKE_ALPHA;
	/* Later empty windows only decay it; after 64 it is ~0 anyway. */
	for (uint64_t i = 1; i < k && i < 64; i++)
		sp->baseline *= 1 - ALERT_SPIKE_ALPHA;
	sp->win_start_ms += k * p->window_ms;
	sp->win_bytes = 0;
	sp->alerted = false;
}

bool alert_rule_spike_add(struct alert_spike *sp, const struct alert_spike_params *p,
			  uint64_t bytes, uint64_t now_ms)
{
	spike_roll(sp, p, now_ms);
	sp->win_bytes += bytes;
	if (now_ms < sp->throttle_until && p->rate) {
		uint64_t start = MAX(sp->pace_next, now_ms);
		sp->pace_next = start + bytes * 1000 / p->rate;
	}
	if (sp->alerted || sp->win_bytes <= p->floor ||
	    (double)sp->win_bytes <= sp->baseline * p->factor)
		return false;
	sp->alerted = true;
	if (p->throttle) {
		sp->throttle_until = sp->win_start_ms + p->window_ms;
		sp->pace_next = now_ms;
	}
	return true;
}

uint64_t alert_rule_spike_wait(const struct alert_spike *sp, uint64_t now_ms)
{
	if (now_ms >= sp->throttle_until || sp->pace_next <= now_ms)
		return 0;
	return MIN(sp->pace_next, sp->throttle_until) - now_ms;
}

/* 64-bit FNV-1a: the table keeps hashes, not strings, so its size is fixed. */
static uint64_t rate_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h ? h : 1;
}

/* Up to this many slots are probed; when all are busy the oldest gives way
 * (an extra alert is the safe side of a full table). */
#define RATE_PROBE 16

bool alert_rule_rate_allow(struct alert_rate *r, const char *key, time_t now, unsigned interval)
{
	uint64_t h = rate_hash(key);
	size_t first = (size_t)(h % ALERT_RATE_SLOTS), victim = first;
	bool found = false;
	for (size_t i = 0; i < RATE_PROBE; i++) {
		size_t j = (first + i) % ALERT_RATE_SLOTS;
		if (r->slot[j].key == h) {
			victim = j;
			found = true;
			break;
		}
		if (r->slot[j].key == 0 || r->slot[j].last + (time_t)interval <= now) {
			victim = j;
			break;
		}
		if (r->slot[j].last < r->slot[victim].last)
			victim = j;
	}
	if (found && now < r->slot[victim].last + (time_t)interval)
		return false;
	if (now >= r->minute + 60) {
		r->minute = now;
		r->in_minute = 0;
	}
	if (r->in_minute >= ALERT_RATE_PER_MINUTE)
		return false;
	r->in_minute++;
	r->slot[victim].key = h;
	r->slot[victim].last = now;
	return true;
}
