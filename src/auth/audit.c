/* The audit trail of authentication (auth/audit.h): the one place that
 * formats an authentication event, so that every mechanism logs the same
 * fields in the same order. The prefix `event=login result=R ip=IP user=U
 * mech=M reason=X` is what contrib/fail2ban's filter matches; fields after
 * it may be added, never reordered. One line per attempt, written when the
 * attempt is decided (not at disconnect): fail2ban sees every guess. */
#include "auth/audit.h"
#include "auth/login_rate.h"
#include "core/log.h"
#include "core/metrics.h"

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void audit_token(char *dst, size_t size, const char *s)
{
	size_t j = 0;
	for (size_t i = 0; s && s[i] && j + 1 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[j++] = (c <= 0x20 || c >= 0x7f || c == '"' || c == '=' || c == '\\') ? '?' : (char)c;
	}
	dst[j] = '\0';
	if (j == 0 && size > 1)
		snprintf(dst, size, "-");
}

static unsigned char sid_key[crypto_shorthash_KEYBYTES];
static pthread_once_t sid_once = PTHREAD_ONCE_INIT;

static void sid_key_init(void)
{
	if (sodium_init() >= 0)
		randombytes_buf(sid_key, sizeof(sid_key));
}

/* A keyed hash of the session's address: stable while the session lives,
 * and it does not disclose heap addresses in the log. */
void audit_session_id(const void *session, char buf[16])
{
	pthread_once(&sid_once, sid_key_init);
	uintptr_t v = (uintptr_t)session;
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, (const unsigned char *)&v, sizeof(v), sid_key);
	snprintf(buf, 16, "%012llx", (unsigned long long)(h & 0xffffffffffffULL));
}

void audit_auth(const struct audit_auth *a)
{
	char user[128], sid[16];
	metrics_login(a->result, a->mech);
	audit_token(user, sizeof(user), a->user);
	audit_session_id(a->session, sid);
	bool bad = a->result && (strcmp(a->result, "fail") == 0 || strcmp(a->result, "locked") == 0);
	log_msg(bad ? LOG_LVL_WARN : LOG_LVL_INFO,
		"event=login result=%s ip=%s user=%s mech=%s reason=%s tls=%s cipher=%s session=%s "
		"policy=%s delay_ms=%u listener=%s cache=%s",
		a->result ? a->result : "-", a->ip ? a->ip : "-", user, a->mech ? a->mech : "-",
		a->reason ? a->reason : "-", a->tls_version ? a->tls_version : "no",
		a->tls_cipher ? a->tls_cipher : "-", sid, a->decision ? a->decision : "-",
		a->delay_ms, a->listener ? a->listener : "-", a->cache ? a->cache : "-");
	login_rate_record(a->result, time(NULL));   /* status: the page's charts */
}
