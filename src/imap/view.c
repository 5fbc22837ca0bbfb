/* The selected mailbox as one session sees it (RFC 9051 2.3.1.2): the
 * UIDs behind its sequence numbers, and how far the client has been told
 * of changes. view_sync() turns the store's change feed into EXISTS,
 * EXPUNGE and FETCH responses at the points RFC 9051 7.5.1 allows. */
#include "imap/session_internal.h"
#include "imap/condstore.h"
#include "imap/namespace.h"
#include "imap/uidonly.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

void view_clear(struct imap_view *v)
{
	imap_mailbox_view_release(v);
	search_contexts_free(v); /* context: RFC 5267 4.3, updates end with the selection */
	free(v->name);
	free(v->uids);
	free(v->own);
	seqset_free(&v->recent);
	for (size_t i = 0; i < v->nkw; i++)
		free(v->kw[i]);
	free(v->kw);
	free(v->kw_seen);
	memset(v, 0, sizeof(*v));
}

/* Index of the first UID in the view that is >= uid (v->count if none). */
static size_t view_lower_bound(const struct imap_view *v, uint32_t uid)
{
	return u32_lower_bound(v->uids, 0, v->count, uid);
}

uint32_t view_seq_of(const struct imap_view *v, uint32_t uid)
{
	size_t i = view_lower_bound(v, uid);
	return i < v->count && v->uids[i] == uid ? (uint32_t)i + 1 : 0;
}

int view_resolve_set(struct imap_session *s, const struct imap_arg *a, bool uid, uint32_t **uids,
		     size_t *n)
{
	struct imap_view *v = &s->view;
	const char *str;
	*uids = NULL;
	*n = 0;
	if (!imap_arg_get_atom(a, &str))
		return -1;
	struct seqset set = SEQSET_INIT;
	bool saved = strcmp(str, "$") == 0;
	if (saved) {
		/* RFC 5182: "$" is the saved result, as UIDs. */
		if (s->searchres_set)
			for (size_t i = 0; i < s->searchres.n; i++)
				seqset_add(&set, s->searchres.r[i].lo, s->searchres.r[i].hi);
	} else {
		uint32_t star = uid ? (v->count ? v->uids[v->count - 1] : 0)
				    : v->count;
		/* "*" in an empty mailbox: nothing can match (RFC 9051 6.4.8
		 * allows an empty result for UID commands). */
		if (seqset_parse(str, strlen(str), star ? star : UINT32_MAX, &set) < 0)
			return -1;
	}
	size_t cap = 0;
	if (uid || saved) {
		for (size_t i = 0; i < set.n; i++) {
			/* Walk only the view's UIDs inside the range. */
			uint32_t hi = set.r[i].hi;
			for (size_t j = view_lower_bound(v, set.r[i].lo); j < v->count && v->uids[j] <= hi;
			     j++) {
				xgrow((void **)uids, &cap, *n + 1, sizeof(uint32_t));
				(*uids)[(*n)++] = v->uids[j];
			}
		}
	} else if (v->count > 0) {
		/* In an empty mailbox every sequence set is simply empty. */
		for (size_t i = 0; i < set.n; i++) {
			if (set.r[i].lo > v->count) {
				seqset_free(&set);
				free(*uids);
				*uids = NULL;
				*n = 0;
				return -2; /* sequence number out of range */
			}
			uint32_t hi = MIN(set.r[i].hi, v->count);
			for (uint32_t seq = set.r[i].lo; seq <= hi; seq++) {
				xgrow((void **)uids, &cap, *n + 1, sizeof(uint32_t));
				(*uids)[(*n)++] = v->uids[seq - 1];
			}
		}
	}
	seqset_free(&set);
	return 0;
}

/* A session recognises its own flag changes by modseq. Every write
 * transaction takes one new modseq of the mailbox (store.h), so a message
 * whose modseq is one this session's own transaction produced was last
 * changed by this session, exactly as it reported it; a message somebody
 * else changed since carries a newer modseq and is reported by the sync.
 * The set holds one entry per STORE (or FETCH that set \Seen) since the
 * last sync, kept ascending, so the sync costs a binary search per changed
 * message instead of a scan of every message this session changed. (That
 * scan made STORE 1:* quadratic: 4 s at 120,000 messages.) The UID is not
 * needed; the parameter stays for the callers' sake. */
void view_note_own_change(struct imap_session *s, uint32_t uid, uint64_t modseq)
{
	struct imap_view *v = &s->view;
	(void)uid;
	/* At or below flags_modseq the sync skips it anyway. */
	if (modseq <= v->flags_modseq || (v->nown && v->own[v->nown - 1] == modseq))
		return;
	size_t at = v->nown;
	while (at > 0 && v->own[at - 1] > modseq)
		at--; /* only a backend giving one transaction several modseqs gets here */
	if (at > 0 && v->own[at - 1] == modseq)
		return;
	xgrow((void **)&v->own, &v->owncap, v->nown + 1, sizeof(*v->own));
	memmove(&v->own[at + 1], &v->own[at], (v->nown - at) * sizeof(*v->own));
	v->own[at] = modseq;
	v->nown++;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y ? 1 : 0;
}

static bool own_change(const struct imap_view *v, uint64_t modseq)
{
	return v->nown && bsearch(&modseq, v->own, v->nown, sizeof(*v->own), cmp_u64);
}

/* Forgets own modseqs the sync has passed: it skips those by flags_modseq. */
static void own_prune(struct imap_view *v)
{
	size_t k = 0;
	while (k < v->nown && v->own[k] <= v->flags_modseq)
		k++;
	if (k == 0)
		return;
	memmove(v->own, &v->own[k], (v->nown - k) * sizeof(*v->own));
	v->nown -= k;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y ? 1 : 0;
}

/* Reports and removes expunged UIDs from the view. RFC 9051 7.5.1: each
 * EXPUNGE renumbers the messages above it, so they go out highest sequence
 * number first, each number counted before any of them was removed; the
 * view is compacted in one merge pass (a memmove per message made
 * expunging every other message of a big mailbox quadratic). */
static void view_expunge(struct imap_session *s, uint32_t *expunged, size_t nexpunged)
{
	struct imap_view *v = &s->view;
	qsort(expunged, nexpunged, sizeof(uint32_t), cmp_u32);
	search_context_expunged(s, expunged, nexpunged); /* context: before the numbers move */
	uint32_t *seqs = xmalloc(nexpunged * sizeof(uint32_t));
	uint32_t *gone = xmalloc(nexpunged * sizeof(uint32_t));
	size_t nseqs = 0, j = 0;
	uint32_t kept = 0;
	for (uint32_t i = 0; i < v->count; i++) {
		uint32_t uid = v->uids[i];
		while (j < nexpunged && expunged[j] < uid)
			j++;
		if (j < nexpunged && expunged[j] == uid) {
			gone[nseqs] = uid;
			seqs[nseqs++] = i + 1;
		} else
			v->uids[kept++] = uid;
	}
	v->count = kept;
	if (condstore_qresync(s) || uidonly_on(s)) { /* uidonly: RFC 9586 3.4 */
		/* RFC 7162 3.2.10: once QRESYNC is enabled, VANISHED replaces
		 * EXPUNGE; only UIDs the client could see are reported. */
		condstore_write_vanished(s, false, gone, nseqs);
		nseqs = 0;
	}
	while (nseqs > 0)
		sess_printf(s, "* %u EXPUNGE", seqs[--nseqs]);
	free(seqs);
	free(gone);
}

/* ---- \Recent (correct) ---------------------------------------------- */

bool view_recent(const struct imap_view *v, uint32_t uid)
{
	return seqset_contains(&v->recent, uid);
}

/* A claim made for this view by the store (an APPEND's, RFC 3501 2.3.2):
 * its UIDs are \Recent here, and everything below its end is claimed. */
void view_recent_claimed(struct imap_view *v, const struct store_recent_claim *c)
{
	if (!c->made || c->mailbox_id != v->id || v->readonly || v->owner)
		return;
	if (c->end > c->from)
		seqset_add(&v->recent, c->from, c->end - 1);
	if (c->end > v->recent_end)
		v->recent_end = c->end;
}

/* How many of the view's messages are \Recent here: a binary search per
 * claimed range, not a pass over the view. */
uint32_t view_recent_count(const struct imap_view *v)
{
	uint32_t n = 0;
	for (size_t i = 0; i < v->recent.n; i++) {
		size_t lo = view_lower_bound(v, v->recent.r[i].lo);
		size_t hi = v->recent.r[i].hi == UINT32_MAX
				    ? v->count
				    : view_lower_bound(v, v->recent.r[i].hi + 1);
		n += (uint32_t)(hi - lo);
	}
	return n;
}

/* RFC 3501 2.3.2: a message is \Recent in exactly one session. The store
 * hands out [first_recent_uid, uidnext) and advances first_recent_uid in
 * one write transaction, so of two sessions syncing at once (on different
 * workers or processes) each gets its own ranges, never the same UID. A
 * read-only view claims nothing (RFC 3501 6.3.2: EXAMINE leaves \Recent
 * alone). */
uint32_t view_recent_claim(struct imap_session *s)
{
	struct imap_view *v = &s->view;
	if (s->rev2)
		return 0;
	/* Nothing new beyond what was claimed (by the APPEND's own
	 * transaction, say): no write transaction to find that out. */
	if (v->count && v->uids[v->count - 1] < v->recent_end)
		return view_recent_count(v);
	struct store_user *u = sess_store(s);
	uint32_t from, end;
	/* acl: \Recent in another user's mailbox stays its owner's. */
	if (!v->readonly && !v->owner && u &&
	    store_mailbox_take_recent(u, v->id, &from, &end) == STORE_OK) {
		if (end > from)
			seqset_add(&v->recent, from, end - 1);
		v->recent_end = end;
	}
	return view_recent_count(v);
}

/* ---- keywords in FLAGS (correct) --------------------------------------- */

static bool view_keyword_known(const struct imap_view *v, const char *k, size_t len)
{
	/* RFC 9051 2.3.2: keywords compare case-insensitively. */
	for (size_t i = 0; i < v->nkw; i++)
		if (ascii_ieqn(k, len, v->kw[i]))
			return true;
	return false;
}

/* Adds the words of keywords not yet known; true when there were any. */
static bool view_keywords_merge(struct imap_view *v, const char *keywords)
{
	if (!keywords || !*keywords)
		return false;
	if (v->kw_seen && strcmp(v->kw_seen, keywords) == 0)
		return false; /* most messages repeat a few combinations */
	bool added = false;
	for (const char *w = keywords; *w;) {
		size_t len = strcspn(w, " ");
		if (len && !view_keyword_known(v, w, len)) {
			xgrow((void **)&v->kw, &v->kwcap, v->nkw + 1, sizeof(*v->kw));
			v->kw[v->nkw++] = xstrndup(w, len);
			added = true;
		}
		w += len;
		while (*w == ' ')
			w++;
	}
	free(v->kw_seen);
	v->kw_seen = xstrdup(keywords);
	return added;
}

void view_keywords_add(struct imap_view *v, const char *keywords)
{
	view_keywords_merge(v, keywords);
}

/* RFC 9051 7.3.5 and 7.1 (PERMANENTFLAGS): the system flags and every
 * keyword in use; \* because any client may create keywords (the store
 * limits keywords per message, not per mailbox). As Dovecot does, the
 * PERMANENTFLAGS response follows every FLAGS response. */
static void view_flag_names(const struct imap_view *v, struct strbuf *out)
{
	strbuf_adds(out, "\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	for (size_t i = 0; i < v->nkw; i++)
		strbuf_addf(out, " %s", v->kw[i]);
}

void view_write_flags(struct imap_session *s)
{
	const struct imap_view *v = &s->view;
	struct strbuf line = STRBUF_INIT;
	strbuf_adds(&line, "* FLAGS (");
	view_flag_names(v, &line);
	sess_printf(s, "%s)", line.s);
	strbuf_reset(&line);
	if (v->readonly) {
		strbuf_adds(&line, "* OK [PERMANENTFLAGS ()] Read-only mailbox.");
	} else if (v->owner) {
		/* acl: only the flags this user may change (RFC 4314 4) */
		strbuf_free(&line);
		imap_view_permanentflags(s);
		return;
	} else {
		strbuf_adds(&line, "* OK [PERMANENTFLAGS (");
		view_flag_names(v, &line);
		strbuf_adds(&line, " \\*)] Flags permitted.");
	}
	sess_printf(s, "%s", line.s);
	strbuf_free(&line);
}

void view_keywords_note(struct imap_session *s, const char *keywords)
{
	if (view_keywords_merge(&s->view, keywords))
		view_write_flags(s);
}

static bool view_sync_in(struct imap_session *s, struct store_user *u, bool allow_expunge);

bool view_sync(struct imap_session *s, bool allow_expunge)
{
	if (s->state != ST_SELECTED)
		return true;
	/* The view's owner's store, whichever store the command works in
	 * (acl: STATUS of another user's mailbox, then this sync). */
	struct store_user *u = store_user_open(s->view.owner ? s->view.owner : s->user);
	if (!u)
		return true;
	bool r = view_sync_in(s, u, allow_expunge);
	store_user_close(u);
	return r;
}

static bool view_sync_in(struct imap_session *s, struct store_user *u, bool allow_expunge)
{
	struct imap_view *v = &s->view;
	struct store_msg *changed = NULL;
	uint32_t *expunged = NULL;
	size_t nchanged = 0, nexpunged = 0;
	uint64_t since = v->modseq;
	int r = store_changes_as(u, v->id, imap_view_seen_reader(s), since, &changed, &nchanged,
				 &expunged, &nexpunged);
	if (r == STORE_ENOENT) {
		sess_bye(s, "Selected mailbox was deleted, have to disconnect.");
		return false;
	}
	if (r != STORE_OK)
		return true;
	s->notify_pending = false;
	uint64_t maxmod = v->modseq;
	struct strbuf line = STRBUF_INIT;

	if (allow_expunge && nexpunged)
		view_expunge(s, expunged, nexpunged);
	/* A keyword new to this session, set by anyone: FLAGS first, once. */
	bool newkw = false;
	for (size_t i = 0; i < nchanged; i++)
		newkw |= view_keywords_merge(v, changed[i].keywords);
	if (newkw)
		view_write_flags(s);
	/* New messages: UIDs above the last one in the view. */
	uint32_t last = v->count ? v->uids[v->count - 1] : 0;
	uint32_t added = 0;
	for (size_t i = 0; i < nchanged; i++) {
		if (changed[i].uid > last) {
			if (v->count == v->cap) {
				size_t cap = v->cap;
				xgrow((void **)&v->uids, &cap, (size_t)v->count + 1, sizeof(uint32_t));
				v->cap = (uint32_t)cap;
			}
			v->uids[v->count++] = changed[i].uid;
			last = changed[i].uid;
			added++;
		}
		if (changed[i].modseq > maxmod)
			maxmod = changed[i].modseq;
	}
	if (added) {
		sess_printf(s, "* %u EXISTS", v->count);
		/* Those no other session claimed first are \Recent here. */
		if (!s->rev2)
			sess_printf(s, "* %u RECENT", view_recent_claim(s));
	}
	/* Flag changes of messages the client already knew. */
	bool condstore = condstore_on(s), qresync = condstore_qresync(s);
	for (size_t i = 0; i < nchanged; i++) {
		struct store_msg *m = &changed[i];
		if (m->modseq <= v->flags_modseq || own_change(v, m->modseq))
			continue;
		uint32_t seq = view_seq_of(v, m->uid);
		if (!seq || (added && seq > v->count - added))
			continue;
		strbuf_reset(&line);
		bool by_uid = uidonly_fetch_open(s, &line, m->uid); /* uidonly */
		/* RFC 7162 3.2.4: with QRESYNC every FETCH carries the UID. */
		if ((s->rev2 || qresync) && !by_uid)
			strbuf_addf(&line, "UID %u ", m->uid);
		strbuf_adds(&line, "FLAGS ");
		sess_write_flags(s, &line, m->flags, m->keywords, view_recent(v, m->uid));
		/* RFC 7162 3.1.4.1 / 3.2: and MODSEQ once CONDSTORE is on. */
		if (condstore)
			strbuf_addf(&line, " MODSEQ (%llu)", (unsigned long long)m->modseq);
		strbuf_addc(&line, ')');
		sess_printf(s, "%s", line.s);
	}
	strbuf_free(&line);
	search_context_changed(s, u, changed, nchanged); /* context: after EXISTS */
	if (maxmod > v->flags_modseq)
		v->flags_modseq = maxmod;
	own_prune(v);
	/* The expunge marker only moves when expunges could be reported. */
	if (allow_expunge || nexpunged == 0)
		v->modseq = v->flags_modseq;
	store_msg_array_free(changed, nchanged);
	free(expunged);
	return true;
}
