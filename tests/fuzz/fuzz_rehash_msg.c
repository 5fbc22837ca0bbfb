/* libFuzzer harness for the two messages between the server and its
 * rampart-auth helper (auth/rehash_internal.h): the helper runs as root
 * and parses what a possibly compromised server sends, so its decoder is
 * the one parser on that trust boundary.
 *
 * Byte 0 chooses the decoder: even, a request ("USER\0PASSWORD"); odd, a
 * reply. What is checked, beyond "no crash, no leak, no UB":
 *  - a request is accepted only with a valid user name and a 1..1024 byte
 *    NUL-free password, and encoding what was decoded gives the input back
 *    byte for byte (nothing is cut, nothing is guessed);
 *  - a reply that decodes encodes to a reply that decodes to the same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "auth/passdb.h"
#include "auth/rehash_internal.h"

static void fuzz_request(const uint8_t *data, size_t size)
{
	if (size > REHASH_MSG_MAX)
		size = REHASH_MSG_MAX + 1; /* the helper's buffer: one byte over is refused */
	char *buf = malloc(size + 1);
	memcpy(buf, data, size);
	const char *user, *password;
	if (rehash_msg_decode(buf, size, &user, &password) == 0) {
		CHECK(size <= REHASH_MSG_MAX);
		CHECK(passdb_username_valid(user));
		size_t pl = strlen(password);
		CHECK(pl >= 1 && pl <= REHASH_PASSWORD_MAX);
		char again[REHASH_MSG_MAX];
		size_t n = rehash_msg_encode(again, sizeof(again), user, password);
		CHECK(n == size && memcmp(again, data, size) == 0);
	}
	free(buf);
}

static void fuzz_reply(const uint8_t *data, size_t size)
{
	struct rehash_result r, back;
	if (rehash_reply_decode((const char *)data, size, &r) < 0)
		return;
	char line[128];
	size_t n = rehash_reply_encode(&r, line, sizeof(line));
	CHECK(n > 0 && n < sizeof(line));
	CHECK(rehash_reply_decode(line, n, &back) == 0);
	CHECK(back.status == r.status && strcmp(back.from, r.from) == 0 &&
	      back.hashed == r.hashed && back.scram_added == r.scram_added &&
	      back.errno_ == r.errno_);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_request(data + 1, size - 1);
	else
		fuzz_reply(data + 1, size - 1);
	return 0;
}
