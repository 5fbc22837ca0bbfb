/* RFC 5256 2.1 base subject extraction, for SORT SUBJECT and both THREAD
 * algorithms: the subject with its reply/forward decorations removed, so
 * "Re: [list] Fwd: Lunch (fwd)" and "lunch" land together.
 *
 * The grammar (RFC 5256 5):
 *   subj-refwd   = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
 *   subj-blob    = "[" *BLOBCHAR "]" *WSP
 *   subj-fwd-hdr = "[fwd:"     subj-fwd-trl = "]"
 *   subj-leader  = (*subj-blob subj-refwd) / WSP
 *   subj-trailer = "(fwd)" / WSP
 * All matches are case-insensitive. Every step only shortens the string,
 * so the loops end; nothing recurses. */
#include "mail/sortkey.h"
#include "mail/decode.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The working string: s[b..e). */
struct subj {
	const char *s;
	size_t b, e;
	bool reply;
};

static size_t subj_len(const struct subj *x)
{
	return x->e - x->b;
}

static bool prefix_ieq(const struct subj *x, size_t at, const char *lit)
{
	size_t n = strlen(lit);
	return x->e - at >= n && strncasecmp(x->s + at, lit, n) == 0;
}

/* subj-blob at `at`: returns the position after it (its *WSP included),
 * or 0 when there is none (a blob never starts at 0 and ends there). */
static size_t blob_end(const struct subj *x, size_t at)
{
	if (at >= x->e || x->s[at] != '[')
		return 0;
	size_t i = at + 1;
	while (i < x->e && x->s[i] != '[' && x->s[i] != ']')
		i++;
	if (i >= x->e || x->s[i] != ']')
		return 0;
	i++;
	while (i < x->e && x->s[i] == ' ')
		i++;
	return i;
}

/* Step 2: remove trailing subj-trailer, repeatedly. */
static void strip_trailers(struct subj *x)
{
	for (;;) {
		if (subj_len(x) && x->s[x->e - 1] == ' ') {
			x->e--;
		} else if (subj_len(x) >= 5 && strncasecmp(x->s + x->e - 5, "(fwd)", 5) == 0) {
			x->e -= 5;
			x->reply = true;
		} else {
			return;
		}
	}
}

/* Step 3, once: a subj-leader at the start; true when one was removed. */
static bool strip_leader(struct subj *x)
{
	if (subj_len(x) && x->s[x->b] == ' ') {
		x->b++;
		return true;
	}
	size_t i = x->b, n;
	while ((n = blob_end(x, i)) != 0)
		i = n;
	if (prefix_ieq(x, i, "re"))
		i += 2;
	else if (prefix_ieq(x, i, "fwd"))
		i += 3;
	else if (prefix_ieq(x, i, "fw"))
		i += 2;
	else
		return false;
	while (i < x->e && x->s[i] == ' ')
		i++;
	if ((n = blob_end(x, i)) != 0)
		i = n;
	if (i >= x->e || x->s[i] != ':')
		return false;
	x->b = i + 1;
	x->reply = true;
	return true;
}

/* Step 4, once: a leading subj-blob, when something other than
 * whitespace follows it (the remainder must be a non-empty subj-base). */
static bool strip_blob(struct subj *x)
{
	size_t n = blob_end(x, x->b);
	if (n == 0 || n >= x->e)
		return false;
	x->b = n;
	return true;
}

/* Step 6: "[fwd:" ... "]" around the whole remainder. */
static bool strip_fwd(struct subj *x)
{
	if (!prefix_ieq(x, x->b, "[fwd:") || subj_len(x) < 6 || x->s[x->e - 1] != ']')
		return false;
	x->b += 5;
	x->e--;
	x->reply = true;
	return true;
}

/* Step 1: RFC 2047 words decoded, tabs and line breaks (continuations)
 * as spaces, runs of spaces as one. */
static char *normalize(const char *raw, size_t len, size_t *outlen)
{
	struct strbuf d = STRBUF_INIT, o = STRBUF_INIT;
	mail_rfc2047_decode(raw, len, &d);
	for (size_t i = 0; i < d.len; i++) {
		char c = d.s[i];
		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && o.len && o.s[o.len - 1] == ' ')
			continue;
		strbuf_addc(&o, c);
	}
	strbuf_free(&d);
	char *out = xstrndup(o.s ? o.s : "", o.len);
	*outlen = o.len;
	strbuf_free(&o);
	return out;
}

char *mail_base_subject(const char *raw, size_t len, bool *reply_or_fwd)
{
	size_t n;
	char *norm = normalize(raw ? raw : "", raw ? len : 0, &n);
	struct subj x = { norm, 0, n, false };
	do {
		strip_trailers(&x);
		/* Step 5: steps 3 and 4 until neither removes anything. */
		for (;;) {
			bool any = false;
			while (strip_leader(&x))
				any = true;
			if (strip_blob(&x))
				any = true;
			if (!any)
				break;
		}
	} while (strip_fwd(&x));
	char *out = xstrndup(x.s + x.b, subj_len(&x));
	free(norm);
	if (reply_or_fwd)
		*reply_or_fwd = x.reply;
	return out;
}
