"""Migration in and out (issue #13 migrate): a throwaway Dovecot 2.3 gets
mail through IMAP (flags, keywords, internal dates, folders with non-ASCII
names and a subfolder, subscriptions, expunged UIDs); `rampart import
maildir` takes its Maildir, and Rampart must then serve every message with
the same bytes, flags, keywords, INTERNALDATE, UID, plus each folder's
UIDVALIDITY and UIDNEXT, and LSUB; a second import adds nothing. `rampart
export` writes a Maildir that a second Dovecot serves the same way, and
importing that export for another user loses nothing. Also: mbox import,
passwd-file import (hashes kept, re-hashed to argon2id at login), and the
documented mbsync IMAP-to-IMAP recipe (docs/operations.md). Needs root and
dovecot-imapd (one Dovecot start per phase)."""
import datetime
import imaplib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from rampart_harness import RUN_USER, Server
from test_sort_dovecot import DOVECOT, Dovecot

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(DOVECOT),
                                reason="needs root and dovecot-imapd")

PW = "Migrated pass 2024"


def mutf7(name):
    """RFC 3501 5.1.3 modified UTF-7."""
    out, buf = [], ""

    def flush():
        if buf:
            b = buf.encode("utf-16-be")
            import base64
            out.append("&" + base64.b64encode(b).decode().rstrip("=").replace("/", ",") + "-")
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            buf = ""
            out.append("&-" if ch == "&" else ch)
        else:
            buf += ch
    flush()
    return "".join(out)


def dovecot(maildir):
    """test_sort_dovecot's Dovecot (password "pw") serving `maildir`."""
    d = Dovecot(maildir)

    def imap():
        c = imaplib.IMAP4("127.0.0.1", d.port)
        c.login("alice", "pw")
        return c
    d.imap = imap
    return d


# (folder as a client names it, UTF-8, '/' between levels)
FOLDERS = ["INBOX", "Ärger", "Ärger/Unter", "Café ☕", "Archive 2023"]
SUBSCRIBED = ["INBOX", "Ärger/Unter", "Café ☕"]
FLAGSETS = [r"(\Seen)", r"(\Seen \Answered $Forwarded)", r"(\Flagged Junk)",
            r"(\Draft $Label1 custom_kw)", r"(\Deleted \Seen)", "()",
            r"(\Answered \Flagged \Seen $Label1 Junk NonJunk)"]
DATES = ['"01-Jan-2024 12:00:00 +0100"', '"29-Feb-2020 23:59:59 -0800"',
         '"15-Jul-2019 03:04:05 +0000"', '"31-Dec-1999 00:00:01 +0530"']


def message(i, folder):
    body = "Body of message %d in %s.\r\nSecond line.\r\n" % (i, folder)
    if i % 5 == 0:
        body += "From the start of a line.\r\n" + "long line " * 200 + "\r\n"
    return ("From: Sender %d <s%d@example.org>\r\nTo: alice@example.org\r\n"
            "Subject: =?UTF-8?Q?M=C3=A9ssage?= %d\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
            "Message-ID: <m%d.%s@example.org>\r\n\r\n%s" % (
                i, i, i, i, abs(hash(folder)) % 1000, body)).encode()


def imap_name(folder, sep):
    return '"%s"' % mutf7(folder.replace("/", sep))


def populate(c):
    """About 30 messages; two expunged in INBOX so UIDs have gaps."""
    for f in FOLDERS[1:]:
        assert c.create(imap_name(f, "."))[0] == "OK", f
    for f in SUBSCRIBED:
        assert c.subscribe(imap_name(f, "."))[0] == "OK"
    n = 0
    for fi, f in enumerate(FOLDERS):
        for j in range(8 if f == "INBOX" else 5):
            typ, _ = c.append(imap_name(f, "."), FLAGSETS[n % len(FLAGSETS)],
                              DATES[n % len(DATES)], message(n, f))
            assert typ == "OK"
            n += 1
    c.select("INBOX")
    c.store("2,5", "+FLAGS.SILENT", r"(\Deleted)")
    c.expunge()
    return n


def parse_idate(s):
    return datetime.datetime.strptime(s, "%d-%b-%Y %H:%M:%S %z").timestamp()


def snapshot(c, sep):
    """{folder: (uidvalidity, uidnext, [(uid, flags, idate, bytes)])}, LSUB."""
    out = {}
    for f in FOLDERS:
        typ, _ = c.select(imap_name(f, sep), readonly=True)
        assert typ == "OK", f
        uv = int(c.untagged_responses.get("UIDVALIDITY", [b"0"])[-1])
        _, st = c.status(imap_name(f, sep), "(UIDNEXT)")
        un = int(re.search(rb"UIDNEXT (\d+)", st[0]).group(1))
        msgs = []
        typ, data = c.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
        assert typ == "OK"
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta = item[0].decode()
            uid = int(re.search(r"UID (\d+)", meta).group(1))
            flags = frozenset(re.search(r"FLAGS \(([^)]*)\)", meta).group(1).split()) - {
                "\\Recent"}
            idate = parse_idate(re.search(r'INTERNALDATE "([^"]+)"', meta).group(1))
            msgs.append((uid, flags, idate, item[1]))
        msgs.sort()
        out[f] = (uv, un, msgs)
        c.close()
    typ, data = c.lsub('""', "*")
    subs = set()
    for line in data:
        m = re.match(rb'\([^)]*\) "(.)" (.*)', line)
        name = m.group(2).decode().strip('"')
        subs.add(imaplib_decode(name).replace(m.group(1).decode(), "/"))
    return out, subs


def imaplib_decode(s):
    """Modified UTF-7 back to UTF-8."""
    import base64

    def dec(m):
        b = m.group(1)
        if not b:
            return "&"
        b = b.replace(",", "/")
        return base64.b64decode(b + "=" * (-len(b) % 4)).decode("utf-16-be")
    return re.sub(r"&([^-]*)-", dec, s)


def chown_tree(path):
    pw = pwd.getpwnam(RUN_USER)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def rampart_imap(srv, user, password):
    c = imaplib.IMAP4_SSL(srv.host, srv.port_tls, ssl_context=srv.ssl_context())
    c.login(user, password)
    return c


@pytest.fixture(scope="module")
def world():
    """A populated Dovecot Maildir, its snapshot, and a Rampart server."""
    base = tempfile.mkdtemp(prefix="migrate-src-")
    os.chmod(base, 0o755)
    home = os.path.join(base, "home")
    os.makedirs(home)
    chown_tree(base)
    d = dovecot(os.path.join(home, "Maildir"))
    try:
        c = d.imap()
        n = populate(c)
        before = snapshot(c, ".")
        c.logout()
    finally:
        d.close()
    srv = Server(user="alice", password=PW)
    srv.add_user("bob", PW)
    yield {"srv": srv, "maildir": os.path.join(home, "Maildir"), "snap": before, "n": n,
           "base": base}
    srv.close()
    shutil.rmtree(base, ignore_errors=True)


def run_import(srv, *args):
    return srv.rampart("import", args[0], "-c", srv.conf_path, *args[1:], check=False)


def assert_same(theirs, ours):
    t_boxes, t_subs = theirs
    o_boxes, o_subs = ours
    for f in FOLDERS:
        tuv, tun, tm = t_boxes[f]
        ouv, oun, om = o_boxes[f]
        assert (ouv, oun) == (tuv, tun), f
        assert len(om) == len(tm), f
        for a, b in zip(tm, om):
            assert a[0] == b[0], (f, "uid")
            assert a[1] == b[1], (f, a[0], "flags")
            assert a[2] == b[2], (f, a[0], "internaldate")
            assert a[3] == b[3], (f, a[0], "bytes")
    assert t_subs <= o_subs, "subscriptions"
    assert set(SUBSCRIBED) <= t_subs


def test_import_maildir_keeps_everything(world):
    srv = world["srv"]
    r = run_import(srv, "maildir", "alice", world["maildir"])
    assert r.returncode == 0, r.stderr
    assert ("%d messages added, 0 skipped" % (world["n"] - 2)).encode() in r.stdout, r.stdout
    c = rampart_imap(srv, "alice", PW)
    ours = snapshot(c, "/")
    c.logout()
    assert_same(world["snap"], ours)
    # The gaps of the expunged UIDs are kept.
    assert [m[0] for m in ours[0]["INBOX"][2]][:4] == [1, 3, 4, 6]
    # A second run adds nothing.
    r = run_import(srv, "maildir", "alice", world["maildir"])
    assert r.returncode == 0, r.stderr
    assert b"0 messages added, %d skipped" % (world["n"] - 2) in r.stdout, r.stdout
    world["ours"] = ours


def test_export_served_by_dovecot_and_round_trip(world):
    srv = world["srv"]
    if "ours" not in world:
        pytest.skip("import failed")
    out = os.path.join(world["base"], "export", "Maildir")
    os.makedirs(os.path.dirname(out))
    chown_tree(os.path.dirname(out))
    r = srv.rampart("export", "-c", srv.conf_path, "alice", out, check=False)
    assert r.returncode == 0, r.stderr
    # Exporting into an existing Maildir is refused.
    r2 = srv.rampart("export", "-c", srv.conf_path, "alice", out, check=False)
    assert r2.returncode == 73
    d = dovecot(out)
    try:
        c = d.imap()
        theirs = snapshot(c, ".")
        c.logout()
    finally:
        d.close()
    assert_same(world["snap"], theirs)
    # import -> export -> import: bob ends up with what alice has.
    r = run_import(srv, "maildir", "bob", out)
    assert r.returncode == 0, r.stderr
    c = rampart_imap(srv, "bob", PW)
    bobs = snapshot(c, "/")
    c.logout()
    assert_same(world["ours"], bobs)


MBOX = (b"From alice@example.org Mon Jan  1 12:00:00 2024\n"
        b"From: a@example.org\nSubject: one\nStatus: RO\nX-Status: AF\n"
        b"X-Keywords: $Label1 Work\nX-UID: 7\nContent-Length: 999\n\n"
        b"Hello\n>From quoted\n>>From twice\nFrom inside\n\n"
        b"From bob@example.org Tue Feb 29 23:59:59 2000\n"
        b"From: b@example.org\nSubject: two\n\nSecond\n\n"
        b"From x Sat Jul 15 03:04:05 2023\n"
        b"Subject: three\nX-Status: T\n\nThird\n\n\n")


def test_import_mbox(world):
    srv = world["srv"]
    # Read as the server's account (root drops to it): a readable place.
    path = os.path.join(world["base"], "old.mbox")
    with open(path, "wb") as f:
        f.write(MBOX)
    os.chmod(path, 0o644)
    r = run_import(srv, "mbox", "alice", path, "--mailbox", "Old mail")
    assert r.returncode == 0, r.stderr
    assert b"3 messages added" in r.stdout
    c = rampart_imap(srv, "alice", PW)
    c.select('"Old mail"', readonly=True)
    _, data = c.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
    msgs = [x for x in data if isinstance(x, tuple)]
    c.logout()
    assert len(msgs) == 3
    m1 = msgs[0]
    assert m1[1] == (b"From: a@example.org\r\nSubject: one\r\n\r\nHello\r\nFrom quoted\r\n"
                     b">From twice\r\nFrom inside\r\n")
    flags = set(re.search(rb"FLAGS \(([^)]*)\)", m1[0]).group(1).split()) - {rb"\Recent"}
    assert flags == {rb"\Seen", rb"\Answered", rb"\Flagged", b"$Label1", b"Work"}
    assert b'"01-Jan-2024 12:00:00 +0000"' in m1[0]
    assert b'"29-Feb-2000 23:59:59 +0000"' in msgs[1][0]
    assert msgs[1][1] == b"From: b@example.org\r\nSubject: two\r\n\r\nSecond\r\n"
    # One trailing empty line of the last message is the separator's.
    assert msgs[2][1] == b"Subject: three\r\n\r\nThird\r\n\r\n"
    assert rb"\Draft" in msgs[2][0]
    r = run_import(srv, "mbox", "alice", path, "--mailbox", "Old mail")
    assert r.returncode == 0 and b"0 messages added, 3 skipped" in r.stdout, r.stdout


def test_import_passwd_file(world, tmp_path):
    srv = world["srv"]
    crypt6 = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=b"carol pw",
                            capture_output=True, check=True).stdout.decode().strip()
    argon = subprocess.run(["doveadm", "pw", "-s", "ARGON2ID", "-p", "erin pw"],
                           capture_output=True, check=True).stdout.decode().strip()
    assert argon.startswith("{ARGON2ID}")
    pf = tmp_path / "passwd"
    pf.write_text("carol:{SHA512-CRYPT}%s:1000:1000::/home/carol::allow_nets=127.0.0.0/8\n"
                  "dave:{PLAIN}dave pw:1000:1000::/home/dave::\n"
                  "erin:%s::::::\n"
                  "frank:{CRAM-MD5}abcdef:::::\n"
                  "alice:{PLAIN}other:::::\n" % (crypt6, argon))
    r = srv.rampart("import", "passwd-file", "-c", srv.conf_path, str(pf), check=False)
    assert r.returncode == 65, r.stderr   # frank's scheme is refused
    assert b"3 users added, 1 skipped (already there), 1 refused" in r.stdout, r.stdout
    users = open(os.path.join(srv.dir, "users")).read()
    assert "{PLAIN}" not in users and "dave pw" not in users
    assert re.search(r"^carol:\{SHA512-CRYPT\}\$6\$.*allow_nets=127\.0\.0\.0/8", users, re.M)
    assert "erin:" + argon in users
    for user, pw in [("carol", "carol pw"), ("dave", "dave pw"), ("erin", "erin pw")]:
        rampart_imap(srv, user, pw).logout()
    # The legacy hash becomes argon2id after the login (auth/rehash).
    deadline = time.time() + 15
    while time.time() < deadline:
        line = [l for l in open(os.path.join(srv.dir, "users")) if l.startswith("carol:")][0]
        if line.startswith("carol:{ARGON2ID}"):
            break
        time.sleep(0.1)
    assert line.startswith("carol:{ARGON2ID}"), line
    # A second run adds nothing.
    r = srv.rampart("import", "passwd-file", "-c", srv.conf_path, str(pf), check=False)
    assert b"0 users added, 4 skipped" in r.stdout, r.stdout


# mbsync adds its own tracking header to what it uploads, and carries the
# system flags only (keywords are not part of its model).
TUID = re.compile(rb"X-TUID: [^\r]*\r\n")
SYSTEM = {rb"\Seen", rb"\Answered", rb"\Flagged", rb"\Draft", rb"\Deleted"}


def test_mbsync_recipe(world, tmp_path):
    """docs/operations.md: IMAP -> IMAP with mbsync from a live server (here
    the alice store of this server) to a Rampart user, flags kept."""
    if shutil.which("mbsync") is None:
        pytest.skip("mbsync not installed")
    srv = world["srv"]
    if "ours" not in world:
        pytest.skip("import failed")
    srv.add_user("mb", PW)
    rc = tmp_path / "mbsyncrc"
    state = tmp_path / "state"
    state.mkdir()
    rc.write_text("""IMAPAccount old
Host localhost
Port {port}
User alice
Pass "{pw}"
SSLType IMAPS
CertificateFile {cert}
AuthMechs LOGIN

IMAPAccount new
Host localhost
Port {port}
User mb
Pass "{pw}"
SSLType IMAPS
CertificateFile {cert}
AuthMechs LOGIN

IMAPStore old
Account old

IMAPStore new
Account new

Channel migrate
Far :old:
Near :new:
Patterns *
Create Near
Sync Pull
Expunge None
SyncState {state}/
""".format(port=srv.port_tls, pw=PW, cert=srv.cert, state=state))
    r = subprocess.run(["mbsync", "-c", str(rc), "migrate"], capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    old = rampart_imap(srv, "alice", PW)
    new = rampart_imap(srv, "mb", PW)
    for f in FOLDERS:
        got = []
        for c in (old, new):
            assert c.select(imap_name(f, "/"), readonly=True)[0] == "OK", f
            _, data = c.fetch("1:*", "(FLAGS BODY.PEEK[])")
            got.append(sorted((TUID.sub(b"", x[1]), frozenset(re.search(rb"FLAGS \(([^)]*)\)", x[0])
                                                .group(1).split()) & SYSTEM)
                              for x in data if isinstance(x, tuple)))
            c.close()
        assert got[0] == got[1], f
    old.logout()
    new.logout()


def test_cli_exit_codes(world, tmp_path):
    srv = world["srv"]
    for args in (["import", "maildir", "--help"], ["export", "--help"]):
        assert srv.rampart(*args, check=False).returncode == 0, args
    for args in (["import", "nosuch"], ["export", "alice"],
                 ["import", "mbox", "a", "b", "--bogus"]):
        assert srv.rampart(*args, check=False).returncode == 64, args
    bad = tmp_path / "bad.conf"
    bad.write_text("[server]\nno_such_key = 1\n")
    assert run_import(srv, "maildir", "-c", str(bad), "alice", "/x").returncode == 78
    assert run_import(srv, "maildir", "nobody", world["maildir"]).returncode == 67
    assert srv.rampart("export", "-c", srv.conf_path, "nobody", str(tmp_path / "e"),
                       check=False).returncode == 67
    assert run_import(srv, "maildir", "alice", str(tmp_path / "missing")).returncode == 66
