/* One imported message from its source bytes to a durable store entry
 * (admin/import.h), shared by every `rampart import` source.
 *
 * The bytes go to an O_TMPFILE in the user's spool directory, so the
 * store links that file as the blob instead of copying it (store.h
 * store_append in_file) and memory stays bounded by the write buffer;
 * the envelope and body structure are computed from a read-only mapping
 * of it. Line ends become CRLF because that is what the old server sent
 * (RFC 5322 2.3; Dovecot's Maildir and mbox keep LF and convert on
 * FETCH), so BODY[] and RFC822.SIZE stay what clients cached. */
#include "admin/import.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "mail/mailcache.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 65);
}

int import_box_open(struct import_ctx *c, const char *name, uint32_t uidvalidity,
		    struct import_box *b)
{
	memset(b, 0, sizeof(*b));
	b->name = xstrdup(name);
	int r = STORE_ENOENT;
	if (uidvalidity) {
		r = store_import_mailbox(c->u, name, NULL, uidvalidity);
		if (r == STORE_EEXIST || r == STORE_ECANNOT)
			fprintf(stderr,
				"rampart import: %s: keeps its own UIDVALIDITY (%s), clients will "
				"download it again\n",
				name, r == STORE_EEXIST ? "it holds mail already" : "value in use here");
		b->keep_uids = r == STORE_OK;
	}
	if (r != STORE_OK) {
		r = store_mailbox_create(c->u, name, NULL);
		if (r == STORE_EEXIST)
			r = STORE_OK;
	}
	struct store_mailbox mb;
	if (r == STORE_OK)
		r = store_mailbox_get(c->u, name, &mb);
	if (r != STORE_OK) {
		fprintf(stderr, "rampart import: %s: cannot create the mailbox (store error %d)\n",
			name, r);
		free(b->name);
		return -1;
	}
	b->uidnext = b->uidnext_before = mb.uidnext;
	struct store_msg *m = NULL;
	size_t n = 0;
	r = store_msg_list(c->u, mb.id, 1, false, &m, &n);
	store_mailbox_clear(&mb);
	if (r != STORE_OK) {
		fprintf(stderr, "rampart import: %s: cannot list it (store error %d)\n", name, r);
		free(b->name);
		return -1;
	}
	b->hashes = n ? xcalloc(n, sizeof(*b->hashes)) : NULL;
	for (size_t i = 0; i < n; i++)
		memcpy(b->hashes[i], m[i].blob, 65);
	b->nhashes = n;
	if (n)
		qsort(b->hashes, n, sizeof(*b->hashes), hash_cmp);
	store_msg_array_free(m, n);
	return 0;
}

void import_box_close(struct import_ctx *c, struct import_box *b, uint32_t uidnext)
{
	if (uidnext && (b->keep_uids || b->added) &&
	    store_import_uidnext(c->u, b->name, uidnext) != STORE_OK)
		fprintf(stderr, "rampart import: %s: cannot set UIDNEXT %u\n", b->name, uidnext);
	fprintf(stderr, "rampart import: %s: %u added, %u skipped (already there), %u failed%s\n",
		b->name, b->added, b->skipped, b->failed, b->keep_uids ? ", UIDs kept" : "");
	free(b->hashes);
	free(b->name);
	memset(b, 0, sizeof(*b));
}

bool import_box_has_uid(const struct import_box *b, uint32_t uid)
{
	return b->keep_uids && uid != 0 && uid < b->uidnext_before;
}

int import_tmp_open(struct import_ctx *c, struct import_tmp *t)
{
	t->len = 0;
	t->nbuf = 0;
	t->cr = false;
	t->failed = false;
	crypto_hash_sha256_init(&t->sha);
	t->fd = open(c->spool, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (t->fd < 0) {
		fprintf(stderr, "rampart import: %s: %s\n", c->spool, strerror(errno));
		return -1;
	}
	return 0;
}

static void tmp_flush(struct import_tmp *t)
{
	size_t off = 0;
	while (off < t->nbuf && t->fd >= 0) {
		ssize_t w = write(t->fd, t->buf + off, t->nbuf - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			t->failed = true; /* reported as a failed message */
			break;
		}
		off += (size_t)w;
	}
	crypto_hash_sha256_update(&t->sha, (const unsigned char *)t->buf, t->nbuf);
	t->nbuf = 0;
}

static void tmp_put(struct import_tmp *t, char ch)
{
	if (t->nbuf == sizeof(t->buf))
		tmp_flush(t);
	t->buf[t->nbuf++] = ch;
	t->len++;
}

void import_tmp_write(struct import_tmp *t, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' && !t->cr)
			tmp_put(t, '\r');
		tmp_put(t, p[i]);
		t->cr = p[i] == '\r';
	}
}

void import_tmp_abort(struct import_tmp *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

/* The keywords of `in` that are IMAP keywords (RFC 9051 9: atoms, not
 * starting with '\\'), into out; the others are reported and dropped,
 * so one odd keyword of another server does not cost the message. */
static void keywords_valid(const struct import_box *b, const char *in, struct strbuf *out)
{
	if (!in)
		return;
	char *copy = xstrdup(in), *save;
	for (char *k = strtok_r(copy, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
		if (!store_keyword_valid(k, strlen(k))) {
			fprintf(stderr, "rampart import: %s: keyword \"%s\" is not an IMAP "
				"keyword, dropped\n", b->name, k);
			continue;
		}
		if (out->len)
			strbuf_addc(out, ' ');
		strbuf_adds(out, k);
	}
	free(copy);
}

static bool had_hash(const struct import_box *b, const char hex[65])
{
	return b->nhashes && bsearch(hex, b->hashes, b->nhashes, sizeof(*b->hashes), hash_cmp);
}

int import_tmp_commit(struct import_ctx *c, struct import_box *b, struct import_tmp *t,
		      uint32_t flags, const char *keywords, int64_t internaldate, uint32_t want_uid)
{
	tmp_flush(t);
	unsigned char sum[crypto_hash_sha256_BYTES];
	char hex[65];
	crypto_hash_sha256_final(&t->sha, sum);
	sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
	int rc = 0;
	if (t->failed || t->len == 0 || (c->max_size && t->len > c->max_size)) {
		fprintf(stderr, "rampart import: %s: a message of %llu bytes is empty, too large or "
			"unwritable; not imported\n", b->name, (unsigned long long)t->len);
		b->failed++;
		goto out;
	}
	if ((!b->keep_uids || want_uid == 0) && had_hash(b, hex)) {
		b->skipped++;
		goto out;
	}
	void *map = mmap(NULL, t->len, PROT_READ, MAP_SHARED, t->fd, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "rampart import: mmap: %s\n", strerror(errno));
		b->failed++;
		goto out;
	}
	struct strbuf kw = STRBUF_INIT;
	keywords_valid(b, keywords, &kw);
	struct store_append a;
	memset(&a, 0, sizeof(a));
	a.in_file = true;
	a.fd = t->fd;
	a.len = t->len;
	a.flags = flags;
	a.keywords = kw.len ? kw.s : NULL;
	a.internaldate = internaldate;
	a.want_uid = want_uid >= b->uidnext ? want_uid : 0;
	mail_cache_compute(map, t->len, (char **)&a.envelope, (char **)&a.bodystructure,
			   (char **)&a.body);
	int r = store_import_append(c->u, b->name, &a, 1, NULL);
	if (r == STORE_ELIMIT && a.keywords) {
		/* Too many or too long keywords for this store: keep the mail. */
		fprintf(stderr, "rampart import: %s: keywords \"%s\" refused, message kept "
			"without them\n", b->name, a.keywords);
		a.keywords = NULL;
		r = store_import_append(c->u, b->name, &a, 1, NULL);
	}
	munmap(map, t->len);
	strbuf_free(&kw);
	free((char *)a.envelope);
	free((char *)a.bodystructure);
	free((char *)a.body);
	if (r == STORE_OK) {
		b->added++;
		if (a.uid >= b->uidnext)
			b->uidnext = a.uid + 1;
	} else {
		fprintf(stderr, "rampart import: %s: store error %d%s\n", b->name, r,
			r == STORE_EOVERQUOTA ? " (over quota)" : "");
		b->failed++;
		rc = -1;
	}
out:
	import_tmp_abort(t);
	return rc;
}
