/* Access control lists (RFC 4314): the rights as bits and text, whose
 * rights apply to a user, and the front of the ACL store calls. The one
 * rule with an ordering, that the shared registry stays a superset of the
 * owners' ACLs (a grant registered before its commit, a grantee's last
 * entry unregistered after), lives here so every backend keeps it.
 * docs/architecture.md "Shared mailboxes" gives the design. */
#include "store/backend.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* RFC 4314 2.1, in its order; the index is the bit. */
static const char acl_letters[] = "lrswipkxtea";

int store_acl_rights_parse(const char *text, uint32_t *out)
{
	uint32_t r = 0;
	for (const char *p = text; *p; p++) {
		const char *at = strchr(acl_letters, *p);
		if (*p == 'c')
			r |= STORE_ACL_CREATE; /* RFC 4314 2.1.1: the old "create" */
		else if (*p == 'd')
			r |= STORE_ACL_DELMBOX | STORE_ACL_DELMSG | STORE_ACL_EXPUNGE; /* 2.1.1 */
		else if (at)
			r |= 1u << (at - acl_letters);
		else
			return STORE_EINVAL;
	}
	*out = r;
	return STORE_OK;
}

int store_acl_rights_apply(const char *arg, uint32_t cur, uint32_t *out)
{
	char mod = arg[0] == '+' || arg[0] == '-' ? arg[0] : 0;
	uint32_t r;
	if (store_acl_rights_parse(arg + (mod ? 1 : 0), &r) != STORE_OK)
		return STORE_EINVAL;
	*out = mod == '+' ? cur | r : mod == '-' ? cur & ~r : r;
	return STORE_OK;
}

void store_acl_rights_format(uint32_t rights, char out[STORE_ACL_RIGHTS_TEXT_MAX])
{
	size_t n = 0;
	for (size_t i = 0; acl_letters[i]; i++)
		if (rights & (1u << i))
			out[n++] = acl_letters[i];
	/* RFC 4314 2.1.1: a client of RFC 2086 looks for "c" and "d". "d"
	 * only with all of "xte", so a client that sends back what GETACL
	 * said (SETACL parses "d" as "xte") grants nothing more. */
	const uint32_t del = STORE_ACL_DELMBOX | STORE_ACL_DELMSG | STORE_ACL_EXPUNGE;
	if (rights & STORE_ACL_CREATE)
		out[n++] = 'c';
	if ((rights & del) == del)
		out[n++] = 'd';
	out[n] = '\0';
}

bool store_acl_ident_valid(const char *ident)
{
	if (*ident == '-')
		ident++;
	if (*ident == '-')
		return false;
	size_t len = strlen(ident);
	if (len == 0 || len > STORE_USERNAME_MAX || strstr(ident, ".."))
		return false;
	for (const char *p = ident; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '_' || c == '+' || c == '@' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

/* Does entry identifier `id` (without '-') name `user`? */
static bool acl_ident_matches(const char *id, const char *user)
{
	return strcmp(id, "anyone") == 0 || strcmp(id, "authenticated") == 0 ||
	       strcmp(id, user) == 0;
}

uint32_t store_acl_rights_of(const char *owner, const char *user, const char *mailbox,
			     const struct store_acl_entry *e, size_t n)
{
	if (strcmp(owner, user) == 0)
		return STORE_ACL_ALL;
	uint32_t pos = 0, neg = 0;
	for (size_t i = 0; i < n; i++) {
		if (mailbox && strcmp(e[i].mailbox, mailbox) != 0)
			continue;
		const char *id = e[i].ident;
		if (*id == '-') {
			if (acl_ident_matches(id + 1, user))
				neg |= e[i].rights;
		} else if (acl_ident_matches(id, user)) {
			pos |= e[i].rights;
		}
	}
	return pos & ~neg;
}

void store_acl_entries_free(struct store_acl_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].mailbox);
		free(e[i].ident);
	}
	free(e);
}

int store_acl_list(struct store_user *u, const char *mailbox, struct store_acl_entry **out,
		   size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!u)
		return STORE_EINVAL;
	char *norm = NULL;
	if (mailbox) {
		int r = store_mailbox_name_normalize(mailbox, &norm);
		if (r != STORE_OK)
			return r;
	}
	int r = u->be->acl_list(u, norm, out, n);
	free(norm);
	return r;
}

/* Does ident still hold a positive entry anywhere in u's store? */
static bool acl_ident_in_use(struct store_user *u, const char *ident)
{
	struct store_acl_entry *e;
	size_t n;
	if (u->be->acl_list(u, NULL, &e, &n) != STORE_OK)
		return true; /* keep the row: a superset is safe */
	bool used = false;
	for (size_t i = 0; i < n && !used; i++)
		used = strcmp(e[i].ident, ident) == 0 && e[i].rights;
	store_acl_entries_free(e, n);
	return used;
}

int store_acl_set(struct store_user *u, const char *owner, const char *mailbox, const char *ident,
		  uint32_t rights)
{
	if (!u || !store_acl_ident_valid(ident) || (rights & ~STORE_ACL_ALL))
		return STORE_EINVAL;
	char *norm;
	int r = store_mailbox_name_normalize(mailbox, &norm);
	if (r != STORE_OK)
		return r;
	bool positive = *ident != '-';
	/* Registered before the commit: a crash in between leaves an extra
	 * row (one store open too many later), never a missing one. */
	if (positive && rights) {
		r = u->be->acl_registry_add(owner, ident);
		if (r != STORE_OK)
			goto out;
	}
	char text[STORE_ACL_RIGHTS_TEXT_MAX];
	store_acl_rights_format(rights, text);
	/* Stored without the 2.1.1 aliases: they are derived on output. */
	size_t len = strlen(text);
	while (len > 0 && (text[len - 1] == 'c' || text[len - 1] == 'd'))
		text[--len] = '\0';
	r = u->be->acl_set(u, norm, ident, text);
	/* After the commit (or a failed grant): drop the row when nothing
	 * is left for ident in this store. */
	if (positive && (r != STORE_OK || !rights) && !acl_ident_in_use(u, ident))
		u->be->acl_registry_remove(owner, ident);
out:
	free(norm);
	return r;
}

int store_acl_owners(const char *user, char ***owners, size_t *n)
{
	*owners = NULL;
	*n = 0;
	return store_backend_current()->acl_registry_owners(user, owners, n);
}

bool store_acl_shared_with(const char *owner, const char *user)
{
	char **owners;
	size_t n;
	if (store_acl_owners(user, &owners, &n) != STORE_OK)
		return false;
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		found = found || strcmp(owners[i], owner) == 0;
		free(owners[i]);
	}
	free(owners);
	return found;
}
