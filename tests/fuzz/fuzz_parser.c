/* libFuzzer harness for the IMAP command parser and sequence sets.
 *
 * Built by CMake (see the fuzz block of CMakeLists.txt): fuzz_parser_replay
 * replays tests/fuzz/corpus/fuzz_parser in every build; with clang,
 * fuzz_parser is the libFuzzer binary (`make test` runs it briefly). For a
 * long run: build-clang/fuzz_parser -max_len=4096 -max_total_time=300 DIR
 * with DIR a copy of the corpus.
 *
 * Input layout: byte 0 picks a set of limits (small ones, so every limit
 * path is reachable), byte 1 seeds the chunking, the rest is the stream.
 *
 * What is checked, beyond "no crash, no leak, no UB":
 *  - the stream gives the same transcript of results (and the same argument
 *    trees) fed all at once, one byte at a time, and in pseudo-random chunks;
 *  - consumed never exceeds the input, and NEED_MORE consumes everything;
 *  - a spooled literal's file range holds its bytes (the last set of limits
 *    spools APPEND and REPLACE literals over 16 bytes);
 *  - every argument string is NUL-terminated at its length, list nesting and
 *    the argument count respect the limits;
 *  - memory buffered stays proportional to the command fed so far;
 *  - every atom that parses as a sequence set formats back to a set that
 *    parses to the same ranges. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/strbuf.h"
#include "imap/parser.h"
#include "core/seqset.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__); \
			abort();                                               \
		}                                                              \
	} while (0)

static void fuzz_seqset(const char *s, size_t len)
{
	struct seqset set = SEQSET_INIT;
	if (seqset_parse(s, len, 1000, &set) < 0) {
		CHECK(set.r == NULL);
		return;
	}
	for (size_t i = 0; i < set.n; i++) {
		CHECK(set.r[i].lo >= 1 && set.r[i].lo <= set.r[i].hi);
		if (i)
			CHECK((uint64_t)set.r[i - 1].hi + 1 < set.r[i].lo);
	}
	size_t need = seqset_format_len(&set);
	char *buf = malloc(need);
	CHECK(buf);
	size_t w = seqset_format(&set, buf, need);
	CHECK(w + 1 == need && strlen(buf) == w);
	struct seqset back = SEQSET_INIT;
	CHECK(seqset_parse(buf, w, 1000, &back) == 0);
	CHECK(back.n == set.n && memcmp(back.r, set.r, set.n * sizeof(set.r[0])) == 0);
	for (size_t i = 0; i < set.n; i++) {
		CHECK(seqset_contains(&set, set.r[i].lo));
		CHECK(seqset_contains(&set, set.r[i].hi));
		if (set.r[i].lo > 1)
			CHECK(!seqset_contains(&set, set.r[i].lo - 1));
	}
	free(buf);
	seqset_free(&back);
	seqset_free(&set);
}

static void walk(struct strbuf *b, const struct imap_arg *a, size_t n, unsigned depth,
		 const struct imap_parser_limits *lim, size_t *total)
{
	CHECK(depth <= lim->max_depth);
	for (size_t i = 0; i < n; i++) {
		(*total)++;
		strbuf_addf(b, " %d", (int)a[i].type);
		if (a[i].type == IMAP_ARG_LIST) {
			CHECK(a[i].count == 0 || a[i].list != NULL);
			strbuf_addc(b, '(');
			walk(b, a[i].list, a[i].count, depth + 1, lim, total);
			strbuf_addc(b, ')');
			continue;
		}
		CHECK(a[i].str != NULL && a[i].str[a[i].len] == '\0');
		if (a[i].type != IMAP_ARG_LITERAL)
			CHECK(strlen(a[i].str) == a[i].len);
		else
			CHECK(a[i].len <= lim->max_literal);
		strbuf_addf(b, ":%zu:", a[i].len);
		strbuf_add(b, a[i].str, a[i].len);
		if (a[i].spooled) {
			/* The spooled bytes are part of the transcript. */
			CHECK(a[i].type == IMAP_ARG_LITERAL && a[i].len == 0);
			CHECK(a[i].file_len > lim->spool_min && a[i].file_len <= lim->max_literal);
			CHECK(a[i].file_err == 0 && a[i].file_fd >= 0);
			char *buf = malloc(a[i].file_len);
			CHECK(buf && pread(a[i].file_fd, buf, a[i].file_len, (off_t)a[i].file_off) ==
					     (ssize_t)a[i].file_len);
			strbuf_addc(b, 'F');
			strbuf_add(b, buf, a[i].file_len);
			free(buf);
		}
		if (a[i].literal8)
			strbuf_addc(b, '8');
		if (a[i].type == IMAP_ARG_ATOM)
			fuzz_seqset(a[i].str, a[i].len);
	}
}

static const struct imap_parser_limits limit_sets[] = {
	{ 65536, 64u << 20, 128u << 20, 64u << 20, 16, 100000, NULL, 0 },
	{ 32, 64, 256, 16, 3, 8, NULL, 0 },
	{ 200, 1000, 2000, 4096, 16, 100, NULL, 0 },
	{ 16, 8, 64, 0, 0, 3, NULL, 0 },
	{ 1024, 4096, 8192, 4096, 32, 1000, NULL, 0 },
	/* APPEND (and REPLACE) literals over 16 bytes spooled to unlinked files. */
	{ 1024, 4096, 8192, 4096, 32, 1000, "/tmp", 16 },
};

static char *run(const struct imap_parser_limits *lim, const char *d, size_t len, int mode,
		 unsigned seed, size_t *out_len)
{
	struct imap_parser *p = imap_parser_new(lim);
	struct strbuf b = STRBUF_INIT;
	size_t pos = 0, in_cmd = 0;
	while (pos < len) {
		size_t n = len - pos;
		if (mode == 1) {
			n = 1;
		} else if (mode == 2) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % 17;
			if (n > len - pos)
				n = len - pos;
		}
		size_t off = 0;
		bool fatal = false;
		while (off < n) {
			size_t used = (size_t)-1;
			enum imap_parse_result r = imap_parser_feed(p, d + pos + off, n - off, &used);
			CHECK(used <= n - off);
			off += used;
			in_cmd += used;
			/* Arg structs and copies of each token, plus chunk slack. */
			CHECK(imap_parser_buffered(p) <= 256 * in_cmd + 16384);
			if (r == IMAP_PARSE_NEED_MORE) {
				CHECK(off == n);
				break;
			}
			strbuf_addf(&b, "R%d", (int)r);
			if (r == IMAP_PARSE_DONE) {
				size_t na, total = 0;
				const struct imap_arg *a = imap_parser_args(p, &na);
				CHECK(imap_parser_tag(p) && imap_parser_command(p));
				strbuf_addf(&b, " %s %s", imap_parser_tag(p), imap_parser_command(p));
				walk(&b, a, na, 0, lim, &total);
				CHECK(total <= lim->max_args);
			} else if (r == IMAP_PARSE_ERROR || r == IMAP_PARSE_FATAL) {
				const char *tag = imap_parser_tag(p);
				CHECK(imap_parser_error(p) != NULL);
				strbuf_addf(&b, " %s %s %d", tag ? tag : "-", imap_parser_error(p),
					    (int)imap_parser_error_is_limit(p));
			}
			strbuf_addc(&b, '\n');
			if (r == IMAP_PARSE_FATAL) {
				fatal = true;
				break;
			}
			if (r != IMAP_PARSE_CONTINUE) {
				imap_parser_reset(p);
				CHECK(imap_parser_buffered(p) == 0);
				in_cmd = 0;
			}
		}
		if (fatal)
			break;
		pos += n;
	}
	imap_parser_free(p);
	return strbuf_detach(&b, out_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const struct imap_parser_limits *lim =
		&limit_sets[data[0] % (sizeof(limit_sets) / sizeof(limit_sets[0]))];
	unsigned seed = data[1];
	const char *d = (const char *)data + 2;
	size_t len = size - 2;

	fuzz_seqset(d, len);

	/* Transcripts hold literal data, NULs included: compare by length. */
	size_t lw, lb, lc;
	char *whole = run(lim, d, len, 0, 0, &lw);
	char *bytes = run(lim, d, len, 1, 0, &lb);
	char *chunks = run(lim, d, len, 2, seed, &lc);
	CHECK(lw == lb && (lw == 0 || memcmp(whole, bytes, lw) == 0));
	CHECK(lw == lc && (lw == 0 || memcmp(whole, chunks, lw) == 0));
	free(whole);
	free(bytes);
	free(chunks);
	return 0;
}
