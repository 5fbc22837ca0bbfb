/* The IMAP session core: one client connection's protocol state machine.
 *
 * How a command travels: the network layer hands bytes to
 * imap_session_input(); session_process() feeds them to the parser
 * (imap/parser.c) until a whole command with its literals is there;
 * session_execute() looks its name up in the command table
 * (imap/commands.c), checks the state and the UID form, creates a running
 * command (struct imap_cmd) and calls its entry point (imap/cmd_*.c). The
 * command writes untagged responses with sess_printf/sess_write and ends
 * with sess_tagged(), which reports pending mailbox changes first (RFC 9051
 * 7.5.1) and frees the command. A command that can't finish at once
 * installs a hook through the functions below (wait for output room, for
 * a continuation line, for the work pool) and returns; the session then
 * reads no further command until it ends. This file names no command. */
#include "imap/session_internal.h"
#include "imap/capability.h"
#include "imap/mutf7.h"
#include "imap/namespace.h"
#include "imap/notify_push.h"
#include "imap/uidonly.h"
#include "auth/alert.h"
#include "core/config.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/quote.h"
#include "core/metrics.h"
#include "core/util.h"

#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A client sending this many bad commands in a row is not speaking IMAP
 * (or is probing): stop listening. */
#define MAX_BAD_COMMANDS 10
/* lifecycle: what every session hears when the server stops */
#define SESS_BYE_SHUTDOWN "[UNAVAILABLE] shutting down"

static void session_process(struct imap_session *s, struct evbuffer *in);

/* The parser's limits. Before login nobody is known yet, so a command may
 * hold only a few small literals in memory (RFC 7888 LITERAL- sizes;
 * Dovecot refuses 8 KiB): a flood of unauthenticated connections costs
 * kilobytes each, not the 2 x 64 MiB a logged-in APPEND may carry. */
static void session_limits(const struct imap_session *s, bool logged_in,
			   struct imap_parser_limits *lim)
{
	imap_parser_limits_default(lim);
	lim->max_line = s->cfg->max_line;
	lim->max_literal = logged_in ? s->cfg->max_literal : s->cfg->max_preauth_literal;
	/* A command may carry a few messages (MULTIAPPEND) but stays bounded. */
	lim->max_command = lim->max_literal * 2 + lim->max_line;
	lim->max_nonsync = lim->max_literal;
	/* A logged-in APPEND's large literals go to a file (parser.h). */
	lim->spool_dir = logged_in ? s->spool_dir : NULL;
}

/* The absolute login deadline: unlike preauth_timeout it is not restarted
 * by input, so a client trickling a byte at a time (or stalling a TLS
 * handshake: the network layer drops a connection closed mid-handshake at
 * once) cannot hold a connection slot without logging in. */
static void session_login_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct imap_session *s = arg;
	if (s->state != ST_NOTAUTH)
		return;
	log_info("event=disconnect reason=login_timeout ip=%s", s->peer);
	sess_bye(s, "Login timeout");
}

struct imap_session *imap_session_new(const struct conn_io *io, void *conn,
				      const struct imap_conn_info *info)
{
	struct imap_session *s = xcalloc(1, sizeof(*s));
	s->io = io;
	s->conn = conn;
	s->info = *info;
	snprintf(s->peer, sizeof(s->peer), "%s", info->peer ? info->peer : "?");
	snprintf(s->listener, sizeof(s->listener), "%s", info->listener ? info->listener : "?");
	s->info.peer = s->peer;
	s->info.listener = s->listener;
	s->cfg = info->cfg;
	struct imap_parser_limits lim;
	session_limits(s, false, &lim);
	s->parser_limits = lim;
	s->parser = imap_parser_new(&lim);
	if (info->base && s->cfg->login_timeout) {
		s->login_deadline = evtimer_new(info->base, session_login_deadline_cb, s);
		struct timeval tv = { (time_t)s->cfg->login_timeout, 0 };
		evtimer_add(s->login_deadline, &tv);
	}
	s->state = ST_NOTAUTH;
	s->mode = IN_COMMAND;
	return s;
}

void imap_session_start(struct imap_session *s)
{
	s->io->set_timeout(s->conn, s->cfg->preauth_timeout);
	struct strbuf caps = STRBUF_INIT;
	imap_cap_write(s, &caps);
	sess_printf(s, "* OK [CAPABILITY %s] Rampart ready.", strbuf_cstr(&caps));
	strbuf_free(&caps);
	sess_flush(s);
}

/* Ends the running command: its memory goes, input is read again. */
static void session_cmd_end(struct imap_session *s)
{
	imap_cmd_free(s->cmd);
	s->cmd = NULL;
	if (s->draining) {       /* the server is stopping: it was the last one */
		sess_bye(s, SESS_BYE_SHUTDOWN);
		return;
	}
	if (s->mode == IN_LINE)
		s->mode = IN_COMMAND;
	if (s->mode == IN_BUSY) {
		s->mode = IN_COMMAND;
		sess_flush(s);
		s->io->pause_read(s->conn, false);
	}
}

void imap_session_free(struct imap_session *s)
{
	if (!s)
		return;
	/* A command still running (paused, idling, or with a job on the work
	 * pool) lets go of the session: the job finds it gone and only frees
	 * itself. */
	if (s->cmd) {
		if (s->cmd->cancel)
			s->cmd->cancel(s->cmd);
		imap_cmd_free(s->cmd);
		s->cmd = NULL;
	}
	sess_store_release(s);
	notify_push_free(s);
	if (s->login_deadline)
		event_free(s->login_deadline);
	if (s->pace)
		event_free(s->pace);
	imap_parser_free(s->parser);
	view_clear(&s->view);
	seqset_free(&s->searchres);
	free(s->user);
	free(s->spool_dir);
	strbuf_free(&s->out);
	free(s);
}

/* ---- output ---- */

void sess_printf(struct imap_session *s, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		strbuf_add(&s->out, tmp, (size_t)n);
	} else {
		strbuf_grow(&s->out, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(s->out.s + s->out.len, (size_t)n + 1, fmt, ap);
		va_end(ap);
		s->out.len += (size_t)n;
	}
	strbuf_add(&s->out, "\r\n", 2);
	if (s->out.len >= 64 * 1024)
		sess_flush(s);
}

void sess_write(struct imap_session *s, const void *data, size_t len)
{
	s->written += len;
	if (len >= 64 * 1024) {
		sess_flush(s);
		s->io->write(s->conn, data, len);
		s->sent += len;
		return;
	}
	strbuf_add(&s->out, data, len);
	if (s->out.len >= 64 * 1024)
		sess_flush(s);
}

void sess_flush(struct imap_session *s)
{
	if (s->out.len) {
		s->io->write(s->conn, s->out.s, s->out.len);
		s->sent += s->out.len;
		strbuf_reset(&s->out);
	}
	/* Don't keep a large buffer around on an idle connection; while the
	 * session waits for the client's line (IDLE, a SASL step) it keeps
	 * none: the buffer would be ~1 KiB of every idling connection. */
	if (s->out.cap > 128 * 1024 || s->mode == IN_LINE)
		strbuf_free(&s->out);
}

/* alloc: without the connection's write_file (a test harness), the
 * bytes go through a bounded buffer. */
static int sess_copy_file(struct imap_session *s, int fd, uint64_t off, size_t len)
{
	size_t cap = MIN(len, (size_t)64 * 1024);
	char *buf = xmalloc(cap ? cap : 1);
	int r = 0;
	while (len > 0 && r == 0) {
		ssize_t n = pread(fd, buf, MIN(len, cap), (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = -1;
			break;
		}
		s->io->write(s->conn, buf, (size_t)n);
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	free(buf);
	return r;
}

bool sess_write_file(struct imap_session *s, int fd, uint64_t off, size_t len)
{
	s->written += len;
	sess_flush(s);
	if (s->closing)
		return true;
	int r = s->io->write_file ? s->io->write_file(s->conn, fd, off, len)
				  : sess_copy_file(s, fd, off, len);
	s->sent += len;
	if (r == 0)
		return true;
	/* The literal's length is sent and its bytes can't follow: nothing
	 * but closing keeps the client from misreading the stream. */
	log_err("event=disconnect reason=message_read_error user=%s ip=%s errno=%d",
		s->user ? s->user : "-", s->peer, errno);
	s->closing = true;
	s->state = ST_LOGOUT;
	s->io->close(s->conn);
	return false;
}

bool sess_output_full(struct imap_session *s)
{
	return s->out.len + s->io->pending(s->conn) >= s->cfg->max_output_buffer;
}

void sess_tagged(struct imap_session *s, const char *status, const char *fmt, ...)
{
	/* Every tagged reply ends a command (session_execute or
	 * handle_parse_error created it). */
	assert(s->cmd);
	/* Changes others made are reported before the command completes. */
	if (!s->closing)
		notify_push_deliver(s, imap_cmd_allows_expunge(s->cmd));
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	const char *tag = s->cmd && s->cmd->tag ? s->cmd->tag : "*";
	sess_printf(s, "%s %s %s", tag, status, text);
	metrics_command(imap_cmd_index(s->cmd->def), status, s->cmd->start_ns);
	sess_store_release(s);
	if (strcmp(status, "BAD") == 0)
		s->bad_commands++;
	else
		s->bad_commands = 0;
	session_cmd_end(s);
}

void sess_bye(struct imap_session *s, const char *text)
{
	if (s->closing)
		return;
	sess_printf(s, "* BYE %s", text);
	sess_flush(s);
	s->closing = true;
	s->state = ST_LOGOUT;
	s->io->close(s->conn);
}

/* ---- the running command ---- */

void sess_wait_output(struct imap_cmd *cmd, void (*resume)(struct imap_cmd *cmd))
{
	struct imap_session *s = cmd->s;
	assert(s->cmd == cmd);
	cmd->resume = resume;
	s->mode = IN_BUSY;
	sess_flush(s);
	s->io->pause_read(s->conn, true);
}

static void session_pace_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct imap_session *s = arg;
	s->pacing = false;
	imap_session_drained(s);
}

bool sess_wait_timer(struct imap_cmd *cmd, uint64_t ms, void (*resume)(struct imap_cmd *cmd))
{
	struct imap_session *s = cmd->s;
	assert(s->cmd == cmd);
	if (!s->info.base)
		return false;
	if (!s->pace)
		s->pace = evtimer_new(s->info.base, session_pace_cb, s);
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	cmd->resume = resume;
	s->pacing = true;
	s->mode = IN_BUSY;
	sess_flush(s);
	s->io->pause_read(s->conn, true);
	evtimer_add(s->pace, &tv);
	return true;
}

void sess_wait_line(struct imap_cmd *cmd, void (*line)(struct imap_cmd *cmd, const char *l,
							size_t len))
{
	struct imap_session *s = cmd->s;
	assert(s->cmd == cmd);
	cmd->line = line;
	s->mode = IN_LINE;
	sess_flush(s);
	if (s->draining)         /* lifecycle: no waiting for the client now */
		sess_bye(s, SESS_BYE_SHUTDOWN);
}

void sess_suspend(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	assert(s->cmd == cmd);
	s->mode = IN_BUSY;
	sess_flush(s);
	s->io->pause_read(s->conn, true);
}

void sess_starttls(struct imap_session *s)
{
	/* Reading resumes in imap_session_tls_started(). */
	s->mode = IN_BUSY;
	s->io->starttls(s->conn);
}

void sess_login(struct imap_session *s, const char *user)
{
	free(s->user);
	s->user = xstrdup(user);
	free(s->spool_dir);
	s->spool_dir = store_user_spool_dir(user);
	s->state = ST_AUTH;
	if (s->login_deadline) {
		event_free(s->login_deadline);
		s->login_deadline = NULL;
	}
	/* The login command has been parsed completely, so the new limits
	 * start with the next command. */
	session_limits(s, true, &s->parser_limits);
	imap_parser_set_limits(s->parser, &s->parser_limits);
	if (s->info.logged_in)
		s->info.logged_in(s->info.logged_in_arg, s, s->user);
	/* Every mechanism ends here: new source, new country, travel. */
	alert_login_seen(s->user, s->peer, time(NULL));
	s->io->set_timeout(s->conn, s->cfg->idle_timeout);
}

void sess_select(struct imap_session *s, struct imap_view *v)
{
	view_clear(&s->view);
	s->view = *v;
	memset(v, 0, sizeof(*v));
	s->state = ST_SELECTED;
	s->notify_pending = false;
}

void sess_unselect(struct imap_session *s)
{
	view_clear(&s->view);
	seqset_free(&s->searchres);
	s->searchres_set = false;
	s->state = ST_AUTH;
	s->notify_pending = false;
}

void sess_view_rename(struct imap_session *s, char *name)
{
	assert(s->state == ST_SELECTED);
	free(s->view.name);
	s->view.name = name;
}

void sess_searchres_save(struct imap_session *s, const uint32_t *uids, size_t n)
{
	seqset_clear(&s->searchres);
	s->searchres_set = true;
	for (size_t i = 0; i < n; i++)
		seqset_add(&s->searchres, uids[i], uids[i]);
}

/* RFC 9051 6.1.3: after LOGOUT's BYE only its tagged OK follows. The
 * session is in the Logout state from here, so the tagged reply reports
 * no pending EXPUNGE/FETCH of other sessions (those came after the BYE). */
void sess_logout_bye(struct imap_session *s)
{
	sess_printf(s, "* BYE Logging out");
	s->state = ST_LOGOUT;
	s->notify_pending = false;
}

void sess_logout(struct imap_session *s)
{
	sess_flush(s);
	s->closing = true;
	s->state = ST_LOGOUT;
	s->io->close(s->conn);
}

struct imap_parser *sess_take_parser(struct imap_session *s)
{
	struct imap_parser *p = s->parser;
	s->parser = imap_parser_new(&s->parser_limits);
	return p;
}

/* ---- input ---- */

static void session_execute(struct imap_session *s)
{
	assert(!s->cmd);
	const char *name = imap_parser_command(s->parser);
	size_t nargs;
	const struct imap_arg *args = imap_parser_args(s->parser, &nargs);
	const char *tag = imap_parser_tag(s->parser);
	bool uid = false;
	if (ascii_ieq(name, "UID")) {
		const char *sub;
		if (nargs == 0 || !imap_arg_get_atom(&args[0], &sub)) {
			s->cmd = imap_cmd_new(s, NULL, tag, false);
			sess_tagged(s, "BAD", "UID needs a command");
			return;
		}
		name = sub;
		args++;
		nargs--;
		uid = true;
	}
	const struct imap_cmd_def *def = imap_cmd_find(name);
	if (def && ((uid && !(def->flags & CMD_UID)) || (!uid && (def->flags & CMD_UID_REQUIRED))))
		def = NULL;
	s->cmd = imap_cmd_new(s, def, tag, uid);
	if (!def) {
		sess_tagged(s, "BAD", "Unknown command");
		return;
	}
	if (!(def->states & (1u << s->state))) {
		if (s->state == ST_NOTAUTH)
			sess_tagged(s, "BAD", "Log in first");
		else if (s->state == ST_AUTH && (def->states & CMD_S_SELECTED))
			sess_tagged(s, "BAD", "No mailbox selected");
		else
			sess_tagged(s, "BAD", "Command not valid in this state");
		return;
	}
	if (uidonly_refuse(s->cmd)) /* uidonly: RFC 9586 3 */
		return;
	def->fn(s->cmd, args, nargs);
	/* A command either ended (sess_tagged), closed the session, or
	 * installed a way to continue. */
	assert(!s->cmd || s->closing || s->mode != IN_COMMAND || s->cmd->notify);
}

/* Reads one CRLF-terminated continuation line. Returns 1 with a line,
 * 0 when more input is needed, -1 when the line is too long. */
static int read_line(struct imap_session *s, struct evbuffer *in, char **line, size_t *len)
{
	size_t eol_len;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
	size_t max = s->cfg->max_line;
	if (p.pos < 0)
		return evbuffer_get_length(in) > max ? -1 : 0;
	if ((size_t)p.pos > max)
		return -1;
	*line = evbuffer_readln(in, len, EVBUFFER_EOL_CRLF);
	return *line ? 1 : 0;
}

static void handle_parse_error(struct imap_session *s)
{
	const char *err = imap_parser_error(s->parser);
	s->cmd = imap_cmd_new(s, NULL, imap_parser_tag(s->parser), false);
	if (imap_parser_error_is_limit(s->parser))
		sess_tagged(s, "BAD", "[TOOBIG] %s", err ? err : "Command too large");
	else
		sess_tagged(s, "BAD", "%s", err ? err : "Syntax error");
}

static void session_process(struct imap_session *s, struct evbuffer *in)
{
	while (!s->closing && s->mode != IN_BUSY && evbuffer_get_length(in) > 0) {
		if (s->bad_commands >= MAX_BAD_COMMANDS) {
			log_info("event=disconnect reason=too_many_bad_commands ip=%s", s->peer);
			sess_bye(s, "Too many invalid commands");
			return;
		}
		if (s->mode == IN_LINE) {
			char *line = NULL;
			size_t len = 0;
			int r = read_line(s, in, &line, &len);
			if (r < 0) {
				sess_bye(s, "Line too long");
				return;
			}
			if (r == 0)
				break;
			s->cmd->line(s->cmd, line, len);
			free(line);
			continue;
		}
		if (sess_output_full(s)) {
			/* A client that does not read its responses stops being read. */
			s->output_blocked = true;
			sess_flush(s);
			s->io->pause_read(s->conn, true);
			return;
		}
		struct evbuffer_iovec vec[16];
		int nvec = evbuffer_peek(in, -1, NULL, vec, ARRAY_SIZE(vec));
		size_t used_total = 0;
		enum imap_parse_result r = IMAP_PARSE_NEED_MORE;
		for (int i = 0; i < nvec && i < (int)ARRAY_SIZE(vec); i++) {
			size_t used = 0;
			r = imap_parser_feed(s->parser, vec[i].iov_base, vec[i].iov_len, &used);
			used_total += used;
			if (r != IMAP_PARSE_NEED_MORE || used < vec[i].iov_len)
				break;
		}
		evbuffer_drain(in, used_total);
		switch (r) {
		case IMAP_PARSE_NEED_MORE:
			if (used_total == 0)
				goto out;
			break;
		case IMAP_PARSE_CONTINUE:
			sess_printf(s, "+ Ready for literal data");
			sess_flush(s);
			break;
		case IMAP_PARSE_DONE:
			session_execute(s);
			imap_parser_reset(s->parser);
			break;
		case IMAP_PARSE_ERROR:
			handle_parse_error(s);
			imap_parser_reset(s->parser);
			break;
		case IMAP_PARSE_FATAL:
			log_info("event=disconnect reason=protocol ip=%s error=\"%s\"", s->peer,
				 imap_parser_error(s->parser));
			sess_bye(s, imap_parser_error(s->parser) ? imap_parser_error(s->parser)
								 : "Protocol error");
			return;
		}
	}
out:
	sess_flush(s);
}

void imap_session_input(struct imap_session *s, struct evbuffer *in)
{
	session_process(s, in);
}

bool imap_session_busy(const struct imap_session *s)
{
	return s->mode == IN_BUSY;
}

void imap_session_drained(struct imap_session *s)
{
	/* A paced command resumes from its timer, not from the drain. */
	if (s->closing || s->pacing)
		return;
	if (s->mode == IN_BUSY && s->cmd && s->cmd->resume) {
		struct imap_cmd *cmd = s->cmd;
		void (*resume)(struct imap_cmd *) = cmd->resume;
		/* One resume per drain: the command installs it again when it
		 * has to wait once more. */
		cmd->resume = NULL;
		resume(cmd);
		sess_flush(s);
		return;
	}
	if (s->output_blocked) {
		s->output_blocked = false;
		s->io->pause_read(s->conn, false);
	}
}

void imap_session_tls_started(struct imap_session *s)
{
	s->info.tls = true;
	if (s->mode == IN_BUSY && !s->cmd) {
		s->mode = IN_COMMAND;
		s->io->pause_read(s->conn, false);
	}
}

void imap_session_notify(struct imap_session *s)
{
	if (s->closing)
		return;
	if (s->state == ST_SELECTED)
		s->notify_pending = true;
	/* NOTIFY (RFC 5465): noted, and sent now if between commands. */
	notify_push_changed(s);
	if (s->cmd && s->cmd->notify && !s->closing)
		s->cmd->notify(s->cmd);
}

void imap_session_timeout(struct imap_session *s)
{
	log_info("event=disconnect reason=timeout ip=%s user=%s", s->peer, s->user ? s->user : "-");
	sess_bye(s, "Autologout; idle for too long");
}

/* RFC 9051 7.1.5 BYE, with RFC 5530's UNAVAILABLE. A command the server
 * is working on (IN_BUSY: the pool, output, a timer) finishes and its
 * tagged reply goes out first (session_cmd_end says BYE); one waiting for
 * the client (IDLE, a SASL exchange) or the second call, when the drain's
 * time is up, ends at once. */
void imap_session_shutdown(struct imap_session *s)
{
	if (s->cmd && s->mode == IN_BUSY && !s->draining && !s->closing) {
		s->draining = true;
		return;
	}
	sess_bye(s, SESS_BYE_SHUTDOWN);
}

/* ---- store handle ---- */

struct store_user *sess_store(struct imap_session *s)
{
	if (!s->store && s->user)
		s->store = store_user_open(s->cmd ? imap_cmd_store_user(s->cmd) : s->user);
	return s->store;
}

void sess_store_release(struct imap_session *s)
{
	if (s->store) {
		store_user_close(s->store);
		s->store = NULL;
	}
}

void sess_store_error(struct imap_session *s, int err, const char *what)
{
	switch (err) {
	case STORE_ENOENT:
		sess_tagged(s, "NO", "[NONEXISTENT] %s: no such mailbox", what);
		break;
	case STORE_EEXIST:
		sess_tagged(s, "NO", "[ALREADYEXISTS] %s: mailbox already exists", what);
		break;
	case STORE_EINVAL:
		sess_tagged(s, "NO", "[CANNOT] %s: invalid name", what);
		break;
	case STORE_EOVERQUOTA:
		metrics_quota_refused();
		sess_tagged(s, "NO", "[OVERQUOTA] %s: quota exceeded", what);
		break;
	case STORE_ELIMIT:
		sess_tagged(s, "NO", "[LIMIT] %s: limit reached", what);
		break;
	case STORE_EINUSE:
		sess_tagged(s, "NO", "[INUSE] %s: in use", what);
		break;
	case STORE_ECANNOT:
		sess_tagged(s, "NO", "[CANNOT] %s: not permitted", what);
		break;
	default:
		log_err("event=store_error user=%s what=\"%s\" code=%d", s->user ? s->user : "-", what, err);
		sess_tagged(s, "NO", "[SERVERBUG] %s: internal error, try again later", what);
		break;
	}
}

/* ---- mailbox names ---- */

char *sess_mailbox_arg(struct imap_session *s, const struct imap_arg *a)
{
	const char *str;
	size_t len;
	if (!imap_arg_get_astring(a, &str, &len) || memchr(str, '\0', len))
		return NULL;
	struct strbuf b = STRBUF_INIT;
	if (s->utf8) {
		strbuf_add(&b, str, len);
	} else if (mutf7_decode_rev1(str, &b) < 0) {
		strbuf_free(&b);
		return NULL;
	}
	char *name = strbuf_detach(&b, NULL);
	store_mailbox_name_fold_inbox(name);
	for (char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			goto bad;
	return name;
bad:
	free(name);
	return NULL;
}

void sess_write_mailbox(struct imap_session *s, struct strbuf *out, const char *name)
{
	if (s->utf8) {
		/* RFC 9051: always quoted-or-literal for mailbox names with UTF-8. */
		quote_string_utf8(out, name, strlen(name), true);
		return;
	}
	struct strbuf b = STRBUF_INIT;
	if (mutf7_encode(name, &b) < 0)
		strbuf_adds(&b, name);
	quote_string(out, b.s ? b.s : "", b.len);
	strbuf_free(&b);
}

/* ---- flags ---- */

static const struct {
	const char *name;
	uint32_t bit;
} flag_names[] = {
	{ "\\Answered", MAIL_FLAG_ANSWERED }, { "\\Flagged", MAIL_FLAG_FLAGGED },
	{ "\\Deleted", MAIL_FLAG_DELETED },   { "\\Seen", MAIL_FLAG_SEEN },
	{ "\\Draft", MAIL_FLAG_DRAFT },
};

void sess_write_flags(struct imap_session *s, struct strbuf *out, uint32_t flags,
		      const char *keywords, bool recent)
{
	strbuf_addc(out, '(');
	bool first = true;
	for (size_t i = 0; i < ARRAY_SIZE(flag_names); i++) {
		if (flags & flag_names[i].bit) {
			if (!first)
				strbuf_addc(out, ' ');
			strbuf_adds(out, flag_names[i].name);
			first = false;
		}
	}
	if (recent && !s->rev2) {
		if (!first)
			strbuf_addc(out, ' ');
		strbuf_adds(out, "\\Recent");
		first = false;
	}
	if (keywords && *keywords) {
		if (!first)
			strbuf_addc(out, ' ');
		strbuf_adds(out, keywords);
	}
	strbuf_addc(out, ')');
}

int sess_parse_flags(const struct imap_arg *a, size_t n, uint32_t *flags, char **keywords,
		     const char **err)
{
	const struct imap_arg *list = a;
	size_t count = n;
	if (n == 1 && a->type == IMAP_ARG_LIST) {
		list = a->list;
		count = a->count;
	}
	*flags = 0;
	*keywords = NULL;
	int rc = -1;
	struct strbuf kw = STRBUF_INIT;
	for (size_t i = 0; i < count; i++) {
		const char *f = list[i].str;
		/* RFC 9051 9: flag-keyword = atom, and NIL is an atom there:
		 * `+FLAGS NIL` adds the keyword "NIL", as in Dovecot (an empty
		 * list is "()"); docs/imap.md. */
		if (list[i].type != IMAP_ARG_NIL && !imap_arg_get_atom(&list[i], &f)) {
			*err = "Flags must be atoms";
			goto bad;
		}
		if (f[0] == '\\') {
			size_t j;
			for (j = 0; j < ARRAY_SIZE(flag_names); j++)
				if (ascii_ieq(flag_names[j].name, f))
					break;
			if (j == ARRAY_SIZE(flag_names)) {
				*err = ascii_ieq(f, "\\Recent") ? "\\Recent can't be set"
								: "Unknown system flag";
				goto bad;
			}
			*flags |= flag_names[j].bit;
			continue;
		}
		/* The store's keyword rule is the only one (store/rules.c): a
		 * malformed keyword is a syntax error, an over-long one a limit. */
		size_t len = strlen(f);
		int kr = store_keyword_check(f, len);
		if (kr != STORE_OK) {
			*err = kr == STORE_ELIMIT ? "Keyword too long" : "Invalid keyword";
			rc = kr == STORE_ELIMIT ? -2 : -1;
			goto bad;
		}
		if (kw.len > (size_t)STORE_KEYWORDS_MAX * (STORE_KEYWORD_LEN_MAX + 1)) {
			*err = "Too many keywords";
			rc = -2;
			goto bad;
		}
		if (kw.len)
			strbuf_addc(&kw, ' ');
		strbuf_add(&kw, f, len);
	}
	if (kw.len && store_keywords_check(kw.s) == STORE_ELIMIT) {
		*err = "Too many keywords";
		rc = -2;
		goto bad;
	}
	if (kw.len)
		*keywords = strbuf_detach(&kw, NULL);
	return 0;
bad:
	strbuf_free(&kw);
	return rc;
}

void sess_flags_error(struct imap_session *s, int r, const char *err)
{
	if (r == -2)
		sess_tagged(s, "NO", "[LIMIT] %s (at most %d keywords of %d bytes)",
			    err ? err : "Too many keywords", STORE_KEYWORDS_MAX, STORE_KEYWORD_LEN_MAX);
	else
		sess_tagged(s, "BAD", "%s", err ? err : "Invalid flags");
}
