/* libFuzzer harness for the LMTP session (src/lmtp/session.c, parse.c,
 * rcpt.c): the input is a client's byte stream, fed in chunks whose
 * sizes come from byte 0, to a real session over a real users file and
 * store (deliveries commit inline), with small limits so every limit path
 * is reachable (4 KiB messages, 200-byte text lines, 3 recipients).
 *
 * What is checked, beyond "no crash, no leak, no UB":
 *  - every reply is a CRLF-terminated line "ddd" + ' ' or '-' and text,
 *    with a code of 2xx..5xx and, except 220/221/354/421 lines and the
 *    LHLO keyword lines, an enhanced status code of the same class
 *    (RFC 2034);
 *  - nothing is written after the connection was closed;
 *  - the same stream fed at once gives the same replies as fed in chunks
 *    (skipped when a chunked run delivered a message, whose trace header
 *    carries a per-session id). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "../unit/lmtp_test_io.h"
#include "core/log.h"
#include "core/util.h"

static struct config *g_cfg;
static struct passdb *g_db;
static struct lmtp_proto g_lp;
static char g_dir[64];

static void fuzz_lmtp_cleanup(void)
{
	store_cache_drop();
	char *cmd = xasprintf("rm -rf '%s'", g_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_lmtp: cannot remove %s\n", g_dir);
	free(cmd);
}

static void fuzz_lmtp_init(void)
{
	if (g_cfg)
		return;
	snprintf(g_dir, sizeof(g_dir), "/tmp/rampart-fuzz-lmtp-XXXXXX");
	CHECK(mkdtemp(g_dir) != NULL);
	atexit(fuzz_lmtp_cleanup);
	const char *dir = g_dir;
	char *users = xasprintf("%s/users", dir);
	FILE *f = fopen(users, "w");
	CHECK(f != NULL);
	fputs("bob:{PLAIN}x\ncarol@example.org:{PLAIN}x\n", f);
	fclose(f);
	char *err = NULL;
	g_db = passdb_load(users, &err);
	CHECK(g_db != NULL);
	free(users);
	g_cfg = config_new_defaults(dir);
	g_cfg->max_message_size = 4096;
	g_cfg->lmtp_max_text_line = 1000;
	g_cfg->lmtp_max_recipients = 3;
	free(g_cfg->mail_root);
	g_cfg->mail_root = xasprintf("%s/mail", dir);
	CHECK(store_init(g_cfg->mail_root) == 0);
	g_lp = (struct lmtp_proto){ .cfg = g_cfg, .passdb = g_db };
	log_set_level(LOG_LVL_ERR);
}

static void check_replies(const struct strbuf *out)
{
	const char *p = out->s ? out->s : "";
	bool lhlo_cont = false;
	while (*p) {
		const char *nl = strstr(p, "\r\n");
		CHECK(nl != NULL);
		size_t len = (size_t)(nl - p);
		CHECK(len >= 4);
		CHECK(p[0] >= '2' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
		      p[2] <= '9');
		CHECK(p[3] == ' ' || p[3] == '-');
		bool plain = memcmp(p, "220", 3) == 0 || memcmp(p, "221", 3) == 0 ||
			     memcmp(p, "354", 3) == 0 || memcmp(p, "421", 3) == 0 || lhlo_cont;
		if (!plain && !(memcmp(p, "250", 3) == 0 && p[3] == '-')) {
			/* "ddd c.s.d": the class digit repeats the code's */
			CHECK(len >= 9 && p[4] == p[0] && p[5] == '.');
		}
		lhlo_cont = memcmp(p, "250", 3) == 0 && p[3] == '-';
		p = nl + 2;
	}
}

static void run(const uint8_t *data, size_t size, unsigned seed, struct strbuf *out,
		unsigned long *delivered)
{
	struct lmtp_counters c0, c1;
	lmtp_counters_get(&c0);
	struct lmtp_test_conn c;
	lmtp_test_open(&c, &g_lp);
	size_t off = 0;
	while (off < size && !c.closed) {
		size_t n = seed ? 1 + (seed * 7 + off) % 97 : size - off;
		if (n > size - off)
			n = size - off;
		lmtp_test_feed(&c, data + off, n);
		off += n;
	}
	size_t closed_len = c.out.len;
	if (c.closed) {
		/* Input after the close is never read. */
		lmtp_test_feed(&c, "NOOP\r\n", 6);
		CHECK(c.out.len == closed_len);
	}
	check_replies(&c.out);
	strbuf_add(out, c.out.s ? c.out.s : "", c.out.len);
	lmtp_test_close(&c);
	lmtp_counters_get(&c1);
	*delivered = c1.delivered - c0.delivered;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_lmtp_init();
	if (size < 1)
		return 0;
	unsigned seed = data[0];
	struct strbuf whole = STRBUF_INIT, chunked = STRBUF_INIT;
	unsigned long dw = 0, dc = 0;
	run(data + 1, size - 1, 0, &whole, &dw);
	run(data + 1, size - 1, seed | 1, &chunked, &dc);
	/* The greeting names the host, the Saved lines carry no id: equal. */
	if (dw == dc)
		CHECK(whole.len == chunked.len && memcmp(whole.s, chunked.s, whole.len) == 0);
	strbuf_free(&whole);
	strbuf_free(&chunked);
	store_cache_drop();
	return 0;
}
