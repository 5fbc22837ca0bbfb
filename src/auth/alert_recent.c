/* The last ALERT_RECENT_MAX alerts that went out (auth/alert.h), kept in
 * memory for the status page: a ring of fixed-size copies under its own
 * lock, so reading it never waits on the alert front's lock nor grows. */
#include "auth/alert.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct alert_recent g_ring[ALERT_RECENT_MAX];
static size_t g_count;      /* alerts ever added; the next goes to g_count % MAX */

void alert_recent_add(enum alert_kind kind, const char *user, const char *ip,
		      const char *country, const char *detail, time_t now)
{
	pthread_mutex_lock(&g_lock);
	struct alert_recent *a = &g_ring[g_count++ % ALERT_RECENT_MAX];
	snprintf(a->kind, sizeof(a->kind), "%s", alert_kind_name(kind));
	snprintf(a->user, sizeof(a->user), "%s", user ? user : "");
	snprintf(a->ip, sizeof(a->ip), "%s", ip ? ip : "");
	snprintf(a->country, sizeof(a->country), "%s", country ? country : "");
	snprintf(a->detail, sizeof(a->detail), "%s", detail ? detail : "");
	a->time = now;
	pthread_mutex_unlock(&g_lock);
}

size_t alert_recent_get(struct alert_recent *out, size_t max)
{
	pthread_mutex_lock(&g_lock);
	size_t have = g_count < ALERT_RECENT_MAX ? g_count : ALERT_RECENT_MAX, n = 0;
	for (; n < have && n < max; n++)
		out[n] = g_ring[(g_count - 1 - n) % ALERT_RECENT_MAX];
	pthread_mutex_unlock(&g_lock);
	return n;
}
