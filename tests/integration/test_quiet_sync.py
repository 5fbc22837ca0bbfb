"""The sync at the end of every command skips its read transaction while
nothing has committed to the user's index (store/sqlite/message.c
"quiet", issue #14: the wal-index header is unchanged). So the command
right after a commit must report it, whoever made the commit: another
process (`rampart deliver`), another session of the same user, or a
second session expunging. Each commit is followed at once by one NOOP of
the watching session, which has been quiet (several NOOPs) before."""
import re

import pytest

from rampart_harness import Raw, Server

MESSAGE = b"From: a@example.org\r\nSubject: quiet %d\r\n\r\nbody %d\r\n"


@pytest.fixture
def srv():
    s = Server()
    yield s
    s.close()


def exists(data):
    found = re.findall(rb"\* (\d+) EXISTS", data)
    return int(found[-1]) if found else None


def quiet(conn):
    for _ in range(3):
        data = conn.ok(b"NOOP")
        assert exists(data) is None, data


def test_each_commit_is_seen_by_the_next_command(srv):
    watcher = Raw(srv, select="INBOX")
    other = Raw(srv, select="INBOX")
    count = 0
    for i in range(8):
        quiet(watcher)
        # Another process.
        r = srv.deliver(srv.user, MESSAGE % (i, i))
        assert r.returncode == 0, r.stderr
        count += 1
        data = watcher.ok(b"NOOP")
        assert exists(data) == count, (i, data)
        quiet(watcher)
        # Another session of the user: a flag change on the new message.
        other.ok(b"NOOP")
        other.ok(b"STORE %d +FLAGS (\\Flagged)" % count)
        data = watcher.ok(b"NOOP")
        assert re.search(rb"\* %d FETCH \(FLAGS \([^)]*\\Flagged" % count, data), (i, data)
        quiet(watcher)
    # And an expunge by the other session.
    other.ok(b"STORE 1:2 +FLAGS (\\Deleted)")
    other.ok(b"EXPUNGE")
    data = watcher.ok(b"NOOP")
    assert len(re.findall(rb"\* \d+ EXPUNGE", data)) == 2, data
    data = watcher.ok(b"SEARCH ALL")
    assert len(re.search(rb"\* SEARCH([ \d]*)", data).group(1).split()) == count - 2, data
    watcher.close()
    other.close()
