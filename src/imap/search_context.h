/* SEARCH/SORT return options beyond RFC 4731 (RFC 5267 4 CONTEXT, UPDATE
 * and PARTIAL; RFC 9394 PARTIAL with ranges from the end) and the live
 * search contexts that UPDATE keeps in the selected mailbox. */
#ifndef RAMPART_IMAP_SEARCH_CONTEXT_H
#define RAMPART_IMAP_SEARCH_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "imap/parser.h"

/* ESEARCH result options (RFC 4731 3.1, RFC 5182 SAVE; RFC 5267 3 for
 * SORT; RFC 5267 4 CONTEXT/UPDATE/PARTIAL), shared by SEARCH and SORT. */
enum esearch_ret {
	ESEARCH_MIN = 1 << 0,
	ESEARCH_MAX = 1 << 1,
	ESEARCH_COUNT = 1 << 2,
	ESEARCH_ALL = 1 << 3,
	ESEARCH_SAVE = 1 << 4,
	ESEARCH_PARTIAL = 1 << 5,
	ESEARCH_CONTEXT = 1 << 6, /* a hint only (RFC 5267 4.2) */
	ESEARCH_UPDATE = 1 << 7,
};

/* RFC 9394 4 partial-range, as the client sent it: first:last, both
 * positive (1 is the first result) or both negative (-1 is the last). */
struct search_partial {
	int64_t first, last;
};

struct search_return {
	unsigned opts;                   /* ESEARCH_* */
	struct search_partial partial;   /* with ESEARCH_PARTIAL */
};

/* RETURN (...) into *out; "()" (or only CONTEXT) means ALL. -1 with *err
 * for an unknown option, a bad range, or PARTIAL twice or with ALL
 * (RFC 9394 3.1). */
int search_return_parse(const struct imap_arg *a, struct search_return *out, const char **err);
/* "m:n" or "-m:-n", m and n nz-numbers (RFC 9394 4); 0 or -1. */
int search_partial_parse(const char *s, struct search_partial *p);
/* The results a range selects among n: returns how many, from index
 * *from (0-based). Out-of-range parts select nothing (RFC 9394 3.1). */
size_t search_partial_slice(const struct search_partial *p, size_t n, size_t *from);
/* " PARTIAL (range set)", set being the selected results written by fmt,
 * or NIL when none is selected (RFC 9394 3.1). */
void search_partial_write(struct strbuf *out, const struct search_partial *p,
			  const uint32_t *res, size_t n,
			  void (*fmt)(struct strbuf *, const uint32_t *, size_t));

/* The UID FETCH modifier list mods without its PARTIAL range (RFC 9394
 * 3.3), which goes to *p (*found). rest->list is malloc'd (caller frees)
 * when mods is a list. -1 with *err for a bad or second PARTIAL. */
int search_partial_modifier(const struct imap_arg *mods, struct search_partial *p,
			    bool *found, struct imap_arg *rest, const char **err);

/* ---- live contexts (RFC 5267 4.3), on the selected view --------------- */

struct imap_session;
struct imap_view;
struct search_key;
struct store_user;
struct store_msg;
struct sort_order;

/* True when tag names a live context (RFC 5267 4.3: reusing it is BAD). */
bool search_context_tag_busy(const struct imap_session *s, const char *tag);
/* Why the server will not keep this context (answered with an untagged
 * NO [NOUPDATE "tag"]), or NULL when it will. */
const char *search_context_refusal(const struct imap_session *s, const struct search_key *key);
/* "* NO [NOUPDATE "tag"] why" for the current command. */
void search_context_write_noupdate(struct imap_session *s, const char *why);
/* Keeps a context for the current command's tag: key and order (now owned
 * by the context) and the UIDs it matched: ascending for a SEARCH (order
 * NULL), in sort order for a SORT. */
void search_context_add(struct imap_session *s, bool uid, struct search_key *key,
			const uint32_t *uids, size_t n, struct sort_order *order);
/* Every context of the view ends (UNSELECT, CLOSE, SELECT, LOGOUT). */
void search_contexts_free(struct imap_view *v);
/* Before the view drops the expunged UIDs (ascending): REMOVEFROM while
 * their sequence numbers are still valid (RFC 5267 4.3.4). */
void search_context_expunged(struct imap_session *s, const uint32_t *uids, size_t n);
/* After EXISTS: the changed or new messages are matched again, and
 * ADDTO/REMOVEFROM report the difference (RFC 5267 4.3.3). */
void search_context_changed(struct imap_session *s, struct store_user *u,
			    const struct store_msg *changed, size_t nchanged);

/* The sort keys of a SORT context's matches (imap/cmd_sort.c). */
bool sort_order_has(const struct sort_order *o, uint32_t uid);
/* <0, 0, >0 as a sorts before, with or after b (both held). */
int sort_order_cmp(const struct sort_order *o, uint32_t a, uint32_t b);
/* Reads the keys of the ascending uids[0..n); those gone are left out. */
int sort_order_load(struct sort_order *o, struct store_user *u, int64_t mailbox,
		    const uint32_t *uids, size_t n);
void sort_order_forget(struct sort_order *o, uint32_t uid);
void sort_order_free(struct sort_order *o);

#endif
