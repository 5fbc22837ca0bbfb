/* The parser's literal sink (imap/parser.h): large APPEND literals go to
 * one unlinked spool file per command, every other literal stays in
 * memory, the file goes with reset, and a failed open or write leaves the
 * stream in sync with the error on the argument. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/strbuf.h"
#include "imap/parser.h"

static char spool_dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(spool_dir, sizeof(spool_dir), "/tmp/rampart-spool-XXXXXX");
	return mkdtemp(spool_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(spool_dir);
}

static void spool_limits(struct imap_parser_limits *lim, size_t spool_min)
{
	imap_parser_limits_default(lim);
	lim->spool_dir = spool_dir;
	lim->spool_min = spool_min;
}

/* The spool directory is empty (the files are unlinked): rmdir works. */
static void assert_dir_empty(void)
{
	assert_int_equal(rmdir(spool_dir), 0);
	assert_int_equal(mkdir(spool_dir, 0700), 0);
}

static char *file_range(const struct imap_arg *a)
{
	assert_true(a->spooled);
	assert_int_equal(a->file_err, 0);
	assert_true(a->file_fd >= 0);
	char *buf = malloc(a->file_len + 1);
	assert_int_equal(pread(a->file_fd, buf, a->file_len, (off_t)a->file_off),
			 (ssize_t)a->file_len);
	buf[a->file_len] = '\0';
	return buf;
}

/* Feeds data in chunks of `step` bytes (0: all at once) and expects one
 * DONE at the end. */
static void feed_done(struct imap_parser *p, const char *data, size_t len, size_t step)
{
	size_t pos = 0;
	enum imap_parse_result r = IMAP_PARSE_NEED_MORE;
	while (pos < len) {
		size_t n = step ? step : len;
		if (n > len - pos)
			n = len - pos;
		size_t used = 0;
		r = imap_parser_feed(p, data + pos, n, &used);
		pos += used;
		if (r != IMAP_PARSE_NEED_MORE)
			break;
		assert_int_equal(used, n);
	}
	assert_int_equal(r, IMAP_PARSE_DONE);
	assert_int_equal(pos, len);
}

static char *multiappend(size_t *len)
{
	struct strbuf b = STRBUF_INIT;
	strbuf_adds(&b, "a APPEND INBOX {40+}\r\n");
	for (int i = 0; i < 40; i++)
		strbuf_addc(&b, (char)('A' + i % 26));
	strbuf_adds(&b, " (\\Seen) ~{20+}\r\n");
	for (int i = 0; i < 20; i++)
		strbuf_addc(&b, (char)(i == 3 ? 0 : 'a' + i));
	strbuf_adds(&b, " {16+}\r\nsmall-in-memory!\r\n");
	return strbuf_detach(&b, len);
}

static void test_append_literals_spooled(void **state)
{
	(void)state;
	struct imap_parser_limits lim;
	spool_limits(&lim, 16);
	size_t len;
	char *in = multiappend(&len);
	/* Whole, byte by byte and in odd chunks: the same file. */
	const size_t steps[] = { 0, 1, 7 };
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		struct imap_parser *p = imap_parser_new(&lim);
		feed_done(p, in, len, steps[k]);
		size_t n;
		const struct imap_arg *a = imap_parser_args(p, &n);
		assert_int_equal(n, 5);
		assert_int_equal(a[1].type, IMAP_ARG_LITERAL);
		assert_true(a[1].spooled);
		assert_int_equal(a[1].len, 0);
		assert_string_equal(a[1].str, "");
		assert_int_equal(a[1].file_off, 0);
		assert_int_equal(a[1].file_len, 40);
		char *b1 = file_range(&a[1]);
		assert_string_equal(b1, "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMN");
		free(b1);
		/* One file per command, literals back to back. */
		assert_true(a[3].spooled && a[3].literal8);
		assert_int_equal(a[3].file_fd, a[1].file_fd);
		assert_int_equal(a[3].file_off, 40);
		char *b3 = file_range(&a[3]);
		assert_int_equal(b3[3], 0);
		assert_memory_equal(b3 + 4, "efghijklmnopqrst", 16);
		free(b3);
		/* At the threshold: memory. */
		assert_false(a[4].spooled);
		assert_int_equal(a[4].len, 16);
		assert_string_equal(a[4].str, "small-in-memory!");
		/* Unlinked: nothing to find, nothing to leave. */
		struct stat st;
		assert_int_equal(fstat(a[1].file_fd, &st), 0);
		assert_int_equal(st.st_nlink, 0);
		assert_int_equal(st.st_size, 60);
		assert_dir_empty();
		imap_parser_free(p);
	}
	free(in);
}

static void test_reset_closes_the_spool(void **state)
{
	(void)state;
	struct imap_parser_limits lim;
	spool_limits(&lim, 16);
	size_t len;
	char *in = multiappend(&len);
	struct imap_parser *p = imap_parser_new(&lim);
	feed_done(p, in, len, 0);
	size_t n;
	int fd = imap_parser_args(p, &n)[1].file_fd;
	assert_true(fcntl(fd, F_GETFD) >= 0);
	imap_parser_reset(p);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	/* A command cut off mid-literal (the client went away) too. */
	const char *half = "b APPEND INBOX {1000+}\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
	size_t used;
	assert_int_equal(imap_parser_feed(p, half, strlen(half), &used), IMAP_PARSE_NEED_MORE);
	int open_before = 0, open_after = 0;
	for (int i = 0; i < 1024; i++)
		open_before += fcntl(i, F_GETFD) >= 0;
	imap_parser_free(p);
	for (int i = 0; i < 1024; i++)
		open_after += fcntl(i, F_GETFD) >= 0;
	assert_int_equal(open_after, open_before - 1);
	assert_dir_empty();
	free(in);
}

static void test_only_large_append_literals_spool(void **state)
{
	(void)state;
	struct imap_parser_limits lim;
	spool_limits(&lim, 16);
	const char *cases[] = {
		"a SEARCH TEXT {40+}\r\n0123456789012345678901234567890123456789\r\n",
		"a LOGIN u {40+}\r\n0123456789012345678901234567890123456789\r\n",
		"a UID APPEND x {40+}\r\n0123456789012345678901234567890123456789\r\n",
		"a APPEND INBOX {16+}\r\n0123456789012345\r\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_parser *p = imap_parser_new(&lim);
		feed_done(p, cases[i], strlen(cases[i]), 0);
		size_t n;
		const struct imap_arg *a = imap_parser_args(p, &n);
		assert_int_equal(a[n - 1].type, IMAP_ARG_LITERAL);
		assert_false(a[n - 1].spooled);
		assert_true(a[n - 1].len == 40 || a[n - 1].len == 16);
		imap_parser_free(p);
	}
	/* No spool directory (before login): everything in memory. */
	imap_parser_limits_default(&lim);
	lim.spool_min = 16;
	struct imap_parser *p = imap_parser_new(&lim);
	const char *s = "a APPEND INBOX {40+}\r\n0123456789012345678901234567890123456789\r\n";
	feed_done(p, s, strlen(s), 0);
	size_t n;
	assert_false(imap_parser_args(p, &n)[1].spooled);
	imap_parser_free(p);
}

/* The point of the sink: a large literal costs the parser no memory. */
static void test_spooled_literal_memory_is_bounded(void **state)
{
	(void)state;
	size_t size = 4u << 20;
	char *chunk = malloc(65536);
	memset(chunk, 'm', 65536);
	for (int spool = 0; spool < 2; spool++) {
		struct imap_parser_limits lim;
		spool_limits(&lim, IMAP_SPOOL_MIN);
		if (!spool)
			lim.spool_dir = NULL;
		struct imap_parser *p = imap_parser_new(&lim);
		char head[64];
		snprintf(head, sizeof(head), "a APPEND INBOX {%zu}\r\n", size);
		size_t used;
		assert_int_equal(imap_parser_feed(p, head, strlen(head), &used),
				 IMAP_PARSE_CONTINUE);
		size_t peak = 0;
		for (size_t off = 0; off < size; off += 65536) {
			assert_int_equal(imap_parser_feed(p, chunk, 65536, &used),
					 IMAP_PARSE_NEED_MORE);
			if (imap_parser_buffered(p) > peak)
				peak = imap_parser_buffered(p);
		}
		feed_done(p, "\r\n", 2, 0);
		if (spool)
			assert_true(peak < 16384);
		else
			assert_true(peak >= size);
		imap_parser_free(p);
	}
	free(chunk);
}

static void test_spool_open_failure_keeps_sync(void **state)
{
	(void)state;
	struct imap_parser_limits lim;
	spool_limits(&lim, 16);
	lim.spool_dir = "/nonexistent-rampart-spool";
	struct imap_parser *p = imap_parser_new(&lim);
	const char *s = "a APPEND INBOX {40+}\r\n0123456789012345678901234567890123456789\r\n"
			"b NOOP\r\n";
	size_t used;
	assert_int_equal(imap_parser_feed(p, s, strlen(s), &used), IMAP_PARSE_DONE);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	assert_true(a[1].spooled);
	assert_int_equal(a[1].file_err, ENOENT);
	assert_int_equal(a[1].file_fd, -1);
	assert_int_equal(a[1].file_len, 40);
	imap_parser_reset(p);
	size_t used2;
	assert_int_equal(imap_parser_feed(p, s + used, strlen(s) - used, &used2), IMAP_PARSE_DONE);
	assert_string_equal(imap_parser_command(p), "NOOP");
	imap_parser_free(p);
}

/* A full disk, as the file-size limit (EFBIG instead of ENOSPC): the rest
 * of the literal is counted and dropped, the next command is in sync. */
static void test_spool_write_failure_keeps_sync(void **state)
{
	(void)state;
	struct rlimit old, small;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	small = old;
	small.rlim_cur = 50;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	struct imap_parser_limits lim;
	spool_limits(&lim, 16);
	struct imap_parser *p = imap_parser_new(&lim);
	struct strbuf b = STRBUF_INIT;
	strbuf_adds(&b, "a APPEND INBOX {30+}\r\n");
	for (int i = 0; i < 30; i++)
		strbuf_addc(&b, 'x');
	strbuf_adds(&b, " {100+}\r\n");
	for (int i = 0; i < 100; i++)
		strbuf_addc(&b, 'y');
	strbuf_adds(&b, " {100+}\r\n");
	for (int i = 0; i < 100; i++)
		strbuf_addc(&b, 'z');
	strbuf_adds(&b, "\r\nb NOOP\r\n");
	size_t len, used;
	char *s = strbuf_detach(&b, &len);
	enum imap_parse_result r = IMAP_PARSE_NEED_MORE;
	size_t pos = 0;
	/* In small pieces, so the failure falls in the middle of a literal. */
	while (pos < len && r == IMAP_PARSE_NEED_MORE) {
		size_t n = len - pos < 9 ? len - pos : 9;
		r = imap_parser_feed(p, s + pos, n, &used);
		pos += used;
	}
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	assert_int_equal(r, IMAP_PARSE_DONE);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	assert_int_equal(n, 4);
	assert_int_equal(a[1].file_err, 0);
	assert_int_equal(a[2].file_err, EFBIG);
	assert_int_equal(a[3].file_err, EFBIG);
	assert_int_equal(a[3].file_off, 130);
	assert_int_equal(a[3].file_len, 100);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed(p, s + pos, len - pos, &used), IMAP_PARSE_DONE);
	assert_string_equal(imap_parser_command(p), "NOOP");
	imap_parser_free(p);
	free(s);
}

/* Limits are judged at the announcement, before any file exists. */
static void test_limits_before_spooling(void **state)
{
	(void)state;
	struct imap_parser_limits lim;
	spool_limits(&lim, 16);
	lim.max_literal = 1000;
	struct imap_parser *p = imap_parser_new(&lim);
	const char *s = "a APPEND INBOX {1001}\r\n";
	size_t used;
	assert_int_equal(imap_parser_feed(p, s, strlen(s), &used), IMAP_PARSE_ERROR);
	assert_true(imap_parser_error_is_limit(p));
	assert_dir_empty();
	imap_parser_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_literals_spooled),
		cmocka_unit_test(test_reset_closes_the_spool),
		cmocka_unit_test(test_only_large_append_literals_spool),
		cmocka_unit_test(test_spooled_literal_memory_is_bounded),
		cmocka_unit_test(test_spool_open_failure_keeps_sync),
		cmocka_unit_test(test_spool_write_failure_keeps_sync),
		cmocka_unit_test(test_limits_before_spooling),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
