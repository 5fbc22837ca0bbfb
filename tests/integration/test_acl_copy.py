"""COPY and MOVE between two users' mailboxes (RFC 4314 shared mailboxes,
RFC 6851 MOVE, RFC 4315 COPYUID) and LIST-MYRIGHTS (RFC 8440), over real
TLS against a real server. alice owns the shared mailboxes, bob copies
into and out of them; each right the commands need is taken away once."""
import hashlib
import re

import pytest

from rampart_harness import Server, UserConn, read_tagged, read_until

PW = "correct horse battery staple"


def msg(i, extra=b""):
    return (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: cross %d\r\n"
            b"Message-ID: <x%d@example.org>\r\n\r\nbody %d\r\n" % (i, i, i)) + extra


class Conn(UserConn):
    """A raw TLS connection logged in as one user."""

    def append(self, mailbox, data, flags="", date=None):
        self.n += 1
        tag = b"t%d" % self.n
        extra = (" (%s)" % flags if flags else "") + (' "%s"' % date if date else "")
        self.s.sendall(tag + b' APPEND "%s"%s {%d+}\r\n' % (mailbox.encode(), extra.encode(),
                                                          len(data)) + data + b"\r\n")
        out = read_tagged(self.s, tag, timeout=60).decode(errors="replace")
        assert "%s OK" % tag.decode() in out, out
        return out

    def fetch_all(self, mailbox):
        """{uid: (flags set, internaldate, sha256 of BODY[])} of a mailbox."""
        uids = re.findall(r"\* SEARCH ((?:\d+ ?)*)", self.ok('EXAMINE "%s"' % mailbox) +
                          self.ok("UID SEARCH ALL"))[0].split()
        data = b""
        for uid in uids:   # one at a time: read_tagged stops at 16 MiB
            self.n += 1
            tag = b"t%d" % self.n
            self.s.sendall(tag + b" UID FETCH %s (UID FLAGS INTERNALDATE BODY.PEEK[])\r\n"
                           % uid.encode())
            data += read_tagged(self.s, tag, timeout=60)
        res, pos = {}, 0
        head = re.compile(rb"\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) "
                          rb'INTERNALDATE "([^"]+)" BODY\[\] \{(\d+)\}\r\n')
        while True:
            m = head.search(data, pos)
            if not m:
                break
            n = int(m.group(4))
            body = data[m.end():m.end() + n]
            flags = set(m.group(2).decode().split()) - {"\\Recent"}
            res[int(m.group(1))] = (flags, m.group(3).decode(),
                                    hashlib.sha256(body).hexdigest())
            pos = m.end() + n
        self.ok("CLOSE")
        return res


@pytest.fixture(scope="module")
def srv():
    s = Server()
    for u in ("bob", "carol"):
        s.add_user(u, PW)
    yield s
    s.close()


def copyuid(out):
    m = re.search(r"\[COPYUID (\d+) ([0-9:,]+) ([0-9:,]+)\]", out)
    assert m, out
    return m.groups()


def test_copy_from_shared_into_own_keeps_bytes_flags_date(srv):
    a, b = Conn(srv, "alice"), Conn(srv, "bob")
    a.ok('CREATE "src1"')
    a.append("src1", msg(1), "\\Seen \\Flagged $Work", "05-Mar-2021 10:11:12 +0130")
    a.append("src1", msg(2), "\\Answered")
    a.ok('SETACL "src1" bob lr')
    b.ok('CREATE "got1"')
    b.ok('SELECT "Other Users/alice/src1"')
    out = b.ok('COPY 1:2 "got1"')
    assert re.search(r"OK \[COPYUID \d+ 1:2 1:2\] COPY completed", out), out
    b.ok("CLOSE")
    src, dst = a.fetch_all("src1"), b.fetch_all("got1")
    assert len(dst) == 2
    for su, du in ((1, 1), (2, 2)):
        assert dst[du][1:] == src[su][1:]   # INTERNALDATE and bytes
        assert dst[du][0] == src[su][0]     # the owner of got1 has every right
    assert "$Work" in dst[1][0] and "\\Seen" in dst[1][0]
    assert dst[1][1] == "05-Mar-2021 10:11:12 +0130"
    # The source is untouched by a COPY.
    assert "MESSAGES 2" in a.ok('STATUS "src1" (MESSAGES)')
    a.close()
    b.close()


def test_copy_into_other_drops_flags_without_rights(srv):
    a, b = Conn(srv, "alice"), Conn(srv, "bob")
    a.ok('CREATE "drop"')
    out = b.append("INBOX", msg(3), "\\Seen \\Flagged \\Deleted $Kw")
    uid = re.search(r"APPENDUID \d+ (\d+)", out).group(1)
    b.ok("SELECT INBOX")
    shared = "Other Users/alice/drop"
    b.no('UID COPY %s "%s"' % (uid, shared), "NONEXISTENT")   # no l, no r: unseen
    a.ok('SETACL "drop" bob l')
    b.no('UID COPY %s "%s"' % (uid, shared), "NOPERM")        # no i
    # RFC 4314 4: \Seen needs s, \Deleted t, the other flags and keywords w.
    expect = {"li": set(), "lis": {"\\Seen"}, "liw": {"\\Flagged", "$Kw"},
              "lit": {"\\Deleted"}, "liswt": {"\\Seen", "\\Flagged", "\\Deleted", "$Kw"}}
    got = []
    for rights in expect:
        a.ok('SETACL "drop" bob %s' % rights)
        out = b.ok('UID COPY %s "%s"' % (uid, shared))
        got.append(int(copyuid(out)[2]))
    b.ok("CLOSE")
    msgs = a.fetch_all("drop")
    for dst_uid, rights in zip(got, expect):
        assert msgs[dst_uid][0] == expect[rights], (rights, msgs[dst_uid])
    a.close()
    b.close()


def test_same_owner_copy_without_flag_rights_drops_flags(srv):
    """Inside alice's store too: bob may read src and insert into dst only."""
    a, b = Conn(srv, "alice"), Conn(srv, "bob")
    a.ok('CREATE "so-src"')
    a.ok('CREATE "so-dst"')
    a.append("so-src", msg(4), "\\Seen \\Flagged")
    a.ok('SETACL "so-src" bob lr')
    a.ok('SETACL "so-dst" bob li')
    b.ok('SELECT "Other Users/alice/so-src"')
    b.ok('COPY 1 "Other Users/alice/so-dst"')
    b.ok("CLOSE")
    (flags, _, _), = a.fetch_all("so-dst").values()
    assert flags == set(), flags
    a.close()
    b.close()


def test_move_needs_t_and_e_and_expunges_source(srv):
    a, b = Conn(srv, "alice"), Conn(srv, "bob")
    a.ok('CREATE "mv"')
    for i in (5, 6, 7):
        a.append("mv", msg(i))
    shared = "Other Users/alice/mv"
    before = a.fetch_all("mv")
    for rights in ("lr", "lrt", "lre"):
        a.ok('SETACL "mv" bob %s' % rights)
        b.ok('SELECT "%s"' % shared)
        b.no("MOVE 1 INBOX", "NOPERM")
        b.no("UID MOVE 1 INBOX", "NOPERM")
        b.ok("CLOSE")
    a.ok('SETACL "mv" bob lrte')
    b.ok('CREATE "moved"')
    b.ok('SELECT "%s"' % shared)
    out = b.ok('UID MOVE 1:2 "moved"')
    # RFC 6851 4.3: COPYUID on an untagged OK, then the expunges.
    m = re.search(r"\* OK \[COPYUID (\d+) 1:2 1:2\].*\r\n((?:\* \d EXPUNGE\r\n){2})t", out)
    assert m and m.group(2) in ("* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n",
                                "* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n"), out
    assert "* 1 EXISTS" not in out
    b.ok("CLOSE")
    after = a.fetch_all("mv")
    assert list(after) == [3]
    moved = b.fetch_all("moved")
    assert [v[2] for v in moved.values()] == [before[1][2], before[2][2]]
    a.close()
    b.close()


def test_move_from_own_into_other_with_qresync_vanished(srv):
    a, b = Conn(srv, "alice"), Conn(srv, "bob")
    a.ok('CREATE "inbox2"')
    a.ok('SETACL "inbox2" bob li')
    b.ok('CREATE "out"')
    b.append("out", msg(8))
    b.append("out", msg(9))
    b.ok("ENABLE QRESYNC")
    b.ok('SELECT "out"')
    out = b.ok('MOVE 1:* "Other Users/alice/inbox2"')
    assert re.search(r"\* OK \[COPYUID \d+ 1:2 1:2\]", out), out
    assert "* VANISHED 1:2" in out, out
    b.ok("CLOSE")
    assert "MESSAGES 0" in b.ok('STATUS "out" (MESSAGES)')
    assert "MESSAGES 2" in a.ok('STATUS "inbox2" (MESSAGES)')
    a.close()
    b.close()


def test_copy_source_needs_r_target_must_exist(srv):
    a, b = Conn(srv, "alice"), Conn(srv, "bob")
    a.ok('CREATE "lonly"')
    a.append("lonly", msg(10))
    a.ok('SETACL "lonly" bob l')
    b.no('SELECT "Other Users/alice/lonly"', "NOPERM")   # no r: no source
    b.ok('CREATE "src11"')
    b.append("src11", msg(11))
    b.ok('SELECT "src11"')
    a.ok('SETACL "lonly" bob li')
    b.no('COPY 1 "Other Users/alice/nosuch"', "NONEXISTENT")
    b.no('COPY 1 "nosuch"', "TRYCREATE")
    a.ok('CREATE "lonly/kid"')
    a.ok('SETACL "lonly/kid" bob lri')
    a.ok('DELETE "lonly/kid"')
    b.no('COPY 1 "Other Users/alice/lonly/kid"', "NONEXISTENT")
    b.ok("CLOSE")
    a.close()
    b.close()


def test_destination_quota_applies_nothing_copied(srv):
    a, b = Conn(srv, "alice"), Conn(srv, "bob")
    srv.rampart("user", "quota", "-c", srv.conf_path, "carol", "--messages", "3")
    c = Conn(srv, "carol")
    c.ok('CREATE "full"')
    c.append("full", msg(12))
    c.ok('SETACL "full" bob li')
    b.ok('CREATE "q"')
    for i in (13, 14, 15):
        b.append("q", msg(i))
    b.ok('SELECT "q"')
    b.no('COPY 1:3 "Other Users/carol/full"', "OVERQUOTA")
    b.no('MOVE 1:3 "Other Users/carol/full"', "OVERQUOTA")
    b.ok("CLOSE")
    assert "MESSAGES 3" in b.ok('STATUS "q" (MESSAGES)')   # MOVE kept the source
    assert "MESSAGES 1" in c.ok('STATUS "full" (MESSAGES)')
    b.ok('SELECT "q"')
    out = b.ok('COPY 1:2 "Other Users/carol/full"')          # fits: 1 + 2 = 3
    assert re.search(r"\[COPYUID \d+ 1:2 2:3\]", out), out
    b.ok("CLOSE")
    a.close()
    b.close()
    c.close()


def test_idle_in_destination_sees_copied_message(srv):
    a, b = Conn(srv, "alice"), Conn(srv, "bob")
    a.ok('CREATE "watched"')
    a.ok('SETACL "watched" bob li')
    a.ok('SELECT "watched"')
    a.s.sendall(b"i1 IDLE\r\n")
    read_until(a.s, b"+ ")
    b.ok('CREATE "src16"')
    b.append("src16", msg(16))
    b.ok('SELECT "src16"')
    b.ok('COPY 1 "Other Users/alice/watched"')
    got = read_until(a.s, b"* 1 EXISTS", timeout=30)
    assert b"* 1 EXISTS" in got
    a.s.sendall(b"DONE\r\n")
    read_tagged(a.s, b"i1")
    a.close()
    b.close()


def test_big_message_crosses_intact(srv):
    a, b = Conn(srv, "alice"), Conn(srv, "bob")
    body = b"".join(b"%07d 0123456789abcdefghijklmnopqrstuvwxyz0123456789\r\n" % i
                    for i in range(20000))        # ~1.2 MB: mapped, not read
    big = msg(17, body)
    a.ok('CREATE "big"')
    a.append("big", big, "\\Flagged")
    a.append("big", msg(18))
    a.ok('SETACL "big" bob lr')
    b.ok('CREATE "bigcopy"')
    b.ok('SELECT "Other Users/alice/big"')
    b.ok('COPY 1:2 "bigcopy"', timeout=120)
    b.ok('UID COPY 1 "bigcopy"', timeout=120)   # alone: the spool becomes the blob
    b.ok("CLOSE")
    got = b.fetch_all("bigcopy")
    want = hashlib.sha256(big).hexdigest()
    assert [v[2] for v in got.values()].count(want) == 2
    assert got[1][0] == {"\\Flagged"}
    a.close()
    b.close()


def test_rename_across_owners_cannot(srv):
    a, b = Conn(srv, "alice"), Conn(srv, "bob")
    a.ok('CREATE "ren"')
    a.ok('CREATE "ren/kid"')
    a.ok('SETACL "ren" bob lrkx')
    a.ok('SETACL "ren/kid" bob lrkx')
    out = b.no('RENAME "Other Users/alice/ren/kid" "mine"', "CANNOT")
    assert "change owner" in out, out
    b.ok('CREATE "mine2"')
    out = b.no('RENAME "mine2" "Other Users/alice/ren/mine2"', "CANNOT")
    assert "change owner" in out, out
    a.close()
    b.close()


def test_appendlimit_applies_across_owners():
    """A message stored before the limit was lowered crosses as an APPEND
    would: NO [TOOBIG], nothing copied."""
    srv = Server()
    try:
        srv.add_user("bob", PW)
        a = Conn(srv, "alice")
        a.ok('CREATE "tb"')
        a.append("tb", msg(20, b"x" * 3000))
        a.append("tb", msg(21))
        a.ok('SETACL "tb" bob lr')
        a.close()
        srv.stop()
        with open(srv.conf_path) as f:
            conf = f.read()
        with open(srv.conf_path, "w") as f:
            f.write(conf.replace("preauth_timeout = 60\n",
                                 "preauth_timeout = 60\nmax_message_size = 2048\n"))
        srv.start()
        b = Conn(srv, "bob")
        b.ok('SELECT "Other Users/alice/tb"')
        out = b.no('COPY 1:2 INBOX', "TOOBIG")
        assert "2048" in out, out
        b.ok("COPY 2 INBOX")
        b.ok("CLOSE")
        assert "MESSAGES 1" in b.ok("STATUS INBOX (MESSAGES)")
        b.close()
    finally:
        srv.close()


# ---- LIST-MYRIGHTS (RFC 8440) ----

ALL = "lrswipkxteacd"


def myrights(out):
    """{mailbox: rights} of the * MYRIGHTS lines, and the order of lines."""
    got = {}
    for m in re.finditer(r'\* MYRIGHTS "?([^"\r\n]*?)"? "?([a-z]*)"?\r\n', out):
        got[m.group(1)] = m.group(2)
    return got


def test_list_myrights_capability_after_login_only(srv):
    s = srv.raw(tls=True)
    greeting = read_until(s, b"\r\n")
    s.sendall(b"c1 CAPABILITY\r\n")
    before = read_tagged(s, b"c1")
    assert b"LIST-MYRIGHTS" not in greeting + before
    s.close()
    b = Conn(srv, "bob")
    assert re.search(r"\* CAPABILITY .* LIST-MYRIGHTS", b.ok("CAPABILITY"))
    b.close()


def test_list_return_myrights_own_and_shared(srv):
    a, b = Conn(srv, "alice"), Conn(srv, "bob")
    a.ok('CREATE "lm"')
    a.ok('CREATE "lm/ro"')
    a.ok('CREATE "lm/hidden"')
    a.ok('SETACL "lm" bob lrs')
    a.ok('SETACL "lm/ro" bob lr')
    a.ok('SETACL "lm/hidden" bob r')          # no l: not listed, no MYRIGHTS
    out = a.ok('LIST "" "lm*" RETURN (MYRIGHTS)')
    assert myrights(out) == {"lm": ALL, "lm/ro": ALL, "lm/hidden": ALL}, out
    # RFC 8440 3: the MYRIGHTS response follows its LIST response.
    assert re.search(r'\* LIST \([^)]*\) "/" "?lm"?\r\n\* MYRIGHTS "?lm"? ', out), out
    out = b.ok('LIST "" "Other Users/alice/lm*" RETURN (MYRIGHTS)')
    assert myrights(out) == {"Other Users/alice/lm": "lrs", "Other Users/alice/lm/ro": "lr"}, out
    # Levels of the namespace are \Noselect: no rights for them.
    out = b.ok('LIST "" "Other Users/%" RETURN (MYRIGHTS)')
    assert "* LIST" in out and "* MYRIGHTS" not in out, out
    # Without the option, no MYRIGHTS.
    assert "* MYRIGHTS" not in b.ok('LIST "" "Other Users/alice/lm*"')
    a.close()
    b.close()


def test_list_myrights_with_status_and_selection(srv):
    b = Conn(srv, "bob")
    b.ok('CREATE "ms"')
    b.ok('SUBSCRIBE "ms"')
    b.ok('CREATE "ms-gone"')
    b.ok('SUBSCRIBE "ms-gone"')
    b.ok('DELETE "ms-gone"')                   # \NonExistent: no rights
    out = b.ok('LIST (SUBSCRIBED) "" "ms*" RETURN (STATUS (MESSAGES) MYRIGHTS)')
    assert re.search(r'\* LIST \([^)]*\\Subscribed\) "/" "?ms"?\r\n'
                     r'\* STATUS "?ms"? \(MESSAGES 0\)\r\n\* MYRIGHTS "?ms"? "%s"' % ALL, out), out
    assert myrights(out) == {"ms": ALL}, out
    assert "ms-gone" in out
    out, st = b.cmd('LIST "" "*" RETURN (MYRIGHTS')
    assert st.startswith("BAD"), st
    out, st = b.cmd('LIST "" "*" RETURN (MYRIGHTS BOGUS)')
    assert st.startswith("BAD"), st
    b.close()
