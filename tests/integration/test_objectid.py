"""OBJECTID (RFC 8474) against a real server over TLS: MAILBOXID after
CREATE, in SELECT/EXAMINE and STATUS, stable across RENAME and new after
DELETE + CREATE of the same name; EMAILID shared by COPY/MOVE and found by
SEARCH EMAILID; THREADID NIL and SEARCH THREADID empty."""
import re

import pytest

from rampart_harness import Raw, read_tagged, read_until

# RFC 8474 7: objectid = 1*255(ALPHA / DIGIT / "_" / "-")
OBJECTID = rb"[A-Za-z0-9_-]{1,255}"
CREATE_RE = re.compile(rb"OK \[MAILBOXID \((" + OBJECTID + rb")\)\]")
SELECT_RE = re.compile(rb"^\* OK \[MAILBOXID \((" + OBJECTID + rb")\)\]", re.M)
STATUS_RE = re.compile(rb"MAILBOXID \((" + OBJECTID + rb")\)")
EMAILID_RE = re.compile(rb"UID (\d+) EMAILID \((" + OBJECTID + rb")\) THREADID NIL")


def msg(i):
    return b"From: a@example.org\r\nSubject: o%d\r\n\r\nbody %d\r\n" % (i, i)


@pytest.fixture
def c(server):
    r = Raw(server)
    yield r
    r.close()


def create(c, name):
    data = c.ok(b"CREATE " + name)
    m = CREATE_RE.search(data)
    assert m, data
    return m.group(1)


def selected_id(c, name, examine=False):
    data = c.ok((b"EXAMINE " if examine else b"SELECT ") + name)
    m = SELECT_RE.search(data)
    assert m, data
    return m.group(1)


def status_id(c, name):
    data = c.ok(b"STATUS " + name + b" (MAILBOXID MESSAGES)")
    m = STATUS_RE.search(data)
    assert m, data
    return m.group(1)


def emailids(c):
    """uid -> EMAILID of the selected mailbox."""
    data = c.ok(b"UID FETCH 1:* (EMAILID THREADID)")
    out = {int(u): e for u, e in EMAILID_RE.findall(data)}
    assert len(out) == data.count(b" FETCH ("), data
    return out


def test_capability(server, c):
    # Offered before login too (like SORT), and after.
    raw = server.raw(tls=True)
    try:
        read_until(raw, b"\r\n")
        raw.sendall(b"a CAPABILITY\r\n")
        assert b" OBJECTID" in read_tagged(raw, b"a")
    finally:
        raw.close()
    assert b" OBJECTID" in c.ok(b"CAPABILITY")


def test_mailboxid_stable_across_rename(c):
    a = create(c, b"Box")
    b = create(c, b"Other")
    assert a != b
    assert status_id(c, b"Box") == a
    assert selected_id(c, b"Box") == a
    assert selected_id(c, b"Box", examine=True) == a
    c.ok(b"UNSELECT")
    c.ok(b"RENAME Box Renamed")
    assert status_id(c, b"Renamed") == a
    assert selected_id(c, b"Renamed") == a
    # INBOX has one too, and it is neither of the others.
    inbox = status_id(c, b"INBOX")
    assert inbox not in (a, b)
    assert selected_id(c, b"INBOX") == inbox
    # LIST-STATUS carries it as STATUS does.
    data = c.ok(b'LIST "" "Renamed" RETURN (STATUS (MAILBOXID))')
    assert STATUS_RE.search(data).group(1) == a, data


def test_mailboxid_new_after_delete_create(c):
    first = create(c, b"Again")
    c.ok(b"DELETE Again")
    second = create(c, b"Again")
    assert first != second
    assert status_id(c, b"Again") == second
    # RENAME onto a deleted mailbox's name does not inherit its id either.
    third = create(c, b"Third")
    c.ok(b"DELETE Again")
    c.ok(b"RENAME Third Again")
    assert status_id(c, b"Again") == third
    assert len({first, second, third}) == 3


def test_emailid_copy_move_and_search(c):
    create(c, b"Src")
    create(c, b"Dst")
    for i in range(3):
        m = msg(i)
        c.ok(b"APPEND Src {%d+}\r\n" % len(m) + m)
    selected_id(c, b"Src")
    src = emailids(c)
    assert sorted(src) == [1, 2, 3]
    assert len(set(src.values())) == 3  # different content, different ids
    c.ok(b"UID COPY 1 Dst")
    c.ok(b"UID MOVE 2 Dst")
    # SEARCH EMAILID (RFC 8474 6) in the source: the one still there.
    data = c.ok(b"UID SEARCH EMAILID " + src[3])
    assert re.search(rb"^\* SEARCH 3\r?$", data, re.M), data
    data = c.ok(b"UID SEARCH EMAILID " + src[2])  # moved away
    assert re.search(rb"^\* SEARCH\r?$", data, re.M), data
    selected_id(c, b"Dst")
    dst = emailids(c)
    assert sorted(dst.values()) == sorted([src[1], src[2]])
    uid_of = {e: u for u, e in dst.items()}
    data = c.ok(b"UID SEARCH EMAILID " + src[1])
    assert re.search(rb"^\* SEARCH %d\r?$" % uid_of[src[1]], data, re.M), data
    data = c.ok(b"UID SEARCH OR EMAILID %s EMAILID %s" % (src[1], src[2]))
    found = sorted(int(x) for x in re.search(rb"^\* SEARCH(.*?)\r?$", data, re.M).group(1).split())
    assert found == sorted(dst), data
    # THREADID is NIL (RFC 8474 5.2), so SEARCH THREADID matches nothing;
    # an id that is well-formed but not ours matches nothing.
    data = c.ok(b"SEARCH THREADID T123")
    assert re.search(rb"^\* SEARCH\r?$", data, re.M), data
    data = c.ok(b"SEARCH EMAILID Mnotours")
    assert re.search(rb"^\* SEARCH\r?$", data, re.M), data
    # Not an objectid: BAD.
    _, status = c.cmd(b'SEARCH EMAILID "a b"')
    assert status.startswith(b"BAD"), status
    _, status = c.cmd(b"SEARCH EMAILID")
    assert status.startswith(b"BAD"), status
    # FETCH by sequence number, with other items around it.
    data = c.ok(b"FETCH 1 (FLAGS EMAILID UID)")
    assert b"EMAILID (" + dst[min(dst)] + b")" in data, data


def test_same_content_same_emailid(c):
    create(c, b"Twice")
    m = msg(7)
    c.ok(b"APPEND Twice {%d+}\r\n" % len(m) + m)
    c.ok(b"APPEND Twice {%d+}\r\n" % len(m) + m)
    selected_id(c, b"Twice")
    ids = emailids(c)
    # RFC 8474 5.1 allows identical content to share an EMAILID.
    assert ids[1] == ids[2]
    data = c.ok(b"UID SEARCH EMAILID " + ids[1])
    assert re.search(rb"^\* SEARCH 1 2\r?$", data, re.M), data


def test_rename_inbox(c):
    inbox = status_id(c, b"INBOX")
    m = msg(9)
    c.ok(b"APPEND INBOX {%d+}\r\n" % len(m) + m)
    c.ok(b"RENAME INBOX Old")
    # RFC 9051 6.3.6: the messages move to a new mailbox; INBOX stays.
    old = status_id(c, b"Old")
    assert old != inbox
    assert status_id(c, b"INBOX") == inbox


def test_shared_mailbox_same_id_for_owner_and_reader(server):
    server.add_user("bob", "bob password 12345")
    a = Raw(server)
    try:
        own = create(a, b"Team")
        a.ok(b"SETACL Team bob lr")
        assert status_id(a, b"Team") == own
    finally:
        a.close()
    b = Raw.__new__(Raw)
    b.s = server.raw(tls=True)
    read_until(b.s, b"\r\n")
    b.n = 0
    b.tag = None
    try:
        b.ok(b'LOGIN bob "bob password 12345"')
        name = b'"Other Users/%s/Team"' % server.user.encode()
        assert selected_id(b, name, examine=True) == own
        assert status_id(b, name) == own
        # bob's own INBOX is not alice's.
        assert status_id(b, b"INBOX") != own
    finally:
        b.close()
