"""Header SEARCH answers (issue #14, search): SUBJECT/FROM/TO/CC/BCC and
HEADER compared with answers computed here, independently, with python's
email package (RFC 2047 decoding, unfolding, address parsing) and a
case-insensitive substring test (RFC 9051 6.4.4).

The mailbox holds the hard cases: encoded-words in UTF-8 and ISO-8859-1,
folded lines, two From fields, a group, no Subject, an empty Subject, a
Subject of several kilobytes, display names with and without encoding,
mixed case. Each key is asked three ways that must agree: from the index
with the compact flag listing (header keys alone), from the index with
whole message rows (with LARGER, which needs the size), and from the
message files after the index entries are dropped."""
import os
import sqlite3
import unicodedata
from email import message_from_bytes, policy

import pytest

from rampart_harness import Raw, Server

LONG = b"long " + b"padding-word " * 300 + b"end-of-long"


def folded_long(value):
    """value as a Subject folded every ~70 bytes (RFC 5322 2.2.3)."""
    words, lines, cur = value.split(b" "), [], b""
    for w in words:
        if cur and len(cur) + len(w) > 70:
            lines.append(cur)
            cur = w
        else:
            cur = cur + b" " + w if cur else w
    lines.append(cur)
    return b"\r\n ".join(lines)


def mail(headers, body=b"body text\r\n"):
    return b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


MSGS = [
    mail([b"From: Alice Example <alice@example.org>", b"To: bob@example.org",
          b"Subject: =?UTF-8?B?w4lsw6h2ZQ==?= report"]),
    mail([b"From: =?ISO-8859-1?Q?Andr=E9?= <andre@x.example>", b"To: Bob <bob@example.org>",
          b"Subject: =?ISO-8859-1?Q?caf=E9?= MENU"]),
    mail([b"From: carol@example.net", b"To: dave@example.com",
          b"Subject: Quarterly\r\n\treport for Q3", b"Cc: Erin <erin@example.org>"]),
    mail([b"From: frank@example.org", b"To: grace@example.org"]),             # no Subject
    mail([b"From: heidi@example.org", b"To: ivan@example.org", b"Subject: "]),  # empty
    mail([b"From: judy@example.org", b"To: ken@example.org",
          b"Subject: " + folded_long(LONG)]),
    mail([b"From: mallory@example.org", b"From: Niaj <niaj@example.org>",
          b"To: olivia@example.org", b"Subject: two senders"]),
    mail([b"From: peggy@example.org", b"To: Team: alice@example.org, bob@example.org;",
          b"Subject: group mail"]),
    mail([b"From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <jorg@example.de>",
          b"To: trent@example.org", b"Bcc: Victor <victor@hidden.example>",
          b"Subject: =?UTF-8?Q?Inv?= =?UTF-8?Q?oice?= 42"]),
    mail([b"From: Walter <walter@example.org>", b"To: ZELDA@EXAMPLE.ORG",
          b"Cc: zelda@example.org", b"Subject: INVOICE for Zelda", b"X-Custom: Some Value"]),
    mail([b"From: zelda@example.org", b"To: bob@example.org", b"Subject: re: invoice",
          b"X-Custom: other"]),
]

NEEDLES = {
    "SUBJECT": ["\u00e9l\u00e8ve", "\u00c9L\u00c8VE", "caf\u00e9", "CAF\u00c9 menu", "menu",
                "quarterly", "quarterly report", "quarterly\treport", "report", "end-of-long", "padding-word padding",
                "invoice", "INVOICE 42", "two", "", "r", "zelda", "nothing-like-this"],
    "FROM": ["alice", "ALICE EXAMPLE", "andr\u00e9", "andre@x.example", "carol@example.net",
             "mallory", "niaj", "j\u00f6rg", "M\u00dcLLER", "jorg@example.de", "zelda", "ZELDA@",
             "example", "", "@example.org", "nobody"],
    "TO": ["bob", "bob@example.org", "team", "alice@example.org", "zelda", "ken", "", "x.example"],
    "CC": ["erin", "ERIN <erin", "zelda@example.org", "", "bob"],
    "BCC": ["victor", "hidden.example", "", "zelda"],
}
HEADERS = [("Subject", "invoice"), ("Subject", ""), ("X-Custom", "value"), ("X-Custom", ""),
           ("X-Custom", "SOME"), ("From", "zelda"), ("Message-ID", "")]


def fold(s):
    """Close enough to i;unicode-casemap (RFC 5051) for the letters used
    here (no ligatures, no sharp s)."""
    return unicodedata.normalize("NFKD", s).upper()


def field_values(m, name):
    """The decoded values of every occurrence of a field, and for the
    address fields each parsed address's mailbox and display name."""
    out = []
    for h in m.get_all(name) or []:
        out.append(str(h))
        for a in getattr(h, "addresses", ()):
            out += [a.addr_spec, a.display_name]
    return out


def expect(name, needle):
    want = []
    for uid, raw in enumerate(MSGS, 1):
        # Rampart's one choice beyond RFC 5322 2.2.3 unfolding (Dovecot's,
        # mail/header.c): a TAB that starts a continuation line is a space.
        m = message_from_bytes(raw.replace(b"\r\n\t", b"\r\n "), policy=policy.default)
        vals = field_values(m, name)
        if not (m.get_all(name) or []):
            continue
        if needle == "" or any(fold(needle) in fold(v) for v in vals):
            want.append(uid)
    return want


def search(r, crit):
    data = r.ok(b"UID SEARCH " + crit)
    line = [l for l in data.split(b"\r\n") if l.startswith(b"* SEARCH")][0]
    return [int(x) for x in line.split()[2:]]


def quoted(s):
    return b'"' + s.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def cases():
    for key, needles in NEEDLES.items():
        for n in needles:
            yield key.encode() + b" " + quoted(n), expect(key.capitalize() if key != "BCC"
                                                          else "Bcc", n)
    for field, n in HEADERS:
        yield b"HEADER " + field.encode() + b" " + quoted(n), expect(field, n)


@pytest.fixture(scope="module")
def box():
    s = Server()
    c = s.imap_tls()
    for m in MSGS:
        assert c.append("INBOX", None, None, m)[0] == "OK"
    c.logout()
    r = Raw(s, "INBOX")
    yield s, r
    r.close()
    s.close()


def check_all(r, suffix=b"", negate=False):
    """Every case (with negate also under NOT); returns how many cases had
    a non-empty answer."""
    everything = list(range(1, len(MSGS) + 1))
    nonempty = 0
    for crit, want in cases():
        full = b"CHARSET UTF-8 " + crit + suffix
        assert search(r, full) == want, full
        if negate:
            assert search(r, b"CHARSET UTF-8 NOT " + crit + suffix) == \
                [u for u in everything if u not in want], crit
        nonempty += bool(want)
    return nonempty


def test_header_keys_match_pythons_answers(box):
    s, r = box
    # the compact flag listing (every key answered by the index)
    assert check_all(r, negate=True) > 40
    # whole rows: LARGER needs the size
    assert check_all(r, b" LARGER 1") > 40
    # flags and keywords from the compact listing, with a header key
    r.ok(b"UID STORE 2,9,10 +FLAGS (\\Seen $Work)")
    assert search(r, b"SUBJECT invoice SEEN") == [9, 10]
    assert search(r, b"SUBJECT invoice UNSEEN") == [11]
    assert search(r, b"KEYWORD $Work FROM example") == [2, 9, 10]
    assert search(r, b"OR SUBJECT menu UNKEYWORD $Work") == \
        [u for u in range(1, len(MSGS) + 1) if u not in (9, 10)]


def test_same_answers_from_the_files(box):
    s, r = box
    # Drop the index entries: every message is then read from its file
    # (the background indexer may bring some back meanwhile: the answers
    # are the same either way).
    db = os.path.join(s.dir, "mail", "local", s.user, "index.sqlite")
    con = sqlite3.connect(db, timeout=30)
    try:
        con.execute("DELETE FROM search_doc")
        con.commit()
    finally:
        con.close()
    assert check_all(r) > 40
