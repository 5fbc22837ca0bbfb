"""The authentication policy engine (auth/policy.c) against a real server
over real TLS, attacking from distinct loopback sources (the client socket
is bound to 127.0.0.x / 127.0.1.x): brute force from one source, password
spraying, many sources on one user while the real user keeps logging in
from a known device, the audit line matched by the shipped fail2ban
filter (fail2ban-regex), and lockouts surviving a restart.

No absolute timing: latencies are compared with a baseline measured in the
same run, with wide margins; every loop is bounded in count and time."""
import concurrent.futures
import configparser
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import time

import pytest

from rampart_harness import Server, read_tagged, read_until

SRC = os.environ.get("RAMPART_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
PASSWORD = "correct horse battery staple"

# Thresholds small enough to reach quickly; delays short.
POLICY = {
    "lockout_failures": 10, "lockout_window": 600, "lockout_duration": 600,
    "lockout_max_duration": 3600, "spray_users": 5, "prefix_failures": 100000,
    "user_failures": 20, "delay_base_ms": 10, "delay_max_ms": 40,
    "connection_reserve_percent": 0, "save_interval": 1,
    "max_queued_checks": 64,
}


def connect(srv, source, ctx=None):
    s = socket.create_connection((srv.host, srv.port_tls), 30, source_address=(source, 0))
    s = (ctx or srv.ssl_context()).wrap_socket(s, server_hostname="localhost")
    s.settimeout(180)
    read_until(s, b"\r\n", timeout=180)
    return s


def login_line(s, user, password, tag=b"a"):
    s.sendall(b'%s LOGIN "%s" "%s"\r\n' % (tag, user.encode(), password.encode()))
    data = read_tagged(s, tag, timeout=180)
    tagged = [l for l in data.split(b"\r\n") if l.startswith(tag + b" ")]
    assert tagged, data
    return tagged[-1]


def try_login(srv, source, user, password, ctx=None):
    """One LOGIN on a fresh connection: (tagged line, seconds)."""
    s = connect(srv, source, ctx)
    try:
        t = time.monotonic()
        line = login_line(s, user, password)
        return line, time.monotonic() - t
    finally:
        s.close()


def guesses(srv, source, user, n, ctx):
    """n wrong passwords from `source`, three per connection (the server
    closes after three). Returns the tagged lines."""
    out = []
    while len(out) < n:
        s = connect(srv, source, ctx)
        try:
            for i in range(min(3, n - len(out))):
                out.append(login_line(s, user, "wrong-%d" % len(out), tag=b"g%d" % i))
        except (OSError, AssertionError):
            pass
        finally:
            s.close()
    return out


def log_count(srv, pattern):
    return len(re.findall(pattern, srv.log()))


def outcomes(srv, ip):
    """(attempts whose password was checked, attempts refused as locked)
    from `ip`, as the audit lines say."""
    ip = re.escape(ip)
    return (log_count(srv, r"result=fail ip=%s " % ip), log_count(srv, r"result=locked ip=%s " % ip))


def add_user_live(srv, name, password):
    srv.add_user(name, password)
    n = srv.log().count("event=reload what=users_file")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while srv.log().count("event=reload what=users_file") == n:
        assert time.monotonic() < deadline, "no reload"
        time.sleep(0.05)


@pytest.fixture
def srv():
    s = Server(policy=POLICY, fail_delay_ms=20)
    yield s
    s.close()


def test_brute_force_one_source_is_locked(srv):
    ctx = srv.ssl_context()
    # 1,000 wrong passwords from one source, 16 connections at a time.
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        lines = sum(ex.map(lambda _: guesses(srv, "127.0.0.10", "alice", 63, ctx), range(16)), [])
    lines = lines[:1000] + guesses(srv, "127.0.0.10", "alice", max(0, 1000 - len(lines)), ctx)
    assert len(lines) == 1000
    assert all(b"NO [AUTHENTICATIONFAILED]" in l for l in lines), set(lines)
    checked, locked = outcomes(srv, "127.0.0.10")
    print("1000 guesses: %d checked, %d refused as locked" % (checked, locked))
    # Only the first lockout_failures (plus those already in flight) were
    # verified; the rest were refused without a check.
    assert checked < 60 and locked > 900, (checked, locked)
    assert "event=policy_lockout scope=source ip=127.0.0.10" in srv.log()
    # The right password from the locked source fails, with the same answer.
    line, _ = try_login(srv, "127.0.0.10", "alice", PASSWORD)
    assert b"NO [AUTHENTICATIONFAILED]" in line
    assert "result=locked ip=127.0.0.10 user=alice mech=LOGIN reason=source_locked" in srv.log()
    # ... and no sooner than a checked wrong password (an unknown user from
    # a fresh source: a real hash run): timing does not reveal the lock.
    # Medians of three, compared with a wide margin (loaded machines).
    checked = statistics.median(
        try_login(srv, "127.0.0.12", "nobody-%d" % i, "wrong")[1] for i in range(3))
    locked_t = statistics.median(
        try_login(srv, "127.0.0.10", "alice", PASSWORD)[1] for _ in range(3))
    print("checked wrong password %.3f s, locked source %.3f s" % (checked, locked_t))
    assert locked_t >= 0.5 * checked, (locked_t, checked)
    # Another source logs in.
    line, _ = try_login(srv, "127.0.0.11", "alice", PASSWORD)
    assert line.startswith(b"a OK"), line

    # fail2ban: the shipped filter matches every failed and locked attempt.
    filt = os.path.join(SRC, "contrib", "fail2ban", "filter.d", "rampart.conf")
    fb = shutil.which("fail2ban-regex")
    assert fb, "fail2ban-regex is a test dependency (scripts/install-deps.sh)"
    r = subprocess.run([fb, "--print-no-missed", srv.log_path, filt], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"Failregex: (\d+) total", r.stdout)
    assert m, r.stdout
    want = log_count(srv, r"event=login result=(?:fail|locked) ip=")
    assert int(m.group(1)) == want and want >= 1001, (m.group(1), want)
    # The jail names that filter and the IMAP ports.
    jail = configparser.ConfigParser()
    jail.read(os.path.join(SRC, "contrib", "fail2ban", "jail.d", "rampart.conf"))
    assert jail["rampart"]["filter"] == "rampart"
    assert "imaps" in jail["rampart"]["port"] and jail["rampart"]["enabled"] == "true"


def test_audit_line_fields(srv):
    line, _ = try_login(srv, "127.0.0.12", "alice", PASSWORD)
    assert line.startswith(b"a OK")
    try_login(srv, "127.0.0.12", "alice", "nope")
    log = srv.log()
    ok = re.search(r"info: event=login result=ok ip=127\.0\.0\.12 user=alice mech=LOGIN reason=ok "
                   r"tls=TLSv1\.[23] cipher=\S+ session=[0-9a-f]{12} policy=allow delay_ms=0 "
                   r"listener=imaps(?: \S+=\S*)*$", log, re.M)
    assert ok, log[-2000:]
    bad = re.search(r"warning: event=login result=fail ip=127\.0\.0\.12 user=alice mech=LOGIN "
                    r"reason=bad_credentials tls=TLSv1\.[23] cipher=\S+ session=[0-9a-f]{12} "
                    r"policy=\w+ delay_ms=(\d+) listener=imaps(?: \S+=\S*)*$", log, re.M)
    assert bad and int(bad.group(1)) >= 20, log[-2000:]
    assert "nope" not in log


def test_spraying_200_usernames_is_locked(srv):
    ctx = srv.ssl_context()
    users = ["user%03d" % i for i in range(200)]

    def spray(chunk):
        out = []
        for u in chunk:
            out.append(try_login(srv, "127.0.0.20", u, "Winter2024!", ctx)[0])
        return out
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        lines = sum(ex.map(spray, [users[i::4] for i in range(4)]), [])
    assert len(lines) == 200 and all(b"NO [AUTHENTICATIONFAILED]" in l for l in lines)
    checked, locked = outcomes(srv, "127.0.0.20")
    print("spraying 200 users: %d checked, %d refused" % (checked, locked))
    assert checked < 30 and locked > 170, (checked, locked)
    assert "event=policy_spraying ip=127.0.0.20" in srv.log()
    line, _ = try_login(srv, "127.0.0.20", "alice", PASSWORD)
    assert b"NO [AUTHENTICATIONFAILED]" in line


def _attack(host, port, cafile, sources, user, tries):
    """In a process of its own (the GIL would otherwise make the test
    client, not the server, the bottleneck of the latency measured)."""
    ctx = ssl.create_default_context(cafile=cafile)
    out = []
    for src in sources:
        for k in range(tries):
            s = socket.create_connection((host, port), 30, source_address=(src, 0))
            s = ctx.wrap_socket(s, server_hostname="localhost")
            s.settimeout(180)
            try:
                read_until(s, b"\r\n", timeout=180)
                out.append(login_line(s, user, "guess-%s-%d" % (src, k)))
            finally:
                s.close()
    return out


def test_many_sources_on_one_user_real_user_unaffected(srv):
    ctx = srv.ssl_context()
    # The real user's device: known from a past login.
    baseline = []
    for _ in range(5):
        line, dt = try_login(srv, "127.0.0.1", "alice", PASSWORD, ctx)
        assert line.startswith(b"a OK"), line
        baseline.append(dt)
    base = statistics.median(baseline)
    sources = ["127.0.0.%d" % i for i in range(2, 201)]
    during = []
    with concurrent.futures.ProcessPoolExecutor(6) as ex:
        fut = [ex.submit(_attack, srv.host, srv.port_tls, srv.cert, sources[i::6], "alice", 2)
               for i in range(6)]
        deadline = time.monotonic() + 300
        while not all(f.done() for f in fut) and time.monotonic() < deadline:
            line, dt = try_login(srv, "127.0.0.1", "alice", PASSWORD, ctx)
            assert line.startswith(b"a OK"), line
            during.append(dt)
        lines = sum((f.result() for f in fut), [])
    assert len(lines) == 398 and all(b"NO [AUTHENTICATIONFAILED]" in l for l in lines)
    locked = log_count(srv, r"result=locked ip=127\.0\.0\.\d+ user=alice mech=LOGIN reason=user_locked")
    checked = log_count(srv, r"result=fail ip=127\.0\.0\.\d+ user=alice")
    med = statistics.median(during)
    print("199 sources x2 on alice: %d checked, %d refused; real user %d logins, median %.3f s "
          "(baseline %.3f s)" % (checked, locked, len(during), med, base))
    assert checked < 60 and locked > 330, (checked, locked)
    assert len(during) >= 3
    assert med < 5 * base + 1.0, (med, base)
    # A fresh source is refused for alice now, even with the right password...
    line, _ = try_login(srv, "127.0.0.222", "alice", PASSWORD, ctx)
    assert b"NO [AUTHENTICATIONFAILED]" in line
    # ...but not for another user.
    add_user_live(srv, "bob", "another long passphrase")
    line, _ = try_login(srv, "127.0.0.222", "bob", "another long passphrase", ctx)
    assert line.startswith(b"a OK"), line


def test_lockout_survives_restart(srv):
    ctx = srv.ssl_context()
    guesses(srv, "127.0.0.40", "alice", 12, ctx)
    line, _ = try_login(srv, "127.0.0.40", "alice", PASSWORD, ctx)
    assert b"NO [AUTHENTICATIONFAILED]" in line
    line, _ = try_login(srv, "127.0.0.41", "alice", PASSWORD, ctx)
    assert line.startswith(b"a OK")
    srv.stop()
    assert os.path.exists(os.path.join(srv.dir, "state", "policy.state"))
    srv.start()
    line, _ = try_login(srv, "127.0.0.40", "alice", PASSWORD)
    assert b"NO [AUTHENTICATIONFAILED]" in line
    assert "result=locked ip=127.0.0.40" in srv.log().split("event=policy_state_loaded")[-1]
    line, _ = try_login(srv, "127.0.0.41", "alice", PASSWORD)
    assert line.startswith(b"a OK")


def test_reconnect_storm_is_not_spraying():
    """Clients behind one address that all log in at once (a NAT office
    after a server restart) exceed max_queued_checks: the excess is
    answered busy, unchecked. Those answers must not count as failures:
    before, six users' busy answers locked the address as a sprayer."""
    srv = Server(policy=dict(POLICY, max_queued_checks=1))
    try:
        users = ["storm%d" % i for i in range(6)]
        for u in users:
            srv.add_user(u, PASSWORD)
        ctx = srv.ssl_context()
        source = "127.0.3.7"
        socks = [connect(srv, source, ctx) for _ in range(24)]
        try:
            for i, s in enumerate(socks):
                s.sendall(b'a LOGIN "%s" "%s"\r\n' % (users[i % 6].encode(), PASSWORD.encode()))
            lines = []
            for s in socks:
                data = read_tagged(s, b"a", timeout=180)
                lines.append([l for l in data.split(b"\r\n") if l.startswith(b"a ")][-1])
        finally:
            for s in socks:
                s.close()
        ok = sum(1 for l in lines if l.startswith(b"a OK"))
        log = srv.log()
        busy = len(re.findall(r"ip=127\.0\.3\.7 .*reason=busy", log))
        print("24 simultaneous logins: %d OK, %d busy" % (ok, busy))
        assert busy >= 6, "the storm did not exceed the queue; the test proves nothing"
        assert "policy_lockout scope=source ip=127.0.3.7" not in log
        assert "policy_spraying ip=127.0.3.7" not in log
        # The address still logs in (one at a time, as clients retry).
        for u in users:
            line, _ = try_login(srv, source, u, PASSWORD, ctx)
            assert line.startswith(b"a OK"), (u, line)
    finally:
        srv.close()
