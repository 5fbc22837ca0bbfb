/* `rampart user quota USER [--storage SIZE] [--messages N] [--mailboxes N]
 * | --show | --recount`: a user's quota (RFC 9208 resources STORAGE,
 * MESSAGE, MAILBOX), and the one place that turns the [quota] section of
 * the configuration into the store's defaults (admin_quota_defaults, also
 * called by `rampart serve` and `rampart deliver`).
 *
 * Per-user limits live in the user's store, beside the usage they limit
 * (store_quota_set), not in the users file: IMAP SETQUOTA changes the same
 * value, the limit and the usage are read in one transaction, and a user
 * without a store yet gets one as on first login. A value of 0 is
 * unlimited; `default` removes the user's own limit so the [quota] default
 * applies again. The command runs as the server's user (privilege drop),
 * like `rampart deliver`, so the files it creates belong to the server. */
#include "admin/admin.h"
#include "admin/admin_internal.h"
#include "auth/passdb.h"
#include "core/config.h"
#include "core/privs.h"
#include "core/util.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

void admin_quota_defaults(const struct config *cfg)
{
	struct store_quota_limits d = {
		.storage_kib = store_quota_storage_kib(cfg->quota_storage),
		.messages = cfg->quota_messages,
		.mailboxes = cfg->quota_mailboxes,
	};
	store_quota_defaults_set(&d);
}

static int quota_usage(FILE *f)
{
	fprintf(f,
		"usage: rampart user quota [-c FILE] USER [--storage SIZE|default]\n"
		"                          [--messages N|default] [--mailboxes N|default]\n"
		"       rampart user quota [-c FILE] USER --show | --recount\n"
		"SIZE is bytes or with a K/M/G/T suffix (powers of 1024); 0 is unlimited;\n"
		"default applies the [quota] default again. Prints the usage and limits.\n");
	return f == stdout ? 0 : EX_USAGE;
}

/* "default" -> STORE_QUOTA_DEFAULT; digits with an optional K/M/G/T
 * suffix (size) -> the number (for a size: KiB, rounded up). */
static int quota_value(const char *v, bool size, uint64_t *out)
{
	if (strcmp(v, "default") == 0) {
		*out = STORE_QUOTA_DEFAULT;
		return 0;
	}
	size_t digits = strspn(v, "0123456789");
	uint64_t n;
	if (digits == 0 || digits > 18 || parse_u64(v, digits, &n) < 0)
		return -1;
	const char *sfx = v + digits;
	unsigned shift = 0;
	if (*sfx && size) {
		const char *units = "KMGT";
		const char *u = strchr(units, *sfx & ~0x20);
		if (!u)
			return -1;
		shift = 10 * (unsigned)(u - units + 1);
		sfx++;
		if (*sfx && strcmp(sfx, "B") != 0 && strcmp(sfx, "iB") != 0)
			return -1;
	} else if (*sfx) {
		return -1;
	}
	if (n > ((uint64_t)INT64_MAX >> shift))
		return -1;
	n <<= shift;
	*out = size ? store_quota_storage_kib(n) : n;
	return 0;
}

struct quota_args {
	const char *conf;
	const char *user;
	struct store_quota_limits set;  /* STORE_QUOTA_DEFAULT... or unchanged */
	bool changes[3];
	bool recount;
};

static int quota_parse(int argc, char **argv, struct quota_args *a)
{
	static const char *const opts[3] = { "--storage", "--messages", "--mailboxes" };
	uint64_t *fields[3] = { &a->set.storage_kib, &a->set.messages, &a->set.mailboxes };
	for (int i = 1; i < argc; i++) {
		int c = admin_conf_arg(argc, argv, &i, &a->conf);
		if (c < 0)
			return -1;
		if (c > 0)
			continue;
		const char *s = argv[i];
		bool matched = false;
		for (size_t k = 0; k < 3 && !matched; k++) {
			if (strcmp(s, opts[k]) != 0)
				continue;
			if (i + 1 >= argc || quota_value(argv[++i], k == 0, fields[k]) < 0) {
				fprintf(stderr, "rampart user quota: %s needs a number%s or default\n",
					opts[k], k == 0 ? " (with K/M/G/T)" : "");
				return -2;
			}
			a->changes[k] = matched = true;
		}
		if (matched || strcmp(s, "--show") == 0)
			continue;
		if (strcmp(s, "--recount") == 0)
			a->recount = true;
		else if (s[0] != '-' && !a->user)
			a->user = s;
		else
			return -1;
	}
	return a->user ? 0 : -1;
}

static void quota_line(const char *name, uint64_t usage, uint64_t own, uint64_t eff,
		       const char *unit)
{
	printf("%s usage=%" PRIu64 " limit=", name, usage);
	if (eff == 0)
		printf("unlimited");
	else
		printf("%" PRIu64, eff);
	printf(" unit=%s from=%s\n", unit, own == STORE_QUOTA_DEFAULT ? "default" : "user");
}

static int quota_show(struct store_user *u, const char *user)
{
	struct store_quota_usage us;
	struct store_quota_limits own, eff;
	if (store_quota_get(u, &us, &own, &eff) != STORE_OK) {
		fprintf(stderr, "rampart user quota: cannot read the quota of %s\n", user);
		return EX_TEMPFAIL;
	}
	printf("user %s\n", user);
	quota_line("STORAGE", store_quota_storage_kib(us.storage), own.storage_kib,
		   eff.storage_kib, "KiB");
	printf("STORAGE-BYTES usage=%" PRIu64 "\n", us.storage);
	quota_line("MESSAGE", us.messages, own.messages, eff.messages, "messages");
	quota_line("MAILBOX", us.mailboxes, own.mailboxes, eff.mailboxes, "mailboxes");
	return 0;
}

static int quota_recount(struct store_user *u, const char *user)
{
	struct store_quota_usage stored, counted;
	if (store_quota_recount(u, &stored, &counted) != STORE_OK) {
		fprintf(stderr, "rampart user quota: cannot recount the quota of %s\n", user);
		return EX_TEMPFAIL;
	}
	bool same = memcmp(&stored, &counted, sizeof(stored)) == 0;
	printf("recount %s storage=%" PRIu64 "/%" PRIu64 " messages=%" PRIu64 "/%" PRIu64
	       " mailboxes=%" PRIu64 "/%" PRIu64 " (stored/counted)\n",
	       same ? "ok" : "fixed", stored.storage, counted.storage, stored.messages,
	       counted.messages, stored.mailboxes, counted.mailboxes);
	return 0;
}

static int quota_run(const struct quota_args *a, const struct config *cfg)
{
	char *err = NULL;
	struct passdb *db = passdb_load(cfg->users_file, &err);
	if (!db) {
		fprintf(stderr, "rampart user quota: users file: %s\n", err ? err : "unreadable");
		free(err);
		return EX_NOINPUT;
	}
	bool known = passdb_user_exists(db, a->user);
	passdb_free(db);
	if (!known) {
		fprintf(stderr, "rampart user quota: no such user: %s\n", a->user);
		return EX_NOUSER;
	}
	if (privs_drop(cfg) < 0)
		return EX_TEMPFAIL;
	if (store_init(cfg->mail_root) != STORE_OK) {
		fprintf(stderr, "rampart user quota: cannot open mail_root %s\n", cfg->mail_root);
		return EX_CANTCREAT;
	}
	admin_quota_defaults(cfg);
	int rc = EX_TEMPFAIL;
	struct store_user *u = store_user_open(a->user);
	if (!u) {
		fprintf(stderr, "rampart user quota: cannot open the store of %s\n", a->user);
		goto out;
	}
	rc = 0;
	if (a->changes[0] || a->changes[1] || a->changes[2]) {
		struct store_quota_limits own;
		rc = store_quota_get(u, NULL, &own, NULL) == STORE_OK ? 0 : EX_TEMPFAIL;
		if (a->changes[0])
			own.storage_kib = a->set.storage_kib;
		if (a->changes[1])
			own.messages = a->set.messages;
		if (a->changes[2])
			own.mailboxes = a->set.mailboxes;
		if (rc == 0 && store_quota_set(u, &own) != STORE_OK)
			rc = EX_TEMPFAIL;
		if (rc)
			fprintf(stderr, "rampart user quota: cannot set the quota of %s\n", a->user);
	}
	if (rc == 0 && a->recount)
		rc = quota_recount(u, a->user);
	if (rc == 0)
		rc = quota_show(u, a->user);
	store_user_close(u);
out:
	store_shutdown();
	return rc;
}

int admin_quota_main(int argc, char **argv)
{
	if ((argc >= 2 && strcmp(argv[1], "help") == 0) || admin_wants_help(argc, argv))
		return quota_usage(stdout);
	struct quota_args a = { .conf = ADMIN_DEFAULT_CONFIG };
	int pr = quota_parse(argc, argv, &a);
	if (pr == -1)
		return quota_usage(stderr);
	if (pr == -2)
		return EX_USAGE;
	if (!passdb_username_valid(a.user)) {
		fprintf(stderr, "rampart user quota: invalid user name '%s'\n", a.user);
		return EX_USAGE;
	}
	struct config *cfg;
	int rc = admin_conf_load("rampart user quota", a.conf, &cfg);
	if (rc)
		return rc;
	rc = quota_run(&a, cfg);
	config_free(cfg);
	return rc;
}
