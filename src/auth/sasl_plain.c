/* SASL PLAIN (RFC 4616): the whole exchange is one client message with
 * the password in it, so the mechanism only parses it and asks the
 * protocol to verify the password (SASL_VERIFY). No proxy authorization:
 * the authzid must be empty or the authcid itself. */
#include "auth/sasl.h"
#include "core/util.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* RFC 4616 2: authzid and authcid are at most 255 octets. Passwords are
 * bounded by what the users file and the CLI accept. */
#define SASL_PLAIN_ID_MAX 255
#define SASL_PLAIN_PASS_MAX 1024

int sasl_plain_parse(const unsigned char *msg, size_t len, char **authzid, char **authcid,
		     char **passwd)
{
	*authzid = *authcid = *passwd = NULL;
	if (!msg)
		return -1;
	/* RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd,
	 * so exactly two NULs; a third would sit inside the password, which
	 * the grammar forbids. */
	const unsigned char *nul1 = memchr(msg, '\0', len);
	if (!nul1)
		return -1;
	size_t zlen = (size_t)(nul1 - msg);
	const unsigned char *cstart = nul1 + 1;
	size_t rest = len - zlen - 1;
	const unsigned char *nul2 = memchr(cstart, '\0', rest);
	if (!nul2)
		return -1;
	size_t clen = (size_t)(nul2 - cstart);
	const unsigned char *pstart = nul2 + 1;
	size_t plen = rest - clen - 1;
	if (memchr(pstart, '\0', plen))
		return -1;
	if (zlen > SASL_PLAIN_ID_MAX || clen == 0 || clen > SASL_PLAIN_ID_MAX || plen == 0 ||
	    plen > SASL_PLAIN_PASS_MAX)
		return -1;
	*authzid = xstrndup((const char *)msg, zlen);
	*authcid = xstrndup((const char *)cstart, clen);
	*passwd = xstrndup((const char *)pstart, plen);
	return 0;
}

static enum sasl_status plain_step(struct sasl_exchange *ex, const unsigned char *in, size_t len)
{
	/* RFC 4616 2: the client sends first; without an initial response
	 * the server's challenge is empty. */
	if (!in)
		return SASL_CONTINUE;
	char *authz, *authc, *pass;
	if (sasl_plain_parse(in, len, &authz, &authc, &pass) < 0)
		return SASL_BAD;
	bool authz_ok = !authz[0] || strcmp(authz, authc) == 0;
	free(authz);
	sasl_exchange_set_user(ex, authc);
	if (!authz_ok) {
		sodium_memzero(pass, strlen(pass));
		free(pass);
		return sasl_exchange_fail(ex, "authzid");
	}
	sasl_exchange_set_password(ex, pass);
	return SASL_VERIFY;
}

const struct sasl_mech sasl_mech_plain = {
	.name = "PLAIN",
	.flags = SASL_MECH_PASSWORD,
	.cred = SASL_CRED_PASSWORD,
	.step = plain_step,
};
