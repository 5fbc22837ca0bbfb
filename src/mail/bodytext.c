/* The text SEARCH BODY/TEXT looks at: every text/ part transfer-decoded and
 * converted to UTF-8 (glibc iconv), plus the headers of encapsulated
 * messages. Bounded per message so that a 1 GiB attachment mislabelled
 * text/plain can't make one SEARCH allocate without limit. */
#include "mail/mail.h"
#include "mail/decode.h"
#include "mail/mime_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

#define MAIL_BODY_TEXT_MAX (16u * 1024 * 1024)

struct text_ctx {
	const struct mail_msg *m;
	struct strbuf *out;
	size_t limit; /* out->len may not grow past this */
	bool cut;     /* some text was left out for the limit */
};

static void text_add(struct text_ctx *t, const struct strbuf *b)
{
	if (b->len == 0)
		return;
	if (t->out->len >= t->limit) {
		t->cut = true;
		return;
	}
	size_t n = MIN(b->len, t->limit - t->out->len);
	t->cut |= n < b->len;
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

void mail_part_text_utf8(const struct mail_msg *m, const struct mail_part *p, size_t in_max,
			 struct strbuf *out)
{
	const char *d = m->data;
	const char *body = d + p->body_start;
	size_t blen = MIN(p->body_end - p->body_start, in_max);
	struct strbuf dec = STRBUF_INIT;
	/* An unknown encoding is taken as it is stored. */
	if (!mail_cte_decode(mail_part_cte(d, p), body, blen, &dec))
		strbuf_add(&dec, body, blen);
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
	mail_charset_to_utf8(charset ? charset : "us-ascii", dec.s ? dec.s : "", dec.len, out);
	free(charset);
	strbuf_free(&dec);
}

static void text_leaf(struct text_ctx *t, const struct mail_part *p)
{
	if (strcasecmp(p->type, "text") != 0)
		return;
	/* Decoding never makes text shorter than a quarter of its input
	 * (base64), so four times the room left is enough input. */
	size_t room = t->out->len < t->limit ? t->limit - t->out->len : 0;
	size_t blen = MIN(p->body_end - p->body_start, (size_t)MAIL_BODY_TEXT_MAX);
	if (room <= SIZE_MAX / 4 && blen > room * 4) {
		blen = room * 4;
		t->cut = true;
	}
	struct strbuf utf8 = STRBUF_INIT;
	mail_part_text_utf8(t->m, p, blen, &utf8);
	text_add(t, &utf8);
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
	mail_body_text_max(m, out, MAIL_BODY_TEXT_MAX);
}

bool mail_body_text_max(const struct mail_msg *m, struct strbuf *out, size_t max)
{
	strbuf_adds(out, "");
	struct text_ctx t = { m, out, out->len + MIN(max, (size_t)MAIL_BODY_TEXT_MAX), false };
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
	return !t.cut;
}
