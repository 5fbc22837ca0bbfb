"""Regression tests for the bug classes other IMAP servers shipped in
2025-26 (issue #11): deeply nested parentheses and braces before login,
huge literal announcements, values that try to smuggle a second command,
oversized base64 in AUTHENTICATE continuations. Each must end in a clear
tagged BAD/NO (or a BYE for a fatal framing error), never a crash, a hang
or a command run that the client did not send as a command."""
import socket
import ssl
import time

from rampart_harness import Raw, read_until, read_tagged


def alive(server):
    """The server still serves a fresh client."""
    s = server.raw(tls=True)
    read_until(s, b"\r\n")
    s.sendall(b"z NOOP\r\n")
    assert b"z OK" in read_tagged(s, b"z")
    s.close()
    assert server.proc.poll() is None


def send_oversized(sock, data):
    """Sends data the server should refuse. True when all of it went out;
    False when the server closed the connection first (its refusal can
    arrive, and the close follow, before the client has written the whole
    line: EOF/EPIPE/RST on our send is then the expected outcome)."""
    try:
        sock.sendall(data)
        return True
    except (ssl.SSLError, BrokenPipeError, ConnectionResetError):
        return False


def recv_some(sock, timeout=10):
    """Bytes until a tagged "a" answer or a BYE line is complete, the
    server closes, or `timeout` passes."""
    data = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        lines = data.split(b"\r\n")[:-1]
        if any(l.startswith(b"a ") or l.startswith(b"* BYE") for l in lines):
            break
        sock.settimeout(max(0.05, deadline - time.time()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_nested_parentheses_before_login(shared_server):
    s = shared_server.raw(tls=True)
    read_until(s, b"\r\n")
    # 20,000 levels: a recursive parser without a depth bound overflows
    # its stack here.
    s.sendall(b"a LOGIN " + b"(" * 20000 + b"\r\n")
    data = read_tagged(s, b"a")
    assert b"a BAD" in data
    s.sendall(b"b NOOP\r\n")
    assert b"b OK" in read_tagged(s, b"b")
    s.close()
    alive(shared_server)


def test_nested_parentheses_after_login_in_search(shared_server):
    r = Raw(shared_server, select="INBOX")
    data, status = r.cmd(b"SEARCH " + b"(" * 5000 + b"ALL" + b")" * 5000)
    assert status.startswith(b"BAD") or status.startswith(b"NO"), data[-300:]
    r.ok(b"NOOP")
    r.close()
    alive(shared_server)


def test_braces_and_huge_literal_announcements_before_login(shared_server):
    for announce in (b"{4294967296}", b"{18446744073709551615}", b"{99999999999999999999999}",
                     b"{-1}", b"{1" + b"0" * 400 + b"}"):
        s = shared_server.raw(tls=True)
        read_until(s, b"\r\n")
        s.sendall(b"a LOGIN " + announce + b"\r\n")
        data = recv_some(s, timeout=5)
        # Refused without a continuation request: no "+" was sent.
        assert b"a BAD" in data or b"* BYE" in data, (announce, data)
        assert not data.startswith(b"+") and b"\r\n+ " not in data, (announce, data)
        s.close()
    # Literal syntax in odd places: nested braces, a brace inside an atom.
    s = shared_server.raw(tls=True)
    read_until(s, b"\r\n")
    s.sendall(b"a LOGIN {{5}}\r\n")
    assert b"a BAD" in recv_some(s, timeout=5)
    s.close()
    alive(shared_server)


def test_quoted_value_cannot_smuggle_a_second_command(shared_server):
    r = Raw(shared_server, select="INBOX")
    r.ok(b"CREATE smuggle-target")
    # A CR LF inside a quoted SEARCH value ends the line: the first command
    # is malformed and the rest is read as a new line with the tag "b" and
    # the command `DELETE smuggle-target"` (quote included), which is BAD
    # too. Nothing may be deleted.
    r.s.sendall(b'a SEARCH SUBJECT "x\r\nb DELETE smuggle-target"\r\n')
    data = read_tagged(r.s, b"b")
    assert b"a BAD" in data, data
    assert b"b OK" not in data, data
    # The same bytes as literal data are a value, not a command.
    payload = b"x\r\nc DELETE smuggle-target\r\n"
    r.s.sendall(b"d SEARCH SUBJECT {%d}\r\n" % len(payload))
    read_until(r.s, b"+ ")
    r.s.sendall(payload + b"\r\n")
    data = read_tagged(r.s, b"d")
    assert b"d OK" in data or b"d BAD" in data, data
    assert b"c OK" not in data
    listing = r.ok(b'LIST "" smuggle-target')
    assert b"smuggle-target" in listing, listing
    r.close()


def test_oversized_base64_in_authenticate_continuation(shared_server):
    s = shared_server.raw(tls=True)
    read_until(s, b"\r\n")
    s.sendall(b"a AUTHENTICATE PLAIN\r\n")
    read_until(s, b"+")
    # 200 KB of valid base64: a SASL response has no business being this
    # long; it must be refused, never decoded into a buffer of that size.
    sent = send_oversized(s, b"QUFB" * 50000 + b"\r\n")
    data = recv_some(s, timeout=10)
    # Refused with an answer, or by closing before taking it all in.
    assert b"a BAD" in data or b"a NO" in data or b"* BYE" in data or not sent, data[:200]
    s.close()
    alive(shared_server)


def test_oversized_initial_response_before_login(shared_server):
    s = shared_server.raw(tls=True)
    read_until(s, b"\r\n")
    sent = send_oversized(s, b"a AUTHENTICATE PLAIN " + b"QUFB" * 20000 + b"\r\n")
    data = recv_some(s, timeout=10)
    assert b"a BAD" in data or b"a NO" in data or b"* BYE" in data or not sent, data[:200]
    s.close()
    alive(shared_server)
