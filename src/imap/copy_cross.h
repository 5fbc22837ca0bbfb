/* COPY/MOVE between two users' stores (RFC 4314 shared mailboxes):
 * imap/copy_cross.c. */
#ifndef RAMPART_IMAP_COPY_CROSS_H
#define RAMPART_IMAP_COPY_CROSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_user;

/* A message over the size limit (APPENDLIMIT): nothing copied. */
#define COPY_CROSS_ETOOBIG (-100)

/* What a copy into another owner's mailbox takes with it. */
struct copy_cross_req {
	struct store_user *src;      /* the source's store (the view's owner) */
	int64_t mailbox;             /* the source mailbox */
	const uint32_t *uids;        /* ascending */
	size_t n;
	const char *dst_owner;
	const char *dst_name;        /* the owner's name for the target */
	uint32_t dst_rights;         /* STORE_ACL_* the user has on the target */
	size_t max_size;             /* 0: no limit */
	bool move;
};

/* Copies (appends) the messages that still exist into the target in one
 * transaction of the target's store, then with move expunges them from
 * the source. On the work pool. su and du (caller frees) pair source and
 * target UIDs, ascending. STORE_OK, a STORE_E... code or
 * COPY_CROSS_ETOOBIG. */
int copy_cross_run(const struct copy_cross_req *req, uint32_t *uidvalidity, uint32_t **su,
		   uint32_t **du, size_t *ncopied);

/* Flags and keywords a user with dst_rights keeps on a message put into
 * the target (RFC 4314 4: \Seen needs s, \Deleted t, the others w). */
uint32_t copy_cross_flags(uint32_t flags, uint32_t dst_rights);

#endif
