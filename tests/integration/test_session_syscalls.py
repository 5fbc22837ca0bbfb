"""The system calls a long-lived session pays per command (sessx, issue
#14). A command whose store work runs on the work pool (STORE here) used
to disable and re-enable EV_READ on its socket around the job, with an
EV_CLOSED watch in between: ~4.7 epoll_ctl a command of the `sessions`
mix. Reads now stay enabled and input that arrives meanwhile waits in the
connection's bounded input buffer (net/conn.c io_pause_read). strace
counts the real server's epoll_ctl calls over 40 STOREs on one TLS
connection: 2 a command remain (libevent adds the write event for the
answer and removes it once sent); the budget of 3 fails with the old
pausing, which made 6 a STORE. And pipelining behind a running command still
works, with every answer in order."""
import os
import re
import shutil
import signal
import time

import pytest

from rampart_harness import Raw, Server, read_until
from test_durability import strace_attach

N = 40


@pytest.fixture(scope="module")
def srv():
    s = Server()
    yield s
    s.close()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_pool_commands_cost_no_epoll_ctl_pair(srv):
    c = srv.imap_tls()
    assert c.append("INBOX", None, None, b"From: a@example.org\r\nSubject: s\r\n\r\nx\r\n")[0] == "OK"
    c.select("INBOX")
    c.uid("STORE", "1", "+FLAGS", r"(\Seen)")  # the handles and events warm
    out = os.path.join(srv.dir, "epoll.strace")
    st = strace_attach(srv.proc.pid, out, "epoll_ctl")
    try:
        for i in range(N):
            typ, _ = c.uid("STORE", "1", "+FLAGS" if i % 2 else "-FLAGS", r"(\Flagged)")
            assert typ == "OK"
    finally:
        st.send_signal(signal.SIGINT)
        st.wait(20)
    c.logout()
    with open(out) as f:
        calls = [l for l in f if re.search(r"\bepoll_ctl\(", l)]
    assert len(calls) <= 3 * N, "%d epoll_ctl for %d STOREs" % (len(calls), N)


def test_pipelined_commands_behind_a_pool_job_all_answered(srv):
    """Commands sent while a pool job runs wait in the input buffer and
    are answered in order once it is done."""
    r = Raw(srv, "INBOX")
    cmds = b"".join(b"p%d UID STORE 1 %sFLAGS.SILENT (\\Answered)\r\nn%d NOOP\r\n"
                    % (i, b"+" if i % 2 else b"-", i) for i in range(50))
    r.s.sendall(cmds)
    r.s.settimeout(30)
    data = b""
    deadline = time.time() + 60
    while b"n49 " not in data and time.time() < deadline:
        chunk = r.s.recv(65536)
        if not chunk:
            break
        data += chunk
    tags = re.findall(rb"^([pn]\d+) OK", data, re.M)
    want = [t for i in range(50) for t in (b"p%d" % i, b"n%d" % i)]
    assert tags == want
    r.close()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_quickack_only_while_the_session_waits_for_input(srv):
    """Issue #14, tenth session: a complete command handed to the pool
    sends no TCP_QUICKACK of its own (its answer carries the ACK; it was
    ~0.7 setsockopt a command of the imaptest-like mix), while input that
    leaves the session waiting for more (a synchronizing literal without
    its CRLF yet) still gets one, which test_split_append.py times."""
    r = Raw(srv, "INBOX")
    msg = b"From: a@example.org\r\nSubject: q\r\n\r\nbody\r\n"
    r.ok(b"APPEND INBOX {%d+}\r\n%s" % (len(msg), msg))  # warm
    out = os.path.join(srv.dir, "quickack.strace")
    st = strace_attach(srv.proc.pid, out, "setsockopt")
    try:
        # LITERAL+ APPENDs: complete commands, each a job of a disk thread.
        for i in range(N):
            r.ok(b"APPEND INBOX {%d+}\r\n%s" % (len(msg), msg))
        for i in range(3):
            tag = b"q%d" % i
            r.s.sendall(tag + b" APPEND INBOX {%d}\r\n" % len(msg))
            read_until(r.s, b"+ ", timeout=20)
            r.s.sendall(msg)
            time.sleep(0.2)  # the literal alone: the server waits for its CRLF
            r.s.sendall(b"\r\n")
            read_until(r.s, tag + b" OK", timeout=20)
    finally:
        st.send_signal(signal.SIGINT)
        st.wait(20)
    r.close()
    with open(out) as f:
        acks = [l for l in f if "TCP_QUICKACK" in l]
    assert len(acks) >= 3, "no TCP_QUICKACK for a literal waiting for its CRLF"
    assert len(acks) <= 3 + N // 4, "%d TCP_QUICKACK for %d APPENDs" % (len(acks), N)
