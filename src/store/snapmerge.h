/* snapd (issue #14): a snapshot's listing brought up to date from a delta
 * (store/snapmerge.c), pure, for store/snap.c and its unit test. */
#ifndef RAMPART_STORE_SNAPMERGE_H
#define RAMPART_STORE_SNAPMERGE_H

#include "store/store.h"

/* The listing `old` after `delta` (the rows changed or added since old's
 * version, ascending by UID, keyword lists interned in delta's own kws)
 * and exp[0..nexp) (the UIDs expunged since, ascending; may name UIDs old
 * does not hold). A row named in delta takes delta's values (also when exp
 * names it: it exists), a row named only in exp goes, a UID new to old
 * takes its place in order, every other row is old's. old and delta both
 * carry keywords (kw); out gets its own arrays, with old's keyword lists
 * first in old's order and delta's new ones after them. */
void snap_merge(const struct store_flag_list *old, const struct store_flag_list *delta,
		const uint32_t *exp, size_t nexp, struct store_flag_list *out);

#endif
