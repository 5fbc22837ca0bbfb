/* Finding a subcommand in a command's table: `rampart user add|passwd|...`
 * and `rampart user app-password add|list|revoke` spell their verbs as
 * data, and this is the one lookup they share (admin_internal.h). */
#include "admin/admin_internal.h"

#include <string.h>

int admin_subcmd_find(const struct admin_subcmd *v, size_t n, const char *name)
{
	for (size_t i = 0; name && i < n; i++)
		if (strcmp(name, v[i].name) == 0)
			return v[i].id;
	return -1;
}

bool admin_subcmd_is_help(const char *arg)
{
	return arg && (strcmp(arg, "help") == 0 || strcmp(arg, "-h") == 0 ||
		       strcmp(arg, "--help") == 0);
}

/* lifecycle (issue #13): `--help` or `-h` anywhere after the command asks
 * for its usage on stdout with exit 0, whatever else is there. */
bool admin_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}
