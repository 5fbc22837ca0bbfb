/* libFuzzer harness for SORT/THREAD input (mail/basesubject.c,
 * mail/sortkey.c, mail/thread.c): headers are the sender's to choose.
 *
 * Input layout: messages separated by NUL bytes (at most 64). Each goes
 * through mail_parse and mail_write_envelope, as at delivery, then
 * sortkey_from_envelope() reads the keys back and sortkey_references()
 * reads its References; the Subject is also fed raw to
 * mail_base_subject(). Both threading algorithms then thread all of
 * them, with the sequence numbers 1..n as ids.
 *
 * What is checked, beyond "no crash, no leak, no UB, no deep recursion":
 *  - a base subject has no leading, trailing or doubled space, and no
 *    tab or line break;
 *  - every key string is there (never NULL), the References bound holds;
 *  - a THREAD answer is well formed (balanced, no empty list, a list
 *    opens with a number or a list) and names every message exactly
 *    once. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "mail/mail.h"
#include "mail/sortkey.h"
#include "mail/thread.h"

#define MAX_MSGS 64

static void check_base(const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return;
	CHECK(s[0] != ' ' && s[n - 1] != ' ');
	CHECK(strstr(s, "  ") == NULL);
	CHECK(strpbrk(s, "\t\r\n") == NULL);
}

static void check_threads(const char *t, size_t n)
{
	unsigned char seen[MAX_MSGS + 1] = { 0 };
	int depth = 0;
	for (const char *p = t; *p;) {
		if (*p == '(') {
			CHECK(p[1] == '(' || (p[1] >= '1' && p[1] <= '9'));
			depth++;
			p++;
		} else if (*p == ')') {
			CHECK(depth > 0);
			depth--;
			p++;
		} else if (*p == ' ') {
			CHECK(depth > 0 && p[1] != ' ' && p[1] != ')');
			p++;
		} else {
			CHECK(*p >= '1' && *p <= '9' && depth > 0);
			char *end;
			unsigned long id = strtoul(p, &end, 10);
			CHECK(id >= 1 && id <= n);
			seen[id]++;
			p = end;
		}
	}
	CHECK(depth == 0);
	for (size_t i = 1; i <= n; i++)
		CHECK(seen[i] == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sortkey keys[MAX_MSGS];
	char **refs[MAX_MSGS];
	size_t nrefs[MAX_MSGS];
	struct thread_msg tm[MAX_MSGS];
	size_t n = 0, pos = 0;
	while (pos <= size && n < MAX_MSGS) {
		const uint8_t *nul = memchr(data + pos, 0, size - pos);
		size_t len = nul ? (size_t)(nul - data) - pos : size - pos;
		const char *d = (const char *)data + pos;
		struct mail_msg *m = mail_parse(d, len);
		struct strbuf env = STRBUF_INIT;
		mail_write_envelope(&env, m);
		struct strbuf subj = STRBUF_INIT;
		mail_header_decoded(m, "Subject", &subj);
		mail_msg_free(m);
		sortkey_from_envelope(env.s, (int64_t)n, &keys[n]);
		strbuf_free(&env);
		struct sortkey *k = &keys[n];
		CHECK(k->subject && k->from && k->to && k->cc && k->displayfrom && k->displayto);
		nrefs[n] = sortkey_references(d, len, &refs[n]);
		CHECK(nrefs[n] <= SORTKEY_MAX_REFS);
		bool reply;
		char *base = mail_base_subject(subj.s, subj.len, &reply);
		check_base(base);
		free(base);
		strbuf_free(&subj);
		tm[n] = (struct thread_msg){
			.id = (uint32_t)n + 1,
			.date = k->date,
			.subject = k->subject,
			.reply = k->reply,
			.message_id = k->message_id,
			.refs = refs[n],
			.nrefs = nrefs[n],
		};
		n++;
		if (!nul)
			break;
		pos += len + 1;
	}
	for (int algo = 0; algo < 2; algo++) {
		struct strbuf out = STRBUF_INIT;
		thread_write(algo ? THREAD_REFERENCES : THREAD_ORDEREDSUBJECT, tm, n, &out);
		check_threads(out.s ? out.s : "", n);
		strbuf_free(&out);
	}
	for (size_t i = 0; i < n; i++) {
		sortkey_free(&keys[i]);
		sortkey_ids_free(refs[i], nrefs[i]);
	}
	return 0;
}
