"""UTF8=ACCEPT (RFC 6855) and mailbox names of IMAP4rev1 clients: UTF-8
names for sessions that ENABLE it, modified UTF-7 for those that do not,
and the alpine case (a rev1 client sending a raw UTF-8 name) accepted
when the name is well-formed UTF-8 and cannot be modified UTF-7."""
from rampart_harness import Raw, read_tagged, read_until

NAME = "Grüße"
MUTF7 = b"Gr&APwA3w-e"


def test_enable_and_utf8_names(server):
    r = Raw(server)
    caps = r.ok(b"CAPABILITY")
    assert b"UTF8=ACCEPT" in caps
    data = r.ok(b"ENABLE UTF8=ACCEPT")
    assert b"* ENABLED UTF8=ACCEPT" in data
    r.ok(b'CREATE "' + NAME.encode() + b'"')
    data = r.ok(b'LIST "" *')
    assert b'"' + NAME.encode() + b'"' in data, data
    assert MUTF7 not in data
    r.ok(b'SELECT "' + NAME.encode() + b'"')
    r.close()
    # A session that did not enable it sees modified UTF-7.
    r = Raw(server)
    data = r.ok(b'LIST "" *')
    assert MUTF7 in data and NAME.encode() not in data, data
    r.ok(b"SELECT " + MUTF7)
    r.close()


def test_rev1_raw_utf8_name_is_accepted(server):
    """alpine: CREATE, LIST, SELECT and COPY with a raw UTF-8 name."""
    r = Raw(server)
    raw = NAME.encode()
    r.ok(b'CREATE "' + raw + b'"')
    data = r.ok(b'LIST "" "' + raw + b'"')
    assert b"* LIST" in data and MUTF7 in data, data
    r.ok(b"APPEND INBOX {12}\r\nSubject: x\r\n")
    r.ok(b"SELECT INBOX")
    r.ok(b'COPY 1 "' + raw + b'"')
    data = r.ok(b'STATUS "' + raw + b'" (MESSAGES)')
    assert b"MESSAGES 1" in data
    # The same mailbox by its modified UTF-7 name.
    data = r.ok(b"STATUS " + MUTF7 + b" (MESSAGES)")
    assert b"MESSAGES 1" in data
    r.close()


def test_rev1_ambiguous_or_malformed_names_refused(server):
    r = Raw(server)
    for bad in (b'"caf\xc3\xa9&AOk-"',   # 8-bit and '&': neither encoding
                b'"caf\xe9"',             # Latin-1, not UTF-8
                b'"\xc3\x28"',            # malformed UTF-8
                b'"a\xed\xa0\x80b"'):     # a UTF-16 surrogate
        _, status = r.cmd(b"CREATE " + bad)
        assert status.startswith(b"BAD"), (bad, status)
    r.close()


def test_append_utf8_data_extension(server):
    """RFC 6855 4: APPEND ... UTF8 (~{n}) for a message with UTF-8
    headers."""
    msg = "Subject: Grüße\r\nFrom: jörg@example.org\r\n\r\nhallo\r\n".encode()
    r = Raw(server)
    r.ok(b"ENABLE UTF8=ACCEPT")
    r.n += 1
    tag = b"t%d" % r.n
    r.s.sendall(tag + b" APPEND INBOX UTF8 (~{%d}\r\n" % len(msg))
    assert b"+ " in read_until(r.s, b"\r\n")
    r.s.sendall(msg + b")\r\n")
    data = read_tagged(r.s, tag)
    assert tag + b" OK" in data, data
    r.ok(b"SELECT INBOX")
    data = r.ok(b"FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    assert "Grüße".encode() in data
    r.close()
