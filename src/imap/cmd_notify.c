/* The NOTIFY command (RFC 5465 3.1): parses the setting
 * (imap/notify_set.c), checks the session's limits and hands it to the
 * delivery (imap/notify_push.c). A refused NOTIFY leaves the setting in
 * force unchanged.
 *
 * Only the user's own mailboxes are watched: PERSONAL, INBOXES and
 * SUBSCRIBED cover the personal namespace, and a name in another user's
 * namespace is refused with NO [CANNOT] (the change feed of other
 * users' stores reaches a session only for the mailbox it selected). */
#include "imap/notify_push.h"
#include "imap/notify_set.h"
#include "imap/session_internal.h"
#include "core/config.h"

#include <stdlib.h>
#include <string.h>

static char *notify_name(void *ctx, const struct imap_arg *a)
{
	return sess_mailbox_arg(ctx, a);
}

/* A name outside the personal namespace (RFC 2342 prefixes of
 * [namespace]): "Other Users/bob/x", "Shared/x". */
static bool other_namespace(const struct imap_session *s, const char *name)
{
	const char *prefixes[] = { s->cfg->ns_other_users_prefix, s->cfg->ns_shared_prefix };
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		const char *p = prefixes[i];
		if (!p || !*p)
			continue;
		size_t n = strlen(p);
		if (p[n - 1] == '/')
			n--;
		if (strncmp(name, p, n) == 0 && (name[n] == '\0' || name[n] == '/'))
			return true;
	}
	return false;
}

void cmd_notify(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	struct notify_set set;
	const char *err = NULL;
	switch (notify_set_parse(args, nargs, notify_name, s, &set, &err)) {
	case NOTIFY_SET_OK:
		break;
	case NOTIFY_SET_BADEVENT:
		/* RFC 5465 3.1: the code lists the events supported. */
		sess_tagged(s, "NO", "[BADEVENT " NOTIFY_SUPPORTED_EVENTS "] %s", err);
		return;
	case NOTIFY_SET_BAD:
	case NOTIFY_SET_BADNAME:
		sess_tagged(s, "BAD", "%s", err ? err : "Invalid NOTIFY");
		return;
	}
	if (set.nnames > s->cfg->max_notify_mailboxes) {
		notify_set_free(&set);
		sess_tagged(s, "NO", "[LIMIT] NOTIFY names at most %u mailboxes",
			    s->cfg->max_notify_mailboxes);
		return;
	}
	for (size_t g = 0; g < set.n; g++) {
		for (size_t i = 0; i < set.groups[g].nnames; i++) {
			if (other_namespace(s, set.groups[g].names[i])) {
				notify_set_free(&set);
				sess_tagged(s, "NO", "[CANNOT] NOTIFY watches your own mailboxes only");
				return;
			}
		}
	}
	int r = notify_push_set(s, &set);
	if (r != STORE_OK) {
		sess_store_error(s, r, "NOTIFY");
		return;
	}
	sess_tagged(s, "OK", "NOTIFY completed");
}
