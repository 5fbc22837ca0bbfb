/* FETCH of flags only (bigsel, issue #14): FETCH 1:* (UID FLAGS) and
 * the like over a big set, from one compact store listing
 * (imap/fetch_flags.c). */
#ifndef RAMPART_IMAP_FETCH_FLAGS_H
#define RAMPART_IMAP_FETCH_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/command.h"
#include "imap/condstore.h"
#include "imap/fetch_items.h"

/* When the request asks only for UID, FLAGS and MODSEQ of more than a
 * few messages (and no VANISHED), takes the command over and returns
 * true: it then owns *uids (the resolved set, ascending; set to NULL)
 * and answers the command. False: nothing happened. */
bool fetch_flags_take(struct imap_cmd *cmd, const struct fetch_request *req,
		      const struct condstore_fetch *mods, uint32_t **uids, size_t n);

/* imap/cmd_fetch.c: the end of a FETCH whose messages all went out
 * (gone of them expunged meanwhile): the sync RFC 9051 7.5.1 allows, then
 * OK, or OK [EXPUNGEISSUED] (RFC 5530). */
void cmd_fetch_reply(struct imap_session *s, bool uid, size_t gone);

#endif
