"""Store work runs off the event loop (issue #10): while one client's
long SEARCH runs on the work pool, another client of the same worker is
served. Not a timing test: with one worker, a NOOP of the other client
completes while the searching client provably has no tagged reply yet.
Before, the worker's loop ran the search itself and the NOOP waited."""
from rampart_harness import Raw, Server, served_during

N = 600
BODY = b"".join(b"body line %05d with ordinary words in it, nothing to find here\r\n" % i
                for i in range(450))  # ~30 KB
# Every key scans every body and none matches, so all are evaluated.
KEYS = b" ".join(b"NOT BODY needle%03d" % i for i in range(200))


def fill(raw, box, n):
    raw.ok(b"CREATE " + box)
    msg = b"From: a@example.org\r\nSubject: s\r\n\r\n" + BODY
    for start in range(0, n, 100):
        count = min(100, n - start)
        lits = b"".join(b" {%d+}\r\n%s" % (len(msg), msg) for _ in range(count))
        raw.ok(b"APPEND " + box + lits, timeout=120)


def test_other_client_served_during_long_search():
    srv = Server(workers=1)  # every client on the same event loop
    try:
        a = Raw(srv)
        fill(a, b"Big", N)
        a.ok(b"EXAMINE Big")
        b = Raw(srv, "INBOX")
        data = served_during(a, b, b"srch", b"SEARCH " + KEYS, "SEARCH")
        assert b"srch OK" in data
        line = [l for l in data.split(b"\r\n") if l.startswith(b"* SEARCH")][0]
        assert len(line.split()) == 2 + N
        # The pipeline of the searching client goes on afterwards.
        a.ok(b"NOOP")
        a.close()
        b.close()
    finally:
        srv.close()


def test_client_gone_while_search_runs():
    """A session that goes away while its job runs on the pool: the job
    finds it gone and frees itself (ASan builds check the memory); the
    server goes on serving and stops cleanly."""
    srv = Server(workers=1)
    try:
        a = Raw(srv)
        fill(a, b"Big", 200)
        a.ok(b"EXAMINE Big")
        for _ in range(3):
            a.s.sendall(b"srch SEARCH " + KEYS + b"\r\nn NOOP\r\n")
            a.close()
            a = Raw(srv, "Big", examine=True)
        data = a.ok(b"SEARCH " + KEYS, timeout=300)
        assert len([l for l in data.split(b"\r\n") if l.startswith(b"* SEARCH")][0].split()) == 202
        a.close()
    finally:
        srv.close()  # stop() asserts a clean exit (and no leak under ASan)
