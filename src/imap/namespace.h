/* Namespaces (RFC 2342) and the resolution of a mailbox name on the wire
 * to (owner, owner's name, rights): imap/namespace.c. Not a public
 * interface outside src/imap/. */
#ifndef RAMPART_IMAP_NAMESPACE_H
#define RAMPART_IMAP_NAMESPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imap_cmd;
struct imap_session;
struct imap_view;
struct store_mailbox;

/* Check the rights on the parent of the name (CREATE, RENAME's target:
 * RFC 4314 4 "k" on the parent), which must exist; the name itself need
 * not. */
#define IMAP_NEED_PARENT (1u << 31)

/* A resolved mailbox name, kept by the running command (cmd->mbref). */
struct imap_mailbox_ref {
	char *owner;        /* whose store holds it; the session's user for its own */
	char *prefix;       /* "" for the user's own, else "Other Users/bob/" etc. */
	uint32_t rights;    /* enum store_acl_right bits the user has */
};

/* Resolves *name (UTF-8, as sess_mailbox_arg returns it) for a command
 * that needs the rights `need` (enum store_acl_right bits, optionally
 * with IMAP_NEED_PARENT): *name becomes the owner's name for the mailbox,
 * cmd->mbref says whose store and what prefix, and the command's store
 * work goes to that store (imap_cmd_store_user). Returns 0; or answers
 * the command itself (NO [NONEXISTENT] for a name the user may neither
 * look up nor read, exactly as for a missing one; NO [NOPERM] for a
 * right missing; NO [CANNOT] for a namespace's own levels), frees *name
 * and returns -1. The user's own names cost no store access. */
int imap_mailbox_resolve(struct imap_cmd *cmd, char **name, uint32_t need);
/* SUBSCRIBE: 1 when name is another user's mailbox the user may look up
 * (subscribed in the user's own store under that name), 0 for the user's
 * own names; -1 answered (name freed). */
int imap_mailbox_is_shared(struct imap_cmd *cmd, char *name);
/* The user whose store the command works in: the view's owner for the
 * commands that act on the selected mailbox (allowed only in the
 * selected state), else the owner imap_mailbox_resolve() found, else the
 * session's user. */
const char *imap_cmd_store_user(const struct imap_cmd *cmd);
/* aclseen: whose private \Seen the session sees in a mailbox of `owner`
 * (NULL: the session's own): the session's user in another user's mailbox
 * when [namespace] private_seen is on, else NULL (the message's \Seen).
 * What the store's *_as / store_pvtseen_* functions take as reader. */
const char *imap_seen_reader(const struct imap_session *s, const char *owner);
/* The same for the store the command works in (imap_cmd_store_user). */
const char *imap_cmd_seen_reader(const struct imap_cmd *cmd);
/* The same for the selected mailbox. */
const char *imap_view_seen_reader(const struct imap_session *s);
/* The name the client knows for the owner's `name` (caller frees). */
char *imap_mailbox_shown(const struct imap_cmd *cmd, const char *name);
/* STATUS and the like: replaces mb->name by the client's name. */
void imap_mailbox_show(const struct imap_cmd *cmd, struct store_mailbox *mb);

/* SELECT/EXAMINE: gives the new view its owner, rights, the client's
 * name and (for another user's mailbox) a subscription to the owner's
 * change feed. */
void imap_mailbox_view_adopt(struct imap_cmd *cmd, struct imap_view *v);
/* The view goes (view_clear): drops what imap_mailbox_view_adopt added. */
void imap_mailbox_view_release(struct imap_view *v);
/* Does the selected view give right(s) r? */
bool imap_view_may(const struct imap_session *s, uint32_t r);
/* STORE: may these flags be changed (RFC 4314 4: \Seen needs s, \Deleted
 * t, other flags and keywords w; replacing the whole set needs all)? */
bool imap_view_may_flags(const struct imap_session *s, uint32_t flags, const char *keywords,
			 bool replace);
/* SELECT of another user's mailbox: PERMANENTFLAGS lists only the flags
 * the rights allow changing. */
void imap_view_permanentflags(struct imap_session *s);
/* COPY/MOVE: resolves the target (i) and checks MOVE's rights on the
 * source (t and e). 0, or answered and *name freed (-1). */
int imap_cmd_acl_copy(struct imap_cmd *cmd, char **name, bool move);

/* LIST: the mailboxes other users shared with the session's user, as
 * entries named in the client's namespaces. begin runs on the worker
 * (copies what the pool thread needs), add on the pool thread (appends
 * to the name-ordered array, keeping the order), free anywhere. */
struct imap_shared_list;
struct imap_shared_list *imap_mailbox_shared_begin(struct imap_session *s);
void imap_mailbox_shared_add(struct imap_shared_list *l, struct store_mailbox **mbs, size_t *n);
void imap_mailbox_shared_free(struct imap_shared_list *l);
/* aclcopy: the user's rights on a listed name (every right on its own
 * mailboxes); on the pool thread. false when they can't be read. */
bool imap_mailbox_shared_rights(const struct imap_shared_list *l, const char *name,
				uint32_t *rights);

#endif
