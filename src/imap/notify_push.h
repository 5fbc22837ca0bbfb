/* NOTIFY (RFC 5465) in a session: the setting in force and what the
 * client was last told about each of its mailboxes, and the delivery of
 * the differences as unsolicited STATUS / LIST (and, for the selected
 * mailbox, EXISTS/EXPUNGE/FETCH). imap/notify_push.c; the command is
 * imap/cmd_notify.c. Not a public interface outside src/imap/. */
#ifndef RAMPART_IMAP_NOTIFY_PUSH_H
#define RAMPART_IMAP_NOTIFY_PUSH_H

#include <stdbool.h>

struct imap_session;
struct notify_set;

/* Puts `set` in force (the session takes it; a NONE set turns NOTIFY
 * off): remembers the current state of the user's mailboxes and, for
 * SET STATUS, writes the initial STATUS responses (RFC 5465 3.1).
 * Returns 0, or a store error (nothing changed; set freed). */
int notify_push_set(struct imap_session *s, struct notify_set *set);
/* The user's mail changed (the change feed): remember it, and tell the
 * client now when it is between commands (RFC 5465 3: notifications
 * go out whenever no command response is being sent). */
void notify_push_changed(struct imap_session *s);
/* Writes what is pending: at a command's completion (allow_expunge as
 * RFC 9051 7.5.1 allows for that command) and during IDLE. Without
 * NOTIFY this is the plain view_sync of the selected mailbox. */
void notify_push_deliver(struct imap_session *s, bool allow_expunge);
/* The session goes: frees its NOTIFY state. */
void notify_push_free(struct imap_session *s);

#endif
