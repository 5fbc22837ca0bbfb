"""Lifecycle (issue #13): SIGHUP reload, SIGTERM drain, SIGUSR1 log
reopen, pid_file, the sd_notify protocol and socket activation, against a
real `rampart serve` over real TLS. systemd itself is not run (no PID 1
here): the tests play its part of the protocol (a NOTIFY_SOCKET datagram
socket; LISTEN_FDS/LISTEN_PID with a socket on descriptor 3)."""
import os
import pwd
import re
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from rampart_harness import BIN, Server, ensure_run_user, read_tagged, read_until

_run_user = ensure_run_user()
RUN_USER_UID = pwd.getpwnam(_run_user).pw_uid if _run_user else None


class LServer(Server):
    """The harness server with extra [server] lines and an environment for
    its first start (NOTIFY_SOCKET), or started through socket activation
    (`activate`: the listening socket handed on descriptor 3)."""

    def __init__(self, server_lines=(), env=None, activate=False, **kw):
        self.server_lines = list(server_lines)
        self.env = env or {}
        self.activate = activate
        self.patched = False
        super().__init__(**kw)

    def conf_set(self, section, key, value):
        """Sets key in [section] of the file (adds it if missing)."""
        text = open(self.conf_path).read()
        head = "[%s]\n" % section
        start = text.index(head) + len(head)
        end = text.find("\n[", start)
        end = len(text) if end < 0 else end + 1
        body = text[start:end]
        line = "%s = %s\n" % (key, value)
        if re.search(r"(?m)^%s\s*=" % re.escape(key), body):
            body = re.sub(r"(?m)^%s\s*=.*\n" % re.escape(key), line, body)
        else:
            body = line + body
        with open(self.conf_path, "w") as f:
            f.write(text[:start] + body + text[end:])

    def start(self):
        if not self.patched:
            self.patched = True
            for line in self.server_lines:
                k, v = [x.strip() for x in line.split("=", 1)]
                self.conf_set("server", k, v)
        if not self.activate:
            saved = {k: os.environ.get(k) for k in self.env}
            os.environ.update(self.env)
            try:
                return super().start()
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
        # systemd's part: the socket of listener "imap", bound and
        # listening, on descriptor 3 of the server (LISTEN_PID is the pid
        # of the shell that execs it).
        self._chown()
        self.logf = open(self.log_path, "ab")
        self.lsock = socket.socket()
        self.lsock.bind((self.host, self.port_starttls))
        self.lsock.listen(16)
        fd = self.lsock.fileno()
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES="imap", **self.env)
        self.proc = subprocess.Popen(
            ["sh", "-c", 'LISTEN_PID=$$ exec "$0" serve -c "$1"', BIN, self.conf_path],
            stdout=self.logf, stderr=self.logf, env=env, pass_fds=(3,),
            preexec_fn=lambda: os.dup2(fd, 3))
        self.wait_log(r"event=started ", timeout=20)


def notify_socket():
    """systemd's end: a datagram socket the run user can reach."""
    directory = tempfile.mkdtemp(prefix="rampart-notify-")
    os.chmod(directory, 0o755)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = os.path.join(directory, "notify.sock")
    s.bind(path)
    os.chmod(path, 0o777)
    s.settimeout(10)
    return s, path


def notify_wait(sock, want):
    """Datagrams until one holding the line `want`; returns it."""
    deadline = time.time() + 10
    while time.time() < deadline:
        msg = sock.recv(4096).decode()
        if want in msg.split("\n"):
            return msg
    raise AssertionError("no %s from the server" % want)


def capability(srv):
    c = srv.imap_tls(login=False)
    try:
        return c.capabilities
    finally:
        c.logout()


@pytest.fixture(scope="module")
def srv():
    ns, path = notify_socket()
    # A stale pid file (a process that is gone) does not stop the start.
    dead = subprocess.Popen(["true"])
    dead.wait()
    pid_dir = tempfile.mkdtemp(prefix="rampart-pid-")
    os.chmod(pid_dir, 0o755)
    pid_file = os.path.join(pid_dir, "rampart.pid")
    with open(pid_file, "w") as f:
        f.write("%d\n" % dead.pid)
    s = LServer(server_lines=["pid_file = %s" % pid_file], env={"NOTIFY_SOCKET": path})
    s.notify = ns
    s.pid_file = pid_file
    yield s
    s.close()
    ns.close()


def test_ready_and_pid_file(srv):
    msg = notify_wait(srv.notify, "READY=1")
    assert "STATUS=serving" in msg
    assert open(srv.pid_file).read() == "%d\n" % srv.proc.pid
    assert "event=pid_file_stale" in srv.log()
    # A second server with the same pid_file (other ports) refuses to start.
    conf2 = srv.conf_path + ".2"
    text = open(srv.conf_path).read()
    for port in (srv.port_starttls, srv.port_tls):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            text = text.replace(":%d\n" % port, ":%d\n" % s.getsockname()[1])
    open(conf2, "w").write(text)
    r = subprocess.run([BIN, "serve", "-c", conf2], capture_output=True, timeout=30)
    assert r.returncode != 0
    assert b"already running" in r.stderr + r.stdout, r.stderr
    assert open(srv.pid_file).read() == "%d\n" % srv.proc.pid


def test_reload_live_keys_session_survives(srv):
    old = srv.imap_tls()
    old.select("INBOX")
    assert "APPENDLIMIT=%d" % (64 << 20) in capability(srv)
    new_log = os.path.join(srv.dir, "rampart.log")
    srv.conf_set("limits", "max_message_size", str(5 << 20))
    srv.conf_set("server", "log_file", new_log)
    srv.conf_set("server", "log_level", "info")
    srv.proc.send_signal(signal.SIGHUP)
    reloading = notify_wait(srv.notify, "RELOADING=1")
    assert re.search(r"(?m)^MONOTONIC_USEC=\d+$", reloading)
    notify_wait(srv.notify, "READY=1")
    deadline = time.time() + 10
    while not (os.path.exists(new_log) and "changed=" in open(new_log).read()):
        assert time.time() < deadline, srv.log()[-2000:]
        time.sleep(0.05)
    line = re.search(r"event=reload what=config changed=(\S+) restart_needed=(\S+)",
                     open(new_log).read())
    assert set(line.group(1).split(",")) == {
        "server.log_file", "server.log_level", "limits.max_message_size"}
    assert line.group(2) == "-"
    # New sessions see the new limit; the old session goes on.
    assert "APPENDLIMIT=%d" % (5 << 20) in capability(srv)
    assert old.noop()[0] == "OK"
    assert old.select("INBOX")[0] == "OK"
    old.logout()
    # log_level info: the debug line of a connection is gone.
    assert "event=connect " not in open(new_log).read()

    # SIGUSR1 after logrotate's rename: a new file, written to.
    os.rename(new_log, new_log + ".1")
    srv.proc.send_signal(signal.SIGUSR1)
    deadline = time.time() + 10
    while not (os.path.exists(new_log) and "event=log_reopened" in open(new_log).read()):
        assert time.time() < deadline
        time.sleep(0.05)
    capability(srv)
    assert "event=log_reopened" not in open(new_log + ".1").read()


def test_reload_restart_needed_and_invalid(srv):
    log = os.path.join(srv.dir, "rampart.log")
    srv.conf_set("server", "workers", "3")
    srv.proc.send_signal(signal.SIGHUP)
    notify_wait(srv.notify, "RELOADING=1")
    notify_wait(srv.notify, "READY=1")
    m = re.search(r"event=reload what=config changed=- restart_needed=(\S+)", open(log).read())
    assert m and m.group(1) == "server.workers", open(log).read()[-2000:]

    before = capability(srv)
    srv.conf_set("limits", "max_message_size", "twelve")
    srv.conf_set("limits", "max_line", "4096")
    srv.proc.send_signal(signal.SIGHUP)
    notify_wait(srv.notify, "READY=1")
    m = re.search(r"event=reload_error what=config .*max_message_size.*old configuration kept",
                  open(log).read())
    assert m, open(log).read()[-2000:]
    assert capability(srv) == before
    c = srv.imap_tls()
    assert c.noop()[0] == "OK"
    c.logout()
    srv.conf_set("limits", "max_message_size", str(5 << 20))


def test_admin_commands_help_and_exit_codes(srv):
    """Every admin command: --help on stdout with exit 0; EX_USAGE (64) on
    bad arguments; EX_CONFIG (78) against a file that does not validate."""
    bad = os.path.join(srv.dir, "bad.conf")
    open(bad, "w").write("[server]\nworkers = many\n")
    commands = [["user", "add"], ["user", "passwd"], ["user", "del"], ["user", "list"],
                ["user", "quota"], ["user", "app-password", "list"],
                ["config", "check"], ["security", "status"], ["security", "unlock"],
                ["deliver"], ["serve"], ["version"]]
    for cmd in commands:
        r = subprocess.run([BIN, *cmd, "--help"], capture_output=True, timeout=30)
        assert r.returncode == 0, (cmd, r.stderr)
        assert b"usage:" in r.stdout.lower(), (cmd, r.stdout)
        assert r.stderr == b"", (cmd, r.stderr)
    for cmd in commands[:-1]:
        r = subprocess.run([BIN, *cmd, "--no-such-option"], capture_output=True, timeout=30)
        assert r.returncode == 64, (cmd, r.returncode, r.stderr)
    args = {"user add": ["bob", "--password-stdin"], "user passwd": ["bob", "--password-stdin"],
            "user del": ["bob"], "user quota": ["bob"], "security unlock": ["1.2.3.4"],
            "user app-password list": ["bob"], "deliver": ["bob"]}
    for cmd in commands[:-1]:
        extra = args.get(" ".join(cmd), [])
        r = subprocess.run([BIN, *cmd, "-c", bad, *extra], capture_output=True, input=b"x\n",
                           timeout=30)
        assert r.returncode == 78, (cmd, r.returncode, r.stderr)
    r = subprocess.run([BIN, "--help"], capture_output=True, timeout=30)
    assert r.returncode == 0 and b"usage:" in r.stdout
    assert subprocess.run([BIN, "no-such-command"], capture_output=True).returncode == 64
    assert subprocess.run([BIN], capture_output=True).returncode == 64


def login_sock(srv, rcvbuf=None):
    """A logged-in TLS socket; a small receive buffer makes a large FETCH
    wait for its reader."""
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect((srv.host, srv.port_tls))
    s = srv.ssl_context().wrap_socket(s, server_hostname="localhost")
    read_until(s, b"\r\n")
    s.sendall(b'l LOGIN %s "%s"\r\n' % (srv.user.encode(), srv.password.encode()))
    read_tagged(s, b"l")
    s.sendall(b"s SELECT INBOX\r\n")
    read_tagged(s, b"s")
    return s


def read_to_eof(sock, timeout=10):
    """Everything until the server closes (bounded in time and size)."""
    chunks, n = [], 0
    deadline = time.time() + timeout
    while time.time() < deadline and n < (64 << 20):
        c = sock.recv(1 << 16)
        if not c:
            return b"".join(chunks)
        chunks.append(c)
        n += len(c)
    raise AssertionError("no end of stream, %d bytes" % n)


def test_socket_activation_and_drain():
    ns, path = notify_socket()
    # The pid file's directory belongs to the run user (as systemd's
    # RuntimeDirectory=), so the server can remove the file at exit.
    pid_dir = tempfile.mkdtemp(prefix="rampart-pid-")
    if RUN_USER_UID is not None:
        os.chown(pid_dir, RUN_USER_UID, -1)
    pid_file = os.path.join(pid_dir, "rampart.pid")
    srv = LServer(server_lines=["shutdown_timeout = 3", "pid_file = %s" % pid_file],
                  env={"NOTIFY_SOCKET": path}, activate=True)
    try:
        notify_wait(ns, "READY=1")
        # Socket activation: listener imap took the socket on descriptor 3
        # (the port is the test's: binding it again would fail), imaps
        # bound its own.
        assert re.search(r"event=listening listener=imap .*socket=systemd", srv.log())
        assert re.search(r"event=listening listener=imaps .*socket=bound", srv.log())
        c = srv.imap_starttls()
        assert c.select("INBOX")[0] == "OK"
        c.logout()
        assert open(pid_file).read() == "%d\n" % srv.proc.pid
        body = b"x" * 76 + b"\r\n"
        msg = b"Subject: big\r\n\r\n" + body * ((6 << 20) // 78)
        assert srv.deliver(srv.user, msg).returncode == 0
        idle = login_sock(srv)
        idle.sendall(b"i IDLE\r\n")
        read_until(idle, b"+ ")
        slow = login_sock(srv, rcvbuf=4096)     # reads its FETCH after SIGTERM
        stuck = login_sock(srv, rcvbuf=4096)    # never reads: the bound ends it
        slow.sendall(b"f FETCH 1 BODY.PEEK[]\r\n")
        stuck.sendall(b"f FETCH 1 BODY.PEEK[]\r\n")
        time.sleep(0.5)   # both FETCHes are waiting for their readers
        t0 = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in notify_wait(ns, "STOPPING=1")
        # IDLE is waiting for the client: its BYE comes at once.
        got = read_until(idle, b"\r\n* BYE", timeout=5) + read_until(idle, b"\r\n", timeout=5)
        assert b"* BYE [UNAVAILABLE] shutting down\r\n" in got, got
        # No new connections: each worker closes its listening socket when
        # it takes the stop (at once unless busy elsewhere).
        deadline = time.time() + 5
        while True:
            try:
                socket.create_connection((srv.host, srv.port_tls), 1).close()
            except OSError:
                break
            assert time.time() < deadline, "still accepting after SIGTERM"
            time.sleep(0.05)
        assert srv.proc.poll() is None, "exited without waiting for the FETCH"
        # The running FETCH completes, then the BYE (its reader now reads
        # with a window of its own size).
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        slow.settimeout(10)
        data = read_to_eof(slow)
        print("FETCH read %.2f s after SIGTERM" % (time.time() - t0))
        assert len(data) > len(msg)
        assert data[-200:].endswith(b"\r\nf OK FETCH completed\r\n"
                                   b"* BYE [UNAVAILABLE] shutting down\r\n"), data[-200:]
        rc = srv.proc.wait(30)
        took = time.time() - t0
        print("drain: exit %d after %.2f s (shutdown_timeout 3)" % (rc, took))
        assert rc == 0
        # `stuck` never reads: without the bound the server would wait for
        # it forever (the 3 s bound, 1 s grace, and room for a loaded host).
        assert took < 20, took
        assert "event=drain_timeout worker=" in srv.log()
        assert "event=stopped" in srv.log()
        assert not os.path.exists(pid_file), "pid_file left behind"
        assert "event=pid_file_left" not in srv.log()
        for s in (idle, slow, stuck):
            s.close()
        srv.proc = None
        srv.logf.close()
    finally:
        srv.close()
        srv.lsock.close()
        ns.close()
