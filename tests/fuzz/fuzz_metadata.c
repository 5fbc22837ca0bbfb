/* libFuzzer harness for the METADATA commands' arguments
 * (imap/cmd_metadata.c, RFC 5464 4.2, 4.3, 5): byte 0 picks the command
 * (even: GETMETADATA, odd: SETMETADATA), the rest is the text after the
 * verb, parsed by the real command parser.
 *
 * What is checked, beyond "no crash, no leak, no UB":
 *  - the parsers answer 0, -1 (BAD) or -2 (a limit); a failure gives a
 *    static explanation and an empty request;
 *  - every name a success gives is a fixed point of the entry-name rule
 *    (store_meta_name_check: valid, lowercase), is no longer than
 *    STORE_META_NAME_MAX, starts with /private or /shared, and is a tree
 *    root only in GETMETADATA;
 *  - GETMETADATA: depth is 0, 1 or -1, at least one name, at most
 *    METADATA_NAMES_MAX; SETMETADATA: at least one entry, values either
 *    NIL (NULL) or bytes of the stated length, NUL-terminated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "imap/cmd_metadata.h"

static void check_name(const char *name, bool allow_root)
{
	CHECK(name != NULL);
	size_t len = strlen(name);
	CHECK(len <= STORE_META_NAME_MAX);
	CHECK(strncmp(name, "/private", 8) == 0 || strncmp(name, "/shared", 7) == 0);
	char *again = NULL;
	CHECK(store_meta_name_check(name, len, allow_root, &again) == STORE_OK);
	CHECK(strcmp(again, name) == 0);
	free(again);
	for (const char *p = name; *p; p++)
		CHECK(!(*p >= 'A' && *p <= 'Z'));
}

static void check_empty(const struct metadata_req *req)
{
	CHECK(req->names == NULL && req->nnames == 0 && req->e == NULL && req->ne == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool set = data[0] & 1;
	struct imap_parser *p =
		fuzz_parse_command(set ? "SETMETADATA" : "GETMETADATA", data + 1, size - 1);
	if (!p)
		return 0;
	size_t nargs;
	const struct imap_arg *args = imap_parser_args(p, &nargs);
	struct metadata_req req;
	const char *err = NULL;
	int r = set ? metadata_set_parse(args, nargs, &req, &err)
		    : metadata_get_parse(args, nargs, &req, &err);
	CHECK(r == 0 || r == -1 || r == -2);
	if (r != 0) {
		CHECK(err != NULL && err[0] != '\0');
		check_empty(&req);
		imap_parser_free(p);
		return 0;
	}
	CHECK(req.mailbox != NULL);
	if (set) {
		CHECK(req.ne >= 1 && req.ne <= METADATA_NAMES_MAX && req.nnames == 0);
		for (size_t i = 0; i < req.ne; i++) {
			check_name(req.e[i].name, false);
			if (req.e[i].value)
				CHECK(req.e[i].value[req.e[i].len] == '\0');
			else
				CHECK(req.e[i].len == 0);
		}
	} else {
		CHECK(req.depth == 0 || req.depth == 1 || req.depth == -1);
		CHECK(req.nnames >= 1 && req.nnames <= METADATA_NAMES_MAX && req.ne == 0);
		for (size_t i = 0; i < req.nnames; i++)
			check_name(req.names[i], true);
	}
	metadata_req_free(&req);
	check_empty(&req);
	imap_parser_free(p);
	return 0;
}
