/* The LMTP command line grammar: what a line says, with nothing about the
 * session's state (session.c decides whether a verb is allowed now).
 *
 * Paths follow RFC 5321 4.1.2 loosely where real MTAs are loose (spaces
 * after the colon, as Dovecot's "whitespace-before-path" workaround) and
 * strictly where the bytes end up in a header we write (Return-Path,
 * Delivered-To): no control characters, no spaces, no brackets, bounded
 * by 4.5.3.1.3. A source route ("@a,@b:user@c", 4.1.2) is accepted and
 * dropped, as 3.3 asks. */
#include "lmtp/parse.h"
#include "core/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	enum lmtp_verb verb;
} lmtp_verbs[] = {
	{ "LHLO", LMTP_LHLO }, { "MAIL", LMTP_MAIL }, { "RCPT", LMTP_RCPT }, { "DATA", LMTP_DATA },
	{ "BDAT", LMTP_BDAT }, { "RSET", LMTP_RSET }, { "NOOP", LMTP_NOOP }, { "QUIT", LMTP_QUIT },
	{ "VRFY", LMTP_VRFY }, { "HELO", LMTP_HELO }, { "EHLO", LMTP_EHLO }, { "HELP", LMTP_HELP },
};

enum lmtp_verb lmtp_parse_verb(const char *line, const char **arg)
{
	size_t n = strcspn(line, " ");
	*arg = line[n] == ' ' ? line + n + 1 : line + n;
	for (size_t i = 0; i < ARRAY_SIZE(lmtp_verbs); i++)
		if (n == 4 && ascii_ieqn(line, n, lmtp_verbs[i].name))
			return lmtp_verbs[i].verb;
	return LMTP_UNKNOWN;
}

/* A byte that may stand in an address we copy into a header. UTF-8
 * (RFC 6531) passes; quoting is not interpreted, so a quoted local part
 * with a space is refused (no MTA sends one to a mailbox server). */
static bool lmtp_addr_byte_ok(unsigned char c)
{
	return c > 0x20 && c != 0x7f && c != '<' && c != '>';
}

/* ESMTP parameters after the path: "KEY=VALUE" or "KEY", space-separated
 * (RFC 5321 4.1.2 Mail-parameters). */
static const char *lmtp_parse_params(const char *p, bool mail, struct lmtp_path *path)
{
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, " ");
		size_t klen = strcspn(p, "= ");
		const char *val = klen < n ? p + klen + 1 : NULL;
		size_t vlen = val ? n - klen - 1 : 0;
		if (!mail)
			return "555 5.5.4 Unsupported RCPT TO parameter";
		if (klen == 4 && ascii_ieqn(p, 4, "SIZE")) {
			/* RFC 1870 3: SIZE=digits, at most 20 of them. */
			if (!val || parse_u64(val, vlen, &path->size) < 0)
				return "501 5.5.4 Syntax: SIZE=<octets>";
		} else if (klen == 4 && ascii_ieqn(p, 4, "BODY")) {
			if (val && vlen == 4 && ascii_ieqn(val, 4, "7BIT"))
				path->body = LMTP_BODY_7BIT;
			else if (val && vlen == 8 && ascii_ieqn(val, 8, "8BITMIME"))
				path->body = LMTP_BODY_8BITMIME;
			else
				return "555 5.5.4 Unsupported BODY type";
		} else if (klen == 8 && ascii_ieqn(p, 8, "SMTPUTF8") && !val) {
			path->smtputf8 = true;
		} else {
			return "555 5.5.4 Unsupported MAIL FROM parameter";
		}
		p += n;
	}
	return NULL;
}

const char *lmtp_parse_path(const char *arg, bool mail, struct lmtp_path *path)
{
	memset(path, 0, sizeof(*path));
	const char *kw = mail ? "FROM:" : "TO:";
	size_t kwlen = strlen(kw);
	const char *syntax = mail ? "501 5.5.4 Syntax: MAIL FROM:<address>"
				  : "501 5.5.4 Syntax: RCPT TO:<address>";
	if (strlen(arg) < kwlen || !ascii_ieqn(arg, kwlen, kw))
		return syntax;
	const char *p = arg + kwlen;
	while (*p == ' ')
		p++;
	if (*p != '<')
		return syntax;
	const char *start = ++p;
	const char *end = strchr(start, '>');
	if (!end)
		return syntax;
	if ((size_t)(end - start) + 2 > LMTP_PATH_MAX)
		return "501 5.1.3 Path too long";
	for (const char *q = start; q < end; q++)
		if (!lmtp_addr_byte_ok((unsigned char)*q))
			return "501 5.1.3 Bad address syntax";
	/* RFC 5321 4.1.2 A-d-l: "@relay,@relay:" before the mailbox. */
	if (*start == '@') {
		const char *colon = memchr(start, ':', (size_t)(end - start));
		if (!colon)
			return "501 5.1.3 Bad address syntax";
		start = colon + 1;
	}
	size_t len = (size_t)(end - start);
	if (len == 0 && !mail)
		return "501 5.1.3 Bad recipient address syntax";
	/* Mailbox = Local-part "@" Domain: one '@' that is neither first nor
	 * last; "<postmaster>" alone is allowed for RCPT (4.1.1.3). */
	const char *at = memrchr(start, '@', len);
	if (len && at && (at == start || at == end - 1))
		return "501 5.1.3 Bad address syntax";
	if (*++end && *end != ' ')
		return syntax;
	const char *err = lmtp_parse_params(end, mail, path);
	if (err)
		return err;
	path->addr = xstrndup(start, len);
	return NULL;
}

bool lmtp_parse_bdat(const char *arg, uint64_t *size, bool *last)
{
	size_t n = strspn(arg, "0123456789");
	if (n == 0 || n > 19 || parse_u64(arg, n, size) < 0)
		return false;
	const char *p = arg + n;
	*last = false;
	if (!*p)
		return true;
	if (*p != ' ')
		return false;
	p++;
	if (strlen(p) == 4 && ascii_ieqn(p, 4, "LAST")) {
		*last = true;
		return true;
	}
	return false;
}

void lmtp_addr_split(const char *addr, const char *delims, char **local, char **detail,
		     char **domain)
{
	const char *at = strrchr(addr, '@');
	size_t llen = at ? (size_t)(at - addr) : strlen(addr);
	char *dom = xstrdup(at ? at + 1 : "");
	for (char *d = dom; *d; d++)
		*d = (char)tolower((unsigned char)*d);
	size_t base = llen;
	if (delims && *delims) {
		size_t k = strcspn(addr, delims);
		if (k < llen)
			base = k;
	}
	*local = xstrndup(addr, base);
	*detail = base < llen ? xstrndup(addr + base + 1, llen - base - 1) : xstrdup("");
	*domain = dom;
}
