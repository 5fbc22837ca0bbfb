/* LMTP as a protocol of the network layer (struct proto_ops in
 * core/proto.h): the table a listener with `protocol = lmtp` uses. LMTP
 * has no STARTTLS here (config refuses tls != none on its listeners), so
 * tls_started never comes. */
#include "lmtp/lmtp.h"
#include "lmtp/lmtp_internal.h"
#include "core/proto.h"

static void *lmtp_proto_open(void *arg, const struct conn_io *io, void *conn,
			     const struct conn_info *ci)
{
	return lmtp_session_new(arg, io, conn, ci);
}

static void lmtp_proto_input(void *sess, struct evbuffer *in)
{
	lmtp_session_input(sess, in);
}

static void lmtp_proto_drained(void *sess)
{
	lmtp_session_drained(sess);
}

static void lmtp_proto_tls_started(void *sess)
{
	(void)sess;
}

static void lmtp_proto_timeout(void *sess)
{
	lmtp_session_timeout(sess);
}

static void lmtp_proto_shutdown(void *sess)
{
	lmtp_session_shutdown(sess);
}

static void lmtp_proto_free(void *sess)
{
	lmtp_session_free(sess);
}

const struct proto_ops lmtp_proto_ops = {
	.name = "lmtp",
	.open = lmtp_proto_open,
	.input = lmtp_proto_input,
	.drained = lmtp_proto_drained,
	.tls_started = lmtp_proto_tls_started,
	.timeout = lmtp_proto_timeout,
	.shutdown = lmtp_proto_shutdown,
	.free = lmtp_proto_free,
};
