/* The version of a mailbox's listing for the store's snapshots (snap,
 * issue #14, store/snap.c): uidvalidity, uidnext and highestmodseq of
 * its row, one indexed lookup. Every write to the mailbox's messages
 * updates uidnext or highestmodseq in the same transaction (message.c,
 * mailbox.c, check.c), which is what makes the triple a version. */
#include "store/sqlite/sqlite_internal.h"

int sqlite_mailbox_version(struct store_user *base, int64_t mailbox_id,
			   struct store_mbox_version *out)
{
	struct store_mbox_row row;
	int r = sqlite_mbox_by_id(sqlite_user_of(base), mailbox_id, &row);
	if (r != STORE_OK)
		return r;
	out->uidvalidity = row.uidvalidity;
	out->uidnext = row.uidnext;
	out->highestmodseq = row.highestmodseq;
	return STORE_OK;
}
