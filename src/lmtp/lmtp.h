/* LMTP (RFC 2033) as the second protocol of the network layer: the
 * struct proto_ops a listener with `protocol = lmtp` uses, and the
 * delivery counters the composition root can export. */
#ifndef RAMPART_LMTP_LMTP_H
#define RAMPART_LMTP_LMTP_H

struct config;
struct event_base;
struct passdb;
struct proto_ops;

/* What every LMTP session of the server shares; the `arg` of the ops. */
struct lmtp_proto {
	const struct config *cfg;
	struct passdb *passdb;      /* thread-safe, shared */
	/* newmsg: told (on a pool thread) that user has new messages, whose
	 * search entries are left to it (the composition root passes the
	 * background indexer); NULL: left to the next SEARCH. */
	void (*new_mail)(struct event_base *base, const char *user);
};

extern const struct proto_ops lmtp_proto_ops;

/* Deliveries since the start, by result (one per recipient of a
 * message), and the group commit's work: commits are store
 * transactions, each holding committed_messages / commits messages on
 * average. Read with lmtp_counters_get(); metrics wire in here. */
struct lmtp_counters {
	unsigned long delivered;      /* 250 2.0.0 */
	unsigned long over_quota;     /* 452 4.2.2 */
	unsigned long store_error;    /* 451 4.3.0 */
	unsigned long unknown_user;   /* 550 5.1.1 at RCPT */
	unsigned long too_big;        /* 552 5.3.4, per recipient */
	unsigned long refused;        /* other per-recipient refusals after DATA (bad data) */
	unsigned long commits;        /* store transactions of the group commit */
	unsigned long committed_messages; /* messages in them */
};

void lmtp_counters_get(struct lmtp_counters *out);

#endif
