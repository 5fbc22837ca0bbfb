/* SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE and UID EXPUNGE. */
#include "imap/session_internal.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* Leaves the selected state quietly (CLOSE/UNSELECT/re-SELECT). */
static void view_leave(struct imap_session *s)
{
	view_clear(&s->view);
	seqset_free(&s->searchres);
	s->searchres_set = false;
	s->state = ST_AUTH;
	s->notify_pending = false;
}

static void do_select(struct imap_session *s, const struct imap_arg *args, size_t nargs,
		      bool readonly)
{
	const char *cmd = readonly ? "EXAMINE" : "SELECT";
	if (nargs < 1 || nargs > 2) {
		sess_tagged(s, "BAD", "%s needs a mailbox name", cmd);
		return;
	}
	if (nargs == 2) {
		/* (CONDSTORE) and other select parameters are not supported yet. */
		sess_tagged(s, "BAD", "Unknown %s parameters", cmd);
		return;
	}
	char *name = sess_mailbox_arg(s, &args[0]);
	if (!name) {
		sess_tagged(s, "BAD", "Invalid mailbox name");
		return;
	}
	if (s->state == ST_SELECTED) {
		/* RFC 9051 6.3.2: the old mailbox is closed without expunge. */
		view_leave(s);
		sess_printf(s, "* OK [CLOSED] Previous mailbox closed.");
	}
	struct store_user *u = sess_store(s);
	if (!u) {
		free(name);
		sess_store_error(s, STORE_EIO, cmd);
		return;
	}
	struct store_mailbox mb;
	memset(&mb, 0, sizeof(mb));
	/* No counts: EXISTS, RECENT and UNSEEN come from the listing below,
	 * and a second scan of a 100,000-message mailbox cost ~35 ms. */
	int r = store_mailbox_get(u, name, &mb);
	if (r != STORE_OK) {
		free(name);
		sess_store_error(s, r, cmd);
		return;
	}
	uint32_t first_recent = mb.first_recent_uid;
	if (!readonly && !s->rev2)
		store_mailbox_take_recent(u, mb.id, &first_recent);
	struct store_msg *msgs = NULL;
	size_t n = 0;
	r = store_msg_list(u, mb.id, 1, true, &msgs, &n);
	if (r != STORE_OK) {
		free(name);
		store_mailbox_clear(&mb);
		sess_store_error(s, r, cmd);
		return;
	}
	struct imap_view *v = &s->view;
	view_clear(v);
	v->id = mb.id;
	v->name = name;
	v->readonly = readonly;
	v->uidvalidity = mb.uidvalidity;
	v->first_recent = s->rev2 ? UINT32_MAX : first_recent;
	v->cap = (uint32_t)(n ? n : 16);
	v->uids = xmalloc(v->cap * sizeof(uint32_t));
	v->count = (uint32_t)n;
	uint32_t recent = 0, first_unseen = 0;
	uint64_t maxmod = 0;
	for (size_t i = 0; i < n; i++) {
		v->uids[i] = msgs[i].uid;
		if (msgs[i].uid >= v->first_recent)
			recent++;
		if (!first_unseen && !(msgs[i].flags & MAIL_FLAG_SEEN))
			first_unseen = (uint32_t)i + 1;
		if (msgs[i].modseq > maxmod)
			maxmod = msgs[i].modseq;
	}
	/* Everything up to the mailbox's modseq is what the client now knows. */
	v->modseq = v->flags_modseq = mb.highestmodseq > maxmod ? mb.highestmodseq : maxmod;
	store_msg_array_free(msgs, n);
	s->state = ST_SELECTED;
	s->notify_pending = false;

	sess_printf(s, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)");
	if (readonly)
		sess_printf(s, "* OK [PERMANENTFLAGS ()] Read-only mailbox.");
	else
		sess_printf(s, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.");
	sess_printf(s, "* %u EXISTS", v->count);
	if (!s->rev2) {
		sess_printf(s, "* %u RECENT", recent);
		if (first_unseen)
			sess_printf(s, "* OK [UNSEEN %u] First unseen.", first_unseen);
	}
	sess_printf(s, "* OK [UIDVALIDITY %u] UIDs valid", mb.uidvalidity);
	sess_printf(s, "* OK [UIDNEXT %u] Predicted next UID", mb.uidnext);
	if (s->rev2) {
		/* RFC 9051 6.3.2: an untagged LIST for the selected mailbox. */
		struct strbuf line = STRBUF_INIT;
		strbuf_adds(&line, "* LIST (");
		if (mb.special_use)
			strbuf_adds(&line, mb.special_use);
		strbuf_adds(&line, ") \"/\" ");
		sess_write_mailbox(s, &line, v->name);
		sess_printf(s, "%s", line.s);
		strbuf_free(&line);
	}
	store_mailbox_clear(&mb);
	sess_tagged(s, "OK", "[%s] %s completed", readonly ? "READ-ONLY" : "READ-WRITE", cmd);
}

void cmd_select(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	do_select(s, args, nargs, false);
}

void cmd_examine(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	do_select(s, args, nargs, true);
}

/* Expunges \Deleted messages of the view (limited to `only` when given). */
static int expunge_deleted(struct imap_session *s, const uint32_t *only, size_t nonly)
{
	struct store_user *u = sess_store(s);
	if (!u)
		return STORE_EIO;
	struct store_msg *msgs = NULL;
	size_t n = 0;
	int r;
	if (only)
		r = store_msg_get(u, s->view.id, only, nonly, &msgs, &n);
	else
		r = store_msg_list(u, s->view.id, 1, true, &msgs, &n);
	if (r != STORE_OK)
		return r;
	uint32_t *del = NULL;
	size_t ndel = 0, cap = 0;
	for (size_t i = 0; i < n; i++) {
		if (msgs[i].flags & MAIL_FLAG_DELETED) {
			xgrow((void **)&del, &cap, ndel + 1, sizeof(uint32_t));
			del[ndel++] = msgs[i].uid;
		}
	}
	store_msg_array_free(msgs, n);
	r = ndel ? store_expunge(u, s->view.id, del, ndel) : STORE_OK;
	free(del);
	return r;
}

void cmd_close(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs) {
		sess_tagged(s, "BAD", "CLOSE takes no arguments");
		return;
	}
	/* RFC 9051 6.4.1: silent expunge, no EXPUNGE responses. */
	if (!s->view.readonly) {
		int r = expunge_deleted(s, NULL, 0);
		if (r != STORE_OK)
			log_warn("event=close_expunge_failed user=%s code=%d", s->user, r);
	}
	view_leave(s);
	sess_tagged(s, "OK", "CLOSE completed");
}

void cmd_unselect(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs) {
		sess_tagged(s, "BAD", "UNSELECT takes no arguments");
		return;
	}
	view_leave(s);
	sess_tagged(s, "OK", "UNSELECT completed");
}

void cmd_expunge(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	bool uid = cmd->uid;
	if (nargs != (uid ? 1u : 0u)) {
		sess_tagged(s, "BAD", uid ? "UID EXPUNGE needs a UID set" : "EXPUNGE takes no arguments");
		return;
	}
	if (s->view.readonly) {
		sess_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	uint32_t *uids = NULL;
	size_t n = 0;
	if (uid && view_resolve_set(s, &args[0], true, &uids, &n) < 0) {
		sess_tagged(s, "BAD", "Invalid UID set");
		return;
	}
	int r = (uid && n == 0) ? STORE_OK : expunge_deleted(s, uid ? uids : NULL, n);
	free(uids);
	if (r != STORE_OK) {
		sess_store_error(s, r, "EXPUNGE");
		return;
	}
	if (!view_sync(s, true))
		return;
	sess_tagged(s, "OK", "EXPUNGE completed");
}
