/* Rampart's metrics: the catalogue of what the server measures (names,
 * labels, buckets, all documented in docs/operations.md) and the calls
 * each layer makes to record it. Every label value comes from a fixed set
 * given at metrics_init (listener names from the config, command names
 * from the IMAP command table, mechanisms from the SASL table) or from an
 * enum here; anything else is counted as "other", never as what a client
 * sent. Before metrics_init (tools, unit tests) every call does nothing.
 * Recording is lock-free and allocation-free (core/prom.h). */
#ifndef RAMPART_CORE_METRICS_H
#define RAMPART_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct strbuf;

/* The label values known at startup. */
struct metrics_names {
	const char *const *listeners;
	size_t nlisteners;
	const char *const *commands;   /* the IMAP command table, in order */
	size_t ncommands;
	const char *const *mechs;      /* the SASL mechanisms */
	size_t nmechs;
};

/* Registers every family; call once, before the threads that record. */
void metrics_init(const struct metrics_names *names);
/* The version rampart_build_info and `rampart stats` show (main.c). */
void metrics_set_version(const char *version);

/* A monotonic clock in nanoseconds, for the latencies below. */
uint64_t metrics_now_ns(void);

/* ---- net/ (listener: index in the config's listeners) ---- */
/* A connection was accepted: counted, and open without TLS. */
void metrics_conn_open(size_t listener);
/* Its TLS handshake finished with `version` ("TLSv1.3", ...): it moves
 * to that version's open gauge. Returns the TLS label index to hand to
 * metrics_conn_close. */
unsigned metrics_conn_tls(size_t listener, const char *version);
void metrics_tls_failed(size_t listener);
/* tls: 0 without TLS, else what metrics_conn_tls returned. */
void metrics_conn_close(size_t listener, unsigned tls);
/* Bytes read from and written to a connection (after TLS, before
 * COMPRESS: what crossed the socket, less the TLS framing). */
void metrics_bytes_in(size_t listener, uint64_t n);
void metrics_bytes_out(size_t listener, uint64_t n);

/* ---- auth/ ---- */
/* One decided authentication (auth/audit.c): result ok|fail|locked|
 * refused, mechanism by name. */
void metrics_login(const char *result, const char *mech);
/* A policy engine event: type "lockout" or "spraying"; scope "source",
 * "prefix", "user" or "user_source". */
void metrics_policy_event(const char *type, const char *scope);

/* ---- imap/ ---- */
/* No command (unknown, or a line that did not parse). */
#define METRICS_CMD_OTHER SIZE_MAX
/* A tagged reply ended the command of table index `cmd`: status "OK",
 * "NO" or "BAD", started at metrics_now_ns() `start_ns`. */
void metrics_command(size_t cmd, const char *status, uint64_t start_ns);
/* The job of command `cmd` (its store phase; LOGIN's password check)
 * ran on a work-pool thread for `ns`. */
void metrics_pool_job(size_t cmd, uint64_t ns);
/* A command was refused with [OVERQUOTA]. */
void metrics_quota_refused(void);

/* ---- lmtp/ (called from the LMTP session at merge time) ---- */
enum metrics_delivery {
	METRICS_DELIVERY_OK,          /* 250: durable */
	METRICS_DELIVERY_OVERQUOTA,   /* 452 4.2.2 */
	METRICS_DELIVERY_NOUSER,      /* 550 5.1.1 */
	METRICS_DELIVERY_ERROR,       /* 451 4.3.0: a store error */
	METRICS_DELIVERY_REJECTED,    /* refused otherwise: size, syntax */
	METRICS_DELIVERY__COUNT
};
/* One recipient's outcome. */
void metrics_delivery(enum metrics_delivery result);

/* ---- store/ (durable, issue #14) ---- */
enum metrics_fsync {
	METRICS_FSYNC_COMMIT,        /* a write transaction synced before its answer */
	METRICS_FSYNC_METADATA,      /* the syncer: one WAL sync for deferred commits */
	METRICS_FSYNC_METADATA_DIR,  /* the syncer: a WAL's directory entry */
	METRICS_FSYNC__COUNT
};
void metrics_store_fsync(enum metrics_fsync kind);

/* ---- reading ---- */
/* Everything, in the Prometheus text format 0.0.4. */
void metrics_render(struct strbuf *out);
/* The summary `rampart stats` prints: human text, or one JSON object. */
void metrics_summary(struct strbuf *out, int json);

/* ---- authcache (issue #14): the authentication cache (auth/authcache.c) ---- */
/* One password check that asked the cache: hit (nonzero) or miss. */
void metrics_auth_cache(int hit);
/* The cache's entry count changed by delta. */
void metrics_auth_cache_entries(int64_t delta);

#endif
