"""Bounded resources: a client that never reads its responses is stopped
being read from (back-pressure) instead of growing server memory, the
per-address connection limit holds, and running out of file descriptors
pauses accepting instead of spinning."""
import os
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


def test_out_of_descriptors_pauses_accept_and_recovers():
    # A descriptor limit far below what the clients ask for: the server
    # must neither spin on the listening socket nor stop serving once
    # descriptors are free again.
    srv = Server(nofile=96)
    socks = []
    try:
        for _ in range(120):
            s = socket.create_connection((srv.host, srv.port_starttls), 5)
            socks.append(s)
        time.sleep(1.0)
        pid = srv.proc.pid
        c0 = cpu_seconds(pid)
        time.sleep(2.0)
        used = cpu_seconds(pid) - c0
        # A loop retrying accept() burns ~2 s of CPU here; pausing, ~0.
        assert used < 0.5, "server used %.2f s of CPU while out of descriptors" % used
        assert "event=accept_error" in srv.log()
        assert srv.proc.poll() is None
        for s in socks:
            s.close()
        socks = []
        time.sleep(1.0)
        c = srv.imap_starttls()
        c.select("INBOX")
        c.noop()
        c.logout()
    finally:
        for s in socks:
            s.close()
        srv.close()
