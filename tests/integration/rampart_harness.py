"""Starts a real `rampart serve` on loopback with real TLS for integration
tests: a throwaway directory with a generated certificate, config and users.

Environment (set by ctest): RAMPART_BIN (the binary), RAMPART_SRC (repo).
"""
import imaplib
import os
import resource
import select
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

BIN = os.environ.get("RAMPART_BIN") or os.path.join(
    os.environ.get("RAMPART_SRC", os.getcwd()), "build", "rampart")
RUN_USER = "rampart"


_GIVEN_PORTS = set()


def free_port():
    """A port free a moment ago and not given before by this process: the
    kernel may hand the same ephemeral port to two binds in a row, and a
    server given one port for two listeners refuses its configuration."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _GIVEN_PORTS:
            _GIVEN_PORTS.add(port)
            return port
    raise RuntimeError("no fresh free port in 100 tries")


def proc_status_kib(pid, key):
    """A kB figure of /proc/PID/status (VmRSS, VmHWM, RssAnon...)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


def raw_login(srv, timeout=120):
    """A raw TLS socket to srv, logged in as its user."""
    s = srv.raw(tls=True)
    s.settimeout(timeout)
    read_until(s, b"\r\n")
    s.sendall(b'l LOGIN %s "%s"\r\n' % (srv.user.encode(), srv.password.encode()))
    read_tagged(s, b"l")
    return s


def ensure_run_user():
    """As root the server must drop privileges: make sure the account exists."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(RUN_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", RUN_USER], check=True)
    return RUN_USER


def make_cert(directory):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


class Server:
    # [policy] for tests: thresholds no other test reaches and locks that
    # expire at once, so tests sharing a server from 127.0.0.1 do not lock
    # each other out. Tests of the policy pass their own (policy=...).
    POLICY_DEFAULTS = {
        "lockout_failures": 100000, "lockout_duration": 1, "lockout_max_duration": 1,
        "prefix_failures": 1000000, "user_failures": 1000000, "delay_base_ms": 0,
        "connection_reserve_percent": 0, "save_interval": 1,
    }

    def __init__(self, extra_config="", trusted_networks="", user="alice",
                 password="correct horse battery staple", tls_min=None, nofile=None, workers=2,
                 policy=None, fail_delay_ms=200):
        self.nofile = nofile  # RLIMIT_NOFILE for the server process, if set
        self.dir = tempfile.mkdtemp(prefix="rampart-test-")
        os.chmod(self.dir, 0o755)
        self.cert, self.key = make_cert(self.dir)
        self.host = "127.0.0.1"
        self.port_starttls = free_port()
        self.port_tls = free_port()
        # [http] (metrics, status page): its own free port per server, so
        # parallel tests never meet on the default 127.0.0.1:9143.
        self.port_http = free_port()
        self.user = user
        self.password = password
        self.conf_path = os.path.join(self.dir, "rampart.conf")
        self.log_path = os.path.join(self.dir, "server.log")
        run_user = ensure_run_user()
        lines = [
            "[server]",
            "workers = %d" % workers,
            "mail_root = mail",
            "users_file = users",
            "log_level = debug",
        ]
        if run_user:
            lines.append("user = %s" % run_user)
        lines += [
            # [http] (metrics, status page) early: extra_config may go on
            # with keys of the last section ([limits]) without a header.
            "[http]",
            "address = 127.0.0.1:%d" % self.port_http,
            "[tls]",
            "cert = cert.pem",
            "key = key.pem",
        ]
        if tls_min:
            lines.append("min_version = %s" % tls_min)
        lines += [
            "[listener imap]",
            "address = 127.0.0.1:%d" % self.port_starttls,
            "tls = starttls",
            "[listener imaps]",
            "address = 127.0.0.1:%d" % self.port_tls,
            "tls = implicit",
            "[security]",
            "trusted_networks = %s" % trusted_networks,
            "auth_fail_delay_ms = %d" % fail_delay_ms,
            "[limits]",
            "preauth_timeout = 60",
        ]
        pol = dict(self.POLICY_DEFAULTS)
        pol.update(policy or {})
        cfg = "\n".join(lines) + "\n" + extra_config
        if not cfg.endswith("\n"):
            cfg += "\n"
        cfg += "[policy]\n" + "".join("%s = %s\n" % kv for kv in pol.items())
        with open(self.conf_path, "w") as f:
            f.write(cfg)
        os.makedirs(os.path.join(self.dir, "mail"), exist_ok=True)
        open(os.path.join(self.dir, "users"), "a").close()
        self.add_user(user, password)
        self.proc = None
        self._start_on_free_ports()

    def _start_on_free_ports(self):
        """free_port() only names a port free a moment ago: a test running
        in parallel may take it first. The server refuses an address someone
        listens on (it does not share it through SO_REUSEPORT), so on
        "Address already in use" pick new ports and start again."""
        for attempt in range(5):
            try:
                return self.start()
            except RuntimeError as e:
                if "Address already in use" not in str(e) or attempt == 4:
                    raise
            with open(self.conf_path) as f:
                cfg = f.read()
            for attr in ("port_starttls", "port_tls", "port_http"):
                old, new = getattr(self, attr), free_port()
                cfg = cfg.replace("127.0.0.1:%d\n" % old, "127.0.0.1:%d\n" % new)
                setattr(self, attr, new)
            with open(self.conf_path, "w") as f:
                f.write(cfg)

    def _chown(self):
        if os.geteuid() == 0:
            pw = pwd.getpwnam(RUN_USER)
            for root, dirs, files in os.walk(self.dir):
                for n in dirs + files:
                    p = os.path.join(root, n)
                    if n == "key.pem":
                        continue
                    os.chown(p, pw.pw_uid, pw.pw_gid)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    def rampart(self, *args, input=None, check=True):
        return subprocess.run([BIN, *args], input=input, capture_output=True,
                              check=check, timeout=120)

    def add_user(self, name, password):
        self.rampart("user", "add", "-c", self.conf_path, name,
                     "--password-stdin", input=(password + "\n").encode())
        self._chown()

    def deliver(self, user, message, mailbox=None):
        args = ["deliver", "-c", self.conf_path, user]
        if mailbox:
            args.append(mailbox)
        return self.rampart(*args, input=message, check=False)

    def start(self):
        self._chown()
        self.logf = open(self.log_path, "ab")
        def limits():
            if self.nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))
        started = self.log().count("event=started ")
        self.proc = subprocess.Popen([BIN, "serve", "-c", self.conf_path],
                                     stdout=self.logf, stderr=self.logf, preexec_fn=limits)
        # The ports accept as soon as they are bound, before the rest of the
        # start-up (privilege drop, state_dir, policy, alerts) has run: wait
        # for the server's own "started" line too.
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.log())
            try:
                with socket.create_connection((self.host, self.port_tls), 0.5):
                    pass
                with socket.create_connection((self.host, self.port_starttls), 0.5):
                    pass
                if self.log().count("event=started ") > started:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not start: " + self.log())

    def stop(self, check=True):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not stop on SIGTERM")
            if check:
                assert rc == 0, "server exited with %d: %s" % (rc, self.log()[-4000:])
        self.proc = None
        self.logf.close()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        self.logf.close()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=10, since=0):
        """The first match of the regular expression in the server's log
        (from character `since` of it: a len(self.log()) taken earlier),
        waiting for it up to timeout seconds (AssertionError if none)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.log()[since:])
            if m:
                return m
            time.sleep(0.05)
        raise AssertionError("no %r in log:\n%s" % (pattern, self.log()[-3000:]))

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        return ctx

    def imap_tls(self, user=None, password=None, login=True):
        c = imaplib.IMAP4_SSL(self.host, self.port_tls, ssl_context=self.ssl_context(),
                              timeout=30)
        if login:
            c.login(user or self.user, password or self.password)
        return c

    def imap_starttls(self, user=None, password=None, login=True):
        c = imaplib.IMAP4(self.host, self.port_starttls, timeout=30)
        c.starttls(ssl_context=self.ssl_context())
        if login:
            c.login(user or self.user, password or self.password)
        return c

    def raw(self, tls=True):
        """A raw socket (TLS or plain) for byte-exact protocol tests."""
        s = socket.create_connection((self.host, self.port_tls if tls else self.port_starttls), 10)
        if tls:
            s = self.ssl_context().wrap_socket(s, server_hostname="localhost")
        s.settimeout(10)
        return s

    def close(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def read_until(sock, marker, limit=1 << 20, timeout=10):
    """Reads from sock until `marker` (bytes) appears; returns all bytes."""
    data = b""
    deadline = time.time() + timeout
    while marker not in data:
        if time.time() > deadline or len(data) > limit:
            raise AssertionError("timeout waiting for %r, got %r" % (marker, data[-500:]))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def read_tagged(sock, tag, timeout=10):
    """Reads until the complete tagged response line for `tag` (bytes)."""
    data = b""
    deadline = time.time() + timeout
    while True:
        for line in data.split(b"\r\n")[:-1]:
            if line.startswith(tag + b" "):
                return data
        if time.time() > deadline or len(data) > (1 << 24):
            raise AssertionError("timeout waiting for tag %r, got %r" % (tag, data[-500:]))
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def cmd_ok(sock, tag, text):
    """Sends `tag text`, reads through its tagged line and asserts OK."""
    sock.sendall(tag + b" " + text + b"\r\n")
    out = read_tagged(sock, tag)
    last = [l for l in out.split(b"\r\n") if l.startswith(tag + b" ")][-1]
    assert last.startswith(tag + b" OK"), out
    return out


def has_tagged(sock, tag):
    """Whatever has arrived on sock without waiting: does it hold tag?"""
    data = b""
    while select.select([sock], [], [], 0)[0] or sock.pending():
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data, any(l.startswith(tag + b" ") for l in data.split(b"\r\n"))


def served_during(a, b, tag, command, what):
    """Store work off the event loop (issue #10), without timing: a sends
    `command` (tagged `tag`); while it runs, three NOOPs of b (on the same
    worker) complete and a provably has no tagged reply yet. Returns all
    of a's bytes up to its tagged reply."""
    a.s.settimeout(300)
    a.s.sendall(tag + b" " + command + b"\r\n")
    time.sleep(0.3)  # the command has reached the server (ordering only)
    for _ in range(3):
        b.ok(b"NOOP", timeout=60)
    got, done = has_tagged(a.s, tag)
    assert not done, "the %s finished before the other client was served: %r" % (what, got[-200:])
    t = time.time()
    data = got + read_tagged(a.s, tag, timeout=300)
    print("%s still ran %.2f s after the NOOPs" % (what, time.time() - t))
    return data


class Raw:
    """A raw IMAP connection over TLS for byte-exact checks: logs in, may
    ENABLE IMAP4rev2 and SELECT/EXAMINE, then runs tagged commands."""

    def __init__(self, server, select=None, rev2=False, examine=False):
        self.s = server.raw(tls=True)
        read_until(self.s, b"\r\n")
        self.n = 0
        self.tag = None
        self.ok(b'LOGIN %s "%s"' % (server.user.encode(), server.password.encode()))
        if rev2:
            self.ok(b"ENABLE IMAP4rev2")
        if select:
            self.ok((b"EXAMINE " if examine else b"SELECT ") + select.encode())

    def cmd(self, text, timeout=20):
        """Sends one command; returns (all bytes, tagged status text)."""
        self.n += 1
        tag = b"t%d" % self.n
        self.tag = tag
        self.s.sendall(tag + b" " + text + b"\r\n")
        data = read_tagged(self.s, tag, timeout=timeout)
        last = [l for l in data.split(b"\r\n") if l.startswith(tag + b" ")][-1]
        return data, last[len(tag) + 1:]

    def ok(self, text, **kw):
        data, status = self.cmd(text, **kw)
        assert status.startswith(b"OK"), (text, data[-800:])
        return data

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class UserConn:
    """A raw TLS connection logged in as `user`, for tests with several
    users: cmd() returns (the answer, the tagged status text after the
    tag); the answer is text, or bytes when the subclass sets
    decode = False. ok/no/bad assert the status."""

    decode = True

    def __init__(self, srv, user, password="correct horse battery staple"):
        self.s = srv.raw(tls=True)
        read_until(self.s, b"\r\n")
        self.n = 0
        self.ok('LOGIN %s "%s"' % (user, password))

    def send(self, data):
        self.n += 1
        tag = b"t%d" % self.n
        self.s.sendall(tag + b" " + data)
        return tag

    def cmd(self, text, timeout=60):
        data = text.encode() if isinstance(text, str) else text
        tag = self.send(data + b"\r\n")
        out = read_tagged(self.s, tag, timeout=timeout)
        last = [l for l in out.split(b"\r\n") if l.startswith(tag + b" ")][-1]
        return (out.decode(errors="replace") if self.decode else out), last[len(tag) + 1:].decode()

    def ok(self, text, **kw):
        out, st = self.cmd(text, **kw)
        assert st.startswith("OK"), (text, out[-800:])
        return out

    def no(self, text, code=None):
        out, st = self.cmd(text)
        assert st.startswith("NO"), (text, out[-800:])
        if code:
            assert "[%s]" % code in st, (text, st)
        return st

    def bad(self, text):
        out, st = self.cmd(text)
        assert st.startswith("BAD"), (text, out[-800:])
        return st

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass
