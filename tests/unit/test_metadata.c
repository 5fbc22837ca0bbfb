/* METADATA (RFC 5464): the entry-name rule (store/metadata.c) and the
 * GETMETADATA/SETMETADATA argument parsers (imap/cmd_metadata.c), fed
 * through the real command parser. The commands themselves are proven
 * against a real server in tests/integration/test_metadata.py. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "imap/cmd_metadata.h"
#include "imap/parser.h"
#include "store/store.h"

static int name_check(const char *in, bool allow_root, const char *want)
{
	char *out = (char *)"unset";
	int r = store_meta_name_check(in, strlen(in), allow_root, &out);
	if (r == STORE_OK) {
		assert_non_null(want);
		assert_string_equal(out, want);
		free(out);
	} else {
		assert_null(out);
	}
	return r;
}

static void test_name_rule(void **state)
{
	(void)state;
	/* RFC 5464 3.2: lowercase compare, so lowercased once here. */
	assert_int_equal(name_check("/private/comment", false, "/private/comment"), STORE_OK);
	assert_int_equal(name_check("/Shared/Vendor/X-Y", false, "/shared/vendor/x-y"), STORE_OK);
	assert_int_equal(name_check("/PRIVATE/a b\xc3\xa9", false, "/private/a b\xc3\xa9"), STORE_OK);
	/* Tree roots: only where a tree is asked for (DEPTH). */
	assert_int_equal(name_check("/private", true, "/private"), STORE_OK);
	assert_int_equal(name_check("/SHARED", true, "/shared"), STORE_OK);
	assert_int_equal(name_check("/private", false, NULL), STORE_EINVAL);
	static const char *const bad[] = {
		"", "private/a", "/", "//", "/private/", "/private//a", "/private/a/", "/foo/a",
		"/privatex/a", "/private/*", "/private/a%b", "/private/a\tb", "/private/\x7f",
		"/sharedx", "/pri",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(name_check(bad[i], true, NULL), STORE_EINVAL);
	/* A NUL inside the bytes is a control character. */
	char *out;
	assert_int_equal(store_meta_name_check("/private/a\0b", 12, false, &out), STORE_EINVAL);
	/* The length limit, exactly. */
	char name[STORE_META_NAME_MAX + 2];
	memset(name, 'x', sizeof(name));
	memcpy(name, "/private/", 9);
	name[STORE_META_NAME_MAX] = '\0';
	assert_int_equal(store_meta_name_check(name, STORE_META_NAME_MAX, false, &out), STORE_OK);
	free(out);
	assert_int_equal(store_meta_name_check(name, STORE_META_NAME_MAX + 1, false, &out),
			 STORE_ELIMIT);
}

/* Parses "t VERB text" and runs the matching argument parser. */
static int parse(const char *verb, const char *text, size_t len, struct metadata_req *req)
{
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	struct imap_parser *p = imap_parser_new(&lim);
	struct strbuf cmd = STRBUF_INIT;
	strbuf_addf(&cmd, "t %s ", verb);
	strbuf_add(&cmd, text, len);
	strbuf_adds(&cmd, "\r\n");
	size_t used = 0;
	assert_int_equal(imap_parser_feed(p, cmd.s, cmd.len, &used), IMAP_PARSE_DONE);
	strbuf_free(&cmd);
	size_t nargs;
	const struct imap_arg *args = imap_parser_args(p, &nargs);
	const char *err = NULL;
	int r = strcmp(verb, "SETMETADATA") == 0 ? metadata_set_parse(args, nargs, req, &err)
						 : metadata_get_parse(args, nargs, req, &err);
	if (r != 0)
		assert_non_null(err);
	/* The request copies what it keeps: the parser may go. */
	if (r == 0)
		req->mailbox = NULL;
	imap_parser_free(p);
	return r;
}

static int get(const char *text, struct metadata_req *req)
{
	return parse("GETMETADATA", text, strlen(text), req);
}

static void test_getmetadata_args(void **state)
{
	(void)state;
	struct metadata_req req;
	assert_int_equal(get("INBOX /Private/Comment", &req), 0);
	assert_int_equal(req.nnames, 1);
	assert_string_equal(req.names[0], "/private/comment");
	assert_int_equal(req.depth, 0);
	assert_true(req.maxsize == SIZE_MAX);
	metadata_req_free(&req);

	assert_int_equal(get("(MAXSIZE 1024 DEPTH infinity) \"\" (/shared /private/a)", &req), 0);
	assert_int_equal(req.depth, -1);
	assert_int_equal(req.maxsize, 1024);
	assert_int_equal(req.nnames, 2);
	assert_string_equal(req.names[0], "/shared");
	metadata_req_free(&req);

	/* Options after the mailbox (RFC 5464 4.2.1's examples). */
	assert_int_equal(get("INBOX (depth 1) (/shared/a)", &req), 0);
	assert_int_equal(req.depth, 1);
	metadata_req_free(&req);

	static const char *const bad[] = {
		"INBOX",                          /* no entries */
		"INBOX ()",                       /* empty list */
		"(DEPTH 2) INBOX /private/a",     /* depth */
		"(DEPTH) INBOX /private/a",       /* option without value */
		"(DEPTH 0 DEPTH 1) INBOX /private/a",
		"(MAXSIZE -1) INBOX /private/a",
		"(MAXSIZE 4294967296) INBOX /private/a",
		"(FOO 1) INBOX /private/a",
		"() INBOX /private/a",
		"NIL /private/a",                 /* the mailbox is a string */
		"INBOX NIL",
		"INBOX (/private/a (/private/b))",
		"INBOX /private/*",
		"INBOX /private/a /private/b",    /* several names need a list */
		"(DEPTH 1) INBOX (/private/a) extra",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(get(bad[i], &req), -1);
		assert_null(req.names);
	}
}

static void test_setmetadata_args(void **state)
{
	(void)state;
	struct metadata_req req;
	static const char text[] = "INBOX (/Private/A \"v\" /shared/b NIL /shared/c ~{3+}\r\nx\0y)";
	assert_int_equal(parse("SETMETADATA", text, sizeof(text) - 1, &req), 0);
	assert_int_equal(req.ne, 3);
	assert_string_equal(req.e[0].name, "/private/a");
	assert_string_equal(req.e[0].value, "v");
	assert_null(req.e[1].value);
	assert_int_equal(req.e[2].len, 3);
	assert_memory_equal(req.e[2].value, "x\0y", 3);
	metadata_req_free(&req);
	assert_null(req.e);

	static const char *const bad[] = {
		"INBOX",
		"INBOX ()",
		"INBOX (/private/a)",
		"INBOX (/private/a v)",         /* a value is not an atom */
		"INBOX (/private/a (v))",
		"INBOX (/private \"v\")",       /* a tree root is no entry */
		"INBOX (/private/a% \"v\")",
		"INBOX /private/a \"v\"",
		"(DEPTH 1) (/private/a \"v\")",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse("SETMETADATA", bad[i], strlen(bad[i]), &req), -1);
		assert_null(req.e);
	}
	/* An overlong name is a limit (NO [LIMIT]), not a syntax error. */
	struct strbuf b = STRBUF_INIT;
	strbuf_adds(&b, "INBOX (/private/");
	for (int i = 0; i < 1100; i++)
		strbuf_addc(&b, 'x');
	strbuf_adds(&b, " \"v\")");
	assert_int_equal(parse("SETMETADATA", b.s, b.len, &req), -2);
	strbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_rule),
		cmocka_unit_test(test_getmetadata_args),
		cmocka_unit_test(test_setmetadata_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
