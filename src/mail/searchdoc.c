/* The searchable form of a message (mail/searchdoc.h): decoded header
 * fields, the Date: day, and the casefolded header and body text. The
 * search index stores it at delivery; SEARCH computes it the same way for
 * messages the index does not hold yet, so both paths match alike.
 *
 * Addresses: SEARCH FROM/TO/CC/BCC compare against the decoded field text
 * and also against the parsed addresses without RFC 5322 comments
 * ("<user (c)@ (c) example.org>" is found by "user@example.org"), as
 * Dovecot does. The addresses come from the ENVELOPE writer
 * (mail/envelope.c), so the one RFC 5322 address parser decides what an
 * address is; this file only reads its IMAP-syntax output back. */
#include "mail/searchdoc.h"
#include "mail/decode.h"
#include "mail/mime_internal.h"
#include "mail/search.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* ---- reading the ENVELOPE back ------------------------------------------ */

struct env_rd {
	const char *p, *e;
};

static void rd_space(struct env_rd *r)
{
	while (r->p < r->e && *r->p == ' ')
		r->p++;
}

/* One nstring (NIL, quoted, or {n} literal) into tmp; *nil for NIL. */
static bool rd_nstring(struct env_rd *r, struct strbuf *tmp, bool *nil)
{
	rd_space(r);
	strbuf_reset(tmp);
	strbuf_adds(tmp, "");
	*nil = false;
	if (r->e - r->p >= 3 && memcmp(r->p, "NIL", 3) == 0) {
		r->p += 3;
		*nil = true;
		return true;
	}
	if (r->p < r->e && *r->p == '"') {
		r->p++;
		while (r->p < r->e && *r->p != '"') {
			if (*r->p == '\\' && r->p + 1 < r->e)
				r->p++;
			strbuf_addc(tmp, *r->p++);
		}
		if (r->p >= r->e)
			return false;
		r->p++;
		return true;
	}
	if (r->p < r->e && *r->p == '{') {
		size_t n = 0;
		const char *q = r->p + 1;
		while (q < r->e && *q >= '0' && *q <= '9' && n < ((size_t)1 << 40))
			n = n * 10 + (size_t)(*q++ - '0');
		if (r->e - q < 3 || memcmp(q, "}\r\n", 3) != 0)
			return false;
		q += 3;
		if ((size_t)(r->e - q) < n)
			return false;
		strbuf_add(tmp, q, n);
		r->p = q + n;
		return true;
	}
	return false;
}

/* Skips one item: an nstring or a parenthesised list (depth-bounded). */
static bool rd_skip(struct env_rd *r, struct strbuf *tmp, int depth)
{
	rd_space(r);
	if (r->p < r->e && *r->p == '(') {
		if (depth > 4)
			return false;
		r->p++;
		for (;;) {
			rd_space(r);
			if (r->p >= r->e)
				return false;
			if (*r->p == ')') {
				r->p++;
				return true;
			}
			if (!rd_skip(r, tmp, depth + 1))
				return false;
		}
	}
	bool nil;
	return rd_nstring(r, tmp, &nil);
}

static bool missing(const struct strbuf *b, bool nil, const char *placeholder)
{
	return nil || b->len == 0 || strcmp(b->s, placeholder) == 0;
}

/* Appends "\n" and `name <local@domain>` (or `local@domain`) for every
 * address of the address list at r; group markers are skipped. */
static bool rd_addresses(struct env_rd *r, struct strbuf *out)
{
	struct strbuf part[4] = { STRBUF_INIT, STRBUF_INIT, STRBUF_INIT, STRBUF_INIT };
	bool ok = false;
	rd_space(r);
	if (r->p < r->e && *r->p != '(') {
		bool nil;
		ok = rd_nstring(r, &part[0], &nil);
		goto out;
	}
	if (r->p >= r->e)
		goto out;
	r->p++;
	for (;;) {
		rd_space(r);
		if (r->p >= r->e)
			goto out;
		if (*r->p == ')') {
			r->p++;
			break;
		}
		if (*r->p != '(')
			goto out;
		r->p++;
		bool nil[4];
		for (int i = 0; i < 4; i++)
			if (!rd_nstring(r, &part[i], &nil[i]))
				goto out;
		rd_space(r);
		if (r->p >= r->e || *r->p != ')')
			goto out;
		r->p++;
		/* NIL host: the start or end of a group (RFC 9051 7.5.2). */
		if (nil[3] || nil[2])
			continue;
		bool no_local = missing(&part[2], false, "MISSING_MAILBOX");
		bool no_domain = missing(&part[3], false, "MISSING_DOMAIN");
		if (no_local && no_domain)
			continue;
		strbuf_addc(out, '\n');
		bool named = !nil[0] && part[0].len > 0;
		if (named) {
			mail_rfc2047_decode(part[0].s, part[0].len, out);
			strbuf_adds(out, " <");
		}
		if (!no_local)
			strbuf_add(out, part[2].s, part[2].len);
		strbuf_addc(out, '@');
		if (!no_domain)
			strbuf_add(out, part[3].s, part[3].len);
		if (named)
			strbuf_addc(out, '>');
	}
	ok = true;
out:
	for (int i = 0; i < 4; i++)
		strbuf_free(&part[i]);
	return ok;
}

/* The address lines of From, To, Cc and Bcc (SEARCH_DOC_FROM..BCC), each
 * starting with "\n", from the message's ENVELOPE. */
static void addresses_all(const struct mail_msg *m, struct strbuf lines[4])
{
	struct strbuf env = STRBUF_INIT, tmp = STRBUF_INIT;
	mail_write_envelope(&env, m);
	struct env_rd r = { env.s, env.s + env.len };
	rd_space(&r);
	if (r.p >= r.e || *r.p != '(')
		goto out;
	r.p++;
	/* date subject from sender reply-to to cc bcc (RFC 9051 7.5.2) */
	static const int slot[8] = { -1, -1, SEARCH_DOC_FROM, -1, -1,
				     SEARCH_DOC_TO, SEARCH_DOC_CC, SEARCH_DOC_BCC };
	for (int i = 0; i < 8; i++) {
		bool ok = slot[i] < 0 ? rd_skip(&r, &tmp, 0) : rd_addresses(&r, &lines[slot[i]]);
		if (!ok)
			break;
	}
out:
	strbuf_free(&env);
	strbuf_free(&tmp);
}

static bool field_is_address(int f)
{
	return f >= SEARCH_DOC_FROM && f <= SEARCH_DOC_BCC;
}

/* Decoding can produce NUL bytes (=00 in an encoded word or a QP body);
 * the index keeps C strings, and no search string holds a NUL, so both
 * paths see a space there instead. */
static void nul_to_space(struct strbuf *b, size_t from)
{
	for (size_t i = from; i < b->len; i++)
		if (b->s[i] == '\0')
			b->s[i] = ' ';
}

/* The field as SEARCH compares it, appended to out; lines: the address
 * lines from addresses_all(), or NULL to compute them. */
static int field_text(const struct mail_msg *m, const char *name, struct strbuf lines[4],
		      struct strbuf *out)
{
	size_t start = out->len;
	int n = mail_header_decoded(m, name, out);
	int f = search_doc_field_find(name);
	if (n > 0 && field_is_address(f)) {
		struct strbuf own[4] = { STRBUF_INIT, STRBUF_INIT, STRBUF_INIT, STRBUF_INIT };
		if (!lines) {
			addresses_all(m, own);
			lines = own;
		}
		strbuf_add(out, lines[f].s ? lines[f].s : "", lines[f].len);
		for (int i = 0; i < 4; i++)
			strbuf_free(&own[i]);
	}
	if (n > 0)
		nul_to_space(out, start);
	return n;
}

int mail_search_header(const struct mail_msg *m, const char *name, struct strbuf *out)
{
	return field_text(m, name, NULL, out);
}

void mail_search_body_text(const struct mail_msg *m, struct strbuf *out)
{
	size_t start = out->len;
	mail_body_text(m, out);
	nul_to_space(out, start);
}

/* The body text for the index: no more than SEARCH_DOC_BODY_MAX bytes are
 * decoded, so delivering a large message costs no large buffers; false
 * when the text went on. */
static bool body_text_capped(const struct mail_msg *m, struct strbuf *out)
{
	size_t start = out->len;
	bool whole = mail_body_text_max(m, out, SEARCH_DOC_BODY_MAX);
	nul_to_space(out, start);
	return whole;
}

void mail_search_hdrs_text(const struct mail_msg *m, struct strbuf *out)
{
	size_t start = out->len;
	struct strbuf tmp = STRBUF_INIT;
	struct mail_hdr_iter it;
	struct mail_hdr h;
	strbuf_adds(out, "");
	mail_hdr_iter_init(&it, m->data, m->root->hdr_start, m->root->hdr_end);
	while (mail_hdr_iter_next(&it, &h)) {
		strbuf_reset(&tmp);
		mail_hdr_unfold(m->data, &h, &tmp);
		strbuf_add(out, h.name, h.name_len);
		strbuf_adds(out, ": ");
		mail_rfc2047_decode(tmp.s ? tmp.s : "", tmp.len, out);
		strbuf_addc(out, '\n');
	}
	nul_to_space(out, start);
	strbuf_free(&tmp);
}

/* Casefolds b into *dst, cut at SEARCH_DOC_BODY_MAX bytes on a character
 * boundary; returns true when it had to cut. */
static bool fold_capped(const struct strbuf *b, char **dst)
{
	size_t len = 0;
	char *f = search_casefold(b->s ? b->s : "", b->len, &len);
	bool cut = len > SEARCH_DOC_BODY_MAX;
	if (cut) {
		len = SEARCH_DOC_BODY_MAX;
		while (len > 0 && ((unsigned char)f[len] & 0xc0) == 0x80)
			len--;
		f[len] = '\0';
	}
	*dst = f;
	return cut;
}

void mail_search_doc_build(const struct mail_msg *m, struct search_doc *d)
{
	memset(d, 0, sizeof(*d));
	struct strbuf lines[4] = { STRBUF_INIT, STRBUF_INIT, STRBUF_INIT, STRBUF_INIT };
	addresses_all(m, lines);
	struct strbuf b = STRBUF_INIT;
	for (int f = 0; f < SEARCH_DOC_NFIELDS; f++) {
		strbuf_reset(&b);
		if (field_text(m, search_doc_field_name(f), lines, &b) > 0)
			d->field[f] = strbuf_detach(&b, NULL);
	}
	for (int i = 0; i < 4; i++)
		strbuf_free(&lines[i]);
	int tz = 0;
	int64_t t = mail_date_sent(m, &tz);
	/* RFC 9051 6.4.4: SENT* disregard time and zone: the day as written. */
	d->sent_day = t == -1 ? SEARCH_DOC_NO_DATE : search_day_of(t, tz);
	strbuf_reset(&b);
	mail_search_hdrs_text(m, &b);
	d->body_partial = fold_capped(&b, &d->hdrs);
	strbuf_reset(&b);
	bool whole = body_text_capped(m, &b);
	d->body_partial |= fold_capped(&b, &d->body) || !whole;
	strbuf_free(&b);
}

void mail_search_doc_compute(const char *data, size_t len, struct search_doc *d)
{
	struct mail_msg *m = mail_parse(data, len);
	mail_search_doc_build(m, d);
	mail_msg_free(m);
}

struct search_doc *mail_search_doc_new(const char *data, size_t len)
{
	struct search_doc *d = xmalloc(sizeof(*d));
	mail_search_doc_compute(data, len, d);
	return d;
}

void mail_search_doc_free(struct search_doc *d)
{
	if (!d)
		return;
	search_doc_clear(d);
	free(d);
}
