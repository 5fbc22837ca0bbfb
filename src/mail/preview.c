/* Preview text (mail/preview.h, RFC 8970). Owns the choice of the part a
 * preview is taken from and the reduction of its text to one short line.
 *
 * RFC 8970 3.3 leaves the algorithm to the server ("SHOULD remove any
 * formatting markup, and do whatever processing might be useful in
 * displaying the preview to the user, such as whitespace folding ...
 * and removal of quoted text"); what is done here, and why:
 *  - the part: the first text/plain leaf that is not an attachment,
 *    searched depth-first through multiparts (so multipart/alternative
 *    gives its plain version); failing that the first text/html one.
 *    Encapsulated messages (message/rfc822) are not looked into: their
 *    text is someone else's mail, not this message's.
 *  - decoding: transfer encoding and charset to UTF-8 by the same code as
 *    SEARCH (mail_part_text_utf8), over a bounded prefix of the part, so
 *    a huge part costs no more than a small one.
 *  - plain text: lines quoted with '>' are left out, as Dovecot does.
 *  - HTML: tags dropped (block tags count as a space), comments and the
 *    contents of <head>, <style> and <script> dropped, character
 *    references decoded.
 *  - every run of whitespace or control characters becomes one space,
 *    invisible characters (zero-width, soft hyphen, BOM) are dropped,
 *    invalid UTF-8 becomes U+FFFD, so the result is always valid UTF-8;
 *    cut at MAIL_PREVIEW_CHARS code points, never inside a sequence. */
#include "mail/preview.h"
#include "mail/mime_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

/* How much of a part's (encoded) body is decoded: enough for 200
 * characters after quoted lines, and after an HTML head full of CSS. */
#define PREVIEW_PLAIN_IN_MAX (32u * 1024)
#define PREVIEW_HTML_IN_MAX (256u * 1024)

/* ---- the output: one line of at most MAIL_PREVIEW_CHARS code points ---- */

struct pv_out {
	struct strbuf *out;
	size_t chars;
	bool space;  /* a space is due before the next visible character */
	bool full;
};

static void pv_space(struct pv_out *o)
{
	if (o->out->len > 0)
		o->space = true;
}

/* Appends code point c (0 < c <= 0x10FFFF). */
static void pv_cp(struct pv_out *o, uint32_t c)
{
	if (o->full)
		return;
	/* Whitespace and controls (C0, DEL, C1, NBSP, Unicode spaces). */
	if (c <= 0x20 || (c >= 0x7f && c <= 0xa0) || (c >= 0x2000 && c <= 0x200a) ||
	    c == 0x2028 || c == 0x2029 || c == 0x3000 || c == 0x202f || c == 0x205f) {
		pv_space(o);
		return;
	}
	/* Invisible: soft hyphen, combining grapheme joiner (padding in
	 * newsletter pre-headers), zero-width space/joiners, BOM. */
	if (c == 0xad || c == 0x34f || (c >= 0x200b && c <= 0x200d) || c == 0x2060 ||
	    c == 0xfeff)
		return;
	if (c >= 0xd800 && c <= 0xdfff)
		c = 0xfffd;
	if (o->chars + (o->space ? 1 : 0) >= MAIL_PREVIEW_CHARS) {
		o->full = true;
		return;
	}
	if (o->space) {
		strbuf_addc(o->out, ' ');
		o->chars++;
		o->space = false;
	}
	char u[4];
	size_t n;
	if (c < 0x80) {
		u[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		u[0] = (char)(0xc0 | (c >> 6));
		u[1] = (char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		u[0] = (char)(0xe0 | (c >> 12));
		u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (c >> 18));
		u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[3] = (char)(0x80 | (c & 0x3f));
		n = 4;
	}
	strbuf_add(o->out, u, n);
	o->chars++;
}

/* Decodes one UTF-8 sequence at s[0..len) (len > 0) into *c; returns its
 * length. An invalid or overlong sequence is U+FFFD of length 1. */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *c)
{
	unsigned char b = s[0];
	size_t n;
	uint32_t v, min;
	if (b < 0x80) {
		*c = b;
		return 1;
	} else if (b >= 0xc2 && b <= 0xdf) {
		n = 2, v = b & 0x1f, min = 0x80;
	} else if (b >= 0xe0 && b <= 0xef) {
		n = 3, v = b & 0x0f, min = 0x800;
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 4, v = b & 0x07, min = 0x10000;
	} else {
		*c = 0xfffd;
		return 1;
	}
	if (len < n) {
		*c = 0xfffd;
		return 1;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*c = 0xfffd;
			return 1;
		}
		v = (v << 6) | (s[i] & 0x3f);
	}
	*c = v < min || v > 0x10ffff ? 0xfffd : v;
	return n;
}

static void pv_text(struct pv_out *o, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len && !o->full) {
		uint32_t c;
		i += utf8_next(p + i, len - i, &c);
		pv_cp(o, c ? c : ' ');
	}
}

/* ---- text/plain ---- */

static void pv_plain(struct pv_out *o, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && !o->full) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - s) : len;
		size_t j = i;
		while (j < end && (s[j] == ' ' || s[j] == '\t'))
			j++;
		if (j >= end || s[j] != '>')
			pv_text(o, s + i, end - i);
		pv_space(o);
		i = end + 1;
	}
}

/* ---- text/html ---- */

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A case-insensitive search for needle (lower case) in s[from..len). */
static size_t find_ci(const char *s, size_t len, size_t from, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = from; i + n <= len; i++)
		if (strncasecmp(s + i, needle, n) == 0)
			return i;
	return len;
}

static const struct {
	const char *name;
	uint32_t cp;
} html_entities[] = {
	{ "amp", '&' },      { "lt", '<' },         { "gt", '>' },        { "quot", '"' },
	{ "apos", '\'' },    { "nbsp", 0xa0 },      { "shy", 0xad },      { "copy", 0xa9 },
	{ "reg", 0xae },     { "trade", 0x2122 },   { "hellip", 0x2026 }, { "ndash", 0x2013 },
	{ "mdash", 0x2014 }, { "lsquo", 0x2018 },   { "rsquo", 0x2019 },  { "ldquo", 0x201c },
	{ "rdquo", 0x201d }, { "bull", 0x2022 },    { "euro", 0x20ac },   { "zwnj", 0x200c },
	{ "zwj", 0x200d },   { "laquo", 0xab },     { "raquo", 0xbb },    { "middot", 0xb7 },
};

/* A character reference at s[i] == '&': its code point and length, or 0
 * when it is none (the '&' is then text). */
static size_t html_entity(const char *s, size_t len, size_t i, uint32_t *cp)
{
	size_t j = i + 1;
	if (j < len && s[j] == '#') {
		j++;
		bool hex = j < len && (s[j] == 'x' || s[j] == 'X');
		if (hex)
			j++;
		uint32_t v = 0;
		size_t digits = 0;
		for (; j < len && digits < 8; j++, digits++) {
			char c = s[j];
			int d = c >= '0' && c <= '9'		   ? c - '0'
				: hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
				: hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
							      : -1;
			if (d < 0)
				break;
			v = v * (hex ? 16 : 10) + (uint32_t)d;
		}
		if (digits == 0)
			return 0;
		*cp = v == 0 || v > 0x10ffff ? 0xfffd : v;
		return j - i + (j < len && s[j] == ';');
	}
	size_t k = j;
	while (k < len && k - j < 8 && is_alpha(s[k]))
		k++;
	for (size_t e = 0; e < ARRAY_SIZE(html_entities); e++) {
		if (strlen(html_entities[e].name) == k - j &&
		    memcmp(s + j, html_entities[e].name, k - j) == 0) {
			*cp = html_entities[e].cp;
			return k - i + (k < len && s[k] == ';');
		}
	}
	return 0;
}

/* Tags that separate text (as a space), and those whose contents are no
 * text at all. */
static bool tag_in(const char *name, size_t n, const char *const *set)
{
	for (; *set; set++)
		if (strlen(*set) == n && strncasecmp(name, *set, n) == 0)
			return true;
	return false;
}

static const char *const tags_block[] = { "br", "p", "div", "tr", "td", "th", "li", "ul", "ol",
					  "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
					  "blockquote", "pre", "body", "center", NULL };
static const char *const tags_skip[] = { "head", "style", "script", "title", NULL };

/* The end of the tag starting at s[i] == '<' (after its '>'), quoted
 * attribute values respected. */
static size_t tag_end(const char *s, size_t len, size_t i)
{
	char quote = 0;
	for (size_t j = i + 1; j < len; j++) {
		if (quote) {
			if (s[j] == quote)
				quote = 0;
		} else if (s[j] == '"' || s[j] == '\'') {
			quote = s[j];
		} else if (s[j] == '>') {
			return j + 1;
		}
	}
	return len;
}

static void pv_html(struct pv_out *o, const char *s, size_t len)
{
	size_t i = 0, text = 0;
	while (i < len && !o->full) {
		if (s[i] == '&') {
			uint32_t cp;
			size_t n = html_entity(s, len, i, &cp);
			if (n == 0) {
				i++;
				continue;
			}
			pv_text(o, s + text, i - text);
			pv_cp(o, cp);
			i += n;
			text = i;
			continue;
		}
		if (s[i] != '<' ||
		    !(i + 1 < len && (is_alpha(s[i + 1]) || s[i + 1] == '/' || s[i + 1] == '!'))) {
			i++;
			continue;
		}
		pv_text(o, s + text, i - text);
		if (len - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
			size_t e = find_ci(s, len, i + 4, "-->");
			i = e < len ? e + 3 : len;
		} else {
			bool closing = s[i + 1] == '/';
			size_t ns = i + 1 + (closing ? 1 : 0), ne = ns;
			while (ne < len && (is_alpha(s[ne]) || (s[ne] >= '0' && s[ne] <= '9')))
				ne++;
			i = tag_end(s, len, i);
			if (tag_in(s + ns, ne - ns, tags_block))
				pv_space(o);
			if (!closing && tag_in(s + ns, ne - ns, tags_skip)) {
				char close[16];
				snprintf(close, sizeof(close), "</%.*s", (int)(ne - ns), s + ns);
				size_t e = find_ci(s, len, i, close);
				i = e < len ? tag_end(s, len, e) : len;
			}
		}
		text = i;
	}
	if (!o->full && text < len)
		pv_text(o, s + text, len - text);
}

/* ---- choosing the part ---- */

static bool part_is_attachment(const struct mail_msg *m, const struct mail_part *p)
{
	struct mail_hdr h;
	if (!mail_part_hdr_find(m->data, p, "Content-Disposition", &h))
		return false;
	char *token = NULL;
	struct mail_params ps = { 0 };
	mail_disposition_parse(m->data + h.value_start, h.end - h.value_start, &token, &ps);
	bool att = token && ascii_ieq(token, "attachment");
	free(token);
	mail_params_free(&ps);
	return att;
}

/* The first leaf of type text/<subtype> under p (p itself included),
 * through multiparts only. */
static const struct mail_part *part_find(const struct mail_msg *m, const struct mail_part *p,
					 const char *subtype)
{
	if (p->kind == MAIL_PART_MULTIPART) {
		for (const struct mail_part *c = p->children; c; c = c->next) {
			const struct mail_part *f = part_find(m, c, subtype);
			if (f)
				return f;
		}
		return NULL;
	}
	if (p->kind == MAIL_PART_LEAF && ascii_ieq(p->type, "text") &&
	    ascii_ieq(p->subtype, subtype) && !part_is_attachment(m, p))
		return p;
	return NULL;
}

char *mail_preview_build(const struct mail_msg *m)
{
	struct strbuf out = STRBUF_INIT;
	strbuf_adds(&out, "");
	struct pv_out o = { &out, 0, false, false };
	const struct mail_part *p = part_find(m, m->root, "plain");
	bool html = false;
	if (!p) {
		p = part_find(m, m->root, "html");
		html = p != NULL;
	}
	if (p) {
		struct strbuf text = STRBUF_INIT;
		mail_part_text_utf8(m, p, html ? PREVIEW_HTML_IN_MAX : PREVIEW_PLAIN_IN_MAX, &text);
		if (html)
			pv_html(&o, text.s ? text.s : "", text.len);
		else
			pv_plain(&o, text.s ? text.s : "", text.len);
		strbuf_free(&text);
	}
	return strbuf_detach(&out, NULL);
}

char *mail_preview_compute(const char *data, size_t len)
{
	struct mail_msg *m = mail_parse(data, len);
	char *p = mail_preview_build(m);
	mail_msg_free(m);
	return p;
}
