#include "net/tls.h"
#include "core/config.h"
#include "core/log.h"

#include <openssl/err.h>

static void log_ssl_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	ERR_error_string_n(e, buf, sizeof(buf));
	log_err("event=tls_config_error what=\"%s\" error=\"%s\"", what, buf);
}

SSL_CTX *tls_ctx_new(const struct config *cfg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		log_ssl_error("SSL_CTX_new");
		return NULL;
	}
	/* TLS 1.2 is the floor unless the admin raises it (RFC 9051 11.1). */
	int minv = cfg->tls_min_version; /* config_set_defaults: TLS 1.2 */
	if (!SSL_CTX_set_min_proto_version(ctx, minv))
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
	/* Idle connections keep no TLS read/write buffers (DESIGN.md). */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"rampart", 7);
	if (cfg->tls_ciphers && !SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers)) {
		log_ssl_error("ciphers");
		goto fail;
	}
	if (cfg->tls_ciphersuites && !SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites)) {
		log_ssl_error("ciphersuites");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		log_ssl_error(cfg->tls_cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
		log_ssl_error(cfg->tls_key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		log_ssl_error("key does not match certificate");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
