/* The store's rules, each in one place: mailbox names and their INBOX
 * normalisation, keyword syntax and limits, special-use attributes, and
 * the keyword-set arithmetic backends use under their write lock (so the
 * per-message keyword limit is checked by the same code for every
 * backend). The front (store.c) applies them to every call; the protocol
 * layers call the exported ones instead of keeping copies. */
#include "store/backend.h"
#include "core/config.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* ---- mailbox names ---- */

/* Well-formed UTF-8 without overlongs, surrogates or code points above
 * U+10FFFF (RFC 3629). */
static bool utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* Names that read as file-system paths: a "." or ".." level anywhere
 * ("..", "../x", "a/../b", "a/."), or a leading '~' (a home directory to
 * shells and to Dovecot's mail_full_filesystem_access). RFC 9051 5.1
 * leaves names to the server; no backend maps names to paths unescaped
 * today, but these are refused at the one entry point so that none ever
 * has to care (Dovecot refuses the same). */
static bool name_components_safe(const char *name)
{
	if (name[0] == '~')
		return false;
	for (const char *p = name; *p;) {
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

int store_mailbox_name_normalize(const char *name, char **out)
{
	*out = NULL;
	if (!name)
		return STORE_EINVAL;
	size_t len = strnlen(name, STORE_MAILBOX_NAME_MAX + 1);
	if (len > STORE_MAILBOX_NAME_MAX)
		return STORE_ELIMIT;
	/* '/' is the hierarchy delimiter: no empty level anywhere. */
	if (len == 0 || name[0] == '/' || name[len - 1] == '/' || strstr(name, "//"))
		return STORE_EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		/* RFC 9051 5.1: '%' and '*' are LIST wildcards; controls have no
		 * place in a name. */
		if (c < 0x20 || c == 0x7f || c == '%' || c == '*')
			return STORE_EINVAL;
	}
	if (!utf8_valid((const unsigned char *)name, len) || !name_components_safe(name))
		return STORE_EINVAL;
	char *n = xstrndup(name, len);
	store_mailbox_name_fold_inbox(n);
	*out = n;
	return STORE_OK;
}

void store_mailbox_name_fold_inbox(char *name)
{
	/* RFC 9051 5.1: INBOX is case-insensitive; its children share the
	 * canonical spelling so "inbox/x" and "INBOX/x" are one mailbox. */
	size_t len = strnlen(name, 6);
	if (len >= 5 && ascii_ieqn(name, 5, "INBOX") && (len == 5 || name[5] == '/'))
		memcpy(name, "INBOX", 5);
}

/* ---- special-use ---- */

/* RFC 6154 2: the special-use attributes a mailbox may carry. */
static const char *const special_uses[] = {
	"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash",
};

int store_special_use_canon(const char *in, const char **out)
{
	*out = NULL;
	if (!in || !*in)
		return STORE_OK;
	for (size_t i = 0; i < ARRAY_SIZE(special_uses); i++) {
		if (ascii_ieq(in, special_uses[i])) {
			*out = special_uses[i];
			return STORE_OK;
		}
	}
	return STORE_EINVAL;
}

/* ext (issue #12): the configured default special-use mailboxes. Written
 * once at start-up (store_special_defaults_set) before any store thread
 * runs, read-only afterwards. */
static struct {
	const char *use;
	const char *name;            /* NULL: none; a default's literal or set's copy */
} special_defaults[] = {
	{ "\\Drafts", "Drafts" }, { "\\Sent", "Sent" }, { "\\Trash", "Trash" },
	{ "\\Junk", "Junk" },     { "\\Archive", "Archive" },
};
static bool special_autocreate = true;

int store_special_defaults_set(const struct config *cfg)
{
	const char *names[] = { cfg->mbox_drafts, cfg->mbox_sent, cfg->mbox_trash, cfg->mbox_junk,
				cfg->mbox_archive };
	char *norm[ARRAY_SIZE(names)] = { NULL };
	int r = STORE_OK;
	for (size_t i = 0; i < ARRAY_SIZE(names) && r == STORE_OK; i++) {
		if (!names[i] || !*names[i])
			continue;
		r = store_mailbox_name_normalize(names[i], &norm[i]);
		if (r == STORE_OK && strncmp(norm[i], "INBOX", 5) == 0 &&
		    (norm[i][5] == '\0' || norm[i][5] == '/'))
			r = STORE_EINVAL; /* INBOX has no special use (RFC 6154 2) */
	}
	if (r != STORE_OK) {
		for (size_t i = 0; i < ARRAY_SIZE(names); i++)
			free(norm[i]);
		return r;
	}
	/* Once per process: the copies live as long as it does. */
	for (size_t i = 0; i < ARRAY_SIZE(special_defaults); i++)
		special_defaults[i].name = norm[i];
	special_autocreate = cfg->mbox_autocreate;
	return STORE_OK;
}

const char *store_special_use_default(const char *norm)
{
	for (size_t i = 0; norm && i < ARRAY_SIZE(special_defaults); i++)
		if (special_defaults[i].name && strcmp(special_defaults[i].name, norm) == 0)
			return special_defaults[i].use;
	return NULL;
}

bool store_special_default_at(size_t i, const char **name, const char **use)
{
	if (!special_autocreate)
		return false;
	for (size_t k = 0; k < ARRAY_SIZE(special_defaults); k++) {
		if (!special_defaults[k].name)
			continue;
		if (i-- == 0) {
			*name = special_defaults[k].name;
			*use = special_defaults[k].use;
			return true;
		}
	}
	return false;
}

/* ---- keywords ---- */

int store_keyword_check(const char *k, size_t len)
{
	/* RFC 9051 9: flag-keyword = atom; atom-specials are ( ) { SP CTL
	 * % * " \ ]. '\' excluded also keeps a keyword from posing as a
	 * system flag. Too long is a limit, not a syntax error: the client
	 * gets [LIMIT], as for too many keywords. */
	if (!k || len == 0)
		return STORE_EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)k[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c))
			return STORE_EINVAL;
	}
	return len > STORE_KEYWORD_LEN_MAX ? STORE_ELIMIT : STORE_OK;
}

bool store_keyword_valid(const char *k, size_t len)
{
	return store_keyword_check(k, len) == STORE_OK;
}

void store_kwset_free(struct store_kwset *s)
{
	free(s->buf);
	free(s->kw);
	memset(s, 0, sizeof(*s));
}

static bool kwset_has(const struct store_kwset *s, const char *k)
{
	/* RFC 9051 2.3.2: keywords compare case-insensitively. */
	for (size_t i = 0; i < s->n; i++)
		if (ascii_ieq(s->kw[i], k))
			return true;
	return false;
}

int store_kwset_parse(const char *in, bool strict, struct store_kwset *s)
{
	memset(s, 0, sizeof(*s));
	if (!in)
		return STORE_OK;
	size_t len = strlen(in);
	s->buf = xstrndup(in, len);
	s->kw = xmalloc((len / 2 + 1) * sizeof(*s->kw));
	char *save = NULL;
	for (char *w = strtok_r(s->buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		size_t wl = strlen(w);
		int r = strict ? store_keyword_check(w, wl) : STORE_OK;
		if (r != STORE_OK) {
			store_kwset_free(s);
			return r;
		}
		if (kwset_has(s, w))
			continue;
		if (strict && s->n >= STORE_KEYWORDS_MAX)
			goto limit;
		s->kw[s->n++] = w;
	}
	return STORE_OK;
limit:
	store_kwset_free(s);
	return STORE_ELIMIT;
}

int store_keywords_check(const char *keywords)
{
	struct store_kwset s;
	int r = store_kwset_parse(keywords, true, &s);
	store_kwset_free(&s);
	return r;
}

int store_kwset_apply(const struct store_kwset *cur, const struct store_kwset *arg,
		      enum store_flag_mode mode, char **out)
{
	struct strbuf b = STRBUF_INIT;
	size_t n = 0;
	for (size_t i = 0; i < cur->n; i++) {
		bool in_arg = kwset_has(arg, cur->kw[i]);
		bool keep = mode == STORE_FLAGS_ADD || (mode == STORE_FLAGS_SET && in_arg) ||
			    (mode == STORE_FLAGS_REMOVE && !in_arg);
		if (!keep)
			continue;
		if (n++)
			strbuf_addc(&b, ' ');
		strbuf_adds(&b, cur->kw[i]);
	}
	if (mode != STORE_FLAGS_REMOVE) {
		for (size_t i = 0; i < arg->n; i++) {
			if (kwset_has(cur, arg->kw[i]))
				continue;
			if (n++)
				strbuf_addc(&b, ' ');
			strbuf_adds(&b, arg->kw[i]);
		}
	}
	*out = n ? strbuf_detach(&b, NULL) : NULL;
	strbuf_free(&b);
	return n > STORE_KEYWORDS_MAX ? STORE_ELIMIT : STORE_OK;
}
