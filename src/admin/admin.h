/* Administrative subcommands of the rampart binary that work on the
 * configuration and the users file (they never open the mail store).
 *
 *   rampart user add    [-c FILE] NAME [--password-stdin]
 *   rampart user passwd [-c FILE] NAME [--password-stdin]
 *   rampart user del    [-c FILE] NAME
 *   rampart user list   [-c FILE]
 *   rampart config check [-c FILE]
 *
 * FILE defaults to /etc/rampart/rampart.conf. Exit status per sysexits(3):
 * 0 success, 64 usage, 65 unusable password (empty, too long, the two
 * entries differ), 67 no such user, 73 the users file cannot be written
 * (or the user already exists), 66 the users file cannot be read,
 * 78 configuration error. See docs/rampart.8.md. */
#ifndef RAMPART_ADMIN_ADMIN_H
#define RAMPART_ADMIN_ADMIN_H

#include <stdbool.h>

struct config;

/* The configuration file read when no -c FILE is given. */
#define ADMIN_DEFAULT_CONFIG "/etc/rampart/rampart.conf"

/* The -c FILE option (also --config FILE) at argv[*i], for every command
 * (conf_arg.c). Returns 1 and sets *path, leaving *i on FILE (so a loop's
 * i++ steps past it); 0 when argv[*i] is not that option; -1 when FILE is
 * missing (a usage error). */
int admin_conf_arg(int argc, char **argv, int *i, const char **path);
/* config_load() for a command: 0, or on failure "PROG: message" on stderr
 * and EX_CONFIG, the exit status every command gives a bad file. */
int admin_conf_load(const char *prog, const char *path, struct config **out);
/* lifecycle: --help or -h among argv[1..] (admin_subcmd.c): every command
 * then prints its usage on stdout and exits 0. */
bool admin_wants_help(int argc, char **argv);

/* argv[0] is "user"; argv[1] the subcommand. Returns the exit status. */
int admin_user_main(int argc, char **argv);
/* argv[0] is "config"; argv[1] the subcommand. Returns the exit status. */
int admin_config_main(int argc, char **argv);
/* argv[0] is "security"; argv[1] status|unlock (cli_security.c). */
int admin_security_main(int argc, char **argv);
/* The [quota] defaults handed to the store (cli_quota.c): after
 * store_init() in every process that writes mail. */
void admin_quota_defaults(const struct config *cfg);
/* check (issue #13): `rampart check`; argv[0] is "check" (cli_check.c). */
int admin_check_main(int argc, char **argv);
/* migrate (issue #13): `rampart import ...` (cli_import.c) and `rampart
 * export USER DIR` (cli_export.c); argv[0] is the command's name. */
int admin_import_main(int argc, char **argv);
int admin_export_main(int argc, char **argv);

/* metrics: argv[0] is "stats" (cli_stats.c). */
int admin_stats_main(int argc, char **argv);

/* status: `rampart who` and `rampart kick` (cli_who.c); argv[0] is the command. */
int admin_who_main(int argc, char **argv);
int admin_kick_main(int argc, char **argv);

#endif
