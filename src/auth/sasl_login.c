/* SASL LOGIN (draft-murchison-sasl-login, never an RFC but what Outlook
 * and old clients send): the server asks "Username:", then "Password:",
 * each answered with one response; an initial response is the username. */
#include "auth/sasl.h"
#include "core/util.h"

#include <string.h>

/* Bounds as PLAIN's (auth/sasl_plain.c). */
#define SASL_LOGIN_USER_MAX 255
#define SASL_LOGIN_PASS_MAX 1024

struct login_state {
	bool have_user;
};

static enum sasl_status login_step(struct sasl_exchange *ex, const unsigned char *in, size_t len)
{
	struct login_state *st = sasl_exchange_state(ex, sizeof(*st));
	if (!in) {
		sasl_exchange_set_challenge(ex, "Username:", 9);
		return SASL_CONTINUE;
	}
	if (memchr(in, '\0', len))
		return SASL_BAD;
	if (!st->have_user) {
		if (len > SASL_LOGIN_USER_MAX)
			return SASL_BAD;
		sasl_exchange_set_user(ex, xstrndup((const char *)in, len));
		st->have_user = true;
		sasl_exchange_set_challenge(ex, "Password:", 9);
		return SASL_CONTINUE;
	}
	if (len > SASL_LOGIN_PASS_MAX)
		return SASL_BAD;
	sasl_exchange_set_password(ex, xstrndup((const char *)in, len));
	return SASL_VERIFY;
}

const struct sasl_mech sasl_mech_login = {
	.name = "LOGIN",
	.flags = SASL_MECH_PASSWORD,
	.cred = SASL_CRED_PASSWORD,
	.step = login_step,
};
