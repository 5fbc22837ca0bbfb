"""End to end: a real Postfix, started by the test on loopback with its own
config, queue and data directories, receives mail over SMTP from python's
smtplib and hands it to Rampart over LMTP on a unix socket (virtual_transport
= lmtp:unix:...), as docs/operations.md tells an administrator to set it up.
The mail is read back over IMAP; an unknown user is refused with 550 5.1.1,
which Postfix logs and bounces to the sender (delivered over LMTP too).

Postfix's master runs as root: without root the test skips, saying so."""
import os
import shutil
import smtplib
import time

import pytest

from rampart_harness import Server, free_port
import postfix_instance

WHY = postfix_instance.available()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def mta():
    srv = Server(extra_config=(
        "[listener lmtp]\naddress = unix:lmtp.sock\nprotocol = lmtp\nunix_group = postfix\n"))
    sock = os.path.join(srv.dir, "lmtp.sock")
    srv.add_user("bob@example.org", PASSWORD)
    # add_user gives the harness's whole directory back to the run user;
    # the server had made the socket root:postfix (unix_group).
    shutil.chown(sock, "root", "postfix")
    c = srv.imap_tls()
    c.create("lists")
    c.logout()
    pf = None
    try:
        pf = postfix_instance.Postfix("lmtp:unix:%s" % sock, free_port())
        yield srv, pf
    finally:
        if pf:
            pf.close()
        srv.close()


def wait_messages(srv, user, password, mailbox, needle, want=1, timeout=20):
    """The messages of `mailbox` containing needle, once there are `want`."""
    deadline = time.time() + timeout
    got = []
    while time.time() < deadline:
        c = srv.imap_tls(user=user, password=password)
        c.select('"%s"' % mailbox)
        typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[])")
        c.logout()
        got = [d[1] for d in data if isinstance(d, tuple) and needle in d[1]]
        if len(got) >= want:
            return got
        time.sleep(0.2)
    raise AssertionError("%d of %d messages with %r in %s/%s" % (len(got), want, needle, user,
                                                                   mailbox))


def test_postfix_delivers_over_lmtp(mta):
    srv, pf = mta
    body = (b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n"
            b"Subject: through postfix\r\nMessage-ID: <pf1@example.org>\r\n"
            b"Date: Mon, 30 Nov 2026 12:00:00 +0000\r\n\r\n"
            b"Hello Bob,\r\n.a line with a leading dot\r\n\r\n-- \r\nAlice\r\n")
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as s:
        refused = s.sendmail("alice@example.org", ["bob@example.org", "alice+lists@example.org"],
                             body)
    assert refused == {}
    m = wait_messages(srv, "bob@example.org", PASSWORD, "INBOX", b"pf1@example.org")[0]
    # Rampart's trace headers first, then Postfix's, then the message as sent.
    assert m.startswith(b"Return-Path: <alice@example.org>\r\n"), m[:300]
    assert b"with LMTP id" in m and b"(envelope-from <alice@example.org>)" in m
    assert b"by mx.test.example (Postfix) with ESMTP" in m
    assert m.endswith(body[body.index(b"From: Alice"):])
    # alice+lists: into alice's folder "lists".
    wait_messages(srv, "alice", PASSWORD, "lists", b"pf1@example.org")
    pf.wait_log("to=<bob@example.org>, relay=mx.test.example[%s]"
                % os.path.join(srv.dir, "lmtp.sock"))
    pf.wait_log("status=sent (250 2.0.0 <bob@example.org> Saved)")


def test_unknown_user_bounces(mta):
    srv, pf = mta
    body = (b"From: alice@example.org\r\nTo: ghost@example.org\r\n"
            b"Subject: to nobody\r\nMessage-ID: <pf2@example.org>\r\n"
            b"Date: Mon, 30 Nov 2026 12:00:00 +0000\r\n\r\nAnyone?\r\n")
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as s:
        assert s.sendmail("alice@example.org", ["ghost@example.org"], body) == {}
    # Postfix got the 550 from Rampart at RCPT and bounced the message...
    pf.wait_log("said: 550 5.1.1 <ghost@example.org> User doesn't exist (in reply to RCPT TO")
    pf.wait_log("status=bounced")
    # ...back to alice, over LMTP again, from the null sender.
    bounce = wait_messages(srv, "alice", PASSWORD, "INBOX", b"pf2@example.org")[0]
    assert bounce.startswith(b"Return-Path: <>\r\nDelivered-To: alice@example.org\r\n"), bounce[:300]
    assert b"Undelivered Mail Returned to Sender" in bounce
