/* libFuzzer harness for SEARCH criteria (imap/search_parse.c) and their
 * evaluation (mail/search.c): the text after "SEARCH " goes through the
 * real command parser, imap_search_parse() builds the key tree, and
 * search_match() runs it against a few messages, one of them with content.
 *
 * Input layout: byte 0 picks the context (bit 0: IMAP4rev2, bit 1: a saved
 * "$" result exists, bits 2-3: the charset: none, UTF-8, ISO-8859-1,
 * an unknown one; bit 4: context, the first argument is a RETURN option
 * list; bit 5: sequence-number sets refused as after ENABLE UIDONLY or in
 * ESEARCH), the rest is the criteria text.
 *
 * What is checked, beyond "no crash, no leak, no UB":
 *  - a failure gives a NULL tree and, for BAD, a static explanation;
 *  - with sequence sets refused, no SK_SEQSET node is ever built;
 *  - a success gives an SK_AND root; OR nodes have two children and NOT
 *    one; every set is sorted, disjoint and free of 0; string keys carry
 *    their casefolded form;
 *  - the content is loaded at most once per message, and never for a
 *    tree that search_needs_content() says needs none;
 *  - NOT k matches exactly when k does not, unless content was needed
 *    and could not be loaded: then the message matches nothing;
 *  - context: a RETURN list that parses never has PARTIAL with ALL, is
 *    never empty, and its PARTIAL range selects a slice inside the
 *    results for every count; the same list as a UID FETCH modifier list
 *    keeps every element but PARTIAL and its range. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/flags.h"
#include "fuzz_common.h"
#include "imap/search_context.h"
#include "imap/search_parse.h"
#include "mail/search.h"

static const char message[] =
	"Date: Tue, 14 Nov 2023 10:00:00 +0100\r\n"
	"From: Alice Example <alice@example.org>\r\n"
	"To: bob@example.org\r\n"
	"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= and plans\r\n"
	"Content-Type: multipart/alternative; boundary=b\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Stra=C3=9Fe lunch at noon\r\n"
	"--b\r\n"
	"Content-Type: text/html; charset=utf-8\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"PHA+bHVuY2g8L3A+\r\n"
	"--b--\r\n";

struct loader {
	struct mail_msg *m;
	unsigned calls;
};

static const struct mail_msg *load_fails(void *ctx)
{
	((struct loader *)ctx)->calls++;
	return NULL;
}

static const struct mail_msg *load(void *ctx)
{
	struct loader *l = ctx;
	l->calls++;
	if (!l->m)
		l->m = mail_parse(message, sizeof(message) - 1);
	return l->m;
}

static void check_tree(const struct search_key *k, unsigned depth)
{
	CHECK(depth < 10000);
	switch (k->type) {
	case SK_OR:
		CHECK(k->nchildren == 2);
		break;
	case SK_NOT:
		CHECK(k->nchildren == 1);
		break;
	case SK_AND:
		break;
	default:
		CHECK(k->nchildren == 0);
		break;
	}
	if (k->type == SK_SEQSET || k->type == SK_UIDSET) {
		for (size_t i = 0; i < k->set.n; i++) {
			CHECK(k->set.r[i].lo >= 1 && k->set.r[i].lo <= k->set.r[i].hi);
			if (i)
				CHECK((uint64_t)k->set.r[i - 1].hi + 1 < k->set.r[i].lo);
		}
	}
	if (k->type == SK_HEADER || k->type == SK_BODY || k->type == SK_TEXT)
		CHECK(k->str != NULL && k->folded != NULL);
	if (k->type == SK_HEADER)
		CHECK(k->field != NULL);
	for (size_t i = 0; i < k->nchildren; i++) {
		CHECK(k->children[i] != NULL);
		check_tree(k->children[i], depth + 1);
	}
}

static void run_messages(struct search_key *root)
{
	bool needs = search_needs_content(root);
	struct search_key *children[1] = { root };
	struct search_key not = { .type = SK_NOT, .children = children, .nchildren = 1 };
	static const struct {
		uint32_t seq, uid;
		unsigned flags;
		const char *keywords;
		bool content;
	} msgs[] = {
		{ 1, 3, MAIL_FLAG_SEEN, NULL, true },
		{ 2, 7, MAIL_FLAG_FLAGGED | MAIL_FLAG_RECENT, "$Important work", true },
		{ 5, 500, MAIL_FLAG_DELETED | MAIL_FLAG_ANSWERED | MAIL_FLAG_DRAFT, "", false },
	};
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		struct loader l = { NULL, 0 };
		struct search_msg m = {
			.seq = msgs[i].seq,
			.uid = msgs[i].uid,
			.flags = msgs[i].flags,
			.keywords = msgs[i].keywords,
			.internaldate = 1700000000 + (int64_t)i * 86400,
			.internaldate_tz = 60,
			.savedate = i == 2 ? -1 : 1700000000,
			.size = 600 + i * 1000,
			.modseq = 10 + i,
			.now = 1700100000,
			.load = msgs[i].content ? load : load_fails,
			.load_ctx = &l,
		};
		bool yes = search_match(root, &m);
		unsigned yes_calls = l.calls;
		CHECK(yes_calls <= 1);
		CHECK(needs || yes_calls == 0);
		l.calls = 0;
		/* A fresh evaluation: the evaluator caches per search_msg. */
		struct search_msg m2 = m;
		bool no = search_match(&not, &m2);
		CHECK(l.calls <= 1);
		if (msgs[i].content) {
			CHECK(yes != no);
		} else {
			/* Content that cannot be read makes the message match
			 * nothing, NOT included, once a key needed it. */
			if (yes_calls)
				CHECK(!yes);
			if (l.calls)
				CHECK(!no);
			if (!yes_calls && !l.calls)
				CHECK(yes != no);
		}
		if (l.m)
			mail_msg_free(l.m);
	}
}

/* context: RETURN (...) options (RFC 4731, RFC 5267 4, RFC 9394). */
static void check_return(const struct imap_arg *a)
{
	struct search_return r;
	const char *err = NULL;
	if (search_return_parse(a, &r, &err) < 0) {
		CHECK(err != NULL && err[0] != '\0');
	} else {
		CHECK(r.opts != 0);
		CHECK(!((r.opts & ESEARCH_PARTIAL) && (r.opts & ESEARCH_ALL)));
		if (r.opts & ESEARCH_PARTIAL) {
			CHECK(r.partial.first != 0 && r.partial.last != 0);
			CHECK((r.partial.first > 0) == (r.partial.last > 0));
			static const size_t counts[] = { 0, 1, 2, 7, 100, 4294967295u };
			for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
				size_t from = 0, k = search_partial_slice(&r.partial, counts[i], &from);
				CHECK(k <= counts[i] && from <= counts[i] - k);
			}
		}
	}
	struct search_partial p;
	bool found = false;
	struct imap_arg rest;
	err = NULL;
	int mr = search_partial_modifier(a, &p, &found, &rest, &err);
	CHECK(mr == 0 || (err != NULL && err[0] != '\0'));
	if (mr == 0 && a->type == IMAP_ARG_LIST)
		CHECK(rest.count == a->count - (found ? 2 : 0));
	free(rest.list);
}

static bool has_seqset(const struct search_key *k)
{
	if (k->type == SK_SEQSET)
		return true;
	for (size_t i = 0; i < k->nchildren; i++)
		if (has_seqset(k->children[i]))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const char *const charsets[] = { NULL, "UTF-8", "ISO-8859-1", "X-NO-SUCH" };
	struct seqset saved = SEQSET_INIT;
	seqset_add(&saved, 3, 7);
	seqset_add(&saved, 400, 450);
	struct search_parse_ctx ctx = {
		.max_seq = 10,
		.max_uid = 500,
		.saved = (data[0] & 2) ? &saved : NULL,
		.charset = charsets[(data[0] >> 2) & 3],
		.rev2 = (data[0] & 1) != 0,
		.no_seqs = (data[0] & 32) ? "refused" : NULL,
	};
	struct imap_parser *p = fuzz_parse_command("SEARCH", data + 1, size - 1);
	if (p) {
		size_t n;
		const struct imap_arg *args = imap_parser_args(p, &n);
		if ((data[0] & 16) && n > 0) {
			check_return(&args[0]);
			args++;
			n--;
		}
		struct search_key *key = (struct search_key *)&ctx; /* must be reset */
		const char *err = NULL;
		enum search_parse_result r = imap_search_parse(args, n, &ctx, &key, &err);
		if (r == SEARCH_PARSE_OK) {
			CHECK(key != NULL && key->type == SK_AND);
			check_tree(key, 0);
			if (ctx.no_seqs)
				CHECK(!has_seqset(key));
			run_messages(key);
			search_key_free(key);
		} else {
			CHECK(key == NULL);
			CHECK(r == SEARCH_PARSE_BADCHARSET || (err != NULL && err[0] != '\0'));
		}
		imap_parser_free(p);
	}
	seqset_free(&saved);
	return 0;
}
