/* IMAP as a protocol of the network layer (struct proto_ops in
 * core/proto.h): creates the session over the connection's struct conn_io
 * and adds the one thing a session needs beyond bytes: after login it
 * joins its thread's notification registry (notify.c), and leaves it when
 * freed; it also counts the user's sessions (auth/policy.c,
 * max_sessions_per_user). */
#include "imap/proto.h"
#include "imap/notify.h"
#include "imap/session.h"
#include "imap/who.h"
#include "auth/policy.h"
#include "core/proto.h"
#include "core/util.h"

#include <event2/buffer.h>
#include <stdlib.h>

/* One IMAP connection: the session and what the adapter adds to it. */
struct imap_proto_conn {
	struct imap_session *sess;
	struct imap_notify_entry notify;
	char *user;                 /* logged in: counted in policy_session_open() */
	struct imap_who_entry who;  /* status: rampart who/kick (imap/who.c) */
};

/* The session logged in: route that user's changes to it. */
static void pc_logged_in(void *arg, struct imap_session *sess, const char *user)
{
	struct imap_proto_conn *p = arg;
	imap_notify_register(&p->notify, sess, user);
	if (!p->user) {
		p->user = xstrdup(user);
		policy_session_open(user);
		imap_who_login(&p->who);
	}
}

static void *imap_proto_open(void *arg, const struct conn_io *io, void *conn,
			     const struct conn_info *ci)
{
	const struct imap_proto *ip = arg;
	struct imap_proto_conn *p = xcalloc(1, sizeof(*p));
	struct imap_conn_info info = {
		.tls = ci->tls,
		.starttls_offered = ci->starttls_offered,
		.trusted = ci->trusted,
		.peer = ci->peer,
		.listener = ci->listener,
		/* lifecycle: a SIGHUP may swap it (app/reload.c) */
		.cfg = __atomic_load_n(&ip->cfg, __ATOMIC_ACQUIRE),
		.base = ci->base,
		.passdb = ip->passdb,
		.oauth = ip->oauth,
		.logged_in = pc_logged_in,
		.logged_in_arg = p,
	};
	/* The session talks to the connection directly. */
	p->sess = imap_session_new(io, conn, &info);
	imap_who_join(&p->who, p->sess);
	imap_session_start(p->sess);
	return p;
}

static void imap_proto_input(void *pc, struct evbuffer *in)
{
	struct imap_proto_conn *p = pc;
	size_t before = evbuffer_get_length(in);
	imap_session_input(p->sess, in);
	size_t after = evbuffer_get_length(in);
	p->who.bytes_in += before > after ? before - after : 0;
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
	imap_who_leave(&p->who);
	imap_session_free(p->sess);
	imap_notify_unregister(&p->notify);
	if (p->user) {
		policy_session_close(p->user);
		free(p->user);
	}
	free(p);
}

static bool imap_proto_busy(void *pc)
{
	return imap_session_busy(((struct imap_proto_conn *)pc)->sess);
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
	.busy = imap_proto_busy,
};
