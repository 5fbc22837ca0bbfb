/* Shared snapshots of big mailboxes' listings (snap, issue #14).
 *
 * SELECT of a 100,000-message mailbox spent nearly all its time stepping
 * SQLite through 100,000 rows for uid, flags and modseq (~1,200
 * instructions a row), and FETCH 1:* (UID FLAGS) read the same rows
 * again. Here the process keeps, per (user store, mailbox), the last
 * whole listing read (struct store_flag_list: 17 bytes a message with
 * keywords interned), and answers the next SELECT or flags FETCH of the
 * same mailbox, by any session or pool thread of the process, with a copy
 * of it (memcpy: ~1.7 MB at 100,000 messages).
 *
 * A snapshot is used only when it is the listing. It is stamped with the
 * mailbox's version (uidvalidity, uidnext, highestmodseq) read BEFORE the
 * listing: a commit between the two makes the listing newer than its
 * stamp, never older, and the mailbox's version can then never equal the
 * stamp again. Every write to a mailbox's messages raises its
 * highestmodseq or uidnext (store.h invariants 1 and 2) and ids are
 * never reused (invariant 8), so a current version equal to the stamp
 * means no message row changed since. Any other process (tools,
 * `rampart deliver`) writes through the same rules.
 *
 * A reader's private \Seen (aclseen) is laid over the copy, never kept.
 * Memory is bounded ([store] snapshot_max_mb), small mailboxes never get
 * one ([store] snapshot_min_messages: reading them is cheap), and one
 * unused for [store] snapshot_idle_s is dropped at the next access or
 * sweep, so an idle user holds none for long. The table is small (one
 * entry per big mailbox in use) and guarded by one mutex, held for the
 * lookup and the copy only, never while SQLite reads. */
#include "store/backend.h"
#include "store/blob.h"
#include "core/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct snap {
	char *owner;                     /* the user's store directory */
	int64_t mailbox;
	struct store_mbox_version ver;   /* read before the listing */
	struct store_flag_list l;        /* the whole mailbox, with keywords */
	size_t bytes;
	uint64_t used_ms;
};

static struct {
	pthread_mutex_t lock;
	struct snap **v;
	size_t n, cap;
	size_t bytes, max_bytes;
	uint32_t min_messages;
	uint64_t idle_ms;
	struct store_snap_stats st;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER };

void store_snap_setup(size_t max_bytes, uint32_t min_messages, uint64_t idle_ms)
{
	pthread_mutex_lock(&g.lock);
	g.max_bytes = max_bytes;
	g.min_messages = min_messages;
	g.idle_ms = idle_ms;
	pthread_mutex_unlock(&g.lock);
}

static size_t snap_bytes(const struct store_flag_list *l)
{
	size_t b = l->n * (sizeof(*l->uids) + sizeof(*l->flags) + sizeof(*l->modseqs) +
			   sizeof(*l->kw));
	for (size_t i = 1; i < l->nkws; i++)
		b += strlen(l->kws[i]) + 1 + sizeof(char *);
	return b + sizeof(struct snap);
}

static void snap_free(struct snap *sn)
{
	free(sn->owner);
	store_flag_list_free(&sn->l);
	free(sn);
}

/* Removes entry i (lock held). */
static void snap_drop_at(size_t i)
{
	g.bytes -= g.v[i]->bytes;
	snap_free(g.v[i]);
	g.v[i] = g.v[--g.n];
	g.st.dropped++;
}

/* Drops the entries unused since `before` (lock held). */
static void snap_drop_older(uint64_t before)
{
	for (size_t i = 0; i < g.n;) {
		if (g.v[i]->used_ms < before)
			snap_drop_at(i);
		else
			i++;
	}
}

void store_snap_sweep(uint64_t idle_ms)
{
	uint64_t now = now_ms();
	pthread_mutex_lock(&g.lock);
	snap_drop_older(idle_ms && now > idle_ms ? now - idle_ms : UINT64_MAX);
	if (!g.n) {
		free(g.v);
		g.v = NULL;
		g.cap = 0;
	}
	pthread_mutex_unlock(&g.lock);
}

void store_snap_stats(struct store_snap_stats *out)
{
	pthread_mutex_lock(&g.lock);
	*out = g.st;
	out->count = g.n;
	out->bytes = g.bytes;
	pthread_mutex_unlock(&g.lock);
}

static struct snap *snap_find(const char *owner, int64_t mailbox, size_t *at)
{
	for (size_t i = 0; i < g.n; i++) {
		if (g.v[i]->mailbox == mailbox && strcmp(g.v[i]->owner, owner) == 0) {
			*at = i;
			return g.v[i];
		}
	}
	return NULL;
}

static bool ver_eq(const struct store_mbox_version *a, const struct store_mbox_version *b)
{
	return a->uidvalidity == b->uidvalidity && a->uidnext == b->uidnext &&
	       a->highestmodseq == b->highestmodseq;
}

/* The rows of `from` with min_uid <= uid <= max_uid, copied into out
 * (empty arrays allocated, as the backend's msg_flags answers). */
static void list_copy_range(const struct store_flag_list *from, uint32_t min_uid,
			    uint32_t max_uid, bool keywords, struct store_flag_list *out)
{
	size_t lo = 0, hi = from->n;
	while (lo < hi) { /* first uid >= min_uid */
		size_t mid = lo + (hi - lo) / 2;
		if (from->uids[mid] < min_uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	hi = from->n;
	while (end < hi) { /* first uid > max_uid */
		size_t mid = end + (hi - end) / 2;
		if (from->uids[mid] <= max_uid)
			end = mid + 1;
		else
			hi = mid;
	}
	size_t n = end - lo, alloc = n ? n : 1;
	out->n = n;
	out->uids = xmalloc(alloc * sizeof(*out->uids));
	out->flags = xmalloc(alloc * sizeof(*out->flags));
	out->modseqs = xmalloc(alloc * sizeof(*out->modseqs));
	memcpy(out->uids, from->uids + lo, n * sizeof(*out->uids));
	memcpy(out->flags, from->flags + lo, n * sizeof(*out->flags));
	memcpy(out->modseqs, from->modseqs + lo, n * sizeof(*out->modseqs));
	out->max_modseq = 0;
	if (n == from->n)
		out->max_modseq = from->max_modseq;
	else
		for (size_t i = 0; i < n; i++)
			out->max_modseq = MAX(out->max_modseq, out->modseqs[i]);
	out->nkws = keywords ? from->nkws : 1;
	out->kws = xcalloc(out->nkws, sizeof(*out->kws));
	if (!keywords)
		return;
	for (size_t i = 1; i < from->nkws; i++)
		out->kws[i] = xstrdup(from->kws[i]);
	out->kw = xmalloc(alloc * sizeof(*out->kw));
	memcpy(out->kw, from->kw + lo, n * sizeof(*out->kw));
}

/* Copies the range from a current snapshot: true on a hit. */
static bool snap_lookup(const char *owner, int64_t mailbox, const struct store_mbox_version *ver,
			uint32_t min_uid, uint32_t max_uid, bool keywords,
			struct store_flag_list *out)
{
	uint64_t now = now_ms();
	bool hit = false;
	size_t at;
	pthread_mutex_lock(&g.lock);
	if (g.idle_ms && now > g.idle_ms)
		snap_drop_older(now - g.idle_ms);
	struct snap *sn = snap_find(owner, mailbox, &at);
	if (sn && ver_eq(&sn->ver, ver)) {
		list_copy_range(&sn->l, min_uid, max_uid, keywords, out);
		sn->used_ms = now;
		hit = true;
		g.st.hits++;
	} else {
		if (sn) /* stale: never used again */
			snap_drop_at(at);
		g.st.misses++;
	}
	pthread_mutex_unlock(&g.lock);
	return hit;
}

/* Keeps the whole listing l (taken, unless too small) stamped ver, within the budget:
 * least recently used snapshots go first; one too big for the budget
 * is not kept. */
static void snap_keep(const char *owner, int64_t mailbox, const struct store_mbox_version *ver,
		      struct store_flag_list *l)
{
	pthread_mutex_lock(&g.lock);
	bool small = l->n < g.min_messages;
	pthread_mutex_unlock(&g.lock);
	if (small)
		return;
	struct snap *sn = xcalloc(1, sizeof(*sn));
	sn->l = *l;
	memset(l, 0, sizeof(*l));
	sn->bytes = snap_bytes(&sn->l);
	sn->mailbox = mailbox;
	sn->ver = *ver;
	sn->used_ms = now_ms();
	pthread_mutex_lock(&g.lock);
	size_t at;
	struct snap *old = snap_find(owner, mailbox, &at);
	if (old) /* another thread's listing of the same or an older version */
		snap_drop_at(at);
	while (g.n && sn->bytes <= g.max_bytes && g.bytes + sn->bytes > g.max_bytes) {
		size_t lru = 0;
		for (size_t i = 1; i < g.n; i++)
			if (g.v[i]->used_ms < g.v[lru]->used_ms)
				lru = i;
		snap_drop_at(lru);
	}
	if (sn->bytes > g.max_bytes) {
		pthread_mutex_unlock(&g.lock);
		snap_free(sn);
		return;
	}
	sn->owner = xstrdup(owner);
	xgrow((void **)&g.v, &g.cap, g.n + 1, sizeof(*g.v));
	g.v[g.n++] = sn;
	g.bytes += sn->bytes;
	g.st.built++;
	pthread_mutex_unlock(&g.lock);
}

static bool snap_enabled(void)
{
	pthread_mutex_lock(&g.lock);
	bool on = g.max_bytes > 0;
	pthread_mutex_unlock(&g.lock);
	return on;
}

int store_msg_flags_snap(struct store_user *u, int64_t mailbox_id, const char *reader,
			 uint32_t min_uid, uint32_t max_uid, bool keywords,
			 struct store_flag_list *out)
{
	memset(out, 0, sizeof(*out));
	if (!u || min_uid > max_uid)
		return STORE_EINVAL;
	if (!u->blobs || !snap_enabled())
		return store_msg_flags_as(u, mailbox_id, reader, min_uid, max_uid, keywords, out);
	const char *owner = store_blobs_dir(u->blobs);
	struct store_mbox_version ver;
	int r = u->be->mailbox_version(u, mailbox_id, &ver);
	if (r != STORE_OK)
		return r;
	if (!snap_lookup(owner, mailbox_id, &ver, min_uid, max_uid, keywords, out)) {
		if (min_uid != 1 || max_uid != UINT32_MAX)
			return store_msg_flags_as(u, mailbox_id, reader, min_uid, max_uid, keywords,
						  out);
		struct store_flag_list whole;
		memset(&whole, 0, sizeof(whole));
		r = u->be->msg_flags(u, mailbox_id, 1, UINT32_MAX, true, &whole);
		if (r != STORE_OK) {
			store_flag_list_free(&whole);
			return r;
		}
		list_copy_range(&whole, 1, UINT32_MAX, keywords, out);
		snap_keep(owner, mailbox_id, &ver, &whole);
		store_flag_list_free(&whole);
	}
	r = store_flag_list_reader(u, mailbox_id, reader, out);
	if (r != STORE_OK)
		store_flag_list_free(out);
	return r;
}
