"""The search index (issue #12): header fields decoded at delivery and an
FTS5 trigram index of the text, per blob, so SEARCH answers header and
BODY/TEXT keys without reading message files, with RFC 9051 substring
semantics kept exactly; messages stored before the index existed are
indexed in the background while SEARCH stays correct. Also the two SEARCH
fixes: FROM matches an address written with RFC 5322 comments, and SENT*
of a message without Date: compare its internal date.

Proof that no file is read: the tests remove the message files and SEARCH
still answers from the index (a read would match nothing and log
search_blob_missing)."""
import os
import re
import shutil
import smtplib
import sqlite3
import time
import urllib.request

import pytest

from rampart_harness import Raw, Server, free_port


def msg(subject, body=b"hello\r\n", frm=b"alice@example.org", date=True):
    return (b"From: " + frm + b"\r\nTo: bob@example.org\r\nSubject: " + subject + b"\r\n" +
            (b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n" if date else b"") +
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body)


@pytest.fixture(scope="module")
def srv():
    port = free_port()
    # lazyidx: new mail indexed a second after it arrives (30 s by
    # default), so that these tests see the indexer's work quickly.
    s = Server(extra_config="[listener lmtp]\naddress = 127.0.0.1:%d\nprotocol = lmtp\n"
               "[store]\nindex_delay_ms = 1000\n" % port)
    s.lmtp_port = port
    yield s
    s.close()


def user_dir(server):
    return os.path.join(server.dir, "mail", "local", server.user)


def db_query(server, sql):
    con = sqlite3.connect(os.path.join(user_dir(server), "index.sqlite"), timeout=30)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def db_exec(server, sql):
    con = sqlite3.connect(os.path.join(user_dir(server), "index.sqlite"), timeout=30)
    try:
        con.executescript(sql)
        con.commit()
    finally:
        con.close()


class FilesAway:
    """Moves every message's bytes away for the duration of a with-block:
    the files, and the rows of small messages in the index (inline)."""

    def __init__(self, server):
        self.server = server
        self.blobs = os.path.join(user_dir(server), "blobs")
        self.saved = self.blobs + ".away"

    def __enter__(self):
        shutil.copytree(self.blobs, self.saved)
        for root, _, files in os.walk(self.blobs):
            for f in files:
                os.unlink(os.path.join(root, f))
        db_exec(self.server, "CREATE TABLE inline_away AS SELECT * FROM blob_inline;"
                             "DELETE FROM blob_inline;")
        return self

    def __exit__(self, *exc):
        db_exec(self.server, "INSERT OR IGNORE INTO blob_inline SELECT * FROM inline_away;"
                             "DROP TABLE inline_away;")
        for root, _, files in os.walk(self.saved):
            for f in files:
                src = os.path.join(root, f)
                dst = os.path.join(self.blobs, os.path.relpath(src, self.saved))
                shutil.copy2(src, dst)
                st = os.stat(os.path.dirname(dst))
                if os.geteuid() == 0:
                    os.chown(dst, st.st_uid, st.st_gid)
        shutil.rmtree(self.saved)


def wait_indexed(server, timeout=30):
    """The background indexer has an entry for every message (APPEND
    leaves it to the indexer, a moment later: newmsg, issue #14)."""
    deadline = time.time() + timeout
    for _ in range(3000):
        left = db_query(server, "SELECT count(*) FROM messages WHERE doc_id IS NULL")[0][0]
        if left == 0 or time.time() > deadline:
            break
        time.sleep(0.02)
    assert left == 0


_box = [0]


def fresh_box(server, msgs, dates=None):
    _box[0] += 1
    name = "X%d" % _box[0]
    c = server.imap_tls()
    assert c.create(name)[0] == "OK"
    for i, m in enumerate(msgs):
        d = dates[i] if dates else None
        assert c.append(name, None, d, m)[0] == "OK"
    c.logout()
    wait_indexed(server)
    return name


def search(r, crit):
    data = r.ok(b"UID SEARCH " + crit)
    line = [l for l in data.split(b"\r\n") if l.startswith(b"* SEARCH")][0]
    return [int(x) for x in line.split()[2:]]


ENCODED = [
    msg(b"=?UTF-8?B?w4lsw6h2ZQ==?= report"),                       # 1: "Élève report"
    msg(b"=?UTF-8?Q?Inv?= =?UTF-8?Q?oice?= 42"),                   # 2: "Invoice 42"
    msg(b"plain invoice", frm=b"<user-from (comment)@ (comment) domain.org>"),  # 3
    msg(b"=?ISO-8859-1?Q?caf=E9?= menu", frm=b"=?ISO-8859-1?Q?Andr=E9?= <andre@x.example>"),
    msg(b"nothing", body=b"We will meet in Zanzibar next week.\r\n"),   # 5
    msg(b"nothing", body=b"zanzib and then ibar, zan zibar\r\n"),       # 6: all trigrams, no substring
]


def check_encoded(r):
    assert search(r, b"SUBJECT invoice") == [2, 3]
    assert search(r, b"SUBJECT INVOICE") == [2, 3]
    assert search(r, b'CHARSET UTF-8 SUBJECT "\xc3\xa9l\xc3\xa8ve"') == [1]   # élève, folded
    assert search(r, b'CHARSET UTF-8 SUBJECT "CAF\xc3\x89"') == [4]           # CAFÉ
    assert search(r, b"SUBJECT \"inv oice\"") == []
    assert search(r, b"FROM user-from@domain.org") == [3]
    assert search(r, b"FROM \"(comment)\"") == [3]
    assert search(r, b'CHARSET UTF-8 FROM "andr\xc3\xa9 <andre@x"') == [4]
    assert search(r, b"BODY zanzibar") == [5]
    assert search(r, b"TEXT zanzibar") == [5]
    assert search(r, b"NOT BODY zanzibar") == [1, 2, 3, 4, 6]
    assert search(r, b"BODY \"zan zibar\"") == [6]
    assert search(r, b"BODY an") == [5, 6]          # shorter than a trigram
    assert search(r, b"TEXT \"subject: caf\"") == [4]
    assert search(r, b"OR SUBJECT menu BODY zanzibar") == [4, 5]
    assert search(r, b"SENTON 7-Feb-1994 SUBJECT report") == [1]


def test_header_and_body_from_the_index(srv):
    box = fresh_box(srv, ENCODED)
    r = Raw(srv, box)
    check_encoded(r)
    with FilesAway(srv):
        check_encoded(r)
    r.close()
    assert "search_blob_missing" not in srv.log()
    # No SEARCH had to start the indexer (the APPENDs' quiet kicks log at debug).
    assert "info: event=search_index_start" not in srv.log()


def test_copy_shares_the_entry(srv):
    box = fresh_box(srv, ENCODED[:3])
    before = db_query(srv, "SELECT count(*) FROM search_doc")[0][0]
    r = Raw(srv, box)
    r.ok(b"CREATE %s.copy" % box.encode())
    r.ok(b"UID COPY 1:* %s.copy" % box.encode())
    r.close()
    assert db_query(srv, "SELECT count(*) FROM search_doc")[0][0] == before
    r = Raw(srv, box + ".copy")
    with FilesAway(srv):
        assert search(r, b"SUBJECT invoice") == [2, 3]
        assert search(r, b"FROM user-from@domain.org") == [3]
    r.close()


def test_expunge_leaves_entries_to_the_indexer(srv):
    """search_gc (issue #14): EXPUNGE does not remove the entries of the
    messages it deletes (an FTS5 delete inside every expunge cost more than
    the expunge); they are unreachable at once and the indexer, which the
    EXPUNGE kicks, removes them about a second later in a batch."""
    box = fresh_box(srv, [msg(b"wallaby %d" % i, body=b"marsupial gcx%d\r\n" % i)
                          for i in range(3)])
    docs = db_query(srv, "SELECT count(*) FROM search_doc")[0][0]
    r = Raw(srv, box)
    r.ok(b"UID STORE 1:2 +FLAGS.SILENT (\\Deleted)")
    t0 = time.time()
    r.ok(b"EXPUNGE")
    assert search(r, b"BODY gcx0") == []
    assert search(r, b"SUBJECT wallaby") == [3]
    with FilesAway(srv):
        assert search(r, b"BODY marsupial") == [3]
    queued = db_query(srv, "SELECT count(*) FROM search_gc")[0][0]
    for _ in range(400):
        left = db_query(srv, "SELECT count(*) FROM search_gc")[0][0]
        if left == 0 or time.time() - t0 > 20:
            break
        time.sleep(0.05)
    assert left == 0
    assert db_query(srv, "SELECT count(*) FROM search_doc")[0][0] == docs - 2
    # Queued first unless the indexer was quicker than this test's read.
    print("queued after EXPUNGE: %d, removed after %.2f s" % (queued, time.time() - t0))
    assert search(r, b"BODY marsupial") == [3]
    r.close()


def inbox_finds_one_from_index(srv, subject_key, body_key):
    """With the message files away, both keys find the same one message
    of INBOX: its entry is in the index."""
    r = Raw(srv, "INBOX")
    with FilesAway(srv):
        uids = search(r, subject_key)
        assert len(uids) == 1
        assert search(r, body_key) == uids
    r.close()


def test_deliver_indexes(srv):
    p = srv.deliver(srv.user, msg(b"=?UTF-8?Q?deliver=C3=A9d?= parcel",
                                  body=b"tracking number QX-77\r\n"))
    assert p.returncode == 0, p.stderr
    inbox_finds_one_from_index(srv, b'CHARSET UTF-8 SUBJECT "DELIVER\xc3\x89D"', b"BODY qx-77")
    assert "search_blob_missing" not in srv.log()


def test_sent_without_date_uses_internal_date(srv):
    box = fresh_box(srv, [msg(b"undated", date=False), msg(b"dated")],
                    dates=['"01-Jan-2020 10:00:00 +0000"', '"01-Jan-2020 10:00:00 +0000"'])
    r = Raw(srv, box)
    assert search(r, b"SENTON 1-Jan-2020") == [1]
    assert search(r, b"SENTON 7-Feb-1994") == [2]
    assert search(r, b"SENTBEFORE 1-Jan-2020") == [2]
    assert search(r, b"SENTSINCE 1-Jan-2020") == [1]
    # The same from the message (entries removed): identical answers.
    db_exec(srv, "DELETE FROM search_text; DELETE FROM search_doc;")
    assert search(r, b"SENTON 1-Jan-2020") == [1]
    assert search(r, b"SENTBEFORE 1-Jan-2020") == [2]
    r.close()


def test_background_indexing():
    """A mailbox filled before the index existed (entries deleted): SEARCH
    is right at once (from the files), kicks the indexer, stays right
    while it runs, and the index ends complete."""
    s = Server(extra_config="[store]\nindex_delay_ms = 1000\n")
    try:
        n = 300  # several indexer steps
        c = s.imap_tls()
        for i in range(n):
            subj = b"invoice %d" % i if i % 7 == 0 else b"note %d" % i
            body = b"see zanzibar\r\n" if i % 11 == 0 else b"plain text %d\r\n" % i
            frm = b"<user-from (c)@ (c) domain.org>" if i % 13 == 0 else b"alice@example.org"
            assert c.append("INBOX", None, None, msg(subj, body=body, frm=frm))[0] == "OK"
        c.logout()
        wait_indexed(s)
        # The APPENDs' indexer job ends (at debug; kicked during a pass, it
        # makes one more 1 s later): the one SEARCH starts must be a new
        # job, not that one going on over the deleted entries.
        s.wait_log(r"event=search_index_done user=alice ", timeout=30)
        mark = len(s.log())
        want_subj = [i + 1 for i in range(n) if i % 7 == 0]
        want_body = [i + 1 for i in range(n) if i % 11 == 0]
        want_from = [i + 1 for i in range(n) if i % 13 == 0]
        assert db_query(s, "SELECT count(*) FROM search_doc")[0][0] == n
        db_exec(s, "DELETE FROM search_text; DELETE FROM search_doc;")
        r = Raw(s, "INBOX")
        seen_partial = False
        deadline = time.time() + 120
        for _ in range(2000):
            assert search(r, b"SUBJECT invoice") == want_subj
            assert search(r, b"BODY zanzibar") == want_body
            assert search(r, b"FROM user-from@domain.org") == want_from
            done = db_query(s, "SELECT count(*) FROM search_doc")[0][0]
            seen_partial |= 0 < done < n
            if done == n or time.time() > deadline:
                break
        assert done == n
        s.wait_log(r"event=search_index_done user=alice indexed=%d\b" % n, timeout=30,
                   since=mark)
        # Complete now: no file is read any more.
        with FilesAway(s):
            assert search(r, b"SUBJECT invoice") == want_subj
            assert search(r, b"BODY zanzibar") == want_body
        r.close()
        print("searched while partly indexed: %s" % seen_partial)
    finally:
        s.close()


# Migration 25 (index_mark, issue #14) taken back: its triggers and column.
UNDO_INDEX_MARK = (" DROP TRIGGER messages_unindexed_new; DROP TRIGGER messages_unindexed_set;"
                   " DROP TRIGGER messages_indexed_new; DROP TRIGGER messages_indexed_set;"
                   " ALTER TABLE mailboxes DROP COLUMN indexed_below;")


def migration_server(msgs):
    """A server of its own whose INBOX holds msgs, all indexed, for a test
    that then turns its store back into an older one. The indexer runs
    after 200 ms, not the default 30 s: wait_indexed's own 30 s would
    otherwise race the delay (it lost, once, on a loaded CI)."""
    s = Server(extra_config="[store]\nindex_delay_ms = 200\n")
    try:
        c = s.imap_tls()
        for m in msgs:
            assert c.append("INBOX", None, None, m)[0] == "OK"
        c.logout()
        wait_indexed(s)
    except BaseException:
        s.close()
        raise
    return s


def test_doc_id_migration():
    """A store from before migration 10 (messages without doc_id): on the
    next start every message is linked to its existing entry, so header
    and body SEARCH are answered without a message file."""
    s = migration_server(
        msg(b"invoice %d" % i if i % 4 == 0 else b"note %d" % i,
            body=b"see zanzibar\r\n" if i % 5 == 0 else b"plain %d\r\n" % i)
        for i in range(40))
    try:
        s.stop()
        db_exec(s, "DROP TRIGGER search_doc_link; DROP TRIGGER search_doc_unlink;"
                   " DROP INDEX search_doc_partial;"
                   # migrations 20, 24 and 25 (search, flags_doc, index_mark; issue #14)
                   " DROP INDEX messages_flags; CREATE INDEX messages_flags ON"
                   " messages(mailbox_id, uid, flags, modseq, keywords);"
                   + UNDO_INDEX_MARK +
                   " ALTER TABLE messages DROP COLUMN doc_id;"
                   " DELETE FROM store_meta WHERE key IN ('migration.10', 'migration.20',"
                   " 'migration.21', 'migration.24', 'migration.25');"
                   " DELETE FROM search_text_config WHERE k='automerge';"  # migration 21
                   " PRAGMA user_version=1;")
        s.start()
        r = Raw(s, "INBOX")
        with FilesAway(s):
            assert search(r, b"SUBJECT invoice") == [i + 1 for i in range(40) if i % 4 == 0]
            assert search(r, b"BODY zanzibar") == [i + 1 for i in range(40) if i % 5 == 0]
        r.close()
        assert db_query(s, "SELECT count(*) FROM messages WHERE doc_id IS NULL") == [(0,)]
        assert db_query(s, "SELECT v FROM search_text_config WHERE k='automerge'") == [(8,)]
    finally:
        s.close()


def index_columns(server, name):
    return [r[2] for r in db_query(server, "PRAGMA index_info(%s)" % name)]


def test_flags_index_carries_doc_id():
    """Migration 24 (issue #14): the (uid, doc_id) walk of a header SEARCH
    reads messages_flags, which now ends with doc_id, and messages_doc is
    gone (one index page less written by every APPEND). A store from
    before the migration gets the new index at its next start, and header
    SEARCH is still answered from the index on it."""
    s = migration_server(msg(b"invoice %d" % i if i % 3 == 0 else b"note %d" % i)
                         for i in range(30))
    try:
        c = s.imap_tls()
        assert c.select("INBOX")[0] == "OK"
        assert c.store("2", "+FLAGS", "(\\Flagged $Later)")[0] == "OK"
        c.logout()
        assert index_columns(s, "messages_flags") == ["mailbox_id", "uid", "flags", "modseq",
                                                     "keywords", "doc_id"]
        assert db_query(s, "SELECT name FROM sqlite_master WHERE name='messages_doc'") == []
        s.stop()
        # Back to the indexes of migrations 17 and 20.
        db_exec(s, "DROP INDEX messages_flags;"
                   " CREATE INDEX messages_flags ON messages(mailbox_id, uid, flags, modseq,"
                   " keywords);"
                   " CREATE INDEX messages_doc ON messages(mailbox_id, uid, doc_id);"
                   " DELETE FROM store_meta WHERE key='migration.24';"
                   " PRAGMA user_version=23;")
        s.start()
        r = Raw(s, "INBOX")
        with FilesAway(s):
            assert search(r, b"SUBJECT invoice") == [i + 1 for i in range(30) if i % 3 == 0]
            assert search(r, b"FROM alice SUBJECT note KEYWORD $Later") == [2]
        r.close()
        assert index_columns(s, "messages_flags")[-1] == "doc_id"
        assert db_query(s, "SELECT name FROM sqlite_master WHERE name='messages_doc'") == []
        chk = s.rampart("check", "-c", s.conf_path, s.user, check=False)
        assert chk.returncode == 0, chk.stdout + chk.stderr
    finally:
        s.close()


def inbox_mark(server):
    return db_query(server, "SELECT indexed_below, uidnext FROM mailboxes WHERE name='INBOX'")[0]


def drop_entry(server, row):
    """Removes the index entry (and its text) of the message row row names
    (a FROM clause), as a repair or a collected entry would: a message
    that refers to it is unindexed again."""
    db_exec(server, "DELETE FROM search_text WHERE rowid=(SELECT doc_id FROM %s);"
                    " DELETE FROM search_doc WHERE blob=(SELECT blob FROM %s);" % (row, row))


def test_index_mark():
    """Migration 25 (issue #14): "not indexed yet" is a mark per mailbox
    (every message below indexed_below has its entry) instead of the
    partial index messages_unindexed, one page less written by every
    APPEND. The indexer raises the mark; a message that loses its entry
    below it, or is inserted below it without one, lowers it (triggers);
    SEARCH reads such a message from its file and the indexer indexes it
    again. `rampart deliver`, which indexes inline, moves the mark past
    its message (no indexer runs for it). A store from before gets its
    mark at its next start."""
    want = [i + 1 for i in range(12) if i % 2 == 0]
    s = migration_server(msg(b"invoice %d" % i if i % 2 == 0 else b"note %d" % i)
                         for i in range(12))
    try:
        assert inbox_mark(s) == (13, 13)
        assert db_query(s, "SELECT name FROM sqlite_master WHERE name='messages_unindexed'") == []
        s.stop()
        for i in (12, 13):
            d = s.deliver(s.user, msg(b"note %d" % i))
            assert d.returncode == 0, d.stdout + d.stderr
        assert inbox_mark(s) == (15, 15)
        drop_entry(s, "messages WHERE uid=5")
        assert inbox_mark(s) == (5, 15)
        # An insert below the mark without an entry (as an import keeping
        # UIDs would): the row of uid 3 taken out, its entry removed while
        # no message refers to it (the mark stays), the row put back.
        db_exec(s, "CREATE TABLE t AS SELECT * FROM messages WHERE uid=3;"
                   " DELETE FROM messages WHERE uid=3;")
        drop_entry(s, "t")
        assert inbox_mark(s) == (5, 15)
        db_exec(s, "UPDATE t SET doc_id=NULL; INSERT INTO messages SELECT * FROM t; DROP TABLE t;")
        assert inbox_mark(s) == (3, 15)
        s.start()
        r = Raw(s, "INBOX")
        # 3 and 5 have no entry: found only if SEARCH reads their files.
        assert search(r, b"SUBJECT invoice") == want
        r.close()
        wait_indexed(s)
        assert inbox_mark(s) == (15, 15)
        s.stop()
        # Back to a store of migration 24, with uid 7 unindexed.
        db_exec(s, UNDO_INDEX_MARK +
                   " CREATE INDEX messages_unindexed ON messages(mailbox_id, uid)"
                   " WHERE doc_id IS NULL;"
                   " DELETE FROM store_meta WHERE key='migration.25';"
                   " PRAGMA user_version=24;")
        drop_entry(s, "messages WHERE uid=7")
        s.start()
        r = Raw(s, "INBOX")
        assert search(r, b"SUBJECT invoice") == want
        r.close()
        assert db_query(s, "SELECT name FROM sqlite_master WHERE name='messages_unindexed'") == []
        assert inbox_mark(s)[0] in (7, 15)  # 15 once the indexer caught up
        wait_indexed(s)
        assert inbox_mark(s) == (15, 15)
        r = Raw(s, "INBOX")
        with FilesAway(s):
            assert search(r, b"SUBJECT invoice") == want
        r.close()
        chk = s.rampart("check", "-c", s.conf_path, s.user, check=False)
        assert chk.returncode == 0, chk.stdout + chk.stderr
    finally:
        s.close()


def test_index_merges_segments_by_eight(srv):
    """Migration 21 (issue #14): a store's full-text index merges its
    segments once eight of a level exist, not FTS5's default four (about
    half the rewriting of each entry)."""
    fresh_box(srv, [msg(b"merge %d" % i) for i in range(3)])
    assert db_query(srv, "SELECT v FROM search_text_config WHERE k='automerge'") == [(8,)]


def test_search_right_after_append(srv):
    """newmsg (issue #14): APPEND leaves the search entry to the background
    indexer. A SEARCH sent right after the APPEND's OK, before the entry
    exists, finds the message from its file (the mailbox is big enough
    that the other messages come from the index), and the entry exists a
    moment later, made by the indexer without any SEARCH asking."""
    box = fresh_box(srv, [msg(b"filler %d" % i, body=b"filler body %d\r\n" % i)
                          for i in range(120)])
    c = srv.imap_tls()
    uids = []
    for i in range(3):
        typ, data = c.append(box, None, None,
                             msg(b"quokka-%d arrival" % i, body=b"wombat-%d inside\r\n" % i))
        assert typ == "OK"
    c.logout()
    # `rampart check` finds nothing wrong with messages not indexed yet.
    chk = srv.rampart("check", "-c", srv.conf_path, srv.user, check=False)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    r = Raw(srv, box)
    # No wait: the indexer waits a moment before it starts.
    assert search(r, b"SUBJECT quokka-1") == [122]
    assert search(r, b"BODY wombat-2") == [123]
    assert search(r, b"OR SUBJECT quokka-0 BODY wombat") == [121, 122, 123]
    assert search(r, b"SUBJECT filler BODY \"filler body 119\"") == [120]
    wait_indexed(srv)
    with FilesAway(srv):
        assert search(r, b"SUBJECT quokka-1") == [122]
        assert search(r, b"BODY wombat-2") == [123]
        assert search(r, b"OR SUBJECT quokka-0 BODY wombat") == [121, 122, 123]
    r.close()
    assert "search_blob_missing" not in srv.log()


def test_lmtp_delivery_indexed_without_search(srv):
    """newmsg: an LMTP delivery tells the indexer, which adds the entry
    without any SEARCH asking (no SEARCH runs before the wait)."""
    c = smtplib.LMTP("127.0.0.1", srv.lmtp_port, timeout=30)
    try:
        c.sendmail("s@example.net", [srv.user],
                   msg(b"lmtp platypus", body=b"echidna by lmtp\r\n"))
    finally:
        c.quit()
    wait_indexed(srv)
    inbox_finds_one_from_index(srv, b"SUBJECT platypus", b"BODY echidna")


def thread_nices(server):
    """The nice value of every thread of the server process (proc(5) stat
    field 19), by thread id."""
    out = {}
    task = "/proc/%d/task" % server.proc.pid
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, "stat")) as f:
                stat = f.read()
        except FileNotFoundError:
            continue  # a thread that just ended
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(tid)] = int(fields[16])  # field 19 of stat; 3 is fields[0]
    return out


def thread_names(server):
    """Each thread's name (comm), by thread id."""
    out = {}
    task = "/proc/%d/task" % server.proc.pid
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, "comm")) as f:
                out[int(tid)] = f.read().strip()
        except FileNotFoundError:
            continue
    return out


def test_background_threads_run_at_lower_priority():
    """issue #14: the search index of new mail runs on `[store]
    background_threads` threads at `background_nice`, so a busy server
    gives commands the CPU first; the index still completes."""
    s = Server(extra_config="[store]\nbackground_threads = 2\nbackground_nice = 7\n"
               "index_delay_ms = 1000\n")
    try:
        base = min(thread_nices(s).values())
        deadline = time.time() + 10
        for _ in range(500):
            nices = thread_nices(s)
            if sum(1 for n in nices.values() if n == base + 7) == 2 or time.time() > deadline:
                break
            time.sleep(0.02)
        assert sum(1 for n in nices.values() if n == base + 7) == 2, nices
        assert sum(1 for n in nices.values() if n == base) >= 4  # loops, pool, ...
        # The niced threads are the ones named so (top -H, ps -L show it).
        names = thread_names(s)
        assert sorted(names[t] for t, n in nices.items() if n == base + 7) == \
            ["rampart-bg", "rampart-bg"], names
        for name in ("rampart-net", "rampart-cpu", "rampart-disk", "rampart-sync"):
            assert name in names.values(), names
        r = Raw(s)
        m = msg(b"niced wombat")
        r.ok(b"APPEND INBOX {%d+}\r\n" % len(m) + m)
        r.close()
        wait_indexed(s)
    finally:
        s.close()
    s = Server(extra_config="[store]\nbackground_threads = 0\n")
    try:
        nices = thread_nices(s)
        assert len(set(nices.values())) == 1, nices
    finally:
        s.close()


def unindexed(server):
    return db_query(server, "SELECT count(*) FROM messages WHERE doc_id IS NULL")[0][0]


def index_jobs(server):
    """rampart_search_index_jobs from /metrics."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % server.port_http,
                                timeout=10) as r:
        text = r.read().decode()
    return int(float(re.search(r"^rampart_search_index_jobs (\S+)$", text, re.M).group(1)))


def test_new_mail_waits_for_the_delay_or_a_search():
    """lazyidx (issue #14): by default new mail gets its entries 30 s
    after it arrives, so a message expunged sooner is never indexed; a
    SEARCH meanwhile is answered from the files and starts the indexer at
    once."""
    s = Server()
    try:
        c = s.imap_tls()
        for i in range(3):
            assert c.append("INBOX", None, None,
                            msg(b"lazy %d" % i, body=b"kookaburra %d\r\n" % i))[0] == "OK"
        c.logout()
        time.sleep(2.5)  # the 1 s of before, and a tick more
        assert unindexed(s) == 3
        assert index_jobs(s) == 1  # waiting
        r = Raw(s, "INBOX")
        t0 = time.time()
        assert search(r, b"BODY kookaburra") == [1, 2, 3]
        wait_indexed(s, timeout=10)
        took = time.time() - t0
        with FilesAway(s):
            assert search(r, b"BODY \"kookaburra 2\"") == [3]
        r.close()
        print("indexed %.2f s after the SEARCH" % took)
        assert took < 10
        for _ in range(100):  # the job ends after its pass
            if index_jobs(s) == 0:
                break
            time.sleep(0.1)
        assert index_jobs(s) == 0
    finally:
        s.close()


def test_a_batch_of_new_mail_starts_the_indexer():
    """lazyidx: `index_batch` stores of new mail start the indexer before
    the delay is over (so a busy mailbox's index stays close behind)."""
    s = Server(extra_config="[store]\nindex_batch = 5\n")
    try:
        c = s.imap_tls()
        for i in range(4):
            assert c.append("INBOX", None, None, msg(b"batch %d" % i))[0] == "OK"
        time.sleep(2.5)
        assert unindexed(s) == 4
        assert c.append("INBOX", None, None, msg(b"batch 4"))[0] == "OK"
        c.logout()
        wait_indexed(s, timeout=10)
    finally:
        s.close()
