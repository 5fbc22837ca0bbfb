"""Mailbox commands with python imaplib over real TLS: CREATE, DELETE,
RENAME (incl. INBOX), SUBSCRIBE, LIST (extended, special-use, status),
LSUB, NAMESPACE, STATUS, SELECT/EXAMINE output, ENABLE IMAP4rev2."""
import imaplib
import re

import pytest

from rampart_harness import read_tagged, read_until


def lines(data):
    return [d.decode() if isinstance(d, bytes) else str(d) for d in data if d]


def test_new_user_has_special_use_folders(server):
    c = server.imap_tls()
    typ, data = c.list()
    out = "\n".join(lines(data))
    for name, attr in [("Drafts", "\\Drafts"), ("Sent", "\\Sent"), ("Trash", "\\Trash"),
                       ("Junk", "\\Junk"), ("Archive", "\\Archive")]:
        assert re.search(r'\(.*%s.*\) "/" "?%s"?' % (re.escape(attr), name), out), out
    assert 'INBOX' in out
    typ, data = c.lsub()
    assert "Sent" in "\n".join(lines(data))
    c.logout()


def test_create_delete_rename_hierarchy(server):
    c = server.imap_tls()
    assert c.create("Projects/2026/Q1")[0] == "OK"
    assert c.create("Projects")[0] == "OK"
    typ, data = c.create("Projects")
    assert typ == "NO" and b"ALREADYEXISTS" in data[0]
    typ, data = c.list('""', "Projects/%")
    out = "\n".join(lines(data))
    # "Projects/2026" is only a hierarchy level.
    assert "Projects/2026" in out and ("\\NonExistent" in out or "\\Noselect" in out), out
    assert c.rename("Projects", "Work")[0] == "OK"
    typ, data = c.list('""', "*")
    out = "\n".join(lines(data))
    assert "Work/2026/Q1" in out and "Projects" not in out, out
    typ, data = c.select("Projects/2026/Q1")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    assert c.delete("Work/2026/Q1")[0] == "OK"
    typ, data = c.delete("INBOX")
    assert typ == "NO"
    typ, data = c.delete("Nope")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    c.logout()


def test_rename_inbox_moves_messages(server):
    msg = b"From: x@example.org\r\nSubject: inbox rename\r\n\r\nbody\r\n"
    c = server.imap_tls()
    c.append("INBOX", None, None, msg)
    c.append("INBOX", None, None, msg)
    assert c.rename("INBOX", "Old-Inbox")[0] == "OK"
    typ, data = c.status("INBOX", "(MESSAGES)")
    assert b"MESSAGES 0" in data[0]
    typ, data = c.status("Old-Inbox", "(MESSAGES)")
    assert b"MESSAGES 2" in data[0]
    c.logout()


def test_subscribe_unsubscribe_lsub(server):
    c = server.imap_tls()
    c.create("News")
    assert c.subscribe("News")[0] == "OK"
    typ, data = c.lsub('""', "N*")
    assert "News" in "\n".join(lines(data))
    c.delete("News")
    typ, data = c.lsub('""', "N*")
    # A subscription outlives its mailbox (RFC 9051 6.3.7).
    assert "News" in "\n".join(lines(data))
    assert c.unsubscribe("News")[0] == "OK"
    typ, data = c.lsub('""', "N*")
    assert "News" not in "\n".join(lines(data))
    c.logout()


def test_list_extended_and_status(server):
    c = server.imap_tls()
    c.append("Sent", None, None, b"Subject: s\r\n\r\nx\r\n")
    typ, data = c._simple_command("LIST", "(SPECIAL-USE)", '""', '"*"',
                                  "RETURN", "(STATUS (MESSAGES UNSEEN SIZE))")
    assert typ == "OK"
    typ, data = c._untagged_response(typ, data, "LIST")
    out = "\n".join(lines(data))
    assert "Sent" in out and "INBOX" not in out, out
    typ, sdata = c._untagged_response("OK", [None], "STATUS")
    st = "\n".join(lines(sdata))
    assert re.search(r'Sent"? \(MESSAGES 1 UNSEEN 1 SIZE \d+\)', st), st
    typ, data = c._simple_command("LIST", "(SUBSCRIBED)", '""', '"*"')
    typ, data = c._untagged_response(typ, data, "LIST")
    assert "\\Subscribed" in "\n".join(lines(data))
    typ, data = c.list('""', '""')
    assert '(\\Noselect) "/" ""' in lines(data)[0]
    c.logout()


def test_namespace_status_select_examine(server):
    c = server.imap_tls()
    typ, data = c.namespace()
    # acl (issue #12): other users' shared mailboxes; no public owner here.
    assert data[0] == b'(("" "/")) (("Other Users/" "/")) NIL'
    c.append("INBOX", "(\\Seen)", None, b"Subject: a\r\n\r\n1\r\n")
    c.append("INBOX", "(\\Deleted)", None, b"Subject: b\r\n\r\n22\r\n")
    typ, data = c.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT)")
    st = data[0].decode()
    assert "MESSAGES 2" in st and "UNSEEN 1" in st and "DELETED 1" in st and "UIDNEXT 3" in st
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"2"]
    typ, data = c.select("INBOX", readonly=True)
    assert typ == "OK"
    assert "READ-ONLY" in c.untagged_responses
    typ, data = c.expunge()
    assert typ == "NO"  # read-only
    c.logout()


def test_rev2_enable_changes_behaviour(server):
    s = server.raw(tls=True)
    read_until(s, b"\r\n")
    s.sendall(b"a LOGIN %s \"%s\"\r\n" % (server.user.encode(), server.password.encode()))
    read_until(s, b"a OK")
    s.sendall(b"b ENABLE IMAP4rev2\r\n")
    data = read_until(s, b"b OK")
    assert b"* ENABLED IMAP4rev2" in data
    s.sendall(b"c SELECT INBOX\r\n")
    data = read_until(s, b"c OK")
    assert b"RECENT" not in data
    assert b'* LIST () "/" "INBOX"' in data or b'* LIST () "/" INBOX' in data
    s.sendall(b"d SELECT Sent\r\n")
    data = read_until(s, b"d OK")
    assert b"* OK [CLOSED]" in data
    s.sendall(b"e STATUS INBOX (RECENT)\r\n")
    assert b"e BAD" in read_tagged(s, b"e")
    s.sendall("f CREATE \"Entwürfe\"\r\n".encode())
    read_until(s, b"f OK")
    s.sendall(b'g LIST "" "Entw*"\r\n')
    data = read_until(s, b"g OK")
    assert "Entwürfe".encode() in data
    s.close()
    # A rev1 client sees the same name in modified UTF-7.
    c = server.imap_tls()
    typ, data = c.list('""', '"Entw*"')
    assert b"Entw&APw-rfe" in data[0]
    c.logout()


def test_append_errors_and_appenduid(server):
    c = server.imap_tls()
    typ, data = c.append("NoSuchBox", None, None, b"Subject: x\r\n\r\n")
    assert typ == "NO" and b"TRYCREATE" in data[0]
    typ, data = c.append("INBOX", "(\\Flagged $Work)", '"05-Feb-2024 10:00:00 +0100"',
                         b"Subject: x\r\n\r\nhello\r\n")
    assert typ == "OK" and re.match(rb"\[APPENDUID \d+ 1\]", data[0]), data
    with pytest.raises(imaplib.IMAP4.error):
        c.append("INBOX", "(\\Recent)", None, b"Subject: x\r\n\r\n")
    with pytest.raises(imaplib.IMAP4.error):
        c.append("INBOX", None, '"99-Foo-2024 10:00:00 +0100"', b"Subject: x\r\n\r\n")
    c.logout()


def test_multiappend_is_atomic_and_reports_uids(server):
    s = server.raw(tls=True)
    read_until(s, b"\r\n")
    s.sendall(b"a LOGIN %s \"%s\"\r\n" % (server.user.encode(), server.password.encode()))
    read_until(s, b"a OK")
    m1 = b"Subject: one\r\n\r\n1\r\n"
    m2 = b"Subject: two\r\n\r\n2\r\n"
    s.sendall(b"b APPEND INBOX (\\Seen) {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(m1), m1, len(m2), m2))
    data = read_until(s, b"b OK")
    assert b"[APPENDUID" in data and b" 1:2]" in data, data
    s.close()


def test_mailbox_name_errors(server):
    c = server.imap_tls()
    typ, data = c.create("a//b")
    assert typ == "NO"
    typ, data = c.create("x" * 2000)
    assert typ == "NO" and b"LIMIT" in data[0]
    c.logout()
