/* The authentication cache ([auth] cache_ttl, cache_size): remembers for a
 * short time that a user's password verified against the user's current
 * hash, so that a client reconnecting every few minutes does not pay
 * argon2id each time. It replaces only the slow hash of
 * passdb_authenticate (auth/passdb.h); every policy check still runs.
 * auth/authcache.c says why it is safe and what it costs.
 *
 * Thread-safe (one mutex; every operation is a few keyed hashes and a
 * scan of one 8-way set). Memory is bounded by cache_size entries of 48
 * bytes, in libsodium's guarded memory (locked, left out of core dumps). */
#ifndef RAMPART_AUTH_AUTHCACHE_H
#define RAMPART_AUTH_AUTHCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct authcache;

/* ttl_s = 0 or size = 0: a cache that is off (every lookup misses,
 * nothing is stored) until authcache_configure turns it on. */
struct authcache *authcache_new(unsigned ttl_s, unsigned size);
void authcache_free(struct authcache *c);
/* New settings (SIGHUP): forgets every entry and draws a new key. */
void authcache_configure(struct authcache *c, unsigned ttl_s, unsigned size);
/* Whether the cache is on (ttl and size both set). */
bool authcache_enabled(struct authcache *c);

/* Whether `password` verified for `user` against exactly this stored
 * `hash` less than ttl seconds ago. A hash string that changed (a new
 * password, an upgraded scheme) never matches an old entry. */
bool authcache_lookup(struct authcache *c, const char *user, const char *hash,
		      const char *password);
/* authcache_lookup without counting a hit or a miss (metrics): whether a
 * check would hit, asked before it runs (passdb_cache_would_hit). */
bool authcache_probe(struct authcache *c, const char *user, const char *hash,
		     const char *password);
/* Records a successful verification of password against hash. Call it
 * only after password_verify said yes: failures are never cached. */
void authcache_insert(struct authcache *c, const char *user, const char *hash,
		      const char *password);
/* Forgets every entry of user (a failed or refused attempt, a lockout). */
void authcache_forget(struct authcache *c, const char *user);
/* Forgets every entry. */
void authcache_clear(struct authcache *c);
/* Entries in use (not expired), for tests and the status. */
size_t authcache_entries(struct authcache *c);

/* For unit tests: replaces the monotonic clock (milliseconds); NULL
 * restores it. */
void authcache_set_clock(uint64_t (*clock_ms)(void));

#endif
