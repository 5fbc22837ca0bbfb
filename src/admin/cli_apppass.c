/* `rampart user app-password add|list|revoke`: per-device passwords for
 * a user (auth/apppass.h), so that a phone or a desktop client gets its
 * own secret, revocable alone, optionally expiring and tied to networks,
 * while the account password stays off the IMAP wire (a user with
 * app_passwords_only=yes cannot use it there at all).
 *
 * `add` prints the generated password once, on stdout; it is never
 * stored in a readable form. `list` merges the definitions (the
 * app_passwords file beside the users file) with the last use the server
 * recorded in its state_dir. */
#include "admin/admin.h"
#include "admin/admin_internal.h"
#include "auth/apppass.h"
#include "auth/passdb.h"
#include "core/config.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define PROG "rampart user app-password"

enum ap_cmd { AP_ADD, AP_LIST, AP_REVOKE };

struct ap_args {
	enum ap_cmd cmd;
	const char *conf;
	const char *user;
	const char *name;
	const char *expires;
	struct strbuf from;
};

static int ap_usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " add    [-c FILE] USER NAME [--expires WHEN] [--from CIDR]...\n"
		"       " PROG " list   [-c FILE] USER\n"
		"       " PROG " revoke [-c FILE] USER NAME\n"
		"WHEN: YYYY-MM-DD (valid through that day, UTC), YYYY-MM-DDTHH:MM[:SS]Z, or a\n"
		"duration from now: 90d, 12h, 30m, 45s. --from takes a network or a comma list\n"
		"and may be repeated. NAME: 1..64 of A-Z a-z 0-9 . _ -\n");
	return f == stdout ? 0 : EX_USAGE;
}

/* Seconds since the epoch for WHEN; -1 when it does not parse. */
static int64_t ap_parse_when(const char *s, time_t now)
{
	size_t len = strlen(s);
	if (len >= 2 && len <= 12 && strchr("smhd", s[len - 1]) &&
	    strspn(s, "0123456789") == len - 1) {
		uint64_t n;
		if (parse_u64(s, len - 1, &n) < 0 || n == 0 || n > 36500ull * 86400)
			return -1;
		uint64_t unit = s[len - 1] == 'd' ? 86400 : s[len - 1] == 'h' ? 3600
							     : s[len - 1] == 'm' ? 60 : 1;
		if (n * unit > 36500ull * 86400)
			return -1;
		return (int64_t)now + (int64_t)(n * unit);
	}
	struct tm tm = { 0 };
	const char *end = strptime(s, "%Y-%m-%d", &tm);
	if (!end)
		return -1;
	if (*end == '\0') {
		tm.tm_mday++; /* through the end of that day */
	} else {
		const char *e2 = strptime(end, "T%H:%M", &tm);
		if (!e2)
			return -1;
		if (*e2 == ':')
			e2 = strptime(e2, ":%S", &tm);
		if (!e2 || strcmp(e2, "Z") != 0)
			return -1;
	}
	time_t t = timegm(&tm);
	return t == (time_t)-1 ? -1 : (int64_t)t;
}

static void ap_time(char *buf, size_t size, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "?");
}

static int ap_add(const struct config *cfg, const char *path, struct ap_args *a)
{
	int64_t expires = 0;
	time_t now = time(NULL);
	if (a->expires) {
		expires = ap_parse_when(a->expires, now);
		if (expires < 0) {
			fprintf(stderr, PROG ": --expires '%s' is not a date or a duration\n", a->expires);
			return EX_USAGE;
		}
		if (expires <= now) {
			fprintf(stderr, PROG ": --expires '%s' is in the past\n", a->expires);
			return EX_USAGE;
		}
	}
	bool existed = access(path, F_OK) == 0;
	char *pw = NULL;
	int r = apppass_file_add(path, a->user, a->name, expires, strbuf_cstr(&a->from), &pw);
	if (r == -2) {
		fprintf(stderr, PROG ": %s already has an app password named '%s' (revoke it first)\n",
			a->user, a->name);
		return EX_CANTCREAT;
	}
	if (r == -3) {
		fprintf(stderr, PROG ": %s already has %d app passwords, the most allowed\n", a->user,
			APPPASS_MAX_PER_USER);
		return EX_CANTCREAT;
	}
	if (r < 0) {
		fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(errno));
		return EX_CANTCREAT;
	}
	if (!existed)
		admin_file_give_to_server(cfg, path);
	printf("%s\n", pw);
	fprintf(stderr, "app password '%s' added for %s; it is shown only this once\n", a->name,
		a->user);
	sodium_memzero(pw, strlen(pw));
	free(pw);
	return 0;
}

static int ap_list(const struct config *cfg, const char *path, const struct ap_args *a)
{
	struct apppass_entry *v;
	size_t n;
	if (apppass_file_list(path, a->user, &v, &n) < 0) {
		fprintf(stderr, PROG ": cannot read %s: %s\n", path, strerror(errno));
		return EX_NOINPUT;
	}
	printf("%-20s %-20s %-20s %-24s %-20s %s\n", "NAME", "CREATED", "EXPIRES", "FROM",
	       "LAST-USED", "SOURCE");
	time_t now = time(NULL);
	for (size_t i = 0; i < n; i++) {
		char created[32], expires[40], used[32] = "never", ip[64] = "-";
		ap_time(created, sizeof(created), v[i].created);
		if (v[i].expires) {
			ap_time(expires, sizeof(expires), v[i].expires);
			if (v[i].expires <= now)
				strcat(expires, "(expired)");
		} else {
			snprintf(expires, sizeof(expires), "never");
		}
		time_t when;
		if (apppass_use_get(cfg->state_dir, a->user, v[i].id, &when, ip, sizeof(ip)))
			ap_time(used, sizeof(used), (int64_t)when);
		printf("%-20s %-20s %-20s %-24s %-20s %s\n", v[i].name, created, expires,
		       *v[i].from ? v[i].from : "any", used, ip);
	}
	apppass_entries_free(v, n);
	return 0;
}

static int ap_revoke(const char *path, const struct ap_args *a)
{
	int r = apppass_file_revoke(path, a->user, a->name);
	if (r == -2 || (r < 0 && errno == ENOENT)) {
		fprintf(stderr, PROG ": %s has no app password named '%s'\n", a->user, a->name);
		return EX_NOUSER;
	}
	if (r < 0) {
		fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(errno));
		return EX_CANTCREAT;
	}
	printf("revoked app password '%s' of %s\n", a->name, a->user);
	return 0;
}

static int ap_parse_args(int argc, char **argv, struct ap_args *a)
{
	static const struct admin_subcmd cmds[] = {
		{ "add", AP_ADD }, { "list", AP_LIST }, { "revoke", AP_REVOKE }, { "del", AP_REVOKE },
	};
	int cmd = argc < 2 ? -1 : admin_subcmd_find(cmds, ARRAY_SIZE(cmds), argv[1]);
	if (cmd < 0)
		return -1;
	a->cmd = (enum ap_cmd)cmd;
	bool options = true;
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		int c = options ? admin_conf_arg(argc, argv, &i, &a->conf) : 0;
		if (c < 0)
			return -1;
		if (c > 0)
			continue;
		if (options && a->cmd == AP_ADD && strcmp(s, "--expires") == 0 && i + 1 < argc) {
			a->expires = argv[++i];
		} else if (options && a->cmd == AP_ADD && strcmp(s, "--from") == 0 && i + 1 < argc) {
			if (admin_from_append(PROG, argv[++i], &a->from) < 0)
				return -2;
		} else if (options && strcmp(s, "--") == 0) {
			options = false;
		} else if (options && s[0] == '-') {
			return -1;
		} else if (!a->user) {
			a->user = s;
		} else if (!a->name && a->cmd != AP_LIST) {
			a->name = s;
		} else {
			return -1;
		}
	}
	if (!a->user || (a->cmd != AP_LIST && !a->name))
		return -1;
	return 0;
}

int admin_apppass_main(int argc, char **argv)
{
	if ((argc >= 2 && admin_subcmd_is_help(argv[1])) || admin_wants_help(argc, argv))
		return ap_usage(stdout);
	struct ap_args a = { .conf = ADMIN_DEFAULT_CONFIG, .from = STRBUF_INIT };
	int pr = ap_parse_args(argc, argv, &a);
	int rc = EX_USAGE;
	if (pr < 0) {
		if (pr == -1)
			ap_usage(stderr);
		goto out;
	}
	if (!passdb_username_valid(a.user)) {
		fprintf(stderr, PROG ": invalid user name '%s'\n", a.user);
		goto out;
	}
	if (a.name && !apppass_name_valid(a.name)) {
		fprintf(stderr, PROG ": invalid name '%s': use 1..%d of A-Z a-z 0-9 . _ -, not "
				"starting with . or -\n", a.name, APPPASS_NAME_MAX);
		goto out;
	}
	struct config *cfg;
	rc = admin_conf_load(PROG, a.conf, &cfg);
	if (rc)
		goto out;
	char *path = apppass_path_for(cfg->users_file);
	struct passdb_user u;
	struct passdb *db = a.cmd == AP_ADD ? passdb_load(cfg->users_file, NULL) : NULL;
	if (a.cmd == AP_ADD && !passdb_user_get(db, a.user, &u)) {
		fprintf(stderr, PROG ": no such user: %s\n", a.user);
		rc = EX_NOUSER;
	} else if (a.cmd == AP_ADD) {
		passdb_user_clear(&u);
		rc = ap_add(cfg, path, &a);
	} else if (a.cmd == AP_LIST) {
		rc = ap_list(cfg, path, &a);
	} else {
		rc = ap_revoke(path, &a);
		if (rc == 0)   /* status: the revoked password's sessions end */
			admin_kick_user(cfg, PROG, a.user, a.name);
	}
	passdb_free(db);
	free(path);
	config_free(cfg);
out:
	strbuf_free(&a.from);
	return rc;
}
