"""Acknowledged means durable: kill -9 the server while clients APPEND
concurrently, restart it, and every message that got APPEND OK must be
there exactly once with intact bytes. Bounded: a few rounds, seconds each."""
import hashlib
import threading
import time

ROUNDS = 4
CLIENTS = 4


def appender(server, idx, rnd, acked, stop):
    try:
        c = server.imap_tls()
    except Exception:
        return
    n = 0
    while not stop.is_set() and n < 500:
        body = ("client %d message %d %s\r\n" % (idx, n, "x" * (idx * 100 + n))).encode()
        msg = b"From: t@example.org\r\nSubject: r%d k%d-%d\r\n\r\n" % (rnd, idx, n) + body
        try:
            typ, data = c.append("INBOX", None, None, msg)
        except Exception:
            return
        if typ == "OK":
            acked.append(hashlib.sha256(msg).hexdigest())
        n += 1


def test_kill9_during_concurrent_appends_loses_nothing(server):
    acked = []
    for rnd in range(ROUNDS):
        stop = threading.Event()
        threads = [threading.Thread(target=appender, args=(server, i, rnd, acked, stop))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        # Kill once this round has acknowledged some messages (bounded
        # wait: logins are slow on a loaded machine), at a varying moment.
        before = len(acked)
        deadline = time.time() + 15
        while len(acked) < before + 8 and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.05 * rnd)
        server.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        server.start()
    assert len(acked) > 20, "too few appends to prove anything"
    c = server.imap_tls()
    typ, data = c.select("INBOX")
    count = int(data[0])
    seen = {}
    if count:
        typ, data = c.fetch("1:*", "(BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple):
                h = hashlib.sha256(item[1]).hexdigest()
                seen[h] = seen.get(h, 0) + 1
    for h in acked:
        assert seen.get(h, 0) == 1, "acknowledged message lost or duplicated"
    c.logout()


# ---- durable (issue #14): flag changes and expunges (docs/durability.md) ----
# With [store] metadata_sync_delay_ms > 0 they are answered once in the
# WAL (no fsync of their own) and a background sync makes them durable
# within the delay; with 0 each is fsync'd before its answer. A kill -9
# loses neither. strace (real syscalls of the real server) shows which.

import os
import re
import shutil
import signal
import subprocess
import urllib.request

import pytest

from rampart_harness import Server

STORE = "[store]\nmetadata_sync_delay_ms = %d\n"


def server_with(delay, extra=""):
    return Server(extra_config=STORE % delay + extra)


@pytest.fixture(scope="module")
def srv_default():
    s = Server()  # the default delay (100 ms)
    yield s
    s.close()


@pytest.fixture(scope="module")
def srv_nodelay():
    s = server_with(0)
    yield s
    s.close()


def seed(c, n):
    for i in range(n):
        msg = b"From: t@example.org\r\nSubject: meta %d\r\n\r\nbody %d\r\n" % (i, i)
        assert c.append("INBOX", None, None, msg)[0] == "OK"


def uid_flags(c):
    """{uid: set of flags} of the selected mailbox."""
    typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
    assert typ == "OK"
    out = {}
    for item in data:
        if not item:
            continue
        m = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", item)
        if m:
            out[int(m.group(1))] = set(m.group(2).decode().split())
    return out


def change_then_kill(server):
    """STORE and EXPUNGE answered OK, then kill -9 at once: after a restart
    the flags are there and the expunged messages stay gone."""
    c = server.imap_tls()
    c.select("INBOX")
    before = uid_flags(c)
    seed(c, 4)
    c.select("INBOX")
    uids = sorted(set(uid_flags(c)) - set(before))
    assert len(uids) == 4
    keep, gone = uids[:2], uids[2:]
    for u in keep:
        assert c.uid("STORE", str(u), "+FLAGS", r"(\Flagged $Durable)")[0] == "OK"
    assert c.uid("STORE", "%d:%d" % (gone[0], gone[-1]), "+FLAGS", r"(\Deleted)")[0] == "OK"
    assert c.expunge()[0] == "OK"
    server.kill9()
    server.start()
    c = server.imap_tls()
    c.select("INBOX")
    after = uid_flags(c)
    c.logout()
    for u in keep:
        assert {"\\Flagged", "$Durable"} <= after.get(u, set()), "flag change lost"
    for u in gone:
        assert u not in after, "expunge undone"
    # Every message left has its bytes (invariant 12): the files of the
    # expunged ones go only after the sync, never before the commit.
    c = server.imap_tls()
    c.select("INBOX")
    typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[])")
    c.logout()
    assert typ == "OK"
    assert sum(1 for item in data if isinstance(item, tuple)) == len(after)


def test_kill9_keeps_flag_changes_and_expunges_default_delay(srv_default):
    change_then_kill(srv_default)


def test_kill9_keeps_flag_changes_and_expunges_no_delay(srv_nodelay):
    change_then_kill(srv_nodelay)


def scrape_fsyncs(server, kind):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % server.port_http,
                                timeout=10) as r:
        text = r.read().decode()
    m = re.search(r'^rampart_store_fsyncs_total\{kind="%s"\} (\d+)$' % kind, text, re.M)
    return int(m.group(1)) if m else 0


def test_syncer_syncs_flag_changes_on_its_own(srv_default):
    """After a STORE, with no other command, the syncer's sync comes
    (bounded wait) and is counted; without the syncer there is none."""
    c = srv_default.imap_tls()
    c.select("INBOX")
    seed(c, 1)
    c.select("INBOX")
    uid = max(uid_flags(c))
    before = scrape_fsyncs(srv_default, "metadata")
    assert c.uid("STORE", str(uid), "+FLAGS", r"(\Answered)")[0] == "OK"
    deadline = time.time() + 15
    while scrape_fsyncs(srv_default, "metadata") == before and time.time() < deadline:
        time.sleep(0.05)
    assert scrape_fsyncs(srv_default, "metadata") > before, "no background sync"
    c.logout()


def blob_path(server, uid, mailbox="INBOX"):
    """The file of message uid (the user's index read directly)."""
    import sqlite3
    d = os.path.join(server.dir, "mail", "local", server.user)
    con = sqlite3.connect(os.path.join(d, "index.sqlite"), timeout=30)
    try:
        (b,) = con.execute("SELECT m.blob FROM messages m JOIN mailboxes x ON "
                           "x.id=m.mailbox_id WHERE x.name=? AND m.uid=?",
                           (mailbox, uid)).fetchone()
    finally:
        con.close()
    return os.path.join(d, "blobs", b[:2], b[2:])


def traced_server(extra_config):
    """A Server that strace will attach to. LeakSanitizer cannot stop the
    threads of a traced process at exit: off for this server only (ASan
    builds). Also used by test_inline.py."""
    saved = os.environ.get("ASAN_OPTIONS")
    os.environ["ASAN_OPTIONS"] = (saved + ":" if saved else "") + "detect_leaks=0"
    try:
        return Server(extra_config=extra_config)
    finally:
        if saved is None:
            del os.environ["ASAN_OPTIONS"]
        else:
            os.environ["ASAN_OPTIONS"] = saved


def strace_attach(pid, out, trace="fsync,fdatasync"):
    """strace -f on every thread of pid, timestamps and paths; returns once
    attached (bounded wait). Also used by test_session_syscalls.py."""
    p = subprocess.Popen(["strace", "-f", "-qq", "-ttt", "-y", "-e", "trace=" + trace,
                          "-p", str(pid), "-o", out], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        tids = os.listdir("/proc/%d/task" % pid)
        traced = 0
        for t in tids:
            try:
                with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                    traced += "TracerPid:\t0\n" not in f.read()
            except OSError:
                pass
        if tids and traced == len(tids):
            return p
        time.sleep(0.02)
    p.kill()
    raise AssertionError("strace did not attach")


def wal_sync_times(path):
    """Times of the syncs of a user's index.sqlite-wal in an strace -ttt -y log."""
    times = []
    with open(path) as f:
        for line in f:
            m = re.match(r"(?:\d+ +)?(\d+\.\d+) f(?:data)?sync\(\d+<[^>]*index\.sqlite-wal>", line)
            if m:
                times.append(float(m.group(1)))
    return times


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_metadata_commits_wait_for_the_syncer_not_for_fsync():
    """With a long delay, STOREs and an EXPUNGE that frees the message's
    file sync nothing before their answer, and the file stays until the
    sync; the clean shutdown syncs them and removes the file; they survived
    it. Fails when a metadata commit fsyncs its WAL itself
    (synchronous=FULL, or the sync before an EXPUNGE's answer that freed
    files until issue #14's third session), or when the file goes before
    the sync that made its expunge durable."""
    # Message files (test_inline.py has the same for index rows).
    server = traced_server(STORE % 60000 + "inline_max_kb = 0\n")
    try:
        c = server.imap_tls()
        seed(c, 3)
        c.select("INBOX")
        uids = sorted(uid_flags(c))
        blob = blob_path(server, uids[2])
        assert os.path.exists(blob)
        out = os.path.join(server.dir, "strace.log")
        st = strace_attach(server.proc.pid, out)
        try:
            for u in uids[:2]:
                assert c.uid("STORE", str(u), "+FLAGS", r"(\Seen $Later)")[0] == "OK"
            assert c.uid("STORE", str(uids[2]), "+FLAGS", r"(\Deleted)")[0] == "OK"
            assert c.expunge()[0] == "OK"
            # Answered, not yet durable: the file waits for the sync.
            assert os.path.exists(blob), "file unlinked before its expunge was synced"
            c.logout()
            stopping = time.time()
            server.stop()
        finally:
            st.wait(20)
        syncs = wal_sync_times(out)
        assert [t for t in syncs if t < stopping] == [], "a metadata commit synced its WAL"
        assert [t for t in syncs if t >= stopping], "the shutdown did not sync the WAL"
        assert not os.path.exists(blob), "the shutdown's sync left the expunged file"
        server.start()
        c = server.imap_tls()
        c.select("INBOX")
        after = uid_flags(c)
        c.logout()
        for u in uids[:2]:
            assert {"\\Seen", "$Later"} <= after[u]
        assert uids[2] not in after
    finally:
        server.close()
