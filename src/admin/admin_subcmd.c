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
