/* `rampart config check`: loads the configuration exactly as `rampart
 * serve` would, and prints what the server would run with (every key,
 * defaults included, relative paths resolved) so an administrator sees
 * the effective values rather than guessing them from the file. */
#include "admin/admin.h"
#include "auth/oauth.h"
#include "core/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

static int config_cli_usage(FILE *f)
{
	fprintf(f, "usage: rampart config check [-c FILE]\n"
		   "Validates FILE (default " ADMIN_DEFAULT_CONFIG ") and prints the effective\n"
		   "configuration; exit status 0 when valid, 78 otherwise.\n");
	return f == stdout ? 0 : EX_USAGE;
}

int admin_config_main(int argc, char **argv)
{
	if (argc < 2)
		return config_cli_usage(stderr);
	if (strcmp(argv[1], "help") == 0 || admin_wants_help(argc, argv))
		return config_cli_usage(stdout);
	if (strcmp(argv[1], "check") != 0)
		return config_cli_usage(stderr);
	const char *conf = ADMIN_DEFAULT_CONFIG;
	for (int i = 2; i < argc; i++)
		if (admin_conf_arg(argc, argv, &i, &conf) != 1)
			return config_cli_usage(stderr);
	struct config *cfg;
	int rc = admin_conf_load("rampart config", conf, &cfg);
	if (rc)
		return rc;
	/* The JWKS is parsed by auth/, not by the config loader: check it
	 * here as `rampart serve` will at startup. */
	char *oerr = NULL;
	oauth_free(oauth_new(cfg, &oerr));
	if (oerr) {
		fprintf(stderr, "rampart config: %s: %s\n", conf, oerr);
		free(oerr);
		config_free(cfg);
		return EX_CONFIG;
	}
	config_print(cfg, stdout);
	/* Not a configuration error (the file is created by the first
	 * `rampart user add`), but `rampart serve` will not start without it. */
	if (access(cfg->users_file, R_OK) != 0)
		fprintf(stderr, "rampart config: warning: users file %s is not readable; `rampart serve` "
				"needs it (create it with `rampart user add`)\n", cfg->users_file);
	config_free(cfg);
	if (fflush(stdout) != 0)
		return EX_IOERR;
	return 0;
}
