/* The server's TLS policy, in one place:
 *  - contexts: TLS 1.2 at least (RFC 9051 11.1, RFC 8996 deprecates 1.0
 *    and 1.1), TLS 1.2 limited to ECDHE with AEAD unless [tls] ciphers
 *    says otherwise, TLS 1.3 with OpenSSL's suites;
 *  - SNI (RFC 6066 3): [certificate NAME] sections, each its own SSL_CTX,
 *    chosen by exact name first, then by "*.domain" (one label, RFC 6125
 *    6.4.3); an unknown or missing name gets [tls] cert;
 *  - session tickets (RFC 5077, RFC 8446 4.6.1) under keys that Rampart
 *    rotates every ticket_key_lifetime seconds; a ticket made under the
 *    previous key is still accepted and renewed, so a key lives at most
 *    twice the lifetime, then forward secrecy is back;
 *  - reload (SIGHUP): a new context for new connections; an SSL holds a
 *    reference to its context, so existing connections keep theirs;
 *  - the log line of a failed handshake, with what the client offered as
 *    seen by the client hello callback.
 * The SNI table and ticket keys hang off the default context (ex_data):
 * they live exactly as long as the last connection that may use them. */
#include "net/tls.h"
#include "net/net_internal.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct tls_ticket_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
	bool valid;
};

struct tls_sni {
	const char *pattern;         /* from the config: "mail.example.org", "*.example.net" */
	SSL_CTX *ctx;
};

/* What one default context owns besides itself. */
struct tls_set {
	pthread_mutex_t lock;        /* ticket keys: callbacks run on every worker */
	struct tls_ticket_key keys[2]; /* [0] encrypts new tickets, [1] the previous one */
	time_t rotated_at;
	unsigned lifetime;
	struct tls_sni *sni;
	size_t nsni;
};

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_idx_owner = -1;   /* on the default context: frees the set */
static int tls_idx_ref = -1;     /* on every context: the set, not owned */
static int tls_idx_hello = -1;   /* on an SSL: its struct tls_hello, not owned */
/* Guards the server's current context against a concurrent reload. */
static pthread_mutex_t tls_swap_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_ssl_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	ERR_error_string_n(e, buf, sizeof(buf));
	log_err("event=tls_config_error what=\"%s\" error=\"%s\"", what, buf);
	ERR_clear_error();
}

static void tls_set_free(struct tls_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->nsni; i++)
		SSL_CTX_free(set->sni[i].ctx);
	free(set->sni);
	pthread_mutex_destroy(&set->lock);
	OPENSSL_cleanse(set->keys, sizeof(set->keys));
	free(set);
}

static void tls_set_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	tls_set_free(ptr);
}

static void tls_init_once(void)
{
	tls_idx_owner = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, tls_set_ex_free);
	tls_idx_ref = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	tls_idx_hello = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (tls_idx_owner < 0 || tls_idx_ref < 0 || tls_idx_hello < 0)
		fatal("SSL_CTX_get_ex_new_index failed");
}

static struct tls_set *tls_set_of(SSL *s)
{
	return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(s), tls_idx_ref);
}

/* ---- session tickets ---- */

static int tls_ticket_key_make(struct tls_ticket_key *k)
{
	if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
	    RAND_bytes(k->hmac, sizeof(k->hmac)) != 1)
		return -1;
	k->valid = true;
	return 0;
}

/* Called with set->lock held. */
static void tls_ticket_rotate(struct tls_set *set, time_t now)
{
	if (set->keys[0].valid && now - set->rotated_at < (time_t)set->lifetime)
		return;
	set->keys[1] = set->keys[0];
	if (tls_ticket_key_make(&set->keys[0]) < 0) {
		/* No fresh key: issue no tickets rather than keep an old one. */
		set->keys[0].valid = false;
		return;
	}
	set->rotated_at = now;
}

/* OpenSSL's ticket callback (SSL_CTX_set_tlsext_ticket_key_evp_cb):
 * AES-256-CBC and HMAC-SHA256 over the ticket, under our rotating keys.
 * Returns 1 (use), 2 (accepted, but issue a fresh ticket: made under the
 * previous key), 0 (unknown key: full handshake), -1 (error). */
static int tls_ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *ectx,
			 EVP_MAC_CTX *hctx, int enc)
{
	struct tls_set *set = tls_set_of(s);
	if (!set)
		return -1;
	struct tls_ticket_key k;
	int rc = 1;
	pthread_mutex_lock(&set->lock);
	tls_ticket_rotate(set, time(NULL));
	if (enc) {
		k = set->keys[0];
	} else {
		rc = 0;
		for (int i = 0; i < 2 && rc == 0; i++) {
			if (set->keys[i].valid && memcmp(set->keys[i].name, key_name, 16) == 0) {
				k = set->keys[i];
				rc = i == 0 ? 1 : 2;
			}
		}
	}
	pthread_mutex_unlock(&set->lock);
	if (enc && !k.valid)
		rc = 0;
	if (rc == 0)
		goto out;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof(k.hmac)),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (enc) {
		memcpy(key_name, k.name, 16);
		if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1 ||
		    EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
			rc = -1;
	} else if (EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1) {
		rc = -1;
	}
	if (rc > 0 && EVP_MAC_CTX_set_params(hctx, params) != 1)
		rc = -1;
out:
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

/* ---- SNI ---- */

/* RFC 6125 6.4.3: "*.example.net" stands for exactly one label. */
static bool tls_sni_match(const char *pattern, const char *name, bool wildcard)
{
	if (!wildcard)
		return pattern[0] != '*' && strcasecmp(pattern, name) == 0;
	if (strncmp(pattern, "*.", 2) != 0)
		return false;
	const char *dot = strchr(name, '.');
	return dot && dot != name && strcasecmp(pattern + 1, dot) == 0;
}

static int tls_servername_cb(SSL *s, int *alert, void *arg)
{
	(void)alert;
	(void)arg;
	struct tls_set *set = tls_set_of(s);
	const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
	if (!set || !name || !*name)
		return SSL_TLSEXT_ERR_OK;
	for (int wild = 0; wild < 2; wild++) {
		for (size_t i = 0; i < set->nsni; i++) {
			if (tls_sni_match(set->sni[i].pattern, name, wild)) {
				if (!SSL_set_SSL_CTX(s, set->sni[i].ctx))
					return SSL_TLSEXT_ERR_ALERT_FATAL;
				return SSL_TLSEXT_ERR_OK;
			}
		}
	}
	/* Unknown names get the default certificate: no alert (RFC 6066 3
	 * leaves the choice to the server; a warning breaks some clients). */
	return SSL_TLSEXT_ERR_OK;
}

/* ---- what the client offered ---- */

static void tls_hello_sni(struct tls_hello *h, SSL *s)
{
	const unsigned char *p;
	size_t len;
	/* RFC 6066 3: list length (2), type (1) = host_name, length (2), name. */
	if (!SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &p, &len) || len < 5 || p[2] != 0)
		return;
	size_t n = ((size_t)p[3] << 8) | p[4];
	if (n > len - 5)
		n = len - 5;
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < sizeof(h->sni); i++) {
		unsigned char c = p[5 + i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '-' || c == '_';
		h->sni[o++] = ok ? (char)c : '?';
	}
	h->sni[o] = '\0';
}

static int tls_client_hello_cb(SSL *s, int *alert, void *arg)
{
	(void)alert;
	(void)arg;
	struct tls_hello *h = SSL_get_ex_data(s, tls_idx_hello);
	if (!h)
		return SSL_CLIENT_HELLO_SUCCESS;
	h->seen = true;
	h->version = (int)SSL_client_hello_get0_legacy_version(s);
	const unsigned char *p;
	size_t len;
	/* RFC 8446 4.2.1: the real offer is supported_versions; GREASE values
	 * (RFC 8701: 0x?A?A) are not versions. */
	if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_supported_versions, &p, &len) && len >= 1) {
		for (size_t i = 1; i + 1 < len && i < 1u + p[0]; i += 2) {
			int v = (p[i] << 8) | p[i + 1];
			if ((v & 0x0f0f) != 0x0a0a && v > h->version)
				h->version = v;
		}
	}
	len = SSL_client_hello_get0_ciphers(s, &p);
	h->nciphers = (unsigned)(len / 2);
	size_t o = 0;
	for (size_t i = 0; i + 1 < len && o < sizeof(h->ciphers) - 1; i += 2) {
		const SSL_CIPHER *c = SSL_CIPHER_find(s, p + i);
		if (!c)
			continue;
		int n = snprintf(h->ciphers + o, sizeof(h->ciphers) - o, "%s%s", o ? "," : "",
				 SSL_CIPHER_get_name(c));
		if (n < 0 || (size_t)n >= sizeof(h->ciphers) - o) {
			h->ciphers[o] = '\0';
			break;
		}
		o += (size_t)n;
	}
	tls_hello_sni(h, s);
	return SSL_CLIENT_HELLO_SUCCESS;
}

static const char *tls_version_name(int v)
{
	switch (v) {
	case TLS1_3_VERSION: return "TLSv1.3";
	case TLS1_2_VERSION: return "TLSv1.2";
	case TLS1_1_VERSION: return "TLSv1.1";
	case TLS1_VERSION: return "TLSv1.0";
	case SSL3_VERSION: return "SSLv3";
	default: return "unknown";
	}
}

void tls_log_handshake_failed(const char *peer, const struct tls_hello *h, unsigned long err,
			      const char *why)
{
	char reason[128];
	if (err) {
		const char *r = ERR_reason_error_string(err);
		snprintf(reason, sizeof(reason), "%s", r ? r : "unknown");
	} else {
		snprintf(reason, sizeof(reason), "%s", why ? why : "closed");
	}
	if (!h || !h->seen) {
		/* Nothing offered: a port probe or a load balancer's TCP health
		 * check, not worth a line at the default level. */
		log_debug("event=tls_handshake_failed ip=%s sni= version= ciphers_offered=0 "
			  "reason=\"%s\"", peer, reason);
		return;
	}
	log_info("event=tls_handshake_failed ip=%s sni=%s version=%s ciphers_offered=%u ciphers=\"%s\" "
		 "reason=\"%s\"", peer, h->sni, tls_version_name(h->version), h->nciphers, h->ciphers,
		 reason);
}

/* ---- contexts ---- */

/* What every context shares: protocol floor, options, ciphers. */
static SSL_CTX *tls_ctx_base(const struct config *cfg, struct tls_set *set)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		log_ssl_error("SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_ex_data(ctx, tls_idx_ref, set);
	/* TLS 1.2 is the floor unless the admin raises it (RFC 9051 11.1). */
	if (!SSL_CTX_set_min_proto_version(ctx, cfg->tls_min_version))
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Idle connections keep no TLS read/write buffers (DESIGN.md). */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	const char *ciphers = cfg->tls_ciphers ? cfg->tls_ciphers : TLS_CIPHERS_MODERN;
	if (!SSL_CTX_set_cipher_list(ctx, ciphers)) {
		log_ssl_error("ciphers");
		goto fail;
	}
	if (cfg->tls_ciphersuites && !SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites)) {
		log_ssl_error("ciphersuites");
		goto fail;
	}
	if (cfg->tls_session_tickets) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
		SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"rampart", 7);
		/* A session (and so its ticket's lifetime hint) lasts one key
		 * period; OpenSSL refuses older ones. */
		SSL_CTX_set_timeout(ctx, (long)cfg->tls_ticket_key_lifetime);
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb);
	} else {
		/* No resumption at all: no tickets, no server-side cache. */
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int tls_ctx_load_pair(SSL_CTX *ctx, const char *cert, const char *key)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		log_ssl_error(cert);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		log_ssl_error(key);
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		log_ssl_error("key does not match certificate");
		return -1;
	}
	return 0;
}

/* Certificates are re-read on SIGHUP, after the privilege drop: say at
 * start (as root) when the run user will not be able to read one, rather
 * than let the first reload fail. */
static void tls_check_reloadable(const struct config *cfg, const char *path)
{
	if (geteuid() != 0 || !cfg->run_user)
		return;
	struct passwd *pw = getpwnam(cfg->run_user);
	struct stat st;
	if (!pw || stat(path, &st) < 0)
		return;
	gid_t gid = pw->pw_gid;
	struct group *gr = cfg->run_group ? getgrnam(cfg->run_group) : NULL;
	if (gr)
		gid = gr->gr_gid;
	bool ok = (st.st_uid == pw->pw_uid && (st.st_mode & S_IRUSR)) ||
		  (st.st_gid == gid && (st.st_mode & S_IRGRP)) || (st.st_mode & S_IROTH);
	if (!ok)
		log_warn("event=startup_warning msg=\"the server user cannot read this file: SIGHUP "
			 "will keep the certificates loaded now\" path=%s user=%s "
			 "hint=\"chgrp the file to the server's group and chmod 0640\"", path,
			 cfg->run_user);
}

SSL_CTX *tls_ctx_new(const struct config *cfg)
{
	pthread_once(&tls_once, tls_init_once);
	struct tls_set *set = xcalloc(1, sizeof(*set));
	pthread_mutex_init(&set->lock, NULL);
	set->lifetime = cfg->tls_ticket_key_lifetime;
	SSL_CTX *ctx = tls_ctx_base(cfg, set);
	if (!ctx) {
		tls_set_free(set);
		return NULL;
	}
	/* From here the context owns the set. */
	SSL_CTX_set_ex_data(ctx, tls_idx_owner, set);
	if (tls_ctx_load_pair(ctx, cfg->tls_cert, cfg->tls_key) < 0)
		goto fail;
	tls_check_reloadable(cfg, cfg->tls_cert);
	tls_check_reloadable(cfg, cfg->tls_key);
	SSL_CTX_set_client_hello_cb(ctx, tls_client_hello_cb, NULL);
	set->sni = xcalloc(cfg->nsni_certs + 1, sizeof(*set->sni));
	for (size_t i = 0; i < cfg->nsni_certs; i++) {
		const struct sni_cert_config *sc = &cfg->sni_certs[i];
		SSL_CTX *sctx = tls_ctx_base(cfg, set);
		if (!sctx)
			goto fail;
		if (tls_ctx_load_pair(sctx, sc->cert, sc->key) < 0) {
			SSL_CTX_free(sctx);
			goto fail;
		}
		tls_check_reloadable(cfg, sc->cert);
		tls_check_reloadable(cfg, sc->key);
		/* One context per section, one table row per name. */
		for (size_t j = 0; j < sc->nnames; j++) {
			if (j)
				SSL_CTX_up_ref(sctx);
			set->sni = xrealloc(set->sni, (set->nsni + 1) * sizeof(*set->sni));
			set->sni[set->nsni++] = (struct tls_sni){ sc->names[j], sctx };
		}
	}
	if (set->nsni)
		SSL_CTX_set_tlsext_servername_callback(ctx, tls_servername_cb);
	if (cfg->tls_session_tickets) {
		pthread_mutex_lock(&set->lock);
		tls_ticket_rotate(set, time(NULL));
		pthread_mutex_unlock(&set->lock);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL *tls_ssl_new(struct server *srv, struct tls_hello *hello)
{
	pthread_once(&tls_once, tls_init_once);
	pthread_mutex_lock(&tls_swap_lock);
	SSL *ssl = srv->ssl_ctx ? SSL_new(srv->ssl_ctx) : NULL;
	pthread_mutex_unlock(&tls_swap_lock);
	if (ssl && hello)
		SSL_set_ex_data(ssl, tls_idx_hello, hello);
	return ssl;
}

/* SIGHUP: certificates and keys are read again into a new context; the
 * old one is released by the server and lives on in the connections that
 * use it. On any error the old context stays. */
int server_tls_reload(struct server *srv)
{
	if (!srv || !srv->ssl_ctx)
		return 0;
	SSL_CTX *n = tls_ctx_new(srv->cfg);
	if (!n) {
		log_err("event=reload_failed what=tls msg=\"keeping the certificates loaded before\"");
		return -1;
	}
	pthread_mutex_lock(&tls_swap_lock);
	SSL_CTX *old = srv->ssl_ctx;
	srv->ssl_ctx = n;
	pthread_mutex_unlock(&tls_swap_lock);
	SSL_CTX_free(old);
	log_info("event=reload what=tls certificates=%zu", 1 + srv->cfg->nsni_certs);
	return 0;
}
