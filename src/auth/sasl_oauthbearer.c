/* SASL OAUTHBEARER (RFC 7628) on the SASL framework: a thin mechanism.
 * The message format, the JWT checks and the error JSON belong to
 * auth/oauth.c; this file adds what a login needs besides a valid token
 * (the token's user exists in the users file) and the RFC 7628 3.2.2
 * failure: the error JSON sent as a challenge, the client's answer (the
 * single %x01 of 3.2.3, or anything) failed like a wrong password. The
 * same step serves XOAUTH2 (auth/sasl_xoauth2.c). */
#include "auth/sasl.h"
#include "auth/sasl_internal.h"
#include "auth/oauth.h"
#include "auth/passdb.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum sasl_status sasl_oauth_step(struct sasl_exchange *ex, const unsigned char *in, size_t len,
				 enum oauth_mech mech)
{
	const struct sasl_conn *c = sasl_exchange_conn(ex);
	/* RFC 7628 3.1: the client sends first; without an initial
	 * response the challenge is empty. */
	if (!in)
		return SASL_CONTINUE;
	if (!c->oauth)
		return sasl_exchange_fail(ex, "oauth_off");   /* not offered, see sasl_mech_usable */
	char *user = NULL;
	enum oauth_result r = oauth_check_message(c->oauth, mech, in, len, time(NULL), &user);
	const char *reason = r == OAUTH_OK ? NULL : oauth_result_reason(r);
	struct passdb_user u;
	if (!reason && (!c->passdb || !passdb_user_get(c->passdb, user, &u))) {
		reason = "unknown_user";
	} else if (!reason) {
		/* allow_nets binds every mechanism (auth/passdb.h) */
		if (!passdb_user_source_allowed(&u, c->ip))
			reason = "source_not_allowed";
		passdb_user_clear(&u);
	}
	sasl_exchange_set_user(ex, user);
	if (!reason)
		return SASL_OK;
	sasl_exchange_fail(ex, reason);
	char *json = oauth_error_json(c->oauth, mech);
	enum sasl_status st = sasl_exchange_final(ex, json, strlen(json), SASL_FAIL);
	free(json);
	return st;
}

static enum sasl_status oauthbearer_step(struct sasl_exchange *ex, const unsigned char *in,
					 size_t len)
{
	return sasl_oauth_step(ex, in, len, OAUTH_MECH_OAUTHBEARER);
}

const struct sasl_mech sasl_mech_oauthbearer = {
	.name = "OAUTHBEARER",
	.flags = 0,
	.cred = SASL_CRED_TOKEN,
	.step = oauthbearer_step,
};
