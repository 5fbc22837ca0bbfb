/* -c FILE has one home (admin/conf_arg.c): every command that reads the
 * configuration spells the option the same way and reports a bad file
 * the same way, "PROG: FILE:LINE: message" and exit status EX_CONFIG (78).
 * `rampart serve` (src/main.c) is checked against the real binary in
 * tests/integration/test_cli_config.py. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/deliver.h"
#include "core/config.h"
#include "core/util.h"

static void test_conf_arg(void **state)
{
	(void)state;
	char *argv[] = { "x", "-c", "a.conf", "--config", "b.conf", "-c", "name", "-c" };
	int argc = (int)ARRAY_SIZE(argv);
	const char *path = "default";
	int i = 0;
	assert_int_equal(admin_conf_arg(argc, argv, &i, &path), 0);
	assert_string_equal(path, "default");
	i = 1;
	assert_int_equal(admin_conf_arg(argc, argv, &i, &path), 1);
	assert_string_equal(path, "a.conf");
	assert_int_equal(i, 2);
	i = 3;
	assert_int_equal(admin_conf_arg(argc, argv, &i, &path), 1);
	assert_string_equal(path, "b.conf");
	assert_int_equal(i, 4);
	i = 6; /* "name": not the option */
	assert_int_equal(admin_conf_arg(argc, argv, &i, &path), 0);
	i = 7; /* -c without FILE */
	assert_int_equal(admin_conf_arg(argc, argv, &i, &path), -1);
	assert_string_equal(path, "b.conf");
	i = argc;
	assert_int_equal(admin_conf_arg(argc, argv, &i, &path), 0);
}

/* Runs fn with stderr sent to a file; returns what it wrote. */
static char *capture_stderr(int (*fn)(int, char **), int argc, char **argv, int *rc)
{
	char tmpl[] = "/tmp/rampart-admin-conf-XXXXXX";
	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	unlink(tmpl);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	*rc = fn(argc, argv);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	char buf[4096];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return xstrdup(buf);
}

static int deliver_main(int argc, char **argv)
{
	return admin_deliver_main(argc, argv);
}

static void test_bad_file_same_everywhere(void **state)
{
	(void)state;
	char dir[] = "/tmp/rampart-admin-conf-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *conf = xasprintf("%s/bad.conf", dir);
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	fputs("[limits]\nmax_line = 12\n", f);
	assert_int_equal(fclose(f), 0);

	/* What config_load itself says about the file. */
	struct config *cfg = NULL;
	char *err = NULL;
	assert_int_equal(config_load(conf, &cfg, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, ":2: max_line"));

	struct {
		int (*fn)(int, char **);
		const char *prog;
		char *argv[6];
		int argc;
	} cmds[] = {
		{ admin_user_main, "rampart user", { "user", "list", "-c", conf }, 4 },
		{ admin_user_main, "rampart user", { "user", "del", "--config", conf, "bob" }, 5 },
		{ admin_config_main, "rampart config", { "config", "check", "-c", conf }, 4 },
		{ admin_config_main, "rampart config", { "config", "check", "--config", conf }, 4 },
		{ deliver_main, "rampart deliver", { "deliver", "-c", conf, "bob" }, 4 },
		{ deliver_main, "rampart deliver", { "deliver", "--config", conf, "bob", "INBOX" }, 5 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		int rc;
		char *out = capture_stderr(cmds[i].fn, cmds[i].argc, cmds[i].argv, &rc);
		char *want = xasprintf("%s: %s\n", cmds[i].prog, err);
		if (rc != EX_CONFIG || strcmp(out, want) != 0)
			fail_msg("%s: rc %d, stderr \"%s\", want %d \"%s\"", cmds[i].prog, rc, out, EX_CONFIG,
				 want);
		free(want);
		free(out);
	}
	/* The helper on its own: the same line, and a missing file too. */
	int rc = admin_conf_load("p", conf, &cfg);
	assert_int_equal(rc, EX_CONFIG);
	assert_null(cfg);
	char *missing = xasprintf("%s/none.conf", dir);
	assert_int_equal(admin_conf_load("p", missing, &cfg), EX_CONFIG);
	free(missing);
	free(err);
	unlink(conf);
	rmdir(dir);
	free(conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_arg),
		cmocka_unit_test(test_bad_file_same_everywhere),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
