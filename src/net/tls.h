/* The server's TLS context: certificate, protocol floor, ciphers. */
#ifndef RAMPART_NET_TLS_H
#define RAMPART_NET_TLS_H

#include <openssl/ssl.h>

struct config;

/* Builds the SSL_CTX from the [tls] section. NULL on error (logged). */
SSL_CTX *tls_ctx_new(const struct config *cfg);

#endif
