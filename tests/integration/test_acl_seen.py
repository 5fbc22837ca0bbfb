"""Private \\Seen in shared mailboxes (issue #12 aclseen; RFC 4314 leaves
\\Seen sharing to the server, Dovecot keeps it per reader). alice owns the
mailboxes, bob and carol read them; each sees its own \\Seen in FETCH,
SEARCH, STATUS, SELECT, IDLE and CONDSTORE, the owner sees the message's.
Real server, real TLS; absences are proven with a later marker change, not
with a timeout."""
import glob
import os
import re
import sqlite3

import pytest

import test_acl
from rampart_harness import Server, read_tagged, read_until

PW = test_acl.PW


class Conn(test_acl.Conn):
    """test_acl's raw TLS connection, with what these tests read."""

    def seen(self, seq_set="1:*"):
        """The sequence numbers FETCH FLAGS shows with \\Seen."""
        out = self.ok("FETCH %s (FLAGS)" % seq_set)
        return {int(m.group(1)) for m in re.finditer(r"\* (\d+) FETCH \([^\r\n]*\\Seen", out)}

    def search(self, key):
        out = self.ok("SEARCH " + key)
        line = [l for l in out.split("\r\n") if l.startswith("* SEARCH")][0]
        line = line.split(" (MODSEQ")[0]  # RFC 7162 3.1.5
        return {int(x) for x in line.split()[2:]}

    def idle(self):
        self.s.sendall(b"i IDLE\r\n")
        read_until(self.s, b"+ ")

    def done(self):
        """Ends IDLE; returns everything that arrived with the tagged OK."""
        self.s.sendall(b"DONE\r\n")
        return read_tagged(self.s, b"i")


def server(extra=""):
    s = Server(extra_config=extra)
    for u in ("bob", "carol"):
        s.add_user(u, PW)
    return s


@pytest.fixture(scope="module")
def srv():
    s = server()
    yield s
    s.close()


def fresh(a, name, n=3, rights="lrs"):
    """A new mailbox of alice with n messages shared with bob and carol."""
    a.ok('CREATE "%s"' % name)
    for i in range(1, n + 1):
        assert "OK" in a.append(name, i)
    a.ok('SETACL "%s" bob %s' % (name, rights))
    a.ok('SETACL "%s" carol %s' % (name, rights))
    return "Other Users/alice/" + name


def code(out, name):
    return int(re.search(r"\[%s (\d+)\]" % name, out).group(1))


def status_unseen(c, name):
    out = c.ok('STATUS "%s" (UNSEEN MESSAGES)' % name)
    return int(re.search(r"UNSEEN (\d+)", out).group(1))


def test_each_reader_has_own_seen(srv):
    a, b, c = Conn(srv, "alice"), Conn(srv, "bob"), Conn(srv, "carol")
    shared = fresh(a, "own")
    a.ok('SELECT "own"')
    a.ok("STORE 3 +FLAGS (\\Seen)")
    # The owner's \Seen is not the readers': they start with nothing seen.
    out = b.ok('SELECT "%s"' % shared)
    assert code(out, "UNSEEN") == 1, out
    assert b.seen() == set()
    b.ok("STORE 1 +FLAGS (\\Seen)")
    c.ok('SELECT "%s"' % shared)
    assert c.seen() == set()
    # FETCH of a body sets \Seen (RFC 9051 6.4.5): carol's own.
    c.ok("FETCH 1 BODY[]")
    c.ok("FETCH 2 BODY[TEXT]")
    assert (a.seen(), b.seen(), c.seen()) == ({3}, {1}, {1, 2})
    assert (a.search("SEEN"), b.search("SEEN"), c.search("SEEN")) == ({3}, {1}, {1, 2})
    assert (a.search("UNSEEN"), b.search("UNSEEN"), c.search("UNSEEN")) == \
        ({1, 2}, {2, 3}, {3})
    assert b.search("UNSEEN SUBJECT shared") == {2, 3}
    # STATUS UNSEEN and SELECT's first unseen, as each sees them.
    assert status_unseen(a, "own") == 2
    assert status_unseen(b, shared) == 2
    assert status_unseen(c, shared) == 1
    for conn, first in ((a, 1), (b, 2), (c, 3)):
        out = conn.ok('EXAMINE "%s"' % ("own" if conn is a else shared))
        assert code(out, "UNSEEN") == first, out
    # Clearing is private too; the owner clearing hers leaves theirs.
    b.ok('SELECT "%s"' % shared)
    b.ok("STORE 1 -FLAGS (\\Seen)")
    a.ok('SELECT "own"')
    a.ok("STORE 1:* -FLAGS (\\Seen)")
    assert (a.seen(), b.seen(), c.seen()) == (set(), set(), {1, 2})
    for x in (a, b, c):
        x.close()


def test_other_flags_stay_shared(srv):
    a, b = Conn(srv, "alice"), Conn(srv, "bob")
    shared = fresh(a, "mixed", rights="lrswt")  # FLAGS replaces: s, w and t
    b.ok('SELECT "%s"' % shared)
    out = b.ok("STORE 1 +FLAGS (\\Seen \\Flagged)")
    assert re.search(r"\* 1 FETCH \(FLAGS \((?=[^)]*\\Seen)(?=[^)]*\\Flagged)", out), out
    a.ok('SELECT "mixed"')
    out = a.ok("FETCH 1 FLAGS")
    assert "\\Flagged" in out and "\\Seen" not in out, out
    # FLAGS replaces the reader's \Seen and the message's other flags.
    a.ok("STORE 2 +FLAGS (\\Seen)")
    b.ok("STORE 2 FLAGS (\\Seen)")
    assert b.seen() == {1, 2}
    assert a.seen() == {2}
    b.ok("STORE 2 FLAGS (\\Answered)")
    assert b.seen() == {1}
    out = a.ok("FETCH 2 FLAGS")
    assert "\\Seen" in out and "\\Answered" in out, out
    a.close()
    b.close()


def test_idle_same_reader_sees_it_others_do_not(srv):
    a, a2 = Conn(srv, "alice"), Conn(srv, "alice")
    b1, b2, c = Conn(srv, "bob"), Conn(srv, "bob"), Conn(srv, "carol")
    shared = fresh(a, "live")
    for conn in (b1, b2, c):
        conn.ok('SELECT "%s"' % shared)
    a2.ok('SELECT "live"')
    for conn in (b1, c, a2):
        conn.idle()
    b2.ok("STORE 1 +FLAGS (\\Seen)")
    read_until(b1.s, b"* 1 FETCH (FLAGS (\\Seen))", timeout=15)
    # A marker the owner makes after it: carol and alice get the marker
    # and nothing about message 1.
    a.ok('SELECT "live"')
    a.ok("STORE 2 +FLAGS (\\Deleted)")
    for conn in (c, a2):
        got = read_until(conn.s, b"\\Deleted", timeout=15)
        got += conn.done()
        assert b"* 2 FETCH" in got, got
        assert b"* 1 FETCH" not in got, got
    got = b1.done()
    assert b"* 1 FETCH" not in got, got  # reported once
    # NOOP of the other reader after it: still nothing for message 1.
    out = c.ok("NOOP")
    assert "* 1 FETCH" not in out, out
    assert c.seen() == set() and a2.seen() == set()
    for x in (a, a2, b1, b2, c):
        x.close()


def test_condstore_reader_gets_new_modseq(srv):
    a, b1, b2, c = Conn(srv, "alice"), Conn(srv, "bob"), Conn(srv, "bob"), Conn(srv, "carol")
    shared = fresh(a, "cs")
    out = b1.ok('SELECT "%s" (CONDSTORE)' % shared)
    hm = code(out, "HIGHESTMODSEQ")
    out = c.ok('SELECT "%s" (CONDSTORE)' % shared)
    hm_c = code(out, "HIGHESTMODSEQ")
    a.ok('SELECT "cs" (CONDSTORE)')
    b2.ok('SELECT "%s"' % shared)
    b2.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
    out = b1.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % hm)
    m = re.search(r"\* 2 FETCH \(FLAGS \(\\Seen\) MODSEQ \((\d+)\)\)", out)
    assert m and int(m.group(1)) > hm, out
    assert "* 1 FETCH" not in out and "* 3 FETCH" not in out, out
    new = int(m.group(1))
    assert b1.search("MODSEQ %d" % new) == {2}
    # Nobody else sees a change of message 2.
    out = c.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % hm_c)
    assert "* 2 FETCH" not in out, out
    out = a.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % hm_c)
    assert "* 2 FETCH" not in out, out
    # UNCHANGEDSINCE compares the reader's modseq (RFC 7162 3.1.3).
    out = b1.ok("STORE 2 (UNCHANGEDSINCE %d) -FLAGS (\\Seen)" % hm)
    assert "[MODIFIED 2]" in out, out
    out = b1.ok("STORE 2 (UNCHANGEDSINCE %d) -FLAGS (\\Seen)" % new)
    assert "MODIFIED" not in out and b1.seen() == set(), out
    for x in (a, b1, b2, c):
        x.close()


def test_qresync_select_reports_reader_change(srv):
    a, b1, b2, c = Conn(srv, "alice"), Conn(srv, "bob"), Conn(srv, "bob"), Conn(srv, "carol")
    shared = fresh(a, "qr")
    for conn in (b1, c):
        conn.ok("ENABLE QRESYNC")
    out = b1.ok('SELECT "%s"' % shared)
    uv, hm = code(out, "UIDVALIDITY"), code(out, "HIGHESTMODSEQ")
    b1.ok("UNSELECT")
    b2.ok('SELECT "%s"' % shared)
    b2.ok("STORE 3 +FLAGS (\\Seen)")
    out = b1.ok('SELECT "%s" (QRESYNC (%d %d))' % (shared, uv, hm))
    assert re.search(r"\* 3 FETCH \(UID 3 FLAGS \(\\Seen\) MODSEQ", out), out
    assert "* 1 FETCH" not in out and "* 2 FETCH" not in out, out
    # Another reader resyncing from the same point has nothing to learn.
    out = c.ok('SELECT "%s" (QRESYNC (%d %d))' % (shared, uv, hm))
    assert "FETCH (" not in out, out
    for x in (a, b1, b2, c):
        x.close()


def test_imaplib_reader(srv):
    a = Conn(srv, "alice")
    shared = fresh(a, "lib")
    a.ok('SELECT "lib"')
    a.ok("STORE 3 +FLAGS (\\Seen)")  # the owner's: not bob's
    a.close()
    cl = srv.imap_tls("bob", PW)
    typ, _ = cl.select('"%s"' % shared)
    assert typ == "OK"
    cl.fetch("1", "(BODY[])")
    typ, data = cl.search(None, "UNSEEN")
    assert data[0].split() == [b"2", b"3"]
    cl.logout()


def pvt_rows(srv):
    srv.stop()
    path = glob.glob(os.path.join(srv.dir, "mail", "*", "alice", "index.sqlite"))[0]
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT reader, uid, seen FROM pvt_seen ORDER BY reader, uid"
                          ).fetchall()
    finally:
        db.close()


def test_expunge_and_delete_remove_private_rows():
    srv = server()
    try:
        a, b, c = Conn(srv, "alice"), Conn(srv, "bob"), Conn(srv, "carol")
        shared = fresh(a, "gone")
        fresh(a, "dropped")
        for conn in (b, c):
            conn.ok('SELECT "%s"' % shared)
            conn.ok("STORE 1:3 +FLAGS (\\Seen)")
            conn.ok('SELECT "Other Users/alice/dropped"')
            conn.ok("STORE 1 +FLAGS (\\Seen)")
            conn.close()
        a.ok('SELECT "gone"')
        a.ok("STORE 2 +FLAGS (\\Deleted)")
        a.ok("EXPUNGE")
        a.ok("UNSELECT")
        a.ok('DELETE "dropped"')
        a.close()
        assert pvt_rows(srv) == [("bob", 1, 1), ("bob", 3, 1), ("carol", 1, 1), ("carol", 3, 1)]
    finally:
        srv.close()


def test_private_seen_off_keeps_shared_seen():
    srv = server("[namespace]\nprivate_seen = no\n")
    try:
        a, b, c = Conn(srv, "alice"), Conn(srv, "bob"), Conn(srv, "carol")
        shared = fresh(a, "common")
        b.ok('SELECT "%s"' % shared)
        b.ok("STORE 1 +FLAGS (\\Seen)")
        a.ok('SELECT "common"')
        assert a.seen() == {1}
        c.ok('SELECT "%s"' % shared)
        assert c.seen() == {1}
        assert status_unseen(c, shared) == 2
        for x in (a, b, c):
            x.close()
        assert pvt_rows(srv) == []
    finally:
        srv.close()


def test_acl_advertised_after_login(srv):
    """RFC 4314 2.1, 3: ACL and RIGHTS=texk once logged in (the commands
    are only allowed there), not before."""
    s = srv.raw(tls=True)
    greeting = read_until(s, b"\r\n")
    assert b" ACL" not in greeting and b"RIGHTS=" not in greeting, greeting
    s.close()
    b = Conn(srv, "bob")
    out = b.ok("CAPABILITY")
    caps = [l for l in out.split("\r\n") if l.startswith("* CAPABILITY")][0].split()
    assert "ACL" in caps and "RIGHTS=texk" in caps, caps
    b.close()
