/* `rampart user add|passwd|modify|show|del|list`: edits the users file
 * named by the configuration. It never touches the mail store: a user's
 * mailboxes are created by the store on first login or delivery.
 * `rampart user app-password ...` is cli_apppass.c.
 *
 * A new password must pass [passwords] (auth/pwpolicy.h) unless the
 * administrator says --force, which is logged to syslog (authpriv). The
 * per-user switches (--from, --app-passwords-only) are extra fields of
 * the user's line, written in the same atomic rewrite as the password, so
 * a new user never exists without its restrictions.
 *
 * Passwords come from the terminal (asked twice, echo off) or, for
 * scripts, as one line on stdin with --password-stdin. They live in fixed
 * buffers that are wiped before returning, never in argv or the
 * environment where other users could read them. */
#include "admin/admin.h"
#include "admin/admin_internal.h"
#include "auth/apppass.h"
#include "auth/passdb.h"
#include "auth/pwpolicy.h"
#include "auth/scram_cred.h"
#include "core/cidr.h"
#include "core/config.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

/* Same bound as SASL PLAIN and password_hash(). */
#define USER_PASSWORD_MAX 1024

enum user_cmd { USER_ADD, USER_PASSWD, USER_MODIFY, USER_SHOW, USER_DEL, USER_LIST };

struct user_args {
	enum user_cmd cmd;
	const char *conf;
	const char *name;
	bool password_stdin;
	bool force;             /* accept a password the policy refuses */
	bool legacy;            /* list: only users with a migrated hash */
	bool from_any;          /* remove allow_nets */
	struct strbuf from;     /* allow_nets to set, "" when not given */
	int apo;                /* app_passwords_only: -1 unchanged, 0 no, 1 yes */
};

static int user_usage(FILE *f)
{
	fprintf(f,
		"usage: rampart user add    [-c FILE] NAME [--password-stdin] [--force] [SWITCHES]\n"
		"       rampart user passwd [-c FILE] NAME [--password-stdin] [--force] [SWITCHES]\n"
		"       rampart user modify [-c FILE] NAME SWITCHES\n"
		"       rampart user show   [-c FILE] NAME\n"
		"       rampart user del    [-c FILE] NAME\n"
		"       rampart user list   [-c FILE] [--legacy]\n"
		"       rampart user app-password add|list|revoke ...   (see `rampart user "
		"app-password help`)\n"
		"       rampart user quota USER ...   (see `rampart user quota help`)\n"
		"SWITCHES: --from CIDR[,CIDR] (repeatable) | --from-any,\n"
		"          --app-passwords-only yes|no\n"
		"FILE defaults to " ADMIN_DEFAULT_CONFIG "; the users file is its [server] users_file.\n"
		"Without --password-stdin the password is asked twice on the terminal.\n"
		"--force accepts a password that [passwords] refuses (logged).\n");
	return f == stdout ? 0 : EX_USAGE;
}

/* ---- reading passwords ---- */

/* The terminal state to restore if a signal arrives while echo is off. */
static volatile sig_atomic_t user_tty_active;
static int user_tty_fd = -1;
static struct termios user_tty_saved;

static void user_tty_signal(int sig)
{
	if (user_tty_active)
		tcsetattr(user_tty_fd, TCSAFLUSH, &user_tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

enum pw_status { PW_OK, PW_IO, PW_EMPTY, PW_TOO_LONG, PW_NUL };

/* Reads one line (without its "\n" or "\r\n") into buf, which holds
 * USER_PASSWORD_MAX + 1 bytes. */
static enum pw_status user_read_line(int fd, char *buf, size_t *len)
{
	size_t n = 0;
	bool too_long = false, nul = false, got_any = false;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return PW_IO;
		if (r == 0)
			break;
		got_any = true;
		if (c == '\n')
			break;
		if (c == '\0')
			nul = true;
		if (n < USER_PASSWORD_MAX + 1)
			buf[n++] = c;
		else
			too_long = true;
		c = 0;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n > USER_PASSWORD_MAX)
		too_long = true;
	buf[MIN(n, (size_t)USER_PASSWORD_MAX)] = '\0';
	*len = n;
	if (!got_any && n == 0)
		return PW_EMPTY;
	if (too_long)
		return PW_TOO_LONG;
	if (nul)
		return PW_NUL;
	if (n == 0)
		return PW_EMPTY;
	return PW_OK;
}

static enum pw_status user_prompt(int fd, const char *prompt, char *buf, size_t *len)
{
	if (write_all(fd, prompt, strlen(prompt)) < 0)
		return PW_IO;
	struct termios noecho = user_tty_saved;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	noecho.c_lflag |= ECHONL;
	user_tty_active = 1;
	if (tcsetattr(fd, TCSAFLUSH, &noecho) < 0) {
		user_tty_active = 0;
		return PW_IO;
	}
	enum pw_status st = user_read_line(fd, buf, len);
	tcsetattr(fd, TCSAFLUSH, &user_tty_saved);
	user_tty_active = 0;
	return st;
}

static const char *user_pw_error(enum pw_status st)
{
	switch (st) {
	case PW_EMPTY: return "empty password refused";
	case PW_TOO_LONG: return "password longer than 1024 bytes refused";
	case PW_NUL: return "password contains a NUL byte";
	case PW_IO: return "cannot read the password";
	case PW_OK: break;
	}
	return "?";
}

/* Fills pw (USER_PASSWORD_MAX + 1 bytes). Returns 0 or an exit status. */
static int user_get_password(bool from_stdin, char *pw)
{
	size_t len = 0;
	if (from_stdin) {
		enum pw_status st = user_read_line(0, pw, &len);
		if (st != PW_OK) {
			fprintf(stderr, "rampart user: %s\n", user_pw_error(st));
			return st == PW_IO ? EX_IOERR : EX_DATAERR;
		}
		return 0;
	}
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || tcgetattr(fd, &user_tty_saved) < 0) {
		if (fd >= 0)
			close(fd);
		fprintf(stderr, "rampart user: no terminal to ask for the password; use --password-stdin\n");
		return EX_USAGE;
	}
	user_tty_fd = fd;
	struct sigaction sa = { .sa_handler = user_tty_signal }, old[4];
	static const int sigs[4] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old[i]);

	char *again = xmalloc(USER_PASSWORD_MAX + 1);
	size_t len2 = 0;
	int rc = 0;
	enum pw_status st = user_prompt(fd, "Password: ", pw, &len);
	if (st == PW_OK)
		st = user_prompt(fd, "Retype password: ", again, &len2);
	if (st != PW_OK) {
		fprintf(stderr, "rampart user: %s\n", user_pw_error(st));
		rc = st == PW_IO ? EX_IOERR : EX_DATAERR;
	} else if (len != len2 || sodium_memcmp(pw, again, len) != 0) {
		fprintf(stderr, "rampart user: the passwords do not match\n");
		rc = EX_DATAERR;
	}
	sodium_memzero(again, USER_PASSWORD_MAX + 1);
	free(again);
	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	user_tty_fd = -1;
	close(fd);
	return rc;
}

/* ---- commands ---- */

/* 1: exists, 0: does not (a missing users file has no users), -1: error. */
static int user_exists(const char *users_file, const char *name)
{
	char **users;
	size_t n;
	if (passdb_file_list(users_file, &users, &n) < 0)
		return errno == ENOENT ? 0 : -1;
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(users[i], name) == 0)
			found = 1;
		free(users[i]);
	}
	free(users);
	return found;
}

/* A users file that root has just created belongs to root:root and the
 * server, which runs as [server] user, could not read it. Give it to
 * root:<the server's group>, mode 0640: readable by the server, writable
 * only by root. */
void admin_file_give_to_server(const struct config *cfg, const char *path)
{
	if (geteuid() != 0 || !cfg->run_user)
		return;
	gid_t gid;
	if (cfg->run_group) {
		struct group *gr = getgrnam(cfg->run_group);
		if (!gr)
			goto warn;
		gid = gr->gr_gid;
	} else {
		struct passwd *pw = getpwnam(cfg->run_user);
		if (!pw)
			goto warn;
		gid = pw->pw_gid;
	}
	if (chown(path, 0, gid) == 0)
		return;
warn:
	fprintf(stderr, "rampart user: warning: could not give %s to the group of '%s'; make sure "
			"the server can read it\n", path, cfg->run_user);
}

int admin_from_append(const char *prog, const char *arg, struct strbuf *list)
{
	struct cidr_list l = { 0 };
	char *bad = NULL;
	if (cidr_list_parse(arg, &l, &bad) < 0 || l.n == 0) {
		fprintf(stderr, "%s: --from '%s': '%s' is not a network (like 10.0.0.0/8 or "
				"2001:db8::/32)\n", prog, arg, bad ? bad : arg);
		free(bad);
		cidr_list_free(&l);
		return -1;
	}
	cidr_list_free(&l);
	/* Stored as given (checked), comma-separated: a field has no spaces. */
	for (const char *p = arg; *p;) {
		size_t n = strcspn(p, ", \t");
		if (n) {
			if (list->len)
				strbuf_addc(list, ',');
			strbuf_add(list, p, n);
		}
		p += n;
		p += strspn(p, ", \t");
	}
	return 0;
}

/* The per-user switches as users-file fields, after *n given ones. */
static void user_switch_fields(const struct user_args *a, struct passdb_field *f, size_t *n)
{
	if (a->from_any)
		f[(*n)++] = (struct passdb_field){ "allow_nets", NULL };
	else if (a->from.len)
		f[(*n)++] = (struct passdb_field){ "allow_nets", strbuf_cstr(&a->from) };
	if (a->apo >= 0)
		f[(*n)++] = (struct passdb_field){ "app_passwords_only", a->apo ? "yes" : NULL };
}

/* [passwords] for a new password. 0: go on; otherwise the exit status. */
static int user_check_policy(const struct config *cfg, const struct user_args *a, const char *pw)
{
	struct pwpolicy pol = { .min_length = cfg->pw_min_length, .pwquality = cfg->pw_quality,
				.breached_file = cfg->pw_breached_file };
	char *why = NULL;
	int r = pwpolicy_check(&pol, a->name, pw, &why);
	if (r == 0)
		return 0;
	if (!a->force) {
		fprintf(stderr, "rampart user: %s: %s%s\n",
			r == -1 ? "password refused" : "cannot check the password", why,
			" (choose another, or override with --force)");
		free(why);
		return r == -1 ? EX_DATAERR : EX_UNAVAILABLE;
	}
	fprintf(stderr, "rampart user: warning: %s; accepted because of --force\n", why);
	openlog("rampart", LOG_PID, LOG_AUTHPRIV);
	syslog(LOG_NOTICE, "event=password_policy_override user=%s by_uid=%u reason=\"%s\"",
	       a->name, (unsigned)getuid(), why);
	closelog();
	free(why);
	return 0;
}

static int user_set_password(const struct config *cfg, const struct user_args *a, bool adding)
{
	const char *uf = cfg->users_file;
	int ex = user_exists(uf, a->name);
	if (ex < 0) {
		fprintf(stderr, "rampart user: cannot read %s: %s\n", uf, strerror(errno));
		return EX_NOINPUT;
	}
	if (adding && ex) {
		fprintf(stderr, "rampart user: user '%s' already exists (change the password with "
				"`rampart user passwd %s`)\n", a->name, a->name);
		return EX_CANTCREAT;
	}
	if (!adding && !ex) {
		fprintf(stderr, "rampart user: no such user: %s\n", a->name);
		return EX_NOUSER;
	}
	bool file_existed = access(uf, F_OK) == 0;

	char *pw = xmalloc(USER_PASSWORD_MAX + 1);
	int rc = user_get_password(a->password_stdin, pw);
	if (rc == 0)
		rc = user_check_policy(cfg, a, pw);
	if (rc != 0)
		goto out;
	char *hash = password_hash(pw);
	if (!hash) {
		fprintf(stderr, "rampart user: hashing the password failed (out of memory?)\n");
		rc = EX_SOFTWARE;
		goto out;
	}
	/* SCRAM-SHA-256 keys beside the hash (auth/scram_cred.h): a client
	 * can then log in without sending the password at all. */
	struct scram_cred sc;
	char *scram = NULL;
	if (scram_cred_derive(pw, 0, &sc) == 0)
		scram = scram_cred_format(&sc);
	scram_cred_clear(&sc);
	if (!scram) {
		fprintf(stderr, "rampart user: deriving SCRAM keys failed\n");
		free(hash);
		rc = EX_SOFTWARE;
		goto out;
	}
	struct passdb_field fields[3] = { { "scram-sha-256", scram } };
	size_t nf = 1;
	user_switch_fields(a, fields, &nf);
	int wrc = passdb_file_update(uf, a->name, hash, fields, nf);
	free(scram);
	if (wrc < 0) {
		fprintf(stderr, "rampart user: cannot write %s: %s\n", uf, strerror(errno));
		rc = EX_CANTCREAT;
	} else {
		if (!file_existed)
			admin_file_give_to_server(cfg, uf);
		printf("%s user %s\n", adding ? "added" : "changed the password of", a->name);
	}
	free(hash);
out:
	sodium_memzero(pw, USER_PASSWORD_MAX + 1);
	free(pw);
	return rc;
}

/* The exit status of an edit of an existing user's line (r from
 * passdb_file_*), with the message; 0 when it worked. */
static int user_edit_status(const struct config *cfg, const struct user_args *a, int r)
{
	if (r == -2 || (r < 0 && errno == ENOENT)) {
		fprintf(stderr, "rampart user: no such user: %s\n", a->name);
		return EX_NOUSER;
	}
	if (r < 0) {
		fprintf(stderr, "rampart user: cannot write %s: %s\n", cfg->users_file, strerror(errno));
		return EX_CANTCREAT;
	}
	return 0;
}

static int user_del(const struct config *cfg, const struct user_args *a)
{
	int rc = user_edit_status(cfg, a, passdb_file_delete(cfg->users_file, a->name));
	if (rc)
		return rc;
	char *apath = apppass_path_for(cfg->users_file);
	if (apppass_file_delete_user(apath, a->name) < 0)
		fprintf(stderr, "rampart user: warning: cannot remove the app passwords of %s from "
				"%s: %s\n", a->name, apath, strerror(errno));
	free(apath);
	/* The mailboxes stay: deleting mail is a separate, deliberate act. */
	printf("deleted user %s (the mail under %s is kept)\n", a->name, cfg->mail_root);
	admin_kick_user(cfg, "rampart user", a->name, NULL);   /* status: their sessions end */
	return 0;
}

static int user_modify(const struct config *cfg, const struct user_args *a)
{
	struct passdb_field fields[2];
	size_t nf = 0;
	user_switch_fields(a, fields, &nf);
	if (nf == 0) {
		fprintf(stderr, "rampart user modify: nothing to change (give --from, --from-any or "
				"--app-passwords-only)\n");
		return EX_USAGE;
	}
	int r = passdb_file_update(cfg->users_file, a->name, NULL, fields, nf);
	int rc = user_edit_status(cfg, a, r);
	if (rc)
		return rc;
	printf("changed user %s\n", a->name);
	return 0;
}

/* "{SHA512-CRYPT}$6$..." -> "SHA512-CRYPT" into buf; never the hash. */
static const char *user_scheme(const char *hash, char *buf, size_t size)
{
	const char *end = hash[0] == '{' ? strchr(hash, '}') : NULL;
	if (!end || end - hash > 32)
		return "none";
	snprintf(buf, size, "%.*s", (int)(end - hash - 1), hash + 1);
	return buf;
}

static struct passdb *user_db_open(const struct config *cfg)
{
	char *err = NULL;
	struct passdb *db = passdb_load(cfg->users_file, &err);
	if (!db) {
		fprintf(stderr, "rampart user: %s\n", err ? err : "cannot read the users file");
		free(err);
	}
	return db;
}

static int user_show(const struct config *cfg, const struct user_args *a)
{
	struct passdb *db = user_db_open(cfg);
	if (!db)
		return EX_NOINPUT;
	struct passdb_user u;
	if (!passdb_user_get(db, a->name, &u)) {
		passdb_free(db);
		fprintf(stderr, "rampart user: no such user: %s\n", a->name);
		return EX_NOUSER;
	}
	char sch[40];
	char *nets = passdb_fields_get(u.fields, "allow_nets");
	char *apo = passdb_fields_get(u.fields, "app_passwords_only");
	char *scram = passdb_fields_get(u.fields, SCRAM_SHA256_FIELD);
	char *apath = apppass_path_for(cfg->users_file);
	struct apppass_entry *v = NULL;
	size_t napps = 0;
	(void)apppass_file_list(apath, a->name, &v, &napps);
	apppass_entries_free(v, napps);
	printf("user: %s\n", u.name);
	printf("scheme: %s%s\n", user_scheme(u.hash, sch, sizeof(sch)),
	       !password_scheme_known(u.hash) ? " (no usable password)"
	       : !password_needs_upgrade(u.hash) ? ""
	       : cfg->pw_upgrade_on_login ? " (legacy: upgraded at the next password login)"
					  : " (legacy: set a new password to upgrade)");
	printf("scram-sha-256: %s\n", scram ? "yes" : "no");
	printf("from: %s\n", nets ? nets : "any");
	/* The values the server reads as yes (passdb_authenticate). */
	bool apo_yes = apo && (strcasecmp(apo, "yes") == 0 || strcasecmp(apo, "true") == 0 ||
			       strcmp(apo, "1") == 0);
	printf("app-passwords-only: %s\n", apo_yes ? "yes" : "no");
	printf("app-passwords: %zu\n", napps);
	free(nets);
	free(apo);
	free(scram);
	free(apath);
	passdb_user_clear(&u);
	passdb_free(db);
	return 0;
}

static int user_name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* --legacy: who still has a migrated hash, sorted, once each ("name
 * SCHEME"): the users to ask for a new password. */
static int user_list(const struct config *cfg, bool legacy)
{
	char **users;
	size_t n;
	if (passdb_file_list(cfg->users_file, &users, &n) < 0) {
		fprintf(stderr, "rampart user: cannot read %s: %s\n", cfg->users_file, strerror(errno));
		return EX_NOINPUT;
	}
	struct passdb *db = NULL;
	if (legacy) {
		db = user_db_open(cfg);
		if (!db) {
			for (size_t i = 0; i < n; i++)
				free(users[i]);
			free(users);
			return EX_NOINPUT;
		}
		qsort(users, n, sizeof(*users), user_name_cmp);
	}
	for (size_t i = 0; i < n; i++) {
		struct passdb_user u;
		if (!legacy) {
			printf("%s\n", users[i]);
		} else if ((i == 0 || strcmp(users[i], users[i - 1]) != 0) &&
			   passdb_user_get(db, users[i], &u)) {
			char sch[40];
			if (password_needs_upgrade(u.hash))
				printf("%s %s\n", u.name, user_scheme(u.hash, sch, sizeof(sch)));
			passdb_user_clear(&u);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(users[i]);
	passdb_free(db);
	free(users);
	return 0;
}

/* The options after the subcommand. 0, -1 (usage) or -2 (message given). */
static int user_parse_opts(int argc, char **argv, struct user_args *a)
{
	bool pw = a->cmd == USER_ADD || a->cmd == USER_PASSWD;
	bool switches = pw || a->cmd == USER_MODIFY;
	bool options = true;
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		int c = options ? admin_conf_arg(argc, argv, &i, &a->conf) : 0;
		if (c < 0)
			return -1;
		if (c > 0)
			continue;
		bool opt = options && s[0] == '-';
		bool has_arg = i + 1 < argc;
		if (opt && pw && strcmp(s, "--password-stdin") == 0) {
			a->password_stdin = true;
		} else if (opt && pw && strcmp(s, "--force") == 0) {
			a->force = true;
		} else if (opt && a->cmd == USER_LIST && strcmp(s, "--legacy") == 0) {
			a->legacy = true;
		} else if (opt && switches && strcmp(s, "--from") == 0 && has_arg) {
			if (admin_from_append("rampart user", argv[++i], &a->from) < 0)
				return -2;
		} else if (opt && switches && strcmp(s, "--from-any") == 0) {
			a->from_any = true;
		} else if (opt && switches && strcmp(s, "--app-passwords-only") == 0 && has_arg) {
			const char *v = argv[++i];
			if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
				return -1;
			a->apo = strcmp(v, "yes") == 0;
		} else if (opt && strcmp(s, "--") == 0) {
			options = false;
		} else if (opt) {
			return -1;
		} else if (!a->name && a->cmd != USER_LIST) {
			a->name = s;
		} else {
			return -1;
		}
	}
	if (a->from_any && a->from.len) {
		fprintf(stderr, "rampart user: --from and --from-any exclude each other\n");
		return -2;
	}
	if (a->cmd != USER_LIST && !a->name)
		return -1;
	return 0;
}

static int user_parse_args(int argc, char **argv, struct user_args *a)
{
	static const struct admin_subcmd cmds[] = {
		{ "add", USER_ADD },   { "passwd", USER_PASSWD }, { "modify", USER_MODIFY },
		{ "show", USER_SHOW }, { "del", USER_DEL },       { "delete", USER_DEL },
		{ "list", USER_LIST },
	};
	*a = (struct user_args){ .conf = ADMIN_DEFAULT_CONFIG, .from = STRBUF_INIT, .apo = -1 };
	int cmd = argc < 2 ? -1 : admin_subcmd_find(cmds, ARRAY_SIZE(cmds), argv[1]);
	if (cmd < 0)
		return -1;
	a->cmd = (enum user_cmd)cmd;
	return user_parse_opts(argc, argv, a);
}

static int user_run(const struct user_args *a)
{
	if (a->name && !passdb_username_valid(a->name)) {
		fprintf(stderr, "rampart user: invalid user name '%s': use 1..255 characters of "
				"A-Z a-z 0-9 . _ + - @, at most one @, not starting with . or -, no ..\n",
			a->name);
		return EX_USAGE;
	}
	struct config *cfg;
	int rc = admin_conf_load("rampart user", a->conf, &cfg);
	if (rc)
		return rc;
	switch (a->cmd) {
	case USER_ADD:
		rc = user_set_password(cfg, a, true);
		break;
	case USER_PASSWD:
		rc = user_set_password(cfg, a, false);
		break;
	case USER_MODIFY:
		rc = user_modify(cfg, a);
		break;
	case USER_SHOW:
		rc = user_show(cfg, a);
		break;
	case USER_DEL:
		rc = user_del(cfg, a);
		break;
	case USER_LIST:
	default:
		rc = user_list(cfg, a->legacy);
		break;
	}
	config_free(cfg);
	return rc;
}

int admin_user_main(int argc, char **argv)
{
	if (argc >= 2 && admin_subcmd_is_help(argv[1]))
		return user_usage(stdout);
	if (argc >= 2 && strcmp(argv[1], "app-password") == 0)
		return admin_apppass_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "quota") == 0)
		return admin_quota_main(argc - 1, argv + 1);
	if (admin_wants_help(argc, argv))
		return user_usage(stdout);
	struct user_args a;
	int pr = user_parse_args(argc, argv, &a);
	int rc = pr == -1 ? user_usage(stderr) : pr == -2 ? EX_USAGE : user_run(&a);
	strbuf_free(&a.from);
	return rc;
}
