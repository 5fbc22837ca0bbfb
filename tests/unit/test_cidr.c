/* CIDR parsing, lists and matching (IPv4, IPv6, IPv4-mapped IPv6). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "core/cidr.h"

static struct sockaddr_storage sa_of(const char *ip)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(143);
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(143);
	}
	return ss;
}

static bool match(const char *list, const char *ip)
{
	struct cidr_list l;
	char *bad = NULL;
	assert_int_equal(cidr_list_parse(list, &l, &bad), 0);
	assert_null(bad);
	struct sockaddr_storage ss = sa_of(ip);
	bool r = cidr_list_match(&l, (struct sockaddr *)&ss);
	cidr_list_free(&l);
	return r;
}

static void test_parse_v4(void **state)
{
	(void)state;
	struct cidr c;
	assert_int_equal(cidr_parse("192.168.1.0/24", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 24);
	assert_memory_equal(c.addr, "\xc0\xa8\x01\x00", 4);
	/* a bare address is a /32 */
	assert_int_equal(cidr_parse("10.1.2.3", &c), 0);
	assert_int_equal(c.prefix, 32);
	assert_memory_equal(c.addr, "\x0a\x01\x02\x03", 4);
	/* host bits are cleared */
	assert_int_equal(cidr_parse("10.1.2.3/8", &c), 0);
	assert_int_equal(c.prefix, 8);
	assert_memory_equal(c.addr, "\x0a\x00\x00\x00", 4);
	assert_int_equal(cidr_parse("10.255.2.3/9", &c), 0);
	assert_memory_equal(c.addr, "\x0a\x80\x00\x00", 4);
	assert_int_equal(cidr_parse("0.0.0.0/0", &c), 0);
	assert_int_equal(c.prefix, 0);
	assert_int_equal(cidr_parse("255.255.255.255/32", &c), 0);
	assert_int_equal(c.prefix, 32);
}

static void test_parse_v6(void **state)
{
	(void)state;
	struct cidr c;
	assert_int_equal(cidr_parse("2001:db8::/32", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 32);
	assert_memory_equal(c.addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(cidr_parse("::1", &c), 0);
	assert_int_equal(c.prefix, 128);
	assert_int_equal(cidr_parse("::/0", &c), 0);
	assert_int_equal(c.prefix, 0);
	assert_int_equal(cidr_parse("2001:db8::ffff/127", &c), 0);
	assert_int_equal(c.addr[15], 0xfe);
	/* an IPv4-mapped network is stored as the IPv4 network */
	assert_int_equal(cidr_parse("::ffff:10.0.0.0/104", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 8);
	assert_memory_equal(c.addr, "\x0a\x00\x00\x00", 4);
	assert_int_equal(cidr_parse("::ffff:192.0.2.1", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 32);
}

static void test_parse_bad(void **state)
{
	(void)state;
	static const char *bad[] = {
		"", "1.2.3", "1.2.3.4/33", "::1/129", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/+8",
		"1.2.3.4/08", "1.2.3.4/1000", "01.2.3.4", "256.1.1.1", "fe80::1%eth0", "host.example",
		"1.2.3.4/24/5", " 1.2.3.4", "1.2.3.4 ", "/24", "::1/", ":::1", "1.2.3.4/2x",
		"[::1]", "1.2.3.4/99999999999999999999",
		"0000000000000000000000000000000000000000000000000000000000000000000000000000000000",
	};
	struct cidr c;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cidr_parse(bad[i], &c) == 0)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_int_equal(cidr_parse(NULL, &c), -1);
}

static void test_match_v4(void **state)
{
	(void)state;
	assert_true(match("192.168.1.0/24", "192.168.1.77"));
	assert_false(match("192.168.1.0/24", "192.168.2.1"));
	assert_true(match("10.0.0.0/9", "10.127.255.255"));
	assert_false(match("10.0.0.0/9", "10.128.0.0"));
	assert_true(match("203.0.113.5", "203.0.113.5"));
	assert_false(match("203.0.113.5", "203.0.113.6"));
	assert_true(match("203.0.113.5/32", "203.0.113.5"));
	assert_true(match("0.0.0.0/0", "198.51.100.1"));
	/* an IPv4 network never matches a native IPv6 client */
	assert_false(match("0.0.0.0/0", "2001:db8::1"));
}

static void test_match_v6(void **state)
{
	(void)state;
	assert_true(match("2001:db8::/32", "2001:db8:1::5"));
	assert_false(match("2001:db8::/32", "2001:db9::"));
	assert_true(match("::1", "::1"));
	assert_true(match("::1/128", "::1"));
	assert_false(match("::1/128", "::2"));
	assert_true(match("::/0", "2001:db8::1"));
	assert_true(match("fe80::/10", "febf::1"));
	assert_false(match("fe80::/10", "fec0::1"));
	/* ::/0 means all IPv6 clients; IPv4 clients need 0.0.0.0/0 */
	assert_false(match("::/0", "192.0.2.1"));
}

static void test_match_mapped(void **state)
{
	(void)state;
	/* a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d */
	assert_true(match("192.168.1.0/24", "::ffff:192.168.1.5"));
	assert_false(match("192.168.1.0/24", "::ffff:192.168.2.5"));
	assert_true(match("127.0.0.0/8", "::ffff:127.0.0.1"));
	/* and a network written in mapped form matches plain IPv4 clients */
	assert_true(match("::ffff:192.168.0.0/112", "192.168.7.7"));
	assert_true(match("::ffff:192.168.0.0/112", "::ffff:192.168.7.7"));
	assert_false(match("::ffff:192.168.0.0/112", "192.169.7.7"));
}

static void test_list_parse(void **state)
{
	(void)state;
	struct cidr_list l;
	char *bad = NULL;
	assert_int_equal(cidr_list_parse("127.0.0.0/8, ::1  10.0.0.0/8,,\t192.0.2.1", &l, &bad), 0);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.v[1].family, AF_INET6);
	assert_int_equal(l.v[3].prefix, 32);
	cidr_list_free(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.v);

	assert_int_equal(cidr_list_parse("", &l, &bad), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(cidr_list_parse(" , ,", &l, &bad), 0);
	assert_int_equal(l.n, 0);
	cidr_list_free(&l);

	assert_int_equal(cidr_list_parse("127.0.0.0/8, 10.0.0.300, ::1", &l, &bad), -1);
	assert_non_null(bad);
	assert_string_equal(bad, "10.0.0.300");
	free(bad);
	assert_int_equal(l.n, 0);
	assert_null(l.v);

	/* a long garbage item is reported, truncated */
	char big[300];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(cidr_list_parse(big, &l, &bad), -1);
	assert_non_null(bad);
	assert_true(strlen(bad) <= 64);
	free(bad);
	/* bad may be NULL when the caller does not want the item */
	assert_int_equal(cidr_list_parse("nonsense", &l, NULL), -1);
}

static void test_match_edge(void **state)
{
	(void)state;
	struct cidr_list empty = { 0 };
	struct sockaddr_storage ss = sa_of("127.0.0.1");
	assert_false(cidr_list_match(&empty, (struct sockaddr *)&ss));
	assert_false(cidr_list_match(NULL, (struct sockaddr *)&ss));
	struct cidr_list l;
	char *bad;
	assert_int_equal(cidr_list_parse("0.0.0.0/0 ::/0", &l, &bad), 0);
	assert_false(cidr_list_match(&l, NULL));
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	assert_false(cidr_list_match(&l, (struct sockaddr *)&un));
	cidr_list_free(&l);
}

static void test_ntop(void **state)
{
	(void)state;
	char buf[64];
	struct sockaddr_storage ss = sa_of("192.0.2.33");
	assert_string_equal(sockaddr_ntop((struct sockaddr *)&ss, buf, sizeof(buf)), "192.0.2.33");
	ss = sa_of("2001:db8::7");
	assert_string_equal(sockaddr_ntop((struct sockaddr *)&ss, buf, sizeof(buf)), "2001:db8::7");
	/* mapped addresses are logged as the IPv4 address they are */
	ss = sa_of("::ffff:198.51.100.9");
	assert_string_equal(sockaddr_ntop((struct sockaddr *)&ss, buf, sizeof(buf)), "198.51.100.9");
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	assert_string_equal(sockaddr_ntop((struct sockaddr *)&un, buf, sizeof(buf)), "local");
	assert_string_equal(sockaddr_ntop(NULL, buf, sizeof(buf)), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_v4),   cmocka_unit_test(test_parse_v6),
		cmocka_unit_test(test_parse_bad),  cmocka_unit_test(test_match_v4),
		cmocka_unit_test(test_match_v6),   cmocka_unit_test(test_match_mapped),
		cmocka_unit_test(test_list_parse), cmocka_unit_test(test_match_edge),
		cmocka_unit_test(test_ntop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
