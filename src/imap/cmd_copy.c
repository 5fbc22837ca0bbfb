/* COPY, MOVE and their UID forms (RFC 9051 6.4.7, 6.4.8, 6.4.9; RFC 4315
 * UIDPLUS COPYUID; RFC 6851 MOVE).
 *
 * The whole set goes to the store in one call (one transaction; blobs are
 * shared, not copied). COPYUID pairs source and destination UIDs in order,
 * so both sets are compressed together: a range only grows while both
 * sides stay consecutive. */
#include "imap/session_internal.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* sess_tagged() formats into a bounded buffer: a COPYUID longer than this
 * goes out as an untagged OK before the tagged one (RFC 4315 allows
 * response codes on untagged OK; RFC 6851 does so for MOVE). */
#define COPYUID_TAGGED_MAX 800

/* "uidvalidity src-set dst-set". Both lists ascend together, so each side
 * can be compressed on its own and the n-th source still maps to the n-th
 * destination (RFC 4315 3). */
static void copyuid_format(struct strbuf *out, uint32_t uidvalidity, const uint32_t *su,
			   const uint32_t *du, size_t n)
{
	strbuf_addf(out, "%u ", uidvalidity);
	seqset_format_list(out, su, n);
	strbuf_addc(out, ' ');
	seqset_format_list(out, du, n);
}

static void do_copy(struct imap_session *s, const struct imap_arg *args, size_t nargs, bool uid,
		    bool move)
{
	const char *cmd = move ? (uid ? "UID MOVE" : "MOVE") : (uid ? "UID COPY" : "COPY");
	if (nargs != 2) {
		sess_tagged(s, "BAD", "%s needs a sequence set and a mailbox name", cmd);
		return;
	}
	uint32_t *uids = NULL;
	size_t n = 0;
	int r = view_resolve_set(s, &args[0], uid, &uids, &n);
	if (r < 0) {
		sess_tagged(s, "BAD", r == -2 ? "Sequence number out of range" : "Invalid sequence set");
		return;
	}
	char *name = sess_mailbox_arg(s, &args[1]);
	if (!name) {
		free(uids);
		sess_tagged(s, "BAD", "Invalid mailbox name");
		return;
	}
	if (move && s->view.readonly) {
		free(uids);
		free(name);
		sess_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only: messages can't be moved out");
		return;
	}
	struct store_user *u = sess_store(s);
	if (!u) {
		free(uids);
		free(name);
		sess_store_error(s, STORE_EIO, cmd);
		return;
	}
	uint32_t uidvalidity = 0, *su = NULL, *du = NULL;
	size_t ncopied = 0;
	if (n == 0) {
		/* Nothing to copy, but a missing target is still reported. */
		struct store_mailbox mb;
		memset(&mb, 0, sizeof(mb));
		r = store_mailbox_status(u, name, &mb);
		store_mailbox_clear(&mb);
	} else {
		r = store_copy(u, s->view.id, uids, n, name, move, &uidvalidity, &su, &du, &ncopied);
	}
	free(uids);
	free(name);
	if (r == STORE_ENOENT) {
		/* RFC 9051 6.4.7: the client may CREATE and retry. */
		sess_tagged(s, "NO", "[TRYCREATE] Target mailbox does not exist");
		return;
	}
	if (r != STORE_OK) {
		sess_store_error(s, r, cmd);
		return;
	}
	struct strbuf code = STRBUF_INIT;
	if (ncopied)
		copyuid_format(&code, uidvalidity, su, du, ncopied);
	free(su);
	free(du);
	bool untagged = ncopied && (move || code.len > COPYUID_TAGGED_MAX);
	if (untagged) {
		/* RFC 6851 4.3: before the EXPUNGEs of a MOVE. */
		sess_printf(s, "* OK [COPYUID %s] %s", code.s, move ? "Moved" : "Copied");
	}
	/* MOVE's expunges are reported now (RFC 6851 3.3), as are others'. */
	if (!view_sync(s, true)) {
		strbuf_free(&code);
		return;
	}
	if (ncopied && !untagged)
		sess_tagged(s, "OK", "[COPYUID %s] %s completed", code.s, cmd);
	else
		sess_tagged(s, "OK", "%s completed", cmd);
	strbuf_free(&code);
}

void cmd_copy(struct imap_session *s, const struct imap_arg *args, size_t nargs, bool uid)
{
	do_copy(s, args, nargs, uid, false);
}

void cmd_move(struct imap_session *s, const struct imap_arg *args, size_t nargs, bool uid)
{
	do_copy(s, args, nargs, uid, true);
}
