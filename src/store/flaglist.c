/* The store front's compact flag listing (bigsel, issue #14): SELECT and
 * FETCH (UID FLAGS) of a big mailbox read uid, flags and modseq as
 * parallel arrays (store.h struct store_flag_list) instead of an array of
 * struct store_msg. A reader's private \Seen (aclseen) is laid over the
 * arrays here with the same rule as store_pvtseen_overlay (pvtseen.c):
 * \Seen from the reader's row, no row: not seen, modseq the greater. */
#include "store/backend.h"
#include "core/flags.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

void store_flag_list_free(struct store_flag_list *l)
{
	if (!l)
		return;
	for (size_t i = 1; i < l->nkws; i++)
		free(l->kws[i]);
	free(l->kws);
	free(l->uids);
	free(l->flags);
	free(l->modseqs);
	free(l->kw);
	memset(l, 0, sizeof(*l));
}

/* Both ascending by UID: one merge pass. */
static void flag_list_overlay(struct store_flag_list *l, const struct store_pvtseen *rows,
			      size_t nrows)
{
	size_t r = 0;
	for (size_t i = 0; i < l->n; i++) {
		while (r < nrows && rows[r].uid < l->uids[i])
			r++;
		l->flags[i] &= (uint8_t)~MAIL_FLAG_SEEN;
		if (r < nrows && rows[r].uid == l->uids[i]) {
			if (rows[r].seen)
				l->flags[i] |= MAIL_FLAG_SEEN;
			l->modseqs[i] = MAX(l->modseqs[i], rows[r].modseq);
		}
	}
}

int store_flag_list_reader(struct store_user *u, int64_t mailbox_id, const char *reader,
			   struct store_flag_list *l)
{
	if (!reader || !l->n)
		return STORE_OK;
	struct store_pvtseen *rows = NULL;
	size_t nrows = 0;
	int r = u->be->pvtseen_rows(u, mailbox_id, reader, &rows, &nrows);
	if (r == STORE_OK)
		flag_list_overlay(l, rows, nrows);
	free(rows);
	return r;
}

int store_msg_flags_as(struct store_user *u, int64_t mailbox_id, const char *reader,
		       uint32_t min_uid, uint32_t max_uid, bool keywords,
		       struct store_flag_list *out)
{
	memset(out, 0, sizeof(*out));
	if (!u || min_uid > max_uid)
		return STORE_EINVAL;
	int r = u->be->msg_flags(u, mailbox_id, min_uid, max_uid, keywords, out);
	if (r == STORE_OK)
		r = store_flag_list_reader(u, mailbox_id, reader, out);
	if (r != STORE_OK)
		store_flag_list_free(out);
	return r;
}
