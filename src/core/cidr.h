/* IPv4/IPv6 networks ("127.0.0.0/8", "::1", "2001:db8::/32") and lists of
 * them, for trusted_networks and allow-lists. */
#ifndef RAMPART_CORE_CIDR_H
#define RAMPART_CORE_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family;          /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

struct cidr_list {
	struct cidr *v;
	size_t n;
};

/* Parses one network; a bare address is a /32 or /128. 0 or -1. */
int cidr_parse(const char *s, struct cidr *out);
/* Parses a comma- and/or space-separated list; empty string gives an empty
 * list. On error *bad points at a copy of the offending item (caller frees). */
int cidr_list_parse(const char *s, struct cidr_list *out, char **bad);
void cidr_list_free(struct cidr_list *l);
/* IPv4-mapped IPv6 addresses match IPv4 networks. */
bool cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa);
/* "a.b.c.d" / "x:y::z" into buf (at least 64 bytes). */
const char *sockaddr_ntop(const struct sockaddr *sa, char *buf, size_t size);

#endif
