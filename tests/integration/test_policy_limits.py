"""Connection and session limits of the policy (auth/policy.c, net/worker.c)
and its administration: max_sessions_per_user answered NO [LIMIT]; the
connection table's reserve for sources that logged in before, so a flood
from many addresses does not lock out real users; `rampart security
status` and `unlock` against the running server."""
import socket
import time

from rampart_harness import Server, read_tagged, read_until

PASSWORD = "correct horse battery staple"


def open_conn(srv, source):
    s = socket.create_connection((srv.host, srv.port_tls), 30, source_address=(source, 0))
    s = srv.ssl_context().wrap_socket(s, server_hostname="localhost")
    s.settimeout(30)
    return s


def login(s, user, password, tag=b"a"):
    read_until(s, b"\r\n")
    s.sendall(b'%s LOGIN "%s" "%s"\r\n' % (tag, user.encode(), password.encode()))
    data = read_tagged(s, tag, timeout=60)
    return [l for l in data.split(b"\r\n") if l.startswith(tag + b" ")][-1]


def test_sessions_per_user_limit():
    srv = Server(policy={"max_sessions_per_user": 3}, fail_delay_ms=10)
    try:
        conns = [open_conn(srv, "127.0.0.60") for _ in range(4)]
        lines = [login(c, "alice", PASSWORD) for c in conns]
        assert all(l.startswith(b"a OK") for l in lines[:3]), lines
        assert lines[3].startswith(b"a NO [LIMIT]"), lines[3]
        assert "result=refused ip=127.0.0.60 user=alice mech=LOGIN reason=max_sessions_per_user" \
            in srv.log()
        # One session ends: room for one more, from any source.
        conns[0].sendall(b"z LOGOUT\r\n")
        read_tagged(conns[0], b"z")
        conns[0].close()
        deadline = time.monotonic() + 20
        while True:
            c = open_conn(srv, "127.0.0.61")
            line = login(c, "alice", PASSWORD)
            conns.append(c)
            if line.startswith(b"a OK") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert line.startswith(b"a OK"), line
        for c in conns:
            c.close()
    finally:
        srv.close()


def test_connection_table_reserve_for_known_sources():
    # 20 connections, 25% (5) kept for sources that logged in before.
    srv = Server(extra_config="max_connections = 20\nmax_connections_per_ip = 20\n",
                 policy={"connection_reserve_percent": 25}, fail_delay_ms=10)
    socks = []
    try:
        c = open_conn(srv, "127.0.0.70")
        assert login(c, "alice", PASSWORD).startswith(b"a OK")
        c.close()
        time.sleep(0.5)  # the connection is released
        # A flood from many unknown addresses takes what it may: 15.
        greeted = refused = 0
        for i in range(25):
            s = socket.create_connection((srv.host, srv.port_starttls), 10,
                                         source_address=("127.0.0.%d" % (100 + i), 0))
            socks.append(s)
            g = read_until(s, b"\r\n")
            if g.startswith(b"* OK"):
                greeted += 1
            elif b"BYE [UNAVAILABLE]" in g:
                refused += 1
        print("flood: %d greeted, %d refused" % (greeted, refused))
        assert greeted == 15 and refused == 10, (greeted, refused)
        assert "event=connect_refused reason=reserve ip=127.0.0.1" in srv.log()
        # The user who logged in before still gets in.
        c = open_conn(srv, "127.0.0.70")
        assert login(c, "alice", PASSWORD).startswith(b"a OK")
        c.close()
    finally:
        for s in socks:
            s.close()
        srv.close()


def test_security_status_and_unlock_cli():
    srv = Server(policy={"lockout_failures": 5, "lockout_duration": 600,
                         "lockout_max_duration": 3600}, fail_delay_ms=10)
    try:
        for _ in range(3):
            c = open_conn(srv, "127.0.0.80")
            read_until(c, b"\r\n")
            for i in range(2):
                c.sendall(b'g%d LOGIN alice "bad-%d"\r\n' % (i, i))
                read_tagged(c, b"g%d" % i, timeout=60)
            c.close()
        c = open_conn(srv, "127.0.0.80")
        assert b"NO [AUTHENTICATIONFAILED]" in login(c, "alice", PASSWORD)
        c.close()
        r = srv.rampart("security", "status", "-c", srv.conf_path)
        out = r.stdout.decode()
        assert "locked scope=source ip=127.0.0.80" in out, out
        r = srv.rampart("security", "unlock", "127.0.0.80", "-c", srv.conf_path)
        assert r.returncode == 0 and "unlocked entries=" in r.stdout.decode()
        c = open_conn(srv, "127.0.0.80")
        assert login(c, "alice", PASSWORD).startswith(b"a OK")
        c.close()
        r = srv.rampart("security", "status", "-c", srv.conf_path)
        assert "locked scope=source ip=127.0.0.80" not in r.stdout.decode()
        r = srv.rampart("security", "frobnicate", "-c", srv.conf_path, check=False)
        assert r.returncode == 64
        # Without a running server the CLI says so.
        srv.stop()
        r = srv.rampart("security", "status", "-c", srv.conf_path, check=False)
        assert r.returncode != 0 and b"is it running" in r.stderr
        srv.start()
    finally:
        srv.close()
