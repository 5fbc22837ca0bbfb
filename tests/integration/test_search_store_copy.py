"""STORE, SEARCH, COPY and MOVE (and their UID forms) over real TLS:
flag changes and their echo, .SILENT, read-only mailboxes, two sessions;
SEARCH keys, CHARSET, ESEARCH result options in IMAP4rev1 and IMAP4rev2,
SEARCHRES "$"; COPYUID, TRYCREATE, MOVE with its untagged COPYUID and
EXPUNGEs."""
import re
import time

import pytest

from rampart_harness import Raw


def msg(subject, body=b"hello\r\n", frm=b"alice@example.org", extra=b""):
    return (b"From: " + frm + b"\r\nTo: bob@example.org\r\nSubject: " + subject +
            b"\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n" + extra + b"\r\n" + body)


_box = [0]


def fresh_box(server, msgs, flags=None):
    _box[0] += 1
    name = "S%d" % _box[0]
    c = server.imap_tls()
    assert c.create(name)[0] == "OK"
    for i, m in enumerate(msgs):
        f = flags[i] if isinstance(flags, list) else flags
        assert c.append(name, f, None, m)[0] == "OK"
    c.logout()
    return name


@pytest.fixture(scope="module")
def srv(shared_server):
    return shared_server


def fetch_lines(data):
    return [l for l in data.split(b"\r\n") if re.match(rb"\* \d+ FETCH", l)]


# ---- STORE ----

def test_store_modes(srv):
    box = fresh_box(srv, [msg(b"a"), msg(b"b"), msg(b"c")])
    r = Raw(srv, box, rev2=True)  # rev2: no \Recent in the way, UID in every FETCH
    data = r.ok(b"STORE 1:2 +FLAGS (\\Flagged $Work)")
    assert fetch_lines(data) == [b"* 1 FETCH (UID 1 FLAGS (\\Flagged $Work))",
                                 b"* 2 FETCH (UID 2 FLAGS (\\Flagged $Work))"], data
    # A single flag without parentheses; a message already in that state
    # is still reported.
    data = r.ok(b"STORE 2:3 +FLAGS \\Seen")
    assert fetch_lines(data) == [b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Seen $Work))",
                                 b"* 3 FETCH (UID 3 FLAGS (\\Seen))"], data
    data = r.ok(b"STORE 2 -FLAGS (\\Flagged $Work)")
    assert fetch_lines(data) == [b"* 2 FETCH (UID 2 FLAGS (\\Seen))"], data
    data = r.ok(b"STORE 1 FLAGS (\\Answered \\Draft)")
    assert fetch_lines(data) == [b"* 1 FETCH (UID 1 FLAGS (\\Answered \\Draft))"], data
    data = r.ok(b"STORE 1 FLAGS ()")
    assert fetch_lines(data) == [b"* 1 FETCH (UID 1 FLAGS ())"], data
    data = r.ok(b"STORE 1:* +FLAGS.SILENT (\\Deleted)")
    assert fetch_lines(data) == [], data
    data = r.ok(b"FETCH 1:3 (FLAGS)")
    assert data.count(b"\\Deleted") == 3
    data = r.ok(b"UID STORE 3 -FLAGS.SILENT \\Deleted")
    assert fetch_lines(data) == []
    data = r.ok(b"NOOP")
    assert b"FETCH" not in data, data
    data = r.ok(b"UID STORE 1:* FLAGS \\Seen")
    assert len(fetch_lines(data)) == 3 and all(b"FLAGS (\\Seen)" in l for l in fetch_lines(data))
    r.close()


def test_store_rev1_uid_and_recent(srv):
    box = fresh_box(srv, [msg(b"a")])
    r = Raw(srv, box)
    data = r.ok(b"STORE 1 +FLAGS (\\Flagged)")
    # rev1: \Recent is shown; plain STORE has no UID.
    assert fetch_lines(data) == [b"* 1 FETCH (FLAGS (\\Flagged \\Recent))"], data
    data = r.ok(b"UID STORE 1 -FLAGS (\\Flagged)")
    assert fetch_lines(data) == [b"* 1 FETCH (UID 1 FLAGS (\\Recent))"], data
    r.close()


def test_store_errors(srv):
    box = fresh_box(srv, [msg(b"a")])
    r = Raw(srv, box)
    for cmd in [b"STORE 1 FLAGS", b"STORE 1 XFLAGS (\\Seen)", b"STORE 1 +FLAGS (\\Recent)",
                b"STORE 1 +FLAGS (\\Bogus)", b"STORE x +FLAGS (\\Seen)", b"STORE 7 +FLAGS (\\Seen)",
                b"STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)", b"STORE 1 +FLAGS ((\\Seen))",
                b"STORE 1 +FLAGS (\\Seen) extra"]:
        _, status = r.cmd(cmd)
        assert status.startswith(b"BAD"), (cmd, status)
    ro = Raw(srv, box, examine=True)
    _, status = ro.cmd(b"STORE 1 +FLAGS (\\Seen)")
    assert status.startswith(b"NO"), status
    data = ro.ok(b"FETCH 1 FLAGS")
    assert b"\\Seen" not in data
    ro.close()
    r.close()


def test_store_visible_in_other_session(srv):
    box = fresh_box(srv, [msg(b"a"), msg(b"b")])
    a = Raw(srv, box, rev2=True)
    b = Raw(srv, box, rev2=True)
    a.ok(b"STORE 2 +FLAGS (\\Flagged)")
    time.sleep(0.2)
    data = b.ok(b"NOOP")
    assert b"* 2 FETCH (UID 2 FLAGS (\\Flagged))" in data, data
    # The session that stored is not told again.
    data = a.ok(b"NOOP")
    assert b"FETCH" not in data, data
    b.ok(b"UID STORE 1 +FLAGS.SILENT (\\Answered)")
    time.sleep(0.2)
    data = a.ok(b"NOOP")
    assert b"* 1 FETCH (UID 1 FLAGS (\\Answered))" in data, data
    a.close()
    b.close()


# ---- SEARCH ----

def search_box(srv):
    msgs = [
        msg(b"apple pie", b"recipe with cinnamon\r\n"),                            # 1
        msg(b"banana split", b"ice cream\r\n", frm=b"carol@example.net"),        # 2
        msg(b"cherry", b"x" * 5000 + b"\r\n"),                                   # 3
        msg(b"Caf\xc3\xa9 menu", b"espresso\r\n",
            extra=b"Content-Type: text/plain; charset=utf-8\r\n"),              # 4
        msg(b"=?utf-8?q?Gr=C3=BC=C3=9Fe?=", b"hello\r\n"),                        # 5
    ]
    flags = ["(\\Flagged)", None, "(\\Seen \\Flagged)", "(\\Seen $Later)", None]
    return fresh_box(srv, msgs, flags)


def test_search_rev1(srv):
    box = search_box(srv)
    r = Raw(srv, box)
    assert b"* SEARCH 1 3\r\n" in r.ok(b"SEARCH FLAGGED")
    assert b"* SEARCH 1 2 5\r\n" in r.ok(b"SEARCH UNSEEN")
    assert b"* SEARCH 3\r\n" in r.ok(b"SEARCH LARGER 1000")
    assert b"* SEARCH 2\r\n" in r.ok(b"SEARCH FROM carol")
    assert b"* SEARCH 1\r\n" in r.ok(b"SEARCH BODY CINNAMON")
    assert b"* SEARCH 2\r\n" in r.ok(b"SEARCH TEXT \"ice cream\"")
    assert b"* SEARCH 4\r\n" in r.ok(b"SEARCH KEYWORD $Later")
    assert b"* SEARCH 2 4 5\r\n" in r.ok(b"SEARCH NOT FLAGGED")
    assert b"* SEARCH 1 2\r\n" in r.ok(b"SEARCH OR SUBJECT apple SUBJECT banana")
    assert b"* SEARCH 3\r\n" in r.ok(b"SEARCH FLAGGED SEEN")
    assert b"* SEARCH 2 3\r\n" in r.ok(b"SEARCH 2:3")
    assert b"* SEARCH\r\n" in r.ok(b"SEARCH SUBJECT nothing-like-this")
    # 8-bit search strings as (non-synchronizing) literals.
    assert b"* SEARCH 4\r\n" in r.ok(b"SEARCH CHARSET UTF-8 SUBJECT {5+}\r\ncaf\xc3\xa9")
    assert b"* SEARCH 5\r\n" in r.ok(b"SEARCH CHARSET UTF-8 SUBJECT {6+}\r\ngr\xc3\xbc\xc3\x9f")
    assert b"* SEARCH 1 2 3 4 5\r\n" in r.ok(b"SEARCH CHARSET us-ascii ALL")
    data = r.ok(b"UID SEARCH FLAGGED")
    assert b"* SEARCH 1 3\r\n" in data
    _, status = r.cmd(b"SEARCH CHARSET X-NOPE SUBJECT a")
    assert status.startswith(b"NO [BADCHARSET"), status
    for bad in [b"SEARCH", b"SEARCH FOO", b"SEARCH RETURN (BOGUS) ALL", b"SEARCH RETURN ALL",
                b"SEARCH CHARSET", b"SEARCH LARGER x"]:
        _, status = r.cmd(bad)
        assert status.startswith(b"BAD"), (bad, status)
    r.close()


def test_esearch_return_options(srv):
    box = search_box(srv)
    r = Raw(srv, box)
    data = r.ok(b"SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN")
    assert b'* ESEARCH (TAG "%s") MIN 1 MAX 5 COUNT 3 ALL 1:2,5\r\n' % r.tag in data, data
    data = r.ok(b"SEARCH RETURN () FLAGGED")
    assert b'* ESEARCH (TAG "%s") ALL 1,3\r\n' % r.tag in data, data
    data = r.ok(b"SEARCH RETURN (COUNT) SUBJECT nothing")
    assert b'* ESEARCH (TAG "%s") COUNT 0\r\n' % r.tag in data, data
    data = r.ok(b"SEARCH RETURN (MIN MAX) SUBJECT nothing")
    assert b'* ESEARCH (TAG "%s")\r\n' % r.tag in data, data
    data = r.ok(b"UID SEARCH RETURN (COUNT MIN) SEEN")
    assert b'* ESEARCH (TAG "%s") UID MIN 3 COUNT 2\r\n' % r.tag in data, data
    assert b"* SEARCH" not in data
    r.close()


def test_rev2_search_is_esearch(srv):
    box = search_box(srv)
    r = Raw(srv, box, rev2=True)
    data = r.ok(b"SEARCH FLAGGED")
    assert b'* ESEARCH (TAG "%s") ALL 1,3\r\n' % r.tag in data, data
    assert b"* SEARCH" not in data
    data = r.ok(b"UID SEARCH 1:*")
    assert b'* ESEARCH (TAG "%s") UID ALL 1:5\r\n' % r.tag in data, data
    data = r.ok(b"SEARCH SUBJECT nothing")
    assert b'* ESEARCH (TAG "%s")\r\n' % r.tag in data, data
    data = r.ok(b"UID SEARCH SUBJECT nothing")
    assert b'* ESEARCH (TAG "%s") UID\r\n' % r.tag in data, data
    # RECENT, NEW and OLD are gone in rev2.
    _, status = r.cmd(b"SEARCH RECENT")
    assert status.startswith(b"BAD"), status
    r.close()


def test_searchres(srv):
    box = search_box(srv)
    r = Raw(srv, box, rev2=True)
    data = r.ok(b"SEARCH RETURN (SAVE) FLAGGED")
    # SAVE alone: no ESEARCH response.
    assert b"ESEARCH" not in data, data
    data = r.ok(b"FETCH $ (UID)")
    assert fetch_lines(data) == [b"* 1 FETCH (UID 1)", b"* 3 FETCH (UID 3)"], data
    data = r.ok(b"UID STORE $ +FLAGS ($Saved)")
    assert len(fetch_lines(data)) == 2
    data = r.ok(b"SEARCH KEYWORD $Saved")
    assert b"ALL 1,3" in data
    data = r.ok(b"SEARCH $ SEEN")
    assert b'ALL 3\r\n' in data, data
    # SAVE with MIN saves only the minimum (RFC 5182 2.4), and answers MIN.
    data = r.ok(b"SEARCH RETURN (SAVE MIN) UNSEEN")
    assert b'* ESEARCH (TAG "%s") MIN 1\r\n' % r.tag in data, data
    data = r.ok(b"UID FETCH $ (FLAGS)")
    assert len(fetch_lines(data)) == 1 and b"UID 1 " in data
    # SAVE with ALL: everything, and "$" works with COPY.
    r.ok(b"SEARCH RETURN (SAVE ALL) SEEN")
    r.ok(b"CREATE %s-saved" % box.encode())
    data = r.ok(b"COPY $ %s-saved" % box.encode())
    assert re.search(rb"\[COPYUID \d+ 3:4 1:2\]", data), data
    # A failed SEARCH with SAVE empties "$".
    r.cmd(b"SEARCH RETURN (SAVE) FOO")
    data = r.ok(b"FETCH $ (UID)")
    assert fetch_lines(data) == [], data
    r.close()


# ---- COPY / MOVE ----

def test_copy(srv):
    box = fresh_box(srv, [msg(b"one"), msg(b"two"), msg(b"three")],
                    ["(\\Flagged $Tag)", None, None])
    r = Raw(srv, box, rev2=True)
    r.ok(b"CREATE %s-dst" % box.encode())
    data = r.ok(b"STATUS %s-dst (UIDVALIDITY)" % box.encode())
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", data).group(1))
    data = r.ok(b"COPY 1,3 %s-dst" % box.encode())
    status = data.split(b"\r\n")[-2]
    assert status == b"%s OK [COPYUID %d 1,3 1:2] COPY completed" % (r.tag, uidvalidity), data
    data = r.ok(b"UID COPY 1:3 %s-dst" % box.encode())
    assert b"[COPYUID %d 1:3 3:5] UID COPY completed" % uidvalidity in data, data
    # Nothing to copy: OK without COPYUID.
    data = r.ok(b"UID COPY 99 %s-dst" % box.encode())
    assert b"COPYUID" not in data
    _, status = r.cmd(b"COPY 1 %s-missing" % box.encode())
    assert status.startswith(b"NO [TRYCREATE]"), status
    _, status = r.cmd(b"UID COPY 99 %s-missing" % box.encode())
    assert status.startswith(b"NO [TRYCREATE]"), status
    for bad in [b"COPY 1", b"COPY x %s-dst" % box.encode(), b"COPY 9 %s-dst" % box.encode()]:
        _, status = r.cmd(bad)
        assert status.startswith(b"BAD"), (bad, status)
    # Content, flags and keywords travel.
    r.ok(b"SELECT %s-dst" % box.encode())
    data = r.ok(b"FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert b"\\Flagged" in data and b"$Tag" in data and b"Subject: one" in data, data
    # COPY from a read-only mailbox is fine.
    ro = Raw(srv, box, examine=True)
    data = ro.ok(b"COPY 2 %s-dst" % box.encode())
    assert b"COPYUID" in data
    ro.close()
    r.close()


def test_move(srv):
    box = fresh_box(srv, [msg(b"one"), msg(b"two"), msg(b"three"), msg(b"four")])
    r = Raw(srv, box, rev2=True)
    other = Raw(srv, box, rev2=True)
    r.ok(b"CREATE %s-dst" % box.encode())
    data = r.ok(b"MOVE 2:3 %s-dst" % box.encode())
    lines = data.split(b"\r\n")
    i_ok = next(i for i, l in enumerate(lines) if l.startswith(b"* OK [COPYUID "))
    assert re.match(rb"\* OK \[COPYUID \d+ 2:3 1:2\]", lines[i_ok]), lines
    exp = [i for i, l in enumerate(lines) if l.endswith(b" EXPUNGE")]
    assert [lines[i] for i in exp] == [b"* 3 EXPUNGE", b"* 2 EXPUNGE"], lines
    assert i_ok < exp[0]
    assert lines[-2] == b"%s OK MOVE completed" % r.tag, lines
    data = r.ok(b"UID FETCH 1:* (UID)")
    assert fetch_lines(data) == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 4)"], data
    # UID MOVE.
    data = r.ok(b"UID MOVE 4 %s-dst" % box.encode())
    assert re.search(rb"\* OK \[COPYUID \d+ 4 3\]", data) and b"* 2 EXPUNGE" in data, data
    # The other session sees the expunges on its next command.
    time.sleep(0.2)
    data = other.ok(b"NOOP")
    assert data.count(b" EXPUNGE") == 3, data
    _, status = r.cmd(b"MOVE 1 %s-missing" % box.encode())
    assert status.startswith(b"NO [TRYCREATE]"), status
    ro = Raw(srv, box, examine=True)
    _, status = ro.cmd(b"MOVE 1 %s-dst" % box.encode())
    assert status.startswith(b"NO"), status
    ro.close()
    other.close()
    r.ok(b"SELECT %s-dst" % box.encode())
    data = r.ok(b"FETCH 1:* (BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert b"Subject: two" in data and b"Subject: three" in data and b"Subject: four" in data
    r.close()


def test_imaplib_flow(srv):
    """The same operations as a typical imaplib client performs them."""
    box = fresh_box(srv, [msg(b"x"), msg(b"y")])
    c = srv.imap_tls()
    c.select(box)
    typ, data = c.search(None, "ALL")
    assert typ == "OK" and data[0] == b"1 2"
    typ, data = c.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "OK" and b"\\Deleted" in data[0]
    typ, data = c.uid("SEARCH", "DELETED")
    assert data[0] == b"1"
    typ, data = c.copy("2", "INBOX")
    assert typ == "OK"
    typ, data = c.uid("MOVE", "2", "Archive")
    assert typ == "OK"
    c.expunge()
    typ, data = c.search(None, "ALL")
    assert data[0] == b""
    c.logout()
