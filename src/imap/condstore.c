/* CONDSTORE and QRESYNC (RFC 7162) pieces shared by the commands: the
 * session's enabled state, the modifier grammar of SELECT, FETCH and
 * STORE (section 7), and VANISHED (3.2.10). Kept apart from the command
 * files so that the grammar can be fuzzed and the commands stay short. */
#include "imap/condstore.h"
#include "imap/capability.h"
#include "imap/session_internal.h"
#include "core/util.h"
#include "mail/search.h"

#include <stdlib.h>
#include <string.h>

bool condstore_on(const struct imap_session *s)
{
	return imap_cap_enabled(s, "CONDSTORE");
}

void condstore_enable(struct imap_session *s)
{
	(void)imap_cap_enable(s, "CONDSTORE");
}

bool condstore_qresync(const struct imap_session *s)
{
	return imap_cap_enabled(s, "QRESYNC");
}

bool condstore_modseq_parse(const struct imap_arg *a, uint64_t *out)
{
	const char *str;
	if (!imap_arg_get_atom(a, &str) || !*str || strlen(str) > 19)
		return false;
	uint64_t v = 0;
	for (const char *p = str; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	/* RFC 7162 7: a positive 63-bit number (or 0 where valzer). */
	if (v > INT64_MAX)
		return false;
	*out = v;
	return true;
}

static int uidset_parse(const struct imap_arg *a, struct seqset *out)
{
	const char *str;
	if (!imap_arg_get_atom(a, &str))
		return -1;
	return seqset_parse(str, strlen(str), UINT32_MAX, out);
}

/* QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]]) */
static int qresync_parse(const struct imap_arg *l, struct condstore_select *p, const char **err)
{
	*err = "QRESYNC needs (uidvalidity modseq [known-uids [(seqs uids)]])";
	if (l->type != IMAP_ARG_LIST || l->count < 2 || l->count > 4)
		return -1;
	uint64_t uv;
	if (!condstore_modseq_parse(&l->list[0], &uv) || uv == 0 || uv > UINT32_MAX ||
	    !condstore_modseq_parse(&l->list[1], &p->modseq))
		return -1;
	p->uidvalidity = (uint32_t)uv;
	size_t i = 2;
	if (i < l->count && l->list[i].type != IMAP_ARG_LIST) {
		if (uidset_parse(&l->list[i], &p->known) < 0)
			return -1;
		p->has_known = true;
		i++;
	}
	if (i < l->count) {
		const struct imap_arg *m = &l->list[i];
		if (m->type != IMAP_ARG_LIST || m->count != 2 ||
		    uidset_parse(&m->list[0], &p->match_seqs) < 0 ||
		    uidset_parse(&m->list[1], &p->match_uids) < 0)
			return -1;
		/* RFC 7162 3.2.5: both sets name the same number of messages. */
		if (seqset_count(&p->match_seqs) != seqset_count(&p->match_uids))
			return -1;
		p->has_match = true;
		i++;
	}
	if (i != l->count)
		return -1;
	p->qresync = true;
	return 0;
}

int condstore_select_parse(const struct imap_arg *list, struct condstore_select *out,
			   const char **err)
{
	memset(out, 0, sizeof(*out));
	*err = "Unknown SELECT parameters";
	if (list->type != IMAP_ARG_LIST)
		return -1;
	for (size_t i = 0; i < list->count; i++) {
		const struct imap_arg *a = &list->list[i];
		if (imap_arg_atom_ieq(a, "CONDSTORE") && !out->condstore) {
			out->condstore = true;
		} else if (imap_arg_atom_ieq(a, "QRESYNC") && !out->qresync && i + 1 < list->count) {
			if (qresync_parse(&list->list[++i], out, err) < 0)
				return -1;
		} else {
			*err = "Unknown SELECT parameters";
			return -1;
		}
	}
	return 0;
}

void condstore_select_free(struct condstore_select *p)
{
	seqset_free(&p->known);
	seqset_free(&p->match_seqs);
	seqset_free(&p->match_uids);
}

int condstore_fetch_parse(const struct imap_arg *list, struct condstore_fetch *out,
			  const char **err)
{
	memset(out, 0, sizeof(*out));
	*err = "Invalid FETCH modifiers";
	if (list->type != IMAP_ARG_LIST || list->count == 0)
		return -1;
	for (size_t i = 0; i < list->count; i++) {
		const struct imap_arg *a = &list->list[i];
		if (imap_arg_atom_ieq(a, "CHANGEDSINCE") && !out->changedsince_set &&
		    i + 1 < list->count) {
			if (!condstore_modseq_parse(&list->list[++i], &out->changedsince))
				return -1;
			out->changedsince_set = true;
		} else if (imap_arg_atom_ieq(a, "VANISHED") && !out->vanished) {
			out->vanished = true;
		} else {
			return -1;
		}
	}
	/* RFC 7162 3.2.6: VANISHED only together with CHANGEDSINCE. */
	if (out->vanished && !out->changedsince_set) {
		*err = "VANISHED needs CHANGEDSINCE";
		return -1;
	}
	return 0;
}

int condstore_store_parse(const struct imap_arg *list, struct condstore_store *out,
			  const char **err)
{
	memset(out, 0, sizeof(*out));
	*err = "Invalid STORE modifiers";
	if (list->type != IMAP_ARG_LIST || list->count != 2 ||
	    !imap_arg_atom_ieq(&list->list[0], "UNCHANGEDSINCE") ||
	    !condstore_modseq_parse(&list->list[1], &out->unchangedsince))
		return -1;
	out->unchangedsince_set = true;
	return 0;
}

void condstore_write_vanished(struct imap_session *s, bool earlier, const uint32_t *uids,
			      size_t n)
{
	if (n == 0)
		return;
	struct strbuf line = STRBUF_INIT;
	strbuf_adds(&line, earlier ? "* VANISHED (EARLIER) " : "* VANISHED ");
	seqset_format_list(&line, uids, n);
	strbuf_adds(&line, "\r\n");
	sess_write(s, line.s, line.len);
	strbuf_free(&line);
}

/* Appends lo:hi (or lo) to a set being written. */
static void range_add(struct strbuf *line, bool *first, uint32_t lo, uint32_t hi)
{
	if (!*first)
		strbuf_addc(line, ',');
	*first = false;
	if (lo == hi)
		strbuf_addf(line, "%u", lo);
	else
		strbuf_addf(line, "%u:%u", lo, hi);
}

void condstore_write_vanished_absent(struct imap_session *s, const struct seqset *set,
				     uint32_t uidnext, const uint32_t *present, size_t npresent)
{
	if (uidnext <= 1)
		return;
	struct strbuf line = STRBUF_INIT;
	strbuf_adds(&line, "* VANISHED (EARLIER) ");
	size_t start = line.len, p = 0;
	bool first = true;
	for (size_t i = 0; i < set->n; i++) {
		uint32_t lo = set->r[i].lo, hi = set->r[i].hi;
		if (lo > uidnext - 1)
			break;
		if (hi > uidnext - 1)
			hi = uidnext - 1;
		/* Walk the gaps between present UIDs inside [lo, hi]. */
		while (p < npresent && present[p] < lo)
			p++;
		uint32_t at = lo;
		while (at <= hi) {
			if (p < npresent && present[p] <= hi) {
				if (present[p] > at)
					range_add(&line, &first, at, present[p] - 1);
				if (present[p] == UINT32_MAX)
					break;
				at = present[p] + 1;
				p++;
			} else {
				range_add(&line, &first, at, hi);
				break;
			}
		}
	}
	if (line.len > start) {
		strbuf_adds(&line, "\r\n");
		sess_write(s, line.s, line.len);
	}
	strbuf_free(&line);
}

bool condstore_search_uses_modseq(const struct search_key *k)
{
	if (!k)
		return false;
	if (k->type == SK_MODSEQ)
		return true;
	for (size_t i = 0; i < k->nchildren; i++)
		if (condstore_search_uses_modseq(k->children[i]))
			return true;
	return false;
}
