/* Maildir++ as Dovecot 2.3 and Courier write it (issue #13 migrate):
 * the format only, no store. `rampart import maildir` reads it
 * (cli_import_maildir.c), `rampart export` writes it (cli_export.c).
 *
 *   DIR/{cur,new,tmp}            INBOX
 *   DIR/.A.B/{cur,new,tmp}       mailbox "A/B" ('.' separates levels,
 *                                each level modified UTF-7, RFC 3501 5.1.3)
 *   cur/BASE:2,FLAGS             D F P R S T system flags, a-z keywords
 *   dovecot-keywords             "N name": letter 'a'+N in a file name
 *   dovecot-uidlist              "3 V<uidvalidity> N<uidnext> ..." then
 *                                "<uid> [ext fields] :<BASE>" per message
 *   courierimapuiddb             "1 <uidvalidity> <uidnext>" then
 *                                "<uid> <BASE>" (also Dovecot's version 1)
 *   subscriptions                Dovecot: "V\t2", "", then names with
 *                                '\t' between levels; version 1 and
 *                                Courier's courierimapsubscribed: one
 *                                name per line, '.' between levels,
 *                                Courier's with an "INBOX." prefix */
#ifndef RAMPART_ADMIN_MAILDIR_H
#define RAMPART_ADMIN_MAILDIR_H

#include "core/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAILDIR_KEYWORDS_MAX 26
/* Paths of the import and export code: longer ones are refused. */
#define MAILDIR_PATH_MAX 4096

/* dir + "/" + name into out[MAILDIR_PATH_MAX]; false (out "") when it
 * does not fit. */
bool maildir_path(char *out, const char *dir, const char *name);

struct maildir_uid {
	uint32_t uid;
	char *base;              /* file name up to ':' */
};

/* A folder's UID list, sorted by base for maildir_uidlist_find(). */
struct maildir_uidlist {
	uint32_t uidvalidity;    /* 0: none (no file) */
	uint32_t uidnext;
	struct maildir_uid *e;
	size_t n;
};

/* Reads dir/dovecot-uidlist, else dir/courierimapuiddb. 0 (an absent
 * file leaves *l empty), -1 with *err (static) for a malformed one. */
int maildir_uidlist_read(const char *dir, struct maildir_uidlist *l, const char **err);
/* The UID of the file whose name (with or without ":2,...") is fname;
 * 0 when the list does not name it. */
uint32_t maildir_uidlist_find(const struct maildir_uidlist *l, const char *fname);
void maildir_uidlist_free(struct maildir_uidlist *l);

/* dir/dovecot-keywords into names[0..26) (NULL where unset; caller frees
 * with maildir_keywords_free). 0, or -1 when the file is unreadable. */
int maildir_keywords_read(const char *dir, char *names[MAILDIR_KEYWORDS_MAX]);
void maildir_keywords_free(char *names[MAILDIR_KEYWORDS_MAX]);

/* The flags of a file name: MAIL_FLAG_* in *flags, and the keywords its
 * letters name (space-separated, appended to kw; 'P', passed, as
 * "$Forwarded", which is what Dovecot stores for it as a keyword). */
void maildir_name_flags(const char *fname, char *const names[MAILDIR_KEYWORDS_MAX],
			uint32_t *flags, struct strbuf *kw);

/* A Maildir++ folder directory entry (".A.B") as a mailbox name
 * ("A/B", UTF-8) in *out; -1 for a name that is not a folder or whose
 * modified UTF-7 is malformed. */
int maildir_folder_name(const char *dirent, struct strbuf *out);
/* The other way: "A/B" -> ".A.B" (modified UTF-7); -1 for a name with a
 * '.' in a level (it would read back as two levels). */
int maildir_folder_dirent(const char *name, struct strbuf *out);

/* The subscribed names (UTF-8, '/'-separated) of a Maildir++ root: from
 * Dovecot's subscriptions, else Courier's courierimapsubscribed. *names
 * NULL and *n 0 when neither exists. Caller frees each and the array. */
int maildir_subscriptions_read(const char *dir, char ***names, size_t *n);

#endif
