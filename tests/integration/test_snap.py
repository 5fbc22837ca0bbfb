"""Issue #14 (snap): SELECT/EXAMINE and FETCH of every message (UID FLAGS)
answer from the process's snapshot of a mailbox's listing (store/snap.c)
while the mailbox's version (uidvalidity, uidnext, highestmodseq) is the
one it was read at. These tests prove a snapshot is never used stale:
between SELECTs another session STOREs, EXPUNGEs and APPENDs, another
process (`rampart deliver`) delivers, and each time a new session's
EXAMINE (CONDSTORE) and FETCH 1:* (UID FLAGS MODSEQ), a session that kept
the mailbox selected, a QRESYNC SELECT and a UIDONLY session are compared
with a reference read here from the index, independently of the server.

The server keeps snapshots of every mailbox ([store] snapshot_min_messages
= 1) so a 600-message mailbox (above the 256 of the flags-only FETCH path)
takes the snapshot path. One server for the file; nothing is timed.
"""
import os
import re
import sqlite3
import threading
import urllib.request

import pytest

from rampart_harness import Server
from test_bigsel import Conn, flag_words, parse_fetch

N = 600
MSG = b"From: a@example.org\r\nSubject: snap\r\n\r\nsnap\r\n"


@pytest.fixture(scope="module")
def srv():
    s = Server(extra_config="[store]\nsnapshot_min_messages = 1\n")
    try:
        yield s
    finally:
        s.close()


def db_of(srv):
    return sqlite3.connect(os.path.join(srv.dir, "mail/local/%s/index.sqlite" % srv.user),
                           timeout=30)


def fill(srv, name, n=N, salt=0):
    """Mailbox `name` (created): n rows with UID gaps, flags, keywords,
    spread modseqs, inserted into the index directly (sharing one real
    message's blob)."""
    c = Conn(srv, srv.user)
    c.ok("CREATE %s" % name)
    c.ok(b"APPEND INBOX {%d+}\r\n%s" % (len(MSG), MSG))
    c.close()
    db = db_of(srv)
    (mb,) = db.execute("SELECT id FROM mailboxes WHERE name=?", (name,)).fetchone()
    tmpl = db.execute("SELECT internaldate,savedate,size,blob FROM messages WHERE uid=1 AND "
                      "mailbox_id=(SELECT id FROM mailboxes WHERE name='INBOX')").fetchone()
    rows, uid = [], 0
    for i in range(n):
        uid += 3 if i % 11 == 5 else 1
        kw = [None, "$Junk", "work urgent"][(i + salt) % 3]
        rows.append((mb, uid, 2 + (i * 37) % 400, ((i + salt) * 5) % 32 | (1 if i < 7 else 0),
                     kw) + tmpl)
    with db:
        db.executemany("INSERT INTO messages(mailbox_id,uid,modseq,flags,keywords,internaldate,"
                       "internaldate_tz,savedate,size,blob) VALUES(?,?,?,?,?,?,0,?,?,?)", rows)
        db.execute("UPDATE mailboxes SET uidnext=?, highestmodseq=? WHERE id=?",
                   (uid + 1, 2 + 400, mb))
    db.close()
    return name


@pytest.fixture(scope="module")
def box(srv):
    return fill(srv, "Snap")


def reference(srv, name):
    """The mailbox row and its messages (uid, flags, keywords, modseq) as
    the index holds them now."""
    db = db_of(srv)
    mb, uv, uidnext, hms = db.execute("SELECT id,uidvalidity,uidnext,highestmodseq FROM "
                                      "mailboxes WHERE name=?", (name,)).fetchone()
    msgs = db.execute("SELECT uid,flags,keywords,modseq FROM messages WHERE mailbox_id=? "
                      "ORDER BY uid", (mb,)).fetchall()
    db.close()
    return {"uidvalidity": uv, "uidnext": uidnext,
            "modseq": max([hms] + [m[3] for m in msgs]), "msgs": msgs}


def words(flags):
    return [w for w in flags[1:-1].split() if w != "\\Recent"]


def assert_listing(got, ref, uidonly=False):
    """FETCH (UID FLAGS MODSEQ) lines against the reference, in order."""
    assert len(got) == len(ref["msgs"]), (len(got), len(ref["msgs"]))
    for i, (num, items, _) in enumerate(got):
        uid, f, kw, m = ref["msgs"][i]
        assert num == (uid if uidonly else i + 1), (i, num, uid)
        if not uidonly:
            assert items["UID"] == str(uid), (i, items)
        assert words(items["FLAGS"]) == flag_words(f & 31, kw), (i, items, f, kw)
        if "MODSEQ" in items:
            assert items["MODSEQ"] == "(%d)" % m, (i, items, m)


def check_fresh(srv, name):
    """A new session's EXAMINE (CONDSTORE) and FETCH 1:* as the index says."""
    ref = reference(srv, name)
    c = Conn(srv, srv.user)
    text = c.ok("EXAMINE %s (CONDSTORE)" % name).decode()
    assert "* %d EXISTS\r\n" % len(ref["msgs"]) in text, text
    assert "* OK [UIDNEXT %d]" % ref["uidnext"] in text, text
    assert "* OK [UIDVALIDITY %d]" % ref["uidvalidity"] in text, text
    assert "* OK [HIGHESTMODSEQ %d]" % ref["modseq"] in text, text
    unseen = next((i + 1 for i, m in enumerate(ref["msgs"]) if not m[1] & 1), None)
    if unseen:
        assert "* OK [UNSEEN %d]" % unseen in text, text
    assert_listing(parse_fetch(c.ok("FETCH 1:* (UID FLAGS MODSEQ)")), ref)
    c.close()
    return ref


def check_kept(a, srv, name):
    """A session that kept the mailbox selected: after NOOP its view is
    the index's, and FETCH 1:* says so."""
    a.ok("NOOP")
    ref = reference(srv, name)
    assert_listing(parse_fetch(a.ok("FETCH 1:* (UID FLAGS MODSEQ)")), ref)


def snap_metric(srv, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.port_http, timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^rampart_store_snapshot_%s (\d+)$" % name, text, re.M)
    assert m, text
    return int(m.group(1))


def test_snapshot_never_used_stale(srv, box):
    check_fresh(srv, box)      # builds the snapshot
    hits = snap_metric(srv, "hits")
    check_fresh(srv, box)      # answered from it: EXAMINE and FETCH
    assert snap_metric(srv, "hits") == hits + 2
    assert snap_metric(srv, "bytes") > N * 13
    a = Conn(srv, srv.user)
    a.ok("SELECT %s" % box)
    b = Conn(srv, srv.user)
    b.ok("SELECT %s" % box)
    msgs = reference(srv, box)["msgs"]
    steps = [
        "UID STORE %d +FLAGS.SILENT (\\Flagged $Snap)" % msgs[10][0],
        "UID STORE %d -FLAGS.SILENT (\\Seen)" % msgs[2][0],
        "UID STORE %d +FLAGS.SILENT (\\Deleted)" % msgs[20][0],
        "UID EXPUNGE %d" % msgs[20][0],
        b"APPEND %s (\\Seen) {%d+}\r\n%s" % (box.encode(), len(MSG), MSG),
    ]
    for step in steps:
        b.ok(step)
        check_fresh(srv, box)
        check_kept(a, srv, box)
    # Another process writes the same store: `rampart deliver`.
    r = srv.deliver(srv.user, MSG, box)
    assert r.returncode == 0, r
    check_fresh(srv, box)
    check_kept(a, srv, box)
    a.close()
    b.close()


def test_qresync_after_changes(srv, box):
    """QRESYNC from the modseq a snapshot was read at: VANISHED (EARLIER)
    and the changed message, as RFC 7162 3.2.5.1 asks."""
    before = check_fresh(srv, box)
    b = Conn(srv, srv.user)
    b.ok("SELECT %s" % box)
    changed = next(m[0] for m in before["msgs"][30:] if not m[1] & 2)
    gone = before["msgs"][40][0]
    b.ok("UID STORE %d +FLAGS.SILENT (\\Answered)" % changed)
    b.ok("UID STORE %d +FLAGS.SILENT (\\Deleted)" % gone)
    b.ok("UID EXPUNGE %d" % gone)
    b.close()
    ref = reference(srv, box)
    c = Conn(srv, srv.user)
    c.ok("ENABLE QRESYNC")
    text = c.ok("EXAMINE %s (QRESYNC (%d %d))" % (box, before["uidvalidity"],
                                                    before["modseq"])).decode()
    assert "* VANISHED (EARLIER) %d\r\n" % gone in text, text
    assert "* %d EXISTS\r\n" % len(ref["msgs"]) in text, text
    fetched = re.findall(r"\* (\d+) FETCH \(UID (\d+) FLAGS \(([^)]*)\) MODSEQ \((\d+)\)\)", text)
    seq = next(i + 1 for i, m in enumerate(ref["msgs"]) if m[0] == changed)
    row = ref["msgs"][seq - 1]
    assert fetched == [(str(seq), str(changed), " ".join(flag_words(row[1], row[2])),
                        str(row[3]))], text
    c.close()


def test_uidonly_after_change(srv, box):
    check_fresh(srv, box)
    b = Conn(srv, srv.user)
    b.ok("SELECT %s" % box)
    b.ok("UID STORE %d +FLAGS.SILENT (Later)" % reference(srv, box)["msgs"][50][0])
    b.close()
    c = Conn(srv, srv.user)
    c.ok("ENABLE UIDONLY")
    c.ok("EXAMINE %s" % box)
    out = c.ok("UID FETCH 1:* (FLAGS MODSEQ)")
    assert_listing(parse_fetch(out), reference(srv, box), uidonly=True)
    c.close()


# ---- snapd: a stale snapshot brought up to date from what changed ----

def test_delta_rounds(srv, box):
    """Rounds of mixed changes between EXAMINEs, each answered by updating
    the snapshot (rows above its modseq, the expunge history): flags and
    new keywords (interned anew), expunges of the first, last and middle
    UIDs, APPENDs with keywords; compared with the index each time."""
    check_fresh(srv, box)
    a = Conn(srv, srv.user)
    a.ok("SELECT %s" % box)
    b = Conn(srv, srv.user)
    b.ok("SELECT %s" % box)
    for rnd in range(4):
        msgs = reference(srv, box)["msgs"]
        ends = [msgs[0][0], msgs[-1][0], msgs[len(msgs) // 2][0]]
        gone = ends if rnd == 3 else [ends[rnd]]
        ups = snap_metric(srv, "updates")
        b.ok("UID STORE %d,%d +FLAGS.SILENT (Kw%d \\Answered)" % (msgs[5][0], msgs[-3][0], rnd))
        b.ok("UID STORE %d -FLAGS.SILENT (\\Seen $Junk)" % msgs[7 + rnd][0])
        uids = ",".join(str(u) for u in gone)
        b.ok("UID STORE %s +FLAGS.SILENT (\\Deleted)" % uids)
        b.ok("UID EXPUNGE %s" % uids)
        b.ok(b"APPEND %s (New%d \\Flagged) {%d+}\r\n%s" % (box.encode(), rnd, len(MSG), MSG))
        ref = check_fresh(srv, box)
        assert snap_metric(srv, "updates") == ups + 1
        have = {m[0] for m in ref["msgs"]}
        assert not have & set(gone)
        check_kept(a, srv, box)
    a.close()
    b.close()


def test_delta_small_changes_keep_hits(srv, box):
    """A STORE that changes nothing keeps every modseq (RFC 7162 3.1.3):
    the snapshot stays current, the next EXAMINE and FETCH are hits."""
    check_fresh(srv, box)
    msgs = reference(srv, box)["msgs"]
    uid = next(m[0] for m in msgs if m[1] & 4)  # already \\Flagged
    b = Conn(srv, srv.user)
    b.ok("SELECT %s" % box)
    b.ok("UID STORE %d +FLAGS.SILENT (\\Flagged)" % uid)
    b.close()
    hits, ups = snap_metric(srv, "hits"), snap_metric(srv, "updates")
    check_fresh(srv, box)
    assert snap_metric(srv, "hits") == hits + 2
    assert snap_metric(srv, "updates") == ups


def test_delta_pruned_history_reads_all(srv, box):
    """History pruned past the snapshot's modseq (expunged.c: rows deleted,
    floor raised): an expunge may be missing from the history, so the
    listing is read whole; the expunged UID must not come back."""
    check_fresh(srv, box)
    gone = reference(srv, box)["msgs"][100][0]
    b = Conn(srv, srv.user)
    b.ok("SELECT %s" % box)
    b.ok("UID STORE %d +FLAGS.SILENT (\\Deleted)" % gone)
    b.ok("UID EXPUNGE %d" % gone)
    b.close()
    db = db_of(srv)
    with db:
        (mb,) = db.execute("SELECT id FROM mailboxes WHERE name=?", (box,)).fetchone()
        (top,) = db.execute("SELECT max(modseq) FROM expunged_ranges WHERE mailbox_id=?",
                            (mb,)).fetchone()
        db.execute("DELETE FROM expunged_ranges WHERE mailbox_id=? AND modseq<=?", (mb, top))
        db.execute("INSERT INTO expunged_floor(mailbox_id,modseq) VALUES(?,?) ON CONFLICT("
                   "mailbox_id) DO UPDATE SET modseq=max(modseq,excluded.modseq)", (mb, top))
    db.close()
    ups = snap_metric(srv, "updates")
    ref = check_fresh(srv, box)
    assert gone not in {m[0] for m in ref["msgs"]}
    assert snap_metric(srv, "updates") == ups


def test_concurrent_updates(srv, box):
    """Sessions EXAMINE while another changes the mailbox: snapshots are
    updated from one another's versions on several pool threads; once
    quiet, the one kept is the index's listing. Bounded: 3 readers x 15
    EXAMINEs, 15 rounds of changes."""
    check_fresh(srv, box)
    errors = []

    def reader():
        try:
            c = Conn(srv, srv.user)
            for _ in range(15):
                c.ok("EXAMINE %s" % box)
            c.close()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    w = Conn(srv, srv.user)
    w.ok("SELECT %s" % box)
    for i in range(15):
        msgs = reference(srv, box)["msgs"]
        w.ok("UID STORE %d +FLAGS.SILENT (Conc%d)" % (msgs[(i * 13) % len(msgs)][0], i % 4))
        if i % 5 == 4:
            w.ok("UID STORE %d +FLAGS.SILENT (\\Deleted)" % msgs[i][0])
            w.ok("UID EXPUNGE %d" % msgs[i][0])
    w.close()
    for t in threads:
        t.join(60)
    assert not errors, errors
    check_fresh(srv, box)


def test_recreated_mailbox(srv):
    """DELETE and CREATE of the same name: a new mailbox (new id and
    UIDVALIDITY) whose listing shares nothing with the old snapshot."""
    fill(srv, "Again", 300)
    check_fresh(srv, "Again")
    c = Conn(srv, srv.user)
    c.ok("DELETE Again")
    c.close()
    fill(srv, "Again", 250, salt=1)
    check_fresh(srv, "Again")


def test_uidvalidity_changed_reads_all(srv, box):
    """The same mailbox renumbered (as a repair may do, check.c): rows
    changed without a new modseq are valid under the new UIDVALIDITY, so
    the snapshot must not be updated from a delta but read again."""
    check_fresh(srv, box)
    db = db_of(srv)
    with db:
        (mb,) = db.execute("SELECT id FROM mailboxes WHERE name=?", (box,)).fetchone()
        db.execute("UPDATE mailboxes SET uidvalidity=uidvalidity+1000, "
                   "highestmodseq=highestmodseq+1 WHERE id=?", (mb,))
        # \Flagged toggled with no new modseq
        db.execute("UPDATE messages SET flags=(flags|4)-(flags&4) WHERE mailbox_id=? AND "
                   "uid%7=0", (mb,))
    db.close()
    ups = snap_metric(srv, "updates")
    check_fresh(srv, box)
    assert snap_metric(srv, "updates") == ups
