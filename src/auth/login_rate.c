/* A ring of per-minute login counts (auth/login_rate.h). One slot per
 * minute of the last hour, each stamped with its minute, so a slot left
 * from an earlier hour reads as zero without anyone clearing it. One
 * mutex: taken once per authentication attempt (already a slow,
 * rate-limited path), never per command. */
#include "auth/login_rate.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

struct login_rate_slot {
	long long minute;     /* time / 60 of the counts below */
	unsigned ok, fail;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct login_rate_slot g_ring[LOGIN_RATE_MINUTES];

void login_rate_record(const char *result, time_t now)
{
	if (!result)
		return;
	bool ok = strcmp(result, "ok") == 0;
	if (!ok && strcmp(result, "fail") != 0 && strcmp(result, "locked") != 0)
		return;
	long long minute = (long long)now / 60;
	pthread_mutex_lock(&g_lock);
	struct login_rate_slot *s = &g_ring[minute % LOGIN_RATE_MINUTES];
	if (s->minute != minute)
		*s = (struct login_rate_slot){ .minute = minute };
	if (ok)
		s->ok++;
	else
		s->fail++;
	pthread_mutex_unlock(&g_lock);
}

void login_rate_get(time_t now, unsigned ok[LOGIN_RATE_MINUTES], unsigned fail[LOGIN_RATE_MINUTES])
{
	long long last = (long long)now / 60;
	pthread_mutex_lock(&g_lock);
	for (int i = 0; i < LOGIN_RATE_MINUTES; i++) {
		long long minute = last - (LOGIN_RATE_MINUTES - 1) + i;
		const struct login_rate_slot *s = &g_ring[minute % LOGIN_RATE_MINUTES];
		bool valid = minute >= 0 && s->minute == minute;
		ok[i] = valid ? s->ok : 0;
		fail[i] = valid ? s->fail : 0;
	}
	pthread_mutex_unlock(&g_lock);
}
