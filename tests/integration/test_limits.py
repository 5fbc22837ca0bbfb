"""Bounded resources: a client that never reads its responses is stopped
being read from (back-pressure) instead of growing server memory, and the
per-address connection limit holds."""
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
