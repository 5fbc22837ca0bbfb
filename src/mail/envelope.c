/* RFC 9051 7.5.2 ENVELOPE: the ten fields from the header, with address
 * lists parsed per RFC 5322 3.4 into (name adl mailbox host) quadruples.
 * Parsing is lenient the way Dovecot's is, since clients compare our output
 * with what they saw from it: a comment after a bare addr-spec becomes the
 * name, and missing parts become MISSING_MAILBOX / MISSING_DOMAIN rather
 * than NIL (NIL host means group syntax in IMAP). */
#include "mail/mail.h"
#include "mail/mime_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/quote.h"
#include "core/util.h"

#define MISSING_MAILBOX "MISSING_MAILBOX"
#define MISSING_DOMAIN "MISSING_DOMAIN"

struct alex {
	const char *p, *e;
	struct strbuf comment; /* text of the last comment skipped */
	bool have_comment;
};

static void alex_cfws(struct alex *l)
{
	if (mail_cfws_skip(&l->p, l->e, &l->comment))
		l->have_comment = true;
}

/* RFC 5322 atext plus '.' (obs-phrase, dot-atom) and 8-bit bytes. */
static bool is_word_char(unsigned char c)
{
	if (c <= 0x20 || c == 0x7f)
		return false;
	return strchr("()<>[]:;@\\,\"", c) == NULL;
}

/* One word (atom or quoted-string) appended to out; false if none. */
static bool alex_word(struct alex *l, struct strbuf *out)
{
	if (l->p >= l->e)
		return false;
	if (*l->p == '"') {
		l->p++;
		while (l->p < l->e) {
			char c = *l->p++;
			if (c == '"')
				break;
			if (c == '\\' && l->p < l->e)
				c = *l->p++;
			else if (c == '\r' || c == '\n')
				continue;
			strbuf_addc(out, c);
		}
		return true;
	}
	const char *s = l->p;
	while (l->p < l->e && is_word_char((unsigned char)*l->p))
		l->p++;
	strbuf_add(out, s, (size_t)(l->p - s));
	return l->p > s;
}

/* domain = dot-atom / domain-literal; appended raw. */
static void alex_domain(struct alex *l, struct strbuf *out)
{
	alex_cfws(l);
	if (l->p < l->e && *l->p == '[') {
		const char *s = l->p;
		while (l->p < l->e && *l->p != ']')
			l->p += (*l->p == '\\' && l->p + 1 < l->e) ? 2 : 1;
		if (l->p < l->e)
			l->p++;
		strbuf_add(out, s, (size_t)(l->p - s));
		return;
	}
	for (;;) {
		const char *s = l->p;
		while (l->p < l->e && is_word_char((unsigned char)*l->p))
			l->p++;
		strbuf_add(out, s, (size_t)(l->p - s));
		alex_cfws(l);
		/* "example . com" (obs-domain) */
		if (l->p < l->e && *l->p == '.' && out->len > 0) {
			strbuf_addc(out, '.');
			l->p++;
			alex_cfws(l);
			continue;
		}
		break;
	}
}

static void put_nstr(struct strbuf *out, const struct strbuf *b, bool nil_if_empty)
{
	if (!b || (nil_if_empty && b->len == 0))
		strbuf_add(out, "NIL", 3);
	else
		quote_string(out, b->s ? b->s : "", b->len);
}

static void put_addr(struct strbuf *out, const struct strbuf *name, const struct strbuf *adl,
		     const char *mailbox, size_t mlen, const char *host, size_t hlen)
{
	strbuf_addc(out, '(');
	put_nstr(out, name, true);
	strbuf_addc(out, ' ');
	put_nstr(out, adl, true);
	strbuf_addc(out, ' ');
	quote_nstring(out, mailbox, mlen);
	strbuf_addc(out, ' ');
	quote_nstring(out, host, hlen);
	strbuf_addc(out, ')');
}

static void put_mailbox(struct strbuf *out, const struct strbuf *name, const struct strbuf *adl,
			const struct strbuf *local, const struct strbuf *domain)
{
	const char *m = local->len ? local->s : MISSING_MAILBOX;
	size_t ml = local->len ? local->len : strlen(MISSING_MAILBOX);
	const char *h = domain->len ? domain->s : MISSING_DOMAIN;
	size_t hl = domain->len ? domain->len : strlen(MISSING_DOMAIN);
	put_addr(out, name, adl, m, ml, h, hl);
}

/* angle-addr after the '<': [obs-route] addr-spec ">" */
static void parse_angle(struct alex *l, struct strbuf *out, const struct strbuf *name)
{
	struct strbuf adl = STRBUF_INIT, local = STRBUF_INIT, domain = STRBUF_INIT;
	alex_cfws(l);
	if (l->p < l->e && *l->p == '@') {
		/* RFC 5322 4.4 obs-route: "@a,@b:" kept as the adl without
		 * whitespace. */
		while (l->p < l->e && *l->p != ':' && *l->p != '>') {
			char c = *l->p++;
			if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
				strbuf_addc(&adl, c);
		}
		if (l->p < l->e && *l->p == ':')
			l->p++;
	}
	for (;;) {
		alex_cfws(l);
		if (!alex_word(l, &local))
			break;
		alex_cfws(l);
		if (l->p < l->e && *l->p == '.') {
			strbuf_addc(&local, '.');
			l->p++;
			continue;
		}
		break;
	}
	alex_cfws(l);
	if (l->p < l->e && *l->p == '@') {
		l->p++;
		alex_domain(l, &domain);
	}
	while (l->p < l->e && *l->p != '>' && *l->p != ',' && *l->p != ';')
		l->p++;
	if (l->p < l->e && *l->p == '>')
		l->p++;
	put_mailbox(out, name, &adl, &local, &domain);
	strbuf_free(&adl);
	strbuf_free(&local);
	strbuf_free(&domain);
}

static void parse_list(struct alex *l, struct strbuf *out, bool in_group);

/* One mailbox or group. Always consumes at least one byte unless at the
 * end. */
static void parse_address(struct alex *l, struct strbuf *out, bool in_group)
{
	struct strbuf phrase = STRBUF_INIT, local = STRBUF_INIT, word = STRBUF_INIT;
	const char *start = l->p;
	size_t words = 0;
	for (;;) {
		alex_cfws(l);
		strbuf_reset(&word);
		if (!alex_word(l, &word))
			break;
		l->have_comment = false;
		/* phrase: words joined by one space; local-part: as is. */
		if (words++ > 0)
			strbuf_addc(&phrase, ' ');
		strbuf_add(&phrase, word.s, word.len);
		strbuf_add(&local, word.s, word.len);
	}
	char c = l->p < l->e ? *l->p : '\0';
	if (c == ':' && !in_group) {
		l->p++;
		put_addr(out, NULL, NULL, phrase.s ? phrase.s : "", phrase.len, NULL, 0);
		parse_list(l, out, true);
		if (l->p < l->e && *l->p == ';')
			l->p++;
		put_addr(out, NULL, NULL, NULL, 0, NULL, 0);
	} else if (c == '<') {
		l->p++;
		parse_angle(l, out, &phrase);
	} else if (c == '@' || (words > 0 && (c == '\0' || c == ',' || c == ';'))) {
		/* addr-spec: a comment after it serves as the name. */
		struct strbuf domain = STRBUF_INIT;
		if (c == '@') {
			l->p++;
			l->have_comment = false;
			alex_domain(l, &domain);
			alex_cfws(l);
		}
		put_mailbox(out, l->have_comment ? &l->comment : NULL, NULL, &local, &domain);
		strbuf_free(&domain);
	} else if (l->p == start || words == 0) {
		if (l->p < l->e)
			l->p++; /* junk: skip it */
	} else if (l->p < l->e) {
		l->p++;
	}
	l->have_comment = false;
	strbuf_free(&phrase);
	strbuf_free(&local);
	strbuf_free(&word);
}

static void parse_list(struct alex *l, struct strbuf *out, bool in_group)
{
	while (l->p < l->e) {
		alex_cfws(l);
		if (l->p >= l->e)
			break;
		if (*l->p == ',') {
			l->p++;
			continue;
		}
		if (*l->p == ';') {
			if (in_group)
				return;
			l->p++;
			continue;
		}
		parse_address(l, out, in_group);
	}
}

/* Writes the address list of the first field `name` into out and returns
 * true, or returns false (writing nothing) when the field is absent or
 * holds no address. */
static bool write_addresses(struct strbuf *out, const char *d, const struct mail_part *p,
			    const char *name)
{
	struct mail_hdr h;
	if (!mail_part_hdr_find(d, p, name, &h))
		return false;
	struct alex l = { d + h.value_start, d + h.end, STRBUF_INIT, false };
	struct strbuf list = STRBUF_INIT;
	parse_list(&l, &list, false);
	bool any = list.len > 0;
	if (any) {
		strbuf_addc(out, '(');
		strbuf_add(out, list.s, list.len);
		strbuf_addc(out, ')');
	}
	strbuf_free(&list);
	strbuf_free(&l.comment);
	return any;
}

static void write_field(struct strbuf *out, const char *d, const struct mail_part *p,
			const char *name)
{
	struct mail_hdr h;
	if (!mail_part_hdr_find(d, p, name, &h)) {
		strbuf_add(out, "NIL", 3);
		return;
	}
	struct strbuf v = STRBUF_INIT;
	mail_hdr_unfold(d, &h, &v);
	quote_string(out, v.s ? v.s : "", v.len);
	strbuf_free(&v);
}

void mail_envelope_write_part(struct strbuf *out, const char *d, const struct mail_part *p)
{
	strbuf_addc(out, '(');
	write_field(out, d, p, "Date");
	strbuf_addc(out, ' ');
	write_field(out, d, p, "Subject");
	strbuf_addc(out, ' ');

	struct strbuf from = STRBUF_INIT;
	if (!write_addresses(&from, d, p, "From"))
		strbuf_add(&from, "NIL", 3);
	strbuf_add(out, from.s, from.len);
	/* RFC 9051 7.5.2: absent or empty Sender and Reply-To take the
	 * value of From. */
	strbuf_addc(out, ' ');
	if (!write_addresses(out, d, p, "Sender"))
		strbuf_add(out, from.s, from.len);
	strbuf_addc(out, ' ');
	if (!write_addresses(out, d, p, "Reply-To"))
		strbuf_add(out, from.s, from.len);
	strbuf_free(&from);

	static const char *const lists[] = { "To", "Cc", "Bcc" };
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		strbuf_addc(out, ' ');
		if (!write_addresses(out, d, p, lists[i]))
			strbuf_add(out, "NIL", 3);
	}
	strbuf_addc(out, ' ');
	write_field(out, d, p, "In-Reply-To");
	strbuf_addc(out, ' ');
	write_field(out, d, p, "Message-ID");
	strbuf_addc(out, ')');
}

void mail_write_envelope(struct strbuf *out, const struct mail_msg *m)
{
	mail_envelope_write_part(out, m->data, m->root);
}
