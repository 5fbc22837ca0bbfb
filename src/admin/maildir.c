/* Maildir++ metadata files and names as Dovecot 2.3 and Courier write
 * them (admin/maildir.h lists the layout). Reading is lenient where the
 * writers differ (version 1 and 3 UID lists, both subscription formats)
 * and strict where a mistake would lose a message's identity: a UID
 * list line that does not parse makes the whole list malformed, so the
 * import stops rather than renumber a folder.
 *
 * Dovecot's mapping of file-name flags (maildir-filename-flags.c): D
 * \Draft, F \Flagged, R \Answered, S \Seen, T \Deleted; a-z the keywords
 * of dovecot-keywords. 'P' (passed, qmail's "forwarded") has no IMAP
 * flag; Dovecot stores a client's $Forwarded as a keyword letter, so
 * importing 'P' as $Forwarded keeps its meaning. */
#include "admin/maildir.h"
#include "core/flags.h"
#include "core/mutf7.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A folder name level or a keyword read from a file: bounded. */
#define MAILDIR_LINE_MAX 4096

bool maildir_path(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, MAILDIR_PATH_MAX, "%s/%s", dir, name);
	if (n < 0 || n >= MAILDIR_PATH_MAX) {
		out[0] = '\0';
		return false;
	}
	return true;
}

static int uid_cmp(const void *a, const void *b)
{
	return strcmp(((const struct maildir_uid *)a)->base, ((const struct maildir_uid *)b)->base);
}

static size_t base_len(const char *fname)
{
	const char *c = strchr(fname, ':');
	return c ? (size_t)(c - fname) : strlen(fname);
}

static bool uidlist_u32(const char *s, char **end, uint32_t *out)
{
	errno = 0;
	unsigned long long v = strtoull(s, end, 10);
	if (errno || *end == s || v == 0 || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Header of version 3: "3 V<uidvalidity> N<uidnext> G<guid> ..." in
 * any order; of version 1: "1 <uidvalidity> <uidnext>". */
static bool header_parse(char *line, struct maildir_uidlist *l, int *version)
{
	char *end;
	if (line[0] == '1' && line[1] == ' ') {
		*version = 1;
		return uidlist_u32(line + 2, &end, &l->uidvalidity) && *end == ' ' &&
		       uidlist_u32(end + 1, &end, &l->uidnext);
	}
	if (line[0] != '3' || line[1] != ' ')
		return false;
	*version = 3;
	for (char *t = strtok_r(line + 2, " ", &end); t; t = strtok_r(NULL, " ", &end)) {
		char *e;
		if (t[0] == 'V' && !uidlist_u32(t + 1, &e, &l->uidvalidity))
			return false;
		if (t[0] == 'N' && !uidlist_u32(t + 1, &e, &l->uidnext))
			return false;
	}
	return l->uidvalidity != 0 && l->uidnext != 0;
}

/* "<uid> [fields] :<base>" (version 3) or "<uid> <base>" (version 1). */
static bool line_parse(char *line, int version, struct maildir_uid *e)
{
	char *end;
	if (!uidlist_u32(line, &end, &e->uid) || *end != ' ')
		return false;
	const char *name = end + 1;
	if (version == 3) {
		name = strstr(end, " :");
		if (!name)
			return false;
		name += 2;
	}
	size_t n = base_len(name);
	if (n == 0 || strchr(name, '/'))
		return false;
	e->base = xmalloc(n + 1);
	memcpy(e->base, name, n);
	e->base[n] = '\0';
	return true;
}

int maildir_uidlist_read(const char *dir, struct maildir_uidlist *l, const char **err)
{
	static const char *const files[] = { "dovecot-uidlist", "courierimapuiddb" };
	memset(l, 0, sizeof(*l));
	FILE *f = NULL;
	char path[4096];
	for (size_t i = 0; i < 2 && !f; i++) {
		maildir_path(path, dir, files[i]);
		f = fopen(path, "re");
	}
	if (!f)
		return 0;
	char *line = NULL;
	size_t cap = 0, ecap = 0;
	ssize_t len;
	int version = 0, rc = -1;
	*err = "header";
	if ((len = getline(&line, &cap, f)) <= 0)
		goto out;
	line[strcspn(line, "\r\n")] = '\0';
	if (!header_parse(line, l, &version))
		goto out;
	*err = "line";
	while ((len = getline(&line, &cap, f)) > 0) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		xgrow((void **)&l->e, &ecap, l->n + 1, sizeof(*l->e));
		if (!line_parse(line, version, &l->e[l->n]))
			goto out;
		if (l->e[l->n].uid >= l->uidnext)
			l->uidnext = l->e[l->n].uid + 1; /* a list is never wrong the other way */
		l->n++;
	}
	if (l->n)
		qsort(l->e, l->n, sizeof(*l->e), uid_cmp);
	rc = 0;
out:
	free(line);
	fclose(f);
	if (rc < 0)
		maildir_uidlist_free(l);
	return rc;
}

uint32_t maildir_uidlist_find(const struct maildir_uidlist *l, const char *fname)
{
	size_t n = base_len(fname);
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(l->e[mid].base, fname, n);
		if (c == 0 && l->e[mid].base[n] != '\0')
			c = 1;
		if (c == 0)
			return l->e[mid].uid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

void maildir_uidlist_free(struct maildir_uidlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].base);
	free(l->e);
	memset(l, 0, sizeof(*l));
}

int maildir_keywords_read(const char *dir, char *names[MAILDIR_KEYWORDS_MAX])
{
	memset(names, 0, MAILDIR_KEYWORDS_MAX * sizeof(*names));
	char path[4096];
	maildir_path(path, dir, "dovecot-keywords");
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -1;
	char line[MAILDIR_LINE_MAX];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		char *end;
		unsigned long i = strtoul(line, &end, 10);
		if (end == line || *end != ' ' || i >= MAILDIR_KEYWORDS_MAX || !end[1])
			continue;
		free(names[i]);
		names[i] = xstrdup(end + 1);
	}
	fclose(f);
	return 0;
}

void maildir_keywords_free(char *names[MAILDIR_KEYWORDS_MAX])
{
	for (size_t i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		free(names[i]);
		names[i] = NULL;
	}
}

static void kw_add(struct strbuf *kw, const char *k)
{
	if (kw->len)
		strbuf_addc(kw, ' ');
	strbuf_adds(kw, k);
}

void maildir_name_flags(const char *fname, char *const names[MAILDIR_KEYWORDS_MAX],
			uint32_t *flags, struct strbuf *kw)
{
	*flags = 0;
	const char *info = strstr(fname, ":2,");
	if (!info)
		return;
	for (const char *p = info + 3; *p && *p != ','; p++) {
		switch (*p) {
		case 'D': *flags |= MAIL_FLAG_DRAFT; break;
		case 'F': *flags |= MAIL_FLAG_FLAGGED; break;
		case 'R': *flags |= MAIL_FLAG_ANSWERED; break;
		case 'S': *flags |= MAIL_FLAG_SEEN; break;
		case 'T': *flags |= MAIL_FLAG_DELETED; break;
		case 'P': kw_add(kw, "$Forwarded"); break;
		default:
			if (*p >= 'a' && *p <= 'z' && names[*p - 'a'])
				kw_add(kw, names[*p - 'a']);
		}
	}
}

int maildir_folder_name(const char *dirent, struct strbuf *out)
{
	strbuf_reset(out);
	if (dirent[0] != '.' || !dirent[1] || strcmp(dirent, "..") == 0)
		return -1;
	char *copy = xstrdup(dirent + 1);
	int rc = 0;
	char *save;
	for (char *t = strtok_r(copy, ".", &save); t && rc == 0; t = strtok_r(NULL, ".", &save)) {
		if (out->len)
			strbuf_addc(out, '/');
		rc = mutf7_decode(t, out);
	}
	/* "..x", ".x." and "." are not folders Dovecot makes. */
	if (rc == 0 && (strstr(dirent + 1, "..") || dirent[strlen(dirent) - 1] == '.'))
		rc = -1;
	free(copy);
	return rc;
}

int maildir_folder_dirent(const char *name, struct strbuf *out)
{
	strbuf_reset(out);
	char *copy = xstrdup(name);
	int rc = 0;
	char *save;
	for (char *t = strtok_r(copy, "/", &save); t && rc == 0; t = strtok_r(NULL, "/", &save)) {
		strbuf_addc(out, '.');
		size_t at = out->len;
		rc = mutf7_encode(t, out);
		if (rc == 0 && memchr(out->s + at, '.', out->len - at))
			rc = -1;
	}
	free(copy);
	return rc;
}

/* One subscription line in *name: levels split by sep, each modified
 * UTF-7. Courier's names start with "INBOX." for everything. */
static int sub_name(char *line, char sep, bool courier, struct strbuf *name)
{
	strbuf_reset(name);
	if (courier && strncmp(line, "INBOX.", 6) == 0)
		line += 6;
	char seps[2] = { sep, '\0' };
	char *save;
	for (char *t = strtok_r(line, seps, &save); t; t = strtok_r(NULL, seps, &save)) {
		if (name->len)
			strbuf_addc(name, '/');
		if (mutf7_decode(t, name) < 0)
			return -1;
	}
	return name->len ? 0 : -1;
}

int maildir_subscriptions_read(const char *dir, char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	char path[4096];
	bool courier = false;
	maildir_path(path, dir, "subscriptions");
	FILE *f = fopen(path, "re");
	if (!f) {
		courier = true;
		maildir_path(path, dir, "courierimapsubscribed");
		f = fopen(path, "re");
	}
	if (!f)
		return errno == ENOENT ? 0 : -1;
	char line[MAILDIR_LINE_MAX];
	struct strbuf name = STRBUF_INIT;
	size_t cap = 0;
	char sep = '.';
	bool first = true;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (first && !courier && strcmp(line, "V\t2") == 0)
			sep = '\t'; /* Dovecot 2.3's version 2 */
		first = false;
		if (!line[0] || (sep == '\t' && strcmp(line, "V\t2") == 0))
			continue;
		if (sub_name(line, sep, courier, &name) < 0)
			continue;
		xgrow((void **)names, &cap, *n + 1, sizeof(**names));
		(*names)[(*n)++] = strbuf_detach(&name, NULL);
	}
	strbuf_free(&name);
	fclose(f);
	return 0;
}
