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
 * lookup and the copy only, never while SQLite reads.
 *
 * snapd: a snapshot that is no longer current is not thrown away but
 * brought up to date. The backend reads, in one transaction, the version
 * and what changed since the snapshot's highestmodseq (snap_read: rows
 * with a higher modseq and the UIDs expunged since, the QRESYNC history),
 * and snapmerge.c lays that over a copy of the old listing. Anything
 * doubtful (another UIDVALIDITY, pruned history) reads the whole listing.
 * So the first SELECT after another session's STORE costs the copy plus
 * the changed rows instead of a read of every row. A snapshot being
 * merged from is counted (users) and freed by its last user if dropped
 * meanwhile; of two listings of one mailbox the newer version is kept. */
#include "store/backend.h"
#include "store/blob.h"
#include "store/snapmerge.h"
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
	unsigned users;                  /* threads merging from it, unlocked */
	bool gone;                       /* dropped while in use: its last user frees it */
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

/* Removes entry i (lock held); freed now unless a merge still reads it. */
static void snap_drop_at(size_t i)
{
	g.bytes -= g.v[i]->bytes;
	if (g.v[i]->users)
		g.v[i]->gone = true;
	else
		snap_free(g.v[i]);
	g.v[i] = g.v[--g.n];
	g.st.dropped++;
}

/* A merge is done with sn (taken by snap_lookup). */
static void snap_release(struct snap *sn)
{
	pthread_mutex_lock(&g.lock);
	bool last = --sn->users == 0 && sn->gone;
	pthread_mutex_unlock(&g.lock);
	if (last)
		snap_free(sn);
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

bool store_mbox_version_eq(const struct store_mbox_version *a, const struct store_mbox_version *b)
{
	return a->uidvalidity == b->uidvalidity && a->uidnext == b->uidnext &&
	       a->highestmodseq == b->highestmodseq;
}

/* Is a a later version of the mailbox than b? UIDVALIDITY only grows
 * (invariant 3), and within one HIGHESTMODSEQ and UIDNEXT only grow. */
static bool ver_newer(const struct store_mbox_version *a, const struct store_mbox_version *b)
{
	if (a->uidvalidity != b->uidvalidity)
		return a->uidvalidity > b->uidvalidity;
	if (a->highestmodseq != b->highestmodseq)
		return a->highestmodseq > b->highestmodseq;
	return a->uidnext > b->uidnext;
}

/* The rows of `from` with min_uid <= uid <= max_uid, copied into out
 * (empty arrays allocated, as the backend's msg_flags answers). */
static void list_copy_range(const struct store_flag_list *from, uint32_t min_uid,
			    uint32_t max_uid, bool keywords, struct store_flag_list *out)
{
	size_t lo = u32_lower_bound(from->uids, 0, from->n, min_uid);
	size_t end = u32_lower_bound(from->uids, lo, from->n, (uint64_t)max_uid + 1);
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

/* Drops the keywords of a listing read with them (a caller that did not
 * ask gets kw NULL and nkws 1, as the backend answers). */
static void list_drop_keywords(struct store_flag_list *l)
{
	for (size_t i = 1; i < l->nkws; i++)
		free(l->kws[i]);
	l->nkws = 1;
	free(l->kw);
	l->kw = NULL;
}

enum snap_found {
	SNAP_NONE,               /* nothing usable: read the listing */
	SNAP_HIT,                /* out holds the range */
	SNAP_BASE,               /* *base (taken) can be brought up to date */
};

/* Is there a snapshot of the mailbox at all? (Then its version is worth
 * reading; a small mailbox never has one and skips that statement.) */
static bool snap_present(const char *owner, int64_t mailbox)
{
	size_t at;
	pthread_mutex_lock(&g.lock);
	bool there = snap_find(owner, mailbox, &at) != NULL;
	if (!there)
		g.st.misses++;
	pthread_mutex_unlock(&g.lock);
	return there;
}

/* Copies the range from a current snapshot (a hit), or takes a stale one
 * of the same UIDVALIDITY as the base of an update. */
static enum snap_found snap_lookup(const char *owner, int64_t mailbox,
				   const struct store_mbox_version *ver, uint32_t min_uid,
				   uint32_t max_uid, bool keywords, struct store_flag_list *out,
				   struct snap **base)
{
	uint64_t now = now_ms();
	enum snap_found found = SNAP_NONE;
	size_t at;
	pthread_mutex_lock(&g.lock);
	if (g.idle_ms && now > g.idle_ms)
		snap_drop_older(now - g.idle_ms);
	struct snap *sn = snap_find(owner, mailbox, &at);
	if (sn && store_mbox_version_eq(&sn->ver, ver)) {
		list_copy_range(&sn->l, min_uid, max_uid, keywords, out);
		sn->used_ms = now;
		found = SNAP_HIT;
		g.st.hits++;
	} else {
		/* Even one newer than ver (another thread's update since ver
		 * was read) is a base: snap_read starts from its modseq. */
		if (sn && sn->ver.uidvalidity == ver->uidvalidity) {
			sn->users++;
			sn->used_ms = now;
			*base = sn;
			found = SNAP_BASE;
		} else if (sn && ver_newer(ver, &sn->ver)) { /* an older UIDVALIDITY */
			snap_drop_at(at);
		}
		g.st.misses++;
	}
	pthread_mutex_unlock(&g.lock);
	return found;
}

/* Keeps the whole listing l (taken) stamped ver, within the budget:
 * least recently used snapshots go first; one too big for the budget
 * is not kept, nor one older than the mailbox's snapshot already kept
 * (another thread's read of a later version). */
static void snap_keep(const char *owner, int64_t mailbox, const struct store_mbox_version *ver,
		      struct store_flag_list *l)
{
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
	if (old && !ver_newer(ver, &old->ver)) { /* the same or a later version is there */
		old->used_ms = sn->used_ms;
		pthread_mutex_unlock(&g.lock);
		snap_free(sn);
		return;
	}
	if (old)
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

/* Drops the mailbox's snapshot older than ver (it shrank below
 * snapshot_min_messages: not kept, nor worth updating again). */
static void snap_forget(const char *owner, int64_t mailbox, const struct store_mbox_version *ver)
{
	size_t at;
	pthread_mutex_lock(&g.lock);
	struct snap *sn = snap_find(owner, mailbox, &at);
	if (sn && ver_newer(ver, &sn->ver))
		snap_drop_at(at);
	pthread_mutex_unlock(&g.lock);
}

/* [store] snapshot_max_mb > 0, and snapshot_min_messages. */
static bool snap_enabled(uint32_t *min_messages)
{
	pthread_mutex_lock(&g.lock);
	bool on = g.max_bytes > 0;
	*min_messages = g.min_messages;
	pthread_mutex_unlock(&g.lock);
	return on;
}

/* The whole listing now, with rd->ver its version: base (taken, released
 * here; NULL: none) brought up to date, or read. kw_min as snap_read. */
static int snap_current(struct store_user *u, int64_t mailbox_id, struct snap *base,
			uint32_t kw_min, struct store_snap_read *rd)
{
	int r = u->be->snap_read(u, mailbox_id, base ? base->ver.uidvalidity : 0,
				 base ? base->ver.highestmodseq : 0, kw_min, rd);
	if (r == STORE_OK && !rd->full) {
		struct store_flag_list merged;
		snap_merge(&base->l, &rd->list, rd->expunged, rd->nexpunged, &merged);
		store_flag_list_free(&rd->list);
		rd->list = merged;
		rd->full = true;
		pthread_mutex_lock(&g.lock);
		g.st.updates++;
		pthread_mutex_unlock(&g.lock);
	}
	if (base)
		snap_release(base);
	return r;
}

void store_snap_read_free(struct store_snap_read *rd)
{
	store_flag_list_free(&rd->list);
	free(rd->expunged);
	rd->expunged = NULL;
	rd->nexpunged = 0;
}

int store_msg_flags_snap(struct store_user *u, int64_t mailbox_id, const char *reader,
			 uint32_t min_uid, uint32_t max_uid, bool keywords,
			 struct store_flag_list *out)
{
	memset(out, 0, sizeof(*out));
	if (!u || min_uid > max_uid)
		return STORE_EINVAL;
	uint32_t min_messages;
	if (!u->blobs || !u->be->snap_read || !snap_enabled(&min_messages))
		return store_msg_flags_as(u, mailbox_id, reader, min_uid, max_uid, keywords, out);
	const char *owner = store_blobs_dir(u->blobs);
	bool whole = min_uid == 1 && max_uid == UINT32_MAX;
	struct snap *base = NULL;
	enum snap_found found = SNAP_NONE;
	int r;
	if (snap_present(owner, mailbox_id)) {
		struct store_mbox_version ver;
		if ((r = u->be->mailbox_version(u, mailbox_id, &ver)) != STORE_OK)
			return r;
		found = snap_lookup(owner, mailbox_id, &ver, min_uid, max_uid, keywords, out, &base);
	}
	if (found == SNAP_NONE && !whole)
		return store_msg_flags_as(u, mailbox_id, reader, min_uid, max_uid, keywords, out);
	if (found != SNAP_HIT) {
		struct store_snap_read rd;
		if ((r = snap_current(u, mailbox_id, base, keywords ? 0 : min_messages, &rd)) !=
		    STORE_OK)
			return r;
		bool keep = rd.list.n >= min_messages && rd.list.kw;
		if (!keep && base)
			snap_forget(owner, mailbox_id, &rd.ver);
		if (keep) {
			list_copy_range(&rd.list, min_uid, max_uid, keywords, out);
			snap_keep(owner, mailbox_id, &rd.ver, &rd.list);
		} else if (whole) { /* not kept: the listing read is the answer */
			*out = rd.list;
			memset(&rd.list, 0, sizeof(rd.list));
			if (!keywords)
				list_drop_keywords(out);
		} else {
			list_copy_range(&rd.list, min_uid, max_uid, keywords, out);
		}
		store_snap_read_free(&rd);
	}
	r = store_flag_list_reader(u, mailbox_id, reader, out);
	if (r != STORE_OK)
		store_flag_list_free(out);
	return r;
}
