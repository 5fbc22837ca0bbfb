/* GETMETADATA and SETMETADATA (RFC 5464 4.2, 4.3) and the METADATA
 * response (4.4): annotations of mailboxes and of the server.
 *
 * Where entries live (store/metadata.c keeps them, lowercased):
 *  - a mailbox's /private and /shared entries: in its owner's store, with
 *    the mailbox (RENAME keeps them, DELETE drops them). Another user's
 *    mailbox has only /shared entries for its readers: its /private ones
 *    are the owner's, never shown to others, and a reader setting one
 *    gets NO [METADATA NOPRIVATE] (RFC 5464 4.3 allows a server to keep
 *    no private entries for a mailbox).
 *  - server /private entries (mailbox ""): in the user's own store.
 *  - server /shared entries: /shared/admin and /shared/comment from the
 *    configuration ([metadata] admin, comment), the same for every user
 *    and read-only over IMAP (NO [NOPERM]): a value every user sees is
 *    the administrator's to set.
 *  - /private/specialuse of one's own mailbox (RFC 6154 4): the mailbox's
 *    special-use attribute, read-only (CREATE (USE ...) sets it).
 *
 * Rights (RFC 5464 3.3 with RFC 4314): a mailbox's entries need "l" and
 * any one of "r", "s", "w", "i", "p" to be read or set; setting a /shared
 * entry of another user's mailbox also needs "w", since every reader sees
 * it. Limits ([metadata]) are kept by the store: NO [METADATA MAXSIZE n]
 * for a value, NO [METADATA TOOMANY] for the counts. Both commands are a
 * few indexed statements bounded by those limits, so they run on the
 * worker like the ACL commands rather than through the work pool. */
#include "imap/cmd_metadata.h"
#include "imap/namespace.h"
#include "imap/session_internal.h"
#include "core/config.h"
#include "core/quote.h"
#include "core/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* RFC 5464 3.3: at least one of these besides "l". */
#define META_RIGHTS_ANY                                                                   \
	(STORE_ACL_READ | STORE_ACL_SEEN | STORE_ACL_WRITE | STORE_ACL_INSERT | STORE_ACL_POST)

#define META_SPECIALUSE "/private/specialuse"

/* ---- arguments ---- */

typedef int meta_parse_fn(const struct imap_arg *args, size_t nargs, struct metadata_req *req,
			  const char **err);

/* Runs a parser on an empty request; a failure leaves it empty. */
static int meta_parse_run(meta_parse_fn *parse, const struct imap_arg *args, size_t nargs,
			  struct metadata_req *req, const char **err)
{
	*req = (struct metadata_req){ .maxsize = SIZE_MAX };
	int r = parse(args, nargs, req, err);
	if (r != 0)
		metadata_req_free(req);
	return r;
}

void metadata_req_free(struct metadata_req *req)
{
	for (size_t i = 0; i < req->nnames; i++)
		free(req->names[i]);
	free(req->names);
	store_meta_entries_free(req->e, req->ne);
	*req = (struct metadata_req){ .maxsize = SIZE_MAX };
}

/* One entry name: 0, or -1/-2 as the parsers return. */
static int meta_name_arg(const struct imap_arg *a, bool allow_root, char **out, const char **err)
{
	const char *s;
	size_t len;
	if (a->type == IMAP_ARG_NIL || a->type == IMAP_ARG_LIST || !imap_arg_get_astring(a, &s, &len)) {
		*err = "an entry name is a string";
		return -1;
	}
	int r = store_meta_name_check(s, len, allow_root, out);
	if (r == STORE_ELIMIT) {
		*err = "entry name too long";
		return -2;
	}
	if (r != STORE_OK) {
		*err = "invalid entry name (RFC 5464 3.2)";
		return -1;
	}
	return 0;
}

/* RFC 5464 4.2: "(" option *(SP option) ")", each MAXSIZE n or DEPTH d. */
static int meta_options(const struct imap_arg *list, struct metadata_req *req, const char **err)
{
	bool seen_max = false, seen_depth = false;
	if (list->count == 0 || list->count % 2 != 0) {
		*err = "GETMETADATA options are pairs of name and value";
		return -1;
	}
	for (size_t i = 0; i < list->count; i += 2) {
		const char *v;
		if (!imap_arg_get_atom(&list->list[i + 1], &v)) {
			*err = "a GETMETADATA option's value is an atom";
			return -1;
		}
		size_t len = strlen(v);
		if (imap_arg_atom_ieq(&list->list[i], "MAXSIZE") && !seen_max) {
			uint64_t n;
			/* RFC 5464 5: "MAXSIZE" SP number (32 bits) */
			if (len == 0 || len > 10 || strspn(v, "0123456789") != len ||
			    parse_u64(v, len, &n) < 0 || n > UINT32_MAX) {
				*err = "MAXSIZE needs a number";
				return -1;
			}
			req->maxsize = (size_t)n;
			seen_max = true;
		} else if (imap_arg_atom_ieq(&list->list[i], "DEPTH") && !seen_depth) {
			if (strcmp(v, "0") == 0)
				req->depth = 0;
			else if (strcmp(v, "1") == 0)
				req->depth = 1;
			else if (ascii_ieq(v, "infinity"))
				req->depth = -1;
			else {
				*err = "DEPTH is 0, 1 or infinity";
				return -1;
			}
			seen_depth = true;
		} else {
			*err = "unknown or repeated GETMETADATA option";
			return -1;
		}
	}
	return 0;
}

static bool meta_mailbox_arg_ok(const struct imap_arg *a)
{
	const char *s;
	size_t len;
	return a->type != IMAP_ARG_NIL && imap_arg_get_astring(a, &s, &len);
}

static int meta_get_parse(const struct imap_arg *args, size_t nargs, struct metadata_req *req,
			  const char **err)
{
	size_t i = 0;
	int r;
	/* Options first (the grammar of RFC 5464 5), or after the mailbox
	 * (the examples of 4.2.1 and 4.2.2); a mailbox is never a list. */
	if (nargs == 3 && args[0].type == IMAP_ARG_LIST) {
		if ((r = meta_options(&args[0], req, err)) != 0)
			return r;
		i = 1;
	} else if (nargs == 3 && args[1].type == IMAP_ARG_LIST) {
		if ((r = meta_options(&args[1], req, err)) != 0)
			return r;
		req->mailbox = &args[0];
		i = 2;
	} else if (nargs != 2) {
		*err = "GETMETADATA needs a mailbox and entry names";
		return -1;
	}
	if (!req->mailbox) {
		req->mailbox = &args[i];
		i++;
	}
	if (!meta_mailbox_arg_ok(req->mailbox)) {
		*err = "GETMETADATA: the mailbox is a string";
		return -1;
	}
	const struct imap_arg *names = &args[i];
	size_t n = 1;
	if (names->type == IMAP_ARG_LIST) {
		n = names->count;
		names = names->list;
	}
	if (n == 0) {
		*err = "GETMETADATA needs at least one entry name";
		return -1;
	}
	if (n > METADATA_NAMES_MAX) {
		*err = "too many entry names";
		return -2;
	}
	req->names = xcalloc(n, sizeof(*req->names));
	for (size_t k = 0; k < n; k++) {
		if ((r = meta_name_arg(&names[k], true, &req->names[k], err)) != 0)
			return r;
		req->nnames++;
	}
	return 0;
}

int metadata_get_parse(const struct imap_arg *args, size_t nargs, struct metadata_req *req,
		       const char **err)
{
	return meta_parse_run(meta_get_parse, args, nargs, req, err);
}

static int meta_set_parse(const struct imap_arg *args, size_t nargs, struct metadata_req *req,
			  const char **err)
{
	if (nargs != 2 || !meta_mailbox_arg_ok(&args[0]) || args[1].type != IMAP_ARG_LIST) {
		*err = "SETMETADATA needs a mailbox and a list of entries and values";
		return -1;
	}
	req->mailbox = &args[0];
	const struct imap_arg *l = &args[1];
	if (l->count == 0 || l->count % 2 != 0) {
		*err = "SETMETADATA: entries and values come in pairs";
		return -1;
	}
	if (l->count / 2 > METADATA_NAMES_MAX) {
		*err = "too many entry names";
		return -2;
	}
	req->e = xcalloc(l->count / 2, sizeof(*req->e));
	for (size_t k = 0; k < l->count; k += 2) {
		struct store_meta_entry *e = &req->e[req->ne];
		int r = meta_name_arg(&l->list[k], false, &e->name, err);
		if (r != 0)
			return r;
		req->ne++;
		/* RFC 5464 5: value = nstring / literal8 (not an atom). */
		const struct imap_arg *v = &l->list[k + 1];
		if (v->type == IMAP_ARG_NIL)
			continue;
		if (v->type != IMAP_ARG_STRING && v->type != IMAP_ARG_LITERAL) {
			*err = "SETMETADATA: a value is a string, a literal or NIL";
			return -1;
		}
		e->value = xmalloc(v->len + 1);
		memcpy(e->value, v->str, v->len);
		e->value[v->len] = '\0';
		e->len = v->len;
	}
	return 0;
}

int metadata_set_parse(const struct imap_arg *args, size_t nargs, struct metadata_req *req,
		       const char **err)
{
	return meta_parse_run(meta_set_parse, args, nargs, req, err);
}

/* ---- the commands ---- */

/* Is the server's mailbox argument ("") named? */
static bool meta_is_server(const struct imap_arg *a)
{
	const char *s;
	size_t len;
	return imap_arg_get_astring(a, &s, &len) && len == 0;
}

/* Resolves the mailbox and checks RFC 5464 3.3's rights; the owner's
 * name in *name, or NULL (answered). */
static char *meta_mailbox(struct imap_cmd *cmd, const struct imap_arg *a)
{
	struct imap_session *s = cmd->s;
	char *name = sess_mailbox_arg(s, a);
	if (!name) {
		sess_tagged(s, "BAD", "%s: invalid mailbox name", cmd->def->name);
		return NULL;
	}
	if (imap_mailbox_resolve(cmd, &name, STORE_ACL_LOOKUP) < 0)
		return NULL;
	if (!(cmd->mbref->rights & META_RIGHTS_ANY)) {
		free(name);
		sess_tagged(s, "NO", "[NOPERM] %s: permission denied", cmd->def->name);
		return NULL;
	}
	return name;
}

static bool meta_is_own(const struct imap_cmd *cmd)
{
	return !cmd->mbref || strcmp(cmd->mbref->owner, cmd->s->user) == 0;
}

static bool meta_is_private(const char *name)
{
	return strncmp(name, "/private", 8) == 0;
}

/* Would GETMETADATA of `req_name` at `depth` return `name`? */
static bool meta_asked(const char *req_name, int depth, const char *name)
{
	size_t rlen = strlen(req_name);
	if (strcmp(req_name, name) == 0)
		return true;
	if (depth == 0 || strncmp(name, req_name, rlen) != 0 || name[rlen] != '/')
		return false;
	return depth < 0 || !strchr(name + rlen + 1, '/');
}

static void meta_add(struct store_meta_entry **e, size_t *n, const char *name, const char *value)
{
	*e = xrealloc(*e, (*n + 1) * sizeof(**e));
	(*e)[*n] = (struct store_meta_entry){
		.name = xstrdup(name),
		.value = value ? xstrdup(value) : NULL,
		.len = value ? strlen(value) : 0,
	};
	(*n)++;
}

/* Adds the entries Rampart computes (see the file head) that req asks for. */
static void meta_add_computed(struct imap_cmd *cmd, const struct metadata_req *req,
			      const char *mailbox, struct store_meta_entry **e, size_t *n)
{
	const struct config *cfg = cmd->s->cfg;
	const struct {
		const char *name, *value;
	} server[2] = { { "/shared/admin", cfg->meta_admin }, { "/shared/comment", cfg->meta_comment } };
	for (size_t k = 0; k < req->nnames; k++) {
		if (!mailbox) {
			for (size_t j = 0; j < 2; j++)
				if (server[j].value && meta_asked(req->names[k], req->depth, server[j].name))
					meta_add(e, n, server[j].name, server[j].value);
		} else if (meta_is_own(cmd) && meta_asked(req->names[k], req->depth, META_SPECIALUSE)) {
			struct store_mailbox mb = { 0 };
			struct store_user *u = sess_store(cmd->s);
			if (u && store_mailbox_get(u, mailbox, &mb) == STORE_OK && mb.special_use)
				meta_add(e, n, META_SPECIALUSE, mb.special_use);
			if (u)
				store_mailbox_clear(&mb);
		}
	}
}

/* RFC 5464 5: value = nstring / literal8; a NUL needs literal8. */
static void meta_write_value(struct strbuf *line, const struct store_meta_entry *e)
{
	if (!e->value) {
		strbuf_adds(line, "NIL");
	} else if (memchr(e->value, '\0', e->len)) {
		strbuf_addf(line, "~{%zu}\r\n", e->len);
		strbuf_add(line, e->value, e->len);
	} else {
		quote_string(line, e->value, e->len);
	}
}

/* "* METADATA mailbox (name value ...)" and the tagged OK, with
 * LONGENTRIES when MAXSIZE left values out (RFC 5464 4.2.1). */
static void meta_get_reply(struct imap_cmd *cmd, const struct metadata_req *req,
			   const char *mailbox, struct store_meta_entry *e, size_t n)
{
	struct imap_session *s = cmd->s;
	uint64_t longest = 0;
	struct strbuf line = STRBUF_INIT;
	strbuf_adds(&line, "* METADATA ");
	if (mailbox) {
		char *shown = imap_mailbox_shown(cmd, mailbox);
		sess_write_mailbox(s, &line, shown);
		free(shown);
	} else {
		strbuf_adds(&line, "\"\"");
	}
	strbuf_adds(&line, " (");
	size_t start = line.len;
	for (size_t i = 0; i < n; i++) {
		if (e[i].value && e[i].len > req->maxsize) {
			if (e[i].len > longest)
				longest = e[i].len;
			continue;
		}
		if (line.len > start)
			strbuf_addc(&line, ' ');
		quote_astring(&line, e[i].name, strlen(e[i].name));
		strbuf_addc(&line, ' ');
		meta_write_value(&line, &e[i]);
	}
	if (line.len > start) {
		strbuf_adds(&line, ")\r\n");
		sess_write(s, line.s, line.len);
	}
	strbuf_free(&line);
	if (longest)
		sess_tagged(s, "OK", "[METADATA LONGENTRIES %llu] GETMETADATA completed",
			    (unsigned long long)longest);
	else
		sess_tagged(s, "OK", "GETMETADATA completed");
}

/* Both commands' start: the arguments into *req and the owner's name of
 * the mailbox in *mailbox (NULL: the server). 0, or -1 answered (*req
 * then empty). */
static int meta_begin(struct imap_cmd *cmd, meta_parse_fn *parse, const struct imap_arg *args,
		      size_t nargs, struct metadata_req *req, char **mailbox)
{
	const char *err = NULL;
	*mailbox = NULL;
	int r = parse(args, nargs, req, &err);
	if (r != 0) {
		sess_tagged(cmd->s, r == -2 ? "NO" : "BAD", "%s%s: %s", r == -2 ? "[LIMIT] " : "",
			    cmd->def->name, err);
		return -1;
	}
	if (!meta_is_server(req->mailbox) && !(*mailbox = meta_mailbox(cmd, req->mailbox))) {
		metadata_req_free(req);
		return -1;
	}
	return 0;
}

void cmd_getmetadata(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	struct metadata_req req;
	char *mailbox;
	if (meta_begin(cmd, metadata_get_parse, args, nargs, &req, &mailbox) < 0)
		return;
	struct store_meta_entry *e = NULL;
	size_t n = 0;
	struct store_user *u = sess_store(s);
	int r = u ? store_meta_get(u, mailbox, req.names, req.nnames, req.depth, &e, &n) : STORE_EIO;
	if (r != STORE_OK) {
		sess_store_error(s, r, "GETMETADATA");
		goto out;
	}
	/* Another user's /private entries are that user's own. */
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!meta_is_own(cmd) && meta_is_private(e[i].name)) {
			free(e[i].name);
			free(e[i].value);
			continue;
		}
		e[k++] = e[i];
	}
	n = k;
	meta_add_computed(cmd, &req, mailbox, &e, &n);
	/* DEPTH 0: a name asked for without a value is answered NIL, as
	 * Dovecot does, so a client can tell "asked, none" in one reply. */
	if (req.depth == 0) {
		size_t have = n;
		for (size_t i = 0; i < req.nnames; i++) {
			bool found = false;
			for (size_t j = 0; j < have && !found; j++)
				found = strcmp(e[j].name, req.names[i]) == 0;
			if (!found)
				meta_add(&e, &n, req.names[i], NULL);
		}
	}
	store_meta_entries_sort_unique(e, &n);
	meta_get_reply(cmd, &req, mailbox, e, n);
out:
	store_meta_entries_free(e, n);
	free(mailbox);
	metadata_req_free(&req);
}

/* The rules of the file head for setting e in mailbox (NULL: server);
 * true when it may go to the store, else answered. */
static bool meta_set_allowed(struct imap_cmd *cmd, const char *mailbox,
			     const struct store_meta_entry *e)
{
	struct imap_session *s = cmd->s;
	bool priv = meta_is_private(e->name);
	if (!mailbox && !priv) {
		sess_tagged(s, "NO", "[NOPERM] SETMETADATA: server /shared entries are set by the "
				     "administrator");
		return false;
	}
	if (mailbox && strcmp(e->name, META_SPECIALUSE) == 0) {
		sess_tagged(s, "NO", "[CANNOT] SETMETADATA: " META_SPECIALUSE
				     " is read-only; CREATE (USE (...)) sets it");
		return false;
	}
	if (mailbox && !meta_is_own(cmd)) {
		if (priv) {
			sess_tagged(s, "NO", "[METADATA NOPRIVATE] SETMETADATA: no private entries on "
					     "another user's mailbox");
			return false;
		}
		if (!(cmd->mbref->rights & STORE_ACL_WRITE)) {
			sess_tagged(s, "NO", "[NOPERM] SETMETADATA: permission denied");
			return false;
		}
	}
	return true;
}

void cmd_setmetadata(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	struct metadata_req req;
	char *mailbox;
	if (meta_begin(cmd, metadata_set_parse, args, nargs, &req, &mailbox) < 0)
		return;
	for (size_t i = 0; i < req.ne; i++)
		if (!meta_set_allowed(cmd, mailbox, &req.e[i]))
			goto out;
	const struct config *cfg = s->cfg;
	const struct store_meta_limits lim = {
		.value_max = cfg->meta_value_max,
		.entries_max = cfg->meta_entries_max,
		.total_max = cfg->meta_total_max,
	};
	enum store_meta_limit hit;
	struct store_user *u = sess_store(s);
	int r = u ? store_meta_set(u, mailbox, req.e, req.ne, &lim, &hit) : STORE_EIO;
	if (r == STORE_ELIMIT && hit == STORE_META_LIMIT_VALUE)
		sess_tagged(s, "NO", "[METADATA MAXSIZE %zu] SETMETADATA: value too long",
			    cfg->meta_value_max);
	else if (r == STORE_ELIMIT && hit == STORE_META_LIMIT_ENTRIES)
		sess_tagged(s, "NO", "[METADATA TOOMANY] SETMETADATA: too many entries");
	else if (r == STORE_ELIMIT && hit == STORE_META_LIMIT_TOTAL)
		sess_tagged(s, "NO", "[METADATA TOOMANY] SETMETADATA: metadata storage is full");
	else if (r != STORE_OK)
		sess_store_error(s, r, "SETMETADATA");
	else
		sess_tagged(s, "OK", "SETMETADATA completed");
out:
	free(mailbox);
	metadata_req_free(&req);
}
