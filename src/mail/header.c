/* Header fields: iteration and unfolding over the raw bytes, the RFC 822
 * lexical tokens MIME values are made of, MIME parameters with RFC 2231
 * continuations, and the RFC 2047-decoded header values SEARCH matches
 * (the decoders are decode.c). */
#include "mail/mail.h"
#include "mail/decode.h"
#include "mail/mime_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

/* A parameter list longer than this is garbage or an attack; the rest is
 * ignored (it also bounds the merge sort below). */
#define MAIL_MAX_PARAMS 256

void mail_hdr_iter_init(struct mail_hdr_iter *it, const char *d, size_t start, size_t end)
{
	it->d = d;
	it->pos = start;
	it->end = end;
}

static size_t iter_line_end(const struct mail_hdr_iter *it, size_t p)
{
	const char *nl = memchr(it->d + p, '\n', it->end - p);
	return nl ? (size_t)(nl - it->d) + 1 : it->end;
}

bool mail_hdr_iter_next(struct mail_hdr_iter *it, struct mail_hdr *h)
{
	const char *d = it->d;
	while (it->pos < it->end) {
		size_t s = it->pos;
		size_t e = iter_line_end(it, s);
		size_t ll = e - s;
		if ((ll == 1 && d[s] == '\n') || (ll == 2 && d[s] == '\r' && d[s + 1] == '\n')) {
			it->pos = it->end; /* the blank line ends the header block */
			return false;
		}
		if (d[s] == ' ' || d[s] == '\t') {
			/* A continuation line without a field to continue
			 * (first line of the block): skip it. */
			it->pos = e;
			continue;
		}
		/* Continuation lines belong to this field. */
		size_t fe = e;
		while (fe < it->end && (d[fe] == ' ' || d[fe] == '\t'))
			fe = iter_line_end(it, fe);
		const char *colon = memchr(d + s, ':', e - s);
		h->name = d + s;
		h->start = s;
		h->end = fe;
		if (colon) {
			size_t nl = (size_t)(colon - (d + s));
			while (nl > 0 && (d[s + nl - 1] == ' ' || d[s + nl - 1] == '\t'))
				nl--;
			h->name_len = nl;
			h->value_start = (size_t)(colon - d) + 1;
		} else {
			size_t nl = ll;
			while (nl > 0 && (d[s + nl - 1] == '\n' || d[s + nl - 1] == '\r'))
				nl--;
			h->name_len = nl;
			h->value_start = fe;
		}
		it->pos = fe;
		return true;
	}
	return false;
}

bool mail_hdr_name_is(const struct mail_hdr *h, const char *name)
{
	size_t n = strlen(name);
	return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

bool mail_part_hdr_find(const char *d, const struct mail_part *p, const char *name,
			struct mail_hdr *h)
{
	struct mail_hdr_iter it;
	mail_hdr_iter_init(&it, d, p->hdr_start, p->hdr_end);
	while (mail_hdr_iter_next(&it, h))
		if (mail_hdr_name_is(h, name))
			return true;
	return false;
}

void mail_hdr_unfold(const char *d, const struct mail_hdr *h, struct strbuf *out)
{
	size_t i = h->value_start;
	while (i < h->end && (d[i] == ' ' || d[i] == '\t'))
		i++;
	/* RFC 5322 2.2.3: unfolding removes the CRLF, keeps the whitespace.
	 * Like Dovecot, a TAB that starts a continuation line becomes a
	 * space (ENVELOPE strings then match Dovecot's). */
	while (i < h->end) {
		size_t run = i;
		while (run < h->end && d[run] != '\r' && d[run] != '\n')
			run++;
		strbuf_add(out, d + i, run - i);
		i = run;
		bool folded = false;
		while (i < h->end && (d[i] == '\r' || d[i] == '\n')) {
			i++;
			folded = true;
		}
		if (folded && i < h->end && d[i] == '\t') {
			strbuf_addc(out, ' ');
			i++;
		}
	}
}

/* ---- RFC 822 / RFC 2045 lexical tokens ---- */

struct lex {
	const char *p, *e;
};

/* RFC 5322 3.2.2 (see mime_internal.h): the one CFWS skipper. */
size_t mail_cfws_skip(const char **pp, const char *e, struct strbuf *comment)
{
	const char *p = *pp;
	size_t n = 0;
	while (p < e) {
		char c = *p;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			p++;
			continue;
		}
		if (c != '(')
			break;
		n++;
		if (comment) {
			strbuf_reset(comment);
			strbuf_adds(comment, "");
		}
		int depth = 0;
		while (p < e) {
			c = *p++;
			if (c == '\\' && p < e) {
				/* quoted-pair: the next byte is text, even ( or ) */
				c = *p++;
				if (comment)
					strbuf_addc(comment, c);
				continue;
			}
			if (c == '(' && depth++ == 0)
				continue;
			if (c == ')' && --depth == 0)
				break;
			if (comment && c != '\r' && c != '\n')
				strbuf_addc(comment, c);
		}
	}
	*pp = p;
	return n;
}

static void lex_skip_cfws(struct lex *l)
{
	mail_cfws_skip(&l->p, l->e, NULL);
}

/* RFC 2045 5.1 token: no tspecials, spaces or controls. 8-bit bytes are
 * accepted, as real mail has them. */
static bool is_token_char(unsigned char c)
{
	if (c <= 0x20 || c == 0x7f)
		return false;
	return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static bool lex_token(struct lex *l, const char **s, size_t *n)
{
	const char *start = l->p;
	while (l->p < l->e && is_token_char((unsigned char)*l->p))
		l->p++;
	*s = start;
	*n = (size_t)(l->p - start);
	return *n > 0;
}

/* A quoted-string at l->p (which is '"'): appends its content unescaped
 * and unfolded. An unterminated string runs to the end. */
static void lex_quoted(struct lex *l, struct strbuf *out)
{
	l->p++;
	while (l->p < l->e) {
		char c = *l->p++;
		if (c == '"')
			return;
		if (c == '\\' && l->p < l->e)
			c = *l->p++;
		else if (c == '\r' || c == '\n')
			continue;
		strbuf_addc(out, c);
	}
}

char *mail_hdr_token(const char *s, size_t len)
{
	struct lex l = { s, s + len };
	const char *t;
	size_t n;
	lex_skip_cfws(&l);
	if (!lex_token(&l, &t, &n))
		return NULL;
	return xstrndup(t, n);
}

/* ---- parameters ---- */

struct raw_param {
	char *key;   /* the name without the RFC 2231 "*n*" suffix */
	char *value;
	unsigned idx;
	bool extended;
	size_t order;
};

static void params_add(struct mail_params *ps, char *name, char *value)
{
	xgrow((void **)&ps->v, &ps->cap, ps->n + 1, sizeof(*ps->v));
	ps->v[ps->n].name = name;
	ps->v[ps->n].value = value;
	ps->n++;
}

static int raw_param_cmp(const void *a, const void *b)
{
	const struct raw_param *x = a, *y = b;
	int r = strcmp(x->key, y->key);
	if (r)
		return r;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	/* Keeps equal keys in their original order: qsort isn't stable. */
	return x->order < y->order ? -1 : (x->order > y->order);
}

/* RFC 2231 3: "name*" (charset-encoded) and "name*N" / "name*N*"
 * (continuations). Returns true and fills r when key has that form. */
static bool rfc2231_split(const char *key, struct raw_param *r)
{
	const char *star = strchr(key, '*');
	if (!star)
		return false;
	const char *p = star;
	unsigned idx = 0;
	if (p[1] != '\0') {
		p++;
		for (; *p >= '0' && *p <= '9'; p++)
			idx = idx > 100000 ? idx : idx * 10 + (unsigned)(*p - '0');
	}
	bool extended = false;
	if (*p == '*') {
		extended = true;
		p++;
	}
	if (*p != '\0')
		return false;
	r->key = xstrndup(key, (size_t)(star - key));
	r->idx = idx;
	r->extended = extended;
	return true;
}

static void escape_percent(struct strbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '%')
			strbuf_add(b, "%25", 3);
		else
			strbuf_addc(b, *s);
	}
}

/* Merges RFC 2231 pieces the way Dovecot's rfc2231_parse() does, so that
 * our BODYSTRUCTURE matches what clients already see from Dovecot: the
 * pieces of one name are joined; if any piece is charset-encoded the name
 * becomes "name*" and the value stays in its RFC 2231 encoded form
 * (charset'lang'percent-text, plain pieces get their '%' escaped); if an
 * index is missing the pieces go out unmerged as "name*N[*]". */
static void rfc2231_merge(struct raw_param *r, size_t n, struct mail_params *out)
{
	qsort(r, n, sizeof(*r), raw_param_cmp);
	for (size_t i = 0, next; i < n; i = next) {
		bool ok = true, have_ext = false;
		unsigned want = 0;
		size_t j;
		for (j = i; j < n && strcasecmp(r[i].key, r[j].key) == 0; j++) {
			if (r[j].idx != want)
				ok = false;
			if (r[j].extended)
				have_ext = true;
			want++;
		}
		next = j;
		if (!ok) {
			for (j = i; j < next; j++)
				params_add(out,
					   xasprintf(r[j].extended ? "%s*%u*" : "%s*%u", r[j].key,
						     r[j].idx),
					   xstrdup(r[j].value));
			continue;
		}
		struct strbuf v = STRBUF_INIT;
		strbuf_adds(&v, "");
		if (!r[i].extended && have_ext)
			strbuf_add(&v, "''", 2);
		for (j = i; j < next; j++) {
			if (!r[j].extended && have_ext)
				escape_percent(&v, r[j].value);
			else
				strbuf_adds(&v, r[j].value);
		}
		char *key = have_ext ? xasprintf("%s*", r[i].key) : xstrdup(r[i].key);
		params_add(out, key, strbuf_detach(&v, NULL));
	}
}

static void skip_past_semicolon(struct lex *l)
{
	while (l->p < l->e && *l->p != ';') {
		if (*l->p == '"') {
			struct strbuf junk = STRBUF_INIT;
			lex_quoted(l, &junk);
			strbuf_free(&junk);
		} else {
			l->p++;
		}
	}
}

void mail_params_parse(const char *s, size_t len, struct mail_params *out)
{
	struct lex l = { s, s + len };
	struct raw_param *raw = NULL;
	size_t nraw = 0, rawcap = 0, total = 0;
	while (l.p < l.e && total < MAIL_MAX_PARAMS) {
		lex_skip_cfws(&l);
		if (l.p < l.e && *l.p == ';') {
			l.p++;
			continue;
		}
		if (l.p >= l.e)
			break;
		const char *k, *t;
		size_t kn, tn;
		if (!lex_token(&l, &k, &kn)) {
			l.p++;
			skip_past_semicolon(&l);
			continue;
		}
		lex_skip_cfws(&l);
		if (l.p >= l.e || *l.p != '=') {
			skip_past_semicolon(&l);
			continue;
		}
		l.p++;
		lex_skip_cfws(&l);
		char *value;
		if (l.p < l.e && *l.p == '"') {
			struct strbuf v = STRBUF_INIT;
			strbuf_adds(&v, "");
			lex_quoted(&l, &v);
			value = strbuf_detach(&v, NULL);
		} else if (lex_token(&l, &t, &tn)) {
			value = xstrndup(t, tn);
		} else {
			skip_past_semicolon(&l);
			continue;
		}
		/* Whatever follows the value up to the next ';' is junk. */
		skip_past_semicolon(&l);
		total++;
		char *key = xstrndup(k, kn);
		struct raw_param r = { 0 };
		if (rfc2231_split(key, &r)) {
			free(key);
			r.value = value;
			r.order = nraw;
			xgrow((void **)&raw, &rawcap, nraw + 1, sizeof(*raw));
			raw[nraw++] = r;
		} else {
			params_add(out, key, value);
		}
	}
	if (nraw) {
		rfc2231_merge(raw, nraw, out);
		for (size_t i = 0; i < nraw; i++) {
			free(raw[i].key);
			free(raw[i].value);
		}
	}
	free(raw);
}

void mail_params_free(struct mail_params *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		free(ps->v[i].name);
		free(ps->v[i].value);
	}
	free(ps->v);
	ps->v = NULL;
	ps->n = ps->cap = 0;
}

const char *mail_params_get(const struct mail_params *ps, const char *name)
{
	for (size_t i = 0; i < ps->n; i++)
		if (strcasecmp(ps->v[i].name, name) == 0)
			return ps->v[i].value;
	return NULL;
}

void mail_content_type_parse(const char *s, size_t len, char **type, char **subtype,
			     struct mail_params *params)
{
	struct lex l = { s, s + len };
	const char *t, *st;
	size_t tn, stn;
	*type = *subtype = NULL;
	lex_skip_cfws(&l);
	if (!lex_token(&l, &t, &tn))
		return;
	lex_skip_cfws(&l);
	if (l.p >= l.e || *l.p != '/')
		return;
	l.p++;
	lex_skip_cfws(&l);
	if (!lex_token(&l, &st, &stn))
		return;
	*type = xstrndup(t, tn);
	*subtype = xstrndup(st, stn);
	mail_params_parse(l.p, (size_t)(l.e - l.p), params);
}

void mail_disposition_parse(const char *s, size_t len, char **token, struct mail_params *params)
{
	struct lex l = { s, s + len };
	const char *t;
	size_t tn;
	*token = NULL;
	lex_skip_cfws(&l);
	if (!lex_token(&l, &t, &tn))
		return;
	*token = xstrndup(t, tn);
	mail_params_parse(l.p, (size_t)(l.e - l.p), params);
}

int mail_header_decoded(const struct mail_msg *m, const char *name, struct strbuf *out)
{
	struct mail_hdr_iter it;
	struct mail_hdr h;
	struct strbuf tmp = STRBUF_INIT;
	int count = 0;
	mail_hdr_iter_init(&it, m->data, m->root->hdr_start, m->root->hdr_end);
	while (mail_hdr_iter_next(&it, &h)) {
		if (!mail_hdr_name_is(&h, name))
			continue;
		strbuf_reset(&tmp);
		mail_hdr_unfold(m->data, &h, &tmp);
		if (count > 0)
			strbuf_addc(out, '\n');
		else
			strbuf_adds(out, "");
		mail_rfc2047_decode(tmp.s ? tmp.s : "", tmp.len, out);
		count++;
	}
	strbuf_free(&tmp);
	return count;
}
