/* The LMTP command line grammar (RFC 2033 over RFC 5321 4.1): verbs, the
 * paths of MAIL and RCPT with their ESMTP parameters, BDAT's arguments
 * (RFC 3030) and the split of a recipient into user, detail and domain.
 * Pure functions over one line, so the unit tests and the fuzz harness
 * drive them without a connection. */
#ifndef RAMPART_LMTP_PARSE_H
#define RAMPART_LMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1.4 gives 512 octets for a command line; the SIZE,
 * BODY and SMTPUTF8 parameters may lengthen it, so 1000 as for text. */
#define LMTP_CMD_LINE_MAX 1000
/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its brackets. */
#define LMTP_PATH_MAX 256

enum lmtp_verb {
	LMTP_LHLO, LMTP_MAIL, LMTP_RCPT, LMTP_DATA, LMTP_BDAT, LMTP_RSET, LMTP_NOOP,
	LMTP_QUIT, LMTP_VRFY, LMTP_HELO, LMTP_EHLO, LMTP_HELP, LMTP_UNKNOWN,
};

/* The verb of a line (without its CRLF) and where its argument starts
 * (after one space; "" when none). */
enum lmtp_verb lmtp_parse_verb(const char *line, const char **arg);

enum lmtp_body { LMTP_BODY_7BIT, LMTP_BODY_8BITMIME };

/* A parsed MAIL FROM or RCPT TO argument. */
struct lmtp_path {
	char *addr;          /* inside the brackets, "" for <>; caller frees */
	uint64_t size;       /* MAIL SIZE= (RFC 1870), 0 when absent */
	enum lmtp_body body; /* MAIL BODY= (RFC 6152) */
	bool smtputf8;       /* MAIL SMTPUTF8 (RFC 6531) */
};

/* Parses "FROM:<a@b> SIZE=10" (mail true) or "TO:<a@b>" (mail false).
 * NULL on success (path->addr set), else the whole reply to send
 * ("501 5.5.4 ..."), static. The null path <> is accepted for MAIL only. */
const char *lmtp_parse_path(const char *arg, bool mail, struct lmtp_path *path);

/* "1000" or "1000 LAST" (RFC 3030 2). False on a syntax error. */
bool lmtp_parse_bdat(const char *arg, uint64_t *size, bool *last);

/* Splits "local+detail@domain" at the last '@' and the first delimiter
 * character of the local part (any of delims; NULL or "": no detail).
 * Outputs are new strings ("" when absent; domain lower-cased); caller
 * frees. */
void lmtp_addr_split(const char *addr, const char *delims, char **local, char **detail,
		     char **domain);

#endif
