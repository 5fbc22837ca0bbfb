/* COMPRESS=DEFLATE's byte filter for one connection (net/compress.c). */
#ifndef RAMPART_NET_COMPRESS_H
#define RAMPART_NET_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;
struct compress;

/* Raw DEFLATE (RFC 1951) both ways; NULL when zlib has no memory. */
struct compress *compress_new(void);
void compress_free(struct compress *z);
/* Bytes read before compression began that belong to the compressed
 * stream (moved out of `raw`, inflated first by compress_inflate). */
void compress_hold(struct compress *z, struct evbuffer *raw);
/* Inflates from `src` (draining what it consumes) into compress_plain()
 * until that holds `cap` bytes or nothing more can be had. -1 when the
 * stream is corrupt: the connection must go. */
int compress_inflate(struct compress *z, struct evbuffer *src, size_t cap);
/* The inflated bytes, for the protocol to consume. */
struct evbuffer *compress_plain(struct compress *z);
/* Inflated input is waiting: in compress_plain() or inside zlib. */
bool compress_input_pending(const struct compress *z);
/* Deflates `data` into `dst` and flushes (Z_SYNC_FLUSH), so the client
 * can read every response at once. -1 on a zlib failure. */
int compress_deflate(struct compress *z, const void *data, size_t len, struct evbuffer *dst);

#endif
