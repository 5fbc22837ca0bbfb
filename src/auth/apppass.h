/* App passwords: per-device random passwords for one user, each with a
 * name, an optional expiry and an optional list of source networks.
 *
 * The definitions live in one file next to the users file, edited by the
 * CLI like the users file (root-owned, 0640, atomic rewrite):
 *   user:name:created:expires:blake2b$SALT$MAC:from
 * created/expires are Unix seconds (expires 0: never), SALT 16 random
 * bytes and MAC the keyed BLAKE2b-256 of the password under SALT, both in
 * hex, and from (last, as IPv6 networks hold ':') a comma list of CIDRs
 * ("" = anywhere).
 *
 * Why a fast hash is enough: an app password is 20 characters drawn from
 * 36 by the server (103 bits), not chosen by a person, so no dictionary
 * shortens the search and even a leaked file cannot be brute-forced; a
 * slow hash would only make each login attempt cost 50 argon2id runs for
 * a user with 50 devices. The last use of each (time and source) is
 * written by the server into its state_dir, which it can write, one small
 * file per user. */
#ifndef RAMPART_AUTH_APPPASS_H
#define RAMPART_AUTH_APPPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define APPPASS_MAX_PER_USER 50
#define APPPASS_NAME_MAX 64
#define APPPASS_SALT_LEN 16
#define APPPASS_MAC_LEN 32
/* The public id of an entry (the hex of its salt's first 8 bytes): what
 * the use records are keyed on, so a revoked and re-added name starts
 * with no history. */
#define APPPASS_ID_LEN 16
/* The file name, in the directory of the users file. */
#define APPPASS_FILE_NAME "app_passwords"

struct apppass_entry {
	char *user;
	char *name;
	int64_t created;
	int64_t expires;        /* 0: never */
	char *from;             /* "" : anywhere */
	unsigned char salt[APPPASS_SALT_LEN];
	unsigned char mac[APPPASS_MAC_LEN];
	char id[APPPASS_ID_LEN + 1];
};

void apppass_entries_free(struct apppass_entry *v, size_t n);

/* Names: 1..64 of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool apppass_name_valid(const char *name);
/* "dir of users_file/app_passwords"; caller frees. */
char *apppass_path_for(const char *users_file);

/* A new random password, "abcd-efgh-ijkl-mnop-qrst" (5 groups of 4 of
 * [a-z0-9], 103 bits); caller wipes and frees. */
char *apppass_generate(void);
/* The keyed hash of a password: dashes and spaces dropped and letters
 * lowered first, so "ABCD EFGH..." as retyped from the screen matches. */
void apppass_mac(const char *password, const unsigned char salt[APPPASS_SALT_LEN],
		 unsigned char out[APPPASS_MAC_LEN]);

/* ---- the server's view: a cached copy, refreshed when the file changes ---- */
struct apppass_store;
/* A missing file is an empty store. */
struct apppass_store *apppass_store_new(const char *path);
void apppass_store_free(struct apppass_store *st);
/* Re-reads the file when its stamp changed (one stat otherwise); keeps
 * the old copy when it cannot be read. Thread-safe. */
void apppass_store_refresh(struct apppass_store *st);
/* Copies out the user's entries (at most APPPASS_MAX_PER_USER); caller
 * frees with apppass_entries_free. */
size_t apppass_store_user(struct apppass_store *st, const char *user, struct apppass_entry **out);

/* ---- the CLI's edits ---- */
/* Adds an entry and returns the password in *password (caller wipes and
 * frees). 0; -1 errno; -2 the name exists; -3 the user has
 * APPPASS_MAX_PER_USER already. from: NULL or "" for anywhere. */
int apppass_file_add(const char *path, const char *user, const char *name, int64_t expires,
		     const char *from, char **password);
/* 0; -1 errno; -2 no such entry. */
int apppass_file_revoke(const char *path, const char *user, const char *name);
/* Removes every entry of a user (user del). 0 or -1. */
int apppass_file_delete_user(const char *path, const char *user);
/* The user's entries in file order (a missing file: none). 0 or -1. */
int apppass_file_list(const char *path, const char *user, struct apppass_entry **out, size_t *n);

/* ---- last use, in state_dir (written by the server) ---- */
/* Records a use of entry id now from ip. 0 or -1 (best effort: a login
 * never fails for this). */
int apppass_use_record(const char *state_dir, const char *user, const char *id, time_t when,
		       const char *ip);
/* The last use of id: true and *when, ip (ipsize >= 64) set, or false. */
bool apppass_use_get(const char *state_dir, const char *user, const char *id, time_t *when,
		     char *ip, size_t ipsize);

#endif
