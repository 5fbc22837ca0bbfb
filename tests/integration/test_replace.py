"""REPLACE and UID REPLACE (RFC 8508) on a real server over TLS: the new
message appended (APPENDUID) and the old one expunged in one step, the
responses in RFC 8508's order, EXPUNGE or VANISHED (QRESYNC), a second
session IDLEing in the mailbox seeing both, the errors (no such message
after the literal, TRYCREATE, read-only, bad syntax), and kill -9 during
REPLACE leaving exactly one of the two messages."""
import re
import socket
import time

from rampart_harness import Raw, read_until

OLD = b"Subject: draft v1\r\n\r\nfirst version\r\n"
NEW = b"Subject: draft v2\r\n\r\nsecond version\r\n"


def literal(msg):
    return b"{%d}\r\n%s" % (len(msg), msg)


def append(r, mailbox, msg):
    r.ok(b"APPEND %s %s" % (mailbox, literal(msg)))


def subjects(r):
    data = r.ok(b"FETCH 1:* (BODY.PEEK[HEADER.FIELDS (Subject)])")
    return re.findall(rb"Subject: ([^\r]*)", data)


def count(r, mailbox):
    data = r.ok(b"STATUS %s (MESSAGES)" % mailbox)
    return int(re.search(rb"MESSAGES (\d+)", data).group(1))


def test_capability(server):
    r = Raw(server)
    assert b" REPLACE" in r.ok(b"CAPABILITY")
    r.close()


def test_replace_in_selected_mailbox(server):
    r = Raw(server)
    r.ok(b"CREATE Notes")
    for i in range(3):
        append(r, b"Notes", b"Subject: d%d\r\n\r\nx\r\n" % i)
    data = r.ok(b"SELECT Notes")
    uv = re.search(rb"UIDVALIDITY (\d+)", data).group(1)
    data = r.ok(b"REPLACE 2 Notes (\\Seen \\Draft) " + literal(NEW))
    lines = [l for l in data.split(b"\r\n") if l.startswith(b"* ")]
    # RFC 8508 3.1: APPENDUID first, then the expunge and the new EXISTS.
    assert lines[0] == b"* OK [APPENDUID %s 4] Replacement message added" % uv, lines
    assert b"* 2 EXPUNGE" in lines
    assert lines.index(b"* 2 EXPUNGE") > 0
    assert b"* 3 EXISTS" in lines
    data = r.ok(b"UID FETCH 1:* (FLAGS)")
    assert re.findall(rb"UID (\d+)", data) == [b"1", b"3", b"4"]
    assert b"UID 4 FLAGS (\\Seen \\Draft" in data, data
    assert subjects(r) == [b"d0", b"d2", b"draft v2"]
    r.close()


def test_uid_replace_into_other_mailbox_with_qresync(server):
    r = Raw(server)
    r.ok(b"CREATE Notes")
    r.ok(b"CREATE Kept")
    append(r, b"Notes", OLD)
    append(r, b"Notes", b"Subject: other\r\n\r\nx\r\n")
    r.ok(b"ENABLE QRESYNC")
    r.ok(b"SELECT Notes")
    data = r.ok(b"UID REPLACE 1 Kept " + literal(NEW))
    assert re.search(rb"\* OK \[APPENDUID \d+ 1\]", data)
    # QRESYNC: VANISHED instead of EXPUNGE (RFC 7162 3.2.10).
    assert b"* VANISHED 1\r\n" in data
    assert b"EXPUNGE" not in data
    assert b"UID REPLACE completed" in data
    assert subjects(r) == [b"other"]
    r.ok(b"SELECT Kept")
    assert subjects(r) == [b"draft v2"]
    r.close()


def test_idle_session_sees_the_replace(server):
    r = Raw(server)
    r.ok(b"CREATE Notes")
    append(r, b"Notes", OLD)
    r.close()
    watcher = Raw(server, select="Notes")
    watcher.s.sendall(b"w1 IDLE\r\n")
    read_until(watcher.s, b"+ ")
    r = Raw(server, select="Notes")
    r.ok(b"REPLACE 1 Notes " + literal(NEW))
    got = b""
    deadline = time.monotonic() + 20
    watcher.s.settimeout(1)
    for _ in range(200):
        if (b"* 1 EXPUNGE" in got and b"EXISTS" in got) or time.monotonic() > deadline:
            break
        try:
            got += watcher.s.recv(65536)
        except socket.timeout:
            pass
    assert b"* 1 EXPUNGE" in got, got
    assert b"* 1 EXISTS" in got, got
    watcher.s.settimeout(None)
    watcher.s.sendall(b"DONE\r\n")
    read_until(watcher.s, b"w1 OK")
    assert subjects(watcher) == [b"draft v2"]
    watcher.close()
    r.close()


def test_errors_store_nothing(server):
    r = Raw(server)
    r.ok(b"CREATE Notes")
    append(r, b"Notes", OLD)
    r.ok(b"SELECT Notes")
    # RFC 8508 3.3: the literal is read, then NO; nothing appended.
    _, st = r.cmd(b"REPLACE 5 Notes " + literal(NEW))
    assert st.startswith(b"NO"), st
    _, st = r.cmd(b"UID REPLACE 99 Notes " + literal(NEW))
    assert st.startswith(b"NO"), st
    _, st = r.cmd(b"REPLACE 1 Nowhere " + literal(NEW))
    assert st.startswith(b"NO [TRYCREATE]"), st
    for bad in (b"REPLACE 1:2 Notes ", b"REPLACE 1,2 Notes ", b"REPLACE x Notes "):
        _, st = r.cmd(bad + literal(NEW))
        assert st.startswith(b"BAD"), (bad, st)
    _, st = r.cmd(b"REPLACE 1 Notes " + literal(NEW) + b" " + literal(NEW))
    assert st.startswith(b"BAD"), st
    assert subjects(r) == [b"draft v1"]
    r.ok(b"EXAMINE Notes")
    _, st = r.cmd(b"REPLACE 1 Notes " + literal(NEW))
    assert st.startswith(b"NO [READ-ONLY]"), st
    assert count(r, b"Notes") == 1
    r.close()
    r = Raw(server)
    _, st = r.cmd(b"REPLACE 1 Notes " + literal(NEW))
    assert st.startswith(b"BAD") or st.startswith(b"NO"), st
    r.close()


def test_large_spooled_replace(server):
    big = b"Subject: big\r\n\r\n" + b"0123456789abcdef" * (1 << 16) + b"\r\n"
    r = Raw(server)
    r.ok(b"CREATE Notes")
    append(r, b"Notes", OLD)
    r.ok(b"SELECT Notes")
    r.ok(b"REPLACE 1 Notes " + literal(big))
    data = r.ok(b"FETCH 1 (RFC822.SIZE)")
    assert b"RFC822.SIZE %d" % len(big) in data
    r.close()


def test_kill9_during_replace_keeps_exactly_one(server):
    big = b"Subject: draft v2\r\n\r\n" + b"y" * (4 << 20) + b"\r\n"
    r = Raw(server)
    r.ok(b"CREATE Notes")
    append(r, b"Notes", OLD)
    r.close()
    for delay in (0.0, 0.02, 0.05, 0.1, 0.3):
        r = Raw(server, select="Notes")
        r.s.sendall(b"k1 REPLACE 1 Notes {%d+}\r\n" % len(big) + big + b"\r\n")
        time.sleep(delay)
        server.kill9()
        r.close()
        server.start()
        r = Raw(server, select="Notes")
        got = subjects(r)
        # One transaction: the old draft or the new one, never both or none.
        assert got in ([b"draft v1"], [b"draft v2"]), (delay, got)
        if got == [b"draft v2"]:
            r.ok(b"REPLACE 1 Notes " + literal(OLD))
        r.close()


def test_quota_counts_the_replaced_message_as_freed(server):
    r = Raw(server)
    r.ok(b"CREATE Notes")
    append(r, b"Notes", OLD)
    n = count(r, b"INBOX") + count(r, b"Notes")
    quota = ["user", "quota", "-c", server.conf_path, server.user]
    server.rampart(*quota, "--messages", str(n), "--storage", "4K")
    r.ok(b"SELECT Notes")
    # At the message limit: APPEND is refused, REPLACE (one in, one out) is not.
    _, st = r.cmd(b"APPEND Notes " + literal(NEW))
    assert st.startswith(b"NO [OVERQUOTA]"), st
    r.ok(b"REPLACE 1 Notes " + literal(NEW))
    # Over the storage limit: refused, and the old message stays.
    big = b"Subject: big\r\n\r\n" + b"b" * 8192 + b"\r\n"
    _, st = r.cmd(b"REPLACE 1 Notes " + literal(big))
    assert st.startswith(b"NO [OVERQUOTA]"), st
    assert subjects(r) == [b"draft v2"]
    r.close()


def test_replace_never_crosses_owners(server):
    """COPY/MOVE may go to another user's mailbox (imap/copy_cross.c); the
    append and expunge of REPLACE are one transaction of one store, so a
    target of another owner is NO [CANNOT] and nothing changes."""
    server.add_user("bob", "bob-password-for-tests")
    a = Raw(server)
    a.ok(b"CREATE Drop")
    a.ok(b"SETACL Drop bob lirswtxe")
    saved = server.user, server.password
    server.user, server.password = "bob", "bob-password-for-tests"
    try:
        b = Raw(server)
    finally:
        server.user, server.password = saved
    append(b, b"INBOX", OLD)
    b.ok(b"SELECT INBOX")
    data, status = b.cmd(b'REPLACE 1 "Other Users/alice/Drop" ' + literal(NEW))
    assert status.startswith(b"NO [CANNOT]"), status
    assert count(b, b"INBOX") == 1
    assert count(a, b"Drop") == 0
    # The same message may still be moved there.
    b.ok(b'MOVE 1 "Other Users/alice/Drop"')
    assert count(a, b"Drop") == 1
    b.close()
    a.close()
