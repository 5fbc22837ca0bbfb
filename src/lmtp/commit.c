/* Group commit of LMTP deliveries (DESIGN.md "Concurrent deliveries are
 * grouped into one commit"): 32 MTA connections delivering to one user
 * at once should not pay 32 SQLite commit syncs in a row.
 *
 * Each recipient's delivery is a work-pool job. It first makes the
 * message's blob durable on its own (store_msg_prepare: write or link,
 * fsync, rename, directory fsync), in parallel with every other job,
 * then joins its user's queue. The job that finds no queue for its user
 * creates it and becomes the leader: it takes everything queued (at most
 * LMTP_BATCH_MAX), commits it with one store_append() per target
 * mailbox, which now only inserts rows in one transaction (one WAL
 * sync), and loops while more arrived during that commit. Followers
 * return at once: no pool thread waits on another. The longer a commit
 * takes, the larger the next batch grows, which is what makes this pay
 * under load and cost nothing when idle (a lone delivery is a batch of
 * one).
 *
 * store_append() is all-or-nothing (RFC 3502 semantics), so one message
 * over quota would fail its batch: a failed batch is retried message by
 * message, and each recipient gets its own result. A +detail folder that
 * does not exist (or is not a valid name) falls back to INBOX, as
 * `rampart deliver` does.
 *
 * Completion: when a message's last recipient is committed, its
 * transaction's done() is posted to the worker that owns the session
 * (workpool_complete_unrun), which then writes the RFC 2033 4.2 replies. */
#include "core/metrics.h"
#include "lmtp/lmtp_internal.h"
#include "core/log.h"
#include "core/util.h"
#include "mail/mailcache.h"
#include "mail/preview.h"
#include "store/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Messages one leader commits at once: bounds the transaction and the
 * memory of one batch's caches. */
#define LMTP_BATCH_MAX 64

struct lmtp_queue {
	char *user;
	struct lmtp_delivery *head, *tail;
	struct lmtp_queue *next;
};

static atomic_bool g_grouping = true; /* [lmtp] group_commit, set by every session */
/* newmsg: lmtp_proto.new_mail, set by every session */
typedef void lmtp_new_mail_fn(struct event_base *base, const char *user);
static _Atomic(lmtp_new_mail_fn *) g_new_mail;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lmtp_queue *q_list; /* users with a leader at work */
static atomic_ulong counters[LMTP_C__COUNT];

void lmtp_count(enum lmtp_counter c, unsigned long n)
{
	atomic_fetch_add(&counters[c], n);
	/* rampart_deliveries_total{result} (core/metrics.h): one per
	 * recipient's final reply. */
	static const int as_metric[LMTP_C__COUNT] = {
		[LMTP_C_DELIVERED] = METRICS_DELIVERY_OK,
		[LMTP_C_OVER_QUOTA] = METRICS_DELIVERY_OVERQUOTA,
		[LMTP_C_STORE_ERROR] = METRICS_DELIVERY_ERROR,
		[LMTP_C_UNKNOWN_USER] = METRICS_DELIVERY_NOUSER,
		[LMTP_C_TOO_BIG] = METRICS_DELIVERY_REJECTED,
		[LMTP_C_REFUSED] = METRICS_DELIVERY_REJECTED,
		[LMTP_C_COMMITS] = -1,
		[LMTP_C_COMMITTED] = -1,
	};
	for (unsigned long i = 0; as_metric[c] >= 0 && i < n; i++)
		metrics_delivery((enum metrics_delivery)as_metric[c]);
}

void lmtp_counters_get(struct lmtp_counters *out)
{
	out->delivered = atomic_load(&counters[LMTP_C_DELIVERED]);
	out->over_quota = atomic_load(&counters[LMTP_C_OVER_QUOTA]);
	out->store_error = atomic_load(&counters[LMTP_C_STORE_ERROR]);
	out->unknown_user = atomic_load(&counters[LMTP_C_UNKNOWN_USER]);
	out->too_big = atomic_load(&counters[LMTP_C_TOO_BIG]);
	out->refused = atomic_load(&counters[LMTP_C_REFUSED]);
	out->commits = atomic_load(&counters[LMTP_C_COMMITS]);
	out->committed_messages = atomic_load(&counters[LMTP_C_COMMITTED]);
}

/* The cached structure (envelope, body structure, preview; the search
 * entry is the indexer's, lmtp_commit_set_new_mail) of the message, parsed once from a mapping of the spool by
 * whichever committer needs it first. Without it FETCH parses later. */
static void lmtp_txn_cache(struct lmtp_txn *t)
{
	pthread_mutex_lock(&t->cache_lock);
	if (!t->cached && t->len > 0) {
		void *map = mmap(NULL, t->len, PROT_READ, MAP_PRIVATE, t->fd, 0);
		if (map != MAP_FAILED) {
			madvise(map, t->len, MADV_SEQUENTIAL);
			mail_cache_compute(map, t->len, &t->envelope, &t->bodystructure, &t->body);
			t->preview = mail_preview_compute(map, t->len);
			munmap(map, t->len);
		} else {
			log_warn("event=lmtp_map_error errno=%d", errno);
		}
	}
	t->cached = true;
	pthread_mutex_unlock(&t->cache_lock);
}

/* One store transaction for n deliveries into `mailbox`. */
static void lmtp_commit_group(struct store_user *u, const char *mailbox, struct lmtp_delivery **v,
			      size_t n)
{
	struct store_append *a = xcalloc(n, sizeof(*a));
	for (size_t i = 0; i < n; i++) {
		struct lmtp_txn *t = v[i]->txn;
		lmtp_txn_cache(t);
		a[i] = (struct store_append){
			.in_file = true, .fd = t->fd, .len = (size_t)t->len, .internaldate = -1,
			.envelope = t->envelope, .bodystructure = t->bodystructure, .body = t->body,
			.preview = t->preview,
			.blob_hex = v[i]->blob[0] ? v[i]->blob : NULL,
		};
	}
	uint32_t uidvalidity;
	int r = store_append(u, mailbox, a, n, &uidvalidity);
	lmtp_count(LMTP_C_COMMITS, 1);
	log_debug("event=lmtp_commit mailbox=%s messages=%zu result=%d", mailbox, n, r);
	free(a);
	if ((r == STORE_ENOENT || r == STORE_EINVAL) && strcmp(mailbox, "INBOX") != 0) {
		for (size_t i = 0; i < n; i++) {
			free(v[i]->mailbox);
			v[i]->mailbox = xstrdup("INBOX");
		}
		lmtp_commit_group(u, "INBOX", v, n);
		return;
	}
	if (r != STORE_OK && n > 1) {
		/* One bad message (over quota) must not fail the others. */
		for (size_t i = 0; i < n; i++)
			lmtp_commit_group(u, mailbox, &v[i], 1);
		return;
	}
	if (r == STORE_OK)
		lmtp_count(LMTP_C_COMMITTED, n);
	for (size_t i = 0; i < n; i++)
		v[i]->result = r;
}

/* A batch of one user's deliveries, one transaction per target mailbox. */
static void lmtp_commit_batch(const char *user, struct lmtp_delivery **v, size_t n)
{
	struct store_user *u = store_user_open(user);
	if (!u) {
		log_warn("event=lmtp_store_error user=%s msg=\"cannot open store\"", user);
		for (size_t i = 0; i < n; i++)
			v[i]->result = STORE_EIO;
		return;
	}
	struct lmtp_delivery **grp = xcalloc(n, sizeof(*grp));
	bool *taken = xcalloc(n, sizeof(*taken));
	for (size_t i = 0; i < n; i++) {
		if (taken[i])
			continue;
		size_t k = 0;
		const char *mailbox = v[i]->mailbox;
		for (size_t j = i; j < n; j++) {
			if (!taken[j] && strcmp(v[j]->mailbox, mailbox) == 0) {
				taken[j] = true;
				grp[k++] = v[j];
			}
		}
		char *mb = xstrdup(mailbox); /* the group may rewrite v[]->mailbox */
		lmtp_commit_group(u, mb, grp, k);
		free(mb);
	}
	free(taken);
	free(grp);
	store_user_close(u);
	lmtp_new_mail_fn *new_mail = atomic_load(&g_new_mail);
	for (size_t i = 0; i < n && new_mail; i++) {
		if (v[i]->result == STORE_OK) {
			new_mail(v[i]->txn->wp.base, user);
			break;
		}
	}
}

/* A delivery is final: the last one of its message completes the
 * message on the session's worker. */
static void lmtp_delivery_finish(struct lmtp_delivery *d)
{
	struct lmtp_txn *t = d->txn;
	if (atomic_fetch_sub(&t->left, 1) != 1)
		return;
	if (workpool_running())
		workpool_complete_unrun(&t->wp);
	else
		t->wp.done(&t->wp);
}

/* The leader: commit what is queued until nothing is, then retire the
 * queue (under the lock, so a delivery arriving now starts a new one). */
static void lmtp_leader_loop(struct lmtp_queue *q)
{
	struct lmtp_delivery *batch[LMTP_BATCH_MAX];
	for (;;) {
		size_t n = 0;
		pthread_mutex_lock(&q_lock);
		while (q->head && n < LMTP_BATCH_MAX) {
			batch[n++] = q->head;
			q->head = q->head->next;
		}
		if (!q->head)
			q->tail = NULL;
		if (n == 0) {
			struct lmtp_queue **pp = &q_list;
			while (*pp != q)
				pp = &(*pp)->next;
			*pp = q->next;
			pthread_mutex_unlock(&q_lock);
			free(q->user);
			free(q);
			return;
		}
		pthread_mutex_unlock(&q_lock);
		lmtp_commit_batch(q->user, batch, n);
		for (size_t i = 0; i < n; i++)
			lmtp_delivery_finish(batch[i]);
	}
}

/* The blob of d written and fsync'd by the delivery's own job, in
 * parallel with every other delivery's; the leader then only inserts
 * rows. On failure the append writes the blob itself (and reports). */
static void lmtp_prepare(struct lmtp_delivery *d)
{
	struct lmtp_txn *t = d->txn;
	lmtp_txn_cache(t);
	d->blob[0] = '\0';
	struct store_user *u = store_user_open(d->user);
	if (!u)
		return;
	struct store_append a = { .in_file = true, .fd = t->fd, .len = (size_t)t->len };
	if (store_msg_prepare(u, &a, d->blob) != STORE_OK)
		d->blob[0] = '\0';
	store_user_close(u);
}

/* Queues d for its user's leader; with no leader at work, this thread
 * becomes it and commits until the queue is empty. */
static void lmtp_enqueue(struct lmtp_delivery *d)
{
	d->next = NULL;
	pthread_mutex_lock(&q_lock);
	struct lmtp_queue *q = q_list;
	while (q && strcmp(q->user, d->user) != 0)
		q = q->next;
	bool lead = !q;
	if (lead) {
		q = xcalloc(1, sizeof(*q));
		q->user = xstrdup(d->user);
		q->next = q_list;
		q_list = q;
	}
	if (q->tail)
		q->tail->next = d;
	else
		q->head = d;
	q->tail = d;
	pthread_mutex_unlock(&q_lock);
	if (lead)
		lmtp_leader_loop(q);
}

static void lmtp_deliver_one(struct lmtp_delivery *d)
{
	lmtp_prepare(d);
	if (atomic_load(&g_grouping)) {
		lmtp_enqueue(d);
		return;
	}
	lmtp_commit_batch(d->user, &d, 1);
	lmtp_delivery_finish(d);
}

struct lmtp_job {
	struct workpool_job wp;
	struct lmtp_delivery *d;
};

static void lmtp_job_run(struct workpool_job *wj)
{
	lmtp_deliver_one(((struct lmtp_job *)wj)->d);
}

static void lmtp_job_free(struct workpool_job *wj)
{
	free(wj);
}

void lmtp_commit_set_grouping(bool on)
{
	atomic_store(&g_grouping, on);
}

void lmtp_commit_set_new_mail(void (*fn)(struct event_base *base, const char *user))
{
	atomic_store(&g_new_mail, fn);
}

void lmtp_commit_submit(struct lmtp_txn *t)
{
	/* Once its last delivery is handed on, t may complete and be freed
	 * on another thread (or inline below): read nothing of it after. */
	size_t nd = t->nd;
	struct event_base *base = t->wp.base;
	atomic_store(&t->left, nd);
	for (size_t i = 0; i < nd; i++)
		t->d[i].txn = t;
	struct lmtp_delivery *d = t->d;
	for (size_t i = 0; i < nd; i++) {
		if (!workpool_running()) {
			lmtp_deliver_one(&d[i]); /* tools and unit tests: inline */
			continue;
		}
		struct lmtp_job *j = xcalloc(1, sizeof(*j));
		j->d = &d[i];
		j->wp.run = lmtp_job_run;
		j->wp.done = lmtp_job_free;
		j->wp.base = base;
		j->wp.disk = true; /* dlv: fsync waits, core/workpool.h */
		workpool_submit(&j->wp);
	}
}

void lmtp_txn_free(struct lmtp_txn *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	for (size_t i = 0; i < t->nd; i++) {
		free(t->d[i].user);
		free(t->d[i].mailbox);
	}
	free(t->d);
	free(t->envelope);
	free(t->bodystructure);
	free(t->body);
	free(t->preview);
	pthread_mutex_destroy(&t->cache_lock);
	free(t);
}
