/* Base64 (RFC 4648 section 4, the standard alphabet), the one home of the
 * alphabet and of both ways to read it:
 *   - strict, for protocol fields (SASL responses): canonical base64 only;
 *   - lenient, for MIME bodies and RFC 2047 "B" words, which arrive with
 *     line breaks and junk that RFC 2045 6.8 says to ignore.
 * The two modes share one alphabet table and agree on every canonical
 * input (tests/unit/test_base64.c proves it with the same vectors). */
#ifndef RAMPART_CORE_BASE64_H
#define RAMPART_CORE_BASE64_H

#include <stddef.h>

#include "core/strbuf.h"

/* The buffer base64_encode() needs for len bytes, terminating NUL included. */
#define BASE64_ENCODED_SIZE(len) (4 * (((len) + 2) / 3) + 1)

/* Encodes in[0..len) with padding and no line breaks; out must hold
 * BASE64_ENCODED_SIZE(len) bytes. Returns the length (NUL not counted). */
size_t base64_encode(const unsigned char *in, size_t len, char *out);

/* Strict decoding: the length is a multiple of 4, every character is in the
 * alphabet, '=' only ends the input (at most two), and the bits padding
 * leaves over are zero (RFC 4648 3.3, 3.5). Returns the decoded length or
 * -1. out must hold at least len*3/4 bytes; nothing past the decoded
 * length is written. */
long base64_decode_strict(const char *in, size_t len, unsigned char *out);

/* Lenient decoding (RFC 2045 6.8): characters outside the alphabet are
 * ignored; '=' ends a quantum, dropping its partial bits, and data may
 * follow it (concatenated encodings are common). Appends to out. */
void base64_decode_lenient(const char *in, size_t len, struct strbuf *out);

#endif
