#!/usr/bin/python3
"""How STORE and LIST grow with the mailbox / mailbox-count size (issue #10).

Starts a throwaway `rampart serve` (tests/integration/rampart_harness.py:
loopback, real TLS), fills it over IMAP, and times, client side:

  store-silent  STORE 1:* +FLAGS.SILENT (\\Flagged), then -FLAGS.SILENT,
                over a mailbox of N messages (the median of the runs)
  store         STORE 1:* +FLAGS (\\Seen) / -FLAGS: every FETCH reported
  list          LIST "" * over M mailboxes
  list-status   LIST "" * RETURN (CHILDREN SUBSCRIBED STATUS (MESSAGES))
  lsub          LSUB "" *

for each size given, and prints a table and the ratio between the largest
and the smallest size: a linear command gives about the size ratio, a
quadratic one its square.

    python3 bench/complexity.py --bin build/rampart --messages 40000,120000 \\
        --mailboxes 2500,10000

Populating uses MULTIAPPEND with LITERAL+ and then COPY 1:* of the mailbox
into itself (doubling it), and pipelined CREATE/SUBSCRIBE for the
mailboxes (each CREATE counts the existing mailboxes, so filling 10,000
takes a few minutes). The server's directory is made where TMPDIR says:
TMPDIR=/dev/shm keeps the disk's fsync latency out of the filling and out
of STORE's commit.
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import rampart_harness  # noqa: E402
import test_complexity  # noqa: E402

BATCH = 1000


class Conn(test_complexity.Conn):
    """A logged-in raw TLS connection (the test's, which reads big
    responses in linear time); cmd() fails unless the answer is OK."""

    def __init__(self, server):
        super().__init__(server, server.user)

    def cmd(self, data, timeout=600):
        return self.ok(data, timeout)


def message(i):
    return (b"From: bench@example.com\r\nTo: you@example.com\r\n"
            b"Subject: message %d\r\nMessage-ID: <%d@complexity.example>\r\n\r\nbody %d\r\n"
            % (i, i, i))


def fill_messages(conn, mailbox, count):
    """`count` messages in `mailbox`: count / 2**k distinct ones appended
    (MULTIAPPEND, LITERAL+, batches of BATCH), then COPY 1:* into the
    mailbox itself k times. count must be a multiple of 2**k with
    count / 2**k <= 4 * BATCH."""
    seed, k = count, 0
    while seed > 4 * BATCH:
        assert seed % 2 == 0, "size must be a multiple of a power of two"
        seed //= 2
        k += 1
    for lo in range(0, seed, BATCH):
        parts = [b"APPEND " + mailbox.encode()]
        for i in range(lo, min(seed, lo + BATCH)):
            m = message(i)
            parts.append(b" {%d+}\r\n" % len(m) + m)
        conn.cmd(b"".join(parts))
    conn.cmd(b"SELECT " + mailbox.encode())
    for _ in range(k):
        conn.cmd(b"COPY 1:* " + mailbox.encode())
    conn.cmd(b"UNSELECT")


def fill_mailboxes(conn, count, prefix="box"):
    """Creates `count` mailboxes in a three-level tree (prefix/aNN/bNN/...)
    and subscribes every third; pipelined in batches."""
    names = []
    for i in range(count):
        names.append("%s/a%02d/b%03d/m%05d" % (prefix, i % 50, (i // 50) % 100, i))
    for lo in range(0, count, BATCH):
        tags = []
        for name in names[lo:lo + BATCH]:
            tags.append(conn.send(b"CREATE " + name.encode()))
        for n, name in enumerate(names[lo:lo + BATCH]):
            if (lo + n) % 3 == 0:
                tags.append(conn.send(b"SUBSCRIBE " + name.encode()))
        test_complexity.read_tagged(conn.s, tags[-1], 600)
    return names


def median_time(conn, commands, runs):
    times = []
    for _ in range(runs):
        for c in commands:
            t, _ = conn.timed(c)
            times.append(t)
    return statistics.median(times)


def bench_store(sizes, runs):
    rows = {}
    for n in sizes:
        srv = rampart_harness.Server()
        try:
            c = Conn(srv)
            c.cmd(b"CREATE Big")
            fill_messages(c, "Big", n)
            c.cmd(b"SELECT Big")
            c.timed(b"STORE 1:* +FLAGS.SILENT (\\Draft)")  # warm-up
            c.timed(b"STORE 1:* -FLAGS.SILENT (\\Draft)")
            rows[(n, "store-silent")] = median_time(
                c, [b"STORE 1:* +FLAGS.SILENT (\\Flagged)",
                    b"STORE 1:* -FLAGS.SILENT (\\Flagged)"], runs)
            rows[(n, "store")] = median_time(
                c, [b"STORE 1:* +FLAGS (\\Seen)", b"STORE 1:* -FLAGS (\\Seen)"], runs)
            c.close()
        finally:
            srv.close()
    return rows


def bench_list(sizes, runs):
    rows = {}
    for m in sizes:
        srv = rampart_harness.Server(
            extra_config="[limits]\nmax_mailboxes = %d\n" % (m * 2 + 100))
        try:
            c = Conn(srv)
            fill_mailboxes(c, m)
            c.timed(b'LIST "" *')  # warm-up
            rows[(m, "list")] = median_time(c, [b'LIST "" *'], runs)
            rows[(m, "list-status")] = median_time(
                c, [b'LIST "" * RETURN (CHILDREN SUBSCRIBED STATUS (MESSAGES))'], runs)
            rows[(m, "lsub")] = median_time(c, [b'LSUB "" *'], runs)
            c.close()
        finally:
            srv.close()
    return rows


def table(rows, sizes, kinds, unit):
    out = ["| command | " + " | ".join("%s %s" % (format(s, ","), unit) for s in sizes)
           + " | ratio |", "|---" * (len(sizes) + 2) + "|"]
    for k in kinds:
        cells = ["%.3f s" % rows[(s, k)] for s in sizes]
        ratio = rows[(sizes[-1], k)] / max(rows[(sizes[0], k)], 1e-6)
        out.append("| %s | %s | %.1fx |" % (k, " | ".join(cells), ratio))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "rampart"))
    ap.add_argument("--messages", default="40000,120000",
                    help="mailbox sizes for STORE (comma-separated)")
    ap.add_argument("--mailboxes", default="2500,10000",
                    help="mailbox counts for LIST (comma-separated)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=("store", "list"))
    a = ap.parse_args()
    rampart_harness.BIN = os.path.abspath(a.bin)
    if a.only != "list":
        sizes = [int(x) for x in a.messages.split(",")]
        rows = bench_store(sizes, a.runs)
        print(table(rows, sizes, ("store-silent", "store"), "messages"))
        print()
    if a.only != "store":
        sizes = [int(x) for x in a.mailboxes.split(",")]
        rows = bench_list(sizes, a.runs)
        print(table(rows, sizes, ("list", "list-status", "lsub"), "mailboxes"))


if __name__ == "__main__":
    main()
