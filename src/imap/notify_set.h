/* The NOTIFY command's argument (RFC 5465 3.1, 8) as data: which
 * mailboxes (filter-mailboxes) get which events, and for which mailbox a
 * given name is watched. Parsing is apart from the session so the grammar
 * can be fuzzed (tests/fuzz/fuzz_notify.c); imap/notify_push.c delivers.
 * Not a public interface outside src/imap/. */
#ifndef RAMPART_IMAP_NOTIFY_SET_H
#define RAMPART_IMAP_NOTIFY_SET_H

#include <stdbool.h>
#include <stddef.h>

#include "imap/fetch_items.h"
#include "imap/parser.h"

/* The events Rampart supports (RFC 5465 5). AnnotationChange and the
 * METADATA events are answered NO [BADEVENT]. */
enum notify_event {
	NOTIFY_EV_MESSAGE_NEW = 1u << 0,
	NOTIFY_EV_MESSAGE_EXPUNGE = 1u << 1,
	NOTIFY_EV_FLAG_CHANGE = 1u << 2,
	NOTIFY_EV_MAILBOX_NAME = 1u << 3,
	NOTIFY_EV_SUBSCRIPTION_CHANGE = 1u << 4,
};
#define NOTIFY_EV_MESSAGE \
	(NOTIFY_EV_MESSAGE_NEW | NOTIFY_EV_MESSAGE_EXPUNGE | NOTIFY_EV_FLAG_CHANGE)
/* What BADEVENT lists: the events the server supports (RFC 5465 3.1). */
#define NOTIFY_SUPPORTED_EVENTS \
	"(MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)"

enum notify_filter {
	NOTIFY_F_SELECTED,
	NOTIFY_F_SELECTED_DELAYED,
	NOTIFY_F_INBOXES,
	NOTIFY_F_PERSONAL,
	NOTIFY_F_SUBSCRIBED,
	NOTIFY_F_SUBTREE,
	NOTIFY_F_MAILBOXES,
};

struct notify_group {
	enum notify_filter filter;
	unsigned events;            /* enum notify_event bits; 0 for NONE */
	char **names;               /* SUBTREE / MAILBOXES: UTF-8, owned */
	size_t nnames;
	/* MessageNew (fetch-att ...) of a SELECTED group: what each new
	 * message's FETCH carries (fetch.n == 0: EXISTS only). */
	struct fetch_request fetch;
};

struct notify_set {
	bool none;                  /* NOTIFY NONE */
	bool status;                /* SET STATUS: initial STATUS responses */
	struct notify_group *groups;
	size_t n;
	size_t nnames;              /* mailbox names over all groups */
};

enum notify_set_result {
	NOTIFY_SET_OK = 0,
	NOTIFY_SET_BAD = -1,        /* syntax or a rule of RFC 5465 5: BAD */
	NOTIFY_SET_BADEVENT = -2,   /* an event not supported: NO [BADEVENT (...)] */
	NOTIFY_SET_BADNAME = -3,    /* a mailbox name decode refused: BAD */
};

/* Turns a mailbox argument into the UTF-8 name (malloc'd), NULL when it
 * is not a valid name; the session passes its own decoding (modified
 * UTF-7 for rev1 clients). */
typedef char *notify_name_fn(void *ctx, const struct imap_arg *a);

/* Parses everything after "NOTIFY". On failure *err is a static
 * explanation and out holds nothing to free (notify_set_free is safe). */
enum notify_set_result notify_set_parse(const struct imap_arg *args, size_t nargs,
					notify_name_fn *decode, void *ctx,
					struct notify_set *out, const char **err);
void notify_set_free(struct notify_set *set);

/* The SELECTED or SELECTED-DELAYED group (the first), NULL when none. */
const struct notify_group *notify_set_selected(const struct notify_set *set);
/* The events watched for the user's own mailbox `name` when it is not
 * the selected one: those of the first group (in the client's order)
 * whose filter matches it. RFC 5465 6: INBOXES is INBOX here, the only
 * mailbox delivery writes to. */
unsigned notify_set_events(const struct notify_set *set, const char *name, bool subscribed);
/* Does any non-selected group ask for one of `events`? */
bool notify_set_wants(const struct notify_set *set, unsigned events);

#endif
