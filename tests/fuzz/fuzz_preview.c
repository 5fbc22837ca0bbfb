/* libFuzzer harness for the preview text (mail/preview.c, RFC 8970):
 * part choice, decoding, the HTML stripper and the whitespace folding.
 *
 * Built like the others (CMakeLists.txt fuzz block): fuzz_preview_replay
 * replays tests/fuzz/corpus/fuzz_preview in every build; with clang,
 * fuzz_preview is the libFuzzer binary. Seeds: tests/fuzz/make_seeds.py.
 *
 * Input: the whole input is the message. Checked beyond "no crash, no
 * leak, no UB": the preview is valid UTF-8 of at most MAIL_PREVIEW_CHARS
 * code points, holds no control character, no leading, trailing or double
 * space, and is the same when computed twice (RFC 8970 3.2: the server
 * SHOULD give the same string for a message every time). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "mail/preview.h"

static void check(const char *p)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t len = strlen(p), chars = 0;
	CHECK(len == 0 || (s[0] != ' ' && s[len - 1] != ' '));
	for (size_t i = 0; i < len;) {
		unsigned char b = s[i];
		size_t n = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
		CHECK(b < 0x80 || (b >= 0xc2 && b <= 0xf4));
		CHECK(i + n <= len);
		for (size_t k = 1; k < n; k++)
			CHECK((s[i + k] & 0xc0) == 0x80);
		CHECK(b >= 0x20 && b != 0x7f);
		CHECK(!(b == ' ' && s[i + 1] == ' '));
		i += n;
		chars++;
	}
	CHECK(chars <= MAIL_PREVIEW_CHARS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so ASan sees any read past the message. */
	char *msg = malloc(size ? size : 1);
	if (size)
		memcpy(msg, data, size);
	char *a = mail_preview_compute(msg, size);
	char *b = mail_preview_compute(msg, size);
	check(a);
	CHECK(strcmp(a, b) == 0);
	free(a);
	free(b);
	free(msg);
	return 0;
}
