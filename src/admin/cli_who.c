/* `rampart who` and `rampart kick`: who is connected to the running
 * server, and ending their sessions. Both ask the server through its
 * control socket (verbs "who" and "kick", app/who.c): the sessions live
 * in the server's workers, so there is nothing to read on disk. Also the
 * kick that follows an app-password revoke or a user deletion
 * (admin_kick_user). */
#include "admin/admin.h"
#include "admin/admin_internal.h"
#include "core/config.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

static int who_usage(FILE *f)
{
	fprintf(f, "usage: rampart who [-c FILE] [--json]\n"
		   "Lists the sessions of the running server: user, source address,\n"
		   "listener, since (login time, UTC), selected mailbox, bytes in/out, TLS.\n");
	return f == stdout ? 0 : EX_USAGE;
}

static int kick_usage(FILE *f)
{
	fprintf(f, "usage: rampart kick [-c FILE] USER|IP\n"
		   "Ends every session of USER, or from the address IP, on the running\n"
		   "server: the client reads \"* BYE [UNAVAILABLE] ...\" and the connection\n"
		   "closes. Prints how many sessions ended.\n");
	return f == stdout ? 0 : EX_USAGE;
}

int admin_who_main(int argc, char **argv)
{
	const char *conf = ADMIN_DEFAULT_CONFIG;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (admin_subcmd_is_help(argv[i]))
			return who_usage(stdout);
		int r = admin_conf_arg(argc, argv, &i, &conf);
		if (r < 0)
			return who_usage(stderr);
		if (r == 0 && strcmp(argv[i], "--json") == 0)
			json = true;
		else if (r == 0)
			return who_usage(stderr);
	}
	struct config *cfg;
	int rc = admin_conf_load("rampart who", conf, &cfg);
	if (rc)
		return rc;
	rc = admin_control_call("rampart who", cfg, json ? "who json" : "who", NULL);
	config_free(cfg);
	return rc;
}

static bool kick_is_ip(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int admin_kick_main(int argc, char **argv)
{
	const char *conf = ADMIN_DEFAULT_CONFIG, *what = NULL;
	for (int i = 1; i < argc; i++) {
		if (admin_subcmd_is_help(argv[i]))
			return kick_usage(stdout);
		int r = admin_conf_arg(argc, argv, &i, &conf);
		if (r < 0)
			return kick_usage(stderr);
		if (r == 0 && !what && argv[i][0] != '-')
			what = argv[i];
		else if (r == 0)
			return kick_usage(stderr);
	}
	if (!what || !*what)
		return kick_usage(stderr);
	if (strpbrk(what, " \t\r\n") || strlen(what) > 255) {
		fprintf(stderr, "rampart kick: invalid user name or address\n");
		return EX_USAGE;
	}
	struct config *cfg;
	int rc = admin_conf_load("rampart kick", conf, &cfg);
	if (rc)
		return rc;
	char *req = xasprintf("kick %s %s", kick_is_ip(what) ? "ip" : "user", what);
	rc = admin_control_call("rampart kick", cfg, req, NULL);
	free(req);
	config_free(cfg);
	return rc;
}

int admin_kick_user(const struct config *cfg, const char *prog, const char *user,
		    const char *app_name)
{
	char *req = app_name ? xasprintf("kick app %s %s", user, app_name)
			     : xasprintf("kick user %s expired", user);
	struct strbuf reply = STRBUF_INIT;
	int rc = admin_control_call(prog, cfg, req, &reply);
	free(req);
	unsigned n = 0;
	if (rc == 0 && sscanf(strbuf_cstr(&reply), "kicked=%u", &n) == 1 && n)
		printf("%s: ended %u session%s of %s in the running server\n", prog, n,
		       n == 1 ? "" : "s", user);
	strbuf_free(&reply);
	return rc == 0 ? (int)n : rc == EX_UNAVAILABLE ? 0 : -1;
}
