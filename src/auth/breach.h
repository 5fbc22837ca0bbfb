/* Breached-password lists in the format Have I Been Pwned publishes as
 * "SHA-1, ordered by hash": one "HEX40:COUNT" line per password (CRLF or
 * LF), sorted by the hex digest. The full list is tens of gigabytes, so
 * it is searched in place. */
#ifndef RAMPART_AUTH_BREACH_H
#define RAMPART_AUTH_BREACH_H

#include <stdint.h>

/* Looks the SHA-1 of password up in the file by binary search over byte
 * offsets (pread; O(log size) reads, nothing loaded into memory).
 * 1: listed (*count set when count != NULL), 0: not listed, -1: error
 * (errno; EINVAL for a file that is not in this format). */
int breach_file_lookup(const char *path, const char *password, uint64_t *count);

/* preads done by breach_file_lookup since start (tests count them). */
unsigned long breach_reads(void);

#endif
