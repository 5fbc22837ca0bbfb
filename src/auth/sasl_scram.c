/* SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677) over the
 * stored keys of auth/scram_cred.h: the server never sees the password,
 * and the client proves it knows it without sending it.
 *
 * Channel binding (RFC 5802 6): the -PLUS mechanism binds the exchange
 * to the TLS connection with "tls-exporter" (RFC 9266, TLS 1.3) or
 * "tls-server-end-point" (RFC 5929 4.1); the c= attribute must equal the
 * gs2-header followed by the binding data exactly, which is what a
 * man-in-the-middle terminating TLS cannot produce (a 2026 Dovecot CVE
 * accepted a -PLUS exchange whose binding was claimed, not checked).
 *
 * Unknown users get a salt derived from a per-process secret and the
 * name, the default iteration count, and keys nobody knows: they fail at
 * the proof, with the same work and answer as a wrong password. So do
 * users without stored keys and users limited to app passwords (whose
 * keys come from the primary password); the log says why.
 *
 * Usernames: the users file holds only ASCII names, for which SASLprep
 * (RFC 4013) is the identity; "=2C" and "=3D" are unescaped (RFC 5802
 * 5.1). Any other name matches no user. SCRAM-SHA-1 is not implemented:
 * no SHA-1 keys are stored. */
#include "auth/sasl.h"
#include "auth/passdb.h"
#include "auth/scram_cred.h"
#include "core/base64.h"
#include "core/util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCRAM_NAME_MAX 255      /* as passdb_username_valid */
#define SCRAM_CNONCE_MAX 255
#define SCRAM_SNONCE_BYTES 24   /* 32 base64 characters, no ',' */
#define SCRAM_CBIND_MAX 64      /* SHA-512 of a certificate is the largest */
#define SCRAM_GS2_MAX (2 + 32 + 2 + 3 * SCRAM_NAME_MAX + 2)

struct scram_state {
	bool first_done;
	char gs2[SCRAM_GS2_MAX + 1];  /* the gs2-header, both commas included */
	size_t gs2_len;
	unsigned char cbind[SCRAM_CBIND_MAX];
	size_t cbind_len;
	char *client_first_bare;
	char *server_first;
	char *nonce;                  /* c-nonce s-nonce */
	struct scram_cred cred;
	const char *fail;             /* fail at the proof with this reason */
};

static void scram_state_free(void *p)
{
	struct scram_state *st = p;
	free(st->client_first_bare);
	free(st->server_first);
	free(st->nonce);
	sodium_memzero(st, sizeof(*st));
	free(st);
}

/* ---- the fake salt of unknown users ---- */

static unsigned char scram_secret[32];
static pthread_once_t scram_secret_once = PTHREAD_ONCE_INIT;

static void scram_secret_init(void)
{
	if (RAND_bytes(scram_secret, sizeof(scram_secret)) != 1)
		abort();   /* no randomness: nothing here can be safe */
}

/* Deterministic per name, so asking twice gives the same salt, as for a
 * real user; unpredictable without the process's secret. */
static void scram_fake_cred(const char *user, struct scram_cred *c)
{
	pthread_once(&scram_secret_once, scram_secret_init);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	memset(c, 0, sizeof(*c));
	HMAC(EVP_sha256(), scram_secret, sizeof(scram_secret), (const unsigned char *)user,
	     strlen(user), mac, &n);
	memcpy(c->salt, mac, SCRAM_SALT_LEN);
	c->salt_len = SCRAM_SALT_LEN;
	c->iter = SCRAM_ITER_DEFAULT;
	if (RAND_bytes(c->stored_key, sizeof(c->stored_key)) != 1 ||
	    RAND_bytes(c->server_key, sizeof(c->server_key)) != 1)
		abort();
}

/* The user's stored keys, or fake ones with st->fail set. */
static void scram_lookup(struct sasl_exchange *ex, struct scram_state *st, const char *user)
{
	struct passdb *db = sasl_exchange_conn(ex)->passdb;
	struct passdb_user u;
	if (!db || !passdb_user_get(db, user, &u)) {
		st->fail = "bad_credentials";
		scram_fake_cred(user, &st->cred);
		return;
	}
	char *field = passdb_fields_get(u.fields, SCRAM_SHA256_FIELD);
	char *apo = passdb_fields_get(u.fields, "app_passwords_only");
	if (!field || scram_cred_parse(field, &st->cred) < 0) {
		st->fail = "no_scram_keys";
		scram_fake_cred(user, &st->cred);
	} else if (apo && (strcasecmp(apo, "yes") == 0 || strcasecmp(apo, "true") == 0 ||
			   strcmp(apo, "1") == 0)) {   /* what passdb_authenticate reads as yes */
		st->fail = "app_passwords_only";
	} else if (!passdb_user_source_allowed(&u, sasl_exchange_conn(ex)->ip)) {
		st->fail = "source_not_allowed";
	}
	free(field);
	free(apo);
	passdb_user_clear(&u);
}

/* ---- parsing ---- */

/* saslname (RFC 5802 7): no ',' (the caller split on it), "=2C" and
 * "=3D" for ',' and '='. NULL when malformed, too long or not printable
 * ASCII (such a name can match no user; refusing it keeps logs clean). */
static char *scram_unescape(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t j = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '=') {
			if (i + 2 < len && s[i + 1] == '2' && s[i + 2] == 'C')
				c = ',';
			else if (i + 2 < len && s[i + 1] == '3' && s[i + 2] == 'D')
				c = '=';
			else
				goto bad;
			i += 2;
		} else if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7e) {
			goto bad;
		}
		out[j++] = c;
	}
	if (j == 0 || j > SCRAM_NAME_MAX)
		goto bad;
	out[j] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* Splits "a=value" at the next ',' from *p: sets *val and *vlen, advances *p
 * past the comma (or to the end). false when the attribute is not `a`. */
static bool scram_attr(const char **p, const char *end, char a, const char **val, size_t *vlen)
{
	const char *s = *p;
	if (end - s < 2 || s[0] != a || s[1] != '=')
		return false;
	s += 2;
	const char *comma = memchr(s, ',', (size_t)(end - s));
	*val = s;
	*vlen = (size_t)((comma ? comma : end) - s);
	*p = comma ? comma + 1 : end;
	return true;
}

static bool scram_nonce_ok(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
			return false;
	return true;
}

/* The gs2-header (RFC 5802 7): sets st->gs2, checks the binding flag
 * against the mechanism and the connection (a refusal goes to *fail, so
 * the caller still reads the username for the log), and fetches the
 * binding data. Returns the position after it, or NULL when malformed. */
static const char *scram_gs2(struct sasl_exchange *ex, struct scram_state *st, const char *msg,
			     const char *end, char **authzid, const char **fail)
{
	const struct sasl_conn *conn = sasl_exchange_conn(ex);
	bool plus = sasl_exchange_mech(ex)->flags & SASL_MECH_CBIND;
	const char *p = msg;
	const char *val;
	size_t vlen;
	char flag = *p;
	char cbname[33] = "";
	if ((flag == 'n' || flag == 'y') && end - p >= 2 && p[1] == ',') {
		p += 2;
	} else if (flag == 'p' && scram_attr(&p, end, 'p', &val, &vlen)) {
		if (vlen == 0 || vlen >= sizeof(cbname) || p == end)
			return NULL;
		for (size_t i = 0; i < vlen; i++)
			if (!((val[i] >= 'a' && val[i] <= 'z') || (val[i] >= 'A' && val[i] <= 'Z') ||
			      (val[i] >= '0' && val[i] <= '9') || val[i] == '.' || val[i] == '-'))
				return NULL;
		memcpy(cbname, val, vlen);
	} else {
		return NULL;
	}
	/* [ "a=" saslname ] "," */
	*authzid = NULL;
	if (p < end && *p == ',') {
		p++;
	} else if (scram_attr(&p, end, 'a', &val, &vlen)) {
		if (p == end || !(*authzid = scram_unescape(val, vlen)))
			return NULL;
	} else {
		return NULL;
	}
	st->gs2_len = (size_t)(p - msg);
	if (st->gs2_len > SCRAM_GS2_MAX)
		return NULL;
	memcpy(st->gs2, msg, st->gs2_len);

	/* RFC 5802 6 */
	*fail = NULL;
	if (flag == 'p') {
		if (!plus) {
			*fail = "channel_binding_without_plus";
			return p;
		}
		long n = -1;
		if ((strcmp(cbname, "tls-exporter") == 0 || strcmp(cbname, "tls-server-end-point") == 0) &&
		    conn->channel_binding)
			n = conn->channel_binding(conn->channel_binding_arg, cbname, st->cbind,
						  sizeof(st->cbind));
		if (n <= 0)
			*fail = "channel_binding_type";
		else
			st->cbind_len = (size_t)n;
	} else if (plus) {
		*fail = "channel_binding_missing";
	} else if (flag == 'y' && conn->plus_offered) {
		/* The client could bind and believes we cannot, yet we offered
		 * -PLUS: someone removed it from what the client saw. */
		*fail = "channel_binding_downgrade";
	}
	return p;
}

/* client-first-message (RFC 5802 7). */
static enum sasl_status scram_first(struct sasl_exchange *ex, struct scram_state *st,
				    const char *msg, size_t len)
{
	const char *end = msg + len;
	char *authzid = NULL, *user = NULL;
	enum sasl_status status = SASL_BAD;
	const char *fail = NULL;
	const char *p = scram_gs2(ex, st, msg, end, &authzid, &fail);
	if (!p)
		goto out;
	const char *bare = p, *val, *nonce;
	size_t vlen, nlen;
	/* RFC 5802 5.1: "m" announces a mandatory extension we do not know,
	 * so the authentication must fail. */
	if (end - p >= 2 && p[0] == 'm' && p[1] == '=') {
		status = sasl_exchange_fail(ex, "mandatory_extension");
		goto out;
	}
	if (!scram_attr(&p, end, 'n', &val, &vlen) || !(user = scram_unescape(val, vlen)))
		goto out;
	if (!scram_attr(&p, end, 'r', &nonce, &nlen) || !scram_nonce_ok(nonce, nlen, SCRAM_CNONCE_MAX))
		goto out;
	if (p != end || nonce + nlen != end) {
		/* extensions after the nonce: none is defined that we could honour */
		status = sasl_exchange_fail(ex, "extension");
		goto out;
	}
	sasl_exchange_set_user(ex, xstrndup(user, strlen(user)));
	if (fail) {
		status = sasl_exchange_fail(ex, fail);
		goto out;
	}
	if (authzid && strcmp(authzid, user) != 0) {
		status = sasl_exchange_fail(ex, "authzid");
		goto out;
	}
	scram_lookup(ex, st, user);

	unsigned char rnd[SCRAM_SNONCE_BYTES];
	char snonce[BASE64_ENCODED_SIZE(SCRAM_SNONCE_BYTES)];
	char salt[BASE64_ENCODED_SIZE(SCRAM_SALT_MAX)];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		abort();
	base64_encode(rnd, sizeof(rnd), snonce);
	base64_encode(st->cred.salt, st->cred.salt_len, salt);
	st->client_first_bare = xstrndup(bare, (size_t)(end - bare));
	st->nonce = xasprintf("%.*s%s", (int)nlen, nonce, snonce);
	st->server_first = xasprintf("r=%s,s=%s,i=%u", st->nonce, salt, st->cred.iter);
	sasl_exchange_set_challenge(ex, st->server_first, strlen(st->server_first));
	st->first_done = true;
	status = SASL_CONTINUE;
out:
	free(authzid);
	free(user);
	return status;
}

int sasl_scram_verify(const struct scram_cred *c, const char *auth_msg, size_t len,
		      const unsigned char *proof, unsigned char *server_sig)
{
	unsigned char sig[EVP_MAX_MD_SIZE], key[SCRAM_SHA256_LEN], stored[EVP_MAX_MD_SIZE];
	unsigned int n = 0, m = 0, k = 0;
	int rc = -1;
	/* RFC 5802 3: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage),
	 * and H(ClientKey) must be StoredKey. */
	if (!HMAC(EVP_sha256(), c->stored_key, SCRAM_SHA256_LEN, (const unsigned char *)auth_msg, len,
		  sig, &n) || n != SCRAM_SHA256_LEN)
		goto out;
	for (size_t i = 0; i < SCRAM_SHA256_LEN; i++)
		key[i] = proof[i] ^ sig[i];
	if (!EVP_Digest(key, sizeof(key), stored, &m, EVP_sha256(), NULL) || m != SCRAM_SHA256_LEN)
		goto out;
	if (!HMAC(EVP_sha256(), c->server_key, SCRAM_SHA256_LEN, (const unsigned char *)auth_msg, len,
		  server_sig, &k) || k != SCRAM_SHA256_LEN)
		goto out;
	rc = CRYPTO_memcmp(stored, c->stored_key, SCRAM_SHA256_LEN) == 0 ? 0 : -1;
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(sig, sizeof(sig));
	return rc;
}

/* client-final-message (RFC 5802 7): c=, r=, p=, nothing else. */
static enum sasl_status scram_final(struct sasl_exchange *ex, struct scram_state *st,
				    const char *msg, size_t len)
{
	const char *end = msg + len, *p = msg;
	const char *cb, *nonce, *proof_b64;
	size_t cblen, nlen, plen;
	if (!scram_attr(&p, end, 'c', &cb, &cblen) || !scram_attr(&p, end, 'r', &nonce, &nlen))
		return SASL_BAD;
	const char *without_proof_end = p - 1;
	if (!scram_attr(&p, end, 'p', &proof_b64, &plen)) {
		return end - p >= 2 && p[0] >= 'a' && p[0] <= 'z' && p[1] == '='
			       ? sasl_exchange_fail(ex, "extension")
			       : SASL_BAD;
	}
	unsigned char proof[SCRAM_SHA256_LEN + 3];
	unsigned char cbuf[SCRAM_GS2_MAX + SCRAM_CBIND_MAX + 3];
	if (p != end || proof_b64 + plen != end || plen != BASE64_ENCODED_SIZE(SCRAM_SHA256_LEN) - 1 ||
	    base64_decode_strict(proof_b64, plen, proof) != SCRAM_SHA256_LEN)
		return SASL_BAD;
	/* longer than any gs2-header with binding data: it cannot match */
	if (cblen > BASE64_ENCODED_SIZE(SCRAM_GS2_MAX + SCRAM_CBIND_MAX) - 1)
		return sasl_exchange_fail(ex, "channel_binding");
	long cn = base64_decode_strict(cb, cblen, cbuf);
	if (cn < 0)
		return SASL_BAD;

	/* AuthMessage = client-first-message-bare "," server-first-message ","
	 * client-final-message-without-proof (RFC 5802 3) */
	size_t wlen = (size_t)(without_proof_end - msg);
	char *auth_msg = xasprintf("%s,%s,%.*s", st->client_first_bare, st->server_first, (int)wlen,
				   msg);
	unsigned char server_sig[SCRAM_SHA256_LEN];
	/* The proof is computed whatever else is wrong, so every failure
	 * costs the same. */
	bool proof_ok = sasl_scram_verify(&st->cred, auth_msg, strlen(auth_msg), proof, server_sig) == 0;
	free(auth_msg);
	bool cb_ok = (size_t)cn == st->gs2_len + st->cbind_len &&
		     CRYPTO_memcmp(cbuf, st->gs2, st->gs2_len) == 0 &&
		     CRYPTO_memcmp(cbuf + st->gs2_len, st->cbind, st->cbind_len) == 0;
	bool nonce_ok = nlen == strlen(st->nonce) && memcmp(nonce, st->nonce, nlen) == 0;
	if (!cb_ok)
		return sasl_exchange_fail(ex, "channel_binding");
	if (!nonce_ok)
		return sasl_exchange_fail(ex, "nonce");
	if (st->fail)
		return sasl_exchange_fail(ex, st->fail);
	if (!proof_ok)
		return sasl_exchange_fail(ex, "bad_credentials");
	char sig_b64[BASE64_ENCODED_SIZE(SCRAM_SHA256_LEN)];
	base64_encode(server_sig, sizeof(server_sig), sig_b64);
	char *final = xasprintf("v=%s", sig_b64);
	enum sasl_status r = sasl_exchange_final(ex, final, strlen(final), SASL_OK);
	free(final);
	return r;
}

static enum sasl_status scram_step(struct sasl_exchange *ex, const unsigned char *in, size_t len)
{
	struct scram_state *st = sasl_exchange_state(ex, sizeof(*st));
	/* RFC 5802 5: the client sends first. */
	if (!in)
		return SASL_CONTINUE;
	if (len == 0 || memchr(in, '\0', len))
		return SASL_BAD;
	return st->first_done ? scram_final(ex, st, (const char *)in, len)
			      : scram_first(ex, st, (const char *)in, len);
}

const struct sasl_mech sasl_mech_scram_sha256 = {
	.name = "SCRAM-SHA-256",
	.flags = 0,
	.cred = SASL_CRED_SCRAM,
	.step = scram_step,
	.free = scram_state_free,
};

const struct sasl_mech sasl_mech_scram_sha256_plus = {
	.name = "SCRAM-SHA-256-PLUS",
	.flags = SASL_MECH_CBIND,
	.cred = SASL_CRED_SCRAM,
	.step = scram_step,
	.free = scram_state_free,
};
