/* The SASL framework (RFC 4422): the mechanism table, the [auth]
 * mechanisms setting, and the exchange every protocol drives.
 *
 * This file is the one place client responses are decoded and bounded:
 * the strict base64 decoder of core/base64.c on purpose, since a response
 * that is not canonical base64 is a broken or hostile client, and
 * accepting several spellings of the same credentials only widens what has
 * to be tested; a response longer than SASL_RESPONSE_MAX is refused before
 * anything is allocated for it. Mechanisms (auth/sasl_<name>.c) see only
 * decoded bytes and answer through the setters below. */
#include "auth/sasl.h"
#include "core/base64.h"
#include "core/util.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Advertised in this order: RFC 5802 6 asks clients to prefer -PLUS, and
 * mechanisms that never send the password go before those that do. */
static const struct sasl_mech *const sasl_mechs[] = {
	&sasl_mech_scram_sha256_plus,
	&sasl_mech_scram_sha256,
	&sasl_mech_oauthbearer,
	&sasl_mech_xoauth2,
	&sasl_mech_plain,
	&sasl_mech_login,
};

_Static_assert(ARRAY_SIZE(sasl_mechs) <= sizeof(unsigned) * 8, "one mask bit per mechanism");

struct sasl_exchange {
	const struct sasl_mech *mech;
	struct sasl_conn conn;
	void *state;
	char *challenge;            /* base64, after SASL_CONTINUE */
	char *user;
	char *password;
	const char *reason;
	bool toobig;
	bool done;                  /* an outcome was returned: nothing more is accepted */
	bool final_sent;            /* sasl_exchange_final(): `then` follows the next response */
	enum sasl_status then;
};

long sasl_base64_decode(const char *in, size_t len, unsigned char *out)
{
	return base64_decode_strict(in, len, out);
}

const struct sasl_mech *sasl_mech_at(size_t i)
{
	return i < ARRAY_SIZE(sasl_mechs) ? sasl_mechs[i] : NULL;
}

size_t sasl_mech_count(void)
{
	return ARRAY_SIZE(sasl_mechs);
}

static long sasl_mech_index(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(sasl_mechs); i++)
		if (ascii_ieqn(name, len, sasl_mechs[i]->name))
			return (long)i;
	return -1;
}

const struct sasl_mech *sasl_mech_find(const char *name)
{
	long i = sasl_mech_index(name, strlen(name));
	return i < 0 ? NULL : sasl_mechs[i];
}

static bool sasl_list_sep(char c)
{
	return c == ' ' || c == ',' || c == '\t';
}

int sasl_mechs_parse(const char *list, unsigned *mask, char **err)
{
	*mask = 0;
	if (err)
		*err = NULL;
	const char *p = list ? list : "";
	while (sasl_list_sep(*p))
		p++;
	if (!*p) {
		*mask = (1u << ARRAY_SIZE(sasl_mechs)) - 1;
		return 0;
	}
	while (*p) {
		size_t n = 0;
		while (p[n] && !sasl_list_sep(p[n]))
			n++;
		long i = sasl_mech_index(p, n);
		if (i < 0) {
			if (err)
				*err = xasprintf("[auth] mechanisms: unknown mechanism '%.*s'",
						 (int)(n > 64 ? 64 : n), p);
			*mask = 0;
			return -1;
		}
		*mask |= 1u << i;
		p += n;
		while (sasl_list_sep(*p))
			p++;
	}
	return 0;
}

unsigned sasl_mechs_enabled(const char *list)
{
	/* Validated at load (admin_conf_load); a list that was not enables
	 * nothing rather than guessing. */
	unsigned mask = 0;
	return sasl_mechs_parse(list, &mask, NULL) == 0 ? mask : 0;
}

bool sasl_mech_usable(const struct sasl_mech *m, unsigned enabled, const struct sasl_conn *c)
{
	long i = sasl_mech_index(m->name, strlen(m->name));
	if (i < 0 || !(enabled & (1u << i)))
		return false;
	/* RFC 9051 6.2.3 / 11.1: no mechanism before TLS unless the network
	 * is trusted; a -PLUS mechanism needs TLS to bind to. */
	if (!c->tls && !c->trusted)
		return false;
	if ((m->flags & SASL_MECH_CBIND) && (!c->tls || !c->channel_binding))
		return false;
	/* bearer tokens only when [oauth] names the keys to check them with */
	if (m->cred == SASL_CRED_TOKEN && !c->oauth)
		return false;
	return true;
}

struct sasl_exchange *sasl_exchange_new(const struct sasl_mech *m, const struct sasl_conn *c)
{
	struct sasl_exchange *ex = xcalloc(1, sizeof(*ex));
	ex->mech = m;
	ex->conn = *c;
	return ex;
}

static void sasl_wipe_free(char *s)
{
	if (s) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

void sasl_exchange_free(struct sasl_exchange *ex)
{
	if (!ex)
		return;
	if (ex->state) {
		if (ex->mech->free)
			ex->mech->free(ex->state);
		else
			free(ex->state);
	}
	free(ex->challenge);
	free(ex->user);
	sasl_wipe_free(ex->password);
	free(ex);
}

/* One decoded response (in NULL: no initial response) through the
 * mechanism, or the outcome announced with sasl_exchange_final(). */
static enum sasl_status sasl_exchange_run(struct sasl_exchange *ex, const unsigned char *in,
					  size_t len)
{
	free(ex->challenge);
	ex->challenge = NULL;
	if (ex->done)
		return SASL_BAD;
	enum sasl_status st;
	if (ex->final_sent) {
		ex->final_sent = false;
		st = ex->then;
		/* RFC 4422 3.6: the client acknowledges additional data with
		 * success by an empty response; anything else is a protocol error. */
		if (st == SASL_OK && len != 0)
			st = SASL_BAD;
	} else {
		st = ex->mech->step(ex, in, len);
	}
	if (st == SASL_CONTINUE && !ex->challenge)
		ex->challenge = xstrndup("", 0);
	if (st != SASL_CONTINUE)
		ex->done = true;
	return st;
}

enum sasl_status sasl_exchange_step(struct sasl_exchange *ex, const char *b64, size_t len)
{
	if (len > SASL_RESPONSE_MAX) {
		ex->toobig = true;
		ex->done = true;
		return SASL_BAD;
	}
	size_t cap = len / 4 * 3 + 1;
	unsigned char *buf = xmalloc(cap);
	long n = sasl_base64_decode(b64, len, buf);
	enum sasl_status st;
	if (n < 0) {
		ex->done = true;
		st = SASL_BAD;
	} else {
		st = sasl_exchange_run(ex, buf, (size_t)n);
	}
	sodium_memzero(buf, cap);
	free(buf);
	return st;
}

enum sasl_status sasl_exchange_start(struct sasl_exchange *ex, const char *ir, size_t len)
{
	if (!ir)
		return sasl_exchange_run(ex, NULL, 0);
	/* RFC 4959 3 / RFC 4954 4: "=" is an empty initial response. */
	if (len == 1 && ir[0] == '=') {
		static const unsigned char empty[1];
		return sasl_exchange_run(ex, empty, 0);
	}
	return sasl_exchange_step(ex, ir, len);
}

const char *sasl_exchange_challenge(const struct sasl_exchange *ex)
{
	return ex->challenge ? ex->challenge : "";
}

const char *sasl_exchange_user(const struct sasl_exchange *ex)
{
	return ex->user;
}

char *sasl_exchange_take_password(struct sasl_exchange *ex)
{
	char *p = ex->password;
	ex->password = NULL;
	return p;
}

const char *sasl_exchange_reason(const struct sasl_exchange *ex)
{
	return ex->reason ? ex->reason : "bad_credentials";
}

bool sasl_exchange_toobig(const struct sasl_exchange *ex)
{
	return ex->toobig;
}

const struct sasl_mech *sasl_exchange_mech(const struct sasl_exchange *ex)
{
	return ex->mech;
}

const struct sasl_conn *sasl_exchange_conn(const struct sasl_exchange *ex)
{
	return &ex->conn;
}

void *sasl_exchange_state(struct sasl_exchange *ex, size_t size)
{
	if (!ex->state)
		ex->state = xcalloc(1, size);
	return ex->state;
}

void sasl_exchange_set_challenge(struct sasl_exchange *ex, const void *data, size_t len)
{
	free(ex->challenge);
	ex->challenge = xmalloc(BASE64_ENCODED_SIZE(len));
	base64_encode(data, len, ex->challenge);
}

enum sasl_status sasl_exchange_final(struct sasl_exchange *ex, const void *data, size_t len,
				     enum sasl_status then)
{
	sasl_exchange_set_challenge(ex, data, len);
	ex->final_sent = true;
	ex->then = then;
	return SASL_CONTINUE;
}

void sasl_exchange_set_user(struct sasl_exchange *ex, char *user)
{
	free(ex->user);
	ex->user = user;
}

void sasl_exchange_set_password(struct sasl_exchange *ex, char *password)
{
	sasl_wipe_free(ex->password);
	ex->password = password;
}

enum sasl_status sasl_exchange_fail(struct sasl_exchange *ex, const char *reason)
{
	ex->reason = reason;
	return SASL_FAIL;
}
