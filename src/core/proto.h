/* The seam between the network layer and the protocols it carries.
 *
 * net/ owns sockets, TLS, workers and limits and knows no protocol; a
 * protocol (imap/, lmtp/) owns what the bytes mean and never
 * touches a socket. They meet through the two tables below, declared here
 * because both layers may include core/ and neither may include the other
 * (scripts/check-layers.py). The composition root (src/app/) hands each
 * listener its protocol's table; nginx's ngx_mail_protocol_t is the model.
 *
 * Every call in both directions happens on the connection's worker thread. */
#ifndef RAMPART_CORE_PROTO_H
#define RAMPART_CORE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct event_base;

/* What the network layer does for a session. `conn` is its opaque handle,
 * valid until the protocol's free() returns. */
struct conn_io {
	/* Queues bytes for the client. */
	void (*write)(void *conn, const void *data, size_t len);
	/* Bytes queued but not yet handed to the kernel/TLS. */
	size_t (*pending)(void *conn);
	/* Discard buffered input, flush what is queued, then start the TLS
	 * handshake; tls_started() follows (RFC 9051 6.2.1, RFC 2595). */
	void (*starttls)(void *conn);
	/* Flush what is queued (bounded in time), then close; free() follows
	 * from the event loop, never from inside this call. */
	void (*close)(void *conn);
	/* Stop/resume reading input (back-pressure and asynchronous work). */
	void (*pause_read)(void *conn, bool pause);
	/* Inactivity timeout in seconds; timeout() fires when it expires. */
	void (*set_timeout)(void *conn, unsigned seconds);
	/* TLS channel binding data (RFC 5929, RFC 9266) for SCRAM-PLUS:
	 * type "tls-exporter" (TLS 1.3 only) or "tls-server-end-point".
	 * Returns its length (<= cap), or -1 when there is no TLS, the type
	 * is unknown or does not apply to the negotiated version. May be NULL. */
	long (*tls_channel_binding)(void *conn, const char *type, unsigned char *out, size_t cap);
	/* The negotiated TLS version and cipher ("TLSv1.3",
	 * "TLS_AES_256_GCM_SHA384"), for logs; false without TLS. May be NULL. */
	bool (*tls_describe)(void *conn, const char **version, const char **cipher);
	/* COMPRESS=DEFLATE (RFC 4978): from the next byte on, both directions
	 * are raw DEFLATE, over TLS when TLS is on; unread input is taken as
	 * compressed. Call after queueing the last clear response. False when
	 * already on or out of memory. May be NULL. */
	bool (*compress)(void *conn);
	/* alloc: queues len bytes of file fd from offset off, after what is
	 * queued, without the caller holding them in memory: read straight
	 * into the output buffer (TLS, COMPRESS) or sent by sendfile (plain).
	 * fd stays the caller's. 0, or -1 when the file could not be read:
	 * part of the bytes may be queued, so the caller must close. May be
	 * NULL (write() the bytes then). */
	int (*write_file)(void *conn, int fd, uint64_t off, size_t len);
};

/* What the network layer knows about a new connection. */
struct conn_info {
	bool tls;                   /* TLS active now (implicit TLS) */
	bool starttls_offered;      /* a STARTTLS listener */
	bool trusted;               /* trusted_networks, or a unix listener marked trusted */
	const char *peer;           /* "ip" or "unix", for logs */
	const char *listener;       /* listener name, for logs */
	struct event_base *base;    /* the worker's event loop */
};

/* A protocol, as a listener sees it. `arg` is the protocol's own context,
 * given with the table by the composition root; `sess` is what open()
 * returned. */
struct proto_ops {
	const char *name;
	/* A connection was accepted: create the session and greet. NULL
	 * refuses the connection. */
	void *(*open)(void *arg, const struct conn_io *io, void *conn, const struct conn_info *info);
	/* New input is in `in`; the session removes what it consumes. */
	void (*input)(void *sess, struct evbuffer *in);
	/* All queued output has been sent. */
	void (*drained)(void *sess);
	/* The TLS handshake finished (implicit TLS or after starttls()). */
	void (*tls_started)(void *sess);
	/* The inactivity timeout fired. */
	void (*timeout)(void *sess);
	/* The server is stopping: say goodbye, then close(). A command that
	 * is running may finish first (goodbye and close() follow it); a
	 * second call means the drain's time is up: go now. */
	void (*shutdown)(void *sess);
	/* The connection is gone: release the session. */
	void (*free)(void *sess);
	/* True while the session works on a complete command (a pool job)
	 * and wants no input until it answers: the answer will carry the TCP
	 * ACK of what was read, so none is sent on its own. May be NULL. */
	bool (*busy)(void *sess);
};

#endif
