/* Rampart's metrics (core/metrics.h): the families, registered once in
 * the registry (core/prom.c), and the small functions through which net/,
 * auth/, imap/ and lmtp/ record into them. This file is the catalogue:
 * a metric is added here and in docs/operations.md, nowhere else.
 *
 * It lives in core/ so that every layer may record without knowing the
 * others; the label values it cannot know (listener names, the command
 * table, the SASL table) are handed in by the composition root.
 *
 * Names follow the Prometheus conventions: a rampart_ prefix, the unit in
 * the name (_seconds, _bytes), _total on counters. */
#include "core/metrics.h"
#include "core/prom.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/workpool.h"

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- fixed label values ---- */

static const char *const tls_open[] = { "none", "TLSv1.2", "TLSv1.3", "other" };
static const char *const tls_result[] = { "TLSv1.2", "TLSv1.3", "other", "failed" };
static const char *const login_results[] = { "ok", "fail", "locked", "refused", "other" };
static const char *const policy_types[] = { "lockout", "spraying" };
static const char *const policy_scopes[] = { "source", "prefix", "user", "user_source", "other" };
static const char *const cmd_status[] = { "ok", "no", "bad" };
static const char *const delivery_results[] = { "ok", "overquota", "nouser", "error", "rejected" };

enum { TLS_NONE, TLS_12, TLS_13, TLS_OTHER };

/* Seconds: from a cached SELECT (~50 us) to a SEARCH over a large
 * mailbox or an IDLE that lasts minutes (the last bucket). */
static const double latency_bounds[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
					 0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
					 5,      10,      30 };

static struct {
	bool up;
	time_t started;
	uint64_t started_mono_ns;
	const char **listeners, **commands, **mechs;
	size_t nlisteners, ncommands, nmechs;
	const char *version[1];
	struct prom_family *conn_accepted, *conn_open, *tls_handshakes, *bytes_in, *bytes_out;
	struct prom_family *logins, *policy_events;
	struct prom_family *commands_total, *command_seconds, *store_seconds, *quota_refusals;
	struct prom_family *deliveries, *build_info;
} m;

/* The last minute of logins, for `rampart stats`: one slot per second. */
#define WINDOW_SECONDS 60
struct window_slot {
	uint64_t second;
	unsigned ok, fail;
};
static struct {
	pthread_mutex_t lock;
	struct window_slot slot[WINDOW_SECONDS];
} window = { .lock = PTHREAD_MUTEX_INITIALIZER };

uint64_t metrics_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* values[0..n) plus "other", owned by the catalogue for the process. */
static const char **with_other(const char *const *values, size_t n)
{
	const char **v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = values[i];
	v[n] = "other";
	return v;
}

static size_t index_of(const char *s, const char *const *values, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(values[i], s) == 0)
			return i;
	return n - 1; /* every set ends with its "other" */
}

#define LABELS(label, arr, count) (&(struct prom_labels){ label, arr, count })
#define FIXED(label, arr) LABELS(label, arr, ARRAY_SIZE(arr))

/* ---- process facts, read when scraped ---- */

static double uptime_seconds(void *arg)
{
	(void)arg;
	return (double)(metrics_now_ns() - m.started_mono_ns) / 1e9;
}

static double start_time(void *arg)
{
	(void)arg;
	return (double)m.started;
}

/* statm's second field: resident pages. */
static double rss_bytes(void *arg)
{
	(void)arg;
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static double open_fds(void *arg)
{
	(void)arg;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	unsigned n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n > 0 ? n - 1 : 0; /* less the directory being read */
}

static double pool_queued(void *arg)
{
	(void)arg;
	return workpool_queued();
}

static void register_connections(void)
{
	const struct prom_labels *lst = LABELS("listener", m.listeners, m.nlisteners + 1);
	m.conn_accepted = prom_family_new(PROM_COUNTER, "rampart_connections_accepted_total",
					  "Connections accepted, by listener.", lst, NULL, NULL, 0, 0);
	m.conn_open = prom_family_new(PROM_GAUGE, "rampart_connections_open",
				      "Connections open now, by listener and TLS version (none "
				      "before the handshake and without TLS).",
				      lst, FIXED("tls", tls_open), NULL, 0, 0);
	m.tls_handshakes = prom_family_new(PROM_COUNTER, "rampart_tls_handshakes_total",
					   "TLS handshakes (implicit TLS and STARTTLS), by listener "
					   "and the version agreed, or failed.",
					   lst, FIXED("result", tls_result), NULL, 0, 0);
	m.bytes_in = prom_family_new(PROM_COUNTER, "rampart_received_bytes_total",
				     "Bytes read from clients (after TLS, before COMPRESS), by listener.",
				     lst, NULL, NULL, 0, 0);
	m.bytes_out = prom_family_new(PROM_COUNTER, "rampart_sent_bytes_total",
				      "Bytes written to clients (before TLS, after COMPRESS), by listener.",
				      lst, NULL, NULL, 0, 0);
}

static void register_auth(void)
{
	m.logins = prom_family_new(PROM_COUNTER, "rampart_logins_total",
				   "Authentication attempts decided, by result (ok, fail: bad "
				   "credentials, locked: refused by the lockout policy, refused: "
				   "a limit) and SASL mechanism.",
				   FIXED("result", login_results),
				   LABELS("mechanism", m.mechs, m.nmechs + 1), NULL, 0, 0);
	m.policy_events = prom_family_new(PROM_COUNTER, "rampart_policy_events_total",
					  "Policy engine events: lockouts and password spraying "
					  "detected, by scope.",
					  FIXED("type", policy_types), FIXED("scope", policy_scopes),
					  NULL, 0, 0);
}

static void register_imap(void)
{
	const struct prom_labels *cmds = LABELS("command", m.commands, m.ncommands + 1);
	m.commands_total = prom_family_new(PROM_COUNTER, "rampart_imap_commands_total",
					   "IMAP commands completed, by command and tagged status.",
					   cmds, FIXED("status", cmd_status), NULL, 0, 0);
	m.command_seconds = prom_family_new(PROM_HISTOGRAM, "rampart_imap_command_duration_seconds",
					    "Time from a command's line to its tagged reply "
					    "(IDLE: the whole idle).",
					    cmds, NULL, latency_bounds, ARRAY_SIZE(latency_bounds), 1e9);
	m.store_seconds = prom_family_new(PROM_HISTOGRAM, "rampart_workpool_job_duration_seconds",
					  "Time a command's job ran on a work-pool thread: its store "
					  "phase (LOGIN, AUTHENTICATE: the password check).",
					  cmds,
					  NULL, latency_bounds, ARRAY_SIZE(latency_bounds), 1e9);
	m.quota_refusals = prom_family_new(PROM_COUNTER, "rampart_quota_refusals_total",
					   "Commands refused with [OVERQUOTA].", NULL, NULL, NULL, 0, 0);
}

static void register_auth_cache(void); /* authcache (issue #14), at the end */
/* durable (issue #14): rampart_store_fsyncs_total{kind} */
static const char *const fsync_kinds[] = { "commit", "metadata", "metadata_dir" };
static struct prom_family *g_store_fsyncs;

static void register_durable(void)
{
	g_store_fsyncs = prom_family_new(
		PROM_COUNTER, "rampart_store_fsyncs_total",
		"Index syncs of the store by kind: commit (a write transaction synced before "
		"its answer), metadata (the syncer's one sync for deferred commits of a user), "
		"metadata_dir.",
		FIXED("kind", fsync_kinds), NULL, NULL, 0, 0);
}

static const char *g_version = "unknown";

void metrics_set_version(const char *version)
{
	g_version = version;
}

void metrics_init(const struct metrics_names *n)
{
	if (m.up)
		return;
	m.started = time(NULL);
	m.started_mono_ns = metrics_now_ns();
	m.listeners = with_other(n->listeners, n->nlisteners);
	m.nlisteners = n->nlisteners;
	m.commands = with_other(n->commands, n->ncommands);
	m.ncommands = n->ncommands;
	m.mechs = with_other(n->mechs, n->nmechs);
	m.nmechs = n->nmechs;
	m.version[0] = g_version;
	register_connections();
	register_auth();
	register_imap();
	m.deliveries = prom_family_new(PROM_COUNTER, "rampart_deliveries_total",
				       "LMTP deliveries, one per recipient, by result.",
				       FIXED("result", delivery_results), NULL, NULL, 0, 0);
	prom_gauge_fn("rampart_workpool_queued_jobs",
		      "Jobs waiting for a work-pool thread (password checks, store work).",
		      pool_queued, NULL);
	m.build_info = prom_family_new(PROM_GAUGE, "rampart_build_info",
				       "Always 1; the version as a label.",
				       LABELS("version", m.version, 1), NULL, NULL, 0, 0);
	prom_add(m.build_info, 0, 0, 1);
	prom_gauge_fn("rampart_process_start_time_seconds",
		      "When the server started, in seconds since the epoch.", start_time, NULL);
	prom_gauge_fn("rampart_uptime_seconds", "Seconds since the server started.",
		      uptime_seconds, NULL);
	prom_gauge_fn("rampart_process_resident_memory_bytes", "Resident memory (/proc/self/statm).",
		      rss_bytes, NULL);
	prom_gauge_fn("rampart_process_open_fds", "Open file descriptors.", open_fds, NULL);
	register_auth_cache(); /* authcache (issue #14) */
	register_durable();  /* durable (issue #14) */
	m.up = true;
}

/* ---- recording ---- */

static size_t listener_idx(size_t l)
{
	return l < m.nlisteners ? l : m.nlisteners;
}

void metrics_conn_open(size_t listener)
{
	prom_add(m.conn_accepted, listener_idx(listener), 0, 1);
	prom_add(m.conn_open, listener_idx(listener), TLS_NONE, 1);
}

unsigned metrics_conn_tls(size_t listener, const char *version)
{
	unsigned t = !version			   ? TLS_OTHER
		     : strcmp(version, "TLSv1.3") == 0 ? TLS_13
		     : strcmp(version, "TLSv1.2") == 0 ? TLS_12
						       : TLS_OTHER;
	size_t l = listener_idx(listener);
	prom_add(m.conn_open, l, TLS_NONE, (uint64_t)-1);
	prom_add(m.conn_open, l, t, 1);
	prom_add(m.tls_handshakes, l, t - 1, 1); /* tls_result has no "none" */
	return t;
}

void metrics_tls_failed(size_t listener)
{
	prom_add(m.tls_handshakes, listener_idx(listener), ARRAY_SIZE(tls_result) - 1, 1);
}

void metrics_conn_close(size_t listener, unsigned tls)
{
	prom_add(m.conn_open, listener_idx(listener), tls, (uint64_t)-1);
}

void metrics_bytes_in(size_t listener, uint64_t n)
{
	prom_add(m.bytes_in, listener_idx(listener), 0, n);
}

void metrics_bytes_out(size_t listener, uint64_t n)
{
	prom_add(m.bytes_out, listener_idx(listener), 0, n);
}

static void window_count(bool ok)
{
	uint64_t now = metrics_now_ns() / 1000000000u;
	pthread_mutex_lock(&window.lock);
	struct window_slot *s = &window.slot[now % WINDOW_SECONDS];
	if (s->second != now) {
		s->second = now;
		s->ok = s->fail = 0;
	}
	if (ok)
		s->ok++;
	else
		s->fail++;
	pthread_mutex_unlock(&window.lock);
}

void metrics_login(const char *result, const char *mech)
{
	if (!m.up)
		return;
	size_t r = index_of(result, login_results, ARRAY_SIZE(login_results));
	prom_add(m.logins, r, index_of(mech, m.mechs, m.nmechs + 1), 1);
	if (r <= 2) /* ok, fail, locked: what an administrator calls a login */
		window_count(r == 0);
}

void metrics_policy_event(const char *type, const char *scope)
{
	prom_add(m.policy_events, index_of(type, policy_types, ARRAY_SIZE(policy_types)),
		 index_of(scope, policy_scopes, ARRAY_SIZE(policy_scopes)), 1);
}

static size_t cmd_idx(size_t cmd)
{
	return cmd < m.ncommands ? cmd : m.ncommands;
}

void metrics_command(size_t cmd, const char *status, uint64_t start_ns)
{
	if (!m.up)
		return;
	size_t c = cmd_idx(cmd);
	size_t st = status[0] == 'O' ? 0 : status[0] == 'N' ? 1 : 2;
	prom_add(m.commands_total, c, st, 1);
	prom_observe(m.command_seconds, c, 0, metrics_now_ns() - start_ns);
}

void metrics_pool_job(size_t cmd, uint64_t ns)
{
	prom_observe(m.store_seconds, cmd_idx(cmd), 0, ns);
}

void metrics_quota_refused(void)
{
	prom_add(m.quota_refusals, 0, 0, 1);
}

void metrics_delivery(enum metrics_delivery result)
{
	prom_add(m.deliveries, result, 0, 1);
}

void metrics_store_fsync(enum metrics_fsync kind)
{
	prom_add(g_store_fsyncs, kind, 0, 1);
}

/* ---- reading ---- */

void metrics_render(struct strbuf *out)
{
	prom_render(out);
}

static uint64_t sum_family(const struct prom_family *f, size_t n1, size_t n2)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n1; i++)
		for (size_t j = 0; j < n2; j++)
			v += prom_value(f, i, j);
	return v;
}

static void window_sum(unsigned *ok, unsigned *fail)
{
	uint64_t now = metrics_now_ns() / 1000000000u;
	*ok = *fail = 0;
	pthread_mutex_lock(&window.lock);
	for (size_t i = 0; i < WINDOW_SECONDS; i++) {
		if (window.slot[i].second + WINDOW_SECONDS > now && window.slot[i].second <= now) {
			*ok += window.slot[i].ok;
			*fail += window.slot[i].fail;
		}
	}
	pthread_mutex_unlock(&window.lock);
}

struct summary {
	uint64_t uptime, open, accepted, bytes_in, bytes_out, commands, cmd_no, cmd_bad, quota;
	uint64_t logins[ARRAY_SIZE(login_results)];
	uint64_t deliveries[METRICS_DELIVERY__COUNT];
	unsigned ok_minute, fail_minute, queued;
};

static void summary_collect(struct summary *s)
{
	size_t nl = m.nlisteners + 1, nc = m.ncommands + 1;
	memset(s, 0, sizeof(*s));
	s->uptime = (uint64_t)uptime_seconds(NULL);
	s->open = sum_family(m.conn_open, nl, ARRAY_SIZE(tls_open));
	s->accepted = sum_family(m.conn_accepted, nl, 1);
	s->bytes_in = sum_family(m.bytes_in, nl, 1);
	s->bytes_out = sum_family(m.bytes_out, nl, 1);
	for (size_t c = 0; c < nc; c++) {
		s->commands += prom_value(m.commands_total, c, 0);
		s->cmd_no += prom_value(m.commands_total, c, 1);
		s->cmd_bad += prom_value(m.commands_total, c, 2);
	}
	s->commands += s->cmd_no + s->cmd_bad;
	for (size_t r = 0; r < ARRAY_SIZE(login_results); r++)
		for (size_t k = 0; k <= m.nmechs; k++)
			s->logins[r] += prom_value(m.logins, r, k);
	s->quota = prom_value(m.quota_refusals, 0, 0);
	for (size_t d = 0; d < METRICS_DELIVERY__COUNT; d++)
		s->deliveries[d] = prom_value(m.deliveries, d, 0);
	window_sum(&s->ok_minute, &s->fail_minute);
	s->queued = workpool_queued();
}

static void summary_text(struct strbuf *out, const struct summary *s)
{
	strbuf_addf(out, "version:        %s\n", m.version[0]);
	strbuf_addf(out, "uptime:         %llud %02lluh %02llum %02llus\n",
		    (unsigned long long)(s->uptime / 86400), (unsigned long long)(s->uptime / 3600 % 24),
		    (unsigned long long)(s->uptime / 60 % 60), (unsigned long long)(s->uptime % 60));
	strbuf_addf(out, "connections:    %llu open, %llu accepted\n", (unsigned long long)s->open,
		    (unsigned long long)s->accepted);
	strbuf_addf(out, "logins:         %llu ok, %llu failed, %llu locked, %llu refused\n",
		    (unsigned long long)s->logins[0], (unsigned long long)s->logins[1],
		    (unsigned long long)s->logins[2], (unsigned long long)s->logins[3]);
	strbuf_addf(out, "last minute:    %u ok, %u failed\n", s->ok_minute, s->fail_minute);
	strbuf_addf(out, "commands:       %llu (%llu NO, %llu BAD)\n", (unsigned long long)s->commands,
		    (unsigned long long)s->cmd_no, (unsigned long long)s->cmd_bad);
	strbuf_addf(out, "bytes:          %llu in, %llu out\n", (unsigned long long)s->bytes_in,
		    (unsigned long long)s->bytes_out);
	strbuf_adds(out, "deliveries:    ");
	for (size_t d = 0; d < METRICS_DELIVERY__COUNT; d++)
		strbuf_addf(out, "%s %llu %s", d ? "," : "", (unsigned long long)s->deliveries[d],
			    delivery_results[d]);
	strbuf_addf(out, "\nquota refusals: %llu\n", (unsigned long long)s->quota);
	strbuf_addf(out, "work pool:      %u queued\n", s->queued);
}

/* Every value is a number or a fixed ASCII name: nothing to escape but
 * the version, which the build sets. */
static void summary_json(struct strbuf *out, const struct summary *s)
{
	strbuf_addf(out, "{\"version\":\"%s\",\"uptime_seconds\":%llu,", m.version[0],
		    (unsigned long long)s->uptime);
	strbuf_addf(out, "\"connections\":{\"open\":%llu,\"accepted\":%llu},",
		    (unsigned long long)s->open, (unsigned long long)s->accepted);
	strbuf_adds(out, "\"logins\":{");
	for (size_t r = 0; r + 1 < ARRAY_SIZE(login_results); r++)
		strbuf_addf(out, "\"%s\":%llu,", login_results[r], (unsigned long long)s->logins[r]);
	strbuf_addf(out, "\"ok_last_minute\":%u,\"failed_last_minute\":%u},", s->ok_minute,
		    s->fail_minute);
	strbuf_addf(out, "\"commands\":{\"total\":%llu,\"no\":%llu,\"bad\":%llu,\"by_name\":{",
		    (unsigned long long)s->commands, (unsigned long long)s->cmd_no,
		    (unsigned long long)s->cmd_bad);
	bool first = true;
	for (size_t c = 0; c <= m.ncommands; c++) {
		uint64_t n = 0;
		for (size_t st = 0; st < ARRAY_SIZE(cmd_status); st++)
			n += prom_value(m.commands_total, c, st);
		if (!n)
			continue;
		strbuf_addf(out, "%s\"%s\":%llu", first ? "" : ",", m.commands[c], (unsigned long long)n);
		first = false;
	}
	strbuf_addf(out, "}},\"bytes\":{\"in\":%llu,\"out\":%llu},\"deliveries\":{",
		    (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out);
	for (size_t d = 0; d < METRICS_DELIVERY__COUNT; d++)
		strbuf_addf(out, "%s\"%s\":%llu", d ? "," : "", delivery_results[d],
			    (unsigned long long)s->deliveries[d]);
	strbuf_addf(out, "},\"quota_refusals\":%llu,\"workpool_queued\":%u}\n",
		    (unsigned long long)s->quota, s->queued);
}

void metrics_summary(struct strbuf *out, int json)
{
	if (!m.up) { /* the control socket opens before the workers start */
		strbuf_adds(out, json ? "{\"starting\":true}\n" : "starting\n");
		return;
	}
	struct summary s;
	summary_collect(&s);
	if (json)
		summary_json(out, &s);
	else
		summary_text(out, &s);
}

/* ---- authcache (issue #14): the authentication cache (auth/authcache.c) ---- */

static const char *const auth_cache_results[] = { "hit", "miss" };
static struct prom_family *auth_cache_lookups, *auth_cache_entries;

static void register_auth_cache(void)
{
	auth_cache_lookups = prom_family_new(PROM_COUNTER, "rampart_auth_cache_total",
					     "Password checks that asked the authentication cache: "
					     "hit (answered without the password hash), miss (the "
					     "hash ran).",
					     FIXED("result", auth_cache_results), NULL, NULL, 0, 0);
	auth_cache_entries = prom_family_new(PROM_GAUGE, "rampart_auth_cache_entries",
					     "Entries held by the authentication cache (expired "
					     "ones until their slot is reused).",
					     NULL, NULL, NULL, 0, 0);
}

void metrics_auth_cache(int hit)
{
	prom_add(auth_cache_lookups, hit ? 0 : 1, 0, 1);
}

void metrics_auth_cache_entries(int64_t delta)
{
	prom_add(auth_cache_entries, 0, 0, (uint64_t)delta);
}
