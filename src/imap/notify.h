/* Change notifications, routed to sessions: which sessions of this worker
 * thread belong to which user. The network layer only runs
 * imap_notify_user on every worker (server_post_all); finding the sessions
 * is the IMAP layer's business. */
#ifndef RAMPART_IMAP_NOTIFY_H
#define RAMPART_IMAP_NOTIFY_H

struct imap_session;

/* A session's place in its thread's registry; zeroed means "not in it". */
struct imap_notify_entry {
	char *user;
	struct imap_session *sess;
	struct imap_notify_entry *next;
};

/* The session logged in as `user` on this thread: route that user's
 * changes to it, and have the store watch the user's mail. */
void imap_notify_register(struct imap_notify_entry *e, struct imap_session *sess,
			  const char *user);
/* The session is going away (or logging in again). */
void imap_notify_unregister(struct imap_notify_entry *e);
/* The mail of `user` changed: every session of that user on the calling
 * worker thread reports what its client may see (imap_session_notify). */
void imap_notify_user(const char *user);

#endif
