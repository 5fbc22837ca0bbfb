"""`rampart check` against stores damaged on purpose (issue #13 check).

One real server for the file; each case has a user of its own, mail
APPENDed through the server (real TLS, imaplib), then the damage done
behind the server's back (rows deleted, files removed, truncated or
changed, the quota counters falsified, a cached envelope altered, UIDNEXT
lowered, an uncommitted file planted, index.sqlite truncated). For each:
`rampart check` reports it (exit 1) and changes nothing, `--repair` fixes
it (exit 1, every finding repaired), a second check is clean (exit 0), and
an IMAP client sees every message that survived byte for byte, the damaged
ones in Lost+Found where the rules promise it (docs/operations.md)."""
import base64
import glob
import hashlib
import os
import re
import signal
import sqlite3

import pytest

from rampart_harness import Server

PASSWORD = "correct horse battery staple"


USERS = ["rows", "removed", "truncated", "changed", "quota", "cache", "uidnext", "garbage",
         "trunc"]


@pytest.fixture(scope="module")
def srv():
    # Message files, which the cases damage by hand (index rows of small
    # messages: tests/unit/test_store_check.c test_inline_*, test_inline.py).
    s = Server(extra_config="[passwords]\nupgrade_on_login = no\n[store]\ninline_max_kb = 0\n")
    # Every case's user with a cheap legacy hash: an argon2id check costs
    # ~1 s on a loaded machine, and this file is about the store.
    salt = b"checksalt"
    digest = hashlib.sha512(PASSWORD.encode() + salt).digest()
    pwhash = "{SSHA512}" + base64.b64encode(digest + salt).decode()
    with open(os.path.join(s.dir, "users"), "a") as f:
        for u in USERS:
            f.write("%s:%s\n" % (u, pwhash))
    s.proc.send_signal(signal.SIGHUP)
    s.wait_log(r"event=reload")
    yield s
    s.close()


def msg(i, extra=b""):
    return (b"From: Sender %d <s%d@example.org>\r\nTo: r@example.org\r\n"
            b"Subject: check case %d\r\nMessage-ID: <m%d@example.org>\r\n\r\n"
            b"Body of message %d.\r\n%s" % (i, i, i, i, i, extra))


class Case:
    """A user with messages 0..n-1 in INBOX (and two in Work)."""

    def __init__(self, srv, name):
        self.srv = srv
        self.user = name
        # One connection per case, open across the repair, which its
        # later commands must see.
        self.c = c = srv.imap_tls(name, PASSWORD)
        c.create("Work")
        self.sent = {}
        for i in range(5):
            m = msg(i, b"x" * (100 * i))
            assert c.append("INBOX", "(\\Flagged)" if i == 2 else None, None, m)[0] == "OK"
            self.sent[("INBOX", i + 1)] = m
        for i in range(5, 7):
            m = msg(i)
            assert c.append("Work", None, None, m)[0] == "OK"
            self.sent[("Work", i - 4)] = m
        self.dir = os.path.join(srv.dir, "mail", "local", name)

    def db(self):
        return sqlite3.connect(os.path.join(self.dir, "index.sqlite"))

    def blob_of(self, mailbox, uid):
        with self.db() as db:
            (b,) = db.execute("SELECT m.blob FROM messages m JOIN mailboxes x ON "
                              "x.id=m.mailbox_id WHERE x.name=? AND m.uid=?",
                              (mailbox, uid)).fetchone()
        return b

    def blob_path(self, blob):
        return os.path.join(self.dir, "blobs", blob[:2], blob[2:])

    def check(self, *args):
        r = self.srv.rampart("check", "-c", self.srv.conf_path, *args, self.user, check=False)
        out = r.stdout.decode()
        lines = [l for l in out.splitlines() if " summary " not in l]
        summary = [l for l in out.splitlines() if " summary " in l]
        return r.returncode, lines, summary, r.stderr.decode()

    def mail(self):
        """{mailbox: {uid: bytes}} of every selectable mailbox, over IMAP."""
        c = self.c
        out = {}
        for line in c.list()[1]:
            name = re.search(rb'"([^"]*)"$', line).group(1).decode()
            typ, _ = c.select('"%s"' % name, readonly=True)
            assert typ == "OK"
            got = {}
            typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[])")
            for part in data:
                if isinstance(part, tuple):
                    uid = int(re.search(rb"UID (\d+)", part[0]).group(1))
                    got[uid] = part[1]
            out[name] = got
        return out

    def run(self, expect):
        """check finds exactly the problems in expect (each a regex over
        one line), --repair fixes them, a second check is clean."""
        rc, lines, _, err = self.check()
        assert rc == 1, (lines, err)
        for pat in expect:
            assert any(re.search(pat, l) for l in lines), (pat, lines)
        assert len(lines) == len(expect), lines
        assert all("action=none" in l for l in lines), lines
        # (that a check without --repair changes nothing: test_store_check.c)
        rc, fixed, summary, err = self.check("--repair")
        assert rc == 1, (fixed, err)
        assert len(fixed) == len(expect) and all("action=none" not in l for l in fixed), fixed
        rc, after, summary, err = self.check()
        assert (rc, after) == (0, []), (after, err)
        assert "findings=0" in summary[0]
        return fixed


def lost_found(mail):
    return sorted(mail.get("Lost+Found", {}).values())


def test_rows_deleted(srv):
    # The index lost a row; its file and cached data remain: the message
    # comes back in Lost+Found.
    c = Case(srv, "rows")
    with c.db() as db:
        db.execute("DELETE FROM messages WHERE uid=2 AND mailbox_id="
                   "(SELECT id FROM mailboxes WHERE name='INBOX')")
    c.run([r"check=orphan blob=[0-9a-f]{64} problem=unindexed"])
    mail = c.mail()
    assert lost_found(mail) == [c.sent[("INBOX", 2)]]
    assert sorted(mail["INBOX"].values()) == sorted(
        v for k, v in c.sent.items() if k[0] == "INBOX" and k[1] != 2)
    assert sorted(mail["Work"].values()) == sorted(
        v for k, v in c.sent.items() if k[0] == "Work")


def test_blob_removed(srv):
    # No bytes left: the row is expunged (with history: a QRESYNC client
    # learns it as VANISHED), nothing goes to Lost+Found.
    c = Case(srv, "removed")
    os.unlink(c.blob_path(c.blob_of("INBOX", 1)))
    c.run([r"check=blob mailbox=INBOX uid=1 .*problem=missing"])
    mail = c.mail()
    assert "Lost+Found" not in mail
    assert set(mail["INBOX"]) == {2, 3, 4, 5}
    assert all(mail["INBOX"][u] == c.sent[("INBOX", u)] for u in mail["INBOX"])
    cl = c.c
    cl.close()  # imaplib allows ENABLE only outside a mailbox
    cl.enable("QRESYNC")
    typ, data = cl.select("INBOX (QRESYNC (%s 1))" % uidvalidity(cl, "INBOX"))
    vanished = cl.untagged_responses.get("VANISHED", [])
    assert typ == "OK" and b"(EARLIER) 1" in vanished, vanished


def uidvalidity(cl, name):
    typ, data = cl.status(name, "(UIDVALIDITY)")
    return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))


def test_blob_truncated(srv):
    # Part of the bytes remain: kept as they are, in Lost+Found.
    c = Case(srv, "truncated")
    with open(c.blob_path(c.blob_of("INBOX", 4)), "r+b") as f:
        f.truncate(40)
    fixed = c.run([r"check=blob mailbox=INBOX uid=4 .*problem=size"])
    assert "action=moved_to_lost_found" in fixed[0]
    mail = c.mail()
    assert lost_found(mail) == [c.sent[("INBOX", 4)][:40]]
    assert 4 not in mail["INBOX"] and len(mail["INBOX"]) == 4


def test_blob_bytes_changed(srv):
    # Same size, other bytes (a flipped bit): in Lost+Found under the
    # name of the bytes it now has; its flag goes with it.
    c = Case(srv, "changed")
    p = c.blob_path(c.blob_of("INBOX", 3))
    with open(p, "r+b") as f:
        f.seek(10)
        f.write(b"#")
    changed = open(p, "rb").read()
    c.run([r"check=blob mailbox=INBOX uid=3 .*problem=hash"])
    mail = c.mail()
    assert lost_found(mail) == [changed]
    real = hashlib.sha256(changed).hexdigest()
    assert os.path.exists(c.blob_path(real)) and not os.path.exists(p)
    c.c.select('"Lost+Found"')
    assert b"\\Flagged" in c.c.fetch("1", "(FLAGS)")[1][0]


def test_quota_falsified(srv):
    c = Case(srv, "quota")
    with c.db() as db:
        db.execute("UPDATE quota SET storage=storage+5000, messages=messages+3")
    c.run([r"check=quota problem=storage .*stored=\d+ counted=\d+",
           r"check=quota problem=messages .*stored=10 counted=7"])
    size = sum(len(m) for m in c.sent.values())
    out = srv.rampart("user", "quota", "-c", srv.conf_path, "quota", "--show").stdout
    assert b"MESSAGE usage=7 " in out and b"STORAGE-BYTES usage=%d\n" % size in out, out


def test_cached_envelope_altered(srv):
    c = Case(srv, "cache")
    cl = c.c
    cl.select("INBOX")
    before = cl.fetch("5", "(ENVELOPE BODYSTRUCTURE)")[1]
    with c.db() as db:
        db.execute("UPDATE message_cache SET envelope='(NIL \"forged\" NIL NIL NIL NIL NIL "
                   "NIL NIL NIL)' WHERE blob=?", (c.blob_of("INBOX", 5),))
    assert b"forged" in cl.fetch("5", "(ENVELOPE)")[1][0]
    c.run([r"check=cache mailbox=INBOX uid=5 .*problem=envelope"])
    assert cl.fetch("5", "(ENVELOPE BODYSTRUCTURE)")[1] == before


def test_uidnext_lowered(srv):
    # UIDNEXT below an existing UID would reuse it (RFC 9051 2.3.1.1).
    c = Case(srv, "uidnext")
    with c.db() as db:
        db.execute("UPDATE mailboxes SET uidnext=3 WHERE name='INBOX'")
    c.run([r"check=uid mailbox=INBOX uid=5 problem=uid_not_below_uidnext"])
    typ, data = c.c.append("INBOX", None, None, msg(9))
    m = re.search(rb"APPENDUID \d+ (\d+)\]", data[0])
    assert m and int(m.group(1)) == 6, data


def test_uncommitted_file_collected(srv):
    # Bytes that no commit ever named (an APPEND that failed or crashed
    # before its commit): left alone while young, removed once older than
    # the grace period; never put in Lost+Found.
    c = Case(srv, "garbage")
    data = msg(99)
    blob = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.dirname(c.blob_path(blob)), exist_ok=True)
    with open(c.blob_path(blob), "wb") as f:
        f.write(data)
    tmp = os.path.join(c.dir, "tmp", "blob.1.2.3")
    open(tmp, "wb").close()
    srv._chown()  # as the server's user would have left them
    rc, lines, _, _ = c.check()
    assert (rc, lines) == (0, [])  # in flight, as far as it can tell
    rc, lines, _, _ = c.check("--grace", "0")
    assert rc == 1 and len(lines) == 2, lines
    assert any(re.search(r"check=orphan blob=%s problem=uncommitted" % blob, l) for l in lines)
    assert any("check=tmp problem=stale_temp" in l for l in lines)
    rc, lines, _, _ = c.check("--grace", "0", "--repair")
    assert rc == 1 and all("action=removed" in l for l in lines), lines
    assert not os.path.exists(c.blob_path(blob)) and not os.path.exists(tmp)
    assert c.check("--grace", "0")[0] == 0
    assert "Lost+Found" not in c.mail()


def test_index_truncated(srv):
    # The index file cut in half: set aside (never deleted), a fresh one
    # built; every message survives, in its mailbox when the damaged file
    # still said which, else in Lost+Found.
    c = Case(srv, "trunc")
    index = os.path.join(c.dir, "index.sqlite")
    with c.db() as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    size = os.path.getsize(index)
    with open(index, "r+b") as f:
        f.truncate(size // 2)
    rc, lines, _, _ = c.check()
    assert rc == 1 and lines and all("check=integrity" in l for l in lines), lines
    rc, fixed, summary, err = c.check("--repair")
    assert rc == 1 and "rebuilt=yes" in summary[0], (fixed, summary, err)
    assert any("problem=corrupt action=set_aside_and_rebuilt kept=index.sqlite.damaged-" in l
               for l in fixed), fixed
    assert glob.glob(index + ".damaged-*"), os.listdir(c.dir)
    rc, after, _, _ = c.check()
    assert (rc, after) == (0, []), after
    mail = c.mail()
    survived = sorted(v for box in mail.values() for v in box.values())
    assert survived == sorted(c.sent.values())
    typ, data = c.c.append("INBOX", None, None, msg(42))
    assert typ == "OK"


def test_cli_errors(srv):
    r = srv.rampart("check", "--help", check=False)
    assert r.returncode == 0 and b"usage: rampart check" in r.stdout
    assert srv.rampart("check", "-c", srv.conf_path, check=False).returncode == 64
    assert srv.rampart("check", "-c", srv.conf_path, "--all", "alice",
                       check=False).returncode == 64
    assert srv.rampart("check", "-c", srv.conf_path, "nobody", check=False).returncode == 67
    bad = os.path.join(srv.dir, "bad.conf")
    with open(bad, "w") as f:
        f.write("[server]\nworkers = many\n")
    assert srv.rampart("check", "-c", bad, "alice", check=False).returncode == 78
    r = srv.rampart("check", "-c", srv.conf_path, "--all", check=False)
    assert r.returncode in (0, 1) and b"checked=" in r.stdout, r.stdout
