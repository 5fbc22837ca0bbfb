/* The per-thread list of IMAP connections (imap/who.h). Like notify.c's
 * registry it is _Thread_local: a connection lives and dies on its
 * worker's thread and a reader's request runs on every worker
 * (server_post_all), so no lock is taken, neither by a session nor by a
 * reader. A doubly linked list makes joining and leaving O(1). */
#include "imap/who.h"
#include "imap/session_internal.h"

#include <stdio.h>
#include <string.h>

static _Thread_local struct imap_who_entry *tl_head;

void imap_who_join(struct imap_who_entry *e, struct imap_session *sess)
{
	e->sess = sess;
	e->since = time(NULL);
	e->prev = NULL;
	e->next = tl_head;
	if (tl_head)
		tl_head->prev = e;
	tl_head = e;
}

void imap_who_login(struct imap_who_entry *e)
{
	e->since = time(NULL);
}

void imap_who_leave(struct imap_who_entry *e)
{
	if (!e->sess)
		return;
	if (e->prev)
		e->prev->next = e->next;
	else
		tl_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	memset(e, 0, sizeof(*e));
}

static void who_row_fill(const struct imap_who_entry *e, struct imap_who_row *r)
{
	const struct imap_session *s = e->sess;
	memset(r, 0, sizeof(*r));
	snprintf(r->user, sizeof(r->user), "%s", s->user ? s->user : "");
	snprintf(r->peer, sizeof(r->peer), "%s", s->peer);
	snprintf(r->listener, sizeof(r->listener), "%s", s->listener);
	if (s->state == ST_SELECTED && s->view.name)
		snprintf(r->mailbox, sizeof(r->mailbox), "%s", s->view.name);
	const char *version = NULL, *cipher = NULL;
	if (s->io->tls_describe && s->io->tls_describe(s->conn, &version, &cipher) && version)
		snprintf(r->tls, sizeof(r->tls), "%s", version);
	r->since = e->since;
	r->bytes_in = e->bytes_in;
	r->bytes_out = s->sent;
}

void imap_who_rows(void (*fn)(void *arg, const struct imap_who_row *row), void *arg)
{
	struct imap_who_row r;
	for (const struct imap_who_entry *e = tl_head; e; e = e->next) {
		if (e->sess->closing)
			continue;
		who_row_fill(e, &r);
		fn(arg, &r);
	}
}

unsigned imap_who_kick(const char *user, const char *ip, const char *credential,
		       const char *text)
{
	unsigned n = 0;
	/* sess_bye never frees the session (the connection's free() follows
	 * from the event loop), so the list stays valid while we walk it. */
	for (struct imap_who_entry *e = tl_head; e; e = e->next) {
		struct imap_session *s = e->sess;
		if (s->closing)
			continue;
		if (user && !(s->user && strcmp(s->user, user) == 0))
			continue;
		if (ip && strcmp(s->peer, ip) != 0)
			continue;
		if (credential && strcmp(s->credential, credential) != 0)
			continue;
		sess_bye(s, text);
		n++;
	}
	return n;
}
