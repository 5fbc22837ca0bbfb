/* The composition root of `rampart serve`: the one place (with main.c)
 * that knows every layer. It starts them in the order privileges demand:
 * the users file and the listeners while still root, then the privilege
 * drop, then the store, its change watcher and the work pool, then the
 * workers. It gives each listener its protocol (IMAP or LMTP) and
 * wires the store's change feed to the IMAP layer's routing through the
 * network layer's protocol-neutral server_post_all. */
#include "app/control.h"
#include "app/http.h"
#include "app/lifecycle.h"
#include "app/memtrim.h"
#include "app/serve.h"
#include "app/status.h"
#include "app/who.h"
#include "admin/admin.h"
#include "auth/alert.h"
#include "auth/oauth.h"
#include "auth/passdb.h"
#include "auth/policy.h"
#include "auth/rehash.h"
#include "auth/sasl.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/prom.h"
#include "core/privs.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/proto.h"
#include "core/workpool.h"
#include "imap/notify.h"
#include "imap/proto.h"
#include "imap/search_index.h"
#include "lmtp/lmtp.h"
#include "net/server.h"
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The watcher thread saw a change in the user's mail: the workers that
 * have sessions of that user look for them (imap/notify.c). */
static void serve_on_store_change(const char *user, void *arg)
{
	uint64_t mask;
	if (!imap_notify_slots(user, &mask)) {
		server_post_all(arg, imap_notify_user, user);
		return;
	}
	for (unsigned i = 0; mask; i++, mask >>= 1)
		if (mask & 1)
			server_post(arg, i, imap_notify_user, user);
}

/* The policy engine's lockouts and spraying sources become alerts. Runs
 * on the thread that recorded the failure; alert_policy_event only
 * queues. */
static void serve_policy_alert(const struct policy_event *ev, void *arg)
{
	(void)arg;
	char detail[96];
	snprintf(detail, sizeof(detail), "scope=%s duration=%us level=%u", ev->scope,
		 ev->duration_s, ev->level);
	metrics_policy_event(ev->type == POLICY_EV_LOCKOUT ? "lockout" : "spraying", ev->scope);
	alert_policy_event(ev->type == POLICY_EV_LOCKOUT ? ALERT_LOCKOUT : ALERT_SPRAYING,
			   ev->ip && *ev->ip ? ev->ip : NULL, ev->user && *ev->user ? ev->user : NULL,
			   detail);
}

/* metrics: GET /metrics, the Prometheus text format 0.0.4. */
static int serve_metrics_page(void *arg, const char *query, struct strbuf *body,
			      const char **content_type)
{
	(void)arg;
	(void)query;
	metrics_render(body);
	*content_type = "text/plain; version=0.0.4; charset=utf-8";
	return 200;
}

/* metrics: the control verb behind `rampart stats [--json]`. */
static int serve_stats_control(const char *args, struct strbuf *out)
{
	metrics_summary(out, strcmp(args, "json") == 0);
	return 0;
}

/* snap (issue #14): the big-mailbox snapshots of store/snap.c, read when
 * rendered (store/ may not call core/metrics' registry itself). */
static double snap_metric(void *arg)
{
	struct store_snap_stats st;
	store_snap_stats(&st);
	switch ((uintptr_t)arg) {
	case 0: return (double)st.bytes;
	case 1: return (double)st.hits;
	case 3: return (double)st.updates; /* snapd */
	default: return (double)st.misses;
	}
}

static void serve_snap_metrics(void)
{
	prom_gauge_fn("rampart_store_snapshot_bytes",
		      "Memory held by big-mailbox snapshots ([store] snapshot_max_mb).",
		      snap_metric, (void *)0);
	prom_gauge_fn("rampart_store_snapshot_hits",
		      "SELECTs and flag FETCHes answered from a current snapshot since start.",
		      snap_metric, (void *)1);
	prom_gauge_fn("rampart_store_snapshot_misses",
		      "Snapshot lookups that read the index (none, or stale) since start.",
		      snap_metric, (void *)2);
	/* snapd (issue #14) */
	prom_gauge_fn("rampart_store_snapshot_updates",
		      "Stale snapshots brought up to date from what changed since start.",
		      snap_metric, (void *)3);
}

/* msgcache (issue #14): the message cache of store/blob_cache.c. */
static double msgcache_metric(void *arg)
{
	struct store_message_cache_stats st;
	store_message_cache_stats(&st);
	switch ((uintptr_t)arg) {
	case 0: return (double)st.bytes;
	case 1: return (double)st.hits;
	default: return (double)st.misses;
	}
}

static void serve_msgcache_metrics(void)
{
	prom_gauge_fn("rampart_store_message_cache_bytes",
		      "Memory held by the message cache ([store] message_cache_mb).",
		      msgcache_metric, (void *)0);
	prom_gauge_fn("rampart_store_message_cache_hits",
		      "Message reads answered from the message cache since start.",
		      msgcache_metric, (void *)1);
	prom_gauge_fn("rampart_store_message_cache_misses",
		      "Message reads of small messages that opened the file since start.",
		      msgcache_metric, (void *)2);
}

/* issue #14: the background work on users' stores, read when rendered:
 * indexer jobs (users whose new or older mail is being indexed or waits
 * for `[store] index_delay_ms`), WAL checkpoints and the early commits of
 * background writers (store_sync_stats). */
static double store_bg_metric(void *arg)
{
	if ((uintptr_t)arg == 0)
		return (double)search_index_running();
	struct store_sync_stats st;
	store_sync_stats(&st);
	switch ((uintptr_t)arg) {
	case 1: return (double)st.checkpoints;
	case 2: return (double)st.checkpoints_inline;
	default: return (double)st.yields;
	}
}

static void serve_store_bg_metrics(void)
{
	prom_gauge_fn("rampart_search_index_jobs",
		      "Users whose mail is being indexed for SEARCH now or waits for it "
		      "([store] index_delay_ms, index_batch).",
		      store_bg_metric, (void *)0);
	prom_gauge_fn("rampart_store_checkpoints",
		      "WAL checkpoints run by the checkpoint thread since start.",
		      store_bg_metric, (void *)1);
	prom_gauge_fn("rampart_store_checkpoints_inline",
		      "WAL checkpoints a committing command ran itself since start (a log past "
		      "8,000 pages).",
		      store_bg_metric, (void *)2);
	prom_gauge_fn("rampart_store_background_yields",
		      "Times the search indexer or preview maker committed early for a command "
		      "waiting for a user's write lock, since start.",
		      store_bg_metric, (void *)3);
}

/* metrics: the label values only the composition root can gather (the
 * listeners of the config, the IMAP command table, the SASL table). */
static void serve_metrics_init(const struct config *cfg)
{
	const char **listeners = xcalloc(cfg->nlisteners + 1, sizeof(*listeners));
	for (size_t i = 0; i < cfg->nlisteners; i++)
		listeners[i] = cfg->listeners[i].name;
	size_t ncmds = 0;
	while (imap_cmd_name_at(ncmds))
		ncmds++;
	const char **cmds = xcalloc(ncmds + 1, sizeof(*cmds));
	for (size_t i = 0; i < ncmds; i++)
		cmds[i] = imap_cmd_name_at(i);
	size_t nmechs = sasl_mech_count();
	const char **mechs = xcalloc(nmechs + 1, sizeof(*mechs));
	for (size_t i = 0; i < nmechs; i++)
		mechs[i] = sasl_mech_at(i)->name;
	metrics_init(&(struct metrics_names){ listeners, cfg->nlisteners, cmds, ncmds, mechs, nmechs });
	free(listeners);
	free(cmds);
	free(mechs);
	serve_snap_metrics(); /* snap (issue #14) */
	serve_store_bg_metrics();
	serve_msgcache_metrics();
}

int app_serve(const struct config *cfg)
{
	signal(SIGPIPE, SIG_IGN);
	/* Only this thread takes the signals (sigwait, app/lifecycle.c). */
	sigset_t sigs;
	lifecycle_init(&sigs);

	char *perr = NULL;
	struct passdb *passdb = passdb_load(cfg->users_file, &perr);
	if (!passdb) {
		log_err("event=startup_error msg=\"cannot load users file\" path=%s error=\"%s\"",
			cfg->users_file, perr ? perr : "?");
		free(perr);
		return 1;
	}
	passdb_set_state_dir(passdb, cfg->state_dir);   /* app-password last use */
	passdb_set_cache(passdb, cfg->auth_cache_ttl, cfg->auth_cache_size);   /* authcache */
	/* Forks the root helper that upgrades legacy hashes, while the
	 * process is still single-threaded and root (auth/rehash.h). */
	struct rehash *rehash = rehash_start(cfg, passdb);
	struct imap_proto imap = { .cfg = cfg, .passdb = passdb };
	struct lmtp_proto lmtp = { .cfg = cfg, .passdb = passdb,
				   .new_mail = search_index_kick_soon /* newmsg */ };
	struct server_proto protos[LISTENER_PROTO__COUNT] = {
		[LISTENER_PROTO_IMAP] = { &imap_proto_ops, &imap },
		[LISTENER_PROTO_LMTP] = { &lmtp_proto_ops, &lmtp },
	};
	/* Cached store handles are per thread and are what a descriptor
	 * shortage can give back. */
	const struct server_hooks hooks = {
		.fds_short = store_cache_drop,
		.worker_start = imap_notify_thread_slot,
		.worker_exit = store_cache_drop,
		.source_known = policy_addr_known,
	};
	int rc = 1;
	bool store_up = false, watching = false, pool = false, policy = false,
	     alerts = false, pidfile = false;
	struct server *srv = NULL;
	/* lmtp: the default LMTP socket lives in state_dir, which must exist
	 * (owned by the run user) before the listeners bind. */
	if (privs_state_dir(cfg, cfg->state_dir) < 0 ||
	    (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST)) {
		log_err("event=startup_error msg=\"cannot create state_dir\" path=%s", cfg->state_dir);
		goto out;
	}
	srv = server_new(cfg, protos, &hooks);
	if (!srv)
		goto out;
	/* lifecycle: as root, once the ports are ours (docs/configuration.md) */
	if (lifecycle_pidfile_write(cfg->pid_file) < 0)
		goto out;
	pidfile = true;
	if (privs_state_dir(cfg, cfg->state_dir) < 0 || privs_drop(cfg) < 0)
		goto out;
	/* [oauth]: read as the run user, as every reload will be; a bad JWKS
	 * stops the start. */
	char *oerr = NULL;
	imap.oauth = oauth_new(cfg, &oerr);
	if (oerr) {
		log_err("event=startup_error msg=\"cannot load [oauth] jwks_file\" error=\"%s\"", oerr);
		free(oerr);
		goto out;
	}
	/* The server's own state (auth counters, app-password use, login
	 * history) lives apart from mail, private to the run user. */
	if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
		log_err("event=startup_error msg=\"cannot create state_dir\" path=%s error=\"%s\"",
			cfg->state_dir, strerror(errno));
		goto out;
	}
	/* After the drop: the state file belongs to the run user. */
	if (policy_init(cfg) < 0)
		goto out;
	policy = true;
	/* `rampart security status|unlock` reach the engine through here. */
	control_register("security", policy_control);
	/* metrics: `rampart stats` */
	control_register("stats", serve_stats_control);
	/* status: `rampart who|kick` (verbs "who", "kick") ask the workers. */
	app_who_attach(srv);
	char *ctl = xasprintf("%s/control.sock", cfg->state_dir);
	int ctl_rc = control_start(ctl);
	free(ctl);
	if (ctl_rc < 0)
		goto out;
	/* Alerts read their history from state_dir; the policy engine's
	 * known-sources record plugs in with alert_set_prefix_known(). */
	if (alert_init(cfg) < 0)
		goto out;
	alerts = true;
	policy_set_event_hook(serve_policy_alert, NULL);
	if (store_init(cfg->mail_root) < 0) {
		log_err("event=startup_error msg=\"cannot open mail_root\" path=%s", cfg->mail_root);
		goto out;
	}
	store_up = true;
	store_set_expunged_history_days(cfg->store_expunged_history_days);
	store_snap_setup((size_t)cfg->store_snapshot_max_mb << 20, cfg->store_snapshot_min_messages,
			 (uint64_t)cfg->store_snapshot_idle_s * 1000); /* snap */
	store_message_cache_set((size_t)cfg->store_message_cache_mb << 20); /* msgcache */
	store_inline_set((size_t)cfg->store_inline_max_kb << 10);           /* inline */
	if (store_sync_start(cfg->store_metadata_sync_delay_ms) != STORE_OK) /* durable */
		goto out;
	admin_quota_defaults(cfg);
	if (store_special_defaults_set(cfg) != STORE_OK) { /* ext (issue #12) */
		log_err("event=startup_error msg=\"[mailboxes]: a name is not a valid mailbox name\"");
		goto out;
	}
	if (store_watch_start(serve_on_store_change, srv) < 0) {
		log_err("event=startup_error msg=\"cannot start change watcher\"");
		goto out;
	}
	watching = true;
	workpool_set_fair_bound(cfg->policy_max_queued_checks);
	workpool_set_disk_threads(cfg->store_write_threads); /* dlv (issue #14) */
	workpool_set_background_threads(cfg->store_background_threads,
					(int)cfg->store_background_nice); /* issue #14 */
	workpool_set_sched_batch(cfg->store_pool_sched_batch);            /* issue #14 */
	search_index_configure(cfg->store_index_delay_ms, cfg->store_index_batch); /* lazyidx */
	if (workpool_start(server_workers(srv)) < 0)
		fatal("cannot start work pool");
	pool = true;
	if (memtrim_start() < 0)   /* idle (issue #14): app/memtrim.c */
		goto out;
	/* metrics: before any worker records */
	serve_metrics_init(cfg);
	http_route("/metrics", serve_metrics_page, NULL);
	/* [http]: /metrics and the status page, on a thread of their own;
	 * handlers are registered above this line. */
	if (app_status_start(cfg) < 0)   /* status: "/" and "/status.json" */
		goto out;
	if (http_start(cfg) < 0)
		goto out;
	server_start(srv);
	struct lifecycle life = { .cfg = cfg, .passdb = passdb, .oauth = imap.oauth, .srv = srv,
				  .imap = &imap };
	lifecycle_run(&life, &sigs);
	server_drain(srv, life.cfg->shutdown_timeout);
	rc = 0;
out:
	http_stop();
	app_status_stop();
	app_who_attach(NULL);   /* before server_free: no more posts */
	if (watching)
		store_watch_stop();
	memtrim_stop();   /* idle: before the store shuts down */
	if (pool)
		workpool_stop();
	server_free(srv);
	control_stop();
	if (policy)
		policy_shutdown();
	if (alerts) {
		policy_set_event_hook(NULL, NULL);
		alert_shutdown();
	}
	if (store_up)
		store_shutdown();
	rehash_stop(rehash);
	passdb_free(passdb);
	oauth_free(imap.oauth);
	if (pidfile)
		lifecycle_pidfile_remove(cfg->pid_file);
	lifecycle_reload_free();
	if (rc == 0)
		log_info("event=stopped");
	return rc;
}
