/* What auth/policy.c (the rules) and auth/policy_state.c (saving and
 * loading them) share. Private to auth/policy*.c and their unit test. */
#ifndef RAMPART_AUTH_POLICY_INTERNAL_H
#define RAMPART_AUTH_POLICY_INTERNAL_H

#include "auth/policy.h"

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>

#define POL_WAYS 8
#define POL_SPRAY_SLOTS 8
#define POL_SESSION_BUCKETS 1024
/* Failures one source adds to a user's counter per window. */
#define POL_USER_PER_SOURCE 3

enum pol_kind {
	POL_FREE, POL_SRC, POL_NET, POL_USER, POL_USRC,
	POL_KNOWN_USER, POL_KNOWN_ANY, /* keys of the known-sources table */
};

struct pol_spray {
	uint32_t uh;               /* low bits of the username's key */
	uint32_t at_s;             /* last failure, seconds since the epoch; 0: empty */
};

/* One counter: a source, a prefix, a user or a user+source. */
struct pol_entry {
	uint64_t h;                /* key (kind, address, user); 0: free */
	uint64_t last_ms;          /* last failure (the bucket's time) */
	uint64_t lock_until;       /* ms since the epoch; locked while in the future */
	float fail;                /* leaky bucket at last_ms */
	uint8_t kind;              /* enum pol_kind */
	uint8_t level;             /* lockouts so far: the next one lasts 2^level times longer */
	uint8_t pad[2];
	uint8_t addr[16];          /* source or prefix (IPv4-mapped), for status and unlock */
	union {
		char user[48];     /* POL_USER, POL_USRC: for status and unlock (truncated) */
		struct pol_spray spray[POL_SPRAY_SLOTS]; /* POL_SRC */
	} u;
};

/* A (user, source) or (anyone, source) that logged in successfully. */
struct pol_known {
	uint64_t h;
	uint64_t last_ms;
};

struct pol_session {
	struct pol_session *next;
	unsigned count;
	char user[];
};

struct policy {
	pthread_mutex_t lock;
	pthread_cond_t cond;       /* wakes the saver thread to stop */
	const struct config *cfg;
	unsigned char hkey[crypto_shorthash_KEYBYTES];
	struct pol_entry *t;
	size_t nsets, nentries;
	uint64_t evictions;
	struct pol_known *k;
	size_t knsets;
	float breaker;
	uint64_t breaker_ms;
	bool breaker_tripped;
	struct pol_session *sessions[POL_SESSION_BUCKETS];
	void (*hook)(const struct policy_event *ev, void *arg);
	void *hook_arg;
	bool dirty;
	char *path;                /* state_dir/policy.state */
	pthread_t saver;
	bool saver_running, stopping;
};

extern struct policy *policy_g;

uint64_t policy_now(void);
struct pol_entry *policy_entry_find(struct policy *p, uint64_t h, bool create, uint64_t now);
struct pol_known *policy_known_find(struct policy *p, uint64_t h, bool create, uint64_t now);

/* policy_state.c */
void policy_state_load(struct policy *p);
int policy_state_start(struct policy *p);
void policy_state_stop(struct policy *p);

/* status (policy_snapshot.c): e's failure level now, on the scale its
 * kind is locked at; whether it is locked now. */
float policy_entry_failures(const struct policy *p, const struct pol_entry *e, uint64_t now);
bool policy_entry_locked(const struct pol_entry *e, uint64_t now);
const char *policy_entry_scope(const struct pol_entry *e);

#endif
