/* CONDSTORE and QRESYNC (RFC 7162) as the commands share them: whether a
 * session has them on, the grammar of their command modifiers, and the
 * VANISHED response. The commands themselves stay in cmd_select.c,
 * cmd_fetch.c, cmd_store.c and view.c. */
#ifndef RAMPART_IMAP_CONDSTORE_H
#define RAMPART_IMAP_CONDSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/seqset.h"
#include "core/strbuf.h"
#include "imap/parser.h"

struct imap_session;
struct search_key;

/* RFC 7162 3.1: CONDSTORE is on once the client used a "CONDSTORE enabling
 * command" (ENABLE CONDSTORE or QRESYNC, SELECT (CONDSTORE), FETCH MODSEQ or
 * CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH MODSEQ, STATUS HIGHESTMODSEQ);
 * from then on unsolicited FETCH and STORE's FETCH carry MODSEQ. */
bool condstore_on(const struct imap_session *s);
void condstore_enable(struct imap_session *s);
/* ENABLE QRESYNC was given (RFC 7162 3.2.3): VANISHED replaces EXPUNGE. */
bool condstore_qresync(const struct imap_session *s);

/* mod-sequence-valzer (RFC 7162 7): 0 .. 2^63-1. */
bool condstore_modseq_parse(const struct imap_arg *a, uint64_t *out);

/* SELECT/EXAMINE parameters (RFC 7162 3.1.8, 3.2.5). */
struct condstore_select {
	bool condstore;              /* (CONDSTORE) */
	bool qresync;                /* (QRESYNC (...)) */
	uint32_t uidvalidity;
	uint64_t modseq;
	bool has_known;
	struct seqset known;         /* known-uids (UIDs, '*' refused) */
	bool has_match;
	struct seqset match_seqs, match_uids; /* seq-match-data: syntax checked */
};
/* Parses the parenthesised list; 0, or -1 with *err (answer BAD). */
int condstore_select_parse(const struct imap_arg *list, struct condstore_select *out,
			   const char **err);
void condstore_select_free(struct condstore_select *p);

/* FETCH modifiers (RFC 7162 3.1.4 CHANGEDSINCE, 3.2.6 VANISHED). */
struct condstore_fetch {
	bool changedsince_set;
	uint64_t changedsince;
	bool vanished;
};
int condstore_fetch_parse(const struct imap_arg *list, struct condstore_fetch *out,
			  const char **err);

/* STORE modifiers (RFC 7162 3.1.3 UNCHANGEDSINCE). */
struct condstore_store {
	bool unchangedsince_set;
	uint64_t unchangedsince;
};
int condstore_store_parse(const struct imap_arg *list, struct condstore_store *out,
			  const char **err);

/* Writes "* VANISHED [(EARLIER) ]<uid-set>" for the ascending UIDs (nothing
 * when n is 0). */
void condstore_write_vanished(struct imap_session *s, bool earlier, const uint32_t *uids,
			      size_t n);
/* The same for "every UID of `set` below uidnext that is not in the
 * ascending `present`": the answer when the expunge history a client asks
 * about was pruned (RFC 7162 3.2.5.2, 3.2.6). Written as ranges, so its
 * size is bounded by the number of messages, not of UIDs. */
void condstore_write_vanished_absent(struct imap_session *s, const struct seqset *set,
				     uint32_t uidnext, const uint32_t *present, size_t npresent);

/* The tree uses the MODSEQ search key (RFC 7162 3.1.5: the result then
 * carries the highest mod-sequence of what matched). */
bool condstore_search_uses_modseq(const struct search_key *k);

#endif
