/* COMPRESS=DEFLATE (RFC 4978): the raw DEFLATE filter between a protocol
 * and its connection's bufferevent. It sits above TLS (the bufferevent may
 * be a TLS one), so bytes are compressed before they are encrypted, the
 * order RFC 4978 3 requires after STARTTLS. The network layer owns it
 * (net/conn.c) so any protocol can switch it on through conn_io.compress.
 *
 * Input is inflated only as far as a cap the caller gives (the protocol
 * consumes it, then more is inflated), so a small compressed "bomb" costs
 * at most the cap in memory and is then bad input like any other: the
 * protocol's own line and literal limits apply to the inflated bytes.
 * Output is flushed with Z_SYNC_FLUSH on every write: each write is a
 * batch of whole responses (imap/session.c sess_flush), and a client must
 * be able to read a response without waiting for the next one (RFC 4978
 * 4). */
#include "net/compress.h"
#include "core/util.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

/* RFC 4978 3: DEFLATE (RFC 1951) without zlib's header and checksum:
 * negative window bits. */
#define COMPRESS_WBITS (-15)
/* Output space asked of the evbuffer per zlib call. */
#define COMPRESS_CHUNK 16384

struct compress {
	z_stream in;
	z_stream out;
	struct evbuffer *plain;      /* inflated, not yet consumed */
	struct evbuffer *held;       /* compressed bytes read before the switch */
	bool in_full;                /* zlib may hold more output than it gave */
	bool in_ended;               /* the client ended its stream */
};

struct compress *compress_new(void)
{
	struct compress *z = xcalloc(1, sizeof(*z));
	if (inflateInit2(&z->in, COMPRESS_WBITS) != Z_OK) {
		free(z);
		return NULL;
	}
	if (deflateInit2(&z->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, COMPRESS_WBITS, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		inflateEnd(&z->in);
		free(z);
		return NULL;
	}
	z->plain = evbuffer_new();
	z->held = evbuffer_new();
	if (!z->plain || !z->held) {
		compress_free(z);
		return NULL;
	}
	return z;
}

void compress_free(struct compress *z)
{
	if (!z)
		return;
	inflateEnd(&z->in);
	deflateEnd(&z->out);
	if (z->plain)
		evbuffer_free(z->plain);
	if (z->held)
		evbuffer_free(z->held);
	free(z);
}

void compress_hold(struct compress *z, struct evbuffer *raw)
{
	evbuffer_add_buffer(z->held, raw);
}

struct evbuffer *compress_plain(struct compress *z)
{
	return z->plain;
}

bool compress_input_pending(const struct compress *z)
{
	return evbuffer_get_length(z->plain) > 0 || z->in_full ||
	       evbuffer_get_length(z->held) > 0;
}

int compress_inflate(struct compress *z, struct evbuffer *src, size_t cap)
{
	if (evbuffer_get_length(z->held) > 0)
		evbuffer_prepend_buffer(src, z->held);
	/* Every pass consumes input or produces output, or the loop ends:
	 * bounded by the input and by cap. */
	while (evbuffer_get_length(z->plain) < cap) {
		struct evbuffer_iovec iv = { NULL, 0 };
		if (evbuffer_peek(src, -1, NULL, &iv, 1) < 1)
			iv.iov_len = 0;
		if (iv.iov_len == 0 && !z->in_full)
			return 0;
		if (z->in_ended)
			return iv.iov_len ? -1 : 0; /* bytes after the end of the stream */
		size_t room = MIN(cap - evbuffer_get_length(z->plain), (size_t)COMPRESS_CHUNK);
		struct evbuffer_iovec ov;
		if (evbuffer_reserve_space(z->plain, (ev_ssize_t)room, &ov, 1) < 1)
			return -1;
		room = MIN(room, ov.iov_len);
		z->in.next_in = iv.iov_base;
		z->in.avail_in = (uInt)MIN(iv.iov_len, (size_t)UINT32_MAX);
		z->in.next_out = ov.iov_base;
		z->in.avail_out = (uInt)room;
		int r = inflate(&z->in, Z_SYNC_FLUSH);
		size_t used = iv.iov_len - z->in.avail_in;
		size_t made = room - z->in.avail_out;
		ov.iov_len = made;
		evbuffer_commit_space(z->plain, &ov, 1);
		evbuffer_drain(src, used);
		z->in_full = z->in.avail_out == 0;
		if (r == Z_STREAM_END)
			z->in_ended = true;
		else if (r != Z_OK && r != Z_BUF_ERROR)
			return -1;
		if (used == 0 && made == 0) {
			z->in_full = false;
			return 0;
		}
	}
	return 0;
}

int compress_deflate(struct compress *z, const void *data, size_t len, struct evbuffer *dst)
{
	z->out.next_in = (Bytef *)(uintptr_t)data;
	z->out.avail_in = (uInt)len;
	/* Z_SYNC_FLUSH is done when zlib leaves output space unused. */
	for (;;) {
		struct evbuffer_iovec ov;
		if (evbuffer_reserve_space(dst, COMPRESS_CHUNK, &ov, 1) < 1)
			return -1;
		size_t room = MIN(ov.iov_len, (size_t)COMPRESS_CHUNK);
		z->out.next_out = ov.iov_base;
		z->out.avail_out = (uInt)room;
		int r = deflate(&z->out, Z_SYNC_FLUSH);
		ov.iov_len = room - z->out.avail_out;
		evbuffer_commit_space(dst, &ov, 1);
		if (r != Z_OK && r != Z_BUF_ERROR)
			return -1;
		if (z->out.avail_out != 0 && z->out.avail_in == 0)
			return 0;
	}
}
