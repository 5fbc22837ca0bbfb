"""FETCH returns every message byte for byte as it was APPENDed, whichever
way the server moves the bytes: read straight into the TLS output buffer,
sent with sendfile() on a plaintext connection (trusted network, files of
256 KiB and up), deflated chunk by chunk under COMPRESS=DEFLATE, or sliced
from the parsed message (HEADER, TEXT, BINARY[]). Sizes straddle the
server's thresholds (64 KiB read/map, 256 KiB sendfile and chunk), and
partial ranges <origin.count> start and end inside, at and past the end.
One FETCH 1:* of more than 256 messages covers the store set-up on the
work pool."""
import re
import socket
import zlib

import pytest

from rampart_harness import Server, read_tagged, read_until


def body(seed, size):
    """A deterministic message of exactly `size` bytes (8-bit text lines)."""
    head = b"From: a@example.org\r\nSubject: bytes %d\r\nMessage-ID: <b%d@example.org>\r\n\r\n" % (
        seed, seed)
    line = bytes((33 + (seed * 7 + i) % 90) for i in range(70)) + b"\xe9\xe8\r\n"
    out = head + line * ((size - len(head)) // len(line) + 1)
    return out[:size - 2] + b"\r\n" if size > len(head) + 2 else head


SIZES = [60, 3000, 65536, 65537, 262143, 262144, 300000, 600000]
BIG = [body(i, n) for i, n in enumerate(SIZES)]
MANY = [body(1000 + i, 300 + 3 * i) for i in range(260)]

ITEM = re.compile(rb"\* (\d+) FETCH \(|((?:BODY|BINARY)\[[^\]]*\](?:<\d+>)?|RFC822(?:\.\w+)?) ~?\{(\d+)\}\r\n")


def literals(data):
    """{(seq, label): bytes} of every literal in a FETCH answer."""
    out, seq, pos = {}, None, 0
    while True:
        m = ITEM.search(data, pos)
        if not m:
            return out
        if m.group(1):
            seq = int(m.group(1))
            pos = m.end()
            continue
        n = int(m.group(3))
        out[(seq, m.group(2).decode())] = data[m.end():m.end() + n]
        assert len(data) >= m.end() + n, "literal cut short"
        pos = m.end() + n


def read_answer(sock, tag, timeout=120):
    """Reads to the tagged line of `tag`, looking only at new bytes (a
    megabyte answer arrives in hundreds of TLS records)."""
    buf, seen, mark = bytearray(), 0, b"\r\n" + tag + b" "
    sock.settimeout(timeout)
    for _ in range(1000000):
        chunk = sock.recv(1 << 20)
        assert chunk, "connection closed: %r" % bytes(buf[-300:])
        buf += chunk
        at = buf.find(mark, max(0, seen - len(mark)))
        seen = len(buf)
        if at >= 0 and buf.find(b"\r\n", at + len(mark)) >= 0:
            return bytes(buf)
    raise AssertionError("no tagged answer")


def multiappend(sock, box, msgs, tag=b"ap"):
    """One MULTIAPPEND with LITERAL+ (RFC 3502, RFC 7888)."""
    parts = [tag + b" APPEND " + box.encode()]
    for m in msgs:
        parts.append(b" {%d+}\r\n" % len(m) + m)
    sock.sendall(b"".join(parts) + b"\r\n")
    sock.settimeout(120)  # storing megabytes takes a while under ASan
    data = read_tagged(sock, tag, timeout=120)
    assert (tag + b" OK") in data, data[-300:]


def login(sock, srv):
    read_until(sock, b"\r\n")
    sock.sendall(b'l LOGIN %s "%s"\r\n' % (srv.user.encode(), srv.password.encode()))
    assert b"l OK" in read_tagged(sock, b"l")


@pytest.fixture(scope="module")
def srv():
    # Plaintext LOGIN from loopback: the sendfile path is the plain one.
    s = Server(trusted_networks="127.0.0.0/8")
    sock = s.raw(tls=True)
    login(sock, s)
    for box, msgs in (("Big", BIG), ("Many", MANY)):
        sock.sendall(b"c CREATE %s\r\n" % box.encode())
        read_tagged(sock, b"c")
        multiappend(sock, box, msgs)
    sock.close()
    yield s
    s.close()


def fetch(sock, box, items, seqs="1:*", tag=b"f"):
    sock.sendall(b"e EXAMINE %s\r\n" % box.encode())
    assert b"e OK" in read_tagged(sock, b"e")
    sock.sendall(tag + b" FETCH " + seqs.encode() + b" (" + items + b")\r\n")
    data = read_answer(sock, tag)
    assert (tag + b" OK") in data, data[-300:]
    return literals(data)


PARTIALS = [(0, 10), (65530, 20), (262140, 100), (599990, 100), (5000000, 10), (1, 1)]


def check_big(sock):
    items = b"BODY.PEEK[] RFC822.SIZE " + b" ".join(
        b"BODY.PEEK[]<%d.%d>" % p for p in PARTIALS)
    got = fetch(sock, "Big", items)
    for i, m in enumerate(BIG, 1):
        assert got[(i, "BODY[]")] == m, "message %d (%d bytes) differs" % (i, len(m))
        for o, n in PARTIALS:
            assert got[(i, "BODY[]<%d>" % o)] == m[o:o + n], (i, o, n)


def test_tls_body_bytes(srv):
    sock = srv.raw(tls=True)
    login(sock, srv)
    check_big(sock)
    sock.close()


def test_plain_sendfile_bytes(srv):
    sock = srv.raw(tls=False)
    login(sock, srv)
    check_big(sock)
    sock.close()


def test_sections_from_the_parsed_message(srv):
    sock = srv.raw(tls=True)
    login(sock, srv)
    got = fetch(sock, "Big", b"BODY.PEEK[HEADER] BODY.PEEK[TEXT] BINARY.PEEK[] RFC822 "
                b"BODY.PEEK[TEXT]<3.70000>")
    for i, m in enumerate(BIG, 1):
        cut = m.index(b"\r\n\r\n") + 4
        assert got[(i, "BODY[HEADER]")] == m[:cut]
        assert got[(i, "BODY[TEXT]")] == m[cut:]
        assert got[(i, "BINARY[]")] == m
        assert got[(i, "RFC822")] == m
        assert got[(i, "BODY[TEXT]<3>")] == m[cut + 3:cut + 3 + 70000]
    sock.close()


def test_many_messages_one_fetch(srv):
    # More than 256 messages: the set-up runs on the work pool.
    sock = srv.raw(tls=True)
    login(sock, srv)
    got = fetch(sock, "Many", b"UID BODY.PEEK[]")
    assert len(got) == len(MANY)
    for i, m in enumerate(MANY, 1):
        assert got[(i, "BODY[]")] == m, i
    got = fetch(sock, "Many", b"BODY.PEEK[]<7.11>", seqs="2,5:9,260")
    assert sorted(k[0] for k in got) == [2, 5, 6, 7, 8, 9, 260]
    for (seq, _), v in got.items():
        assert v == MANY[seq - 1][7:18]
    sock.close()


def test_compressed_body_bytes(srv):
    sock = srv.raw(tls=True)
    login(sock, srv)
    sock.sendall(b"z COMPRESS DEFLATE\r\n")
    assert b"z OK" in read_tagged(sock, b"z")
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    de = zlib.decompressobj(-15)
    sock.sendall(co.compress(b"e EXAMINE Big\r\nf FETCH 1:* (BODY.PEEK[])\r\n") +
                 co.flush(zlib.Z_SYNC_FLUSH))
    data = b""
    sock.settimeout(60)
    for _ in range(100000):
        if re.search(rb"(^|\r\n)f (OK|NO|BAD)", data):
            break
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += de.decompress(chunk)
    assert re.search(rb"(^|\r\n)f OK", data), data[-300:]
    got = literals(data)
    for i, m in enumerate(BIG, 1):
        assert got[(i, "BODY[]")] == m, i
    sock.close()
