/* Parsing of FETCH attributes into a struct fetch_request. The parser hands
 * us `BODY.PEEK[HEADER.FIELDS (From To)]<0.100>` as one atom; this file
 * splits it into name, section and partial range, and builds the label the
 * response uses (RFC 9051 7.5.2: BODY.PEEK answers as BODY, the partial
 * range answers with its origin only). */
#include "imap/fetch_items.h"
#include "core/quote.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* Bounds on one request: a FETCH is per message, and body items multiply
 * the bytes sent for each message before flow control can pause. */
#define FETCH_MAX_ITEMS 256
#define FETCH_MAX_BODY_ITEMS 32
/* Header field names longer than this can't be echoed in a label. */
#define FETCH_MAX_FIELD_NAME 200

static struct fetch_item *item_add(struct fetch_request *r, enum fetch_item_type type)
{
	xgrow((void **)&r->items, &r->cap, r->n + 1, sizeof(*r->items));
	struct fetch_item *it = &r->items[r->n++];
	memset(it, 0, sizeof(*it));
	it->type = type;
	return it;
}

static void item_free(struct fetch_item *it)
{
	if (it->type == FI_SECTION)
		mail_section_free(&it->section);
	free(it->label);
	it->label = NULL;
}

/* Simple attributes without brackets. */
static const struct {
	const char *name;
	enum fetch_item_type type;
} simple_items[] = {
	{ "UID", FI_UID },
	{ "FLAGS", FI_FLAGS },
	{ "INTERNALDATE", FI_INTERNALDATE },
	{ "RFC822.SIZE", FI_RFC822_SIZE },
	{ "SAVEDATE", FI_SAVEDATE },
	{ "ENVELOPE", FI_ENVELOPE },
	{ "BODY", FI_BODY },
	{ "BODYSTRUCTURE", FI_BODYSTRUCTURE },
	{ "MODSEQ", FI_MODSEQ },    /* RFC 7162 3.1.4.1 */
	{ "EMAILID", FI_EMAILID },  /* objectid: RFC 8474 5 */
	{ "THREADID", FI_THREADID },
	{ "PREVIEW", FI_PREVIEW },  /* preview: RFC 8970 3.1 */
};

/* RFC 5322 3.6.8: field-name = 1*ftext, printable ASCII except ':'. */
static bool field_name_valid(const char *f)
{
	size_t len = strlen(f);
	if (len == 0 || len > FETCH_MAX_FIELD_NAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)f[i];
		if (c < 33 || c > 126 || c == ':')
			return false;
	}
	return true;
}

/* The section text as the response label carries it: keywords in upper
 * case, field names as the client sent them. */
static void section_write(struct strbuf *out, const struct mail_section *sec)
{
	for (size_t i = 0; i < sec->nparts; i++)
		strbuf_addf(out, "%s%u", i ? "." : "", sec->part[i]);
	const char *kw = NULL;
	switch (sec->kind) {
	case MAIL_SECTION_ALL:
		break;
	case MAIL_SECTION_HEADER:
		kw = "HEADER";
		break;
	case MAIL_SECTION_HEADER_FIELDS:
		kw = "HEADER.FIELDS";
		break;
	case MAIL_SECTION_HEADER_FIELDS_NOT:
		kw = "HEADER.FIELDS.NOT";
		break;
	case MAIL_SECTION_TEXT:
		kw = "TEXT";
		break;
	case MAIL_SECTION_MIME:
		kw = "MIME";
		break;
	}
	if (!kw)
		return;
	if (sec->nparts)
		strbuf_addc(out, '.');
	strbuf_adds(out, kw);
	if (sec->kind == MAIL_SECTION_HEADER_FIELDS || sec->kind == MAIL_SECTION_HEADER_FIELDS_NOT) {
		strbuf_adds(out, " (");
		for (size_t i = 0; i < sec->nfields; i++) {
			if (i)
				strbuf_addc(out, ' ');
			quote_astring(out, sec->fields[i], strlen(sec->fields[i]));
		}
		strbuf_addc(out, ')');
	}
}

/* Index of the ']' that closes the '[' at s[open], skipping quoted strings
 * (a quoted field name may contain ']'). 0 when there is none. */
static size_t bracket_close(const char *s, size_t len, size_t open)
{
	bool quoted = false;
	for (size_t i = open + 1; i < len; i++) {
		if (quoted) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			else if (s[i] == '"')
				quoted = false;
		} else if (s[i] == '"') {
			quoted = true;
		} else if (s[i] == ']') {
			return i;
		}
	}
	return 0;
}

/* "<origin.count>" (RFC 9051 9 "partial": count is non-zero). */
static int partial_parse(const char *s, size_t len, uint64_t *origin, uint64_t *count)
{
	if (len < 5 || s[0] != '<' || s[len - 1] != '>')
		return -1;
	const char *dot = memchr(s, '.', len);
	if (!dot)
		return -1;
	size_t olen = (size_t)(dot - (s + 1));
	size_t clen = len - 2 - olen - 1;
	if (olen == 0 || clen == 0 || olen > 20 || clen > 20)
		return -1;
	if (parse_u64(s + 1, olen, origin) < 0 || parse_u64(dot + 1, clen, count) < 0)
		return -1;
	return *count == 0 ? -1 : 0;
}

/* section-binary: [section-part], "1.2.3", each part non-zero. */
static int binary_part_parse(const char *s, size_t len, uint32_t *part, size_t *nparts)
{
	*nparts = 0;
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && s[j] >= '0' && s[j] <= '9')
			j++;
		uint32_t v;
		if (j == i || s[i] == '0' || j - i > 10 || parse_u32(s + i, j - i, &v) < 0 || v == 0)
			return -1;
		if (*nparts >= MAIL_MAX_SECTION_PARTS)
			return -1;
		part[(*nparts)++] = v;
		if (j == len)
			break;
		if (s[j] != '.' || j + 1 == len)
			return -1;
		i = j + 1;
	}
	return 0;
}

/* One attribute with brackets: BODY[..], BODY.PEEK[..], BINARY[..],
 * BINARY.PEEK[..], BINARY.SIZE[..]. */
static int bracket_item_parse(struct fetch_request *r, const char *s, size_t len, size_t open,
			      const char **err)
{
	size_t close = bracket_close(s, len, open);
	if (!close) {
		*err = "Missing ] in FETCH attribute";
		return -1;
	}
	const char *spec = s + open + 1;
	size_t speclen = close - open - 1;
	const char *rest = s + close + 1;
	size_t restlen = len - close - 1;
	bool body = false, size = false, peek = false;
	if (ascii_ieqn(s, open, "BODY")) {
		body = true;
	} else if (ascii_ieqn(s, open, "BODY.PEEK")) {
		body = peek = true;
	} else if (ascii_ieqn(s, open, "BINARY")) {
		/* BINARY[] */
	} else if (ascii_ieqn(s, open, "BINARY.PEEK")) {
		peek = true;
	} else if (ascii_ieqn(s, open, "BINARY.SIZE")) {
		size = peek = true;
	} else {
		*err = "Unknown FETCH attribute";
		return -1;
	}
	uint64_t origin = 0, count = 0;
	bool partial = restlen > 0;
	if (partial && (size || partial_parse(rest, restlen, &origin, &count) < 0)) {
		*err = size ? "BINARY.SIZE takes no partial range" : "Invalid partial range <origin.count>";
		return -1;
	}
	struct strbuf label = STRBUF_INIT;
	struct fetch_item *it;
	if (body) {
		struct mail_section sec;
		memset(&sec, 0, sizeof(sec));
		if (mail_section_parse(spec, speclen, &sec) < 0) {
			*err = "Invalid section in BODY[]";
			return -1;
		}
		for (size_t i = 0; i < sec.nfields; i++) {
			if (!field_name_valid(sec.fields[i])) {
				mail_section_free(&sec);
				*err = "Invalid header field name";
				return -1;
			}
		}
		it = item_add(r, FI_SECTION);
		it->section = sec;
		strbuf_adds(&label, "BODY[");
		section_write(&label, &sec);
		strbuf_addc(&label, ']');
		/* alloc: HEADER and TEXT of the message are found without
		 * parsing its MIME structure (mail_section_range). */
		if (!mail_section_is_range(&sec))
			r->needs_parse = true;
	} else {
		uint32_t part[MAIL_MAX_SECTION_PARTS];
		size_t nparts;
		if (binary_part_parse(spec, speclen, part, &nparts) < 0) {
			*err = "Invalid section in BINARY[]";
			return -1;
		}
		it = item_add(r, size ? FI_BINARY_SIZE : FI_BINARY);
		memcpy(it->part, part, sizeof(part));
		it->nparts = nparts;
		strbuf_adds(&label, size ? "BINARY.SIZE[" : "BINARY[");
		for (size_t i = 0; i < nparts; i++)
			strbuf_addf(&label, "%s%u", i ? "." : "", part[i]);
		strbuf_addc(&label, ']');
		r->needs_parse = true;
	}
	it->peek = peek;
	it->partial = partial;
	it->origin = origin;
	it->count = count;
	/* RFC 9051 7.5.2: the response gives the origin only. */
	if (partial)
		strbuf_addf(&label, "<%llu>", (unsigned long long)origin);
	it->label = strbuf_detach(&label, NULL);
	r->needs_content = true;
	if (!peek)
		r->sets_seen = true;
	return 0;
}

static int item_parse(struct fetch_request *r, const struct imap_arg *a, const char **err)
{
	const char *s;
	if (!imap_arg_get_atom(a, &s)) {
		*err = "FETCH attributes must be atoms";
		return -1;
	}
	size_t len = strlen(s);
	if (r->n >= FETCH_MAX_ITEMS) {
		*err = "Too many FETCH attributes";
		return -1;
	}
	const char *open = memchr(s, '[', len);
	if (open)
		return bracket_item_parse(r, s, len, (size_t)(open - s), err);
	for (size_t i = 0; i < ARRAY_SIZE(simple_items); i++) {
		if (!ascii_ieq(s, simple_items[i].name))
			continue;
		struct fetch_item *it = item_add(r, simple_items[i].type);
		it->label = xstrdup(simple_items[i].name);
		switch (it->type) {
		case FI_UID:
			r->has_uid = true;
			break;
		case FI_MODSEQ:
			r->has_modseq = true;
			break;
		case FI_FLAGS:
			r->has_flags = true;
			r->needs_meta = true;
			break;
		case FI_INTERNALDATE:
		case FI_SAVEDATE:
		case FI_EMAILID: /* the blob hash */
			r->needs_meta = true;
			break;
		case FI_ENVELOPE:
		case FI_BODY:
		case FI_BODYSTRUCTURE:
			r->needs_cache = true;
			break;
		case FI_PREVIEW:
			r->needs_preview = true;
			break;
		default:
			break;
		}
		return 0;
	}
	/* The RFC 822 forms (RFC 3501; still accepted from IMAP4rev2 clients)
	 * are sections with their own labels. */
	enum mail_section_kind kind;
	bool peek;
	if (ascii_ieq(s, "RFC822")) {
		kind = MAIL_SECTION_ALL;
		peek = false;
	} else if (ascii_ieq(s, "RFC822.HEADER")) {
		kind = MAIL_SECTION_HEADER;
		peek = true; /* RFC 3501 6.4.5: equivalent to BODY.PEEK[HEADER] */
	} else if (ascii_ieq(s, "RFC822.TEXT")) {
		kind = MAIL_SECTION_TEXT;
		peek = false;
	} else {
		*err = "Unknown FETCH attribute";
		return -1;
	}
	struct fetch_item *it = item_add(r, FI_SECTION);
	it->section.kind = kind;
	it->peek = peek;
	it->label = xstrdup(kind == MAIL_SECTION_ALL ? "RFC822"
			    : kind == MAIL_SECTION_HEADER ? "RFC822.HEADER"
							  : "RFC822.TEXT");
	r->needs_content = true;
	if (!peek)
		r->sets_seen = true;
	return 0;
}

/* RFC 9051 6.4.5 macros; only valid on their own, not inside a list. */
static const struct {
	const char *name;
	const char *items[5];
} macros[] = {
	{ "ALL", { "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", NULL } },
	{ "FAST", { "FLAGS", "INTERNALDATE", "RFC822.SIZE", NULL } },
	{ "FULL", { "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY" } },
};

int fetch_request_parse(const struct imap_arg *arg, struct fetch_request *out, const char **err)
{
	memset(out, 0, sizeof(*out));
	if (arg->type == IMAP_ARG_ATOM) {
		for (size_t m = 0; m < ARRAY_SIZE(macros); m++) {
			if (!ascii_ieq(arg->str, macros[m].name))
				continue;
			for (size_t i = 0; i < ARRAY_SIZE(macros[m].items) && macros[m].items[i]; i++) {
				struct imap_arg a;
				memset(&a, 0, sizeof(a));
				a.type = IMAP_ARG_ATOM;
				a.str = macros[m].items[i];
				a.len = strlen(a.str);
				if (item_parse(out, &a, err) < 0)
					goto bad;
			}
			return 0;
		}
		if (item_parse(out, arg, err) < 0)
			goto bad;
		return 0;
	}
	if (arg->type != IMAP_ARG_LIST || arg->count == 0) {
		*err = "FETCH needs attributes";
		goto bad;
	}
	for (size_t i = 0; i < arg->count; i++) {
		if (item_parse(out, &arg->list[i], err) < 0)
			goto bad;
		/* preview: RFC 8970 3.1, "PREVIEW" [SP "(" preview-mod
		 * *(SP preview-mod) ")"], preview-mod = "LAZY". */
		struct fetch_item *it = &out->items[out->n - 1];
		if (it->type == FI_PREVIEW && i + 1 < arg->count &&
		    arg->list[i + 1].type == IMAP_ARG_LIST) {
			const struct imap_arg *mods = &arg->list[++i];
			const char *mod;
			if (mods->count == 0) {
				*err = "PREVIEW needs modifiers in its list";
				goto bad;
			}
			for (size_t k = 0; k < mods->count; k++) {
				if (!imap_arg_get_atom(&mods->list[k], &mod) ||
				    !ascii_ieq(mod, "LAZY")) {
					*err = "Unknown PREVIEW modifier";
					goto bad;
				}
				it->lazy = true;
			}
		}
	}
	size_t body_items = 0;
	for (size_t i = 0; i < out->n; i++)
		if (out->items[i].type == FI_SECTION || out->items[i].type == FI_BINARY ||
		    out->items[i].type == FI_BINARY_SIZE)
			body_items++;
	if (body_items > FETCH_MAX_BODY_ITEMS) {
		*err = "Too many body sections in one FETCH";
		goto bad;
	}
	return 0;
bad:
	fetch_request_free(out);
	return -1;
}

void fetch_request_ensure_uid(struct fetch_request *r)
{
	if (r->has_uid)
		return;
	item_add(r, FI_UID);
	memmove(&r->items[1], &r->items[0], (r->n - 1) * sizeof(*r->items));
	memset(&r->items[0], 0, sizeof(r->items[0]));
	r->items[0].type = FI_UID;
	r->items[0].label = xstrdup("UID");
	r->has_uid = true;
}

void fetch_request_free(struct fetch_request *r)
{
	for (size_t i = 0; i < r->n; i++)
		item_free(&r->items[i]);
	free(r->items);
	memset(r, 0, sizeof(*r));
}

void fetch_request_ensure_modseq(struct fetch_request *r)
{
	if (r->has_modseq)
		return;
	struct fetch_item *it = item_add(r, FI_MODSEQ);
	it->label = xstrdup("MODSEQ");
	r->has_modseq = true;
}
