/* libFuzzer harness for MULTISEARCH's source options (RFC 7377 2.2,
 * imap/cmd_multisearch.c): the list after "ESEARCH IN", after the real
 * IMAP parser.
 *
 * Input layout: the text after "ESEARCH IN ".
 *
 * What is checked, beyond "no crash, no leak, no UB":
 *  - an accepted list has 1..MULTISEARCH_MAX_FILTERS filters and at most
 *    MULTISEARCH_MAX_NAMES names in all;
 *  - exactly the filters that take names (subtree, subtree-one, mailboxes)
 *    have at least one, each a non-NULL string from the decoder;
 *  - a refusal always comes with an explanation and leaves nothing behind. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "imap/multisearch.h"

/* As the session's decoder would, without the session: an astring. */
static char *decode(void *ctx, const struct imap_arg *a)
{
	(void)ctx;
	const char *s;
	size_t len;
	if (!imap_arg_get_astring(a, &s, &len) || memchr(s, '\0', len))
		return NULL;
	return strndup(s, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser *p = fuzz_parse_command("ESEARCH IN", data, size);
	if (!p)
		return 0;
	size_t nargs;
	const struct imap_arg *args = imap_parser_args(p, &nargs);
	if (nargs > 0) {
		struct multisearch_sources src;
		const char *err = NULL;
		if (multisearch_sources_parse(&args[0], decode, NULL, &src, &err) < 0) {
			CHECK(err && *err);
			CHECK(src.n == 0 && src.v == NULL);
		} else {
			CHECK(src.n >= 1 && src.n <= MULTISEARCH_MAX_FILTERS);
			size_t names = 0;
			for (size_t i = 0; i < src.n; i++) {
				const struct multisearch_source *s = &src.v[i];
				bool named = s->filter == MS_SUBTREE || s->filter == MS_SUBTREE_ONE ||
					     s->filter == MS_MAILBOXES;
				CHECK(named ? s->nnames > 0 : s->nnames == 0);
				for (size_t k = 0; k < s->nnames; k++)
					CHECK(s->names[k] != NULL);
				names += s->nnames;
			}
			CHECK(names <= MULTISEARCH_MAX_NAMES);
			multisearch_sources_free(&src);
		}
	}
	imap_parser_free(p);
	return 0;
}
