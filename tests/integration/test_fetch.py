"""FETCH and UID FETCH over real TLS: macros, every data item, body
sections with partial ranges, HEADER.FIELDS(.NOT), MIME of a nested part,
BINARY of base64/quoted-printable parts (literal8), UNKNOWN-CTE, implicit
\\Seen, expunged messages, flow control on a large FETCH 1:* BODY[]."""
import re
import time

import pytest

from rampart_harness import Raw, read_tagged

SIMPLE = (b"From: Alice <alice@example.org>\r\n"
          b"To: Bob <bob@example.org>\r\n"
          b"Cc: carol@example.org\r\n"
          b"Subject: Hello there\r\n"
          b"Date: Wed, 17 Jul 1996 02:44:25 -0700\r\n"
          b"Message-ID: <simple-1@example.org>\r\n"
          b"\r\n"
          b"Hello body line one\r\n"
          b"line two\r\n")

BIN_PAYLOAD = b"\x00\x01\x02hello\xff"  # base64: AAECaGVsbG//

MULTI = (b"From: Alice <alice@example.org>\r\n"
         b"To: Bob <bob@example.org>\r\n"
         b"Subject: multi\r\n"
         b"MIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
         b"\r\n"
         b"preamble\r\n"
         b"--outer\r\n"
         b"Content-Type: text/plain; charset=us-ascii\r\n"
         b"\r\n"
         b"part one\r\n"
         b"--outer\r\n"
         b"Content-Type: multipart/alternative; boundary=\"inner\"\r\n"
         b"\r\n"
         b"--inner\r\n"
         b"Content-Type: text/plain; charset=utf-8\r\n"
         b"\r\n"
         b"inner plain\r\n"
         b"--inner\r\n"
         b"Content-Type: text/html; charset=us-ascii\r\n"
         b"Content-Transfer-Encoding: quoted-printable\r\n"
         b"\r\n"
         b"<p>caf=C3=A9 =3D ok</p>\r\n"
         b"--inner--\r\n"
         b"\r\n"
         b"--outer\r\n"
         b"Content-Type: application/octet-stream\r\n"
         b"Content-Transfer-Encoding: base64\r\n"
         b"\r\n"
         b"AAECaGVsbG//\r\n"
         b"--outer\r\n"
         b"Content-Type: application/octet-stream\r\n"
         b"Content-Transfer-Encoding: x-martian\r\n"
         b"\r\n"
         b"zzzz\r\n"
         b"--outer--\r\n")


_box = [0]


def fresh_box(server, msgs, flags=None, date=None):
    """A new mailbox holding msgs (appended in order); returns its name."""
    _box[0] += 1
    name = "F%d" % _box[0]
    c = server.imap_tls()
    assert c.create(name)[0] == "OK"
    for m in msgs:
        typ, _ = c.append(name, flags, date, m)
        assert typ == "OK"
    c.logout()
    return name


@pytest.fixture(scope="module")
def srv(shared_server):
    return shared_server


def literal_after(data, label):
    """The bytes of the literal that follows `label` in data."""
    i = data.index(label)
    m = re.compile(rb"~?\{(\d+)\}\r\n").match(data, i + len(label) + 1)
    assert m, data[i:i + 200]
    n = int(m.group(1))
    return data[m.end():m.end() + n]


def test_macros_and_simple_items(srv):
    box = fresh_box(srv, [SIMPLE], flags="(\\Flagged $Work)",
                    date='"17-Jul-1996 02:44:25 -0700"')
    r = Raw(srv, box)
    data = r.ok(b"FETCH 1 FAST")
    assert re.search(rb'\* 1 FETCH \(FLAGS \(([^)]*)\) INTERNALDATE "17-Jul-1996 02:44:25 -0700" '
                     rb'RFC822\.SIZE %d\)' % len(SIMPLE), data), data
    flags = re.search(rb"FLAGS \(([^)]*)\)", data).group(1).split()
    assert b"\\Flagged" in flags and b"$Work" in flags
    data = r.ok(b"FETCH 1 ALL")
    assert re.search(rb"\* 1 FETCH \(FLAGS \([^)]*\) INTERNALDATE \"[^\"]+\" RFC822\.SIZE \d+ "
                     rb"ENVELOPE \(", data), data
    assert b'"Hello there"' in data and b'"alice" "example.org"' in data, data
    assert b" BODY " not in data
    data = r.ok(b"FETCH 1 FULL")
    assert b"ENVELOPE (" in data and b" BODY (" in data
    # Request order is response order.
    data = r.ok(b"FETCH 1 (RFC822.SIZE UID FLAGS)")
    assert re.search(rb"\* 1 FETCH \(RFC822\.SIZE %d UID 1 FLAGS \(" % len(SIMPLE), data), data
    # UID FETCH always carries UID (first when not asked for).
    data = r.ok(b"UID FETCH 1 (FLAGS)")
    assert re.search(rb"\* 1 FETCH \(UID 1 FLAGS \(", data), data
    data = r.ok(b"UID FETCH 1:* (RFC822.SIZE UID)")
    assert re.search(rb"\* 1 FETCH \(RFC822\.SIZE %d UID 1\)" % len(SIMPLE), data), data
    # SAVEDATE (RFC 8514) is a date-time.
    data = r.ok(b"FETCH 1 (SAVEDATE)")
    assert re.search(rb'SAVEDATE "\d{2}-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}"', data), data
    r.close()


def test_envelope_body_bodystructure(srv):
    box = fresh_box(srv, [SIMPLE, MULTI])
    c = srv.imap_tls()
    c.select(box)
    typ, data = c.fetch("1", "(ENVELOPE)")
    env = data[0] if isinstance(data[0], bytes) else data[0][0]
    assert b'"Wed, 17 Jul 1996 02:44:25 -0700"' in env and b'"Hello there"' in env, env
    assert b'("Alice" NIL "alice" "example.org")' in env, env
    assert b'"<simple-1@example.org>"' in env, env
    typ, data = c.fetch("2", "(BODYSTRUCTURE)")
    bs = b"".join(d if isinstance(d, bytes) else b"".join(d) for d in data)
    assert b'"MIXED"' in bs.upper() and b'"ALTERNATIVE"' in bs.upper(), bs
    assert b'"BOUNDARY" "OUTER"' in bs.upper(), bs
    typ, data = c.fetch("2", "(BODY)")
    body = b"".join(d if isinstance(d, bytes) else b"".join(d) for d in data)
    # BODY is the non-extensible form: no multipart parameters.
    assert b'"MIXED"' in body.upper() and b"BOUNDARY" not in body.upper(), body
    c.logout()


def test_body_sections_and_partial(srv):
    box = fresh_box(srv, [SIMPLE])
    r = Raw(srv, box)
    data = r.ok(b"FETCH 1 (BODY.PEEK[])")
    assert literal_after(data, b"BODY[]") == SIMPLE
    data = r.ok(b"FETCH 1 (BODY.PEEK[]<0.10>)")
    assert b"BODY[]<0> {10}\r\n" + SIMPLE[:10] in data, data
    data = r.ok(b"FETCH 1 (BODY.PEEK[]<5.7>)")
    assert b"BODY[]<5> {7}\r\n" + SIMPLE[5:12] in data, data
    # A count past the end is cut; an origin past the end gives {0}.
    data = r.ok(b"FETCH 1 (BODY.PEEK[]<%d.100>)" % (len(SIMPLE) - 4))
    assert literal_after(data, b"BODY[]<%d>" % (len(SIMPLE) - 4)) == SIMPLE[-4:]
    data = r.ok(b"FETCH 1 (BODY.PEEK[]<100000.10>)")
    assert b'BODY[]<100000> {0}\r\n' in data, data
    head, text = SIMPLE.split(b"\r\n\r\n", 1)
    data = r.ok(b"FETCH 1 (BODY.PEEK[HEADER])")
    assert literal_after(data, b"BODY[HEADER]") == head + b"\r\n\r\n"
    data = r.ok(b"FETCH 1 (BODY.PEEK[TEXT])")
    assert literal_after(data, b"BODY[TEXT]") == text
    data = r.ok(b"FETCH 1 (BODY.PEEK[TEXT]<6.4>)")
    assert literal_after(data, b"BODY[TEXT]<6>") == text[6:10]
    # A non-multipart message's part 1 is its body.
    data = r.ok(b"FETCH 1 (BODY.PEEK[1])")
    assert literal_after(data, b"BODY[1]") == text
    r.close()


def test_header_fields(srv):
    box = fresh_box(srv, [SIMPLE])
    r = Raw(srv, box)
    data = r.ok(b"FETCH 1 (BODY.PEEK[HEADER.FIELDS (From To)])")
    got = literal_after(data, b"BODY[HEADER.FIELDS (From To)]")
    assert got == b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\n\r\n", got
    # Field names match case-insensitively; quoted names are fine.
    data = r.ok(b'FETCH 1 (BODY.PEEK[HEADER.FIELDS ("subject" CC)])')
    got = literal_after(data, b"BODY[HEADER.FIELDS (subject CC)]")
    assert got == b"Cc: carol@example.org\r\nSubject: Hello there\r\n\r\n", got
    data = r.ok(b"FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (From To Cc Date Message-ID)])")
    got = literal_after(data, b"BODY[HEADER.FIELDS.NOT (From To Cc Date Message-ID)]")
    assert got == b"Subject: Hello there\r\n\r\n", got
    data = r.ok(b"FETCH 1 (BODY.PEEK[HEADER.FIELDS (From To)]<0.10>)")
    assert b"BODY[HEADER.FIELDS (From To)]<0> {10}\r\nFrom: Alic" in data, data
    data = r.ok(b"FETCH 1 (BODY.PEEK[HEADER.FIELDS (X-Nothing)])")
    assert literal_after(data, b"BODY[HEADER.FIELDS (X-Nothing)]") == b"\r\n"
    # imaplib, as mail clients use it.
    c = srv.imap_tls()
    c.select(box)
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and data[0][1] == b"Subject: Hello there\r\n\r\n", data
    c.logout()
    r.close()


def test_multipart_sections(srv):
    box = fresh_box(srv, [MULTI])
    r = Raw(srv, box)
    data = r.ok(b"FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.1] BODY.PEEK[2.1.MIME] BODY.PEEK[3.MIME])")
    assert literal_after(data, b"BODY[1]") == b"part one"
    assert literal_after(data, b"BODY[2.1]") == b"inner plain"
    assert literal_after(data, b"BODY[2.1.MIME]") == \
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    assert literal_after(data, b"BODY[3.MIME]") == \
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    data = r.ok(b"FETCH 1 (BODY.PEEK[2.2])")
    assert literal_after(data, b"BODY[2.2]") == b"<p>caf=C3=A9 =3D ok</p>"
    data = r.ok(b"FETCH 1 (BODY.PEEK[2.2]<3.3>)")
    assert b"BODY[2.2]<3> {3}\r\ncaf" in data, data
    # A part that does not exist is an empty string (RFC 9051 6.4.5),
    # sent as a literal like every body section (docs/imap.md).
    data = r.ok(b"FETCH 1 (BODY.PEEK[9] BODY.PEEK[1.5])")
    assert b'BODY[9] {0}\r\n' in data and b'BODY[1.5] {0}\r\n' in data, data
    r.close()


def test_binary(srv):
    box = fresh_box(srv, [MULTI])
    r = Raw(srv, box)
    data = r.ok(b"FETCH 1 (BINARY.PEEK[3])")
    # Decoded data with a NUL goes out as literal8.
    assert b"BINARY[3] ~{%d}\r\n" % len(BIN_PAYLOAD) + BIN_PAYLOAD in data, data
    data = r.ok(b"FETCH 1 (BINARY.SIZE[3] BINARY.SIZE[2.2] BINARY.SIZE[1])")
    assert b"BINARY.SIZE[3] %d" % len(BIN_PAYLOAD) in data, data
    qp = "<p>café = ok</p>".encode()
    assert b"BINARY.SIZE[2.2] %d" % len(qp) in data, data
    assert b"BINARY.SIZE[1] 8" in data, data
    data = r.ok(b"FETCH 1 (BINARY.PEEK[2.2])")
    assert literal_after(data, b"BINARY[2.2]") == qp
    data = r.ok(b"FETCH 1 (BINARY.PEEK[3]<3.5>)")
    assert b"BINARY[3]<3> {5}\r\nhello" in data, data
    # An encoding the server can't decode fails the FETCH.
    _, status = r.cmd(b"FETCH 1 (BINARY.PEEK[4])")
    assert status.startswith(b"NO [UNKNOWN-CTE]"), status
    _, status = r.cmd(b"FETCH 1 (BINARY.SIZE[4])")
    assert status.startswith(b"NO [UNKNOWN-CTE]"), status
    # BINARY without .PEEK sets \Seen like BODY[].
    data = r.ok(b"FETCH 1 (BINARY[1])")
    assert b"FLAGS (\\Seen" in data, data
    # imaplib reads the literal8 too.
    c = srv.imap_tls()
    c.select(box)
    typ, data = c.fetch("1", "(BINARY.PEEK[3])")
    assert typ == "OK" and data[0][1] == BIN_PAYLOAD, data
    c.logout()
    r.close()


def test_rfc822_forms(srv):
    box = fresh_box(srv, [SIMPLE])
    head, text = SIMPLE.split(b"\r\n\r\n", 1)
    r = Raw(srv, box)
    data = r.ok(b"FETCH 1 (RFC822.HEADER)")
    assert literal_after(data, b"RFC822.HEADER") == head + b"\r\n\r\n"
    assert b"\\Seen" not in data
    data = r.ok(b"FETCH 1 (RFC822.TEXT)")
    assert literal_after(data, b"RFC822.TEXT") == text
    assert b"FLAGS (\\Seen" in data, data
    data = r.ok(b"FETCH 1 (RFC822)")
    assert literal_after(data, b"RFC822") == SIMPLE
    # Still accepted from IMAP4rev2 clients.
    r2 = Raw(srv, box, rev2=True)
    data = r2.ok(b"FETCH 1 (RFC822.SIZE RFC822)")
    assert literal_after(data, b" RFC822") == SIMPLE
    r2.close()
    r.close()


def test_seen_is_set_by_body_fetch(srv):
    box = fresh_box(srv, [SIMPLE, SIMPLE, SIMPLE])
    r = Raw(srv, box)
    data = r.ok(b"FETCH 1 (BODY.PEEK[TEXT] BODY.PEEK[HEADER] RFC822.HEADER)")
    assert b"FLAGS" not in data
    data = r.ok(b"FETCH 1 (FLAGS)")
    assert b"\\Seen" not in data
    # Not requested, but \Seen changed: FLAGS comes along.
    data = r.ok(b"FETCH 1 (BODY[TEXT])")
    assert re.search(rb"\* 1 FETCH \(BODY\[TEXT\] \{\d+\}\r\n.*? FLAGS \(\\Seen[^)]*\)\)", data, re.S), data
    # Already \Seen: no FLAGS this time.
    data = r.ok(b"FETCH 1 (BODY[TEXT])")
    assert b"FLAGS" not in data, data
    # Requested FLAGS show the new state, once.
    data = r.ok(b"FETCH 2 (FLAGS BODY[])")
    assert data.count(b"FLAGS") == 1 and b"FLAGS (\\Seen" in data, data
    # The change is not reported again by the next command.
    data = r.ok(b"NOOP")
    assert b"FETCH" not in data, data
    # Another session learns about it.
    other = Raw(srv, box)
    data = other.ok(b"FETCH 1:3 (FLAGS)")
    assert data.count(b"\\Seen") == 2, data
    other.close()
    # A read-only (EXAMINE) mailbox is never changed.
    ro = Raw(srv, box, examine=True)
    data = ro.ok(b"FETCH 3 (BODY[])")
    assert b"FLAGS" not in data
    data = ro.ok(b"FETCH 3 (FLAGS)")
    assert b"\\Seen" not in data
    ro.close()
    r.close()


def test_bad_arguments(srv):
    box = fresh_box(srv, [SIMPLE])
    r = Raw(srv, box)
    for cmd in [b"FETCH 1 (FOO)", b"FETCH 1 BODY.PEEK", b"FETCH 1 (BODY[]<0.0>)",
                b"FETCH 1 (BODY[]<5>)", b"FETCH 1 (BODY[HEADER.FIELDS])",
                b"FETCH 1 (BODY[0])", b"FETCH 1 (BINARY[TEXT])", b"FETCH 1 (BINARY.SIZE[1]<0.5>)",
                b"FETCH 1 (BODY[1.MIME)", b"FETCH x FLAGS", b"FETCH 1", b"FETCH 1 ()",
                b"FETCH 5 FLAGS", b"FETCH 1 (ALL)", b"FETCH 1 FLAGS (CHANGEDSINCE 1)"]:
        _, status = r.cmd(cmd)
        assert status.startswith(b"BAD"), (cmd, status)
        # A good command in between: ten BADs in a row end the connection.
        r.ok(b"NOOP")
    # UIDs that don't exist are simply not there.
    data, status = r.cmd(b"UID FETCH 999 FLAGS")
    assert status.startswith(b"OK") and b"FETCH (" not in data, data
    # Lower case works.
    data = r.ok(b"fetch 1 (body.peek[header.fields (subject)] uid)")
    assert b"BODY[HEADER.FIELDS (subject)] {24}\r\nSubject: Hello there\r\n\r\n UID 1)" in data, data
    r.close()


def test_expunged_by_other_session_is_skipped(srv):
    box = fresh_box(srv, [SIMPLE, SIMPLE, SIMPLE])
    a = Raw(srv, box)
    b = srv.imap_tls()
    b.select(box)
    b.store("2", "+FLAGS", "(\\Deleted)")
    b.expunge()
    b.logout()
    time.sleep(0.2)
    data = a.ok(b"FETCH 1:3 (UID BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert b" EXPUNGE\r\n" not in data
    assert b" OK [EXPUNGEISSUED] " in data, data  # RFC 5530 3
    assert b"* 1 FETCH (UID 1 " in data and b"* 3 FETCH (UID 3 " in data, data
    assert b"* 2 FETCH" not in data, data
    data = a.ok(b"NOOP")
    assert b"* 2 EXPUNGE" in data, data
    a.close()


def test_large_fetch_with_slow_reader(server):
    """FETCH 1:* BODY[] on many messages: everything arrives, in order, even
    when the client stops reading for a while (the command pauses)."""
    body = b"".join(b"line %05d of a longer message body to fill some space\r\n" % i
                    for i in range(400))
    c = server.imap_tls()
    c.create("Big")
    n = 300
    for i in range(n):
        c.append("Big", None, None,
                 b"From: a@example.org\r\nSubject: big %d\r\n\r\n" % i + body)
    c.logout()
    r = Raw(server, "Big")
    r.s.sendall(b"big FETCH 1:* (BODY[])\r\n")
    time.sleep(2)  # let the server fill its output and pause
    data = read_tagged(r.s, b"big", timeout=120)
    assert data.split(b"\r\n")[-2].startswith(b"big OK"), data[-300:]
    seqs = [int(m) for m in re.findall(rb"\* (\d+) FETCH \(BODY\[\] \{", data)]
    assert seqs == list(range(1, n + 1))
    for i in (0, 150, 299):
        assert b"Subject: big %d\r\n" % i in data
    # All now \Seen, each reported with its FETCH.
    assert data.count(b"FLAGS (\\Seen") == n
    data = r.ok(b"SEARCH UNSEEN")
    assert b"* SEARCH\r\n" in data, data
    # The same with UID FETCH and the pipeline continuing afterwards.
    r.s.sendall(b"u1 UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])\r\nu2 NOOP\r\n")
    time.sleep(1)
    data = read_tagged(r.s, b"u2", timeout=120)
    assert data.count(b" FETCH (UID ") == n and b"u1 OK" in data and b"u2 OK" in data
    r.close()
