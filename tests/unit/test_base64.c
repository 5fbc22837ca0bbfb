/* Base64 (core/base64.c): one alphabet, two decoders. The same vectors go
 * through the encoder, the strict decoder (SASL), the lenient decoder
 * (MIME) and the two real callers (sasl_base64_decode for AUTHENTICATE,
 * mail_binary_fetch for BINARY[] of a base64 part), so a copy of the rule
 * that came back with another alphabet or padding rule fails here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"
#include "core/base64.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "mail/mail.h"

/* RFC 4648 section 10, and some with every alphabet character. */
static const struct {
	const char *plain;
	size_t len;
	const char *b64;
} vectors[] = {
	{ "", 0, "" },
	{ "f", 1, "Zg==" },
	{ "fo", 2, "Zm8=" },
	{ "foo", 3, "Zm9v" },
	{ "foob", 4, "Zm9vYg==" },
	{ "fooba", 5, "Zm9vYmE=" },
	{ "foobar", 6, "Zm9vYmFy" },
	{ "\xfb\xff\xbf", 3, "+/+/" },
	{ "\0\0\0", 3, "AAAA" },
	{ "\xff\xff\xff\xfe", 4, "/////g==" },
};

static struct strbuf lenient(const char *s, size_t len)
{
	struct strbuf b = STRBUF_INIT;
	strbuf_adds(&b, "");
	base64_decode_lenient(s, len, &b);
	return b;
}

/* BINARY[1] of a one-part base64 message: the MIME path as a client sees it. */
static struct strbuf via_binary_fetch(const char *b64)
{
	char *msg = xasprintf("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
			      "--b\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n--b--\r\n", b64);
	struct mail_msg *m = mail_parse(msg, strlen(msg));
	struct strbuf out = STRBUF_INIT;
	uint32_t part[] = { 1 };
	assert_int_equal(mail_binary_fetch(m, part, 1, &out), 0);
	mail_msg_free(m);
	free(msg);
	return out;
}

static void test_vectors_every_path(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
		const char *b64 = vectors[i].b64;
		size_t blen = strlen(b64);
		char enc[BASE64_ENCODED_SIZE(8)];
		assert_int_equal(base64_encode((const unsigned char *)vectors[i].plain, vectors[i].len, enc),
				 blen);
		assert_string_equal(enc, b64);

		unsigned char dec[16];
		assert_int_equal(base64_decode_strict(b64, blen, dec), (long)vectors[i].len);
		assert_memory_equal(dec, vectors[i].plain, vectors[i].len);
		assert_int_equal(sasl_base64_decode(b64, blen, dec), (long)vectors[i].len);
		assert_memory_equal(dec, vectors[i].plain, vectors[i].len);

		struct strbuf l = lenient(b64, blen);
		assert_int_equal(l.len, vectors[i].len);
		assert_memory_equal(l.s, vectors[i].plain, vectors[i].len);
		strbuf_free(&l);

		struct strbuf f = via_binary_fetch(b64);
		assert_int_equal(f.len, vectors[i].len);
		if (f.len)
			assert_memory_equal(f.s, vectors[i].plain, vectors[i].len);
		strbuf_free(&f);
	}
}

/* Every length 0..300 of binary data: encode, then both decoders give the
 * input back. */
static void test_roundtrip_binary(void **state)
{
	(void)state;
	unsigned char in[300], dec[300];
	char enc[BASE64_ENCODED_SIZE(300)];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 11);
	for (size_t len = 0; len <= sizeof(in); len++) {
		size_t n = base64_encode(in, len, enc);
		assert_int_equal(n, BASE64_ENCODED_SIZE(len) - 1);
		assert_int_equal(strlen(enc), n);
		assert_int_equal(base64_decode_strict(enc, n, dec), (long)len);
		assert_memory_equal(dec, in, len);
		struct strbuf l = lenient(enc, n);
		assert_int_equal(l.len, len);
		assert_memory_equal(l.s, in, len);
		strbuf_free(&l);
	}
}

/* What strict refuses and what lenient makes of it (RFC 2045 6.8:
 * characters outside the alphabet are ignored; '=' ends a quantum). */
static void test_strict_rejects_lenient_reads(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len;
		const char *lenient;
	} cases[] = {
		{ "Zg", 2, "f" },                /* padding missing */
		{ "Zg=", 3, "f" },               /* length not a multiple of 4 */
		{ "Zm9", 3, "fo" },              /* ditto */
		{ "Z===", 4, "" },               /* three pad characters */
		{ "====", 4, "" },               /* only padding */
		{ "Zg==Zg==", 8, "ff" },         /* two encodings concatenated */
		{ "Zm=v", 4, "f" },              /* pad inside a quantum */
		{ "Zh==", 4, "f" },              /* RFC 4648 3.5: non-zero pad bits */
		{ "Zm9=", 4, "fo" },             /* ditto for a two-byte group */
		{ "Zm9v\r\n", 6, "foo" },        /* line break */
		{ "Zm 9v", 5, "foo" },           /* space */
		{ "Zm9v-_==", 8, "foo" },        /* URL-safe alphabet is not base64 */
		{ "Zm9v*Yg==", 9, "foob" },      /* not in the alphabet */
		{ "Zm9\x80v", 5, "foo" },        /* high byte */
		{ "Zm\0" "9v", 5, "foo" },       /* NUL */
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned char out[32];
		assert_int_equal(base64_decode_strict(cases[i].in, cases[i].len, out), -1);
		assert_int_equal(sasl_base64_decode(cases[i].in, cases[i].len, out), -1);
		struct strbuf l = lenient(cases[i].in, cases[i].len);
		assert_int_equal(l.len, strlen(cases[i].lenient));
		assert_memory_equal(l.s, cases[i].lenient, l.len);
		strbuf_free(&l);
	}
}

/* Random strings over the alphabet, padding and junk: SASL decodes as
 * strict does; whatever strict accepts is canonical (encodes back to the
 * same text) and lenient reads the same; strict never writes past its
 * result. */
static void test_modes_agree_random(void **state)
{
	(void)state;
	static const char alphabet[] = "ABCXYZabcxyz0189+/=-_ \n\0*";
	uint32_t rng = 4648;
	char in[16], again[BASE64_ENCODED_SIZE(16)];
	unsigned char out[32], out2[32];
	size_t accepted = 0;
	for (int iter = 0; iter < 100000; iter++) {
		rng = rng * 1103515245u + 12345u;
		size_t len = (rng >> 16) % 13;
		for (size_t i = 0; i < len; i++) {
			rng = rng * 1103515245u + 12345u;
			in[i] = alphabet[(rng >> 16) % (sizeof(alphabet) - 1)];
		}
		memset(out, 0xAA, sizeof(out));
		long n = base64_decode_strict(in, len, out);
		assert_int_equal(sasl_base64_decode(in, len, out2), n);
		if (n < 0)
			continue;
		accepted++;
		for (size_t i = (size_t)n; i < sizeof(out); i++)
			assert_int_equal(out[i], 0xAA);
		/* strict accepts only the canonical spelling */
		assert_int_equal(base64_encode(out, (size_t)n, again), len);
		assert_memory_equal(again, in, len);
		struct strbuf l = lenient(in, len);
		assert_int_equal(l.len, (size_t)n);
		assert_memory_equal(l.s, out, (size_t)n);
		strbuf_free(&l);
	}
	assert_true(accepted > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_every_path),
		cmocka_unit_test(test_roundtrip_binary),
		cmocka_unit_test(test_strict_rejects_lenient_reads),
		cmocka_unit_test(test_modes_agree_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
