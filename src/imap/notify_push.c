/* NOTIFY (RFC 5465) delivery: turns "the user's mail changed" (the
 * store's change feed, imap/notify.c) into the responses RFC 5465 5
 * names, by comparing the user's mailbox list with what the client was
 * last told. The feed says only *that* something changed, so a
 * difference is the one source of truth: nothing is queued per event,
 * bursts coalesce, and a session that was busy in a command simply
 * reports the sum afterwards.
 *
 *  - a mailbox created / renamed / deleted: "* LIST () ...",
 *    "* LIST () ... ("OLDNAME" (old))", "* LIST (\NonExistent) ..."
 *    (RFC 5465 5.4, RFC 5258 3.5 OLDNAME);
 *  - a subscription changed: "* LIST (\Subscribed) ..." or "* LIST () ..."
 *    (RFC 5465 5.5);
 *  - messages of a mailbox other than the selected one: "* STATUS name
 *    (MESSAGES UIDNEXT UIDVALIDITY UNSEEN [HIGHESTMODSEQ])" (RFC 5465 5.2,
 *    5.3; 5.1 for FlagChange), the items Dovecot sends too;
 *  - the selected mailbox: view_sync (EXISTS/EXPUNGE/FETCH) unsolicited
 *    when SELECTED asks for it; SELECTED-DELAYED keeps EXPUNGE for a
 *    command that may carry it (RFC 5465 6).
 *
 * Cost: one mailbox list (no per-message work) per change and NOTIFY
 * session, plus one status count for each watched mailbox whose
 * HIGHESTMODSEQ, UIDNEXT or UIDVALIDITY moved. More than
 * notify_max_events notifications at once, or output the client does not
 * read, turn NOTIFY off with "* OK [NOTIFICATIONOVERFLOW]" (RFC 5465 5.8):
 * the client resynchronises instead of the server buffering without end. */
#include "imap/notify_push.h"
#include "imap/namespace.h"
#include "imap/condstore.h"
#include "imap/notify_set.h"
#include "imap/session_internal.h"
#include "imap/uidonly.h"
#include "imap/status_items.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* What the client knows of one mailbox. */
struct notify_mb {
	struct store_mailbox mb;    /* messages/unseen valid when counted */
	bool counted;
};

struct notify_state {
	struct notify_set set;
	struct notify_mb *mbs;      /* by id, ascending */
	size_t n;
	bool dirty;                 /* the feed fired since the last comparison */
};

enum notify_kind { NK_CREATED, NK_RENAMED, NK_DELETED, NK_SUBSCRIPTION, NK_STATUS };

struct notify_ev {
	enum notify_kind kind;
	const struct notify_mb *now;   /* NULL for NK_DELETED */
	const struct notify_mb *was;   /* NULL for NK_CREATED */
};

static void mbs_free(struct notify_mb *mbs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_mailbox_clear(&mbs[i].mb);
	free(mbs);
}

static void state_free(struct notify_state *st)
{
	if (!st)
		return;
	notify_set_free(&st->set);
	mbs_free(st->mbs, st->n);
	free(st);
}

void notify_push_free(struct imap_session *s)
{
	state_free(s->notify);
	s->notify = NULL;
}

static int cmp_mb_id(const void *a, const void *b)
{
	int64_t x = ((const struct notify_mb *)a)->mb.id, y = ((const struct notify_mb *)b)->mb.id;
	return x < y ? -1 : x > y;
}

/* The user's mailboxes now, by id; counts only when asked. */
static int snapshot(struct store_user *u, bool counts, struct notify_mb **out, size_t *n)
{
	struct store_mailbox *list;
	size_t cnt;
	int r = store_mailbox_list(u, counts, &list, &cnt);
	if (r != STORE_OK)
		return r;
	struct notify_mb *a = xcalloc(cnt ? cnt : 1, sizeof(*a));
	for (size_t i = 0; i < cnt; i++) {
		a[i].mb = list[i];
		a[i].counted = counts;
	}
	free(list); /* the names moved into a[] */
	qsort(a, cnt, sizeof(*a), cmp_mb_id);
	*out = a;
	*n = cnt;
	return STORE_OK;
}

/* The selected mailbox, when it is one of the user's own (its changes
 * go through view_sync, never STATUS: RFC 5465 5.2). */
static int64_t own_selected_id(const struct imap_session *s)
{
	return s->state == ST_SELECTED && !s->view.owner ? s->view.id : -1;
}

static unsigned status_items(const struct imap_session *s)
{
	unsigned items = STATUS_MESSAGES | STATUS_UIDNEXT | STATUS_UIDVALIDITY | STATUS_UNSEEN;
	if (condstore_on(s))
		items |= STATUS_HIGHESTMODSEQ;
	return items;
}

static void write_status(struct imap_session *s, const struct notify_mb *m)
{
	status_items_write(s, &m->mb, status_items(s));
}

/* RFC 5465 3.1: SET STATUS reports every watched mailbox at once. */
static void write_initial_status(struct imap_session *s, struct notify_state *st)
{
	int64_t sel = own_selected_id(s);
	for (size_t i = 0; i < st->n; i++) {
		const struct notify_mb *m = &st->mbs[i];
		if (m->mb.id != sel && m->counted &&
		    (notify_set_events(&st->set, m->mb.name, m->mb.subscribed) & NOTIFY_EV_MESSAGE))
			write_status(s, m);
	}
}

int notify_push_set(struct imap_session *s, struct notify_set *set)
{
	if (set->none) {
		notify_set_free(set);
		notify_push_free(s);
		return STORE_OK;
	}
	struct store_user *u = store_user_open(s->user);
	if (!u) {
		notify_set_free(set);
		return STORE_EIO;
	}
	struct notify_state *st = xcalloc(1, sizeof(*st));
	st->set = *set;
	memset(set, 0, sizeof(*set));
	int r = snapshot(u, notify_set_wants(&st->set, NOTIFY_EV_MESSAGE), &st->mbs, &st->n);
	store_user_close(u);
	if (r != STORE_OK) {
		state_free(st);
		return r;
	}
	notify_push_free(s);
	s->notify = st;
	if (st->set.status)
		write_initial_status(s, st);
	return STORE_OK;
}

/* Did a watched count move (RFC 5465 5.1-5.3)? Needs `now` counted. */
static bool status_changed(const struct notify_mb *was, const struct notify_mb *now,
			   unsigned events)
{
	if (!was->counted)
		return true;
	const struct store_mailbox *a = &was->mb, *b = &now->mb;
	if (a->messages != b->messages || a->uidnext != b->uidnext ||
	    a->uidvalidity != b->uidvalidity)
		return true;
	return (events & NOTIFY_EV_FLAG_CHANGE) &&
	       (a->unseen != b->unseen || a->highestmodseq != b->highestmodseq);
}

/* Counts `now` (from the store) when its message state may have moved and
 * its events ask; *changed says whether a STATUS is due. */
static int check_status(struct imap_session *s, struct store_user *u, const struct notify_mb *was,
			struct notify_mb *now, unsigned events, bool *changed)
{
	*changed = false;
	if (!(events & NOTIFY_EV_MESSAGE) || now->mb.id == own_selected_id(s))
		return STORE_OK;
	if (was->counted && was->mb.highestmodseq == now->mb.highestmodseq &&
	    was->mb.uidnext == now->mb.uidnext && was->mb.uidvalidity == now->mb.uidvalidity) {
		now->mb.messages = was->mb.messages;
		now->mb.unseen = was->mb.unseen;
		now->counted = true;
		return STORE_OK;
	}
	struct store_mailbox cur;
	int r = store_mailbox_status(u, now->mb.name, &cur);
	if (r == STORE_ENOENT)
		return STORE_OK; /* gone meanwhile: the next comparison says so */
	if (r != STORE_OK)
		return r;
	now->mb.messages = cur.messages;
	now->mb.unseen = cur.unseen;
	now->mb.highestmodseq = cur.highestmodseq;
	now->mb.uidnext = cur.uidnext;
	now->counted = true;
	store_mailbox_clear(&cur);
	*changed = status_changed(was, now, events);
	return STORE_OK;
}

static void ev_add(struct notify_ev **evs, size_t *n, size_t *cap, enum notify_kind kind,
		   const struct notify_mb *now, const struct notify_mb *was)
{
	xgrow((void **)evs, cap, *n + 1, sizeof(**evs));
	(*evs)[(*n)++] = (struct notify_ev){ kind, now, was };
}

/* One mailbox present before and now (same id). */
static int compare_one(struct imap_session *s, struct store_user *u, const struct notify_set *set,
		       const struct notify_mb *was, struct notify_mb *now, struct notify_ev **evs,
		       size_t *n, size_t *cap)
{
	unsigned ev_now = notify_set_events(set, now->mb.name, now->mb.subscribed);
	unsigned ev_was = notify_set_events(set, was->mb.name, was->mb.subscribed);
	if (strcmp(was->mb.name, now->mb.name) != 0 && ((ev_now | ev_was) & NOTIFY_EV_MAILBOX_NAME))
		ev_add(evs, n, cap, NK_RENAMED, now, was);
	if (was->mb.subscribed != now->mb.subscribed &&
	    ((ev_now | ev_was) & NOTIFY_EV_SUBSCRIPTION_CHANGE))
		ev_add(evs, n, cap, NK_SUBSCRIPTION, now, was);
	bool changed;
	int r = check_status(s, u, was, now, ev_now, &changed);
	if (r == STORE_OK && changed)
		ev_add(evs, n, cap, NK_STATUS, now, was);
	return r;
}

/* Walks the old and the new list (both by id) into events. */
static int compare(struct imap_session *s, struct store_user *u, struct notify_state *st,
		   struct notify_mb *now, size_t nnow, struct notify_ev **evs, size_t *nev)
{
	const struct notify_set *set = &st->set;
	size_t cap = 0, i = 0, j = 0;
	int r = STORE_OK;
	while (r == STORE_OK && (i < st->n || j < nnow)) {
		const struct notify_mb *was = i < st->n ? &st->mbs[i] : NULL;
		struct notify_mb *cur = j < nnow ? &now[j] : NULL;
		if (was && (!cur || was->mb.id < cur->mb.id)) {
			if (notify_set_events(set, was->mb.name, was->mb.subscribed) &
			    NOTIFY_EV_MAILBOX_NAME)
				ev_add(evs, nev, &cap, NK_DELETED, NULL, was);
			i++;
		} else if (!was || cur->mb.id < was->mb.id) {
			if (notify_set_events(set, cur->mb.name, cur->mb.subscribed) &
			    NOTIFY_EV_MAILBOX_NAME)
				ev_add(evs, nev, &cap, NK_CREATED, cur, NULL);
			j++;
		} else {
			r = compare_one(s, u, set, was, cur, evs, nev, &cap);
			i++;
			j++;
		}
	}
	return r;
}

static void write_list(struct imap_session *s, const char *attrs, const char *name,
		       const char *oldname)
{
	struct strbuf line = STRBUF_INIT;
	strbuf_addf(&line, "* LIST (%s) \"/\" ", attrs);
	sess_write_mailbox(s, &line, name);
	if (oldname) {
		/* RFC 5258 3.5 / RFC 5465 5.4: the name it had. */
		strbuf_adds(&line, " (\"OLDNAME\" (");
		sess_write_mailbox(s, &line, oldname);
		strbuf_adds(&line, "))");
	}
	sess_printf(s, "%s", line.s);
	strbuf_free(&line);
}

static void write_event(struct imap_session *s, const struct notify_ev *e)
{
	switch (e->kind) {
	case NK_CREATED:
		write_list(s, "", e->now->mb.name, NULL);
		break;
	case NK_RENAMED:
		write_list(s, "", e->now->mb.name, e->was->mb.name);
		break;
	case NK_DELETED:
		write_list(s, "\\NonExistent", e->was->mb.name, NULL);
		break;
	case NK_SUBSCRIPTION:
		write_list(s, e->now->mb.subscribed ? "\\Subscribed" : "", e->now->mb.name, NULL);
		break;
	case NK_STATUS:
		write_status(s, e->now);
		break;
	}
}

/* RFC 5465 5.8: too much to say; the client must resynchronise. */
static void overflow(struct imap_session *s)
{
	sess_printf(s, "* OK [NOTIFICATIONOVERFLOW] Too many notifications; NOTIFY is now off");
	log_info("event=notify_overflow user=%s", s->user);
	notify_push_free(s);
}

/* Everything about the user's other mailboxes since the last time. */
static void deliver_mailboxes(struct imap_session *s)
{
	struct notify_state *st = s->notify;
	st->dirty = false;
	struct store_user *u = store_user_open(s->user);
	if (!u)
		return;
	struct notify_mb *now = NULL;
	size_t nnow = 0;
	struct notify_ev *evs = NULL;
	size_t nev = 0;
	int r = snapshot(u, false, &now, &nnow);
	if (r == STORE_OK)
		r = compare(s, u, st, now, nnow, &evs, &nev);
	store_user_close(u);
	if (r != STORE_OK) {
		st->dirty = true; /* try again with the next change */
		mbs_free(now, nnow);
		free(evs);
		return;
	}
	if (nev > s->cfg->max_notify_events || (nev && sess_output_full(s))) {
		free(evs);
		mbs_free(now, nnow);
		overflow(s);
		return;
	}
	for (size_t i = 0; i < nev; i++)
		write_event(s, &evs[i]);
	free(evs);
	mbs_free(st->mbs, st->n);
	st->mbs = now;
	st->n = nnow;
}

/* RFC 5465 5.2: MessageNew (fetch-att ...) of the selected mailbox: a
 * FETCH with those attributes for each message above `after`. */
static void write_new_fetch(struct imap_session *s, const struct fetch_request *req,
			    uint32_t after)
{
	struct imap_view *v = &s->view;
	size_t first = v->count;
	while (first > 0 && v->uids[first - 1] > after)
		first--;
	if (first == v->count)
		return;
	struct store_user *u = store_user_open(v->owner ? v->owner : s->user);
	if (!u)
		return;
	struct store_msg *msgs = NULL;
	size_t n = 0;
	if (store_msg_get(u, v->id, v->uids + first, v->count - first, &msgs, &n) != STORE_OK ||
	    store_pvtseen_apply(u, v->id, imap_view_seen_reader(s), msgs, n) != STORE_OK) {
		store_msg_array_free(msgs, n);
		msgs = NULL;
		n = 0;
	}
	struct strbuf line = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		const struct store_msg *m = &msgs[i];
		char *envelope = NULL, *structure = NULL;
		if (req->needs_cache)
			(void)store_msg_cached(u, v->id, m->uid, &envelope, &structure, NULL);
		view_keywords_note(s, m->keywords);
		strbuf_reset(&line);
		uidonly_fetch_open(s, &line, m->uid); /* "* uid UIDFETCH (" after ENABLE UIDONLY */
		size_t start = line.len;
		for (size_t k = 0; k < req->n; k++) {
			const struct fetch_item *it = &req->items[k];
			const char *cached = it->type == FI_ENVELOPE ? envelope :
					     it->type == FI_BODYSTRUCTURE ? structure : "";
			if (!cached)
				continue; /* not cached at delivery: FETCH it */
			if (line.len > start)
				strbuf_addc(&line, ' ');
			strbuf_adds(&line, it->label);
			strbuf_addc(&line, ' ');
			/* ENVELOPE, BODYSTRUCTURE: as cached (notify_set.c allows no more). */
			if (!cmd_fetch_write_meta(s, &line, it, m))
				strbuf_adds(&line, cached);
		}
		free(envelope);
		free(structure);
		strbuf_addc(&line, ')');
		sess_printf(s, "%s", line.s);
	}
	strbuf_free(&line);
	store_msg_array_free(msgs, n);
	store_user_close(u);
}

/* The selected mailbox: view_sync, then MessageNew's FETCHes. False when
 * the session was closed (the mailbox went). */
static bool deliver_selected(struct imap_session *s, bool allow_expunge)
{
	const struct notify_group *g = s->notify ? notify_set_selected(&s->notify->set) : NULL;
	struct imap_view *v = &s->view;
	uint32_t last = v->count ? v->uids[v->count - 1] : 0;
	if (!view_sync(s, allow_expunge))
		return false;
	if (g && g->fetch.n && (g->events & NOTIFY_EV_MESSAGE_NEW))
		write_new_fetch(s, &g->fetch, last);
	return true;
}

void notify_push_deliver(struct imap_session *s, bool allow_expunge)
{
	if (s->closing || (s->state != ST_AUTH && s->state != ST_SELECTED))
		return;
	if (s->state == ST_SELECTED && s->notify_pending && !deliver_selected(s, allow_expunge))
		return;
	if (s->notify && s->notify->dirty)
		deliver_mailboxes(s);
}

void notify_push_changed(struct imap_session *s)
{
	if (!s->notify)
		return;
	s->notify->dirty = true;
	/* Between commands only: a running command reports at its end
	 * (sess_tagged), IDLE through its notify hook. */
	if (s->cmd || s->mode != IN_COMMAND || s->closing)
		return;
	if (s->state == ST_SELECTED && s->notify_pending) {
		const struct notify_group *g = notify_set_selected(&s->notify->set);
		if (g && (g->events & NOTIFY_EV_MESSAGE)) {
			/* RFC 5465 6: SELECTED reports expunges at once (the
			 * client chose to use UIDs), SELECTED-DELAYED keeps
			 * them for a command that may carry them. */
			bool delayed = g->filter == NOTIFY_F_SELECTED_DELAYED;
			if (!deliver_selected(s, !delayed))
				return;
			if (delayed)
				s->notify_pending = true;
		}
	}
	if (s->notify && s->notify->dirty)
		deliver_mailboxes(s);
	sess_flush(s);
}
