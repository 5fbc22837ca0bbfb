/* libFuzzer harness for the ACL command arguments (RFC 4314 3): the text
 * after "SETACL" goes through the real command parser; its astrings are
 * read as SETACL reads them (mailbox, identifier, rights with an optional
 * +/- modifier) and fed to the rights code of store/acl.c.
 *
 * What is checked, beyond "no crash, no leak, no UB":
 *  - a valid identifier has only user-name characters, one leading '-' at
 *    most, and at most STORE_USERNAME_MAX bytes after it;
 *  - accepted rights are a subset of STORE_ACL_ALL whose text parses back
 *    to the same rights (GETACL's answer sent back by a client grants
 *    nothing more), and "+x" / "-x" only add to / remove from the
 *    current rights;
 *  - the owner holds every right; anyone else holds no more than the
 *    union of the positive entries that name them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "store/store.h"

static void check_ident(const char *id)
{
	if (!store_acl_ident_valid(id))
		return;
	const char *p = id[0] == '-' ? id + 1 : id;
	CHECK(*p && *p != '-' && strlen(p) <= STORE_USERNAME_MAX);
	for (; *p; p++)
		CHECK(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+@-", *p));
}

static void check_rights(const char *text, uint32_t cur)
{
	uint32_t r;
	if (store_acl_rights_parse(text, &r) == STORE_OK) {
		CHECK((r & ~STORE_ACL_ALL) == 0);
		char buf[STORE_ACL_RIGHTS_TEXT_MAX];
		store_acl_rights_format(r, buf);
		uint32_t back;
		CHECK(store_acl_rights_parse(buf, &back) == STORE_OK && back == r);
	}
	uint32_t out;
	if (store_acl_rights_apply(text, cur, &out) == STORE_OK) {
		CHECK((out & ~STORE_ACL_ALL) == 0);
		if (text[0] == '+')
			CHECK((out & cur) == cur);
		else if (text[0] == '-')
			CHECK((out & ~cur) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser *p = fuzz_parse_command("SETACL", data, size);
	if (!p)
		return 0;
	size_t nargs;
	const struct imap_arg *args = imap_parser_args(p, &nargs);
	struct store_acl_entry e[8];
	size_t ne = 0;
	uint32_t positive = 0;
	for (size_t i = 0; i < nargs; i++) {
		const char *s;
		size_t len;
		if (!imap_arg_get_astring(&args[i], &s, &len) || strlen(s) != len)
			continue;
		check_ident(s);
		check_rights(s, (uint32_t)(i * 0x2c5u) & STORE_ACL_ALL);
		/* Pairs (identifier, rights) become entries of one mailbox. */
		const char *rs;
		size_t rlen;
		uint32_t r;
		if (i + 1 < nargs && ne < 8 && store_acl_ident_valid(s) &&
		    imap_arg_get_astring(&args[i + 1], &rs, &rlen) && strlen(rs) == rlen &&
		    store_acl_rights_parse(rs, &r) == STORE_OK) {
			e[ne].mailbox = (char *)"box";
			e[ne].ident = (char *)s;
			e[ne].rights = r;
			if (s[0] != '-')
				positive |= r;
			ne++;
		}
	}
	if (ne > 0) {
		const char *who = e[0].ident[0] == '-' ? e[0].ident + 1 : e[0].ident;
		CHECK(store_acl_rights_of(who, who, "box", e, ne) == STORE_ACL_ALL);
		/* The owner has every right whatever the entries say, so the
		 * model holds only for someone else. */
		if (strcmp(who, "owner@x") != 0) {
			CHECK((store_acl_rights_of("owner@x", who, "box", e, ne) & ~positive) == 0);
			CHECK(store_acl_rights_of("owner@x", who, "other", e, ne) == 0);
		}
	}
	imap_parser_free(p);
	return 0;
}
