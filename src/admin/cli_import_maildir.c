/* `rampart import maildir USER DIR`: a Dovecot or Courier Maildir++ tree
 * (admin/maildir.h) into a user's store, keeping each folder's
 * UIDVALIDITY, UIDNEXT and every message's UID from dovecot-uidlist (or
 * courierimapuiddb), so clients need not download anything again.
 *
 * Per folder: the messages with a UID in the list go first in UID order
 * (store_import_append wants them ascending), then those the old server
 * had not yet numbered (new/ files it never saw), which get UIDs above.
 * The internal date is the file's mtime, which is where Dovecot keeps
 * the received date of a Maildir message (and what it sets on APPEND
 * with a date); S= and W= are only caches of sizes, so the bytes
 * themselves are read. Subscriptions come last: a subscribed name need
 * not exist (RFC 9051 6.3.7). */
#include "admin/import.h"
#include "admin/maildir.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

struct md_file {
	char *path;
	uint32_t uid;
	char *name;               /* points into path */
};

static int file_cmp(const void *a, const void *b)
{
	const struct md_file *x = a, *y = b;
	/* Numbered first, ascending; then unnumbered by name (which starts
	 * with the delivery time). */
	if ((x->uid == 0) != (y->uid == 0))
		return x->uid == 0 ? 1 : -1;
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void files_add(const char *folder, const char *sub, const struct maildir_uidlist *l,
		      struct md_file **v, size_t *n, size_t *cap)
{
	char path[4096];
	maildir_path(path, folder, sub);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		xgrow((void **)v, cap, *n + 1, sizeof(**v));
		struct md_file *f = &(*v)[(*n)++];
		size_t plen = strlen(path);
		f->path = xmalloc(plen + strlen(e->d_name) + 2);
		sprintf(f->path, "%s/%s", path, e->d_name);
		f->name = f->path + plen + 1;
		f->uid = maildir_uidlist_find(l, e->d_name);
	}
	closedir(d);
}

/* Streams one file into the store. */
static void file_import(struct import_ctx *c, struct import_box *b,
			char *const kwnames[MAILDIR_KEYWORDS_MAX], const struct md_file *f)
{
	int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		/* A message the old server expunged or moved meanwhile. */
		fprintf(stderr, "rampart import: %s: %s\n", f->path, strerror(errno ? errno : EINVAL));
		if (fd >= 0)
			close(fd);
		b->failed++;
		return;
	}
	struct import_tmp *t = xmalloc(sizeof(*t));
	if (import_tmp_open(c, t) < 0) {
		close(fd);
		free(t);
		b->failed++;
		return;
	}
	char buf[65536];
	ssize_t r;
	while ((r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			t->failed = true;
			break;
		}
		import_tmp_write(t, buf, (size_t)r);
	}
	close(fd);
	uint32_t flags;
	struct strbuf kw = STRBUF_INIT;
	maildir_name_flags(f->name, kwnames, &flags, &kw);
	import_tmp_commit(c, b, t, flags, strbuf_cstr(&kw), (int64_t)st.st_mtime, f->uid);
	strbuf_free(&kw);
	free(t);
}

/* One folder directory as mailbox `name`. */
static int folder_import(struct import_ctx *c, const char *folder, const char *name)
{
	struct maildir_uidlist l;
	const char *err = NULL;
	if (maildir_uidlist_read(folder, &l, &err) < 0) {
		fprintf(stderr, "rampart import: %s: malformed UID list (%s); nothing imported "
			"from it\n", folder, err);
		return -1;
	}
	char *kwnames[MAILDIR_KEYWORDS_MAX];
	if (maildir_keywords_read(folder, kwnames) < 0)
		fprintf(stderr, "rampart import: %s: dovecot-keywords unreadable\n", folder);
	struct md_file *v = NULL;
	size_t n = 0, cap = 0;
	files_add(folder, "cur", &l, &v, &n, &cap);
	files_add(folder, "new", &l, &v, &n, &cap);
	if (n)
		qsort(v, n, sizeof(*v), file_cmp);
	struct import_box b;
	int rc = import_box_open(c, name, l.uidvalidity, &b);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (import_box_has_uid(&b, v[i].uid)) {
			b.skipped++;
			continue;
		}
		file_import(c, &b, kwnames, &v[i]);
		if ((i + 1) % 1000 == 0)
			fprintf(stderr, "rampart import: %s: %zu of %zu\n", name, i + 1, n);
	}
	if (rc == 0) {
		c->added += b.added;
		c->skipped += b.skipped;
		c->failed += b.failed;
		import_box_close(c, &b, l.uidnext);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
	maildir_keywords_free(kwnames);
	maildir_uidlist_free(&l);
	return rc;
}

static bool is_maildir(const char *dir)
{
	char p[4096];
	struct stat st;
	maildir_path(p, dir, "cur");
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int import_maildir(struct import_ctx *c, const char *dir)
{
	if (!is_maildir(dir)) {
		fprintf(stderr, "rampart import: %s is not a Maildir (no cur/)\n", dir);
		return EX_NOINPUT;
	}
	int failed = folder_import(c, dir, "INBOX") < 0;
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "rampart import: %s: %s\n", dir, strerror(errno));
		return EX_NOINPUT;
	}
	char **dirents = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		xgrow((void **)&dirents, &cap, n + 1, sizeof(*dirents));
		dirents[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	/* Parents before children, so a level's mailbox exists first. */
	if (n)
		qsort(dirents, n, sizeof(*dirents), name_cmp);
	struct strbuf name = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		maildir_path(path, dir, dirents[i]);
		if (maildir_folder_name(dirents[i], &name) == 0 && is_maildir(path)) {
			if (folder_import(c, path, name.s) < 0)
				failed = 1;
		} else if (dirents[i][0] == '.' && strcmp(dirents[i], ".") != 0 &&
			   strcmp(dirents[i], "..") != 0 && is_maildir(path)) {
			fprintf(stderr, "rampart import: %s: folder name not understood, skipped\n",
				dirents[i]);
			failed = 1;
		}
		free(dirents[i]);
	}
	free(dirents);
	strbuf_free(&name);
	char **subs;
	size_t nsubs;
	if (maildir_subscriptions_read(dir, &subs, &nsubs) < 0)
		fprintf(stderr, "rampart import: %s: subscriptions unreadable\n", dir);
	else
		for (size_t i = 0; i < nsubs; i++) {
			if (store_subscribe(c->u, subs[i], true) != STORE_OK)
				fprintf(stderr, "rampart import: cannot subscribe %s\n", subs[i]);
			free(subs[i]);
		}
	free(subs);
	return failed ? EX_DATAERR : 0;
}
