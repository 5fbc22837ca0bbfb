#ifndef RAMPART_IMAP_MUTF7_H
#define RAMPART_IMAP_MUTF7_H
/* Modified UTF-7 moved to core/mutf7.h (issue #13 migrate: `rampart
 * import`/`export` read and write Maildir++ folder names in it too). */
#include "core/mutf7.h"
#endif
