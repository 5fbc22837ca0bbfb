/* A growable byte buffer, always NUL-terminated once anything was added.
 * The owner frees it with strbuf_free(). */
#ifndef RAMPART_CORE_STRBUF_H
#define RAMPART_CORE_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *s;
	size_t len;
	size_t cap;
};

#define STRBUF_INIT { NULL, 0, 0 }

void strbuf_grow(struct strbuf *b, size_t extra);
void strbuf_add(struct strbuf *b, const void *p, size_t n);
void strbuf_adds(struct strbuf *b, const char *s);
void strbuf_addc(struct strbuf *b, char c);
void strbuf_addf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_truncate(struct strbuf *b, size_t len);
void strbuf_reset(struct strbuf *b);
void strbuf_free(struct strbuf *b);
/* Hands the buffer to the caller (free() it); b is left empty. */
char *strbuf_detach(struct strbuf *b, size_t *len);
/* The contents as a C string; "" when empty. */
const char *strbuf_cstr(const struct strbuf *b);

#endif
