#!/usr/bin/python3
"""Worst NOOP latency of other clients while one client searches a big
mailbox (issue #10: store work off the event loop).

Seeds one user's INBOX with --count messages (gen_mail.py + loadgen fill,
once, in a throwaway directory), then for every --bin given starts that
`rampart serve` with ONE worker (so every client shares its event loop)
on the same mail, and runs, for --seconds:
  - one client repeating `SEARCH TEXT <word>` (every message's content);
  - --noopers clients each sending NOOP, waiting for its OK, pausing 5 ms.
Prints per binary: searches done and their median duration, NOOPs done,
NOOP latency p50 / p99 / max. Loopback only; every loop bounded in time.

    bench/noop_latency.py --bin /tmp/rampart-before --bin build/rampart \\
        --count 120000 --seconds 20
"""
import argparse
import os
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import rampart_harness  # noqa: E402

USER = "bench1"
PASSWORD = "bench-password"


class Client:
    def __init__(self, server):
        raw = socket.create_connection((server.host, server.port_tls), 10)
        self.s = server.ssl_context().wrap_socket(raw, server_hostname="localhost")
        self.s.settimeout(600)
        self.buf = b""
        self.n = 0
        self.readline()
        self.cmd(b'LOGIN %s "%s"' % (USER.encode(), PASSWORD.encode()))
        self.exists = 0
        self.cmd(b"EXAMINE INBOX")

    def readline(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        self.n += 1
        tag = b"c%d" % self.n
        self.s.sendall(tag + b" " + text + b"\r\n")
        while True:
            line = self.readline()
            if line.startswith(b"* ") and line.endswith(b" EXISTS"):
                self.exists = int(line.split()[1])
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line)
                return


def seed(server, count, build):
    mail = os.path.join(server.dir, "mail.dat")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_mail.py"), "--count", str(count),
                    "--seed", "10", "--sizes", "small", "--out", mail], check=True)
    subprocess.run([os.path.join(build, "loadgen"), "-p", str(server.port_tls), "-u", "bench%d",
                    "--users", "1-1", "-P", PASSWORD, "-w", "fill", "--mail-file", mail,
                    "--fill-per-user", str(count), "--fill-batch", "500", "-d", "3000"],
                   check=True, stdout=subprocess.DEVNULL)


def measure(server, seconds, noopers, word):
    searches, noops, errors = [], [], []

    # Every client is logged in and has its mailbox open before measuring.
    clients = [Client(server) for _ in range(noopers + 1)]

    def searcher(c):
        try:
            while time.time() < stop:
                t = time.perf_counter()
                c.cmd(b"SEARCH TEXT " + word.encode())
                searches.append(time.perf_counter() - t)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    def nooper(c):
        try:
            while time.time() < stop:
                t = time.perf_counter()
                c.cmd(b"NOOP")
                noops.append(time.perf_counter() - t)
                time.sleep(0.005)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    stop = time.time() + seconds
    threads = [threading.Thread(target=searcher, args=(clients[0],))]
    threads += [threading.Thread(target=nooper, args=(c,)) for c in clients[1:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 600)
    if errors:
        raise RuntimeError(errors[0])
    noops.sort()
    return {
        "searches": len(searches),
        "search_median_ms": 1000 * statistics.median(searches) if searches else 0,
        "noops": len(noops),
        "noop_p50_ms": 1000 * noops[len(noops) // 2],
        "noop_p99_ms": 1000 * noops[min(len(noops) - 1, int(len(noops) * 0.99))],
        "noop_max_ms": 1000 * noops[-1],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", action="append", required=True, help="rampart binary (repeatable)")
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"),
                    help="build directory holding loadgen")
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--noopers", type=int, default=4)
    ap.add_argument("--word", default="zanzibar")
    a = ap.parse_args()
    rampart_harness.BIN = os.path.abspath(a.bin[0])
    # One worker: the searcher and the NOOP clients share its loop.
    server = rampart_harness.Server(user=USER, password=PASSWORD, workers=1)
    try:
        seed(server, a.count, a.build)
        for b in a.bin:
            server.stop()
            rampart_harness.BIN = os.path.abspath(b)
            server.start()
            exists = Client(server).exists
            if exists < a.count:
                raise RuntimeError("INBOX holds %d messages, not %d" % (exists, a.count))
            r = measure(server, a.seconds, a.noopers, a.word)
            print("%-40s searches %3d (median %6.0f ms)  NOOPs %5d  latency p50 %6.1f  "
                  "p99 %7.1f  max %7.1f ms" % (b, r["searches"], r["search_median_ms"],
                                              r["noops"], r["noop_p50_ms"], r["noop_p99_ms"],
                                              r["noop_max_ms"]), flush=True)
    finally:
        server.close()


if __name__ == "__main__":
    main()
