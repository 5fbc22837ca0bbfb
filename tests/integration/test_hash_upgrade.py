"""Hash upgrade on login ([passwords] upgrade_on_login, auth/rehash.h): a
user migrated with {SHA512-CRYPT}, {SHA256-CRYPT}, {BLF-CRYPT}, {SSHA512},
{SSHA256} or {SSHA} who logs in with the password (LOGIN, AUTHENTICATE
PLAIN) gets an argon2id hash and SCRAM-SHA-256 keys. As root the users file
stays root:rampart 0640 in a root-owned directory and the rampart-auth
helper writes it; a server that never was root writes it itself.

Every "nothing changed" check is ordered after a positive event in the
same single-threaded upgrade queue (another user's upgrade), never after a
sleep."""
import base64
import contextlib
import hashlib
import imaplib
import os
import pwd
import re
import shutil
import signal
import ssl
import stat
import subprocess
import threading
import time

import pytest

import rampart_harness
from rampart_harness import RUN_USER, Server
from test_scram import ScramClient, scram, tls_sock

PW = "Migrated pass 2019"
SCHEMES = ["SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "SSHA512", "SSHA256", "SSHA"]


def ssha(md, password, salt):
    return base64.b64encode(md(password.encode() + salt).digest() + salt).decode()


def legacy_hash(scheme, password):
    """The value Dovecot (or OpenLDAP) would have written."""
    if scheme in ("SHA512-CRYPT", "SHA256-CRYPT"):
        flag = "-6" if scheme == "SHA512-CRYPT" else "-5"
        out = subprocess.run(["openssl", "passwd", flag, "-stdin"], input=password.encode(),
                             capture_output=True, check=True).stdout.decode().strip()
        return "{%s}%s" % (scheme, out)
    if scheme == "BLF-CRYPT":
        if shutil.which("doveadm"):
            out = subprocess.run(["doveadm", "pw", "-s", "BLF-CRYPT", "-p", password],
                                 capture_output=True, check=True).stdout.decode().strip()
            return out
        import crypt  # deprecated since 3.11; only without doveadm
        return "{BLF-CRYPT}" + crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    md = {"SSHA512": hashlib.sha512, "SSHA256": hashlib.sha256, "SSHA": hashlib.sha1}[scheme]
    return "{%s}%s" % (scheme, ssha(md, password, os.urandom(8)))


def users_path(srv):
    return srv.users_file if hasattr(srv, "users_file") else os.path.join(srv.dir, "users")


def add_legacy(srv, user, scheme, password=PW, extra=""):
    """Appends a migrated line, as an admin pasting a Dovecot passwd-file
    would (the file's owner and mode stay)."""
    with open(users_path(srv), "a") as f:
        f.write("%s:%s%s\n" % (user, legacy_hash(scheme, password), extra))


def entry(srv, user):
    """(hash, extra fields) of user's line."""
    with open(users_path(srv)) as f:
        for line in f:
            parts = line.rstrip("\n").split(":")
            if parts[0] == user:
                return parts[1], (parts[7] if len(parts) > 7 else "")
    raise AssertionError("no %s in the users file" % user)


def set_password(srv, verb, user, password):
    """`rampart user add|passwd` (--force: the policy is not under test)."""
    srv.rampart("user", verb, "-c", srv.conf_path, user, "--password-stdin", "--force",
                input=(password + "\n").encode())


def login(srv, user, password, plain=False):
    c = srv.imap_tls(login=False)
    try:
        if plain:
            c.authenticate("PLAIN", lambda _: b"\0" + user.encode() + b"\0" + password.encode())
        else:
            c.login(user, password)
        return True
    except imaplib.IMAP4.error:
        return False
    finally:
        with contextlib.suppress(Exception):
            c.logout()


def upgraded(srv, user, timeout=120):
    """Waits for user's upgrade line; returns the scheme it came from."""
    m = srv.wait_log(r"event=password_upgraded user=%s from=(\S+) to=ARGON2ID scram=added"
                     % re.escape(user), timeout)
    return m.group(1)


def assert_current(srv, user, password):
    h, fields = entry(srv, user)
    assert h.startswith("{ARGON2ID}$argon2id$v=19$m=65536,t=2,"), h
    assert "scram-sha-256=10000," in fields, fields
    # the new hash serves the next login, and SCRAM now works too
    assert login(srv, user, password)
    s = tls_sock(srv, ssl.TLSVersion.TLSv1_3)
    try:
        resp, final = scram(s, "SCRAM-SHA-256", ScramClient(user, password))
        assert resp.startswith("a OK"), resp
    finally:
        s.close()


class RootOwnedUsers(Server):
    """The production layout: the users file root:rampart 0640 in a
    directory only root may write, the server dropping to the run user."""

    def start(self):
        etc = os.path.join(self.dir, "etc")
        if not os.path.isdir(etc):
            os.mkdir(etc)
            self.users_file = os.path.join(etc, "users")
            os.rename(os.path.join(self.dir, "users"), self.users_file)
            with open(self.conf_path) as f:
                conf = f.read()
            with open(self.conf_path, "w") as f:
                f.write(conf.replace("users_file = users\n", "users_file = etc/users\n"))
        super().start()

    def _chown(self):
        super()._chown()
        etc = os.path.join(self.dir, "etc")
        if os.path.isdir(etc):
            gid = pwd.getpwnam(RUN_USER).pw_gid
            os.chown(etc, 0, 0)
            os.chmod(etc, 0o755)
            for name in os.listdir(etc):
                os.chown(os.path.join(etc, name), 0, gid)
                os.chmod(os.path.join(etc, name), 0o640)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the helper runs only as root")


@pytest.fixture(scope="module")
def root_srv():
    if os.geteuid() != 0:
        pytest.skip("the helper runs only as root")
    s = RootOwnedUsers()
    yield s
    s.close()


def helper_pid(srv):
    return int(srv.wait_log(r"event=password_upgrade state=on mode=helper pid=(\d+)").group(1))


@needs_root
def test_every_legacy_scheme_upgraded_by_the_root_helper(root_srv):
    srv = root_srv
    pid = helper_pid(srv)
    with open("/proc/%d/comm" % pid) as f:
        assert f.read().strip() == "rampart-auth"
    with open("/proc/%d/status" % pid) as f:
        status = f.read()
    assert re.search(r"^Uid:\s+0\s", status, re.M)
    assert re.search(r"^PPid:\s+%d$" % srv.proc.pid, status, re.M)
    # only stdio and its socket: no listener, no log file, no TLS key
    assert sorted(int(fd) for fd in os.listdir("/proc/%d/fd" % pid)) == [0, 1, 2, 3]
    for i, scheme in enumerate(SCHEMES):
        add_legacy(srv, "mig%d" % i, scheme)
    before = os.stat(srv.users_file)
    for i, scheme in enumerate(SCHEMES):
        user = "mig%d" % i
        assert entry(srv, user)[0].startswith("{%s}" % scheme)
        assert login(srv, user, PW, plain=bool(i % 2)), scheme
        assert upgraded(srv, user) == scheme
        assert_current(srv, user, PW)
        if i == 0:
            # Replaced, not edited in place: the new file exists beside
            # the old one until the rename, so its inode differs. (Later
            # replacements may get a freed inode number back: ext4 reuses
            # them, and once that made the old and the final file's equal.)
            assert os.stat(srv.users_file).st_ino != before.st_ino
    after = os.stat(srv.users_file)
    assert (after.st_uid, after.st_gid) == (0, pwd.getpwnam(RUN_USER).pw_gid)
    assert stat.S_IMODE(after.st_mode) == 0o640
    etc = os.stat(os.path.dirname(srv.users_file))
    assert etc.st_uid == 0 and stat.S_IMODE(etc.st_mode) == 0o755
    assert "event=password_upgraded user=mig0 from=SHA512-CRYPT to=ARGON2ID scram=added" \
        in srv.log()
    assert PW not in srv.log()


@needs_root
def test_wrong_password_and_app_password_change_nothing(root_srv):
    srv = root_srv
    add_legacy(srv, "wrongpw", "SSHA512")
    add_legacy(srv, "appuser", "SHA512-CRYPT")
    add_legacy(srv, "barrier1", "SSHA")
    app = srv.rampart("user", "app-password", "add", "-c", srv.conf_path, "appuser",
                      "phone").stdout.decode().strip()
    wrong_before = entry(srv, "wrongpw")
    app_before = entry(srv, "appuser")
    assert not login(srv, "wrongpw", PW + "x")
    assert not login(srv, "wrongpw", PW + "y", plain=True)
    assert login(srv, "appuser", app)
    srv.wait_log(r"event=login result=ok .*user=appuser")
    # the queue is FIFO with one worker: once barrier1 is done, anything
    # queued before it is done too
    assert login(srv, "barrier1", PW)
    upgraded(srv, "barrier1")
    assert entry(srv, "wrongpw") == wrong_before
    assert entry(srv, "appuser") == app_before
    assert "user=wrongpw from=" not in srv.log()
    assert "user=appuser from=" not in srv.log()


@needs_root
def test_concurrent_cli_edits_and_upgrades_keep_both(root_srv):
    """`rampart user passwd` of other users while upgrades run: the CLI
    and the helper take the same lock, so no change is lost."""
    srv = root_srv
    n = 6
    for i in range(n):
        add_legacy(srv, "conc%d" % i, SCHEMES[i % len(SCHEMES)])
        set_password(srv, "add", "cli%d" % i, "Original pw %d of cli" % i)
    new_pw = ["Changed pw %d by the admin" % i for i in range(n)]
    errors = []

    def cli_loop():
        try:
            for i in range(n):
                set_password(srv, "passwd", "cli%d" % i, new_pw[i])
        except Exception as e:  # reported below
            errors.append(e)

    t = threading.Thread(target=cli_loop)
    t.start()
    for i in range(n):
        assert login(srv, "conc%d" % i, PW)
    t.join(300)
    assert not t.is_alive() and not errors, errors
    for i in range(n):
        upgraded(srv, "conc%d" % i)
    for i in range(n):
        h, fields = entry(srv, "conc%d" % i)
        assert h.startswith("{ARGON2ID}") and "scram-sha-256=" in fields
        # (only right passwords here: wrong ones for many users from one
        # source would be password spraying to the policy engine)
        assert login(srv, "cli%d" % i, new_pw[i]), "cli%d lost its new password" % i
    st = os.stat(srv.users_file)
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o640


def test_upgrade_on_login_no_leaves_the_file_alone():
    s = Server(extra_config="[passwords]\nupgrade_on_login = no\n")
    try:
        add_legacy(s, "kept", "SHA512-CRYPT")
        s.wait_log(r"event=password_upgrade state=off reason=config")
        before = entry(s, "kept")
        assert login(s, "kept", PW)
        assert login(s, "kept", PW, plain=True)
        assert entry(s, "kept") == before
        assert "event=password_upgraded" not in s.log()
    finally:
        s.close()


class Unprivileged(Server):
    """A server that never was root (`make run` as a user): no helper, it
    writes its own users file."""

    def start(self):
        if os.geteuid() != 0:
            return super().start()
        pw = pwd.getpwnam(RUN_USER)
        with open(self.conf_path) as f:
            conf = f.read()
        with open(self.conf_path, "w") as f:
            f.write(conf.replace("user = %s\n" % RUN_USER, ""))

        def as_run_user():
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)

        real = subprocess.Popen

        def popen(args, preexec_fn=None, **kw):
            def pre():
                if preexec_fn:
                    preexec_fn()
                as_run_user()
            return real(args, preexec_fn=pre, **kw)

        rampart_harness.subprocess.Popen = popen
        try:
            super().start()
        finally:
            rampart_harness.subprocess.Popen = real

    def _chown(self):
        super()._chown()
        if os.geteuid() == 0:
            pw = pwd.getpwnam(RUN_USER)
            os.chown(os.path.join(self.dir, "key.pem"), pw.pw_uid, pw.pw_gid)


def test_unprivileged_server_upgrades_in_process():
    s = Unprivileged()
    try:
        s.wait_log(r"event=password_upgrade state=on mode=in-process")
        add_legacy(s, "self", "BLF-CRYPT")
        add_legacy(s, "selfplain", "SSHA256")
        assert login(s, "self", PW)
        assert login(s, "selfplain", PW, plain=True)
        assert upgraded(s, "self") == "BLF-CRYPT"
        assert upgraded(s, "selfplain") == "SSHA256"
        assert_current(s, "self", PW)
        assert_current(s, "selfplain", PW)
    finally:
        s.close()


@needs_root
def test_server_outlives_its_helper():
    s = RootOwnedUsers()
    try:
        pid = helper_pid(s)
        os.kill(pid, signal.SIGKILL)
        add_legacy(s, "orphan", "SHA512-CRYPT")
        add_legacy(s, "orphan2", "SSHA")
        assert login(s, "orphan", PW)
        s.wait_log(r"event=password_upgrade state=off reason=\"the rampart-auth helper is gone\"")
        assert login(s, "orphan", PW)
        assert login(s, "orphan2", PW)
        assert entry(s, "orphan")[0].startswith("{SHA512-CRYPT}")
        assert entry(s, "orphan2")[0].startswith("{SSHA}")
    finally:
        s.close()  # and the server still stops cleanly (rc 0)


@needs_root
def test_helper_exits_with_the_server():
    s = RootOwnedUsers()
    pid = helper_pid(s)
    srv_pid = s.proc.pid
    s.proc.send_signal(signal.SIGKILL)  # no clean stop: the socket closes anyway
    s.proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and os.path.exists("/proc/%d" % pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped by init normally; harmless here
        with contextlib.suppress(OSError):
            with open("/proc/%d/status" % pid) as f:
                if re.search(r"^State:\s+Z", f.read(), re.M):
                    break
        time.sleep(0.05)
    gone = not os.path.exists("/proc/%d" % pid)
    if not gone:
        with open("/proc/%d/status" % pid) as f:
            gone = bool(re.search(r"^State:\s+Z", f.read(), re.M))
    s.proc = None
    s.logf.close()
    shutil.rmtree(s.dir, ignore_errors=True)
    assert gone, "the helper of %d outlived it" % srv_pid
