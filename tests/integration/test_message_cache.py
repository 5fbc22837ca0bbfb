"""msgcache (issue #14): the server's cache of small messages' bytes
([store] message_cache_mb), against a real server over TLS with imaplib.
Mail just APPENDed is read back from memory (the hit counter moves, the
miss counter does not) and is byte-exact in every section; a message file
removed behind the server's back is still answered from memory, while a
big message (over 64 KiB) always comes from its file; an EXPUNGE that
deletes the file empties the cache; with message_cache_mb = 0 nothing is
kept and every read opens the file."""
import glob
import hashlib
import os
import re
import time
import urllib.request

from rampart_harness import Server


def metrics(server):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % server.port_http,
                                timeout=10) as r:
        text = r.read().decode()
    out = {}
    for k in ("bytes", "hits", "misses"):
        m = re.search(r"^rampart_store_message_cache_%s (\S+)$" % k, text, re.M)
        out[k] = int(float(m.group(1)))
    return out


def msg(i, size=2000):
    head = (b"From: a%d@example.org\r\nTo: b@example.org\r\nSubject: cached %d\r\n"
            b"Message-ID: <c%d@example.org>\r\n\r\n" % (i, i, i))
    line = b"line of message %d, some words\r\n" % i
    return head + line * (size // len(line))


def blob_paths(server, data):
    h = hashlib.sha256(data).hexdigest()
    return glob.glob(os.path.join(server.dir, "mail", "*", "alice", "blobs", h[:2], h[2:]))


def blob_exists(server, data):
    return len(blob_paths(server, data)) == 1


def blob_path(server, data):
    paths = blob_paths(server, data)
    assert len(paths) == 1, paths
    return paths[0]


def flat(data):
    """Every bytes object in an imaplib answer, joined."""
    out = b""
    for x in data:
        if isinstance(x, bytes):
            out += x
        elif isinstance(x, tuple):
            out += b"".join(y for y in x if isinstance(y, bytes))
    return out


def fetch_one(c, seq, item):
    typ, data = c.fetch(str(seq), "(%s)" % item)
    assert typ == "OK", data
    return data[0][1]


# Message files, which the tests remove behind the server's back (a
# message kept as an index row, inline, is read from the cache the same way).
FILES = "[store]\ninline_max_kb = 0\n"


def test_new_mail_is_read_from_memory():
    s = Server(extra_config=FILES)
    try:
        c = s.imap_tls()
        small = [msg(i) for i in range(3)]
        big = msg(9, size=100 * 1024)
        for m in small + [big]:
            assert c.append("INBOX", None, None, m)[0] == "OK"
        before = metrics(s)
        # The three small ones are held (plus ~80 bytes an entry), not the big one.
        assert sum(len(m) for m in small) <= before["bytes"] < sum(len(m) for m in small) + 1024
        c.select("INBOX")
        for i, m in enumerate(small, 1):
            assert fetch_one(c, i, "BODY.PEEK[]") == m
            head, text = m.split(b"\r\n\r\n", 1)
            assert fetch_one(c, i, "BODY.PEEK[HEADER]") == head + b"\r\n\r\n"
            assert fetch_one(c, i, "BODY.PEEK[TEXT]") == text
            assert fetch_one(c, i, "BODY.PEEK[HEADER.FIELDS (Subject)]") == \
                b"Subject: cached %d\r\n\r\n" % (i - 1)
            assert fetch_one(c, i, "BODY.PEEK[]<5.10>") == m[5:15]
        after = metrics(s)
        assert after["hits"] - before["hits"] >= 3 * 5
        assert after["misses"] == before["misses"]
        # A file gone behind the server's back: the cached copy answers
        # (this read opens no file at all); the big message is read from
        # its file every time.
        os.unlink(blob_path(s, small[0]))
        assert fetch_one(c, 1, "BODY.PEEK[]") == small[0]
        assert fetch_one(c, 4, "BODY.PEEK[]") == big
        assert fetch_one(c, 4, "BODY.PEEK[TEXT]") == big.split(b"\r\n\r\n", 1)[1]
        # The store deleting the files (EXPUNGE; the syncer unlinks them
        # after its sync) takes them out of the cache.
        c.store("1:*", "+FLAGS", "(\\Deleted)")
        c.expunge()
        deadline = time.time() + 20
        while metrics(s)["bytes"] != 0:
            assert time.time() < deadline, metrics(s)
            time.sleep(0.05)
        for m in small[1:] + [big]:
            assert not blob_exists(s, m)
        c.logout()
    finally:
        s.close()


def test_off_keeps_nothing():
    s = Server(extra_config=FILES + "message_cache_mb = 0\n")
    try:
        c = s.imap_tls()
        m = msg(1)
        assert c.append("INBOX", None, None, m)[0] == "OK"
        c.select("INBOX")
        assert fetch_one(c, 1, "BODY.PEEK[]") == m
        assert fetch_one(c, 1, "BODY.PEEK[HEADER.FIELDS (Subject)]") == \
            b"Subject: cached 1\r\n\r\n"
        st = metrics(s)
        assert st["bytes"] == 0 and st["hits"] == 0, st
        # Without a cache the file is what answers.
        os.unlink(blob_path(s, m))
        typ, data = c.fetch("1", "(BODY.PEEK[])")
        assert m not in flat(data), (typ, data)
        c.logout()
    finally:
        s.close()
