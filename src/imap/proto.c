/* The adapter between the protocol-neutral connection (struct conn_io,
 * struct proto_ops in core/proto.h) and the IMAP session (struct
 * imap_io_ops in session.h). It adds the one thing a session needs beyond
 * bytes: after login it joins its thread's notification registry
 * (notify.c), and leaves it when freed. */
#include "imap/proto.h"
#include "imap/notify.h"
#include "imap/session.h"
#include "core/proto.h"
#include "core/util.h"

#include <stdlib.h>

/* One IMAP connection: the session and what the adapter adds to it. It is
 * the `conn` handle the session passes back to imap_io_ops. */
struct imap_proto_conn {
	const struct conn_io *io;
	void *conn;
	struct imap_session *sess;
	struct imap_notify_entry notify;
};

static void pc_write(void *pc, const void *data, size_t len)
{
	struct imap_proto_conn *p = pc;
	p->io->write(p->conn, data, len);
}

static size_t pc_pending(void *pc)
{
	struct imap_proto_conn *p = pc;
	return p->io->pending(p->conn);
}

static void pc_starttls(void *pc)
{
	struct imap_proto_conn *p = pc;
	p->io->starttls(p->conn);
}

static void pc_close(void *pc)
{
	struct imap_proto_conn *p = pc;
	p->io->close(p->conn);
}

static void pc_pause_read(void *pc, bool pause)
{
	struct imap_proto_conn *p = pc;
	p->io->pause_read(p->conn, pause);
}

static void pc_set_timeout(void *pc, unsigned seconds)
{
	struct imap_proto_conn *p = pc;
	p->io->set_timeout(p->conn, seconds);
}

static void pc_logged_in(void *pc, const char *user)
{
	struct imap_proto_conn *p = pc;
	imap_notify_register(&p->notify, p->sess, user);
}

static const struct imap_io_ops pc_io_ops = {
	.write = pc_write,
	.pending = pc_pending,
	.starttls = pc_starttls,
	.close = pc_close,
	.pause_read = pc_pause_read,
	.set_timeout = pc_set_timeout,
	.logged_in = pc_logged_in,
};

static void *imap_proto_open(void *arg, const struct conn_io *io, void *conn,
			     const struct conn_info *ci)
{
	const struct imap_proto *ip = arg;
	struct imap_proto_conn *p = xcalloc(1, sizeof(*p));
	p->io = io;
	p->conn = conn;
	struct imap_conn_info info = {
		.tls = ci->tls,
		.starttls_offered = ci->starttls_offered,
		.trusted = ci->trusted,
		.peer = ci->peer,
		.listener = ci->listener,
		.cfg = ip->cfg,
		.base = ci->base,
		.passdb = ip->passdb,
	};
	p->sess = imap_session_new(&pc_io_ops, p, &info);
	imap_session_start(p->sess);
	return p;
}

static void imap_proto_input(void *pc, struct evbuffer *in)
{
	imap_session_input(((struct imap_proto_conn *)pc)->sess, in);
}

static void imap_proto_drained(void *pc)
{
	imap_session_drained(((struct imap_proto_conn *)pc)->sess);
}

static void imap_proto_tls_started(void *pc)
{
	imap_session_tls_started(((struct imap_proto_conn *)pc)->sess);
}

static void imap_proto_timeout(void *pc)
{
	imap_session_timeout(((struct imap_proto_conn *)pc)->sess);
}

static void imap_proto_shutdown(void *pc)
{
	imap_session_shutdown(((struct imap_proto_conn *)pc)->sess);
}

static void imap_proto_free(void *pc)
{
	struct imap_proto_conn *p = pc;
	imap_session_free(p->sess);
	imap_notify_unregister(&p->notify);
	free(p);
}

const struct proto_ops imap_proto_ops = {
	.name = "imap",
	.open = imap_proto_open,
	.input = imap_proto_input,
	.drained = imap_proto_drained,
	.tls_started = imap_proto_tls_started,
	.timeout = imap_proto_timeout,
	.shutdown = imap_proto_shutdown,
	.free = imap_proto_free,
};
