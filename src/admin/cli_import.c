/* `rampart import maildir|mbox|passwd-file ...` (issue #13 migrate): the
 * command line, the checks every import shares (the configuration
 * validates, the user exists, the store opens as the server's account),
 * and the summary. The formats live in maildir.c, mbox.c and the
 * cli_import_*.c files; the per-message work in import_msg.c.
 *
 * Exit status (sysexits(3)): 0 everything imported or already there;
 * 64 usage; 65 some messages or folders could not be imported (the rest
 * was); 66 the source cannot be read; 67 no such user; 73 the store
 * cannot be written; 75 a temporary failure (users file unreadable);
 * 78 the configuration does not validate. */
#include "admin/admin.h"
#include "admin/admin_internal.h"
#include "admin/import.h"
#include "auth/passdb.h"
#include "core/config.h"
#include "core/privs.h"
#include "core/util.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

static int usage(FILE *f)
{
	fprintf(f,
		"usage: rampart import maildir [-c FILE] USER DIR\n"
		"       rampart import mbox [-c FILE] USER FILE|DIR [--mailbox NAME]\n"
		"       rampart import passwd-file [-c FILE] PASSWD-FILE\n"
		"Imports mail from a Dovecot or Courier Maildir++ tree (keeping UIDVALIDITY,\n"
		"UIDs, flags, keywords, dates and subscriptions) or from mbox files, or\n"
		"users with their password hashes from a Dovecot passwd-file. A second run\n"
		"adds nothing. Progress and per-mailbox figures go to stderr.\n");
	return f == stderr ? EX_USAGE : 0;
}

enum import_kind { IMPORT_MAILDIR, IMPORT_MBOX, IMPORT_PASSWD };

/* Opens the store of `user` as the server's account and runs the import. */
static int mail_import(const struct config *cfg, enum import_kind kind, const char *user,
		       const char *src, const char *mailbox)
{
	char *err = NULL;
	struct passdb *db = passdb_load(cfg->users_file, &err);
	if (!db) {
		fprintf(stderr, "rampart import: users file: %s\n", err ? err : "unreadable");
		free(err);
		return EX_TEMPFAIL;
	}
	bool known = passdb_user_exists(db, user);
	passdb_free(db);
	if (!known) {
		fprintf(stderr, "rampart import: no such user: %s (rampart user add, or rampart "
			"import passwd-file, first)\n", user);
		return EX_NOUSER;
	}
	/* As root, what we create must belong to the server's account. */
	if (privs_drop(cfg) < 0)
		return EX_TEMPFAIL;
	if (store_init(cfg->mail_root) < 0) {
		fprintf(stderr, "rampart import: cannot open mail_root %s\n", cfg->mail_root);
		return EX_CANTCREAT;
	}
	admin_quota_defaults(cfg);
	store_inline_set((size_t)cfg->store_inline_max_kb << 10); /* inline (issue #14) */
	int rc = EX_CANTCREAT;
	struct import_ctx c;
	memset(&c, 0, sizeof(c));
	c.user = user;
	c.max_size = cfg->max_message_size;
	if (store_special_defaults_set(cfg) != STORE_OK) {
		fprintf(stderr, "rampart import: [mailboxes]: a name is not a valid mailbox name\n");
		rc = EX_CONFIG;
		goto out;
	}
	c.u = store_user_open(user);
	c.spool = store_user_spool_dir(user);
	if (!c.u || !c.spool) {
		fprintf(stderr, "rampart import: cannot open the store of %s\n", user);
		goto out;
	}
	rc = kind == IMPORT_MAILDIR ? import_maildir(&c, src) : import_mbox(&c, src, mailbox);
	printf("%s: %u messages added, %u skipped (already there), %u failed\n", user, c.added,
	       c.skipped, c.failed);
	if (rc == 0 && c.failed)
		rc = EX_DATAERR;
out:
	if (c.u)
		store_user_close(c.u);
	free(c.spool);
	store_cache_drop();
	store_shutdown();
	return rc;
}

int admin_import_main(int argc, char **argv)
{
	static const struct admin_subcmd kinds[] = {
		{ "maildir", IMPORT_MAILDIR },
		{ "mbox", IMPORT_MBOX },
		{ "passwd-file", IMPORT_PASSWD },
	};
	if (argc < 2 || admin_subcmd_is_help(argv[1]))
		return usage(argc < 2 ? stderr : stdout);
	int kind = admin_subcmd_find(kinds, ARRAY_SIZE(kinds), argv[1]);
	if (kind < 0)
		return usage(stderr);
	const char *conf = ADMIN_DEFAULT_CONFIG, *mailbox = NULL, *pos[2] = { NULL, NULL };
	size_t npos = 0;
	for (int i = 2; i < argc; i++) {
		int c = admin_conf_arg(argc, argv, &i, &conf);
		if (c < 0)
			return usage(stderr);
		if (c == 1)
			continue;
		if (admin_subcmd_is_help(argv[i]))
			return usage(stdout);
		if (kind == IMPORT_MBOX && strcmp(argv[i], "--mailbox") == 0 && i + 1 < argc) {
			mailbox = argv[++i];
			continue;
		}
		if (argv[i][0] == '-' || npos == 2)
			return usage(stderr);
		pos[npos++] = argv[i];
	}
	if (npos != (kind == IMPORT_PASSWD ? 1u : 2u))
		return usage(stderr);
	struct config *cfg;
	int rc = admin_conf_load("rampart import", conf, &cfg);
	if (rc)
		return rc;
	if (kind == IMPORT_PASSWD)
		rc = import_passwd_file(cfg, pos[0]);
	else
		rc = mail_import(cfg, (enum import_kind)kind, pos[0], pos[1], mailbox);
	config_free(cfg);
	return rc;
}
