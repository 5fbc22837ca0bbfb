"""A private Postfix instance for tests: its own config, queue and data
directories under a temporary directory, smtpd on one loopback port, no
chroot, its log in a file (maillog_file), delivering the virtual domain
example.org over LMTP to the given next hop. Needs root (Postfix's master
runs as root and its daemons as mail_owner)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SERVICES = """\
{smtp}     inet  n - n - -    smtpd
pickup     unix  n - n 60 1   pickup
cleanup    unix  n - n - 0    cleanup
qmgr       unix  n - n 300 1  qmgr
rewrite    unix  - - n - -    trivial-rewrite
bounce     unix  - - n - 0    bounce
defer      unix  - - n - 0    bounce
trace      unix  - - n - 0    bounce
verify     unix  - - n - 1    verify
proxymap   unix  - - n - -    proxymap
error      unix  - - n - -    error
retry      unix  - - n - -    error
discard    unix  - - n - -    discard
lmtp       unix  - - n - -    lmtp
smtp       unix  - - n - -    smtp
anvil      unix  - - n - 1    anvil
scache     unix  - - n - 1    scache
showq      unix  n - n - -    showq
flush      unix  n - n 1000? 0 flush
postlog    unix-dgram n - n - 1 postlogd
"""


MASTER = "/usr/lib/postfix/sbin/master"
# postfix-files: the queue's directories, their owners and modes.
QUEUE_DIRS = [
    ("pid", ("root", "root"), 0o755),
    ("public", ("postfix", "postdrop"), 0o710),
    ("maildrop", ("postfix", "postdrop"), 0o730),
] + [(d, ("postfix", "root"), 0o700) for d in (
    "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming",
    "private", "saved", "trace")]


def available():
    """None when a private Postfix can run here, else why not."""
    if os.geteuid() != 0:
        return "Postfix's master must run as root (the test is not root)"
    if not shutil.which("postfix") or not os.path.exists(MASTER):
        return "postfix is not installed (scripts/install-deps.sh installs it)"
    return None


class Postfix:
    def __init__(self, transport, smtp_port, extra=None):
        self.dir = tempfile.mkdtemp(prefix="rampart-postfix-")
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "etc")
        self.log_path = os.path.join(self.dir, "postfix.log")
        self.port = smtp_port
        os.makedirs(self.conf)
        os.makedirs(os.path.join(self.dir, "queue"), 0o755)
        os.makedirs(os.path.join(self.dir, "data"), 0o700)
        shutil.chown(os.path.join(self.dir, "data"), "postfix", "postfix")
        params = {
            "compatibility_level": "3.6",
            "queue_directory": os.path.join(self.dir, "queue"),
            "data_directory": os.path.join(self.dir, "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "maillog_file": self.log_path,
            "maillog_file_prefixes": self.dir,
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "myhostname": "mx.test.example",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "",
            "alias_maps": "",
            "alias_database": "",
            "virtual_mailbox_domains": "example.org",
            "virtual_transport": transport,
            # Every example.org address goes to LMTP; Rampart decides
            # (550 5.1.1 for unknown users, which Postfix then bounces).
            "smtpd_reject_unlisted_recipient": "no",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtputf8_enable": "yes",
            "biff": "no",
            "delay_warning_time": "0",
            # Retry at once in tests: queue runs are otherwise minutes apart.
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "lmtp_destination_concurrency_limit": "32",
        }
        params.update(extra or {})
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            for k, v in params.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(SERVICES.format(smtp="127.0.0.1:%d" % smtp_port))
        # What `postfix start` would do, without its seconds of checking
        # the whole installation: the queue's directories, then master,
        # which daemonises once it is ready (-w).
        queue = params["queue_directory"]
        for name, owner, mode in QUEUE_DIRS:
            path = os.path.join(queue, name)
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
            shutil.chown(path, owner[0], owner[1])
        subprocess.run([MASTER, "-c", self.conf, "-w"], check=True, capture_output=True,
                       timeout=60)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", smtp_port), 0.5) as s:
                    s.settimeout(5)
                    if s.recv(100).startswith(b"220"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("postfix did not start: " + self.log())

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, needle, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.log():
                return
            time.sleep(0.1)
        raise AssertionError("no %r in the Postfix log:\n%s" % (needle, self.log()[-3000:]))

    def close(self):
        pid = None
        try:
            with open(os.path.join(self.dir, "queue", "pid", "master.pid")) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
        if pid:
            os.kill(pid, signal.SIGTERM)  # what `postfix stop` does, without its checks
        else:
            subprocess.run(["postfix", "-c", self.conf, "stop"], capture_output=True, timeout=60)
        # master exits after its children: wait for it (bounded).
        deadline = time.time() + 10
        while pid and time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)
