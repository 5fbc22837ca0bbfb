/* Recipient lookup and trace headers of LMTP deliveries (rcpt.c). */
#ifndef RAMPART_LMTP_RCPT_H
#define RAMPART_LMTP_RCPT_H

#include "lmtp/parse.h"

struct passdb;
struct strbuf;

/* The users-file name of the recipient `addr` (caller frees), or NULL
 * for an unknown user; *detail gets the +detail part when the match
 * dropped one (caller frees), else NULL. */
char *lmtp_rcpt_resolve(struct passdb *db, const char *addr, const char *delims, char **detail);

struct lmtp_trace {
	const char *sender;         /* envelope sender, "" for <> */
	const char *single_rcpt;    /* the one recipient, NULL when several */
	const char *helo, *peer, *host, *id;
};

/* Appends Return-Path, Delivered-To (one recipient only) and Received. */
void lmtp_trace_headers(struct strbuf *out, const struct lmtp_trace *tr);

#endif
