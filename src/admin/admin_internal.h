/* What the `rampart user` files of admin/ share: giving a credentials
 * file that root has just created to the server's group, the switches
 * that restrict a login source, the app-password subcommand, and the
 * lookup of a subcommand in a table (admin_subcmd.c). */
#ifndef RAMPART_ADMIN_ADMIN_INTERNAL_H
#define RAMPART_ADMIN_ADMIN_INTERNAL_H

#include "core/strbuf.h"

#include <stdbool.h>
#include <stddef.h>

struct config;

/* A file root has just created (users_file, app_passwords) belongs to
 * root:root and the server could not read it: make it root:<the
 * server's group>, keeping mode 0640 (readable by the server, writable
 * only by root). Warns on stderr when that fails. */
void admin_file_give_to_server(const struct config *cfg, const char *path);

/* `--from CIDR[,CIDR]` (repeatable): checks the networks and appends them,
 * comma-separated, to list. 0, or -1 after a message on stderr. */
int admin_from_append(const char *prog, const char *arg, struct strbuf *list);

/* One row of a command's subcommand table: a verb and what it stands
 * for (an enum of the command's own). */
struct admin_subcmd {
	const char *name;
	int id;
};
/* The id of name in v[0..n), or -1 when it is not there. */
int admin_subcmd_find(const struct admin_subcmd *v, size_t n, const char *name);
/* "help", "-h" or "--help". */
bool admin_subcmd_is_help(const char *arg);

/* `rampart user app-password add|list|revoke ...`: argv[0] is
 * "app-password". Returns the exit status. */
int admin_apppass_main(int argc, char **argv);
/* `rampart user quota USER ...` (cli_quota.c): argv[0] is "quota". */
int admin_quota_main(int argc, char **argv);

/* status: one request to the running server's control socket
 * (control_client.c). reply NULL: the answer's text goes to stdout (ok)
 * or stderr (error), with a message when the server cannot be reached;
 * otherwise it is appended to reply and nothing is printed. 0 (ok), 1
 * (the server answered "error"), EX_UNAVAILABLE (no server running),
 * EX_PROTOCOL (no or a cut answer), EX_CONFIG (socket path too long). */
int admin_control_call(const char *prog, const struct config *cfg, const char *request,
		       struct strbuf *reply);
/* The same, giving up (EX_PROTOCOL) on an answer of max bytes or more. */
int admin_control_call_max(const char *prog, const struct config *cfg, const char *request,
			   struct strbuf *reply, size_t max);

/* status: ends the sessions of `user` (only those logged in with the app
 * password app_name, when non-NULL) in the running server with
 * "* BYE [EXPIRED]" (the credential was withdrawn); prints how many when
 * some ended. The number ended, 0 when no server runs, -1 when the
 * server could not be asked (cli_who.c). */
int admin_kick_user(const struct config *cfg, const char *prog, const char *user,
		    const char *app_name);

#endif
