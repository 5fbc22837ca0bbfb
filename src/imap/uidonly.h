/* UIDONLY (RFC 9586): once a client has ENABLEd it, messages are named by
 * UID only, both ways. The rules live in imap/uidonly.c; the commands ask
 * it how to open a FETCH response and whether an argument is refused. */
#ifndef RAMPART_IMAP_UIDONLY_H
#define RAMPART_IMAP_UIDONLY_H

#include <stdbool.h>
#include <stdint.h>

struct imap_cmd;
struct imap_session;
struct strbuf;

/* The response code of every refusal (RFC 9586 3, 5). */
#define UIDONLY_REFUSED "[UIDREQUIRED] Message sequence numbers are not allowed after ENABLE UIDONLY"

/* Has the client ENABLEd UIDONLY? */
bool uidonly_on(const struct imap_session *s);
/* Before a command runs: its non-UID form names messages by sequence
 * number, so after ENABLE UIDONLY it ends with BAD [UIDREQUIRED]. True
 * when the command was refused (and ended). */
bool uidonly_refuse(struct imap_cmd *cmd);
/* Opens a message's FETCH response in line: "* <seq> FETCH (", or after
 * ENABLE UIDONLY "* <uid> UIDFETCH (" (RFC 9586 3.3). True in the second
 * case: the UID is the response's number and the caller adds the UID item
 * only when the client asked for it by name. */
bool uidonly_fetch_open(const struct imap_session *s, struct strbuf *line, uint32_t uid);

#endif
