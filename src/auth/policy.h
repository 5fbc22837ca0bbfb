/* The authentication policy engine: what the server remembers about
 * failed and successful logins across connections, and what it decides
 * for the next attempt (allow, allow with a longer failure delay, or
 * refuse as if the password were wrong).
 *
 * One engine per process, shared by every worker and pool thread (one
 * mutex; every operation is O(1) in fixed-size tables). Memory is bounded
 * by [policy] table_size. State survives a restart (state_dir/policy.state).
 * Without policy_init() (tools, unit tests of other modules) every call
 * allows and records nothing. docs/security.md "Brute force, spraying and
 * connection limits" explains the rules; [policy] in docs/configuration.md
 * lists every threshold. */
#ifndef RAMPART_AUTH_POLICY_H
#define RAMPART_AUTH_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sys/socket.h>

struct config;
struct strbuf;

/* ---- lifetime ---- */

/* Starts the engine with cfg's [policy] thresholds and loads
 * state_dir/policy.state (a missing or corrupt file starts empty, logged).
 * A thread saves the state every save_interval seconds when it changed.
 * 0 or -1 (logged). */
int policy_init(const struct config *cfg);
/* Saves the state and stops the engine. */
void policy_shutdown(void);
/* lifecycle (issue #13), SIGHUP: settings from a new snapshot, which must
 * stay valid until exit; the counters are kept. */
void policy_reconfigure(const struct config *cfg);
/* Writes the state file now (atomic rewrite); 0 or -1. */
int policy_save(void);

/* ---- one authentication attempt ----
 * policy_auth_begin() before the password check, policy_auth_end() after
 * it (or instead of it when the check was refused or skipped). The struct
 * lives in the caller's job; the strings are copied. */
enum policy_verdict {
	POLICY_ALLOW,     /* verify the password */
	POLICY_REFUSE,    /* locked: answer as a wrong password, verify nothing */
};

enum policy_outcome {
	POLICY_OK,        /* the password was right */
	POLICY_FAIL,      /* wrong password or unknown user */
	POLICY_REFUSED,   /* refused by this engine (POLICY_REFUSE) */
	POLICY_BUSY,      /* not checked: too many checks queued for the source */
};

struct policy_auth {
	uint8_t addr[16];          /* IPv4-mapped or IPv6; all zero: no address */
	bool has_addr;
	bool trusted;              /* trusted_networks: exempt */
	bool known;                /* the source has logged in as this user before */
	enum policy_verdict verdict;
	const char *reason;        /* static: "ok", "source_locked", ... */
	uint64_t fair_key;         /* the source's /24 or /64, for the work pool */
	char user[128];
};

/* Decides for an attempt by `user` from `ip` ("1.2.3.4", "::1", or
 * "unix"). Thread-safe. */
void policy_auth_begin(struct policy_auth *a, const char *user, const char *ip, bool trusted);
/* Records the outcome; returns the extra delay (ms) to add to the
 * failure answer (0 for POLICY_OK). Thread-safe. */
unsigned policy_auth_end(struct policy_auth *a, enum policy_outcome outcome);
/* "allow", "delay" or "locked": the decision as logged. */
const char *policy_auth_decision(const struct policy_auth *a, unsigned delay_ms);

/* ---- sessions and connections ---- */

/* Sessions per user: room for one more (below max_sessions_per_user)?
 * Checked before a login is accepted; open/close count the sessions that
 * are logged in (called by the protocol's login and free hooks, so they
 * pair up whatever mechanism logged in). */
bool policy_session_room(const char *user);
void policy_session_open(const char *user);
void policy_session_close(const char *user);
/* Has this address (IPv4 exact, IPv6 /64) ever logged in, as anyone?
 * For the connection table's reserve (net/, through app/serve.c). */
bool policy_addr_known(const struct sockaddr *sa);

/* ---- administration (rampart security ...) ---- */

/* Lifts every lock on an address (source, its prefix, user+source) or on
 * a user (user, user+source) and clears their counters. Number of
 * entries cleared, -1 when `what` is empty. */
int policy_unlock(const char *what);
/* Locked sources, prefixes and users, the top failing sources and the
 * circuit breaker, as key=value lines. */
void policy_status(struct strbuf *out);

/* The control socket's "security" verb (app/control.c): "status" or
 * "unlock IP|USER". 0 or -1, text in out. */
int policy_control(const char *args, struct strbuf *out);

/* ---- events for alerts ---- */
enum policy_event_type { POLICY_EV_LOCKOUT, POLICY_EV_SPRAYING };
struct policy_event {
	enum policy_event_type type;
	const char *scope;         /* "source", "prefix", "user", "user_source" */
	const char *ip;            /* may be "" */
	const char *user;          /* may be "" */
	unsigned duration_s;
	unsigned level;            /* 1 for a first lockout, doubling after */
};
/* fn runs on the thread that recorded the failure, outside the engine's
 * lock; it must be quick and thread-safe. NULL removes it. */
void policy_set_event_hook(void (*fn)(const struct policy_event *ev, void *arg), void *arg);

/* ---- for unit tests ---- */
/* Replaces the wall clock (milliseconds since the epoch); NULL restores. */
void policy_set_clock(uint64_t (*clock_ms)(void));
/* Entries in use in the counter table (bounded by table_size). */
size_t policy_entries(void);

/* Helpers shared with the persistence code and tests: an address in the
 * engine's form (IPv4-mapped), and its /24 or /64 prefix. */
bool policy_addr_parse(const char *ip, uint8_t out[16]);
void policy_addr_prefix(const uint8_t addr[16], uint8_t out[16]);
void policy_addr_format(const uint8_t addr[16], char *buf, size_t size);

/* ---- status: a read-only snapshot for the status page (policy_snapshot.c) ---- */
#define POLICY_SNAPSHOT_TOP 10
#define POLICY_SNAPSHOT_LOCKS 100
struct policy_snapshot_top {
	char name[64];             /* address, or user name (truncated to 47 bytes) */
	double failures;           /* the leaky bucket's level now */
};
struct policy_snapshot_lock {
	char scope[16];            /* "source", "prefix", "user", "user_source" */
	char ip[64];               /* "" for a user lock */
	char user[64];             /* "" for a source or prefix lock */
	unsigned remaining_s, level;
};
struct policy_snapshot {
	bool enabled;              /* false before policy_init(): the rest is empty */
	bool breaker;
	size_t entries, capacity;
	struct policy_snapshot_top sources[POLICY_SNAPSHOT_TOP], users[POLICY_SNAPSHOT_TOP];
	size_t nsources, nusers;   /* most failures first */
	struct policy_snapshot_lock locks[POLICY_SNAPSHOT_LOCKS];
	size_t nlocks;             /* the first POLICY_SNAPSHOT_LOCKS found */
};
/* Fills *out under the engine's lock (one pass over the table). */
void policy_snapshot(struct policy_snapshot *out);

#endif
