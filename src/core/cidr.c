/* IPv4/IPv6 networks and lists of them (trusted_networks, allow_from).
 *
 * Networks are stored normalised: host bits beyond the prefix are cleared,
 * and an IPv4-mapped IPv6 network (::ffff:a.b.c.d/96+n) is stored as the
 * IPv4 network a.b.c.d/n. Client addresses are normalised the same way
 * before matching, so a dual-stack socket that reports ::ffff:10.1.2.3
 * matches "10.0.0.0/8" and the same client is named the same way in logs
 * whichever socket family accepted it. */
#include "core/cidr.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest textual network we accept: a full IPv6 address with an
 * embedded IPv4 part (45) plus "/128". Anything longer is not a network. */
#define CIDR_TEXT_MAX 64

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void cidr_mask(struct cidr *c)
{
	unsigned bytes = c->family == AF_INET ? 4 : 16;
	for (unsigned i = 0; i < bytes; i++) {
		unsigned bit = i * 8;
		if (bit >= c->prefix)
			c->addr[i] = 0;
		else if (c->prefix - bit < 8)
			c->addr[i] &= (uint8_t)(0xff << (8 - (c->prefix - bit)));
	}
	for (unsigned i = bytes; i < 16; i++)
		c->addr[i] = 0;
}

int cidr_parse(const char *s, struct cidr *out)
{
	if (!s || !out)
		return -1;
	size_t len = strlen(s);
	if (len == 0 || len >= CIDR_TEXT_MAX)
		return -1;
	char buf[CIDR_TEXT_MAX];
	memcpy(buf, s, len + 1);

	char *slash = strchr(buf, '/');
	bool have_prefix = slash != NULL;
	uint32_t prefix = 0;
	if (have_prefix) {
		*slash = '\0';
		const char *p = slash + 1;
		size_t plen = strlen(p);
		/* At most three digits, no sign, no leading zeros ("/08" is
		 * more likely a typo than a deliberate /8). */
		if (plen == 0 || plen > 3 || (plen > 1 && p[0] == '0') ||
		    parse_u32(p, plen, &prefix) < 0)
			return -1;
	}

	struct cidr c = { 0 };
	struct in_addr a4;
	struct in6_addr a6;
	/* inet_pton refuses zone ids ("fe80::1%eth0"), leading zeros in
	 * dotted quads and anything but plain numeric forms: exactly what a
	 * network list should contain. */
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		c.family = AF_INET;
		memcpy(c.addr, &a4, 4);
		if (!have_prefix)
			prefix = 32;
		if (prefix > 32)
			return -1;
	} else if (inet_pton(AF_INET6, buf, &a6) == 1) {
		c.family = AF_INET6;
		memcpy(c.addr, &a6, 16);
		if (!have_prefix)
			prefix = 128;
		if (prefix > 128)
			return -1;
		if (prefix >= 96 && memcmp(c.addr, v4mapped_prefix, 12) == 0) {
			c.family = AF_INET;
			memmove(c.addr, c.addr + 12, 4);
			prefix -= 96;
		}
	} else {
		return -1;
	}
	c.prefix = prefix;
	cidr_mask(&c);
	*out = c;
	return 0;
}

static bool cidr_is_sep(char ch)
{
	return ch == ',' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

int cidr_list_parse(const char *s, struct cidr_list *out, char **bad)
{
	if (bad)
		*bad = NULL;
	if (!out)
		return -1;
	out->v = NULL;
	out->n = 0;
	if (!s)
		return 0;
	struct cidr *v = NULL;
	size_t n = 0, cap = 0;
	const char *p = s;
	for (;;) {
		while (*p && cidr_is_sep(*p))
			p++;
		if (!*p)
			break;
		const char *start = p;
		while (*p && !cidr_is_sep(*p))
			p++;
		size_t ilen = (size_t)(p - start);
		char item[CIDR_TEXT_MAX];
		struct cidr c;
		if (ilen >= sizeof(item)) {
			if (bad)
				*bad = xstrndup(start, MIN(ilen, (size_t)CIDR_TEXT_MAX));
			free(v);
			return -1;
		}
		memcpy(item, start, ilen);
		item[ilen] = '\0';
		if (cidr_parse(item, &c) < 0) {
			if (bad)
				*bad = xstrdup(item);
			free(v);
			return -1;
		}
		xgrow((void **)&v, &cap, n + 1, sizeof(*v));
		v[n++] = c;
	}
	out->v = v;
	out->n = n;
	return 0;
}

void cidr_list_free(struct cidr_list *l)
{
	if (!l)
		return;
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Reduces a socket address to (family, 16 address bytes), turning
 * IPv4-mapped IPv6 into IPv4. Returns false for non-IP families. */
static bool cidr_addr_from_sockaddr(const struct sockaddr *sa, int *family, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
		*family = AF_INET;
		memcpy(addr, &s4->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
		const uint8_t *b = s6->sin6_addr.s6_addr;
		if (memcmp(b, v4mapped_prefix, 12) == 0) {
			*family = AF_INET;
			memcpy(addr, b + 12, 4);
		} else {
			*family = AF_INET6;
			memcpy(addr, b, 16);
		}
		return true;
	}
	return false;
}

static bool cidr_contains(const struct cidr *c, int family, const uint8_t addr[16])
{
	if (c->family != family)
		return false;
	unsigned full = c->prefix / 8, rest = c->prefix % 8;
	if (memcmp(c->addr, addr, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((addr[full] & mask) != c->addr[full])
			return false;
	}
	return true;
}

bool cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa)
{
	int family;
	uint8_t addr[16];
	if (!l || l->n == 0 || !cidr_addr_from_sockaddr(sa, &family, addr))
		return false;
	for (size_t i = 0; i < l->n; i++)
		if (cidr_contains(&l->v[i], family, addr))
			return true;
	return false;
}

const char *sockaddr_ntop(const struct sockaddr *sa, char *buf, size_t size)
{
	int family;
	uint8_t addr[16];
	if (!buf || size == 0)
		return "";
	if (!cidr_addr_from_sockaddr(sa, &family, addr) ||
	    !inet_ntop(family, addr, buf, (socklen_t)MIN(size, (size_t)INET6_ADDRSTRLEN + 1)))
		snprintf(buf, size, "%s", sa && sa->sa_family == AF_UNIX ? "local" : "unknown");
	return buf;
}
