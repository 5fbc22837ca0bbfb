/* SASL XOAUTH2 (Google's pre-RFC 7628 mechanism, still what many mail
 * clients send): "user=" U %x01 "auth=Bearer " TOKEN %x01 %x01, parsed and
 * checked by auth/oauth.c. The step is OAUTHBEARER's
 * (auth/sasl_oauthbearer.c); on failure the error JSON is Google's form
 * and the client answers it with an empty response. */
#include "auth/sasl.h"
#include "auth/sasl_internal.h"
#include "auth/oauth.h"

static enum sasl_status xoauth2_step(struct sasl_exchange *ex, const unsigned char *in, size_t len)
{
	return sasl_oauth_step(ex, in, len, OAUTH_MECH_XOAUTH2);
}

const struct sasl_mech sasl_mech_xoauth2 = {
	.name = "XOAUTH2",
	.flags = 0,
	.cred = SASL_CRED_TOKEN,
	.step = xoauth2_step,
};
