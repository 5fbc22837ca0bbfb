#include "core/strbuf.h"
#include "core/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_grow(struct strbuf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len - 1)
		fatal("strbuf overflow");
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	b->s = xrealloc(b->s, ncap);
	b->cap = ncap;
}

void strbuf_add(struct strbuf *b, const void *p, size_t n)
{
	strbuf_grow(b, n);
	if (n)
		memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void strbuf_adds(struct strbuf *b, const char *s)
{
	strbuf_add(b, s, strlen(s));
}

void strbuf_addc(struct strbuf *b, char c)
{
	strbuf_grow(b, 1);
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
}

void strbuf_addf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	char tmp[256];
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		strbuf_add(b, tmp, (size_t)n);
		return;
	}
	strbuf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

size_t strbuf_fmt_u64(char *out, uint64_t v)
{
	char tmp[STRBUF_U64_MAX];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	memcpy(out, tmp + i, sizeof(tmp) - i);
	return sizeof(tmp) - i;
}

void strbuf_add_u64(struct strbuf *b, uint64_t v)
{
	strbuf_grow(b, STRBUF_U64_MAX);
	b->len += strbuf_fmt_u64(b->s + b->len, v);
	b->s[b->len] = '\0';
}

void strbuf_truncate(struct strbuf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->s[len] = '\0';
	}
}

void strbuf_reset(struct strbuf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

void strbuf_free(struct strbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

char *strbuf_detach(struct strbuf *b, size_t *len)
{
	char *s = b->s ? b->s : xstrdup("");
	if (len)
		*len = b->len;
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

const char *strbuf_cstr(const struct strbuf *b)
{
	return b->s ? b->s : "";
}
