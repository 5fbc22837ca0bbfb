/* `rampart import mbox USER FILE|DIR [--mailbox NAME]` (issue #13
 * migrate): the mbox format as Dovecot, mutt and procmail write it.
 *
 * A message starts at a "From " line at the start of the file or after
 * an empty line (the From_ line, whose date, in asctime form, is the
 * internal date, read as UTC); the empty line before the next From_
 * belongs to the separator, not the message. Body lines ">From ",
 * ">>From " ... lose one '>' (mboxrd; mboxo quoted only "From ", whose
 * unquoting is the same). Status: R is \Seen; X-Status: A \Answered,
 * F \Flagged, T \Draft, D \Deleted; X-Keywords: the keywords. These and
 * Dovecot's other bookkeeping headers (X-UID, X-IMAP, X-IMAPbase,
 * Content-Length) are removed from the message, as Dovecot hides them
 * from clients. An mbox has no UIDs worth keeping across servers here:
 * messages get new UIDs, and a second run recognises them by content.
 *
 * A DIR is a tree of mbox files (Dovecot's mail_location = mbox:~/mail):
 * each file is the mailbox of its path ("inbox" is INBOX), NAME a parent
 * to put them under; Dovecot's index files and dot-files are skipped. */
#include "admin/import.h"
#include "admin/maildir.h"
#include "core/flags.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>

/* Deeper mbox trees than this are not a mail layout. */
#define MBOX_DEPTH_MAX 16

struct mbox_msg {
	struct strbuf hdr;        /* the header as read, until the empty line */
	bool in_body;
	bool open;
	bool blank_pending;       /* an empty body line not written yet */
	int64_t date;
	struct import_tmp *t;
};

static int64_t from_line_date(const char *line)
{
	const char *p = line + 5;
	while (*p == ' ')
		p++;
	while (*p && *p != ' ')
		p++; /* the envelope sender */
	while (*p == ' ')
		p++;
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = strptime(p, "%a %b %e %H:%M:%S %Y", &tm);
	return end ? (int64_t)timegm(&tm) : -1;
}

static bool header_is(const char *line, const char *name)
{
	size_t n = strlen(name);
	return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

/* Filters the header: keeps what a client sees, reads the flags. */
static void header_finish(struct strbuf *hdr, struct strbuf *out, uint32_t *flags,
			  struct strbuf *kw)
{
	static const char *const hidden[] = { "Status", "X-Status", "X-Keywords", "X-UID",
					      "X-IMAP", "X-IMAPbase", "Content-Length" };
	*flags = 0;
	bool skip = false;
	char *save;
	for (char *l = strtok_r(hdr->s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (l[0] != ' ' && l[0] != '\t') {
			skip = false;
			for (size_t i = 0; i < ARRAY_SIZE(hidden) && !skip; i++)
				skip = header_is(l, hidden[i]);
			const char *v = strchr(l, ':');
			if (header_is(l, "Status") && strchr(v, 'R'))
				*flags |= MAIL_FLAG_SEEN;
			if (header_is(l, "X-Status")) {
				*flags |= strchr(v, 'A') ? MAIL_FLAG_ANSWERED : 0;
				*flags |= strchr(v, 'F') ? MAIL_FLAG_FLAGGED : 0;
				*flags |= strchr(v, 'T') ? MAIL_FLAG_DRAFT : 0;
				*flags |= strchr(v, 'D') ? MAIL_FLAG_DELETED : 0;
			}
			if (header_is(l, "X-Keywords")) {
				char *ks;
				for (char *k = strtok_r((char *)v + 1, " ,\t\r", &ks); k;
				     k = strtok_r(NULL, " ,\t\r", &ks)) {
					if (kw->len)
						strbuf_addc(kw, ' ');
					strbuf_adds(kw, k);
				}
			}
		}
		if (!skip) {
			strbuf_adds(out, l);
			strbuf_addc(out, '\n');
		}
	}
}

static void msg_begin(struct import_ctx *c, struct mbox_msg *m, const char *from_line)
{
	strbuf_reset(&m->hdr);
	m->in_body = false;
	m->blank_pending = false;
	m->date = from_line_date(from_line);
	m->open = import_tmp_open(c, m->t) == 0;
}

/* The header is complete: write it, keep the flags for the commit. */
static void msg_header_done(struct mbox_msg *m, uint32_t *flags, struct strbuf *kw)
{
	struct strbuf out = STRBUF_INIT;
	strbuf_reset(kw);
	*flags = 0;
	if (m->hdr.len)
		header_finish(&m->hdr, &out, flags, kw);
	strbuf_addc(&out, '\n');
	import_tmp_write(m->t, out.s, out.len);
	strbuf_free(&out);
	m->in_body = true;
}

static void msg_end(struct import_ctx *c, struct import_box *b, struct mbox_msg *m,
		    uint32_t flags, struct strbuf *kw)
{
	if (!m->open)
		return;
	if (!m->in_body)
		msg_header_done(m, &flags, kw);
	import_tmp_commit(c, b, m->t, flags, strbuf_cstr(kw), m->date, 0);
	m->open = false;
}

static int mbox_file(struct import_ctx *c, const char *path, const char *mailbox)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "rampart import: %s: %s\n", path, strerror(errno));
		return -1;
	}
	struct import_box b;
	if (import_box_open(c, mailbox, 0, &b) < 0) {
		fclose(f);
		return -1;
	}
	struct mbox_msg m;
	memset(&m, 0, sizeof(m));
	m.t = xmalloc(sizeof(*m.t));
	m.t->fd = -1;
	struct strbuf kw = STRBUF_INIT;
	uint32_t flags = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	bool prev_blank = true;
	unsigned n = 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		if (prev_blank && strncmp(line, "From ", 5) == 0) {
			msg_end(c, &b, &m, flags, &kw);
			msg_begin(c, &m, line);
			if (++n % 1000 == 0)
				fprintf(stderr, "rampart import: %s: %u messages read\n", mailbox, n);
			prev_blank = false;
			continue;
		}
		bool blank = line[0] == '\n' || (line[0] == '\r' && line[1] == '\n');
		prev_blank = blank;
		if (!m.open)
			continue; /* garbage before the first From_, or a failed message */
		if (!m.in_body) {
			if (blank)
				msg_header_done(&m, &flags, &kw);
			else
				strbuf_add(&m.hdr, line, (size_t)len);
			continue;
		}
		if (m.blank_pending)
			import_tmp_write(m.t, "\n", 1);
		m.blank_pending = blank;
		if (blank)
			continue;
		const char *p = line;
		size_t q = strspn(p, ">");
		if (q > 0 && strncmp(p + q, "From ", 5) == 0)
			p++, len--; /* mboxrd */
		import_tmp_write(m.t, p, (size_t)len);
	}
	msg_end(c, &b, &m, flags, &kw);
	free(line);
	strbuf_free(&kw);
	strbuf_free(&m.hdr);
	import_tmp_abort(m.t);
	free(m.t);
	fclose(f);
	c->added += b.added;
	c->skipped += b.skipped;
	c->failed += b.failed;
	import_box_close(c, &b, 0);
	return 0;
}

static bool skipped_name(const char *n)
{
	return n[0] == '.' || strncmp(n, "dovecot", 7) == 0 || strcmp(n, "subscriptions") == 0;
}

/* Every mbox file under dir; prefix is the mailbox name of dir ("" at
 * the top). */
static int mbox_tree(struct import_ctx *c, const char *dir, const char *prefix, int depth)
{
	DIR *d = opendir(dir);
	if (!d || depth > MBOX_DEPTH_MAX) {
		fprintf(stderr, "rampart import: %s: %s\n", dir, d ? "too deep" : strerror(errno));
		if (d)
			closedir(d);
		return -1;
	}
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (skipped_name(e->d_name))
			continue;
		char path[4096], name[2048];
		maildir_path(path, dir, e->d_name);
		bool top_inbox = !*prefix && strcasecmp(e->d_name, "inbox") == 0;
		int nl = snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "/" : "",
				  top_inbox ? "INBOX" : e->d_name);
		if (nl < 0 || (size_t)nl >= sizeof(name))
			continue;
		struct stat st;
		if (stat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			rc |= mbox_tree(c, path, name, depth + 1);
		else if (S_ISREG(st.st_mode))
			rc |= mbox_file(c, path, name);
	}
	closedir(d);
	return rc;
}

int import_mbox(struct import_ctx *c, const char *path, const char *mailbox)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "rampart import: %s: %s\n", path, strerror(errno));
		return EX_NOINPUT;
	}
	int rc = S_ISDIR(st.st_mode) ? mbox_tree(c, path, mailbox ? mailbox : "", 0)
				     : mbox_file(c, path, mailbox ? mailbox : "INBOX");
	return rc ? EX_DATAERR : 0;
}
