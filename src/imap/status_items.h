/* STATUS data items (RFC 9051 6.3.11), shared by STATUS and LIST-STATUS. */
#ifndef RAMPART_IMAP_STATUS_ITEMS_H
#define RAMPART_IMAP_STATUS_ITEMS_H

#include "imap/session_internal.h"

enum {
	STATUS_MESSAGES = 1 << 0,
	STATUS_UIDNEXT = 1 << 1,
	STATUS_UIDVALIDITY = 1 << 2,
	STATUS_UNSEEN = 1 << 3,
	STATUS_DELETED = 1 << 4,
	STATUS_SIZE = 1 << 5,
	STATUS_RECENT = 1 << 6,
	STATUS_HIGHESTMODSEQ = 1 << 12, /* condstore: RFC 7162 3.1.6 */
	STATUS_DELETED_STORAGE = 1 << 7,  /* quota part: RFC 9208 4.2 */
	STATUS_MAILBOXID = 1 << 20,       /* objectid: RFC 8474 4 */
};

/* Parses the parenthesised item list; 0 or -1 (BAD, *err set). */
int status_items_parse(struct imap_session *s, const struct imap_arg *list, unsigned *items,
		       const char **err);
/* Writes "* STATUS name (ITEM n ...)" for the mailbox. */
void status_items_write(struct imap_session *s, const struct store_mailbox *mb, unsigned items);

#endif
