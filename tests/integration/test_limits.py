"""Bounded resources: a client that never reads its responses is stopped
being read from (back-pressure) instead of growing server memory, the
per-address connection limit holds, and running out of file descriptors
pauses accepting instead of spinning."""
import os
import re
import signal
import socket
import time

from rampart_harness import Server, read_until


def test_client_that_does_not_read_gets_backpressure(shared_server):
    s = shared_server.raw(tls=False)
    read_until(s, b"\r\n")
    s.setblocking(False)
    cmd = b"a CAPABILITY\r\n" * 1000  # ~14 KB in, ~350 KB of responses out
    sent = 0
    deadline = time.time() + 20
    stalled_since = None
    while time.time() < deadline and sent < 200 * 1024 * 1024:
        try:
            sent += s.send(cmd)
            stalled_since = None
        except BlockingIOError:
            if stalled_since is None:
                stalled_since = time.time()
            elif time.time() - stalled_since > 1.5:
                break
            time.sleep(0.05)
    # Kernel buffers plus the server's bounded buffers: far below what an
    # unbounded server would have swallowed in 20 s.
    assert sent < 32 * 1024 * 1024, "server kept reading %d bytes" % sent
    assert stalled_since is not None
    s.close()
    # The server is still healthy for others.
    c = shared_server.imap_tls()
    c.noop()
    c.logout()


def test_connection_limit_per_address():
    srv = Server(extra_config="max_connections_per_ip = 5\n")
    try:
        socks = []
        for _ in range(5):
            s = socket.create_connection((srv.host, srv.port_starttls), 5)
            read_until(s, b"\r\n")
            socks.append(s)
        s = socket.create_connection((srv.host, srv.port_starttls), 5)
        data = read_until(s, b"\r\n")
        assert b"BYE" in data and b"Too many" in data
        s.close()
        for s in socks:
            s.close()
        time.sleep(0.3)
        s = socket.create_connection((srv.host, srv.port_starttls), 5)
        assert b"* OK" in read_until(s, b"\r\n")
        s.close()
    finally:
        srv.close()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def greeting(s):
    try:
        return read_until(s, b"\r\n")
    except OSError:
        return b""


def test_connections_are_capped_to_fit_the_descriptor_limit():
    # A descriptor limit far below what the clients ask for: the server
    # lowers its connection cap to leave itself descriptors, says so at
    # startup, refuses the surplus politely and does not spin.
    srv = Server(nofile=96)
    socks = []
    try:
        m = re.search(r"event=startup_warning .*effective=(\d+)", srv.log())
        assert m, srv.log()
        cap = int(m.group(1))
        assert 0 < cap < 96
        greeted = refused = 0
        for _ in range(120):
            s = socket.create_connection((srv.host, srv.port_starttls), 5)
            socks.append(s)
            g = greeting(s)
            if g.startswith(b"* OK"):
                greeted += 1
            elif b"BYE [UNAVAILABLE]" in g:
                refused += 1
        assert greeted == cap and refused == 120 - cap, (greeted, refused, cap)
        pid = srv.proc.pid
        c0 = cpu_seconds(pid)
        time.sleep(2.0)
        used = cpu_seconds(pid) - c0
        assert used < 0.5, "server used %.2f s of CPU while full" % used
        # Every admitted connection can still log in and open its store.
        for s in socks[:3]:
            s.close()
        socks = socks[3:]
        time.sleep(0.3)
        c = srv.imap_starttls()
        c.select("INBOX")
        c.noop()
        c.logout()
    finally:
        for s in socks:
            s.close()
        srv.close()


def test_store_and_accept_give_descriptors_back_when_short():
    # Each user a client opens leaves an unused store handle (index, WAL,
    # shm, blobs/) in the pool: with many users and many connections the
    # pool alone would exhaust the descriptors. A store open or accept()
    # that runs short must close those handles and go on, not fail.
    srv = Server(nofile=512, extra_config="max_connections_per_ip = 1000\n")
    socks = []
    try:
        with open(os.path.join(srv.dir, "users")) as f:
            line = f.read().splitlines()[0]
        pwhash = line.split(":", 1)[1]
        with open(os.path.join(srv.dir, "users"), "a") as f:
            for i in range(110):
                f.write("fd%d:%s\n" % (i, pwhash))
        srv.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        # Logged in, not yet selected: one descriptor per client. The
        # pool keeps each user's handle after LOGIN checks the store.
        clients = []
        for i in range(110):
            clients.append(srv.imap_starttls(user="fd%d" % i))
        # Now only store opens need descriptors, no accept() in between:
        # 110 handles of 4 descriptors each cannot fit beside 110 clients
        # in 512, so some SELECT runs short and must be given some back.
        for c in clients:
            typ, _ = c.select("INBOX")
            assert typ == "OK"
        for c in clients:
            c.logout()
        for _ in range(250):
            s = socket.create_connection((srv.host, srv.port_starttls), 5)
            s.settimeout(10)
            assert greeting(s).startswith(b"* OK")
            socks.append(s)
        log = srv.log()
        assert "login_error" not in log and "store_open_error" not in log, log[-3000:]
        assert "store_db_error" not in log, log[-3000:]
        # The shortage happened, and the store handled it.
        assert "event=store_fds_short" in log
        c = srv.imap_tls(user="fd7")
        c.select("INBOX")
        c.logout()
    finally:
        for s in socks:
            s.close()
        srv.close()
