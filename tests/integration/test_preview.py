"""PREVIEW (RFC 8970) on a real server over TLS: FETCH PREVIEW and
PREVIEW (LAZY), the preview stored with the message at APPEND, COPY and
`rampart deliver`, and made in the background for messages stored before
previews existed (simulated by clearing the column while the server is
stopped)."""
import base64
import glob
import os
import re
import sqlite3
import time

from rampart_harness import Raw

PLAIN = b"Subject: plain\r\n\r\nHello   there,\r\n\r\nsee you\ttomorrow.\r\n"
QP = (b"Subject: qp\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
      b"Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 au lait, a soft=\r\n break.\r\n")
B64 = (b"Subject: b64\r\nContent-Type: text/plain; charset=utf-8\r\n"
       b"Content-Transfer-Encoding: base64\r\n\r\n"
       + base64.b64encode("Grüße aus Köln".encode()) + b"\r\n")
HTML = (b"Subject: html\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>p{color:red}</style></head><body><p>Fish &amp; chips</p>"
        b"<p>for&nbsp;two</p></body></html>\r\n")
ALT = (b"Subject: alt\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
       b"--b\r\nContent-Type: text/html\r\n\r\n<p>the html</p>\r\n"
       b"--b\r\nContent-Type: text/plain\r\n\r\nthe plain text\r\n--b--\r\n")
EMPTY = b"Subject: empty\r\n\r\n"
IMAGE = (b"Subject: image\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
         b"\r\niVBORw0KGgo=\r\n")
LONG = b"Subject: long\r\n\r\n" + b"word " * 100 + b"\r\n"

CORPUS = [
    (PLAIN, "Hello there, see you tomorrow."),
    (QP, "Café au lait, a soft break."),
    (B64, "Grüße aus Köln"),
    (HTML, "Fish & chips for two"),
    (ALT, "the plain text"),
    (EMPTY, ""),
    (IMAGE, ""),
    (LONG, ("word " * 40).strip()),
]

PREVIEW_RE = re.compile(rb"PREVIEW (NIL|\"((?:[^\"\\]|\\.)*)\"|\{(\d+)\}\r\n)", re.S)


def append(r, msg, mailbox=b"INBOX"):
    r.ok(b"APPEND %s {%d}\r\n%s" % (mailbox, len(msg), msg))


def previews(r, what=b"PREVIEW", seqs=b"1:*"):
    """The PREVIEW values of FETCH responses in order: str, or None for NIL."""
    data = r.ok(b"FETCH %s (%s)" % (seqs, what))
    out = []
    pos = 0
    while True:
        m = PREVIEW_RE.search(data, pos)
        if not m:
            return out
        if m.group(1) == b"NIL":
            out.append(None)
            pos = m.end()
        elif m.group(3) is not None:
            n = int(m.group(3))
            out.append(data[m.end():m.end() + n].decode())
            pos = m.end() + n
        else:
            out.append(re.sub(rb"\\(.)", rb"\1", m.group(2)).decode())
            pos = m.end()


def index_path(server):
    paths = glob.glob(os.path.join(server.dir, "mail", "**", "index.sqlite"), recursive=True)
    assert len(paths) == 1, paths
    return paths[0]


def stored_previews(server):
    db = sqlite3.connect(index_path(server))
    try:
        return [row[0] for row in db.execute(
            "SELECT c.preview FROM messages m JOIN mailboxes b ON b.id=m.mailbox_id "
            "LEFT JOIN message_cache c ON c.blob=m.blob WHERE b.name='INBOX' ORDER BY m.uid")]
    finally:
        db.close()


def test_capability_in_every_state(server):
    r = server.raw(tls=True)
    try:
        r.sendall(b"a CAPABILITY\r\n")
        from rampart_harness import read_tagged
        assert b" PREVIEW" in read_tagged(r, b"a")
    finally:
        r.close()
    raw = Raw(server)
    assert b" PREVIEW" in raw.ok(b"CAPABILITY")
    raw.close()


def test_corpus_previews_stored_at_append(server):
    r = Raw(server)
    for msg, _ in CORPUS:
        append(r, msg)
    r.ok(b"SELECT INBOX")
    want = [w for _, w in CORPUS]
    assert previews(r) == want
    # LAZY finds them all: they were stored with the message.
    assert previews(r, b"PREVIEW (LAZY)") == want
    # Other items alongside, and UID FETCH.
    data = r.ok(b"UID FETCH 1 (UID PREVIEW FLAGS)")
    assert b'PREVIEW "Hello there, see you tomorrow."' in data
    r.close()
    assert stored_previews(server) == want


def test_utf8_quoted_only_for_utf8_sessions(server):
    r = Raw(server)
    append(r, B64)
    r.ok(b"SELECT INBOX")
    data = r.ok(b"FETCH 1 PREVIEW")
    # IMAP4rev1: 8-bit text only in a literal.
    assert b"PREVIEW {%d}\r\n" % len("Grüße aus Köln".encode()) in data
    r.close()
    r = Raw(server, rev2=True, select="INBOX")
    data = r.ok(b"FETCH 1 PREVIEW")
    assert 'PREVIEW "Grüße aus Köln"'.encode() in data
    r.close()


def test_copy_and_deliver_keep_preview(server):
    r = Raw(server)
    r.ok(b"CREATE Other")
    append(r, PLAIN)
    r.close()
    out = server.deliver(server.user, ALT)
    assert out.returncode == 0, out.stderr
    r = Raw(server, select="INBOX")
    r.ok(b"COPY 1:2 Other")
    r.ok(b"SELECT Other")
    assert previews(r, b"PREVIEW (LAZY)") == ["Hello there, see you tomorrow.",
                                              "the plain text"]
    r.close()


def test_bad_modifiers(server):
    r = Raw(server)
    append(r, PLAIN)
    r.ok(b"SELECT INBOX")
    for bad in (b"FETCH 1 (PREVIEW (FUZZY))", b"FETCH 1 (PREVIEW ())",
                b"FETCH 1 (PREVIEW (LAZY 1))"):
        _, status = r.cmd(bad)
        assert status.startswith(b"BAD"), (bad, status)
    assert previews(r, b"PREVIEW (lazy)") == ["Hello there, see you tomorrow."]
    r.close()


def test_old_messages_lazy_nil_then_made_in_background(server):
    r = Raw(server)
    for msg, _ in CORPUS:
        append(r, msg)
    r.close()
    # As if stored before the preview migration.
    server.stop()
    db = sqlite3.connect(index_path(server))
    with db:
        db.execute("UPDATE message_cache SET preview=NULL")
    db.close()
    server.start()
    want = [w for _, w in CORPUS]
    r = Raw(server, select="INBOX")
    # RFC 8970 4: LAZY does not make a preview: NIL now.
    assert previews(r, b"PREVIEW (LAZY)", b"1:2") == [None, None]
    # Without LAZY it is made at once, whatever is stored.
    assert previews(r, b"PREVIEW", b"3") == [want[2]]
    # ... and in the background for every message; LAZY then finds them.
    deadline = time.monotonic() + 60
    got = None
    for _ in range(600):
        got = previews(r, b"PREVIEW (LAZY)")
        if got == want or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert got == want
    assert server.wait_log("event=preview_fill_done")
    r.close()
    assert stored_previews(server) == want
