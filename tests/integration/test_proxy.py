"""PROXY protocol (v2 binary, v1 text) on listeners with proxy_from: the
client address in the header is what every policy sees (logs, allow_from,
max_connections_per_ip, trusted_networks); TLS starts after the header;
a connection from a balancer without a valid header, or a header from any
other address, is closed. The balancer is this test: 127.0.0.1 is in
proxy_from, 127.0.0.2 is not."""
import re
import socket
import ssl
import struct
import time

import pytest

from rampart_harness import Server, free_port, read_until

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(src, dst="127.0.0.1", sport=40000, dport=143, cmd=1, tlv=b""):
    if ":" in src:
        fam, addrs = 0x21, socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(
            socket.AF_INET6, dst if ":" in dst else "::1")
    else:
        fam, addrs = 0x11, socket.inet_aton(src) + socket.inet_aton(dst)
    body = addrs + struct.pack("!HH", sport, dport) + tlv
    if cmd == 0:
        fam, body = 0x00, b""
    return SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) + body


def v1(src, dst="127.0.0.1", sport=40000, dport=143):
    proto = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (proto, src, dst, sport, dport)).encode()


@pytest.fixture(scope="module")
def srv():
    s = Server.__new__(Server)
    s.port_proxy = free_port()
    s.port_proxy_tls = free_port()
    s.port_proxy_allow = free_port()
    extra = ("max_connections_per_ip = 3\n"
             "[security]\nproxy_timeout = 2\n"
             "[listener proxied]\naddress = 127.0.0.1:%d\ntls = starttls\nproxy_from = 127.0.0.1\n"
             "[listener proxied_tls]\naddress = 127.0.0.1:%d\ntls = implicit\n"
             "proxy_from = 127.0.0.1/32, ::1\n"
             "[listener proxied_allow]\naddress = 127.0.0.1:%d\ntls = starttls\n"
             "proxy_from = 127.0.0.1\nallow_from = 192.0.2.0/24\n"
             % (s.port_proxy, s.port_proxy_tls, s.port_proxy_allow))
    Server.__init__(s, extra_config=extra, trusted_networks="127.0.0.5")
    yield s
    s.close()


def connect(port, source="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def closed(sock, timeout=10):
    """True when the server closes without sending an IMAP greeting."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return b"* OK" not in data
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def caps(sock):
    sock.sendall(b"c CAPABILITY\r\n")
    return read_until(sock, b"c OK")


def test_v2_header_gives_real_address(srv):
    s = connect(srv.port_proxy)
    s.sendall(v2("192.0.2.77"))
    assert read_until(s, b"\r\n").startswith(b"* OK")
    srv.wait_log(r"event=connect ip=192\.0\.2\.77 listener=proxied")
    srv.wait_log(r"event=proxy ip=192\.0\.2\.77 via=127\.0\.0\.1 listener=proxied version=2")
    s.close()


def test_v2_ipv6_and_tlvs(srv):
    s = connect(srv.port_proxy)
    # a TLV (PP2_TYPE_AUTHORITY) after the addresses is skipped
    s.sendall(v2("2001:db8::42", "::1", tlv=b"\x02\x00\x0bexample.org"))
    assert read_until(s, b"\r\n").startswith(b"* OK")
    srv.wait_log(r"event=connect ip=2001:db8::42 listener=proxied")
    s.close()


def test_v1_header_byte_by_byte(srv):
    s = connect(srv.port_proxy)
    for b in v1("198.51.100.3"):
        s.sendall(bytes([b]))
    assert read_until(s, b"\r\n").startswith(b"* OK")
    srv.wait_log(r"event=connect ip=198\.51\.100\.3 listener=proxied")
    s.close()


def test_local_command_keeps_balancer_address(srv):
    s = connect(srv.port_proxy)
    s.sendall(v2("0.0.0.0", cmd=0))
    assert read_until(s, b"\r\n").startswith(b"* OK")
    s.close()


def test_trusted_networks_see_real_address(srv):
    # 127.0.0.5 is trusted: cleartext login allowed; 192.0.2.8 is not
    s = connect(srv.port_proxy)
    s.sendall(v2("127.0.0.5"))
    read_until(s, b"\r\n")
    c = caps(s)
    assert b"LOGINDISABLED" not in c and b"AUTH=PLAIN" in c, c
    s.sendall(b'a LOGIN %s "%s"\r\n' % (srv.user.encode(), srv.password.encode()))
    assert b"a OK" in read_until(s, b"a ")
    s.close()
    s = connect(srv.port_proxy)
    s.sendall(v2("192.0.2.8"))
    read_until(s, b"\r\n")
    assert b"LOGINDISABLED" in caps(s)
    s.close()
    # the balancer itself is 127.0.0.1, not trusted either way
    s = connect(srv.port_proxy)
    s.sendall(v2("127.0.0.1"))
    read_until(s, b"\r\n")
    assert b"LOGINDISABLED" in caps(s)
    s.close()


def test_allow_from_sees_real_address(srv):
    s = connect(srv.port_proxy_allow)
    s.sendall(v2("192.0.2.9"))
    assert read_until(s, b"\r\n").startswith(b"* OK")
    s.close()
    s = connect(srv.port_proxy_allow)
    s.sendall(v2("203.0.113.9"))
    assert closed(s)
    srv.wait_log(r"event=connect_refused reason=allow_from ip=203\.0\.113\.9 listener=proxied_allow")


def test_per_ip_limit_counts_real_address(srv):
    held = []
    for _ in range(3):
        s = connect(srv.port_proxy)
        s.sendall(v2("192.0.2.50"))
        assert read_until(s, b"\r\n").startswith(b"* OK")
        held.append(s)
    s = connect(srv.port_proxy)
    s.sendall(v2("192.0.2.50"))
    assert b"Too many connections from your address" in read_until(s, b"\r\n")
    s.close()
    # another client behind the same balancer is not affected
    s = connect(srv.port_proxy)
    s.sendall(v2("192.0.2.51"))
    assert read_until(s, b"\r\n").startswith(b"* OK")
    s.close()
    for h in held:
        h.close()


def test_tls_after_header_in_the_same_segment(srv):
    """The header and the ClientHello in one write: not a byte of the
    ClientHello may be taken as part of the header."""
    ctx = srv.ssl_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname="localhost")
    s = connect(srv.port_proxy_tls)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    s.sendall(v2("192.0.2.60") + out.read())
    deadline = time.time() + 10
    while time.time() < deadline:
        data = s.recv(65536)
        assert data, "closed during the handshake"
        inc.write(data)
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = out.read()
            if pending:
                s.sendall(pending)
    s.sendall(out.read())
    greeting = b""
    while b"\r\n" not in greeting and time.time() < deadline:
        try:
            greeting += tls.read(4096)
        except ssl.SSLWantReadError:
            inc.write(s.recv(65536))
    assert greeting.startswith(b"* OK"), greeting
    srv.wait_log(r"event=connect ip=192\.0\.2\.60 listener=proxied_tls")
    s.close()


def test_balancer_without_header_is_closed(srv):
    s = connect(srv.port_proxy)
    s.sendall(b"a CAPABILITY\r\n")
    assert closed(s)
    srv.wait_log(r"event=proxy_refused ip=127\.0\.0\.1 listener=proxied reason=\"not a PROXY")


def test_balancer_silent_is_closed_at_proxy_timeout(srv):
    s = connect(srv.port_proxy)
    t0 = time.time()
    assert closed(s, timeout=20)
    assert time.time() - t0 < 15
    srv.wait_log(r"reason=\"no PROXY header in time\"")


@pytest.mark.parametrize("bad,why", [
    (SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12, "unknown version"),
    (SIG + b"\x21\x12\x00\x0c" + b"\x00" * 12, "not a TCP"),          # UDP
    (SIG + b"\x21\x11\x00\x04" + b"\x00" * 4, "not a TCP"),           # too short for TCP4
    (SIG + b"\x21\x11\xff\xff", "too long"),
    (b"PROXY TCP4 192.0.2.1 127.0.0.1 1 2 extra\r\n", "malformed"),
    (b"PROXY TCP4 not-an-ip 127.0.0.1 1 2\r\n", "bad protocol or address"),
    (b"PROXY " + b"A" * 120, "too long"),
    (b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", "not a PROXY"),
])
def test_bad_headers_close(srv, bad, why):
    s = connect(srv.port_proxy)
    s.sendall(bad)
    assert closed(s)
    srv.wait_log(r"event=proxy_refused ip=127\.0\.0\.1 listener=proxied reason=\"[^\"]*%s"
             % re.escape(why))


@pytest.mark.parametrize("header", [v2("192.0.2.99"), v1("192.0.2.99")], ids=["v2", "v1"])
def test_header_from_other_address_is_closed(srv, header):
    s = connect(srv.port_proxy, source="127.0.0.2")
    assert read_until(s, b"\r\n").startswith(b"* OK")  # a normal client to the server
    s.sendall(header)
    assert closed(s)
    srv.wait_log(r"event=proxy_refused ip=127\.0\.0\.2 listener=proxied reason=\"PROXY header "
             r"from an address not in proxy_from\"")


def test_direct_client_from_other_address_works(srv):
    s = connect(srv.port_proxy, source="127.0.0.2")
    assert read_until(s, b"\r\n").startswith(b"* OK")
    assert b"STARTTLS" in caps(s)
    s.close()
    srv.wait_log(r"event=connect ip=127\.0\.0\.2 listener=proxied")


def test_second_header_after_balancer_is_closed(srv):
    s = connect(srv.port_proxy)
    s.sendall(v2("192.0.2.70"))
    assert read_until(s, b"\r\n").startswith(b"* OK")
    s.sendall(v2("127.0.0.5"))
    assert closed(s)


def test_trickled_header_closed_at_proxy_timeout(srv):
    """proxy_timeout runs from accept: a byte now and then does not extend it."""
    s = connect(srv.port_proxy)
    header = v1("192.0.2.80")
    t0 = time.time()
    sent = 0
    try:
        for b in header[:-1]:
            if time.time() - t0 > 8:
                break
            s.sendall(bytes([b]))
            sent += 1
            time.sleep(0.3)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert sent < len(header) - 1, "the whole header was accepted byte by byte"
    assert closed(s)
    assert time.time() - t0 < 8
    srv.wait_log(r"event=proxy_refused ip=127\.0\.0\.1 listener=proxied reason=\"no PROXY header in time\"")
