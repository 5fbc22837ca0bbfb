"""Idle TLS connections after the memory saving of issue #14 (no output
buffer while a session waits for the client), and TLS session resumption,
with real clients: python ssl over implicit TLS and STARTTLS, and
bench/loadgen --resume.

Nothing here is timed: each test checks answers on the wire."""
import json
import os
import socket
import ssl
import subprocess

import pytest

from rampart_harness import Server, cmd_ok as cmd, read_tagged, read_until

BUILD = os.environ.get("RAMPART_BUILD", os.path.join(os.path.dirname(__file__), "..", "..",
                                                     "build"))
LOADGEN = os.path.join(BUILD, "loadgen")
USER, PASSWORD = "idler", "idle pass 14"


@pytest.fixture(scope="module")
def srv():
    s = Server(user=USER, password=PASSWORD)
    s.add_user("res1", PASSWORD)
    yield s
    s.close()


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connect(srv, starttls, session=None, ctx=None):
    """A TLS socket to the server, greeting read, (implicit TLS or STARTTLS)."""
    ctx = ctx or client_ctx()
    if not starttls:
        raw = socket.create_connection(("127.0.0.1", srv.port_tls), 10)
        s = ctx.wrap_socket(raw, session=session)
        s.settimeout(10)
        read_until(s, b"\r\n")
        return s
    raw = socket.create_connection(("127.0.0.1", srv.port_starttls), 10)
    raw.settimeout(10)
    read_until(raw, b"\r\n")
    raw.sendall(b"s STARTTLS\r\n")
    read_tagged(raw, b"s")
    s = ctx.wrap_socket(raw, session=session)
    s.settimeout(10)
    return s


def message(n):
    return ("From: a@example.org\r\nTo: idler@example.org\r\nSubject: wake %d\r\n\r\n"
            "body number %d\r\n" % (n, n)).encode()


@pytest.mark.parametrize("starttls", [False, True], ids=["implicit", "starttls"])
def test_idle_wakes_then_fetch_on_same_connection(srv, starttls):
    s = connect(srv, starttls)
    try:
        cmd(s, b"a", b'LOGIN idler "idle pass 14"')
        out = cmd(s, b"b", b"SELECT INBOX")
        exists = int([l for l in out.split(b"\r\n") if l.endswith(b" EXISTS")][0].split()[1])
        # Twice: the session gives its output buffer up while idling and
        # must take a new one for each wake and after DONE.
        for round_ in range(2):
            s.sendall(b"i%d IDLE\r\n" % round_)
            read_until(s, b"+ ")
            n = exists + 1
            r = srv.deliver(USER, message(n))
            assert r.returncode == 0, r.stderr
            read_until(s, b"* %d EXISTS" % n)
            s.sendall(b"DONE\r\n")
            read_tagged(s, b"i%d" % round_)
            out = cmd(s, b"f%d" % round_, b"FETCH %d (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] "
                                          b"BODY.PEEK[TEXT])" % n)
            assert b"Subject: wake %d" % n in out, out
            assert b"body number %d" % n in out, out
            exists = n
        cmd(s, b"z", b"LOGOUT")
    finally:
        s.close()


@pytest.mark.parametrize("starttls", [False, True], ids=["implicit", "starttls"])
def test_session_resumption_python_ssl(srv, starttls):
    ctx = client_ctx()
    s = connect(srv, starttls, ctx=ctx)
    try:
        assert not s.session_reused
        cmd(s, b"a", b'LOGIN idler "idle pass 14"')
        cmd(s, b"z", b"LOGOUT")
        sess = s.session
        assert sess is not None and sess.has_ticket
    finally:
        s.close()
    # The same context (python ties a session to its context), a new
    # connection offering the ticket: resumed, and IMAP works on it.
    s = connect(srv, starttls, session=sess, ctx=ctx)
    try:
        assert s.session_reused, s.version()
        cmd(s, b"a", b'LOGIN idler "idle pass 14"')
        cmd(s, b"b", b"EXAMINE INBOX")
        s.sendall(b"i IDLE\r\n")
        read_until(s, b"+ ")
        s.sendall(b"DONE\r\n")
        read_tagged(s, b"i")
        cmd(s, b"z", b"LOGOUT")
    finally:
        s.close()


def loadgen_connect(srv, resume):
    assert os.access(LOADGEN, os.X_OK), "loadgen missing: %s" % LOADGEN
    args = [LOADGEN, "-h", "127.0.0.1", "-p", str(srv.port_tls), "--tls", "implicit",
            "-u", "res%d", "--users", "1-1", "-P", PASSWORD, "-w", "connect", "-c", "1",
            "-n", "4", "-d", "60", "--json"]
    r = subprocess.run(args + (["--resume"] if resume else []), capture_output=True,
                       timeout=90)
    assert r.returncode == 0, r.stderr
    line = [l for l in r.stdout.decode().splitlines() if l.startswith("{")][-1]
    return json.loads(line)


def test_loadgen_resume_reuses_sessions(srv):
    res = loadgen_connect(srv, True)
    assert res["errors"] == 0, res
    # One client, one connection at a time: the first connect has nothing
    # to offer, each later one offers the ticket of the one before.
    assert res["tls_full"] >= 1 and res["tls_resumed"] >= 3, res
    plain = loadgen_connect(srv, False)
    assert plain["errors"] == 0 and "tls_resumed" not in plain, plain
