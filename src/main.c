/* rampart: serve | user | deliver | config */
#include "admin/admin.h"
#include "admin/deliver.h"
#include "app/serve.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/privs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#define RAMPART_VERSION "0.1.0"

static int usage(FILE *f)
{
	fprintf(f,
		"usage: rampart COMMAND [ARGS]\n"
		"  serve [-c FILE]                  run the IMAP server in the foreground\n"
		"  user add|passwd|del|list [-c FILE] ...   manage users\n"
		"  deliver [-c FILE] USER [MAILBOX] < msg   deliver one message durably\n"
		"  config check [-c FILE]           validate and print the configuration\n"
		"  security status|unlock IP|USER [-c FILE]  lockouts of the running server\n"
		/* check (issue #13) */
		"  check [--repair] [--quick] USER...|--all [-c FILE]  verify/repair the index\n"
		/* migrate (issue #13) */
		"  import maildir|mbox|passwd-file [-c FILE] ...  import mail or users\n"
		"  export [-c FILE] USER DIR        write a user's mail as a Maildir++ tree\n"
		"  stats [--json] [-c FILE]         counters of the running server\n"
		"  who [-c FILE] [--json]           sessions of the running server\n"
		"  kick [-c FILE] USER|IP           end sessions of a user or an address\n"
		"  version\n"
		"FILE defaults to " ADMIN_DEFAULT_CONFIG "\n");
	return f == stderr ? EX_USAGE : 0;
}

static int serve_main(int argc, char **argv)
{
	if (admin_wants_help(argc, argv))
		return usage(stdout);
	const char *conf = ADMIN_DEFAULT_CONFIG;
	for (int i = 1; i < argc; i++)
		if (admin_conf_arg(argc, argv, &i, &conf) != 1)
			return usage(stderr);
	struct config *cfg;
	int load_rc = admin_conf_load("rampart", conf, &cfg);
	if (load_rc)
		return load_rc;
	log_set_level((enum log_level)cfg->log_level);
	if (cfg->log_file && log_set_file(cfg->log_file) < 0) {
		fprintf(stderr, "rampart: cannot open log file %s\n", cfg->log_file);
		config_free(cfg);
		return EX_CANTCREAT;
	}
	if (privs_harden_early() < 0) {
		config_free(cfg);
		return EX_OSERR;
	}
	if (cfg->allow_plaintext_auth)
		log_warn("event=startup_warning msg=\"plaintext authentication allowed beyond loopback "
			 "([security] allow_plaintext_auth = yes): passwords from trusted_networks and "
			 "on tls = none listeners cross the network unencrypted\"");
	metrics_set_version(RAMPART_VERSION);
	int rc = app_serve(cfg);
	config_free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	const char *cmd = argv[1];
	if (strcmp(cmd, "serve") == 0)
		return serve_main(argc - 1, argv + 1);
	if (strcmp(cmd, "user") == 0)
		return admin_user_main(argc - 1, argv + 1);
	if (strcmp(cmd, "config") == 0)
		return admin_config_main(argc - 1, argv + 1);
	if (strcmp(cmd, "security") == 0)
		return admin_security_main(argc - 1, argv + 1);
	if (strcmp(cmd, "deliver") == 0)
		return admin_deliver_main(argc - 1, argv + 1);
	/* check (issue #13) */
	if (strcmp(cmd, "check") == 0)
		return admin_check_main(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 && admin_wants_help(argc - 1, argv + 1)) {
		printf("usage: rampart version\nPrints the version.\n");
		return 0;
	}
	/* migrate (issue #13) */
	if (strcmp(cmd, "import") == 0)
		return admin_import_main(argc - 1, argv + 1);
	if (strcmp(cmd, "export") == 0)
		return admin_export_main(argc - 1, argv + 1);
	if (strcmp(cmd, "stats") == 0) /* metrics */
		return admin_stats_main(argc - 1, argv + 1);
	if (strcmp(cmd, "who") == 0)     /* status */
		return admin_who_main(argc - 1, argv + 1);
	if (strcmp(cmd, "kick") == 0)    /* status */
		return admin_kick_main(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("rampart %s\n", RAMPART_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
		return usage(stdout);
	return usage(stderr);
}
