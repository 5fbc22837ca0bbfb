/* The authentication policy engine (auth/policy.h): counters of failed
 * logins per source address, per /24 or /64 prefix, per username and per
 * username+source; lockouts that double on repeat; spraying detection; the
 * record of sources each user has logged in from ("known sources"); a
 * global circuit breaker; and per-user session counts.
 *
 * Why each rule exists (docs/security.md has the figures):
 *  - Source: one address guessing is locked after lockout_failures in a
 *    window. The answer stays `NO [AUTHENTICATIONFAILED]` after the usual
 *    delay, and the right password fails too: an attacker learns nothing
 *    from a locked source (RFC 9051 11 asks servers to resist guessing).
 *  - Spraying: one address failing on spray_users different names is
 *    locked at once, long before lockout_failures.
 *  - Prefix: an attacker with a /24 or a /64 rotates addresses; the prefix
 *    has its own, higher threshold.
 *  - User: many addresses on one user (a botnet) lock the user for every
 *    source that never logged in as that user. The real user on a known
 *    device is not locked out by the attacker.
 *  - Breaker: above breaker_failures_per_s failures over all sources,
 *    unknown sources get the maximum delay.
 *
 * Counters are leaky buckets: a failure adds 1, the bucket drains at
 * threshold per window, and reaching the threshold locks. So "10 failures
 * in 10 minutes" is exact for a burst, and a slow trickle below the rate
 * never locks.
 *
 * Memory: two set-associative tables (8 ways) sized by table_size, whose
 * least recently used unlocked entry is evicted when a set is full. Keys
 * are SipHash (libsodium crypto_shorthash) under a per-installation random
 * key, so an attacker cannot aim collisions at someone else's entry. The
 * state is saved by auth/policy_state.c. */
#include "auth/policy.h"
#include "auth/audit.h"
#include "auth/policy_internal.h"
#include "core/config.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct policy *policy_g;

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t (*g_clock)(void) = wall_ms;

void policy_set_clock(uint64_t (*clock_ms)(void))
{
	g_clock = clock_ms ? clock_ms : wall_ms;
}

uint64_t policy_now(void)
{
	return g_clock();
}

/* ---- addresses ---- */

static bool addr_is_v4(const uint8_t a[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(a, mapped, 12) == 0;
}

bool policy_addr_parse(const char *ip, uint8_t out[16])
{
	memset(out, 0, 16);
	struct in_addr v4;
	if (inet_pton(AF_INET, ip, &v4) == 1) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &v4, 4);
		return true;
	}
	return inet_pton(AF_INET6, ip, out) == 1;
}

void policy_addr_prefix(const uint8_t addr[16], uint8_t out[16])
{
	memcpy(out, addr, 16);
	if (addr_is_v4(addr))
		out[15] = 0;                /* /24 */
	else
		memset(out + 8, 0, 8);      /* /64 */
}

void policy_addr_format(const uint8_t addr[16], char *buf, size_t size)
{
	if (addr_is_v4(addr))
		inet_ntop(AF_INET, addr + 12, buf, (socklen_t)size);
	else
		inet_ntop(AF_INET6, addr, buf, (socklen_t)size);
}

/* The form a known source is remembered in: an IPv4 address exactly (a
 * /24 is often shared by unrelated customers: CGNAT, hosting), an IPv6
 * /64 (one link; privacy addresses rotate inside it). */
static void addr_known_form(const uint8_t addr[16], uint8_t out[16])
{
	memcpy(out, addr, 16);
	if (!addr_is_v4(addr))
		memset(out + 8, 0, 8);
}

/* ---- keys and tables ---- */

static uint64_t key_hash(const struct policy *p, int kind, const uint8_t addr[16], const char *user)
{
	unsigned char buf[1 + 16 + 256];
	size_t n = 0, ulen = user ? strnlen(user, 255) : 0;
	buf[n++] = (unsigned char)kind;
	if (addr) {
		memcpy(buf + n, addr, 16);
		n += 16;
	}
	memcpy(buf + n, user ? user : "", ulen);
	n += ulen;
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, buf, n, p->hkey);
	return h ? h : 1; /* 0 marks a free slot */
}

static bool entry_locked(const struct pol_entry *e, uint64_t now)
{
	return e->lock_until > now;
}

/* The entry for h; created (evicting the set's least useful one) when
 * `create`. NULL when absent and not created. */
struct pol_entry *policy_entry_find(struct policy *p, uint64_t h, bool create, uint64_t now)
{
	struct pol_entry *set = &p->t[(h & (p->nsets - 1)) * POL_WAYS], *victim = NULL;
	for (unsigned i = 0; i < POL_WAYS; i++)
		if (set[i].h == h)
			return &set[i];
	if (!create)
		return NULL;
	for (unsigned i = 0; i < POL_WAYS && !victim; i++)
		if (!set[i].h)
			victim = &set[i];
	if (!victim) {
		/* Unlocked before locked; among them the least recently used,
		 * among locked ones the first to expire. */
		for (unsigned i = 0; i < POL_WAYS; i++) {
			struct pol_entry *e = &set[i];
			bool el = entry_locked(e, now);
			if (!victim) {
				victim = e;
				continue;
			}
			bool vl = entry_locked(victim, now);
			if ((vl && !el) || (vl == el && (el ? e->lock_until < victim->lock_until
							 : e->last_ms < victim->last_ms)))
				victim = e;
		}
		p->evictions++;
	} else {
		p->nentries++;
	}
	memset(victim, 0, sizeof(*victim));
	victim->h = h;
	victim->last_ms = now;
	return victim;
}

static struct pol_entry *entry_get(struct policy *p, int kind, const uint8_t addr[16],
				   const char *user, bool create, uint64_t now)
{
	struct pol_entry *e = policy_entry_find(p, key_hash(p, kind, addr, user), create, now);
	if (e && e->kind == 0) {
		e->kind = (uint8_t)kind;
		if (addr)
			memcpy(e->addr, addr, 16);
		if (user && kind != POL_SRC)
			snprintf(e->u.user, sizeof(e->u.user), "%s", user);
	}
	return e;
}

struct pol_known *policy_known_find(struct policy *p, uint64_t h, bool create, uint64_t now)
{
	struct pol_known *set = &p->k[(h & (p->knsets - 1)) * POL_WAYS], *victim = NULL;
	for (unsigned i = 0; i < POL_WAYS; i++)
		if (set[i].h == h)
			return &set[i];
	if (!create)
		return NULL;
	for (unsigned i = 0; i < POL_WAYS; i++)
		if (!victim || !set[i].h || (victim->h && set[i].last_ms < victim->last_ms))
			victim = &set[i];
	victim->h = h;
	victim->last_ms = now;
	return victim;
}

static uint64_t known_key(struct policy *p, const char *user, const uint8_t addr[16])
{
	uint8_t k[16];
	addr_known_form(addr, k);
	return key_hash(p, user ? POL_KNOWN_USER : POL_KNOWN_ANY, k, user);
}

/* ---- leaky buckets and locks ---- */

static float bucket_level(const struct pol_entry *e, uint64_t now, unsigned threshold,
			  unsigned window_s)
{
	double drained = (double)(now > e->last_ms ? now - e->last_ms : 0) * threshold /
			 ((double)window_s * 1000.0);
	double v = e->fail - drained;
	return v > 0 ? (float)v : 0;
}

static void bucket_add(struct pol_entry *e, uint64_t now, unsigned threshold, unsigned window_s)
{
	e->fail = bucket_level(e, now, threshold, window_s) + 1;
	e->last_ms = now;
}

/* Locks e: lockout_duration doubled per earlier lockout, up to the max;
 * the count starts again after a quiet period as long as the max. */
static unsigned entry_lock(struct policy *p, struct pol_entry *e, uint64_t now)
{
	const struct config *c = p->cfg;
	if (e->lock_until && now > e->lock_until + (uint64_t)c->policy_lockout_max_duration * 1000)
		e->level = 0;
	uint64_t dur = (uint64_t)c->policy_lockout_duration << MIN(e->level, 30);
	if (dur > c->policy_lockout_max_duration)
		dur = c->policy_lockout_max_duration;
	if (e->level < 255)
		e->level++;
	e->lock_until = now + dur * 1000;
	e->fail = 0;
	return (unsigned)dur;
}

/* Spraying: the last POL_SPRAY_SLOTS usernames a source failed on; how
 * many distinct ones within the window. */
static unsigned spray_record(struct pol_entry *src, uint64_t uh, uint64_t now, unsigned window_s)
{
	uint32_t h32 = (uint32_t)uh, now_s = (uint32_t)(now / 1000);
	struct pol_spray *slot = NULL, *oldest = &src->u.spray[0];
	for (unsigned i = 0; i < POL_SPRAY_SLOTS; i++) {
		struct pol_spray *s = &src->u.spray[i];
		if (s->at_s && s->uh == h32)
			slot = s;
		if (s->at_s < oldest->at_s)
			oldest = s;
	}
	if (!slot) {
		slot = oldest;
		slot->uh = h32;
	}
	slot->at_s = now_s ? now_s : 1;
	unsigned n = 0;
	for (unsigned i = 0; i < POL_SPRAY_SLOTS; i++)
		if (src->u.spray[i].at_s && src->u.spray[i].at_s + window_s >= now_s)
			n++;
	return n;
}

/* ---- one attempt ---- */

void policy_auth_begin(struct policy_auth *a, const char *user, const char *ip, bool trusted)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->user, sizeof(a->user), "%s", user ? user : "");
	a->has_addr = ip && policy_addr_parse(ip, a->addr);
	a->trusted = trusted;
	a->verdict = POLICY_ALLOW;
	a->reason = "ok";
	if (a->has_addr) {
		uint8_t pfx[16];
		policy_addr_prefix(a->addr, pfx);
		a->fair_key = hash_bytes(pfx, 16) | ((uint64_t)1 << 32);
	}
	struct policy *p = policy_g;
	if (!p || !a->has_addr || trusted)
		return;
	uint64_t now = policy_now();
	uint8_t pfx[16];
	policy_addr_prefix(a->addr, pfx);
	pthread_mutex_lock(&p->lock);
	a->known = policy_known_find(p, known_key(p, a->user, a->addr), false, now) != NULL;
	struct pol_entry *e;
	if ((e = entry_get(p, POL_SRC, a->addr, NULL, false, now)) && entry_locked(e, now))
		a->reason = "source_locked";
	else if ((e = entry_get(p, POL_USRC, a->addr, a->user, false, now)) && entry_locked(e, now))
		a->reason = "user_source_locked";
	else if (!a->known && (e = entry_get(p, POL_NET, pfx, NULL, false, now)) &&
		 entry_locked(e, now))
		a->reason = "prefix_locked";
	else if (!a->known && (e = entry_get(p, POL_USER, NULL, a->user, false, now)) &&
		 entry_locked(e, now))
		a->reason = "user_locked";
	pthread_mutex_unlock(&p->lock);
	/* A refused attempt computes nothing: it skips the per-prefix queues
	 * (fair_key 0) so it never waits behind that prefix's hashing. */
	if (strcmp(a->reason, "ok") != 0) {
		a->verdict = POLICY_REFUSE;
		a->fair_key = 0;
		return;
	}
	/* A known device gets a work-pool queue of its own, apart from its
	 * prefix: noisy neighbours do not delay the real user's check. */
	if (a->known)
		a->fair_key = hash_bytes(a->addr, 16) | ((uint64_t)2 << 32);
}

/* Events found under the lock, reported after it. */
struct pol_events {
	struct policy_event ev[4];
	unsigned n;
};

static void event_add(struct pol_events *evs, enum policy_event_type type, const char *scope,
		      unsigned dur, unsigned level)
{
	if (evs->n < ARRAY_SIZE(evs->ev))
		evs->ev[evs->n++] = (struct policy_event){ type, scope, "", "", dur, level };
}

static void lock_event(struct policy *p, struct pol_entry *e, uint64_t now, struct pol_events *evs,
		       const char *scope)
{
	unsigned d = entry_lock(p, e, now);
	event_add(evs, POLICY_EV_LOCKOUT, scope, d, e->level);
}

/* Progressive delay: nothing extra for a first failure, then delay_base
 * doubling per failure counted in the source's bucket, up to delay_max. */
static unsigned progressive_delay(const struct config *c, float level)
{
	if (level < 2)
		return 0;
	unsigned k = (unsigned)level - 2;
	uint64_t d = (uint64_t)c->policy_delay_base_ms << MIN(k, 20u);
	return (unsigned)MIN(d, (uint64_t)c->policy_delay_max_ms);
}

static unsigned record_failure(struct policy *p, struct policy_auth *a, enum policy_outcome o,
			       uint64_t now, struct pol_events *evs)
{
	const struct config *c = p->cfg;
	unsigned win = c->policy_lockout_window;
	struct pol_entry *src = entry_get(p, POL_SRC, a->addr, NULL, true, now);
	bool was_locked = entry_locked(src, now);
	bucket_add(src, now, c->policy_lockout_failures, win);
	float level = src->fail;
	unsigned distinct = spray_record(src, key_hash(p, POL_USER, NULL, a->user), now, win);
	if (!was_locked && distinct >= c->policy_spray_users) {
		unsigned d = entry_lock(p, src, now);
		event_add(evs, POLICY_EV_SPRAYING, "source", d, src->level);
		event_add(evs, POLICY_EV_LOCKOUT, "source", d, src->level);
	} else if (!was_locked && src->fail >= c->policy_lockout_failures) {
		unsigned d = entry_lock(p, src, now);
		event_add(evs, POLICY_EV_LOCKOUT, "source", d, src->level);
	}
	/* A refused or unchecked attempt proves nothing about the prefix or
	 * the user, and must not let one locked source lock its neighbours. */
	if (o == POLICY_FAIL) {
		uint8_t pfx[16];
		policy_addr_prefix(a->addr, pfx);
		struct pol_entry *e = entry_get(p, POL_NET, pfx, NULL, true, now);
		bucket_add(e, now, c->policy_prefix_failures, win);
		if (!entry_locked(e, now) && e->fail >= c->policy_prefix_failures)
			lock_event(p, e, now, evs, "prefix");
		e = entry_get(p, POL_USRC, a->addr, a->user, true, now);
		bucket_add(e, now, c->policy_lockout_failures, win);
		/* One source adds at most POL_USER_PER_SOURCE to the user's
		 * count: locking the user for new devices takes many sources
		 * (the source's own lockout handles a single one). */
		bool counts = e->fail <= POL_USER_PER_SOURCE;
		if (!entry_locked(e, now) && e->fail >= c->policy_lockout_failures)
			lock_event(p, e, now, evs, "user_source");
		if (counts) {
			e = entry_get(p, POL_USER, NULL, a->user, true, now);
			bucket_add(e, now, c->policy_user_failures, win);
			if (!entry_locked(e, now) && e->fail >= c->policy_user_failures)
				lock_event(p, e, now, evs, "user");
		}
	}
	/* The breaker: a bucket over every source that drains at the rate. */
	double drained = (double)(now > p->breaker_ms ? now - p->breaker_ms : 0) *
			 c->policy_breaker_rate / 1000.0;
	p->breaker = (float)MAX(0.0, p->breaker - drained) + 1;
	p->breaker_ms = now;
	bool tripped = p->breaker > c->policy_breaker_rate;
	if (tripped && !p->breaker_tripped)
		log_warn("event=policy_breaker state=on failures_per_s_over=%u",
			 c->policy_breaker_rate);
	p->breaker_tripped = tripped;
	if (tripped && !a->known)
		return c->policy_delay_max_ms;
	return progressive_delay(c, level);
}

unsigned policy_auth_end(struct policy_auth *a, enum policy_outcome o)
{
	struct policy *p = policy_g;
	if (!p || !a->has_addr || a->trusted)
		return 0;
	uint64_t now = policy_now();
	struct pol_events evs = { .n = 0 };
	unsigned delay = 0;
	pthread_mutex_lock(&p->lock);
	if (o == POLICY_OK) {
		policy_known_find(p, known_key(p, a->user, a->addr), true, now)->last_ms = now;
		policy_known_find(p, known_key(p, NULL, a->addr), true, now)->last_ms = now;
		struct pol_entry *e = entry_get(p, POL_USRC, a->addr, a->user, false, now);
		if (e && !entry_locked(e, now))
			e->fail = 0;
	} else if (o == POLICY_BUSY) {
		/* Not checked, so not a failure: counting it locked a NAT
		 * address out as a sprayer when its clients reconnected at once
		 * (more logins than max_queued_checks). A guesser gains nothing:
		 * its checked attempts are counted, the rest never ran. */
		pthread_mutex_unlock(&p->lock);
		return 0;
	} else {
		delay = record_failure(p, a, o, now, &evs);
	}
	p->dirty = true;
	void (*hook)(const struct policy_event *, void *) = p->hook;
	void *hook_arg = p->hook_arg;
	pthread_mutex_unlock(&p->lock);
	char ip[INET6_ADDRSTRLEN] = "", user[128];
	policy_addr_format(a->addr, ip, sizeof(ip));
	audit_token(user, sizeof(user), a->user);
	for (unsigned i = 0; i < evs.n; i++) {
		struct policy_event *ev = &evs.ev[i];
		ev->ip = ip;
		ev->user = a->user;
		if (ev->type == POLICY_EV_LOCKOUT)
			log_warn("event=policy_lockout scope=%s ip=%s user=%s duration_s=%u level=%u",
				 ev->scope, ip, user, ev->duration_s, ev->level);
		else
			log_warn("event=policy_spraying ip=%s", ip);
		if (hook)
			hook(ev, hook_arg);
	}
	return delay;
}

const char *policy_auth_decision(const struct policy_auth *a, unsigned delay_ms)
{
	if (a->verdict == POLICY_REFUSE)
		return "locked";
	return delay_ms ? "delay" : "allow";
}

void policy_set_event_hook(void (*fn)(const struct policy_event *ev, void *arg), void *arg)
{
	struct policy *p = policy_g;
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->hook = fn;
	p->hook_arg = arg;
	pthread_mutex_unlock(&p->lock);
}

/* ---- sessions and connections ---- */

static struct pol_session **session_slot(struct policy *p, const char *user)
{
	struct pol_session **pp = &p->sessions[hash_bytes(user, strlen(user)) % POL_SESSION_BUCKETS];
	while (*pp && strcmp((*pp)->user, user) != 0)
		pp = &(*pp)->next;
	return pp;
}

bool policy_session_room(const char *user)
{
	struct policy *p = policy_g;
	if (!p)
		return true;
	pthread_mutex_lock(&p->lock);
	struct pol_session *e = *session_slot(p, user);
	bool ok = !e || e->count < p->cfg->policy_max_sessions_per_user;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

void policy_session_open(const char *user)
{
	struct policy *p = policy_g;
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	struct pol_session **pp = session_slot(p, user);
	if (!*pp) {
		*pp = xcalloc(1, sizeof(**pp) + strlen(user) + 1);
		strcpy((*pp)->user, user);
	}
	(*pp)->count++;
	pthread_mutex_unlock(&p->lock);
}

void policy_session_close(const char *user)
{
	struct policy *p = policy_g;
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	struct pol_session **pp = session_slot(p, user);
	if (*pp && (*pp)->count > 0 && --(*pp)->count == 0) {
		struct pol_session *s = *pp;
		*pp = s->next;
		free(s);
	}
	pthread_mutex_unlock(&p->lock);
}

bool policy_addr_known(const struct sockaddr *sa)
{
	struct policy *p = policy_g;
	if (!p)
		return false;
	uint8_t a[16] = { 0 };
	if (sa->sa_family == AF_INET) {
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else {
		return false;
	}
	pthread_mutex_lock(&p->lock);
	bool known = policy_known_find(p, known_key(p, NULL, a), false, policy_now()) != NULL;
	pthread_mutex_unlock(&p->lock);
	return known;
}

/* ---- administration ---- */

static void entry_clear(struct pol_entry *e)
{
	e->lock_until = 0;
	e->level = 0;
	e->fail = 0;
	if (e->kind == POL_SRC)
		memset(&e->u, 0, sizeof(e->u));
}

int policy_unlock(const char *what)
{
	struct policy *p = policy_g;
	if (!p || !what || !*what)
		return -1;
	uint8_t addr[16], pfx[16];
	bool is_ip = policy_addr_parse(what, addr);
	policy_addr_prefix(addr, pfx);
	int n = 0;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->nsets * POL_WAYS; i++) {
		struct pol_entry *e = &p->t[i];
		bool hit = false;
		if (!e->h)
			continue;
		if (is_ip)
			hit = ((e->kind == POL_SRC || e->kind == POL_USRC) && !memcmp(e->addr, addr, 16)) ||
			      (e->kind == POL_NET && !memcmp(e->addr, pfx, 16));
		else
			hit = (e->kind == POL_USER || e->kind == POL_USRC) &&
			      strncmp(e->u.user, what, sizeof(e->u.user) - 1) == 0;
		if (hit) {
			entry_clear(e);
			n++;
		}
	}
	p->dirty = true;
	pthread_mutex_unlock(&p->lock);
	log_info("event=policy_unlock what=%s entries=%d", is_ip ? "ip" : "user", n);
	return n;
}

static const char *kind_name(int kind)
{
	switch (kind) {
	case POL_SRC: return "source";
	case POL_NET: return "prefix";
	case POL_USER: return "user";
	case POL_USRC: return "user_source";
	default: return "?";
	}
}

#define STATUS_TOP 10

void policy_status(struct strbuf *out)
{
	struct policy *p = policy_g;
	if (!p) {
		strbuf_adds(out, "status=disabled\n");
		return;
	}
	uint64_t now = policy_now();
	const struct config *c = p->cfg;
	struct { float level; size_t i; } top[STATUS_TOP];
	size_t ntop = 0;
	pthread_mutex_lock(&p->lock);
	strbuf_addf(out, "entries=%zu capacity=%zu evictions=%llu breaker=%s\n", p->nentries,
		    p->nsets * POL_WAYS, (unsigned long long)p->evictions,
		    p->breaker_tripped ? "on" : "off");
	for (size_t i = 0; i < p->nsets * POL_WAYS; i++) {
		const struct pol_entry *e = &p->t[i];
		if (!e->h)
			continue;
		char ip[INET6_ADDRSTRLEN] = "-";
		if (e->kind != POL_USER)
			policy_addr_format(e->addr, ip, sizeof(ip));
		if (entry_locked(e, now)) {
			strbuf_addf(out, "locked scope=%s ip=%s user=%s remaining_s=%llu level=%u\n",
				    kind_name(e->kind), ip,
				    e->kind == POL_USER || e->kind == POL_USRC ? e->u.user : "-",
				    (unsigned long long)((e->lock_until - now + 999) / 1000), e->level);
		}
		if (e->kind != POL_SRC)
			continue;
		float lv = bucket_level(e, now, c->policy_lockout_failures, c->policy_lockout_window);
		if (lv <= 0)
			continue;
		size_t k;
		if (ntop < STATUS_TOP)
			k = ntop++;
		else if (lv > top[STATUS_TOP - 1].level)
			k = STATUS_TOP - 1;
		else
			continue;
		while (k > 0 && top[k - 1].level < lv) {
			top[k] = top[k - 1];
			k--;
		}
		top[k].level = lv;
		top[k].i = i;
	}
	for (size_t k = 0; k < ntop; k++) {
		char ip[INET6_ADDRSTRLEN];
		policy_addr_format(p->t[top[k].i].addr, ip, sizeof(ip));
		strbuf_addf(out, "failing ip=%s recent_failures=%.1f\n", ip, (double)top[k].level);
	}
	pthread_mutex_unlock(&p->lock);
}

int policy_control(const char *args, struct strbuf *out)
{
	if (strcmp(args, "status") == 0) {
		policy_status(out);
		return 0;
	}
	if (strncmp(args, "unlock ", 7) == 0 && args[7]) {
		int n = policy_unlock(args + 7);
		if (n < 0) {
			strbuf_adds(out, "policy engine not running\n");
			return -1;
		}
		strbuf_addf(out, "unlocked entries=%d\n", n);
		return 0;
	}
	strbuf_adds(out, "usage: security status | security unlock IP|USER\n");
	return -1;
}

size_t policy_entries(void)
{
	struct policy *p = policy_g;
	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	size_t n = p->nentries;
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* ---- lifetime ---- */

static size_t pow2_sets(unsigned entries)
{
	size_t sets = 1;
	while (sets * POL_WAYS < entries)
		sets <<= 1;
	return sets;
}

int policy_init(const struct config *cfg)
{
	if (policy_g)
		return -1;
	if (sodium_init() < 0)
		return -1;
	struct policy *p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->cfg = cfg;
	p->nsets = pow2_sets(cfg->policy_table_size);
	p->knsets = p->nsets;
	p->t = xcalloc(p->nsets * POL_WAYS, sizeof(*p->t));
	p->k = xcalloc(p->knsets * POL_WAYS, sizeof(*p->k));
	p->path = xasprintf("%s/policy.state", cfg->state_dir);
	randombytes_buf(p->hkey, sizeof(p->hkey));
	policy_state_load(p);
	policy_g = p;
	return policy_state_start(p);
}

void policy_shutdown(void)
{
	struct policy *p = policy_g;
	if (!p)
		return;
	policy_state_stop(p);
	policy_save();
	policy_g = NULL;
	for (size_t b = 0; b < POL_SESSION_BUCKETS; b++) {
		while (p->sessions[b]) {
			struct pol_session *s = p->sessions[b];
			p->sessions[b] = s->next;
			free(s);
		}
	}
	free(p->t);
	free(p->k);
	free(p->path);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* lifecycle (issue #13): SIGHUP's snapshot. The counters stay; thresholds,
 * durations and delays apply from the next decision. table_size is fixed
 * at start (the table is not resized). The old snapshot stays valid until
 * exit (app/reload.c), so a reader that took p->cfg before the switch may
 * finish with it. */
void policy_reconfigure(const struct config *cfg)
{
	struct policy *p = policy_g;
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	__atomic_store_n(&p->cfg, cfg, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&p->lock);
}

/* ---- status (auth/policy_snapshot.c) ---- */

float policy_entry_failures(const struct policy *p, const struct pol_entry *e, uint64_t now)
{
	const struct config *c = p->cfg;
	unsigned threshold = e->kind == POL_NET    ? c->policy_prefix_failures
			     : e->kind == POL_USER ? c->policy_user_failures
						   : c->policy_lockout_failures;
	return bucket_level(e, now, threshold, c->policy_lockout_window);
}

bool policy_entry_locked(const struct pol_entry *e, uint64_t now)
{
	return entry_locked(e, now);
}

const char *policy_entry_scope(const struct pol_entry *e)
{
	return kind_name(e->kind);
}
