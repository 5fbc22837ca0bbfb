/* Who is connected, across the workers (app/who.h). Each worker keeps its
 * own list (imap/who.c) and only its thread reads it, so a reader (the
 * control thread, the HTTP thread) posts a request to every worker
 * (server_post_all) and waits until each has added its part. The request
 * lives in a small table under one lock; the post carries only its id, so
 * a worker that answers after the reader gave up (2 s) finds nothing and
 * touches nothing. Sessions never take this lock: only requests do. */
#include "app/who.h"
#include "app/control.h"
#include "auth/alert.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "net/server.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHO_SLOTS 8
#define WHO_WAIT_MS 2000
#define WHO_TEXT_DEFAULT "[UNAVAILABLE] Session ended by the administrator"
#define WHO_TEXT_EXPIRED "[EXPIRED] Access revoked; log in again with a valid password"

struct who_req {
	unsigned id;
	bool kick;
	const char *user, *ip, *cred, *text; /* kick: the caller's, valid while it waits */
	unsigned answered;
	unsigned kicked;
	struct imap_who_row *rows;
	size_t n, cap;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static struct server *g_srv;
static struct who_req *g_reqs[WHO_SLOTS];
static unsigned g_next_id;
static bool g_registered;

void app_who_attach(struct server *srv)
{
	pthread_mutex_lock(&g_lock);
	g_srv = srv;
	bool reg = srv && !g_registered;
	g_registered |= reg;
	pthread_mutex_unlock(&g_lock);
	if (reg) {
		control_register("who", app_who_control);
		control_register("kick", app_kick_control);
	}
}

/* ---- on each worker ---- */

static void who_add_row(void *arg, const struct imap_who_row *row)
{
	struct who_req *r = arg;
	xgrow((void **)&r->rows, &r->cap, r->n + 1, sizeof(*r->rows));
	r->rows[r->n++] = *row;
}

static void who_worker(const char *key)
{
	unsigned id = (unsigned)strtoul(key, NULL, 10);
	pthread_mutex_lock(&g_lock);
	struct who_req *r = NULL;
	for (size_t i = 0; i < WHO_SLOTS && !r; i++)
		if (g_reqs[i] && g_reqs[i]->id == id)
			r = g_reqs[i];
	if (r) {
		if (r->kick)
			r->kicked += imap_who_kick(r->user, r->ip, r->cred, r->text);
		else
			imap_who_rows(who_add_row, r);
		r->answered++;
		pthread_cond_broadcast(&g_cond);
	}
	pthread_mutex_unlock(&g_lock);
}

/* ---- on the reader's thread ---- */

/* Posts r to every worker and waits for their answers (bounded). True
 * when every worker answered. */
static bool who_run(struct who_req *r)
{
	pthread_mutex_lock(&g_lock);
	size_t slot = WHO_SLOTS;
	for (size_t i = 0; i < WHO_SLOTS && slot == WHO_SLOTS; i++)
		if (!g_reqs[i])
			slot = i;
	if (!g_srv || slot == WHO_SLOTS) {
		pthread_mutex_unlock(&g_lock);
		return false;
	}
	r->id = ++g_next_id;
	g_reqs[slot] = r;
	unsigned workers = server_workers(g_srv);
	char key[16];
	snprintf(key, sizeof(key), "%u", r->id);
	server_post_all(g_srv, who_worker, key);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WHO_WAIT_MS / 1000;
	while (r->answered < workers)
		if (pthread_cond_timedwait(&g_cond, &g_lock, &until) == ETIMEDOUT)
			break;
	bool complete = r->answered >= workers;
	g_reqs[slot] = NULL;
	pthread_mutex_unlock(&g_lock);
	return complete;
}

static int who_row_cmp(const void *a, const void *b)
{
	const struct imap_who_row *x = a, *y = b;
	return x->since < y->since ? -1 : x->since > y->since;
}

bool app_who_snapshot(struct imap_who_row **rows, size_t *n)
{
	struct who_req r = { 0 };
	bool complete = who_run(&r);
	if (r.n)
		qsort(r.rows, r.n, sizeof(*r.rows), who_row_cmp);
	*rows = r.rows;
	*n = r.n;
	return complete;
}

unsigned app_who_kick(const char *user, const char *ip, const char *credential,
		      const char *text)
{
	struct who_req r = { .kick = true, .user = user, .ip = ip, .cred = credential,
			     .text = text };
	who_run(&r);
	return r.kicked;
}

/* ---- formats ---- */

json_t *app_json_str(const char *s)
{
	return alert_json_str(s ? s : "");
}

json_t *app_who_row_json(const struct imap_who_row *r)
{
	return json_pack("{s:o, s:o, s:o, s:I, s:o, s:I, s:I, s:o}", "user", app_json_str(r->user),
			 "source", app_json_str(r->peer), "listener", app_json_str(r->listener),
			 "since", (json_int_t)r->since, "mailbox", app_json_str(r->mailbox),
			 "bytes_in", (json_int_t)r->bytes_in, "bytes_out", (json_int_t)r->bytes_out,
			 "tls", app_json_str(r->tls));
}

/* A column of the text table: blanks and control bytes would break it. */
static void who_cell(struct strbuf *out, const char *s, int width)
{
	char buf[256];
	size_t j = 0;
	for (size_t i = 0; s[i] && j + 1 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)s[i];
		buf[j++] = c <= 0x20 || c == 0x7f ? '_' : (char)c;
	}
	buf[j] = '\0';
	strbuf_addf(out, "%-*s ", width, j ? buf : "-");
}

int app_who_control(const char *args, struct strbuf *out)
{
	bool json = strcmp(args, "json") == 0;
	if (!json && *args) {
		strbuf_adds(out, "usage: who [json]\n");
		return -1;
	}
	struct imap_who_row *rows;
	size_t n;
	bool complete = app_who_snapshot(&rows, &n);
	if (json) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, app_who_row_json(&rows[i]));
		json_t *o = json_pack("{s:o, s:I, s:b}", "sessions", a, "count", (json_int_t)n,
				      "complete", complete);
		char *s = json_dumps(o, JSON_COMPACT);
		strbuf_adds(out, s ? s : "{}");
		strbuf_addc(out, '\n');
		free(s);
		json_decref(o);
	} else {
		strbuf_addf(out, "%-24s %-39s %-10s %-20s %-20s %12s %12s %s\n", "USER", "SOURCE",
			    "LISTENER", "SINCE", "MAILBOX", "IN", "OUT", "TLS");
		for (size_t i = 0; i < n; i++) {
			const struct imap_who_row *r = &rows[i];
			char since[32];
			struct tm tm;
			gmtime_r(&r->since, &tm);
			strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
			who_cell(out, r->user, 24);
			who_cell(out, r->peer, 39);
			who_cell(out, r->listener, 10);
			who_cell(out, since, 20);
			who_cell(out, r->mailbox, 20);
			strbuf_addf(out, "%12llu %12llu %s\n", (unsigned long long)r->bytes_in,
				    (unsigned long long)r->bytes_out, r->tls[0] ? r->tls : "-");
		}
		strbuf_addf(out, "%zu session%s%s\n", n, n == 1 ? "" : "s",
			    complete ? "" : " (a worker did not answer in time)");
	}
	free(rows);
	return 0;
}

/* "user NAME [expired]", "ip ADDR [expired]" or "app USER NAME". RFC
 * 9051 7.1.5: BYE before the close. The code is UNAVAILABLE (RFC 5530:
 * the service is not available to this session now; a client may come
 * back later, and if the administrator wants the user out for good the
 * password or the user goes too), or EXPIRED when the credential itself
 * was withdrawn (RFC 5530: "access is no longer permitted using that
 * passphrase. The client or user should get a new passphrase"), which an
 * app-password revoke and a user deletion send. */
int app_kick_control(const char *args, struct strbuf *out)
{
	char what[8] = "", value[256] = "", extra[256] = "";
	int k = sscanf(args, "%7s %255s %255s", what, value, extra);
	bool is_user = strcmp(what, "user") == 0, is_ip = strcmp(what, "ip") == 0,
	     is_app = strcmp(what, "app") == 0;
	bool expired = k == 3 && strcmp(extra, "expired") == 0;
	if (k < 2 || !(is_user || is_ip || is_app) || (is_app && k != 3) ||
	    (!is_app && k == 3 && !expired)) {
		strbuf_adds(out, "usage: kick user NAME|ip ADDR [expired] | kick app USER NAME\n");
		return -1;
	}
	char cred[300];
	snprintf(cred, sizeof(cred), "app:%s", extra);
	unsigned n = app_who_kick(is_ip ? NULL : value, is_ip ? value : NULL, is_app ? cred : NULL,
				  is_app || expired ? WHO_TEXT_EXPIRED : WHO_TEXT_DEFAULT);
	strbuf_addf(out, "kicked=%u\n", n);
	return 0;
}
