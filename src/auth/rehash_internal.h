/* What the files of the hash upgrade share (auth/rehash.h): the two
 * messages between the server and its helper, and the helper's start.
 *
 * One SOCK_SEQPACKET message each way per upgrade:
 *   request  "USER\0PASSWORD"                  (no terminating NUL)
 *   reply    "STATUS FROM HASHED SCRAM ERRNO"  e.g. "upgraded SSHA512 1 1 0"
 * A message longer than REHASH_MSG_MAX is refused whole (the kernel
 * truncates a SEQPACKET record to the receiver's buffer and says so). */
#ifndef RAMPART_AUTH_REHASH_INTERNAL_H
#define RAMPART_AUTH_REHASH_INTERNAL_H

#include "auth/rehash.h"

#include <stddef.h>
#include <sys/types.h>

/* A username (255) and a password (1024) with their separator fit. */
#define REHASH_MSG_MAX 1536
#define REHASH_USER_MAX 255
#define REHASH_PASSWORD_MAX 1024

/* The request into buf; its length, or 0 when user or password is not
 * one the helper would take. */
size_t rehash_msg_encode(char *buf, size_t cap, const char *user, const char *password);
/* Splits a received request in place; buf must have room for len + 1
 * bytes (a NUL is written at buf[len]). 0, or -1 for a malformed one. */
int rehash_msg_decode(char *buf, size_t len, const char **user, const char **password);
/* The reply into buf (NUL-terminated); its length. */
size_t rehash_reply_encode(const struct rehash_result *r, char *buf, size_t cap);
/* Parses a reply; 0 or -1. */
int rehash_reply_decode(const char *buf, size_t len, struct rehash_result *out);

/* Forks the privileged helper serving users_file on one end of a
 * socketpair; *fd gets the other (close-on-exec). The child never
 * returns. Its pid, or -1 (errno). Call while single-threaded. */
pid_t rehash_helper_spawn(const char *users_file, int *fd);

#endif
