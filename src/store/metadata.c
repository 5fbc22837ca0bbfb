/* Metadata (RFC 5464; issue #12 metadata): the entry-name rule and the
 * front of the metadata store calls. The rule lives here, not in imap/,
 * because the store keys entries by the checked, lowercased name: a name
 * that passes here is the one spelling the backend ever sees, so two
 * spellings of one entry (RFC 5464 3.2: names are case-insensitive) can
 * never become two rows. The value limit is checked here too, before any
 * transaction; the limits that need counting (entries per mailbox, bytes
 * per store) are kept by the backend inside its write transaction, so
 * concurrent SETMETADATAs cannot pass them together. */
#include "store/backend.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* The two trees of RFC 5464 3.1: every entry is in one of them. */
static bool meta_root_is(const char *s, size_t len, const char *root)
{
	size_t rlen = strlen(root);
	return len == rlen && ascii_ieqn(s, len, root);
}

int store_meta_name_check(const char *in, size_t len, bool allow_root, char **out)
{
	*out = NULL;
	if (len == 0 || in[0] != '/')
		return STORE_EINVAL;
	if (len > STORE_META_NAME_MAX)
		return STORE_ELIMIT;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		/* RFC 5464 3.2: no "*" or "%" (they would be LIST-style
		 * wildcards), no "//", no trailing "/"; control characters
		 * and NUL have no place in a name a client displays. */
		if (c < 0x20 || c == 0x7f || c == '*' || c == '%')
			return STORE_EINVAL;
		if (c == '/' && (i + 1 == len || in[i + 1] == '/'))
			return STORE_EINVAL;
	}
	const char *slash = memchr(in + 1, '/', len - 1);
	size_t first = slash ? (size_t)(slash - in) : len;
	if (!meta_root_is(in, first, "/private") && !meta_root_is(in, first, "/shared"))
		return STORE_EINVAL;
	if (!slash && !allow_root)
		return STORE_EINVAL;
	char *s = xstrndup(in, len);
	for (char *p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	*out = s;
	return STORE_OK;
}

void store_meta_entries_free(struct store_meta_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].name);
		free(e[i].value);
	}
	free(e);
}

static int meta_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_meta_entry *)a)->name,
		      ((const struct store_meta_entry *)b)->name);
}

void store_meta_entries_sort_unique(struct store_meta_entry *e, size_t *n)
{
	if (*n > 1)
		qsort(e, *n, sizeof(*e), meta_name_cmp);
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		if (k > 0 && strcmp(e[k - 1].name, e[i].name) == 0) {
			free(e[i].name);
			free(e[i].value);
			continue;
		}
		e[k++] = e[i];
	}
	*n = k;
}

/* The normalised mailbox name in *norm, NULL for the server. */
static int meta_mailbox(const char *mailbox, char **norm)
{
	*norm = NULL;
	return mailbox ? store_mailbox_name_normalize(mailbox, norm) : STORE_OK;
}

/* Names reaching a backend must be what store_meta_name_check gives. */
static bool meta_name_ok(const char *name, bool allow_root)
{
	char *canon;
	if (!name || store_meta_name_check(name, strlen(name), allow_root, &canon) != STORE_OK)
		return false;
	bool same = strcmp(canon, name) == 0;
	free(canon);
	return same;
}

int store_meta_get(struct store_user *u, const char *mailbox, char *const *names, size_t n,
		   int depth, struct store_meta_entry **out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	if (!u || (depth != 0 && depth != 1 && depth != -1))
		return STORE_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!meta_name_ok(names[i], true))
			return STORE_EINVAL;
	char *norm;
	int r = meta_mailbox(mailbox, &norm);
	if (r == STORE_OK)
		r = u->be->meta_get(u, norm, names, n, depth, out, nout);
	/* Overlapping trees ("/shared" and "/shared/x") name an entry twice. */
	if (r == STORE_OK)
		store_meta_entries_sort_unique(*out, nout);
	free(norm);
	return r;
}

int store_meta_set(struct store_user *u, const char *mailbox, const struct store_meta_entry *e,
		   size_t n, const struct store_meta_limits *lim, enum store_meta_limit *hit)
{
	*hit = STORE_META_LIMIT_NONE;
	if (!u || !lim || !lim->value_max || !lim->entries_max || !lim->total_max)
		return STORE_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!meta_name_ok(e[i].name, false))
			return STORE_EINVAL;
		if (e[i].value && e[i].len > lim->value_max) {
			*hit = STORE_META_LIMIT_VALUE;
			return STORE_ELIMIT;
		}
	}
	char *norm;
	int r = meta_mailbox(mailbox, &norm);
	if (r == STORE_OK)
		r = u->be->meta_set(u, norm, e, n, lim, hit);
	free(norm);
	return r;
}
