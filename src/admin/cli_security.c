/* `rampart security status` and `rampart security unlock IP|USER`: ask the
 * running server's policy engine (auth/policy.c) through its control
 * socket, state_dir/control.sock (app/control.c). The engine's state lives
 * in the server's memory, so the CLI never edits policy.state itself: a
 * running server would overwrite the edit at its next save. */
#include "admin/admin.h"
#include "admin/admin_internal.h"
#include "core/config.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

static int security_usage(FILE *f)
{
	fprintf(f, "usage: rampart security status [-c FILE]\n"
		   "       rampart security unlock IP|USER [-c FILE]\n"
		   "Shows locked sources and users and the top failing sources, or lifts\n"
		   "the locks on an address or a user, in the running server.\n");
	return f == stdout ? 0 : EX_USAGE;
}

int admin_security_main(int argc, char **argv)
{
	if (argc < 2)
		return security_usage(stderr);
	if (strcmp(argv[1], "help") == 0 || admin_wants_help(argc, argv))
		return security_usage(stdout);
	const char *conf = ADMIN_DEFAULT_CONFIG, *what = NULL;
	bool unlock = strcmp(argv[1], "unlock") == 0;
	if (!unlock && strcmp(argv[1], "status") != 0)
		return security_usage(stderr);
	for (int i = 2; i < argc; i++) {
		int r = admin_conf_arg(argc, argv, &i, &conf);
		if (r < 0)
			return security_usage(stderr);
		if (r == 0 && unlock && !what && argv[i][0] != '-')
			what = argv[i];
		else if (r == 0)
			return security_usage(stderr);
	}
	if (unlock && !what)
		return security_usage(stderr);
	if (what && strpbrk(what, " \r\n")) {
		fprintf(stderr, "rampart security: invalid IP or user name\n");
		return EX_USAGE;
	}
	struct config *cfg;
	int rc = admin_conf_load("rampart security", conf, &cfg);
	if (rc)
		return rc;
	char *req = unlock ? xasprintf("security unlock %s", what) : xstrdup("security status");
	rc = admin_control_call("rampart security", cfg, req, NULL);
	free(req);
	config_free(cfg);
	return rc;
}
