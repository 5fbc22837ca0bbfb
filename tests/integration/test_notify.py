"""NOTIFY (RFC 5465) against a real server over TLS: unsolicited STATUS for
mail delivered (by `rampart deliver`) or appended (by another session) into
a mailbox that is not selected; LIST for mailboxes created, renamed and
deleted and for subscriptions changed by another session; EXISTS, FETCH
(with MessageNew's attributes) and EXPUNGE of the selected mailbox pushed
between commands, with SELECTED-DELAYED keeping EXPUNGE for a command;
NOTIFY NONE; the NOTIFICATIONOVERFLOW bound; BADEVENT and the rules of
RFC 5465 5 answered BAD.

Notifications arrive through the store's change feed: the tests wait for
the expected line (bounded by a timeout), never for a time."""
import re
import zlib
import time

import pytest

from rampart_harness import Raw, Server, read_tagged

MSG = b"From: a@example.org\r\nSubject: n\r\n\r\nhello\r\n"


@pytest.fixture
def a(server):
    r = Raw(server)
    r.buf = b""
    yield r
    r.close()


@pytest.fixture
def b(server):
    r = Raw(server)
    yield r
    r.close()


def wait_for(c, pattern, timeout=30):
    """Reads c's unsolicited output until the regex matches; returns the
    match. Bytes before the match stay readable in c.buf."""
    rx = re.compile(pattern, re.M)
    deadline = time.time() + timeout
    c.s.settimeout(1)
    try:
        while True:
            m = rx.search(c.buf)
            if m:
                return m
            if time.time() > deadline:
                raise AssertionError("no %r in %r" % (pattern, c.buf[-800:]))
            try:
                chunk = c.s.recv(65536)
            except OSError:
                continue
            if not chunk:
                raise AssertionError("closed; got %r" % c.buf[-800:])
            c.buf += chunk
    finally:
        c.s.settimeout(None)


def append(c, mailbox, msg=MSG):
    c.ok(b"APPEND %s {%d+}\r\n%s" % (mailbox, len(msg), msg))


def idle_until(c, pattern):
    """IDLE until pattern shows up; returns everything up to DONE's OK."""
    c.s.sendall(b"i1 IDLE\r\n")
    wait_for(c, rb"^\+ ")
    wait_for(c, pattern)
    c.s.sendall(b"DONE\r\n")
    return c.buf + read_tagged(c.s, b"i1")


def test_capability_after_login(server, a):
    assert b" NOTIFY" in a.ok(b"CAPABILITY")
    raw = server.raw(tls=True)
    try:
        raw.sendall(b"x CAPABILITY\r\n")
        data = read_tagged(raw, b"x")
        assert b" NOTIFY" not in data
    finally:
        raw.close()


def test_deliver_into_unselected_mailbox_gives_status(server, a, b):
    a.ok(b"CREATE Work")
    a.ok(b"SELECT INBOX")
    a.ok(b"NOTIFY SET (SELECTED (MessageNew MessageExpunge)) "
         b"(PERSONAL (MessageNew MessageExpunge))")
    # `rampart deliver` (another process) into a mailbox a did not select.
    r = server.deliver(server.user, MSG, "Work")
    assert r.returncode == 0, r.stderr
    m = wait_for(a, rb'^\* STATUS "Work" \(MESSAGES (\d+) UIDNEXT (\d+) UIDVALIDITY \d+ '
                 rb"UNSEEN (\d+)\)\r\n")
    assert m.groups() == (b"1", b"2", b"1")
    # Another device of the same user appends: STATUS again.
    a.buf = b""
    append(b, b"Work")
    m = wait_for(a, rb'^\* STATUS "Work" \(MESSAGES (\d+) UIDNEXT (\d+)')
    assert m.groups() == (b"2", b"3")
    # The selected mailbox gets EXISTS, never STATUS (RFC 5465 5.2).
    a.buf = b""
    append(b, b"INBOX")
    wait_for(a, rb"^\* 1 EXISTS\r\n")
    assert b'STATUS "INBOX"' not in a.buf


def test_set_status_reports_at_once(a):
    a.ok(b"CREATE Box")
    append(a, b"Box")
    a.ok(b"ENABLE CONDSTORE")
    data = a.ok(b"NOTIFY SET STATUS (MAILBOXES (Box INBOX) (MessageNew MessageExpunge FlagChange))")
    assert re.search(rb'^\* STATUS "Box" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1 '
                     rb"HIGHESTMODSEQ \d+\)\r\n", data, re.M), data
    assert re.search(rb'^\* STATUS "INBOX" \(MESSAGES 0 ', data, re.M), data
    assert b'"Drafts"' not in data and b'"Sent"' not in data


def test_flag_change_in_unselected_mailbox(a, b):
    a.ok(b"CREATE Box")
    append(a, b"Box")
    a.ok(b"NOTIFY SET (MAILBOXES Box (MessageNew MessageExpunge FlagChange))")
    b.ok(b"SELECT Box")
    b.ok(b"STORE 1 +FLAGS (\\Seen)")
    m = wait_for(a, rb'^\* STATUS "Box" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN (\d+)\)')
    assert m.group(1) == b"0"
    # An expunge there: MESSAGES drops, UIDNEXT stays.
    a.buf = b""
    b.ok(b"STORE 1 +FLAGS (\\Deleted)")
    b.ok(b"EXPUNGE")
    wait_for(a, rb'^\* STATUS "Box" \(MESSAGES 0 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 0\)')


def test_mailbox_name_events(a, b):
    a.ok(b"NOTIFY SET (PERSONAL (MailboxName))")
    b.ok(b"CREATE Projects")
    wait_for(a, rb'^\* LIST \(\) "/" "Projects"\r\n')
    b.ok(b"RENAME Projects Archive2")
    wait_for(a, rb'^\* LIST \(\) "/" "Archive2" \("OLDNAME" \("Projects"\)\)\r\n')
    b.ok(b"DELETE Archive2")
    wait_for(a, rb'^\* LIST \(\\NonExistent\) "/" "Archive2"\r\n')


def test_subscription_change(a, b):
    a.ok(b"CREATE Lists")
    a.ok(b"NOTIFY SET (PERSONAL (SubscriptionChange))")
    b.ok(b"SUBSCRIBE Lists")
    wait_for(a, rb'^\* LIST \(\\Subscribed\) "/" "Lists"\r\n')
    b.ok(b"UNSUBSCRIBE Lists")
    wait_for(a, rb'^\* LIST \(\) "/" "Lists"\r\n')


def test_selected_pushes_flags_new_and_expunge(a, b):
    append(a, b"INBOX")
    append(a, b"INBOX")
    a.ok(b"SELECT INBOX")
    a.ok(b"NOTIFY SET (SELECTED (MessageNew (UID FLAGS RFC822.SIZE) MessageExpunge FlagChange))")
    b.ok(b"SELECT INBOX")
    b.ok(b"STORE 1 +FLAGS (\\Flagged)")
    wait_for(a, rb"^\* 1 FETCH \(FLAGS \(\\Flagged( \\Recent)?\)\)\r\n")
    append(b, b"INBOX")
    m = wait_for(a, rb"^\* 3 EXISTS\r\n(?:.*\r\n)*?\* 3 FETCH \(UID (\d+) FLAGS \((?:\\Recent)?\) "
                 rb"RFC822.SIZE (\d+)\)\r\n")
    assert m.groups() == (b"3", str(len(MSG)).encode())
    b.ok(b"STORE 2 +FLAGS (\\Deleted)")
    b.ok(b"EXPUNGE")
    # SELECTED: the EXPUNGE comes between commands.
    wait_for(a, rb"^\* 2 EXPUNGE\r\n")
    data = a.ok(b"FETCH 1:* (UID)")
    assert re.findall(rb"UID (\d+)", data) == [b"1", b"3"]


def test_selected_delayed_keeps_expunge_for_a_command(a, b):
    append(a, b"INBOX")
    append(a, b"INBOX")
    a.ok(b"SELECT INBOX")
    a.ok(b"NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge))")
    b.ok(b"SELECT INBOX")
    b.ok(b"STORE 1 +FLAGS (\\Deleted)")
    b.ok(b"EXPUNGE")
    append(b, b"INBOX")
    # The arrival is pushed; the expunged message keeps its number.
    wait_for(a, rb"^\* 3 EXISTS\r\n")
    assert b"EXPUNGE" not in a.buf
    data = a.ok(b"NOOP")
    assert re.search(rb"^\* 1 EXPUNGE\r\n", data, re.M), data


def test_notify_none_stops(a, b):
    a.ok(b"NOTIFY SET (PERSONAL (MailboxName))")
    b.ok(b"CREATE One")
    wait_for(a, rb'^\* LIST \(\) "/" "One"\r\n')
    a.ok(b"NOTIFY NONE")
    a.ok(b"SELECT INBOX")
    a.buf = b""
    # Create, then deliver into the selected INBOX: when IDLE sees the
    # EXISTS, the same comparison would have carried the LIST.
    b.ok(b"CREATE Two")
    append(b, b"INBOX")
    data = idle_until(a, rb"^\* 1 EXISTS\r\n")
    assert b"* LIST" not in data, data


def test_overflow_turns_notify_off():
    srv = Server(extra_config="[limits]\nmax_notify_events = 3\n")
    a = b = None
    try:
        a = Raw(srv)
        a.buf = b""
        b = Raw(srv)
        for name in (b"P", b"P/a", b"P/b", b"P/c", b"P/d"):
            a.ok(b"CREATE " + name)
        a.ok(b"SELECT INBOX")
        a.ok(b"NOTIFY SET (PERSONAL (MailboxName))")
        # One RENAME renames five mailboxes in one transaction: five
        # notifications owed at once, over the bound of three.
        b.ok(b"RENAME P Q")
        wait_for(a, rb"^\* OK \[NOTIFICATIONOVERFLOW\][^\r]*\r\n")
        assert b"* LIST" not in a.buf
        # NOTIFY is off now: nothing for the next mailbox.
        a.buf = b""
        b.ok(b"CREATE R")
        append(b, b"INBOX")
        data = idle_until(a, rb"^\* 1 EXISTS\r\n")
        assert b"* LIST" not in data, data
        # Setting it again works.
        a.ok(b"NOTIFY SET (PERSONAL (MailboxName))")
        a.buf = b""
        b.ok(b"CREATE S")
        wait_for(a, rb'^\* LIST \(\) "/" "S"\r\n')
    finally:
        for c in (a, b):
            if c:
                c.close()
        srv.close()


@pytest.mark.parametrize("args,status,code", [
    (b"SET (PERSONAL (AnnotationChange))", b"NO", b"[BADEVENT (MessageNew MessageExpunge "
     b"FlagChange MailboxName SubscriptionChange)]"),
    (b"SET (PERSONAL (MailboxMetadataChange))", b"NO", b"[BADEVENT"),
    (b"SET (INBOXES (ServerMetadataChange MailboxName))", b"NO", b"[BADEVENT"),
    (b"SET (PERSONAL (MessageNew))", b"BAD", b""),
    (b"SET (PERSONAL (FlagChange MailboxName))", b"BAD", b""),
    (b"SET (SELECTED (MailboxName))", b"BAD", b""),
    (b"SET (SELECTED (MessageNew MessageExpunge)) (SELECTED-DELAYED NONE)", b"BAD", b""),
    (b"SET (SELECTED (MessageNew (BODY[]) MessageExpunge))", b"BAD", b""),
    (b"SET (SUBTREE (MessageNew MessageExpunge))", b"BAD", b""),
    (b"SET (NOWHERE (MailboxName))", b"BAD", b""),
    (b"SET", b"BAD", b""),
    (b"SET STATUS", b"BAD", b""),
    (b"ALL", b"BAD", b""),
    (b"SET (MAILBOXES (\"Other Users/bob/INBOX\") (MailboxName))", b"NO", b"[CANNOT]"),
])
def test_refused(shared_server, args, status, code):
    # One server for all the cases (a server start is most of each case).
    a, b = Raw(shared_server), Raw(shared_server)
    a.buf = b""
    a.ok(b"NOTIFY SET (PERSONAL (MailboxName))")
    data, st = a.cmd(b"NOTIFY " + args)
    assert st.startswith(status + b" " + code), (args, data)
    # A refused NOTIFY leaves the setting in force.
    name = b"Kept-%d" % zlib.crc32(args)
    b.ok(b"CREATE " + name)
    wait_for(a, rb'^\* LIST \(\) "/" "' + name + rb'"\r\n')
    a.close()
    b.close()


def test_name_limit():
    srv = Server(extra_config="[limits]\nmax_notify_mailboxes = 2\n")
    try:
        a = Raw(srv)
        data, st = a.cmd(b"NOTIFY SET (MAILBOXES (A B) (MailboxName)) (SUBTREE C (MailboxName))")
        assert st.startswith(b"NO [LIMIT]"), data
        a.ok(b"NOTIFY SET (MAILBOXES (A B) (MailboxName))")
        a.close()
    finally:
        srv.close()


def test_rev2_utf8_names(a, b):
    a.ok(b"ENABLE IMAP4rev2")
    a.ok(b'NOTIFY SET (SUBTREE "F\xc3\xa4cher" (MailboxName))')
    b.ok(b"CREATE F&AOQ-cher")
    wait_for(a, rb'^\* LIST \(\) "/" "F\xc3\xa4cher"\r\n')
    b.ok(b"CREATE F&AOQ-cher/x")
    wait_for(a, rb'^\* LIST \(\) "/" "F\xc3\xa4cher/x"\r\n')
    b.ok(b"CREATE Elsewhere")
    b.ok(b"CREATE F&AOQ-cher/y")
    wait_for(a, rb'^\* LIST \(\) "/" "F\xc3\xa4cher/y"\r\n')
    assert b"Elsewhere" not in a.buf
