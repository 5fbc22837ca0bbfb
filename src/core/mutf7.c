/* Modified UTF-7 mailbox names (RFC 3501 5.1.3) for IMAP4rev1 sessions,
 * and what such a session's raw UTF-8 name means. */
#include "core/mutf7.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Reads one code point from UTF-8; returns bytes used or 0 on error. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	size_t n;
	uint32_t c, min;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static void utf8_put(struct strbuf *out, uint32_t c)
{
	char b[4];
	size_t n;
	if (c < 0x80) {
		b[0] = (char)c, n = 1;
	} else if (c < 0x800) {
		b[0] = (char)(0xc0 | (c >> 6)), b[1] = (char)(0x80 | (c & 0x3f)), n = 2;
	} else if (c < 0x10000) {
		b[0] = (char)(0xe0 | (c >> 12)), b[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		b[2] = (char)(0x80 | (c & 0x3f)), n = 3;
	} else {
		b[0] = (char)(0xf0 | (c >> 18)), b[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((c >> 6) & 0x3f)), b[3] = (char)(0x80 | (c & 0x3f)), n = 4;
	}
	strbuf_add(out, b, n);
}

int mutf7_encode(const char *utf8, struct strbuf *out)
{
	const unsigned char *s = (const unsigned char *)utf8;
	while (*s) {
		if (*s >= 0x20 && *s < 0x7f) {
			if (*s == '&')
				strbuf_add(out, "&-", 2);
			else
				strbuf_addc(out, (char)*s);
			s++;
			continue;
		}
		/* A run of non-printable-ASCII characters as UTF-16 in base64. */
		strbuf_addc(out, '&');
		uint32_t bits = 0;
		int nbits = 0;
		while (*s && !(*s >= 0x20 && *s < 0x7f)) {
			uint32_t cp;
			size_t n = utf8_next(s, &cp);
			if (!n)
				return -1;
			s += n;
			uint16_t units[2];
			int nu = 1;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				units[0] = (uint16_t)(0xd800 | (cp >> 10));
				units[1] = (uint16_t)(0xdc00 | (cp & 0x3ff));
				nu = 2;
			} else {
				units[0] = (uint16_t)cp;
			}
			for (int i = 0; i < nu; i++) {
				bits = (bits << 16) | units[i];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					strbuf_addc(out, b64chars[(bits >> nbits) & 0x3f]);
				}
			}
		}
		if (nbits > 0)
			strbuf_addc(out, b64chars[(bits << (6 - nbits)) & 0x3f]);
		strbuf_addc(out, '-');
	}
	return 0;
}

static int b64val(unsigned char c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;
	return p ? (int)(p - b64chars) : -1;
}

int mutf7_decode(const char *in, struct strbuf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	while (*s) {
		if (*s >= 0x80 || *s < 0x20)
			return -1;
		if (*s != '&') {
			strbuf_addc(out, (char)*s++);
			continue;
		}
		s++;
		if (*s == '-') {
			strbuf_addc(out, '&');
			s++;
			continue;
		}
		uint32_t bits = 0;
		int nbits = 0;
		uint32_t high = 0;
		size_t produced = 0;
		while (*s && *s != '-') {
			int v = b64val(*s++);
			if (v < 0)
				return -1;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits >= 16) {
				nbits -= 16;
				uint32_t u = (bits >> nbits) & 0xffff;
				if (high) {
					if (u < 0xdc00 || u > 0xdfff)
						return -1;
					utf8_put(out, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
					high = 0;
				} else if (u >= 0xd800 && u <= 0xdbff) {
					high = u;
				} else if (u >= 0xdc00 && u <= 0xdfff) {
					return -1;
				} else {
					/* Printable ASCII must not be base64-encoded. */
					if (u >= 0x20 && u < 0x7f)
						return -1;
					utf8_put(out, u);
				}
				produced++;
			}
		}
		if (*s != '-' || high || produced == 0 || nbits >= 6 ||
		    (bits & ((1u << nbits) - 1)) != 0)
			return -1;
		s++;
	}
	return 0;
}

/* ext (issue #12): a rev1 client that sends a raw UTF-8 name (alpine
 * does) means that name: modified UTF-7 never has 8-bit bytes, so a name
 * with them and without '&' is unambiguous. Anything else must be
 * modified UTF-7 (RFC 3501 5.1.3). */
int mutf7_decode_rev1(const char *in, struct strbuf *out)
{
	bool eight_bit = false;
	for (const unsigned char *s = (const unsigned char *)in; *s; s++)
		if (*s >= 0x80)
			eight_bit = true;
	if (!eight_bit || strchr(in, '&'))
		return mutf7_decode(in, out);
	for (const unsigned char *s = (const unsigned char *)in; *s;) {
		uint32_t cp;
		size_t n = utf8_next(s, &cp);
		if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) /* controls, C1 too */
			return -1;
		s += n;
	}
	strbuf_adds(out, in);
	return 0;
}
