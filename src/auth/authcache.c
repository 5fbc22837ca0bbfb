/* The authentication cache (auth/authcache.h): "this password verified for
 * this user against this hash less than cache_ttl seconds ago", so that a
 * phone reconnecting every few minutes costs one argon2id run per ttl
 * instead of one per connection (issue #14, "LOGIN cost").
 *
 * Model and warning: Dovecot's auth cache (auth_cache_size, auth_cache_ttl,
 * auth_cache_negative_ttl; doc.dovecot.org "Authentication Caching"). It
 * caches the passdb lookup and answers from it, and its documentation
 * lists what follows from that:
 *  - After a password change the OLD password keeps working until the
 *    entry expires (its "using old cached password" scenario): the cache
 *    answers without asking the passdb again.
 *  - Negative entries (unknown user, wrong password) are cached too, by
 *    default for an hour: a user just created, or a password just reset,
 *    is refused until they expire.
 *  - When the passdb fails, expired entries are used anyway.
 *  - Entries are keyed by whatever the lookup depends on, which an
 *    administrator must spell out (cache_key) for some backends.
 *  - SIGHUP flushes it, SIGUSR2 logs hits and misses.
 *
 * What Rampart does instead, and why each choice:
 *  - The cache replaces ONE step: password_verify of the primary password
 *    in passdb_authenticate. Everything around it runs on every attempt
 *    exactly as without a cache: the re-read of the users and app-password
 *    files, the user's existence and allow_nets, the app passwords (every
 *    keyed-hash slot), app_passwords_only, the policy engine's verdict
 *    before the check and its bookkeeping after, the session limit, the
 *    store check, the audit line and the hash upgrade hook.
 *  - The key binds the user, the stored hash string as read from the users
 *    file at this attempt, and the password: K = BLAKE2b-256 keyed with a
 *    random per-process key over user NUL hash NUL password
 *    (crypto_generichash). A new password, a rehash to argon2id, a deleted
 *    user (no hash to read), a user re-created with another password: the
 *    key changes or the lookup never happens, so the cache can answer yes
 *    only where password_verify(hash, password) would, from the next
 *    attempt on, with no invalidation step to forget. The users file is
 *    re-stat'ed on every attempt (passdb_refresh), so `rampart user passwd`
 *    counts at once, without a reload.
 *  - Only successes are stored (no negative cache), and a hit is used only
 *    where it would end in success: not when an app password matched (its
 *    failure reasons need the normal path), not under app_passwords_only.
 *    So every failure still runs exactly one slow hash (passdb.c's timing
 *    neutrality) and answers after the same delay; a hit reveals nothing
 *    but "right password", which its caller already knew. The average
 *    check time used to pad refused attempts (imap/cmd_auth.c) leaves hits
 *    out, so a locked source is still answered no sooner than a wrong
 *    password.
 *  - A failed or refused attempt for a user (wrong password, unknown or
 *    refused source, lockout) forgets the user's entries: after a
 *    suspicious event the next login pays the full check. An attacker can
 *    use this only to make the real user pay the argon2id run that every
 *    login paid without a cache.
 *  - The ttl is fixed from the verification (a hit does not extend it):
 *    an entry says "verified less than ttl ago", never more. Expired
 *    entries are never used, whatever happens to the users file.
 *  - SIGHUP forgets everything and draws a new key; new settings apply.
 *  - `rampart kick USER` does not forget: it ends sessions but does not
 *    change what the user may log in with (the cache answers only as the
 *    users file would). Changing the password does.
 *
 * The risk that remains: the process memory holds, for each user who
 * logged in within the ttl, a keyed BLAKE2b of the password, and the key.
 * Someone who can read that memory can test guesses at BLAKE2b speed
 * instead of argon2id speed (the same exposure as the app passwords'
 * keyed hashes, which are on disk). Hence: a short default ttl (5
 * minutes), entries and key in sodium_malloc memory (mlock'ed so never
 * swapped, MADV_DONTDUMP so not in core dumps, guard pages), wiped when
 * freed, and cache_ttl = 0 to turn it off. Never the password itself,
 * never the hash.
 *
 * Structure: cache_size entries in sets of 8 (set-associative, like the
 * policy engine's table). A user's entries all live in the set chosen by a
 * SipHash of the user name under a second random key, so forgetting a
 * user scans 8 entries and an attacker cannot aim names at one set. A full
 * set gives up its oldest entry. Lookups compare the 32-byte key with
 * sodium_memcmp against every way of the set. */
#include "auth/authcache.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define AUTHCACHE_WAYS 8

struct authcache_entry {
	unsigned char mac[crypto_generichash_BYTES];   /* user NUL hash NUL password */
	uint64_t tag;                                  /* SipHash of the user */
	uint64_t expires_ms;                           /* 0: empty */
};

/* The secrets, in one guarded allocation. */
struct authcache_keys {
	unsigned char mac[crypto_generichash_KEYBYTES];
	unsigned char tag[crypto_shorthash_KEYBYTES];
};

struct authcache {
	pthread_mutex_t lock;          /* guards everything below */
	unsigned ttl_s;
	size_t nsets;                  /* 0: off */
	struct authcache_entry *v;     /* nsets * AUTHCACHE_WAYS, sodium_allocarray */
	struct authcache_keys *keys;   /* sodium_malloc */
	size_t used;                   /* entries not empty (expired ones included) */
};

/* Monotonic: a wall-clock step must not revive or extend an entry. */
static uint64_t (*authcache_clock)(void) = now_ms;

void authcache_set_clock(uint64_t (*clock_ms)(void))
{
	authcache_clock = clock_ms ? clock_ms : now_ms;
}

/* Frees the table and keys (wiped by sodium_free). Under the lock. */
static void authcache_drop(struct authcache *c)
{
	if (c->used)
		metrics_auth_cache_entries(-(int64_t)c->used);
	sodium_free(c->v);
	sodium_free(c->keys);
	c->v = NULL;
	c->keys = NULL;
	c->nsets = 0;
	c->used = 0;
}

/* A fresh table and fresh keys for the settings. Under the lock. */
static void authcache_build(struct authcache *c, unsigned ttl_s, unsigned size)
{
	authcache_drop(c);
	c->ttl_s = ttl_s;
	if (!ttl_s || !size)
		return;
	size_t nsets = ((size_t)size + AUTHCACHE_WAYS - 1) / AUTHCACHE_WAYS;
	c->v = sodium_allocarray(nsets * AUTHCACHE_WAYS, sizeof(*c->v));
	c->keys = sodium_malloc(sizeof(*c->keys));
	if (!c->v || !c->keys) {
		/* Off rather than half on: every login still works, slowly. */
		log_msg(LOG_LVL_WARN, "event=authcache_warning msg=\"cannot allocate the "
			"authentication cache, running without it\" entries=%u", size);
		sodium_free(c->v);
		sodium_free(c->keys);
		c->v = NULL;
		c->keys = NULL;
		return;
	}
	memset(c->v, 0, nsets * AUTHCACHE_WAYS * sizeof(*c->v));
	crypto_generichash_keygen(c->keys->mac);
	crypto_shorthash_keygen(c->keys->tag);
	c->nsets = nsets;
}

struct authcache *authcache_new(unsigned ttl_s, unsigned size)
{
	if (sodium_init() < 0)
		fatal("authcache: libsodium does not initialise");
	struct authcache *c = xcalloc(1, sizeof(*c));
	if (pthread_mutex_init(&c->lock, NULL) != 0)
		fatal("authcache: cannot initialise its lock");
	authcache_build(c, ttl_s, size);
	return c;
}

void authcache_free(struct authcache *c)
{
	if (!c)
		return;
	authcache_drop(c);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void authcache_configure(struct authcache *c, unsigned ttl_s, unsigned size)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	authcache_build(c, ttl_s, size);
	pthread_mutex_unlock(&c->lock);
}

bool authcache_enabled(struct authcache *c)
{
	if (!c)
		return false;
	pthread_mutex_lock(&c->lock);
	bool on = c->nsets != 0;
	pthread_mutex_unlock(&c->lock);
	return on;
}

/* The entry's key and the user's tag. Under the lock (the keys change on
 * reconfiguration); a few hundred nanoseconds. */
static void authcache_key(const struct authcache *c, const char *user, const char *hash,
			  const char *password, unsigned char mac[crypto_generichash_BYTES],
			  uint64_t *tag)
{
	static const unsigned char nul = 0;
	crypto_generichash_state st;
	crypto_generichash_init(&st, c->keys->mac, sizeof(c->keys->mac), crypto_generichash_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)user, strlen(user));
	crypto_generichash_update(&st, &nul, 1);
	crypto_generichash_update(&st, (const unsigned char *)hash, strlen(hash));
	crypto_generichash_update(&st, &nul, 1);
	crypto_generichash_update(&st, (const unsigned char *)password, strlen(password));
	crypto_generichash_final(&st, mac, crypto_generichash_BYTES);
	sodium_memzero(&st, sizeof(st));
	crypto_shorthash((unsigned char *)tag, (const unsigned char *)user, strlen(user),
			 c->keys->tag);
}

static struct authcache_entry *authcache_set(const struct authcache *c, uint64_t tag)
{
	return &c->v[(size_t)(tag % c->nsets) * AUTHCACHE_WAYS];
}

/* Empties an entry. Under the lock. */
static void authcache_clear_entry(struct authcache *c, struct authcache_entry *e)
{
	sodium_memzero(e, sizeof(*e));
	c->used--;
	metrics_auth_cache_entries(-1);
}

/* *asked: the cache is on and was searched (a hit or a miss to count). */
static bool authcache_find(struct authcache *c, const char *user, const char *hash,
			   const char *password, bool *asked)
{
	*asked = false;
	if (!c || !user || !hash || !password)
		return false;
	bool hit = false;
	pthread_mutex_lock(&c->lock);
	if (!c->nsets) {
		pthread_mutex_unlock(&c->lock);
		return false;
	}
	*asked = true;
	unsigned char mac[crypto_generichash_BYTES];
	uint64_t tag;
	authcache_key(c, user, hash, password, mac, &tag);
	uint64_t now = authcache_clock();
	struct authcache_entry *set = authcache_set(c, tag);
	/* Every way is compared, whether or not an earlier one matched. */
	for (size_t i = 0; i < AUTHCACHE_WAYS; i++) {
		struct authcache_entry *e = &set[i];
		if (!e->expires_ms)
			continue;
		if (e->expires_ms <= now) {
			authcache_clear_entry(c, e);
			continue;
		}
		if (sodium_memcmp(e->mac, mac, sizeof(mac)) == 0)
			hit = true;
	}
	pthread_mutex_unlock(&c->lock);
	sodium_memzero(mac, sizeof(mac));
	return hit;
}

bool authcache_lookup(struct authcache *c, const char *user, const char *hash,
		      const char *password)
{
	bool asked;
	bool hit = authcache_find(c, user, hash, password, &asked);
	if (asked)
		metrics_auth_cache(hit);
	return hit;
}

bool authcache_probe(struct authcache *c, const char *user, const char *hash,
		     const char *password)
{
	bool asked;
	return authcache_find(c, user, hash, password, &asked);
}

void authcache_insert(struct authcache *c, const char *user, const char *hash,
		      const char *password)
{
	if (!c || !user || !hash || !password)
		return;
	pthread_mutex_lock(&c->lock);
	if (!c->nsets) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	unsigned char mac[crypto_generichash_BYTES];
	uint64_t tag;
	authcache_key(c, user, hash, password, mac, &tag);
	uint64_t now = authcache_clock();
	struct authcache_entry *set = authcache_set(c, tag), *slot = NULL;
	for (size_t i = 0; i < AUTHCACHE_WAYS; i++) {
		struct authcache_entry *e = &set[i];
		if (e->expires_ms && sodium_memcmp(e->mac, mac, sizeof(mac)) == 0) {
			slot = e;      /* verified again: a new ttl */
			break;
		}
		/* Else the first empty or expired way, else the oldest (the
		 * earliest to expire: every entry has the same ttl). */
		if (!slot || (slot->expires_ms > now && e->expires_ms < slot->expires_ms))
			slot = e;
	}
	if (!slot->expires_ms) {
		c->used++;
		metrics_auth_cache_entries(1);
	}
	memcpy(slot->mac, mac, sizeof(mac));
	slot->tag = tag;
	slot->expires_ms = now + (uint64_t)c->ttl_s * 1000;
	pthread_mutex_unlock(&c->lock);
	sodium_memzero(mac, sizeof(mac));
}

void authcache_forget(struct authcache *c, const char *user)
{
	if (!c || !user)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->nsets) {
		uint64_t tag;
		crypto_shorthash((unsigned char *)&tag, (const unsigned char *)user, strlen(user),
				 c->keys->tag);
		struct authcache_entry *set = authcache_set(c, tag);
		for (size_t i = 0; i < AUTHCACHE_WAYS; i++)
			if (set[i].expires_ms && set[i].tag == tag)
				authcache_clear_entry(c, &set[i]);
	}
	pthread_mutex_unlock(&c->lock);
}

void authcache_clear(struct authcache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nsets * AUTHCACHE_WAYS; i++)
		if (c->v[i].expires_ms)
			authcache_clear_entry(c, &c->v[i]);
	pthread_mutex_unlock(&c->lock);
}

size_t authcache_entries(struct authcache *c)
{
	if (!c)
		return 0;
	size_t n = 0;
	pthread_mutex_lock(&c->lock);
	uint64_t now = authcache_clock();
	for (size_t i = 0; i < c->nsets * AUTHCACHE_WAYS; i++)
		n += c->v[i].expires_ms > now;
	pthread_mutex_unlock(&c->lock);
	return n;
}
