/* The configuration file: a full valid file, defaults, relative paths,
 * listeners, every class of error (with FILE:LINE), and config_print
 * output that loads again to the same configuration. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "store/store.h"
#include "core/log.h"
#include "core/util.h"

struct tmp {
	char dir[64];
	char conf[128];
};

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
}

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(p);
		else
			unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/rampart-config-XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	/* resolve /tmp symlinks so expected paths compare equal */
	char *real = realpath(t->dir, NULL);
	snprintf(t->dir, sizeof(t->dir), "%s", real);
	free(real);
	snprintf(t->conf, sizeof(t->conf), "%s/rampart.conf", t->dir);
	char p[256];
	snprintf(p, sizeof(p), "%s/cert.pem", t->dir);
	write_file(p, "not really a certificate\n");
	snprintf(p, sizeof(p), "%s/key.pem", t->dir);
	write_file(p, "not really a key\n");
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	rm_tree(t->dir);
	free(t);
	return 0;
}

static struct config *load_ok(struct tmp *t, const char *text)
{
	write_file(t->conf, text);
	struct config *c = NULL;
	char *err = NULL;
	if (config_load(t->conf, &c, &err) < 0)
		fail_msg("unexpected error: %s", err);
	assert_null(err);
	assert_non_null(c);
	return c;
}

/* Loads text and expects an error containing "rampart.conf:LINE:" (line
 * > 0) or just "rampart.conf:" (line 0), and the phrase. */
static void load_err(struct tmp *t, const char *text, int line, const char *phrase)
{
	write_file(t->conf, text);
	struct config *c = (struct config *)1;
	char *err = NULL;
	if (config_load(t->conf, &c, &err) == 0)
		fail_msg("accepted a bad file (expected '%s'):\n%s", phrase, text);
	assert_null(c);
	assert_non_null(err);
	char where[160];
	if (line > 0)
		snprintf(where, sizeof(where), "%s:%d: ", t->conf, line);
	else
		snprintf(where, sizeof(where), "%s: ", t->conf);
	if (strncmp(err, where, strlen(where)) != 0)
		fail_msg("error '%s' does not start with '%s'", err, where);
	if (!strstr(err, phrase))
		fail_msg("error '%s' does not mention '%s'", err, phrase);
	free(err);
}

static bool listmatch(const struct cidr_list *l, const char *ip)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	if (inet_pton(AF_INET, ip, &s4.sin_addr) == 1)
		return cidr_list_match(l, (struct sockaddr *)&s4);
	assert_int_equal(inet_pton(AF_INET6, ip, &s6.sin6_addr), 1);
	return cidr_list_match(l, (struct sockaddr *)&s6);
}

#define MIN_LISTENER "[listener imap]\naddress = 127.0.0.1:1143\ntls = none\n"

static void test_full_file(void **state)
{
	struct tmp *t = *state;
	struct config *c = load_ok(t,
		"# a production-like file\n"
		"[server]\n"
		"workers = 4\n"
		"mail_root = /var/lib/rampart/mail\n"
		"users_file = /etc/rampart/users ; inline comment\n"
		"user = rampart\n"
		"group = mail\n"
		"log_file = /var/log/rampart/rampart.log\n"
		"log_level = debug\n"
		"pid_file = /run/rampart.pid\n"
		"\n"
		"[tls]\n"
		"cert = cert.pem\n"
		"key = key.pem\n"
		"min_version = TLSv1.3\n"
		"ciphers = ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256\n"
		"ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384\n"
		"\n"
		"[listener imap]\n"
		"address = 0.0.0.0:143\n"
		"tls = starttls\n"
		"\n"
		"[listener imaps]\n"
		"address = [::]:993\n"
		"tls = implicit\n"
		"allow_from = 192.0.2.0/24, 2001:db8::/32\n"
		"\n"
		"[security]\n"
		"trusted_networks = 127.0.0.0/8 ::1\n"
		"auth_fail_delay_ms = 500\n"
		"\n"
		"[limits]\n"
		"max_line = 8192\n"
		"max_literal = 32M\n"
		"max_message_size = 50MiB\n"
		"max_connections = 5000\n"
		"max_connections_per_ip = 50\n"
		"max_output_buffer = 256K\n"
		"idle_timeout = 3600\n"
		"preauth_timeout = 30\n"
		"max_mailboxes = 500\n"
		"max_mailbox_name = 200\n");
	assert_string_equal(c->path, t->conf);
	assert_int_equal(c->workers, 4);
	assert_string_equal(c->mail_root, "/var/lib/rampart/mail");
	assert_string_equal(c->users_file, "/etc/rampart/users");
	assert_string_equal(c->run_user, "rampart");
	assert_string_equal(c->run_group, "mail");
	assert_string_equal(c->log_file, "/var/log/rampart/rampart.log");
	assert_int_equal(c->log_level, LOG_LVL_DEBUG);
	assert_string_equal(c->pid_file, "/run/rampart.pid");
	char want[256];
	snprintf(want, sizeof(want), "%s/cert.pem", t->dir);
	assert_string_equal(c->tls_cert, want);
	snprintf(want, sizeof(want), "%s/key.pem", t->dir);
	assert_string_equal(c->tls_key, want);
	assert_int_equal(c->tls_min_version, TLS1_3_VERSION);
	assert_string_equal(c->tls_ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
	assert_string_equal(c->tls_ciphersuites, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384");

	assert_int_equal(c->nlisteners, 2 + 1); /* + lmtp: [lmtp] default_socket */
	assert_string_equal(c->listeners[0].name, "imap");
	assert_string_equal(c->listeners[0].host, "0.0.0.0");
	assert_int_equal(c->listeners[0].port, 143);
	assert_int_equal(c->listeners[0].tls, LISTENER_TLS_STARTTLS);
	assert_int_equal(c->listeners[0].allow_from.n, 0);
	assert_string_equal(c->listeners[1].name, "imaps");
	assert_string_equal(c->listeners[1].host, "::");
	assert_int_equal(c->listeners[1].port, 993);
	assert_int_equal(c->listeners[1].tls, LISTENER_TLS_IMPLICIT);
	assert_int_equal(c->listeners[1].allow_from.n, 2);
	assert_true(listmatch(&c->listeners[1].allow_from, "192.0.2.9"));
	assert_true(listmatch(&c->listeners[1].allow_from, "2001:db8::9"));
	assert_false(listmatch(&c->listeners[1].allow_from, "198.51.100.1"));

	assert_int_equal(c->trusted_networks.n, 2);
	assert_true(listmatch(&c->trusted_networks, "127.0.0.1"));
	assert_true(listmatch(&c->trusted_networks, "::ffff:127.0.0.1"));
	assert_true(listmatch(&c->trusted_networks, "::1"));
	assert_int_equal(c->auth_fail_delay_ms, 500);
	assert_int_equal(c->max_line, 8192);
	assert_int_equal(c->max_literal, 32u << 20);
	assert_int_equal(c->max_message_size, 50u << 20);
	assert_int_equal(c->max_connections, 5000);
	assert_int_equal(c->max_connections_per_ip, 50);
	assert_int_equal(c->max_output_buffer, 256u << 10);
	assert_int_equal(c->idle_timeout, 3600);
	assert_int_equal(c->preauth_timeout, 30);
	assert_int_equal(c->max_mailboxes, 500);
	assert_int_equal(c->max_mailbox_name, 200);
	config_free(c);
}

static void test_defaults(void **state)
{
	struct tmp *t = *state;
	struct config *c = load_ok(t, MIN_LISTENER);
	char want[256];
	assert_int_equal(c->workers, 0);
	snprintf(want, sizeof(want), "%s/mail", t->dir);
	assert_string_equal(c->mail_root, want);
	snprintf(want, sizeof(want), "%s/users", t->dir);
	assert_string_equal(c->users_file, want);
	assert_null(c->run_user);
	assert_null(c->run_group);
	assert_null(c->log_file);
	assert_null(c->pid_file);
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	assert_null(c->tls_cert);
	assert_null(c->tls_key);
	assert_int_equal(c->tls_min_version, TLS1_2_VERSION);
	assert_null(c->tls_ciphers);
	assert_null(c->tls_ciphersuites);
	assert_int_equal(c->trusted_networks.n, 0);
	assert_int_equal(c->auth_fail_delay_ms, 2000);
	assert_int_equal(c->max_line, 65536);
	assert_int_equal(c->max_literal, 64u << 20);
	assert_int_equal(c->max_message_size, 64u << 20);
	assert_int_equal(c->max_connections, 20000);
	assert_int_equal(c->max_connections_per_ip, 200);
	assert_int_equal(c->max_output_buffer, 1u << 20);
	assert_int_equal(c->idle_timeout, 1800);
	assert_int_equal(c->preauth_timeout, 60);
	assert_int_equal(c->max_mailboxes, 10000);
	assert_int_equal(c->max_mailbox_name, 1000);
	/* a listener's tls defaults to starttls, which needs a certificate */
	config_free(c);
	load_err(t, "[listener imap]\naddress = 127.0.0.1:1143\n", 0, "cert and key are required");
	/* empty values unset optional keys */
	c = load_ok(t, "[server]\nuser =\nlog_file =\n" MIN_LISTENER "[security]\ntrusted_networks =\n");
	assert_null(c->run_user);
	assert_null(c->log_file);
	assert_int_equal(c->trusted_networks.n, 0);
	config_free(c);
}

static void test_relative_paths(void **state)
{
	struct tmp *t = *state;
	struct config *c = load_ok(t, "[server]\nmail_root = data/mail\nusers_file = ./users.db\n"
				      "log_file = log/rampart.log\npid_file = /run/x.pid\n"
				      "[tls]\ncert = cert.pem\nkey = key.pem\n"
				      "[listener imaps]\naddress = 127.0.0.1:1993\ntls = implicit\n");
	char want[256];
	snprintf(want, sizeof(want), "%s/data/mail", t->dir);
	assert_string_equal(c->mail_root, want);
	snprintf(want, sizeof(want), "%s/./users.db", t->dir);
	assert_string_equal(c->users_file, want);
	snprintf(want, sizeof(want), "%s/log/rampart.log", t->dir);
	assert_string_equal(c->log_file, want);
	assert_string_equal(c->pid_file, "/run/x.pid");
	config_free(c);

	/* a config path given relative to the working directory still
	 * yields absolute paths */
	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(t->dir), 0);
	struct config *c2 = NULL;
	char *err = NULL;
	int rc = config_load("rampart.conf", &c2, &err);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rc, 0);
	snprintf(want, sizeof(want), "%s/data/mail", t->dir);
	assert_string_equal(c2->mail_root, want);
	snprintf(want, sizeof(want), "%s/cert.pem", t->dir);
	assert_string_equal(c2->tls_cert, want);
	config_free(c2);
}

static void test_listeners(void **state)
{
	struct tmp *t = *state;
	struct config *c = load_ok(t, "[tls]\ncert = cert.pem\nkey = key.pem\n"
				      "[listener a]\naddress = [::1]:143\n"
				      "[ listener   b.2_x-y ]   ; spaces and a comment\naddress = 127.0.0.1:65535\ntls = implicit\n"
				      "[listener c]\naddress = [2001:db8::1]:1\ntls = none\n"
				      "allow_from = 10.0.0.0/8,\n"
				      "    192.168.0.0/16\n"
				      "    fd00::/8\n"
				      "[security]\nallow_plaintext_auth = yes\n");
	assert_int_equal(c->nlisteners, 3 + 1); /* + lmtp default */
	assert_string_equal(c->listeners[0].host, "::1");
	assert_int_equal(c->listeners[0].port, 143);
	assert_int_equal(c->listeners[0].tls, LISTENER_TLS_STARTTLS);
	assert_string_equal(c->listeners[1].name, "b.2_x-y");
	assert_int_equal(c->listeners[1].port, 65535);
	assert_int_equal(c->listeners[1].tls, LISTENER_TLS_IMPLICIT);
	assert_string_equal(c->listeners[2].host, "2001:db8::1");
	assert_int_equal(c->listeners[2].port, 1);
	assert_int_equal(c->listeners[2].tls, LISTENER_TLS_NONE);
	/* continuation lines extend the list */
	assert_int_equal(c->listeners[2].allow_from.n, 3);
	assert_true(listmatch(&c->listeners[2].allow_from, "fd12::1"));
	assert_true(listmatch(&c->listeners[2].allow_from, "192.168.3.3"));
	config_free(c);

	/* the same address twice is refused, ports may differ */
	load_err(t, MIN_LISTENER "[listener other]\naddress = 127.0.0.1:1143\ntls = none\n", 4,
		 "same address as [listener imap]");
	c = load_ok(t, MIN_LISTENER "[listener other]\naddress = 127.0.0.1:1144\ntls = none\n");
	assert_int_equal(c->nlisteners, 2 + 1); /* + lmtp default */
	config_free(c);
}

/* protocol, unix:PATH, unix_mode and trusted; the keys that apply to one
 * kind of listener only are refused on the other. */
static void test_listener_unix_and_protocol(void **state)
{
	struct tmp *t = *state;
	struct config *c = load_ok(t, "[listener a]\naddress = unix:run/imap.sock\ntls = none\n"
				      "protocol = imap\nunix_mode = 0600\ntrusted = yes\n"
				      "[listener b]\naddress = unix:/run/rampart/b.sock\ntls = none\n"
				      "[listener c]\naddress = 127.0.0.1:143\ntls = none\n");
	assert_int_equal(c->nlisteners, 3 + 1); /* + lmtp default */
	char *want = xasprintf("%s/run/imap.sock", t->dir);
	assert_string_equal(c->listeners[0].unix_path, want);
	free(want);
	assert_null(c->listeners[0].host);
	assert_int_equal(c->listeners[0].unix_mode, 0600);
	assert_true(c->listeners[0].trusted);
	assert_int_equal(c->listeners[0].protocol, LISTENER_PROTO_IMAP);
	assert_string_equal(c->listeners[1].unix_path, "/run/rampart/b.sock");
	assert_int_equal(c->listeners[1].unix_mode, 0660);
	assert_false(c->listeners[1].trusted);
	assert_null(c->listeners[2].unix_path);
	assert_int_equal(c->listeners[2].protocol, LISTENER_PROTO_IMAP);
	assert_string_equal(config_protocol_name(LISTENER_PROTO_IMAP), "imap");
	config_free(c);

	load_err(t, MIN_LISTENER "protocol = lmtp2\n", 4, "unknown protocol 'lmtp2'");
	load_err(t, MIN_LISTENER "protocol = IMAP\n", 4, "unknown protocol");
	load_err(t, MIN_LISTENER "trusted = yes\n", 4, "trusted applies to unix listeners only");
	load_err(t, MIN_LISTENER "unix_mode = 0600\n", 4, "unix_mode applies to unix listeners");
	load_err(t, "[listener u]\naddress = unix:a.sock\ntls = none\nallow_from = 10.0.0.0/8\n", 4,
		 "allow_from applies to TCP listeners only");
	load_err(t, "[listener u]\naddress = unix:a.sock\ntls = none\nunix_mode = 0800\n", 4,
		 "not an octal mode");
	load_err(t, "[listener u]\naddress = unix:a.sock\ntls = none\nunix_mode = 01777\n", 4,
		 "not an octal mode");
	load_err(t, "[listener u]\naddress = unix:a.sock\ntls = none\ntrusted = 1\n", 4,
		 "not yes or no");
	load_err(t, "[listener u]\naddress = unix:\ntls = none\n", 2, "needs a socket path");
	load_err(t, "[listener u]\naddress = unix:/x/a.sock\ntls = none\n"
		    "[listener v]\naddress = unix:/x/a.sock\ntls = none\n", 4,
		 "same address as [listener u]");
	char *longp = xasprintf("[listener u]\naddress = unix:/%0120d\ntls = none\n", 0);
	load_err(t, longp, 2, "longer than 107 bytes");
	free(longp);

	/* config_print writes the unix keys and reads back the same */
	c = load_ok(t, "[listener a]\naddress = unix:/run/a.sock\ntls = none\nunix_mode = 0640\n"
		       "unix_group = mail\ntrusted = yes\n[listener b]\naddress = unix:/run/b.sock\n"
		       "tls = none\nunix_owner = www\n");
	assert_string_equal(c->listeners[0].unix_group, "mail");
	assert_null(c->listeners[0].unix_owner);
	assert_string_equal(c->listeners[1].unix_owner, "www");
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	config_print(c, f);
	fclose(f);
	config_free(c);
	if (!strstr(out, "[listener a]\naddress = unix:/run/a.sock\ntls = none\nprotocol = imap\n"
			 "unix_mode = 0640\nunix_owner =\nunix_group = mail\ntrusted = yes\n") ||
	    !strstr(out, "unix_mode = 0660\nunix_owner = www\nunix_group =\ntrusted = no\n"))
		fail_msg("unix listeners not printed as expected:\n%s", out);
	/* and what is printed loads again */
	c = load_ok(t, out);
	assert_string_equal(c->listeners[0].unix_group, "mail");
	assert_null(c->listeners[0].unix_owner);
	assert_int_equal(c->listeners[0].unix_mode, 0640);
	config_free(c);
	free(out);
	load_err(t, MIN_LISTENER "unix_group = mail\n", 4, "unix_group applies to unix listeners");
}

static void test_errors_structure(void **state)
{
	struct tmp *t = *state;
	load_err(t, "[bogus]\n" MIN_LISTENER, 1, "unknown section [bogus]");
	load_err(t, MIN_LISTENER "[Server]\n", 4, "unknown section [Server]");
	load_err(t, MIN_LISTENER "\n[bogus]\n# a section with no keys is still reported\n", 5,
		 "unknown section");
	load_err(t, "workers = 2\n" MIN_LISTENER, 1, "outside of any section");
	load_err(t, MIN_LISTENER "[server]\nworkerz = 2\n", 5, "unknown key 'workerz' in [server]");
	load_err(t, MIN_LISTENER "[limits]\nmax_line = 2000\n\nmax_line = 3000\n", 7,
		 "'max_line' is set twice in [limits] (first on line 5)");
	load_err(t, MIN_LISTENER "[server]\nworkers = 1\n[server]\nworkers = 2\n", 7, "set twice");
	load_err(t, MIN_LISTENER "[listener imap]\naddress = 127.0.0.1:2\n", 4,
		 "duplicate listener name 'imap' (first on line 1)");
	load_err(t, "[listener]\naddress = 127.0.0.1:143\n", 1, "needs a name");
	load_err(t, "[listener a/b]\naddress = 127.0.0.1:143\n", 1, "listener name");
	load_err(t, "[listener aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\naddress = 127.0.0.1:143\n", 1,
		 "listener name");
	load_err(t, "[listener imap]\nport = 143\n", 2, "unknown key 'port' in [listener imap]");
	load_err(t, MIN_LISTENER "address = 127.0.0.1:1\n", 4, "'address' is set twice");
	load_err(t, MIN_LISTENER "[server] junk\n", 4, "unexpected text after section header");
	/* libinih's own syntax errors */
	load_err(t, MIN_LISTENER "[server]\njust words\n", 5, "syntax error");
	load_err(t, MIN_LISTENER "[server\n", 4, "syntax error");
	/* an over-long line is refused, not split */
	char *longline = xasprintf(MIN_LISTENER "[server]\nmail_root = /%0300d\n", 0);
	load_err(t, longline, 5, "line longer than");
	free(longline);
	load_err(t, MIN_LISTENER "[server]\nmail_root = /srv/\n    mail\n", 6,
		 "only trusted_networks, allow_from and ciphers take several lines");
	/* no listener at all */
	load_err(t, "", 0, "no listener");
	load_err(t, "# nothing\n[server]\nworkers = 1\n", 0, "no listener");
	load_err(t, "[listener imap]\ntls = none\n", 1, "[listener imap] has no address");
	load_err(t, "[listener imap]\n", 1, "has no address");
}

static void test_errors_values(void **state)
{
	struct tmp *t = *state;
	load_err(t, MIN_LISTENER "[server]\nworkers = many\n", 5, "workers: 'many' is not a number");
	load_err(t, MIN_LISTENER "[server]\nworkers = 2K\n", 5, "is not a number");
	load_err(t, MIN_LISTENER "[server]\nworkers = -1\n", 5, "not a number");
	load_err(t, MIN_LISTENER "[server]\nworkers = 5000\n", 5, "out of range (0..1024)");
	load_err(t, MIN_LISTENER "[limits]\nmax_line = 100\n", 5, "max_line: 100 is out of range");
	load_err(t, MIN_LISTENER "[limits]\nmax_literal = 64X\n", 5, "not a size");
	load_err(t, MIN_LISTENER "[limits]\nmax_literal = 99999999999999999999999\n", 5, "not a size");
	load_err(t, MIN_LISTENER "[limits]\nmax_literal = 99999999999G\n", 5, "not a size");
	load_err(t, MIN_LISTENER "[limits]\nmax_connections = 0\n", 5, "out of range");
	load_err(t, MIN_LISTENER "[limits]\nidle_timeout = 600\n", 5, "RFC 9051");
	load_err(t, MIN_LISTENER "[limits]\nidle_timeout = 0\n", 5, "at least 30 minutes");
	load_err(t, MIN_LISTENER "[limits]\nmax_connections = 10\nmax_connections_per_ip = 11\n", 0,
		 "max_connections_per_ip (11) is larger than max_connections (10)");
	load_err(t, MIN_LISTENER "[server]\nlog_level = verbose\n", 5, "log_level: 'verbose'");
	load_err(t, MIN_LISTENER "[server]\nmail_root =\n", 5, "mail_root: must not be empty");
	load_err(t, MIN_LISTENER "[server]\ngroup = mail\n", 0, "group is set but user is not");
	load_err(t, MIN_LISTENER "[tls]\nmin_version = TLSv1.1\n", 5, "not TLSv1.2 or TLSv1.3");
	load_err(t, MIN_LISTENER "[security]\ntrusted_networks = 127.0.0.1/8, localhost\n", 5,
		 "trusted_networks: 'localhost' is not an IP address");
	load_err(t, MIN_LISTENER "[security]\nauth_fail_delay_ms = 100000\n", 5, "out of range");
	load_err(t, "[listener imap]\naddress = 127.0.0.1:1143\ntls = yes\n", 3,
		 "tls: 'yes' is not starttls, implicit or none");
	load_err(t, "[listener imap]\naddress = 127.0.0.1:1143\ntls = none\nallow_from = 10/8\n", 4,
		 "allow_from: '10/8'");
}

static void test_errors_addresses(void **state)
{
	struct tmp *t = *state;
	static const struct {
		const char *addr;
		const char *phrase;
	} bad[] = {
		{ "localhost:143", "not a numeric IPv4 address" },
		{ "::1:143", "need brackets" },
		{ "[::1]143", "[IPv6]:PORT" },
		{ "[::1]", "[IPv6]:PORT" },
		{ "[127.0.0.1]:143", "not a numeric IPv6 address" },
		{ "[]:143", "no usable IPv6 address" },
		{ "127.0.0.1", "HOST:PORT" },
		{ ":143", "no usable IPv4 address" },
		{ "127.0.0.1:", "port '' is not in 1..65535" },
		{ "127.0.0.1:0", "port '0'" },
		{ "127.0.0.1:65536", "port '65536'" },
		{ "127.0.0.1:14x", "port '14x'" },
		{ "127.0.0.1:-1", "port '-1'" },
		{ "300.0.0.1:143", "not a numeric IPv4 address" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *text = xasprintf("[listener x]\naddress = %s\ntls = none\n", bad[i].addr);
		load_err(t, text, 2, bad[i].phrase);
		free(text);
	}
}

static void test_errors_tls_files(void **state)
{
	struct tmp *t = *state;
	load_err(t, "[listener imaps]\naddress = 127.0.0.1:993\ntls = implicit\n[tls]\ncert = cert.pem\n", 0,
		 "cert and key are required");
	load_err(t, "[tls]\ncert = missing.pem\nkey = key.pem\n[listener imaps]\naddress = 127.0.0.1:993\n"
		    "tls = implicit\n", 0, "[tls] cert: cannot read");
	load_err(t, "[tls]\ncert = cert.pem\nkey = /nonexistent/key.pem\n[listener imaps]\n"
		    "address = 127.0.0.1:993\ntls = implicit\n", 0, "No such file or directory");
	/* a directory is not a key */
	load_err(t, "[tls]\ncert = cert.pem\nkey = .\n[listener imaps]\naddress = 127.0.0.1:993\n"
		    "tls = implicit\n", 0, "not a regular file");
	/* an unreadable key (only meaningful when not running as root) */
	if (geteuid() != 0) {
		char p[256];
		snprintf(p, sizeof(p), "%s/key.pem", t->dir);
		chmod(p, 0);
		load_err(t, "[tls]\ncert = cert.pem\nkey = key.pem\n[listener imaps]\n"
			    "address = 127.0.0.1:993\ntls = implicit\n", 0, "Permission denied");
		chmod(p, 0600);
	}
	load_err(t, "[tls]\ncert = cert.pem\nkey = key.pem\nciphers = NO-SUCH-CIPHER\n[listener imaps]\n"
		    "address = 127.0.0.1:993\ntls = implicit\n", 0, "ciphers: OpenSSL accepts none");
	load_err(t, "[tls]\ncert = cert.pem\nkey = key.pem\nciphersuites = TLS_NOPE\n[listener imaps]\n"
		    "address = 127.0.0.1:993\ntls = implicit\n", 0, "ciphersuites: OpenSSL rejects");
}

static void test_errors_file(void **state)
{
	struct tmp *t = *state;
	struct config *c = (struct config *)1;
	char *err = NULL;
	assert_int_equal(config_load("/nonexistent/rampart.conf", &c, &err), -1);
	assert_null(c);
	assert_non_null(strstr(err, "cannot open /nonexistent/rampart.conf"));
	free(err);
	assert_int_equal(config_load(t->dir, &c, &err), -1);
	assert_non_null(strstr(err, "not a regular file"));
	free(err);
	/* NUL bytes */
	FILE *f = fopen(t->conf, "w");
	assert_non_null(f);
	fwrite(MIN_LISTENER "[server]\nwork\0ers = 1\n", 1, sizeof(MIN_LISTENER) - 1 + 23, f);
	fclose(f);
	assert_int_equal(config_load(t->conf, &c, &err), -1);
	assert_non_null(strstr(err, ":5: NUL byte"));
	free(err);
}

/* config_print writes every key; its output loads again and prints the
 * same text. */
static void test_print_roundtrip(void **state)
{
	struct tmp *t = *state;
	char *big = xstrdup("");
	for (int i = 0; i < 40; i++) {
		char *n = xasprintf("%s10.%d.0.0/16,%s", big, i, i % 5 == 4 ? "\n    " : " ");
		free(big);
		big = n;
	}
	char *text = xasprintf(
		"[server]\nworkers = 3\nuser = rampart\nlog_level = warning\n"
		"[tls]\ncert = cert.pem\nkey = key.pem\n"
		"ciphers = ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\n"
		"    ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\n"
		"    ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\n"
		"    DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384\n"
		"[listener imap]\naddress = [::]:143\n"
		"[listener imaps]\naddress = 0.0.0.0:993\ntls = implicit\nallow_from = ::ffff:10.0.0.0/104\n"
		"[security]\nallow_plaintext_auth = yes\ntrusted_networks = 127.0.0.1, ::1\n");
	/* a list longer than one line: continuation lines of 5 networks */
	char *with_big = xasprintf("%s    %s\n", text, big);
	struct config *c = load_ok(t, text);
	assert_non_null(strstr(c->tls_ciphers, "GCM-SHA384:ECDHE-ECDSA-CHACHA20"));

	char *out1 = NULL, *out2 = NULL;
	size_t len1 = 0, len2 = 0;
	FILE *f = open_memstream(&out1, &len1);
	config_print(c, f);
	fclose(f);
	config_free(c);
	static const char *keys[] = {
		"[server]\n", "workers = 3\n", "user = rampart\n", "group =\n", "log_level = warning\n",
		"log_file =\n", "pid_file =\n", "[tls]\n", "min_version = TLSv1.2\n", "ciphersuites =\n",
		"[security]\n", "trusted_networks = 127.0.0.1/32, ::1/128\n", "auth_fail_delay_ms = 2000\n",
		"[limits]\n", "max_line = 65536\n", "max_literal = 67108864\n",
		"max_message_size = 67108864\n", "max_connections = 20000\n",
		"max_connections_per_ip = 200\n", "max_output_buffer = 1048576\n", "idle_timeout = 1800\n",
		"preauth_timeout = 60\n", "max_mailboxes = 10000\n", "max_mailbox_name = 1000\n",
		"[listener imap]\naddress = [::]:143\ntls = starttls\nallow_from =\n",
		"[listener imaps]\naddress = 0.0.0.0:993\ntls = implicit\nallow_from = 10.0.0.0/8\n",
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strstr(out1, keys[i]))
			fail_msg("'%s' missing from:\n%s", keys[i], out1);

	/* feed the output back */
	char printed[256];
	snprintf(printed, sizeof(printed), "%s/printed.conf", t->dir);
	write_file(printed, out1);
	char *err = NULL;
	if (config_load(printed, &c, &err) < 0)
		fail_msg("printed config does not load: %s\n%s", err, out1);
	f = open_memstream(&out2, &len2);
	config_print(c, f);
	fclose(f);
	config_free(c);
	/* identical apart from the header naming the file */
	assert_string_equal(strchr(out1, '\n'), strchr(out2, '\n'));
	free(out1), free(out2);

	/* the same with a trusted_networks list longer than a line */
	write_file(t->conf, with_big);
	if (config_load(t->conf, &c, &err) < 0)
		fail_msg("%s", err);
	assert_int_equal(c->trusted_networks.n, 42);
	f = open_memstream(&out1, &len1);
	config_print(c, f);
	fclose(f);
	config_free(c);
	write_file(printed, out1);
	if (config_load(printed, &c, &err) < 0)
		fail_msg("printed config does not load: %s\n%s", err, out1);
	assert_int_equal(c->trusted_networks.n, 42);
	config_free(c);
	free(out1);
	free(text), free(with_big), free(big);
}

/* No input crashes or leaks the loader: mutations of a valid file (run
 * under ASan/UBSan by ctest) either load or give an error naming the file. */
static void test_mutations(void **state)
{
	struct tmp *t = *state;
	static const char base[] =
		"[server]\nworkers = 2\nmail_root = mail\nlog_level = debug\n"
		"[tls]\ncert = cert.pem\nkey = key.pem\nciphers = HIGH:\n    !aNULL\n"
		"[listener imap]\naddress = [::1]:1143\ntls = starttls\n"
		"allow_from = 10.0.0.0/8,\n    ::1\n"
		"[security]\ntrusted_networks = 127.0.0.1 ::1\n[limits]\nmax_literal = 1M\n";
	static const char alphabet[] = "[]=:;# \t\n\r\0/.,:0123456789abklmnrstvxyzK\xef\xbb\xbf";
	uint32_t rng = 12345;
	char buf[sizeof(base) + 64];
	for (int iter = 0; iter < 1500; iter++) {
		size_t len = sizeof(base) - 1;
		memcpy(buf, base, len);
		int edits = 1 + (int)((rng = rng * 1103515245u + 12345u) >> 16) % 6;
		for (int e = 0; e < edits; e++) {
			rng = rng * 1103515245u + 12345u;
			size_t pos = (rng >> 8) % len;
			char ch = alphabet[(rng >> 20) % (sizeof(alphabet) - 1)];
			switch ((rng >> 28) % 3) {
			case 0: /* replace */
				buf[pos] = ch;
				break;
			case 1: /* insert */
				if (len < sizeof(buf) - 1) {
					memmove(buf + pos + 1, buf + pos, len - pos);
					buf[pos] = ch;
					len++;
				}
				break;
			default: /* delete */
				memmove(buf + pos, buf + pos + 1, len - pos - 1);
				len--;
				break;
			}
		}
		FILE *f = fopen(t->conf, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(buf, 1, len, f), len);
		fclose(f);
		struct config *c = NULL;
		char *err = NULL;
		if (config_load(t->conf, &c, &err) == 0) {
			assert_null(err);
			assert_true(c->nlisteners >= 1);
			char *out = NULL;
			size_t olen = 0;
			FILE *m = open_memstream(&out, &olen);
			config_print(c, m);
			fclose(m);
			free(out);
			config_free(c);
		} else {
			assert_null(c);
			assert_non_null(err);
			assert_true(strncmp(err, t->conf, strlen(t->conf)) == 0);
			free(err);
		}
	}
}

/* ---- one home for defaults ---- */

/* "[section]" and "key = value" lines of config_print output, as
 * "section.key" -> value; listener sections are all "listener". */
struct kv {
	char key[96];
	char value[160];
};

static size_t printed_keys(const struct config *c, struct kv *out, size_t cap)
{
	char *text = NULL;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&text, &len);
	config_print(c, f);
	fclose(f);
	char sec[32] = "";
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '#')
			continue;
		if (line[0] == '[') {
			snprintf(sec, sizeof(sec), "%.*s", (int)strcspn(line + 1, " ]"), line + 1);
			continue;
		}
		char *eq = strstr(line, " =");
		assert_non_null(eq);
		assert_true(n < cap);
		snprintf(out[n].key, sizeof(out[n].key), "%s.%.*s", sec, (int)(eq - line), line);
		snprintf(out[n].value, sizeof(out[n].value), "%s", eq[2] == ' ' ? eq + 3 : "");
		n++;
	}
	free(text);
	return n;
}

/* A default as docs/configuration.md writes it, as config_print would:
 * "`64M` (67108864)" -> "67108864", "`info`" -> "info", "`mail`" (a
 * path) -> "<dir>/mail", "unset" / "empty" / "OpenSSL default" -> "". */
static void doc_default(const char *cell, bool path, const char *dir, char *out, size_t cap)
{
	const char *paren = strchr(cell, '(');
	const char *tick = strchr(cell, '`');
	if (paren && paren[1] >= '0' && paren[1] <= '9') {
		snprintf(out, cap, "%.*s", (int)strspn(paren + 1, "0123456789"), paren + 1);
	} else if (tick == cell) {
		size_t n = strcspn(cell + 1, "`");
		if (path)
			snprintf(out, cap, "%s/%.*s", dir, (int)n, cell + 1);
		else
			snprintf(out, cap, "%.*s", (int)n, cell + 1);
	} else {
		out[0] = '\0';
	}
}

/* Every key config_print knows has a row in docs/configuration.md whose
 * default is the value a file without that key loads to, and every row
 * is a key: a default changed in one place only fails here. */
static void test_defaults_match_docs(void **state)
{
	struct tmp *t = *state;
	/* No keys but what a file must have: a listener (and, for its TLS
	 * default, a certificate). */
	struct config *c = load_ok(t, MIN_LISTENER);
	struct kv kv[256];
	size_t n = printed_keys(c, kv, 256);
	config_free(c);
	while (n > 0 && strncmp(kv[n - 1].key, "listener.", 9) == 0)
		n--; /* this listener sets tls; the one below has only its address */
	c = load_ok(t, "[tls]\ncert = cert.pem\nkey = key.pem\n[listener imap]\naddress = 127.0.0.1:1143\n");
	struct kv lkv[256];
	size_t ln = printed_keys(c, lkv, 256);
	config_free(c);
	for (size_t i = 0; i < ln; i++)
		if (strncmp(lkv[i].key, "listener.", 9) == 0 && n < ARRAY_SIZE(kv))
			kv[n++] = lkv[i];

	const char *data = getenv("RAMPART_TEST_DATA");
	assert_non_null(data);
	char *doc = xasprintf("%s/../../docs/configuration.md", data);
	FILE *f = fopen(doc, "r");
	if (!f)
		fail_msg("cannot open %s", doc);
	char line[2048], sec[32] = "";
	bool documented[128] = { false };
	size_t rows = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "## [", 4) == 0) {
			snprintf(sec, sizeof(sec), "%.*s", (int)strcspn(line + 4, " ]"), line + 4);
			continue;
		}
		if (strncmp(line, "| `", 3) != 0)
			continue;
		/* "| `key` | default | meaning |", or "| `a`, `b` | ..." for
		 * keys that share a row */
		char *names = line + 1;
		char *bar = strchr(names, '|');
		if (!bar || !strchr(bar + 1, '|'))
			fail_msg("unexpected table row: %s", line);
		*bar = '\0';
		char cell[256];
		snprintf(cell, sizeof(cell), "%.*s", (int)strcspn(bar + 1, "|"), bar + 1);
		char *cs = cell;
		while (*cs == ' ')
			cs++;
		memmove(cell, cs, strlen(cs) + 1);
		for (size_t k = strlen(cell); k > 0 && cell[k - 1] == ' '; k--)
			cell[k - 1] = '\0';
		for (char *q = strchr(names, '`'); q; q = strchr(q, '`')) {
			size_t nl = strcspn(q + 1, "`");
			char key[96];
			snprintf(key, sizeof(key), "%s.%.*s", sec, (int)nl, q + 1);
			q += nl + 2;
			rows++;
			size_t i = 0;
			while (i < n && strcmp(kv[i].key, key) != 0)
				i++;
			if (i == n && strcmp(sec, "listener") == 0)
				continue; /* a key of another kind of listener than this TCP one */
			if (i == n && strcmp(sec, "certificate") == 0)
				continue; /* no [certificate NAME] in this file */
			if (i == n)
				fail_msg("docs/configuration.md documents %s, which config_print does not know",
					 key);
			documented[i] = true;
			if (strcmp(cell, "required") == 0)
				continue;
			char want[256];
			doc_default(cell, kv[i].value[0] == '/', t->dir, want, sizeof(want));
			if (strcmp(kv[i].value, want) != 0)
				fail_msg("%s: docs say default '%s' (%s), the loader gives '%s'", key, want,
					 cell, kv[i].value);
		}
	}
	fclose(f);
	free(doc);
	assert_true(rows >= 25);
	for (size_t i = 0; i < n; i++)
		if (!documented[i])
			fail_msg("%s is not in the tables of docs/configuration.md", kv[i].key);
}

/* The defaults need no second copy at the call sites (no
 * "cfg->max_line ? cfg->max_line : 65536"): a loaded configuration never
 * holds zero for these, because a file cannot set zero, and
 * config_new_defaults() gives the same values as loading a file. */
static void test_limits_never_zero(void **state)
{
	struct tmp *t = *state;
	static const char *const keys[] = {
		"max_line", "max_literal", "max_message_size", "max_connections",
		"max_connections_per_ip", "max_output_buffer", "idle_timeout", "preauth_timeout",
		"max_mailboxes", "max_mailbox_name", "max_search_contexts",
	};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char *text = xasprintf(MIN_LISTENER "[limits]\n%s = 0\n", keys[i]);
		load_err(t, text, 5, keys[i]);
		free(text);
	}
	load_err(t, "[tls]\nmin_version = 0\n" MIN_LISTENER, 2, "min_version");

	struct config *loaded = load_ok(t, MIN_LISTENER);
	struct config *made = config_new_defaults(t->dir);
	struct kv a[128], b[128];
	size_t na = printed_keys(loaded, a, 128), nb = printed_keys(made, b, 128);
	/* the same keys and values; only the listener differs */
	size_t j = 0;
	for (size_t i = 0; i < na; i++) {
		if (strncmp(a[i].key, "listener.", 9) == 0)
			continue;
		assert_true(j < nb);
		assert_string_equal(a[i].key, b[j].key);
		assert_string_equal(a[i].value, b[j].value);
		j++;
	}
	assert_int_equal(j, nb);
	assert_int_equal(made->nlisteners, 0);
	config_free(made);
	config_free(loaded);
}

/* max_mailbox_name's range ends where the store's name rule does
 * (STORE_MAILBOX_NAME_MAX): a longer setting would be a promise the store
 * refuses to keep. */
static void test_mailbox_name_limit_matches_store(void **state)
{
	struct tmp *t = *state;
	char text[256];
	snprintf(text, sizeof(text), MIN_LISTENER "[limits]\nmax_mailbox_name = %d\n",
		 STORE_MAILBOX_NAME_MAX);
	struct config *c = load_ok(t, text);
	assert_int_equal(c->max_mailbox_name, STORE_MAILBOX_NAME_MAX);
	config_free(c);
	snprintf(text, sizeof(text), MIN_LISTENER "[limits]\nmax_mailbox_name = %d\n",
		 STORE_MAILBOX_NAME_MAX + 1);
	load_err(t, text, 5, "out of range");
}

/* TLS policy part (issue #11): [certificate NAME] sections, proxy_from,
 * the session-ticket keys and the plaintext-authentication check. */
static void test_tls_policy_keys(void **state)
{
	struct tmp *t = *state;
	struct config *c = load_ok(t, "[tls]\ncert = cert.pem\nkey = key.pem\nsession_tickets = off\n"
				      "ticket_key_lifetime = 600\n"
				      "[certificate mail]\nnames = Mail.Example.org, *.example.net\n"
				      "    exact.example.com\ncert = cert.pem\nkey = key.pem\n"
				      "[listener a]\naddress = 0.0.0.0:993\ntls = implicit\n"
				      "proxy_from = 10.0.0.5, 2001:db8::/64\n"
				      "[security]\nproxy_timeout = 3\n");
	assert_false(c->tls_session_tickets);
	assert_int_equal(c->tls_ticket_key_lifetime, 600);
	assert_int_equal(c->proxy_timeout, 3);
	assert_int_equal(c->nsni_certs, 1);
	assert_int_equal(c->sni_certs[0].nnames, 3);
	assert_string_equal(c->sni_certs[0].names[0], "mail.example.org");
	assert_string_equal(c->sni_certs[0].names[1], "*.example.net");
	assert_string_equal(c->sni_certs[0].names[2], "exact.example.com");
	assert_true(listmatch(&c->listeners[0].proxy_from, "10.0.0.5"));
	assert_true(listmatch(&c->listeners[0].proxy_from, "2001:db8::9"));
	assert_false(listmatch(&c->listeners[0].proxy_from, "10.0.0.6"));
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	config_print(c, f);
	fclose(f);
	config_free(c);
	if (!strstr(out, "session_tickets = no\nticket_key_lifetime = 600\n") ||
	    !strstr(out, "[certificate mail]\nnames = mail.example.org, *.example.net, exact.example.com\n") ||
	    !strstr(out, "proxy_from = 10.0.0.5/32, 2001:db8::/64\n"))
		fail_msg("%s", out);
	/* what config check prints loads again to the same */
	write_file(t->conf, out);
	char *err = NULL;
	if (config_load(t->conf, &c, &err) < 0)
		fail_msg("printed config does not load: %s", err);
	assert_int_equal(c->sni_certs[0].nnames, 3);
	config_free(c);
	free(out);

	const char *tlsl = "[tls]\ncert = cert.pem\nkey = key.pem\n";
	char text[512];
	snprintf(text, sizeof(text), "%s[certificate x]\nnames = a..b\n", tlsl);
	load_err(t, text, 5, "'a..b' is not a host name");
	snprintf(text, sizeof(text), "%s[certificate x]\nnames = *.*.example\n", tlsl);
	load_err(t, text, 5, "is not a host name");
	snprintf(text, sizeof(text), "%s[certificate x]\nnames = a\nfoo = 1\n", tlsl);
	load_err(t, text, 6, "unknown key 'foo' in [certificate x]");
	snprintf(text, sizeof(text), "%s[certificate x]\nnames = a\ncert = cert.pem\n" MIN_LISTENER, tlsl);
	load_err(t, text, 4, "[certificate x] needs names, cert and key");
	load_err(t, "[certificate x]\nnames = a\ncert = cert.pem\nkey = key.pem\n" MIN_LISTENER, 1,
		 "needs a default certificate");
	snprintf(text, sizeof(text), "%s[certificate x]\nnames = a\n[certificate x]\n", tlsl);
	load_err(t, text, 6, "duplicate certificate name");
	load_err(t, "[listener u]\naddress = unix:a.sock\ntls = none\nproxy_from = 127.0.0.1\n", 4,
		 "proxy_from applies to TCP listeners only");
	load_err(t, MIN_LISTENER "[tls]\nsession_tickets = maybe\n", 5, "is not yes or no");
	load_err(t, MIN_LISTENER "[security]\nproxy_timeout = 0\n", 5, "out of range");
}

static void test_plaintext_auth_check(void **state)
{
	struct tmp *t = *state;
	const char *tlsl = "[tls]\ncert = cert.pem\nkey = key.pem\n";
	char text[512];
	/* tls = none beyond loopback */
	load_err(t, "[listener a]\naddress = 0.0.0.0:143\ntls = none\n", 0,
		 "[listener a] has tls = none on the non-loopback address 0.0.0.0");
	load_err(t, "[listener a]\naddress = [::]:143\ntls = none\n", 0, "allow_plaintext_auth");
	config_free(load_ok(t, "[listener a]\naddress = 127.0.0.2:143\ntls = none\n"));
	config_free(load_ok(t, "[listener a]\naddress = [::1]:143\ntls = none\n"));
	/* a loopback listener behind a load balancer serves remote clients */
	load_err(t, "[listener a]\naddress = 127.0.0.1:143\ntls = none\nproxy_from = 127.0.0.1\n", 0,
		 "127.0.0.1 (behind proxy_from)");
	config_free(load_ok(t, "[listener a]\naddress = 0.0.0.0:143\ntls = none\n"
			       "[security]\nallow_plaintext_auth = yes\n"));
	/* trusted_networks beyond loopback with a reachable STARTTLS listener */
	snprintf(text, sizeof(text), "%s[listener a]\naddress = 0.0.0.0:143\n"
		 "[security]\ntrusted_networks = 127.0.0.0/8, 10.0.0.0/8\n", tlsl);
	load_err(t, text, 0, "trusted_networks contains 10.0.0.0/8, beyond loopback");
	snprintf(text, sizeof(text), "%s[listener a]\naddress = 0.0.0.0:143\n"
		 "[security]\ntrusted_networks = 0.0.0.0/0\n", tlsl);
	load_err(t, text, 0, "trusted_networks contains 0.0.0.0/0");
	snprintf(text, sizeof(text), "%s[listener a]\naddress = 0.0.0.0:143\n"
		 "[security]\ntrusted_networks = 127.0.0.0/8, ::1, ::ffff:127.0.0.1\n", tlsl);
	config_free(load_ok(t, text));
	/* implicit TLS only, or STARTTLS on loopback only: nothing crosses a network in clear */
	snprintf(text, sizeof(text), "%s[listener a]\naddress = 0.0.0.0:993\ntls = implicit\n"
		 "[listener b]\naddress = 127.0.0.1:143\n"
		 "[security]\ntrusted_networks = 10.0.0.0/8\n", tlsl);
	config_free(load_ok(t, text));
	snprintf(text, sizeof(text), "%s[listener b]\naddress = 127.0.0.1:143\nproxy_from = 127.0.0.1\n"
		 "[security]\ntrusted_networks = 10.0.0.0/8\n", tlsl);
	load_err(t, text, 0, "could log in without TLS on [listener b]");
	snprintf(text, sizeof(text), "%s[listener a]\naddress = 0.0.0.0:143\n"
		 "[security]\ntrusted_networks = 10.0.0.0/8\nallow_plaintext_auth = on\n", tlsl);
	struct config *c = load_ok(t, text);
	assert_true(c->allow_plaintext_auth);
	config_free(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tmp_setup, tmp_teardown)
	const struct CMUnitTest tests[] = {
		T(test_defaults_match_docs), T(test_limits_never_zero),
		T(test_full_file),        T(test_defaults),        T(test_relative_paths),
		T(test_listeners),        T(test_errors_structure), T(test_errors_values),
		T(test_errors_addresses), T(test_errors_tls_files), T(test_errors_file),
		T(test_print_roundtrip),  T(test_mutations),       T(test_listener_unix_and_protocol),
		T(test_mailbox_name_limit_matches_store),
		T(test_tls_policy_keys), T(test_plaintext_auth_check),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
