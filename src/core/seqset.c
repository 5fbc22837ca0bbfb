/* Sequence sets: parsing, normalisation and formatting.
 *
 * A set is kept as a sorted array of disjoint, non-adjacent ranges so that
 * membership is a binary search and formatting is already compact. */
#include "core/seqset.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* Bounds the work and memory a single client-supplied set can cost. */
#define SEQSET_MAX_RANGES 1000000u

/* RFC 9051 9: nz-number is 1..4294967295 without leading zeros. Returns the
 * number of bytes used, 0 on syntax error. */
static size_t seqset_number_parse(const char *s, size_t len, uint32_t star, uint32_t *out)
{
	if (len == 0)
		return 0;
	if (s[0] == '*') {
		if (star == 0)
			return 0;
		*out = star;
		return 1;
	}
	if (s[0] < '1' || s[0] > '9')
		return 0;
	uint64_t v = 0;
	size_t i = 0;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return 0;
		i++;
	}
	*out = (uint32_t)v;
	return i;
}

static int seqrange_cmp(const void *a, const void *b)
{
	const struct seqrange *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

/* Sorts (unless already sorted) and merges overlapping or adjacent ranges
 * in place. */
static void seqset_normalise(struct seqset *set)
{
	bool sorted = true;
	for (size_t i = 1; i < set->n && sorted; i++)
		if (set->r[i].lo < set->r[i - 1].lo)
			sorted = false;
	if (!sorted)
		qsort(set->r, set->n, sizeof(set->r[0]), seqrange_cmp);
	size_t w = 0;
	for (size_t i = 0; i < set->n; i++) {
		/* Adjacent ranges merge too: 64-bit arithmetic avoids the
		 * overflow of hi + 1 at 4294967295. */
		if (w > 0 && (uint64_t)set->r[i].lo <= (uint64_t)set->r[w - 1].hi + 1) {
			if (set->r[i].hi > set->r[w - 1].hi)
				set->r[w - 1].hi = set->r[i].hi;
		} else {
			set->r[w++] = set->r[i];
		}
	}
	set->n = w;
}

int seqset_parse(const char *s, size_t len, uint32_t star, struct seqset *out)
{
	/* Parse into a scratch set so that a failure leaves *out untouched and
	 * owns no new memory. */
	struct seqset tmp = SEQSET_INIT;
	size_t i = 0;
	if (len == 0)
		return -1;
	for (;;) {
		uint32_t a, b;
		size_t used = seqset_number_parse(s + i, len - i, star, &a);
		if (used == 0)
			goto fail;
		i += used;
		b = a;
		if (i < len && s[i] == ':') {
			i++;
			used = seqset_number_parse(s + i, len - i, star, &b);
			if (used == 0)
				goto fail;
			i += used;
		}
		if (tmp.n >= SEQSET_MAX_RANGES)
			goto fail;
		xgrow((void **)&tmp.r, &tmp.cap, tmp.n + 1, sizeof(tmp.r[0]));
		/* RFC 9051 9: "n:m" and "m:n" are the same range. */
		tmp.r[tmp.n].lo = a < b ? a : b;
		tmp.r[tmp.n].hi = a < b ? b : a;
		tmp.n++;
		if (i == len)
			break;
		/* Anything but a comma followed by another element is an error,
		 * which also rejects trailing and doubled commas. */
		if (s[i] != ',' || i + 1 == len)
			goto fail;
		i++;
	}
	seqset_normalise(&tmp);
	free(out->r);
	*out = tmp;
	return 0;
fail:
	free(tmp.r);
	return -1;
}

/* Index of the first range whose hi + 1 >= v (the first range that v could
 * touch); set->n when there is none. */
static size_t seqset_lower(const struct seqset *set, uint64_t v)
{
	size_t lo = 0, hi = set->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((uint64_t)set->r[mid].hi + 1 < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void seqset_add(struct seqset *set, uint32_t lo, uint32_t hi)
{
	if (lo > hi) {
		uint32_t t = lo;
		lo = hi;
		hi = t;
	}
	/* Fast path: ranges arriving in ascending order just append. */
	if (set->n == 0 || (uint64_t)set->r[set->n - 1].hi + 1 < lo) {
		xgrow((void **)&set->r, &set->cap, set->n + 1, sizeof(set->r[0]));
		set->r[set->n].lo = lo;
		set->r[set->n].hi = hi;
		set->n++;
		return;
	}
	size_t i = seqset_lower(set, lo);
	/* Ranges [i, j) overlap or touch [lo, hi]. */
	size_t j = i;
	while (j < set->n && (uint64_t)set->r[j].lo <= (uint64_t)hi + 1)
		j++;
	if (i == j) {
		xgrow((void **)&set->r, &set->cap, set->n + 1, sizeof(set->r[0]));
		memmove(&set->r[i + 1], &set->r[i], (set->n - i) * sizeof(set->r[0]));
		set->r[i].lo = lo;
		set->r[i].hi = hi;
		set->n++;
		return;
	}
	if (set->r[i].lo < lo)
		lo = set->r[i].lo;
	if (set->r[j - 1].hi > hi)
		hi = set->r[j - 1].hi;
	set->r[i].lo = lo;
	set->r[i].hi = hi;
	memmove(&set->r[i + 1], &set->r[j], (set->n - j) * sizeof(set->r[0]));
	set->n -= j - i - 1;
}

bool seqset_contains(const struct seqset *set, uint32_t v)
{
	size_t lo = 0, hi = set->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (set->r[mid].hi < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < set->n && set->r[lo].lo <= v;
}

uint64_t seqset_count(const struct seqset *set)
{
	uint64_t total = 0;
	for (size_t i = 0; i < set->n; i++) {
		uint64_t c = (uint64_t)set->r[i].hi - set->r[i].lo + 1;
		if (total > UINT64_MAX - c)
			return UINT64_MAX;
		total += c;
	}
	return total;
}

static size_t seqset_digits(uint32_t v)
{
	size_t d = 1;
	while (v >= 10) {
		v /= 10;
		d++;
	}
	return d;
}

/* The buffer size seqset_format() needs, terminating NUL included. */
size_t seqset_format_len(const struct seqset *set)
{
	size_t len = 1;
	for (size_t i = 0; i < set->n; i++) {
		if (i > 0)
			len++;
		len += seqset_digits(set->r[i].lo);
		if (set->r[i].hi != set->r[i].lo)
			len += 1 + seqset_digits(set->r[i].hi);
	}
	return len;
}

/* One element of a formatted set, "lo" or "lo:hi", with the separating
 * comma unless it is the first: the element syntax every set we send
 * (ESEARCH ALL, COPYUID, APPENDUID) uses. el holds SEQSET_ELEMENT_MAX. */
#define SEQSET_ELEMENT_MAX (1 + 10 + 1 + 10)
static size_t seqset_put_element(char *el, bool first, uint32_t lo, uint32_t hi)
{
	size_t n = 0;
	if (!first)
		el[n++] = ',';
	n += strbuf_fmt_u64(el + n, lo);
	if (hi != lo) {
		el[n++] = ':';
		n += strbuf_fmt_u64(el + n, hi);
	}
	return n;
}

/* Writes whole elements only: a truncated result is still a valid (smaller)
 * set rather than a number cut in half. Returns the string length. */
size_t seqset_format(const struct seqset *set, char *buf, size_t size)
{
	size_t w = 0;
	if (size == 0)
		return 0;
	for (size_t i = 0; i < set->n; i++) {
		char el[SEQSET_ELEMENT_MAX];
		size_t n = seqset_put_element(el, i == 0, set->r[i].lo, set->r[i].hi);
		if (w + n + 1 > size)
			break;
		memcpy(buf + w, el, n);
		w += n;
	}
	buf[w] = '\0';
	return w;
}

void seqset_format_list(struct strbuf *out, const uint32_t *v, size_t n)
{
	strbuf_adds(out, "");
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && v[j] != UINT32_MAX && v[j + 1] == v[j] + 1)
			j++;
		char el[SEQSET_ELEMENT_MAX];
		strbuf_add(out, el, seqset_put_element(el, i == 0, v[i], v[j]));
		i = j + 1;
	}
}

void seqset_clear(struct seqset *set)
{
	set->n = 0;
}

void seqset_free(struct seqset *set)
{
	free(set->r);
	set->r = NULL;
	set->n = set->cap = 0;
}
