/* libFuzzer harness for the FETCH attribute parser (imap/fetch_items.c):
 * the text after "FETCH 1 " goes through the real command parser, then
 * fetch_request_parse() turns the first argument into a request.
 *
 * Built by CMake: fuzz_fetch_items_replay replays tests/fuzz/corpus/
 * fuzz_fetch_items in every build; with clang, fuzz_fetch_items is the
 * libFuzzer binary that `make test` runs briefly (ctest -R fuzz_run).
 *
 * What is checked, beyond "no crash, no leak, no UB":
 *  - failure leaves a zeroed request and a static explanation;
 *  - success gives 1..256 items, each with a label that names its kind
 *    the way the response will (BODY.PEEK answers as BODY, RFC 9051 7.5.2;
 *    a partial range answers with its origin only);
 *  - the summary flags agree with the items (\Seen only for a non-PEEK
 *    body item; content needed for every body item);
 *  - fetch_request_ensure_uid() adds UID in front only when it is absent. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "imap/fetch_items.h"

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void check_item(const struct fetch_item *it, bool *seen)
{
	CHECK(it->label != NULL && it->label[0] != '\0');
	switch (it->type) {
	case FI_SECTION:
		CHECK(starts_with(it->label, "BODY[") || starts_with(it->label, "RFC822"));
		CHECK(!starts_with(it->label, "BODY.PEEK"));
		break;
	case FI_BINARY:
		CHECK(starts_with(it->label, "BINARY["));
		CHECK(it->nparts <= MAIL_MAX_SECTION_PARTS);
		break;
	case FI_BINARY_SIZE:
		CHECK(starts_with(it->label, "BINARY.SIZE["));
		CHECK(it->peek && !it->partial);
		CHECK(it->nparts <= MAIL_MAX_SECTION_PARTS);
		break;
	default:
		CHECK(strchr(it->label, '[') == NULL);
		CHECK(!it->partial);
		return;
	}
	for (size_t i = 0; i < it->nparts; i++)
		CHECK(it->part[i] != 0);
	if (it->partial) {
		CHECK(it->count != 0);
		char tail[32];
		snprintf(tail, sizeof(tail), "]<%llu>", (unsigned long long)it->origin);
		size_t ll = strlen(it->label), tl = strlen(tail);
		CHECK(ll > tl && strcmp(it->label + ll - tl, tail) == 0);
	} else {
		CHECK(it->label[strlen(it->label) - 1] == ']' || starts_with(it->label, "RFC822"));
	}
	if (!it->peek)
		*seen = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser *p = fuzz_parse_command("FETCH 1", data, size);
	if (!p)
		return 0;
	size_t nargs;
	const struct imap_arg *args = imap_parser_args(p, &nargs);
	if (nargs == 0) {
		imap_parser_free(p);
		return 0;
	}
	struct fetch_request r;
	const char *err = NULL;
	if (fetch_request_parse(&args[0], &r, &err) < 0) {
		CHECK(err != NULL && err[0] != '\0');
		CHECK(r.n == 0 && r.items == NULL);
		fetch_request_free(&r);
		imap_parser_free(p);
		return 0;
	}
	CHECK(r.n >= 1 && r.n <= 256);
	bool seen = false, body = false;
	for (size_t i = 0; i < r.n; i++) {
		const struct fetch_item *it = &r.items[i];
		check_item(it, &seen);
		if (it->type == FI_SECTION || it->type == FI_BINARY || it->type == FI_BINARY_SIZE)
			body = true;
		if (it->type == FI_UID)
			CHECK(r.has_uid);
		if (it->type == FI_FLAGS)
			CHECK(r.has_flags);
	}
	CHECK(r.sets_seen == seen);
	CHECK(!body || r.needs_content);
	size_t n_before = r.n;
	bool had_uid = r.has_uid;
	fetch_request_ensure_uid(&r);
	CHECK(r.has_uid);
	CHECK(r.n == n_before + (had_uid ? 0 : 1));
	CHECK(had_uid || (r.items[0].type == FI_UID && strcmp(r.items[0].label, "UID") == 0));
	fetch_request_free(&r);
	CHECK(r.n == 0 && r.items == NULL);
	imap_parser_free(p);
	return 0;
}
