"""Security alerts through the real server (issue #11): a MaxMind database
built here with MaxMind::DB::Writer maps 127.0.0.0/24 to Paris (FR) and
127.0.1.0/24 to Sydney (AU); logins come from those source addresses over
real TLS; the webhook is caught by an http.server on loopback and the
command by a script writing its stdin to a file. Then a download spike
with small thresholds, and the throttle seen as pacing (relative figures:
the same session's unthrottled FETCH against the paced one)."""
import http.server
import imaplib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from rampart_harness import Server

MMDB_WRITER = r"""
use strict; use warnings;
use MaxMind::DB::Writer::Tree;
my %types = (country => 'map', iso_code => 'utf8_string', location => 'map',
             latitude => 'double', longitude => 'double');
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version => 4, record_size => 24, database_type => 'Rampart-Test-City',
    languages => ['en'], description => { en => 'rampart alert test' },
    remove_reserved_networks => 0,
    map_key_type_callback => sub { $types{ $_[0] } });
$tree->insert_network('127.0.0.0/24', { country => { iso_code => 'FR' },
    location => { latitude => 48.8566, longitude => 2.3522 } });
$tree->insert_network('127.0.1.0/24', { country => { iso_code => 'AU' },
    location => { latitude => -33.8688, longitude => 151.2093 } });
open my $fh, '>:raw', $ARGV[0] or die "$ARGV[0]: $!";
$tree->write_tree($fh);
close $fh;
"""


class Hook:
    """A loopback HTTP listener that records the JSON bodies POSTed to it."""

    def __init__(self):
        self.posts = []
        self.lock = threading.Lock()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(min(n, 1 << 16))
                with hook.lock:
                    hook.posts.append((self.headers.get("Content-Type"), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/alert" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def kinds(self):
        with self.lock:
            return [p[1]["kind"] for p in self.posts]

    def wait_for(self, kind, count=1, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.kinds().count(kind) >= count:
                return [p[1] for p in self.posts if p[1]["kind"] == kind]
            time.sleep(0.05)
        raise AssertionError("no %s webhook POST; got %r" % (kind, self.kinds()))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class SourceIMAP(imaplib.IMAP4_SSL):
    """IMAP over TLS from a chosen loopback source address (127.0.1.1...)."""

    def __init__(self, source, host, port, ssl_context):
        self._source = source
        super().__init__(host, port, ssl_context=ssl_context, timeout=30)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._source, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def login_from(server, source):
    c = SourceIMAP(source, server.host, server.port_tls, server.ssl_context())
    c.login(server.user, server.password)
    c.logout()


def alert_lines(server, kind=None):
    lines = [l for l in server.log().splitlines() if "event=alert " in l]
    if kind:
        lines = [l for l in lines if "kind=%s " % kind in l]
    return lines


def wait_log(server, kind, count=1, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = alert_lines(server, kind)
        if len(got) >= count:
            return got
        time.sleep(0.05)
    raise AssertionError("no alert %s in the log:\n%s" % (kind, "\n".join(alert_lines(server))))


@pytest.fixture
def side():
    """A directory the unprivileged server user can read and write: the
    database, the alert command and what it writes."""
    d = tempfile.mkdtemp(prefix="rampart-alerts-")
    os.chmod(d, 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def make_mmdb(directory):
    path = os.path.join(directory, "test.mmdb")
    script = os.path.join(directory, "mkmmdb.pl")
    with open(script, "w") as f:
        f.write(MMDB_WRITER)
    subprocess.run(["perl", script, path], check=True, capture_output=True, timeout=60)
    os.chmod(path, 0o644)
    return path


def make_command(directory):
    out = os.path.join(directory, "command.out")
    script = os.path.join(directory, "alert.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\ncat >> %s\n" % out)
    os.chmod(script, 0o755)
    return script, out


def test_login_alerts_webhook_command_and_history(side):
    mmdb = make_mmdb(side)
    script, out = make_command(side)
    hook = Hook()
    server = Server(extra_config="[alerts]\nwebhook_url = %s\ncommand = %s\n"
                    "geoip_database = %s\n" % (hook.url, script, mmdb))
    try:
        assert "event=alert_geoip" in server.log()
        # The first login ever, and the same network again: nothing.
        login_from(server, "127.0.0.1")
        login_from(server, "127.0.0.7")
        time.sleep(0.5)  # let a wrong alert reach the hook (ordering only)
        assert alert_lines(server) == [] and hook.kinds() == []

        # Seconds later from "Sydney": a new network, a new country and a
        # journey of ~17,000 km in seconds.
        login_from(server, "127.0.1.1")
        travel = hook.wait_for("impossible_travel")[0]
        assert travel["user"] == server.user and travel["ip"] == "127.0.1.1"
        assert travel["country"] == "AU"
        assert "from=FR" in travel["detail"] and "to=AU" in travel["detail"]
        assert time.strftime("%Y-%m-%dT", time.gmtime()) in travel["time"]
        country = hook.wait_for("new_country")[0]
        assert "country=AU" in country["detail"] and "previous=FR" in country["detail"]
        source = hook.wait_for("new_source")[0]
        assert source["detail"] == "prefix=127.0.1.0/24"
        with hook.lock:
            assert all(ct == "application/json" for ct, _ in hook.posts)
        line = wait_log(server, "impossible_travel")[0]
        assert "user=%s ip=127.0.1.1 country=AU" % server.user in line
        wait_log(server, "new_country")
        wait_log(server, "new_source")

        # The command got the same JSON objects, one per line.
        deadline = time.time() + 20
        while time.time() < deadline:
            if os.path.exists(out) and open(out).read().count("\n") >= 3:
                break
            time.sleep(0.05)
        sent = [json.loads(l) for l in open(out).read().splitlines()]
        assert sorted(j["kind"] for j in sent) == ["impossible_travel", "new_country", "new_source"]

        # Rate limit: another new network within alert_interval is logged
        # at debug level only, and not sent.
        login_from(server, "127.0.2.1")
        deadline = time.time() + 10
        while "event=alert_suppressed kind=new_source" not in server.log() and time.time() < deadline:
            time.sleep(0.05)
        assert "event=alert_suppressed kind=new_source" in server.log()
        assert len(alert_lines(server, "new_source")) == 1
        assert hook.kinds().count("new_source") == 1
    finally:
        server.stop()

    # The history survives a restart: not a first login any more (a new
    # network alerts), and the last location was Sydney... (127.0.2.1 has
    # no location, so the last located login is 127.0.1.1).
    hist = open(os.path.join(server.dir, "state", "alert-history")).read()
    assert server.user + "\t" in hist and "127.0.1.0/24" in hist
    try:
        server.start()
        login_from(server, "127.0.3.1")
        hook.wait_for("new_source", count=2)
        login_from(server, "127.0.0.1")
        travel = hook.wait_for("impossible_travel", count=2)[1]
        assert "from=AU to=FR" in travel["detail"], travel
    finally:
        server.close()
        hook.close()


MSG_BODY = 256 * 1024


def message(i):
    line = b"x" * 1022 + b"\r\n"
    body = line * (MSG_BODY // len(line))
    return (b"From: a@example.org\r\nTo: alice@example.org\r\nSubject: big %d\r\n\r\n" % i) + body


def timed_fetch(c, seqs):
    t = time.time()
    typ, data = c.fetch(seqs, "(BODY.PEEK[])")
    assert typ == "OK", data
    got = sum(len(d[1]) for d in data if isinstance(d, tuple))
    return time.time() - t, got


@pytest.mark.parametrize("action", ["throttle", "log"])
def test_download_spike(action):
    """8 messages of 256 KiB against a 1 MiB floor: fetching the first four
    crosses it (an alert, and with throttle the pace drops to 256 KiB/s);
    the next four then take at least 3 s paced, against a fraction of that
    for the same amount of data unthrottled in the same session."""
    hook = Hook()
    server = Server(extra_config="[alerts]\nwebhook_url = %s\ndownload_window = 600\n"
                    "download_factor = 10\ndownload_floor = 1M\n"
                    "download_spike_action = %s\ndownload_throttle_rate = 256K\n"
                    % (hook.url, action))
    try:
        for i in range(8):
            assert server.deliver(server.user, message(i)).returncode == 0
        c = server.imap_tls()
        c.select("INBOX", readonly=True)
        fast, got = timed_fetch(c, "1:4")
        assert got >= 4 * MSG_BODY
        spike = hook.wait_for("download_spike")[0]
        assert spike["user"] == server.user and spike["ip"] == "127.0.0.1"
        assert "action=%s" % action in spike["detail"]
        line = wait_log(server, "download_spike")[0]
        assert "user=%s " % server.user in line
        slow, got = timed_fetch(c, "5:8")
        assert got >= 4 * MSG_BODY
        print("action=%s unthrottled 1 MiB: %.2f s, after the spike: %.2f s" % (action, fast, slow))
        if action == "throttle":
            # Three paced gaps of 256 KiB at 256 KiB/s: a lower bound by
            # construction, plus the relative figure.
            assert slow >= 2.5
            assert slow > 3 * fast
        else:
            assert slow < 2.5 or slow < 3 * fast
        # Once per window: no second alert.
        assert len(alert_lines(server, "download_spike")) == 1
        c.logout()
    finally:
        server.close()
        hook.close()
