"""UIDONLY (RFC 9586) against a real server over TLS: after ENABLE UIDONLY
every command form that names messages by sequence number is BAD
[UIDREQUIRED], FETCH responses are "* <uid> UIDFETCH (...)", expunges are
VANISHED (also those of another session, without QRESYNC), and the UID
forms keep working."""
import re

import pytest

from rampart_harness import Raw

REFUSED = b"BAD [UIDREQUIRED]"


def msg(i):
    return b"From: a@example.org\r\nSubject: u%d\r\n\r\nbody %d\r\n" % (i, i)


def fill(server, n):
    for i in range(n):
        assert server.deliver(server.user, msg(i)).returncode == 0


@pytest.fixture
def c(server):
    fill(server, 5)
    r = Raw(server)
    r.ok(b"ENABLE UIDONLY")
    r.ok(b"SELECT INBOX")
    yield r
    r.close()


def refused(c, command):
    data, status = c.cmd(command)
    assert status.startswith(REFUSED), (command, data)
    c.ok(b"NOOP")  # ten BADs in a row would end the session
    return data


def ok(c, command):
    """c.ok() with the rev1 \\Recent flag taken out of the answer (every
    delivered message is \\Recent in the first session that sees it)."""
    return re.sub(rb" ?\\Recent", b"", c.ok(command)).replace(b"( ", b"(")


def no_seq_fetch(data):
    """No FETCH response numbered by sequence number."""
    return not re.search(rb"^\* \d+ FETCH ", data, re.M)


def test_capability_and_enable(server):
    r = Raw(server)
    try:
        assert b" UIDONLY" in r.ok(b"CAPABILITY")
        data = ok(r, b"ENABLE UIDONLY")
        assert b"* ENABLED UIDONLY\r\n" in data
        # Enabled once: a second ENABLE lists nothing (RFC 5161 3.1).
        assert b"* ENABLED UIDONLY" not in r.ok(b"ENABLE UIDONLY")
    finally:
        r.close()


def test_sequence_commands_refused(c):
    # RFC 9586 3: every command form that takes message sequence numbers.
    for command in [
        b"FETCH 1 (FLAGS)",
        b"FETCH 1:* (UID)",
        b"STORE 1 +FLAGS (\\Seen)",
        b"SEARCH ALL",
        b"SEARCH RETURN (COUNT) ALL",
        b"COPY 1 Trash",
        b"MOVE 1 Trash",
        b"SORT (ARRIVAL) UTF-8 ALL",
        b"THREAD REFERENCES UTF-8 ALL",
    ]:
        refused(c, command)
    # ... and a sequence set used as a search key of a UID command.
    refused(c, b"UID SEARCH 1:3")
    refused(c, b"UID SEARCH OR 1 UID 2")
    refused(c, b"UID SORT (ARRIVAL) UTF-8 2:*")
    # Nothing was changed by the refused commands.
    data = ok(c, b"UID FETCH 1:* (FLAGS)")
    assert b"\\Seen" not in data
    data = ok(c, b"STATUS Trash (MESSAGES)")
    assert b"MESSAGES 0" in data


def test_uid_forms_work(c):
    data = ok(c, b"UID FETCH 1:* (FLAGS)")
    assert data.count(b" UIDFETCH (") == 5, data
    assert no_seq_fetch(data)
    # The UID is the response's number; the UID item only when asked for.
    assert b"* 2 UIDFETCH (FLAGS ())\r\n" in data, data
    data = ok(c, b"UID FETCH 3 (UID RFC822.SIZE)")
    assert re.search(rb"^\* 3 UIDFETCH \(UID 3 RFC822\.SIZE \d+\)\r$", data, re.M), data
    # A body literal in a UIDFETCH response.
    data = ok(c, b"UID FETCH 4 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"* 4 UIDFETCH (BODY[HEADER.FIELDS (SUBJECT)] {" in data, data
    assert b"Subject: u3" in data
    # "*" in a UID set is the highest UID, not a sequence number.
    data = ok(c, b"UID FETCH *:* (FLAGS)")
    assert b"* 5 UIDFETCH (FLAGS ())" in data, data
    data = ok(c, b"UID STORE 2 +FLAGS (\\Flagged)")
    assert b"* 2 UIDFETCH (FLAGS (\\Flagged))\r\n" in data, data
    assert no_seq_fetch(data)
    c.ok(b"UID STORE 3 +FLAGS.SILENT (\\Seen)")
    data = ok(c, b"UID SEARCH FLAGGED")
    assert b"* SEARCH 2\r\n" in data, data
    data = ok(c, b"UID SEARCH RETURN (SAVE) SEEN")
    data = ok(c, b"UID SEARCH $")
    assert b"* SEARCH 3\r\n" in data, data
    data = ok(c, b"UID SORT (REVERSE SUBJECT) UTF-8 UID 1:3")
    assert b"* SORT 3 2 1\r\n" in data, data
    c.ok(b"UID COPY 1 Trash")
    data = ok(c, b"UID MOVE 2 Trash")
    assert b"* VANISHED 2\r\n" in data, data
    assert not re.search(rb"^\* \d+ EXPUNGE", data, re.M), data
    assert b"MESSAGES 2" in c.ok(b"STATUS Trash (MESSAGES)")


def test_expunge_is_vanished(c):
    c.ok(b"UID STORE 1,3 +FLAGS.SILENT (\\Deleted)")
    data = ok(c, b"EXPUNGE")
    assert b"* VANISHED 1,3\r\n" in data, data
    assert b" EXPUNGE\r\n" not in data.replace(b"OK EXPUNGE", b""), data
    c.ok(b"UID STORE 2 +FLAGS.SILENT (\\Deleted)")
    data = ok(c, b"UID EXPUNGE 2")
    assert b"* VANISHED 2\r\n" in data, data


def test_other_session_changes(server, c):
    other = Raw(server, select="INBOX")
    try:
        other.ok(b"STORE 2 +FLAGS.SILENT (\\Answered)")
        other.ok(b"STORE 4 +FLAGS (\\Deleted)")
        other.ok(b"EXPUNGE")
        assert server.deliver(server.user, msg(9)).returncode == 0
        data = ok(c, b"NOOP")
        # Another session's flag change: UIDFETCH, its expunge: VANISHED
        # (QRESYNC was never enabled), new mail: EXISTS (a count).
        assert b"* 2 UIDFETCH (FLAGS (\\Answered))\r\n" in data, data
        assert b"* VANISHED 4\r\n" in data, data
        assert b"* 5 EXISTS\r\n" in data, data
        assert no_seq_fetch(data)
        assert not re.search(rb"^\* \d+ EXPUNGE", data, re.M), data
    finally:
        other.close()


def test_select_without_sequence_numbers(server):
    fill(server, 3)
    r = Raw(server)
    try:
        r.ok(b"ENABLE UIDONLY")
        data = ok(r, b"SELECT INBOX")
        # [UNSEEN n] is a sequence number (rev1 SELECT): left out.
        assert b"[UNSEEN" not in data, data
        assert b"* 3 EXISTS" in data
    finally:
        r.close()


def test_qresync_with_uidonly(server):
    fill(server, 4)
    r = Raw(server)
    try:
        r.ok(b"ENABLE QRESYNC UIDONLY")
        data = ok(r, b"SELECT INBOX")
        uv = int(re.search(rb"UIDVALIDITY (\d+)", data).group(1))
        hm = int(re.search(rb"HIGHESTMODSEQ (\d+)", data).group(1))
        r.ok(b"UID STORE 2 +FLAGS.SILENT (\\Deleted)")
        r.ok(b"UID STORE 3 +FLAGS.SILENT (\\Flagged)")
        r.ok(b"EXPUNGE")
        r.ok(b"UNSELECT")
        # The sequence match data names sequence numbers: refused.
        data, status = r.cmd(b"SELECT INBOX (QRESYNC (%d %d 1:4 (1:2 1:2)))" % (uv, hm))
        assert status.startswith(REFUSED), data
        data = ok(r, b"SELECT INBOX (QRESYNC (%d %d 1:4))" % (uv, hm))
        assert b"* VANISHED (EARLIER) 2\r\n" in data, data
        assert re.search(rb"^\* 3 UIDFETCH \(FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)\r$", data, re.M), data
        assert no_seq_fetch(data)
        data = ok(r, b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % hm)
        assert b"* VANISHED (EARLIER) 2\r\n" in data, data
        assert re.search(rb"^\* 3 UIDFETCH \(FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)\r$", data, re.M), data
    finally:
        r.close()


def test_without_uidonly_unchanged(server):
    # A session that did not enable it keeps sequence numbers.
    fill(server, 2)
    r = Raw(server, select="INBOX")
    try:
        assert b"* 1 FETCH (FLAGS ())" in ok(r, b"FETCH 1 (FLAGS)")
        assert b"* 2 FETCH (UID 2 FLAGS ())" in ok(r, b"UID FETCH 2 (FLAGS)")
        r.ok(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
        assert b"* 1 EXPUNGE" in r.ok(b"EXPUNGE")
    finally:
        r.close()
