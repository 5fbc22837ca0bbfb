/* The ACL commands of RFC 4314 3: SETACL, DELETEACL, GETACL, LISTRIGHTS,
 * MYRIGHTS. The mailbox is resolved (owner, name, rights) by
 * imap/namespace.c like every other command's; the list lives in the
 * owner's store (store/acl.c). Each is one or two indexed statements on
 * a pooled handle, rare and small, so they run on the worker rather than
 * through the work pool. */
#include "imap/session_internal.h"
#include "imap/namespace.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* RFC 4314 4: the rights every ACL command needs: a, except MYRIGHTS
 * (any right). */
static char *acl_mailbox(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs,
			 size_t want, uint32_t need)
{
	struct imap_session *s = cmd->s;
	if (nargs != want) {
		sess_tagged(s, "BAD", "%s: wrong number of arguments", cmd->def->name);
		return NULL;
	}
	char *name = sess_mailbox_arg(s, &args[0]);
	if (!name) {
		sess_tagged(s, "BAD", "%s: invalid mailbox name", cmd->def->name);
		return NULL;
	}
	if (imap_mailbox_resolve(cmd, &name, need) < 0)
		return NULL;
	return name;
}

/* The identifier argument; NULL (answered BAD) when it is not one. */
static const char *acl_ident(struct imap_cmd *cmd, const struct imap_arg *a)
{
	const char *id;
	size_t len;
	if (!imap_arg_get_astring(a, &id, &len) || strlen(id) != len || !store_acl_ident_valid(id)) {
		sess_tagged(cmd->s, "BAD", "%s: invalid identifier", cmd->def->name);
		return NULL;
	}
	return id;
}

/* The mailbox's entries (it must exist) in *e; answered on failure. */
static int acl_load(struct imap_cmd *cmd, const char *name, struct store_acl_entry **e, size_t *n)
{
	struct store_user *u = sess_store(cmd->s);
	int r = u ? store_acl_list(u, name, e, n) : STORE_EIO;
	if (r != STORE_OK)
		sess_store_error(cmd->s, r, cmd->def->name);
	return r;
}

/* "* <WORD> <mailbox as the client named it>" */
static void acl_line_start(struct imap_cmd *cmd, struct strbuf *line, const char *word,
			   const char *name)
{
	char *shown = imap_mailbox_shown(cmd, name);
	strbuf_addf(line, "* %s ", word);
	sess_write_mailbox(cmd->s, line, shown);
	free(shown);
}

static void acl_set(struct imap_cmd *cmd, char *name, const char *ident, const char *rights_arg)
{
	struct imap_session *s = cmd->s;
	const char *what = cmd->def->name;
	const char *owner = cmd->mbref->owner;
	/* RFC 4314 2: the owner's rights are implicit and cannot change. */
	const char *bare = ident[0] == '-' ? ident + 1 : ident;
	if (strcmp(bare, owner) == 0) {
		sess_tagged(s, "NO", "[CANNOT] %s: the owner always has every right", what);
		goto out;
	}
	uint32_t rights = 0;
	if (rights_arg && store_acl_rights_apply(rights_arg, 0, &rights) != STORE_OK) {
		sess_tagged(s, "BAD", "%s: unknown right", what);
		goto out;
	}
	struct store_acl_entry *e;
	size_t n;
	if (acl_load(cmd, name, &e, &n) != STORE_OK)
		goto out;
	uint32_t cur = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].ident, ident) == 0)
			cur = e[i].rights;
	store_acl_entries_free(e, n);
	if (rights_arg)
		store_acl_rights_apply(rights_arg, cur, &rights); /* RFC 4314 3.1: +/- */
	int r = store_acl_set(sess_store(s), owner, name, ident, rights);
	if (r != STORE_OK)
		sess_store_error(s, r, what);
	else
		sess_tagged(s, "OK", "%s completed", what);
out:
	free(name);
}

void cmd_setacl(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	char *name = acl_mailbox(cmd, args, nargs, 3, STORE_ACL_ADMIN);
	if (!name)
		return;
	const char *ident = acl_ident(cmd, &args[1]);
	const char *rights;
	size_t len;
	if (!ident) {
		free(name);
		return;
	}
	if (!imap_arg_get_astring(&args[2], &rights, &len) || strlen(rights) != len) {
		free(name);
		sess_tagged(cmd->s, "BAD", "SETACL: invalid rights");
		return;
	}
	acl_set(cmd, name, ident, rights);
}

void cmd_deleteacl(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	char *name = acl_mailbox(cmd, args, nargs, 2, STORE_ACL_ADMIN);
	if (!name)
		return;
	const char *ident = acl_ident(cmd, &args[1]);
	if (!ident) {
		free(name);
		return;
	}
	acl_set(cmd, name, ident, NULL);
}

void cmd_getacl(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	char *name = acl_mailbox(cmd, args, nargs, 1, STORE_ACL_ADMIN);
	if (!name)
		return;
	struct store_acl_entry *e;
	size_t n;
	if (acl_load(cmd, name, &e, &n) == STORE_OK) {
		struct strbuf line = STRBUF_INIT;
		char text[STORE_ACL_RIGHTS_TEXT_MAX];
		acl_line_start(cmd, &line, "ACL", name);
		store_acl_rights_format(STORE_ACL_ALL, text);
		strbuf_addf(&line, " %s %s", cmd->mbref->owner, text);
		for (size_t i = 0; i < n; i++) {
			store_acl_rights_format(e[i].rights, text);
			strbuf_addf(&line, " %s \"%s\"", e[i].ident, text);
		}
		sess_printf(cmd->s, "%s", line.s);
		strbuf_free(&line);
		store_acl_entries_free(e, n);
		sess_tagged(cmd->s, "OK", "GETACL completed");
	}
	free(name);
}

void cmd_listrights(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	char *name = acl_mailbox(cmd, args, nargs, 2, STORE_ACL_ADMIN);
	if (!name)
		return;
	const char *ident = acl_ident(cmd, &args[1]);
	struct store_acl_entry *e;
	size_t n;
	if (ident && acl_load(cmd, name, &e, &n) == STORE_OK) {
		store_acl_entries_free(e, n);
		struct strbuf line = STRBUF_INIT;
		acl_line_start(cmd, &line, "LISTRIGHTS", name);
		/* RFC 4314 3.7: the owner always holds everything; anyone else
		 * may be given each right on its own (c and d are the 2.1.1
		 * aliases of k and xte). */
		if (strcmp(ident, cmd->mbref->owner) == 0) {
			char text[STORE_ACL_RIGHTS_TEXT_MAX];
			store_acl_rights_format(STORE_ACL_ALL, text);
			strbuf_addf(&line, " %s %s", ident, text);
		} else {
			strbuf_addf(&line, " %s \"\" l r s w i p k x t e a c d", ident);
		}
		sess_printf(cmd->s, "%s", line.s);
		strbuf_free(&line);
		sess_tagged(cmd->s, "OK", "LISTRIGHTS completed");
	}
	free(name);
}

void cmd_myrights(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	char *name = acl_mailbox(cmd, args, nargs, 1, 0);
	if (!name)
		return;
	struct store_acl_entry *e;
	size_t n;
	if (acl_load(cmd, name, &e, &n) == STORE_OK) {
		store_acl_entries_free(e, n);
		struct strbuf line = STRBUF_INIT;
		char text[STORE_ACL_RIGHTS_TEXT_MAX];
		acl_line_start(cmd, &line, "MYRIGHTS", name);
		store_acl_rights_format(cmd->mbref->rights, text);
		strbuf_addf(&line, " \"%s\"", text);
		sess_printf(cmd->s, "%s", line.s);
		strbuf_free(&line);
		sess_tagged(cmd->s, "OK", "MYRIGHTS completed");
	}
	free(name);
}
