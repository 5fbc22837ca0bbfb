/* Evaluation of SEARCH key trees against one message (RFC 9051 6.4.4),
 * and the i;unicode-casemap folding (RFC 5051) both sides of a string
 * comparison go through.
 *
 * Cost model: a SEARCH runs over every message of a mailbox, so keys that
 * need only the per-message facts (flags, UID, dates, size) must not
 * allocate; content is loaded through m->load at most once, and decoded,
 * folded header values and body text are cached for the duration of one
 * search_match() call (several keys on the same message share them). */
#include "mail/search.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

#include "core/flags.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "mail/decode.h"
#include "mail/mime_internal.h"
#include "mail/searchdoc.h"

void search_key_free(struct search_key *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->nchildren; i++)
		search_key_free(k->children[i]);
	free(k->children);
	free(k->field);
	free(k->str);
	free(k->folded);
	seqset_free(&k->set);
	free(k);
}

/* ---- casefolding ---------------------------------------------------- */

static void fold_append_uc(struct strbuf *out, ucs4_t uc)
{
	uint8_t buf[6];
	int n = u8_uctomb(buf, uc, sizeof(buf));
	if (n > 0)
		strbuf_add(out, buf, (size_t)n);
}

/* Folds one run of valid UTF-8 that contains non-ASCII characters.
 * RFC 5051 2: each character is replaced by its (simple, UnicodeData.txt)
 * titlecase mapping, then the string is decomposed with NFKD. Compatibility
 * decompositions can produce lowercase letters (U+FB01 "fi" ligature ->
 * "fi"), so the result is titlecased once more: that keeps the fold
 * idempotent and lets "FI" find the ligature; it changes nothing for
 * strings the RFC algorithm already maps to titlecase. */
static void fold_run(struct strbuf *out, const uint8_t *s, size_t len, uint32_t **tmp,
		     size_t *tmpcap)
{
	xgrow((void **)tmp, tmpcap, len, sizeof(**tmp));
	size_t n = 0;
	for (size_t i = 0; i < len;) {
		ucs4_t uc;
		int l = u8_mbtoucr(&uc, s + i, len - i);
		/* The caller only passes valid UTF-8. */
		if (l <= 0)
			break;
		(*tmp)[n++] = uc_totitle(uc);
		i += (size_t)l;
	}
	uint32_t stackbuf[256];
	size_t rlen = ARRAY_SIZE(stackbuf);
	uint32_t *r = u32_normalize(UNINORM_NFKD, *tmp, n, stackbuf, &rlen);
	if (!r) {
		/* Only ENOMEM can fail here; fall back to the undecomposed
		 * titlecase rather than losing text. */
		for (size_t i = 0; i < n; i++)
			fold_append_uc(out, (*tmp)[i]);
		return;
	}
	strbuf_grow(out, rlen * 2);
	for (size_t i = 0; i < rlen; i++)
		fold_append_uc(out, uc_totitle(r[i]));
	if (r != stackbuf)
		free(r);
}

/* Copies the leading ASCII of src[0..n) to dst with a-z uppercased, eight
 * bytes at a time (bodies are mostly ASCII and this loop is the bulk of a
 * BODY search); returns how many bytes it copied. */
static size_t ascii_upper_copy(char *dst, const uint8_t *src, size_t n)
{
	const uint64_t ones = 0x0101010101010101ull;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, src + i, 8);
		if (w & (ones * 0x80))
			break;
		/* Every byte is < 0x80, so the additions don't carry across
		 * bytes: bit 7 of b marks bytes >= 'a', of a bytes > 'z'. */
		uint64_t b = w + ones * (0x80 - 'a');
		uint64_t a = w + ones * (0x80 - 'z' - 1);
		uint64_t lower = b & ~a & (ones * 0x80);
		w ^= lower >> 2;
		memcpy(dst + i, &w, 8);
	}
	for (; i < n && src[i] < 0x80; i++) {
		char c = (char)src[i];
		dst[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
	}
	return i;
}

/* Folds of the two-byte characters (U+0080..U+07FF: Latin, Greek,
 * Cyrillic, Hebrew, Arabic...) standing alone, computed once: a lone
 * accented letter between ASCII is the common non-ASCII case, and going
 * through u32_normalize() for each costs more than the rest of the fold. */
#define FOLD2_FIRST 0x80
#define FOLD2_COUNT (0x800 - 0x80)
struct fold2 {
	uint8_t len; /* 0: not in the table, use the slow path */
	char s[15];
};
static struct fold2 fold2_table[FOLD2_COUNT];
static pthread_once_t fold2_once = PTHREAD_ONCE_INIT;

static void fold2_init(void)
{
	struct strbuf b = STRBUF_INIT;
	uint32_t *tmp = NULL;
	size_t tmpcap = 0;
	for (ucs4_t uc = FOLD2_FIRST; uc < FOLD2_FIRST + FOLD2_COUNT; uc++) {
		uint8_t in[2] = { (uint8_t)(0xc0 | (uc >> 6)), (uint8_t)(0x80 | (uc & 0x3f)) };
		strbuf_reset(&b);
		fold_run(&b, in, 2, &tmp, &tmpcap);
		if (b.len > 0 && b.len <= sizeof(fold2_table[0].s)) {
			memcpy(fold2_table[uc - FOLD2_FIRST].s, b.s, b.len);
			fold2_table[uc - FOLD2_FIRST].len = (uint8_t)b.len;
		}
	}
	strbuf_free(&b);
	free(tmp);
}

char *search_casefold(const char *s, size_t len, size_t *outlen)
{
	struct strbuf out = STRBUF_INIT;
	const uint8_t *u = (const uint8_t *)s;
	uint32_t *tmp = NULL;
	size_t tmpcap = 0;
	bool table = false;
	strbuf_grow(&out, len + 1);
	strbuf_adds(&out, "");
	size_t i = 0;
	while (i < len) {
		/* ASCII is its own NFKD form, and its titlecase is its
		 * uppercase: the common case needs no Unicode tables. */
		if (u[i] < 0x80) {
			strbuf_grow(&out, len - i + 1);
			size_t n = ascii_upper_copy(out.s + out.len, u + i, len - i);
			out.len += n;
			out.s[out.len] = '\0';
			i += n;
			continue;
		}
		/* One two-byte character alone between ASCII (or the ends):
		 * nothing to reorder it with, so its fold is the table's. */
		if ((u[i] & 0xe0) == 0xc0 && u[i] >= 0xc2 && i + 1 < len && (u[i + 1] & 0xc0) == 0x80 &&
		    (i + 2 == len || u[i + 2] < 0x80)) {
			if (!table) {
				pthread_once(&fold2_once, fold2_init);
				table = true;
			}
			ucs4_t uc = ((ucs4_t)(u[i] & 0x1f) << 6) | (u[i + 1] & 0x3f);
			const struct fold2 *f = &fold2_table[uc - FOLD2_FIRST];
			if (f->len) {
				strbuf_add(&out, f->s, f->len);
				i += 2;
				continue;
			}
		}
		/* A maximal run of valid non-ASCII UTF-8. Splitting at ASCII
		 * is safe: ASCII characters are starters (combining class 0),
		 * and NFKD only reorders runs of non-starters. */
		size_t j = i;
		while (j < len && u[j] >= 0x80) {
			ucs4_t uc;
			int l = u8_mbtoucr(&uc, u + j, len - j);
			if (l <= 0)
				break;
			j += (size_t)l;
		}
		if (j > i) {
			fold_run(&out, u + i, j - i, &tmp, &tmpcap);
			i = j;
			continue;
		}
		/* Invalid byte: kept as-is so ASCII needles still match
		 * around it. */
		strbuf_addc(&out, s[i]);
		i++;
	}
	free(tmp);
	size_t n = 0;
	char *r = strbuf_detach(&out, &n);
	if (outlen)
		*outlen = n;
	return r;
}

/* ---- evaluation ----------------------------------------------------- */

#define HDR_CACHE 8

struct hdr_cache_ent {
	const char *field;  /* the key's field name (owned by the key) */
	char *folded;       /* NULL when the message has no such field */
	size_t len;
};

/* Per-call state: what has been loaded and decoded for this message. */
struct eval_state {
	struct search_msg *m;
	const struct mail_msg *mail;
	bool load_tried;
	bool load_failed;      /* I/O error: the message matches nothing */
	char *body;            /* folded body text */
	size_t body_len;
	bool have_body;
	char *hdrs;            /* folded decoded header block */
	size_t hdrs_len;
	bool have_hdrs;
	int sent_state;        /* 0 not computed, 1 valid, -1 missing/invalid */
	int64_t sent_day;
	struct hdr_cache_ent hc[HDR_CACHE];
	size_t nhc;
};

static const struct mail_msg *eval_mail(struct eval_state *st)
{
	if (!st->load_tried) {
		st->load_tried = true;
		st->mail = st->m->load ? st->m->load(st->m->load_ctx) : NULL;
		if (!st->mail)
			st->load_failed = true;
	}
	return st->mail;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

int64_t search_day_of(int64_t t, int offset_min)
{
	int64_t local;
	if (__builtin_add_overflow(t, (int64_t)offset_min * 60, &local))
		local = t;
	return floor_div(local, 86400);
}

static bool date_cmp(enum search_key_type t, int64_t day, int64_t kday)
{
	switch (t) {
	case SK_BEFORE:
	case SK_SENTBEFORE:
	case SK_SAVEDBEFORE:
		return day < kday;
	case SK_ON:
	case SK_SENTON:
	case SK_SAVEDON:
		return day == kday;
	default:
		return day >= kday;
	}
}

/* Keywords are atoms, compared case-insensitively like flags; the list is
 * space-separated. No allocation. */
static bool keyword_has(const char *list, const char *kw)
{
	if (!list || !kw)
		return false;
	size_t kl = strlen(kw);
	const char *p = list;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if ((size_t)(e - p) == kl && strncasecmp(p, kw, kl) == 0)
			return true;
		p = e;
	}
	return false;
}

static bool folded_contains(const char *hay, size_t hlen, const char *needle)
{
	size_t nlen = strlen(needle);
	if (nlen == 0)
		return true;
	if (!hay || hlen < nlen)
		return false;
	return memmem(hay, hlen, needle, nlen) != NULL;
}

/* Whether s[0..n) is all ASCII, eight bytes at a time. */
static bool ascii_only(const uint8_t *s, size_t n)
{
	const uint64_t high = 0x8080808080808080ull;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		if (w & high)
			return false;
	}
	for (; i < n; i++)
		if (s[i] & 0x80)
			return false;
	return true;
}

static inline uint8_t upper_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
}

/* memmem(search_casefold(hay), needle) for an all-ASCII hay, whose fold
 * is its bytes uppercased (search_casefold's ASCII path), compared in
 * place. The candidates are the places of the needle's first byte in
 * either case, found by memchr (each of the two searches is redone only
 * once passed): linear in the hay. */
static bool ascii_upper_contains(const uint8_t *hay, size_t hlen, const uint8_t *needle,
				 size_t nlen)
{
	if (hlen < nlen)
		return false;
	uint8_t c = needle[0];
	/* The needle is folded: a letter in it is uppercase. */
	if (c >= 'a' && c <= 'z')
		return false; /* not folded: in no folded text */
	uint8_t lc = (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
	const uint8_t *end = hay + (hlen - nlen) + 1; /* one past the last start */
	const uint8_t *up = memchr(hay, c, (size_t)(end - hay));
	const uint8_t *low = lc != c ? memchr(hay, lc, (size_t)(end - hay)) : NULL;
	while (up || low) {
		const uint8_t *at = !low ? up : !up ? low : MIN(up, low);
		size_t k = 1;
		while (k < nlen && upper_byte(at[k]) == needle[k])
			k++;
		if (k == nlen)
			return true;
		const uint8_t *p = at + 1;
		if (at == up)
			up = p < end ? memchr(p, c, (size_t)(end - p)) : NULL;
		if (at == low)
			low = p < end ? memchr(p, lc, (size_t)(end - p)) : NULL;
	}
	return false;
}

bool search_value_contains(const char *value, size_t len, const char *folded)
{
	const char *needle = folded ? folded : "";
	size_t nlen = strlen(needle);
	if (nlen == 0)
		return true;
	/* A header value is nearly always ASCII (RFC 2047 words are decoded
	 * at index time, but most fields carry none): compared in place, as
	 * its fold would be, without folding a copy of each value. */
	if (value && ascii_only((const uint8_t *)value, len)) {
		/* A folded ASCII hay is ASCII: a needle with other bytes
		 * cannot be in it. */
		if (!ascii_only((const uint8_t *)needle, nlen))
			return false;
		return ascii_upper_contains((const uint8_t *)value, len, (const uint8_t *)needle,
					    nlen);
	}
	size_t fl = 0;
	char *f = search_casefold(value, len, &fl);
	bool r = folded_contains(f, fl, folded ? folded : "");
	free(f);
	return r;
}

/* The field's value as SEARCH compares it: from the index when it holds
 * the message and the field, else from the message (mail/searchdoc.c
 * computes both the same way). NULL folded: no such field. */
static void header_value(struct eval_state *st, const char *field, struct hdr_cache_ent *e)
{
	int f = st->m->doc ? search_doc_field_find(field) : -1;
	if (f >= 0) {
		const char *v = st->m->doc->field[f];
		if (v)
			e->folded = search_casefold(v, strlen(v), &e->len);
		return;
	}
	const struct mail_msg *mail = eval_mail(st);
	if (!mail)
		return;
	struct strbuf b = STRBUF_INIT;
	if (mail_search_header(mail, field, &b) > 0)
		e->folded = search_casefold(b.s ? b.s : "", b.len, &e->len);
	strbuf_free(&b);
}

static const struct hdr_cache_ent *eval_header(struct eval_state *st, const char *field)
{
	for (size_t i = 0; i < st->nhc; i++)
		if (st->hc[i].field == field || strcasecmp(st->hc[i].field, field) == 0)
			return &st->hc[i];
	struct hdr_cache_ent e = { .field = field };
	header_value(st, field, &e);
	if (st->load_failed)
		return NULL;
	if (st->nhc < HDR_CACHE) {
		st->hc[st->nhc] = e;
		return &st->hc[st->nhc++];
	}
	/* Cache full (more than HDR_CACHE distinct fields in one search):
	 * recycle the oldest slot. */
	free(st->hc[0].folded);
	memmove(&st->hc[0], &st->hc[1], (HDR_CACHE - 1) * sizeof(st->hc[0]));
	st->hc[HDR_CACHE - 1] = e;
	return &st->hc[HDR_CACHE - 1];
}

static bool eval_body(struct eval_state *st)
{
	if (st->have_body)
		return true;
	const struct mail_msg *mail = eval_mail(st);
	if (!mail)
		return false;
	struct strbuf b = STRBUF_INIT;
	mail_search_body_text(mail, &b);
	st->body = search_casefold(b.s ? b.s : "", b.len, &st->body_len);
	strbuf_free(&b);
	st->have_body = true;
	return true;
}

/* TEXT searches the header too (RFC 9051 6.4.4): every field of the top
 * level header, unfolded and RFC 2047-decoded, as "Name: value" lines. */
static bool eval_hdrs(struct eval_state *st)
{
	if (st->have_hdrs)
		return true;
	const struct mail_msg *mail = eval_mail(st);
	if (!mail)
		return false;
	struct strbuf b = STRBUF_INIT;
	mail_search_hdrs_text(mail, &b);
	st->hdrs = search_casefold(b.s, b.len, &st->hdrs_len);
	strbuf_free(&b);
	st->have_hdrs = true;
	return true;
}

/* The day SENT* compare: the Date: header's, as written (RFC 9051 6.4.4:
 * time and zone disregarded). A message without a valid Date: uses its
 * internal date, as RFC 5256 3 does for SORT's sent date. */
static bool eval_sent_day(struct eval_state *st, int64_t *day)
{
	if (st->sent_state == 0) {
		st->sent_state = -1;
		const struct search_msg *m = st->m;
		int64_t d = SEARCH_DOC_NO_DATE;
		if (m->doc) {
			d = m->doc->sent_day;
		} else {
			const struct mail_msg *mail = eval_mail(st);
			int tz = 0;
			int64_t t = mail ? mail_date_sent(mail, &tz) : -1;
			if (t != -1)
				d = search_day_of(t, tz);
		}
		if (!st->load_failed) {
			st->sent_day = d != SEARCH_DOC_NO_DATE
					       ? d
					       : search_day_of(m->internaldate, m->internaldate_tz);
			st->sent_state = 1;
		}
	}
	*day = st->sent_day;
	return st->sent_state == 1;
}

/* The index's answer for a content key, -1 when it has none. */
static int eval_text_hit(const struct search_key *k, struct eval_state *st)
{
	return st->m->text_hit ? st->m->text_hit(st->m->text_ctx, k) : -1;
}

static bool eval_key(const struct search_key *k, struct eval_state *st)
{
	const struct search_msg *m = st->m;
	int64_t day;
	switch (k->type) {
	case SK_ALL:
		return true;
	case SK_AND:
		for (size_t i = 0; i < k->nchildren; i++)
			if (!eval_key(k->children[i], st))
				return false;
		return true;
	case SK_OR:
		for (size_t i = 0; i < k->nchildren; i++)
			if (eval_key(k->children[i], st))
				return true;
		return false;
	case SK_NOT:
		return k->nchildren > 0 && !eval_key(k->children[0], st);
	case SK_SEQSET:
		return seqset_contains(&k->set, m->seq);
	case SK_UIDSET:
		return seqset_contains(&k->set, m->uid);
	case SK_FLAG:
		return (m->flags & k->flag) != 0;
	case SK_NOFLAG:
		return (m->flags & k->flag) == 0;
	case SK_NEW:
		return (m->flags & MAIL_FLAG_RECENT) && !(m->flags & MAIL_FLAG_SEEN);
	case SK_OLD:
		return !(m->flags & MAIL_FLAG_RECENT);
	case SK_KEYWORD:
		return keyword_has(m->keywords, k->str);
	case SK_UNKEYWORD:
		return !keyword_has(m->keywords, k->str);
	case SK_BEFORE:
	case SK_ON:
	case SK_SINCE:
		/* The internal date's day in its own zone (the zone the
		 * client gave in APPEND, or the server's at delivery). */
		return date_cmp(k->type, search_day_of(m->internaldate, m->internaldate_tz),
				floor_div(k->date, 86400));
	case SK_SENTBEFORE:
	case SK_SENTON:
	case SK_SENTSINCE:
		if (!eval_sent_day(st, &day))
			return false;
		return date_cmp(k->type, day, floor_div(k->date, 86400));
	case SK_SAVEDBEFORE:
	case SK_SAVEDON:
	case SK_SAVEDSINCE:
		/* RFC 8514 4.3: no save date, no match. The save date is a
		 * server timestamp without a zone of its own: days are UTC. */
		if (m->savedate < 0)
			return false;
		return date_cmp(k->type, search_day_of(m->savedate, 0), floor_div(k->date, 86400));
	case SK_SAVEDATESUPPORTED:
		return m->savedate >= 0;
	case SK_LARGER:
		return m->size > k->num;
	case SK_SMALLER:
		return m->size < k->num;
	case SK_MODSEQ:
		return m->modseq >= k->num;
	case SK_EMAILID: /* RFC 8474 6 */
		return m->blob && k->str && *k->str && strncmp(m->blob, k->str, strlen(k->str)) == 0;
	case SK_THREADID:
		return false;
	case SK_OLDER:
	case SK_YOUNGER: {
		/* RFC 5032: YOUNGER n is "internal date within the last n
		 * seconds", OLDER n its complement. */
		int64_t age;
		if (__builtin_sub_overflow(m->now, m->internaldate, &age))
			age = m->internaldate > m->now ? INT64_MIN : INT64_MAX;
		bool younger = age <= (int64_t)MIN(k->num, (uint64_t)INT64_MAX);
		return k->type == SK_YOUNGER ? younger : !younger;
	}
	case SK_HEADER: {
		if (!k->field)
			return false;
		int hit = eval_text_hit(k, st);
		if (hit >= 0)
			return hit == 1;
		const struct hdr_cache_ent *e = eval_header(st, k->field);
		/* RFC 9051 6.4.4: an empty string matches every message
		 * that has the field at all. */
		if (!e || !e->folded)
			return false;
		return folded_contains(e->folded, e->len, k->folded ? k->folded : "");
	}
	case SK_BODY: {
		int hit = eval_text_hit(k, st);
		if (hit >= 0)
			return hit == 1;
		if (!eval_body(st))
			return false;
		return folded_contains(st->body, st->body_len, k->folded ? k->folded : "");
	}
	case SK_TEXT: {
		int hit = eval_text_hit(k, st);
		if (hit >= 0)
			return hit == 1;
		if (!eval_hdrs(st))
			return false;
		if (folded_contains(st->hdrs, st->hdrs_len, k->folded ? k->folded : ""))
			return true;
		if (!eval_body(st))
			return false;
		return folded_contains(st->body, st->body_len, k->folded ? k->folded : "");
	}
	}
	return false;
}

bool search_match(const struct search_key *k, struct search_msg *m)
{
	struct eval_state st = { .m = m };
	bool r = eval_key(k, &st);
	/* A message whose content could not be read matches nothing, even
	 * under NOT (RFC 9051 leaves I/O errors to the server; answering
	 * with it would be a guess). */
	if (st.load_failed)
		r = false;
	free(st.body);
	free(st.hdrs);
	for (size_t i = 0; i < st.nhc; i++)
		free(st.hc[i].folded);
	return r;
}

/* The keys that need the message: header fields (the SENT* dates come
 * from the Date: header), body and text. Everything else is answered from
 * the index. */
static const bool search_content_keys[SK__COUNT] = {
	[SK_HEADER] = true,     [SK_BODY] = true,    [SK_TEXT] = true,
	[SK_SENTBEFORE] = true, [SK_SENTON] = true,  [SK_SENTSINCE] = true,
};

bool search_key_type_needs_content(enum search_key_type type)
{
	return (unsigned)type < SK__COUNT && search_content_keys[type];
}

bool search_needs_content(const struct search_key *k)
{
	if (!k)
		return false;
	if (search_key_type_needs_content(k->type))
		return true;
	for (size_t i = 0; i < k->nchildren; i++)
		if (search_needs_content(k->children[i]))
			return true;
	return false;
}
