"""Issue #10, item 7: STORE 1:* and LIST "" * must not be quadratic.

STORE 1:* +FLAGS.SILENT once took 0.5 s at 40,000 messages and 4 s at
120,000 (the session looked for each changed message in the list of its
own changes); LIST "" * 0.08 s at 2,500 mailboxes and 0.8 s at 9,900 (each
name was looked for, and its children counted, by scanning all names).

No absolute time is asserted. Each test times one command at two sizes in
the same server, back to back, for a few rounds, and takes the median of
the ratios: a ratio taken in one run does not depend on how fast the
machine (or the ASan build) is, and the median drops the rounds where load
from elsewhere hit one size and not the other. Growing the size by SCALE multiplies a
linear time by about SCALE and a quadratic one by up to SCALE squared; the
assertion sits between the two.

Also here: the session still tells apart its own flag changes (not echoed)
from another session's change of the same message (reported), and
EXPUNGEs of scattered messages are numbered right.

Mailboxes are filled quickly: one MULTIAPPEND with LITERAL+ of a few
messages, then COPY 1:* into the mailbox itself, doubling it; mailboxes by
pipelined CREATE. The server's directory is on /dev/shm when there is one,
so the fsyncs of the filling do not dominate the run.
"""
import os
import re
import tempfile
import time

import pytest

from rampart_harness import Server, read_until


# Growing the size by SCALE multiplies a linear time by about SCALE and a
# quadratic one by up to SCALE squared; a ratio at or above MAX_RATIO fails.
ROUND_BUDGET = 30.0  # seconds: no further round after this (the old code is slow)

# STORE: the quadratic loop competes with linear SQLite work per message
# (~8 us), which dominates it below ~40,000 messages in a normal build: the
# large size must be well above that. Median ratios measured on a loaded
# 2-core machine: 55x before the fix (68x under ASan), 16-19x after.
STORE_SCALE, STORE_MAX_RATIO = 16, 32
STORE_SMALL = 4096  # messages; the large mailbox has STORE_SCALE times as many
# LIST: mailboxes LIST_DEPTH deep, so each brings hierarchy levels that are
# no mailbox (more names for LIST to handle, without more CREATEs, which
# are slow to fill). Median ratios: 47-75x before the fix, 7-12x after.
LIST_SCALE, LIST_MAX_RATIO = 8, 24
LIST_SMALL = 200
LIST_DEPTH = 12
PASSWORD = "correct horse battery staple"


def fast_server(**kw):
    old = tempfile.tempdir
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        tempfile.tempdir = "/dev/shm"
    try:
        return Server(**kw)
    finally:
        tempfile.tempdir = old


def read_tagged(sock, tag, timeout):
    """All bytes up to the end of the tagged line of `tag`. Looks for the
    tag only in the newly received tail, so reading a big response costs
    linear time."""
    buf = bytearray()
    needle = b"\r\n" + tag + b" "
    at = -1  # where the tagged line starts, once seen
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            raise AssertionError("timeout waiting for %r: %r" % (tag, bytes(buf[-300:])))
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise AssertionError("connection closed waiting for %r" % tag)
        start = max(0, len(buf) - len(needle) + 1)
        buf += chunk
        if at < 0:
            if buf.startswith(tag + b" "):
                at = 0
            else:
                i = buf.find(needle, start)
                at = i + 2 if i >= 0 else -1
        if at >= 0 and buf.find(b"\r\n", at) >= 0:
            return bytes(buf)


class Conn:
    """A logged-in IMAP connection over TLS (any user)."""

    def __init__(self, server, user):
        self.s = server.raw(tls=True)
        self.s.settimeout(300)
        read_until(self.s, b"\r\n")
        self.n = 0
        self.ok(b'LOGIN %s "%s"' % (user.encode(), PASSWORD.encode()))

    def send(self, text):
        self.n += 1
        tag = b"c%d" % self.n
        self.s.sendall(tag + b" " + text + b"\r\n")
        return tag

    def ok(self, text, timeout=300):
        tag = self.send(text)
        data = read_tagged(self.s, tag, timeout)
        i = data.rfind(b"\r\n" + tag + b" ")
        status = data[i + 2 if i >= 0 else 0:].split(b" ", 2)[1]
        assert status == b"OK", (text[:80], data[-500:])
        return data

    def timed(self, text):
        t0 = time.perf_counter()
        data = self.ok(text)
        return time.perf_counter() - t0, data

    def timed_batch(self, texts):
        """Pipelines the commands; returns the time until the last tagged
        reply and all replies (which must be OK)."""
        t0 = time.perf_counter()
        tags = [self.send(t) for t in texts]
        data = read_tagged(self.s, tags[-1], 300)
        elapsed = time.perf_counter() - t0
        assert all(b"\r\n%s OK " % t in b"\r\n" + data for t in tags), data[-500:]
        return elapsed, data

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def size_ratios(runs, scale, max_ratio, what, rounds):
    """runs: {name: (run_small, run_large)}, each returning seconds per
    command at the small and the large size. Runs each pair back to back
    for up to `rounds` rounds and asserts that the median over the rounds
    of the large time over the small one stays below max_ratio (a pair
    run back to back sees about the same load; the median drops the
    rounds where it did not)."""
    ratios = {k: [] for k in runs}
    t0 = time.monotonic()
    for i in range(rounds):
        if i > 0 and time.monotonic() - t0 > ROUND_BUDGET:
            break
        for k, (small, large) in runs.items():
            ts = small()
            ratios[k].append((large() / ts, ts))
    slow = []
    for k, rs in ratios.items():
        ratio, ts = sorted(rs)[len(rs) // 2]
        line = ("%s: %.4f s at %s, %.1fx that at %d times the size (rounds: %s)"
                % (k, ts, what, ratio, scale, " ".join("%.1f" % r for r, _ in rs)))
        print(line)  # shown by pytest -s
        if ratio >= max_ratio:
            slow.append(line)
    assert not slow, "; ".join(slow)


# ---- STORE ----

def message(i):
    return (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: m%d\r\n"
            b"Message-ID: <%d@complexity.example>\r\n\r\nbody %d\r\n" % (i, i, i))


def fill_mailbox(c, name, count):
    """Creates `name` with `count` messages: a few appended, then doubled."""
    seed = count
    while seed > 64 and seed % 2 == 0:
        seed //= 2
    c.ok(b"CREATE " + name)
    parts = [b"APPEND " + name]
    for i in range(seed):
        m = message(i)
        parts.append(b" {%d+}\r\n" % len(m) + m)
    c.ok(b"".join(parts))
    c.ok(b"SELECT " + name)
    have = seed
    while have < count:
        c.ok(b"COPY 1:* " + name)
        have *= 2
    assert have == count
    c.ok(b"UNSELECT")


@pytest.fixture(scope="module")
def big():
    srv = fast_server()
    c = Conn(srv, srv.user)
    fill_mailbox(c, b"Small", STORE_SMALL)
    fill_mailbox(c, b"Large", STORE_SMALL * STORE_SCALE)
    yield srv, c
    c.close()
    srv.close()


def test_store_silent_is_linear(big):
    """STORE 1:* +FLAGS.SILENT, then -FLAGS.SILENT, so every message
    changes every time; no FETCH may come back. The small mailbox gets
    STORE_SCALE of them pipelined per sample, so both samples take about
    as long and a hiccup weighs alike on both."""
    srv, c = big
    wrong = []

    def run(box, n, reps):
        state = {"set": False}

        def once():
            c.ok(b"SELECT " + box)
            cmds = []
            for _ in range(reps):
                cmds.append(b"STORE 1:* %sFLAGS.SILENT (\\Flagged)"
                            % (b"-" if state["set"] else b"+"))
                state["set"] = not state["set"]
            t, data = c.timed_batch(cmds)
            if b" FETCH " in data:
                wrong.append("STORE .SILENT on %d messages echoed FETCH" % n)
            return t / reps
        return once
    size_ratios({"STORE 1:* +FLAGS.SILENT": (run(b"Small", STORE_SMALL, STORE_SCALE),
                                             run(b"Large", STORE_SMALL * STORE_SCALE, 1))},
                STORE_SCALE, STORE_MAX_RATIO, "%d messages" % STORE_SMALL, rounds=3)
    assert not wrong, wrong


def test_store_reports_each_message_once(big):
    """The FETCH responses of a STORE over the large mailbox: one per
    message, and the sync after it repeats none. (Its time is in
    bench/complexity.py: SQLite's share of it grows faster than linearly
    once the mailbox outgrows the page cache, too unevenly to assert.)"""
    srv, c = big
    n = STORE_SMALL * STORE_SCALE
    c.ok(b"SELECT Large")
    for cmd in (b"STORE 1:* +FLAGS (\\Seen)", b"STORE 1:* -FLAGS (\\Seen)"):
        data = c.ok(cmd)
        assert len(re.findall(rb"\* \d+ FETCH ", data)) == n, (cmd, data[-300:])
        assert b" FETCH " not in c.ok(b"NOOP")


def fetch_lines(data):
    return [l for l in data.split(b"\r\n") if re.match(rb"\* \d+ FETCH", l)]


def wait_notified():
    # Another session's change reaches this one through the change feed.
    time.sleep(0.3)


def test_own_changes_are_not_echoed_but_others_are(big):
    """A session's own change is recognised by its modseq: not echoed; the
    same message changed by another session afterwards is reported, also
    while an expunge is pending (no EXPUNGE may be sent during STORE)."""
    srv, _ = big
    a = Conn(srv, srv.user)
    b = Conn(srv, srv.user)
    a.ok(b"ENABLE IMAP4rev2")
    fill_mailbox(a, b"Own", 16)
    a.ok(b"SELECT Own")
    b.ok(b"SELECT Own")
    data = a.ok(b"STORE 1:4 +FLAGS.SILENT (\\Flagged)")
    assert fetch_lines(data) == [], data
    assert fetch_lines(a.ok(b"NOOP")) == []
    data = a.ok(b"STORE 5 +FLAGS (\\Answered)")
    assert fetch_lines(data) == [b"* 5 FETCH (UID 5 FLAGS (\\Answered))"], data
    assert fetch_lines(a.ok(b"NOOP")) == []
    # b expunges message 16: a cannot be told during its next STOREs.
    b.ok(b"STORE 16 +FLAGS.SILENT (\\Deleted)")
    b.ok(b"EXPUNGE")
    wait_notified()
    data = a.ok(b"STORE 1:8 +FLAGS.SILENT (\\Seen)")
    assert b"EXPUNGE" not in data and fetch_lines(data) == [], data
    # b changes message 2 after a did: a hears of it, and of nothing else.
    b.ok(b"STORE 2 -FLAGS.SILENT (\\Seen)")
    wait_notified()
    data = a.ok(b"STORE 7 +FLAGS.SILENT (\\Draft)")
    assert b"EXPUNGE" not in data, data
    assert fetch_lines(data) == [b"* 2 FETCH (UID 2 FLAGS (\\Flagged))"], data
    data = a.ok(b"NOOP")
    assert fetch_lines(data) == [] and b"* 16 EXPUNGE" in data, data
    a.close()
    b.close()


def test_scattered_expunges_are_numbered_from_the_top(big):
    """EXPUNGE responses go out highest first, each number valid at the time
    the client reads it (RFC 9051 7.4.1)."""
    srv, _ = big
    a = Conn(srv, srv.user)
    b = Conn(srv, srv.user)
    fill_mailbox(a, b"Scatter", 16)
    a.ok(b"SELECT Scatter")
    b.ok(b"SELECT Scatter")
    b.ok(b"STORE 2,4,6,8,10,12,14,16 +FLAGS.SILENT (\\Deleted)")
    b.ok(b"EXPUNGE")
    wait_notified()
    data = a.ok(b"NOOP")
    exp = re.findall(rb"\* (\d+) EXPUNGE", data)
    assert exp == [b"16", b"14", b"12", b"10", b"8", b"6", b"4", b"2"], data
    data = a.ok(b"FETCH 1:* (UID)")
    uids = re.findall(rb"\* (\d+) FETCH \(UID (\d+)\)", data)
    assert uids == [(b"%d" % (i + 1), b"%d" % (2 * i + 1)) for i in range(8)], data
    a.close()
    b.close()


# ---- LIST ----

def fill_tree(c, count, subscribe_every=3):
    """`count` mailboxes "tN/l1/.../mN", LIST_DEPTH deep: each brings its
    own hierarchy levels that are no mailbox; every third is subscribed.
    Pipelined in batches."""
    levels = b"/".join(b"l%d" % i for i in range(1, LIST_DEPTH - 1))
    names = [b"t%05d/%s/m%05d" % (i, levels, i) for i in range(count)]
    for lo in range(0, count, 500):
        tags = [c.send(b"CREATE " + n) for n in names[lo:lo + 500]]
        tags += [c.send(b"SUBSCRIBE " + n)
                 for i, n in enumerate(names[lo:lo + 500]) if (lo + i) % subscribe_every == 0]
        read_tagged(c.s, tags[-1], 300)
    return names


@pytest.fixture(scope="module")
def tree():
    large = LIST_SMALL * LIST_SCALE
    srv = fast_server(extra_config="[limits]\nmax_mailboxes = %d\n" % (large + 100))
    srv.add_user("bob", PASSWORD)
    srv.stop()
    srv.start()  # reads the users file again
    small_c = Conn(srv, srv.user)
    large_c = Conn(srv, "bob")
    fill_tree(small_c, LIST_SMALL)
    fill_tree(large_c, large)
    yield small_c, large_c
    small_c.close()
    large_c.close()
    srv.close()


def test_list_and_lsub_are_not_quadratic(tree):
    """Every variant that walks the whole hierarchy: LIST, its '%' levels,
    LSUB, LIST-EXTENDED's SUBSCRIBED RECURSIVEMATCH (CHILDINFO) and RETURN
    (CHILDREN SUBSCRIBED STATUS). The small user's command runs LIST_SCALE
    times pipelined per sample, so both samples take about as long and
    scheduling noise weighs alike on both."""
    small_c, large_c = tree
    subscribed = lambda n: (n + 2) // 3
    checks = {
        # The mailboxes and the six every new user has.
        b'LIST "" *': lambda d, n, r: d.count(b"* LIST ") == r * (n + 6),
        # The six, and each "tN" level (no mailbox, with children).
        b'LIST "" %': lambda d, n, r: (d.count(b"* LIST ") == r * (n + 6) and
                                       d.count(b"\\HasChildren") == r * n),
        b'LSUB "" *': lambda d, n, r: d.count(b"* LSUB ") == r * (subscribed(n) + 6),
        # The "tN" levels above a subscribed mailbox, with CHILDINFO.
        b'LIST (SUBSCRIBED RECURSIVEMATCH) "" %':
            lambda d, n, r: d.count(b"CHILDINFO") == r * subscribed(n),
        b'LIST "" * RETURN (CHILDREN SUBSCRIBED STATUS (MESSAGES UNSEEN))':
            lambda d, n, r: (d.count(b"* STATUS ") == r * (n + 6) and
                             d.count(b"\\Subscribed") == r * (subscribed(n) + 6)),
    }

    def run(c, n, cmd, reps):
        def once():
            t, data = c.timed_batch([cmd] * reps)
            assert checks[cmd](data, n, reps), (cmd, data[-300:])
            return t / reps
        return once
    size_ratios({cmd.decode(): (run(small_c, LIST_SMALL, cmd, LIST_SCALE),
                                   run(large_c, LIST_SMALL * LIST_SCALE, cmd, 1))
                    for cmd in checks},
                   LIST_SCALE, LIST_MAX_RATIO, "%d mailboxes" % LIST_SMALL, rounds=5)
