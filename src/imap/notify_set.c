/* The NOTIFY grammar (RFC 5465 8) and its rules (RFC 5465 5), and which
 * events a mailbox gets under a parsed setting. Pure: no session, no
 * store, so tests/fuzz/fuzz_notify.c drives it directly.
 *
 *   notify       = "NOTIFY" SP ("NONE" / "SET" [SP "STATUS"] 1*(SP event-group))
 *   event-group  = "(" filter-mailboxes SP events ")"
 *   events       = "(" event *(SP event) ")" / "NONE"
 *
 * Decisions where the RFC leaves room (docs/imap.md, "## notify"):
 *  - a mailbox matched by several groups takes the events of the first;
 *  - fetch-att after MessageNew is kept for SELECTED groups only and is
 *    limited to attributes that need no message body (FETCH gets those). */
#include "imap/notify_set.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* One event group names at most this many mailboxes, and a whole
 * setting this many groups: the session's limit (notify_max_mailboxes)
 * is checked by the command; these only bound the parser's work. */
#define NOTIFY_MAX_GROUPS 64

static const struct {
	const char *name;
	unsigned bit;
} event_names[] = {
	{ "MessageNew", NOTIFY_EV_MESSAGE_NEW },
	{ "MessageExpunge", NOTIFY_EV_MESSAGE_EXPUNGE },
	{ "FlagChange", NOTIFY_EV_FLAG_CHANGE },
	{ "MailboxName", NOTIFY_EV_MAILBOX_NAME },
	{ "SubscriptionChange", NOTIFY_EV_SUBSCRIPTION_CHANGE },
};

static const struct {
	const char *name;
	enum notify_filter filter;
} filter_names[] = {
	{ "SELECTED", NOTIFY_F_SELECTED },
	{ "SELECTED-DELAYED", NOTIFY_F_SELECTED_DELAYED },
	{ "INBOXES", NOTIFY_F_INBOXES },
	{ "PERSONAL", NOTIFY_F_PERSONAL },
	{ "SUBSCRIBED", NOTIFY_F_SUBSCRIBED },
	{ "SUBTREE", NOTIFY_F_SUBTREE },
	{ "MAILBOXES", NOTIFY_F_MAILBOXES },
};

static bool is_selected(enum notify_filter f)
{
	return f == NOTIFY_F_SELECTED || f == NOTIFY_F_SELECTED_DELAYED;
}

/* A fetch-att a notification can answer from the message's metadata
 * and the envelope/structure cached at delivery. */
static bool fetch_item_cheap(enum fetch_item_type t)
{
	switch (t) {
	case FI_UID:
	case FI_FLAGS:
	case FI_INTERNALDATE:
	case FI_RFC822_SIZE:
	case FI_SAVEDATE:
	case FI_ENVELOPE:
	case FI_BODYSTRUCTURE:
	case FI_MODSEQ:
	case FI_EMAILID:
		return true;
	default:
		return false;
	}
}

static void group_free(struct notify_group *g)
{
	for (size_t i = 0; i < g->nnames; i++)
		free(g->names[i]);
	free(g->names);
	fetch_request_free(&g->fetch);
	memset(g, 0, sizeof(*g));
}

void notify_set_free(struct notify_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		group_free(&set->groups[i]);
	free(set->groups);
	memset(set, 0, sizeof(*set));
}

/* RFC 5465 3.1 one-or-more-mailbox: a mailbox or a list of them. */
static enum notify_set_result parse_names(const struct imap_arg *a, notify_name_fn *decode,
					  void *ctx, struct notify_group *g, const char **err)
{
	const struct imap_arg *list = a;
	size_t n = 1;
	if (a->type == IMAP_ARG_LIST) {
		list = a->list;
		n = a->count;
		if (n == 0) {
			*err = "Empty mailbox list";
			return NOTIFY_SET_BAD;
		}
	}
	g->names = xcalloc(n, sizeof(*g->names));
	for (size_t i = 0; i < n; i++) {
		if (list[i].type == IMAP_ARG_LIST || list[i].type == IMAP_ARG_NIL) {
			*err = "Mailbox name expected";
			return NOTIFY_SET_BAD;
		}
		char *name = decode(ctx, &list[i]);
		if (!name) {
			*err = "Invalid mailbox name";
			return NOTIFY_SET_BADNAME;
		}
		g->names[g->nnames++] = name;
	}
	return NOTIFY_SET_OK;
}

/* events = "(" event *(SP event) ")" / "NONE" (RFC 5465 8). An unknown
 * or unsupported event is BADEVENT only once the syntax is right. */
static enum notify_set_result parse_events(const struct imap_arg *a, struct notify_group *g,
					   const char **err)
{
	if (imap_arg_atom_ieq(a, "NONE"))
		return NOTIFY_SET_OK;
	if (a->type != IMAP_ARG_LIST || a->count == 0) {
		*err = "Event list expected";
		return NOTIFY_SET_BAD;
	}
	bool unsupported = false;
	for (size_t i = 0; i < a->count; i++) {
		const char *word;
		if (!imap_arg_get_atom(&a->list[i], &word)) {
			*err = "Event name expected";
			return NOTIFY_SET_BAD;
		}
		unsigned bit = 0;
		for (size_t k = 0; k < ARRAY_SIZE(event_names); k++)
			if (ascii_ieq(word, event_names[k].name))
				bit = event_names[k].bit;
		if (!bit) {
			/* AnnotationChange, MailboxMetadataChange,
			 * ServerMetadataChange and extensions: RFC 5465 3.1
			 * NO [BADEVENT]. Their parameter lists are skipped. */
			unsupported = true;
			if (i + 1 < a->count && a->list[i + 1].type == IMAP_ARG_LIST)
				i++;
			continue;
		}
		g->events |= bit;
		if (bit == NOTIFY_EV_MESSAGE_NEW && i + 1 < a->count &&
		    a->list[i + 1].type == IMAP_ARG_LIST) {
			const struct imap_arg *atts = &a->list[++i];
			if (g->fetch.n || atts->count == 0) {
				*err = "Bad MessageNew fetch attributes";
				return NOTIFY_SET_BAD;
			}
			if (fetch_request_parse(atts, &g->fetch, err) < 0)
				return NOTIFY_SET_BAD;
			for (size_t k = 0; k < g->fetch.n; k++) {
				if (!fetch_item_cheap(g->fetch.items[k].type)) {
					*err = "MessageNew can't carry body data; FETCH it";
					return NOTIFY_SET_BAD;
				}
			}
			/* Only the selected mailbox has messages to FETCH. */
			if (!is_selected(g->filter))
				fetch_request_free(&g->fetch);
		}
	}
	if (unsupported) {
		*err = "Unsupported event";
		return NOTIFY_SET_BADEVENT;
	}
	unsigned newexp = NOTIFY_EV_MESSAGE_NEW | NOTIFY_EV_MESSAGE_EXPUNGE;
	/* RFC 5465 5.2, 5.3: MessageNew and MessageExpunge go together;
	 * RFC 5465 5.1: FlagChange needs both. */
	if ((g->events & newexp) && (g->events & newexp) != newexp) {
		*err = "MessageNew and MessageExpunge must be given together";
		return NOTIFY_SET_BAD;
	}
	if ((g->events & NOTIFY_EV_FLAG_CHANGE) && !(g->events & newexp)) {
		*err = "FlagChange needs MessageNew and MessageExpunge";
		return NOTIFY_SET_BAD;
	}
	/* RFC 5465 6: SELECTED and SELECTED-DELAYED take message events only. */
	if (is_selected(g->filter) && (g->events & ~NOTIFY_EV_MESSAGE)) {
		*err = "Only message events apply to the selected mailbox";
		return NOTIFY_SET_BAD;
	}
	return NOTIFY_SET_OK;
}

static enum notify_set_result parse_group(const struct imap_arg *a, notify_name_fn *decode,
					  void *ctx, struct notify_group *g, const char **err)
{
	const char *word;
	if (a->type != IMAP_ARG_LIST || a->count < 2 || !imap_arg_get_atom(&a->list[0], &word)) {
		*err = "Event group expected";
		return NOTIFY_SET_BAD;
	}
	size_t k = 0;
	while (k < ARRAY_SIZE(filter_names) && !ascii_ieq(word, filter_names[k].name))
		k++;
	if (k == ARRAY_SIZE(filter_names)) {
		*err = "Unknown mailbox filter";
		return NOTIFY_SET_BAD;
	}
	g->filter = filter_names[k].filter;
	size_t at = 1;
	if (g->filter == NOTIFY_F_SUBTREE || g->filter == NOTIFY_F_MAILBOXES) {
		if (a->count != 3) {
			*err = "SUBTREE and MAILBOXES take mailboxes, then events";
			return NOTIFY_SET_BAD;
		}
		enum notify_set_result r = parse_names(&a->list[1], decode, ctx, g, err);
		if (r != NOTIFY_SET_OK)
			return r;
		at = 2;
	} else if (a->count != 2) {
		*err = "Event group has too many parts";
		return NOTIFY_SET_BAD;
	}
	return parse_events(&a->list[at], g, err);
}

enum notify_set_result notify_set_parse(const struct imap_arg *args, size_t nargs,
					notify_name_fn *decode, void *ctx,
					struct notify_set *out, const char **err)
{
	memset(out, 0, sizeof(*out));
	if (nargs == 1 && imap_arg_atom_ieq(&args[0], "NONE")) {
		out->none = true;
		return NOTIFY_SET_OK;
	}
	if (nargs < 2 || !imap_arg_atom_ieq(&args[0], "SET")) {
		*err = "NOTIFY SET or NOTIFY NONE expected";
		return NOTIFY_SET_BAD;
	}
	size_t at = 1;
	if (imap_arg_atom_ieq(&args[1], "STATUS")) {
		out->status = true;
		at = 2;
	}
	if (at == nargs) {
		*err = "NOTIFY SET needs an event group";
		return NOTIFY_SET_BAD;
	}
	if (nargs - at > NOTIFY_MAX_GROUPS) {
		*err = "Too many event groups";
		return NOTIFY_SET_BAD;
	}
	out->groups = xcalloc(nargs - at, sizeof(*out->groups));
	/* A syntax error anywhere is BAD even after an unsupported event. */
	enum notify_set_result first = NOTIFY_SET_OK;
	bool selected = false;
	for (; at < nargs; at++) {
		struct notify_group *g = &out->groups[out->n++];
		enum notify_set_result r = parse_group(&args[at], decode, ctx, g, err);
		if (r == NOTIFY_SET_BADEVENT) {
			first = r;
			continue;
		}
		if (r != NOTIFY_SET_OK) {
			notify_set_free(out);
			return r;
		}
		out->nnames += g->nnames;
		if (is_selected(g->filter)) {
			/* RFC 5465 6: one of SELECTED / SELECTED-DELAYED, once. */
			if (selected) {
				*err = "SELECTED given twice";
				notify_set_free(out);
				return NOTIFY_SET_BAD;
			}
			selected = true;
		}
	}
	if (first != NOTIFY_SET_OK) {
		*err = "Unsupported event";
		notify_set_free(out);
		return first;
	}
	return NOTIFY_SET_OK;
}

const struct notify_group *notify_set_selected(const struct notify_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		if (is_selected(set->groups[i].filter))
			return &set->groups[i];
	return NULL;
}

/* Is `name` `top` or below it ("a/b" under "a")? */
static bool in_subtree(const char *name, const char *top)
{
	size_t n = strlen(top);
	return strncmp(name, top, n) == 0 && (name[n] == '\0' || name[n] == '/');
}

static bool group_matches(const struct notify_group *g, const char *name, bool subscribed)
{
	switch (g->filter) {
	case NOTIFY_F_SELECTED:
	case NOTIFY_F_SELECTED_DELAYED:
		return false;
	case NOTIFY_F_INBOXES:
		return strcmp(name, "INBOX") == 0;
	case NOTIFY_F_PERSONAL:
		return true;
	case NOTIFY_F_SUBSCRIBED:
		return subscribed;
	case NOTIFY_F_SUBTREE:
		for (size_t i = 0; i < g->nnames; i++)
			if (in_subtree(name, g->names[i]))
				return true;
		return false;
	case NOTIFY_F_MAILBOXES:
		for (size_t i = 0; i < g->nnames; i++)
			if (strcmp(name, g->names[i]) == 0)
				return true;
		return false;
	}
	return false;
}

unsigned notify_set_events(const struct notify_set *set, const char *name, bool subscribed)
{
	for (size_t i = 0; i < set->n; i++)
		if (group_matches(&set->groups[i], name, subscribed))
			return set->groups[i].events;
	return 0;
}

bool notify_set_wants(const struct notify_set *set, unsigned events)
{
	for (size_t i = 0; i < set->n; i++)
		if (!is_selected(set->groups[i].filter) && (set->groups[i].events & events))
			return true;
	return false;
}
