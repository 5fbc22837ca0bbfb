/* Who an LMTP recipient is, and the trace headers a delivery adds.
 *
 * Users in the users file are "user" or "user@domain" (auth/passdb.c);
 * `rampart deliver` takes the name as given. A recipient address
 * local+detail@domain is tried, in this order, as: the address as given
 * (a user literally named "a+b@x"), local@domain, then local alone (a
 * users file without domains: which domains reach Rampart is the MTA's
 * decision, its virtual_mailbox_domains). Each try is repeated with the
 * local part in lower case, as Dovecot's default %Lu, since MTAs pass the
 * case the sender typed. The domain is always compared in lower case
 * (RFC 5321 2.4). Every lookup is an in-memory hash probe, so a known and
 * an unknown user take the same time to the microsecond and get one
 * fixed 550 wording: nothing beyond what RCPT must say leaks.
 *
 * Headers, as Dovecot's LMTP writes them: Return-Path with the envelope
 * sender (RFC 5321 4.4), Delivered-To and a Received "for" clause only
 * when the message has one recipient (with several they would differ per
 * recipient and the message could not be stored once), and a Received
 * line (RFC 5321 4.4) naming the LHLO name and the peer. */
#include "lmtp/rcpt.h"
#include "auth/passdb.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *lmtp_try_user(struct passdb *db, const char *name)
{
	if (!*name)
		return NULL;
	if (passdb_user_exists(db, name))
		return xstrdup(name);
	char *low = xstrdup(name);
	bool changed = false;
	for (char *p = low; *p && *p != '@'; p++) {
		char c = (char)tolower((unsigned char)*p);
		changed |= c != *p;
		*p = c;
	}
	if (changed && passdb_user_exists(db, low))
		return low;
	free(low);
	return NULL;
}

char *lmtp_rcpt_resolve(struct passdb *db, const char *addr, const char *delims, char **detail)
{
	char *local, *det, *domain;
	lmtp_addr_split(addr, delims, &local, &det, &domain);
	*detail = NULL;
	/* The address itself, the domain lower-cased. */
	char *full = *domain ? xasprintf("%.*s@%s", (int)(strrchr(addr, '@') - addr), addr, domain)
			     : xstrdup(addr);
	char *user = lmtp_try_user(db, full);
	if (!user && *det) {
		char *base = *domain ? xasprintf("%s@%s", local, domain) : xstrdup(local);
		user = lmtp_try_user(db, base);
		free(base);
		if (user)
			*detail = xstrdup(det);
	}
	if (!user && *domain) {
		user = lmtp_try_user(db, local);
		if (user && *det)
			*detail = xstrdup(det);
	}
	free(full);
	free(local);
	free(det);
	free(domain);
	return user;
}

/* RFC 5322 3.3 date-time of now, in local time with its offset. */
static void lmtp_date(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	snprintf(buf, len, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
		 off / 60, off % 60);
}

void lmtp_trace_headers(struct strbuf *out, const struct lmtp_trace *tr)
{
	strbuf_addf(out, "Return-Path: <%s>\r\n", tr->sender);
	if (tr->single_rcpt)
		strbuf_addf(out, "Delivered-To: %s\r\n", tr->single_rcpt);
	char date[64];
	lmtp_date(date, sizeof(date));
	strbuf_addf(out, "Received: from %s (%s)\r\n\tby %s with LMTP id %s\r\n\t(envelope-from <%s>)",
		    tr->helo, tr->peer, tr->host, tr->id, tr->sender);
	if (tr->single_rcpt)
		strbuf_addf(out, "\r\n\tfor <%s>", tr->single_rcpt);
	strbuf_addf(out, "; %s\r\n", date);
}
