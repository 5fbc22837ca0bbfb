/* The status page and its JSON (app/status.h). Every figure comes from the
 * module that owns it, read without holding up a client: connections from
 * the workers' own lists (app/who.c), logins per minute from the audit
 * trail's ring (auth/login_rate.c), failing sources, usernames and locks
 * from the policy engine's snapshot (auth/policy_snapshot.c), alerts from
 * their in-memory ring (auth/alert_recent.c).
 *
 * Storage per user is the one figure that costs: a store open and a quota
 * read per user. A thread of this file measures it, at most every
 * STATUS_STORAGE_REFRESH_S seconds and only while someone looks at the
 * page; the HTTP thread only copies the last result, which keeps the
 * STATUS_STORAGE_TOP largest users (bounded for 10,000 users and more).
 * Users who never received mail (no store directory) are skipped: opening
 * a store would create one.
 *
 * The JSON is built with jansson, which escapes every string; the page
 * puts strings in with textContent only (status_page.html). */
#include "app/status.h"
#include "app/http.h"
#include "app/who.h"
#include "auth/alert.h"
#include "auth/login_rate.h"
#include "auth/passdb.h"
#include "auth/policy.h"
#include "core/config.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define STATUS_STORAGE_REFRESH_S 60
#define STATUS_STORAGE_TOP 50
#define STATUS_SESSIONS_MAX 200

/* The page, embedded by CMakeLists.txt from src/app/status_page.html. */
extern const unsigned char app_status_page_html[];
extern const size_t app_status_page_html_len;

struct status_storage {
	char user[128];
	uint64_t bytes, messages;
	uint64_t limit_kib;        /* 0: unlimited */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	const struct config *cfg;
	pthread_t thread;
	bool running, stopping, wanted;
	time_t measured;           /* last measurement done; 0: none yet */
	size_t users;              /* users with a store at that time */
	struct status_storage top[STATUS_STORAGE_TOP];
	size_t ntop;
	uint64_t total_bytes;
} S = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* ---- storage per user, on the status thread ---- */

static void storage_top_add(struct status_storage *top, size_t *n, const struct status_storage *e)
{
	size_t k;
	if (*n < STATUS_STORAGE_TOP)
		k = (*n)++;
	else if (e->bytes > top[STATUS_STORAGE_TOP - 1].bytes)
		k = STATUS_STORAGE_TOP - 1;
	else
		return;
	while (k > 0 && top[k - 1].bytes < e->bytes) {
		top[k] = top[k - 1];
		k--;
	}
	top[k] = *e;
}

static bool status_stopping(void)
{
	pthread_mutex_lock(&S.lock);
	bool stop = S.stopping;
	pthread_mutex_unlock(&S.lock);
	return stop;
}

static void storage_measure(const struct config *cfg)
{
	char **users = NULL;
	size_t n = 0;
	if (passdb_file_list(cfg->users_file, &users, &n) < 0) {
		log_warn("event=status_storage_error msg=\"cannot read users file\" path=%s",
			 cfg->users_file);
		return;
	}
	struct status_storage top[STATUS_STORAGE_TOP];
	size_t ntop = 0, with_store = 0;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		if (status_stopping()) {   /* shutdown does not wait for 10,000 stores */
			for (; i < n; i++)
				free(users[i]);
			free(users);
			return;
		}
		char *dir = store_user_dir(users[i]);
		struct stat st;
		bool exists = dir && stat(dir, &st) == 0;
		free(dir);
		struct store_user *u = exists ? store_user_open(users[i]) : NULL;
		if (u) {
			struct store_quota_usage use;
			struct store_quota_limits eff;
			if (store_quota_get(u, &use, NULL, &eff) == STORE_OK) {
				struct status_storage e = { .bytes = use.storage, .messages = use.messages,
							    .limit_kib = eff.storage_kib };
				snprintf(e.user, sizeof(e.user), "%s", users[i]);
				storage_top_add(top, &ntop, &e);
				total += use.storage;
				with_store++;
			}
			store_user_close(u);
		}
		free(users[i]);
	}
	free(users);
	pthread_mutex_lock(&S.lock);
	memcpy(S.top, top, ntop * sizeof(*top));
	S.ntop = ntop;
	S.users = with_store;
	S.total_bytes = total;
	S.measured = time(NULL);
	pthread_mutex_unlock(&S.lock);
}

static void *status_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&S.lock);
	while (!S.stopping) {
		bool due = S.wanted && time(NULL) >= S.measured + STATUS_STORAGE_REFRESH_S;
		if (!due) {
			pthread_cond_wait(&S.cond, &S.lock);
			continue;
		}
		S.wanted = false;
		pthread_mutex_unlock(&S.lock);
		storage_measure(S.cfg);
		pthread_mutex_lock(&S.lock);
	}
	pthread_mutex_unlock(&S.lock);
	return NULL;
}

/* ---- /status.json ---- */

static json_t *status_connections(void)
{
	struct imap_who_row *rows;
	size_t n;
	bool complete = app_who_snapshot(&rows, &n);
	json_t *sessions = json_array();
	size_t logged_in = 0;
	for (size_t i = 0; i < n; i++) {
		logged_in += rows[i].user[0] != '\0';
		if (i < STATUS_SESSIONS_MAX)
			json_array_append_new(sessions, app_who_row_json(&rows[i]));
	}
	free(rows);
	return json_pack("{s:I, s:I, s:b, s:o}", "total", (json_int_t)n, "logged_in",
			 (json_int_t)logged_in, "complete", complete, "sessions", sessions);
}

static json_t *status_logins(time_t now)
{
	unsigned ok[LOGIN_RATE_MINUTES], fail[LOGIN_RATE_MINUTES];
	login_rate_get(now, ok, fail);
	json_t *jok = json_array(), *jfail = json_array();
	json_int_t sok = 0, sfail = 0;
	for (int i = 0; i < LOGIN_RATE_MINUTES; i++) {
		json_array_append_new(jok, json_integer(ok[i]));
		json_array_append_new(jfail, json_integer(fail[i]));
		sok += ok[i];
		sfail += fail[i];
	}
	/* The first minute's start, so the page can label its axis. */
	json_int_t first = ((json_int_t)now / 60 - (LOGIN_RATE_MINUTES - 1)) * 60;
	return json_pack("{s:I, s:o, s:o, s:I, s:I}", "first_minute", first, "ok", jok, "fail",
			 jfail, "ok_last_hour", sok, "fail_last_hour", sfail);
}

static json_t *status_policy(json_t *root)
{
	struct policy_snapshot *ps = xmalloc(sizeof(*ps));
	policy_snapshot(ps);
	json_t *src = json_array(), *usr = json_array(), *locks = json_array();
	for (size_t i = 0; i < ps->nsources; i++)
		json_array_append_new(src, json_pack("{s:o, s:f}", "ip",
						     app_json_str(ps->sources[i].name), "failures",
						     ps->sources[i].failures));
	for (size_t i = 0; i < ps->nusers; i++)
		json_array_append_new(usr, json_pack("{s:o, s:f}", "user",
						     app_json_str(ps->users[i].name), "failures",
						     ps->users[i].failures));
	for (size_t i = 0; i < ps->nlocks; i++) {
		const struct policy_snapshot_lock *l = &ps->locks[i];
		json_array_append_new(locks, json_pack("{s:s, s:o, s:o, s:I, s:I}", "scope", l->scope,
						       "ip", app_json_str(l->ip), "user",
						       app_json_str(l->user), "remaining_s",
						       (json_int_t)l->remaining_s, "level",
						       (json_int_t)l->level));
	}
	json_object_set_new(root, "failing_sources", src);
	json_object_set_new(root, "failing_users", usr);
	json_object_set_new(root, "lockouts", locks);
	json_t *pol = json_pack("{s:b, s:b, s:I, s:I}", "enabled", ps->enabled, "breaker",
				ps->breaker, "entries", (json_int_t)ps->entries, "capacity",
				(json_int_t)ps->capacity);
	free(ps);
	return pol;
}

static json_t *status_alerts(void)
{
	struct alert_recent a[ALERT_RECENT_MAX];
	size_t n = alert_recent_get(a, ALERT_RECENT_MAX);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:o, s:o, s:o, s:o, s:o, s:I}", "kind",
						     app_json_str(a[i].kind), "user",
						     app_json_str(a[i].user), "ip", app_json_str(a[i].ip),
						     "country", app_json_str(a[i].country), "detail",
						     app_json_str(a[i].detail), "time",
						     (json_int_t)a[i].time));
	return arr;
}

static json_t *status_storage(void)
{
	json_t *arr = json_array();
	pthread_mutex_lock(&S.lock);
	S.wanted = true;
	pthread_cond_signal(&S.cond);
	for (size_t i = 0; i < S.ntop; i++) {
		const struct status_storage *e = &S.top[i];
		json_array_append_new(arr, json_pack("{s:o, s:I, s:I, s:I}", "user",
						     app_json_str(e->user), "bytes",
						     (json_int_t)e->bytes, "messages",
						     (json_int_t)e->messages, "limit_bytes",
						     (json_int_t)(e->limit_kib * 1024)));
	}
	json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:o}", "measured", (json_int_t)S.measured,
			      "refresh_s", (json_int_t)STATUS_STORAGE_REFRESH_S, "users",
			      (json_int_t)S.users, "total_bytes", (json_int_t)S.total_bytes, "top",
			      arr);
	pthread_mutex_unlock(&S.lock);
	return o;
}

static int status_json(void *arg, const char *query, struct strbuf *body, const char **type)
{
	(void)arg;
	(void)query;
	time_t now = time(NULL);
	json_t *root = json_object();
	json_object_set_new(root, "time", json_integer((json_int_t)now));
	json_object_set_new(root, "connections", status_connections());
	json_object_set_new(root, "logins", status_logins(now));
	json_object_set_new(root, "policy", status_policy(root));
	json_object_set_new(root, "alerts", status_alerts());
	json_object_set_new(root, "storage", status_storage());
	char *s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!s)
		return 500;
	strbuf_adds(body, s);
	free(s);
	*type = "application/json";
	return 200;
}

static int status_page(void *arg, const char *query, struct strbuf *body, const char **type)
{
	(void)arg;
	(void)query;
	strbuf_add(body, app_status_page_html, app_status_page_html_len);
	*type = "text/html; charset=utf-8";
	return 200;
}

/* ---- lifetime ---- */

int app_status_start(const struct config *cfg)
{
	if (!cfg->http_address)
		return 0;
	S.cfg = cfg;
	S.stopping = false;
	http_route("/", status_page, NULL);
	http_route("/status.json", status_json, NULL);
	if (pthread_create(&S.thread, NULL, status_thread, NULL) != 0) {
		log_err("event=startup_error msg=\"cannot start the status thread\"");
		return -1;
	}
	S.running = true;
	return 0;
}

void app_status_stop(void)
{
	if (!S.running)
		return;
	pthread_mutex_lock(&S.lock);
	S.stopping = true;
	pthread_cond_signal(&S.cond);
	pthread_mutex_unlock(&S.lock);
	pthread_join(S.thread, NULL);
	S.running = false;
}
