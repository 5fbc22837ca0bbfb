#include "imap/session_internal.h"
#include "imap/mutf7.h"
#include "core/config.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/quote.h"
#include "core/util.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A client sending this many bad commands in a row is not speaking IMAP
 * (or is probing): stop listening. */
#define MAX_BAD_COMMANDS 10

struct cmd_def {
	const char *name;
	imap_cmd_fn *fn;
	unsigned states;     /* bit per enum imap_state */
	bool uid_ok;         /* may follow "UID" */
	bool uid_only;       /* only valid after "UID" (UID EXPUNGE) */
	bool no_expunge;     /* RFC 9051 7.5.1: no EXPUNGE while answering it */
};

#define S_ANY ((1u << ST_NOTAUTH) | (1u << ST_AUTH) | (1u << ST_SELECTED))
#define S_NOTAUTH (1u << ST_NOTAUTH)
#define S_AUTH ((1u << ST_AUTH) | (1u << ST_SELECTED))
#define S_SEL (1u << ST_SELECTED)

static const struct cmd_def commands[] = {
	{ "CAPABILITY", cmd_capability, S_ANY, false, false, false },
	{ "NOOP", cmd_noop, S_ANY, false, false, false },
	{ "LOGOUT", cmd_logout, S_ANY, false, false, false },
	{ "ID", cmd_id, S_ANY, false, false, false },
	{ "ENABLE", cmd_enable, S_AUTH, false, false, false },
	{ "STARTTLS", cmd_starttls, S_NOTAUTH, false, false, false },
	{ "LOGIN", cmd_login, S_NOTAUTH, false, false, false },
	{ "AUTHENTICATE", cmd_authenticate, S_NOTAUTH, false, false, false },
	{ "SELECT", cmd_select, S_AUTH, false, false, false },
	{ "EXAMINE", cmd_examine, S_AUTH, false, false, false },
	{ "CREATE", cmd_create, S_AUTH, false, false, false },
	{ "DELETE", cmd_delete, S_AUTH, false, false, false },
	{ "RENAME", cmd_rename, S_AUTH, false, false, false },
	{ "SUBSCRIBE", cmd_subscribe, S_AUTH, false, false, false },
	{ "UNSUBSCRIBE", cmd_unsubscribe, S_AUTH, false, false, false },
	{ "LIST", cmd_list, S_AUTH, false, false, false },
	{ "LSUB", cmd_lsub, S_AUTH, false, false, false },
	{ "NAMESPACE", cmd_namespace, S_AUTH, false, false, false },
	{ "STATUS", cmd_status, S_AUTH, false, false, false },
	{ "APPEND", cmd_append, S_AUTH, false, false, false },
	{ "IDLE", cmd_idle, S_AUTH, false, false, false },
	{ "CHECK", cmd_check, S_SEL, false, false, false },
	{ "CLOSE", cmd_close, S_SEL, false, false, false },
	{ "UNSELECT", cmd_unselect, S_SEL, false, false, false },
	{ "EXPUNGE", cmd_expunge, S_SEL, true, false, false },
	{ "SEARCH", cmd_search, S_SEL, true, false, true },
	{ "FETCH", cmd_fetch, S_SEL, true, false, true },
	{ "STORE", cmd_store, S_SEL, true, false, true },
	{ "COPY", cmd_copy, S_SEL, true, false, false },
	{ "MOVE", cmd_move, S_SEL, true, false, false },
};

static void session_process(struct imap_session *s, struct evbuffer *in);

struct imap_session *imap_session_new(const struct imap_io_ops *ops, void *conn,
				      const struct imap_conn_info *info)
{
	struct imap_session *s = xcalloc(1, sizeof(*s));
	s->ops = ops;
	s->conn = conn;
	s->info = *info;
	snprintf(s->peer, sizeof(s->peer), "%s", info->peer ? info->peer : "?");
	snprintf(s->listener, sizeof(s->listener), "%s", info->listener ? info->listener : "?");
	s->info.peer = s->peer;
	s->info.listener = s->listener;
	s->cfg = info->cfg;
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	if (s->cfg->max_line)
		lim.max_line = s->cfg->max_line;
	if (s->cfg->max_literal)
		lim.max_literal = s->cfg->max_literal;
	/* A command may carry a few messages (MULTIAPPEND) but stays bounded. */
	lim.max_command = lim.max_literal * 2 + lim.max_line;
	lim.max_nonsync = lim.max_literal;
	s->parser = imap_parser_new(&lim);
	s->state = ST_NOTAUTH;
	s->mode = IN_COMMAND;
	return s;
}

void imap_session_start(struct imap_session *s)
{
	s->ops->set_timeout(s->conn, s->cfg->preauth_timeout ? s->cfg->preauth_timeout : 60);
	struct strbuf caps = STRBUF_INIT;
	sess_write_capabilities(s, &caps);
	sess_printf(s, "* OK [CAPABILITY %s] Rampart ready.", strbuf_cstr(&caps));
	strbuf_free(&caps);
	sess_flush(s);
}

void imap_session_free(struct imap_session *s)
{
	if (!s)
		return;
	if (s->cancel)
		s->cancel(s);
	s->cancel = NULL;
	if (s->auth_delay_ev)
		event_free(s->auth_delay_ev);
	/* An authentication job still running on the pool finds the session
	 * gone and only frees itself (cmd_auth.c). */
	if (s->auth_job)
		*(struct imap_session **)s->auth_job = NULL;
	free(s->sasl);
	sess_store_release(s);
	imap_parser_free(s->parser);
	view_clear(&s->view);
	seqset_free(&s->searchres);
	free(s->user);
	free(s->tag);
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
	if (len >= 64 * 1024) {
		sess_flush(s);
		s->ops->write(s->conn, data, len);
		return;
	}
	strbuf_add(&s->out, data, len);
	if (s->out.len >= 64 * 1024)
		sess_flush(s);
}

void sess_flush(struct imap_session *s)
{
	if (s->out.len) {
		s->ops->write(s->conn, s->out.s, s->out.len);
		strbuf_reset(&s->out);
	}
	/* Don't keep a large buffer around on an idle connection. */
	if (s->out.cap > 128 * 1024)
		strbuf_free(&s->out);
}

bool sess_output_full(struct imap_session *s)
{
	size_t limit = s->cfg->max_output_buffer ? s->cfg->max_output_buffer : 1024 * 1024;
	return s->out.len + s->ops->pending(s->conn) >= limit;
}

void sess_wait_output(struct imap_session *s, void (*resume)(struct imap_session *s),
		      void (*cancel)(struct imap_session *s), void *state)
{
	s->resume = resume;
	s->cancel = cancel;
	s->cmd_state = state;
	s->mode = IN_BUSY;
	sess_flush(s);
	s->ops->pause_read(s->conn, true);
}

void sess_tagged(struct imap_session *s, const char *status, const char *fmt, ...)
{
	/* Changes others made are reported before the command completes. */
	if (s->state == ST_SELECTED && s->notify_pending && !s->closing)
		view_sync(s, s->cmd_allow_expunge);
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	sess_printf(s, "%s %s %s", s->tag ? s->tag : "*", status, text);
	free(s->tag);
	s->tag = NULL;
	s->resume = NULL;
	s->cancel = NULL;
	s->cmd_state = NULL;
	sess_store_release(s);
	if (strcmp(status, "BAD") == 0)
		s->bad_commands++;
	else
		s->bad_commands = 0;
	if (s->mode == IN_BUSY) {
		s->mode = IN_COMMAND;
		sess_flush(s);
		s->ops->pause_read(s->conn, false);
	}
}

void sess_bye(struct imap_session *s, const char *text)
{
	if (s->closing)
		return;
	sess_printf(s, "* BYE %s", text);
	sess_flush(s);
	s->closing = true;
	s->state = ST_LOGOUT;
	s->ops->close(s->conn);
}

/* ---- input ---- */

static const struct cmd_def *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (ascii_ieq(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void session_execute(struct imap_session *s)
{
	const char *name = imap_parser_command(s->parser);
	size_t nargs;
	const struct imap_arg *args = imap_parser_args(s->parser, &nargs);
	s->tag = xstrdup(imap_parser_tag(s->parser));
	bool uid = false;
	if (ascii_ieq(name, "UID")) {
		const char *sub;
		if (nargs == 0 || !imap_arg_get_atom(&args[0], &sub)) {
			sess_tagged(s, "BAD", "UID needs a command");
			return;
		}
		name = sub;
		args++;
		nargs--;
		uid = true;
	}
	const struct cmd_def *def = find_command(name);
	if (!def || (uid && !def->uid_ok)) {
		sess_tagged(s, "BAD", "Unknown command");
		return;
	}
	if (!(def->states & (1u << s->state))) {
		if (s->state == ST_NOTAUTH)
			sess_tagged(s, "BAD", "Log in first");
		else if (s->state == ST_AUTH && (def->states & S_SEL))
			sess_tagged(s, "BAD", "No mailbox selected");
		else
			sess_tagged(s, "BAD", "Command not valid in this state");
		return;
	}
	s->cmd_allow_expunge = !def->no_expunge || uid;
	def->fn(s, args, nargs, uid);
}

/* Reads one CRLF-terminated line in IDLE/SASL mode. Returns 1 with a line,
 * 0 when more input is needed, -1 when the line is too long. */
static int read_line(struct imap_session *s, struct evbuffer *in, char **line, size_t *len)
{
	size_t eol_len;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
	size_t max = s->cfg->max_line ? s->cfg->max_line : 65536;
	if (p.pos < 0)
		return evbuffer_get_length(in) > max ? -1 : 0;
	if ((size_t)p.pos > max)
		return -1;
	*line = evbuffer_readln(in, len, EVBUFFER_EOL_CRLF);
	return *line ? 1 : 0;
}

static void handle_parse_error(struct imap_session *s)
{
	const char *tag = imap_parser_tag(s->parser);
	const char *err = imap_parser_error(s->parser);
	s->tag = tag ? xstrdup(tag) : NULL;
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
		if (s->mode == IN_IDLE || s->mode == IN_SASL) {
			char *line = NULL;
			size_t len = 0;
			int r = read_line(s, in, &line, &len);
			if (r < 0) {
				sess_bye(s, "Line too long");
				return;
			}
			if (r == 0)
				break;
			if (s->mode == IN_IDLE)
				cmd_idle_line(s, line, len);
			else
				cmd_sasl_line(s, line, len);
			free(line);
			continue;
		}
		if (sess_output_full(s)) {
			/* A client that does not read its responses stops being read. */
			s->output_blocked = true;
			sess_flush(s);
			s->ops->pause_read(s->conn, true);
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

void imap_session_drained(struct imap_session *s)
{
	if (s->closing)
		return;
	if (s->mode == IN_BUSY && s->resume) {
		void (*resume)(struct imap_session *) = s->resume;
		resume(s);
		sess_flush(s);
		return;
	}
	if (s->output_blocked) {
		s->output_blocked = false;
		s->ops->pause_read(s->conn, false);
	}
}

void imap_session_tls_started(struct imap_session *s)
{
	s->info.tls = true;
	if (s->mode == IN_BUSY && !s->tag) {
		s->mode = IN_COMMAND;
		s->ops->pause_read(s->conn, false);
	}
}

void imap_session_notify(struct imap_session *s)
{
	if (s->closing || s->state != ST_SELECTED) {
		if (s->mode == IN_IDLE && !s->closing)
			cmd_idle_notify(s);
		return;
	}
	s->notify_pending = true;
	if (s->mode == IN_IDLE)
		cmd_idle_notify(s);
}

void imap_session_timeout(struct imap_session *s)
{
	log_info("event=disconnect reason=timeout ip=%s user=%s", s->peer, s->user ? s->user : "-");
	sess_bye(s, "Autologout; idle for too long");
}

void imap_session_shutdown(struct imap_session *s)
{
	sess_bye(s, "[UNAVAILABLE] Server shutting down");
}

/* ---- store handle ---- */

struct store_user *sess_store(struct imap_session *s)
{
	if (!s->store && s->user)
		s->store = store_user_open(s->user);
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
	} else if (mutf7_decode(str, &b) < 0) {
		strbuf_free(&b);
		return NULL;
	}
	char *name = strbuf_detach(&b, NULL);
	/* RFC 9051 5.1: INBOX is case-insensitive, also as a hierarchy prefix. */
	if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/'))
		memcpy(name, "INBOX", 5);
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

static bool keyword_valid(const char *k, size_t len)
{
	if (len == 0 || len > 200)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)k[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c))
			return false;
	}
	return true;
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
	struct strbuf kw = STRBUF_INIT;
	for (size_t i = 0; i < count; i++) {
		const char *f;
		if (!imap_arg_get_atom(&list[i], &f)) {
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
		size_t len = strlen(f);
		if (!keyword_valid(f, len)) {
			*err = "Invalid keyword";
			goto bad;
		}
		if (kw.len > 16 * 1024) {
			*err = "Too many keywords";
			goto bad;
		}
		if (kw.len)
			strbuf_addc(&kw, ' ');
		strbuf_add(&kw, f, len);
	}
	if (kw.len)
		*keywords = strbuf_detach(&kw, NULL);
	return 0;
bad:
	strbuf_free(&kw);
	return -1;
}

/* ---- the view ---- */

void view_clear(struct imap_view *v)
{
	free(v->name);
	free(v->uids);
	free(v->own);
	memset(v, 0, sizeof(*v));
}

uint32_t view_seq_of(const struct imap_view *v, uint32_t uid)
{
	size_t lo = 0, hi = v->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->count && v->uids[lo] == uid ? (uint32_t)lo + 1 : 0;
}

int view_resolve_set(struct imap_session *s, const struct imap_arg *a, bool uid, uint32_t **uids,
		     size_t *n)
{
	struct imap_view *v = &s->view;
	const char *str;
	*uids = NULL;
	*n = 0;
	if (!imap_arg_get_atom(a, &str))
		return -1;
	struct seqset set = SEQSET_INIT;
	bool saved = strcmp(str, "$") == 0;
	if (saved) {
		/* RFC 5182: "$" is the saved result, as UIDs. */
		if (s->searchres_set)
			for (size_t i = 0; i < s->searchres.n; i++)
				seqset_add(&set, s->searchres.r[i].lo, s->searchres.r[i].hi);
	} else {
		uint32_t star = uid ? (v->count ? v->uids[v->count - 1] : 0)
				    : v->count;
		/* "*" in an empty mailbox: nothing can match (RFC 9051 6.4.8
		 * allows an empty result for UID commands). */
		if (seqset_parse(str, strlen(str), star ? star : UINT32_MAX, &set) < 0)
			return -1;
	}
	size_t cap = 0;
	if (uid || saved) {
		for (size_t i = 0; i < set.n; i++) {
			/* Walk only the view's UIDs inside the range. */
			uint32_t lo = set.r[i].lo, hi = set.r[i].hi;
			size_t a0 = 0, b0 = v->count;
			while (a0 < b0) {
				size_t mid = a0 + (b0 - a0) / 2;
				if (v->uids[mid] < lo)
					a0 = mid + 1;
				else
					b0 = mid;
			}
			for (size_t j = a0; j < v->count && v->uids[j] <= hi; j++) {
				xgrow((void **)uids, &cap, *n + 1, sizeof(uint32_t));
				(*uids)[(*n)++] = v->uids[j];
			}
		}
	} else if (v->count > 0) {
		/* In an empty mailbox every sequence set is simply empty. */
		for (size_t i = 0; i < set.n; i++) {
			if (set.r[i].lo > v->count) {
				seqset_free(&set);
				free(*uids);
				*uids = NULL;
				*n = 0;
				return -2; /* sequence number out of range */
			}
			uint32_t hi = MIN(set.r[i].hi, v->count);
			for (uint32_t seq = set.r[i].lo; seq <= hi; seq++) {
				xgrow((void **)uids, &cap, *n + 1, sizeof(uint32_t));
				(*uids)[(*n)++] = v->uids[seq - 1];
			}
		}
	}
	seqset_free(&set);
	return 0;
}

void view_note_own_change(struct imap_session *s, uint32_t uid, uint64_t modseq)
{
	struct imap_view *v = &s->view;
	if (v->nown >= 100000)
		return; /* sync will just repeat the FETCH: harmless */
	xgrow((void **)&v->own, &v->owncap, v->nown + 1, sizeof(*v->own));
	v->own[v->nown].uid = uid;
	v->own[v->nown].modseq = modseq;
	v->nown++;
}

static bool own_change(const struct imap_view *v, uint32_t uid, uint64_t modseq)
{
	for (size_t i = 0; i < v->nown; i++)
		if (v->own[i].uid == uid && v->own[i].modseq == modseq)
			return true;
	return false;
}

static int cmp_u32_desc(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

bool view_sync(struct imap_session *s, bool allow_expunge)
{
	struct imap_view *v = &s->view;
	if (s->state != ST_SELECTED)
		return true;
	struct store_user *u = sess_store(s);
	if (!u)
		return true;
	struct store_msg *changed = NULL;
	uint32_t *expunged = NULL;
	size_t nchanged = 0, nexpunged = 0;
	uint64_t since = v->modseq;
	int r = store_changes(u, v->id, since, &changed, &nchanged, &expunged, &nexpunged);
	if (r == STORE_ENOENT) {
		sess_bye(s, "Selected mailbox was deleted, have to disconnect.");
		return false;
	}
	if (r != STORE_OK)
		return true;
	s->notify_pending = false;
	uint64_t maxmod = v->modseq;
	struct strbuf line = STRBUF_INIT;

	if (allow_expunge && nexpunged) {
		/* Highest sequence numbers first, so earlier numbers stay valid
		 * while the client applies each EXPUNGE (RFC 9051 7.5.1). */
		qsort(expunged, nexpunged, sizeof(uint32_t), cmp_u32_desc);
		for (size_t i = 0; i < nexpunged; i++) {
			uint32_t seq = view_seq_of(v, expunged[i]);
			if (!seq)
				continue;
			sess_printf(s, "* %u EXPUNGE", seq);
			memmove(&v->uids[seq - 1], &v->uids[seq], (v->count - seq) * sizeof(uint32_t));
			v->count--;
		}
	}
	/* New messages: UIDs above the last one in the view. */
	uint32_t last = v->count ? v->uids[v->count - 1] : 0;
	uint32_t added = 0;
	for (size_t i = 0; i < nchanged; i++) {
		if (changed[i].uid > last) {
			if (v->count == v->cap) {
				size_t cap = v->cap;
				xgrow((void **)&v->uids, &cap, (size_t)v->count + 1, sizeof(uint32_t));
				v->cap = (uint32_t)cap;
			}
			v->uids[v->count++] = changed[i].uid;
			last = changed[i].uid;
			added++;
		}
		if (changed[i].modseq > maxmod)
			maxmod = changed[i].modseq;
	}
	if (added) {
		sess_printf(s, "* %u EXISTS", v->count);
		if (!s->rev2) {
			/* This session is the first to see them: they are \Recent here. */
			uint32_t dummy;
			if (!v->readonly)
				store_mailbox_take_recent(u, v->id, &dummy);
			uint32_t recent = 0;
			for (uint32_t i = 0; i < v->count; i++)
				if (v->uids[i] >= v->first_recent)
					recent++;
			sess_printf(s, "* %u RECENT", recent);
		}
	}
	/* Flag changes of messages the client already knew. */
	for (size_t i = 0; i < nchanged; i++) {
		struct store_msg *m = &changed[i];
		if (m->modseq <= v->flags_modseq || own_change(v, m->uid, m->modseq))
			continue;
		uint32_t seq = view_seq_of(v, m->uid);
		if (!seq || (added && seq > v->count - added))
			continue;
		strbuf_reset(&line);
		strbuf_addf(&line, "* %u FETCH (", seq);
		if (s->rev2)
			strbuf_addf(&line, "UID %u ", m->uid);
		strbuf_adds(&line, "FLAGS ");
		sess_write_flags(s, &line, m->flags, m->keywords, m->uid >= v->first_recent);
		strbuf_addc(&line, ')');
		sess_printf(s, "%s", line.s);
	}
	strbuf_free(&line);
	if (maxmod > v->flags_modseq)
		v->flags_modseq = maxmod;
	/* The expunge marker only moves when expunges could be reported. */
	if (allow_expunge || nexpunged == 0) {
		v->modseq = v->flags_modseq;
		v->nown = 0;
	}
	store_msg_array_free(changed, nchanged);
	free(expunged);
	return true;
}
