/* One client connection: its socket, its bufferevent (plain or TLS, and
 * the switch between them for STARTTLS) and the protocol session on top,
 * reached only through struct proto_ops. The session reaches back through
 * struct conn_io (core/proto.h). Every function runs on the connection's
 * worker thread. */
#include "net/net_internal.h"
#include "net/compress.h"
#include "net/tls.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/proto.h"
#include "core/util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct conn {
	struct worker *w;
	struct bufferevent *bev;
	evutil_socket_t fd;          /* owned here until a TLS bufferevent owns it */
	const struct net_listener *nl;
	const struct proto_ops *ops;
	void *sess;
	struct sockaddr_storage peer;
	char peer_str[64];
	bool tcp;
	bool tls;
	bool handshaking;            /* TLS bufferevent made, handshake not finished */
	bool starttls_pending;
	bool closing;
	bool paused;
	bool proxy_sniff;            /* proxy_from listener: first bytes not looked at yet */
	struct event *resume_ev;     /* processes input that arrived while paused */
	struct tls_hello hello;      /* what the client offered, for a failed handshake's log */
	struct conn *prev, *next;    /* worker's list of connections */
	struct compress *z;          /* COMPRESS=DEFLATE active (net/compress.c) */
	size_t m_listener;           /* metrics: the listener's index */
	unsigned m_tls;              /* metrics: its TLS label (0: none yet) */
};

/* Inflated input handed to the protocol per pass, and passes per read
 * event: a small compressed "bomb" costs this much memory at most, and a
 * large burst yields to the worker's other connections between events. */
#define CONN_INFLATE_CAP (256 * 1024)
#define CONN_INFLATE_PASSES 4

/* Input read ahead of the protocol at most (the read high watermark):
 * what a client that pipelines, or sends while its command runs, can make
 * the server hold. */
#define CONN_READ_MAX (256 * 1024)

void conn_free(struct conn *c)
{
	struct worker *w = c->w;
	if (c->sess)
		c->ops->free(c->sess);
	if (c->resume_ev)
		event_free(c->resume_ev);
	compress_free(c->z);
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->fd >= 0)
		evutil_closesocket(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	worker_conn_release(w, (struct sockaddr *)&c->peer);
	metrics_conn_close(c->m_listener, c->m_tls);
	free(c);
}

struct conn *conn_next(const struct conn *c)
{
	return c->next;
}

void conn_shutdown(struct conn *c)
{
	if (!c->closing && c->sess)
		c->ops->shutdown(c->sess);
}

static void conn_setup_bev(struct conn *c);

/* A TLS bufferevent over the socket; CLOSE_ON_FREE: it then owns both the
 * SSL and the socket. */
static bool conn_tls_bev(struct conn *c)
{
	SSL *ssl = tls_ssl_new(c->w->srv, &c->hello);
	if (!ssl)
		return false;
	c->bev = bufferevent_openssl_socket_new(c->w->base, c->fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		SSL_free(ssl);
		return false;
	}
	c->fd = -1;
	c->tls = true;
	c->handshaking = true;
	return true;
}

static void conn_start_tls(struct conn *c)
{
	/* RFC 9051 6.2.1 / 11.1: anything the client pipelined after
	 * STARTTLS was read in cleartext and must not be executed. */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_free(c->bev);
	c->bev = NULL;
	if (!conn_tls_bev(c)) {
		conn_free(c);
		return;
	}
	c->starttls_pending = false;
	conn_setup_bev(c);
}

/* The input just read left nothing to answer (a literal, part of a line):
 * acknowledge it now. A client with Nagle on (imaplib, mutt, imapfilter)
 * holds the CRLF after a synchronizing literal until the literal is ACKed,
 * and Linux would delay that ACK ~40 ms waiting for a reply to ride on,
 * once per APPEND. When output is queued the ACK rides on it anyway, so the
 * extra system call is paid only when it matters. TCP_QUICKACK is not
 * sticky: setting it sends the pending ACK now, which is all we need.
 * Measured (bench/loadgen -w imaptest --split-literal, one client, TLS):
 * without it APPEND p50 is 50-56 ms; with it 1.7-3.9 ms and no command
 * above 36 ms; setting it after every read instead gains nothing more
 * and costs 1.31 setsockopt per command against 0.78 (bench/README.md). */
static void conn_ack_now(struct conn *c)
{
	if (!c->tcp || !c->bev || c->closing || c->starttls_pending ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return;
	/* A complete command handed to a pool thread: its answer follows
	 * within milliseconds and carries the ACK; the client waits for it
	 * and holds nothing back meanwhile. Issue #14, tenth session: this
	 * was 0.7 of the 0.9 setsockopt per imaptest-like command. */
	if (c->ops->busy && c->ops->busy(c->sess))
		return;
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

/* On a listener with proxy_from, a PROXY header that did not come from
 * one of those addresses (or a second one after the balancer's) is a
 * client trying to choose its own address: closed. false when c is gone
 * or more bytes are needed to tell. */
static bool conn_proxy_sniff(struct conn *c, struct evbuffer *in)
{
	unsigned char b[16];
	size_t n = MIN(evbuffer_get_length(in), sizeof(b));
	evbuffer_copyout(in, b, n);
	int r = proxy_header_sniff(b, n);
	if (r < 0)
		return false;
	c->proxy_sniff = false;
	if (r == 0)
		return true;
	log_info("event=proxy_refused ip=%s listener=%s reason=\"PROXY header from an address not in "
		 "proxy_from\"", c->peer_str, c->nl->lc->name);
	conn_free(c);
	return false;
}

static bool conn_input_waiting(struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_input(c->bev)) > 0 ||
	       (c->z && compress_input_pending(c->z));
}

/* Compressed input: inflate a bounded amount, let the protocol consume
 * it, repeat while it does; what is left waits for the next event (a
 * read, or resume_ev when the protocol is paused or the passes ran out).
 * false when c is gone. */
static bool conn_input_inflated(struct conn *c)
{
	struct evbuffer *raw = bufferevent_get_input(c->bev);
	struct evbuffer *plain = compress_plain(c->z);
	for (int pass = 0; pass < CONN_INFLATE_PASSES; pass++) {
		if (compress_inflate(c->z, raw, CONN_INFLATE_CAP) < 0) {
			log_info("event=disconnect reason=bad_compressed_input ip=%s", c->peer_str);
			conn_free(c);
			return false;
		}
		size_t before = evbuffer_get_length(plain);
		if (before == 0)
			return true;
		c->ops->input(c->sess, plain);
		if (c->closing || c->paused || evbuffer_get_length(plain) == before)
			return true;
	}
	if (conn_input_waiting(c))
		event_active(c->resume_ev, EV_READ, 0);
	return true;
}

/* Hands input to the protocol, through the inflater once COMPRESS is on
 * (it may be switched on while the protocol reads: what follows the
 * command is then compressed). false when c is gone. */
static bool conn_input(struct conn *c)
{
	if (!c->z) {
		c->ops->input(c->sess, bufferevent_get_input(c->bev));
		if (!c->z || c->closing)
			return true;
	}
	return conn_input_inflated(c);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	/* Paused: the input waits for io_pause_read(false). */
	if (c->closing || c->starttls_pending || c->paused)
		return;
	if (c->proxy_sniff && !conn_proxy_sniff(c, bufferevent_get_input(bev)))
		return;
	if (conn_input(c))
		conn_ack_now(c);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	(void)bev;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return;
	if (c->closing) {
		conn_free(c);
		return;
	}
	if (c->starttls_pending) {
		conn_start_tls(c);
		return;
	}
	c->ops->drained(c->sess);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* TLS handshake finished. */
		c->handshaking = false;
		if (c->tls) {
			SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
			c->m_tls = metrics_conn_tls(c->m_listener, ssl ? SSL_get_version(ssl) : NULL);
			c->ops->tls_started(c->sess);
		}
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && c->paused && !c->closing) {
		/* A command is running: the client waits for it, not idle.
		 * libevent disabled reading on the timeout. */
		bufferevent_enable(c->bev, EV_READ);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && !c->closing) {
		c->ops->timeout(c->sess);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		if (c->handshaking && !c->closing) {
			metrics_tls_failed(c->m_listener);
			unsigned long e = (what & BEV_EVENT_ERROR) ? bufferevent_get_openssl_error(c->bev) : 0;
			tls_log_handshake_failed(c->peer_str, &c->hello, e,
						 (what & BEV_EVENT_EOF) ? "closed by client" : "error");
		} else if ((what & BEV_EVENT_ERROR) && c->tls) {
			unsigned long e = bufferevent_get_openssl_error(c->bev);
			/* A client closing without close_notify is routine. */
			if (e && ERR_GET_REASON(e) != SSL_R_UNEXPECTED_EOF_WHILE_READING) {
				char buf[160];
				ERR_error_string_n(e, buf, sizeof(buf));
				log_info("event=tls_error ip=%s error=\"%s\"", c->peer_str, buf);
			}
		}
		conn_free(c);
	}
}

/* metrics: what the socket (or TLS) layer added to the input and took
 * from the output, counted as it happens so a connection that lives for
 * days is counted while it lives. */
static void conn_in_counted(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
	(void)b;
	if (info->n_added)
		metrics_bytes_in(((struct conn *)arg)->m_listener, info->n_added);
}

static void conn_out_counted(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
	(void)b;
	if (info->n_deleted)
		metrics_bytes_out(((struct conn *)arg)->m_listener, info->n_deleted);
}

static void conn_setup_bev(struct conn *c)
{
	evbuffer_add_cb(bufferevent_get_input(c->bev), conn_in_counted, c);
	evbuffer_add_cb(bufferevent_get_output(c->bev), conn_out_counted, c);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_READ_MAX);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ---- struct conn_io ---- */

static void io_close(void *conn);

static void io_write(void *conn, const void *data, size_t len)
{
	struct conn *c = conn;
	if (!c->bev || c->closing)
		return;
	if (!c->z) {
		bufferevent_write(c->bev, data, len);
		return;
	}
	if (compress_deflate(c->z, data, len, bufferevent_get_output(c->bev)) < 0) {
		log_warn("event=compress_error ip=%s", c->peer_str);
		io_close(c);
	}
}

/* alloc: file bytes for the client (FETCH BODY[]). TLS must encrypt them
 * in user space, so they are read straight into the output buffer's free
 * space: one copy, from the page cache, and none through a buffer of the
 * session's. At least CONN_FILE_RESERVE is reserved at a time so the
 * buffer's chains stay large: the TLS bufferevent writes a record per
 * chain piece, and small pieces would mean small records. A plain socket
 * sends a large file with sendfile(): no copy in user space at all, but
 * each queued file holds a descriptor until sent, so only files of
 * CONN_SENDFILE_MIN and up go that way (a full output buffer then holds
 * a handful). COMPRESS deflates the bytes chunk by chunk. */
#define CONN_FILE_CHUNK (256 * 1024)
#define CONN_FILE_RESERVE (64 * 1024)
#define CONN_SENDFILE_MIN (256 * 1024)

static SSL *conn_ssl(struct conn *c);

/* Reads exactly n bytes at off: 0, or -1 (a short file is EIO). */
static int conn_pread_all(int fd, void *buf, size_t n, uint64_t off)
{
	char *p = buf;
	while (n > 0) {
		ssize_t got = pread(fd, p, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = EIO;
			return -1;
		}
		p += got;
		off += (uint64_t)got;
		n -= (size_t)got;
	}
	return 0;
}

static bool conn_sendfile(struct conn *c, struct evbuffer *out, int fd, uint64_t off, size_t len)
{
	if (c->z || conn_ssl(c) || len < CONN_SENDFILE_MIN)
		return false;
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return false;  /* no descriptor to spare: read it instead */
	struct evbuffer_file_segment *seg =
		evbuffer_file_segment_new(dfd, (ev_off_t)off, (ev_off_t)len, EVBUF_FS_CLOSE_ON_FREE);
	if (!seg) {
		close(dfd);
		return false;
	}
	int r = evbuffer_add_file_segment(out, seg, 0, (ev_off_t)len);
	evbuffer_file_segment_free(seg);  /* the buffer holds its own reference */
	return r == 0;
}

/* One chunk read into the output buffer's free space, committed only
 * when it was read whole. */
static int conn_read_into(struct evbuffer *out, int fd, uint64_t off, size_t n)
{
	/* One contiguous vector: the tail of a small last chain plus a new
	 * one would split records there. */
	struct evbuffer_iovec v[1];
	int nv = evbuffer_reserve_space(out, (ev_ssize_t)MAX(n, (size_t)CONN_FILE_RESERVE), v, 1);
	if (nv <= 0)
		return -1;
	int used = 0;
	for (int i = 0; i < nv && n > 0; i++, used++) {
		size_t k = MIN(v[i].iov_len, n);
		if (conn_pread_all(fd, v[i].iov_base, k, off) < 0)
			return -1;
		v[i].iov_len = k;
		off += k;
		n -= k;
	}
	return n == 0 && evbuffer_commit_space(out, v, used) == 0 ? 0 : -1;
}

static int io_write_file(void *conn, int fd, uint64_t off, size_t len)
{
	struct conn *c = conn;
	if (!c->bev || c->closing || len == 0)
		return 0;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (conn_sendfile(c, out, fd, off, len))
		return 0;
	char *zbuf = c->z ? xmalloc(MIN(len, (size_t)CONN_FILE_CHUNK)) : NULL;
	int r = 0;
	for (size_t done = 0; done < len && r == 0;) {
		size_t n = MIN(len - done, (size_t)CONN_FILE_CHUNK);
		if (!c->z) {
			r = conn_read_into(out, fd, off + done, n);
		} else if ((r = conn_pread_all(fd, zbuf, n, off + done)) == 0 &&
			   compress_deflate(c->z, zbuf, n, out) < 0) {
			log_warn("event=compress_error ip=%s", c->peer_str);
			io_close(c);
			r = 0;  /* closed already: nothing more to do */
			break;
		}
		done += n;
	}
	free(zbuf);
	return r;
}

static size_t io_pending(void *conn)
{
	struct conn *c = conn;
	return c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
}

static void io_starttls(void *conn)
{
	struct conn *c = conn;
	c->starttls_pending = true;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_start_tls(c);
}

/* RFC 4978 3: everything written from now on is compressed, and every
 * byte still unread (the client may have sent its next command already)
 * belongs to the compressed stream: it is held for the inflater, which
 * conn_input() runs once the protocol returns. */
static bool io_compress(void *conn)
{
	struct conn *c = conn;
	if (c->z || !c->bev || c->closing || c->starttls_pending)
		return false;
	c->z = compress_new();
	if (!c->z)
		return false;
	compress_hold(c->z, bufferevent_get_input(c->bev));
	return true;
}

static void close_later_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_free(arg);
}

static void io_close(void *conn)
{
	struct conn *c = conn;
	if (c->closing)
		return;
	c->closing = true;
	if (c->handshaking) {
		metrics_tls_failed(c->m_listener);
		tls_log_handshake_failed(c->peer_str, &c->hello, 0, "closed by server (timeout)");
		/* Nothing written can reach a client that never finished the
		 * TLS handshake (one stalling it on purpose included): drop the
		 * socket now rather than wait for a flush that cannot happen. */
		bufferevent_free(c->bev);
		c->bev = NULL;
		struct timeval zero = { 0, 0 };
		event_base_once(c->w->base, -1, EV_TIMEOUT, close_later_cb, c, &zero);
		return;
	}
	bufferevent_disable(c->bev, EV_READ);
	/* Give a client that does not read its goodbye a bounded time. */
	struct timeval tv = { 10, 0 };
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		struct timeval zero = { 0, 0 };
		event_base_once(c->w->base, -1, EV_TIMEOUT, close_later_cb, c, &zero);
	}
}

static void conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (c->bev && !c->closing && !c->starttls_pending && !c->paused && conn_input(c))
		conn_ack_now(c);
}

/* Pausing reads costs no system call (sessx, issue #14). Disabling
 * EV_READ around every work-pool job and enabling it after (with an
 * EV_CLOSED watch in between to see a hang-up) cost ~4.7 epoll_ctl a
 * command of the `sessions` mix. Now EV_READ stays on and what arrives
 * while paused waits in the input buffer, unparsed (conn_read_cb): the
 * buffer's read high watermark (CONN_READ_MAX) stops reading from the
 * socket when reached, so a client that pipelines still cannot make the
 * server buffer more than that; a hang-up is the EOF of such a read and
 * frees the session at once, as the EV_CLOSED watch did (a password
 * check queued for it is dropped unrun, imap/cmd_pool.c). */
static void io_pause_read(void *conn, bool pause)
{
	struct conn *c = conn;
	c->paused = pause;
	if (pause || !c->bev || c->closing || c->starttls_pending)
		return;
	if (!(bufferevent_get_enabled(c->bev) & EV_READ))
		bufferevent_enable(c->bev, EV_READ);
	/* Input that arrived while paused raises no new read event: process
	 * it from the loop, not from inside the caller. */
	if (conn_input_waiting(c))
		event_active(c->resume_ev, EV_READ, 0);
}

static void io_set_timeout(void *conn, unsigned seconds)
{
	struct conn *c = conn;
	struct timeval tv = { (time_t)seconds, 0 };
	if (c->bev)
		bufferevent_set_timeouts(c->bev, &tv, &tv);
}

static SSL *conn_ssl(struct conn *c)
{
	if (!c->tls || c->handshaking || !c->bev)
		return NULL;
	return bufferevent_openssl_get_ssl(c->bev);
}

/* RFC 9266 2: 32 bytes exported with the label "EXPORTER-Channel-Binding"
 * and no context, defined for TLS 1.3 only. RFC 5929 4.1: the hash of the
 * server certificate, with its signature's hash (SHA-256 for MD5/SHA-1). */
static long io_tls_channel_binding(void *conn, const char *type, unsigned char *out, size_t cap)
{
	SSL *ssl = conn_ssl(conn);
	if (!ssl || !type)
		return -1;
	if (strcmp(type, "tls-exporter") == 0) {
		static const char label[] = "EXPORTER-Channel-Binding";
		if (SSL_version(ssl) < TLS1_3_VERSION || cap < 32)
			return -1;
		if (SSL_export_keying_material(ssl, out, 32, label, sizeof(label) - 1, NULL, 0, 0) != 1)
			return -1;
		return 32;
	}
	if (strcmp(type, "tls-server-end-point") == 0) {
		X509 *cert = SSL_get_certificate(ssl);
		if (!cert)
			return -1;
		int md_nid = NID_undef;
		if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, NULL))
			return -1;
		const EVP_MD *md = (md_nid == NID_md5 || md_nid == NID_sha1 || md_nid == NID_undef)
					   ? EVP_sha256()
					   : EVP_get_digestbynid(md_nid);
		unsigned int n = 0;
		unsigned char buf[EVP_MAX_MD_SIZE];
		if (!md || X509_digest(cert, md, buf, &n) != 1 || n > cap)
			return -1;
		memcpy(out, buf, n);
		return (long)n;
	}
	return -1;
}

static bool io_tls_describe(void *conn, const char **version, const char **cipher)
{
	SSL *ssl = conn_ssl(conn);
	if (!ssl)
		return false;
	*version = SSL_get_version(ssl);
	*cipher = SSL_get_cipher_name(ssl);
	return true;
}

static const struct conn_io conn_io_ops = {
	.write = io_write,
	.pending = io_pending,
	.starttls = io_starttls,
	.close = io_close,
	.pause_read = io_pause_read,
	.set_timeout = io_set_timeout,
	.tls_channel_binding = io_tls_channel_binding,
	.tls_describe = io_tls_describe,
	.compress = io_compress,
	.write_file = io_write_file, /* alloc */
};

void conn_open(struct worker *w, const struct net_listener *nl, evutil_socket_t fd,
	       const struct sockaddr *sa, socklen_t salen, const char *peer)
{
	const struct listener_config *lc = nl->lc;
	const struct config *cfg = w->srv->cfg;
	struct conn *c = xcalloc(1, sizeof(*c));
	c->w = w;
	c->fd = fd;
	c->nl = nl;
	c->ops = nl->proto->ops;
	c->m_listener = (size_t)(nl - w->srv->listeners);
	metrics_conn_open(c->m_listener);
	c->tcp = sa->sa_family == AF_INET || sa->sa_family == AF_INET6;
	memcpy(&c->peer, sa, MIN((size_t)salen, sizeof(c->peer)));
	snprintf(c->peer_str, sizeof(c->peer_str), "%s", peer);
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	if (c->tcp) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	c->resume_ev = event_new(w->base, -1, 0, conn_resume_cb, c);
	c->proxy_sniff = lc->proxy_from.n > 0;

	if (lc->tls == LISTENER_TLS_IMPLICIT) {
		if (!conn_tls_bev(c)) {
			conn_free(c);
			return;
		}
	} else {
		c->bev = bufferevent_socket_new(w->base, fd, 0);
		if (!c->bev) {
			conn_free(c);
			return;
		}
	}
	struct conn_info info = {
		.tls = c->tls,
		.starttls_offered = lc->tls == LISTENER_TLS_STARTTLS,
		/* A unix socket is not TLS and has no address: it counts as
		 * trusted only when the admin marked the listener so. */
		.trusted = c->tcp ? cidr_list_match(&cfg->trusted_networks, sa) : lc->trusted,
		.peer = c->peer_str,
		.listener = lc->name,
		.base = w->base,
	};
	conn_setup_bev(c);
	log_debug("event=connect ip=%s listener=%s", c->peer_str, lc->name);
	c->sess = c->ops->open(nl->proto->arg, &conn_io_ops, c, &info);
	if (!c->sess)
		conn_free(c);
}
