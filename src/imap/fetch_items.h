/* FETCH attributes (RFC 9051 6.4.5 and section 9 "fetch-att", RFC 3516
 * BINARY, RFC 8514 SAVEDATE, RFC 8474 EMAILID/THREADID, RFC 8970 PREVIEW) parsed into a request that cmd_fetch.c
 * executes per message. Parsing is separate from execution so that the
 * grammar can be unit-tested without a session or a store. */
#ifndef RAMPART_IMAP_FETCH_ITEMS_H
#define RAMPART_IMAP_FETCH_ITEMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/parser.h"
#include "mail/mail.h"

enum fetch_item_type {
	FI_UID,
	FI_FLAGS,
	FI_INTERNALDATE,
	FI_RFC822_SIZE,
	FI_SAVEDATE,
	FI_ENVELOPE,
	FI_BODY,            /* non-extensible BODYSTRUCTURE */
	FI_BODYSTRUCTURE,
	FI_SECTION,         /* BODY[...], BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT */
	FI_BINARY,          /* BINARY[...], BINARY.PEEK[...] */
	FI_BINARY_SIZE,     /* BINARY.SIZE[...] */
	FI_MODSEQ,          /* RFC 7162 3.1.4.1 MODSEQ */
	FI_EMAILID,         /* objectid: RFC 8474 5.1 */
	FI_THREADID,        /* objectid: RFC 8474 5.2 */
	FI_PREVIEW,         /* preview: RFC 8970 3.1, PREVIEW [(LAZY)] */
};

struct fetch_item {
	enum fetch_item_type type;
	bool peek;                  /* does not set \Seen */
	bool lazy;                  /* FI_PREVIEW (LAZY): NIL when not made yet */
	/* FI_SECTION: what to send. */
	struct mail_section section;
	/* FI_BINARY, FI_BINARY_SIZE: the part path (nparts 0: whole message). */
	uint32_t part[MAIL_MAX_SECTION_PARTS];
	size_t nparts;
	/* <origin.count> of FI_SECTION / FI_BINARY. */
	bool partial;
	uint64_t origin, count;
	/* The response label up to the value, e.g. "BODY[HEADER.FIELDS (From)]<0>"
	 * or "RFC822.HEADER"; owned. */
	char *label;
};

struct fetch_request {
	struct fetch_item *items;
	size_t n, cap;
	bool sets_seen;      /* a non-PEEK body item: \Seen is set (read-write mailboxes) */
	bool has_flags;      /* FLAGS was asked for */
	bool has_uid;
	bool has_modseq;     /* MODSEQ was asked for (RFC 7162) */
	bool needs_content;  /* the message bytes are needed */
	bool needs_parse;    /* ... and their MIME structure */
	bool needs_cache;    /* ENVELOPE / BODY / BODYSTRUCTURE */
	bool needs_meta;     /* keywords, dates (beyond uid/flags/size) */
	bool needs_preview;  /* preview: PREVIEW was asked for */
};

/* Parses the fetch attributes: either one atom (a macro ALL/FAST/FULL or one
 * attribute) or a parenthesised list of attributes. Returns 0, or -1 with
 * *err set to a static explanation (answer BAD). On failure nothing needs
 * to be freed, but fetch_request_free() is still safe to call. */
int fetch_request_parse(const struct imap_arg *arg, struct fetch_request *out, const char **err);
/* Adds UID in front when absent (UID FETCH always returns it, RFC 9051 6.4.9). */
void fetch_request_ensure_uid(struct fetch_request *r);
void fetch_request_free(struct fetch_request *r);
/* Adds MODSEQ at the end when absent (CHANGEDSINCE implies it, RFC 7162
 * 3.1.4.1). */
void fetch_request_ensure_modseq(struct fetch_request *r);

#endif
