/* The one list of what Rampart offers an IMAP client (RFC 9051 6.1.1,
 * 7.1 CAPABILITY response), in the order it is advertised.
 *
 * Each row says in which states and on which connections a capability is
 * offered, whether a client may ENABLE it (RFC 5161) and what enabling
 * changes in the session. The greeting, CAPABILITY, the tagged OK of a
 * login, ENABLE and AUTHENTICATE all read this table, so offering a new
 * ENABLE-able extension (CONDSTORE, QRESYNC, UTF8=ACCEPT) is one row here
 * plus the code that honours imap_cap_enabled(). */
#include "imap/capability.h"
#include "imap/session_internal.h"
#include "imap/cmd_quota.h"
#include "auth/sasl.h"
#include "core/config.h"
#include "core/util.h"

#include <stdint.h>
#include <strings.h>

enum {
	OFFER_NOTAUTH = 1u << 0,     /* before login */
	OFFER_LOGGED_IN = 1u << 1,   /* after login */
	OFFER_ANY = OFFER_NOTAUTH | OFFER_LOGGED_IN,
	/* RFC 9051 6.2.3 / 11.1: no password may cross the wire in clear, so
	 * nothing that takes one is offered before TLS (or from a trusted
	 * network); LOGINDISABLED says so. */
	NEEDS_CLEARTEXT_OK = 1u << 2,
	NEEDS_CLEARTEXT_REFUSED = 1u << 3,
	NEEDS_STARTTLS = 1u << 4,    /* a STARTTLS listener before TLS */
	ENABLEABLE = 1u << 5,        /* RFC 5161 ENABLE accepts it */
	/* One AUTH=<name> per SASL mechanism that the configuration enables
	 * and the connection allows (auth/sasl.h sasl_mech_usable: nothing
	 * before TLS unless trusted, -PLUS only over TLS). */
	AUTH_MECHS = 1u << 6,
	/* RFC 9208 4.1.3: QUOTASET says SETQUOTA may succeed, which it does
	 * only for the users in [quota] admins, so only they are told so. */
	QUOTA_ADMINS = 1u << 7,
};

/* RFC 9051: IMAP4rev2 changes mailbox names to UTF-8 on the wire and
 * drops \Recent and RECENT. */
static void enable_imap4rev2(struct imap_session *s)
{
	s->rev2 = true;
	s->utf8 = true;
}

/* ext (issue #12), RFC 6855 3: mailbox names in UTF-8 both ways, as
 * IMAP4rev2 has them. */
static void enable_utf8_accept(struct imap_session *s)
{
	s->utf8 = true;
}

/* RFC 7889: the largest message APPEND accepts. */
static void value_appendlimit(struct imap_session *s, struct strbuf *out)
{
	strbuf_addf(out, "=%zu", s->cfg->max_message_size);
}

/* RFC 7162 3.2.3: enabling QRESYNC enables CONDSTORE too. */
static void enable_qresync(struct imap_session *s)
{
	(void)imap_cap_enable(s, "CONDSTORE");
}

struct capability {
	const char *name;
	unsigned when;
	void (*enable)(struct imap_session *s);                 /* ENABLEABLE */
	void (*value)(struct imap_session *s, struct strbuf *out); /* "=value" */
};

static const struct capability caps[] = {
	{ "IMAP4rev1", OFFER_ANY, NULL, NULL },
	{ "IMAP4rev2", OFFER_ANY | ENABLEABLE, enable_imap4rev2, NULL },
	{ "STARTTLS", OFFER_NOTAUTH | NEEDS_STARTTLS, NULL, NULL },
	{ "AUTH=", OFFER_NOTAUTH | NEEDS_CLEARTEXT_OK | AUTH_MECHS, NULL, NULL },
	{ "LOGINDISABLED", OFFER_NOTAUTH | NEEDS_CLEARTEXT_REFUSED, NULL, NULL },
	{ "SASL-IR", OFFER_NOTAUTH, NULL, NULL },
	/* RFC 7888 4: before login non-synchronizing literals are limited to
	 * max_preauth_literal (at least 4096), which is LITERAL-; after login
	 * they may be as large as any literal, which is LITERAL+. */
	{ "LITERAL-", OFFER_NOTAUTH, NULL, NULL },
	{ "LITERAL+", OFFER_LOGGED_IN, NULL, NULL },
	{ "ID", OFFER_ANY, NULL, NULL },
	{ "ENABLE", OFFER_ANY, NULL, NULL },
	{ "IDLE", OFFER_ANY, NULL, NULL },
	{ "NAMESPACE", OFFER_ANY, NULL, NULL },
	{ "UNSELECT", OFFER_ANY, NULL, NULL },
	{ "UIDPLUS", OFFER_ANY, NULL, NULL },
	{ "MOVE", OFFER_ANY, NULL, NULL },
	{ "CHILDREN", OFFER_ANY, NULL, NULL },
	{ "LIST-EXTENDED", OFFER_ANY, NULL, NULL },
	{ "LIST-STATUS", OFFER_ANY, NULL, NULL },
	{ "SPECIAL-USE", OFFER_ANY, NULL, NULL },
	{ "ESEARCH", OFFER_ANY, NULL, NULL },
	{ "SEARCHRES", OFFER_ANY, NULL, NULL },
	{ "BINARY", OFFER_ANY, NULL, NULL },
	{ "MULTIAPPEND", OFFER_ANY, NULL, NULL },
	{ "STATUS=SIZE", OFFER_ANY, NULL, NULL },
	{ "APPENDLIMIT", OFFER_ANY, NULL, value_appendlimit },
	/* condstore: RFC 7162 (imap/condstore.c) */
	{ "CONDSTORE", OFFER_ANY | ENABLEABLE, NULL, NULL },
	{ "QRESYNC", OFFER_ANY | ENABLEABLE, enable_qresync, NULL },
	/* sort: RFC 5256, 5957, 5267 3 (imap/cmd_sort.c), 5032 WITHIN */
	{ "SORT", OFFER_ANY, NULL, NULL },
	{ "SORT=DISPLAY", OFFER_ANY, NULL, NULL },
	{ "THREAD=ORDEREDSUBJECT", OFFER_ANY, NULL, NULL },
	{ "THREAD=REFERENCES", OFFER_ANY, NULL, NULL },
	{ "ESORT", OFFER_ANY, NULL, NULL },
	{ "WITHIN", OFFER_ANY, NULL, NULL },
	/* ext (issue #12): folders and the smaller extensions */
	{ "CREATE-SPECIAL-USE", OFFER_ANY, NULL, NULL },
	/* quota part (RFC 9208 3.1, 7; imap/cmd_quota.c) */
	{ "QUOTA", OFFER_LOGGED_IN, NULL, NULL },
	{ "QUOTA=RES-STORAGE", OFFER_LOGGED_IN, NULL, NULL },
	{ "QUOTA=RES-MESSAGE", OFFER_LOGGED_IN, NULL, NULL },
	{ "QUOTA=RES-MAILBOX", OFFER_LOGGED_IN, NULL, NULL },
	{ "QUOTASET", OFFER_LOGGED_IN | QUOTA_ADMINS, NULL, NULL },
	/* ext: after login only */
	{ "COMPRESS=DEFLATE", OFFER_LOGGED_IN, NULL, NULL },
	{ "UTF8=ACCEPT", OFFER_LOGGED_IN | ENABLEABLE, enable_utf8_accept, NULL },
	/* savedate: RFC 8514 (FETCH SAVEDATE, SEARCH SAVED*), every state like SORT */
	{ "SAVEDATE", OFFER_ANY, NULL, NULL },
	/* objectid: RFC 8474 (imap/objectid.c) */
	{ "OBJECTID", OFFER_ANY, NULL, NULL },
	/* context (issue #12): RFC 5267 4 and RFC 9394 (imap/search_context.c) */
	{ "CONTEXT=SEARCH", OFFER_ANY, NULL, NULL },
	{ "CONTEXT=SORT", OFFER_ANY, NULL, NULL },
	{ "PARTIAL", OFFER_ANY, NULL, NULL },
	/* preview: RFC 8970 FETCH PREVIEW (imap/cmd_fetch.c, mail/preview.c) */
	{ "PREVIEW", OFFER_ANY, NULL, NULL },
	/* preview: RFC 8508 REPLACE (imap/cmd_replace.c) */
	{ "REPLACE", OFFER_ANY, NULL, NULL },
	/* uidonly: RFC 9586 (imap/uidonly.c) */
	{ "UIDONLY", OFFER_ANY | ENABLEABLE, NULL, NULL },
	/* multisearch: RFC 7377 (imap/cmd_multisearch.c) */
	{ "MULTISEARCH", OFFER_ANY, NULL, NULL },
	/* inprogress: RFC 9585 (imap/inprogress.c) */
	{ "INPROGRESS", OFFER_ANY, NULL, NULL },
	/* Offered after login only, after every row offered in all states
	 * (the capability tests rely on that order). */
	/* notify: RFC 5465 (imap/cmd_notify.c, imap/notify_push.c) */
	{ "NOTIFY", OFFER_LOGGED_IN, NULL, NULL },
	/* metadata: RFC 5464 (imap/cmd_metadata.c), after login like QUOTA */
	{ "METADATA", OFFER_LOGGED_IN, NULL, NULL },
	{ "METADATA-SERVER", OFFER_LOGGED_IN, NULL, NULL },
	/* aclseen (issue #12): RFC 4314 ACL with the rights t, e, x and k
	 * (RIGHTS=, 2.1); after login only, like the commands */
	{ "ACL", OFFER_LOGGED_IN, NULL, NULL },
	{ "RIGHTS=texk", OFFER_LOGGED_IN, NULL, NULL },
	/* aclcopy: RFC 8440 LIST RETURN (MYRIGHTS) (imap/cmd_list.c), after login */
	{ "LIST-MYRIGHTS", OFFER_LOGGED_IN, NULL, NULL },
};

/* The session keeps what was enabled as one bit per row. */
_Static_assert(ARRAY_SIZE(caps) <= 64, "imap_session.enabled has 64 bits");

static bool offered(const struct imap_session *s, const struct capability *c)
{
	unsigned need = s->state == ST_NOTAUTH ? OFFER_NOTAUTH : OFFER_LOGGED_IN;
	if (!(c->when & need))
		return false;
	bool cleartext_ok = s->info.tls || s->info.trusted;
	if ((c->when & NEEDS_CLEARTEXT_OK) && !cleartext_ok)
		return false;
	if ((c->when & NEEDS_CLEARTEXT_REFUSED) && cleartext_ok)
		return false;
	if ((c->when & NEEDS_STARTTLS) && (!s->info.starttls_offered || s->info.tls))
		return false;
	if ((c->when & QUOTA_ADMINS) && !quota_is_admin(s->cfg->quota_admins, s->user))
		return false;
	return true;
}

void imap_cap_sasl_conn(struct imap_session *s, struct sasl_conn *out)
{
	*out = (struct sasl_conn){
		.tls = s->info.tls,
		.trusted = s->info.trusted,
		.channel_binding = s->info.tls && s->io ? s->io->tls_channel_binding : NULL,
		.channel_binding_arg = s->conn,
		.passdb = s->info.passdb,
		.oauth = s->info.oauth,
		.ip = s->peer,
	};
	unsigned enabled = sasl_mechs_enabled(s->cfg->auth_mechanisms);
	for (size_t i = 0; i < sasl_mech_count(); i++) {
		const struct sasl_mech *m = sasl_mech_at(i);
		if ((m->flags & SASL_MECH_CBIND) && sasl_mech_usable(m, enabled, out))
			out->plus_offered = true;
	}
}

bool imap_cap_mech_offered(struct imap_session *s, const struct sasl_mech *m)
{
	if (s->state != ST_NOTAUTH)
		return false;
	struct sasl_conn conn;
	imap_cap_sasl_conn(s, &conn);
	return sasl_mech_usable(m, sasl_mechs_enabled(s->cfg->auth_mechanisms), &conn);
}

static void cap_write_mechs(struct imap_session *s, struct strbuf *out, bool *first)
{
	for (size_t i = 0; i < sasl_mech_count(); i++) {
		const struct sasl_mech *m = sasl_mech_at(i);
		if (!imap_cap_mech_offered(s, m))
			continue;
		if (!*first)
			strbuf_addc(out, ' ');
		strbuf_addf(out, "AUTH=%s", m->name);
		*first = false;
	}
}

static const struct capability *cap_find(const char *name, size_t *index)
{
	for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
		if (caps[i].when & AUTH_MECHS)
			continue;
		if (ascii_ieq(caps[i].name, name)) {
			*index = i;
			return &caps[i];
		}
	}
	return NULL;
}

void imap_cap_write(struct imap_session *s, struct strbuf *out)
{
	bool first = true;
	for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
		if (!offered(s, &caps[i]))
			continue;
		if (caps[i].when & AUTH_MECHS) {
			cap_write_mechs(s, out, &first);
			continue;
		}
		if (!first)
			strbuf_addc(out, ' ');
		strbuf_adds(out, caps[i].name);
		if (caps[i].value)
			caps[i].value(s, out);
		first = false;
	}
}

bool imap_cap_offered(struct imap_session *s, const char *name)
{
	if (strncasecmp(name, "AUTH=", 5) == 0) {
		const struct sasl_mech *m = sasl_mech_find(name + 5);
		return m && imap_cap_mech_offered(s, m);
	}
	size_t i;
	const struct capability *c = cap_find(name, &i);
	return c && offered(s, c);
}

const char *imap_cap_enable(struct imap_session *s, const char *name)
{
	size_t i;
	const struct capability *c = cap_find(name, &i);
	if (!c || !(c->when & ENABLEABLE) || !offered(s, c))
		return NULL;
	if (s->enabled & ((uint64_t)1 << i))
		return NULL;
	s->enabled |= (uint64_t)1 << i;
	if (c->enable)
		c->enable(s);
	return c->name;
}

bool imap_cap_enabled(const struct imap_session *s, const char *name)
{
	/* Asked per message of a FETCH (CONDSTORE, QRESYNC, UIDONLY), and
	 * most sessions never ENABLE anything: no table walk for them. */
	if (!s->enabled)
		return false;
	size_t i;
	return cap_find(name, &i) && (s->enabled & ((uint64_t)1 << i));
}
