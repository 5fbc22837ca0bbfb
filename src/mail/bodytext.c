/* The text SEARCH BODY/TEXT looks at: every text/ part transfer-decoded and
 * converted to UTF-8 (glibc iconv), plus the headers of encapsulated
 * messages. Bounded per message so that a 1 GiB attachment mislabelled
 * text/plain can't make one SEARCH allocate without limit. */
#include "mail/mail.h"
#include "mail/mime_internal.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/util.h"

#define MAIL_BODY_TEXT_MAX (16u * 1024 * 1024)

static const char utf8_replacement[] = "\xef\xbf\xbd";

static bool charset_is_utf8_compatible(const char *cs)
{
	return cs[0] == '\0' || strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0 ||
	       strcasecmp(cs, "us-ascii") == 0 || strcasecmp(cs, "ascii") == 0;
}

/* Copies UTF-8, replacing each byte that doesn't start a well-formed
 * sequence with U+FFFD so the output is always valid UTF-8. */
static void utf8_sanitize(const char *s, size_t len, struct strbuf *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	strbuf_grow(out, len);
	while (i < len) {
		size_t start = i;
		while (i < len && u[i] < 0x80)
			i++;
		if (i > start)
			strbuf_add(out, s + start, i - start);
		if (i >= len)
			break;
		unsigned char c = u[i];
		size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
		bool ok = n > 0 && i + n <= len;
		for (size_t k = 1; ok && k < n; k++)
			ok = (u[i + k] & 0xc0) == 0x80;
		/* Overlongs and surrogates (RFC 3629 4). */
		if (ok && n == 3 && ((c == 0xe0 && u[i + 1] < 0xa0) || (c == 0xed && u[i + 1] > 0x9f)))
			ok = false;
		if (ok && n == 4 && ((c == 0xf0 && u[i + 1] < 0x90) || (c == 0xf4 && u[i + 1] > 0x8f)))
			ok = false;
		if (ok) {
			strbuf_add(out, s + i, n);
			i += n;
		} else {
			strbuf_add(out, utf8_replacement, 3);
			i++;
		}
	}
}

void mail_charset_to_utf8(const char *charset, const char *s, size_t len, struct strbuf *out)
{
	strbuf_adds(out, "");
	if (charset_is_utf8_compatible(charset)) {
		utf8_sanitize(s, len, out);
		return;
	}
	iconv_t cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1) {
		/* Unknown charset: keep what is valid UTF-8 (most likely
		 * ASCII), so ASCII search terms still match. */
		utf8_sanitize(s, len, out);
		return;
	}
	char *in = (char *)s;
	size_t inleft = len;
	char buf[4096];
	while (inleft > 0) {
		char *o = buf;
		size_t oleft = sizeof(buf);
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);
		strbuf_add(out, buf, (size_t)(o - buf));
		if (r == (size_t)-1) {
			if (errno == E2BIG)
				continue;
			/* EILSEQ or EINVAL (truncated at the end): replace
			 * one byte and carry on. */
			strbuf_add(out, utf8_replacement, 3);
			in++;
			inleft--;
			iconv(cd, NULL, NULL, NULL, NULL);
		}
	}
	/* Flush any shift state (ISO-2022-JP). */
	char *o = buf;
	size_t oleft = sizeof(buf);
	iconv(cd, NULL, NULL, &o, &oleft);
	strbuf_add(out, buf, (size_t)(o - buf));
	iconv_close(cd);
}

struct text_ctx {
	const struct mail_msg *m;
	struct strbuf *out;
	size_t limit; /* out->len may not grow past this */
};

static void text_add(struct text_ctx *t, const struct strbuf *b)
{
	if (t->out->len >= t->limit || b->len == 0)
		return;
	size_t n = MIN(b->len, t->limit - t->out->len);
	if (t->out->len > 0)
		strbuf_addc(t->out, '\n');
	strbuf_add(t->out, b->s, n);
}

static void text_header(struct text_ctx *t, const struct mail_part *p)
{
	struct mail_hdr_iter it;
	struct mail_hdr h;
	struct strbuf raw = STRBUF_INIT, dec = STRBUF_INIT;
	mail_hdr_iter_init(&it, t->m->data, p->hdr_start, p->hdr_end);
	while (mail_hdr_iter_next(&it, &h) && dec.len < t->limit) {
		strbuf_reset(&raw);
		mail_hdr_unfold(t->m->data, &h, &raw);
		strbuf_add(&dec, h.name, h.name_len);
		strbuf_add(&dec, ": ", 2);
		mail_rfc2047_decode(raw.s ? raw.s : "", raw.len, &dec);
		strbuf_addc(&dec, '\n');
	}
	text_add(t, &dec);
	strbuf_free(&raw);
	strbuf_free(&dec);
}

static void text_leaf(struct text_ctx *t, const struct mail_part *p)
{
	if (strcasecmp(p->type, "text") != 0)
		return;
	const char *d = t->m->data;
	const char *body = d + p->body_start;
	size_t blen = MIN(p->body_end - p->body_start, (size_t)MAIL_BODY_TEXT_MAX);
	struct strbuf dec = STRBUF_INIT;
	switch (mail_part_cte(d, p)) {
	case MAIL_CTE_BASE64:
		base64_decode_lenient(body, blen, &dec);
		break;
	case MAIL_CTE_QP:
		mail_qp_decode(body, blen, false, &dec);
		break;
	default:
		strbuf_add(&dec, body, blen);
		break;
	}
	char *charset = NULL;
	struct mail_hdr h;
	if (!p->type_defaulted && mail_part_hdr_find(d, p, "Content-Type", &h)) {
		char *ty, *st;
		struct mail_params ps = { 0 };
		mail_content_type_parse(d + h.value_start, h.end - h.value_start, &ty, &st, &ps);
		const char *cs = mail_params_get(&ps, "charset");
		if (cs)
			charset = xstrdup(cs);
		free(ty);
		free(st);
		mail_params_free(&ps);
	}
	struct strbuf utf8 = STRBUF_INIT;
	mail_charset_to_utf8(charset ? charset : "us-ascii", dec.s ? dec.s : "", dec.len, &utf8);
	text_add(t, &utf8);
	free(charset);
	strbuf_free(&dec);
	strbuf_free(&utf8);
}

static void text_walk(struct text_ctx *t, const struct mail_part *p)
{
	for (; p && t->out->len < t->limit; p = p->next) {
		switch (p->kind) {
		case MAIL_PART_MULTIPART:
			text_walk(t, p->children);
			break;
		case MAIL_PART_MESSAGE:
			if (p->children) {
				text_header(t, p->children);
				text_walk(t, p->children);
			}
			break;
		case MAIL_PART_LEAF:
			text_leaf(t, p);
			break;
		}
	}
}

void mail_body_text(const struct mail_msg *m, struct strbuf *out)
{
	strbuf_adds(out, "");
	struct text_ctx t = { m, out, out->len + MAIL_BODY_TEXT_MAX };
	/* The root only: its siblings don't exist, and text_walk follows
	 * ->next. */
	const struct mail_part *root = m->root;
	switch (root->kind) {
	case MAIL_PART_MULTIPART:
		text_walk(&t, root->children);
		break;
	case MAIL_PART_MESSAGE:
		if (root->children) {
			text_header(&t, root->children);
			text_walk(&t, root->children);
		}
		break;
	case MAIL_PART_LEAF:
		text_leaf(&t, root);
		break;
	}
}
