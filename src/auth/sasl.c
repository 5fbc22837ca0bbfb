/* The SASL PLAIN message (RFC 4616), and which base64 a SASL response is
 * read with: the strict decoder of core/base64.c, on purpose, since a
 * client response that is not canonical base64 is a broken or hostile
 * client, and accepting several spellings of the same credentials only
 * widens what has to be tested. */
#include "auth/sasl.h"
#include "core/base64.h"
#include "core/util.h"

#include <string.h>

/* RFC 4616 2: authzid and authcid are at most 255 octets. Passwords are
 * bounded by what the users file and the CLI accept. */
#define SASL_PLAIN_ID_MAX 255
#define SASL_PLAIN_PASS_MAX 1024

/* The strict decoder is the SASL rule: see the file comment. */
long sasl_base64_decode(const char *in, size_t len, unsigned char *out)
{
	return base64_decode_strict(in, len, out);
}

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
