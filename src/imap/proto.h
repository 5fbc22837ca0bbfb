/* IMAP as a protocol of the network layer: the struct proto_ops
 * (core/proto.h) a listener with `protocol = imap` uses. */
#ifndef RAMPART_IMAP_PROTO_H
#define RAMPART_IMAP_PROTO_H

#include <stddef.h>

struct config;
struct oauth;
struct passdb;
struct proto_ops;

/* What every IMAP session of the server shares; the `arg` of the ops. */
struct imap_proto {
	const struct config *cfg;   /* for new sessions; swapped atomically on SIGHUP */
	struct passdb *passdb;      /* thread-safe, shared */
	struct oauth *oauth;        /* thread-safe; NULL: no OAUTHBEARER/XOAUTH2 (auth/oauth.h) */
};

extern const struct proto_ops imap_proto_ops;

/* metrics: the name of the command table's row i, NULL past the end
 * (imap/commands.c): the label values of the command metrics. */
const char *imap_cmd_name_at(size_t i);

#endif
