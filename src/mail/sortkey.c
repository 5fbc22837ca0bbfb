/* Sort keys of one message for SORT and THREAD (RFC 5256 3, RFC 5957),
 * read from the ENVELOPE cached at delivery (mail/mailcache.c), so a SORT
 * never opens message files; only THREAD=REFERENCES reads the References
 * field, which ENVELOPE lacks, from the message header.
 *
 * The envelope is our own mail_write_envelope() output: a list of
 * nstrings (NIL, quoted with \" and \\ escapes, or {n} literals) and
 * address lists of (name adl mailbox host) quadruples, where a NIL host
 * marks a group's start or end (RFC 9051 7.5.2). Header values in it are
 * raw, so display names and the subject are RFC 2047-decoded here. */
#include "mail/sortkey.h"
#include "mail/decode.h"
#include "mail/mail.h"
#include "mail/mime_internal.h"
#include "mail/search.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

struct envr {
	const char *p, *e;
};

static void env_sp(struct envr *r)
{
	while (r->p < r->e && *r->p == ' ')
		r->p++;
}

/* One nstring into out (reset first); false for NIL or a syntax error. */
static bool env_nstring(struct envr *r, struct strbuf *out)
{
	strbuf_reset(out);
	env_sp(r);
	if (r->p >= r->e)
		return false;
	if (*r->p == '"') {
		r->p++;
		while (r->p < r->e && *r->p != '"') {
			if (*r->p == '\\' && r->p + 1 < r->e)
				r->p++;
			strbuf_addc(out, *r->p++);
		}
		if (r->p < r->e)
			r->p++;
		return true;
	}
	if (*r->p == '{') {
		char *end;
		unsigned long n = strtoul(r->p + 1, &end, 10);
		if (end >= r->e || *end != '}' || (size_t)(r->e - end) < 3)
			return false;
		const char *d = end + 3; /* "}\r\n" */
		if (n > (size_t)(r->e - d))
			return false;
		strbuf_add(out, d, n);
		r->p = d + n;
		return true;
	}
	if ((size_t)(r->e - r->p) >= 3 && memcmp(r->p, "NIL", 3) == 0)
		r->p += 3;
	else
		r->p = r->e; /* malformed: stop reading */
	return false;
}

/* Skips one parenthesised list (with strings inside) or one nstring. */
static void env_skip(struct envr *r)
{
	struct strbuf tmp = STRBUF_INIT;
	env_sp(r);
	if (r->p < r->e && *r->p == '(') {
		int depth = 0;
		while (r->p < r->e) {
			env_sp(r);
			if (r->p >= r->e)
				break;
			if (*r->p == '(') {
				depth++;
				r->p++;
			} else if (*r->p == ')') {
				r->p++;
				if (--depth == 0)
					break;
			} else {
				env_nstring(r, &tmp);
			}
		}
	} else {
		env_nstring(r, &tmp);
	}
	strbuf_free(&tmp);
}

/* The first real address of an address list (group markers skipped):
 * its display name (RFC 2047-decoded), mailbox and host. */
struct env_addr {
	struct strbuf name, mailbox, host;
	bool found;
};

static void env_first_addr(struct envr *r, struct env_addr *a)
{
	env_sp(r);
	if (r->p >= r->e || *r->p != '(') {
		env_skip(r);
		return;
	}
	r->p++;
	struct strbuf name = STRBUF_INIT, adl = STRBUF_INIT, mbox = STRBUF_INIT, host = STRBUF_INIT;
	for (;;) {
		env_sp(r);
		if (r->p >= r->e || *r->p != '(')
			break;
		r->p++;
		bool has_name = env_nstring(r, &name);
		env_nstring(r, &adl);
		bool has_mbox = env_nstring(r, &mbox);
		bool has_host = env_nstring(r, &host);
		env_sp(r);
		if (r->p < r->e && *r->p == ')')
			r->p++;
		if (a->found || !has_host)
			continue;
		a->found = true;
		if (has_name)
			mail_rfc2047_decode(name.s, name.len, &a->name);
		if (has_mbox)
			strbuf_add(&a->mailbox, mbox.s, mbox.len);
		strbuf_add(&a->host, host.s, host.len);
	}
	env_sp(r);
	if (r->p < r->e && *r->p == ')')
		r->p++;
	strbuf_free(&name);
	strbuf_free(&adl);
	strbuf_free(&mbox);
	strbuf_free(&host);
}

static void env_addr_free(struct env_addr *a)
{
	strbuf_free(&a->name);
	strbuf_free(&a->mailbox);
	strbuf_free(&a->host);
}

static char *fold(const char *s, size_t len)
{
	size_t n;
	return search_casefold(s ? s : "", s ? len : 0, &n);
}

/* RFC 5957 1: the display name, or the addr-spec when there is none. */
static char *display_key(const struct env_addr *a)
{
	if (a->name.len)
		return fold(a->name.s, a->name.len);
	struct strbuf spec = STRBUF_INIT;
	if (a->found) {
		strbuf_add(&spec, a->mailbox.s, a->mailbox.len);
		strbuf_addc(&spec, '@');
		strbuf_add(&spec, a->host.s, a->host.len);
	}
	char *k = fold(spec.s, spec.len);
	strbuf_free(&spec);
	return k;
}

/* The first "<...>" of a field value, without the brackets and any
 * whitespace a fold left inside; NULL when there is none or it is empty.
 * *used: the bytes consumed. */
static char *first_msgid(const char *s, size_t len, size_t *used)
{
	const char *e = s + len;
	const char *lt = memchr(s, '<', len);
	const char *gt = lt ? memchr(lt, '>', (size_t)(e - lt)) : NULL;
	if (!gt) {
		*used = len;
		return NULL;
	}
	*used = (size_t)(gt + 1 - s);
	struct strbuf id = STRBUF_INIT;
	for (const char *p = lt + 1; p < gt; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			strbuf_addc(&id, *p);
	if (id.len == 0) {
		strbuf_free(&id);
		return NULL;
	}
	return strbuf_detach(&id, NULL);
}

/* The first non-empty msg-id of a field value, NULL when none. */
static char *msgid_of(const struct strbuf *v)
{
	size_t pos = 0, used;
	while (pos < v->len) {
		char *id = first_msgid(v->s + pos, v->len - pos, &used);
		if (id)
			return id;
		pos += used;
	}
	return NULL;
}

void sortkey_from_envelope(const char *envelope, int64_t internaldate, struct sortkey *k)
{
	struct envr r = { envelope ? envelope : "", NULL };
	r.e = r.p + strlen(r.p);
	struct strbuf date = STRBUF_INIT, subject = STRBUF_INIT, irt = STRBUF_INIT,
		      mid = STRBUF_INIT;
	struct env_addr from = { 0 }, to = { 0 }, cc = { 0 };
	memset(k, 0, sizeof(*k));
	env_sp(&r);
	if (r.p < r.e && *r.p == '(') {
		r.p++;
		env_nstring(&r, &date);
		env_nstring(&r, &subject);
		env_first_addr(&r, &from);
		env_skip(&r); /* sender */
		env_skip(&r); /* reply-to */
		env_first_addr(&r, &to);
		env_first_addr(&r, &cc);
		env_skip(&r); /* bcc */
		env_nstring(&r, &irt);
		env_nstring(&r, &mid);
	}
	int tz;
	/* RFC 5256 3: a missing or unparseable Date: sorts by the internal
	 * date. */
	k->date = date.len ? mail_parse_rfc5322_date(date.s, date.len, &tz) : -1;
	if (k->date < 0)
		k->date = internaldate;
	char *base = mail_base_subject(subject.s, subject.len, &k->reply);
	k->subject = fold(base, strlen(base));
	free(base);
	k->from = fold(from.mailbox.s, from.mailbox.len);
	k->to = fold(to.mailbox.s, to.mailbox.len);
	k->cc = fold(cc.mailbox.s, cc.mailbox.len);
	k->displayfrom = display_key(&from);
	k->displayto = display_key(&to);
	k->message_id = msgid_of(&mid);
	k->in_reply_to = msgid_of(&irt);
	strbuf_free(&date);
	strbuf_free(&subject);
	strbuf_free(&irt);
	strbuf_free(&mid);
	env_addr_free(&from);
	env_addr_free(&to);
	env_addr_free(&cc);
}

void sortkey_free(struct sortkey *k)
{
	free(k->subject);
	free(k->from);
	free(k->to);
	free(k->cc);
	free(k->displayfrom);
	free(k->displayto);
	free(k->message_id);
	free(k->in_reply_to);
	memset(k, 0, sizeof(*k));
}

/* The end of the header block: the empty line, or the end of data. */
static size_t header_end(const char *d, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (d[i] != '\n')
			continue;
		if (i + 1 < len && d[i + 1] == '\n')
			return i + 1;
		if (i + 2 < len && d[i + 1] == '\r' && d[i + 2] == '\n')
			return i + 1;
	}
	return len;
}

size_t sortkey_references(const char *data, size_t len, char ***ids)
{
	*ids = NULL;
	struct mail_hdr_iter it;
	struct mail_hdr h;
	mail_hdr_iter_init(&it, data, 0, header_end(data, len));
	bool found = false;
	while (mail_hdr_iter_next(&it, &h))
		if (mail_hdr_name_is(&h, "References")) {
			found = true;
			break;
		}
	if (!found)
		return 0;
	struct strbuf v = STRBUF_INIT;
	mail_hdr_unfold(data, &h, &v);
	/* A ring of the last SORTKEY_MAX_REFS ids, in order. */
	char **ring = xcalloc(SORTKEY_MAX_REFS, sizeof(*ring));
	size_t total = 0, pos = 0;
	while (pos < v.len) {
		size_t used;
		char *id = first_msgid(v.s + pos, v.len - pos, &used);
		pos += used;
		if (!id)
			continue;
		size_t slot = total % SORTKEY_MAX_REFS;
		free(ring[slot]);
		ring[slot] = id;
		total++;
	}
	strbuf_free(&v);
	size_t n = total < SORTKEY_MAX_REFS ? total : SORTKEY_MAX_REFS;
	size_t first = total < SORTKEY_MAX_REFS ? 0 : total % SORTKEY_MAX_REFS;
	char **out = n ? xmalloc(n * sizeof(*out)) : NULL;
	for (size_t i = 0; i < n; i++)
		out[i] = ring[(first + i) % SORTKEY_MAX_REFS];
	free(ring);
	*ids = out;
	return n;
}

void sortkey_ids_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}
