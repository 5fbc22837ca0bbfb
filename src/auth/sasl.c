/* Base64 (RFC 4648 section 4) and the SASL PLAIN message (RFC 4616).
 *
 * The decoder is strict on purpose: a client response that is not
 * canonical base64 is a broken or hostile client, and accepting several
 * spellings of the same credentials only widens what has to be tested.
 * RFC 4648 3.3 lets us reject characters outside the alphabet, and 3.5
 * lets us reject non-zero pad bits. */
#include "auth/sasl.h"
#include "core/util.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* RFC 4616 2: authzid and authcid are at most 255 octets. Passwords are
 * bounded by what the users file and the CLI accept. */
#define SASL_PLAIN_ID_MAX 255
#define SASL_PLAIN_PASS_MAX 1024

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long sasl_base64_decode(const char *in, size_t len, unsigned char *out)
{
	if (len == 0)
		return 0;
	if (!in || !out || len % 4 != 0 || len > (size_t)LONG_MAX)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + (size_t)k];
			if (c == '=' && last && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			/* Padding may only end the input, never be followed by data. */
			if (pad)
				return -1;
			v[k] = b64_value(c);
			if (v[k] < 0)
				return -1;
		}
		/* "x===" and "====" are not valid quanta. */
		if (pad == 2 && in[i + 2] != '=')
			return -1;
		uint32_t triple = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
				  (uint32_t)v[3];
		/* RFC 4648 3.5: the bits that padding leaves over must be zero. */
		if ((pad == 1 && (triple & 0xff)) || (pad == 2 && (triple & 0xffff)))
			return -1;
		out[o++] = (unsigned char)(triple >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(triple >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)triple;
	}
	return (long)o;
}

size_t sasl_base64_encode(const unsigned char *in, size_t len, char *out)
{
	size_t o = 0;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t t = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64_alphabet[(t >> 18) & 63];
		out[o++] = b64_alphabet[(t >> 12) & 63];
		out[o++] = b64_alphabet[(t >> 6) & 63];
		out[o++] = b64_alphabet[t & 63];
	}
	if (len - i == 1) {
		uint32_t t = (uint32_t)in[i] << 16;
		out[o++] = b64_alphabet[(t >> 18) & 63];
		out[o++] = b64_alphabet[(t >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t t = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64_alphabet[(t >> 18) & 63];
		out[o++] = b64_alphabet[(t >> 12) & 63];
		out[o++] = b64_alphabet[(t >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
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
