/* The configuration file (INI, parsed with libinih) and the immutable
 * snapshot the server runs on. See docs/configuration.md for every key.
 *
 *   [server]      workers, mail_root, users_file, user, group, log_file, log_level, pid_file,
 *                 state_dir, shutdown_timeout
 *   [tls]         cert, key, min_version (TLSv1.2|TLSv1.3), ciphers, ciphersuites,
 *                 session_tickets, ticket_key_lifetime
 *   [certificate NAME]  names, cert, key (SNI: more certificates than [tls]'s)
 *   [listener NAME]  address (host:port or unix:PATH), tls (starttls|implicit|none),
 *                 protocol (imap), allow_from, proxy_from, and for unix listeners
 *                 unix_mode, unix_owner, unix_group, trusted
 *   [security]    trusted_networks, auth_fail_delay_ms, allow_plaintext_auth,
 *                 proxy_timeout
 *   [limits]      max_line, max_literal, max_message_size, max_connections,
 *                 max_connections_per_ip, max_output_buffer, idle_timeout,
 *                 preauth_timeout, login_timeout, max_preauth_literal,
 *                 max_mailboxes, max_mailbox_name,
 *                 max_notify_mailboxes, max_notify_events (notify)
 *                 max_mailboxes, max_mailbox_name, max_search_contexts
 *   [auth]        mechanisms, cache_ttl, cache_size
 *   [oauth]       jwks_file, issuer, audience, username_claim, leeway, algorithms,
 *                 scope, openid_configuration (auth/oauth.h)
 *   [passwords]   min_length, pwquality, breached_file, upgrade_on_login
 *   [policy]      lockout_*, spray_users, prefix_failures, user_failures, delay_*,
 *                 breaker_failures_per_s, table_size, max_queued_checks,
 *                 max_sessions_per_user, connection_reserve_percent, save_interval
 *   [alerts]      webhook_url, command, geoip_database, travel_speed_kmh,
 *                 download_window, download_factor, download_floor,
 *                 download_spike_action, download_throttle_rate, alert_interval
 *   [store]       expunged_history_days, metadata_sync_delay_ms, write_threads,
 *                 background_threads, background_nice, pool_sched_batch,
 *                 index_delay_ms, index_batch
 *   [quota]       storage, messages, mailboxes, admins
 *   [namespace]   other_users_prefix, shared_prefix, public_owner (imap/namespace.c)
 *   [metadata]    max_value_size, max_entries, max_total_size, admin, comment
 *   [http]        address, allow_from, host_names (issue #13: /metrics, status page)
 *   [lmtp]        recipient_delimiter, detail_to_folder, max_recipients, max_text_line,
 *                 idle_timeout, default_socket, group_commit (src/lmtp/)
 */
#ifndef RAMPART_CORE_CONFIG_H
#define RAMPART_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/cidr.h"

enum listener_tls { LISTENER_TLS_STARTTLS, LISTENER_TLS_IMPLICIT, LISTENER_TLS_NONE };

/* The protocol a listener speaks; the composition root maps each to its
 * struct proto_ops (core/proto.h): IMAP, and LMTP (src/lmtp/, RFC 2033)
 * for the local MTA's deliveries. */
enum listener_proto { LISTENER_PROTO_IMAP, LISTENER_PROTO_LMTP, LISTENER_PROTO__COUNT };

/* [alerts] download_spike_action */
enum alert_spike_action { ALERT_SPIKE_LOG, ALERT_SPIKE_THROTTLE };

struct listener_config {
	char *name;
	char *host;                  /* numeric address: "127.0.0.1", "::", "0.0.0.0";
				      * NULL for a unix listener */
	uint16_t port;
	char *unix_path;             /* address = unix:PATH (absolute after loading) */
	unsigned unix_mode;          /* permission bits of the socket file */
	char *unix_owner;            /* user and group of the socket file; NULL: */
	char *unix_group;            /* whoever started the server (root) */
	bool trusted;                /* unix listener: its peers count as trusted_networks */
	enum listener_tls tls;
	enum listener_proto protocol;
	struct cidr_list allow_from; /* empty: everyone */
	/* TLS policy part (issue #11): load balancers whose connections
	 * start with a PROXY protocol header (net/proxy.c); empty: none. */
	struct cidr_list proxy_from;
	/* lmtp: the [lmtp] default_socket listener the loader added (not
	 * printed by config_print: default_socket = yes says it). */
	bool implicit;
};

/* One [certificate NAME] section: a certificate chosen by SNI. */
struct sni_cert_config {
	char *name;
	char **names;                /* "mail.example.org", "*.example.net" (lower case) */
	size_t nnames;
	char *cert;
	char *key;
};

struct config {
	char *path;
	/* [server] */
	unsigned workers;            /* 0 in the file: number of cores */
	char *mail_root;
	char *users_file;
	char *run_user;              /* drop privileges to this user when root; NULL: stay */
	char *run_group;
	char *log_file;              /* NULL: stderr */
	int log_level;               /* enum log_level */
	char *pid_file;
	char *state_dir;             /* the server's own writable state: auth counters,
				      * app-password use, login history */
	unsigned shutdown_timeout;   /* lifecycle: seconds the SIGTERM drain waits */
	/* [tls] */
	char *tls_cert;
	char *tls_key;
	int tls_min_version;         /* TLS1_2_VERSION or TLS1_3_VERSION */
	char *tls_ciphers;           /* TLS 1.2 cipher list, NULL: OpenSSL default */
	char *tls_ciphersuites;      /* TLS 1.3, NULL: default */
	/* TLS policy part (issue #11) */
	bool tls_session_tickets;    /* resumption by tickets (TLS 1.2 and 1.3) */
	unsigned tls_ticket_key_lifetime; /* seconds a ticket key encrypts new tickets */
	struct sni_cert_config *sni_certs; /* [certificate NAME] sections */
	size_t nsni_certs;
	/* [listener *] */
	struct listener_config *listeners;
	size_t nlisteners;
	/* [security] */
	struct cidr_list trusted_networks;
	unsigned auth_fail_delay_ms; /* delay before answering a failed login */
	/* TLS policy part (issue #11) */
	bool allow_plaintext_auth;   /* let trusted_networks / tls = none reach beyond loopback */
	unsigned proxy_timeout;      /* seconds to receive a PROXY protocol header */
	/* [limits] */
	size_t max_line;
	size_t max_literal;
	size_t max_preauth_literal;  /* largest literal before login (RFC 7888 LITERAL-) */
	size_t max_message_size;
	unsigned max_connections;
	unsigned max_connections_per_ip;
	size_t max_output_buffer;    /* stop reading from a client whose unsent output exceeds this */
	unsigned idle_timeout;       /* seconds, authenticated (RFC 9051 5.4: at least 30 min) */
	unsigned preauth_timeout;    /* seconds of silence allowed before login */
	unsigned login_timeout;      /* seconds from accept to login, however busy */
	unsigned max_mailboxes;
	unsigned max_mailbox_name;
	/* notify (issue #12, RFC 5465; imap/notify_push.c) */
	unsigned max_notify_mailboxes; /* mailbox names in one NOTIFY SET */
	unsigned max_notify_events;    /* notifications at once before NOTIFICATIONOVERFLOW */
	/* context (issue #12): live RETURN (UPDATE) searches per session */
	unsigned max_search_contexts;
	/* inprogress (RFC 9585): ms between progress updates of a long command */
	unsigned inprogress_interval_ms;
	/* [auth] (SASL) */
	char *auth_mechanisms;       /* SASL mechanisms offered; NULL: every one (auth/sasl.h) */
	/* authcache (issue #14): the authentication cache (auth/authcache.c) */
	unsigned auth_cache_ttl;     /* seconds a verified password is remembered, 0: off */
	unsigned auth_cache_size;    /* entries (rounded up to a multiple of 8), 0: off */
	/* [oauth] (auth/oauth.c): OAUTHBEARER and XOAUTH2 are offered only when
	 * jwks_file is set; issuer and audience are then required. */
	char *oauth_jwks_file;
	char *oauth_issuer;
	char *oauth_audience;
	char *oauth_username_claim;  /* the claim naming the user: email, preferred_username, sub */
	unsigned oauth_leeway;       /* seconds of clock skew allowed on exp, nbf, iat */
	char *oauth_algorithms;      /* space-separated: RS256 ES256 */
	char *oauth_scope;           /* echoed in the error JSON, NULL: omitted */
	char *oauth_openid_configuration; /* URL echoed in the RFC 7628 error JSON */
	/* [passwords] (users part): the policy of `rampart user add/passwd` */
	unsigned pw_min_length;
	bool pw_quality;             /* libpwquality with its cracklib dictionary */
	char *pw_breached_file;      /* HIBP "SHA-1 ordered by hash" file, NULL: none */
	/* [passwords] (hash upgrade part: auth/rehash.h) */
	bool pw_upgrade_on_login;    /* re-hash legacy entries after a verified login */
	/* [policy] (auth/policy.c; docs/security.md) */
	unsigned policy_lockout_failures;   /* failures per lockout_window that lock a source */
	unsigned policy_lockout_window;     /* seconds */
	unsigned policy_lockout_duration;   /* seconds, first lockout; doubles on repeat */
	unsigned policy_lockout_max_duration;
	unsigned policy_spray_users;        /* distinct failed users that lock a source */
	unsigned policy_prefix_failures;    /* per /24 or /64 per window */
	unsigned policy_user_failures;      /* per user per window: unknown sources refused */
	unsigned policy_delay_base_ms;      /* progressive failure delay, doubling */
	unsigned policy_delay_max_ms;
	unsigned policy_breaker_rate;       /* failures/s over all sources */
	unsigned policy_table_size;         /* counter entries (memory bound) */
	unsigned policy_max_queued_checks;  /* password checks queued per /24 or /64 */
	unsigned policy_max_sessions_per_user;
	unsigned policy_reserve_percent;    /* of max_connections, kept for known sources */
	unsigned policy_save_interval;      /* seconds between state saves */
	/* [alerts] (issue #11 alerts: auth/alert.c) */
	char *alert_webhook_url;     /* NULL: no webhook */
	char *alert_command;         /* "/path args", NULL: none */
	char *alert_geoip_database;  /* MaxMind .mmdb, NULL: no country alerts */
	unsigned alert_travel_speed_kmh;
	unsigned alert_download_window;   /* seconds */
	unsigned alert_download_factor;
	size_t alert_download_floor;
	int alert_download_spike_action;  /* enum alert_spike_action */
	size_t alert_download_throttle_rate; /* bytes per second */
	unsigned alert_interval;     /* seconds between alerts of one kind for one user */
	/* [store] (condstore; store/sqlite/expunged.c) */
	unsigned store_expunged_history_days; /* 0: keep forever */
	/* durable (issue #14): flag/expunge commits fsync'd within this many
	 * ms by the syncer; 0: before their answer */
	unsigned store_metadata_sync_delay_ms;
	/* snap (issue #14; store/snap.c): snapshots of big mailboxes' listings */
	unsigned store_snapshot_max_mb;       /* 0: none */
	unsigned store_message_cache_mb;      /* msgcache (issue #14); 0: none */
	unsigned store_inline_max_kb;         /* inline (issue #14); 0: every message a file */
	unsigned store_snapshot_min_messages;
	unsigned store_snapshot_idle_s;
	/* dlv (issue #14; core/workpool.c): pool threads for message writes
	 * (APPEND, LMTP deliveries), which wait on fsync; 0: none */
	unsigned store_write_threads;
	/* issue #14 (core/workpool.c): pool threads for derived data (the
	 * search index, previews) at nice background_nice; 0: none, those jobs
	 * share the common threads at their priority */
	unsigned store_background_threads;
	unsigned store_background_nice;
	/* issue #14 (core/workpool.c): command and write threads as
	 * SCHED_BATCH, so a queued job does not preempt the event loop that
	 * queued it */
	bool store_pool_sched_batch;
	/* lazyidx (issue #14; imap/search_index.c): new mail is indexed
	 * index_delay_ms after it arrives, or once index_batch arrived */
	unsigned store_index_delay_ms;
	unsigned store_index_batch;
	/* [quota] (quota part, issue #12; RFC 9208): defaults for every user,
	 * 0 = unlimited; `rampart user quota` overrides them per user. */
	size_t quota_storage;        /* bytes, enforced in KiB rounded up */
	unsigned quota_messages;
	unsigned quota_mailboxes;
	char *quota_admins;          /* users allowed SETQUOTA, space/comma-separated; NULL: none */
	/* [mailboxes] (ext, issue #12): the special-use mailboxes (RFC 6154)
	 * a new store gets, and that CREATE of the same name gets back */
	char *mbox_drafts, *mbox_sent, *mbox_trash, *mbox_junk, *mbox_archive; /* NULL: none */
	bool mbox_autocreate;        /* create them with the store (first login/delivery) */
	/* [namespace] (issue #12 acl): RFC 2342 prefixes, NULL: namespace off */
	char *ns_other_users_prefix; /* "Other Users": other users' shared mailboxes */
	char *ns_shared_prefix;      /* "Shared Folders": public_owner's mailboxes */
	char *ns_public_owner;       /* the pseudo-user owning the public mailboxes */
	/* [metadata] (issue #12 metadata; RFC 5464, imap/cmd_metadata.c) */
	size_t meta_value_max;       /* bytes of one entry's value */
	unsigned meta_entries_max;   /* entries of one mailbox, or of the server per user */
	size_t meta_total_max;       /* bytes of names and values in one user's store */
	char *meta_admin;            /* server /shared/admin (a URI), NULL: none */
	char *meta_comment;          /* server /shared/comment, NULL: none */
	/* aclseen: \Seen in another user's mailbox is each reader's own */
	bool ns_private_seen;
	/* [http] (issue #13, app/http.c): /metrics and the status page */
	char *http_address;          /* "127.0.0.1:9143", NULL: no HTTP listener */
	struct cidr_list http_allow_from; /* empty: loopback only */
	char *http_host_names;       /* extra Host: names accepted besides IPs and localhost */
	/* [lmtp] (lmtp part, issue #13; src/lmtp/, RFC 2033) */
	char *lmtp_recipient_delimiter; /* "+": user+detail@domain; NULL: no details */
	bool lmtp_detail_to_folder;     /* deliver user+detail into folder "detail" if it exists */
	unsigned lmtp_max_recipients;   /* RCPTs per transaction (452 4.5.3 beyond) */
	size_t lmtp_max_text_line;      /* bytes of one DATA line incl. CRLF (RFC 5321 4.5.3.1.6: >= 1000) */
	unsigned lmtp_idle_timeout;     /* seconds of client silence (RFC 5321 4.5.3.2.7: 5 min) */
	bool lmtp_default_socket;       /* no LMTP listener configured: unix:<state_dir>/lmtp.sock */
	bool lmtp_group_commit;         /* concurrent deliveries to one user share a commit */
};

/* Loads and validates. On error returns -1 and *err (caller frees) says
 * which line or key is wrong. Relative paths are taken relative to the
 * directory of the config file. */
int config_load(const char *path, struct config **out, char **err);
/* Every key at its default, with paths under dir and no listeners: what
 * config_load() starts from before it reads the file, for tools and tests
 * that need a configuration without one. Free with config_free(). */
struct config *config_new_defaults(const char *dir);
/* lifecycle (issue #13): config_load as the running server re-reads the
 * file on SIGHUP, as its run user: the TLS certificate and key files are
 * not opened (the key may stay root-only; net/tls.c re-reads them and
 * keeps the old ones when it cannot). */
int config_load_running(const char *path, struct config **out, char **err);
void config_free(struct config *c);
/* "127.0.0.1:9143" or "[::1]:9143": the numeric host (without brackets)
 * into host[cap] and the port; -1 when v is not such an address. */
int config_split_hostport(const char *v, char *host, size_t cap, uint16_t *port);
/* Prints the effective configuration (every key, defaults included) in the
 * file's own format, for `rampart config check`. */
void config_print(const struct config *c, FILE *f);
/* "imap" for LISTENER_PROTO_IMAP... */
const char *config_protocol_name(enum listener_proto p);

#endif
