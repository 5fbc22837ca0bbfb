"""FETCH against a concurrent expunge (issue #10 defect): a slow reader's
`FETCH 1:* BODY.PEEK[]` pauses for output room while another session
expunges the messages it has not sent yet. The FETCH must skip what
vanished, finish, and say so with OK [EXPUNGEISSUED] (RFC 5530 3), with
the default output buffer and with a small one, and never hang."""
import re
import socket
import time

import pytest

from rampart_harness import Raw, Server, read_tagged, read_until

N = 120
BODY = b"".join(b"line %05d of a longer message body to fill some room\r\n" % i
                for i in range(700))  # ~38 KB: N messages are ~4.5 MB


@pytest.fixture(params=["default", "small"])
def srv(request):
    extra = "max_output_buffer = 8192\n" if request.param == "small" else ""
    s = Server(extra_config=extra)
    yield s
    s.close()


def fill(server, box):
    c = server.imap_tls()
    c.create(box)
    for i in range(N):
        typ, _ = c.append(box, None, None,
                          b"From: a@example.org\r\nSubject: m %d\r\n\r\n" % i + BODY)
        assert typ == "OK"
    c.logout()


def slow_reader(server, box):
    """A logged-in raw TLS connection with a small receive buffer, so the
    server runs out of output room early and the FETCH pauses."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.settimeout(10)
    sock.connect((server.host, server.port_tls))
    sock = server.ssl_context().wrap_socket(sock, server_hostname="localhost")
    read_until(sock, b"\r\n")
    sock.sendall(b'l LOGIN %s "%s"\r\n' % (server.user.encode(), server.password.encode()))
    assert b"l OK" in read_tagged(sock, b"l")
    sock.sendall(b"s SELECT %s\r\n" % box.encode())
    assert b"s OK" in read_tagged(sock, b"s")
    return sock


def test_fetch_skips_messages_expunged_while_paused(srv):
    fill(srv, "Big")
    a = slow_reader(srv, "Big")
    a.sendall(b"f FETCH 1:* (UID BODY.PEEK[])\r\n")
    time.sleep(1.5)  # the server fills the socket and the FETCH pauses
    b = Raw(srv, "Big")
    b.ok(b"STORE 1:* +FLAGS.SILENT (\\Deleted)")
    b.ok(b"EXPUNGE", timeout=60)
    b.close()
    data = read_tagged(a, b"f", timeout=60)
    tagged = [l for l in data.split(b"\r\n") if l.startswith(b"f ")][-1]
    assert tagged.startswith(b"f OK [EXPUNGEISSUED]"), tagged
    # What was sent is in order and complete; nothing after an expunge.
    seqs = [int(m) for m in re.findall(rb"\* (\d+) FETCH \(UID ", data)]
    assert seqs == list(range(1, len(seqs) + 1)), seqs[:20]
    assert 0 < len(seqs) < N
    assert b" EXPUNGE\r\n" not in data
    # The session goes on: the next command reports the expunges.
    a.sendall(b"n NOOP\r\n")
    data = read_tagged(a, b"n", timeout=30)
    assert data.count(b" EXPUNGE\r\n") == N and b"n OK" in data, data[-300:]
    a.close()
