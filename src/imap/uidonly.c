/* UIDONLY (RFC 9586): a client that ENABLEs it names messages by UID only
 * and is told of changes by UID only, so neither side keeps a map from
 * sequence numbers to UIDs.
 *
 * What this file owns and where the other rules are applied:
 *  - uidonly_refuse (called by the session before every command): the
 *    non-UID form of a command that takes a sequence set (CMD_USES_SEQS in
 *    the command table: FETCH, STORE, SEARCH, COPY, MOVE, SORT, THREAD) is
 *    BAD [UIDREQUIRED] (RFC 9586 3). A sequence set as a search key and
 *    the sequence match data of SELECT (QRESYNC ...) are refused where
 *    they are parsed (search_parse.c, cmd_select.c).
 *  - uidonly_fetch_open: every FETCH response, solicited or not, becomes
 *    "* <uid> UIDFETCH (...)" (RFC 9586 3.3).
 *  - EXPUNGE responses become VANISHED whether or not QRESYNC is enabled
 *    (RFC 9586 3.4; view.c), and SELECT leaves out [UNSEEN n], a sequence
 *    number (cmd_select.c).
 * EXISTS stays: it is a count, not a message number. "*" in a UID set is
 * the highest UID, not a sequence number, and "$" names UIDs (RFC 5182),
 * so both stay allowed. */
#include "imap/uidonly.h"
#include "imap/capability.h"
#include "imap/session_internal.h"

bool uidonly_on(const struct imap_session *s)
{
	return imap_cap_enabled(s, "UIDONLY");
}

bool uidonly_refuse(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (!cmd->def || cmd->uid || !(cmd->def->flags & CMD_USES_SEQS) || !uidonly_on(s))
		return false;
	sess_tagged(s, "BAD", "%s", UIDONLY_REFUSED);
	return true;
}

bool uidonly_fetch_open(const struct imap_session *s, struct strbuf *line, uint32_t uid)
{
	if (uidonly_on(s)) {
		strbuf_adds(line, "* ");
		strbuf_add_u64(line, uid);
		strbuf_adds(line, " UIDFETCH (");
		return true;
	}
	strbuf_adds(line, "* ");
	strbuf_add_u64(line, view_seq_of(&s->view, uid));
	strbuf_adds(line, " FETCH (");
	return false;
}
