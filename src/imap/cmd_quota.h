/* The QUOTA commands' argument rules (RFC 9208), exported so the fuzz
 * harness (tests/fuzz/fuzz_quota.c) drives the same parser SETQUOTA uses.
 * Not a public interface outside src/imap/ and its tests. */
#ifndef RAMPART_IMAP_CMD_QUOTA_H
#define RAMPART_IMAP_CMD_QUOTA_H

#include <stdbool.h>

#include "imap/parser.h"
#include "store/store.h"

/* The one quota root every user has (the name Dovecot gives its default
 * root, which Thunderbird and others show as is). */
#define QUOTA_ROOT_NAME "User quota"

/* A setquota-list (RFC 9208 4.1.3, 9: "(" [resource SP number64 *(SP
 * resource SP number64)] ")") into limits: a resource not listed has no
 * limit (0 in *out; every previous limit is discarded). Returns 0; -1 for
 * a syntax error (BAD: *err static); -2 for a resource Rampart does not
 * have (NO: *err static); -3 for a limit of 0, which Rampart cannot store
 * (0 means unlimited everywhere else; NO [CANNOT]). */
int quota_setlist_parse(const struct imap_arg *list, struct store_quota_limits *out,
			const char **err);
/* Is user listed in admins ([quota] admins: names separated by spaces or
 * commas; NULL: nobody)? */
bool quota_is_admin(const char *admins, const char *user);

#endif
