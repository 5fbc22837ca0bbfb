"""Pre-login limits (issue #11): before login a client may hold only small
literals in memory (RFC 7888 LITERAL-, max_preauth_literal), and it has an
absolute deadline (login_timeout) from accept to login that no amount of
activity, and no stalled TLS handshake, extends."""
import socket
import time

import pytest

from rampart_harness import Server, read_until, read_tagged


def recv_until_closed(sock, timeout):
    """All bytes until the server closes (b"" or reset) or `timeout` passes.
    Returns (data, closed)."""
    data = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        sock.settimeout(max(0.05, deadline - time.time()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, OSError):
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


# ---- small literals before login ----

def test_big_sync_literal_before_login_refused_without_continuation(shared_server):
    s = shared_server.raw(tls=True)
    read_until(s, b"\r\n")
    s.sendall(b"a LOGIN {5000}\r\n")
    data = read_tagged(s, b"a")
    assert b"a BAD [TOOBIG]" in data
    assert not data.startswith(b"+") and b"\r\n+ " not in data
    # The connection goes on.
    s.sendall(b"b NOOP\r\n")
    assert b"b OK" in read_tagged(s, b"b")
    s.close()


def test_big_nonsync_literal_before_login_is_fatal(shared_server):
    s = shared_server.raw(tls=True)
    read_until(s, b"\r\n")
    s.sendall(b"a LOGIN {5000+}\r\n")
    data, closed = recv_until_closed(s, 10)
    assert b"* BYE" in data
    assert closed
    s.close()


def test_literal_of_4096_accepted_before_login(shared_server):
    s = shared_server.raw(tls=True)
    greeting = read_until(s, b"\r\n")
    # RFC 7888: LITERAL- before login, not LITERAL+.
    assert b" LITERAL-" in greeting and b"LITERAL+" not in greeting
    s.sendall(b"a LOGIN nosuchuser {4096}\r\n")
    assert read_until(s, b"\r\n").startswith(b"+ ")
    s.sendall(b"x" * 4096 + b"\r\n")
    assert b"a NO [AUTHENTICATIONFAILED]" in read_tagged(s, b"a")
    # A 4096-byte non-synchronizing literal too (what LITERAL- promises).
    s.sendall(b"b LOGIN nosuchuser {4096+}\r\n" + b"y" * 4096 + b"\r\n")
    assert b"b NO [AUTHENTICATIONFAILED]" in read_tagged(s, b"b")
    s.close()


def test_after_login_big_literals_work(shared_server):
    s = shared_server.raw(tls=True)
    read_until(s, b"\r\n")
    s.sendall(b"a LOGIN %s \"%s\"\r\n" % (shared_server.user.encode(),
                                          shared_server.password.encode()))
    data = read_tagged(s, b"a")
    assert b"a OK" in data and b"LITERAL+" in data
    body = b"Subject: big\r\n\r\n" + b"0123456789abcde\r\n" * 6400  # ~100 KB
    s.sendall(b"b APPEND INBOX {%d}\r\n" % len(body))
    assert read_until(s, b"\r\n").startswith(b"+ ")
    s.sendall(body + b"\r\n")
    assert b"b OK [APPENDUID" in read_tagged(s, b"b", timeout=30)
    s.sendall(b"c LOGOUT\r\n")
    read_tagged(s, b"c")
    s.close()


# ---- the absolute login deadline ----

@pytest.fixture(scope="module")
def deadline_server():
    srv = Server(extra_config="login_timeout = 5\n")
    yield srv
    srv.close()


def test_trickling_client_closed_at_login_deadline(deadline_server):
    srv = deadline_server
    s = socket.create_connection((srv.host, srv.port_starttls), 10)
    start = time.time()
    read_until(s, b"\r\n")
    s.settimeout(1)
    msg = b"a NOOP\r\n"
    data = b""
    closed = False
    i = 0
    # One byte a second: each would restart an inactivity timer.
    while time.time() - start < 15 and i < 30:
        try:
            s.sendall(msg[i % len(msg):i % len(msg) + 1])
        except OSError:
            closed = True
            break
        i += 1
        got, closed = recv_until_closed(s, 1)
        data += got
        if closed:
            break
    elapsed = time.time() - start
    s.close()
    assert b"* BYE Login timeout" in data, data
    assert closed and elapsed < 10, elapsed


@pytest.mark.parametrize("how", ["implicit", "starttls"])
def test_stalled_tls_handshake_closed_at_login_deadline(deadline_server, how):
    srv = deadline_server
    port = srv.port_tls if how == "implicit" else srv.port_starttls
    s = socket.create_connection((srv.host, port), 10)
    start = time.time()
    if how == "starttls":
        read_until(s, b"\r\n")
        s.sendall(b"a STARTTLS\r\n")
        assert b"a OK" in read_tagged(s, b"a")
    # No ClientHello, ever.
    data, closed = recv_until_closed(s, 15)
    elapsed = time.time() - start
    s.close()
    assert closed, "still open after %.1f s" % elapsed
    assert elapsed < 10, elapsed


def test_logged_in_client_outlives_login_deadline(deadline_server):
    srv = deadline_server
    c = srv.imap_tls()
    time.sleep(7)
    assert c.noop()[0] == "OK"
    c.logout()
