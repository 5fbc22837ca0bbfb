/* What the command implementations (imap/cmd_*.c) share with the session
 * core (imap/session.c). Not a public interface outside src/imap/. */
#ifndef RAMPART_IMAP_SESSION_INTERNAL_H
#define RAMPART_IMAP_SESSION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "imap/command.h"
#include "imap/parser.h"
#include "core/seqset.h"
#include "imap/session.h"
#include "imap/search_context.h"
#include "core/proto.h"
#include "store/store.h"

enum imap_state { ST_NOTAUTH, ST_AUTH, ST_SELECTED, ST_LOGOUT };

/* How the session reads its next input; changed only by session.c, on
 * behalf of the running command (sess_wait_line, sess_suspend, ...). */
enum imap_input_mode {
	IN_COMMAND,     /* parse commands */
	IN_LINE,        /* hand each line to the running command (IDLE, SASL) */
	IN_BUSY,        /* a command is running (async or waiting for output room) */
};

/* The selected mailbox as this session sees it (RFC 9051 2.3.1.2): the
 * sequence number of a message is its index in uids[] plus one. */
struct imap_view {
	int64_t id;
	char *name;                /* UTF-8 */
	bool readonly;
	uint32_t uidvalidity;
	uint32_t *uids;            /* ascending */
	uint32_t count, cap;
	/* UIDs that are \Recent for this session (rev1; empty for rev2): the
	 * ranges it claimed from the store (view_recent_claim), or for a
	 * read-only view every UID from the mailbox's first_recent_uid. */
	struct seqset recent;
	/* rev1, a writable view of one's own mailbox: every UID below this was
	 * claimed, by this session (in recent) or before it, so a sync that
	 * finds only such new UIDs need not ask the store (0: unknown). */
	uint32_t recent_end;
	/* Keywords announced in FLAGS (view_keywords_*), case-insensitively
	 * distinct; kw_seen is the last keyword list found all announced. */
	char **kw;
	size_t nkw, kwcap;
	char *kw_seen;
	uint64_t modseq;           /* every change up to this has been reported */
	uint64_t flags_modseq;     /* flag changes up to this have been reported */
	/* Modseqs of this session's own write transactions whose changes it
	 * already reported (or, for .SILENT, must not report): see view.c. */
	uint64_t *own;
	size_t nown, owncap;
	/* acl (imap/namespace.c): another user's mailbox, NULL for one's own;
	 * the rights held when it was selected; the owner's change feed. */
	char *owner;
	uint32_t rights;
	struct imap_notify_entry *watch;
	struct search_context *contexts; /* context: RFC 5267 UPDATE (search_context.c) */
};

struct imap_session {
	const struct conn_io *io;
	void *conn;
	struct imap_conn_info info;
	char peer[64];
	char listener[32];
	const struct config *cfg;

	enum imap_state state;
	enum imap_input_mode mode;
	struct imap_parser *parser;
	struct imap_parser_limits parser_limits;
	struct event *login_deadline; /* login_timeout after accept; NULL once logged in */
	unsigned bad_commands;       /* consecutive; too many -> BYE */
	unsigned auth_failures;

	uint64_t enabled;            /* ENABLEd capabilities (imap/capability.c) */
	bool rev2;                   /* ENABLE IMAP4rev2 done */
	bool utf8;                   /* rev2: mailbox names are UTF-8 on the wire */
	bool notify_pending;         /* changes were announced since the last sync */
	bool closing;
	bool draining;               /* lifecycle: server stopping, BYE after this command */
	bool compressed;             /* COMPRESS=DEFLATE on (imap/cmd_compress.c) */

	char *user;
	char *spool_dir;             /* large APPEND literals go here (parser.h) */
	struct imap_view view;       /* valid in ST_SELECTED */
	struct seqset searchres;     /* SEARCHRES "$", as UIDs */
	bool searchres_set;

	/* The running command (one at a time: RFC 9051 5.5 is kept by not
	 * reading while it runs), NULL between commands. */
	struct imap_cmd *cmd;

	bool output_blocked;         /* stopped reading until output drains */
	struct store_user *store;    /* held for the running command only */

	struct strbuf out;           /* response bytes not yet handed to the connection */
	uint64_t written;            /* bytes through sess_write (FETCH counts its data) */
	uint64_t sent;               /* status: every byte handed to the connection */
	char credential[80];         /* status: "password" or "app:NAME" after a password
				      * login (for the kick after a revoke), else "" */
	struct event *pace;          /* sess_wait_timer's timer, made on first use */
	bool pacing;                 /* a command waits for it */
	/* notify: NOTIFY's setting and what the client was told
	 * (imap/notify_push.c); NULL while NOTIFY is off. */
	struct notify_state *notify;
};

/* ---- output ---- */
/* Appends a formatted response line; "\r\n" is added. */
void sess_printf(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Raw bytes (for literals and partial lines). */
void sess_write(struct imap_session *s, const void *data, size_t len);
/* alloc: len bytes of file fd from off, as they are, after what is
 * buffered: the connection reads (TLS) or sends (plain, sendfile) them
 * itself, so no copy of them passes through the session. fd stays the
 * caller's. false when the file could not be read: the connection is
 * being closed (the literal is cut) and the command must stop. */
bool sess_write_file(struct imap_session *s, int fd, uint64_t off, size_t len);
/* Hands buffered response bytes to the connection. */
void sess_flush(struct imap_session *s);
/* Tagged completion: status is "OK", "NO" or "BAD"; text may start with a
 * "[CODE]". Ends the running command (frees s->cmd: the command must not
 * be touched afterwards) and reading resumes. */
void sess_tagged(struct imap_session *s, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* True when the client is slow and the command should pause: resume() will
 * be called once output has drained. */
bool sess_output_full(struct imap_session *s);
/* Says BYE and closes. */
void sess_bye(struct imap_session *s, const char *text);

/* ---- the running command and the session ---- */
/* Pauses the command until output drains; then cmd->resume runs. */
void sess_wait_output(struct imap_cmd *cmd, void (*resume)(struct imap_cmd *cmd));
/* Pauses the command for ms milliseconds (paced output: a throttled
 * download), then cmd->resume runs. False when the session has no event
 * loop (unit tests): the command goes on at once. */
bool sess_wait_timer(struct imap_cmd *cmd, uint64_t ms, void (*resume)(struct imap_cmd *cmd));
/* Hands each following input line (without CRLF) to `line` until the
 * command ends or suspends (IDLE's DONE, SASL responses). */
void sess_wait_line(struct imap_cmd *cmd, void (*line)(struct imap_cmd *cmd, const char *l,
							size_t len));
/* Stops reading input until the command ends (work on the pool, a timer). */
void sess_suspend(struct imap_cmd *cmd);
/* After the tagged OK of STARTTLS: read nothing until the handshake is
 * done (the connection discards what was pipelined behind it). */
void sess_starttls(struct imap_session *s);
/* LOGIN/AUTHENTICATE succeeded as `user`. */
void sess_login(struct imap_session *s, const char *user);
/* SELECT/EXAMINE succeeded: the session takes the view `v` (left zeroed)
 * and is in the selected state, with nothing pending to report. */
void sess_select(struct imap_session *s, struct imap_view *v);
/* Leaves the selected state quietly (CLOSE, UNSELECT, re-SELECT, DELETE
 * of the selected mailbox): the view and the SEARCHRES "$" go. */
void sess_unselect(struct imap_session *s);
/* The selected mailbox was renamed to `name` (the session takes it). */
void sess_view_rename(struct imap_session *s, char *name);
/* SEARCH RETURN (SAVE): "$" now names these UIDs (RFC 5182). */
void sess_searchres_save(struct imap_session *s, const uint32_t *uids, size_t n);
/* LOGOUT: close once the queued output is sent. */
void sess_logout(struct imap_session *s);
/* LOGOUT's untagged BYE; nothing but the tagged OK may follow it. */
void sess_logout_bye(struct imap_session *s);
/* Hands over the parser holding the running command's arguments (the
 * caller frees it) and gives the session a fresh one. */
struct imap_parser *sess_take_parser(struct imap_session *s);

/* ---- mailbox names on the wire ---- */
/* Decodes a mailbox argument to UTF-8 (modified UTF-7 for rev1 sessions,
 * UTF-8 for rev2); "INBOX" in any case becomes "INBOX". Caller frees.
 * NULL when the name is not valid (answer BAD/NO). */
char *sess_mailbox_arg(struct imap_session *s, const struct imap_arg *a);
/* Writes a mailbox name as the session's client expects it. */
void sess_write_mailbox(struct imap_session *s, struct strbuf *out, const char *name);

/* ---- the view ---- */
/* Sequence number (1-based) of uid, or 0 when not in the view. */
uint32_t view_seq_of(const struct imap_view *v, uint32_t uid);
/* Resolves a sequence set or UID set argument against the view into a
 * sorted UID array of messages that exist in the view (caller frees).
 * Handles "$" (SEARCHRES). Returns 0, or -1 on syntax error. */
int view_resolve_set(struct imap_session *s, const struct imap_arg *a, bool uid,
		     uint32_t **uids, size_t *n);
/* Reports changes made by anyone since the last sync: EXISTS/RECENT for
 * new messages, FETCH for flag changes, and (when allow_expunge) EXPUNGE.
 * RFC 9051 7.5.1: no EXPUNGE during FETCH, STORE or SEARCH. Returns false
 * when the mailbox is gone (the session was closed with BYE). */
bool view_sync(struct imap_session *s, bool allow_expunge);
/* Remembers that this session reported (or silenced) its own flag change
 * of uid at modseq, so view_sync does not echo it. */
void view_note_own_change(struct imap_session *s, uint32_t uid, uint64_t modseq);
void view_clear(struct imap_view *v);
/* correct: \Recent (RFC 3501 2.3.2). view_recent(): is uid \Recent here.
 * view_recent_claim(): claims the mailbox's unclaimed recent UIDs for this
 * session in the store's write transaction (not for a read-only view);
 * returns the number of the view's messages that are \Recent here. */
bool view_recent(const struct imap_view *v, uint32_t uid);
uint32_t view_recent_count(const struct imap_view *v);
uint32_t view_recent_claim(struct imap_session *s);
struct store_recent_claim;
/* Adds a claim the store made for this view (store_append_claim). */
void view_recent_claimed(struct imap_view *v, const struct store_recent_claim *c);
/* correct: keywords in FLAGS (RFC 9051 7.3.5). view_keywords_add() records
 * a keyword list as announced without writing anything (SELECT's initial
 * set); view_write_flags() writes the FLAGS and PERMANENTFLAGS responses;
 * view_keywords_note() writes them again, before the response that uses
 * it, when keywords holds one not yet announced. */
void view_keywords_add(struct imap_view *v, const char *keywords);
void view_write_flags(struct imap_session *s);
void view_keywords_note(struct imap_session *s, const char *keywords);

/* Writes "(\Seen \Flagged kw1 kw2)" for flags/keywords; with \Recent when
 * recent and the session is rev1. */
void sess_write_flags(struct imap_session *s, struct strbuf *out, uint32_t flags,
		      const char *keywords, bool recent);
/* Parses a flag list ("(\Seen $Foo)" or a single atom) into bits and a
 * space-separated keyword string (caller frees *keywords, may be NULL).
 * \Recent is rejected. Keywords follow the store's rule
 * (store_keyword_check). Returns 0, -1 for a syntax error or -2 for a
 * keyword over the store's limits (*err set either way). */
int sess_parse_flags(const struct imap_arg *a, size_t n, uint32_t *flags, char **keywords,
		     const char **err);
/* The tagged reply for a sess_parse_flags() failure r: BAD for syntax,
 * NO [LIMIT] for limits; STORE and APPEND answer alike. */
void sess_flags_error(struct imap_session *s, int r, const char *err);

/* The user's store handle for this command (opened on first use and
 * released when the command ends). NULL on failure (answer NO [SERVERBUG]). */
struct store_user *sess_store(struct imap_session *s);
void sess_store_release(struct imap_session *s);
/* Maps a store error to a tagged NO with the right RFC 5530 code. */
void sess_store_error(struct imap_session *s, int err, const char *what);

/* ESEARCH result options: enum esearch_ret (imap/search_context.h). */
/* RETURN (...) into *ret (ESEARCH_* bits; "()" is ALL); -1 when a is not
 * a list of known options. */
int cmd_esearch_return_parse(const struct imap_arg *a, unsigned *ret);
/* Appends "* ESEARCH (TAG t) [UID]" and the MIN (res[0]), MAX
 * (res[n - 1]), COUNT and ALL (as an ascending set) that ret asks for;
 * MIN, MAX and ALL only when n > 0. No CRLF. */
void cmd_esearch_write(struct imap_session *s, struct strbuf *line, unsigned ret, bool uid,
		       const uint32_t *res, size_t n);

/* FETCH (imap/cmd_fetch.c): writes the value of a data item that needs
 * only the message's metadata (UID, FLAGS, INTERNALDATE, SAVEDATE,
 * RFC822.SIZE, MODSEQ, EMAILID, THREADID) after its label; false for any
 * other item. Shared with NOTIFY's MessageNew (imap/notify_push.c). */
struct fetch_item;
bool cmd_fetch_write_meta(struct imap_session *s, struct strbuf *line,
			  const struct fetch_item *it, const struct store_msg *m);

/* SORT/THREAD: the view's messages matching key, ascending, as SEARCH
 * finds them (imap/cmd_search.c); on a pool thread. recent: a copy of
 * the view's \Recent UIDs; reader: whose private \Seen (aclseen, the
 * job's reader). *seqs and *uids are malloc'd (NULL when none match). */
struct search_key;
int cmd_search_matches(struct store_user *u, const char *reader, const struct search_key *key,
		       int64_t mailbox, const uint32_t *view, uint32_t count,
		       const struct seqset *recent, uint32_t **seqs, uint32_t **uids, size_t *n);
/* context: which of msgs[0..n) (full metadata; seqs[i] the sequence
 * number of msgs[i]) match key, into match[i]; without the index, for a
 * few changed messages (imap/search_context.c). */
void cmd_search_match_msgs(struct store_user *u, const struct search_key *key,
			   const struct store_msg *msgs, const uint32_t *seqs, size_t n,
			   const struct seqset *recent, bool *match);

#endif
