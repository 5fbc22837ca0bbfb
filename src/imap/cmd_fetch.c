/* FETCH and UID FETCH (RFC 9051 6.4.5, 6.4.9; RFC 3516 BINARY; RFC 8514
 * SAVEDATE; RFC 8970 PREVIEW).
 *
 * The metadata of the whole set comes from one store query (a listing
 * merged against the set when the set is large), \Seen is set for every
 * message at once before any data goes out, and messages are then written
 * one by one; when the client reads slower than we write, the command
 * pauses after a message and resumes when the output has drained, so
 * `FETCH 1:* BODY[]` holds at most one message in memory. */
#include "imap/fetch_items.h"
#include "imap/fetch_flags.h"
#include "imap/objectid.h"
#include "imap/condstore.h"
#include "imap/datetime.h"
#include "imap/session_internal.h"
#include "imap/namespace.h"
#include "imap/preview_fill.h"
#include "imap/uidonly.h"
#include "auth/alert.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/util.h"
#include "mail/mail.h"
#include "mail/preview.h"
#include "core/quote.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Up to this many messages are looked up one by one; larger sets take one
 * listing from the set's lowest UID and merge. */
#define FETCH_GET_MAX 256

/* What became of one message of the set. Only SENT wrote anything. */
enum fetch_msg {
	FETCH_MSG_SENT,
	FETCH_MSG_GONE,       /* expunged by another session meanwhile: skipped */
	FETCH_MSG_BAD_CTE,    /* a BINARY part can't be decoded: the command ends NO */
	FETCH_MSG_STORE_ERR,  /* the store failed (st->err): the command ends NO */
};

struct fetch_state {
	struct fetch_request req;
	bool uid;
	uint32_t *uids;              /* the resolved set, ascending */
	size_t n, pos;
	struct store_msg *msgs;      /* metadata, ascending UIDs (may hold extra UIDs) */
	size_t nmsgs, mpos;
	uint32_t *seen;              /* UIDs whose \Seen this FETCH set, ascending */
	size_t nseen, spos;
	size_t gone;                 /* messages of the set expunged by others */
	int err;                     /* the store error of FETCH_MSG_STORE_ERR */
	/* RFC 7162: (CHANGEDSINCE n [VANISHED]) and what it found. */
	struct condstore_fetch mods;
	bool condstore;              /* MODSEQ goes with a \Seen set by this FETCH */
	struct seqset uidset;        /* VANISHED: the UID set as sent */
	uint32_t *vanished;          /* VANISHED: expunged UIDs of the set */
	size_t nvanished;
	bool vanished_pruned;        /* ... history that old was pruned: */
	uint32_t *present;           /* the mailbox's UIDs, ascending */
	size_t npresent;
	bool preview_missing;        /* preview: a message had none stored */
	/* alloc: one response line and one section, reused from message to
	 * message rather than allocated for each. */
	struct strbuf line, tmp;
	/* sessx: the files of expunged messages go a little after their
	 * EXPUNGE's answer (store/sqlite/sync.c). Once a file was gone, or
	 * the mailbox changed while this FETCH waited for output room, it
	 * re-reads which UIDs of the set remain, a window at a time, so
	 * everything one EXPUNGE removed is left out together rather than
	 * one file at a time as they are unlinked. */
	bool recheck;                /* alive[] decides for UIDs <= alive_hi */
	uint32_t *alive;             /* ascending */
	size_t nalive, apos;
	uint32_t alive_hi;
	bool ver_set;                /* ver: the mailbox when the FETCH paused */
	struct store_mbox_version ver;
};

/* UIDs re-read at a time by fetch_recheck(). */
#define FETCH_RECHECK_MAX 4096

static void fetch_state_free(struct fetch_state *st)
{
	if (!st)
		return;
	fetch_request_free(&st->req);
	free(st->uids);
	store_msg_array_free(st->msgs, st->nmsgs);
	free(st->seen);
	seqset_free(&st->uidset);
	free(st->vanished);
	free(st->present);
	free(st->alive);
	strbuf_free(&st->line);
	strbuf_free(&st->tmp);
	free(st);
}

/* The session went away while the command waited for output room. */
static void fetch_cancel(struct imap_cmd *cmd)
{
	fetch_state_free(cmd->state);
	cmd->state = NULL;
}

/* Ends the line so far with a literal's length ({n}, or ~{n} literal8
 * when l8: RFC 3516 4.2) and hands it to the session; the data follows. */
static void write_literal_head(struct imap_session *s, struct strbuf *line, size_t len, bool l8)
{
	strbuf_adds(line, l8 ? "~{" : "{");
	strbuf_add_u64(line, len);
	strbuf_adds(line, "}\r\n");
	sess_write(s, line->s, line->len);
	strbuf_reset(line);
}

/* Writes a string value as a literal ({n}, or ~{n} literal8 when binary
 * says the data may hold NULs: RFC 3516 4.2), an empty one too: {0}, as
 * Dovecot and Cyrus send it, so a client reads every section the same way
 * (RFC 9051 allows "" as well; docs/imap.md). The data goes to the
 * session directly, not through the line. */
static void write_literal(struct imap_session *s, struct strbuf *line, const char *data,
			  size_t len, bool binary)
{
	write_literal_head(s, line, len, binary && memchr(data, '\0', len) != NULL);
	sess_write(s, data, len);
}

/* The <origin.count> slice of [*off, *off + *len). */
static void partial_range(const struct fetch_item *it, uint64_t *off, size_t *len)
{
	if (!it->partial)
		return;
	if (it->origin >= *len) {
		*len = 0;
		return;
	}
	*off += it->origin;
	*len -= (size_t)it->origin;
	if (it->count < *len)
		*len = (size_t)it->count;
}

/* The <origin.count> slice of data[0..len). */
static void partial_slice(const struct fetch_item *it, const char **data, size_t *len)
{
	uint64_t off = 0;
	partial_range(it, &off, len);
	*data += off;
}

/* Everything one message's response needs beyond its metadata. */
struct fetch_content {
	const char *data;        /* mapped message bytes */
	size_t len;
	int fd;                  /* alloc: or the message file (-1: none), when
				  * only its bytes as they are are needed */
	struct mail_msg *mail;
	char *envelope, *body, *bodystructure;
	char *preview;           /* preview: NULL when not made (LAZY: NIL) */
	struct strbuf *binary;   /* per item, FI_BINARY / FI_BINARY_SIZE */
	bool *binary_nil;        /* the part does not exist */
};

static void content_free(struct fetch_content *c, size_t nitems)
{
	mail_msg_free(c->mail);
	if (c->data)
		store_blob_unmap(c->data, c->len);
	if (c->fd >= 0)
		close(c->fd);
	free(c->envelope);
	free(c->body);
	free(c->bodystructure);
	free(c->preview);
	if (c->binary)
		for (size_t i = 0; i < nitems; i++)
			strbuf_free(&c->binary[i]);
	free(c->binary);
	free(c->binary_nil);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Loads what the request needs for message m. Nothing has been written
 * when this returns anything but FETCH_MSG_SENT. */
static enum fetch_msg content_load(struct imap_session *s, struct fetch_state *st, const struct store_msg *m,
			struct fetch_content *c)
{
	const struct fetch_request *req = &st->req;
	struct store_user *u = sess_store(s);
	if (!u) {
		st->err = STORE_EIO;
		return FETCH_MSG_STORE_ERR;
	}
	bool need_content = req->needs_content, need_parse = req->needs_parse;
	if (req->needs_cache) {
		bool env = false, body = false, bs = false;
		for (size_t i = 0; i < req->n; i++) {
			env |= req->items[i].type == FI_ENVELOPE;
			body |= req->items[i].type == FI_BODY;
			bs |= req->items[i].type == FI_BODYSTRUCTURE;
		}
		int r = store_msg_cached(u, s->view.id, m->uid, env ? &c->envelope : NULL,
					 bs ? &c->bodystructure : NULL, body ? &c->body : NULL);
		if (r == STORE_ENOENT)
			return FETCH_MSG_GONE;
		if (r != STORE_OK) {
			st->err = r;
			return FETCH_MSG_STORE_ERR;
		}
		/* A message stored without its cache (should not happen): compute
		 * from the content rather than fail. */
		if ((env && !c->envelope) || (body && !c->body) || (bs && !c->bodystructure))
			need_content = need_parse = true;
	}
	/* preview: RFC 8970 4, LAZY answers NIL rather than make it now. */
	bool preview_make = false;
	if (req->needs_preview) {
		int r = store_msg_preview(u, s->view.id, m->uid, &c->preview);
		if (r == STORE_ENOENT)
			return FETCH_MSG_GONE;
		if (r != STORE_OK) {
			st->err = r;
			return FETCH_MSG_STORE_ERR;
		}
		if (!c->preview) {
			st->preview_missing = true;
			for (size_t i = 0; i < req->n; i++)
				preview_make |= req->items[i].type == FI_PREVIEW && !req->items[i].lazy;
			if (preview_make)
				need_content = need_parse = true;
		}
	}
	if (!need_content)
		return FETCH_MSG_SENT;
	/* alloc: BODY[] and its partials alone: the connection reads the
	 * file itself (no copy of the message in memory here). */
	bool whole_only = !need_parse;
	for (size_t i = 0; i < req->n && whole_only; i++)
		whole_only = req->items[i].type != FI_SECTION ||
			     req->items[i].section.kind == MAIL_SECTION_ALL;
	/* msgcache: a small message in memory is copied from there instead;
	 * inline: one kept in the index is copied from its row. */
	if (whole_only && (store_blob_cached(u, m->blob, &c->data, &c->len) == STORE_OK ||
			   store_blob_inline(u, m->blob, &c->data, &c->len) == STORE_OK))
		return FETCH_MSG_SENT;
	if (whole_only) {
		uint64_t size = 0;
		int r = store_blob_open(u, m->blob, &c->fd, &size);
		if (r == STORE_ENOENT)
			return FETCH_MSG_GONE;
		if (r != STORE_OK) {
			st->err = r;
			return FETCH_MSG_STORE_ERR;
		}
		c->len = (size_t)size;
		return FETCH_MSG_SENT;
	}
	int r = store_blob_map(u, m->blob, &c->data, &c->len);
	if (r != STORE_OK) {
		c->data = NULL;
		if (r == STORE_ENOENT)
			return FETCH_MSG_GONE;
		st->err = r;
		return FETCH_MSG_STORE_ERR;
	}
	if (need_parse)
		c->mail = mail_parse(c->data, c->len);
	if (!c->mail && need_parse) {
		st->err = STORE_EIO;
		return FETCH_MSG_STORE_ERR;
	}
	if (preview_make)
		c->preview = mail_preview_build(c->mail);
	for (size_t i = 0; i < req->n; i++) {
		const struct fetch_item *it = &req->items[i];
		if (it->type != FI_BINARY && it->type != FI_BINARY_SIZE)
			continue;
		if (!c->binary) {
			c->binary = xcalloc(req->n, sizeof(*c->binary));
			c->binary_nil = xcalloc(req->n, sizeof(*c->binary_nil));
		}
		/* Before any output, so a failure leaves no half-written line. */
		int b = mail_binary_fetch(c->mail, it->part, it->nparts, &c->binary[i]);
		if (b < 0)
			return FETCH_MSG_BAD_CTE;
		if (b > 0)
			c->binary_nil[i] = true;
	}
	return FETCH_MSG_SENT;
}

/* Cached structure strings, or computed from the message when absent. */
static void write_structure(struct strbuf *line, const char *cached, const struct mail_msg *mail,
			    enum fetch_item_type type)
{
	if (cached) {
		strbuf_adds(line, cached);
	} else if (type == FI_ENVELOPE) {
		mail_write_envelope(line, mail);
	} else {
		mail_write_bodystructure(line, mail, type == FI_BODYSTRUCTURE);
	}
}

bool cmd_fetch_write_meta(struct imap_session *s, struct strbuf *line,
			  const struct fetch_item *it, const struct store_msg *m)
{
	char date[40];
	switch (it->type) {
	case FI_UID:
		strbuf_add_u64(line, m->uid);
		return true;
	case FI_FLAGS:
		sess_write_flags(s, line, m->flags, m->keywords, view_recent(&s->view, m->uid));
		return true;
	case FI_INTERNALDATE:
		imap_datetime_format(m->internaldate, m->internaldate_tz, date, sizeof(date));
		strbuf_adds(line, date);
		return true;
	case FI_SAVEDATE:
		/* RFC 8514 3: NIL when the save date is not known. */
		if (m->savedate > 0) {
			imap_datetime_format(m->savedate, 0, date, sizeof(date));
			strbuf_adds(line, date);
		} else {
			strbuf_adds(line, "NIL");
		}
		return true;
	case FI_RFC822_SIZE:
		strbuf_add_u64(line, m->size);
		return true;
	case FI_MODSEQ:
		strbuf_addc(line, '(');
		strbuf_add_u64(line, m->modseq);
		strbuf_addc(line, ')');
		return true;
	case FI_EMAILID: {
		char id[OBJECTID_SIZE];
		objectid_email(m->blob, id);
		strbuf_addf(line, "(%s)", id);
		return true;
	}
	case FI_THREADID:
		strbuf_adds(line, "NIL"); /* RFC 8474 5.2: threads not computed */
		return true;
	default:
		return false;
	}
}

/* Writes one "* n FETCH (...)" response, or nothing when the message
 * can't be answered. */
static enum fetch_msg fetch_message(struct imap_session *s, struct fetch_state *st, const struct store_msg *m,
			 bool seen_set)
{
	const struct fetch_request *req = &st->req;
	struct fetch_content c;
	memset(&c, 0, sizeof(c));
	c.fd = -1;
	enum fetch_msg r = content_load(s, st, m, &c);
	if (r != FETCH_MSG_SENT) {
		content_free(&c, req->n);
		return r;
	}
	struct strbuf *line = &st->line;
	struct strbuf *tmp = &st->tmp;
	strbuf_reset(line);
	bool recent = view_recent(&s->view, m->uid);
	view_keywords_note(s, m->keywords); /* RFC 9051 7.3.5: FLAGS first */
	uidonly_fetch_open(s, line, m->uid);
	for (size_t i = 0; i < req->n; i++) {
		const struct fetch_item *it = &req->items[i];
		if (i)
			strbuf_addc(line, ' ');
		strbuf_adds(line, it->label);
		strbuf_addc(line, ' ');
		if (cmd_fetch_write_meta(s, line, it, m))
			continue;
		switch (it->type) {
		case FI_ENVELOPE:
			write_structure(line, c.envelope, c.mail, it->type);
			break;
		case FI_BODY:
			write_structure(line, c.body, c.mail, it->type);
			break;
		case FI_BODYSTRUCTURE:
			write_structure(line, c.bodystructure, c.mail, it->type);
			break;
		case FI_SECTION: {
			if (c.fd >= 0) {
				uint64_t off = 0;
				size_t len = c.len;
				partial_range(it, &off, &len);
				write_literal_head(s, line, len, false);
				if (len && !sess_write_file(s, c.fd, off, len)) {
					content_free(&c, req->n);
					st->err = STORE_EIO;
					return FETCH_MSG_STORE_ERR;
				}
				break;
			}
			const char *data = c.data;
			size_t len = c.len;
			size_t off;
			if (mail_section_range(&it->section, c.data, c.len, &off, &len)) {
				data += off; /* alloc: HEADER, TEXT: no parse, no copy */
			} else {
				if (!c.mail)
					c.mail = mail_parse(c.data, c.len);
				strbuf_reset(tmp);
				mail_section_fetch(c.mail, &it->section, tmp);
				data = tmp->s ? tmp->s : "";
				len = tmp->len;
			}
			partial_slice(it, &data, &len);
			write_literal(s, line, data, len, false);
			break;
		}
		case FI_BINARY: {
			if (c.binary_nil[i]) {
				strbuf_adds(line, "NIL");
				break;
			}
			const char *data = c.binary[i].s ? c.binary[i].s : "";
			size_t len = c.binary[i].len;
			partial_slice(it, &data, &len);
			write_literal(s, line, data, len, true);
			break;
		}
		case FI_BINARY_SIZE:
			strbuf_addf(line, "%zu", c.binary_nil[i] ? (size_t)0 : c.binary[i].len);
			break;
		default: /* cmd_fetch_write_meta's */
			break;
		case FI_PREVIEW: /* preview: RFC 8970 3.2, UTF-8 text or NIL (LAZY) */
			if (c.preview)
				quote_string_utf8(line, c.preview, strlen(c.preview), s->utf8);
			else
				strbuf_adds(line, "NIL");
			break;
		}
	}
	/* RFC 9051 6.4.5: a \Seen set by this FETCH is reported with it. */
	if (seen_set && !req->has_flags) {
		strbuf_adds(line, " FLAGS ");
		sess_write_flags(s, line, m->flags, m->keywords, recent);
	}
	/* RFC 7162 3.1.4.1: ... and with its new MODSEQ once CONDSTORE is on. */
	if (seen_set && st->condstore && !req->has_modseq)
		strbuf_addf(line, " MODSEQ (%llu)", (unsigned long long)m->modseq);
	strbuf_adds(line, ")\r\n");
	sess_write(s, line->s, line->len);
	content_free(&c, req->n);
	return FETCH_MSG_SENT;
}

static int cmp_msg_uid(const void *key, const void *elem)
{
	uint32_t k = *(const uint32_t *)key, e = ((const struct store_msg *)elem)->uid;
	return k < e ? -1 : k > e ? 1 : 0;
}

/* RFC 9051 6.4.5: fetching a body without .PEEK sets \Seen. All messages
 * of the set at once: one transaction, not one per message. Touches only
 * the store and st (may run on a pool thread); *changed is what changed. */
static int fetch_set_seen(struct store_user *u, int64_t mailbox, const char *reader,
			  struct fetch_state *st, struct store_msg **changed, size_t *nchanged)
{
	uint32_t *todo = NULL;
	size_t ntodo = 0, cap = 0, mpos = 0;
	for (size_t i = 0; i < st->n; i++) {
		while (mpos < st->nmsgs && st->msgs[mpos].uid < st->uids[i])
			mpos++;
		if (mpos < st->nmsgs && st->msgs[mpos].uid == st->uids[i] &&
		    !(st->msgs[mpos].flags & MAIL_FLAG_SEEN)) {
			xgrow((void **)&todo, &cap, ntodo + 1, sizeof(*todo));
			todo[ntodo++] = st->uids[i];
		}
	}
	if (ntodo == 0)
		return STORE_OK;
	int r = store_flags_as(u, reader, mailbox, todo, ntodo, STORE_FLAGS_ADD, MAIL_FLAG_SEEN,
			       NULL, 0, changed, nchanged, NULL, NULL);
	free(todo);
	if (r != STORE_OK)
		return r;
	st->seen = xmalloc((*nchanged ? *nchanged : 1) * sizeof(*st->seen));
	for (size_t i = 0; i < *nchanged; i++) {
		struct store_msg *c = &(*changed)[i];
		struct store_msg *m = bsearch(&c->uid, st->msgs, st->nmsgs, sizeof(*st->msgs),
					      cmp_msg_uid);
		if (m) {
			m->flags = c->flags;
			m->modseq = c->modseq;
			free(m->keywords);
			m->keywords = c->keywords;
			c->keywords = NULL;
		}
		st->seen[st->nseen++] = c->uid;
	}
	return STORE_OK;
}

/* RFC 7162 3.1.4.1: CHANGEDSINCE keeps the messages of the set whose
 * modseq is above it. */
static void fetch_filter_changed(struct fetch_state *st)
{
	size_t k = 0, mpos = 0;
	for (size_t i = 0; i < st->n; i++) {
		while (mpos < st->nmsgs && st->msgs[mpos].uid < st->uids[i])
			mpos++;
		/* A message gone meanwhile stays: it is counted as expunged. */
		if (mpos < st->nmsgs && st->msgs[mpos].uid == st->uids[i] &&
		    st->msgs[mpos].modseq <= st->mods.changedsince)
			continue;
		st->uids[k++] = st->uids[i];
	}
	st->n = k;
}

/* RFC 7162 3.2.6: the UIDs of the set expunged after CHANGEDSINCE. UIDs
 * this session still shows were expunged after its last sync and are
 * reported by VANISHED when it syncs (fetch_start leaves them out). */
static int fetch_vanished(struct store_user *u, int64_t mailbox, struct fetch_state *st)
{
	struct store_msg *ch = NULL;
	uint32_t *ex = NULL;
	size_t nch = 0, nex = 0;
	int r = store_changes(u, mailbox, st->mods.changedsince, &ch, &nch, &ex, &nex);
	store_msg_array_free(ch, nch);
	if (r != STORE_OK)
		return r;
	uint64_t floor = 0;
	if ((r = store_expunged_floor(u, mailbox, &floor)) != STORE_OK) {
		free(ex);
		return r;
	}
	st->vanished_pruned = st->mods.changedsince < floor;
	if (st->vanished_pruned) {
		/* Every UID of the set not in the mailbox is reported: its
		 * UIDs now (the view may lag behind). */
		struct store_msg *all = NULL;
		size_t nall = 0;
		if ((r = store_msg_list(u, mailbox, 1, true, &all, &nall)) != STORE_OK) {
			free(ex);
			return r;
		}
		st->present = xmalloc((nall ? nall : 1) * sizeof(uint32_t));
		for (size_t i = 0; i < nall; i++)
			st->present[i] = all[i].uid;
		st->npresent = nall;
		store_msg_array_free(all, nall);
	}
	st->vanished = xmalloc((nex ? nex : 1) * sizeof(uint32_t));
	for (size_t i = 0; i < nex; i++)
		if (seqset_contains(&st->uidset, ex[i]))
			st->vanished[st->nvanished++] = ex[i];
	free(ex);
	return STORE_OK;
}

/* The store phase of FETCH: the set's metadata, and \Seen set. Touches
 * only the store and st (may run on a pool thread). reader: whose private
 * \Seen (aclseen; NULL: the message's). */
static int fetch_setup(struct store_user *u, int64_t mailbox, const char *reader, bool readonly,
		       struct fetch_state *st, struct store_msg **changed, size_t *nchanged)
{
	if (!u)
		return STORE_EIO;
	const struct fetch_request *req = &st->req;
	bool meta_only = !req->needs_meta && !req->needs_content && !req->sets_seen;
	int r;
	if (st->n <= FETCH_GET_MAX)
		r = store_msg_get(u, mailbox, st->uids, st->n, &st->msgs, &st->nmsgs);
	else
		r = store_msg_list(u, mailbox, st->uids[0], meta_only, &st->msgs, &st->nmsgs);
	if (r == STORE_OK)
		r = store_pvtseen_apply(u, mailbox, reader, st->msgs, st->nmsgs);
	if (r == STORE_OK && st->mods.changedsince_set)
		fetch_filter_changed(st);
	if (r == STORE_OK && st->mods.vanished)
		r = fetch_vanished(u, mailbox, st);
	if (r == STORE_OK && req->sets_seen && !readonly)
		r = fetch_set_seen(u, mailbox, reader, st, changed, nchanged);
	return r;
}

/* A large FETCH's set-up on the work pool. */
struct fetch_job {
	struct cmd_job job;          /* first member */
	struct fetch_state *st;      /* handed back to the command in done */
	int64_t mailbox;
	bool readonly;
	int err;
	struct store_msg *changed;
	size_t nchanged;
};

static void fetch_job_run(struct cmd_job *job)
{
	struct fetch_job *j = (struct fetch_job *)job;
	j->err = fetch_setup(cmd_job_store(job), j->mailbox, job->reader, j->readonly, j->st, &j->changed,
			     &j->nchanged);
}

static void fetch_job_free(struct cmd_job *job)
{
	struct fetch_job *j = (struct fetch_job *)job;
	fetch_state_free(j->st);
	store_msg_array_free(j->changed, j->nchanged);
	free(j);
}

/* Ends the command. `how` is FETCH_MSG_SENT when every message was
 * answered or skipped, else why the command stopped. */
static void fetch_finish(struct imap_session *s, struct fetch_state *st, enum fetch_msg how)
{
	bool uid = st->uid;
	size_t gone = st->gone;
	int err = st->err;
	/* preview: messages stored before previews get theirs made. */
	if (st->preview_missing)
		preview_fill_kick(s->info.base, s->user);
	fetch_state_free(st);
	/* The command may have paused before: nothing is left to cancel. */
	s->cmd->state = NULL;
	s->cmd->cancel = NULL;
	if (how == FETCH_MSG_BAD_CTE) {
		/* RFC 3516 4.3 / RFC 9051 6.4.5. */
		sess_tagged(s, "NO", "[UNKNOWN-CTE] Can't decode the part's Content-Transfer-Encoding");
		return;
	}
	if (how == FETCH_MSG_STORE_ERR) {
		sess_store_error(s, err, "FETCH");
		return;
	}
	cmd_fetch_reply(s, uid, gone);
}

void cmd_fetch_reply(struct imap_session *s, bool uid, size_t gone)
{
	/* RFC 9051 7.5.1: no EXPUNGE while answering FETCH. */
	if (!view_sync(s, false))
		return;
	/* RFC 5530 3: the client learns why messages are missing and that a
	 * NOOP will tell it which. */
	if (gone)
		sess_tagged(s, "OK", "[EXPUNGEISSUED] %sFETCH completed, %zu expunged message%s left out",
			    uid ? "UID " : "", gone, gone == 1 ? "" : "s");
	else
		sess_tagged(s, "OK", "%sFETCH completed", uid ? "UID " : "");
}

/* Setting up failed with a store error. */
static void fetch_fail(struct imap_session *s, struct fetch_state *st, int err)
{
	st->err = err;
	fetch_finish(s, st, FETCH_MSG_STORE_ERR);
}

/* Which UIDs of the set from st->uids[from] on (a window of them) the
 * mailbox still holds. On a store error the FETCH goes on as before:
 * files that are gone are still left out one by one. */
static void fetch_recheck(struct imap_session *s, struct fetch_state *st, size_t from)
{
	st->recheck = false;
	st->nalive = st->apos = 0;
	struct store_user *u = sess_store(s);
	if (!u || from >= st->n)
		return;
	size_t end = st->n - from > FETCH_RECHECK_MAX ? from + FETCH_RECHECK_MAX : st->n;
	struct store_flag_list l;
	if (store_msg_flags_as(u, s->view.id, NULL, st->uids[from], st->uids[end - 1], false,
			       &l) != STORE_OK)
		return;
	free(st->alive);
	st->alive = l.uids;
	st->nalive = l.n;
	l.uids = NULL;
	store_flag_list_free(&l);
	st->alive_hi = st->uids[end - 1];
	st->recheck = true;
}

/* False when uid is known to be expunged (fetch_recheck). */
static bool fetch_alive(struct imap_session *s, struct fetch_state *st, uint32_t uid)
{
	if (!st->recheck)
		return true;
	if (uid > st->alive_hi) {
		/* The next window (uid is st->uids[st->pos - 1]): one
		 * expunge may span more of the set. */
		fetch_recheck(s, st, st->pos - 1);
		if (!st->recheck)
			return true;
	}
	while (st->apos < st->nalive && st->alive[st->apos] < uid)
		st->apos++;
	return st->apos < st->nalive && st->alive[st->apos] == uid;
}

/* Pausing for output room: remembers the mailbox's version, so that the
 * resume can tell whether someone changed it meanwhile. */
static void fetch_note_version(struct imap_session *s, struct fetch_state *st)
{
	struct store_user *u = sess_store(s);
	st->ver_set = u && store_mailbox_version(u, s->view.id, &st->ver) == STORE_OK;
}

static void fetch_check_version(struct imap_session *s, struct fetch_state *st)
{
	struct store_user *u = sess_store(s);
	struct store_mbox_version v;
	if (!st->ver_set || !u || store_mailbox_version(u, s->view.id, &v) != STORE_OK)
		return;
	if (!store_mbox_version_eq(&v, &st->ver))
		fetch_recheck(s, st, st->pos);
	st->ver_set = false;
}

static void fetch_resume(struct imap_cmd *cmd);

/* Writes the messages from st->pos until the output is full (then a resume is
 * arranged and this returns -1), until the end (FETCH_MSG_SENT) or until
 * a failure (its fetch_msg); fetch_run finishes the command. */
static int fetch_batch(struct imap_session *s, struct fetch_state *st)
{
	while (st->pos < st->n) {
		/* A download spike with download_spike_action = throttle paces
		 * this user's output until its window ends (auth/alert.c). */
		uint64_t wait = alert_download_wait(s->user, now_ms());
		if (wait && sess_wait_timer(s->cmd, wait, fetch_resume)) {
			s->cmd->state = st;
			s->cmd->cancel = fetch_cancel;
			return -1;
		}
		uint32_t uid = st->uids[st->pos++];
		while (st->mpos < st->nmsgs && st->msgs[st->mpos].uid < uid)
			st->mpos++;
		/* Expunged by another session before the listing: RFC 9051
		 * allows leaving it out. */
		if (st->mpos >= st->nmsgs || st->msgs[st->mpos].uid != uid ||
		    !fetch_alive(s, st, uid)) {
			st->gone++;
			continue;
		}
		bool seen_set = st->nseen && u32_sorted_has(st->seen, st->nseen, uid);
		uint64_t written = s->written;
		enum fetch_msg r = fetch_message(s, st, &st->msgs[st->mpos], seen_set);
		alert_download_add(s->user, s->peer, s->written - written, now_ms());
		if (r == FETCH_MSG_GONE) {
			/* ... or after it, while we were sending others: the
			 * others its EXPUNGE removed go with it. */
			st->gone++;
			fetch_recheck(s, st, st->pos);
		} else if (r != FETCH_MSG_SENT) {
			return (int)r;
		}
		if (st->pos < st->n && sess_output_full(s)) {
			s->cmd->state = st;
			s->cmd->cancel = fetch_cancel;
			fetch_note_version(s, st);
			sess_wait_output(s->cmd, fetch_resume);
			return -1;
		}
	}
	return FETCH_MSG_SENT;
}

/* Writes messages from st->pos on; pauses when the output is full. */
static void fetch_run(struct imap_session *s, struct fetch_state *st)
{
	/* fetchtx (issue #14): the batch's reads (each message's cached
	 * strings, the rechecks) share one read transaction; released before
	 * any wait, and before the finish, whose view sync may write. */
	struct store_user *u = sess_store(s);
	store_read_hold(u);
	int r = fetch_batch(s, st);
	store_read_release(u);
	if (r >= 0)
		fetch_finish(s, st, (enum fetch_msg)r);
}

static void fetch_resume(struct imap_cmd *cmd)
{
	fetch_check_version(cmd->s, cmd->state);
	fetch_run(cmd->s, cmd->state);
}

/* After the set-up: the view learns of our \Seen changes, then the
 * messages go out. */
static void fetch_start(struct imap_session *s, struct fetch_state *st, int err,
			struct store_msg *changed, size_t nchanged)
{
	if (err != STORE_OK) {
		store_msg_array_free(changed, nchanged);
		fetch_fail(s, st, err);
		return;
	}
	for (size_t i = 0; i < nchanged; i++)
		view_note_own_change(s, changed[i].uid, changed[i].modseq);
	store_msg_array_free(changed, nchanged);
	if (st->mods.vanished) {
		/* RFC 7162 3.2.6: VANISHED (EARLIER) before the FETCH responses. */
		const struct imap_view *v = &s->view;
		size_t k = 0;
		for (size_t i = 0; i < st->nvanished; i++)
			if (!view_seq_of(v, st->vanished[i]))
				st->vanished[k++] = st->vanished[i];
		/* Pruned history: every UID of the set ('*' is the view's
		 * last UID) that the mailbox does not hold (RFC 7162 3.2.6). */
		if (st->vanished_pruned)
			condstore_write_vanished_absent(s, &st->uidset, UINT32_MAX, st->present,
							st->npresent);
		else
			condstore_write_vanished(s, true, st->vanished, k);
	}
	fetch_run(s, st);
}

static void fetch_job_done(struct cmd_job *job)
{
	struct fetch_job *j = (struct fetch_job *)job;
	struct fetch_state *st = j->st;
	j->st = NULL;
	fetch_start(job->cmd->s, st, j->err, j->changed, j->nchanged);
	j->changed = NULL;
	j->nchanged = 0;
}

/* RFC 7162: the modifiers (CHANGEDSINCE n [VANISHED]) and the enabling
 * effect of MODSEQ. 0, or -1 after a tagged BAD. */
static int fetch_condstore_setup(struct imap_session *s, struct fetch_state *st, bool uid,
				 const struct imap_arg *set, const struct imap_arg *mods)
{
	const char *err;
	if (mods && condstore_fetch_parse(mods, &st->mods, &err) < 0) {
		sess_tagged(s, "BAD", "%s", err);
		return -1;
	}
	if (st->mods.vanished) {
		const char *str;
		const struct imap_view *v = &s->view;
		if (!uid || !condstore_qresync(s)) {
			sess_tagged(s, "BAD", "VANISHED needs UID FETCH and ENABLE QRESYNC");
			return -1;
		}
		/* The set as sent: expunged UIDs are not in the view. */
		uint32_t star = v->count ? v->uids[v->count - 1] : UINT32_MAX;
		if (!imap_arg_get_atom(set, &str) || strcmp(str, "$") == 0 ||
		    seqset_parse(str, strlen(str), star, &st->uidset) < 0) {
			sess_tagged(s, "BAD", "Invalid UID set for VANISHED");
			return -1;
		}
	}
	if (st->mods.changedsince_set) {
		/* RFC 7162 3.1.4.1: CHANGEDSINCE implies MODSEQ. */
		fetch_request_ensure_modseq(&st->req);
	}
	if (st->req.has_modseq)
		condstore_enable(s);
	st->condstore = condstore_on(s);
	return 0;
}

void cmd_fetch(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	bool uid = cmd->uid;
	if (nargs < 2) {
		sess_tagged(s, "BAD", "FETCH needs a sequence set and attributes");
		return;
	}
	if (nargs > 3) {
		sess_tagged(s, "BAD", "Too many FETCH arguments");
		return;
	}
	struct fetch_state *st = xcalloc(1, sizeof(*st));
	st->uid = uid;
	const char *err = NULL;
	if (fetch_request_parse(&args[1], &st->req, &err) < 0) {
		fetch_state_free(st);
		sess_tagged(s, "BAD", "%s", err ? err : "Invalid FETCH attributes");
		return;
	}
	/* uidonly: a UIDFETCH response is numbered by UID (RFC 9586 3.3) */
	if (uid && !uidonly_on(s))
		fetch_request_ensure_uid(&st->req);
	/* context: RFC 9394 3.3, (PARTIAL range) pages UID FETCH's messages */
	struct search_partial partial;
	bool paged = false;
	struct imap_arg mods = { 0 };
	err = NULL;
	if (nargs == 3 && search_partial_modifier(&args[2], &partial, &paged, &mods, &err) == 0 &&
	    paged && !uid)
		err = "PARTIAL pages UID FETCH only";
	if (err || fetch_condstore_setup(s, st, uid, &args[0],
					 nargs == 3 && (!paged || mods.count) ? &mods : NULL) < 0) {
		if (err)
			sess_tagged(s, "BAD", "%s", err);
		free(mods.list);
		fetch_state_free(st);
		return;
	}
	free(mods.list);
	int r = view_resolve_set(s, &args[0], uid, &st->uids, &st->n);
	if (r < 0) {
		fetch_state_free(st);
		sess_tagged(s, "BAD", r == -2 ? "Sequence number out of range" : "Invalid sequence set");
		return;
	}
	if (paged) { /* positions among the set's messages, UID order */
		size_t from;
		st->n = search_partial_slice(&partial, st->n, &from);
		if (st->n)
			memmove(st->uids, st->uids + from, st->n * sizeof(*st->uids));
	}
	if (st->n == 0) {
		fetch_finish(s, st, FETCH_MSG_SENT);
		return;
	}
	if (fetch_flags_take(cmd, &st->req, &st->mods, &st->uids, st->n)) { /* bigsel */
		fetch_state_free(st);
		return;
	}
	if (st->n > FETCH_GET_MAX) {
		struct fetch_job *j = xcalloc(1, sizeof(*j));
		j->st = st;
		j->mailbox = s->view.id;
		j->readonly = s->view.readonly || !imap_view_may(s, STORE_ACL_SEEN); /* acl */
		cmd_run_on_pool(cmd, &j->job, fetch_job_run, fetch_job_done, fetch_job_free);
		return;
	}
	struct store_msg *changed = NULL;
	size_t nchanged = 0;
	r = fetch_setup(sess_store(s), s->view.id, imap_view_seen_reader(s),
			s->view.readonly || !imap_view_may(s, STORE_ACL_SEEN) /* acl */, st, &changed,
			&nchanged);
	fetch_start(s, st, r, changed, nchanged);
}
