/* RFC 9051 7.5.2 BODY and BODYSTRUCTURE from the part tree. The format
 * follows Dovecot's imap-bodystructure.c field for field (type strings as
 * they appear in the message, "charset" "us-ascii" added to text parts
 * that name none, RFC 2231 parameters merged but not decoded, the
 * Content-MD5 value when present, a lone empty text/plain body for a
 * multipart without parts) so clients see the same thing after a migration.
 *
 * Deliberate differences from Dovecot 2.3, both RFC-mandated:
 * - an invalid Content-Type is text/plain; charset=us-ascii (RFC 2045 5.2),
 *   where Dovecot sends "" "";
 * - message/global is encapsulated like message/rfc822 (RFC 9051 section 9
 *   media-message includes "GLOBAL", so a client parser expects the
 *   envelope, body and lines after it). */
#include "mail/mail.h"
#include "mail/mime_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/quote.h"
#include "core/util.h"

/* The zero-length text/plain Dovecot writes for a multipart without body
 * parts: RFC 9051's body-type-mpart needs at least one. */
#define EMPTY_BODY "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"
#define EMPTY_BODYSTRUCTURE \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"

/* The MIME fields of one header block, found in one pass. */
struct mime_fields {
	struct mail_hdr ct, id, desc, cte, md5, dsp, lang, loc;
	bool has_ct, has_id, has_desc, has_cte, has_md5, has_dsp, has_lang, has_loc;
};

static void fields_collect(const char *d, const struct mail_part *p, struct mime_fields *f)
{
	static const struct {
		const char *name;
		size_t hoff, boff;
	} map[] = {
		{ "Content-Type", offsetof(struct mime_fields, ct), offsetof(struct mime_fields, has_ct) },
		{ "Content-ID", offsetof(struct mime_fields, id), offsetof(struct mime_fields, has_id) },
		{ "Content-Description", offsetof(struct mime_fields, desc),
		  offsetof(struct mime_fields, has_desc) },
		{ "Content-Transfer-Encoding", offsetof(struct mime_fields, cte),
		  offsetof(struct mime_fields, has_cte) },
		{ "Content-MD5", offsetof(struct mime_fields, md5), offsetof(struct mime_fields, has_md5) },
		{ "Content-Disposition", offsetof(struct mime_fields, dsp),
		  offsetof(struct mime_fields, has_dsp) },
		{ "Content-Language", offsetof(struct mime_fields, lang),
		  offsetof(struct mime_fields, has_lang) },
		{ "Content-Location", offsetof(struct mime_fields, loc),
		  offsetof(struct mime_fields, has_loc) },
	};
	struct mail_hdr_iter it;
	struct mail_hdr h;
	memset(f, 0, sizeof(*f));
	mail_hdr_iter_init(&it, d, p->hdr_start, p->hdr_end);
	while (mail_hdr_iter_next(&it, &h)) {
		if (h.name_len < 10 || strncasecmp(h.name, "content-", 8) != 0)
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
			bool *has = (bool *)((char *)f + map[i].boff);
			if (!*has && mail_hdr_name_is(&h, map[i].name)) {
				*(struct mail_hdr *)((char *)f + map[i].hoff) = h;
				*has = true;
				break;
			}
		}
	}
}

/* An unstructured field value, unfolded, or NIL. Trailing whitespace is
 * kept, as Dovecot does. */
static void write_value(struct strbuf *out, const char *d, const struct mail_hdr *h, bool has)
{
	if (!has) {
		strbuf_add(out, "NIL", 3);
		return;
	}
	struct strbuf v = STRBUF_INIT;
	mail_hdr_unfold(d, h, &v);
	quote_string(out, v.s ? v.s : "", v.len);
	strbuf_free(&v);
}

/* body-fld-param: NIL or ("name" "value" ...). */
static void write_params(struct strbuf *out, const struct mail_params *ps, bool default_charset)
{
	bool seen_charset = false;
	if (ps->n == 0 && !default_charset) {
		strbuf_add(out, "NIL", 3);
		return;
	}
	strbuf_addc(out, '(');
	for (size_t i = 0; i < ps->n; i++) {
		if (i > 0)
			strbuf_addc(out, ' ');
		if (strcasecmp(ps->v[i].name, "charset") == 0)
			seen_charset = true;
		quote_string(out, ps->v[i].name, strlen(ps->v[i].name));
		strbuf_addc(out, ' ');
		quote_string(out, ps->v[i].value, strlen(ps->v[i].value));
	}
	if (default_charset && !seen_charset) {
		if (ps->n > 0)
			strbuf_addc(out, ' ');
		strbuf_adds(out, "\"charset\" \"us-ascii\"");
	}
	strbuf_addc(out, ')');
}

/* body-fld-dsp = "(" string SP body-fld-param ")" / nil */
static void write_disposition(struct strbuf *out, const char *d, const struct mime_fields *f)
{
	char *tok = NULL;
	struct mail_params ps = { 0 };
	if (f->has_dsp)
		mail_disposition_parse(d + f->dsp.value_start, f->dsp.end - f->dsp.value_start, &tok,
				       &ps);
	if (!tok) {
		strbuf_add(out, "NIL", 3);
	} else {
		strbuf_addc(out, '(');
		quote_string(out, tok, strlen(tok));
		strbuf_addc(out, ' ');
		write_params(out, &ps, false);
		strbuf_addc(out, ')');
	}
	free(tok);
	mail_params_free(&ps);
}

/* body-fld-lang = nstring / "(" string *(SP string) ")": Dovecot always
 * sends the list form. RFC 3282: comma-separated language tags. */
static void write_language(struct strbuf *out, const char *d, const struct mime_fields *f)
{
	size_t n = 0;
	if (f->has_lang) {
		const char *s = d + f->lang.value_start, *e = d + f->lang.end;
		while (s < e) {
			/* 1#Language-tag: commas between CFWS (RFC 3282 2). */
			mail_cfws_skip(&s, e, NULL);
			if (s < e && *s == ',') {
				s++;
				continue;
			}
			const char *t = s;
			while (s < e && *s != ',' && *s != ' ' && *s != '\t' && *s != '\r' &&
			       *s != '\n' && *s != '(')
				s++;
			if (s == t)
				continue;
			strbuf_addc(out, n++ == 0 ? '(' : ' ');
			quote_string(out, t, (size_t)(s - t));
		}
	}
	if (n == 0)
		strbuf_add(out, "NIL", 3);
	else
		strbuf_addc(out, ')');
}

static void write_part(struct strbuf *out, const char *d, const struct mail_part *p, bool ext);

static void write_multipart(struct strbuf *out, const char *d, const struct mail_part *p,
			    const struct mime_fields *f, const struct mail_params *ps, bool ext)
{
	strbuf_addc(out, '(');
	if (!p->children)
		strbuf_adds(out, ext ? EMPTY_BODYSTRUCTURE : EMPTY_BODY);
	for (const struct mail_part *c = p->children; c; c = c->next)
		write_part(out, d, c, ext);
	strbuf_addc(out, ' ');
	quote_string(out, p->subtype, strlen(p->subtype));
	if (ext) {
		strbuf_addc(out, ' ');
		write_params(out, ps, false);
		strbuf_addc(out, ' ');
		write_disposition(out, d, f);
		strbuf_addc(out, ' ');
		write_language(out, d, f);
		strbuf_addc(out, ' ');
		write_value(out, d, &f->loc, f->has_loc);
	}
	strbuf_addc(out, ')');
}

static void write_single(struct strbuf *out, const char *d, const struct mail_part *p,
			 const struct mime_fields *f, const struct mail_params *ps, bool ext)
{
	bool text = strcasecmp(p->type, "text") == 0;
	strbuf_addc(out, '(');
	quote_string(out, p->type, strlen(p->type));
	strbuf_addc(out, ' ');
	quote_string(out, p->subtype, strlen(p->subtype));
	strbuf_addc(out, ' ');
	write_params(out, ps, text);
	strbuf_addc(out, ' ');
	write_value(out, d, &f->id, f->has_id);
	strbuf_addc(out, ' ');
	write_value(out, d, &f->desc, f->has_desc);
	strbuf_addc(out, ' ');
	char *cte = f->has_cte ? mail_hdr_token(d + f->cte.value_start, f->cte.end - f->cte.value_start)
			       : NULL;
	if (cte)
		quote_string(out, cte, strlen(cte));
	else
		strbuf_adds(out, "\"7bit\"");
	free(cte);
	strbuf_addf(out, " %zu", p->body_end - p->body_start);
	if (p->kind == MAIL_PART_MESSAGE && p->children) {
		/* RFC 9051 7.5.2: envelope, body and size in lines of the
		 * encapsulated message. */
		strbuf_addc(out, ' ');
		mail_envelope_write_part(out, d, p->children);
		strbuf_addc(out, ' ');
		write_part(out, d, p->children, ext);
		strbuf_addf(out, " %zu", p->body_lines);
	} else if (text) {
		strbuf_addf(out, " %zu", p->body_lines);
	}
	if (ext) {
		strbuf_addc(out, ' ');
		write_value(out, d, &f->md5, f->has_md5);
		strbuf_addc(out, ' ');
		write_disposition(out, d, f);
		strbuf_addc(out, ' ');
		write_language(out, d, f);
		strbuf_addc(out, ' ');
		write_value(out, d, &f->loc, f->has_loc);
	}
	strbuf_addc(out, ')');
}

static void write_part(struct strbuf *out, const char *d, const struct mail_part *p, bool ext)
{
	struct mime_fields f;
	struct mail_params ps = { 0 };
	fields_collect(d, p, &f);
	if (f.has_ct && !p->type_defaulted) {
		char *t, *st;
		mail_content_type_parse(d + f.ct.value_start, f.ct.end - f.ct.value_start, &t, &st, &ps);
		free(t);
		free(st);
	}
	if (p->kind == MAIL_PART_MULTIPART)
		write_multipart(out, d, p, &f, &ps, ext);
	else
		write_single(out, d, p, &f, &ps, ext);
	mail_params_free(&ps);
}

void mail_write_bodystructure(struct strbuf *out, const struct mail_msg *m, bool extended)
{
	write_part(out, m->data, m->root, extended);
}
