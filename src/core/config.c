/* The configuration file: INI parsed by libinih, checked strictly.
 *
 * libinih does the tokenising (sections, "key = value", comments, inline
 * "; comments", indented continuation lines). It does not report section
 * headers that have no keys, nor the line number to its handler, and its
 * line buffer is a fixed 200 bytes. So lines reach libinih through our own
 * reader, which counts lines, refuses over-long lines instead of letting
 * them be split silently, and sees every "[section]" header itself. The
 * handler then knows the current section and line from the reader.
 *
 * Every key has a default, a type and, for numbers, a range; an unknown
 * section or key, a key given twice, or a value out of range is an error
 * that names FILE:LINE. */
#include "core/config.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A configuration file is a few kilobytes; this bound only keeps a wrong
 * path (a log file, a device) from being read forever. */
#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_LISTENERS_MAX 64
#define CONFIG_LISTENER_NAME_MAX 32
#define CONFIG_VALUE_MAX 4096

enum config_section {
	SEC_NONE,     /* before the first header */
	SEC_INVALID,  /* after a bad header: its keys are skipped, the header was reported */
	SEC_SERVER,
	SEC_TLS,
	SEC_LISTENER,
	SEC_SECURITY,
	SEC_LIMITS,
	SEC_AUTH,
	SEC_OAUTH,
	SEC_PASSWORDS,   /* users part (issue #11): password policy */
	SEC_CERTIFICATE,
	SEC_POLICY,
	SEC_ALERTS,
	SEC_STORE,       /* condstore: mail store settings */
	SEC_QUOTA,       /* quota part (issue #12) */
	SEC_MAILBOXES,   /* ext (issue #12) */
	SEC_NAMESPACE,   /* acl (issue #12) */
	SEC_METADATA,    /* metadata (issue #12) */
	SEC_HTTP,        /* issue #13: metrics and status page */
	SEC_LMTP,        /* lmtp (issue #13) */
};

static const char *const config_section_names[] = {
	[SEC_NONE] = "",         [SEC_INVALID] = "",       [SEC_SERVER] = "server",
	[SEC_TLS] = "tls",       [SEC_LISTENER] = "listener", [SEC_SECURITY] = "security",
	[SEC_LIMITS] = "limits",    [SEC_AUTH] = "auth",
	[SEC_OAUTH] = "oauth",
	[SEC_PASSWORDS] = "passwords",
	[SEC_CERTIFICATE] = "certificate",
	[SEC_POLICY] = "policy",
	[SEC_ALERTS] = "alerts",
	[SEC_STORE] = "store",
	[SEC_QUOTA] = "quota",
	[SEC_MAILBOXES] = "mailboxes",
	[SEC_NAMESPACE] = "namespace",
	[SEC_METADATA] = "metadata",
	[SEC_HTTP] = "http",
	[SEC_LMTP] = "lmtp",
};

enum config_type {
	T_UINT,      /* unsigned */
	T_SIZE,      /* size_t, accepts K/M/G suffixes (powers of 1024) */
	T_PATH,      /* required path, relative to the config file's directory */
	T_OPTPATH,   /* path or empty (NULL) */
	T_OPTSTR,    /* string or empty (NULL) */
	T_LOGLEVEL,  /* int: enum log_level */
	T_TLSVER,    /* int: TLS1_2_VERSION / TLS1_3_VERSION */
	T_CIDRS,     /* struct cidr_list */
	T_BOOL,      /* bool: yes/no, on/off */
	T_SPIKEACT,  /* int: enum alert_spike_action (log|throttle) */
};

/* The sections without a NAME, in the order `rampart config check`
 * prints them. */
static const enum config_section config_plain_sections[] = {
	SEC_SERVER, SEC_TLS, SEC_SECURITY, SEC_LIMITS, SEC_AUTH, SEC_OAUTH, SEC_PASSWORDS,
	SEC_POLICY, SEC_ALERTS, SEC_STORE, SEC_QUOTA, SEC_MAILBOXES,
	SEC_NAMESPACE /* acl */,
	SEC_METADATA /* metadata */,
	SEC_HTTP /* issue #13 */,
	SEC_LMTP /* lmtp */,
};

struct config_key {
	enum config_section sec;
	const char *name;
	enum config_type type;
	size_t off;
	uint64_t min, max;
};

#define KEY(sec, name, type, field, min, max) { sec, name, type, offsetof(struct config, field), min, max }

/* The order here is the order of `rampart config check` output. */
static const struct config_key config_keys[] = {
	KEY(SEC_SERVER, "workers", T_UINT, workers, 0, 1024),
	KEY(SEC_SERVER, "mail_root", T_PATH, mail_root, 0, 0),
	KEY(SEC_SERVER, "users_file", T_PATH, users_file, 0, 0),
	KEY(SEC_SERVER, "user", T_OPTSTR, run_user, 0, 0),
	KEY(SEC_SERVER, "group", T_OPTSTR, run_group, 0, 0),
	KEY(SEC_SERVER, "log_file", T_OPTPATH, log_file, 0, 0),
	KEY(SEC_SERVER, "log_level", T_LOGLEVEL, log_level, 0, 0),
	KEY(SEC_SERVER, "pid_file", T_OPTPATH, pid_file, 0, 0),
	KEY(SEC_SERVER, "state_dir", T_PATH, state_dir, 0, 0),
	/* lifecycle (issue #13): the drain's bound on SIGTERM */
	KEY(SEC_SERVER, "shutdown_timeout", T_UINT, shutdown_timeout, 1, 3600),
	KEY(SEC_TLS, "cert", T_OPTPATH, tls_cert, 0, 0),
	KEY(SEC_TLS, "key", T_OPTPATH, tls_key, 0, 0),
	KEY(SEC_TLS, "min_version", T_TLSVER, tls_min_version, 0, 0),
	KEY(SEC_TLS, "ciphers", T_OPTSTR, tls_ciphers, 0, 0),
	KEY(SEC_TLS, "ciphersuites", T_OPTSTR, tls_ciphersuites, 0, 0),
	/* TLS policy part (issue #11) */
	KEY(SEC_TLS, "session_tickets", T_BOOL, tls_session_tickets, 0, 0),
	KEY(SEC_TLS, "ticket_key_lifetime", T_UINT, tls_ticket_key_lifetime, 60, 86400),
	KEY(SEC_SECURITY, "trusted_networks", T_CIDRS, trusted_networks, 0, 0),
	KEY(SEC_SECURITY, "auth_fail_delay_ms", T_UINT, auth_fail_delay_ms, 0, 60000),
	/* TLS policy part (issue #11) */
	KEY(SEC_SECURITY, "allow_plaintext_auth", T_BOOL, allow_plaintext_auth, 0, 0),
	KEY(SEC_SECURITY, "proxy_timeout", T_UINT, proxy_timeout, 1, 60),
	KEY(SEC_LIMITS, "max_line", T_SIZE, max_line, 1024, 16u << 20),
	KEY(SEC_LIMITS, "max_literal", T_SIZE, max_literal, 1024, 2u << 30),
	/* Before login LITERAL- is advertised (RFC 7888 4): a non-synchronizing
	 * literal of 4096 bytes must then be accepted, so no lower value. */
	KEY(SEC_LIMITS, "max_preauth_literal", T_SIZE, max_preauth_literal, 4096, 1u << 20),
	KEY(SEC_LIMITS, "max_message_size", T_SIZE, max_message_size, 1024, 2u << 30),
	KEY(SEC_LIMITS, "max_connections", T_UINT, max_connections, 1, 10000000),
	KEY(SEC_LIMITS, "max_connections_per_ip", T_UINT, max_connections_per_ip, 1, 10000000),
	KEY(SEC_LIMITS, "max_output_buffer", T_SIZE, max_output_buffer, 4096, 1u << 30),
	/* RFC 9051 5.4: an authenticated client's autologout timer is at
	 * least 30 minutes; a shorter one breaks clients that IDLE. */
	KEY(SEC_LIMITS, "idle_timeout", T_UINT, idle_timeout, 1800, 7 * 86400),
	KEY(SEC_LIMITS, "preauth_timeout", T_UINT, preauth_timeout, 5, 3600),
	KEY(SEC_LIMITS, "login_timeout", T_UINT, login_timeout, 5, 3600),
	KEY(SEC_LIMITS, "max_mailboxes", T_UINT, max_mailboxes, 1, 10000000),
	/* At most the store's STORE_MAILBOX_NAME_MAX (test_config checks). */
	KEY(SEC_LIMITS, "max_mailbox_name", T_UINT, max_mailbox_name, 16, 1000),
	/* notify (issue #12): RFC 5465 3.1 names, 5.8 NOTIFICATIONOVERFLOW */
	KEY(SEC_LIMITS, "max_notify_mailboxes", T_UINT, max_notify_mailboxes, 1, 100000),
	KEY(SEC_LIMITS, "max_notify_events", T_UINT, max_notify_events, 1, 10000000),
	/* context (issue #12): RFC 5267 4.3.1 asks for at least one */
	KEY(SEC_LIMITS, "max_search_contexts", T_UINT, max_search_contexts, 1, 1000),
	/* inprogress (RFC 9585): updates of a long command at most this often */
	KEY(SEC_LIMITS, "inprogress_interval_ms", T_UINT, inprogress_interval_ms, 1, 3600000),
	/* [auth] (the SASL part): names checked against auth/sasl.c's table
	 * by admin_conf_load, which core/ may not include */
	KEY(SEC_AUTH, "mechanisms", T_OPTSTR, auth_mechanisms, 0, 0),
	/* authcache (issue #14): auth/authcache.c; an hour at most, since the
	 * ttl bounds how long a fast verifier of a password stays in memory;
	 * a million entries of 48 bytes at most. */
	KEY(SEC_AUTH, "cache_ttl", T_UINT, auth_cache_ttl, 0, 3600),
	KEY(SEC_AUTH, "cache_size", T_UINT, auth_cache_size, 0, 1000000),
	/* [oauth] bearer tokens (auth/oauth.c); the JWKS itself is parsed by
	 * oauth_new() at startup and `rampart config check`. */
	KEY(SEC_OAUTH, "jwks_file", T_OPTPATH, oauth_jwks_file, 0, 0),
	KEY(SEC_OAUTH, "issuer", T_OPTSTR, oauth_issuer, 0, 0),
	KEY(SEC_OAUTH, "audience", T_OPTSTR, oauth_audience, 0, 0),
	KEY(SEC_OAUTH, "username_claim", T_OPTSTR, oauth_username_claim, 0, 0),
	KEY(SEC_OAUTH, "leeway", T_UINT, oauth_leeway, 0, 600),
	KEY(SEC_OAUTH, "algorithms", T_OPTSTR, oauth_algorithms, 0, 0),
	KEY(SEC_OAUTH, "scope", T_OPTSTR, oauth_scope, 0, 0),
	KEY(SEC_OAUTH, "openid_configuration", T_OPTSTR, oauth_openid_configuration, 0, 0),
	/* [passwords] (users part): what `rampart user add/passwd` accepts. */
	KEY(SEC_PASSWORDS, "min_length", T_UINT, pw_min_length, 8, 1024),
	KEY(SEC_PASSWORDS, "pwquality", T_BOOL, pw_quality, 0, 0),
	KEY(SEC_PASSWORDS, "breached_file", T_OPTPATH, pw_breached_file, 0, 0),
	/* [passwords] (hash upgrade part): auth/rehash.c */
	KEY(SEC_PASSWORDS, "upgrade_on_login", T_BOOL, pw_upgrade_on_login, 0, 0),
	/* [policy]: auth/policy.c (brute force, spraying, connection limits) */
	KEY(SEC_POLICY, "lockout_failures", T_UINT, policy_lockout_failures, 1, 100000),
	KEY(SEC_POLICY, "lockout_window", T_UINT, policy_lockout_window, 1, 7 * 86400),
	KEY(SEC_POLICY, "lockout_duration", T_UINT, policy_lockout_duration, 1, 86400),
	KEY(SEC_POLICY, "lockout_max_duration", T_UINT, policy_lockout_max_duration, 1, 30 * 86400),
	/* The engine remembers the last 8 failed usernames per source. */
	KEY(SEC_POLICY, "spray_users", T_UINT, policy_spray_users, 2, 8),
	KEY(SEC_POLICY, "prefix_failures", T_UINT, policy_prefix_failures, 1, 1000000),
	KEY(SEC_POLICY, "user_failures", T_UINT, policy_user_failures, 1, 1000000),
	KEY(SEC_POLICY, "delay_base_ms", T_UINT, policy_delay_base_ms, 0, 60000),
	KEY(SEC_POLICY, "delay_max_ms", T_UINT, policy_delay_max_ms, 0, 60000),
	KEY(SEC_POLICY, "breaker_failures_per_s", T_UINT, policy_breaker_rate, 1, 1000000),
	KEY(SEC_POLICY, "table_size", T_UINT, policy_table_size, 1024, 1u << 24),
	KEY(SEC_POLICY, "max_queued_checks", T_UINT, policy_max_queued_checks, 1, 100000),
	KEY(SEC_POLICY, "max_sessions_per_user", T_UINT, policy_max_sessions_per_user, 1, 1000000),
	KEY(SEC_POLICY, "connection_reserve_percent", T_UINT, policy_reserve_percent, 0, 50),
	KEY(SEC_POLICY, "save_interval", T_UINT, policy_save_interval, 1, 3600),
	/* [alerts] (issue #11 alerts, auth/alert.c) */
	KEY(SEC_ALERTS, "webhook_url", T_OPTSTR, alert_webhook_url, 0, 0),
	KEY(SEC_ALERTS, "command", T_OPTSTR, alert_command, 0, 0),
	KEY(SEC_ALERTS, "geoip_database", T_OPTPATH, alert_geoip_database, 0, 0),
	/* An airliner does ~900 km/h; below 100 every train trip alerts. */
	KEY(SEC_ALERTS, "travel_speed_kmh", T_UINT, alert_travel_speed_kmh, 100, 100000),
	KEY(SEC_ALERTS, "download_window", T_UINT, alert_download_window, 10, 7 * 86400),
	KEY(SEC_ALERTS, "download_factor", T_UINT, alert_download_factor, 2, 1000000),
	KEY(SEC_ALERTS, "download_floor", T_SIZE, alert_download_floor, 1024, (uint64_t)1 << 40),
	KEY(SEC_ALERTS, "download_spike_action", T_SPIKEACT, alert_download_spike_action, 0, 0),
	KEY(SEC_ALERTS, "download_throttle_rate", T_SIZE, alert_download_throttle_rate, 4096, 1u << 30),
	KEY(SEC_ALERTS, "alert_interval", T_UINT, alert_interval, 0, 7 * 86400),
	/* [store] (condstore): days of expunge history kept for QRESYNC */
	KEY(SEC_STORE, "expunged_history_days", T_UINT, store_expunged_history_days, 0, 36500),
	/* durable (issue #14, store/sqlite/sync.c): at most a minute of flag
	 * changes and expunges exposed to a power loss */
	KEY(SEC_STORE, "metadata_sync_delay_ms", T_UINT, store_metadata_sync_delay_ms, 0, 60000),
	/* snap (issue #14, store/snap.c): shared listings of big mailboxes */
	KEY(SEC_STORE, "snapshot_max_mb", T_UINT, store_snapshot_max_mb, 0, 65536),
	KEY(SEC_STORE, "message_cache_mb", T_UINT, store_message_cache_mb, 0, 65536),
	KEY(SEC_STORE, "inline_max_kb", T_UINT, store_inline_max_kb, 0, 64),
	KEY(SEC_STORE, "snapshot_min_messages", T_UINT, store_snapshot_min_messages, 1, 100000000),
	KEY(SEC_STORE, "snapshot_idle_s", T_UINT, store_snapshot_idle_s, 1, 86400),
	/* dlv (issue #14, core/workpool.c): threads for message writes */
	KEY(SEC_STORE, "write_threads", T_UINT, store_write_threads, 0, 1024),
	/* issue #14: threads for the search index and previews, and their nice */
	KEY(SEC_STORE, "background_threads", T_UINT, store_background_threads, 0, 64),
	KEY(SEC_STORE, "background_nice", T_UINT, store_background_nice, 0, 19),
	KEY(SEC_STORE, "pool_sched_batch", T_BOOL, store_pool_sched_batch, 0, 0),
	/* lazyidx (issue #14): when new mail gets its search entries */
	KEY(SEC_STORE, "index_delay_ms", T_UINT, store_index_delay_ms, 0, 3600000),
	KEY(SEC_STORE, "index_batch", T_UINT, store_index_batch, 1, 1000000),
	/* [quota] (quota part, issue #12): RFC 9208 defaults, 0 = unlimited;
	 * storage up to 1 PiB keeps KiB * 1024 far from overflow. */
	KEY(SEC_QUOTA, "storage", T_SIZE, quota_storage, 0, (uint64_t)1 << 50),
	KEY(SEC_QUOTA, "messages", T_UINT, quota_messages, 0, 1000000000),
	KEY(SEC_QUOTA, "mailboxes", T_UINT, quota_mailboxes, 0, 10000000),
	KEY(SEC_QUOTA, "admins", T_OPTSTR, quota_admins, 0, 0),
	/* ext (issue #12): default special-use mailboxes (store/rules.c) */
	KEY(SEC_MAILBOXES, "drafts", T_OPTSTR, mbox_drafts, 0, 0),
	KEY(SEC_MAILBOXES, "sent", T_OPTSTR, mbox_sent, 0, 0),
	KEY(SEC_MAILBOXES, "trash", T_OPTSTR, mbox_trash, 0, 0),
	KEY(SEC_MAILBOXES, "junk", T_OPTSTR, mbox_junk, 0, 0),
	KEY(SEC_MAILBOXES, "archive", T_OPTSTR, mbox_archive, 0, 0),
	KEY(SEC_MAILBOXES, "autocreate", T_BOOL, mbox_autocreate, 0, 0),
	/* [namespace] (issue #12 acl, imap/namespace.c): RFC 2342 prefixes */
	KEY(SEC_NAMESPACE, "other_users_prefix", T_OPTSTR, ns_other_users_prefix, 0, 0),
	KEY(SEC_NAMESPACE, "shared_prefix", T_OPTSTR, ns_shared_prefix, 0, 0),
	KEY(SEC_NAMESPACE, "public_owner", T_OPTSTR, ns_public_owner, 0, 0),
	/* [metadata] (issue #12 metadata, imap/cmd_metadata.c): RFC 5464
	 * limits; a value stays far below the largest literal. */
	KEY(SEC_METADATA, "max_value_size", T_SIZE, meta_value_max, 1, 16u << 20),
	KEY(SEC_METADATA, "max_entries", T_UINT, meta_entries_max, 1, 100000),
	KEY(SEC_METADATA, "max_total_size", T_SIZE, meta_total_max, 1, (uint64_t)1 << 32),
	KEY(SEC_METADATA, "admin", T_OPTSTR, meta_admin, 0, 0),
	KEY(SEC_METADATA, "comment", T_OPTSTR, meta_comment, 0, 0),
	/* aclseen (issue #12): \Seen private to each reader of a shared mailbox */
	KEY(SEC_NAMESPACE, "private_seen", T_BOOL, ns_private_seen, 0, 0),
	/* [http] (issue #13): the loopback listener of /metrics and the status
	 * page (app/http.c) */
	KEY(SEC_HTTP, "address", T_OPTSTR, http_address, 0, 0),
	KEY(SEC_HTTP, "allow_from", T_CIDRS, http_allow_from, 0, 0),
	KEY(SEC_HTTP, "host_names", T_OPTSTR, http_host_names, 0, 0),
	/* [lmtp] (lmtp part, issue #13): RFC 5321 4.5.3.1.8 asks for at least
	 * 100 recipients per message from an SMTP server; an LMTP server
	 * answers 452 4.5.3 and the MTA sends the rest in a second
	 * transaction (RFC 2033 4.2 keeps per-recipient replies). */
	KEY(SEC_LMTP, "recipient_delimiter", T_OPTSTR, lmtp_recipient_delimiter, 0, 0),
	KEY(SEC_LMTP, "detail_to_folder", T_BOOL, lmtp_detail_to_folder, 0, 0),
	KEY(SEC_LMTP, "max_recipients", T_UINT, lmtp_max_recipients, 1, 10000),
	/* RFC 5321 4.5.3.1.6: a text line is at least 1000 octets with CRLF. */
	KEY(SEC_LMTP, "max_text_line", T_SIZE, lmtp_max_text_line, 1000, 16u << 20),
	KEY(SEC_LMTP, "idle_timeout", T_UINT, lmtp_idle_timeout, 10, 3600),
	KEY(SEC_LMTP, "default_socket", T_BOOL, lmtp_default_socket, 0, 0),
	KEY(SEC_LMTP, "group_commit", T_BOOL, lmtp_group_commit, 0, 0),
};

#undef KEY

enum listener_key { LKEY_ADDRESS, LKEY_TLS, LKEY_ALLOW_FROM, LKEY_PROTOCOL, LKEY_UNIX_MODE,
		    LKEY_UNIX_OWNER, LKEY_UNIX_GROUP, LKEY_TRUSTED, LKEY_PROXY_FROM, LKEY__COUNT };
static const char *const listener_key_names[LKEY__COUNT] = {
	"address", "tls", "allow_from", "protocol", "unix_mode", "unix_owner", "unix_group", "trusted",
	"proxy_from",
};
static const char *const listener_proto_names[LISTENER_PROTO__COUNT] = {
	[LISTENER_PROTO_IMAP] = "imap",
	[LISTENER_PROTO_LMTP] = "lmtp",
};
/* A unix socket is reachable by whoever the file mode lets in: by default
 * the server's own user and group (a local proxy or MTA in that group). */
#define CONFIG_UNIX_MODE_DEFAULT 0660

struct listener_meta {
	size_t line;                     /* of its [listener NAME] header */
	size_t seen_line[LKEY__COUNT];   /* 0: not set */
};

struct config_parse {
	struct config *c;
	const char *path;
	bool no_tls_files;               /* lifecycle: config_load_running() */
	char *dir;                       /* absolute directory of the file */
	FILE *f;
	size_t lineno;
	/* mirror of libinih's line classification */
	bool prev_name;                  /* a "key = value" was seen in this section */
	bool cont;                       /* the current line continues the previous value */
	enum config_section sec;
	size_t cur_listener;
	struct listener_meta *lmeta;
	size_t lmeta_cap, listeners_cap;
	size_t cur_sni, sni_cap, sni_line_cap; /* [certificate NAME] being read */
	size_t *sni_line;                /* line of each [certificate NAME] header */
	size_t seen_line[ARRAY_SIZE(config_keys)];
	/* what an indented continuation line may extend */
	struct cidr_list *cont_list;
	char **cont_str;
	bool cont_names;                 /* [certificate] names */
	const char *cont_key;
	/* first error */
	char *err;
	size_t err_line;
};

static void config_error(struct config_parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void config_error(struct config_parse *p, const char *fmt, ...)
{
	if (p->err)
		return;
	va_list ap;
	va_start(ap, fmt);
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->err = xasprintf("%s:%zu: %s", p->path, p->lineno, msg);
	p->err_line = p->lineno;
}

/* ---- values ---- */

static bool config_is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

static bool config_has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static char *config_path_resolve(const struct config_parse *p, const char *value)
{
	if (value[0] == '/')
		return xstrdup(value);
	return xasprintf("%s/%s", p->dir, value);
}

/* "65536", "64K", "64M", "1G", "64MiB": sizes in bytes, suffixes binary. */
static int config_parse_number(const char *v, bool allow_suffix, uint64_t *out)
{
	size_t digits = 0;
	while (v[digits] >= '0' && v[digits] <= '9')
		digits++;
	uint64_t n;
	if (digits == 0 || parse_u64(v, digits, &n) < 0)
		return -1;
	const char *sfx = v + digits;
	unsigned shift = 0;
	if (*sfx) {
		if (!allow_suffix)
			return -1;
		switch (*sfx) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		default: return -1;
		}
		sfx++;
		if (strcmp(sfx, "iB") != 0 && strcmp(sfx, "B") != 0 && *sfx != '\0')
			return -1;
		if (n > (UINT64_MAX >> shift))
			return -1;
	}
	*out = n << shift;
	return 0;
}

static int config_parse_log_level(const char *v)
{
	if (ascii_ieq(v, "error") || ascii_ieq(v, "err"))
		return LOG_LVL_ERR;
	if (ascii_ieq(v, "warning") || ascii_ieq(v, "warn"))
		return LOG_LVL_WARN;
	if (ascii_ieq(v, "info"))
		return LOG_LVL_INFO;
	if (ascii_ieq(v, "debug"))
		return LOG_LVL_DEBUG;
	return -1;
}

static const char *config_log_level_name(int lvl)
{
	switch (lvl) {
	case LOG_LVL_ERR: return "error";
	case LOG_LVL_WARN: return "warning";
	case LOG_LVL_DEBUG: return "debug";
	default: return "info";
	}
}

static int config_cidr_append(struct config_parse *p, const char *key, const char *value,
			      struct cidr_list *dst)
{
	struct cidr_list add;
	char *bad = NULL;
	if (cidr_list_parse(value, &add, &bad) < 0) {
		config_error(p, "%s: '%s' is not an IP address or network (like 192.0.2.0/24 or 2001:db8::/32)",
			     key, bad ? bad : value);
		free(bad);
		return -1;
	}
	if (add.n) {
		dst->v = xrealloc(dst->v, (dst->n + add.n) * sizeof(*dst->v));
		memcpy(dst->v + dst->n, add.v, add.n * sizeof(*add.v));
		dst->n += add.n;
	}
	cidr_list_free(&add);
	return 0;
}

static int config_parse_bool(struct config_parse *p, const char *key, const char *v, bool *out)
{
	if (ascii_ieq(v, "yes") || ascii_ieq(v, "on") || ascii_ieq(v, "true") || strcmp(v, "1") == 0)
		*out = true;
	else if (ascii_ieq(v, "no") || ascii_ieq(v, "off") || ascii_ieq(v, "false") ||
		 strcmp(v, "0") == 0)
		*out = false;
	else {
		config_error(p, "%s: '%s' is not yes or no", key, v);
		return -1;
	}
	return 0;
}

static int config_set_value(struct config_parse *p, const struct config_key *k, const char *value)
{
	void *field = (char *)p->c + k->off;
	switch (k->type) {
	case T_UINT:
	case T_SIZE: {
		uint64_t n;
		if (config_parse_number(value, k->type == T_SIZE, &n) < 0) {
			config_error(p, "%s: '%s' is not a %s", k->name, value,
				     k->type == T_SIZE ? "size (bytes, or with K/M/G)" : "number");
			return -1;
		}
		if (n < k->min || n > k->max) {
			if (strcmp(k->name, "idle_timeout") == 0 && n < k->min)
				config_error(p, "idle_timeout: %" PRIu64 " is below 1800 seconds; RFC 9051 "
					     "5.4 requires an authenticated client's inactivity timer "
					     "to be at least 30 minutes", n);
			else
				config_error(p, "%s: %" PRIu64 " is out of range (%" PRIu64 "..%" PRIu64 ")",
					     k->name, n, k->min, k->max);
			return -1;
		}
		if (k->type == T_UINT)
			*(unsigned *)field = (unsigned)n;
		else
			*(size_t *)field = (size_t)n;
		return 0;
	}
	case T_PATH:
	case T_OPTPATH:
		if (!*value) {
			if (k->type == T_PATH) {
				config_error(p, "%s: must not be empty", k->name);
				return -1;
			}
			free(*(char **)field);
			*(char **)field = NULL;
			return 0;
		}
		if (strlen(value) >= PATH_MAX || config_has_control(value)) {
			config_error(p, "%s: not a usable path", k->name);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = config_path_resolve(p, value);
		return 0;
	case T_OPTSTR:
		if (config_has_control(value)) {
			config_error(p, "%s: control characters in value", k->name);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = *value ? xstrdup(value) : NULL;
		if (k->off == offsetof(struct config, tls_ciphers))
			p->cont_str = (char **)field;
		return 0;
	case T_LOGLEVEL: {
		int lvl = config_parse_log_level(value);
		if (lvl < 0) {
			config_error(p, "%s: '%s' is not one of error, warning, info, debug", k->name, value);
			return -1;
		}
		*(int *)field = lvl;
		return 0;
	}
	case T_SPIKEACT:
		if (strcmp(value, "log") == 0)
			*(int *)field = ALERT_SPIKE_LOG;
		else if (strcmp(value, "throttle") == 0)
			*(int *)field = ALERT_SPIKE_THROTTLE;
		else {
			config_error(p, "%s: '%s' is not log or throttle", k->name, value);
			return -1;
		}
		return 0;
	case T_TLSVER:
		if (ascii_ieq(value, "TLSv1.2") || strcmp(value, "1.2") == 0)
			*(int *)field = TLS1_2_VERSION;
		else if (ascii_ieq(value, "TLSv1.3") || strcmp(value, "1.3") == 0)
			*(int *)field = TLS1_3_VERSION;
		else {
			config_error(p, "%s: '%s' is not TLSv1.2 or TLSv1.3 (older versions are not offered)",
				     k->name, value);
			return -1;
		}
		return 0;
	case T_CIDRS:
		if (config_cidr_append(p, k->name, value, field) < 0)
			return -1;
		p->cont_list = field;
		return 0;
	case T_BOOL:
		if (config_parse_bool(p, k->name, value, field) < 0)
			return -1;
		return 0;
	}
	return -1;
}

/* "127.0.0.1:143", "0.0.0.0:993", "[::1]:143", "[::]:993". Host names
 * are refused: a listener binds one numeric address. */
static int config_parse_address(struct config_parse *p, const char *v, struct listener_config *l)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port;
	size_t hlen;
	if (v[0] == '[') {
		const char *close = strchr(v, ']');
		if (!close || close[1] != ':') {
			config_error(p, "address: '%s' should be [IPv6]:PORT, like [::1]:143", v);
			return -1;
		}
		hlen = (size_t)(close - v - 1);
		port = close + 2;
		if (hlen == 0 || hlen >= sizeof(host)) {
			config_error(p, "address: '%s' has no usable IPv6 address", v);
			return -1;
		}
		memcpy(host, v + 1, hlen);
		host[hlen] = '\0';
		struct in6_addr a6;
		if (inet_pton(AF_INET6, host, &a6) != 1) {
			config_error(p, "address: '%s' is not a numeric IPv6 address", host);
			return -1;
		}
	} else {
		const char *colon = strrchr(v, ':');
		if (!colon) {
			config_error(p, "address: '%s' should be HOST:PORT, like 0.0.0.0:143", v);
			return -1;
		}
		if (memchr(v, ':', (size_t)(colon - v))) {
			config_error(p, "address: IPv6 addresses need brackets, like [::]:143 (got '%s')", v);
			return -1;
		}
		hlen = (size_t)(colon - v);
		port = colon + 1;
		if (hlen == 0 || hlen >= sizeof(host)) {
			config_error(p, "address: '%s' has no usable IPv4 address (use 0.0.0.0 for all)", v);
			return -1;
		}
		memcpy(host, v, hlen);
		host[hlen] = '\0';
		struct in_addr a4;
		if (inet_pton(AF_INET, host, &a4) != 1) {
			config_error(p, "address: '%s' is not a numeric IPv4 address (host names are not "
				     "resolved; use 0.0.0.0 or [::] for all addresses)", host);
			return -1;
		}
	}
	uint32_t n;
	if (parse_u32(port, strlen(port), &n) < 0 || n < 1 || n > 65535) {
		config_error(p, "address: port '%s' is not in 1..65535", port);
		return -1;
	}
	free(l->host);
	l->host = xstrdup(host);
	l->port = (uint16_t)n;
	return 0;
}

/* "127.0.0.1:9143" or "[::1]:9143" into a numeric host and a port
 * 1..65535; -1 when it is neither. For keys that name one address
 * ([http] address); listeners have their own, more talkative parser. */
int config_split_hostport(const char *v, char *host, size_t cap, uint16_t *port)
{
	const char *h = v, *colon;
	size_t hlen;
	if (*v == '[') {
		const char *close = strchr(v, ']');
		if (!close || close[1] != ':')
			return -1;
		h = v + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(v, ':');
		if (!colon || memchr(v, ':', (size_t)(colon - v)))
			return -1;
		hlen = (size_t)(colon - v);
	}
	if (hlen == 0 || hlen >= cap)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	unsigned char a[16];
	if (inet_pton(*v == '[' ? AF_INET6 : AF_INET, host, a) != 1)
		return -1;
	uint32_t n;
	if (parse_u32(colon + 1, strlen(colon + 1), &n) < 0 || n < 1 || n > 65535)
		return -1;
	*port = (uint16_t)n;
	return 0;
}

const char *config_protocol_name(enum listener_proto proto)
{
	return (unsigned)proto < LISTENER_PROTO__COUNT ? listener_proto_names[proto] : "?";
}

/* "unix:/run/rampart/imap.sock": a unix listener. The path is resolved
 * like every other path (relative to the config file) and must fit in
 * sun_path. */
static int config_parse_unix_address(struct config_parse *p, const char *v,
				     struct listener_config *l)
{
	const char *path = v + 5;
	if (!*path) {
		config_error(p, "address: 'unix:' needs a socket path, like unix:/run/rampart/imap.sock");
		return -1;
	}
	char *abs = config_path_resolve(p, path);
	/* sizeof(struct sockaddr_un.sun_path) is 108 on Linux. */
	if (strlen(abs) >= 108) {
		config_error(p, "address: socket path '%s' is longer than 107 bytes", abs);
		free(abs);
		return -1;
	}
	free(l->unix_path);
	l->unix_path = abs;
	return 0;
}

static int config_listener_key(struct config_parse *p, const char *name, const char *value)
{
	struct listener_config *l = &p->c->listeners[p->cur_listener];
	struct listener_meta *m = &p->lmeta[p->cur_listener];
	int k = -1;
	for (int i = 0; i < LKEY__COUNT; i++)
		if (strcmp(name, listener_key_names[i]) == 0)
			k = i;
	if (k < 0) {
		config_error(p, "unknown key '%s' in [listener %s] (expected address, tls, protocol, "
			     "allow_from, proxy_from, unix_mode, unix_owner, unix_group, trusted)", name,
			     l->name);
		return -1;
	}
	if (m->seen_line[k]) {
		config_error(p, "'%s' is set twice in [listener %s] (first on line %zu)", name, l->name,
			     m->seen_line[k]);
		return -1;
	}
	m->seen_line[k] = p->lineno;
	switch ((enum listener_key)k) {
	case LKEY_ADDRESS:
		if (strncmp(value, "unix:", 5) == 0)
			return config_parse_unix_address(p, value, l);
		return config_parse_address(p, value, l);
	case LKEY_PROTOCOL:
		for (int i = 0; i < LISTENER_PROTO__COUNT; i++) {
			if (strcmp(value, listener_proto_names[i]) == 0) {
				l->protocol = (enum listener_proto)i;
				return 0;
			}
		}
		config_error(p, "protocol: unknown protocol '%s' in [listener %s] (this build serves: imap, lmtp)",
			     value, l->name);
		return -1;
	case LKEY_UNIX_MODE: {
		char *end;
		errno = 0;
		unsigned long mode = strtoul(value, &end, 8);
		if (errno || end == value || *end || mode > 0777) {
			config_error(p, "unix_mode: '%s' is not an octal mode 0..0777, like 0660", value);
			return -1;
		}
		l->unix_mode = (unsigned)mode;
		return 0;
	}
	case LKEY_UNIX_OWNER:
	case LKEY_UNIX_GROUP:
	{
		/* Resolved when the socket is made (like [server] user); empty
		 * means unset, as config_print writes it. */
		char **field = k == LKEY_UNIX_OWNER ? &l->unix_owner : &l->unix_group;
		free(*field);
		*field = *value ? xstrdup(value) : NULL;
		return 0;
	}
	case LKEY_TRUSTED:
		if (strcmp(value, "yes") == 0)
			l->trusted = true;
		else if (strcmp(value, "no") == 0)
			l->trusted = false;
		else {
			config_error(p, "trusted: '%s' is not yes or no", value);
			return -1;
		}
		return 0;
	case LKEY_TLS:
		if (strcmp(value, "starttls") == 0)
			l->tls = LISTENER_TLS_STARTTLS;
		else if (strcmp(value, "implicit") == 0)
			l->tls = LISTENER_TLS_IMPLICIT;
		else if (strcmp(value, "none") == 0)
			l->tls = LISTENER_TLS_NONE;
		else {
			config_error(p, "tls: '%s' is not starttls, implicit or none", value);
			return -1;
		}
		return 0;
	case LKEY_ALLOW_FROM:
		if (config_cidr_append(p, "allow_from", value, &l->allow_from) < 0)
			return -1;
		p->cont_list = &l->allow_from;
		p->cont_key = "allow_from";
		return 0;
	case LKEY_PROXY_FROM:
		if (config_cidr_append(p, "proxy_from", value, &l->proxy_from) < 0)
			return -1;
		p->cont_list = &l->proxy_from;
		p->cont_key = "proxy_from";
		return 0;
	case LKEY__COUNT:
		break;
	}
	return -1;
}

/* ---- [certificate NAME] (TLS policy part, issue #11) ---- */

/* A server name as SNI carries it (RFC 6066 3: a DNS host name, no
 * trailing dot), or "*.domain": letters, digits, '-', '.', one leading
 * "*." at most. Kept lower case: names compare case-insensitively. */
static bool config_sni_name_ok(const char *s)
{
	const char *h = strncmp(s, "*.", 2) == 0 ? s + 2 : s;
	size_t len = strlen(h);
	if (len == 0 || len > 253 || h[0] == '.' || h[len - 1] == '.' || strstr(h, ".."))
		return false;
	for (; *h; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= '0' && *h <= '9') || *h == '-' || *h == '.'))
			return false;
	return true;
}

/* "mail.example.org, *.example.net": comma- and/or space-separated. */
static int config_sni_names(struct config_parse *p, const char *value)
{
	struct sni_cert_config *sc = &p->c->sni_certs[p->cur_sni];
	char *copy = xstrdup(value);
	int rc = 0;
	for (char *save = NULL, *tok = strtok_r(copy, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		for (char *q = tok; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
		if (!config_sni_name_ok(tok)) {
			config_error(p, "names: '%s' is not a host name or *.domain", tok);
			rc = -1;
			break;
		}
		sc->names = xrealloc(sc->names, (sc->nnames + 1) * sizeof(*sc->names));
		sc->names[sc->nnames++] = xstrdup(tok);
	}
	free(copy);
	p->cont_names = rc == 0;
	return rc;
}

static int config_sni_key(struct config_parse *p, const char *name, const char *value)
{
	struct sni_cert_config *sc = &p->c->sni_certs[p->cur_sni];
	char **field = strcmp(name, "cert") == 0 ? &sc->cert : strcmp(name, "key") == 0 ? &sc->key : NULL;
	if (strcmp(name, "names") == 0) {
		if (sc->nnames) {
			config_error(p, "'names' is set twice in [certificate %s]", sc->name);
			return -1;
		}
		return config_sni_names(p, value);
	}
	if (!field) {
		config_error(p, "unknown key '%s' in [certificate %s] (expected names, cert, key)", name,
			     sc->name);
		return -1;
	}
	if (*field) {
		config_error(p, "'%s' is set twice in [certificate %s]", name, sc->name);
		return -1;
	}
	if (!*value || strlen(value) >= PATH_MAX || config_has_control(value)) {
		config_error(p, "%s: not a usable path", name);
		return -1;
	}
	*field = config_path_resolve(p, value);
	return 0;
}

/* An indented line after "key = value": libinih hands it over as another
 * value of the same key. Only lists may be continued. */
static int config_continue(struct config_parse *p, const char *name, const char *value)
{
	if (p->cont_list)
		return config_cidr_append(p, p->cont_key, value, p->cont_list);
	if (p->cont_str) {
		/* "A:B:" + "C" and "A:B" + ":C" both mean "A:B:C". */
		const char *prev = *p->cont_str ? *p->cont_str : "";
		size_t plen = strlen(prev);
		while (plen && prev[plen - 1] == ':')
			plen--;
		while (*value == ':')
			value++;
		char *joined = plen ? xasprintf("%.*s:%s", (int)plen, prev, value) : xstrdup(value);
		free(*p->cont_str);
		*p->cont_str = joined;
		return 0;
	}
	if (p->cont_names)
		return config_sni_names(p, value);
	config_error(p, "indented line continues the value of '%s'; only trusted_networks, "
		     "allow_from and ciphers take several lines (remove the indentation)", name);
	return -1;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_parse *p = user;
	(void)section; /* the reader tracks sections, including key-less ones */
	if (strlen(value) > CONFIG_VALUE_MAX) {
		config_error(p, "value of '%s' is too long", name);
		return 0;
	}
	if (p->cont)
		return config_continue(p, name, value) == 0;
	p->cont_list = NULL;
	p->cont_str = NULL;
	p->cont_key = NULL;
	p->cont_names = false;
	switch (p->sec) {
	case SEC_NONE:
		config_error(p, "'%s' is outside of any section (start with [server], [tls], "
			     "[listener NAME], [certificate NAME], [security], [limits], [auth], [oauth], "
			     "[passwords], [policy], [alerts] or [store])", name);
		return 0;
	case SEC_INVALID:
		return 1;
	case SEC_LISTENER:
		if (config_listener_key(p, name, value) < 0)
			return 0;
		return 1;
	case SEC_CERTIFICATE:
		return config_sni_key(p, name, value) == 0;
	default:
		break;
	}
	for (size_t i = 0; i < ARRAY_SIZE(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		if (k->sec != p->sec || strcmp(k->name, name) != 0)
			continue;
		if (p->seen_line[i]) {
			config_error(p, "'%s' is set twice in [%s] (first on line %zu)", name,
				     config_section_names[p->sec], p->seen_line[i]);
			return 0;
		}
		p->seen_line[i] = p->lineno;
		if (config_set_value(p, k, value) < 0)
			return 0;
		p->cont_key = k->name;
		return 1;
	}
	config_error(p, "unknown key '%s' in [%s]", name, config_section_names[p->sec]);
	return 0;
}

/* ---- sections and the line reader ---- */

static bool config_listener_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > CONFIG_LISTENER_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* [certificate NAME]: a new SNI certificate (TLS policy part, issue #11). */
static void config_sni_section_begin(struct config_parse *p, const char *name, size_t nlen)
{
	struct config *c = p->c;
	for (size_t i = 0; i < c->nsni_certs; i++) {
		if (strlen(c->sni_certs[i].name) == nlen && memcmp(c->sni_certs[i].name, name, nlen) == 0) {
			config_error(p, "duplicate certificate name '%.*s'", (int)nlen, name);
			return;
		}
	}
	if (c->nsni_certs >= CONFIG_LISTENERS_MAX) {
		config_error(p, "more than %d certificate sections", CONFIG_LISTENERS_MAX);
		return;
	}
	xgrow((void **)&c->sni_certs, &p->sni_cap, c->nsni_certs + 1, sizeof(*c->sni_certs));
	xgrow((void **)&p->sni_line, &p->sni_line_cap, c->nsni_certs + 1, sizeof(*p->sni_line));
	c->sni_certs[c->nsni_certs] = (struct sni_cert_config){ .name = xstrndup(name, nlen) };
	p->sni_line[c->nsni_certs] = p->lineno;
	p->cur_sni = c->nsni_certs++;
	p->sec = SEC_CERTIFICATE;
}

/* "[KW NAME]": 1 with *name and *nlen set to a valid NAME; 0 when the
 * header is not a KW section; -1 when it is, with a bad name (reported). */
static int config_section_named(struct config_parse *p, const char *s, size_t len, const char *kw,
				const char **name, size_t *nlen)
{
	size_t kl = strlen(kw);
	if (len < kl || memcmp(s, kw, kl) != 0 || (len > kl && !config_is_space(s[kl])))
		return 0;
	*name = s + kl;
	*nlen = len - kl;
	while (*nlen && config_is_space(**name))
		(*name)++, (*nlen)--;
	if (*nlen == 0) {
		config_error(p, "a %s section needs a name: [%s NAME]", kw, kw);
		return -1;
	}
	if (!config_listener_name_ok(*name, *nlen)) {
		config_error(p, "%s name '%.*s' must be 1..%d characters of A-Z a-z 0-9 _ - .", kw,
			     (int)MIN(*nlen, (size_t)64), *name, CONFIG_LISTENER_NAME_MAX);
		return -1;
	}
	return 1;
}

static void config_section_begin(struct config_parse *p, const char *s, size_t len, const char *after)
{
	p->sec = SEC_INVALID;
	while (*after && config_is_space(*after))
		after++;
	if (*after && *after != ';' && *after != '#') {
		config_error(p, "unexpected text after section header: '%s'", after);
		return;
	}
	while (len && config_is_space(*s))
		s++, len--;
	while (len && config_is_space(s[len - 1]))
		len--;
	for (size_t i = 0; i < ARRAY_SIZE(config_plain_sections); i++) {
		const char *n = config_section_names[config_plain_sections[i]];
		if (len == strlen(n) && memcmp(s, n, len) == 0) {
			p->sec = config_plain_sections[i];
			return;
		}
	}
	const char *name;
	size_t nlen;
	int named = config_section_named(p, s, len, "listener", &name, &nlen);
	if (named < 0)
		return;
	if (named) {
		struct config *c = p->c;
		for (size_t i = 0; i < c->nlisteners; i++) {
			if (strlen(c->listeners[i].name) == nlen && memcmp(c->listeners[i].name, name, nlen) == 0) {
				config_error(p, "duplicate listener name '%.*s' (first on line %zu)", (int)nlen,
					     name, p->lmeta[i].line);
				return;
			}
		}
		if (c->nlisteners >= CONFIG_LISTENERS_MAX) {
			config_error(p, "more than %d listeners", CONFIG_LISTENERS_MAX);
			return;
		}
		xgrow((void **)&c->listeners, &p->listeners_cap, c->nlisteners + 1, sizeof(*c->listeners));
		xgrow((void **)&p->lmeta, &p->lmeta_cap, c->nlisteners + 1, sizeof(*p->lmeta));
		c->listeners[c->nlisteners] = (struct listener_config){
			.name = xstrndup(name, nlen),
			.tls = LISTENER_TLS_STARTTLS,
			.protocol = LISTENER_PROTO_IMAP,
			.unix_mode = CONFIG_UNIX_MODE_DEFAULT,
		};
		p->lmeta[c->nlisteners] = (struct listener_meta){ .line = p->lineno };
		p->cur_listener = c->nlisteners++;
		p->sec = SEC_LISTENER;
		return;
	}
	named = config_section_named(p, s, len, "certificate", &name, &nlen);
	if (named < 0)
		return;
	if (named) {
		config_sni_section_begin(p, name, nlen);
		return;
	}
	config_error(p, "unknown section [%.*s] (expected [server], [tls], [listener NAME], "
		     "[certificate NAME], [security], [limits], [auth], [oauth], [passwords], "
		     "[policy], [alerts], [store], [quota], [mailboxes], [namespace], [metadata], "
		     "[http] or [lmtp])", (int)MIN(len, (size_t)64), s);
}

/* Classifies a line the way libinih will (comment, continuation, section,
 * key) so the handler knows what it is looking at. */
static void config_line_classify(struct config_parse *p, const char *line)
{
	const char *s = line;
	if (p->lineno == 1 && (unsigned char)s[0] == 0xef && (unsigned char)s[1] == 0xbb &&
	    (unsigned char)s[2] == 0xbf)
		s += 3;
	while (*s && config_is_space(*s))
		s++;
	p->cont = false;
	if (*s == '\0' || *s == ';' || *s == '#')
		return;
	if (p->prev_name && s > line) {
		p->cont = true;
		return;
	}
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (!end)
			return; /* libinih reports the syntax error */
		config_section_begin(p, s + 1, (size_t)(end - s - 1), end + 1);
		p->prev_name = false;
		p->cont_list = NULL;
		p->cont_str = NULL;
		p->cont_names = false;
		return;
	}
	if (strpbrk(s, "=:"))
		p->prev_name = true;
}

static char *config_reader(char *str, int num, void *stream)
{
	struct config_parse *p = stream;
	/* libinih's buffer must also hold "\r\n\0". */
	size_t cap = num > 3 ? (size_t)num - 3 : 0;
	size_t n = 0;
	bool any = false, too_long = false, nul = false;
	int ch;
	while ((ch = getc(p->f)) != EOF) {
		any = true;
		if (ch == '\n')
			break;
		if (ch == '\0')
			nul = true;
		if (n < cap)
			str[n++] = (char)ch;
		else if (ch != '\r')
			too_long = true;
	}
	if (!any)
		return NULL;
	p->lineno++;
	str[n] = '\0';
	if (too_long || nul) {
		if (too_long)
			config_error(p, "line longer than %zu characters (continue a long list on "
				     "indented lines)", cap);
		else
			config_error(p, "NUL byte in line");
		str[0] = '\0';
		p->cont = false;
		return str;
	}
	config_line_classify(p, str);
	return str;
}

/* ---- load, validate, print, free ---- */

/* The one home of every key's default (docs/configuration.md lists the
 * same values; tests/unit/test_config.c checks that they agree). Code
 * that reads a config relies on these and on the ranges of config_keys,
 * and has no fallbacks of its own: every limit below is non-zero, and a
 * file cannot set one to zero. Paths default to names under dir, the
 * directory of the configuration file. */
static void config_set_defaults(struct config *c, const char *dir)
{
	c->workers = 0;
	c->mail_root = xasprintf("%s/mail", dir);
	c->users_file = xasprintf("%s/users", dir);
	c->state_dir = xasprintf("%s/state", dir);
	c->shutdown_timeout = 10;    /* lifecycle */
	c->log_level = LOG_LVL_INFO;
	c->tls_min_version = TLS1_2_VERSION;
	c->tls_session_tickets = true;
	c->tls_ticket_key_lifetime = 3600;
	c->proxy_timeout = 5;
	c->auth_fail_delay_ms = 2000;
	c->max_line = 65536;
	c->max_literal = 64u << 20;
	c->max_preauth_literal = 4096;
	c->max_message_size = 64u << 20;
	c->max_connections = 20000;
	c->max_connections_per_ip = 200;
	c->max_output_buffer = 1u << 20;
	c->idle_timeout = 1800;
	c->preauth_timeout = 60;
	c->login_timeout = 60;
	c->max_mailboxes = 10000;
	c->max_mailbox_name = 1000;
	/* notify (issue #12) */
	c->max_notify_mailboxes = 1000;
	c->max_notify_events = 10000;
	c->max_search_contexts = 8; /* context (issue #12) */
	c->inprogress_interval_ms = 1000; /* inprogress */
	/* [auth] authcache (issue #14) */
	c->auth_cache_ttl = 300;
	c->auth_cache_size = 10000;
	/* [oauth] */
	c->oauth_username_claim = xstrdup("email");
	c->oauth_leeway = 60;
	c->oauth_algorithms = xstrdup("RS256 ES256");
	/* [passwords] (users part) */
	c->pw_min_length = 12;
	c->pw_quality = true;
	/* [passwords] (hash upgrade part) */
	c->pw_upgrade_on_login = true;
	/* [policy] (auth/policy.c) */
	c->policy_lockout_failures = 10;
	c->policy_lockout_window = 600;
	c->policy_lockout_duration = 900;
	c->policy_lockout_max_duration = 86400;
	c->policy_spray_users = 5;
	c->policy_prefix_failures = 50;
	c->policy_user_failures = 20;
	c->policy_delay_base_ms = 500;
	c->policy_delay_max_ms = 15000;
	c->policy_breaker_rate = 50;
	c->policy_table_size = 65536;
	c->policy_max_queued_checks = 8;
	c->policy_max_sessions_per_user = 50;
	c->policy_reserve_percent = 10;
	c->policy_save_interval = 5;
	/* [alerts] (issue #11 alerts) */
	c->alert_travel_speed_kmh = 1000;
	c->alert_download_window = 600;
	c->alert_download_factor = 10;
	c->alert_download_floor = 200u << 20;
	c->alert_download_spike_action = ALERT_SPIKE_LOG;
	c->alert_download_throttle_rate = 1u << 20;
	c->alert_interval = 600;
	/* [store] (condstore) */
	c->store_expunged_history_days = 180;
	c->store_metadata_sync_delay_ms = 100; /* durable (issue #14) */
	c->store_snapshot_max_mb = 64;          /* snap (issue #14) */
	c->store_message_cache_mb = 64;         /* msgcache (issue #14) */
	c->store_inline_max_kb = 64;            /* inline (issue #14) */
	c->store_snapshot_min_messages = 10000;
	c->store_snapshot_idle_s = 300;
	c->store_write_threads = 32;            /* dlv (issue #14) */
	c->store_background_threads = 1;        /* issue #14 */
	c->store_background_nice = 10;
	c->store_pool_sched_batch = true;
	c->store_index_delay_ms = 30000;        /* lazyidx (issue #14) */
	c->store_index_batch = 256;
	/* [mailboxes] (ext, issue #12) */
	c->mbox_drafts = xstrdup("Drafts");
	c->mbox_sent = xstrdup("Sent");
	c->mbox_trash = xstrdup("Trash");
	c->mbox_junk = xstrdup("Junk");
	c->mbox_archive = xstrdup("Archive");
	c->mbox_autocreate = true;
	/* [namespace] (acl) */
	c->ns_other_users_prefix = xstrdup("Other Users");
	c->ns_shared_prefix = xstrdup("Shared Folders");
	/* [metadata] (issue #12 metadata) */
	c->meta_value_max = 64u << 10;
	c->meta_entries_max = 100;
	c->meta_total_max = 1u << 20;
	c->ns_private_seen = true; /* aclseen */
	c->http_address = xstrdup("127.0.0.1:9143"); /* [http] */
	/* [lmtp] (lmtp part) */
	c->lmtp_recipient_delimiter = xstrdup("+");
	c->lmtp_detail_to_folder = true;
	c->lmtp_max_recipients = 50;
	c->lmtp_max_text_line = 65536;
	c->lmtp_idle_timeout = 300;
	c->lmtp_default_socket = true;
	c->lmtp_group_commit = true;
}

static char *config_dir_of(const char *path)
{
	char *copy = xstrdup(path);
	char *slash = strrchr(copy, '/');
	if (!slash) {
		free(copy);
		copy = xstrdup(".");
	} else if (slash == copy) {
		slash[1] = '\0';
	} else {
		*slash = '\0';
	}
	char *real = realpath(copy, NULL);
	if (real) {
		free(copy);
		return real;
	}
	if (copy[0] == '/')
		return copy;
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return copy;
	char *abs = xasprintf("%s/%s", cwd, copy);
	free(copy);
	return abs;
}

static int config_check_readable(const char *what, const char *path, char **err, const char *cpath)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		*err = xasprintf("%s: %s: cannot read %s: %s", cpath, what, path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*err = xasprintf("%s: %s: %s is not a regular file", cpath, what, path);
		return -1;
	}
	close(fd);
	return 0;
}

static int config_check_ciphers(const struct config *c, char **err)
{
	if (!c->tls_ciphers && !c->tls_ciphersuites)
		return 0;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		*err = xasprintf("%s: [tls]: OpenSSL cannot create a context", c->path);
		return -1;
	}
	int rc = 0;
	if (c->tls_ciphers && SSL_CTX_set_cipher_list(ctx, c->tls_ciphers) != 1) {
		*err = xasprintf("%s: [tls] ciphers: OpenSSL accepts none of '%s'", c->path, c->tls_ciphers);
		rc = -1;
	} else if (c->tls_ciphersuites && SSL_CTX_set_ciphersuites(ctx, c->tls_ciphersuites) != 1) {
		*err = xasprintf("%s: [tls] ciphersuites: OpenSSL rejects '%s'", c->path, c->tls_ciphersuites);
		rc = -1;
	}
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return rc;
}

/* [oauth]: what a file alone can get wrong. Whether the JWKS parses and
 * holds a usable key is auth/oauth.c's to say (oauth_new). */
static int config_check_oauth(const struct config *c, char **err)
{
	if (!c->oauth_jwks_file)
		return 0;
	static const char *const need[] = { "issuer", "audience", "username_claim", "algorithms" };
	const char *const have[] = { c->oauth_issuer, c->oauth_audience, c->oauth_username_claim,
				     c->oauth_algorithms };
	for (size_t i = 0; i < ARRAY_SIZE(need); i++) {
		if (!have[i]) {
			*err = xasprintf("%s: [oauth] %s is required when jwks_file is set", c->path, need[i]);
			return -1;
		}
	}
	return config_check_readable("[oauth] jwks_file", c->oauth_jwks_file, err, c->path);
}

/* ---- TLS policy part (issue #11): SNI certificates, PROXY, plaintext ---- */

/* 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104: this host only. */
static bool config_cidr_loopback(const struct cidr *n)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t v6lo[16] = { [15] = 1 };
	if (n->family == AF_INET)
		return n->prefix >= 8 && n->addr[0] == 127;
	if (memcmp(n->addr, v4mapped, 12) == 0)
		return n->prefix >= 104 && n->addr[12] == 127;
	return n->prefix == 128 && memcmp(n->addr, v6lo, 16) == 0;
}

static bool config_host_loopback(const char *host)
{
	struct cidr n;
	return cidr_parse(host, &n) == 0 && config_cidr_loopback(&n);
}

/* Cleartext authentication is possible for a client in trusted_networks
 * on any listener without implicit TLS, and a `tls = none` listener can
 * never offer TLS. Both are safe on loopback only; anywhere else a
 * password crosses a network in the clear, so the server refuses to start
 * unless [security] allow_plaintext_auth says the admin means it. */
static int config_check_plaintext(const struct config *c, char **err)
{
	if (c->allow_plaintext_auth)
		return 0;
	const struct cidr *wide = NULL;
	for (size_t i = 0; i < c->trusted_networks.n && !wide; i++)
		if (!config_cidr_loopback(&c->trusted_networks.v[i]))
			wide = &c->trusted_networks.v[i];
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct listener_config *l = &c->listeners[i];
		/* Behind a PROXY-protocol balancer the clients are remote, whatever
		 * address the listener is bound to. */
		if (!l->host || (config_host_loopback(l->host) && !l->proxy_from.n) ||
		    l->protocol == LISTENER_PROTO_LMTP) /* no passwords in LMTP */
			continue;
		if (l->tls == LISTENER_TLS_NONE) {
			*err = xasprintf("%s: [listener %s] has tls = none on the non-loopback address %s%s: "
					 "passwords would cross the network in cleartext. Use tls = "
					 "starttls or implicit, bind it to 127.0.0.1, or set [security] "
					 "allow_plaintext_auth = yes", c->path, l->name, l->host,
					 l->proxy_from.n ? " (behind proxy_from)" : "");
			return -1;
		}
		if (wide && l->tls == LISTENER_TLS_STARTTLS) {
			char buf[INET6_ADDRSTRLEN];
			if (!inet_ntop(wide->family, wide->addr, buf, sizeof(buf)))
				snprintf(buf, sizeof(buf), "?");
			*err = xasprintf("%s: [security] trusted_networks contains %s/%u, beyond loopback: "
					 "clients there could log in without TLS on [listener %s]. Set "
					 "[security] allow_plaintext_auth = yes if that network is really "
					 "private", c->path, buf, wide->prefix, l->name);
			return -1;
		}
	}
	return 0;
}

static int config_validate_tls_policy(const struct config *c, const struct config_parse *p,
				      char **err)
{
	const char *cp = c->path;
	for (size_t i = 0; i < c->nsni_certs; i++) {
		const struct sni_cert_config *sc = &c->sni_certs[i];
		if (!sc->nnames || !sc->cert || !sc->key) {
			*err = xasprintf("%s:%zu: [certificate %s] needs names, cert and key", cp,
					 p->sni_line[i], sc->name);
			return -1;
		}
		if (!c->tls_cert) {
			*err = xasprintf("%s:%zu: [certificate %s] needs a default certificate in [tls] "
					 "cert and key (used for clients that send no or an unknown name)",
					 cp, p->sni_line[i], sc->name);
			return -1;
		}
		if (!p->no_tls_files &&
		    (config_check_readable("[certificate] cert", sc->cert, err, cp) < 0 ||
		     config_check_readable("[certificate] key", sc->key, err, cp) < 0))
			return -1;
	}
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct listener_config *l = &c->listeners[i];
		if (l->unix_path && l->proxy_from.n) {
			*err = xasprintf("%s:%zu: [listener %s] proxy_from applies to TCP listeners only", cp,
					 p->lmeta[i].seen_line[LKEY_PROXY_FROM], l->name);
			return -1;
		}
	}
	return config_check_plaintext(c, err);
}

/* ---- [http] (issue #13) ---- */

/* address: "" or "none" turns the listener off; otherwise a numeric
 * HOST:PORT (brackets for IPv6). The status page names users and attacking
 * addresses, so a non-loopback address needs an explicit allow_from. */
static int config_check_http(struct config *c, char **err)
{
	if (!c->http_address || strcmp(c->http_address, "none") == 0) {
		free(c->http_address);
		c->http_address = NULL;
		return 0;
	}
	char host[INET6_ADDRSTRLEN + 2];
	uint16_t port;
	if (config_split_hostport(c->http_address, host, sizeof(host), &port) < 0) {
		*err = xasprintf("%s: [http] address '%s' is not a numeric HOST:PORT like "
				 "127.0.0.1:9143 or [::1]:9143 (or none)", c->path, c->http_address);
		return -1;
	}
	if (!config_host_loopback(host) && c->http_allow_from.n == 0) {
		*err = xasprintf("%s: [http] address %s is not loopback: the status page shows users "
				 "and attacking addresses; list who may read it in [http] allow_from",
				 c->path, c->http_address);
		return -1;
	}
	return 0;
}

/* lmtp (issue #13): LMTP listeners speak no TLS and take no passwords,
 * so what guards them is who can connect. A TCP one beyond loopback
 * needs an explicit allow_from: anyone else reaching it could inject
 * mail for every user (RFC 2033 1: LMTP is not for wide-area use). */
static int config_validate_lmtp(struct config *c, const struct config_parse *p, char **err)
{
	for (size_t i = 0; i < c->nlisteners; i++) {
		struct listener_config *l = &c->listeners[i];
		const struct listener_meta *m = &p->lmeta[i];
		if (l->protocol != LISTENER_PROTO_LMTP)
			continue;
		if (m->seen_line[LKEY_TLS] && l->tls != LISTENER_TLS_NONE) {
			*err = xasprintf("%s:%zu: [listener %s] speaks LMTP, which Rampart serves without "
					 "TLS: use a unix socket or loopback, tls = none", c->path,
					 m->seen_line[LKEY_TLS], l->name);
			return -1;
		}
		l->tls = LISTENER_TLS_NONE;
		if (m->seen_line[LKEY_PROXY_FROM]) {
			*err = xasprintf("%s:%zu: [listener %s] proxy_from does not apply to LMTP", c->path,
					 m->seen_line[LKEY_PROXY_FROM], l->name);
			return -1;
		}
		if (l->host && !config_host_loopback(l->host) && !l->allow_from.n) {
			*err = xasprintf("%s:%zu: [listener %s] serves LMTP on %s, beyond loopback: name the "
					 "MTA's addresses in allow_from", c->path, m->line, l->name, l->host);
			return -1;
		}
	}
	return 0;
}

/* lmtp: with no LMTP listener in the file, one on a unix socket in
 * state_dir (mode 0660, owned by the run user), as Dovecot's lmtp socket
 * in its base_dir. A state_dir too long for sun_path gets none; serve
 * logs it. */
static void config_lmtp_default(struct config *c)
{
	if (!c->lmtp_default_socket)
		return;
	for (size_t i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].protocol == LISTENER_PROTO_LMTP)
			return;
	char *path = xasprintf("%s/lmtp.sock", c->state_dir);
	if (strlen(path) >= 108 || c->nlisteners >= CONFIG_LISTENERS_MAX) {
		free(path);
		return;
	}
	c->listeners = xrealloc(c->listeners, (c->nlisteners + 1) * sizeof(*c->listeners));
	c->listeners[c->nlisteners++] = (struct listener_config){
		.name = xstrdup("lmtp"),
		.unix_path = path,
		.unix_mode = CONFIG_UNIX_MODE_DEFAULT,
		.unix_owner = c->run_user ? xstrdup(c->run_user) : NULL,
		.unix_group = c->run_group ? xstrdup(c->run_group) : NULL,
		.tls = LISTENER_TLS_NONE,
		.protocol = LISTENER_PROTO_LMTP,
		.implicit = true,
	};
}

static int config_validate(struct config *c, const struct config_parse *p, char **err)
{
	const char *cp = c->path;
	if (c->nlisteners == 0) {
		*err = xasprintf("%s: no listener: add a [listener NAME] section with an address "
				 "(for example [listener imaps] address = 0.0.0.0:993, tls = implicit)", cp);
		return -1;
	}
	if (config_validate_lmtp(c, p, err) < 0) /* lmtp */
		return -1;
	bool need_tls = false;
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct listener_config *l = &c->listeners[i];
		const struct listener_meta *m = &p->lmeta[i];
		if (!l->host && !l->unix_path) {
			*err = xasprintf("%s:%zu: [listener %s] has no address", cp, m->line, l->name);
			return -1;
		}
		if (l->host && l->unix_path) {
			*err = xasprintf("%s:%zu: [listener %s] has two addresses", cp, m->line, l->name);
			return -1;
		}
		/* A unix peer has no address to match, and a TCP peer is trusted
		 * by trusted_networks only: one rule per kind of listener. */
		if (l->unix_path && l->allow_from.n) {
			*err = xasprintf("%s:%zu: [listener %s] allow_from applies to TCP listeners only "
					 "(a unix socket is guarded by unix_mode)", cp, m->seen_line[LKEY_ALLOW_FROM],
					 l->name);
			return -1;
		}
		for (int k = LKEY_UNIX_MODE; l->host && k <= LKEY_TRUSTED; k++) {
			if (m->seen_line[k]) {
				*err = xasprintf("%s:%zu: [listener %s] %s applies to unix listeners only "
						 "(TCP peers are trusted through [security] "
						 "trusted_networks)", cp, m->seen_line[k], l->name,
						 listener_key_names[k]);
				return -1;
			}
		}
		for (size_t j = 0; j < i; j++) {
			const struct listener_config *o = &c->listeners[j];
			if (l->unix_path ? o->unix_path && strcmp(o->unix_path, l->unix_path) == 0
					 : o->host && o->port == l->port && strcmp(o->host, l->host) == 0) {
				*err = xasprintf("%s:%zu: [listener %s] uses the same address as [listener %s]",
						 cp, p->lmeta[i].line, l->name, c->listeners[j].name);
				return -1;
			}
		}
		need_tls |= l->tls != LISTENER_TLS_NONE;
	}
	if (need_tls && (!c->tls_cert || !c->tls_key)) {
		*err = xasprintf("%s: [tls] cert and key are required: a listener uses tls = starttls "
				 "or implicit", cp);
		return -1;
	}
	if (!p->no_tls_files && c->tls_cert &&
	    config_check_readable("[tls] cert", c->tls_cert, err, cp) < 0)
		return -1;
	if (!p->no_tls_files && c->tls_key && config_check_readable("[tls] key", c->tls_key, err, cp) < 0)
		return -1;
	if (config_check_ciphers(c, err) < 0)
		return -1;
	if (config_check_oauth(c, err) < 0)
		return -1;
	if (config_validate_tls_policy(c, p, err) < 0)
		return -1;
	if (c->run_group && !c->run_user) {
		*err = xasprintf("%s: [server] group is set but user is not", cp);
		return -1;
	}
	if (c->max_connections_per_ip > c->max_connections) {
		*err = xasprintf("%s: [limits] max_connections_per_ip (%u) is larger than "
				 "max_connections (%u)", cp, c->max_connections_per_ip, c->max_connections);
		return -1;
	}
	/* [alerts] (issue #11 alerts): no shell runs the command, and curl
	 * would otherwise accept file:// and friends. */
	if (c->alert_webhook_url && strncmp(c->alert_webhook_url, "http://", 7) != 0 &&
	    strncmp(c->alert_webhook_url, "https://", 8) != 0) {
		*err = xasprintf("%s: [alerts] webhook_url must start with http:// or https://", cp);
		return -1;
	}
	if (c->alert_command && c->alert_command[0] != '/') {
		*err = xasprintf("%s: [alerts] command must start with an absolute path", cp);
		return -1;
	}
	if (config_check_http(c, err) < 0)
		return -1;
	/* [namespace] (acl): a prefix is one hierarchy level. */
	if ((c->ns_other_users_prefix && strchr(c->ns_other_users_prefix, '/')) ||
	    (c->ns_shared_prefix && strchr(c->ns_shared_prefix, '/'))) {
		*err = xasprintf("%s: [namespace] a prefix may not contain '/'", cp);
		return -1;
	}
	return 0;
}

static int config_load_file(const char *path, struct config **out, char **err, bool no_tls_files);

int config_load(const char *path, struct config **out, char **err)
{
	struct config *c = NULL;
	char *e = NULL;
	int rc = config_load_file(path, &c, &e, false);
	if (out)
		*out = c;
	else
		config_free(c);
	if (err)
		*err = e;
	else
		free(e);
	return rc;
}

/* lifecycle (issue #13): SIGHUP's load, as the run user. */
int config_load_running(const char *path, struct config **out, char **err)
{
	*out = NULL;
	*err = NULL;
	return config_load_file(path, out, err, true);
}

static int config_load_file(const char *path, struct config **out, char **err, bool no_tls_files)
{
	if (!path || !*path) {
		*err = xstrdup("no configuration file given");
		return -1;
	}
	FILE *f = fopen(path, "re");
	if (!f) {
		*err = xasprintf("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		*err = xasprintf("%s: not a regular file", path);
		return -1;
	}
	if (st.st_size > CONFIG_FILE_MAX) {
		fclose(f);
		*err = xasprintf("%s: larger than %d bytes, not a configuration file", path, CONFIG_FILE_MAX);
		return -1;
	}

	struct config *c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	struct config_parse p = { .c = c, .path = path, .dir = config_dir_of(path), .f = f,
				  .no_tls_files = no_tls_files };
	config_set_defaults(c, p.dir);

	int rc = ini_parse_stream(config_reader, &p, config_handler, &p);
	bool read_error = ferror(f);
	fclose(f);

	if (read_error && !p.err)
		p.err = xasprintf("%s: read error", path);
	if (rc == -2 && !p.err)
		p.err = xasprintf("%s: out of memory", path);
	if (rc > 0 && (!p.err || (size_t)rc < p.err_line)) {
		free(p.err);
		p.err = xasprintf("%s:%d: syntax error (expected 'key = value', '[section]' or "
				  "'# comment')", path, rc);
	}
	if (!p.err)
		config_validate(c, &p, &p.err);
	if (!p.err)
		config_lmtp_default(c); /* lmtp */
	free(p.dir);
	free(p.lmeta);
	free(p.sni_line);
	if (p.err) {
		*err = p.err;
		config_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

struct config *config_new_defaults(const char *dir)
{
	struct config *c = xcalloc(1, sizeof(*c));
	config_set_defaults(c, dir);
	return c;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->mail_root);
	free(c->users_file);
	free(c->state_dir);
	free(c->run_user);
	free(c->run_group);
	free(c->log_file);
	free(c->pid_file);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_ciphers);
	free(c->tls_ciphersuites);
	free(c->auth_mechanisms);
	free(c->pw_breached_file);
	free(c->alert_webhook_url);
	free(c->alert_command);
	free(c->ns_other_users_prefix); /* acl */
	free(c->ns_shared_prefix);
	free(c->ns_public_owner);
	free(c->meta_admin); /* metadata */
	free(c->meta_comment);
	free(c->http_address); /* [http] */
	free(c->http_host_names);
	cidr_list_free(&c->http_allow_from);
	free(c->lmtp_recipient_delimiter); /* lmtp */
	free(c->alert_geoip_database);
	free(c->quota_admins);
	free(c->mbox_drafts);
	free(c->mbox_sent);
	free(c->mbox_trash);
	free(c->mbox_junk);
	free(c->mbox_archive);
	for (size_t i = 0; i < c->nlisteners; i++) {
		free(c->listeners[i].name);
		free(c->listeners[i].host);
		free(c->listeners[i].unix_path);
		free(c->listeners[i].unix_owner);
		free(c->listeners[i].unix_group);
		cidr_list_free(&c->listeners[i].allow_from);
		cidr_list_free(&c->listeners[i].proxy_from);
	}
	free(c->listeners);
	for (size_t i = 0; i < c->nsni_certs; i++) {
		struct sni_cert_config *sc = &c->sni_certs[i];
		for (size_t j = 0; j < sc->nnames; j++)
			free(sc->names[j]);
		free(sc->names);
		free(sc->name);
		free(sc->cert);
		free(sc->key);
	}
	free(c->sni_certs);
	cidr_list_free(&c->trusted_networks);
	/* [oauth] */
	free(c->oauth_jwks_file);
	free(c->oauth_issuer);
	free(c->oauth_audience);
	free(c->oauth_username_claim);
	free(c->oauth_algorithms);
	free(c->oauth_scope);
	free(c->oauth_openid_configuration);
	free(c);
}

/* Long lists go on indented continuation lines so that the output stays
 * within libinih's line length and loads again as it is. */
#define CONFIG_PRINT_PER_LINE 4
#define CONFIG_PRINT_WIDTH 150

static void config_print_cidrs(FILE *f, const struct cidr_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		char buf[INET6_ADDRSTRLEN];
		if (!inet_ntop(l->v[i].family, l->v[i].addr, buf, sizeof(buf)))
			snprintf(buf, sizeof(buf), "?");
		if (i && i % CONFIG_PRINT_PER_LINE == 0)
			fputs(",\n    ", f);
		else if (i)
			fputs(", ", f);
		fprintf(f, "%s/%u", buf, l->v[i].prefix);
	}
}

/* A ':'-separated OpenSSL list, wrapped at its separators; the loader
 * joins continuation lines of ciphers with ':' again. */
static void config_print_colon_list(FILE *f, const char *v)
{
	size_t width = 0;
	while (*v) {
		size_t n = strcspn(v, ":");
		if (width && width + n + 1 > CONFIG_PRINT_WIDTH) {
			fputs("\n    ", f);
			width = 0;
		} else if (width) {
			fputc(':', f);
			width++;
		}
		fwrite(v, 1, n, f);
		width += n;
		v += n;
		if (*v == ':')
			v++;
	}
}

void config_print(const struct config *c, FILE *f)
{
	const enum config_section *order = config_plain_sections;
	fprintf(f, "# effective configuration of %s\n", c->path ? c->path : "(none)");
	for (size_t s = 0; s < ARRAY_SIZE(config_plain_sections); s++) {
		fprintf(f, "%s[%s]\n", s ? "\n" : "", config_section_names[order[s]]);
		for (size_t i = 0; i < ARRAY_SIZE(config_keys); i++) {
			const struct config_key *k = &config_keys[i];
			if (k->sec != order[s])
				continue;
			const void *field = (const char *)c + k->off;
			/* "key =" for an unset value, without a trailing space */
			bool empty = (k->type == T_CIDRS && ((const struct cidr_list *)field)->n == 0) ||
				     ((k->type == T_OPTPATH || k->type == T_OPTSTR) && !*(char *const *)field);
			fprintf(f, "%s =%s", k->name, empty ? "" : " ");
			switch (k->type) {
			case T_UINT:
				fprintf(f, "%u", *(const unsigned *)field);
				break;
			case T_SIZE:
				fprintf(f, "%zu", *(const size_t *)field);
				break;
			case T_PATH:
			case T_OPTPATH:
			case T_OPTSTR: {
				const char *v = *(char *const *)field;
				if (v && k->off == offsetof(struct config, tls_ciphers))
					config_print_colon_list(f, v);
				else
					fputs(v ? v : "", f);
				break;
			}
			case T_LOGLEVEL:
				fputs(config_log_level_name(*(const int *)field), f);
				break;
			case T_SPIKEACT:
				fputs(*(const int *)field == ALERT_SPIKE_THROTTLE ? "throttle" : "log", f);
				break;
			case T_TLSVER:
				fputs(*(const int *)field == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2", f);
				break;
			case T_CIDRS:
				config_print_cidrs(f, field);
				break;
			case T_BOOL:
				fputs(*(const bool *)field ? "yes" : "no", f);
				break;
			}
			fputc('\n', f);
		}
	}
	for (size_t i = 0; i < c->nsni_certs; i++) {
		const struct sni_cert_config *sc = &c->sni_certs[i];
		fprintf(f, "\n[certificate %s]\nnames = ", sc->name);
		for (size_t j = 0; j < sc->nnames; j++)
			fprintf(f, "%s%s", j ? (j % CONFIG_PRINT_PER_LINE ? ", " : ",\n    ") : "", sc->names[j]);
		fprintf(f, "\ncert = %s\nkey = %s\n", sc->cert, sc->key);
	}
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct listener_config *l = &c->listeners[i];
		if (l->implicit) /* lmtp: [lmtp] default_socket */
			continue;
		fprintf(f, "\n[listener %s]\n", l->name);
		if (l->unix_path)
			fprintf(f, "address = unix:%s\n", l->unix_path);
		else if (strchr(l->host, ':'))
			fprintf(f, "address = [%s]:%u\n", l->host, l->port);
		else
			fprintf(f, "address = %s:%u\n", l->host, l->port);
		fprintf(f, "tls = %s\n", l->tls == LISTENER_TLS_IMPLICIT ? "implicit"
				       : l->tls == LISTENER_TLS_NONE  ? "none"
								      : "starttls");
		if (!l->unix_path) {
			fputs(l->allow_from.n ? "allow_from = " : "allow_from =", f);
			config_print_cidrs(f, &l->allow_from);
			fputc('\n', f);
			fputs(l->proxy_from.n ? "proxy_from = " : "proxy_from =", f);
			config_print_cidrs(f, &l->proxy_from);
			fputc('\n', f);
		}
		fprintf(f, "protocol = %s\n", config_protocol_name(l->protocol));
		if (l->unix_path)
			fprintf(f, "unix_mode = %04o\nunix_owner =%s%s\nunix_group =%s%s\ntrusted = %s\n",
				l->unix_mode, l->unix_owner ? " " : "", l->unix_owner ? l->unix_owner : "",
				l->unix_group ? " " : "", l->unix_group ? l->unix_group : "",
				l->trusted ? "yes" : "no");
	}
}
