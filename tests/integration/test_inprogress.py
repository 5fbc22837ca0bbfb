"""INPROGRESS (RFC 9585) against a real server over TLS: while a long
SEARCH, ESEARCH or COPY/MOVE runs on the work pool, the client receives
"* OK [INPROGRESS ("tag" done total)]" updates (NIL NIL when the amount is
unknown), all before the tagged reply, with counts that never go back or
past the total. Not a timing test: the server is configured to send an
update every millisecond (inprogress_interval_ms = 1), and the commands
read hundreds of message files or copy thousands of messages, far more
than a millisecond of work on any machine; the assertions are about the
shape and order of the updates, never about how many arrive."""
import re

import pytest

from rampart_harness import Raw, Server

N = 600
BODY = b"".join(b"body line %05d with ordinary words in it, nothing to find here\r\n" % i
                for i in range(200))  # ~13 KB
UPDATE = re.compile(rb'^\* OK \[INPROGRESS \("([^"]*)" (\d+|NIL) (\d+|NIL)\)\] .*\r$', re.M)


@pytest.fixture(scope="module")
def srv():
    # No message cache: the searches below must read every file (from
    # memory, 7.8 MB of mail could end within one event-loop tick).
    s = Server(extra_config="[limits]\ninprogress_interval_ms = 1\n"
               "[store]\nmessage_cache_mb = 0\n")
    c = Raw(s)
    c.ok(b"CREATE Big")
    msg = b"From: a@example.org\r\nSubject: s\r\nX-Tag: plain\r\n\r\n" + BODY
    for start in range(0, N, 100):
        lits = b"".join(b" {%d+}\r\n%s" % (len(msg), msg) for _ in range(100))
        c.ok(b"APPEND Big" + lits, timeout=300)
    c.close()
    yield s
    s.close()


def updates(data, tag):
    """The updates of data, checked for shape and order; [(done, total)]."""
    lines = data.split(b"\r\n")
    tagged = [i for i, l in enumerate(lines) if l.startswith(tag + b" ")]
    assert len(tagged) == 1, data[-500:]
    out = []
    for i, l in enumerate(lines):
        m = UPDATE.match(l + b"\r")
        if not m:
            assert b"INPROGRESS" not in l, l
            continue
        assert i < tagged[0], "an update after the tagged reply"
        assert m.group(1) == tag
        done, total = m.group(2), m.group(3)
        assert (done == b"NIL") == (total == b"NIL"), l
        out.append((None, None) if done == b"NIL" else (int(done), int(total)))
    return out


def test_capability(srv):
    c = Raw(srv)
    try:
        assert b" INPROGRESS" in c.ok(b"CAPABILITY")
    finally:
        c.close()


def test_search_progress(srv):
    c = Raw(srv, select="Big", examine=True)
    try:
        c.s.settimeout(300)
        # X-Tag is not an indexed field: every message file is read. The
        # files come from the page cache in a few milliseconds, and on a
        # loaded machine the event loop may not get the CPU for a tick
        # before the search ends; so every answer is checked, and at least
        # one of up to five searches must carry updates.
        seen = 0
        for _ in range(5):
            data = c.ok(b"SEARCH HEADER X-Tag needle", timeout=300)
            ups = updates(data, c.tag)
            last = 0
            for done, total in ups:
                assert total == N
                assert last <= done < total
                last = done
            assert b"* SEARCH\r\n" in data
            seen += len(ups)
            if seen:
                break
        assert seen, "no INPROGRESS update during five %d-message content searches" % N
    finally:
        c.close()


def test_esearch_progress_counts_mailboxes(srv):
    c = Raw(srv)
    try:
        data = c.ok(b"ESEARCH IN (personal) HEADER X-Tag needle", timeout=300)
        for done, total in updates(data, c.tag):
            assert total is not None and done < total
    finally:
        c.close()


def test_copy_and_move_progress(srv):
    c = Raw(srv, select="Big")
    try:
        c.ok(b"CREATE Copies")
        # Ten copies of 600 messages in one transaction each; the amount
        # is unknown to the store until it ends: NIL NIL.
        seen = []
        for _ in range(10):
            data = c.ok(b"COPY 1:* Copies", timeout=300)
            seen += updates(data, c.tag)
        assert seen, "no INPROGRESS update during 6000 copied messages"
        assert all(u == (None, None) for u in seen)
        c.ok(b"SELECT Copies")
        c.ok(b"CREATE Moved")
        data = c.ok(b"MOVE 1:* Moved", timeout=300)
        assert all(u == (None, None) for u in updates(data, c.tag))
        assert b"MESSAGES %d" % (10 * N) in c.ok(b"STATUS Moved (MESSAGES)")
    finally:
        c.close()


def test_client_gone_while_updates_run(srv):
    """The session closes while its SEARCH sends updates: the timer goes
    with the job (ASan builds check the memory); others are served."""
    for _ in range(3):
        c = Raw(srv, select="Big", examine=True)
        c.s.sendall(b"s SEARCH HEADER X-Tag needle\r\n")
        c.close()
    c = Raw(srv, select="Big", examine=True)
    try:
        c.ok(b"SEARCH UID 1")
    finally:
        c.close()
