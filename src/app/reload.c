/* SIGHUP (lifecycle.h): the configuration file read again, and what may
 * change in a running server changed.
 *
 * A file that does not load and validate as at start-up (config_load,
 * but for opening the TLS files, which the run user may not be able to:
 * net/tls.c re-reads them on its own; plus the SASL mechanism list) is
 * refused: the reason is logged
 * (event=reload_error) and the server goes on with the snapshot it has.
 *
 * What a reload can change: a struct config is an immutable snapshot, read
 * without locks by every session (s->cfg) and by the policy engine. A new
 * snapshot is therefore never written over the old one: new IMAP sessions
 * take the new one (imap_proto.cfg, swapped atomically), the policy engine
 * switches under its lock, and sessions already open keep the one they
 * started with. Old snapshots stay allocated until exit, which is what
 * makes that safe without a reference count on every session; the cost is
 * bounded: at most RELOAD_MAX snapshots (a few KiB each), after which a
 * reload is refused until a restart. Settings held elsewhere since start
 * (listeners, sockets, the workers, the store, the TLS context's paths,
 * the privilege drop) need a restart: the keys that changed among them are
 * logged as restart_needed=, and the server keeps their old values.
 *
 * Which keys are live is the table below; every other key, including
 * those added later, counts as needing a restart until it is listed. The
 * changed keys are found by comparing config_print() of both snapshots,
 * so a key no one lists is never missed. */
#include "app/lifecycle.h"
#include "auth/alert.h"
#include "auth/oauth.h"
#include "auth/passdb.h"
#include "auth/policy.h"
#include "auth/sasl.h"
#include "core/config.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "imap/proto.h"
#include "net/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RELOAD_MAX 64

static struct config *snapshots[RELOAD_MAX];
static size_t nsnapshots;

/* "section.key" that take effect on reload: [limits], [namespace],
 * [metadata] and the rest read through a session's s->cfg apply to the
 * sessions opened from now on; [policy] to the engine's next decision;
 * the log settings at once. */
static const char *const live_keys[] = {
	"server.log_level", "server.log_file", "server.shutdown_timeout",
	"security.auth_fail_delay_ms",
	"limits.max_line", "limits.max_literal", "limits.max_preauth_literal",
	"limits.max_message_size", "limits.max_output_buffer", "limits.idle_timeout",
	"limits.preauth_timeout", "limits.login_timeout", "limits.max_mailboxes",
	"limits.max_mailbox_name", "limits.max_notify_mailboxes", "limits.max_notify_events",
	"limits.max_search_contexts", "limits.inprogress_interval_ms",
	"auth.mechanisms",
	"policy.lockout_failures", "policy.lockout_window", "policy.lockout_duration",
	"policy.lockout_max_duration", "policy.spray_users", "policy.prefix_failures",
	"policy.user_failures", "policy.delay_base_ms", "policy.delay_max_ms",
	"policy.breaker_failures_per_s", "policy.max_sessions_per_user", "policy.save_interval",
	"quota.admins",
	"namespace.other_users_prefix", "namespace.shared_prefix", "namespace.public_owner",
	"namespace.private_seen",
	"metadata.max_value_size", "metadata.max_entries", "metadata.max_total_size",
	"metadata.admin", "metadata.comment",
	/* authcache (issue #14): applied by passdb_set_cache */
	"auth.cache_ttl", "auth.cache_size",
};

static bool reload_key_live(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(live_keys); i++)
		if (strcmp(live_keys[i], key) == 0)
			return true;
	return false;
}

/* One printed setting: "section.key" and its value (with continuation
 * lines), pointing into the printed text. */
struct reload_kv {
	char name[96];
	const char *val;
	size_t vlen;
};

/* Splits config_print() output into settings; a [listener X] or
 * [certificate X] section's keys are named "listener X.key". */
static size_t reload_parse(char *text, struct reload_kv **out)
{
	size_t n = 0, cap = 0;
	struct reload_kv *v = NULL;
	char sec[64] = "";
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (line[0] == '[') {
			snprintf(sec, sizeof(sec), "%.*s", (int)strcspn(line + 1, "]"), line + 1);
			continue;
		}
		if (line[0] == ' ' && n) {     /* a continuation: part of the value */
			v[n - 1].vlen = (size_t)(line + strlen(line) - v[n - 1].val);
			line[-1] = '\n';       /* rejoin it with the value */
			continue;
		}
		xgrow((void **)&v, &cap, n + 1, sizeof(*v));
		size_t klen = strcspn(line, " =");
		snprintf(v[n].name, sizeof(v[n].name), "%s.%.*s", sec, (int)klen, line);
		const char *eq = strchr(line, '=');
		v[n].val = eq ? eq + 1 : line + klen;
		v[n].vlen = strlen(v[n].val);
		n++;
	}
	*out = v;
	return n;
}

static char *reload_print(const struct config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		fatal("open_memstream failed");
	config_print(c, f);
	fclose(f);
	return buf;
}

/* Appends to `live` and `restart` the names of the settings that differ
 * (present in one only, or with another value). */
static void reload_diff(const struct config *a, const struct config *b, struct strbuf *live,
			struct strbuf *restart)
{
	char *ta = reload_print(a), *tb = reload_print(b);
	struct reload_kv *va, *vb;
	size_t na = reload_parse(ta, &va), nb = reload_parse(tb, &vb);
	for (int pass = 0; pass < 2; pass++) {
		const struct reload_kv *x = pass ? vb : va, *y = pass ? va : vb;
		size_t nx = pass ? nb : na, ny = pass ? na : nb;
		for (size_t i = 0; i < nx; i++) {
			const struct reload_kv *m = NULL;
			for (size_t j = 0; j < ny && !m; j++)
				if (strcmp(x[i].name, y[j].name) == 0)
					m = &y[j];
			/* a change seen from both sides is reported once */
			if (m && (pass || (m->vlen == x[i].vlen && memcmp(m->val, x[i].val, m->vlen) == 0)))
				continue;
			struct strbuf *to = reload_key_live(x[i].name) ? live : restart;
			strbuf_addf(to, "%s%s", to->len ? "," : "", x[i].name);
		}
	}
	free(va);
	free(vb);
	free(ta);
	free(tb);
}

/* The new file, validated as `rampart serve` does at start; NULL with
 * the reason logged. */
static struct config *reload_load(const char *path)
{
	struct config *c = NULL;
	char *err = NULL;
	unsigned mask;
	if (config_load_running(path, &c, &err) == 0 && sasl_mechs_parse(c->auth_mechanisms, &mask, &err) == 0)
		return c;
	config_free(c);
	log_err("event=reload_error what=config path=%s error=\"%s\" msg=\"old configuration kept\"",
		path, err ? err : "?");
	free(err);
	return NULL;
}

/* The settings that changed and can, take effect. */
static void reload_apply(struct lifecycle *lc, const struct config *old, struct config *c)
{
	log_set_level((enum log_level)c->log_level);
	if ((old->log_file || c->log_file) &&
	    (!old->log_file || !c->log_file || strcmp(old->log_file, c->log_file) != 0) &&
	    log_reopen(c->log_file) < 0)
		log_err("event=reload_error what=log_file path=%s error=\"%s\"", c->log_file,
			strerror(errno));
	policy_reconfigure(c);
	passdb_set_cache(lc->passdb, c->auth_cache_ttl, c->auth_cache_size);   /* authcache */
	__atomic_store_n(&lc->imap->cfg, c, __ATOMIC_RELEASE);
	lc->cfg = c;
}

void lifecycle_reload(struct lifecycle *lc)
{
	/* What lives in files of its own is re-read whatever the config says. */
	passdb_refresh(lc->passdb);
	/* authcache: every SIGHUP forgets the verified passwords */
	passdb_set_cache(lc->passdb, lc->cfg->auth_cache_ttl, lc->cfg->auth_cache_size);
	log_info("event=reload what=users_file");
	if (lc->oauth)
		oauth_reload(lc->oauth);
	server_tls_reload(lc->srv);
	alert_reload();

	if (nsnapshots == RELOAD_MAX) {
		log_err("event=reload_error what=config msg=\"%d reloads since start: restart to apply "
			"a new configuration\"", RELOAD_MAX);
		return;
	}
	struct config *c = reload_load(lc->cfg->path);
	if (!c)
		return;
	struct strbuf live = STRBUF_INIT, restart = STRBUF_INIT;
	reload_diff(lc->cfg, c, &live, &restart);
	if (!live.len && !restart.len) {
		log_info("event=reload what=config changed=none");
		config_free(c);
	} else {
		snapshots[nsnapshots++] = c;
		reload_apply(lc, lc->cfg, c);
		log_info("event=reload what=config changed=%s restart_needed=%s",
			 live.len ? strbuf_cstr(&live) : "-", restart.len ? strbuf_cstr(&restart) : "-");
	}
	strbuf_free(&live);
	strbuf_free(&restart);
}

void lifecycle_reload_free(void)
{
	for (size_t i = 0; i < nsnapshots; i++)
		config_free(snapshots[i]);
	nsnapshots = 0;
}
