"""Mailbox management runs off the event loop (issue #10): DELETE of a big
mailbox removes every message row and collects every blob (seconds), and
it runs on the work pool like SEARCH (test_search_offloop.py). Not a
timing test: with one worker, another client's NOOPs complete while the
deleting client provably has no tagged reply yet. Before, the worker's
loop deleted the mailbox itself and the NOOPs waited behind it."""
import time

from rampart_harness import Raw, Server, served_during

N = 9000
MSG = b"From: a@example.org\r\nSubject: s\r\n\r\nmessage "


def fill_unique(raw, box, n):
    """n messages of distinct bytes (so n blobs to collect), LITERAL+."""
    raw.ok(b"CREATE " + box)
    for start in range(0, n, 500):
        msgs = [MSG + b"%d\r\n" % i for i in range(start, min(start + 500, n))]
        lits = b"".join(b" {%d+}\r\n%s" % (len(m), m) for m in msgs)
        raw.ok(b"APPEND " + box + lits, timeout=300)


def listed(raw, box):
    return any(l.endswith(b' "/" ' + box) or l.endswith(b' "/" "%s"' % box)
               for l in raw.ok(b'LIST "" "*"').split(b"\r\n"))


def test_other_client_served_during_big_delete():
    # Every client on the same event loop; message files, whose 9,000
    # unlinks make the DELETE long (rows of the index would go in one
    # quick transaction: issue #14 inline).
    srv = Server(workers=1, extra_config="[store]\ninline_max_kb = 0\n")
    try:
        a = Raw(srv)
        fill_unique(a, b"Big", N)
        data = a.ok(b"STATUS Big (MESSAGES)")
        assert b"MESSAGES %d" % N in data
        assert listed(a, b"Big")
        b = Raw(srv, "INBOX")
        data = served_during(a, b, b"del", b"DELETE Big", "DELETE")
        assert b"del OK DELETE completed" in data
        assert not listed(a, b"Big")
        a.close()
        b.close()
    finally:
        srv.close()


def test_client_gone_while_delete_runs():
    """The session goes away while its DELETE runs on the pool: the job
    frees itself, the mailbox is gone all the same, the server goes on."""
    srv = Server(workers=1)
    try:
        a = Raw(srv)
        fill_unique(a, b"Big", 1000)
        a.s.sendall(b"del DELETE Big\r\nn NOOP\r\n")
        a.close()
        b = Raw(srv)
        deadline = time.time() + 120
        while time.time() < deadline:
            if not listed(b, b"Big"):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("Big was not deleted")
        b.ok(b"CREATE Big")
        b.close()
    finally:
        srv.close()  # stop() asserts a clean exit (and no leak under ASan)
