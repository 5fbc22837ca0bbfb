/* libFuzzer harness for the RFC 7162 modifier grammar (imap/condstore.c):
 * SELECT/EXAMINE (CONDSTORE) and (QRESYNC (...)), FETCH (CHANGEDSINCE n
 * [VANISHED]) and STORE (UNCHANGEDSINCE n), each after the real IMAP
 * parser.
 *
 * Input layout: byte 0 picks the grammar (mod 3: SELECT, FETCH, STORE),
 * the rest is the text after "SELECT x ", "FETCH 1 FLAGS " or "STORE 1 ".
 *
 * What is checked, beyond "no crash, no leak, no UB":
 *  - an accepted mod-sequence is at most 2^63-1 and a UIDVALIDITY is a
 *    non-zero 32-bit number;
 *  - VANISHED is accepted only with CHANGEDSINCE; seq-match-data only with
 *    both sets of the same size; known-uids sets are normalised;
 *  - a refusal always comes with an explanation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "imap/condstore.h"

static void check_set(const struct seqset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		CHECK(s->r[i].lo >= 1 && s->r[i].lo <= s->r[i].hi);
		if (i)
			CHECK((uint64_t)s->r[i - 1].hi + 1 < s->r[i].lo);
	}
}

static void fuzz_select(const struct imap_arg *a)
{
	struct condstore_select p;
	const char *err = NULL;
	if (condstore_select_parse(a, &p, &err) < 0) {
		CHECK(err && *err);
		condstore_select_free(&p);
		return;
	}
	if (p.qresync) {
		CHECK(p.uidvalidity != 0);
		CHECK(p.modseq <= INT64_MAX);
		check_set(&p.known);
		check_set(&p.match_seqs);
		check_set(&p.match_uids);
		CHECK(!p.has_match || seqset_count(&p.match_seqs) == seqset_count(&p.match_uids));
		CHECK(p.has_known || p.known.n == 0);
	} else {
		CHECK(p.known.n == 0 && !p.has_match);
	}
	condstore_select_free(&p);
}

static void fuzz_fetch(const struct imap_arg *a)
{
	struct condstore_fetch f;
	const char *err = NULL;
	if (condstore_fetch_parse(a, &f, &err) < 0) {
		CHECK(err && *err);
		return;
	}
	CHECK(f.changedsince_set || f.vanished == false);
	CHECK(f.changedsince <= INT64_MAX);
	CHECK(f.changedsince_set || f.changedsince == 0);
}

static void fuzz_store(const struct imap_arg *a)
{
	struct condstore_store st;
	const char *err = NULL;
	if (condstore_store_parse(a, &st, &err) < 0) {
		CHECK(err && *err);
		return;
	}
	CHECK(st.unchangedsince_set && st.unchangedsince <= INT64_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const char *const verbs[] = { "SELECT x", "FETCH 1 FLAGS", "STORE 1" };
	unsigned mode = data[0] % 3;
	struct imap_parser *p = fuzz_parse_command(verbs[mode], data + 1, size - 1);
	if (!p)
		return 0;
	size_t nargs;
	const struct imap_arg *args = imap_parser_args(p, &nargs);
	/* The modifier list follows the verb's own arguments. */
	size_t at = mode == 0 ? 1 : 2;
	if (nargs > at) {
		if (mode == 0)
			fuzz_select(&args[at]);
		else if (mode == 1)
			fuzz_fetch(&args[at]);
		else
			fuzz_store(&args[at]);
	}
	imap_parser_free(p);
	return 0;
}
