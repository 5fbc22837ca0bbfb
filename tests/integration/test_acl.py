"""Shared mailboxes (RFC 4314 ACL, RFC 2342 NAMESPACE) over real TLS with
three users: alice owns, bob and carol are granted rights one at a time.
Every right is granted, used, revoked and refused; a user without l and r
learns nothing (the answer equals a missing mailbox's); IDLE in a shared
mailbox sees the owner's changes."""
import imaplib
import re
import select
import time

import pytest

from rampart_harness import Server, UserConn, read_tagged, read_until

PW = "correct horse battery staple"
MSG = (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: shared %d\r\n"
       b"Message-ID: <m%d@example.org>\r\n\r\nbody %d\r\n")


class Conn(UserConn):
    """A raw TLS connection logged in as one user."""

    def append(self, mailbox, i):
        msg = MSG % (i, i, i)
        self.n += 1
        tag = b"t%d" % self.n
        self.s.sendall(tag + b' APPEND "%s" {%d+}\r\n' % (mailbox.encode(), len(msg)) + msg + b"\r\n")
        out = read_tagged(self.s, tag)
        return out.decode(errors="replace")


@pytest.fixture(scope="module")
def srv():
    s = Server(extra_config="[namespace]\npublic_owner = public\n")
    for u in ("bob", "carol", "public"):
        s.add_user(u, PW)
    yield s
    s.close()


def fresh(srv, alice, name):
    """A new mailbox of alice with two messages; returns its shared name."""
    alice.ok('CREATE "%s"' % name)
    for i in (1, 2):
        assert "OK" in alice.append(name, i)
    return "Other Users/alice/" + name


def test_namespace_lists_other_users_and_shared(srv):
    c = Conn(srv, "bob")
    out = c.ok("NAMESPACE")
    assert '* NAMESPACE (("" "/")) (("Other Users/" "/")) (("Shared Folders/" "/"))' in out, out
    c.close()


def test_rights_text_and_owner(srv):
    a = Conn(srv, "alice")
    a.ok('CREATE "rt"')
    out = a.ok('MYRIGHTS "rt"')
    assert '* MYRIGHTS "rt" "lrswipkxteacd"' in out or "* MYRIGHTS rt" in out, out
    a.ok('SETACL "rt" bob lrd')
    out = a.ok('GETACL "rt"')
    # d is "xte" (RFC 4314 2.1.1); c and d come back as the aliases.
    assert re.search(r'\* ACL "?rt"? alice lrswipkxteacd bob "lrxted"', out), out
    a.ok('SETACL "rt" bob -d')
    out = a.ok('GETACL "rt"')
    assert 'bob "lr"' in out, out
    a.ok('SETACL "rt" bob +w')
    assert 'bob "lrw"' in a.ok('GETACL "rt"')
    out = a.ok('LISTRIGHTS "rt" bob')
    assert '* LISTRIGHTS "rt" bob "" l r s w i p k x t e a c d' in out or \
        '* LISTRIGHTS rt bob "" l r' in out, out
    a.ok('DELETEACL "rt" bob')
    assert "bob" not in a.ok('GETACL "rt"').split("\r\n")[0]
    # The owner cannot lose a right (RFC 4314 2).
    a.no('SETACL "rt" alice ""', "CANNOT")
    a.no('SETACL "rt" -alice a', "CANNOT")
    out, st = a.cmd('SETACL "rt" bob lrz')
    assert st.startswith("BAD"), st
    out, st = a.cmd('SETACL "rt" "bad id" lr')
    assert st.startswith("BAD"), st
    a.no('GETACL "no-such"', "NONEXISTENT")
    a.close()


def test_no_leak_without_l_and_r(srv):
    a = Conn(srv, "alice")
    b = Conn(srv, "bob")
    shared = fresh(srv, a, "secret")
    missing = "Other Users/alice/never-created"
    nobody = "Other Users/nobody/INBOX"
    for name in (shared, missing, nobody):
        for cmd in ('SELECT "%s"', 'EXAMINE "%s"', 'STATUS "%s" (MESSAGES)',
                    'MYRIGHTS "%s"', 'GETACL "%s"', 'DELETE "%s"'):
            st = b.no(cmd % name, "NONEXISTENT")
            assert "secret" not in st and "never" not in st
        # APPEND's answer is the same for all three.
        assert "[NONEXISTENT]" in b.append(name, 9) or "TRYCREATE" in b.append(name, 9)
    out = b.ok('LIST "" "*"')
    assert "alice" not in out, out
    # A right other than l/r (here w) still does not reveal it.
    a.ok('SETACL "secret" bob w')
    b.no('SELECT "%s"' % shared, "NONEXISTENT")
    assert "alice" not in b.ok('LIST "" "*"')
    # No store is created for a user named in the namespace.
    import os
    assert not os.path.exists(os.path.join(srv.dir, "mail", "local", "nobody"))
    a.close()
    b.close()


def test_right_l_list(srv):
    a = Conn(srv, "alice")
    b = Conn(srv, "bob")
    shared = fresh(srv, a, "lst")
    a.ok('SETACL "lst" bob l')
    out = b.ok('LIST "" "*"')
    assert shared in out, out
    out = b.ok('LIST "" "Other Users/%"')
    assert "Other Users/alice" in out and "\\Noselect" in out or "\\NonExistent" in out, out
    # l without r: visible, but SELECT is NOPERM (it exists for bob).
    b.no('SELECT "%s"' % shared, "NOPERM")
    out = b.ok('MYRIGHTS "%s"' % shared)
    assert '"l"' in out, out
    a.ok('DELETEACL "lst" bob')
    assert shared not in b.ok('LIST "" "*"')
    a.close()
    b.close()


def test_right_r_select_fetch_search_and_revoke(srv):
    a = Conn(srv, "alice")
    b = Conn(srv, "bob")
    shared = fresh(srv, a, "rd")
    a.ok('SETACL "rd" bob lr')
    out = b.ok('SELECT "%s"' % shared)
    assert "* 2 EXISTS" in out and "* 0 RECENT" in out, out
    out = b.ok("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert "shared 1" in out and "shared 2" in out, out
    out = b.ok("SEARCH SUBJECT shared")
    assert "* SEARCH 1 2" in out, out
    out = b.ok('STATUS "%s" (MESSAGES UIDNEXT)' % shared)
    assert '* STATUS "%s" (MESSAGES 2 UIDNEXT 3)' % shared in out, out
    # Without s, a body fetch does not set \Seen.
    b.ok("FETCH 1 (BODY[])")
    out = a.ok('SELECT "rd"')
    assert "* 2 RECENT" in out, out  # bob's SELECT took no \\Recent of alice's
    out = a.ok("FETCH 1 (FLAGS)")
    assert "\\Seen" not in out, out
    # Without w/s/t/e every change is refused.
    b.no("STORE 1 +FLAGS (\\Flagged)", "NOPERM")
    b.no("STORE 1 +FLAGS (\\Seen)", "NOPERM")
    b.no("STORE 1 +FLAGS (\\Deleted)", "NOPERM")
    b.no("EXPUNGE", "NOPERM")
    b.ok("CLOSE")
    # Revoked: gone for bob.
    a.ok('SETACL "rd" bob ""')
    b.no('SELECT "%s"' % shared, "NONEXISTENT")
    a.close()
    b.close()


def test_rights_s_w_t_e(srv):
    a = Conn(srv, "alice")
    b = Conn(srv, "bob")
    shared = fresh(srv, a, "flags")
    a.ok('SETACL "flags" bob lrs')
    out = b.ok('SELECT "%s"' % shared)
    assert "[PERMANENTFLAGS (\\Seen)]" in out, out
    b.ok("STORE 1 +FLAGS (\\Seen)")
    b.no("STORE 1 +FLAGS (\\Answered)", "NOPERM")
    b.no("STORE 1 FLAGS (\\Seen)", "NOPERM")  # replacing needs w and t too
    a.ok('SETACL "flags" bob +w')
    b.ok('SELECT "%s"' % shared)
    b.ok("STORE 1 +FLAGS (\\Answered $Work)")
    b.no("STORE 1 +FLAGS (\\Deleted)", "NOPERM")
    a.ok('SETACL "flags" bob +t')
    out = b.ok('SELECT "%s"' % shared)
    assert "[PERMANENTFLAGS (\\Answered \\Flagged \\Draft \\* \\Deleted \\Seen)]" in out, out
    b.ok("STORE 1 +FLAGS (\\Deleted)")
    b.no("EXPUNGE", "NOPERM")
    # CLOSE without e closes without expunging (RFC 4314 4).
    b.ok("CLOSE")
    out = a.ok('STATUS "flags" (MESSAGES)')
    assert "MESSAGES 2" in out, out
    a.ok('SETACL "flags" bob +e')
    b.ok('SELECT "%s"' % shared)
    out = b.ok("EXPUNGE")
    assert "* 1 EXPUNGE" in out, out
    out = a.ok('STATUS "flags" (MESSAGES)')
    assert "MESSAGES 1" in out, out
    out = a.ok('SELECT "flags"')
    out = a.ok("FETCH 1 (FLAGS)")
    assert "\\Seen" not in out  # message 2 was never seen
    a.close()
    b.close()


def test_right_i_append_and_copy_into(srv):
    a = Conn(srv, "alice")
    b = Conn(srv, "bob")
    shared = fresh(srv, a, "drop")
    a.ok('SETACL "drop" bob lr')
    assert "[NOPERM]" in b.append(shared, 5)
    a.ok('SETACL "drop" bob lri')
    out = b.append(shared, 5)
    assert re.search(r"OK \[APPENDUID \d+ 3\]", out), out
    # COPY inside the owner's store: from the shared mailbox into itself.
    b.ok('SELECT "%s"' % shared)
    b.ok('COPY 1 "%s"' % shared)
    # Between two users' stores: test_acl_copy.py.
    b.ok('COPY 1 INBOX')
    b.ok("CLOSE")
    a.ok('SETACL "drop" bob -i')
    assert "[NOPERM]" in b.append(shared, 6)
    assert "MESSAGES 4" in a.ok('STATUS "drop" (MESSAGES)')
    a.close()
    b.close()


def test_rights_k_x_create_delete_rename(srv):
    a = Conn(srv, "alice")
    b = Conn(srv, "bob")
    shared = fresh(srv, a, "tree")
    a.ok('SETACL "tree" bob lr')
    b.no('CREATE "%s/kid"' % shared, "NOPERM")
    a.ok('SETACL "tree" bob +k')
    b.ok('CREATE "%s/kid"' % shared)
    assert "tree/kid" in a.ok('LIST "" "tree/*"')
    # The child has no ACL of its own: bob cannot see or delete it.
    b.no('DELETE "%s/kid"' % shared, "NONEXISTENT")
    a.ok('SETACL "tree/kid" bob lr')
    b.no('DELETE "%s/kid"' % shared, "NOPERM")
    a.ok('SETACL "tree/kid" bob +x')
    b.ok('RENAME "%s/kid" "%s/kid2"' % (shared, shared))
    assert "tree/kid2" in a.ok('LIST "" "tree/*"')
    b.no('RENAME "%s/kid2" "mine"' % shared, "CANNOT")
    b.ok('DELETE "%s/kid2"' % shared)
    assert "kid" not in a.ok('LIST "" "tree/*"')
    # Top level of another user's namespace: nothing to hold k.
    b.no('CREATE "Other Users/alice/newtop"', "CANNOT")
    b.no('CREATE "Other Users/alice"', "CANNOT")
    a.close()
    b.close()


def test_right_a_and_p(srv):
    a = Conn(srv, "alice")
    b = Conn(srv, "bob")
    c = Conn(srv, "carol")
    shared = fresh(srv, a, "adm")
    a.ok('SETACL "adm" bob lrp')
    b.no('GETACL "%s"' % shared, "NOPERM")
    b.no('SETACL "%s" carol lr' % shared, "NOPERM")
    b.no('LISTRIGHTS "%s" carol' % shared, "NOPERM")
    assert '"lrp"' in b.ok('MYRIGHTS "%s"' % shared)
    a.ok('SETACL "adm" bob +a')
    b.ok('SETACL "%s" carol lr' % shared)
    out = b.ok('GETACL "%s"' % shared)
    assert 'carol "lr"' in out, out
    c.ok('EXAMINE "%s"' % shared)
    b.ok('DELETEACL "%s" carol' % shared)
    c.no('EXAMINE "%s"' % shared, "NONEXISTENT")
    a.close()
    b.close()
    c.close()


def test_anyone_and_negative_rights(srv):
    a = Conn(srv, "alice")
    b = Conn(srv, "bob")
    c = Conn(srv, "carol")
    shared = fresh(srv, a, "pub")
    a.ok('SETACL "pub" anyone lr')
    a.ok('SETACL "pub" -carol r')
    b.ok('EXAMINE "%s"' % shared)
    c.no('EXAMINE "%s"' % shared, "NOPERM")   # l left: it exists for carol
    assert shared in c.ok('LIST "" "*"')
    a.ok('DELETEACL "pub" -carol')
    c.ok('EXAMINE "%s"' % shared)
    a.close()
    b.close()
    c.close()


def test_public_namespace(srv):
    p = Conn(srv, "public")
    b = Conn(srv, "bob")
    p.ok('CREATE "news"')
    assert "OK" in p.append("news", 1)
    b.no('EXAMINE "Shared Folders/news"', "NONEXISTENT")
    p.ok('SETACL "news" authenticated lr')
    out = b.ok('LIST "" "Shared Folders/*"')
    assert "Shared Folders/news" in out, out
    assert "* 1 EXISTS" in b.ok('EXAMINE "Shared Folders/news"')
    p.close()
    b.close()


def test_idle_sees_owner_changes(srv):
    a = Conn(srv, "alice")
    b = Conn(srv, "bob")
    shared = fresh(srv, a, "live")
    a.ok('SETACL "live" bob lr')
    b.ok('SELECT "%s"' % shared)
    b.s.sendall(b"i1 IDLE\r\n")
    read_until(b.s, b"+ ")
    assert "OK" in a.append("live", 3)
    got = read_until(b.s, b"* 3 EXISTS", timeout=10)
    assert b"* 3 EXISTS" in got
    a.ok('SELECT "live"')
    a.ok("STORE 1 +FLAGS (\\Flagged)")
    got = read_until(b.s, b"FETCH", timeout=10)
    assert b"\\Flagged" in got or b"\\Flagged" in read_until(b.s, b")", timeout=5)
    b.s.sendall(b"DONE\r\n")
    read_tagged(b.s, b"i1")
    # NOOP in the shared mailbox reports the owner's expunge.
    a.ok("STORE 2 +FLAGS (\\Deleted)")
    a.ok("EXPUNGE")
    out = b.ok("NOOP")
    assert "* 2 EXPUNGE" in out, out
    a.close()
    b.close()


def test_imaplib_client_reads_shared_mailbox(srv):
    a = Conn(srv, "alice")
    fresh(srv, a, "lib")
    a.ok('SETACL "lib" carol lr')
    a.close()
    c = srv.imap_tls(user="carol", password=PW)
    typ, data = c.list('""', '"Other Users/*"')
    assert typ == "OK" and any(b"Other Users/alice/lib" in d for d in data), data
    typ, data = c.select('"Other Users/alice/lib"', readonly=True)
    assert typ == "OK" and data == [b"2"], data
    typ, data = c.fetch("1:2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and b"shared 1" in data[0][1]
    c.logout()


def test_lsub_and_owner_delete(srv):
    a = Conn(srv, "alice")
    b = Conn(srv, "bob")
    shared = fresh(srv, a, "subs")
    a.ok('SETACL "subs" bob lr')
    b.ok('SUBSCRIBE "%s"' % shared)
    out = b.ok('LSUB "" "Other Users/*"')
    line = [l for l in out.split("\r\n") if shared in l]
    assert line and "\\Noselect" not in line[0], out
    # The owner deletes it: the list entry and the rights go with it (the
    # registry row left behind names alice, but nothing is shown).
    a.ok('DELETE "subs"')
    assert shared not in b.ok('LIST "" "*"')
    b.no('EXAMINE "%s"' % shared, "NONEXISTENT")
    a.ok('CREATE "subs"')
    b.no('EXAMINE "%s"' % shared, "NONEXISTENT")  # a new mailbox has no ACL
    a.close()
    b.close()
