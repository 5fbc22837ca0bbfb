/* What SORT and THREAD (RFC 5256) compare, per message: the base subject
 * (basesubject.c), sort keys read from the cached ENVELOPE (sortkey.c) and
 * the message-ids THREAD=REFERENCES links by. The keys come from one
 * function, sortkey_from_envelope(), so a later per-message table of
 * decoded header fields can replace the envelope without touching the
 * callers. */
#ifndef RAMPART_MAIL_SORTKEY_H
#define RAMPART_MAIL_SORTKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5256 2.1: the base subject of a raw Subject value (RFC 2047 words
 * decoded to UTF-8, whitespace collapsed, Re:/Fwd:/[blob]/(fwd) layers
 * removed), not casefolded; caller frees. *reply_or_fwd tells whether a
 * reply or forward marker was removed (RFC 5256 3, REFERENCES step 5). */
char *mail_base_subject(const char *raw, size_t len, bool *reply_or_fwd);

/* The sort keys of one message. Strings are casefolded for the
 * i;unicode-casemap comparator (RFC 5051), "" when absent; never NULL. */
struct sortkey {
	int64_t date;          /* Date: in UTC, or the internal date (RFC 5256 3) */
	char *subject;         /* base subject */
	bool reply;            /* the subject was a reply or forward */
	char *from, *to, *cc;  /* addr-mailbox of the first address */
	char *displayfrom;     /* RFC 5957: display name, else addr-spec */
	char *displayto;
	char *message_id;      /* the msg-id without <>, NULL when none */
	char *in_reply_to;     /* the first msg-id of In-Reply-To, NULL when none */
};

/* Fills k from a cached ENVELOPE (mail_write_envelope's output). A
 * malformed envelope gives empty keys, never an error. Free with
 * sortkey_free(). */
void sortkey_from_envelope(const char *envelope, int64_t internaldate, struct sortkey *k);
void sortkey_free(struct sortkey *k);

/* At most this many References ids per message are used (the last ones,
 * the nearest ancestors): a header is attacker-controlled and threading
 * costs grow with it. */
#define SORTKEY_MAX_REFS 128

/* The msg-ids (without <>) of the References field in a message's
 * header block (data: the message, or just its header), in order, at
 * most SORTKEY_MAX_REFS (the last ones). Returns the count; *ids is
 * malloc'd, each id too; free with sortkey_ids_free(). */
size_t sortkey_references(const char *data, size_t len, char ***ids);
void sortkey_ids_free(char **ids, size_t n);

#endif
