"""CONDSTORE and QRESYNC (RFC 7162) against a real server over TLS: MODSEQ
in FETCH, HIGHESTMODSEQ in SELECT and STATUS, FETCH (CHANGEDSINCE),
STORE (UNCHANGEDSINCE) with MODIFIED, SEARCH MODSEQ, ENABLE QRESYNC,
SELECT (QRESYNC ...) with VANISHED (EARLIER), UID FETCH (VANISHED),
VANISHED instead of EXPUNGE, and a 10,000-message cache resynchronised
exactly."""
import glob
import os
import re
import sqlite3
import tempfile
import time

import pytest

from rampart_harness import Raw, Server, read_tagged

FETCH_RE = re.compile(rb"^\* (\d+) FETCH \((.*)\)$")
UID_RE = re.compile(rb"UID (\d+)")
FLAGS_RE = re.compile(rb"FLAGS \(([^)]*)\)")
MODSEQ_RE = re.compile(rb"MODSEQ \((\d+)\)")


def msg(i):
    return (b"From: a@example.org\r\nSubject: q%d\r\nMessage-ID: <%d@q.example>\r\n\r\n"
            b"body %d\r\n" % (i, i, i))


def fill(c, box, count):
    """`count` messages in `box`, in MULTIAPPENDs of 1,000 (LITERAL+)."""
    c.s.settimeout(300)
    c.ok(b"CREATE " + box)
    i = 0
    while i < count:
        parts = [b"APPEND " + box]
        for k in range(i, min(count, i + 1000)):
            m = msg(k)
            parts.append(b" {%d+}\r\n" % len(m) + m)
        c.ok(b"".join(parts), timeout=300)
        i += 1000


def lines(data):
    return data.split(b"\r\n")


def uidset(text):
    out = set()
    for part in text.split(b","):
        if b":" in part:
            lo, hi = (int(x) for x in part.split(b":"))
            out.update(range(min(lo, hi), max(lo, hi) + 1))
        else:
            out.add(int(part))
    return out


def vanished(data, earlier):
    """UIDs of the VANISHED (EARLIER) or plain VANISHED responses."""
    prefix = b"* VANISHED (EARLIER) " if earlier else b"* VANISHED "
    out = set()
    for line in lines(data):
        if line.startswith(prefix) and (earlier or not line.startswith(b"* VANISHED (")):
            out |= uidset(line[len(prefix):])
    return out


def fetches(data):
    """uid -> (flags, modseq) of the FETCH responses that carry a UID."""
    out = {}
    for line in lines(data):
        m = FETCH_RE.match(line)
        if not m:
            continue
        body = m.group(2)
        u = UID_RE.search(body)
        f = FLAGS_RE.search(body)
        ms = MODSEQ_RE.search(body)
        assert u, line
        out[int(u.group(1))] = (
            # \Recent belongs to a session, not to the mailbox's state.
            frozenset(f.group(1).split()) - {b"\\Recent"} if f else None,
            int(ms.group(1)) if ms else None,
        )
    return out


def code(data, name):
    m = re.search(rb"\[" + name + rb" (\d+)\]", data)
    assert m, data[-600:]
    return int(m.group(1))


def state(c):
    """The server's state of the selected mailbox: uid -> (flags, modseq)."""
    return fetches(c.ok(b"UID FETCH 1:* (FLAGS MODSEQ)", timeout=300))


@pytest.fixture
def two(server):
    a = Raw(server)
    b = Raw(server)
    fill(a, b"Q", 10)
    yield server, a, b
    a.close()
    b.close()


def test_capabilities_and_highestmodseq(two):
    server, a, b = two
    caps = a.ok(b"CAPABILITY")
    assert b" CONDSTORE" in caps and b" QRESYNC" in caps
    data = a.ok(b"SELECT Q")
    hms = code(data, b"HIGHESTMODSEQ")
    st = b.ok(b"STATUS Q (HIGHESTMODSEQ MESSAGES)")
    assert b"HIGHESTMODSEQ %d" % hms in st, st
    a.ok(b"STORE 1 +FLAGS (\\Flagged)")
    st = b.ok(b"STATUS Q (HIGHESTMODSEQ)")
    assert b"HIGHESTMODSEQ %d" % (hms + 1) in st, st
    # rev2 sessions get it too.
    c = Raw(server, rev2=True)
    assert code(c.ok(b"EXAMINE Q"), b"HIGHESTMODSEQ") == hms + 1
    c.close()


def test_fetch_modseq_and_changedsince(two):
    _, a, _ = two
    a.ok(b"SELECT Q")
    before = state(a)
    assert all(ms for _, ms in before.values())
    top = max(ms for _, ms in before.values())
    data = a.ok(b"STORE 3,5 +FLAGS (\\Seen)")
    # FETCH MODSEQ enabled CONDSTORE: STORE's FETCH carries MODSEQ now.
    got = fetches(data.replace(b"* 3 FETCH (", b"* 3 FETCH (UID 3 ")
                  .replace(b"* 5 FETCH (", b"* 5 FETCH (UID 5 "))
    assert got[3][1] == got[5][1] == top + 1, data
    data = a.ok(b"FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % top)
    flines = [l for l in lines(data) if l.startswith(b"* ") and b" FETCH " in l]
    assert len(flines) == 2 and all(b"MODSEQ (%d)" % (top + 1) in l for l in flines), data
    data = a.ok(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % (top + 1))
    assert b"* 1 FETCH" not in data and not fetches(data)
    # CHANGEDSINCE 0 lists everything.
    assert len(fetches(a.ok(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 0)"))) == 10
    _, status = a.cmd(b"FETCH 1 (FLAGS) (CHANGEDSINCE x)")
    assert status.startswith(b"BAD")
    _, status = a.cmd(b"FETCH 1 (FLAGS) (VANISHED)")
    assert status.startswith(b"BAD")


def test_store_unchangedsince_race(two):
    """Two sessions: the second one's conditional STORE fails for the
    message the first changed meanwhile (RFC 7162 3.1.3)."""
    _, a, b = two
    a.ok(b"SELECT Q")
    b.ok(b"SELECT Q")
    mods = state(b)
    seen_by_b = max(mods[u][1] for u in (1, 2, 3))
    a.ok(b"STORE 2 +FLAGS (\\Answered)")
    data, status = b.cmd(b"STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS (\\Deleted)" % seen_by_b)
    assert status.startswith(b"OK [MODIFIED 2]"), data
    after = state(b)
    assert b"\\Deleted" in after[1][0] and b"\\Deleted" in after[3][0]
    assert b"\\Deleted" not in after[2][0] and b"\\Answered" in after[2][0]
    # The FETCH responses name only the messages that were stored.
    flines = [l for l in lines(data) if l.startswith(b"* ") and b" FETCH " in l]
    # Those of the stored messages; message 2 only as the unsolicited
    # report of the other session's change.
    assert [l for l in flines if b"\\Deleted" in l][0].startswith(b"* 1 ")
    assert sorted(l.split()[1] for l in flines if b"\\Deleted" in l) == [b"1", b"3"], data
    assert [l for l in flines if l.startswith(b"* 2 ")] == \
        [b"* 2 FETCH (FLAGS (\\Answered) MODSEQ (%d))" % (seen_by_b + 1)], data
    # UID STORE answers MODIFIED with UIDs; .SILENT still says MODSEQ.
    top = max(ms for _, ms in after.values())
    data, status = b.cmd(b"UID STORE 4,5 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Seen)" % top)
    assert status.startswith(b"OK") and b"MODIFIED" not in status, data
    got = fetches(data)
    assert set(got) == {4, 5} and got[4][0] is None and got[4][1] == top + 1, data
    data, status = b.cmd(b"UID STORE 4,6 (UNCHANGEDSINCE 0) +FLAGS (\\Flagged)")
    assert status.startswith(b"OK [MODIFIED 4,6]"), data
    assert b"\\Flagged" not in state(b)[4][0]
    _, status = b.cmd(b"STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)")
    assert status.startswith(b"BAD")


def test_unchangedsince_concurrent_writers(server):
    """Many rounds of two sessions racing conditional STOREs of one
    message at the same modseq: per round, exactly one wins."""
    a = Raw(server)
    fill(a, b"R", 1)
    b = Raw(server)
    a.ok(b"SELECT R")
    b.ok(b"SELECT R")
    for rnd in range(20):
        ms = state(a)[1][1]
        kw = b"$r%d" % rnd
        a.s.sendall(b"x%d STORE 1 (UNCHANGEDSINCE %d) +FLAGS (%sa)\r\n" % (rnd, ms, kw))
        b.s.sendall(b"y%d STORE 1 (UNCHANGEDSINCE %d) +FLAGS (%sb)\r\n" % (rnd, ms, kw))
        ra = read_tagged(a.s, b"x%d" % rnd)
        rb = read_tagged(b.s, b"y%d" % rnd)
        won = [b"MODIFIED" not in [l for l in lines(r) if l.startswith(t)][0]
               for r, t in ((ra, b"x%d" % rnd), (rb, b"y%d" % rnd))]
        assert won.count(True) == 1, (ra, rb)
        flags = state(a)[1][0]
        assert (kw + b"a" in flags) != (kw + b"b" in flags), flags
    a.close()
    b.close()


def test_search_modseq(two):
    _, a, _ = two
    a.ok(b"SELECT Q")
    top = max(ms for _, ms in state(a).values())
    a.ok(b"STORE 4,7 +FLAGS (\\Draft)")
    data = a.ok(b"SEARCH MODSEQ %d" % (top + 1))
    assert b"* SEARCH 4 7 (MODSEQ %d)" % (top + 1) in data, data
    data = a.ok(b'SEARCH MODSEQ "/flags/\\\\draft" all %d' % (top + 1))
    assert b"* SEARCH 4 7 (MODSEQ %d)" % (top + 1) in data, data
    data = a.ok(b"UID SEARCH RETURN (COUNT) MODSEQ %d" % (top + 1))
    assert b"COUNT 2 MODSEQ %d" % (top + 1) in data, data
    # No match: no MODSEQ part.
    data = a.ok(b"SEARCH MODSEQ %d" % (top + 5))
    assert b"* SEARCH\r\n" in data, data
    # A search without MODSEQ has none either.
    assert b"(MODSEQ" not in a.ok(b"SEARCH ALL")


def test_unsolicited_fetch_carries_modseq(two):
    _, a, b = two
    a.ok(b"ENABLE CONDSTORE")
    a.ok(b"SELECT Q")
    b.ok(b"SELECT Q")
    b.ok(b"STORE 2 +FLAGS (\\Flagged)")
    time.sleep(0.2)
    data = a.ok(b"NOOP")
    fl = [l for l in lines(data) if l.startswith(b"* 2 FETCH")]
    assert fl and MODSEQ_RE.search(fl[0]), data


def test_qresync_vanished_replaces_expunge(two):
    _, a, b = two
    _, status = a.cmd(b"SELECT Q (QRESYNC (1 1))")
    assert status.startswith(b"BAD"), status  # QRESYNC not enabled yet
    assert b"* ENABLED QRESYNC" in a.ok(b"ENABLE QRESYNC")
    a.ok(b"SELECT Q")
    b.ok(b"SELECT Q")
    b.ok(b"STORE 3,4 +FLAGS (\\Deleted)")
    b.ok(b"EXPUNGE")
    time.sleep(0.2)
    data = a.ok(b"NOOP")
    assert b"* VANISHED 3:4\r\n" in data and b"EXPUNGE" not in data, data
    flines = [l for l in lines(data) if l.startswith(b"* ") and b" FETCH " in l]
    assert not flines, data
    # Its own EXPUNGE too; and unsolicited FETCH carries UID and MODSEQ.
    a.ok(b"UID STORE 9 +FLAGS (\\Deleted)")
    data = a.ok(b"EXPUNGE")
    assert b"* VANISHED 9\r\n" in data and b"EXPUNGE\r\n" not in data, data
    b.ok(b"UID STORE 10 +FLAGS (\\Seen)")
    time.sleep(0.2)
    data = a.ok(b"NOOP")
    assert re.search(rb"\* 7 FETCH \(UID 10 FLAGS \(\\Seen( \\Recent)?\) MODSEQ \(\d+\)\)", data), data
    # MOVE reports VANISHED as well.
    a.ok(b"CREATE Q2")
    data = a.ok(b"UID MOVE 1 Q2")
    assert b"* VANISHED 1\r\n" in data and b" EXPUNGE\r\n" not in data, data


def test_select_qresync_and_uid_fetch_vanished(two):
    server, a, b = two
    a.ok(b"ENABLE QRESYNC")
    data = a.ok(b"SELECT Q")
    uv = code(data, b"UIDVALIDITY")
    ms = code(data, b"HIGHESTMODSEQ")
    a.ok(b"UNSELECT")
    b.ok(b"SELECT Q")
    b.ok(b"STORE 2 +FLAGS (\\Flagged)")
    b.ok(b"UID STORE 5,6 +FLAGS (\\Deleted)")
    b.ok(b"EXPUNGE")
    data = a.ok(b"SELECT Q (QRESYNC (%d %d))" % (uv, ms))
    assert vanished(data, True) == {5, 6}, data
    got = fetches(data)
    assert set(got) == {2} and b"\\Flagged" in got[2][0] and got[2][1] > ms, data
    # VANISHED (EARLIER) comes before the FETCH responses.
    assert data.index(b"VANISHED (EARLIER)") < data.index(b" FETCH ")
    # known-uids limits both.
    data = a.ok(b"SELECT Q (QRESYNC (%d %d 1:4))" % (uv, ms))
    assert b"* OK [CLOSED]" in data
    assert vanished(data, True) == set() and set(fetches(data)) == {2}, data
    data = a.ok(b"SELECT Q (QRESYNC (%d %d 3:10 (1:2 3:4)))" % (uv, ms))
    assert vanished(data, True) == {5, 6} and fetches(data) == {}, data
    # A wrong UIDVALIDITY: a plain SELECT.
    data = a.ok(b"SELECT Q (QRESYNC (%d %d))" % (uv + 1, ms))
    assert b"VANISHED" not in data and b" FETCH " not in data, data
    # UID FETCH ... (CHANGEDSINCE n VANISHED)
    data = a.ok(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % ms)
    assert vanished(data, True) == {5, 6} and set(fetches(data)) == {2}, data
    data = a.ok(b"UID FETCH 1:4 (FLAGS) (CHANGEDSINCE %d VANISHED)" % ms)
    assert vanished(data, True) == set() and set(fetches(data)) == {2}, data
    _, status = a.cmd(b"FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % ms)
    assert status.startswith(b"BAD")
    for bad in (b"(QRESYNC (0 1))", b"(QRESYNC (1))", b"(QRESYNC (1 2 1:3 (1:2 1)))",
                b"(CONDSTORE CONDSTORE)", b"(FOO)"):
        _, status = a.cmd(b"EXAMINE Q " + bad)
        assert status.startswith(b"BAD"), bad


def test_rev2_session_qresync(server):
    a = Raw(server, rev2=True)
    fill(a, b"V", 5)
    a.ok(b"ENABLE QRESYNC")
    data = a.ok(b"SELECT V (CONDSTORE)")
    ms = code(data, b"HIGHESTMODSEQ")
    uv = code(data, b"UIDVALIDITY")
    a.ok(b"STORE 1 +FLAGS (\\Deleted)")
    data = a.ok(b"EXPUNGE")
    assert b"* VANISHED 1\r\n" in data, data
    data = a.ok(b"SELECT V (QRESYNC (%d %d))" % (uv, ms))
    assert vanished(data, True) == {1}, data
    a.close()


@pytest.fixture
def tmpfs_server():
    """A server whose store is on tmpfs when there is one: 10,000 appended
    messages are 10,000 fsync'd files."""
    old = tempfile.tempdir
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        tempfile.tempdir = "/dev/shm"
    try:
        srv = Server()
    finally:
        tempfile.tempdir = old
    yield srv
    srv.close()


def test_resync_10000_messages(tmpfs_server):
    """The issue's test: a client caches 10,000 messages, goes away;
    another session flags 10% and expunges 10% (and delivers a few new
    ones); the first resyncs with SELECT (QRESYNC ...) and ends with
    exactly the server's state, having been sent only what changed."""
    server = tmpfs_server
    n = 10000
    t0 = time.time()
    a = Raw(server)
    fill(a, b"Big", n)
    a.ok(b"ENABLE QRESYNC")
    data = a.ok(b"SELECT Big")
    uv = code(data, b"UIDVALIDITY")
    ms = code(data, b"HIGHESTMODSEQ")
    cache = state(a)
    assert len(cache) == n
    a.close()
    t1 = time.time()

    b = Raw(server)
    b.ok(b"SELECT Big")
    flagged = [u for u in range(1, n + 1) if u % 10 == 3]
    gone = [u for u in range(1, n + 1) if u % 10 == 7]
    for i in range(0, len(flagged), 250):
        part = b",".join(b"%d" % u for u in flagged[i:i + 250])
        b.ok(b"UID STORE " + part + b" +FLAGS (\\Flagged $Work)")
    for i in range(0, len(gone), 250):
        part = b",".join(b"%d" % u for u in gone[i:i + 250])
        b.ok(b"UID STORE " + part + b" +FLAGS (\\Deleted)")
    b.ok(b"EXPUNGE", timeout=300)
    b.ok(b"APPEND Big {%d+}\r\n" % len(msg(n)) + msg(n))
    b.close()
    t2 = time.time()

    a = Raw(server)
    a.s.settimeout(300)
    a.ok(b"ENABLE QRESYNC")
    data = a.ok(b"SELECT Big (QRESYNC (%d %d))" % (uv, ms), timeout=300)
    van = vanished(data, True)
    changed = fetches(data)
    assert van == set(gone)
    assert set(changed) == set(flagged) | {n + 1}
    for u in van:
        del cache[u]
    cache.update(changed)
    assert cache == state(a)
    a.close()
    print("fill+cache %.1f s, changes %.1f s, resync+check %.1f s; resync sent %d bytes"
          % (t1 - t0, t2 - t1, time.time() - t2, len(data)))


def age_history(server, days):
    """Makes every recorded expunge `days` older (the store keeps its
    time per range), through the store's own database file."""
    paths = glob.glob(os.path.join(server.dir, "mail", "*", "*", "index.sqlite"))
    assert len(paths) == 1, paths
    db = sqlite3.connect(paths[0], timeout=30)
    with db:
        db.execute("UPDATE expunged_ranges SET expunged_at = expunged_at - ?", (days * 86400,))
    db.close()


def expunge_elsewhere(srv, box, uids):
    b = Raw(srv)
    b.ok(b"SELECT " + box)
    b.ok(b"UID STORE " + uids + b" +FLAGS (\\Deleted)")
    b.ok(b"EXPUNGE")
    b.close()


def test_pruned_history_reports_every_absent_uid():
    """With the history older than expunged_history_days pruned, a client
    whose modseq is older than the prune gets VANISHED (EARLIER) of every
    UID it may know that is gone (RFC 7162 3.2.5.2), and nothing present."""
    srv = Server(extra_config="[store]\nexpunged_history_days = 30\n")
    try:
        a = Raw(srv)
        fill(a, b"P", 20)
        a.ok(b"ENABLE QRESYNC")
        data = a.ok(b"SELECT P")
        uv, ms = code(data, b"UIDVALIDITY"), code(data, b"HIGHESTMODSEQ")
        a.ok(b"UID STORE 3:5,9 +FLAGS (\\Deleted)")
        a.ok(b"EXPUNGE")
        # Before any pruning the answer is exact.
        a.ok(b"UNSELECT")
        data = a.ok(b"SELECT P (QRESYNC (%d %d))" % (uv, ms))
        assert vanished(data, True) == {3, 4, 5, 9}, data
        a.ok(b"UNSELECT")
        age_history(srv, 31)
        # The next expunge prunes the aged ranges (and records its own).
        expunge_elsewhere(srv, b"P", b"12")
        data = a.ok(b"SELECT P (QRESYNC (%d %d))" % (uv, ms))
        assert vanished(data, True) == {3, 4, 5, 9, 12}, data
        # known-uids bound the answer; UIDs above UIDNEXT never appear.
        data = a.ok(b"SELECT P (QRESYNC (%d %d 1:4,10:30))" % (uv, ms))
        assert vanished(data, True) == {3, 4, 12}, data
        # UID FETCH (VANISHED): the same rule for the set.
        data = a.ok(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % ms)
        assert vanished(data, True) == {3, 4, 5, 9, 12}, data
        # A client that synced after the pruned part gets the exact list.
        a.ok(b"UNSELECT")
        data = a.ok(b"SELECT P")
        now = code(data, b"HIGHESTMODSEQ")
        expunge_elsewhere(srv, b"P", b"15")
        data = a.ok(b"SELECT P (QRESYNC (%d %d))" % (uv, now))
        assert vanished(data, True) == {15}, data
        a.close()
    finally:
        srv.close()


def test_migration_keeps_old_expunge_history():
    """A store written before the range history (schema 1: one row per
    expunged UID in `expunged`) is migrated on open: its rows become
    ranges and QRESYNC still reports them exactly."""
    srv = Server()
    try:
        a = Raw(srv)
        fill(a, b"M", 12)
        a.ok(b"ENABLE QRESYNC")
        data = a.ok(b"SELECT M")
        uv, ms = code(data, b"UIDVALIDITY"), code(data, b"HIGHESTMODSEQ")
        a.ok(b"UID STORE 2:4,7,11 +FLAGS (\\Deleted)")
        a.ok(b"EXPUNGE")
        a.close()
        srv.stop()
        path = glob.glob(os.path.join(srv.dir, "mail", "*", "*", "index.sqlite"))[0]
        db = sqlite3.connect(path)
        with db:
            rows = db.execute("SELECT mailbox_id, modseq, uid_lo, uid_hi FROM expunged_ranges"
                              ).fetchall()
            assert rows
            # Back to schema 1 with the same history, one row per UID.
            db.execute("CREATE TABLE expunged(mailbox_id INTEGER NOT NULL, uid INTEGER NOT NULL,"
                       " modseq INTEGER NOT NULL, PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID")
            for mb, mod, lo, hi in rows:
                for uid in range(lo, hi + 1):
                    db.execute("INSERT INTO expunged VALUES(?,?,?)", (mb, uid, mod))
            db.execute("DROP TABLE expunged_ranges")
            db.execute("DROP TABLE expunged_floor")
            db.execute("DELETE FROM store_meta WHERE key='migration.6'")
        db.execute("PRAGMA user_version=1")
        db.close()
        srv.start()
        a = Raw(srv)
        a.ok(b"ENABLE QRESYNC")
        data = a.ok(b"SELECT M (QRESYNC (%d %d))" % (uv, ms))
        assert vanished(data, True) == {2, 3, 4, 7, 11}, data
        a.close()
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 6
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name='expunged'"
                          ).fetchone()[0] == 0
        db.close()
    finally:
        srv.close()
