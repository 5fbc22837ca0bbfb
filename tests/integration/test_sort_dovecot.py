"""SORT and THREAD answers compared with Dovecot's on the same messages
(the corpora of test_sort_thread.py). Needs root and dovecot-imapd
(/usr/sbin/dovecot); skipped otherwise. A throwaway Dovecot listens on
loopback without TLS (imaplib, plaintext allowed on 127.0.0.1 only).

Where Rampart deliberately answers differently, KNOWN_DIFFERENCES says so
and why; docs/imap.md ("SORT and THREAD") lists the same."""
import imaplib
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

import test_sort_thread as corp
from rampart_harness import Raw, Server, free_port

DOVECOT = "/usr/sbin/dovecot"

pytestmark = pytest.mark.skipif(not os.path.exists(DOVECOT) or os.geteuid() != 0,
                                reason="needs root and dovecot-imapd")

def random_corpus(n=150, seed=12):
    """Replies to random earlier (or missing, or later) messages, with
    random References chains (loops and duplicates included), decorated
    subjects, equal dates, missing Date: and Message-ID fields."""
    rnd = random.Random(seed)
    deco = [b"", b"Re: ", b"Fwd: ", b"RE: [list] ", b"[list] ", b"Re: Re: ", b"Fw: "]
    tail = [b"", b"", b" (fwd)", b"  "]
    out = []
    for i in range(n):
        base = b"topic %d" % rnd.randrange(12)
        subject = rnd.choice(deco) + base + rnd.choice(tail)
        if rnd.random() < 0.1:
            subject = b"[Fwd: " + subject + b"]"
        mid = None if rnd.random() < 0.05 else b"<m%d@x>" % rnd.randrange(n + 20)
        refs = b" ".join(b"<m%d@x>" % rnd.randrange(n + 20) for _ in range(rnd.randrange(5)))
        date = None if rnd.random() < 0.1 else \
            b"Mon, 1 Jan 2024 %02d:%02d:00 +0000" % (rnd.randrange(24), rnd.randrange(3))
        frm = rnd.choice([b"a@x", b"B <b@y>", b"=?UTF-8?Q?=C3=89ve?= <eve@z>", None])
        out.append(corp.msg(subject, frm=frm, to=rnd.choice([b"c@x", b"d@x", None]),
                            date=date, mid=mid, refs=refs or None,
                            irt=b"<m%d@x>" % rnd.randrange(n) if rnd.random() < 0.2 else None,
                            body=b"x" * rnd.randrange(50)))
    return out


CORPORA = {
    "Keys": [m for m, _ in corp.KEYS_MSGS],
    "Subjects": [corp.msg(s, date=b"Mon, 5 Feb 2024 10:00:00 +0000") for s, _ in corp.SUBJECTS],
    "Shapes": corp.SHAPES_MSGS,
    "Refs": corp.REFS_MSGS,
    "Random": random_corpus(),
}
# Internal dates given in APPEND, so both servers hold the same ones.
IDATES = {"Keys": [d for _, d in corp.KEYS_MSGS],
          "Random": [b"0%d-Jan-2024 12:00:00 +0000" % random.Random(i).randrange(1, 4)
                     for i in range(150)]}

COMMANDS = [
    b"SORT (ARRIVAL) UTF-8 ALL", b"SORT (DATE) UTF-8 ALL", b"SORT (REVERSE DATE) UTF-8 ALL",
    b"SORT (SUBJECT) UTF-8 ALL", b"SORT (FROM) UTF-8 ALL", b"SORT (TO) UTF-8 ALL",
    b"SORT (CC) UTF-8 ALL", b"SORT (SIZE) UTF-8 ALL", b"SORT (DISPLAYFROM) UTF-8 ALL",
    b"SORT (DISPLAYTO) UTF-8 ALL", b"SORT (REVERSE SUBJECT DATE) UTF-8 ALL",
    b"THREAD ORDEREDSUBJECT UTF-8 ALL", b"THREAD REFERENCES UTF-8 ALL",
]

# (mailbox, command) -> why Rampart's answer differs from Dovecot's.
KNOWN_DIFFERENCES = {
}


class Dovecot:
    def __init__(self, maildir=None):
        """maildir (migrate, issue #13): serve that Maildir (owned by the
        rampart user) instead of a new one."""
        self.dir = tempfile.mkdtemp(prefix="dovecot-sort-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        user = pwd.getpwnam("rampart")
        home = os.path.join(self.dir, "home")
        os.makedirs(home)
        os.chown(home, user.pw_uid, user.pw_gid)
        location = "maildir:" + (maildir or "~/Maildir")
        passwd = os.path.join(self.dir, "passwd")
        with open(passwd, "w") as f:
            f.write("alice:{PLAIN}pw:%d:%d::%s::\n" % (user.pw_uid, user.pw_gid, home))
        conf = os.path.join(self.dir, "dovecot.conf")
        with open(conf, "w") as f:
            f.write("""
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
instance_name = sort-dovecot-{port}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1
mail_location = {location}
passdb {{
  driver = passwd-file
  args = {passwd}
}}
userdb {{
  driver = passwd-file
  args = {passwd}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""".format(d=self.dir, passwd=passwd, port=self.port, location=location))
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.proc.poll() is None, "dovecot exited"
                time.sleep(0.1)
        raise AssertionError("dovecot did not start")

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def dovecot_answer(imap, command):
    tag = imap._new_tag()
    imap.send(tag + b" " + command + b"\r\n")
    lines = []
    while True:
        l = imap.readline().rstrip(b"\r\n")
        if l.startswith(tag + b" "):
            assert l.split()[1] == b"OK", (command, l)
            return b"\n".join(lines)
        lines.append(l)


def rampart_answer(raw, command):
    data = raw.ok(command)
    return b"\n".join(l for l in data.split(b"\r\n")
                      if l and not l.startswith(raw.tag + b" "))


def test_same_answers_as_dovecot():
    dv = Dovecot()
    srv = Server()
    try:
        imap = imaplib.IMAP4("127.0.0.1", dv.port)
        imap.login("alice", "pw")
        raw = Raw(srv)
        diffs = []
        for box, msgs in CORPORA.items():
            imap.create(box)
            raw.ok(b"CREATE " + box.encode())
            for i, m in enumerate(msgs):
                idate = IDATES.get(box, [None] * len(msgs))[i]
                imap.append(box, None, '"%s"' % idate.decode() if idate else None, m)
                corp.append(raw, box.encode(), m, idate)
            imap.select(box)
            raw.ok(b"SELECT " + box.encode())
            for c in COMMANDS:
                want = dovecot_answer(imap, c)
                got = rampart_answer(raw, c)
                if got != want and (box, c) not in KNOWN_DIFFERENCES:
                    diffs.append((box, c, want, got))
        imap.logout()
        raw.close()
        assert not diffs, "\n".join("%s %s\n  dovecot %r\n  rampart %r" % d for d in diffs)
    finally:
        srv.close()
        dv.close()
