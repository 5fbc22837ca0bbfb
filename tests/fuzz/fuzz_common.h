/* What the libFuzzer harnesses of tests/fuzz/ share: a CHECK that aborts
 * with the failed condition (libFuzzer and the replay driver both treat an
 * abort as a crash), and parsing one command through the real IMAP parser
 * so a harness sees the argument tree a client would produce. */
#ifndef RAMPART_TESTS_FUZZ_COMMON_H
#define RAMPART_TESTS_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/strbuf.h"
#include "imap/parser.h"

#define CHECK(c)                                                                       \
	do {                                                                           \
		if (!(c)) {                                                            \
			fprintf(stderr, "check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
			abort();                                                       \
		}                                                                      \
	} while (0)

/* Parses "t <verb> <text>\r\n" with small limits (so every limit path is
 * reachable), answering synchronizing literals as a server would. Returns
 * the parser with a complete command, or NULL (the text did not form one
 * command); the caller frees the parser. */
static inline struct imap_parser *fuzz_parse_command(const char *verb, const uint8_t *text,
						     size_t len)
{
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	lim.max_line = 8192;
	lim.max_literal = 4096;
	lim.max_command = 16384;
	lim.max_nonsync = 4096;
	lim.max_args = 2000;
	struct strbuf cmd = STRBUF_INIT;
	strbuf_addf(&cmd, "t %s ", verb);
	strbuf_add(&cmd, (const char *)text, len);
	strbuf_adds(&cmd, "\r\n");
	struct imap_parser *p = imap_parser_new(&lim);
	size_t off = 0;
	enum imap_parse_result r;
	do {
		size_t used = 0;
		r = imap_parser_feed(p, cmd.s + off, cmd.len - off, &used);
		CHECK(used <= cmd.len - off);
		off += used;
	} while (r == IMAP_PARSE_CONTINUE || (r == IMAP_PARSE_NEED_MORE && off < cmd.len));
	strbuf_free(&cmd);
	if (r != IMAP_PARSE_DONE) {
		imap_parser_free(p);
		return NULL;
	}
	return p;
}

#endif
