/* The PROXY protocol (haproxy's proxy-protocol.txt, version 2 binary and
 * version 1 text) on listeners with proxy_from: a connection from one of
 * those load balancers must open with a header naming the real client,
 * and from then on that client's address is the connection's address for
 * every policy (allow_from, per-address limits, trusted_networks, logs):
 * worker_accept() runs only once the header is read. TLS, implicit or by
 * STARTTLS, starts after the header.
 *
 * The header is read before anything else, with exact-length reads so not
 * one byte of what follows (a TLS ClientHello) is consumed: the first
 * byte says which version; v2 is 16 bytes and then its stated length, v1
 * a line read byte by byte up to its 107-byte maximum. Waiting is bounded
 * by proxy_timeout from accept (however the bytes trickle in) and by
 * PROXY_PENDING_MAX per worker; whatever is not a valid header closes the
 * connection. */
#include "net/net_internal.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* proxy-protocol.txt 2.2: the v2 signature. */
static const unsigned char proxy_v2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
						0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
#define PROXY_V1_MAX 107         /* 2.1: the longest v1 line, CRLF included */
#define PROXY_V2_MAX (16 + 520)  /* addresses and TLVs: far more than any balancer sends */
#define PROXY_PENDING_MAX 1024   /* headers being read, per worker */

struct proxy_wait {
	struct worker *w;
	const struct net_listener *nl;
	evutil_socket_t fd;
	struct event *ev;
	uint64_t deadline_ms;        /* absolute: a trickle of bytes does not extend it */
	struct sockaddr_storage lb;  /* the balancer's own address */
	socklen_t lblen;
	unsigned char buf[PROXY_V2_MAX];
	size_t len;
	struct proxy_wait *prev, *next;
};

bool proxy_expected(const struct listener_config *lc, const struct sockaddr *sa)
{
	return lc->proxy_from.n && cidr_list_match(&lc->proxy_from, sa);
}

static void proxy_wait_free(struct proxy_wait *p, bool close_fd)
{
	struct worker *w = p->w;
	if (p->prev)
		p->prev->next = p->next;
	else
		w->proxy_waits = p->next;
	if (p->next)
		p->next->prev = p->prev;
	w->nproxy_waits--;
	event_free(p->ev);
	if (close_fd)
		evutil_closesocket(p->fd);
	free(p);
}

static void proxy_refuse(struct proxy_wait *p, const char *reason)
{
	char lb[64];
	sockaddr_ntop((struct sockaddr *)&p->lb, lb, sizeof(lb));
	log_info("event=proxy_refused ip=%s listener=%s reason=\"%s\"", lb, p->nl->lc->name, reason);
	proxy_wait_free(p, true);
}

/* How many bytes the header needs in all, as far as the bytes so far
 * tell; 0 when they cannot start a header. */
static size_t proxy_need(const struct proxy_wait *p)
{
	if (p->len == 0)
		return 1;
	if (p->buf[0] == proxy_v2_sig[0]) {
		if (memcmp(p->buf, proxy_v2_sig, MIN(p->len, sizeof(proxy_v2_sig))) != 0)
			return 0;
		if (p->len < 16)
			return 16;
		return 16 + (((size_t)p->buf[14] << 8) | p->buf[15]);
	}
	if (p->buf[0] == 'P') {
		if (memcmp(p->buf, "PROXY ", MIN(p->len, (size_t)6)) != 0)
			return 0;
		/* A line: one more byte until its LF. */
		return p->buf[p->len - 1] == '\n' ? p->len : p->len + 1;
	}
	return 0;
}

static int proxy_sockaddr(struct sockaddr_storage *ss, socklen_t *sl, int family, const void *addr,
			  const unsigned char port[2])
{
	memset(ss, 0, sizeof(*ss));
	uint16_t nport;
	memcpy(&nport, port, 2);
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, addr, 4);
		s4->sin_port = nport;
		*sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, addr, 16);
		s6->sin6_port = nport;
		*sl = sizeof(*s6);
	}
	return 0;
}

/* proxy-protocol.txt 2.2. A LOCAL command (the balancer's own health
 * check) keeps the balancer's address. 0, or -1 with *why. */
static int proxy_parse_v2(struct proxy_wait *p, struct sockaddr_storage *ss, socklen_t *sl,
			  const char **why)
{
	const unsigned char *b = p->buf;
	size_t alen = p->len - 16;
	if ((b[12] >> 4) != 2) {
		*why = "v2: unknown version";
		return -1;
	}
	unsigned cmd = b[12] & 0x0f;
	if (cmd == 0x0) {
		memcpy(ss, &p->lb, sizeof(*ss));
		*sl = p->lblen;
		return 0;
	}
	if (cmd != 0x1) {
		*why = "v2: unknown command";
		return -1;
	}
	/* TCP over IPv4 (0x11) or IPv6 (0x21): source, destination, ports. */
	if (b[13] == 0x11 && alen >= 12) {
		unsigned char port[2] = { b[16 + 8], b[16 + 9] };
		return proxy_sockaddr(ss, sl, AF_INET, b + 16, port);
	}
	if (b[13] == 0x21 && alen >= 36) {
		unsigned char port[2] = { b[16 + 32], b[16 + 33] };
		return proxy_sockaddr(ss, sl, AF_INET6, b + 16, port);
	}
	*why = "v2: not a TCP over IPv4/IPv6 address block";
	return -1;
}

/* proxy-protocol.txt 2.1: "PROXY TCP4 src dst sport dport\r\n", or
 * "PROXY UNKNOWN ...\r\n" (the balancer's own connection). */
static int proxy_parse_v1(struct proxy_wait *p, struct sockaddr_storage *ss, socklen_t *sl,
			  const char **why)
{
	char line[PROXY_V1_MAX + 1];
	if (p->len < 8 || p->buf[p->len - 2] != '\r') {
		*why = "v1: line does not end with CRLF";
		return -1;
	}
	memcpy(line, p->buf, p->len - 2);
	line[p->len - 2] = '\0';
	char proto[8], src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	unsigned sport, dport;
	if (strncmp(line, "PROXY UNKNOWN", 13) == 0) {
		memcpy(ss, &p->lb, sizeof(*ss));
		*sl = p->lblen;
		return 0;
	}
	char tail;
	if (sscanf(line, "PROXY %7s %45s %45s %5u %5u%c", proto, src, dst, &sport, &dport, &tail) != 5 ||
	    sport > 65535 || dport > 65535) {
		*why = "v1: malformed line";
		return -1;
	}
	int family = strcmp(proto, "TCP4") == 0 ? AF_INET : strcmp(proto, "TCP6") == 0 ? AF_INET6 : -1;
	unsigned char addr[16];
	if (family < 0 || inet_pton(family, src, addr) != 1) {
		*why = "v1: bad protocol or address";
		return -1;
	}
	uint16_t nport = htons((uint16_t)sport);
	return proxy_sockaddr(ss, sl, family, addr, (const unsigned char *)&nport);
}

static void proxy_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_wait *p = arg;
	if (what & EV_TIMEOUT) {
		proxy_refuse(p, "no PROXY header in time");
		return;
	}
	for (;;) {
		size_t need = proxy_need(p);
		if (need == 0) {
			proxy_refuse(p, "not a PROXY protocol header");
			return;
		}
		if (need > (p->buf[0] == 'P' ? (size_t)PROXY_V1_MAX : sizeof(p->buf))) {
			proxy_refuse(p, "PROXY header too long");
			return;
		}
		if (need == p->len)
			break;
		ssize_t n = recv(fd, p->buf + p->len, need - p->len, 0);
		if (n == 0) {
			proxy_refuse(p, "closed before the end of the PROXY header");
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				proxy_refuse(p, strerror(errno));
				return;
			}
			uint64_t now = now_ms();
			if (now >= p->deadline_ms) {
				proxy_refuse(p, "no PROXY header in time");
				return;
			}
			uint64_t left = p->deadline_ms - now;
			struct timeval tv = { (time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000 };
			event_add(p->ev, &tv);
			return;
		}
		p->len += (size_t)n;
	}
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	const char *why = "?";
	int r = p->buf[0] == 'P' ? proxy_parse_v1(p, &ss, &sl, &why) : proxy_parse_v2(p, &ss, &sl, &why);
	if (r < 0) {
		proxy_refuse(p, why);
		return;
	}
	struct worker *w = p->w;
	const struct net_listener *nl = p->nl;
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char lb[64], client[64];
		sockaddr_ntop((struct sockaddr *)&p->lb, lb, sizeof(lb));
		sockaddr_ntop((struct sockaddr *)&ss, client, sizeof(client));
		log_debug("event=proxy ip=%s via=%s listener=%s version=%d", client, lb, nl->lc->name,
			  p->buf[0] == 'P' ? 1 : 2);
	}
	proxy_wait_free(p, false);
	worker_accept(w, nl, fd, (struct sockaddr *)&ss, sl);
}

void proxy_wait_start(struct worker *w, const struct net_listener *nl, evutil_socket_t fd,
		      const struct sockaddr *sa, socklen_t salen)
{
	if (w->nproxy_waits >= PROXY_PENDING_MAX) {
		char lb[64];
		sockaddr_ntop(sa, lb, sizeof(lb));
		log_warn("event=proxy_refused ip=%s listener=%s reason=\"too many PROXY headers pending\"",
			 lb, nl->lc->name);
		evutil_closesocket(fd);
		return;
	}
	struct proxy_wait *p = xcalloc(1, sizeof(*p));
	p->w = w;
	p->nl = nl;
	p->fd = fd;
	memcpy(&p->lb, sa, MIN((size_t)salen, sizeof(p->lb)));
	p->lblen = salen;
	p->ev = event_new(w->base, fd, EV_READ, proxy_read_cb, p);
	p->deadline_ms = now_ms() + (uint64_t)w->srv->cfg->proxy_timeout * 1000;
	p->next = w->proxy_waits;
	if (p->next)
		p->next->prev = p;
	w->proxy_waits = p;
	w->nproxy_waits++;
	struct timeval tv = { (time_t)w->srv->cfg->proxy_timeout, 0 };
	event_add(p->ev, &tv);
}

void proxy_wait_free_all(struct worker *w)
{
	while (w->proxy_waits)
		proxy_wait_free(w->proxy_waits, true);
}

int proxy_header_sniff(const unsigned char *b, size_t len)
{
	size_t n1 = MIN(len, (size_t)6), n2 = MIN(len, sizeof(proxy_v2_sig));
	bool v1 = memcmp(b, "PROXY ", n1) == 0, v2 = memcmp(b, proxy_v2_sig, n2) == 0;
	if ((v1 && len >= 6) || (v2 && len >= sizeof(proxy_v2_sig)))
		return 1;
	return v1 || v2 ? -1 : 0;
}
