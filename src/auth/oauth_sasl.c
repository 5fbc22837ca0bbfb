/* The two SASL client messages that carry a bearer token, decoded
 * (after the SASL base64), and the one call a mechanism makes per
 * attempt (oauth_check_message).
 *
 * OAUTHBEARER, RFC 7628 3.1:
 *     client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep
 *     gs2-header  = gs2-cbind-flag "," [ authzid ] ","     (RFC 5801 4)
 *     kvpair      = key "=" value kvsep      key = 1*ALPHA
 *     value       = *(VCHAR / SP / HTAB / CR / LF)     kvsep = %x01
 *     auth value  = "Bearer" 1*SP b64token   (RFC 6750 2.1; the scheme is
 *                                             case-insensitive, RFC 7235 2.1)
 * The cbind flag "p=" is refused: OAUTHBEARER has no channel binding
 * (RFC 7628 3.1 says the server must fail a "p" attempt). A bare kvsep is
 * the dummy answer to an error challenge (RFC 7628 3.2.3), not an attempt.
 *
 * XOAUTH2 (Google's "OAuth 2.0 Mechanism" page, no RFC):
 *     "user=" user %x01 "auth=Bearer " token %x01 %x01
 * parsed with the same kvpair grammar, "user" first. */
#include "auth/oauth.h"
#include "core/util.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KVSEP 0x01

bool oauth_is_dummy_response(const unsigned char *msg, size_t len)
{
	return len == 1 && msg[0] == KVSEP;
}

void oauth_secret_free(char *s)
{
	if (!s)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}

static bool oauth_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* RFC 6750 2.1 b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static bool oauth_b64token(const unsigned char *v, size_t len)
{
	size_t i = 0;
	while (i < len && (oauth_alpha(v[i]) || (v[i] >= '0' && v[i] <= '9') || strchr("-._~+/", v[i])))
		i++;
	if (i == 0)
		return false;
	while (i < len && v[i] == '=')
		i++;
	return i == len;
}

/* "Bearer" 1*SP b64token -> the token, malloc'd; NULL when malformed. */
static char *oauth_bearer_value(const unsigned char *v, size_t len)
{
	if (len < 7 || !ascii_ieqn((const char *)v, 6, "Bearer") || v[6] != ' ')
		return NULL;
	size_t i = 6;
	while (i < len && v[i] == ' ')
		i++;
	if (!oauth_b64token(v + i, len - i))
		return NULL;
	return xstrndup((const char *)v + i, len - i);
}

/* kvpairs from msg[*pos] up to and including the final kvsep, which must
 * end the message. Fills *token from "auth" (required, once) and, when
 * user is not NULL, *user from "user" (required, once, the first pair). */
static int oauth_kvpairs(const unsigned char *msg, size_t len, size_t pos, char **user, char **token)
{
	for (bool first = true;; first = false) {
		if (pos >= len)
			return -1;
		if (msg[pos] == KVSEP)
			return pos + 1 == len && *token && (!user || *user) ? 0 : -1;
		size_t k = pos;
		while (pos < len && oauth_alpha(msg[pos]))
			pos++;
		size_t klen = pos - k;
		if (klen == 0 || pos >= len || msg[pos] != '=')
			return -1;
		size_t v = ++pos;
		while (pos < len && msg[pos] != KVSEP) {
			unsigned char c = msg[pos];
			if (!((c >= 0x21 && c <= 0x7e) || c == ' ' || c == '\t' || c == '\r' || c == '\n'))
				return -1;
			pos++;
		}
		if (pos >= len)
			return -1;
		size_t vlen = pos - v;
		pos++;
		const char *key = (const char *)msg + k;
		if (klen == 4 && memcmp(key, "auth", 4) == 0) {
			if (*token || !(*token = oauth_bearer_value(msg + v, vlen)))
				return -1;
		} else if (user && klen == 4 && memcmp(key, "user", 4) == 0) {
			if (!first || vlen == 0 || memchr(msg + v, ' ', vlen) || memchr(msg + v, '\t', vlen) ||
			    memchr(msg + v, '\r', vlen) || memchr(msg + v, '\n', vlen))
				return -1;
			*user = xstrndup((const char *)msg + v, vlen);
		} else if (user && first) {
			return -1; /* XOAUTH2 starts with user= */
		}
		/* other keys (host, port, extensions) are skipped */
	}
}

/* RFC 5801 4 saslname: "=2C" is ',', "=3D" is '='; no other '=', no
 * ',' and no control bytes. Malloc'd, or NULL. */
static char *oauth_saslname(const unsigned char *s, size_t len)
{
	if (len == 0)
		return NULL;
	char *out = xmalloc(len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '=') {
			if (i + 2 < len && s[i + 1] == '2' && (s[i + 2] == 'C' || s[i + 2] == 'c'))
				out[n++] = ',';
			else if (i + 2 < len && s[i + 1] == '3' && (s[i + 2] == 'D' || s[i + 2] == 'd'))
				out[n++] = '=';
			else
				goto bad;
			i += 2;
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			goto bad;
		} else {
			out[n++] = (char)s[i];
		}
	}
	out[n] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

int oauth_parse_oauthbearer(const unsigned char *msg, size_t len, char **authzid, char **token)
{
	*authzid = NULL;
	*token = NULL;
	if (len < 3 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',')
		return -1;
	size_t pos = 2;
	if (len - pos >= 2 && msg[pos] == 'a' && msg[pos + 1] == '=') {
		const unsigned char *comma = memchr(msg + pos + 2, ',', len - pos - 2);
		if (!comma)
			return -1;
		*authzid = oauth_saslname(msg + pos + 2, (size_t)(comma - msg) - pos - 2);
		if (!*authzid)
			return -1;
		pos = (size_t)(comma - msg);
	}
	if (pos + 1 >= len || msg[pos] != ',' || msg[pos + 1] != KVSEP ||
	    oauth_kvpairs(msg, len, pos + 2, NULL, token) < 0) {
		free(*authzid);
		oauth_secret_free(*token);
		*authzid = *token = NULL;
		return -1;
	}
	return 0;
}

int oauth_parse_xoauth2(const unsigned char *msg, size_t len, char **user, char **token)
{
	*user = NULL;
	*token = NULL;
	if (oauth_kvpairs(msg, len, 0, user, token) < 0) {
		free(*user);
		oauth_secret_free(*token);
		*user = *token = NULL;
		return -1;
	}
	return 0;
}

enum oauth_result oauth_check_message(struct oauth *o, enum oauth_mech mech, const unsigned char *msg,
				      size_t len, time_t now, char **user)
{
	*user = NULL;
	char *claimed = NULL, *token = NULL;
	int rc = mech == OAUTH_MECH_XOAUTH2 ? oauth_parse_xoauth2(msg, len, &claimed, &token)
					    : oauth_parse_oauthbearer(msg, len, &claimed, &token);
	if (rc < 0)
		return OAUTH_MALFORMED;
	enum oauth_result r = oauth_validate(o, token, strlen(token), now, user);
	oauth_secret_free(token);
	/* RFC 7628 3.1: an authzid names the user the token must be for; we
	 * offer no proxy authorization, so it must be that user. */
	if (r == OAUTH_OK && claimed && strcmp(claimed, *user) != 0) {
		free(*user);
		*user = NULL;
		r = OAUTH_USER_MISMATCH;
	}
	free(claimed);
	return r;
}
