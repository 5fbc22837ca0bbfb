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
#include <string.h>

static int cmp_row_uid(const void *key, const void *elem)
{
	uint32_t a = *(const uint32_t *)key, b = ((const struct store_pvtseen *)elem)->uid;
	return a < b ? -1 : a > b;
}

static int cmp_msg_uid(const void *x, const void *y)
{
	uint32_t a = ((const struct store_msg *)x)->uid, b = ((const struct store_msg *)y)->uid;
	return a < b ? -1 : a > b;
}

/* The reader's view of one message: \Seen from its row, the later modseq. */
static void pvtseen_merge(struct store_msg *m, const struct store_pvtseen *rows, size_t nrows)
{
	const struct store_pvtseen *row = nrows ? bsearch(&m->uid, rows, nrows, sizeof(*rows),
							  cmp_row_uid)
						: NULL;
	m->flags &= ~(uint32_t)MAIL_FLAG_SEEN;
	if (row) {
		if (row->seen)
			m->flags |= MAIL_FLAG_SEEN;
		m->modseq = MAX(m->modseq, row->modseq);
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
	for (size_t i = 0; i < n; i++)
		pvtseen_merge(&msgs[i], rows, nrows);
	free(rows);
	return STORE_OK;
}

int store_changes_as(struct store_user *u, int64_t mailbox_id, const char *reader,
		     uint64_t since, struct store_msg **changed, size_t *nchanged,
		     uint32_t **expunged, size_t *nexpunged)
{
	int r = store_changes(u, mailbox_id, since, changed, nchanged, expunged, nexpunged);
	if (r != STORE_OK || !reader)
		return r;
	struct store_pvtseen *rows = NULL;
	size_t nrows = 0;
	uint32_t *more = NULL;
	size_t nmore = 0, cap = 0;
	struct store_msg *extra = NULL;
	size_t nextra = 0;
	if ((r = u->be->pvtseen_rows(u, mailbox_id, reader, &rows, &nrows)) != STORE_OK)
		goto out;
	/* Messages only the reader's \Seen changed: not in the plain list. */
	qsort(*changed, *nchanged, sizeof(**changed), cmp_msg_uid);
	for (size_t i = 0; i < nrows; i++) {
		struct store_msg key = { .uid = rows[i].uid };
		if (rows[i].modseq > since &&
		    !bsearch(&key, *changed, *nchanged, sizeof(**changed), cmp_msg_uid)) {
			xgrow((void **)&more, &cap, nmore + 1, sizeof(*more));
			more[nmore++] = rows[i].uid;
		}
	}
	if (nmore && (r = store_msg_get(u, mailbox_id, more, nmore, &extra, &nextra)) != STORE_OK)
		goto out;
	if (nextra) {
		*changed = xrealloc(*changed, (*nchanged + nextra) * sizeof(**changed));
		memcpy(*changed + *nchanged, extra, nextra * sizeof(*extra));
		*nchanged += nextra;
		free(extra); /* the keywords moved along */
		extra = NULL;
		nextra = 0;
		qsort(*changed, *nchanged, sizeof(**changed), cmp_msg_uid);
	}
	for (size_t i = 0; i < *nchanged; i++)
		pvtseen_merge(&(*changed)[i], rows, nrows);
out:
	free(rows);
	free(more);
	store_msg_array_free(extra, nextra);
	if (r != STORE_OK) {
		store_msg_array_free(*changed, *nchanged);
		free(*expunged);
		*changed = NULL;
		*nchanged = 0;
		*expunged = NULL;
		*nexpunged = 0;
	}
	return r;
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
