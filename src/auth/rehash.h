/* Hash upgrade on login: a user migrated with {SHA512-CRYPT}, {BLF-CRYPT},
 * {SSHA512}... (or argon2id of a lower cost, or without SCRAM keys) gets
 * an argon2id hash and SCRAM-SHA-256 keys the first time they log in with
 * their password, the only moment the plaintext is known.
 *
 * The users file is root's (root:rampart 0640) and the server, once it
 * has dropped root, must not be able to write it. So `rampart serve`
 * started as root forks, before the drop, a small helper process
 * ("rampart-auth", rehash_helper.c) that does exactly one thing: "upgrade
 * USER given PASSWORD". It re-reads the file and verifies the password
 * against the current entry itself, so a compromised server process can
 * make it upgrade an entry only with that user's right password, which
 * changes nothing anyone could log in with. A server that never was root
 * runs the same upgrade in-process (rehash_queue.c).
 *
 * Requests are opportunistic: one at a time, a small bounded queue that
 * drops when full (the user upgrades at a later login), and a helper that
 * dies only stops the upgrades, never the server. [passwords]
 * upgrade_on_login = no turns it all off. */
#ifndef RAMPART_AUTH_REHASH_H
#define RAMPART_AUTH_REHASH_H

#include <stdbool.h>

struct config;
struct passdb;

/* What one upgrade did. */
enum rehash_status {
	REHASH_UPGRADED,        /* new hash and/or SCRAM keys written */
	REHASH_CURRENT,         /* nothing to do (already argon2id + SCRAM keys) */
	REHASH_MISMATCH,        /* the password does not verify against the file */
	REHASH_CHANGED,         /* the entry changed or went away meanwhile */
	REHASH_ERROR,           /* the file could not be read or written (errno_) */
};

struct rehash_result {
	enum rehash_status status;
	char from[24];          /* the scheme replaced ("SHA512-CRYPT"), "" if none */
	bool hashed;            /* a new argon2id hash was written */
	bool scram_added;       /* SCRAM-SHA-256 keys were added */
	int errno_;             /* REHASH_ERROR: why */
};

/* The upgrade itself, synchronous and slow (two argon2id runs and a
 * PBKDF2): read the users file, verify password against user's current
 * entry, re-hash with password_hash() and/or add SCRAM keys, and rewrite
 * the file under the lock every `rampart user` edit takes, only if the
 * entry is still the one verified. Used by the helper and in-process. */
void rehash_user(const char *users_file, const char *user, const char *password,
		 struct rehash_result *out);
/* "upgraded", "current", "mismatch", "changed", "error" (static). */
const char *rehash_status_name(enum rehash_status st);

struct rehash;
/* In `rampart serve`, after passdb_load and before anything starts a
 * thread or drops root: with upgrade_on_login = no, NULL (nothing runs).
 * As root with a run user, forks the helper; otherwise upgrades run
 * in-process. Installs itself as db's upgrade hook (passdb.h). NULL also
 * when the helper cannot be started (logged; the server runs without). */
struct rehash *rehash_start(const struct config *cfg, struct passdb *db);
/* Removes the hook, finishes the request in progress, drops the queue,
 * ends the helper (it exits when its socket closes) and reaps it. */
void rehash_stop(struct rehash *rh);
/* Queues "upgrade user given password" (copied, wiped after use); never
 * blocks. Dropped when the queue is full, the user already queued, or
 * upgrades have stopped. */
void rehash_request(struct rehash *rh, const char *user, const char *password);

/* What the queue did since rehash_start (tests; a future `rampart stats`). */
struct rehash_counts {
	unsigned long queued;    /* taken into the queue */
	unsigned long full;      /* dropped: the queue was full */
	unsigned long again;     /* dropped: that user was already queued or in progress */
	unsigned long done;      /* answered (by the helper or in-process), any outcome, and its
				  * reload of the users file done */
};
void rehash_counts_get(struct rehash *rh, struct rehash_counts *out);

#endif
