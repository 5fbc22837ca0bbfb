/* The MIME structure parser: one pass over the message, line by line,
 * building the part tree with byte offsets. Boundaries of every enclosing
 * multipart are kept on a stack so that a part whose own multipart end was
 * lost (truncated mail, a missing close-delimiter) still ends where an
 * outer boundary says it does, the way Dovecot and most MUAs behave.
 *
 * Allocation is per part (the part and its type strings), never per line
 * or byte. */
#include "mail/mail.h"
#include "mail/mime_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

struct parse_ctx {
	const char *d;
	size_t len;
	size_t pos;    /* start of the current line */
	size_t lineno; /* LF count in d[0..pos) */
	size_t nparts;
	size_t last_hdr_end; /* where the latest header block ended */
	const char *bnd[MAIL_MAX_DEPTH + 1];
	size_t bndlen[MAIL_MAX_DEPTH + 1];
	size_t nbnd;
};

/* Where the current line ends (after its LF, or at the end of data). */
static size_t line_end(const struct parse_ctx *c, size_t p)
{
	const char *nl = memchr(c->d + p, '\n', c->len - p);
	return nl ? (size_t)(nl - c->d) + 1 : c->len;
}

static void advance_line(struct parse_ctx *c)
{
	size_t e = line_end(c, c->pos);
	if (e > c->pos && c->d[e - 1] == '\n')
		c->lineno++;
	c->pos = e;
}

/* RFC 2046 5.1.1: a line "--boundary" (or "--boundary--") delimits body
 * parts. Like Dovecot we match the boundary as a prefix of the line and try
 * the innermost multipart first, so "--abc" nested in "--ab" resolves to the
 * right one. Returns the stack index, or -1. */
static int boundary_at(const struct parse_ctx *c, size_t p, bool *close)
{
	if (c->nbnd == 0 || c->len - p < 2 || c->d[p] != '-' || c->d[p + 1] != '-')
		return -1;
	const char *s = c->d + p + 2;
	size_t avail = c->len - p - 2;
	for (size_t i = c->nbnd; i-- > 0;) {
		size_t bl = c->bndlen[i];
		if (bl <= avail && memcmp(s, c->bnd[i], bl) == 0) {
			*close = bl + 2 <= avail && s[bl] == '-' && s[bl + 1] == '-';
			return (int)i;
		}
	}
	return -1;
}

static bool any_boundary_at(const struct parse_ctx *c, size_t p)
{
	bool close;
	return boundary_at(c, p, &close) >= 0;
}

static struct mail_part *part_new(struct parse_ctx *c, struct mail_part *parent)
{
	struct mail_part *p = xcalloc(1, sizeof(*p));
	p->parent = parent;
	c->nparts++;
	if (parent) {
		if (parent->last_child)
			parent->last_child->next = p;
		else
			parent->children = p;
		parent->last_child = p;
		parent->nchildren++;
	}
	return p;
}

/* Reads the header block at c->pos: up to and including the blank line,
 * or up to a boundary line (a part without a header/body separator) or the
 * end of data. Remembers where Content-Type's value is. */
static void parse_header(struct parse_ctx *c, struct mail_part *p, size_t *ct_start,
			 size_t *ct_end)
{
	bool in_ct = false;
	*ct_start = *ct_end = 0;
	p->hdr_start = c->pos;
	while (c->pos < c->len) {
		size_t s = c->pos;
		size_t e = line_end(c, s);
		const char *l = c->d + s;
		size_t ll = e - s;
		if ((ll == 1 && l[0] == '\n') || (ll == 2 && l[0] == '\r' && l[1] == '\n')) {
			advance_line(c);
			p->hdr_end = c->pos;
			c->last_hdr_end = c->pos;
			return;
		}
		if (any_boundary_at(c, s))
			break;
		if (l[0] == ' ' || l[0] == '\t') {
			if (in_ct)
				*ct_end = e;
		} else {
			in_ct = false;
			/* Only the first Content-Type counts. */
			if (*ct_end == 0 && ll > 13 && strncasecmp(l, "content-type", 12) == 0) {
				size_t k = 12;
				while (k < ll && (l[k] == ' ' || l[k] == '\t'))
					k++;
				if (k < ll && l[k] == ':') {
					in_ct = true;
					*ct_start = s + k + 1;
					*ct_end = e;
				}
			}
		}
		advance_line(c);
	}
	p->hdr_end = c->pos;
	c->last_hdr_end = c->pos;
}

/* Scans body lines until a boundary of an enclosing multipart (c->pos left
 * on that line) or the end of data. */
static void skip_to_boundary(struct parse_ctx *c)
{
	if (c->pos >= c->len)
		return;
	if (c->nbnd == 0) {
		/* Nothing can end this body but the end of data: just count. */
		const char *q = c->d + c->pos, *end = c->d + c->len;
		while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
			c->lineno++;
			q++;
		}
		c->pos = c->len;
		return;
	}
	while (c->pos < c->len && !any_boundary_at(c, c->pos))
		advance_line(c);
}

/* Ends the body of p at c->pos. RFC 2046 5.1.1: the line break before a
 * boundary line belongs to the boundary, not to the preceding body --
 * unless a header block (of an encapsulated message or a part cut short)
 * ends right there: giving that line break away would end the enclosing
 * bodies inside the header. */
static void body_finish(struct parse_ctx *c, struct mail_part *p, size_t start_lineno)
{
	size_t end = c->pos;
	size_t lines = c->lineno - start_lineno;
	if (end < c->len && end > p->body_start && end != c->last_hdr_end && c->d[end - 1] == '\n') {
		end--;
		lines--;
		if (end > p->body_start && c->d[end - 1] == '\r')
			end--;
	}
	p->body_end = end;
	p->body_lines = lines;
}

static void set_type(struct mail_part *p, const char *type, const char *subtype, bool defaulted)
{
	p->type = xstrdup(type);
	p->subtype = xstrdup(subtype);
	p->type_defaulted = defaulted;
}

static void parse_entity(struct parse_ctx *c, struct mail_part *p, int depth, bool in_digest);

static void parse_multipart_body(struct parse_ctx *c, struct mail_part *p, int depth)
{
	bool digest = strcasecmp(p->subtype, "digest") == 0;
	size_t own = c->nbnd;
	c->bnd[own] = p->boundary;
	c->bndlen[own] = strlen(p->boundary);
	c->nbnd++;
	/* The preamble, then one child per delimiter line. */
	while (c->pos < c->len) {
		bool close;
		int b = boundary_at(c, c->pos, &close);
		if (b < 0) {
			advance_line(c);
			continue;
		}
		if ((size_t)b != own)
			break; /* an enclosing multipart's boundary: ours was never closed */
		advance_line(c);
		if (close) {
			/* The epilogue runs to an outer boundary or the end. */
			c->nbnd--;
			skip_to_boundary(c);
			return;
		}
		if (c->nparts >= MAIL_MAX_PARTS)
			continue; /* over the limit: the rest is opaque body */
		struct mail_part *child = part_new(c, p);
		parse_entity(c, child, depth + 1, digest);
	}
	c->nbnd--;
}

/* Parses the entity at c->pos, which ends at a boundary line of an
 * enclosing multipart or at the end of data. */
static void parse_entity(struct parse_ctx *c, struct mail_part *p, int depth, bool in_digest)
{
	size_t ct_start, ct_end;
	parse_header(c, p, &ct_start, &ct_end);
	p->body_start = c->pos;
	size_t start_lineno = c->lineno;

	char *type = NULL, *subtype = NULL;
	struct mail_params params = { 0 };
	if (ct_end > ct_start)
		mail_content_type_parse(c->d + ct_start, ct_end - ct_start, &type, &subtype,
					&params);
	if (type) {
		p->type = type;
		p->subtype = subtype;
	} else if (in_digest) {
		/* RFC 2046 5.1.5: in a digest the default is message/rfc822. */
		set_type(p, "message", "rfc822", true);
	} else {
		/* RFC 2045 5.2: missing or invalid Content-Type. */
		set_type(p, "text", "plain", true);
	}

	bool room = depth < MAIL_MAX_DEPTH && c->nparts < MAIL_MAX_PARTS;
	if (room && strcasecmp(p->type, "multipart") == 0) {
		const char *b = mail_params_get(&params, "boundary");
		/* RFC 2046 5.1.1: 1 to 70 characters; longer ones are still
		 * accepted, bounded by the line they sit on. */
		if (b && *b && strlen(b) <= 998) {
			p->kind = MAIL_PART_MULTIPART;
			p->boundary = xstrdup(b);
		}
	} else if (room && strcasecmp(p->type, "message") == 0 &&
		   (strcasecmp(p->subtype, "rfc822") == 0 || strcasecmp(p->subtype, "global") == 0)) {
		p->kind = MAIL_PART_MESSAGE;
	}
	mail_params_free(&params);

	switch (p->kind) {
	case MAIL_PART_MULTIPART:
		parse_multipart_body(c, p, depth);
		break;
	case MAIL_PART_MESSAGE: {
		struct mail_part *child = part_new(c, p);
		parse_entity(c, child, depth + 1, false);
		break;
	}
	case MAIL_PART_LEAF:
		skip_to_boundary(c);
		break;
	}
	body_finish(c, p, start_lineno);
}

struct mail_msg *mail_parse(const char *data, size_t len)
{
	struct mail_msg *m = xcalloc(1, sizeof(*m));
	m->data = data;
	m->len = data ? len : 0;
	struct parse_ctx c = { .d = data, .len = m->len };
	m->root = part_new(&c, NULL);
	parse_entity(&c, m->root, 0, false);
	return m;
}

static void part_free(struct mail_part *p)
{
	/* Iterative over siblings, recursive over depth (bounded by
	 * MAIL_MAX_DEPTH). */
	while (p) {
		struct mail_part *next = p->next;
		part_free(p->children);
		free(p->type);
		free(p->subtype);
		free(p->boundary);
		free(p);
		p = next;
	}
}

void mail_msg_free(struct mail_msg *m)
{
	if (!m)
		return;
	part_free(m->root);
	free(m);
}

static const struct mail_part *nth_child(const struct mail_part *p, uint32_t n)
{
	const struct mail_part *c = p->children;
	for (uint32_t i = 1; c && i < n; i++)
		c = c->next;
	return n >= 1 ? c : NULL;
}

/* RFC 9051 6.4.5: the parts of a multipart are numbered from 1; a
 * non-multipart message has only part 1, its body; a message/rfc822 part
 * reached by a number has the parts of the message it encapsulates. Like
 * Dovecot, a non-multipart body part N also answers to N.1 (itself). */
const struct mail_part *mail_part_find(const struct mail_msg *m, const uint32_t *part,
				       size_t nparts)
{
	const struct mail_part *p = m->root;
	for (size_t i = 0; p && i < nparts; i++) {
		uint32_t n = part[i];
		if (i > 0 && p->kind == MAIL_PART_MESSAGE)
			p = p->children;
		if (!p)
			return NULL;
		if (p->kind == MAIL_PART_MULTIPART)
			p = nth_child(p, n);
		else if (n != 1 || (i > 0 && p == m->root))
			return NULL; /* a non-multipart message has only part 1 (as in Dovecot) */
	}
	return p;
}
