"""METADATA and METADATA-SERVER (RFC 5464) over real TLS: entries of
mailboxes and of the server, DEPTH and MAXSIZE, binary values through
literal8, every limit and error code, DELETE and RENAME, the read-only
entries (/private/specialuse, server /shared/admin and /shared/comment)
and the rights a reader of another user's mailbox needs (RFC 5464 3.3)."""
import imaplib
import re

import pytest

from rampart_harness import Server, UserConn, read_tagged, read_until

PW = "correct horse battery staple"
LIMITS = ("[metadata]\nmax_value_size = 100\nmax_entries = 5\nmax_total_size = 1000\n"
          "admin = mailto:postmaster@example.org\ncomment = maintenance on sunday\n")


class Conn(UserConn):
    """A raw TLS connection logged in as one user; answers are raw bytes."""

    decode = False

    def get(self, args):
        """GETMETADATA args -> {name: value bytes or None}, tagged status."""
        out, st = self.cmd("GETMETADATA " + args)
        assert st.startswith("OK"), (args, out[-800:])
        return parse_metadata(out), st


def parse_metadata(data):
    """The entries of every "* METADATA mbox (...)" response in data."""
    res = {}
    pos = 0
    while True:
        i = data.find(b"* METADATA ", pos)
        if i < 0:
            return res
        j = data.index(b" (", i + 11)
        pos = j + 2
        toks = []
        while data[pos:pos + 1] != b")":
            if data[pos:pos + 1] == b" ":
                pos += 1
            m = re.match(rb'~?\{(\d+)\}\r\n', data[pos:])
            if m:
                n = int(m.group(1))
                start = pos + m.end()
                toks.append(data[start:start + n])
                pos = start + n
            elif data[pos:pos + 1] == b'"':
                m = re.match(rb'"((?:[^"\\]|\\.)*)"', data[pos:])
                toks.append(re.sub(rb'\\(.)', rb'\1', m.group(1)))
                pos += m.end()
            else:
                m = re.match(rb'[^ )]+', data[pos:])
                tok = m.group(0)
                toks.append(None if tok == b"NIL" else tok)
                pos += m.end()
        for k in range(0, len(toks), 2):
            res[toks[k].decode()] = toks[k + 1]


@pytest.fixture(scope="module")
def srv():
    s = Server(extra_config=LIMITS)
    s.add_user("bob", PW)
    yield s
    s.close()


@pytest.fixture
def alice(srv):
    c = Conn(srv, "alice")
    yield c
    c.close()


def test_capability_after_login_only(srv):
    c = srv.raw(tls=True)
    greeting = read_until(c, b"\r\n")
    assert b"METADATA" not in greeting
    c.close()
    a = Conn(srv, "alice")
    out = a.ok("CAPABILITY")
    caps = out.split(b"\r\n")[0].split()
    assert b"METADATA" in caps and b"METADATA-SERVER" in caps
    a.close()


def test_set_get_delete_case_insensitive(alice):
    alice.ok('CREATE "cmt"')
    alice.ok('SETMETADATA "cmt" (/Private/Comment "mine" /shared/comment "everyone\'s")')
    got, _ = alice.get('"cmt" (/private/comment /SHARED/COMMENT)')
    assert got == {"/private/comment": b"mine", "/shared/comment": b"everyone's"}
    # NIL removes; DEPTH 0 answers NIL for a name asked without a value.
    alice.ok('SETMETADATA "cmt" (/private/comment NIL)')
    got, _ = alice.get('"cmt" (/private/comment /shared/comment /private/none)')
    assert got == {"/private/comment": None, "/shared/comment": b"everyone's",
                   "/private/none": None}
    # The empty string is a value, not a removal.
    alice.ok('SETMETADATA "cmt" (/private/comment "")')
    got, _ = alice.get('"cmt" /private/comment')
    assert got == {"/private/comment": b""}
    alice.no('GETMETADATA "nosuch" /private/comment', "NONEXISTENT")
    alice.no('SETMETADATA "nosuch" (/private/comment "x")', "NONEXISTENT")


def test_depth(alice):
    alice.ok('CREATE "tree"')
    alice.ok('SETMETADATA "tree" (/private/a "1" /private/a/b "2" /private/a/b/c "3" '
             '/private/ab "4" /shared/a/x "5")')
    got, _ = alice.get('"tree" /private/a')
    assert got == {"/private/a": b"1"}
    got, _ = alice.get('(DEPTH 0) "tree" /private/a')
    assert got == {"/private/a": b"1"}
    got, _ = alice.get('(DEPTH 1) "tree" /private/a')
    assert got == {"/private/a": b"1", "/private/a/b": b"2"}
    got, _ = alice.get('(DEPTH infinity) "tree" (/private/a)')
    assert got == {"/private/a": b"1", "/private/a/b": b"2", "/private/a/b/c": b"3"}
    # A tree root names every entry of the tree; overlapping names give
    # each entry once.
    got, _ = alice.get('(DEPTH infinity) "tree" (/private /private/a/b)')
    assert set(got) == {"/private/a", "/private/a/b", "/private/a/b/c", "/private/ab"}
    got, _ = alice.get('(DEPTH 1) "tree" /shared')
    assert got == {}
    # Options after the mailbox, as RFC 5464's examples write them.
    got, _ = alice.get('"tree" (DEPTH 1) (/shared/a)')
    assert got == {"/shared/a/x": b"5"}
    alice.bad('GETMETADATA (DEPTH 2) "tree" /private/a')
    alice.bad('GETMETADATA (DEPTH 1 DEPTH 1) "tree" /private/a')
    alice.bad('GETMETADATA (FOO 1) "tree" /private/a')
    alice.bad('GETMETADATA (MAXSIZE x) "tree" /private/a')
    alice.bad('GETMETADATA "tree" ()')


def test_maxsize_longentries(alice):
    alice.ok('CREATE "big"')
    alice.ok('SETMETADATA "big" (/private/s "12345" /private/m "%s" /private/l "%s")'
             % ("m" * 40, "l" * 90))
    got, st = alice.get('(MAXSIZE 50) "big" (/private/s /private/m /private/l)')
    assert got == {"/private/s": b"12345", "/private/m": b"m" * 40}
    assert st.startswith("OK [METADATA LONGENTRIES 90]"), st
    got, st = alice.get('(MAXSIZE 4 DEPTH 1) "big" /private')
    assert got == {} and "[METADATA LONGENTRIES 90]" in st
    got, st = alice.get('(MAXSIZE 100) "big" /private/l')
    assert got == {"/private/l": b"l" * 90} and "LONGENTRIES" not in st


def test_binary_values_literal8(alice):
    alice.ok('CREATE "bin"')
    value = bytes(range(256))[:99] + b"\x00"
    out, st = alice.cmd(b'SETMETADATA "bin" (/private/blob ~{%d+}\r\n' % len(value) + value
                        + b' /private/utf8 {6+}\r\n\xc3\xa9t\xc3\xa9\n)')
    assert st.startswith("OK"), out
    out = alice.ok('GETMETADATA "bin" (/private/blob /private/utf8)')
    assert b"/private/blob ~{100}\r\n" + value in out
    got = parse_metadata(out)
    assert got == {"/private/blob": value, "/private/utf8": b"\xc3\xa9t\xc3\xa9\n"}


def test_entry_name_rules(alice):
    alice.ok('CREATE "names"')
    for name in ("/private/*", "/private/a%", "/private//a", "/private/a/", "/foo/a",
                 "private/a", "/privatex/a", "/shared", "/private"):
        alice.bad('SETMETADATA "names" ("%s" "v")' % name)
        alice.ok("NOOP")  # a run of BADs ends the session
    # No control characters (a literal can carry them).
    alice.bad(b'SETMETADATA "names" ({12+}\r\n/private/a\tb "v")')
    alice.bad('GETMETADATA "names" "/private/*"')
    alice.bad('GETMETADATA "names" NIL')
    alice.ok("NOOP")
    # A value is a string, a literal or NIL; never an atom or a list.
    alice.bad('SETMETADATA "names" (/private/a v)')
    alice.bad('SETMETADATA "names" (/private/a ("v"))')
    alice.bad('SETMETADATA "names" (/private/a)')
    # Over STORE_META_NAME_MAX (1024) bytes: a limit, not a syntax error.
    alice.no('SETMETADATA "names" (/private/%s "v")' % ("x" * 1100), "LIMIT")
    alice.no('GETMETADATA "names" /private/%s' % ("x" * 1100), "LIMIT")
    got, _ = alice.get('"names" /private/%s' % ("x" * 1000))
    assert got == {"/private/" + "x" * 1000: None}


def test_limits(srv):
    # [metadata] max_value_size = 100, max_entries = 5, max_total_size = 1000
    bob = Conn(srv, "bob")
    bob.ok('CREATE "lim"')
    st = bob.no('SETMETADATA "lim" (/private/a "%s")' % ("v" * 101))
    assert "[METADATA MAXSIZE 100]" in st, st
    bob.ok('SETMETADATA "lim" (/private/a "%s")' % ("v" * 100))
    bob.ok('SETMETADATA "lim" (/private/b "1" /private/c "2" /private/d "3" /shared/e "4")')
    st = bob.no('SETMETADATA "lim" (/private/f "5")', "METADATA TOOMANY")
    # All or nothing: a good entry beside a refused one is not kept.
    bob.no('SETMETADATA "lim" (/private/b NIL /private/f "5" /private/g "6")', "METADATA TOOMANY")
    got, _ = bob.get('(DEPTH infinity) "lim" (/private /shared)')
    assert set(got) == {"/private/a", "/private/b", "/private/c", "/private/d", "/shared/e"}
    st = bob.no('SETMETADATA "lim" (/private/b "x" /private/c "%s")' % ("v" * 101))
    assert "[METADATA MAXSIZE 100]" in st
    got, _ = bob.get('"lim" /private/b')
    assert got == {"/private/b": b"1"}
    # At the limit, replacing and removing still work.
    bob.ok('SETMETADATA "lim" (/private/b "replaced")')
    bob.ok('SETMETADATA "lim" (/private/b NIL)')
    bob.ok('SETMETADATA "lim" (/private/f "5")')
    # Total bytes of the user's store (names + values, server included).
    bob.ok('CREATE "lim2"')
    bob.ok('SETMETADATA "lim2" (/private/x1 "%s" /private/x2 "%s" /private/x3 "%s")'
           % ("a" * 100, "b" * 100, "c" * 100))
    bob.ok('SETMETADATA "" (/private/x4 "%s" /private/x5 "%s")' % ("d" * 100, "e" * 100))
    bob.ok('CREATE "lim3"')
    bob.ok('SETMETADATA "lim3" (/private/y1 "%s" /private/y2 "%s")' % ("f" * 100, "g" * 100))
    st = bob.no('SETMETADATA "lim3" (/private/y3 "%s" /private/y4 "%s")' % ("h" * 100, "i" * 100),
                "METADATA TOOMANY")
    # Shrinking is always allowed, and frees room.
    bob.ok('SETMETADATA "lim2" (/private/x1 NIL /private/x2 "")')
    bob.ok('SETMETADATA "lim3" (/private/y3 "%s")' % ("h" * 100))
    bob.close()


def test_server_entries(srv, alice):
    got, _ = alice.get('"" (/shared/admin /shared/comment /shared/vendor/x)')
    assert got == {"/shared/admin": b"mailto:postmaster@example.org",
                   "/shared/comment": b"maintenance on sunday", "/shared/vendor/x": None}
    got, _ = alice.get('(DEPTH 1) "" /shared')
    assert got == {"/shared/admin": b"mailto:postmaster@example.org",
                   "/shared/comment": b"maintenance on sunday"}
    alice.no('SETMETADATA "" (/shared/comment "mine")', "NOPERM")
    alice.no('SETMETADATA "" (/shared/admin NIL)', "NOPERM")
    alice.ok('SETMETADATA "" (/private/vendor/rampart/theme "dark")')
    got, _ = alice.get('"" /private/vendor/rampart/theme')
    assert got == {"/private/vendor/rampart/theme": b"dark"}
    # Server /private entries are each user's own.
    bob = Conn(srv, "bob")
    got, _ = bob.get('"" /private/vendor/rampart/theme')
    assert got == {"/private/vendor/rampart/theme": None}
    bob.close()
    # A mailbox's entries are not the server's.
    got, _ = alice.get('"INBOX" /private/vendor/rampart/theme')
    assert got == {"/private/vendor/rampart/theme": None}


def test_delete_drops_rename_keeps(alice):
    alice.ok('CREATE "mv"')
    alice.ok('CREATE "mv/child"')
    alice.ok('SETMETADATA "mv" (/private/comment "parent")')
    alice.ok('SETMETADATA "mv/child" (/shared/comment "child")')
    alice.ok('RENAME "mv" "moved"')
    got, _ = alice.get('"moved" /private/comment')
    assert got == {"/private/comment": b"parent"}
    got, _ = alice.get('"moved/child" /shared/comment')
    assert got == {"/shared/comment": b"child"}
    alice.ok('DELETE "moved/child"')
    alice.ok('CREATE "moved/child"')
    got, _ = alice.get('"moved/child" /shared/comment')
    assert got == {"/shared/comment": None}
    alice.ok('DELETE "moved/child"')
    alice.ok('DELETE "moved"')
    alice.ok('CREATE "moved"')
    got, _ = alice.get('(DEPTH infinity) "moved" (/private /shared)')
    assert got == {}


def test_specialuse_read_only(alice):
    got, _ = alice.get('"Sent" /private/specialuse')
    assert got == {"/private/specialuse": b"\\Sent"}
    got, _ = alice.get('(DEPTH 1) "Sent" /private')
    assert got.get("/private/specialuse") == b"\\Sent"
    got, _ = alice.get('"INBOX" /private/specialuse')
    assert got == {"/private/specialuse": None}
    alice.no('SETMETADATA "Sent" (/private/specialuse "\\\\Trash")', "CANNOT")


def test_shared_mailbox_rights(srv, alice):
    srv_bob = Conn(srv, "bob")
    alice.ok('CREATE "team"')
    alice.ok('SETMETADATA "team" (/private/comment "alice only" /shared/comment "for all")')
    shared = '"Other Users/alice/team"'
    # No rights: the mailbox does not exist for bob.
    srv_bob.no("GETMETADATA %s /shared/comment" % shared, "NONEXISTENT")
    # l alone is not enough (RFC 5464 3.3: l and one of r s w i p).
    alice.ok('SETACL "team" bob l')
    srv_bob.no("GETMETADATA %s /shared/comment" % shared, "NOPERM")
    alice.ok('SETACL "team" bob lr')
    got, _ = srv_bob.get("%s (/shared/comment /private/comment)" % shared)
    # The owner's /private entries stay the owner's.
    assert got == {"/shared/comment": b"for all", "/private/comment": None}
    got, _ = srv_bob.get("(DEPTH infinity) %s (/private /shared)" % shared)
    assert got == {"/shared/comment": b"for all"}
    srv_bob.no("SETMETADATA %s (/shared/comment \"bob was here\")" % shared, "NOPERM")
    srv_bob.no("SETMETADATA %s (/private/comment \"bob's\")" % shared, "METADATA NOPRIVATE")
    alice.ok('SETACL "team" bob lrw')
    srv_bob.ok("SETMETADATA %s (/shared/comment \"bob was here\")" % shared)
    got, _ = alice.get('"team" (/shared/comment /private/comment)')
    assert got == {"/shared/comment": b"bob was here", "/private/comment": b"alice only"}
    # The answer names the mailbox as the client does.
    out = srv_bob.ok("GETMETADATA %s /shared/comment" % shared)
    assert b'* METADATA "Other Users/alice/team" (' in out
    srv_bob.close()


def test_imaplib_client(srv):
    """Python's imaplib, with the two commands registered, as a client
    library that does not know METADATA would be extended to use it."""
    imaplib.Commands.setdefault("GETMETADATA", ("AUTH", "SELECTED"))
    imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))
    m = srv.imap_tls(user="bob", password=PW)
    try:
        typ, _ = m._simple_command("SETMETADATA", "INBOX",
                                   '(/private/comment "set by imaplib")')
        assert typ == "OK"
        typ, dat = m._simple_command("GETMETADATA", "INBOX", "/private/comment")
        assert typ == "OK"
        typ, dat = m._untagged_response(typ, dat, "METADATA")
        assert dat and b'/private/comment "set by imaplib"' in dat[0], dat
    finally:
        m.logout()
