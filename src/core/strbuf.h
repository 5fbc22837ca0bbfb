/* A growable byte buffer, always NUL-terminated once anything was added.
 * The owner frees it with strbuf_free(). */
#ifndef RAMPART_CORE_STRBUF_H
#define RAMPART_CORE_STRBUF_H

#include <stddef.h>
#include <stdint.h>

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
/* The decimal digits of v, without printf's parsing and locale work: the
 * one formatter of the hot paths (FETCH lines, sequence sets, counts).
 * strbuf_fmt_u64 writes them, unterminated, into out and returns how
 * many: never more than STRBUF_U64_MAX, never more than 10 for a value
 * that fits in 32 bits. */
#define STRBUF_U64_MAX 20
size_t strbuf_fmt_u64(char *out, uint64_t v);
void strbuf_add_u64(struct strbuf *b, uint64_t v);
void strbuf_truncate(struct strbuf *b, size_t len);
void strbuf_reset(struct strbuf *b);
void strbuf_free(struct strbuf *b);
/* Hands the buffer to the caller (free() it); b is left empty. */
char *strbuf_detach(struct strbuf *b, size_t *len);
/* The contents as a C string; "" when empty. */
const char *strbuf_cstr(const struct strbuf *b);

#endif
