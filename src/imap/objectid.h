/* OBJECTID (RFC 8474): the MAILBOXID, EMAILID and THREADID identifiers
 * the commands show, derived from what the store already keeps, so no
 * schema change is needed. */
#ifndef RAMPART_IMAP_OBJECTID_H
#define RAMPART_IMAP_OBJECTID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "F" or "M" and 24 hex digits: well inside RFC 8474's 255 limit. */
#define OBJECTID_LEN 25
#define OBJECTID_SIZE (OBJECTID_LEN + 1)

/* MAILBOXID of owner's mailbox with the store's never-reused row id and
 * its UIDVALIDITY: the same after RENAME, another after DELETE + CREATE
 * of the same name (RFC 8474 4). */
void objectid_mailbox(const char *owner, int64_t id, uint32_t uidvalidity, char out[OBJECTID_SIZE]);
/* EMAILID of a message whose blob is the hex SHA-256 `blob` (RFC 8474 5.1:
 * the same content may share an EMAILID, so every copy has the same). */
void objectid_email(const char *blob, char out[OBJECTID_SIZE]);
/* RFC 8474 7: objectid = 1*255(ALPHA / DIGIT / "_" / "-"). */
bool objectid_valid(const char *s, size_t len);
/* The blob prefix an EMAILID stands for (SEARCH EMAILID), lower-case hex
 * into out; false when id is not one of ours (it then matches nothing). */
bool objectid_email_blob_prefix(const char *id, char out[OBJECTID_SIZE]);

#endif
