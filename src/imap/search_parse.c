/* SEARCH criteria -> search_key tree (RFC 9051 6.4.4 and the search-key
 * grammar of section 9; RFC 3501 6.4.4 for IMAP4rev1 sessions; RFC 8514
 * SAVEDATE, RFC 5032 WITHIN, RFC 7162 3.1.5 MODSEQ, RFC 5182 "$").
 *
 * The arguments come from the command parser already tokenised, with
 * parenthesised lists as IMAP_ARG_LIST nodes, so this is a recursive
 * descent over an argument array. Everything the evaluator would otherwise
 * redo per message is done here once: sequence sets resolved, dates turned
 * into day numbers, strings converted to UTF-8 and casefolded, and the
 * children of every AND/OR ordered so that keys needing the message
 * content come last and are skipped when a cheap key already decided. */
#include "imap/search_parse.h"
#include "imap/objectid.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/flags.h"
#include "core/strbuf.h"
#include "core/util.h"

/* NOT NOT NOT ... and OR OR OR ... nest without parentheses, so the
 * command parser's list depth limit does not bound the recursion here. */
#define SEARCH_MAX_DEPTH 64
#define CHARSET_NAME_MAX 64

struct pstate {
	const struct search_parse_ctx *ctx;
	iconv_t cd;          /* (iconv_t)-1: strings are UTF-8 already */
	const char *err;
};

/* The message for *err: it names the offending key, so it can't be a
 * literal; it lives until the next parse on this thread. */
static _Thread_local char search_errbuf[160];

/* Copies at most dstsize-4 bytes of s, non-printables as '?', and marks
 * a truncation with "...". */
static void printable_copy(char *dst, size_t dstsize, const char *s, size_t len)
{
	size_t o = 0, max = dstsize - 4;
	for (size_t i = 0; i < len && o < max; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (len > max) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

static int fail(struct pstate *ps, const char *msg)
{
	ps->err = msg;
	return -1;
}

static int fail_key(struct pstate *ps, const char *fmt, const struct imap_arg *a)
{
	char name[48];
	printable_copy(name, sizeof(name), a->str ? a->str : "", a->str ? a->len : 0);
	snprintf(search_errbuf, sizeof(search_errbuf), fmt, name);
	ps->err = search_errbuf;
	return -1;
}

static struct search_key *key_new(enum search_key_type type)
{
	struct search_key *k = xcalloc(1, sizeof(*k));
	k->type = type;
	return k;
}

static void key_add_child(struct search_key *parent, struct search_key *child)
{
	parent->children = xrealloc(parent->children,
				    (parent->nchildren + 1) * sizeof(*parent->children));
	parent->children[parent->nchildren++] = child;
}

/* ---- argument types --------------------------------------------------- */

/* astring = atom / quoted / literal; NIL is just the atom "NIL" here. */
static bool arg_astring(const struct imap_arg *a, const char **s, size_t *len)
{
	if (a->type == IMAP_ARG_NIL) {
		*s = a->str ? a->str : "NIL";
		*len = a->str ? a->len : 3;
		return true;
	}
	return imap_arg_get_astring(a, s, len);
}

static bool is_atom_char(unsigned char c)
{
	/* RFC 9051 9: ATOM-CHAR is any CHAR except atom-specials. */
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return !strchr("(){%*\"\\]", c);
}

static const char *const month_names[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static bool is_leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t civil_days(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* date = date-text / DQUOTE date-text DQUOTE;
 * date-text = date-day "-" date-month "-" date-year, date-day = 1*2DIGIT,
 * date-year = 4DIGIT. The day must exist in that month. */
static int date_parse(const struct imap_arg *a, int64_t *out)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_STRING)
		return -1;
	const char *s = a->str;
	size_t len = a->len, i = 0;
	unsigned day = 0, year = 0;
	size_t nd = 0;
	while (i < len && nd < 2 && s[i] >= '0' && s[i] <= '9') {
		day = day * 10 + (unsigned)(s[i] - '0');
		i++;
		nd++;
	}
	if (nd == 0 || i >= len || s[i] != '-')
		return -1;
	i++;
	if (len - i < 3)
		return -1;
	int mon = -1;
	for (int m = 0; m < 12; m++) {
		if (strncasecmp(s + i, month_names[m], 3) == 0) {
			mon = m;
			break;
		}
	}
	if (mon < 0)
		return -1;
	i += 3;
	if (len - i != 5 || s[i] != '-')
		return -1;
	i++;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		year = year * 10 + (unsigned)(s[i] - '0');
	}
	static const unsigned mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned maxd = mdays[mon] + (mon == 1 && is_leap(year) ? 1 : 0);
	if (day < 1 || day > maxd)
		return -1;
	*out = civil_days(year, (unsigned)mon + 1, day) * 86400;
	return 0;
}

/* number64 (RFC 9051 9): 1*DIGIT, unsigned 63-bit. */
static int number64_parse(const struct imap_arg *a, uint64_t *out)
{
	uint64_t v;
	if (a->type != IMAP_ARG_ATOM || parse_u64(a->str, a->len, &v) < 0 || v > INT64_MAX)
		return -1;
	*out = v;
	return 0;
}

/* Converts a search string from the client's CHARSET to UTF-8. */
static int string_convert(struct pstate *ps, const char *s, size_t len, char **out)
{
	if (memchr(s, '\0', len))
		return fail(ps, "Search string contains a NUL byte");
	if (ps->cd == (iconv_t)-1) {
		*out = xstrndup(s, len);
		return 0;
	}
	iconv(ps->cd, NULL, NULL, NULL, NULL);
	struct strbuf b = STRBUF_INIT;
	size_t cap = len * 4 + 16;
	strbuf_grow(&b, cap);
	char *in = (char *)s;
	size_t inleft = len;
	for (;;) {
		char *o = b.s + b.len;
		size_t oleft = b.cap - b.len - 1;
		size_t r = iconv(ps->cd, inleft ? &in : NULL, inleft ? &inleft : NULL, &o, &oleft);
		b.len = (size_t)(o - b.s);
		if (r != (size_t)-1) {
			if (inleft == 0)
				break;
			continue;
		}
		if (errno == E2BIG) {
			strbuf_grow(&b, b.cap);
			continue;
		}
		strbuf_free(&b);
		return fail(ps, "Search string is not valid in the given CHARSET");
	}
	/* Flush any shift state (stateful encodings such as ISO-2022-JP). */
	for (;;) {
		char *o = b.s + b.len;
		size_t oleft = b.cap - b.len - 1;
		size_t r = iconv(ps->cd, NULL, NULL, &o, &oleft);
		b.len = (size_t)(o - b.s);
		if (r != (size_t)-1)
			break;
		if (errno != E2BIG) {
			strbuf_free(&b);
			return fail(ps, "Search string is not valid in the given CHARSET");
		}
		strbuf_grow(&b, b.cap);
	}
	b.s[b.len] = '\0';
	if (memchr(b.s, '\0', b.len)) {
		strbuf_free(&b);
		return fail(ps, "Search string contains a NUL character");
	}
	*out = strbuf_detach(&b, NULL);
	return 0;
}

static int string_arg(struct pstate *ps, const struct imap_arg *a, struct search_key *k)
{
	const char *s;
	size_t len;
	if (!arg_astring(a, &s, &len))
		return fail(ps, "Search key needs a string argument");
	if (string_convert(ps, s, len, &k->str) < 0)
		return -1;
	k->folded = search_casefold(k->str, strlen(k->str), NULL);
	return 0;
}

/* header-fld-name = astring; it must be a possible RFC 5322 field name
 * (ftext: printable ASCII except ':'), or no message could match. */
static int field_arg(struct pstate *ps, const struct imap_arg *a, struct search_key *k)
{
	const char *s;
	size_t len;
	if (!arg_astring(a, &s, &len) || len == 0 || len > 256)
		return fail(ps, "HEADER needs a header field name");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == ':')
			return fail(ps, "Invalid header field name in HEADER");
	}
	k->field = xstrndup(s, len);
	return 0;
}

static int seqset_arg(struct pstate *ps, const struct imap_arg *a, bool uid,
		      struct search_key **out)
{
	if (a->type != IMAP_ARG_ATOM)
		return fail(ps, "Invalid sequence set");
	/* RFC 5182 2.1: "$" is the saved result (kept as UIDs); with no
	 * saved result it is the empty set, and matches nothing. */
	if (a->len == 1 && a->str[0] == '$') {
		struct search_key *k = key_new(SK_UIDSET);
		if (ps->ctx->saved)
			for (size_t i = 0; i < ps->ctx->saved->n; i++)
				seqset_add(&k->set, ps->ctx->saved->r[i].lo, ps->ctx->saved->r[i].hi);
		*out = k;
		return 0;
	}
	if (!uid && ps->ctx->no_seqs)
		return fail(ps, ps->ctx->no_seqs);
	struct search_key *k = key_new(uid ? SK_UIDSET : SK_SEQSET);
	uint32_t star = uid ? ps->ctx->max_uid : ps->ctx->max_seq;
	if (seqset_parse(a->str, a->len, star, &k->set) < 0) {
		search_key_free(k);
		return fail_key(ps, "Invalid sequence set: %s", a);
	}
	*out = k;
	return 0;
}

/* ---- keys ---------------------------------------------------------------- */

enum argkind {
	A_NONE,
	A_STRING,   /* astring -> str/folded */
	A_HEADER,   /* field name (from the table) + astring */
	A_FIELD,    /* HEADER: field-name astring, then astring */
	A_DATE,
	A_NUM64,
	A_NZ32,     /* OLDER/YOUNGER interval */
	A_KEYWORD,
	A_UIDSET,
	A_MODSEQ,
	A_OBJECTID, /* objectid: RFC 8474 6 */
	A_NOT,
	A_OR,
};

struct keydef {
	const char *name;
	enum search_key_type type;
	enum argkind arg;
	unsigned flag;
	const char *field;
	bool rev1_only;
};

static const struct keydef keydefs[] = {
	{ "ALL", SK_ALL, A_NONE, 0, NULL, false },
	{ "ANSWERED", SK_FLAG, A_NONE, MAIL_FLAG_ANSWERED, NULL, false },
	{ "BCC", SK_HEADER, A_HEADER, 0, "Bcc", false },
	{ "BEFORE", SK_BEFORE, A_DATE, 0, NULL, false },
	{ "BODY", SK_BODY, A_STRING, 0, NULL, false },
	{ "CC", SK_HEADER, A_HEADER, 0, "Cc", false },
	{ "DELETED", SK_FLAG, A_NONE, MAIL_FLAG_DELETED, NULL, false },
	{ "DRAFT", SK_FLAG, A_NONE, MAIL_FLAG_DRAFT, NULL, false },
	{ "EMAILID", SK_EMAILID, A_OBJECTID, 0, NULL, false }, /* objectid */
	{ "FLAGGED", SK_FLAG, A_NONE, MAIL_FLAG_FLAGGED, NULL, false },
	{ "FROM", SK_HEADER, A_HEADER, 0, "From", false },
	{ "HEADER", SK_HEADER, A_FIELD, 0, NULL, false },
	{ "KEYWORD", SK_KEYWORD, A_KEYWORD, 0, NULL, false },
	{ "LARGER", SK_LARGER, A_NUM64, 0, NULL, false },
	{ "MODSEQ", SK_MODSEQ, A_MODSEQ, 0, NULL, false },
	{ "NEW", SK_NEW, A_NONE, 0, NULL, true },
	{ "NOT", SK_NOT, A_NOT, 0, NULL, false },
	{ "OLD", SK_OLD, A_NONE, 0, NULL, true },
	{ "OLDER", SK_OLDER, A_NZ32, 0, NULL, false },
	{ "ON", SK_ON, A_DATE, 0, NULL, false },
	{ "OR", SK_OR, A_OR, 0, NULL, false },
	{ "RECENT", SK_FLAG, A_NONE, MAIL_FLAG_RECENT, NULL, true },
	{ "SAVEDATESUPPORTED", SK_SAVEDATESUPPORTED, A_NONE, 0, NULL, false },
	{ "SAVEDBEFORE", SK_SAVEDBEFORE, A_DATE, 0, NULL, false },
	{ "SAVEDON", SK_SAVEDON, A_DATE, 0, NULL, false },
	{ "SAVEDSINCE", SK_SAVEDSINCE, A_DATE, 0, NULL, false },
	{ "SEEN", SK_FLAG, A_NONE, MAIL_FLAG_SEEN, NULL, false },
	{ "SENTBEFORE", SK_SENTBEFORE, A_DATE, 0, NULL, false },
	{ "SENTON", SK_SENTON, A_DATE, 0, NULL, false },
	{ "SENTSINCE", SK_SENTSINCE, A_DATE, 0, NULL, false },
	{ "SINCE", SK_SINCE, A_DATE, 0, NULL, false },
	{ "SMALLER", SK_SMALLER, A_NUM64, 0, NULL, false },
	{ "SUBJECT", SK_HEADER, A_HEADER, 0, "Subject", false },
	{ "TEXT", SK_TEXT, A_STRING, 0, NULL, false },
	{ "THREADID", SK_THREADID, A_OBJECTID, 0, NULL, false }, /* objectid */
	{ "TO", SK_HEADER, A_HEADER, 0, "To", false },
	{ "UID", SK_UIDSET, A_UIDSET, 0, NULL, false },
	{ "UNANSWERED", SK_NOFLAG, A_NONE, MAIL_FLAG_ANSWERED, NULL, false },
	{ "UNDELETED", SK_NOFLAG, A_NONE, MAIL_FLAG_DELETED, NULL, false },
	{ "UNDRAFT", SK_NOFLAG, A_NONE, MAIL_FLAG_DRAFT, NULL, false },
	{ "UNFLAGGED", SK_NOFLAG, A_NONE, MAIL_FLAG_FLAGGED, NULL, false },
	{ "UNKEYWORD", SK_UNKEYWORD, A_KEYWORD, 0, NULL, false },
	{ "UNSEEN", SK_NOFLAG, A_NONE, MAIL_FLAG_SEEN, NULL, false },
	{ "YOUNGER", SK_YOUNGER, A_NZ32, 0, NULL, false },
};

static const struct keydef *keydef_find(const struct imap_arg *a)
{
	for (size_t i = 0; i < ARRAY_SIZE(keydefs); i++)
		if (imap_arg_atom_ieq(a, keydefs[i].name))
			return &keydefs[i];
	return NULL;
}

static int parse_key(struct pstate *ps, const struct imap_arg *args, size_t n, size_t *pos,
		     unsigned depth, struct search_key **out);

/* Parses every argument of args[0..n) into children of an AND node. The
 * array grows by doubling: a flat list may hold tens of thousands of keys
 * (a client spelling out UIDs one by one). */
static int parse_list(struct pstate *ps, const struct imap_arg *args, size_t n, unsigned depth,
		      struct search_key **out)
{
	if (n == 0)
		return fail(ps, "Empty search key list");
	struct search_key *and = key_new(SK_AND);
	size_t cap = 0, pos = 0;
	while (pos < n) {
		struct search_key *child = NULL;
		if (parse_key(ps, args, n, &pos, depth, &child) < 0) {
			search_key_free(and);
			return -1;
		}
		xgrow((void **)&and->children, &cap, and->nchildren + 1, sizeof(*and->children));
		and->children[and->nchildren++] = child;
	}
	*out = and;
	return 0;
}

/* Takes the next argument for the key `def` names, or fails with "missing
 * argument". */
static const struct imap_arg *next_arg(struct pstate *ps, const struct imap_arg *args, size_t n,
				       size_t *pos, const struct imap_arg *keyarg)
{
	if (*pos >= n) {
		fail_key(ps, "Missing argument for search key %s", keyarg);
		return NULL;
	}
	return &args[(*pos)++];
}

/* MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162 3.1.5).
 * We keep one modseq per message, so the entry only has to be valid. */
static int modseq_args(struct pstate *ps, const struct imap_arg *args, size_t n, size_t *pos,
		       const struct imap_arg *keyarg, struct search_key *k)
{
	const struct imap_arg *a = next_arg(ps, args, n, pos, keyarg);
	if (!a)
		return -1;
	if (a->type == IMAP_ARG_STRING) {
		/* entry-flag-name = DQUOTE "/flags/" attr-flag DQUOTE */
		if (a->len <= 7 || strncasecmp(a->str, "/flags/", 7) != 0)
			return fail(ps, "Invalid MODSEQ entry name (expected \"/flags/<flag>\")");
		const struct imap_arg *t = next_arg(ps, args, n, pos, keyarg);
		if (!t)
			return -1;
		if (!imap_arg_atom_ieq(t, "priv") && !imap_arg_atom_ieq(t, "shared") &&
		    !imap_arg_atom_ieq(t, "all"))
			return fail(ps, "Invalid MODSEQ entry type (expected priv, shared or all)");
		a = next_arg(ps, args, n, pos, keyarg);
		if (!a)
			return -1;
	}
	if (number64_parse(a, &k->num) < 0)
		return fail(ps, "Invalid MODSEQ value");
	return 0;
}

static int parse_key(struct pstate *ps, const struct imap_arg *args, size_t n, size_t *pos,
		     unsigned depth, struct search_key **out)
{
	if (depth >= SEARCH_MAX_DEPTH)
		return fail(ps, "Search criteria nested too deeply");
	const struct imap_arg *a = &args[(*pos)++];
	if (a->type == IMAP_ARG_LIST)
		return parse_list(ps, a->list, a->count, depth + 1, out);
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL)
		return fail(ps, "Expected a search key, not a string");
	/* A sequence set: nz-number, '*' or '$' first (RFC 9051 9 seq-number;
	 * RFC 5182 seq-last-command). */
	if (a->len > 0 && ((a->str[0] >= '0' && a->str[0] <= '9') || a->str[0] == '*' ||
			   a->str[0] == '$'))
		return seqset_arg(ps, a, false, out);
	const struct keydef *def = keydef_find(a);
	if (!def)
		return fail_key(ps, "Unknown search key: %s", a);
	/* RFC 9051 removed NEW, OLD and RECENT from the search-key grammar
	 * along with the \Recent flag (section 9, Appendix E). */
	if (def->rev1_only && ps->ctx->rev2)
		return fail_key(ps, "%s is not a search key in IMAP4rev2 (\\Recent was removed)", a);

	struct search_key *k = key_new(def->type);
	k->flag = def->flag;
	const struct imap_arg *v;
	struct search_key *child = NULL;
	uint32_t u32;
	switch (def->arg) {
	case A_NONE:
		break;
	case A_STRING:
		if (!(v = next_arg(ps, args, n, pos, a)) || string_arg(ps, v, k) < 0)
			goto err;
		break;
	case A_HEADER:
		k->field = xstrdup(def->field);
		if (!(v = next_arg(ps, args, n, pos, a)) || string_arg(ps, v, k) < 0)
			goto err;
		break;
	case A_FIELD:
		if (!(v = next_arg(ps, args, n, pos, a)) || field_arg(ps, v, k) < 0)
			goto err;
		if (!(v = next_arg(ps, args, n, pos, a)) || string_arg(ps, v, k) < 0)
			goto err;
		break;
	case A_DATE:
		if (!(v = next_arg(ps, args, n, pos, a)))
			goto err;
		if (date_parse(v, &k->date) < 0) {
			fail_key(ps, "Invalid date for %s (expected e.g. 1-Feb-1994)", a);
			goto err;
		}
		break;
	case A_NUM64:
		if (!(v = next_arg(ps, args, n, pos, a)))
			goto err;
		if (number64_parse(v, &k->num) < 0) {
			fail_key(ps, "Invalid number for %s", a);
			goto err;
		}
		break;
	case A_NZ32:
		/* RFC 5032: interval = nz-number (seconds). */
		if (!(v = next_arg(ps, args, n, pos, a)))
			goto err;
		if (v->type != IMAP_ARG_ATOM || parse_u32(v->str, v->len, &u32) < 0 || u32 == 0) {
			fail_key(ps, "Invalid interval for %s (expected seconds > 0)", a);
			goto err;
		}
		k->num = u32;
		break;
	case A_KEYWORD:
		/* flag-keyword = atom (no backslash: system flags have
		 * their own keys). */
		if (!(v = next_arg(ps, args, n, pos, a)))
			goto err;
		if (v->type != IMAP_ARG_ATOM || v->len == 0) {
			fail_key(ps, "Invalid keyword for %s", a);
			goto err;
		}
		for (size_t i = 0; i < v->len; i++) {
			if (!is_atom_char((unsigned char)v->str[i])) {
				fail_key(ps, "Invalid keyword for %s", a);
				goto err;
			}
		}
		k->str = xstrndup(v->str, v->len);
		break;
	case A_UIDSET:
		search_key_free(k);
		k = NULL;
		if (!(v = next_arg(ps, args, n, pos, a)))
			goto err;
		if (seqset_arg(ps, v, true, &k) < 0)
			goto err;
		break;
	case A_MODSEQ:
		if (modseq_args(ps, args, n, pos, a, k) < 0)
			goto err;
		break;
	case A_OBJECTID: {
		/* RFC 8474 6: objectid is an atom of ALPHA / DIGIT / "_" / "-". */
		const char *id;
		if (!(v = next_arg(ps, args, n, pos, a)))
			goto err;
		if (!imap_arg_get_atom(v, &id) || !objectid_valid(id, strlen(id))) {
			fail_key(ps, "Invalid object id for %s", a);
			goto err;
		}
		char prefix[OBJECTID_SIZE];
		k->str = xstrdup(k->type == SK_EMAILID && objectid_email_blob_prefix(id, prefix) ? prefix
											     : "");
		break;
	}
	case A_NOT:
	case A_OR:
		for (int i = 0; i < (def->arg == A_OR ? 2 : 1); i++) {
			if (*pos >= n) {
				fail_key(ps, "Missing search key after %s", a);
				goto err;
			}
			if (parse_key(ps, args, n, pos, depth + 1, &child) < 0)
				goto err;
			key_add_child(k, child);
			child = NULL;
		}
		break;
	}
	*out = k;
	return 0;
err:
	search_key_free(k);
	return -1;
}

/* Puts content keys after cheap ones in every AND (stable, so otherwise
 * the client's order is kept) and the cheap side of an OR first. Returns
 * whether the subtree needs the message content. */
static bool key_order(struct search_key *k)
{
	bool content = false;
	if (search_key_type_needs_content(k->type))
		return true;
	switch (k->type) {
	case SK_AND: {
		struct search_key **cheap = xmalloc(k->nchildren * sizeof(*cheap) + 1);
		struct search_key **dear = xmalloc(k->nchildren * sizeof(*dear) + 1);
		size_t nc = 0, nd = 0;
		for (size_t i = 0; i < k->nchildren; i++) {
			if (key_order(k->children[i]))
				dear[nd++] = k->children[i];
			else
				cheap[nc++] = k->children[i];
		}
		if (nc)
			memcpy(k->children, cheap, nc * sizeof(*cheap));
		if (nd)
			memcpy(k->children + nc, dear, nd * sizeof(*dear));
		free(cheap);
		free(dear);
		return nd > 0;
	}
	case SK_OR:
		if (k->nchildren == 2) {
			bool c0 = key_order(k->children[0]);
			bool c1 = key_order(k->children[1]);
			if (c0 && !c1) {
				struct search_key *t = k->children[0];
				k->children[0] = k->children[1];
				k->children[1] = t;
			}
			return c0 || c1;
		}
		break;
	default:
		break;
	}
	for (size_t i = 0; i < k->nchildren; i++)
		content |= key_order(k->children[i]);
	return content;
}

/* CHARSET names go to iconv_open(), which also takes "//TRANSLIT"-style
 * suffixes: only plain names are let through. */
static bool charset_name_ok(const char *cs)
{
	size_t len = strlen(cs);
	if (len == 0 || len > CHARSET_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)cs[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':' || c == '+'))
			return false;
	}
	return true;
}

enum search_parse_result imap_search_parse(const struct imap_arg *args, size_t n,
					   const struct search_parse_ctx *ctx,
					   struct search_key **out, const char **err)
{
	struct pstate ps = { .ctx = ctx, .cd = (iconv_t)-1 };
	*out = NULL;
	if (err)
		*err = NULL;
	/* RFC 9051 6.4.4: US-ASCII and UTF-8 are always supported; any
	 * other charset iconv knows is converted to UTF-8 here, so the rest of
	 * the server sees UTF-8 only. An unknown one is NO [BADCHARSET]. */
	if (ctx->charset && !ascii_ieq(ctx->charset, "UTF-8") &&
	    !ascii_ieq(ctx->charset, "US-ASCII") && !ascii_ieq(ctx->charset, "UTF8")) {
		if (!charset_name_ok(ctx->charset))
			return SEARCH_PARSE_BADCHARSET;
		ps.cd = iconv_open("UTF-8", ctx->charset);
		if (ps.cd == (iconv_t)-1)
			return SEARCH_PARSE_BADCHARSET;
	}
	struct search_key *root = NULL;
	int r;
	if (n == 0)
		r = fail(&ps, "Missing search criteria");
	else
		r = parse_list(&ps, args, n, 0, &root);
	if (ps.cd != (iconv_t)-1)
		iconv_close(ps.cd);
	if (r < 0) {
		if (err)
			*err = ps.err ? ps.err : "Invalid search criteria";
		return SEARCH_PARSE_BAD;
	}
	key_order(root);
	*out = root;
	return SEARCH_PARSE_OK;
}
