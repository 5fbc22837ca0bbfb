/* `rampart stats [--json] [-c FILE]`: the running server's counters
 * (connections, logins, commands, bytes, deliveries, uptime), asked over
 * its control socket (app/control.c, verb "stats"). The server formats
 * the answer (core/metrics.c metrics_summary), so the CLI and /metrics
 * read the same cells and cannot disagree; this file only asks
 * (admin/control_client.c carries it). */
#include "admin/admin.h"
#include "admin/admin_internal.h"
#include "core/config.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#define STATS_REPLY_MAX (1024 * 1024)

static int stats_usage(FILE *f)
{
	fprintf(f, "usage: rampart stats [--json] [-c FILE]\n"
		   "Prints the running server's connections, logins (total and in the\n"
		   "last minute), commands, bytes, deliveries and uptime; --json prints\n"
		   "them as one JSON object.\n");
	return f == stdout ? 0 : EX_USAGE;
}

int admin_stats_main(int argc, char **argv)
{
	const char *conf = ADMIN_DEFAULT_CONFIG;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (admin_subcmd_is_help(argv[i]))
			return stats_usage(stdout);
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
			continue;
		}
		if (admin_conf_arg(argc, argv, &i, &conf) != 1)
			return stats_usage(stderr);
	}
	struct config *cfg;
	int rc = admin_conf_load("rampart stats", conf, &cfg);
	if (rc)
		return rc;
	/* admin/control_client.c prints the answer, or why there is none. */
	rc = admin_control_call_max("rampart stats", cfg, json ? "stats json" : "stats text", NULL,
				    STATS_REPLY_MAX);
	config_free(cfg);
	return rc == 1 ? EX_SOFTWARE : rc; /* 1: the server refused */
}
