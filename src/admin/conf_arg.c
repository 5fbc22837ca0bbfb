/* `-c FILE` for every command line that reads the configuration (serve,
 * user, config check, deliver): how the option is spelt, which file is
 * read without it (ADMIN_DEFAULT_CONFIG), and how a bad file is reported
 * ("PROG: FILE:LINE: what is wrong" on stderr, exit status EX_CONFIG from
 * sysexits(3)), so that an MTA or a script sees the same from each. */
#include "admin/admin.h"
#include "auth/sasl.h"
#include "core/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

int admin_conf_arg(int argc, char **argv, int *i, const char **path)
{
	if (*i >= argc || (strcmp(argv[*i], "-c") != 0 && strcmp(argv[*i], "--config") != 0))
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*path = argv[++*i];
	return 1;
}

int admin_conf_load(const char *prog, const char *path, struct config **out)
{
	char *err = NULL;
	*out = NULL;
	if (config_load(path, out, &err) == 0) {
		/* [auth] mechanisms names the SASL table, which core/ cannot see */
		unsigned mask;
		if (sasl_mechs_parse((*out)->auth_mechanisms, &mask, &err) == 0)
			return 0;
		config_free(*out);
		*out = NULL;
	}
	fprintf(stderr, "%s: %s\n", prog, err ? err : "configuration error");
	free(err);
	return EX_CONFIG;
}
