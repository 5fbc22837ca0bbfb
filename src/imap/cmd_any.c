/* Commands valid in any state, and the ones that only talk about the
 * session itself: CAPABILITY, NOOP, LOGOUT, ID, ENABLE, CHECK,
 * IDLE. (NAMESPACE is in imap/namespace.c.) */
#include "imap/session_internal.h"
#include "imap/capability.h"
#include "imap/notify_push.h"
#include "core/config.h"
#include "core/log.h"
#include "core/quote.h"
#include "core/util.h"

#include <string.h>

void cmd_capability(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs) {
		sess_tagged(s, "BAD", "CAPABILITY takes no arguments");
		return;
	}
	struct strbuf caps = STRBUF_INIT;
	imap_cap_write(s, &caps);
	sess_printf(s, "* CAPABILITY %s", strbuf_cstr(&caps));
	strbuf_free(&caps);
	sess_tagged(s, "OK", "CAPABILITY completed");
}

void cmd_noop(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs) {
		sess_tagged(s, "BAD", "NOOP takes no arguments");
		return;
	}
	if (s->state == ST_SELECTED && !view_sync(s, true))
		return;
	sess_tagged(s, "OK", "NOOP completed");
}

void cmd_check(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	/* RFC 9051 removed CHECK; for rev1 it is a NOOP here since every
	 * change is already durable. */
	if (!view_sync(s, true))
		return;
	sess_tagged(s, "OK", "CHECK completed");
}

void cmd_logout(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs) {
		sess_tagged(s, "BAD", "LOGOUT takes no arguments");
		return;
	}
	sess_logout_bye(s);
	sess_tagged(s, "OK", "LOGOUT completed");
	sess_logout(s);
}

/* RFC 2971: the client's ID is logged (bounded), the server says little
 * about itself to avoid fingerprinting. */
void cmd_id(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs != 1 || (args[0].type != IMAP_ARG_NIL && args[0].type != IMAP_ARG_LIST)) {
		sess_tagged(s, "BAD", "ID takes a list or NIL");
		return;
	}
	if (args[0].type == IMAP_ARG_LIST) {
		if (args[0].count % 2 != 0 || args[0].count > 60) {
			sess_tagged(s, "BAD", "ID list must hold at most 30 field/value pairs");
			return;
		}
		struct strbuf log = STRBUF_INIT;
		for (size_t i = 0; i + 1 < args[0].count; i += 2) {
			const char *k, *v;
			size_t kl, vl;
			if (!imap_arg_get_string(&args[0].list[i], &k, &kl) || kl > 30) {
				strbuf_free(&log);
				sess_tagged(s, "BAD", "ID field names are strings of at most 30 bytes");
				return;
			}
			if (!imap_arg_get_string(&args[0].list[i + 1], &v, &vl)) {
				if (args[0].list[i + 1].type != IMAP_ARG_NIL) {
					strbuf_free(&log);
					sess_tagged(s, "BAD", "ID values are strings or NIL");
					return;
				}
				v = "NIL";
				vl = 3;
			}
			if (ascii_ieq(k, "name") || ascii_ieq(k, "version") || ascii_ieq(k, "os")) {
				strbuf_addf(&log, " %s=\"", k);
				for (size_t j = 0; j < vl && j < 64; j++)
					strbuf_addc(&log, (v[j] == '"' || v[j] == ' ') ? '_' : v[j]);
				strbuf_addc(&log, '"');
			}
		}
		log_info("event=client_id ip=%s%s", s->peer, strbuf_cstr(&log));
		strbuf_free(&log);
	}
	sess_printf(s, "* ID (\"name\" \"Rampart\")");
	sess_tagged(s, "OK", "ID completed");
}

void cmd_enable(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs == 0) {
		sess_tagged(s, "BAD", "ENABLE needs capability names");
		return;
	}
	struct strbuf en = STRBUF_INIT;
	for (size_t i = 0; i < nargs; i++) {
		const char *cap;
		if (!imap_arg_get_atom(&args[i], &cap)) {
			strbuf_free(&en);
			sess_tagged(s, "BAD", "ENABLE takes atoms");
			return;
		}
		/* RFC 9051 6.3.1: only capabilities not yet enabled are listed;
		 * unknown ones are ignored (RFC 5161 3.1). */
		const char *enabled = imap_cap_enable(s, cap);
		if (enabled) {
			strbuf_addc(&en, ' ');
			strbuf_adds(&en, enabled);
		}
	}
	sess_printf(s, "* ENABLED%s", strbuf_cstr(&en));
	strbuf_free(&en);
	sess_tagged(s, "OK", "ENABLE completed");
}

/* ---- IDLE (RFC 2177, RFC 9051 6.3.13) ---- */

/* Changes arrived while idling: report them now. */
static void idle_notify(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	notify_push_deliver(s, true); /* view_sync, and NOTIFY's events */
	sess_store_release(s);
	sess_flush(s);
}

static void idle_line(struct imap_cmd *cmd, const char *line, size_t len)
{
	struct imap_session *s = cmd->s;
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
		sess_tagged(s, "OK", "IDLE terminated");
	else
		sess_tagged(s, "BAD", "Expected DONE");
}

void cmd_idle(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs) {
		sess_tagged(s, "BAD", "IDLE takes no arguments");
		return;
	}
	if (s->state == ST_SELECTED && !view_sync(s, true))
		return;
	/* An idling session holds no database handle: thousands of them
	 * would each keep an SQLite connection and its page cache. */
	sess_store_release(s);
	sess_printf(s, "+ idling");
	cmd->notify = idle_notify;
	sess_wait_line(cmd, idle_line);
}
