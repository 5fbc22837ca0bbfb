/* Not-authenticated state: STARTTLS, LOGIN, and AUTHENTICATE with any
 * mechanism of the SASL framework (auth/sasl.h: this file only frames its
 * challenges as "+ " lines, RFC 9051 6.2.2). Every attempt ends the same
 * way: a job on the work pool (auth_start -> auth_job_run, where passwords
 * are checked, argon2id being slow by design, and the store is opened) and
 * one outcome function, auth_job_done, where failures of every mechanism
 * are answered only after a delay, so a guessing client gets few tries per
 * minute per connection. */
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
#include <stdatomic.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* After this many failures on one connection it is closed. */
#define MAX_AUTH_FAILURES 3

/* How long a password check takes here, in ms (a running average over
 * every check of the process). An attempt answered without a check (a
 * locked source, a full queue) waits this long more, so its answer comes
 * no sooner than a checked wrong password's: timing does not tell an
 * attacker that it was locked out. Races between pool threads only blur
 * the average. */
static _Atomic unsigned auth_check_ms;

static void auth_check_time(uint64_t started_us)
{
	unsigned took = (unsigned)MIN((now_us() - started_us) / 1000, 60000);
	unsigned avg = atomic_load(&auth_check_ms);
	atomic_store(&auth_check_ms, avg ? avg - avg / 8 + took / 8 : took);
}

/* The state of a running LOGIN or AUTHENTICATE (cmd->state, in the
 * command's memory). */
struct auth_cmd {
	struct sasl_exchange *ex;  /* AUTHENTICATE: the SASL exchange (auth/sasl.h) */
	bool authz_failed;         /* answer [AUTHORIZATIONFAILED] */
	struct event *delay_ev;    /* the delayed answer to a failure */
	uint64_t delay_due_us;     /* now_us() at which that answer is due */
};

/* How an attempt reaches the pool job: a password still to verify, or
 * a SASL exchange that already decided (SCRAM checks its proof itself). */
enum auth_check { AUTH_CHECK_PASSWORD, AUTH_CHECK_PASSED, AUTH_CHECK_FAILED };

/* The password check, on the work pool. */
struct auth_job {
	struct cmd_job job;       /* first member */
	struct passdb *db;
	char *user;
	char *password;           /* AUTH_CHECK_PASSWORD */
	const char *mech;
	char ip[64];              /* the source, for per-user source lists */
	enum auth_check check;
	const char *reason;       /* AUTH_CHECK_FAILED: why, for the log */
	enum passdb_result result;
	bool store_ok;            /* the user's mail store opens */
	struct policy_auth pol;   /* auth/policy.c's decision for this attempt */
	char credential[80];      /* status: "password", "app:NAME" (passdb_auth) */
	const char *cache;        /* authcache: passdb_auth.cache, for the audit line */
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
	if (j->pol.verdict == POLICY_REFUSE) {
		/* locked: answered as a failure, nothing verified; the next
		 * login after the lock pays the full check (authcache) */
		passdb_cache_forget(j->db, j->user);
		return;
	}
	switch (j->check) {
	case AUTH_CHECK_PASSWORD: {
		/* the user's source list, app passwords, app_passwords_only,
		 * then the primary password (auth/passdb.h) */
		struct passdb_auth pa = { .reason = NULL };
		uint64_t t0 = now_us();
		j->result = passdb_authenticate(j->db, j->user, j->password, j->ip, &pa);
		/* authcache: a cache hit ran no hash and would make the padding
		 * of refused attempts shorter than a wrong password's check. */
		j->cache = pa.cache;
		if (strcmp(pa.cache, "hit") != 0)
			auth_check_time(t0);
		if (j->result != PASSDB_OK)
			j->reason = pa.reason;
		memcpy(j->credential, pa.credential, sizeof(j->credential));
		break;
	}
	case AUTH_CHECK_PASSED:
		j->result = PASSDB_OK;
		break;
	case AUTH_CHECK_FAILED:
		j->result = PASSDB_FAIL;
		break;
	}
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
	/* libevent measures timers on a coarse clock that may lag by a
	 * tick: a failure is never answered before its full delay. */
	uint64_t now = now_us();
	if (now < ac->delay_due_us) {
		uint64_t left = ac->delay_due_us - now;
		struct timeval tv = { (time_t)(left / 1000000u), (long)(left % 1000000u) };
		evtimer_add(ac->delay_ev, &tv);
		return;
	}
	event_free(ac->delay_ev);
	ac->delay_ev = NULL;
	if (ac->authz_failed)
		sess_tagged(s, "NO", "[AUTHORIZATIONFAILED] Authorization identity not permitted");
	else
		sess_tagged(s, "NO", "[AUTHENTICATIONFAILED] Authentication failed.");
	if (s->auth_failures >= MAX_AUTH_FAILURES)
		sess_bye(s, "Too many authentication failures");
	sess_flush(s);
}

/* Every attempt's outcome passes here, whatever the command and the
 * mechanism: j->user and j->mech name it, the policy verdict and j->result
 * decide it, and it is written as one audit line (auth/audit.c). */
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
				 .session = s, .listener = s->listener, .cache = j->cache };
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
		memcpy(s->credential, j->credential, sizeof(s->credential));   /* status */
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
		const char *reason = po == POLICY_REFUSED	 ? j->pol.reason
				     : po == POLICY_BUSY	 ? "busy"
				     : j->result == PASSDB_ERROR ? "passdb_error"
				     : j->reason		 ? j->reason
								 : "bad_credentials";
		ac->authz_failed = po == POLICY_FAIL && strcmp(reason, "authzid") == 0;
		/* The same answer after the same delay whatever the cause: a
		 * locked source learns nothing, not even that it is locked. */
		unsigned extra = policy_auth_end(&j->pol, po);
		unsigned delay = s->cfg->auth_fail_delay_ms + extra;
		if (po != POLICY_FAIL && j->check == AUTH_CHECK_PASSWORD)
			delay += atomic_load(&auth_check_ms);
		au.result = po == POLICY_REFUSED ? "locked" : "fail";
		au.reason = reason;
		au.decision = policy_auth_decision(&j->pol, extra);
		au.delay_ms = delay;
		/* Stable format: contrib/fail2ban matches this line. */
		audit_auth(&au);
		struct timeval tv = { delay / 1000, (long)(delay % 1000) * 1000 };
		ac->delay_due_us = now_us() + (uint64_t)delay * 1000u;
		ac->delay_ev = evtimer_new(s->info.base, auth_fail_finish, cmd);
		evtimer_add(ac->delay_ev, &tv);
	}
}

static void auth_exchange_end(struct auth_cmd *ac)
{
	sasl_exchange_free(ac->ex);
	ac->ex = NULL;
}

/* The session goes away while the failure waits or a SASL exchange runs
 * (a job on the pool is detached by imap_cmd_free). */
static void auth_cancel(struct imap_cmd *cmd)
{
	struct auth_cmd *ac = cmd->state;
	if (ac->delay_ev)
		event_free(ac->delay_ev);
	auth_exchange_end(ac);
}

static struct auth_cmd *auth_cmd_state(struct imap_cmd *cmd)
{
	if (!cmd->state) {
		cmd->state = imap_cmd_alloc(cmd, sizeof(struct auth_cmd));
		cmd->cancel = auth_cancel;
	}
	return cmd->state;
}

/* Every attempt, LOGIN or any SASL mechanism, goes through here to the
 * pool and auth_job_done. Takes ownership of user and password (NULL
 * unless check is AUTH_CHECK_PASSWORD); reason: AUTH_CHECK_FAILED's. */
static void auth_start(struct imap_cmd *cmd, char *user, char *password, const char *mech,
		       enum auth_check check, const char *reason)
{
	struct imap_session *s = cmd->s;
	struct auth_job *j = xcalloc(1, sizeof(*j));
	j->db = s->info.passdb;
	j->user = user;
	j->password = password;
	j->mech = mech;
	snprintf(j->ip, sizeof(j->ip), "%s", s->peer);
	j->check = check;
	j->reason = reason;
	j->result = PASSDB_FAIL;
	policy_auth_begin(&j->pol, user, s->peer, s->info.trusted);
	/* Password checks share the pool fairly between source prefixes,
	 * and their number queued per prefix is bounded (max_queued_checks).
	 * A check the authentication cache will answer runs no hash: it
	 * queues with the store work instead, so thirty phones behind one
	 * NAT reconnecting at once are not refused as busy, nor wait behind
	 * that prefix's slow checks. */
	j->job.wp.fair_key = j->pol.fair_key;
	if (check == AUTH_CHECK_PASSWORD && j->pol.verdict != POLICY_REFUSE &&
	    passdb_cache_would_hit(j->db, user, password, s->peer))
		j->job.wp.fair_key = 0;
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
	auth_start(cmd, xstrndup(user, ulen), xstrndup(pass, plen), "LOGIN", AUTH_CHECK_PASSWORD,
		   NULL);
}

static void sasl_line(struct imap_cmd *cmd, const char *line, size_t len);

/* Acts on what the exchange asks for next (auth/sasl.h). */
static void sasl_status(struct imap_cmd *cmd, enum sasl_status st)
{
	struct imap_session *s = cmd->s;
	struct auth_cmd *ac = cmd->state;
	struct sasl_exchange *ex = ac->ex;
	const char *mech = sasl_exchange_mech(ex)->name;
	const char *u = sasl_exchange_user(ex);
	char *user = xstrdup(u ? u : "");
	switch (st) {
	case SASL_CONTINUE:
		free(user);
		sess_printf(s, "+ %s", sasl_exchange_challenge(ex));
		sess_wait_line(cmd, sasl_line);
		return;
	case SASL_VERIFY: {
		char *pass = sasl_exchange_take_password(ex);
		auth_exchange_end(ac);
		auth_start(cmd, user, pass, mech, AUTH_CHECK_PASSWORD, NULL);
		return;
	}
	case SASL_OK:
		auth_exchange_end(ac);
		auth_start(cmd, user, NULL, mech, AUTH_CHECK_PASSED, NULL);
		return;
	case SASL_FAIL: {
		const char *reason = sasl_exchange_reason(ex);   /* a static string */
		auth_exchange_end(ac);
		auth_start(cmd, user, NULL, mech, AUTH_CHECK_FAILED, reason);
		return;
	}
	case SASL_BAD:
		free(user);
		bool toobig = sasl_exchange_toobig(ex);
		auth_exchange_end(ac);
		if (toobig)
			sess_tagged(s, "BAD", "[TOOBIG] SASL response too long");
		else
			sess_tagged(s, "BAD", "Invalid SASL response");
		return;
	}
}

void cmd_authenticate(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	const char *name;
	if (nargs < 1 || nargs > 2 || !imap_arg_get_atom(&args[0], &name)) {
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
	const struct sasl_mech *m = sasl_mech_find(name);
	if (!m || !imap_cap_mech_offered(s, m)) {
		sess_tagged(s, "NO", "[CANNOT] Unsupported authentication mechanism");
		return;
	}
	struct sasl_conn conn;
	imap_cap_sasl_conn(s, &conn);
	struct auth_cmd *ac = auth_cmd_state(cmd);
	ac->ex = sasl_exchange_new(m, &conn);
	sasl_status(cmd, sasl_exchange_start(ac->ex, ir, irlen));
}

/* A SASL response line (RFC 9051 6.2.2): "*" cancels. */
static void sasl_line(struct imap_cmd *cmd, const char *line, size_t len)
{
	struct auth_cmd *ac = cmd->state;
	if (len == 1 && line[0] == '*') {
		auth_exchange_end(ac);
		sess_tagged(cmd->s, "BAD", "Authentication cancelled");
		return;
	}
	sasl_status(cmd, sasl_exchange_step(ac->ex, line, len));
}
