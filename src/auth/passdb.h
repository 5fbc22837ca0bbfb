/* The users file: one "user:{SCHEME}hash" line per user (extra ':'-fields
 * after the hash are ignored, so Dovecot passwd-files load). Schemes:
 * {ARGON2ID} (default for new passwords, libsodium), {ARGON2I},
 * {SHA512-CRYPT}, {SHA256-CRYPT}, {BLF-CRYPT} (libcrypt), {SSHA512},
 * {SSHA256}, {SSHA} (salted SHA-2/SHA-1, LDAP style; for migrations).
 * Cleartext {PLAIN} is refused. */
#ifndef RAMPART_AUTH_PASSDB_H
#define RAMPART_AUTH_PASSDB_H

#include <stdbool.h>
#include <stddef.h>

enum passdb_result {
	PASSDB_OK = 0,
	PASSDB_FAIL = 1,     /* wrong password OR unknown user: callers must not tell them apart */
	PASSDB_ERROR = -1,   /* the users file could not be read */
};

struct passdb;

/* Loads the file into memory. NULL on error (*err set, caller frees). */
struct passdb *passdb_load(const char *path, char **err);
void passdb_free(struct passdb *db);
/* Reloads when the file's mtime/size changed; keeps the old copy on error.
 * Thread-safe against concurrent passdb_verify. */
void passdb_refresh(struct passdb *db);
/* Verifies the primary password only (no source list, no app passwords,
 * no re-read of the file). A login uses passdb_authenticate below, which
 * replaces this on the IMAP password path. Slow by design (argon2id):
 * call it off the event loop. Takes the same time for unknown users (a dummy
 * hash is checked). */
enum passdb_result passdb_verify(struct passdb *db, const char *user, const char *password);
bool passdb_user_exists(struct passdb *db, const char *user);

/* What passdb_authenticate tells the caller, for the log only (never a
 * secret, and never for the client, who sees one answer for all). */
struct passdb_auth {
	char credential[80];   /* "password" or "app:NAME"; "" when it failed */
	/* Static: ok, bad_credentials, unknown_user, source_not_allowed,
	 * app_passwords_only (the primary password was right but is refused),
	 * app_password_expired, app_password_source (right app password from
	 * outside its --from list), passdb_error. */
	const char *reason;
	bool legacy_scheme;    /* OK through a migrated (non-argon2id) hash */
	/* authcache: how the authentication cache took part (static): "hit"
	 * (no slow hash ran), "miss" (asked, the hash ran), "off" (no
	 * cache), "-" (not asked: app password, unknown user...). */
	const char *cache;
};

/* The whole password check of a login, off the event loop (one argon2id
 * run): the user's allow_nets, then the user's app passwords (keyed
 * hashes, cheap: see auth/apppass.h), then the primary password unless
 * app_passwords_only=yes. Re-reads the users and app-passwords files
 * first when they changed (one stat each), so a revoke or a switch set by
 * the CLI counts from the next login. Timing-neutral by construction:
 * every failure, for known and unknown users alike, costs exactly one
 * slow hash and APPPASS_MAX_PER_USER keyed hashes; only a successful app
 * password skips the slow hash. ip is the numeric source address; an
 * unparsable one is outside every list. On a successful app password the
 * use is recorded in the state directory (passdb_set_state_dir). */
enum passdb_result passdb_authenticate(struct passdb *db, const char *user, const char *password,
				       const char *ip, struct passdb_auth *out);
/* Called by passdb_authenticate on its thread after the primary password
 * (not an app password) verified against a hash that needs an upgrade
 * (password_needs_upgrade) or beside which SCRAM keys are missing: the
 * plaintext is known only at this moment. It must not block (auth/rehash.h
 * queues the request). Set before serving; NULL: none. */
typedef void passdb_upgrade_fn(void *arg, const char *user, const char *password);
void passdb_set_upgrade_hook(struct passdb *db, passdb_upgrade_fn *fn, void *arg);
/* Whether a verified entry (hash and fields) is one the hook is for. */
bool passdb_entry_needs_upgrade(const char *hash, const char *fields);
/* Where the server records app-password use (its [server] state_dir);
 * NULL or never called: not recorded. Call before serving. */
void passdb_set_state_dir(struct passdb *db, const char *dir);

/* One user's entry, copied out of the table (wiped by passdb_user_clear).
 * `fields` is the passwd-file's 8th field, Dovecot's extra_fields:
 * space-separated key=value pairs. Keys Rampart reads:
 *   scram-sha-256=ITER,SALT,STOREDKEY,SERVERKEY   (base64; auth/scram_cred.h)
 *   allow_nets=CIDR[,CIDR...]   sources this user may log in from (Dovecot's name)
 *   app_passwords_only=yes      the primary password is refused over IMAP
 * Unknown keys are kept and ignored. */
struct passdb_user {
	char *name;
	char *hash;     /* "{SCHEME}..." */
	char *fields;   /* "" when none */
};

/* Copies a user's entry; false (and *out zeroed) for unknown or invalid
 * names. Fast (an in-memory lookup): fine on an event loop. */
bool passdb_user_get(struct passdb *db, const char *user, struct passdb_user *out);
void passdb_user_clear(struct passdb_user *u);
/* Whether the user may log in from ip by any mechanism (allow_nets; none
 * set: anywhere; malformed: nowhere). For SCRAM and OAuth, which do not
 * go through passdb_authenticate. ip is numeric ("192.0.2.1", "::1"). */
bool passdb_user_source_allowed(const struct passdb_user *u, const char *ip);
/* The value of `key` in a fields string ("a=1 b=2"), malloc'd, or NULL. */
char *passdb_fields_get(const char *fields, const char *key);

/* Hashes a new password with argon2id; caller frees. NULL on failure. */
char *password_hash(const char *password);
/* Checks password against a stored "{SCHEME}..." value; true on match. */
bool password_verify(const char *stored, const char *password);
/* A scheme Rampart verifies (the list above). */
bool password_scheme_known(const char *stored);
/* Known, but not the argon2id that new passwords get: a migrated hash
 * that `rampart user list --legacy` shows. */
bool password_scheme_legacy(const char *stored);

/* The canonical name of the scheme of a stored value ("SHA512-CRYPT",
 * "ARGON2ID"; "UNKNOWN"): for logs, never the hash. Static. */
const char *password_scheme_name(const char *stored);
/* Verifiable, but weaker than what password_hash writes now: any
 * legacy scheme, or argon2id with a lower cost. What a successful
 * password login upgrades (auth/rehash.h). */
bool password_needs_upgrade(const char *stored);

/* Users file editing for the CLI (atomic rewrite: temp file, fsync, rename). */
int passdb_file_set(const char *path, const char *user, const char *hash);
int passdb_file_delete(const char *path, const char *user);   /* -2: no such user */
/* Sets (value != NULL) or removes one extra field of an existing user,
 * keeping the others; keys are [a-z0-9_-]+, values have no space or
 * newline (':' is fine: the extra field is the line's last, so IPv6
 * networks fit). -2: no such user. */
int passdb_file_set_field(const char *path, const char *user, const char *key, const char *value);
/* A new password in one atomic rewrite: the hash and the scram-sha-256
 * field together (scram_field NULL removes it), adding the user if
 * missing; the other fields are kept. */
int passdb_file_set_password(const char *path, const char *user, const char *hash,
			     const char *scram_field);
/* Several fields (value NULL: remove) and, when hash != NULL, the hash,
 * in one atomic rewrite; with a hash the user is added when missing
 * (so a new user never exists without its restrictions), without one
 * the user must exist (-2). */
struct passdb_field {
	const char *key;
	const char *value;
};
int passdb_file_update(const char *path, const char *user, const char *hash,
		       const struct passdb_field *fields, size_t n);
int passdb_file_list(const char *path, char ***users, size_t *n);
/* Usernames: 1..255 bytes of [A-Za-z0-9._+@-], not starting with '.'. */
bool passdb_username_valid(const char *user);

/* authcache (issue #14): the authentication cache of passdb_authenticate
 * (auth/authcache.h). Creates it or applies new settings (forgetting every
 * entry); ttl_s or size 0: off. Without a call there is no cache (tools,
 * tests). Thread-safe. */
void passdb_set_cache(struct passdb *db, unsigned ttl_s, unsigned size);
/* Forgets the user's cache entries (a lockout). */
void passdb_cache_forget(struct passdb *db, const char *user);
/* Whether passdb_authenticate would verify this password from the cache,
 * running no slow hash: the user exists, may log in from ip, is not under
 * app_passwords_only, and the cache holds this password for the user's
 * current hash. A hint for where the check queues (imap/cmd_auth.c), never
 * an answer: the check itself runs every rule again. Thread-safe, a few
 * keyed hashes. */
bool passdb_cache_would_hit(struct passdb *db, const char *user, const char *password,
			    const char *ip);

#endif
