/* `rampart import passwd-file FILE`: the users of a Dovecot passwd-file
 * (user:{SCHEME}hash:uid:gid:gecos:home:shell:extra_fields) into
 * Rampart's users file, keeping their hashes so nobody needs a new
 * password. The schemes auth/password.c verifies are kept as they are
 * ({ARGON2ID}, {ARGON2I}, {SHA512-CRYPT}, {SHA256-CRYPT}, {BLF-CRYPT},
 * {SSHA512}, {SSHA256}, {SSHA}); a bare crypt(3) string (Dovecot's
 * default_pass_scheme CRYPT) gets the scheme its "$id$" names. Each
 * legacy hash becomes argon2id at the user's next successful login
 * (auth/rehash.h). Cleartext ({PLAIN}, {CLEAR}, {CLEARTEXT},
 * {PLAIN-TRUSTED}) is hashed with argon2id here and never written.
 * A user already in the users file is left alone (a second run, or a
 * password changed here since), as is a scheme Rampart cannot verify
 * (reported: that user needs a new password). Of the extra fields only
 * allow_nets (same name and meaning as Dovecot's) is carried over.
 *
 * The uid, gid, home and shell fields have no meaning here: every
 * mailbox belongs to the server's account under mail_root. */
#include "admin/admin_internal.h"
#include "admin/import.h"
#include "auth/passdb.h"
#include "core/config.h"
#include "core/util.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#define PASSWD_FIELDS 8

static bool is_cleartext(const char *pw)
{
	static const char *const plain[] = { "{PLAIN}", "{CLEAR}", "{CLEARTEXT}",
					     "{PLAIN-TRUSTED}" };
	for (size_t i = 0; i < ARRAY_SIZE(plain); i++)
		if (strncasecmp(pw, plain[i], strlen(plain[i])) == 0)
			return true;
	return false;
}

/* The hash to store for a passwd-file password field (malloc'd), or
 * NULL when Rampart cannot verify it. */
static char *hash_for(const char *pw)
{
	static const struct {
		const char *prefix, *scheme;
	} crypts[] = { { "$6$", "{SHA512-CRYPT}" }, { "$5$", "{SHA256-CRYPT}" },
		       { "$2y$", "{BLF-CRYPT}" },   { "$2b$", "{BLF-CRYPT}" },
		       { "$2a$", "{BLF-CRYPT}" } };
	if (is_cleartext(pw))
		return password_hash(strchr(pw, '}') + 1);
	if (pw[0] == '{')
		return password_scheme_known(pw) ? xstrdup(pw) : NULL;
	for (size_t i = 0; i < ARRAY_SIZE(crypts); i++) {
		if (strncmp(pw, crypts[i].prefix, strlen(crypts[i].prefix)) == 0) {
			size_t n = strlen(crypts[i].scheme) + strlen(pw) + 1;
			char *h = xmalloc(n);
			snprintf(h, n, "%s%s", crypts[i].scheme, pw);
			return password_scheme_known(h) ? h : (free(h), NULL);
		}
	}
	return NULL;
}

static bool listed(char **users, size_t n, const char *user)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(users[i], user) == 0)
			return true;
	return false;
}

/* One line: 1 added, 0 skipped, -1 refused (reported), -2 write error. */
static int line_import(const char *uf, char *line, char **have, size_t nhave)
{
	char *f[PASSWD_FIELDS] = { 0 };
	size_t nf = 0;
	for (char *p = line; p && nf < PASSWD_FIELDS; nf++) {
		f[nf] = p;
		p = nf + 1 < PASSWD_FIELDS ? strchr(p, ':') : NULL;
		if (p)
			*p++ = '\0';
	}
	if (nf < 2 || !passdb_username_valid(f[0])) {
		fprintf(stderr, "rampart import: passwd-file: a line without a valid user name, "
			"skipped\n");
		return -1;
	}
	if (listed(have, nhave, f[0]))
		return 0;
	char *hash = hash_for(f[1]);
	if (!hash) {
		fprintf(stderr, "rampart import: %s: password scheme %s is not one Rampart "
			"verifies; set a new password with rampart user passwd\n", f[0],
			f[1][0] == '{' ? password_scheme_name(f[1]) : "(none)");
		return -1;
	}
	struct passdb_field fields[1];
	size_t n = 0;
	char *nets = f[7] ? passdb_fields_get(f[7], "allow_nets") : NULL;
	if (nets)
		fields[n++] = (struct passdb_field){ "allow_nets", nets };
	int r = passdb_file_update(uf, f[0], hash, fields, n);
	sodium_memzero(hash, strlen(hash));
	free(hash);
	free(nets);
	if (r < 0) {
		fprintf(stderr, "rampart import: cannot write %s: %s\n", uf, strerror(errno));
		return -2;
	}
	return 1;
}

int import_passwd_file(const struct config *cfg, const char *path)
{
	FILE *in = fopen(path, "re");
	if (!in) {
		fprintf(stderr, "rampart import: %s: %s\n", path, strerror(errno));
		return EX_NOINPUT;
	}
	const char *uf = cfg->users_file;
	char **have = NULL;
	size_t nhave = 0;
	bool existed = passdb_file_list(uf, &have, &nhave) == 0;
	if (!existed && errno != ENOENT) {
		fprintf(stderr, "rampart import: %s: %s\n", uf, strerror(errno));
		fclose(in);
		return EX_TEMPFAIL;
	}
	unsigned added = 0, skipped = 0, refused = 0;
	int rc = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while (rc == 0 && (len = getline(&line, &cap, in)) > 0) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		int r = line_import(uf, line, have, nhave);
		if (r == 1) {
			added++;
			if (!existed) {
				admin_file_give_to_server(cfg, uf);
				existed = true;
			}
		} else if (r == 0) {
			skipped++;
		} else if (r == -1) {
			refused++;
		} else {
			rc = EX_CANTCREAT;
		}
	}
	if (line)
		sodium_memzero(line, cap);
	free(line);
	fclose(in);
	for (size_t i = 0; i < nhave; i++)
		free(have[i]);
	free(have);
	printf("%u users added, %u skipped (already there), %u refused\n", added, skipped,
	       refused);
	return rc ? rc : refused ? EX_DATAERR : 0;
}
