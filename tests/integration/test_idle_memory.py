"""Memory of a server whose clients sit in IDLE (issue #14, idle task).

The store keeps up to 256 unused SQLite handles (~110 KiB each with the
-shm mapping) after the commands that used them; with every client in
IDLE nothing uses them, and app/memtrim.c closes those nobody took for ten
seconds. Real server, real TLS clients (python ssl): the server's open
index.sqlite descriptors are counted in /proc, then an IDLE client is woken
by a delivery and goes on working, which must open its store again.

Nothing here is timed: the waits are bounded polls for a state."""
import os
import time

import pytest

from rampart_harness import Server, cmd_ok as cmd, read_tagged, read_until

PASSWORD = "idle memory 14"
USERS = ["mem%d" % i for i in range(1, 4)]


@pytest.fixture(scope="module")
def srv():
    s = Server(user=USERS[0], password=PASSWORD)
    for u in USERS[1:]:
        s.add_user(u, PASSWORD)
    yield s
    s.close()


def store_fds(pid):
    """The server's open descriptors on users' index.sqlite files."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).endswith("/index.sqlite"):
                n += 1
        except OSError:
            continue
    return n


def message(n):
    return ("From: a@example.org\r\nTo: mem1@example.org\r\nSubject: wake %d\r\n\r\n"
            "body %d\r\n" % (n, n)).encode()


def test_idle_server_closes_unused_store_handles_and_wakes(srv):
    socks = []
    try:
        for u in USERS:
            s = srv.raw()
            read_until(s, b"\r\n")
            cmd(s, b"a", b'LOGIN %s "%s"' % (u.encode(), PASSWORD.encode()))
            socks.append(s)
            out = cmd(s, b"s", b"SELECT INBOX")
            assert b" EXISTS" in out, out
            s.sendall(b"i IDLE\r\n")
            read_until(s, b"+ ")
        pid = srv.proc.pid
        # The SELECTs left handles in the pool (IDLE itself holds none).
        assert store_fds(pid) >= 1
        # Bounded poll: handles unused for 10 s go within a 2 s tick.
        deadline = time.time() + 60
        while store_fds(pid) and time.time() < deadline:
            time.sleep(0.5)
        assert store_fds(pid) == 0, "unused store handles still open"
        assert "event=memtrim handles_closed=" in srv.log()
        # A wake after the handles are gone: the session opens its store
        # again, reports the new message and keeps working.
        r = srv.deliver(USERS[0], message(1))
        assert r.returncode == 0, r.stderr
        read_until(socks[0], b"* 1 EXISTS", timeout=30)
        socks[0].sendall(b"DONE\r\n")
        read_tagged(socks[0], b"i")
        out = cmd(socks[0], b"f", b"FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert b"Subject: wake 1" in out, out
        for s in socks[1:]:
            s.sendall(b"DONE\r\n")
            read_tagged(s, b"i")
            cmd(s, b"n", b"NOOP")
    finally:
        for s in socks:
            s.close()


def built_with_jemalloc():
    """CMakeLists.txt links the server with jemalloc unless RAMPART_JEMALLOC
    is off or the build is the sanitizers' (their own allocator)."""
    cache = os.path.join(os.environ.get("RAMPART_BUILD", ""), "CMakeCache.txt")
    if not os.path.exists(cache):
        return False
    opts = {}
    for line in open(cache, errors="replace"):
        if line.startswith(("RAMPART_JEMALLOC:", "RAMPART_SANITIZE:")):
            k, v = line.strip().split("=", 1)
            opts[k.split(":")[0]] = v.upper() in ("ON", "1", "TRUE", "YES")
    return opts.get("RAMPART_JEMALLOC", True) and not opts.get("RAMPART_SANITIZE", False)


def test_jemalloc_purges_freed_memory_when_quiet(srv):
    """The server runs on jemalloc (issue #14: less memory per idle
    connection, no slow-down as glibc's heap fragments), and a quiet tick
    of app/memtrim.c hands the pages that 150 closed TLS sessions freed
    back to the kernel (jemalloc itself would only decay them while the
    server allocates)."""
    if not built_with_jemalloc():
        pytest.skip("this build uses another allocator (RAMPART_JEMALLOC off, or sanitizers)")
    pid = srv.proc.pid
    maps = open("/proc/%d/maps" % pid).read()
    assert "libjemalloc" in maps, "the server is not running on jemalloc"
    before = srv.log().count("trimmed=1")
    conns = []
    try:
        for i in range(150):
            conns.append(srv.imap_tls(USERS[i % len(USERS)], PASSWORD))
        for c in conns:
            c.select("INBOX")
    finally:
        for c in conns:
            try:
                c.logout()
            except Exception:
                pass
    # Bounded poll: a tick every 2 s purges once the process is quiet.
    deadline = time.time() + 60
    while srv.log().count("trimmed=1") <= before and time.time() < deadline:
        time.sleep(0.5)
    assert srv.log().count("trimmed=1") > before, srv.log()[-3000:]
