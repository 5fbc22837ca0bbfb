"""dlv (issue #14): APPENDs run on the work pool's disk threads ([store]
write_threads), many at once. Acknowledged still means durable: kill -9
the real server while 32 TLS clients of 4 users APPEND at once, restart
it, and every message that got APPEND OK is there exactly once, under the
UID its APPENDUID named, with its exact bytes; `rampart check` finds no
index row without its file. strace of the real server shows the order
of the syncs of one APPEND: the file's data, its rename, its directory,
the index, then the answer. Bounded: one kill, seconds."""
import hashlib
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

from rampart_harness import Server

CLIENTS = 32
USERS = ["alice"] + ["par%d" % i for i in range(1, 4)]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def srv():
    # Message files: this file is about their writes (fsync, rename,
    # directory fsync); test_inline.py and test_durability.py cover the
    # messages kept as index rows.
    s = Server(extra_config="[store]\nwrite_threads = 32\ninline_max_kb = 0\n")
    # The other users get alice's password hash (same password): no
    # argon2id per `rampart user add`, which is slow under ASan.
    users = os.path.join(s.dir, "users")
    line = [l for l in open(users) if l.startswith("alice:")][0]
    with open(users, "a") as f:
        for u in USERS[1:]:
            f.write(u + line[len("alice"):])
    yield s
    s.close()


def appender(c, user, idx, acked, stop, errors):
    n = 0
    while not stop.is_set() and n < 2000:
        msg = (b"From: t@example.org\r\nSubject: par %d-%d\r\n\r\n" % (idx, n) +
               b"client %d message %d %s\r\n" % (idx, n, b"y" * ((idx * 37 + n * 11) % 3000)))
        try:
            typ, data = c.append("INBOX", None, None, msg)
        except Exception:
            return
        if typ == "OK":
            m = re.search(rb"APPENDUID \d+ (\d+)", data[0])
            acked.append((user, int(m.group(1)) if m else 0, hashlib.sha256(msg).hexdigest()))
        else:
            errors.append(data)
        n += 1


def login_all(srv):
    # One login per user first: the others hit the authentication cache
    # instead of hashing 32 passwords on a loaded machine.
    conns = {}
    for u in USERS:
        conns[u] = [srv.imap_tls(user=u, password=PASSWORD)]
    out = [None] * CLIENTS
    errs = []

    def login(i):
        try:
            out[i] = srv.imap_tls(user=USERS[i % len(USERS)], password=PASSWORD)
        except Exception as e:
            errs.append(e)

    ts = [threading.Thread(target=login, args=(i,)) for i in range(len(USERS), CLIENTS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errs, errs
    for i in range(len(USERS)):
        out[i] = conns[USERS[i]][0]
    return out


def mailbox_bodies(c):
    """{uid: sha256} of INBOX."""
    typ, data = c.select("INBOX")
    assert typ == "OK"
    out = {}
    if int(data[0]) == 0:
        return out
    typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[])")
    assert typ == "OK"
    for item in data:
        if isinstance(item, tuple):
            m = re.search(rb"UID (\d+)", item[0])
            out[int(m.group(1))] = hashlib.sha256(item[1]).hexdigest()
    return out


def test_kill9_during_32_concurrent_appends_loses_nothing(srv):
    conns = login_all(srv)
    acked, errors = [], []
    stop = threading.Event()
    ts = [threading.Thread(target=appender,
                           args=(conns[i], USERS[i % len(USERS)], i, acked, stop, errors))
          for i in range(CLIENTS)]
    for t in ts:
        t.start()
    deadline = time.time() + 30
    while len(acked) < 3 * CLIENTS and time.time() < deadline:
        time.sleep(0.02)
    srv.kill9()
    stop.set()
    for t in ts:
        t.join(30)
    assert not errors, errors[:3]
    assert len(acked) >= 3 * CLIENTS, "too few appends to prove anything: %d" % len(acked)
    srv.start()
    for u in USERS:
        c = srv.imap_tls(user=u, password=PASSWORD)
        have = mailbox_bodies(c)
        c.logout()
        mine = [(uid, h) for (user, uid, h) in acked if user == u]
        assert mine, "user %s acknowledged nothing" % u
        for uid, h in mine:
            assert have.get(uid) == h, "acknowledged message %s UID %d lost or changed" % (u, uid)
        hashes = list(have.values())
        for uid, h in mine:
            assert hashes.count(h) == 1, "message stored twice"
    # No row without its file, every file's bytes matching its name (the
    # files of APPENDs killed before their commit are younger than the
    # grace: not reported).
    r = srv.rampart("check", "-c", srv.conf_path, *USERS, check=False)
    out = r.stdout.decode() + r.stderr.decode()
    assert r.returncode == 0, out
    assert "problem=" not in out, out


@pytest.mark.skipif(not shutil.which("strace"), reason="needs strace")
def test_strace_sync_order_of_one_append(srv):
    """The syscalls of one APPEND of a new message, in the order the
    kernel saw them: the file's data fsync'd before its rename, the rename
    before its directory's fsync, that before the WAL's sync (the commit),
    that before the tagged OK reaches the client."""
    if srv.proc is None:
        srv.start()
    c = srv.imap_tls()
    log = os.path.join(srv.dir, "strace-append.txt")
    st = subprocess.Popen(["strace", "-f", "-qq", "-ttt", "-e",
                           "trace=fsync,fdatasync,rename,renameat,renameat2",
                           "-e", "signal=none", "-o", log, "-p", str(srv.proc.pid)])
    try:
        time.sleep(1.0)  # strace attaches to every thread
        msg = b"Subject: strace order\r\n\r\n" + os.urandom(16).hex().encode() + b"\r\n"
        typ, data = c.append("INBOX", None, None, msg)
        answered = time.time()
        assert typ == "OK"
        time.sleep(0.3)
    finally:
        st.terminate()
        st.wait(10)
    c.logout()
    lines = open(log, errors="replace").read().splitlines()
    # The syscalls of the pool thread that ran the APPEND: the one that
    # renamed a file into blobs/.
    ren = [l for l in lines if re.search(r"rename(at2?)?\(.*/blobs/", l)]
    assert len(ren) == 1, "\n".join(lines[-40:])
    tid = ren[0].split()[0]
    mine = [l for l in lines if l.split()[0] == tid]
    idx = {}
    for i, l in enumerate(mine):
        if re.search(r"rename(at2?)?\(.*/blobs/", l):
            idx.setdefault("rename", i)
        elif re.search(r"\bfsync\(", l) and "rename" not in idx:
            idx["data"] = i               # the temp file, before its rename
        elif re.search(r"\bfsync\(", l) and "rename" in idx:
            idx.setdefault("dir", i)      # after the rename: the directory
        elif re.search(r"\bfdatasync\(", l) and "dir" in idx:
            idx.setdefault("wal", i)      # SQLite's WAL sync (the commit)
    for k in ("data", "rename", "dir", "wal"):
        assert k in idx, (k, "\n".join(mine))
    assert idx["data"] < idx["rename"] < idx["dir"] < idx["wal"]
    # The answer is sent by an event loop once run() returned, that is
    # after the commit's sync: the client cannot have it before.
    assert float(mine[idx["wal"]].split()[1]) <= answered


def strace_syncs(srv, action):
    """The fsync/fdatasync lines of every thread of the server while
    action() runs, of files of the mail store (not the policy's state)."""
    log = os.path.join(srv.dir, "strace-syncs.txt")
    st = subprocess.Popen(["strace", "-f", "-qq", "-y", "-e", "trace=fsync,fdatasync", "-e",
                           "signal=none", "-o", log, "-p", str(srv.proc.pid)])
    try:
        time.sleep(1.0)
        action()
        time.sleep(0.3)
    finally:
        st.terminate()
        st.wait(10)
    return [l for l in open(log, errors="replace").read().splitlines()
            if re.search(r"\b(fsync|fdatasync)\(\d+<[^>]*/mail/", l)]


@pytest.mark.skipif(not shutil.which("strace"), reason="needs strace")
def test_same_message_again_skips_the_directory_fsync(srv):
    """store/blob_durable.c: the second APPEND of the same bytes finds the
    file whose directory this process fsync'd after seeing this inode
    under its name: only the commit's sync remains."""
    if srv.proc is None:
        srv.start()
    c = srv.imap_tls()
    msg = b"Subject: twice\r\n\r\n" + os.urandom(16).hex().encode() + b"\r\n"
    assert c.append("INBOX", None, None, msg)[0] == "OK"
    syncs = strace_syncs(srv, lambda: c.append("INBOX", None, None, msg))
    c.logout()
    assert [l for l in syncs if re.search(r"\bfdatasync\(", l)], syncs
    assert not [l for l in syncs if re.search(r"\bfsync\(", l)], syncs
