/* The SQLite backend's compact flag listing (bigsel, issue #14): a range
 * of a mailbox's messages as parallel arrays of uid, flags and modseq,
 * with the keyword lists interned, for SELECT and FETCH (UID FLAGS) of
 * big mailboxes. The general listing (message.c) fills a 120-byte struct
 * store_msg and copies the keyword string of every row; at 100,000
 * messages that was a 12 MB array and, for FETCH, 100,000 allocations.
 * Here a row costs 13 bytes (+4 with keywords) and no allocation: the
 * distinct keyword lists of a mailbox are few (the combinations clients
 * set), so each is stored once and rows name it by index. */
#include "store/sqlite/sqlite_internal.h"
#include "core/flags.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* Distinct keyword lists by content: an open-addressing table of indexes
 * into out->kws (slot 0 empty, as kws[0] is "none"). */
struct kw_table {
	uint32_t *slot;
	size_t nslot;            /* a power of two, at least twice the lists */
	size_t kwcap;
};

static uint64_t kw_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

static void kw_table_grow(struct kw_table *t, const struct store_flag_list *out)
{
	size_t nslot = t->nslot ? t->nslot * 2 : 64;
	uint32_t *slot = xcalloc(nslot, sizeof(*slot));
	for (size_t i = 1; i < out->nkws; i++) {
		size_t h = (size_t)kw_hash(out->kws[i], strlen(out->kws[i])) & (nslot - 1);
		while (slot[h])
			h = (h + 1) & (nslot - 1);
		slot[h] = (uint32_t)i;
	}
	free(t->slot);
	t->slot = slot;
	t->nslot = nslot;
}

/* The index of the list kw[0..len) in out->kws, added when new. */
static uint32_t kw_intern(struct kw_table *t, struct store_flag_list *out, const char *kw,
			  size_t len)
{
	if (2 * out->nkws >= t->nslot)
		kw_table_grow(t, out);
	size_t h = (size_t)kw_hash(kw, len) & (t->nslot - 1);
	for (; t->slot[h]; h = (h + 1) & (t->nslot - 1)) {
		const char *have = out->kws[t->slot[h]];
		if (strncmp(have, kw, len) == 0 && have[len] == '\0')
			return t->slot[h];
	}
	xgrow((void **)&out->kws, &t->kwcap, out->nkws + 1, sizeof(*out->kws));
	out->kws[out->nkws] = xstrndup(kw, len);
	t->slot[h] = (uint32_t)out->nkws;
	return (uint32_t)out->nkws++;
}

/* Room for one more row in every array. */
static void rows_grow(struct store_flag_list *out, size_t *cap, bool keywords)
{
	if (out->n < *cap)
		return;
	size_t c = *cap ? *cap * 2 : 1024;
	out->uids = xrealloc(out->uids, c * sizeof(*out->uids));
	out->flags = xrealloc(out->flags, c * sizeof(*out->flags));
	out->modseqs = xrealloc(out->modseqs, c * sizeof(*out->modseqs));
	if (keywords)
		out->kw = xrealloc(out->kw, c * sizeof(*out->kw));
	*cap = c;
}

int sqlite_flag_rows(struct sqlite_user *u, sqlite3_stmt *st, bool keywords,
		     struct store_flag_list *out)
{
	struct kw_table t = { 0 };
	size_t cap = 0;
	rows_grow(out, &cap, keywords);
	out->kws = xcalloc(1, sizeof(*out->kws));
	t.kwcap = 1;
	out->nkws = 1;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows_grow(out, &cap, keywords);
		size_t i = out->n++;
		out->uids[i] = (uint32_t)sqlite3_column_int64(st, 0);
		out->flags[i] = (uint8_t)(sqlite3_column_int64(st, 1) & MAIL_FLAGS_STORED);
		uint64_t modseq = (uint64_t)sqlite3_column_int64(st, 2);
		out->modseqs[i] = modseq;
		if (modseq > out->max_modseq)
			out->max_modseq = modseq;
		if (keywords) {
			const char *kw = (const char *)sqlite3_column_text(st, 3);
			out->kw[i] = kw && *kw ? kw_intern(&t, out, kw, (size_t)sqlite3_column_bytes(st, 3))
					       : 0;
		}
	}
	sqlite_stmt_done(st);
	free(t.slot);
	return rc == SQLITE_DONE ? STORE_OK : sqlite_db_error(u, "msg_flags");
}

int sqlite_msg_flags(struct store_user *base, int64_t mailbox_id, uint32_t min_uid, uint32_t max_uid,
		     bool keywords, struct store_flag_list *out)
{
	struct sqlite_user *u = sqlite_user_of(base);
	sqlite3_stmt *st = sqlite_stmt(u, keywords ? STMT_MSG_FLAGS_KW : STMT_MSG_FLAGS);
	if (!st)
		return STORE_EIO;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, min_uid);
	sqlite3_bind_int64(st, 3, max_uid);
	int r = sqlite_flag_rows(u, st, keywords, out);
	if (r != STORE_OK)
		return r;
	if (out->n == 0) {
		/* Only an empty answer asks whether the mailbox exists. */
		struct store_mbox_row row;
		return sqlite_mbox_by_id(u, mailbox_id, &row);
	}
	return STORE_OK;
}
