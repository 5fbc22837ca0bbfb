/* `rampart export [-c FILE] USER DIR` (issue #13 migrate): a user's
 * mailboxes as a Maildir++ tree (admin/maildir.h) that Dovecot 2.3
 * serves unchanged: the same UIDVALIDITY, UIDNEXT and UIDs (in
 * dovecot-uidlist), flags in the file names, keywords as letters of each
 * folder's dovecot-keywords, INTERNALDATE as the file's mtime, and the
 * subscriptions (Dovecot's version 2 file). So leaving Rampart costs
 * clients nothing either, and `rampart import maildir` reads it back.
 *
 * Files carry the bytes as stored (CRLF); S= is their size and W= the
 * size with CRLF line ends, which Dovecot trusts instead of reading the
 * file. Each file is written in tmp/, fsync'd and renamed into cur/, the
 * folder synced last, so a crash leaves no half message in cur/. What
 * Maildir++ cannot hold is reported and counted, not silently dropped:
 * a mailbox whose name has a '.' in a level, a 27th keyword in a folder.
 *
 * Exit status: 0; 64 usage; 65 something could not be represented (the
 * rest was written); 67 no such user; 73 DIR cannot be written or is
 * already a Maildir; 78 the configuration does not validate. */
#include "admin/admin.h"
#include "admin/admin_internal.h"
#include "admin/maildir.h"
#include "auth/passdb.h"
#include "core/config.h"
#include "core/flags.h"
#include "core/privs.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

struct export {
	struct store_user *u;
	const char *dir;
	unsigned written, lost;
};

static int usage(FILE *f)
{
	fprintf(f, "usage: rampart export [-c FILE] USER DIR\n"
		   "Writes USER's mailboxes as a Maildir++ tree in DIR (created) that Dovecot\n"
		   "serves with the same UIDs, flags, keywords and dates.\n");
	return f == stderr ? EX_USAGE : 0;
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

/* A small file written whole and fsync'd. */
static int file_put(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	bool ok = write(fd, data, len) == (ssize_t)len && fsync(fd) == 0;
	return close(fd) == 0 && ok ? 0 : -1;
}

/* The letters of msg's keywords in names (adding new ones), into fl. */
static void keyword_letters(struct export *x, const char *mbox, const char *keywords,
			    char *names[MAILDIR_KEYWORDS_MAX], struct strbuf *fl)
{
	if (!keywords)
		return;
	char *copy = xstrdup(keywords), *save;
	char letters[MAILDIR_KEYWORDS_MAX + 1] = { 0 };
	size_t nl = 0;
	for (char *k = strtok_r(copy, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
		size_t i = 0;
		while (i < MAILDIR_KEYWORDS_MAX && names[i] && strcasecmp(names[i], k) != 0)
			i++;
		if (i == MAILDIR_KEYWORDS_MAX) {
			fprintf(stderr, "rampart export: %s: keyword %s: Maildir holds 26 per "
				"folder, not written\n", mbox, k);
			x->lost++;
			continue;
		}
		if (!names[i])
			names[i] = xstrdup(k);
		if (!memchr(letters, 'a' + (int)i, nl))
			letters[nl++] = (char)('a' + i);
	}
	free(copy);
	/* Maildir: flags in ASCII order. */
	for (char ch = 'a'; ch <= 'z'; ch++)
		if (memchr(letters, ch, nl))
			strbuf_addc(fl, ch);
}

/* One message into folder/cur; its file's base name is added to uidlist. */
static int msg_write(struct export *x, const char *folder, const struct store_mailbox *mb,
		     const struct store_msg *m, char *names[MAILDIR_KEYWORDS_MAX],
		     struct strbuf *uidlist)
{
	const char *data;
	size_t len;
	if (store_blob_map_once(x->u, m->blob, &data, &len) != STORE_OK) {
		fprintf(stderr, "rampart export: %s: message UID %u unreadable\n", mb->name, m->uid);
		return -1;
	}
	size_t vsize = len;
	for (size_t i = 0; i < len; i++)
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			vsize++;
	struct strbuf fl = STRBUF_INIT;
	static const struct {
		uint32_t bit;
		char ch;
	} sys[] = { { MAIL_FLAG_DRAFT, 'D' },	 { MAIL_FLAG_FLAGGED, 'F' },
		    { MAIL_FLAG_ANSWERED, 'R' }, { MAIL_FLAG_SEEN, 'S' },
		    { MAIL_FLAG_DELETED, 'T' } };
	for (size_t i = 0; i < ARRAY_SIZE(sys); i++)
		if (m->flags & sys[i].bit)
			strbuf_addc(&fl, sys[i].ch);
	keyword_letters(x, mb->name, m->keywords, names, &fl);
	char base[128], tmp[MAILDIR_PATH_MAX], cur[MAILDIR_PATH_MAX];
	snprintf(base, sizeof(base), "%lld.R%uU%u.rampart,S=%zu,W=%zu", (long long)m->internaldate,
		 mb->uidvalidity, m->uid, len, vsize);
	char sub[MAILDIR_PATH_MAX];
	strbuf_addf(&fl, "%s", ""); /* never NULL below */
	int rc = 0;
	if (!maildir_path(sub, folder, "tmp") || !maildir_path(tmp, sub, base) ||
	    !maildir_path(sub, folder, "cur") || !maildir_path(cur, sub, base) ||
	    strlen(cur) + 3 + fl.len >= sizeof(cur)) {
		errno = ENAMETOOLONG;
		rc = -1;
	} else {
		strcat(cur, ":2,");
		strcat(cur, fl.s);
	}
	strbuf_free(&fl);
	if (rc == 0)
		rc = file_put(tmp, data, len);
	store_blob_unmap(data, len);
	struct timespec ts[2] = { { .tv_sec = m->internaldate }, { .tv_sec = m->internaldate } };
	if (rc == 0 && (utimensat(AT_FDCWD, tmp, ts, 0) < 0 || rename(tmp, cur) < 0))
		rc = -1;
	if (rc < 0) {
		fprintf(stderr, "rampart export: %s: %s\n", cur, strerror(errno));
		unlink(tmp);
		return -1;
	}
	strbuf_addf(uidlist, "%u :%s\n", m->uid, base);
	return 0;
}

/* One mailbox into its folder directory. -1: a write failed. */
static int mailbox_write(struct export *x, const struct store_mailbox *mb)
{
	struct strbuf folder = STRBUF_INIT, dirent = STRBUF_INIT;
	strbuf_adds(&folder, x->dir);
	if (strcmp(mb->name, "INBOX") != 0) {
		if (maildir_folder_dirent(mb->name, &dirent) < 0) {
			fprintf(stderr, "rampart export: %s: a '.' in a level cannot be a Maildir++ "
				"folder name, not written\n", mb->name);
			x->lost++;
			strbuf_free(&folder);
			strbuf_free(&dirent);
			return 0;
		}
		strbuf_addf(&folder, "/%s", dirent.s);
	}
	int rc = 0;
	char sub[4096];
	static const char *const subs[] = { "cur", "new", "tmp" };
	for (size_t i = 0; i < 3 && rc == 0; i++) {
		maildir_path(sub, folder.s, subs[i]);
		rc = mkdir_p(sub);
	}
	if (rc == 0 && dirent.len) {
		maildir_path(sub, folder.s, "maildirfolder");
		rc = file_put(sub, "", 0);
	}
	struct store_msg *m = NULL;
	size_t n = 0;
	if (rc == 0 && store_msg_list(x->u, mb->id, 1, false, &m, &n) != STORE_OK)
		rc = -1;
	char *names[MAILDIR_KEYWORDS_MAX] = { 0 };
	struct strbuf uidlist = STRBUF_INIT;
	strbuf_addf(&uidlist, "3 V%u N%u\n", mb->uidvalidity, mb->uidnext);
	unsigned lost = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (msg_write(x, folder.s, mb, &m[i], names, &uidlist) < 0)
			lost++;
		else
			x->written++;
	}
	x->lost += lost;
	store_msg_array_free(m, n);
	struct strbuf kw = STRBUF_INIT;
	for (size_t i = 0; i < MAILDIR_KEYWORDS_MAX && names[i]; i++)
		strbuf_addf(&kw, "%zu %s\n", i, names[i]);
	maildir_keywords_free(names);
	if (rc == 0) {
		maildir_path(sub, folder.s, "dovecot-keywords");
		if (kw.len)
			rc = file_put(sub, kw.s, kw.len);
		maildir_path(sub, folder.s, "dovecot-uidlist");
		if (rc == 0)
			rc = file_put(sub, uidlist.s, uidlist.len);
		maildir_path(sub, folder.s, "cur");
		if (rc == 0)
			rc = fsync_path(sub) | fsync_path(folder.s);
	}
	if (rc < 0)
		fprintf(stderr, "rampart export: %s: %s\n", folder.s, strerror(errno));
	fprintf(stderr, "rampart export: %s: %zu messages\n", mb->name, n - lost);
	strbuf_free(&kw);
	strbuf_free(&uidlist);
	strbuf_free(&folder);
	strbuf_free(&dirent);
	return rc;
}

/* Dovecot 2.3's subscriptions file: "V\t2", an empty line, then each
 * name with '\t' between its (modified UTF-7) levels. */
static int subscriptions_write(struct export *x)
{
	char **names;
	size_t n;
	if (store_subscription_list(x->u, &names, &n) != STORE_OK)
		return -1;
	struct strbuf out = STRBUF_INIT, d = STRBUF_INIT;
	strbuf_adds(&out, "V\t2\n\n");
	for (size_t i = 0; i < n; i++) {
		if (maildir_folder_dirent(names[i], &d) == 0) {
			for (size_t j = 1; j < d.len; j++)
				strbuf_addc(&out, d.s[j] == '.' ? '\t' : d.s[j]);
			strbuf_addc(&out, '\n');
		}
		free(names[i]);
	}
	free(names);
	char path[4096];
	maildir_path(path, x->dir, "subscriptions");
	int rc = file_put(path, out.s, out.len);
	strbuf_free(&out);
	strbuf_free(&d);
	return rc;
}

static int export_run(const struct config *cfg, const char *user, const char *dir)
{
	struct stat st;
	char cur[4096];
	maildir_path(cur, dir, "cur");
	if (stat(cur, &st) == 0) {
		fprintf(stderr, "rampart export: %s is a Maildir already; export into a new "
			"directory\n", dir);
		return EX_CANTCREAT;
	}
	if (store_init(cfg->mail_root) < 0) {
		fprintf(stderr, "rampart export: cannot open mail_root %s\n", cfg->mail_root);
		return EX_CANTCREAT;
	}
	struct export x = { .dir = dir };
	int rc = EX_CANTCREAT;
	struct store_mailbox *mbs = NULL;
	size_t n = 0;
	x.u = store_user_open(user);
	if (!x.u || store_mailbox_list(x.u, false, &mbs, &n) != STORE_OK) {
		fprintf(stderr, "rampart export: cannot open the store of %s\n", user);
		goto out;
	}
	if (mkdir_p(dir) < 0) {
		fprintf(stderr, "rampart export: %s: %s\n", dir, strerror(errno));
		goto out;
	}
	int wr = 0;
	for (size_t i = 0; i < n; i++)
		wr |= mailbox_write(&x, &mbs[i]);
	wr |= subscriptions_write(&x);
	wr |= fsync_path(dir);
	printf("%s: %u messages written to %s, %u items Maildir++ cannot hold\n", user,
	       x.written, dir, x.lost);
	rc = wr ? EX_CANTCREAT : x.lost ? EX_DATAERR : 0;
out:
	store_mailbox_array_free(mbs, n);
	if (x.u)
		store_user_close(x.u);
	store_cache_drop();
	store_shutdown();
	return rc;
}

int admin_export_main(int argc, char **argv)
{
	const char *conf = ADMIN_DEFAULT_CONFIG, *pos[2] = { NULL, NULL };
	size_t npos = 0;
	for (int i = 1; i < argc; i++) {
		int c = admin_conf_arg(argc, argv, &i, &conf);
		if (c < 0)
			return usage(stderr);
		if (c == 1)
			continue;
		if (admin_subcmd_is_help(argv[i]))
			return usage(stdout);
		if (argv[i][0] == '-' || npos == 2)
			return usage(stderr);
		pos[npos++] = argv[i];
	}
	if (npos != 2)
		return usage(stderr);
	struct config *cfg;
	int rc = admin_conf_load("rampart export", conf, &cfg);
	if (rc)
		return rc;
	char *err = NULL;
	struct passdb *db = passdb_load(cfg->users_file, &err);
	bool known = db && passdb_user_exists(db, pos[0]);
	if (db)
		passdb_free(db);
	free(err);
	if (!known) {
		fprintf(stderr, "rampart export: no such user: %s\n", pos[0]);
		rc = EX_NOUSER;
	} else if (privs_drop(cfg) < 0) {
		rc = EX_TEMPFAIL;
	} else {
		rc = export_run(cfg, pos[0], pos[1]);
	}
	config_free(cfg);
	return rc;
}
