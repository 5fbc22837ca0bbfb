/* Base64 (RFC 4648 section 4): the encoder and the two decoders, strict
 * and lenient, over one alphabet. Why two decoders: a SASL response that is
 * not canonical base64 comes from a broken or hostile client, and accepting
 * several spellings of the same credentials only widens what has to be
 * tested (RFC 4648 3.3 lets us reject characters outside the alphabet, 3.5
 * non-zero pad bits); a MIME body, on the other hand, is folded into lines
 * and RFC 2045 6.8 tells the reader to skip what is not in the alphabet. */
#include "core/base64.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

static const char base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The value of an alphabet character, -1 for anything else ('=' too). */
static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

size_t base64_encode(const unsigned char *in, size_t len, char *out)
{
	size_t o = 0;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t t = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = base64_alphabet[(t >> 18) & 63];
		out[o++] = base64_alphabet[(t >> 12) & 63];
		out[o++] = base64_alphabet[(t >> 6) & 63];
		out[o++] = base64_alphabet[t & 63];
	}
	if (len - i == 1) {
		uint32_t t = (uint32_t)in[i] << 16;
		out[o++] = base64_alphabet[(t >> 18) & 63];
		out[o++] = base64_alphabet[(t >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t t = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = base64_alphabet[(t >> 18) & 63];
		out[o++] = base64_alphabet[(t >> 12) & 63];
		out[o++] = base64_alphabet[(t >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

long base64_decode_strict(const char *in, size_t len, unsigned char *out)
{
	if (len == 0)
		return 0;
	if (!in || !out || len % 4 != 0 || len > (size_t)LONG_MAX)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + (size_t)k];
			if (c == '=' && last && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			/* Padding may only end the input, never be followed by data. */
			if (pad)
				return -1;
			v[k] = base64_value(c);
			if (v[k] < 0)
				return -1;
		}
		/* "x===" and "====" are not valid quanta. */
		if (pad == 2 && in[i + 2] != '=')
			return -1;
		uint32_t triple = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
				  (uint32_t)v[3];
		/* RFC 4648 3.5: the bits that padding leaves over must be zero. */
		if ((pad == 1 && (triple & 0xff)) || (pad == 2 && (triple & 0xffff)))
			return -1;
		out[o++] = (unsigned char)(triple >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(triple >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)triple;
	}
	return (long)o;
}

void base64_decode_lenient(const char *in, size_t len, struct strbuf *out)
{
	uint32_t acc = 0;
	int bits = 0;
	strbuf_grow(out, len / 4 * 3 + 3);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '=') {
			/* Padding: drop the partial quantum. Data may go on. */
			acc = 0;
			bits = 0;
			continue;
		}
		int v = base64_value(c);
		if (v < 0)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			strbuf_addc(out, (char)((acc >> bits) & 0xff));
		}
	}
}
