/* COPY and MOVE between two users' stores: from a shared mailbox into the
 * user's own, from the user's own into another's (RFC 4314 4, RFC 6851).
 *
 * One store call is one user's transaction and blobs are per user
 * (content-addressed files under each user's directory), so a message
 * crosses as an APPEND into the target's store: its bytes, flags (those
 * the user may set there, RFC 4314 4), keywords and INTERNALDATE travel,
 * the target gets a new UID and SAVEDATE (RFC 8514 3), and the target
 * owner's quota applies inside that one transaction (all or nothing).
 *
 * Memory stays bounded: the bytes are written, one message at a time,
 * into one unlinked spool file in the target user's directory, and the
 * store copies each range from it in the kernel (copy_file_range); a
 * single message's spool holds exactly it and becomes the blob by a link.
 * Only metadata (flags, dates, the cached envelope/bodystructure) is held
 * per message.
 *
 * Durability of MOVE: the target's transaction is committed and fsync'd
 * (store invariant 4) before the source is expunged, so a crash between
 * the two leaves the message in both mailboxes, never in neither. */
#include "imap/copy_cross.h"
#include "imap/parser.h"
#include "store/store.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint32_t copy_cross_flags(uint32_t flags, uint32_t dst_rights)
{
	flags &= MAIL_FLAGS_STORED;
	if (!(dst_rights & STORE_ACL_SEEN))
		flags &= ~MAIL_FLAG_SEEN;
	if (!(dst_rights & STORE_ACL_DELMSG))
		flags &= ~MAIL_FLAG_DELETED;
	if (!(dst_rights & STORE_ACL_WRITE))
		flags &= MAIL_FLAG_SEEN | MAIL_FLAG_DELETED;
	return flags;
}

/* The messages, their cached parse results and the spool they are in.
 * apps[0..napps) are the messages still there when read (one expunged
 * meanwhile is left out, as COPY leaves out what is gone). */
struct cross_batch {
	struct store_msg *msgs;
	size_t n, napps;
	struct store_append *apps;
	uint32_t *src_uids;          /* per app */
	char **cached;               /* 3 per app: envelope, bodystructure, body */
	int spool;
};

static void batch_free(struct cross_batch *b)
{
	if (b->cached)
		for (size_t i = 0; i < 3 * b->napps; i++)
			free(b->cached[i]);
	free(b->cached);
	free(b->apps);
	free(b->src_uids);
	store_msg_array_free(b->msgs, b->n);
	if (b->spool >= 0)
		close(b->spool);
}

/* An unlinked file on the target's filesystem (store.h: spool dir). */
static int spool_open(const char *owner)
{
	char *dir = store_user_spool_dir(owner);
	int fd = dir ? imap_parser_spool_open(dir) : -1;
	if (fd < 0)
		log_err("event=copy_cross_spool_error user=%s errno=%d", owner, errno);
	free(dir);
	return fd;
}

static void cached_drop(char **c)
{
	for (int k = 0; k < 3; k++) {
		free(c[k]);
		c[k] = NULL;
	}
}

/* Spools message m and adds its append entry; a message gone meanwhile
 * is skipped. */
static int batch_add(struct cross_batch *b, const struct copy_cross_req *req,
		     const struct store_msg *m, uint64_t *off)
{
	char **c = &b->cached[3 * b->napps];
	int r = store_msg_cached(req->src, req->mailbox, m->uid, &c[0], &c[1], &c[2]);
	const char *data = NULL;
	size_t len = 0;
	if (r == STORE_OK)
		r = store_blob_map_once(req->src, m->blob, &data, &len);
	if (r != STORE_OK) {
		cached_drop(c);
		return r == STORE_ENOENT ? STORE_OK : r;
	}
	int w = len ? write_all(b->spool, data, len) : 0;
	store_blob_unmap(data, len);
	if (w < 0) {
		log_err("event=copy_cross_spool_error user=%s errno=%d", req->dst_owner, errno);
		cached_drop(c);
		return STORE_EIO;
	}
	struct store_append *a = &b->apps[b->napps];
	a->in_file = true;
	a->fd = b->spool;
	a->off = *off;
	a->len = len;
	a->flags = copy_cross_flags(m->flags, req->dst_rights);
	a->keywords = (req->dst_rights & STORE_ACL_WRITE) ? m->keywords : NULL;
	a->internaldate = m->internaldate;
	a->internaldate_tz = m->internaldate_tz;
	a->envelope = c[0];
	a->bodystructure = c[1];
	a->body = c[2];
	b->src_uids[b->napps++] = m->uid;
	*off += len;
	return STORE_OK;
}

/* Gathers the messages that still exist into b (b->napps may end up 0). */
static int batch_load(struct cross_batch *b, const struct copy_cross_req *req)
{
	int r = store_msg_get(req->src, req->mailbox, req->uids, req->n, &b->msgs, &b->n);
	if (r != STORE_OK || b->n == 0)
		return r;
	for (size_t i = 0; i < b->n; i++)
		if (req->max_size && b->msgs[i].size > req->max_size)
			return COPY_CROSS_ETOOBIG;
	b->spool = spool_open(req->dst_owner);
	if (b->spool < 0)
		return STORE_EIO;
	b->apps = xcalloc(b->n, sizeof(*b->apps));
	b->src_uids = xcalloc(b->n, sizeof(*b->src_uids));
	b->cached = xcalloc(3 * b->n, sizeof(*b->cached));
	uint64_t off = 0;
	for (size_t i = 0; i < b->n && r == STORE_OK; i++)
		r = batch_add(b, req, &b->msgs[i], &off);
	return r;
}

int copy_cross_run(const struct copy_cross_req *req, uint32_t *uidvalidity, uint32_t **su,
		   uint32_t **du, size_t *ncopied)
{
	*su = *du = NULL;
	*ncopied = 0;
	struct store_user *dst = store_user_open(req->dst_owner);
	if (!dst)
		return STORE_EIO;
	struct cross_batch b = { .spool = -1 };
	/* The target first: TRYCREATE before any bytes are spooled. */
	struct store_mailbox mb;
	memset(&mb, 0, sizeof(mb));
	int r = store_mailbox_get(dst, req->dst_name, &mb);
	store_mailbox_clear(&mb);
	if (r == STORE_OK)
		r = batch_load(&b, req);
	if (r == STORE_OK && b.napps > 0)
		r = store_append(dst, req->dst_name, b.apps, b.napps, uidvalidity);
	store_user_close(dst);
	if (r != STORE_OK || b.napps == 0) {
		batch_free(&b);
		return r;
	}
	*su = b.src_uids;
	b.src_uids = NULL;
	*du = xmalloc(b.napps * sizeof(**du));
	for (size_t i = 0; i < b.napps; i++)
		(*du)[i] = b.apps[i].uid;
	*ncopied = b.napps;
	batch_free(&b);
	if (!req->move)
		return STORE_OK;
	/* RFC 6851 3.3 asks for copy and expunge as one; across stores the
	 * copy is durable first, so a failure here duplicates, never loses. */
	r = store_expunge(req->src, req->mailbox, *su, *ncopied);
	if (r != STORE_OK)
		log_err("event=copy_cross_move_expunge_error code=%d copied=%zu", r, *ncopied);
	return r;
}
