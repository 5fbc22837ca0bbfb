#include "core/quote.h"

#include <stdio.h>
#include <strings.h>
#include <string.h>

/* Quoted strings longer than this go out as literals: some clients have
 * line-length limits of their own. */
#define QUOTE_MAX 1024

static bool is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){ %*\"\\]", c) == NULL;
}

static void add_literal(struct strbuf *out, const char *s, size_t len)
{
	strbuf_addf(out, "{%zu}\r\n", len);
	strbuf_add(out, s, len);
}

void quote_string_utf8(struct strbuf *out, const char *s, size_t len, bool utf8_ok)
{
	bool quotable = len <= QUOTE_MAX;
	for (size_t i = 0; quotable && i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8_ok))
			quotable = false;
	}
	if (!quotable) {
		add_literal(out, s, len);
		return;
	}
	strbuf_grow(out, len + 2);
	strbuf_addc(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			strbuf_addc(out, '\\');
		strbuf_addc(out, s[i]);
	}
	strbuf_addc(out, '"');
}

void quote_string(struct strbuf *out, const char *s, size_t len)
{
	quote_string_utf8(out, s, len, false);
}

void quote_nstring(struct strbuf *out, const char *s, size_t len)
{
	if (!s)
		strbuf_add(out, "NIL", 3);
	else
		quote_string(out, s, len);
}

void quote_astring(struct strbuf *out, const char *s, size_t len)
{
	bool atom = len > 0 && len <= QUOTE_MAX;
	for (size_t i = 0; atom && i < len; i++)
		atom = is_atom_char((unsigned char)s[i]);
	/* "NIL" as a bare atom would read as nil. */
	if (atom && !(len == 3 && strncasecmp(s, "NIL", 3) == 0))
		strbuf_add(out, s, len);
	else
		quote_string(out, s, len);
}
