/* Sequence sets (RFC 9051 9 "sequence-set"): "1,3:5,7:*". Parsed into a
 * sorted list of disjoint ranges; '*' is resolved by the caller's value
 * (the highest sequence number or UID in the mailbox). "n:m" with n > m is
 * the same as "m:n". The '$' of SEARCHRES is the caller's to handle. */
#ifndef RAMPART_CORE_SEQSET_H
#define RAMPART_CORE_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"

struct seqrange {
	uint32_t lo, hi;
};

struct seqset {
	struct seqrange *r;
	size_t n, cap;
};

#define SEQSET_INIT { NULL, 0, 0 }

/* Parses s[0..len). star is what '*' means. Rejects 0, empty elements and
 * more than max_ranges ranges. Returns 0 or -1 (syntax). */
int seqset_parse(const char *s, size_t len, uint32_t star, struct seqset *out);
/* Adds a range and keeps the set normalised. */
void seqset_add(struct seqset *set, uint32_t lo, uint32_t hi);
bool seqset_contains(const struct seqset *set, uint32_t v);
/* Total numbers covered (saturating at UINT64_MAX). */
uint64_t seqset_count(const struct seqset *set);
/* Writes "1:3,5" form; returns bytes written (always NUL-terminated), and the
 * output is truncated if it would not fit. Use seqset_format_len first. */
size_t seqset_format_len(const struct seqset *set);
size_t seqset_format(const struct seqset *set, char *buf, size_t size);
/* Appends the numbers v[0..n) as a set, each run of consecutive numbers
 * as "lo:hi" ("1:3,7"), keeping their order: for lists that must stay
 * in step with another (COPYUID pairs the n-th source UID with the n-th
 * destination, RFC 4315 3) and for ascending results (ESEARCH ALL,
 * APPENDUID). The elements are those seqset_format() writes. */
void seqset_format_list(struct strbuf *out, const uint32_t *v, size_t n);
void seqset_clear(struct seqset *set);
void seqset_free(struct seqset *set);

#endif
