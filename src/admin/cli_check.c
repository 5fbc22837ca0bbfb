/* `rampart check [-c FILE] [--repair] [--quick] [--grace SECONDS] USER...|--all`:
 * the index of each user's store against its message files and its own
 * invariants (store_check_user, store/sqlite/check.c), one line per
 * finding and a summary line per user, all key=value so scripts and
 * fail2ban-style tools can read them:
 *
 *   user=alice check=blob mailbox=INBOX uid=7 blob=ab12... problem=missing action=expunged
 *   user=alice summary mailboxes=6 messages=120 blobs=118 findings=1 repaired=1 lost_found=0 rebuilt=no
 *
 * The cached ENVELOPE/BODYSTRUCTURE are compared with a re-parse made
 * here (mail/mailcache.c, as `rampart deliver` makes them), because the
 * store has no MIME code.
 *
 * Exit status: 0 every store clean; 1 problems found (without --repair)
 * or found and all repaired; 2 with --repair, some could not be repaired;
 * sysexits(3) codes for errors: EX_USAGE, EX_NOUSER (unknown user),
 * EX_CONFIG, EX_NOINPUT (users file), EX_CANTCREAT (mail_root),
 * EX_TEMPFAIL (a store could not be checked, e.g. locked). Runs as the
 * server's user, like `rampart deliver`. */
#include "admin/admin.h"
#include "auth/passdb.h"
#include "core/config.h"
#include "core/privs.h"
#include "core/util.h"
#include "mail/mailcache.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

/* Blob and temp files younger than this may be an APPEND in flight (the
 * store's own temp-file rule, store/blob.c, uses the same hour). */
#define CHECK_GRACE_DEFAULT 3600

struct check_args {
	const char *conf;
	bool repair, quick, all;
	unsigned grace;
	char **users;
	size_t nusers;
};

static int check_usage(FILE *f)
{
	fprintf(f,
		"usage: rampart check [-c FILE] [--repair] [--quick] [--grace SECONDS] USER...\n"
		"       rampart check [-c FILE] [--repair] [--quick] [--grace SECONDS] --all\n"
		"Checks each user's index against the message files (size, SHA-256; --quick:\n"
		"existence and size only), orphaned files, quota counters, UID/MODSEQ counters,\n"
		"cached envelopes and SQLite's integrity. --repair fixes what it finds without\n"
		"losing mail (damaged messages go to Lost+Found). One key=value line per finding.\n"
		"Exit: 0 clean, 1 problems found (or all repaired), 2 some not repaired,\n"
		"EX_* (sysexits) on errors.\n");
	return f == stdout ? 0 : EX_USAGE;
}

static int check_parse(int argc, char **argv, struct check_args *a)
{
	for (int i = 1; i < argc; i++) {
		int c = admin_conf_arg(argc, argv, &i, &a->conf);
		if (c < 0)
			return -1;
		if (c > 0)
			continue;
		const char *s = argv[i];
		if (strcmp(s, "--repair") == 0) {
			a->repair = true;
		} else if (strcmp(s, "--quick") == 0) {
			a->quick = true;
		} else if (strcmp(s, "--all") == 0) {
			a->all = true;
		} else if (strcmp(s, "--grace") == 0) {
			uint64_t v;
			if (i + 1 >= argc || parse_u64(argv[i + 1], strlen(argv[i + 1]), &v) < 0 ||
			    v > 10u * 365 * 86400)
				return -1;
			a->grace = (unsigned)v;
			i++;
		} else if (s[0] == '-') {
			return -1;
		} else {
			a->users = xrealloc(a->users, (a->nusers + 1) * sizeof(*a->users));
			a->users[a->nusers++] = (char *)s;
		}
	}
	return (a->all != (a->nusers > 0)) ? 0 : -1;
}

/* A value as key=value: bare when it has no space, quote, '=' or control
 * character, else in double quotes with '"' and '\' escaped. */
static void check_value(FILE *f, const char *key, const char *v)
{
	bool plain = *v != '\0';
	for (const unsigned char *p = (const unsigned char *)v; *p && plain; p++)
		plain = *p > ' ' && *p != '"' && *p != '=' && *p != '\\' && *p != 0x7f;
	fprintf(f, " %s=", key);
	if (plain) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		if (*p < ' ' || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

struct check_ctx {
	const char *user;
};

static void check_report(const struct store_check_finding *f, void *arg)
{
	const struct check_ctx *ctx = arg;
	fputs("user=", stdout);
	fputs(ctx->user, stdout);
	printf(" check=%s", f->check);
	if (f->mailbox)
		check_value(stdout, "mailbox", f->mailbox);
	if (f->uid)
		printf(" uid=%" PRIu32, f->uid);
	if (f->blob)
		check_value(stdout, "blob", f->blob);
	printf(" problem=%s action=%s", f->problem, f->action);
	if (f->detail)
		printf(" %s", f->detail);
	putchar('\n');
}

/* Checks one user: 0 clean, 1 found (all repaired), 2 not all repaired,
 * or an EX_ code. */
static int check_user(const struct check_args *a, const char *user, bool *checked)
{
	struct check_ctx ctx = { .user = user };
	struct store_check_opts o = {
		.repair = a->repair,
		.quick = a->quick,
		.grace_seconds = a->grace,
		.report = check_report,
		.cache = mail_cache_compute,
		.ctx = &ctx,
	};
	struct store_check_summary s;
	int r = store_check_user(user, &o, &s);
	*checked = r != STORE_ENOENT;
	if (r == STORE_ENOENT)
		return 0;
	if (r != STORE_OK) {
		fflush(stdout);
		fprintf(stderr, "rampart check: %s: the check could not run (store error %d)\n", user,
			r);
		return EX_TEMPFAIL;
	}
	printf("user=%s summary mailboxes=%" PRIu64 " messages=%" PRIu64 " blobs=%" PRIu64
	       " findings=%" PRIu64 " repaired=%" PRIu64 " lost_found=%" PRIu64 " rebuilt=%s\n",
	       user, s.mailboxes, s.messages, s.blobs, s.findings, s.repaired, s.lost_found,
	       s.rebuilt ? "yes" : "no");
	fflush(stdout);
	if (s.findings == 0)
		return 0;
	return a->repair && s.repaired < s.findings ? 2 : 1;
}

/* The worse of two results: an error over 2 over 1 over 0. */
static int check_worse(int a, int b)
{
	int ra = a > 2 ? 3 : a, rb = b > 2 ? 3 : b;
	return ra >= rb ? a : b;
}

static int check_run(struct check_args *a, const struct config *cfg)
{
	char *err = NULL;
	struct passdb *db = passdb_load(cfg->users_file, &err);
	if (!db) {
		fprintf(stderr, "rampart check: users file: %s\n", err ? err : "unreadable");
		free(err);
		return EX_NOINPUT;
	}
	for (size_t i = 0; i < a->nusers; i++) {
		if (!passdb_user_exists(db, a->users[i])) {
			fprintf(stderr, "rampart check: no such user: %s\n", a->users[i]);
			passdb_free(db);
			return EX_NOUSER;
		}
	}
	passdb_free(db);
	char **all = NULL;
	size_t nall = 0;
	if (a->all && passdb_file_list(cfg->users_file, &all, &nall) < 0) {
		fprintf(stderr, "rampart check: users file: unreadable\n");
		return EX_NOINPUT;
	}
	int rc = 0;
	if (privs_drop(cfg) < 0) {
		rc = EX_TEMPFAIL;
		goto out;
	}
	if (store_init(cfg->mail_root) != STORE_OK) {
		fprintf(stderr, "rampart check: cannot open mail_root %s\n", cfg->mail_root);
		rc = EX_CANTCREAT;
		goto out;
	}
	admin_quota_defaults(cfg);
	if (store_special_defaults_set(cfg) != STORE_OK) {
		fprintf(stderr, "rampart check: [mailboxes]: a name is not a valid mailbox name\n");
		rc = EX_CONFIG;
		goto out_store;
	}
	char **list = a->all ? all : a->users;
	size_t n = a->all ? nall : a->nusers;
	size_t checked = 0;
	for (size_t i = 0; i < n; i++) {
		bool did = false;
		rc = check_worse(rc, check_user(a, list[i], &did));
		if (did)
			checked++;
		else if (!a->all)
			fprintf(stderr, "rampart check: %s has no store yet\n", list[i]);
		store_cache_drop();
	}
	if (a->all)
		printf("checked=%zu users=%zu\n", checked, n);
out_store:
	store_shutdown();
out:
	for (size_t i = 0; i < nall; i++)
		free(all[i]);
	free(all);
	return rc;
}

int admin_check_main(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
			  strcmp(argv[1], "-h") == 0))
		return check_usage(stdout);
	struct check_args a = { .conf = ADMIN_DEFAULT_CONFIG, .grace = CHECK_GRACE_DEFAULT };
	if (check_parse(argc, argv, &a) < 0) {
		free(a.users);
		return check_usage(stderr);
	}
	for (size_t i = 0; i < a.nusers; i++) {
		if (!passdb_username_valid(a.users[i])) {
			fprintf(stderr, "rampart check: invalid user name '%s'\n", a.users[i]);
			free(a.users);
			return EX_USAGE;
		}
	}
	struct config *cfg;
	int rc = admin_conf_load("rampart check", a.conf, &cfg);
	if (rc == 0) {
		rc = check_run(&a, cfg);
		config_free(cfg);
	}
	free(a.users);
	return rc;
}
