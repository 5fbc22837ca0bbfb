"""MULTISEARCH (RFC 7377) against a real server over TLS: ESEARCH IN
(filters) answers one ESEARCH per mailbox with a match, tagged with the
mailbox and its UIDVALIDITY, always by UID; works without a selected
mailbox; never searches another user's mailbox; refuses sequence numbers
and SAVE; bounded in mailboxes per command."""
import re

import pytest

from rampart_harness import Raw

RESP = re.compile(rb'^\* ESEARCH \(TAG "([^"]+)" MAILBOX "([^"]*)" UIDVALIDITY (\d+)\) UID(.*)\r$',
                  re.M)


def msg(subject, body=b"body"):
    return b"From: a@example.org\r\nSubject: " + subject + b"\r\n\r\n" + body + b"\r\n"


def results(data):
    """mailbox -> (uidvalidity, rest of the line)."""
    out = {}
    for tag, box, uv, rest in RESP.findall(data):
        assert box not in out, data
        out[box.decode()] = (int(uv), rest.strip().decode())
    return out


def append(c, box, subject, body=b"body"):
    m = msg(subject, body)
    c.ok(b"APPEND %s {%d+}\r\n%s" % (box, len(m), m))


@pytest.fixture
def c(server):
    r = Raw(server)
    for box in [b"Work", b"Work/Projects", b"Work/Projects/Old", b"Private", b"Lists"]:
        r.ok(b"CREATE " + box)
    append(r, b"INBOX", b"hello inbox")
    append(r, b"INBOX", b"other")
    append(r, b"Work", b"hello work")
    append(r, b"Work/Projects", b"hello project")
    append(r, b"Work/Projects/Old", b"hello old")
    append(r, b"Private", b"hello private")
    append(r, b"Lists", b"nothing", body=b"hello in the body")
    r.ok(b"SUBSCRIBE Work")
    r.ok(b"SUBSCRIBE Lists")
    yield r
    r.close()


def test_capability(c):
    assert b" MULTISEARCH" in c.ok(b"CAPABILITY")


def test_personal_without_selection(c):
    # Authenticated state, no mailbox selected.
    data = c.ok(b"ESEARCH IN (personal) SUBJECT hello")
    tag = c.tag
    got = results(data)
    assert set(got) == {"INBOX", "Work", "Work/Projects", "Work/Projects/Old", "Private"}, data
    assert got["INBOX"][1] == "ALL 1", data
    for box, (uv, _rest) in got.items():
        status = c.ok(b'STATUS "%s" (UIDVALIDITY)' % box.encode())
        assert b"UIDVALIDITY %d" % uv in status
    # The tag is the command's.
    assert all(t == tag for t, *_ in RESP.findall(data))
    # BODY goes through the same engine (and index).
    got = results(c.ok(b"ESEARCH IN (personal) BODY hello"))
    assert set(got) == {"Lists"}


def test_filters(c):
    got = results(c.ok(b"ESEARCH IN (subtree Work) SUBJECT hello"))
    assert set(got) == {"Work", "Work/Projects", "Work/Projects/Old"}
    got = results(c.ok(b"ESEARCH IN (subtree-one Work) SUBJECT hello"))
    assert set(got) == {"Work", "Work/Projects"}
    got = results(c.ok(b"ESEARCH IN (mailboxes (Private Work/Projects)) SUBJECT hello"))
    assert set(got) == {"Private", "Work/Projects"}
    got = results(c.ok(b"ESEARCH IN (inboxes) ALL"))
    assert set(got) == {"INBOX"} and got["INBOX"][1] == "ALL 1:2"
    # INBOX and the default mailboxes are subscribed from the start.
    got = results(c.ok(b"ESEARCH IN (subscribed) ALL"))
    assert set(got) == {"INBOX", "Work", "Lists"}
    c.ok(b"UNSUBSCRIBE Work")
    got = results(c.ok(b"ESEARCH IN (subscribed) ALL"))
    assert set(got) == {"INBOX", "Lists"}
    # Several filters: the union, each mailbox once.
    got = results(c.ok(b"ESEARCH IN (inboxes mailboxes INBOX subtree-one Work) SUBJECT hello"))
    assert set(got) == {"INBOX", "Work", "Work/Projects"}
    # A name that does not exist is skipped, not an error.
    assert results(c.ok(b"ESEARCH IN (mailboxes Nowhere) ALL")) == {}


def test_selected_and_return_options(c):
    c.ok(b"SELECT Work/Projects")
    # Without IN: the selected mailbox.
    got = results(c.ok(b"ESEARCH SUBJECT hello"))
    assert set(got) == {"Work/Projects"}
    got = results(c.ok(b"ESEARCH IN (selected subtree Private) RETURN (MIN MAX COUNT) ALL"))
    assert got["Work/Projects"][1] == "MIN 1 MAX 1 COUNT 1", got
    assert got["Private"][1] == "MIN 1 MAX 1 COUNT 1", got
    got = results(c.ok(b"ESEARCH IN (inboxes) RETURN (COUNT) UID 2:*"))
    assert got["INBOX"][1] == "COUNT 1", got
    # No match: no response for that mailbox.
    assert results(c.ok(b"ESEARCH IN (personal) SUBJECT nomatchanywhere")) == {}
    c.ok(b"UNSELECT")
    # "selected" with nothing selected searches nothing.
    assert results(c.ok(b"ESEARCH IN (selected) ALL")) == {}


def test_refused(c):
    for command in [
        b"ESEARCH IN (personal) 1:2",            # sequence numbers (RFC 7377 2.2)
        b"ESEARCH IN (personal) RETURN (SAVE) ALL",
        b"ESEARCH IN (nosuchfilter) ALL",
        b"ESEARCH IN () ALL",
        b"ESEARCH IN (subtree) ALL",
        b"ESEARCH IN (personal (depth 1)) ALL",  # scope options: none supported
        b"ESEARCH IN (personal)",
    ]:
        data, status = c.cmd(command)
        assert status.startswith(b"BAD"), (command, data)
        c.ok(b"NOOP")
    data, status = c.cmd(b"ESEARCH IN (personal) CHARSET X-NONE ALL")
    assert status.startswith(b"NO [BADCHARSET"), data


def test_other_users_mailboxes_skipped(server, c):
    server.add_user("bob", "bob password here")
    bob = Raw.__new__(Raw)
    bob.s = server.raw(tls=True)
    from rampart_harness import read_until
    read_until(bob.s, b"\r\n")
    bob.n = 0
    bob.tag = None
    try:
        bob.ok(b'LOGIN bob "bob password here"')
        bob.ok(b"CREATE Work")
        append(bob, b"Work", b"hello from bob")
        append(bob, b"INBOX", b"hello bob inbox")
        got = results(bob.ok(b"ESEARCH IN (personal) SUBJECT hello"))
        assert set(got) == {"Work", "INBOX"}
        assert got["Work"][1] == "ALL 1"
        # alice sees only her own (bob never shared anything).
        got = results(c.ok(b'ESEARCH IN (mailboxes ("Other Users/bob/Work" Work)) SUBJECT bob'))
        assert got == {}
    finally:
        bob.close()


def test_limit_on_mailboxes(server):
    # MULTISEARCH_MAX_MAILBOXES is 1000: 1001 mailboxes are refused, 1000
    # are searched.
    r = Raw(server)
    try:
        names = [b"L%04d" % i for i in range(999)]
        for chunk in range(0, len(names), 100):
            r.s.sendall(b"".join(b"c%d CREATE %s\r\n" % (i + chunk, n)
                                 for i, n in enumerate(names[chunk:chunk + 100])))
            from rampart_harness import read_tagged
            read_tagged(r.s, b"c%d" % (chunk + len(names[chunk:chunk + 100]) - 1), timeout=120)
        # 999 + INBOX + the default mailboxes is over the bound.
        data, status = r.cmd(b"ESEARCH IN (personal) ALL", timeout=120)
        assert status.startswith(b"NO [LIMIT]"), data
        data = r.ok(b"ESEARCH IN (subtree-one INBOX mailboxes (%s)) ALL" % b" ".join(names[:200]),
                    timeout=120)
        assert results(data) == {}
    finally:
        r.close()
