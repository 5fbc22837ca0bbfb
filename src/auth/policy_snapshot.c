/* A read-only picture of the policy engine for the status page
 * (app/status.c): the sources and usernames with the most recent
 * failures and the locks in force. One pass over the fixed-size table
 * under the engine's lock, like policy_status(); the caller's struct is
 * fixed-size too, so nothing here allocates while the lock is held. */
#include "auth/policy_internal.h"
#include "core/config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* Keeps top[] sorted by failures, most first, at most POLICY_SNAPSHOT_TOP. */
static void snapshot_top_add(struct policy_snapshot_top *top, size_t *n, const char *name,
			     double failures)
{
	size_t k;
	if (*n < POLICY_SNAPSHOT_TOP)
		k = (*n)++;
	else if (failures > top[POLICY_SNAPSHOT_TOP - 1].failures)
		k = POLICY_SNAPSHOT_TOP - 1;
	else
		return;
	while (k > 0 && top[k - 1].failures < failures) {
		top[k] = top[k - 1];
		k--;
	}
	snprintf(top[k].name, sizeof(top[k].name), "%s", name);
	top[k].failures = failures;
}

static void snapshot_lock_add(struct policy_snapshot *out, const struct pol_entry *e, uint64_t now)
{
	if (out->nlocks == POLICY_SNAPSHOT_LOCKS)
		return;
	struct policy_snapshot_lock *l = &out->locks[out->nlocks++];
	snprintf(l->scope, sizeof(l->scope), "%s", policy_entry_scope(e));
	l->ip[0] = l->user[0] = '\0';
	if (e->kind != POL_USER)
		policy_addr_format(e->addr, l->ip, sizeof(l->ip));
	if (e->kind == POL_USER || e->kind == POL_USRC)
		snprintf(l->user, sizeof(l->user), "%s", e->u.user);
	l->remaining_s = (unsigned)((e->lock_until - now + 999) / 1000);
	l->level = e->level;
}

void policy_snapshot(struct policy_snapshot *out)
{
	memset(out, 0, sizeof(*out));
	struct policy *p = policy_g;
	if (!p)
		return;
	out->enabled = true;
	uint64_t now = policy_now();
	pthread_mutex_lock(&p->lock);
	out->breaker = p->breaker_tripped;
	out->entries = p->nentries;
	out->capacity = p->nsets * POL_WAYS;
	for (size_t i = 0; i < p->nsets * POL_WAYS; i++) {
		const struct pol_entry *e = &p->t[i];
		if (!e->h)
			continue;
		if (policy_entry_locked(e, now))
			snapshot_lock_add(out, e, now);
		if (e->kind != POL_SRC && e->kind != POL_USER)
			continue;
		double lv = policy_entry_failures(p, e, now);
		if (lv <= 0)
			continue;
		if (e->kind == POL_SRC) {
			char ip[INET6_ADDRSTRLEN];
			policy_addr_format(e->addr, ip, sizeof(ip));
			snapshot_top_add(out->sources, &out->nsources, ip, lv);
		} else {
			snapshot_top_add(out->users, &out->nusers, e->u.user, lv);
		}
	}
	pthread_mutex_unlock(&p->lock);
}
