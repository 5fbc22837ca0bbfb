/* libFuzzer harness for the MIME parser and everything built on it:
 * BODYSTRUCTURE/BODY/ENVELOPE, section parsing and fetching, BINARY,
 * header decoding, body text and dates.
 *
 * Built by CMake (see the fuzz block of CMakeLists.txt): fuzz_mime_replay
 * replays tests/fuzz/corpus/fuzz_mime in every build; with clang, fuzz_mime
 * is the libFuzzer binary (`make test` runs it briefly). For a long run:
 * build-clang/fuzz_mime -max_len=16384 -max_total_time=300 DIR with DIR a
 * copy of the corpus (tests/fuzz/make_seeds.py writes the seeds).
 *
 * Input layout: byte 0 is the length k of a FETCH section-spec that
 * follows (bytes 1..k), the rest is the message (hence the seed prefix).
 *
 * What is checked, beyond "no crash, no leak, no UB, no read outside the
 * message" (the message is copied to an exact-size buffer for ASan):
 *  - every part's header/body offsets are ordered, inside its parent and
 *    inside the message; the part count respects MAIL_MAX_PARTS and the
 *    depth MAIL_MAX_DEPTH (+1 for the encapsulated message entity);
 *  - BODYSTRUCTURE and BODY have balanced parentheses outside strings;
 *  - a section that parses yields bytes that are a slice of the message
 *    (or, for HEADER.FIELDS, no longer than the header plus CRLFs);
 *  - the search index entry (mail/searchdoc.c) has each field exactly as
 *    SEARCH computes it from the message, and its text within the cap. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/util.h"
#include "mail/mail.h"
#include "mail/mime_internal.h"
#include "mail/searchdoc.h"

static size_t check_part(const struct mail_part *p, size_t len, int depth)
{
	size_t n = 0;
	if (depth > MAIL_MAX_DEPTH + 1)
		abort();
	for (; p; p = p->next) {
		n++;
		if (!(p->hdr_start <= p->hdr_end && p->hdr_end <= p->body_start &&
		      p->body_start <= p->body_end && p->body_end <= len))
			abort();
		if (p->parent && (p->hdr_start < p->parent->body_start || p->body_end > p->parent->body_end))
			abort();
		if (p->next && p->body_end > p->next->hdr_start)
			abort();
		if (!p->type || !p->subtype)
			abort();
		n += check_part(p->children, len, depth + 1);
	}
	return n;
}

/* Parentheses balance outside quoted strings and literals. */
static void check_balanced(const struct strbuf *b)
{
	long depth = 0;
	for (size_t i = 0; i < b->len; i++) {
		char c = b->s[i];
		if (c == '"') {
			for (i++; i < b->len && b->s[i] != '"'; i++)
				if (b->s[i] == '\\')
					i++;
		} else if (c == '{') {
			char *end;
			unsigned long n = strtoul(b->s + i + 1, &end, 10);
			if (*end != '}' || end[1] != '\r' || end[2] != '\n')
				abort();
			i = (size_t)(end - b->s) + 2 + n;
		} else if (c == '(') {
			depth++;
		} else if (c == ')') {
			if (--depth < 0)
				abort();
		}
	}
	if (depth != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t k = data[0];
	if (k > size - 1)
		k = size - 1;
	const char *spec = (const char *)data + 1;
	size_t len = size - 1 - k;
	char *msg = malloc(len ? len : 1);
	if (!msg)
		return 0;
	memcpy(msg, data + 1 + k, len);

	struct mail_msg *m = mail_parse(msg, len);
	if (check_part(m->root, len, 0) > MAIL_MAX_PARTS)
		abort();

	struct strbuf b = STRBUF_INIT;
	mail_write_bodystructure(&b, m, true);
	check_balanced(&b);
	strbuf_reset(&b);
	mail_write_bodystructure(&b, m, false);
	check_balanced(&b);
	strbuf_reset(&b);
	mail_write_envelope(&b, m);
	check_balanced(&b);
	strbuf_reset(&b);
	mail_body_text(m, &b);
	strbuf_reset(&b);
	mail_header_decoded(m, "subject", &b);
	mail_header_decoded(m, "from", &b);
	strbuf_reset(&b);
	int tz;
	mail_date_sent(m, &tz);

	struct search_doc doc;
	mail_search_doc_build(m, &doc);
	if (strlen(doc.body) > SEARCH_DOC_BODY_MAX || strlen(doc.hdrs) > SEARCH_DOC_BODY_MAX)
		abort();
	for (int f = 0; f < SEARCH_DOC_NFIELDS; f++) {
		strbuf_reset(&b);
		int n = mail_search_header(m, search_doc_field_name(f), &b);
		if ((n > 0) != (doc.field[f] != NULL) ||
		    (n > 0 && (strlen(doc.field[f]) != b.len || memcmp(doc.field[f], b.s, b.len))))
			abort();
	}
	search_doc_clear(&doc);
	strbuf_reset(&b);

	struct mail_section s;
	if (mail_section_parse(spec, k, &s) == 0) {
		mail_section_fetch(m, &s, &b);
		if (s.kind == MAIL_SECTION_HEADER_FIELDS || s.kind == MAIL_SECTION_HEADER_FIELDS_NOT) {
			/* Fields, each possibly completed with CRLF, plus CRLF. */
			if (b.len > 3 * len + 2)
				abort();
		} else if (b.len > 0 && !memmem(msg, len, b.s, b.len)) {
			abort();
		}
		strbuf_reset(&b);
		mail_binary_fetch(m, s.part, s.nparts, &b);
		mail_section_free(&s);
	}
	strbuf_free(&b);
	mail_msg_free(m);
	free(msg);

	/* The date parser on its own, over the start of the input. */
	mail_parse_rfc5322_date((const char *)data, size < 200 ? size : 200, &tz);
	return 0;
}
