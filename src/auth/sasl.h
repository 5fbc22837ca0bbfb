/* SASL mechanisms that carry a password (PLAIN, RFC 4616; LOGIN), decoded
 * from base64 client responses. Only offered after TLS. */
#ifndef RAMPART_AUTH_SASL_H
#define RAMPART_AUTH_SASL_H

#include <stddef.h>

/* Decodes a client response: base64_decode_strict() (core/base64.h), the
 * SASL rule. Returns decoded length or -1; out must hold len*3/4+3 bytes. */
long sasl_base64_decode(const char *in, size_t len, unsigned char *out);

/* PLAIN: "authzid\0authcid\0passwd". Fills malloc'd strings (caller frees
 * all three; *authzid may be "" ). -1 when malformed. */
int sasl_plain_parse(const unsigned char *msg, size_t len, char **authzid, char **authcid,
		     char **passwd);

#endif
