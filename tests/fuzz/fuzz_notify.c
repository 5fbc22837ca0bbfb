/* libFuzzer harness for the NOTIFY argument grammar (imap/notify_set.c,
 * RFC 5465 8) after the real IMAP parser.
 *
 * Input layout: byte 0 bit 0 picks the mailbox name decoding (0: UTF-8 as
 * a rev2 session, 1: modified UTF-7 as a rev1 session); the rest is the
 * text after "NOTIFY ".
 *
 * What is checked, beyond "no crash, no leak, no UB":
 *  - a refusal comes with an explanation and leaves nothing allocated;
 *  - an accepted setting keeps RFC 5465 5's rules: MessageNew and
 *    MessageExpunge together, FlagChange only with both, SELECTED groups
 *    with message events only and at most one of them, fetch attributes
 *    only on a SELECTED group;
 *  - the name count matches the groups, and matching any parsed name
 *    against the setting gives a subset of the supported events. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "imap/mutf7.h"
#include "imap/notify_set.h"

#define ALL_EVENTS (NOTIFY_EV_MESSAGE | NOTIFY_EV_MAILBOX_NAME | NOTIFY_EV_SUBSCRIPTION_CHANGE)

static char *decode(void *ctx, const struct imap_arg *a)
{
	bool mutf7 = *(const bool *)ctx;
	const char *str;
	size_t len;
	if (!imap_arg_get_astring(a, &str, &len) || memchr(str, '\0', len))
		return NULL;
	struct strbuf b = STRBUF_INIT;
	if (!mutf7)
		strbuf_add(&b, str, len);
	else if (mutf7_decode_rev1(str, &b) < 0) {
		strbuf_free(&b);
		return NULL;
	}
	if (!b.s)
		strbuf_adds(&b, "");
	return strbuf_detach(&b, NULL);
}

static void check_set(const struct notify_set *set)
{
	if (set->none) {
		CHECK(set->n == 0 && set->nnames == 0);
		return;
	}
	CHECK(set->n >= 1);
	size_t names = 0, selected = 0;
	unsigned both = NOTIFY_EV_MESSAGE_NEW | NOTIFY_EV_MESSAGE_EXPUNGE;
	for (size_t i = 0; i < set->n; i++) {
		const struct notify_group *g = &set->groups[i];
		bool sel = g->filter == NOTIFY_F_SELECTED || g->filter == NOTIFY_F_SELECTED_DELAYED;
		CHECK((g->events & ~ALL_EVENTS) == 0);
		CHECK((g->events & both) == 0 || (g->events & both) == both);
		CHECK(!(g->events & NOTIFY_EV_FLAG_CHANGE) || (g->events & both) == both);
		CHECK(!sel || (g->events & ~NOTIFY_EV_MESSAGE) == 0);
		CHECK(g->fetch.n == 0 || (sel && (g->events & NOTIFY_EV_MESSAGE_NEW)));
		bool named = g->filter == NOTIFY_F_SUBTREE || g->filter == NOTIFY_F_MAILBOXES;
		CHECK(named ? g->nnames >= 1 : g->nnames == 0);
		for (size_t k = 0; k < g->nnames; k++) {
			CHECK(g->names[k]);
			CHECK((notify_set_events(set, g->names[k], k & 1) & ~ALL_EVENTS) == 0);
		}
		names += g->nnames;
		selected += sel;
	}
	CHECK(names == set->nnames);
	CHECK(selected <= 1);
	CHECK((notify_set_selected(set) != NULL) == (selected == 1));
	CHECK((notify_set_events(set, "INBOX", true) & ~ALL_EVENTS) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool mutf7 = data[0] & 1;
	struct imap_parser *p = fuzz_parse_command("NOTIFY", data + 1, size - 1);
	if (!p)
		return 0;
	size_t nargs;
	const struct imap_arg *args = imap_parser_args(p, &nargs);
	struct notify_set set;
	const char *err = NULL;
	enum notify_set_result r = notify_set_parse(args, nargs, decode, &mutf7, &set, &err);
	if (r == NOTIFY_SET_OK) {
		check_set(&set);
	} else {
		CHECK(err && *err);
		CHECK(set.n == 0 && set.groups == NULL);
	}
	notify_set_free(&set);
	imap_parser_free(p);
	return 0;
}
