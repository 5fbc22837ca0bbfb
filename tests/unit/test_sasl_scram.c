/* The SASL framework (auth/sasl.c) and SCRAM-SHA-256(-PLUS)
 * (auth/sasl_scram.c) driven as a protocol drives them: RFC 7677's test
 * vector, complete exchanges with a SCRAM client written here over a real
 * users file, the GS2 channel-binding rules with given binding data (the
 * real TLS data is proven end to end in tests/integration/test_scram.py),
 * PLAIN and LOGIN, the [auth] mechanisms list and when a mechanism may be
 * offered. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "auth/sasl.h"
#include "auth/scram_cred.h"
#include "core/base64.h"
#include "core/util.h"

#define PASSWORD "pencil and paper"

struct fixture {
	char dir[64];
	char users[96];
	struct passdb *db;
	unsigned char cbind[32];
};

static int setup(void **state)
{
	assert_true(sodium_init() >= 0);
	struct fixture *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/rampart-sasl-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->users, sizeof(f->users), "%s/users", f->dir);
	struct scram_cred c;
	assert_int_equal(scram_cred_derive(PASSWORD, 4096, &c), 0);
	char *field = scram_cred_format(&c);
	char *hash = password_hash(PASSWORD);
	FILE *fp = fopen(f->users, "w");
	assert_non_null(fp);
	fprintf(fp, "user:%s::::::scram-sha-256=%s\n", hash, field);
	fprintf(fp, "apo:%s::::::scram-sha-256=%s app_passwords_only=yes\n", hash, field);
	fprintf(fp, "nokeys:%s::::::\n", hash);
	fprintf(fp, "netuser:%s::::::scram-sha-256=%s allow_nets=10.0.0.0/8\n", hash, field);
	fclose(fp);
	free(field);
	free(hash);
	f->db = passdb_load(f->users, NULL);
	assert_non_null(f->db);
	for (size_t i = 0; i < sizeof(f->cbind); i++)
		f->cbind[i] = (unsigned char)(i * 7 + 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	passdb_free(f->db);
	unlink(f->users);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Channel binding data as net/conn.c would give it: fixed bytes for
 * tls-exporter, none for other types (a TLS 1.3 connection). */
static long fake_binding(void *arg, const char *type, unsigned char *out, size_t cap)
{
	struct fixture *f = arg;
	if (strcmp(type, "tls-exporter") != 0 || cap < sizeof(f->cbind))
		return -1;
	memcpy(out, f->cbind, sizeof(f->cbind));
	return sizeof(f->cbind);
}

static struct sasl_conn conn_of(struct fixture *f, bool plus_offered)
{
	return (struct sasl_conn){ .tls = true, .plus_offered = plus_offered,
				   .channel_binding = fake_binding, .channel_binding_arg = f,
				   .passdb = f->db, .ip = "127.0.0.1" };
}

static char *enc(const char *s, size_t len)
{
	char *out = xmalloc(BASE64_ENCODED_SIZE(len));
	base64_encode((const unsigned char *)s, len, out);
	return out;
}

static char *dec(const char *b64)
{
	size_t len = strlen(b64);
	char *out = xmalloc(len + 1);
	long n = base64_decode_strict(b64, len, (unsigned char *)out);
	assert_true(n >= 0);
	out[n] = '\0';
	return out;
}

/* ---- a SCRAM client (RFC 5802 3) ---- */

struct client {
	const char *gs2;
	const unsigned char *cbind;
	size_t cbind_len;
	char bare[512];
	char expect_v[72];
};

static void hmac256(const unsigned char *key, size_t klen, const char *msg, size_t mlen,
		    unsigned char *out)
{
	unsigned int n = 0;
	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &n);
	assert_int_equal(n, 32);
}

/* client-final for server_first; nonce_override replaces the nonce. */
static char *client_final(struct client *c, const char *server_first, const char *password,
			  const char *nonce_override)
{
	char nonce[256], salt_b64[128];
	unsigned iter = 0;
	const char *r = strstr(server_first, "r="), *s = strstr(server_first, ",s="),
		   *i = strstr(server_first, ",i=");
	assert_true(r == server_first && s && i);
	snprintf(nonce, sizeof(nonce), "%.*s", (int)(s - r - 2), r + 2);
	snprintf(salt_b64, sizeof(salt_b64), "%.*s", (int)(i - s - 3), s + 3);
	iter = (unsigned)strtoul(i + 3, NULL, 10);
	unsigned char salt[64];
	long slen = base64_decode_strict(salt_b64, strlen(salt_b64), salt);
	assert_true(slen > 0);

	unsigned char cb[256];
	size_t gl = strlen(c->gs2);
	memcpy(cb, c->gs2, gl);
	if (c->cbind_len)
		memcpy(cb + gl, c->cbind, c->cbind_len);
	char *cb64 = enc((const char *)cb, gl + c->cbind_len);
	char *without = xasprintf("c=%s,r=%s", cb64, nonce_override ? nonce_override : nonce);
	free(cb64);
	char *auth = xasprintf("%s,%s,%s", c->bare, server_first, without);

	unsigned char salted[32], ckey[32], skey[32], stored[32], sig[32], proof[32], ssig[32];
	assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)slen,
					   (int)iter, EVP_sha256(), 32, salted), 1);
	hmac256(salted, 32, "Client Key", 10, ckey);
	hmac256(salted, 32, "Server Key", 10, skey);
	unsigned int n = 0;
	EVP_Digest(ckey, 32, stored, &n, EVP_sha256(), NULL);
	hmac256(stored, 32, auth, strlen(auth), sig);
	for (int k = 0; k < 32; k++)
		proof[k] = ckey[k] ^ sig[k];
	hmac256(skey, 32, auth, strlen(auth), ssig);
	char ssig64[64], proof64[64];
	base64_encode(ssig, 32, ssig64);
	base64_encode(proof, 32, proof64);
	snprintf(c->expect_v, sizeof(c->expect_v), "v=%s", ssig64);
	char *final = xasprintf("%s,p=%s", without, proof64);
	free(without);
	free(auth);
	return final;
}

/* Runs an exchange to its end; returns the last status, *server_first set
 * when one was received (caller frees). */
static enum sasl_status run_scram(struct fixture *f, const struct sasl_mech *m, bool plus_offered,
				  struct client *c, const char *user, const char *password,
				  const char *nonce_override, struct sasl_exchange **out)
{
	struct sasl_conn conn = conn_of(f, plus_offered);
	struct sasl_exchange *ex = sasl_exchange_new(m, &conn);
	snprintf(c->bare, sizeof(c->bare), "n=%s,r=fyko+d2lbbFgONRv9qkxdawL", user);
	char *first = xasprintf("%s%s", c->gs2, c->bare);
	char *first64 = enc(first, strlen(first));
	enum sasl_status st = sasl_exchange_start(ex, first64, strlen(first64));
	free(first);
	free(first64);
	if (st == SASL_CONTINUE) {
		char *sf = dec(sasl_exchange_challenge(ex));
		char *final = client_final(c, sf, password, nonce_override);
		char *final64 = enc(final, strlen(final));
		st = sasl_exchange_step(ex, final64, strlen(final64));
		free(sf);
		free(final);
		free(final64);
		if (st == SASL_CONTINUE) {
			char *v = dec(sasl_exchange_challenge(ex));
			assert_string_equal(v, c->expect_v);
			free(v);
			st = sasl_exchange_step(ex, "", 0);
		}
	}
	*out = ex;
	return st;
}

/* RFC 7677 3: the SCRAM-SHA-256 example, through the proof check. */
static void test_rfc7677_vector(void **state)
{
	(void)state;
	unsigned char salt[16];
	assert_int_equal(base64_decode_strict("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt), 16);
	struct scram_cred c;
	assert_int_equal(scram_cred_derive_salted("pencil", salt, 16, 4096, &c), 0);
	const char *auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,"
			   "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
			   "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
			   "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
	unsigned char proof[33], sig[32];
	assert_int_equal(base64_decode_strict("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", 44, proof),
			 32);
	assert_int_equal(sasl_scram_verify(&c, auth, strlen(auth), proof, sig), 0);
	char v[64];
	base64_encode(sig, 32, v);
	assert_string_equal(v, "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
	proof[0] ^= 1;
	assert_int_equal(sasl_scram_verify(&c, auth, strlen(auth), proof, sig), -1);
}

static void test_scram_success_and_wrong_password(void **state)
{
	struct fixture *f = *state;
	struct sasl_exchange *ex;
	struct client c = { .gs2 = "n,," };
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256, true, &c, "user", PASSWORD, NULL, &ex),
			 SASL_OK);
	assert_string_equal(sasl_exchange_user(ex), "user");
	/* the exchange is over: anything more is a protocol error */
	assert_int_equal(sasl_exchange_step(ex, "", 0), SASL_BAD);
	sasl_exchange_free(ex);

	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256, true, &c, "user", "wrong", NULL, &ex),
			 SASL_FAIL);
	assert_string_equal(sasl_exchange_reason(ex), "bad_credentials");
	sasl_exchange_free(ex);
}

static void test_scram_plus_binding(void **state)
{
	struct fixture *f = *state;
	struct sasl_exchange *ex;
	struct client c = { .gs2 = "p=tls-exporter,,", .cbind = f->cbind, .cbind_len = 32 };
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256_plus, true, &c, "user", PASSWORD, NULL,
				   &ex),
			 SASL_OK);
	sasl_exchange_free(ex);

	/* one bit of the binding data wrong */
	unsigned char other[32];
	memcpy(other, f->cbind, 32);
	other[31] ^= 0x80;
	c.cbind = other;
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256_plus, true, &c, "user", PASSWORD, NULL,
				   &ex),
			 SASL_FAIL);
	assert_string_equal(sasl_exchange_reason(ex), "channel_binding");
	sasl_exchange_free(ex);

	/* claimed, without data */
	c.cbind_len = 0;
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256_plus, true, &c, "user", PASSWORD, NULL,
				   &ex),
			 SASL_FAIL);
	sasl_exchange_free(ex);

	/* a type this connection has none of */
	struct client e = { .gs2 = "p=tls-server-end-point,,", .cbind = f->cbind, .cbind_len = 32 };
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256_plus, true, &e, "user", PASSWORD, NULL,
				   &ex),
			 SASL_FAIL);
	assert_string_equal(sasl_exchange_reason(ex), "channel_binding_type");
	sasl_exchange_free(ex);
}

static void test_gs2_flags(void **state)
{
	struct fixture *f = *state;
	struct sasl_exchange *ex;
	struct client y = { .gs2 = "y,," };
	/* RFC 5802 6: "y" is a downgrade only where -PLUS was offered */
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256, true, &y, "user", PASSWORD, NULL, &ex),
			 SASL_FAIL);
	assert_string_equal(sasl_exchange_reason(ex), "channel_binding_downgrade");
	assert_string_equal(sasl_exchange_user(ex), "user");   /* named in the log */
	sasl_exchange_free(ex);
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256, false, &y, "user", PASSWORD, NULL, &ex),
			 SASL_OK);
	sasl_exchange_free(ex);
	struct client p = { .gs2 = "p=tls-exporter,,", .cbind = f->cbind, .cbind_len = 32 };
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256, true, &p, "user", PASSWORD, NULL, &ex),
			 SASL_FAIL);
	sasl_exchange_free(ex);
	struct client n = { .gs2 = "n,," };
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256_plus, true, &n, "user", PASSWORD, NULL,
				   &ex),
			 SASL_FAIL);
	assert_string_equal(sasl_exchange_reason(ex), "channel_binding_missing");
	sasl_exchange_free(ex);
	/* authzid: the same user is fine, another is not */
	struct client a = { .gs2 = "n,a=user," };
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256, true, &a, "user", PASSWORD, NULL, &ex),
			 SASL_OK);
	sasl_exchange_free(ex);
	struct client b = { .gs2 = "n,a=admin," };
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256, true, &b, "user", PASSWORD, NULL, &ex),
			 SASL_FAIL);
	assert_string_equal(sasl_exchange_reason(ex), "authzid");
	sasl_exchange_free(ex);
}

static void test_nonce_and_users(void **state)
{
	struct fixture *f = *state;
	struct sasl_exchange *ex;
	struct client c = { .gs2 = "n,," };
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256, true, &c, "user", PASSWORD,
				   "fyko+d2lbbFgONRv9qkxdawLforged", &ex),
			 SASL_FAIL);
	assert_string_equal(sasl_exchange_reason(ex), "nonce");
	sasl_exchange_free(ex);
	/* users who may not use SCRAM fail at the proof, even with the right password */
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256, true, &c, "apo", PASSWORD, NULL, &ex),
			 SASL_FAIL);
	assert_string_equal(sasl_exchange_reason(ex), "app_passwords_only");
	sasl_exchange_free(ex);
	/* allow_nets binds SCRAM too */
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256, true, &c, "netuser", PASSWORD, NULL, &ex),
			 SASL_FAIL);
	assert_string_equal(sasl_exchange_reason(ex), "source_not_allowed");
	sasl_exchange_free(ex);
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256, true, &c, "nokeys", PASSWORD, NULL, &ex),
			 SASL_FAIL);
	assert_string_equal(sasl_exchange_reason(ex), "no_scram_keys");
	sasl_exchange_free(ex);
	assert_int_equal(run_scram(f, &sasl_mech_scram_sha256, true, &c, "ghost", PASSWORD, NULL, &ex),
			 SASL_FAIL);
	assert_string_equal(sasl_exchange_reason(ex), "bad_credentials");
	sasl_exchange_free(ex);
}

/* The server-first message for the first message `first`; NULL unless
 * the exchange continues. */
static char *server_first(struct fixture *f, const char *first, enum sasl_status *st)
{
	struct sasl_conn conn = conn_of(f, true);
	struct sasl_exchange *ex = sasl_exchange_new(&sasl_mech_scram_sha256, &conn);
	char *b = enc(first, strlen(first));
	*st = sasl_exchange_start(ex, b, strlen(b));
	free(b);
	char *sf = *st == SASL_CONTINUE ? dec(sasl_exchange_challenge(ex)) : NULL;
	sasl_exchange_free(ex);
	return sf;
}

static void test_unknown_user_salt_is_stable(void **state)
{
	struct fixture *f = *state;
	enum sasl_status st;
	char *a = server_first(f, "n,,n=ghost,r=abc", &st);
	char *b = server_first(f, "n,,n=ghost,r=abc", &st);
	char *o = server_first(f, "n,,n=other,r=abc", &st);
	assert_non_null(a);
	/* same salt and count for the same name, another for another name */
	assert_string_equal(strstr(a, ",s="), strstr(b, ",s="));
	assert_string_not_equal(strstr(a, ",s="), strstr(o, ",s="));
	assert_non_null(strstr(a, ",i=10000"));
	/* the server nonce: client nonce first, >= 24 more printable bytes, no ',' */
	assert_int_equal(strncmp(a, "r=abc", 5), 0);
	const char *sn = a + 5;
	size_t snl = (size_t)(strstr(a, ",s=") - sn);
	assert_true(snl >= 24);
	for (size_t i = 0; i < snl; i++)
		assert_true(sn[i] > 0x20 && sn[i] < 0x7f && sn[i] != ',');
	free(a);
	free(b);
	free(o);
	/* "=2C" and "=3D" are the only escapes (RFC 5802 5.1) */
	char *e = server_first(f, "n,,n=a=2Cb=3Dc,r=abc", &st);
	assert_int_equal(st, SASL_CONTINUE);
	free(e);
	assert_null(server_first(f, "n,,n=a=2Xb,r=abc", &st));
	assert_int_equal(st, SASL_BAD);
}

static void test_scram_malformed(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *msg;
		enum sasl_status st;
	} cases[] = {
		{ "n,,n=user,r=abc,x=ext", SASL_FAIL },   /* extensions */
		{ "n,,m=ext,n=user,r=abc", SASL_FAIL },   /* RFC 5802 5.1 mandatory extension */
		{ "x,,n=user,r=abc", SASL_BAD },
		{ "n,n=user,r=abc", SASL_BAD },
		{ "n,,r=abc", SASL_BAD },
		{ "n,,n=user", SASL_BAD },
		{ "n,,n=,r=abc", SASL_BAD },
		{ "n,,n=user,r=", SASL_BAD },
		{ "n,,n=user,r=a b", SASL_BAD },
		{ "p=,,n=user,r=abc", SASL_BAD },
		{ "p=tls exporter,,n=user,r=abc", SASL_BAD },
		{ "n,,n=us\001er,r=abc", SASL_BAD },
		{ "n,,n=us\xc3\xa9r,r=abc", SASL_BAD },   /* not ASCII: no user has such a name */
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		enum sasl_status st;
		char *sf = server_first(f, cases[i].msg, &st);
		if (st != cases[i].st)
			fail_msg("'%s': status %d, expected %d", cases[i].msg, st, cases[i].st);
		free(sf);
	}
	/* a client-final without proof, or with a short one */
	struct sasl_conn conn = conn_of(f, true);
	const char *finals[] = { "c=biws,r=x", "c=biws,r=x,p=AAAA", "c=biws", "r=x,c=biws,p=" };
	for (size_t i = 0; i < ARRAY_SIZE(finals); i++) {
		struct sasl_exchange *ex = sasl_exchange_new(&sasl_mech_scram_sha256, &conn);
		char *b = enc("n,,n=user,r=abc", 15);
		assert_int_equal(sasl_exchange_start(ex, b, strlen(b)), SASL_CONTINUE);
		free(b);
		b = enc(finals[i], strlen(finals[i]));
		assert_int_equal(sasl_exchange_step(ex, b, strlen(b)), SASL_BAD);
		free(b);
		sasl_exchange_free(ex);
	}
}

static void test_framework_limits(void **state)
{
	struct fixture *f = *state;
	struct sasl_conn conn = conn_of(f, true);
	struct sasl_exchange *ex = sasl_exchange_new(&sasl_mech_scram_sha256, &conn);
	assert_int_equal(sasl_exchange_start(ex, NULL, 0), SASL_CONTINUE);
	assert_string_equal(sasl_exchange_challenge(ex), "");
	char *big = xmalloc(SASL_RESPONSE_MAX + 5);
	memset(big, 'Q', SASL_RESPONSE_MAX + 4);
	big[SASL_RESPONSE_MAX + 4] = '\0';
	assert_int_equal(sasl_exchange_step(ex, big, SASL_RESPONSE_MAX + 4), SASL_BAD);
	assert_true(sasl_exchange_toobig(ex));
	free(big);
	sasl_exchange_free(ex);

	ex = sasl_exchange_new(&sasl_mech_plain, &conn);
	assert_int_equal(sasl_exchange_step(ex, "AHVzZXIAcGFzcw", 14), SASL_BAD); /* no padding */
	assert_false(sasl_exchange_toobig(ex));
	sasl_exchange_free(ex);
}

static void test_plain_and_login(void **state)
{
	struct fixture *f = *state;
	struct sasl_conn conn = conn_of(f, true);
	/* PLAIN with an initial response */
	struct sasl_exchange *ex = sasl_exchange_new(&sasl_mech_plain, &conn);
	assert_int_equal(sasl_exchange_start(ex, "AHVzZXIAcGFzcw==", 16), SASL_VERIFY);
	assert_string_equal(sasl_exchange_user(ex), "user");
	char *p = sasl_exchange_take_password(ex);
	assert_string_equal(p, "pass");
	free(p);
	sasl_exchange_free(ex);
	/* PLAIN: "=" is an empty initial response, which is malformed */
	ex = sasl_exchange_new(&sasl_mech_plain, &conn);
	assert_int_equal(sasl_exchange_start(ex, "=", 1), SASL_BAD);
	sasl_exchange_free(ex);
	/* PLAIN with another authzid */
	ex = sasl_exchange_new(&sasl_mech_plain, &conn);
	char *b = enc("admin\0user\0pass", 15);
	assert_int_equal(sasl_exchange_start(ex, b, strlen(b)), SASL_FAIL);
	assert_string_equal(sasl_exchange_reason(ex), "authzid");
	assert_null(sasl_exchange_take_password(ex));
	free(b);
	sasl_exchange_free(ex);
	/* LOGIN: "Username:", "Password:" */
	ex = sasl_exchange_new(&sasl_mech_login, &conn);
	assert_int_equal(sasl_exchange_start(ex, NULL, 0), SASL_CONTINUE);
	assert_string_equal(sasl_exchange_challenge(ex), "VXNlcm5hbWU6");
	assert_int_equal(sasl_exchange_step(ex, "dXNlcg==", 8), SASL_CONTINUE);
	assert_string_equal(sasl_exchange_challenge(ex), "UGFzc3dvcmQ6");
	assert_int_equal(sasl_exchange_step(ex, "cGFzcw==", 8), SASL_VERIFY);
	assert_string_equal(sasl_exchange_user(ex), "user");
	p = sasl_exchange_take_password(ex);
	assert_string_equal(p, "pass");
	free(p);
	sasl_exchange_free(ex);
}

/* A mechanism of the test's own: the framework's final-data rule
 * (RFC 4422 3.6, RFC 7628 3.2.2) whatever the mechanism. */
static enum sasl_status final_step(struct sasl_exchange *ex, const unsigned char *in, size_t len)
{
	if (!in)
		return SASL_CONTINUE;
	sasl_exchange_set_user(ex, xstrndup("user", 4));
	if (len == 2 && memcmp(in, "ok", 2) == 0)
		return sasl_exchange_final(ex, "v=1", 3, SASL_OK);
	sasl_exchange_fail(ex, "test_reason");
	return sasl_exchange_final(ex, "{}", 2, SASL_FAIL);
}

static const struct sasl_mech final_mech = { .name = "X-FINAL", .step = final_step };

static void test_final_data(void **state)
{
	struct fixture *f = *state;
	struct sasl_conn conn = conn_of(f, false);
	/* error payload, then failure whatever the client answers */
	struct sasl_exchange *ex = sasl_exchange_new(&final_mech, &conn);
	assert_int_equal(sasl_exchange_start(ex, "bm8=", 4), SASL_CONTINUE);
	assert_string_equal(sasl_exchange_challenge(ex), "e30=");
	assert_int_equal(sasl_exchange_step(ex, "AQ==", 4), SASL_FAIL);
	assert_string_equal(sasl_exchange_reason(ex), "test_reason");
	sasl_exchange_free(ex);
	/* additional data with success: only an empty answer completes it */
	ex = sasl_exchange_new(&final_mech, &conn);
	assert_int_equal(sasl_exchange_start(ex, "b2s=", 4), SASL_CONTINUE);
	assert_string_equal(sasl_exchange_challenge(ex), "dj0x");
	assert_int_equal(sasl_exchange_step(ex, "", 0), SASL_OK);
	sasl_exchange_free(ex);
	ex = sasl_exchange_new(&final_mech, &conn);
	assert_int_equal(sasl_exchange_start(ex, "b2s=", 4), SASL_CONTINUE);
	assert_int_equal(sasl_exchange_step(ex, "AQ==", 4), SASL_BAD);
	sasl_exchange_free(ex);
}

static void test_mechanism_list_and_offer(void **state)
{
	struct fixture *f = *state;
	unsigned all = 0, mask = 0;
	char *err = NULL;
	assert_int_equal(sasl_mechs_parse(NULL, &all, &err), 0);
	assert_int_equal(all, (1u << sasl_mech_count()) - 1);
	assert_int_equal(sasl_mechs_parse("  ", &mask, &err), 0);
	assert_int_equal(mask, all);
	assert_int_equal(sasl_mechs_parse("plain, SCRAM-SHA-256", &mask, &err), 0);
	for (size_t i = 0; i < sasl_mech_count(); i++) {
		const struct sasl_mech *m = sasl_mech_at(i);
		bool want = m == &sasl_mech_plain || m == &sasl_mech_scram_sha256;
		assert_true(!!(mask & (1u << i)) == want);
	}
	assert_int_equal(sasl_mechs_parse("PLAIN SCRAM-SHA-1", &mask, &err), -1);
	assert_non_null(strstr(err, "SCRAM-SHA-1"));
	free(err);
	assert_int_equal(sasl_mechs_enabled("PLAIN bogus"), 0);
	assert_ptr_equal(sasl_mech_find("scram-sha-256-plus"), &sasl_mech_scram_sha256_plus);
	assert_null(sasl_mech_find("SCRAM-SHA-1"));

	struct sasl_conn tls = conn_of(f, true);
	struct sasl_conn clear = { .passdb = f->db };
	struct sasl_conn trusted = { .trusted = true, .passdb = f->db };
	struct sasl_conn tls_no_cb = { .tls = true, .passdb = f->db };
	for (size_t i = 0; i < sasl_mech_count(); i++) {
		const struct sasl_mech *m = sasl_mech_at(i);
		bool plus = m->flags & SASL_MECH_CBIND;
		if (m->cred == SASL_CRED_TOKEN) {
			/* only with [oauth] keys to check tokens against */
			assert_false(sasl_mech_usable(m, all, &tls));
			continue;
		}
		assert_true(sasl_mech_usable(m, all, &tls));
		assert_false(sasl_mech_usable(m, all, &clear));
		assert_true(sasl_mech_usable(m, all, &trusted) == !plus);
		assert_true(sasl_mech_usable(m, all, &tls_no_cb) == !plus);
		assert_false(sasl_mech_usable(m, all & ~(1u << i), &tls));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677_vector),
		cmocka_unit_test_setup_teardown(test_scram_success_and_wrong_password, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram_plus_binding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gs2_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonce_and_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_user_salt_is_stable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_framework_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_and_login, setup, teardown),
		cmocka_unit_test_setup_teardown(test_final_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mechanism_list_and_offer, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
