/* Not-authenticated state: STARTTLS, LOGIN, AUTHENTICATE (PLAIN, LOGIN).
 * Password checks run on the work pool (argon2id is slow by design) and
 * failures are answered only after a delay, so a guessing client gets few
 * tries per minute per connection. */
#include "imap/session_internal.h"
#include "imap/capability.h"
#include "auth/audit.h"
#include "auth/passdb.h"
#include "auth/policy.h"
#include "auth/sasl.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#include <event2/event.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* After this many failures on one connection it is closed. */
#define MAX_AUTH_FAILURES 3
#define MAX_SASL_LINE 8192

enum sasl_mech { MECH_PLAIN, MECH_LOGIN };

/* The state of a running LOGIN or AUTHENTICATE (cmd->state, in the
 * command's memory). */
struct auth_cmd {
	enum sasl_mech mech;
	char *login_user;         /* LOGIN mechanism: username received */
	struct event *delay_ev;   /* the delayed answer to a failure */
};

/* The password check, on the work pool. */
struct auth_job {
	struct cmd_job job;       /* first member */
	struct passdb *db;
	char *user;
	char *password;
	const char *mech;
	enum passdb_result result;
	bool store_ok;            /* the user's mail store opens */
	struct policy_auth pol;   /* auth/policy.c's decision for this attempt */
};

static void auth_job_free(struct cmd_job *job)
{
	struct auth_job *j = (struct auth_job *)job;
	free(j->user);
	if (j->password) {
		sodium_memzero(j->password, strlen(j->password));
		free(j->password);
	}
	free(j);
}

static void auth_job_run(struct cmd_job *job)
{
	struct auth_job *j = (struct auth_job *)job;
	if (j->pol.verdict == POLICY_REFUSE)
		return; /* locked: answered as a failure, nothing verified */
	j->result = passdb_verify(j->db, j->user, j->password);
	if (j->result == PASSDB_OK) {
		struct store_user *u = store_user_open(j->user);
		j->store_ok = u != NULL;
		if (u)
			store_user_close(u);
	}
}

static void auth_fail_finish(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct imap_cmd *cmd = arg;
	struct imap_session *s = cmd->s;
	struct auth_cmd *ac = cmd->state;
	event_free(ac->delay_ev);
	ac->delay_ev = NULL;
	sess_tagged(s, "NO", "[AUTHENTICATIONFAILED] Authentication failed.");
	if (s->auth_failures >= MAX_AUTH_FAILURES)
		sess_bye(s, "Too many authentication failures");
	sess_flush(s);
}

static void auth_job_done(struct cmd_job *job)
{
	struct auth_job *j = (struct auth_job *)job;
	struct imap_cmd *cmd = job->cmd;
	struct imap_session *s = cmd->s;
	struct auth_cmd *ac = cmd->state;
	/* A job the pool dropped (too many checks queued for this source)
	 * never ran: a failure, like a locked source. */
	enum policy_outcome po = j->pol.verdict == POLICY_REFUSE ? POLICY_REFUSED
				 : job->wp.skipped		 ? POLICY_BUSY
				 : j->result == PASSDB_OK	 ? POLICY_OK
								 : POLICY_FAIL;
	struct audit_auth au = { .ip = s->peer, .user = j->user, .mech = j->mech,
				 .session = s, .listener = s->listener };
	if (s->io->tls_describe)
		s->io->tls_describe(s->conn, &au.tls_version, &au.tls_cipher);
	if (po == POLICY_OK) {
		char user[128];
		audit_token(user, sizeof(user), j->user);
		if (!j->store_ok) {
			log_err("event=login_error ip=%s user=%s reason=store", s->peer, user);
			sess_tagged(s, "NO", "[UNAVAILABLE] Mailbox store unavailable, try later");
			return;
		}
		if (!policy_session_room(j->user)) {
			au.result = "refused";
			au.reason = "max_sessions_per_user";
			au.decision = "allow";
			audit_auth(&au);
			sess_tagged(s, "NO", "[LIMIT] Too many sessions for this user");
			return;
		}
		policy_auth_end(&j->pol, POLICY_OK);
		sess_login(s, j->user);
		au.result = "ok";
		au.reason = "ok";
		au.decision = policy_auth_decision(&j->pol, 0);
		audit_auth(&au);
		struct strbuf caps = STRBUF_INIT;
		imap_cap_write(s, &caps);
		sess_tagged(s, "OK", "[CAPABILITY %s] Logged in", strbuf_cstr(&caps));
		strbuf_free(&caps);
		sess_flush(s);
	} else {
		s->auth_failures++;
		/* The same answer after the same delay whatever the cause: a
		 * locked source learns nothing, not even that it is locked. */
		unsigned extra = policy_auth_end(&j->pol, po);
		unsigned delay = s->cfg->auth_fail_delay_ms + extra;
		au.result = po == POLICY_REFUSED ? "locked" : "fail";
		au.reason = po == POLICY_REFUSED ? j->pol.reason
			    : po == POLICY_BUSY ? "busy"
			    : j->result == PASSDB_ERROR ? "passdb_error" : "bad_credentials";
		au.decision = policy_auth_decision(&j->pol, extra);
		au.delay_ms = delay;
		audit_auth(&au);
		struct timeval tv = { delay / 1000, (long)(delay % 1000) * 1000 };
		ac->delay_ev = evtimer_new(s->info.base, auth_fail_finish, cmd);
		evtimer_add(ac->delay_ev, &tv);
	}
}

/* The session goes away while the failure waits or a SASL exchange runs
 * (a job on the pool is detached by imap_cmd_free). */
static void auth_cancel(struct imap_cmd *cmd)
{
	struct auth_cmd *ac = cmd->state;
	if (ac->delay_ev)
		event_free(ac->delay_ev);
	free(ac->login_user);
}

static struct auth_cmd *auth_cmd_state(struct imap_cmd *cmd)
{
	if (!cmd->state) {
		cmd->state = imap_cmd_alloc(cmd, sizeof(struct auth_cmd));
		cmd->cancel = auth_cancel;
	}
	return cmd->state;
}

/* Takes ownership of user and password. */
static void auth_start(struct imap_cmd *cmd, char *user, char *password, const char *mech)
{
	struct imap_session *s = cmd->s;
	struct auth_job *j = xcalloc(1, sizeof(*j));
	j->db = s->info.passdb;
	j->user = user;
	j->password = password;
	j->mech = mech;
	j->result = PASSDB_FAIL;
	policy_auth_begin(&j->pol, user, s->peer, s->info.trusted);
	/* Password checks share the pool fairly between source prefixes. */
	j->job.wp.fair_key = j->pol.fair_key;
	auth_cmd_state(cmd);
	/* Even an empty or over-long name takes the slow path, so timing
	 * says nothing about it. */
	cmd_run_on_pool(cmd, &j->job, auth_job_run, auth_job_done, auth_job_free);
}

static bool cleartext_allowed(struct imap_session *s)
{
	return s->info.tls || s->info.trusted;
}

void cmd_starttls(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs) {
		sess_tagged(s, "BAD", "STARTTLS takes no arguments");
		return;
	}
	if (s->info.tls) {
		sess_tagged(s, "BAD", "TLS is already active");
		return;
	}
	if (!s->info.starttls_offered) {
		sess_tagged(s, "BAD", "STARTTLS is not offered on this port");
		return;
	}
	sess_tagged(s, "OK", "Begin TLS negotiation now");
	sess_flush(s);
	/* Nothing more is read until the handshake is done; the connection
	 * discards whatever was pipelined behind STARTTLS. */
	sess_starttls(s);
}

void cmd_login(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	const char *user, *pass;
	size_t ulen, plen;
	if (nargs != 2 || !imap_arg_get_astring(&args[0], &user, &ulen) ||
	    !imap_arg_get_astring(&args[1], &pass, &plen)) {
		sess_tagged(s, "BAD", "LOGIN needs a user name and a password");
		return;
	}
	if (!cleartext_allowed(s)) {
		log_info("event=login result=refused ip=%s reason=no_tls", s->peer);
		sess_tagged(s, "NO", "[PRIVACYREQUIRED] Use STARTTLS or port 993 first");
		return;
	}
	if (memchr(user, '\0', ulen) || memchr(pass, '\0', plen)) {
		sess_tagged(s, "BAD", "NUL in credentials");
		return;
	}
	auth_start(cmd, xstrndup(user, ulen), xstrndup(pass, plen), "LOGIN");
}

static void sasl_plain_finish(struct imap_cmd *cmd, const char *b64, size_t len)
{
	struct imap_session *s = cmd->s;
	if (len > MAX_SASL_LINE) {
		sess_tagged(s, "BAD", "[TOOBIG] SASL response too long");
		return;
	}
	unsigned char *buf = xmalloc(len * 3 / 4 + 4);
	long n = sasl_base64_decode(b64, len, buf);
	char *authz = NULL, *authc = NULL, *pass = NULL;
	if (n < 0 || sasl_plain_parse(buf, (size_t)n, &authz, &authc, &pass) < 0) {
		sodium_memzero(buf, len * 3 / 4 + 4);
		free(buf);
		sess_tagged(s, "BAD", "Invalid SASL PLAIN response");
		return;
	}
	sodium_memzero(buf, len * 3 / 4 + 4);
	free(buf);
	/* No proxy authorization: authzid must be empty or the same user. */
	if (authz[0] && strcmp(authz, authc) != 0) {
		free(authz);
		free(authc);
		sodium_memzero(pass, strlen(pass));
		free(pass);
		s->auth_failures++;
		sess_tagged(s, "NO", "[AUTHORIZATIONFAILED] Authorization identity not permitted");
		return;
	}
	free(authz);
	auth_start(cmd, authc, pass, "PLAIN");
}

static void sasl_line(struct imap_cmd *cmd, const char *line, size_t len);

void cmd_authenticate(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	const char *mech;
	if (nargs < 1 || nargs > 2 || !imap_arg_get_atom(&args[0], &mech)) {
		sess_tagged(s, "BAD", "AUTHENTICATE needs a mechanism name");
		return;
	}
	if (!cleartext_allowed(s)) {
		log_info("event=login result=refused ip=%s reason=no_tls", s->peer);
		sess_tagged(s, "NO", "[PRIVACYREQUIRED] Use STARTTLS or port 993 first");
		return;
	}
	const char *ir = NULL;
	size_t irlen = 0;
	if (nargs == 2 && !imap_arg_get_astring(&args[1], &ir, &irlen)) {
		sess_tagged(s, "BAD", "Invalid initial response");
		return;
	}
	/* The mechanisms offered are the capability registry's AUTH= list. */
	char *offer = xasprintf("AUTH=%s", mech);
	bool offered = imap_cap_offered(s, offer);
	free(offer);
	struct auth_cmd *ac;
	if (offered && ascii_ieq(mech, "PLAIN")) {
		if (ir) {
			/* RFC 4959: "=" is an empty initial response. */
			if (irlen == 1 && ir[0] == '=')
				irlen = 0;
			sasl_plain_finish(cmd, ir, irlen);
			return;
		}
		ac = auth_cmd_state(cmd);
		ac->mech = MECH_PLAIN;
		sess_printf(s, "+ ");
	} else if (offered && ascii_ieq(mech, "LOGIN")) {
		ac = auth_cmd_state(cmd);
		ac->mech = MECH_LOGIN;
		if (ir) {
			sasl_line(cmd, ir, irlen);
			return;
		}
		sess_printf(s, "+ VXNlcm5hbWU6");
	} else {
		sess_tagged(s, "NO", "[CANNOT] Unsupported authentication mechanism");
		return;
	}
	sess_wait_line(cmd, sasl_line);
}

/* A SASL response line (RFC 9051 6.2.2): "*" cancels. */
static void sasl_line(struct imap_cmd *cmd, const char *line, size_t len)
{
	struct imap_session *s = cmd->s;
	struct auth_cmd *ac = cmd->state;
	if (len == 1 && line[0] == '*') {
		free(ac->login_user);
		ac->login_user = NULL;
		sess_tagged(s, "BAD", "Authentication cancelled");
		return;
	}
	if (ac->mech == MECH_PLAIN) {
		sasl_plain_finish(cmd, line, len);
		return;
	}
	/* LOGIN: username, then password, each base64. */
	if (len > MAX_SASL_LINE) {
		free(ac->login_user);
		ac->login_user = NULL;
		sess_tagged(s, "BAD", "[TOOBIG] SASL response too long");
		return;
	}
	char *buf = xmalloc(len * 3 / 4 + 4);
	long n = sasl_base64_decode(line, len, (unsigned char *)buf);
	if (n < 0 || memchr(buf, '\0', (size_t)n)) {
		free(buf);
		free(ac->login_user);
		ac->login_user = NULL;
		sess_tagged(s, "BAD", "Invalid base64");
		return;
	}
	buf[n] = '\0';
	if (!ac->login_user) {
		ac->login_user = buf;
		sess_printf(s, "+ UGFzc3dvcmQ6");
		sess_wait_line(cmd, sasl_line);
		return;
	}
	char *user = ac->login_user;
	ac->login_user = NULL;
	auth_start(cmd, user, buf, "LOGIN");
}
