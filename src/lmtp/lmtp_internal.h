/* Private to src/lmtp/: the session (session.c), the delivery of one
 * message to its recipients (deliver.c) and the group commit that
 * gathers concurrent deliveries of one user into one store transaction
 * (commit.c). */
#ifndef RAMPART_LMTP_INTERNAL_H
#define RAMPART_LMTP_INTERNAL_H

#include "core/workpool.h"
#include "lmtp/lmtp.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn_io;
struct conn_info;
struct evbuffer;
struct lmtp_session;
struct lmtp_txn;

/* One recipient's copy of a message. */
struct lmtp_delivery {
	char *user;                 /* the passdb/store user */
	char *mailbox;              /* "INBOX" or the +detail folder (falls back to INBOX) */
	int result;                 /* STORE_OK or a STORE_E* code */
	char blob[65];              /* made durable ahead (store_msg_prepare), "" if not */
	struct lmtp_txn *txn;
	struct lmtp_delivery *next; /* in its user's commit queue */
};

/* One message accepted by DATA or BDAT LAST, delivered to every
 * recipient. Owned by the session until submitted, then by the commit
 * queue until done() runs on the session's worker. */
struct lmtp_txn {
	struct workpool_job wp;     /* done() posted when the last delivery finished */
	struct lmtp_session *sess;  /* NULL once the session is gone */
	int fd;                     /* the unlinked spool holding exactly the message */
	uint64_t len;
	struct lmtp_delivery *d;    /* in RCPT order */
	size_t nd;
	atomic_size_t left;         /* deliveries not yet committed */
	/* The message's cached structure, computed once by the first
	 * committer (mail/ parsers), shared by every recipient. */
	pthread_mutex_t cache_lock;
	bool cached;
	char *envelope, *bodystructure, *body, *preview;
};

/* Frees the spool, the cache and the deliveries. */
void lmtp_txn_free(struct lmtp_txn *t);

/* Hands each delivery to its user's commit queue; t->wp.done runs on
 * t->wp.base once all are committed (inline when no work pool runs). */
void lmtp_commit_submit(struct lmtp_txn *t);
/* [lmtp] group_commit: false commits every delivery in a job of its own.
 * Set before serving. */
void lmtp_commit_set_grouping(bool on);
/* newmsg: lmtp_proto.new_mail, called after each user's commits. */
void lmtp_commit_set_new_mail(void (*fn)(struct event_base *base, const char *user));

/* Counters (lmtp.h), incremented by the session and the committer. */
enum lmtp_counter {
	LMTP_C_DELIVERED, LMTP_C_OVER_QUOTA, LMTP_C_STORE_ERROR, LMTP_C_UNKNOWN_USER,
	LMTP_C_TOO_BIG, LMTP_C_REFUSED, LMTP_C_COMMITS, LMTP_C_COMMITTED, LMTP_C__COUNT
};
void lmtp_count(enum lmtp_counter c, unsigned long n);

/* The session over a connection (proto.c adapts it to struct proto_ops). */
struct lmtp_session *lmtp_session_new(const struct lmtp_proto *lp, const struct conn_io *io,
				      void *conn, const struct conn_info *info);
void lmtp_session_input(struct lmtp_session *s, struct evbuffer *in);
void lmtp_session_timeout(struct lmtp_session *s);
void lmtp_session_shutdown(struct lmtp_session *s);
void lmtp_session_drained(struct lmtp_session *s);
void lmtp_session_free(struct lmtp_session *s);

#endif
