"""mbsync (isync) syncing a mailbox with several folders both ways; a
second sync changes nothing."""
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("mbsync") is None, reason="mbsync not installed")


def write_rc(server, local):
    rc = os.path.join(server.dir, "mbsyncrc")
    with open(rc, "w") as f:
        f.write("""IMAPAccount test
Host localhost
Port %d
User %s
Pass "%s"
SSLType IMAPS
CertificateFile %s
AuthMechs LOGIN

IMAPStore remote
Account test

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel test
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""" % (server.port_tls, server.user, server.password, server.cert, local, local))
    return rc


def mbsync(rc):
    r = subprocess.run(["mbsync", "-c", rc, "-V", "test"], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    return r.stdout.decode() + r.stderr.decode()


def maildir_count(path):
    n = 0
    for sub in ("cur", "new"):
        p = os.path.join(path, sub)
        if os.path.isdir(p):
            n += len(os.listdir(p))
    return n


def test_mbsync_both_ways(server):
    c = server.imap_tls()
    c.create("Lists/dev")
    for i in range(3):
        c.append("INBOX", None, None, b"Subject: in %d\r\n\r\nbody %d\r\n" % (i, i))
    c.append("Lists/dev", "(\\Seen)", None, b"Subject: list\r\n\r\nlist body\r\n")
    c.logout()
    local = os.path.join(server.dir, "maildir")
    os.makedirs(local)
    rc = write_rc(server, local)
    mbsync(rc)
    assert maildir_count(os.path.join(local, "INBOX")) == 3
    assert maildir_count(os.path.join(local, "Lists", "dev")) == 1
    # Local -> server: a new message in the local Sent folder.
    sent = os.path.join(local, "Sent")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(sent, sub), exist_ok=True)
    with open(os.path.join(sent, "cur", "1700000000.1.host:2,S"), "wb") as f:
        f.write(b"Subject: from local\r\n\r\nlocal body\r\n")
    mbsync(rc)
    c = server.imap_tls()
    typ, data = c.status("Sent", "(MESSAGES)")
    assert b"MESSAGES 1" in data[0]
    c.logout()
    # A second sync has nothing to do: neither side changes.
    def snapshot():
        files = sorted(os.path.relpath(os.path.join(r, f), local)
                       for r, _, fs in os.walk(local) for f in fs
                       if not f.startswith(".mbsync") and ".uidvalidity" not in f)
        c = server.imap_tls()
        st = [c.status(b, "(MESSAGES UIDNEXT UNSEEN)")[1][0]
              for b in ("INBOX", "Sent", "Lists/dev")]
        c.logout()
        return files, st
    before = snapshot()
    mbsync(rc)
    assert snapshot() == before
