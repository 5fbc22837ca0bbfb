/* The server's TLS policy: contexts (protocol floor, ciphers, one
 * certificate per SNI name), session-ticket keys and their rotation, the
 * swap of contexts on reload, and the log line of a failed handshake. */
#ifndef RAMPART_NET_TLS_H
#define RAMPART_NET_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>

struct config;
struct server;

/* Rampart's TLS 1.2 list when [tls] ciphers is unset: ECDHE key exchange
 * with AEAD only (no CBC, no SHA-1 MAC, no RSA key exchange, no DHE). */
#define TLS_CIPHERS_MODERN                                                  \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"        \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"        \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* What a client offered in its ClientHello, kept for the log line of a
 * handshake that fails (filled by the client hello callback). */
struct tls_hello {
	bool seen;
	int version;                 /* highest version offered */
	unsigned nciphers;           /* cipher suites offered */
	char ciphers[96];            /* the first few, by name */
	char sni[80];                /* server name, sanitised; "" if none */
};

/* Builds the default SSL_CTX from [tls] with every [certificate NAME]
 * attached for SNI. NULL on error (logged). The SNI contexts and the
 * ticket keys live as long as the returned context (its ex_data). */
SSL_CTX *tls_ctx_new(const struct config *cfg);

/* A new SSL for an accepted connection, from the server's context of the
 * moment; hello (owned by the caller, outliving the SSL) records what the
 * client offers. NULL on error. Any thread. */
SSL *tls_ssl_new(struct server *srv, struct tls_hello *hello);

/* One line, event=tls_handshake_failed, for a handshake that did not
 * finish: what the client offered and why (err: the OpenSSL error, 0 for
 * a connection closed or timed out during the handshake). */
void tls_log_handshake_failed(const char *peer, const struct tls_hello *hello, unsigned long err,
			      const char *why);

#endif
