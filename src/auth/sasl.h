/* SASL mechanisms that carry a password (PLAIN, RFC 4616; LOGIN), decoded
 * from base64 client responses. Only offered after TLS. */
#ifndef RAMPART_AUTH_SASL_H
#define RAMPART_AUTH_SASL_H

#include <stddef.h>

/* Decodes standard base64 (no line breaks). Returns decoded length or -1.
 * out must hold at least len*3/4+3 bytes. */
long sasl_base64_decode(const char *in, size_t len, unsigned char *out);
/* Encodes; out must hold 4*((len+2)/3)+1 bytes. Returns length. */
size_t sasl_base64_encode(const unsigned char *in, size_t len, char *out);

/* PLAIN: "authzid\0authcid\0passwd". Fills malloc'd strings (caller frees
 * all three; *authzid may be "" ). -1 when malformed. */
int sasl_plain_parse(const unsigned char *msg, size_t len, char **authzid, char **authcid,
		     char **passwd);

#endif
