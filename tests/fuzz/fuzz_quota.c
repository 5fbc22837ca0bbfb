/* libFuzzer harness for the QUOTA commands' arguments (imap/cmd_quota.c,
 * RFC 9208): byte 0 picks the mode.
 *  - even: the rest is the text after "SETQUOTA ", parsed by the real
 *    command parser; its second argument goes to quota_setlist_parse().
 *  - odd: the rest is "admins\0user" for quota_is_admin(), compared with
 *    a model that splits the list with strtok_r.
 *
 * What is checked, beyond "no crash, no leak, no UB":
 *  - the parser answers 0, -1 (BAD), -2 (unknown resource) or -3 (a 0
 *    limit); every failure gives a static explanation and zeroed limits;
 *  - a success gives limits that are 0 (not listed) or a number64
 *    (1..2^63-1), and a list of k pairs sets at most k resources;
 *  - quota_is_admin agrees with the model. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "imap/cmd_quota.h"

static void check_setquota(const uint8_t *data, size_t size)
{
	struct imap_parser *p = fuzz_parse_command("SETQUOTA", data, size);
	if (!p)
		return;
	size_t nargs;
	const struct imap_arg *args = imap_parser_args(p, &nargs);
	if (nargs < 2) {
		imap_parser_free(p);
		return;
	}
	struct store_quota_limits l;
	memset(&l, 0xa5, sizeof(l));
	const char *err = NULL;
	int r = quota_setlist_parse(&args[1], &l, &err);
	CHECK(r == 0 || r == -1 || r == -2 || r == -3);
	const uint64_t v[3] = { l.storage_kib, l.messages, l.mailboxes };
	if (r != 0) {
		CHECK(err != NULL && err[0] != '\0');
		CHECK(v[0] == 0 && v[1] == 0 && v[2] == 0);
	} else {
		size_t set = 0;
		for (size_t i = 0; i < 3; i++) {
			CHECK(v[i] <= INT64_MAX);
			set += v[i] != 0;
		}
		CHECK(args[1].type == IMAP_ARG_LIST && set <= args[1].count / 2);
	}
	imap_parser_free(p);
}

static bool model_is_admin(const char *admins, const char *user)
{
	char *copy = strdup(admins), *save = NULL;
	bool found = false;
	for (char *t = strtok_r(copy, " ,\t", &save); t; t = strtok_r(NULL, " ,\t", &save))
		found |= strcmp(t, user) == 0;
	free(copy);
	return found;
}

static void check_admin(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 2);
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = '\0';
	const char *admins = buf;
	const char *user = buf + strlen(buf) + 1;
	if (user > buf + size)
		user = buf + size + 1;
	CHECK(quota_is_admin(admins, user) == (*user && model_is_admin(admins, user)));
	CHECK(!quota_is_admin(NULL, user));
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		check_admin(data + 1, size - 1);
	else
		check_setquota(data + 1, size - 1);
	return 0;
}
