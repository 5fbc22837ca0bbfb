"""PREVIEW (RFC 8970) compared with Dovecot 2.3's on the same messages:
plain, quoted-printable, base64, HTML-only, multipart/alternative, empty,
non-text, long, quoted replies. Needs root and dovecot-imapd
(/usr/sbin/dovecot); skipped otherwise. Where the two differ on purpose
(docs/imap.md "PREVIEW"), the test states both answers."""
import imaplib
import os

import pytest

from rampart_harness import Raw
from test_preview import CORPUS, append, previews
from test_sort_dovecot import DOVECOT, Dovecot

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(DOVECOT),
                                reason="needs root and dovecot-imapd")

SAME = [msg for msg, _ in CORPUS] + [
    b"Subject: utf\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    + "\u00e9".encode() * 300 + b"\r\n",
    b"Subject: q\r\n\r\nSounds good.\r\n\r\n> On Monday you wrote:\r\n>> old\r\nSee you.\r\n",
    b"Subject: sig\r\n\r\nBody line\r\n-- \r\nSignature here\r\n",
]

# (message, Dovecot's preview, ours): an attachment is not the message's
# text; inline tags do not split words; NBSP is whitespace.
DIFFERENT = [
    (b"Subject: mixed\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
     b"Content-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\n"
     b"attached\r\n--b\r\nContent-Type: text/html\r\n\r\n<div>in html</div>\r\n--b--\r\n",
     "attached", "in html"),
    (b"Subject: inline\r\nContent-Type: text/html\r\n\r\n<p>bo<b>ld</b> text</p>\r\n",
     "bo ld text", "bold text"),
    (b"Subject: nbsp\r\nContent-Type: text/html\r\n\r\n<p>for&nbsp;two</p>\r\n",
     "for\u00a0two", "for two"),
]


def dovecot_previews(msgs):
    d = Dovecot()
    try:
        c = imaplib.IMAP4("127.0.0.1", d.port)
        c.login("alice", "pw")
        for m in msgs:
            c.append("INBOX", None, None, m)
        c.select("INBOX")
        _, data = c.fetch("1:*", "(PREVIEW)")
        out = []
        for x in data:
            if isinstance(x, tuple):
                out.append(x[1].decode())
            elif x != b")":
                s = x.decode()
                out.append(s[s.index("PREVIEW ") + 9:-2])
        c.logout()
        return out
    finally:
        d.close()


def test_same_previews_as_dovecot(server):
    msgs = SAME + [m for m, _, _ in DIFFERENT]
    theirs = dovecot_previews(msgs)
    r = Raw(server)
    for m in msgs:
        append(r, m)
    r.ok(b"SELECT INBOX")
    ours = previews(r)
    r.close()
    n = len(SAME)
    # CORPUS's HTML has an &nbsp; too: the NBSP difference is shown below.
    assert ours[:n] == [t.replace("\u00a0", " ") for t in theirs[:n]]
    assert theirs[n:] == [d for _, d, _ in DIFFERENT]
    assert ours[n:] == [o for _, _, o in DIFFERENT]
