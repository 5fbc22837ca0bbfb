/* Who is connected: every IMAP connection of a worker thread, in that
 * thread's own list, for `rampart who`, `rampart kick` and the status page.
 *
 * A connection joins its thread's list when it opens and leaves when it
 * is freed, both on its worker thread; its figures (user, mailbox, bytes)
 * are read from the session itself when asked. So the hot path costs
 * nothing beyond a counter: a reader never looks at another thread's list
 * but asks every worker to look at its own (server_post_all; app/who.c
 * gathers the answers). */
#ifndef RAMPART_IMAP_WHO_H
#define RAMPART_IMAP_WHO_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct imap_session;

/* A connection's place in its thread's list; zeroed means "not in it". */
struct imap_who_entry {
	struct imap_session *sess;
	time_t since;               /* connected; login time once logged in */
	uint64_t bytes_in;          /* input consumed by the session */
	struct imap_who_entry *prev, *next;
};

/* One connection as the readers see it: copies, valid after the call. */
struct imap_who_row {
	char user[128];             /* "" before login */
	char peer[64];              /* source address, or "unix" */
	char listener[32];
	char mailbox[256];          /* selected mailbox (UTF-8), "" when none */
	char tls[16];               /* "TLSv1.3", "" without TLS */
	time_t since;
	uint64_t bytes_in, bytes_out;
};

/* The connection opened on this thread. */
void imap_who_join(struct imap_who_entry *e, struct imap_session *sess);
/* It logged in: `since` becomes the login time. */
void imap_who_login(struct imap_who_entry *e);
/* The connection is going away. */
void imap_who_leave(struct imap_who_entry *e);

/* Calls fn for every connection of the calling worker thread. */
void imap_who_rows(void (*fn)(void *arg, const struct imap_who_row *row), void *arg);
/* Ends every connection of the calling thread logged in as `user` (when
 * non-NULL), coming from `ip` (when non-NULL) and, when `credential` is
 * non-NULL, logged in with it ("app:NAME": one app password), with
 * "* BYE text"; the number ended. */
unsigned imap_who_kick(const char *user, const char *ip, const char *credential,
		       const char *text);

#endif
