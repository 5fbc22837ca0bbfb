"""Issue #12 item 9: a compliance-style run. Twenty concurrent clients
(half IMAP4rev1, half IMAP4rev2) SELECT, FETCH, STORE, APPEND, EXPUNGE and
SEARCH on two shared mailboxes, and every untagged response each one gets
is checked against that client's own model of its view (RFC 9051 2.3.1,
7.4, 7.5): sequence numbers in range, EXISTS never shrinking, EXPUNGE
numbers valid when they arrive and never during FETCH/STORE/SEARCH by
sequence number (7.5.1), the UID behind a sequence number never changing
except by EXPUNGE, UIDs ascending with sequence numbers, every keyword in
a FETCH announced by FLAGS first (7.3.5), \\Recent only for rev1 and never
for the same message in two sessions, SEARCH results in range, no BAD. At
the end every client's view equals the mailbox. Zero errors allowed.
Bounded: a fixed number of commands per client, each with a timeout."""
import random
import re
import threading

from rampart_harness import Raw

CLIENTS = 20
OPS = 30
BOXES = ("INBOX", "Shared")
KEYWORDS = ("$K1", "$K2", "Custom3", "$Forwarded", "$Junk")
MSG = b"From: s@example.org\r\nSubject: stress %d\r\n\r\nbody %d\r\n"

FETCH_RE = re.compile(rb"^\* (\d+) FETCH \((.*)\)$")


class Model:
    """What one client knows of its selected mailbox."""

    def __init__(self, name, rev2, errors):
        self.name = name
        self.rev2 = rev2
        self.errors = errors
        self.uids = []          # per sequence number; None when not yet seen
        self.flags = set()      # keywords announced by FLAGS (lower case)
        self.recent = set()     # UIDs seen with \Recent

    def err(self, what, line):
        self.errors.append("%s: %s: %r" % (self.name, what, line[:200]))

    def select(self, data):
        self.uids = []
        self.flags = set()
        self.apply(data, b"SELECT")

    def apply(self, data, verb):
        no_expunge = verb in (b"FETCH", b"STORE", b"SEARCH")
        for line in data.split(b"\r\n"):
            if not line.startswith(b"* "):
                continue
            words = line.split(b" ")
            if line.startswith(b"* FLAGS ("):
                self.flags |= {w.lower() for w in line[9:-1].split(b" ") if w}
            elif line.startswith(b"* BAD") or line.startswith(b"* BYE"):
                self.err("untagged BAD/BYE", line)
            elif len(words) >= 3 and words[1].isdigit():
                self.numbered(int(words[1]), words[2], line, no_expunge)
            elif line.startswith(b"* SEARCH") and verb == b"SEARCH":
                for n in words[2:]:
                    if n and not (1 <= int(n) <= len(self.uids)):
                        self.err("SEARCH result out of range", line)
            elif line.startswith(b"* ESEARCH"):
                m = re.search(rb" ALL ([0-9:,]+)", line)
                if m and b"UID" not in line:
                    for r in m.group(1).split(b","):
                        if int(r.split(b":")[-1]) > len(self.uids):
                            self.err("ESEARCH result out of range", line)

    def numbered(self, n, what, line, no_expunge):
        if what == b"EXISTS":
            if n < len(self.uids):
                self.err("EXISTS shrank from %d" % len(self.uids), line)
            self.uids.extend([None] * (n - len(self.uids)))
        elif what == b"RECENT":
            if self.rev2:
                self.err("RECENT for a rev2 client", line)
            if n > len(self.uids):
                self.err("RECENT above EXISTS", line)
        elif what == b"EXPUNGE":
            if no_expunge:
                self.err("EXPUNGE during FETCH/STORE/SEARCH", line)
            if not 1 <= n <= len(self.uids):
                self.err("EXPUNGE out of range (%d)" % len(self.uids), line)
            else:
                del self.uids[n - 1]
        elif what == b"FETCH":
            self.fetch(n, line)
        else:
            self.err("unknown numbered response", line)

    def fetch(self, n, line):
        if not 1 <= n <= len(self.uids):
            self.err("FETCH out of range (%d)" % len(self.uids), line)
            return
        m = FETCH_RE.match(line)
        body = m.group(2) if m else b""
        u = re.search(rb"UID (\d+)", body)
        if u:
            uid = int(u.group(1))
            known = self.uids[n - 1]
            if known is not None and known != uid:
                self.err("seq %d was UID %d" % (n, known), line)
            self.uids[n - 1] = uid
            before = [x for x in self.uids[:n - 1] if x is not None]
            after = [x for x in self.uids[n:] if x is not None]
            if (before and before[-1] >= uid) or (after and after[0] <= uid):
                self.err("UIDs not ascending", line)
        f = re.search(rb"FLAGS \(([^)]*)\)", body)
        if f:
            for w in f.group(1).split(b" "):
                if not w:
                    continue
                if w == b"\\Recent":
                    if self.rev2:
                        self.err("\\Recent for a rev2 client", line)
                    if u:
                        self.recent.add(int(u.group(1)))
                elif not w.startswith(b"\\") and w.lower() not in self.flags:
                    self.err("keyword not announced by FLAGS", line)


def client(c, k, seed, errors, recents, barrier):
    rnd = random.Random(seed)
    rev2 = k % 2 == 1
    box = BOXES[k % len(BOXES)]
    model = Model("c%d(%s,%s)" % (k, box, "rev2" if rev2 else "rev1"), rev2, errors)
    try:
        def run(cmd, verb):
            data, status = c.cmd(cmd, timeout=60)
            if status.startswith(b"BAD"):
                model.err("BAD for %r" % cmd[:60], status)
            model.apply(data, verb)
            return data, status

        model.select(c.ok(b"SELECT " + box.encode()))
        for i in range(OPS):
            n = len(model.uids)
            op = rnd.choice(("noop", "fetch", "uidfetch", "store", "store", "append", "append",
                             "expunge", "search", "uidsearch"))
            if op == "noop":
                run(b"NOOP", b"NOOP")
            elif op == "fetch" and n:
                run(b"FETCH 1:* (UID FLAGS)", b"FETCH")
            elif op == "uidfetch":
                run(b"UID FETCH 1:* (FLAGS)", b"UID")
            elif op == "store" and n:
                seq = rnd.randint(1, n)
                flag = rnd.choice(KEYWORDS + ("\\Seen", "\\Flagged", "\\Deleted"))
                run(b"STORE %d %sFLAGS (%s)" % (seq, rnd.choice((b"+", b"-")), flag.encode()),
                    b"STORE")
            elif op == "append":
                kw = rnd.choice(("", "$K1", "Custom3 $K2"))
                m = MSG % (k * 1000 + i, i)
                run(b"APPEND %s (%s) {%d+}\r\n" % (box.encode(), kw.encode(), len(m)) + m,
                    b"APPEND")
            elif op == "expunge":
                run(b"EXPUNGE", b"EXPUNGE")
            elif op == "search" and n:
                run(b"SEARCH KEYWORD $K1", b"SEARCH")
            else:
                run(b"UID SEARCH ALL", b"UID")
        # The end: once every client is done, this client's view is the
        # mailbox.
        barrier.wait(600)
        run(b"NOOP", b"NOOP")
        data, _ = run(b"UID FETCH 1:* (FLAGS)", b"UID")
        if None in model.uids:
            model.err("sequence numbers without a UID after UID FETCH 1:*", b"")
        recents.append((box, model.recent))
        return box, list(model.uids)
    finally:
        c.close()


def test_twenty_clients_no_protocol_errors(server):
    errors, recents, views = [], [], {}
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)
    setup = Raw(server)
    setup.ok(b"CREATE Shared")
    setup.close()

    # Logged in one after the other: twenty password checks at once would
    # meet the authentication queue's limits, which are not under test.
    conns = [Raw(server, rev2=k % 2 == 1) for k in range(CLIENTS)]

    def worker(k):
        try:
            box, uids = client(conns[k], k, 1000 + k, errors, recents, barrier)
            with lock:
                views.setdefault(box, []).append((k, uids))
        except Exception as e:  # noqa: BLE001 - reported as a protocol error
            errors.append("c%d: %r" % (k, e))
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
        assert not t.is_alive(), "a client did not finish in 600 s"
    assert not errors, "%d protocol errors:\n%s" % (len(errors), "\n".join(errors[:40]))
    # Every client ended with the same view of its mailbox: the mailbox.
    c = Raw(server)
    for box in BOXES:
        data = c.ok(b"EXAMINE " + box.encode())
        data = c.ok(b"UID SEARCH ALL")
        truth = sorted(int(x) for x in data.split(b"\r\n")[0].split(b" ")[2:] if x)
        assert len(views.get(box, [])) == CLIENTS // len(BOXES), views.keys()
        for k, uids in views[box]:
            if uids != truth:
                errors.append("c%d: final view %s != mailbox %s" % (k, uids[:20], truth[:20]))
    c.close()
    # \Recent: no message in two sessions (RFC 3501 2.3.2).
    for box in BOXES:
        seen = {}
        for b, rec in recents:
            if b != box:
                continue
            for uid in rec:
                seen[uid] = seen.get(uid, 0) + 1
        twice = sorted(u for u, n in seen.items() if n > 1)
        if twice:
            errors.append("%s: \\Recent in two sessions for UIDs %s" % (box, twice[:10]))
    assert not errors, "%d protocol errors:\n%s" % (len(errors), "\n".join(errors[:40]))
