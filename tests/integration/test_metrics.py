"""Prometheus /metrics and `rampart stats` (core/metrics.c, core/prom.c):
a real server, real TLS clients doing logins (good and bad), commands and an
APPEND over quota; the counters must move by exactly what was done, and the
output must parse under a strict reader of the text format 0.0.4. One
server for the file; the tests run in order and the last one locks the
source out on purpose."""
import json
import math
import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from rampart_harness import BIN, Server, read_tagged

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
USER, PASSWORD = "fast", "fast password 12345"
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_exposition(text):
    """Strict reader of the text format 0.0.4: returns {family: {"type",
    "help", "samples": {(name, labels-tuple): float}}}. Asserts on anything
    malformed: unknown lines, samples before their TYPE, bad names, bad
    escapes, duplicate series, non-cumulative or unterminated histograms."""
    assert text.endswith("\n")
    fams, current = {}, None
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            assert NAME.match(name), line
            assert re.fullmatch(r"(?:[^\\]|\\[\\n])*", help_), line
            assert name not in fams, "family twice: " + name
            fams[name] = {"help": help_, "type": None, "samples": {}}
            current = name
            continue
        if line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            assert name == current and fams[name]["type"] is None, line
            assert typ in ("counter", "gauge", "histogram"), line
            fams[name]["type"] = typ
            continue
        assert line and not line.startswith("#"), "stray line %r" % line
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)", line)
        assert m, "bad sample %r" % line
        name, labels_s, value = m.group(1), m.group(3), m.group(4)
        assert current is not None and fams[current]["type"], "sample before TYPE " + line
        fam = fams[current]
        suffixes = ("_bucket", "_sum", "_count") if fam["type"] == "histogram" else ("",)
        assert any(name == current + s for s in suffixes), (current, line)
        labels = ()
        if labels_s is not None:
            pos, pairs = 0, []
            while pos < len(labels_s):
                lm = LABEL.match(labels_s, pos)
                assert lm, "bad labels %r" % line
                pairs.append((lm.group(1), lm.group(2)))
                pos = lm.end()
                if pos < len(labels_s):
                    assert labels_s[pos] == ",", line
                    pos += 1
            labels = tuple(pairs)
            assert len({k for k, _ in labels}) == len(labels), line
        v = float(value.replace("+Inf", "inf"))
        assert not math.isnan(v), line
        key = (name, labels)
        assert key not in fam["samples"], "duplicate " + line
        fam["samples"][key] = v
    for name, fam in fams.items():
        assert fam["type"], name
        if fam["type"] != "histogram":
            continue
        series = {}
        for (n, labels), v in fam["samples"].items():
            base = tuple(kv for kv in labels if kv[0] != "le")
            s = series.setdefault(base, {"buckets": [], "sum": None, "count": None})
            if n.endswith("_bucket"):
                le = dict(labels)["le"]
                s["buckets"].append((float(le.replace("+Inf", "inf")), v))
            elif n.endswith("_sum"):
                s["sum"] = v
            else:
                s["count"] = v
        for base, s in series.items():
            les = [b for b, _ in s["buckets"]]
            assert les == sorted(les) and les[-1] == math.inf, (name, base)
            counts = [c for _, c in s["buckets"]]
            assert counts == sorted(counts), ("not cumulative", name, base)
            assert counts[-1] == s["count"] and s["sum"] is not None, (name, base)
    return fams


def scrape(srv):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.port_http, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return parse_exposition(r.read().decode("utf-8"))


def val(fams, family, sample=None, **labels):
    want = tuple(sorted(labels.items()))
    for (n, ls), v in fams[family]["samples"].items():
        if n == (sample or family) and tuple(sorted(ls)) == want:
            return v
    # a histogram series appears with its first observation
    if fams[family]["type"] == "histogram":
        return 0
    raise KeyError((family, sample, labels))


def delta(a, b, family, sample=None, **labels):
    return val(b, family, sample, **labels) - val(a, family, sample, **labels)


@pytest.fixture(scope="module")
def srv():
    s = Server(fail_delay_ms=20, policy={"lockout_failures": 3})
    # A user with a {SHA512-CRYPT} hash (as imported from Dovecot): each
    # check costs milliseconds, not argon2id's 64 MiB, so the many logins
    # here stay fast under ASan. SIGHUP reloads the users file.
    h = subprocess.run(["openssl", "passwd", "-6", PASSWORD], capture_output=True,
                       check=True).stdout.decode().strip()
    with open(os.path.join(s.dir, "users"), "a") as f:
        f.write("%s:{SHA512-CRYPT}%s\n" % (USER, h))
    reloads = s.log().count("event=reload what=users_file")
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: s.log().count("event=reload what=users_file") > reloads, "reload")
    # one message allowed, one delivered: every APPEND is over quota
    s.rampart("user", "quota", "-c", s.conf_path, USER, "--messages", "1")
    assert s.deliver(USER, b"Subject: one\r\n\r\nfills the quota\r\n").returncode == 0
    yield s
    s.close()


class Counted:
    """A raw TLS connection that counts what it sends and receives."""

    def __init__(self, srv):
        self.s = srv.raw(tls=True)
        self.sent = 0
        self.got = b""
        self.got += self.s.recv(4096)  # greeting

    def cmd(self, tag, text):
        data = ("%s %s\r\n" % (tag, text)).encode()
        self.s.sendall(data)
        self.sent += len(data)
        r = read_tagged(self.s, tag.encode())
        self.got += r
        return r

    def send_raw(self, data):
        self.s.sendall(data)
        self.sent += len(data)

    def finish(self):
        """After LOGOUT: read up to the server's close."""
        self.s.settimeout(10)
        while True:
            d = self.s.recv(4096)
            if not d:
                break
            self.got += d
        self.s.close()


def wait_for(pred, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def test_counters_move_exactly(srv):
    a = scrape(srv)
    c = Counted(srv)
    assert b"a OK" in c.cmd("a", 'LOGIN %s "%s"' % (USER, PASSWORD))
    assert b"b OK" in c.cmd("b", "NOOP")
    assert b"c OK" in c.cmd("c", "SELECT INBOX")
    assert b"d BAD" in c.cmd("d", "FROBNICATE")
    mid = scrape(srv)
    # the connection is open now, over TLS 1.3 on the imaps listener
    assert delta(a, mid, "rampart_connections_open", listener="imaps", tls="TLSv1.3") == 1
    assert b"e OK" in c.cmd("e", "LOGOUT")
    c.finish()

    d = Counted(srv)
    assert b"f NO" in d.cmd("f", 'LOGIN %s "wrong password"' % USER)
    assert b"g OK" in d.cmd("g", 'LOGIN %s "%s"' % (USER, PASSWORD))
    d.send_raw(b"h APPEND INBOX {12+}\r\nSubject: x\r\n\r\n")
    r = read_tagged(d.s, b"h")
    d.got += r
    assert b"h NO [OVERQUOTA]" in r, r
    assert b"i OK" in d.cmd("i", "LOGOUT")
    d.finish()

    def settled():
        b = scrape(srv)
        return val(b, "rampart_connections_open", listener="imaps", tls="TLSv1.3") == \
            val(a, "rampart_connections_open", listener="imaps", tls="TLSv1.3")
    wait_for(settled, "connections to close")
    b = scrape(srv)
    assert delta(a, b, "rampart_connections_accepted_total", listener="imaps") == 2
    assert delta(a, b, "rampart_connections_accepted_total", listener="imap") == 0
    assert delta(a, b, "rampart_tls_handshakes_total", listener="imaps", result="TLSv1.3") == 2
    assert delta(a, b, "rampart_logins_total", result="ok", mechanism="LOGIN") == 2
    assert delta(a, b, "rampart_logins_total", result="fail", mechanism="LOGIN") == 1
    assert delta(a, b, "rampart_logins_total", result="locked", mechanism="LOGIN") == 0
    assert delta(a, b, "rampart_imap_commands_total", command="LOGIN", status="ok") == 2
    assert delta(a, b, "rampart_imap_commands_total", command="LOGIN", status="no") == 1
    assert delta(a, b, "rampart_imap_commands_total", command="NOOP", status="ok") == 1
    assert delta(a, b, "rampart_imap_commands_total", command="SELECT", status="ok") == 1
    assert delta(a, b, "rampart_imap_commands_total", command="other", status="bad") == 1
    assert delta(a, b, "rampart_imap_commands_total", command="APPEND", status="no") == 1
    assert delta(a, b, "rampart_imap_commands_total", command="LOGOUT", status="ok") == 2
    assert delta(a, b, "rampart_imap_command_duration_seconds",
                 "rampart_imap_command_duration_seconds_count", command="NOOP") == 1
    assert delta(a, b, "rampart_imap_command_duration_seconds",
                 "rampart_imap_command_duration_seconds_count", command="LOGIN") == 3
    # the password checks ran on the work pool
    assert delta(a, b, "rampart_workpool_job_duration_seconds",
                 "rampart_workpool_job_duration_seconds_count", command="LOGIN") == 3
    assert delta(a, b, "rampart_quota_refusals_total") == 1
    # bytes after TLS: exactly what the clients sent and received
    assert delta(a, b, "rampart_received_bytes_total", listener="imaps") == c.sent + d.sent
    assert delta(a, b, "rampart_sent_bytes_total", listener="imaps") == len(c.got) + len(d.got)
    assert delta(a, b, "rampart_deliveries_total", result="ok") == 0


def test_process_facts_and_bounded_labels(srv):
    f = scrape(srv)
    assert val(f, "rampart_build_info", version="0.1.0") == 1
    assert val(f, "rampart_uptime_seconds") > 0
    assert val(f, "rampart_process_start_time_seconds") > 1.7e9
    assert val(f, "rampart_process_resident_memory_bytes") > 1e6
    assert val(f, "rampart_process_open_fds") > 3
    assert val(f, "rampart_workpool_queued_jobs") >= 0
    # a command name a client invents is never a label value
    c = Counted(srv)
    c.cmd("x", "XYZZY-%d" % time.time_ns())
    c.cmd("y", "LOGOUT")
    c.finish()
    f = scrape(srv)
    cmds = {dict(ls)["command"] for (n, ls) in f["rampart_imap_commands_total"]["samples"]}
    assert "other" in cmds and not any(x.startswith("XYZZY") for x in cmds)
    assert {dict(ls)["mechanism"] for (n, ls) in f["rampart_logins_total"]["samples"]} >= \
        {"PLAIN", "LOGIN", "SCRAM-SHA-256", "OAUTHBEARER", "other"}


def test_parser_is_strict():
    ok = "# HELP x_total A \\\\ help\n# TYPE x_total counter\nx_total{a=\"q\\\"\\n\"} 1\n"
    assert parse_exposition(ok)
    for bad in ("x_total 1\n",                                         # no TYPE
                "# HELP x X\n# TYPE x counter\nx{a=\"\n\"} 1\n",        # raw newline
                "# HELP x X\n# TYPE x counter\nx{a=\"\\q\"} 1\n",       # bad escape
                "# HELP h H\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                "h_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n"):       # not cumulative
        with pytest.raises(AssertionError):
            parse_exposition(bad)


def stats(srv, *args):
    return subprocess.run([BIN, "stats", "-c", srv.conf_path, *args], capture_output=True,
                          timeout=30)


def test_rampart_stats(srv, tmp_path):
    before = json.loads(stats(srv, "--json").stdout)
    c = Counted(srv)
    c.cmd("a", 'LOGIN %s "%s"' % (USER, PASSWORD))
    c.cmd("b", "LOGOUT")
    c.finish()
    r = stats(srv, "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["logins"]["ok"] == before["logins"]["ok"] + 1
    assert s["logins"]["ok_last_minute"] >= 1
    assert s["logins"]["failed_last_minute"] >= 1  # the previous test's, seconds ago
    assert s["commands"]["by_name"]["LOGOUT"] == before["commands"]["by_name"]["LOGOUT"] + 1
    assert s["connections"]["accepted"] >= before["connections"]["accepted"] + 1
    assert s["bytes"]["in"] > before["bytes"]["in"] and s["uptime_seconds"] >= 0
    assert s["quota_refusals"] == 1 and s["deliveries"]["ok"] == 0
    r = stats(srv)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert re.search(r"^logins: +%d ok, " % s["logins"]["ok"], out, re.M), out
    assert re.search(r"^connections: +\d+ open, \d+ accepted$", out, re.M), out
    assert "uptime:" in out and "deliveries:" in out
    # --help, a bad argument, a config that does not validate, no server
    assert stats(srv, "--help").returncode == 0
    assert stats(srv, "--bogus").returncode == 64
    bad = tmp_path / "bad.conf"
    bad.write_text("[server]\nno_such_key = 1\n")
    r = subprocess.run([BIN, "stats", "-c", str(bad)], capture_output=True, timeout=30)
    assert r.returncode == 78, r
    idle = tmp_path / "idle.conf"
    idle.write_text("[server]\nmail_root = %s/mail\nusers_file = %s/users\nstate_dir = %s/st\n"
                    "[listener imap]\naddress = 127.0.0.1:1\ntls = none\n"
                    % (tmp_path, tmp_path, tmp_path))
    (tmp_path / "users").write_text("")
    r = subprocess.run([BIN, "stats", "-c", str(idle)], capture_output=True, timeout=30)
    assert r.returncode == 69, r


def test_lockout_is_counted(srv):
    """Last: three failures from 127.0.0.1 lock the source for a second."""
    a = scrape(srv)
    locked = False
    for i in range(8):
        c = Counted(srv)
        r = c.cmd("l%d" % i, 'LOGIN %s "wrong %d"' % (USER, i))
        c.s.close()
        assert b" NO " in r
        b = scrape(srv)
        if delta(a, b, "rampart_logins_total", result="locked", mechanism="LOGIN") > 0:
            locked = True
            break
    assert locked
    assert delta(a, b, "rampart_policy_events_total", type="lockout", scope="source") >= 1
