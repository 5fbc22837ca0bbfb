/* OBJECTID (RFC 8474) identifiers. Nothing new is stored: a MAILBOXID
 * hashes the owner's name, the mailbox's row id (AUTOINCREMENT, never
 * reused within a user's store) and its UIDVALIDITY, which makes it unique
 * on the server and stable across RENAME (RFC 8474 4); an EMAILID is a
 * prefix of the message's content hash, so COPY/MOVE keep it (5.1).
 * THREADID is NIL (5.2: allowed when threads are not computed). */
#include "imap/objectid.h"
#include "core/strbuf.h"
#include "store/blob.h"

#include <string.h>

#define OBJECTID_HEX (OBJECTID_LEN - 1)

static void objectid_make(char kind, const char *hex, char out[OBJECTID_SIZE])
{
	out[0] = kind;
	memcpy(out + 1, hex, OBJECTID_HEX);
	out[OBJECTID_LEN] = '\0';
}

void objectid_mailbox(const char *owner, int64_t id, uint32_t uidvalidity, char out[OBJECTID_SIZE])
{
	struct strbuf b = STRBUF_INIT;
	strbuf_addf(&b, "mailbox\n%s\n%lld\n%u", owner ? owner : "", (long long)id, uidvalidity);
	char hex[65];
	store_blob_hash(b.s, b.len, hex);
	strbuf_free(&b);
	objectid_make('F', hex, out);
}

void objectid_email(const char *blob, char out[OBJECTID_SIZE])
{
	char hex[65];
	size_t n = strnlen(blob, 64);
	memset(hex, '0', sizeof(hex));
	memcpy(hex, blob, n);
	objectid_make('M', hex, out);
}

bool objectid_valid(const char *s, size_t len)
{
	if (len == 0 || len > 255)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool objectid_email_blob_prefix(const char *id, char out[OBJECTID_SIZE])
{
	if (strlen(id) != OBJECTID_LEN || id[0] != 'M')
		return false;
	for (size_t i = 0; i < OBJECTID_HEX; i++) {
		char c = id[1 + i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		out[i] = c;
	}
	out[OBJECTID_HEX] = '\0';
	return true;
}
