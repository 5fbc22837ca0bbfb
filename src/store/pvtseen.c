/* Private \Seen in shared mailboxes (issue #12 aclseen), the front's part:
 * the messages of a mailbox as one reader sees them. The backend keeps the
 * reader's rows (store/sqlite/pvtseen.c) and changes them inside STORE's
 * transaction (store_flags_as); here the rows are laid over what the plain
 * functions return, so every reader of flags (FETCH, SEARCH, SORT, STATUS,
 * SELECT, the change feed) gets the reader's view through one place.
 * store.h "Private \Seen" states the rules. */
#include "store/backend.h"
#include "core/flags.h"
#include "core/util.h"

#include <stdlib.h>

static int cmp_row_uid(const void *key, const void *elem)
{
	uint32_t a = *(const uint32_t *)key, b = ((const struct store_pvtseen *)elem)->uid;
	return a < b ? -1 : a > b;
}

void store_pvtseen_overlay(struct store_msg *msgs, size_t n, const struct store_pvtseen *rows,
			   size_t nrows)
{
	for (size_t i = 0; i < n; i++) {
		struct store_msg *m = &msgs[i];
		const struct store_pvtseen *row =
			nrows ? bsearch(&m->uid, rows, nrows, sizeof(*rows), cmp_row_uid) : NULL;
		m->flags &= ~(uint32_t)MAIL_FLAG_SEEN;
		if (row) {
			if (row->seen)
				m->flags |= MAIL_FLAG_SEEN;
			m->modseq = MAX(m->modseq, row->modseq);
		}
	}
}

int store_pvtseen_apply(struct store_user *u, int64_t mailbox_id, const char *reader,
			struct store_msg *msgs, size_t n)
{
	if (!reader || n == 0)
		return STORE_OK;
	if (!u)
		return STORE_EINVAL;
	struct store_pvtseen *rows = NULL;
	size_t nrows = 0;
	int r = u->be->pvtseen_rows(u, mailbox_id, reader, &rows, &nrows);
	if (r != STORE_OK)
		return r;
	store_pvtseen_overlay(msgs, n, rows, nrows);
	free(rows);
	return STORE_OK;
}

int store_changes_as(struct store_user *u, int64_t mailbox_id, const char *reader,
		     uint64_t since, struct store_msg **changed, size_t *nchanged,
		     uint32_t **expunged, size_t *nexpunged)
{
	*changed = NULL;
	*nchanged = 0;
	*expunged = NULL;
	*nexpunged = 0;
	/* Modseqs are 63-bit (RFC 7162 7: mod-sequence-value). */
	if (!u || since > INT64_MAX)
		return STORE_EINVAL;
	return u->be->changes(u, reader, mailbox_id, since, changed, nchanged, expunged,
			      nexpunged);
}

int store_pvtseen_status(struct store_user *u, const char *reader, struct store_mailbox *mb)
{
	if (!reader)
		return STORE_OK;
	if (!u)
		return STORE_EINVAL;
	uint32_t seen = 0;
	int r = u->be->pvtseen_count(u, mb->id, reader, &seen);
	if (r == STORE_OK)
		mb->unseen = mb->messages > seen ? mb->messages - seen : 0;
	return r;
}
