/* The decoders of src/mail: quoted-printable (RFC 2045 6.7), RFC 2047
 * encoded words, and charset conversion to UTF-8. They work on byte
 * strings and know nothing of messages, parts or header fields, so every
 * other file of src/mail may call them and they call nothing back: this
 * file depends only on core/ (base64 is core/base64.c). That keeps the
 * call graph of src/mail free of cycles (header.c, section.c and
 * bodytext.c used to call each other's decoders). */
#include "mail/decode.h"

#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"

/* ---- charsets ---- */

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

/* ---- transfer encodings ---- */

bool mail_cte_decode(enum mail_cte cte, const char *s, size_t len, struct strbuf *out)
{
	switch (cte) {
	case MAIL_CTE_IDENTITY:
		strbuf_add(out, s, len);
		return true;
	case MAIL_CTE_BASE64:
		base64_decode_lenient(s, len, out);
		return true;
	case MAIL_CTE_QP:
		mail_qp_decode(s, len, false, out);
		return true;
	case MAIL_CTE_UNKNOWN:
		break;
	}
	return false;
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void mail_qp_decode(const char *s, size_t len, bool header, struct strbuf *out)
{
	strbuf_grow(out, len);
	size_t i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c == '=') {
			int h1 = i + 1 < len ? hex_value((unsigned char)s[i + 1]) : -1;
			int h2 = i + 2 < len ? hex_value((unsigned char)s[i + 2]) : -1;
			if (h1 >= 0 && h2 >= 0) {
				strbuf_addc(out, (char)(h1 * 16 + h2));
				i += 3;
				continue;
			}
			/* RFC 2045 6.7 (5): a soft line break, with any
			 * transport padding before the line end. */
			size_t j = i + 1;
			while (j < len && (s[j] == ' ' || s[j] == '\t'))
				j++;
			if (j < len && s[j] == '\r' && j + 1 < len && s[j + 1] == '\n') {
				i = j + 2;
				continue;
			}
			if (j < len && s[j] == '\n') {
				i = j + 1;
				continue;
			}
			if (j >= len) {
				i = j;
				continue;
			}
			/* Not a valid escape: keep it literally (6.7 note 1). */
			strbuf_addc(out, '=');
			i++;
			continue;
		}
		if (header && c == '_')
			c = ' ';
		if (!header && (c == ' ' || c == '\t')) {
			/* 6.7 (3): trailing whitespace on a line is padding. */
			size_t j = i;
			while (j < len && (s[j] == ' ' || s[j] == '\t'))
				j++;
			if (j >= len || s[j] == '\n' || (s[j] == '\r' && j + 1 < len && s[j + 1] == '\n')) {
				i = j;
				continue;
			}
			strbuf_add(out, s + i, j - i);
			i = j;
			continue;
		}
		strbuf_addc(out, (char)c);
		i++;
	}
}

/* ---- RFC 2047 ---- */

/* Parses one encoded-word "=?charset?E?text?=" at s[0..len) (s[0..2) is
 * "=?"); on success decodes it into out and returns its length, else 0. */
static size_t rfc2047_word(const char *s, size_t len, struct strbuf *out)
{
	size_t i = 2;
	size_t cs = i;
	while (i < len && s[i] != '?' && s[i] != ' ' && s[i] != '\t')
		i++;
	if (i >= len || s[i] != '?' || i == cs || i - cs > 64)
		return 0;
	size_t csend = i;
	if (i + 3 >= len || s[i + 2] != '?')
		return 0;
	char enc = s[i + 1];
	if (enc != 'B' && enc != 'b' && enc != 'Q' && enc != 'q')
		return 0;
	/* RFC 2047 2: encoded-text holds no '?' and no space. */
	size_t ts = i + 3, te = ts;
	while (te < len && s[te] != '?' && s[te] != ' ' && s[te] != '\t')
		te++;
	if (te + 1 >= len || s[te] != '?' || s[te + 1] != '=')
		return 0;
	/* RFC 2231 5: "charset*language". */
	char charset[65];
	size_t cn = csend - cs;
	memcpy(charset, s + cs, cn);
	charset[cn] = '\0';
	char *star = strchr(charset, '*');
	if (star)
		*star = '\0';
	struct strbuf raw = STRBUF_INIT;
	if (enc == 'B' || enc == 'b')
		base64_decode_lenient(s + ts, te - ts, &raw);
	else
		mail_qp_decode(s + ts, te - ts, true, &raw);
	mail_charset_to_utf8(charset, raw.s ? raw.s : "", raw.len, out);
	strbuf_free(&raw);
	return te + 2;
}

/* Text outside encoded words should be ASCII (RFC 5322) but real mail has
 * raw 8-bit headers: kept when valid UTF-8 (RFC 6532), else read as
 * ISO-8859-1, the most common legacy case, so SEARCH still gets UTF-8. */
static void flush_raw(struct strbuf *raw, struct strbuf *out)
{
	if (raw->len == 0)
		return;
	bool ascii = true;
	for (size_t i = 0; ascii && i < raw->len; i++)
		ascii = (unsigned char)raw->s[i] < 0x80;
	if (ascii) {
		strbuf_add(out, raw->s, raw->len);
	} else {
		struct strbuf u = STRBUF_INIT;
		mail_charset_to_utf8("utf-8", raw->s, raw->len, &u);
		/* The sanitizer replaced something: it wasn't UTF-8. */
		if (memmem(u.s, u.len, "\xef\xbf\xbd", 3) && !memmem(raw->s, raw->len, "\xef\xbf\xbd", 3)) {
			strbuf_reset(&u);
			mail_charset_to_utf8("ISO-8859-1", raw->s, raw->len, &u);
		}
		strbuf_add(out, u.s, u.len);
		strbuf_free(&u);
	}
	strbuf_reset(raw);
}

void mail_rfc2047_decode(const char *s, size_t len, struct strbuf *out)
{
	struct strbuf raw = STRBUF_INIT;
	struct strbuf word = STRBUF_INIT;
	size_t i = 0;
	bool after_word = false; /* only whitespace since the last encoded word */
	strbuf_adds(out, "");
	while (i < len) {
		if (s[i] == '=' && i + 1 < len && s[i + 1] == '?') {
			strbuf_reset(&word);
			size_t n = rfc2047_word(s + i, len - i, &word);
			if (n) {
				flush_raw(&raw, out);
				strbuf_add(out, word.s, word.len);
				i += n;
				after_word = true;
				continue;
			}
		}
		if (after_word && (s[i] == ' ' || s[i] == '\t')) {
			/* RFC 2047 6.2: whitespace between adjacent encoded
			 * words is not displayed. Hold it back until we know
			 * what follows. */
			size_t j = i;
			while (j < len && (s[j] == ' ' || s[j] == '\t'))
				j++;
			if (j + 1 < len && s[j] == '=' && s[j + 1] == '?') {
				strbuf_reset(&word);
				size_t n = rfc2047_word(s + j, len - j, &word);
				if (n) {
					strbuf_add(out, word.s, word.len);
					i = j + n;
					continue;
				}
			}
			strbuf_add(&raw, s + i, j - i);
			i = j;
			after_word = false;
			continue;
		}
		after_word = false;
		strbuf_addc(&raw, s[i]);
		i++;
	}
	flush_raw(&raw, out);
	strbuf_free(&raw);
	strbuf_free(&word);
}
