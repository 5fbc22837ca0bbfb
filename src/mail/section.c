/* FETCH BODY[section] and BINARY[section]: parsing the section-spec
 * (RFC 9051 section 9) and slicing the message by the offsets the parser
 * recorded (RFC 9051 6.4.5). Transfer decoding for BINARY (RFC 3516) lives
 * here too. */
#include "mail/mail.h"
#include "mail/decode.h"
#include "mail/mime_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

/* Bounds a HEADER.FIELDS list; no real client sends more. */
#define SECTION_MAX_FIELDS 1000

/* ---- section-spec parsing ---- */

struct sp {
	const char *p, *e;
};

static bool sp_keyword(struct sp *s, const char *kw)
{
	size_t n = strlen(kw);
	if ((size_t)(s->e - s->p) < n || strncasecmp(s->p, kw, n) != 0)
		return false;
	s->p += n;
	return true;
}

/* RFC 9051 9: ASTRING-CHAR = ATOM-CHAR / resp-specials. */
static bool is_astring_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\", c) == NULL;
}

/* header-fld-name = astring: atom, quoted string or literal. */
static char *sp_astring(struct sp *s)
{
	if (s->p >= s->e)
		return NULL;
	if (*s->p == '"') {
		struct strbuf b = STRBUF_INIT;
		strbuf_adds(&b, "");
		s->p++;
		while (s->p < s->e && *s->p != '"') {
			char c = *s->p++;
			if (c == '\\') {
				if (s->p >= s->e || (*s->p != '"' && *s->p != '\\'))
					goto bad;
				c = *s->p++;
			} else if (c == '\r' || c == '\n') {
				goto bad;
			}
			strbuf_addc(&b, c);
		}
		if (s->p >= s->e)
			goto bad;
		s->p++;
		return strbuf_detach(&b, NULL);
bad:
		strbuf_free(&b);
		return NULL;
	}
	if (*s->p == '{') {
		/* {n}CRLF or {n+}CRLF followed by n bytes. */
		const char *q = s->p + 1, *ds = q;
		while (q < s->e && *q >= '0' && *q <= '9')
			q++;
		uint32_t n;
		if (parse_u32(ds, (size_t)(q - ds), &n) < 0)
			return NULL;
		if (q < s->e && *q == '+')
			q++;
		if (s->e - q < 3 || q[0] != '}' || q[1] != '\r' || q[2] != '\n')
			return NULL;
		q += 3;
		if ((size_t)(s->e - q) < n)
			return NULL;
		s->p = q + n;
		return xstrndup(q, n);
	}
	const char *st = s->p;
	while (s->p < s->e && is_astring_char((unsigned char)*s->p) && *s->p != ')')
		s->p++;
	if (s->p == st)
		return NULL;
	return xstrndup(st, (size_t)(s->p - st));
}

static int parse_header_list(struct sp *s, struct mail_section *out)
{
	size_t cap = 0;
	if (s->p >= s->e || *s->p != ' ')
		return -1;
	s->p++;
	if (s->p >= s->e || *s->p != '(')
		return -1;
	s->p++;
	for (;;) {
		if (out->nfields >= SECTION_MAX_FIELDS)
			return -1;
		char *f = sp_astring(s);
		if (!f)
			return -1;
		xgrow((void **)&out->fields, &cap, out->nfields + 1, sizeof(*out->fields));
		out->fields[out->nfields++] = f;
		if (s->p < s->e && *s->p == ')') {
			s->p++;
			return 0;
		}
		if (s->p >= s->e || *s->p != ' ')
			return -1;
		s->p++;
	}
}

/* section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT" */
static int parse_msgtext(struct sp *s, struct mail_section *out, bool allow_mime)
{
	if (sp_keyword(s, "HEADER.FIELDS.NOT")) {
		out->kind = MAIL_SECTION_HEADER_FIELDS_NOT;
		return parse_header_list(s, out);
	}
	if (sp_keyword(s, "HEADER.FIELDS")) {
		out->kind = MAIL_SECTION_HEADER_FIELDS;
		return parse_header_list(s, out);
	}
	if (sp_keyword(s, "HEADER")) {
		out->kind = MAIL_SECTION_HEADER;
		return 0;
	}
	if (sp_keyword(s, "TEXT")) {
		out->kind = MAIL_SECTION_TEXT;
		return 0;
	}
	if (allow_mime && sp_keyword(s, "MIME")) {
		out->kind = MAIL_SECTION_MIME;
		return 0;
	}
	return -1;
}

int mail_section_parse(const char *spec, size_t len, struct mail_section *out)
{
	memset(out, 0, sizeof(*out));
	struct sp s = { spec, spec + len };
	out->kind = MAIL_SECTION_ALL;
	if (len == 0)
		return 0;
	int r = -1;
	if (*s.p >= '0' && *s.p <= '9') {
		/* section-part = nz-number *("." nz-number) */
		for (;;) {
			const char *d = s.p;
			while (s.p < s.e && *s.p >= '0' && *s.p <= '9')
				s.p++;
			uint32_t n;
			if (s.p == d || *d == '0' || parse_u32(d, (size_t)(s.p - d), &n) < 0)
				goto out;
			if (out->nparts >= MAIL_MAX_SECTION_PARTS)
				goto out;
			out->part[out->nparts++] = n;
			if (s.p >= s.e) {
				r = 0;
				goto out;
			}
			if (*s.p != '.')
				goto out;
			s.p++;
			if (s.p < s.e && (*s.p < '0' || *s.p > '9'))
				break;
		}
		if (parse_msgtext(&s, out, true) < 0)
			goto out;
	} else if (parse_msgtext(&s, out, false) < 0) {
		goto out;
	}
	r = s.p == s.e ? 0 : -1;
out:
	if (r < 0)
		mail_section_free(out);
	return r;
}

void mail_section_free(struct mail_section *s)
{
	for (size_t i = 0; i < s->nfields; i++)
		free(s->fields[i]);
	free(s->fields);
	s->fields = NULL;
	s->nfields = 0;
}

/* ---- fetching ---- */

static bool field_listed(const struct mail_section *s, const struct mail_hdr *h)
{
	for (size_t i = 0; i < s->nfields; i++)
		if (mail_hdr_name_is(h, s->fields[i]))
			return true;
	return false;
}

/* RFC 9051 6.4.5: HEADER.FIELDS(.NOT) is the subset of header lines, in
 * their original form and order, followed by the blank line. */
static void fetch_fields(const char *d, size_t hs, size_t he, const struct mail_section *s,
			 struct strbuf *out)
{
	struct mail_hdr_iter it;
	struct mail_hdr h;
	bool want = s->kind == MAIL_SECTION_HEADER_FIELDS;
	strbuf_adds(out, "");
	mail_hdr_iter_init(&it, d, hs, he);
	while (mail_hdr_iter_next(&it, &h)) {
		if (field_listed(s, &h) != want)
			continue;
		strbuf_add(out, d + h.start, h.end - h.start);
		/* The last field of a header block cut by the end of data
		 * has no line break of its own. */
		if (d[h.end - 1] != '\n')
			strbuf_add(out, "\r\n", 2);
	}
	strbuf_add(out, "\r\n", 2);
}

int mail_section_fetch(const struct mail_msg *m, const struct mail_section *s, struct strbuf *out)
{
	const char *d = m->data;
	strbuf_adds(out, "");
	const struct mail_part *p = mail_part_find(m, s->part, s->nparts);
	if (!p)
		return 0;
	if (s->kind == MAIL_SECTION_ALL) {
		if (s->nparts == 0)
			strbuf_add(out, d, m->len);
		else
			strbuf_add(out, d + p->body_start, p->body_end - p->body_start);
		return 0;
	}
	if (s->kind == MAIL_SECTION_MIME) {
		strbuf_add(out, d + p->hdr_start, p->hdr_end - p->hdr_start);
		return 0;
	}
	/* RFC 9051 6.4.5: HEADER/TEXT after a part number address the
	 * message encapsulated in a message/rfc822 (or message/global) part. */
	if (s->nparts > 0) {
		if (p->kind != MAIL_PART_MESSAGE || !p->children)
			return 0;
		p = p->children;
	}
	switch (s->kind) {
	case MAIL_SECTION_HEADER:
		strbuf_add(out, d + p->hdr_start, p->hdr_end - p->hdr_start);
		break;
	case MAIL_SECTION_TEXT:
		strbuf_add(out, d + p->body_start, p->body_end - p->body_start);
		break;
	case MAIL_SECTION_HEADER_FIELDS:
	case MAIL_SECTION_HEADER_FIELDS_NOT:
		fetch_fields(d, p->hdr_start, p->hdr_end, s, out);
		break;
	default:
		break;
	}
	return 0;
}

bool mail_section_is_range(const struct mail_section *s)
{
	return s->nparts == 0 && (s->kind == MAIL_SECTION_ALL || s->kind == MAIL_SECTION_HEADER ||
				  s->kind == MAIL_SECTION_TEXT);
}

/* The end of the top-level header block as mime.c's parse_header finds
 * it with no enclosing boundary: after the first empty line (CRLF, or a
 * bare LF), else the end of data. The top-level body always runs to the
 * end of data. */
static size_t top_header_end(const char *d, size_t len)
{
	size_t p = 0;
	while (p < len) {
		const char *nl = memchr(d + p, '\n', len - p);
		size_t e = nl ? (size_t)(nl - d) + 1 : len;
		if ((e - p == 1 && d[p] == '\n') || (e - p == 2 && d[p] == '\r' && d[p + 1] == '\n'))
			return e;
		p = e;
	}
	return len;
}

bool mail_section_range(const struct mail_section *s, const char *data, size_t len, size_t *off,
			size_t *n)
{
	if (!mail_section_is_range(s))
		return false;
	size_t hend = s->kind == MAIL_SECTION_ALL || !data ? 0 : top_header_end(data, len);
	*off = s->kind == MAIL_SECTION_TEXT ? hend : 0;
	*n = s->kind == MAIL_SECTION_ALL ? len : s->kind == MAIL_SECTION_HEADER ? hend : len - hend;
	return true;
}

/* ---- transfer decoding ---- */

enum mail_cte mail_part_cte(const char *d, const struct mail_part *p)
{
	struct mail_hdr h;
	if (!mail_part_hdr_find(d, p, "Content-Transfer-Encoding", &h))
		return MAIL_CTE_IDENTITY;
	char *t = mail_hdr_token(d + h.value_start, h.end - h.value_start);
	enum mail_cte r;
	if (!t)
		r = MAIL_CTE_IDENTITY; /* empty: the RFC 2045 6.1 default */
	else if (strcasecmp(t, "7bit") == 0 || strcasecmp(t, "8bit") == 0 ||
		 strcasecmp(t, "binary") == 0)
		r = MAIL_CTE_IDENTITY;
	else if (strcasecmp(t, "base64") == 0)
		r = MAIL_CTE_BASE64;
	else if (strcasecmp(t, "quoted-printable") == 0)
		r = MAIL_CTE_QP;
	else
		r = MAIL_CTE_UNKNOWN;
	free(t);
	return r;
}

int mail_binary_fetch(const struct mail_msg *m, const uint32_t *part, size_t nparts,
		      struct strbuf *out)
{
	const struct mail_part *p = mail_part_find(m, part, nparts);
	if (!p)
		return 1;
	strbuf_adds(out, "");
	if (nparts == 0) {
		/* BINARY[] is the whole message: its header can't be
		 * transfer-decoded, so it goes out as stored. */
		strbuf_add(out, m->data, m->len);
		return 0;
	}
	const char *body = m->data + p->body_start;
	size_t blen = p->body_end - p->body_start;
	/* RFC 2045 6.4: a multipart or message part may only be 7bit, 8bit
	 * or binary, so its body is sent as is. */
	enum mail_cte cte = p->kind == MAIL_PART_LEAF ? mail_part_cte(m->data, p) : MAIL_CTE_IDENTITY;
	return mail_cte_decode(cte, body, blen, out) ? 0 : -1;
}
