/* What the `rampart import` sources share (issue #13 migrate): one
 * message at a time streamed into an unlinked spool file (bounded
 * memory), its line ends made CRLF as an IMAP server serves them (Dovecot
 * keeps LF on disk and converts when it sends), hashed on the way, then
 * appended with its flags, keywords, internal date and, where the source
 * knows it, its UID (import_msg.c). Each mailbox remembers what it held
 * before the run so that a second run adds nothing: by UID when the
 * UIDVALIDITY is the source's, else by the SHA-256 of the bytes. */
#ifndef RAMPART_ADMIN_IMPORT_H
#define RAMPART_ADMIN_IMPORT_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_user;

struct import_ctx {
	struct store_user *u;
	const char *user;
	char *spool;              /* the user's spool directory */
	uint64_t max_size;        /* max_message_size: larger ones are refused */
	unsigned added, skipped, failed;
};

/* One target mailbox during a run. */
struct import_box {
	char *name;
	bool keep_uids;           /* UIDVALIDITY is the source's */
	uint32_t uidnext_before;  /* UIDNEXT before the run */
	uint32_t uidnext;         /* now */
	char (*hashes)[65];       /* blobs it held before the run, sorted */
	size_t nhashes;
	unsigned added, skipped, failed;
};

/* One message being written. */
struct import_tmp {
	int fd;
	uint64_t len;
	bool cr;                  /* the last byte written was '\r' */
	bool failed;              /* a write failed */
	crypto_hash_sha256_state sha;
	char buf[65536];
	size_t nbuf;
};

/* Opens (creating when missing) `name`; with uidvalidity != 0 keeping
 * the source's UIDVALIDITY (store_import_mailbox), or when the store
 * refuses it (in use here), with a new one and a warning. 0, or -1 after
 * a message on stderr. */
int import_box_open(struct import_ctx *c, const char *name, uint32_t uidvalidity,
		    struct import_box *b);
/* Raises UIDNEXT to the source's (0: none) and prints the mailbox's
 * figures on stderr; frees b. */
void import_box_close(struct import_ctx *c, struct import_box *b, uint32_t uidnext);
/* Whether the source's UID says the message is already here (or was,
 * and was expunged since): a second run skips it without reading it. */
bool import_box_has_uid(const struct import_box *b, uint32_t uid);

int import_tmp_open(struct import_ctx *c, struct import_tmp *t);
/* Appends bytes, bare LF made CRLF. */
void import_tmp_write(struct import_tmp *t, const char *p, size_t n);
/* Stores the message (or skips it when the mailbox had it) and closes
 * t. want_uid 0: the next UID. 0, or -1 on a store error (reported). */
int import_tmp_commit(struct import_ctx *c, struct import_box *b, struct import_tmp *t,
		      uint32_t flags, const char *keywords, int64_t internaldate, uint32_t want_uid);
void import_tmp_abort(struct import_tmp *t);

/* cli_import_maildir.c, cli_import_mbox.c: one source into the store of
 * c->user. 0, or an exit status (sysexits) after a message. */
int import_maildir(struct import_ctx *c, const char *dir);
int import_mbox(struct import_ctx *c, const char *path, const char *mailbox);
/* cli_import_passwd.c: `rampart import passwd-file FILE`; exit status. */
struct config;
int import_passwd_file(const struct config *cfg, const char *path);

#endif
