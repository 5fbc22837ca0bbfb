"""Acknowledged means durable: kill -9 the server while clients APPEND
concurrently, restart it, and every message that got APPEND OK must be
there exactly once with intact bytes. Bounded: a few rounds, seconds each."""
import hashlib
import threading
import time

ROUNDS = 4
CLIENTS = 4


def appender(server, idx, rnd, acked, stop):
    try:
        c = server.imap_tls()
    except Exception:
        return
    n = 0
    while not stop.is_set() and n < 500:
        body = ("client %d message %d %s\r\n" % (idx, n, "x" * (idx * 100 + n))).encode()
        msg = b"From: t@example.org\r\nSubject: r%d k%d-%d\r\n\r\n" % (rnd, idx, n) + body
        try:
            typ, data = c.append("INBOX", None, None, msg)
        except Exception:
            return
        if typ == "OK":
            acked.append(hashlib.sha256(msg).hexdigest())
        n += 1


def test_kill9_during_concurrent_appends_loses_nothing(server):
    acked = []
    for rnd in range(ROUNDS):
        stop = threading.Event()
        threads = [threading.Thread(target=appender, args=(server, i, rnd, acked, stop))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        # Kill once this round has acknowledged some messages (bounded
        # wait: logins are slow on a loaded machine), at a varying moment.
        before = len(acked)
        deadline = time.time() + 15
        while len(acked) < before + 8 and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.05 * rnd)
        server.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        server.start()
    assert len(acked) > 20, "too few appends to prove anything"
    c = server.imap_tls()
    typ, data = c.select("INBOX")
    count = int(data[0])
    seen = {}
    if count:
        typ, data = c.fetch("1:*", "(BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple):
                h = hashlib.sha256(item[1]).hexdigest()
                seen[h] = seen.get(h, 0) + 1
    for h in acked:
        assert seen.get(h, 0) == 1, "acknowledged message lost or duplicated"
    c.logout()
