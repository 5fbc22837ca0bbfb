/* THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 3): messages in,
 * the thread-list text of the THREAD response out. */
#ifndef RAMPART_MAIL_THREAD_H
#define RAMPART_MAIL_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"

struct thread_msg {
	uint32_t id;              /* printed: sequence number or UID */
	int64_t date;             /* sent date, or internal date (RFC 5256 3) */
	const char *subject;      /* casefolded base subject, never NULL */
	bool reply;               /* the subject was a reply or forward */
	const char *message_id;   /* without <>; NULL when none */
	char *const *refs;        /* References ids in order, else In-Reply-To's */
	size_t nrefs;
};

enum thread_algo { THREAD_ORDEREDSUBJECT, THREAD_REFERENCES };

/* msgs: the messages to thread, in mailbox (sequence) order, which breaks
 * ties of equal dates. Appends the threads, e.g. "(1 2)(3 (4)(5))", to
 * out (nothing when n == 0). Runs in O(n log n) plus the References
 * chains (each bounded by the caller), with no recursion: the header
 * data are the sender's to choose. */
void thread_write(enum thread_algo algo, const struct thread_msg *msgs, size_t n,
		  struct strbuf *out);

#endif
