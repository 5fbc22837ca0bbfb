#!/usr/bin/python3
"""Server memory and APPEND throughput with large messages (issue #11:
APPEND literals streamed to a spool file instead of memory).

For every --bin given, starts that `rampart serve` (throwaway directory,
implicit TLS on loopback) and measures:
  - memory: --clients connections, logged in, each APPEND one distinct
    --big-mib message at the same time (synchronizing literal, sent in
    1 MiB writes from one shared buffer); the server's VmRSS and RssAnon
    are sampled every 20 ms from /proc/PID/status, VmHWM read at the end;
    the wall time of the whole batch;
  - throughput: one client APPENDs --rounds messages of 1 MiB, then of
    --single-mib MiB, one after the other; MB/s and ms per APPEND (median).
Loopback only; every loop is bounded in count (and each read in time).

    bench/append_memory.py --bin /tmp/rampart-before --bin build/rampart
"""
import argparse
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import rampart_harness  # noqa: E402
from rampart_harness import proc_status_kib, raw_login, read_tagged, read_until  # noqa: E402

MIB = 1 << 20


def body_of(size):
    line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n"
    return (line * (size // len(line) + 1))[:size]


def append(s, tag, head, body):
    total = len(head) + len(body)
    s.sendall(b"%s APPEND INBOX {%d}\r\n" % (tag, total))
    read_until(s, b"+ ", timeout=600)
    s.sendall(head)
    mv = memoryview(body)
    for off in range(0, len(mv), MIB):
        s.sendall(mv[off:off + MIB])
    s.sendall(b"\r\n")
    r = read_tagged(s, tag, timeout=600)
    if b"%s OK" % tag not in r:
        raise RuntimeError("APPEND failed: %r" % r[-300:])


def head_of(i):
    h = b"From: a@example.org\r\nSubject: bench %06d\r\n\r\n" % i
    return h


def memory_run(srv, clients, size):
    pid = srv.proc.pid
    body = body_of(size - len(head_of(0)))
    socks = [raw_login(srv, timeout=600) for _ in range(clients)]
    base = proc_status_kib(pid, "VmRSS")
    peak = {"rss": 0, "anon": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak["rss"] = max(peak["rss"], proc_status_kib(pid, "VmRSS"))
            peak["anon"] = max(peak["anon"], proc_status_kib(pid, "RssAnon"))
            time.sleep(0.02)

    errors = []

    def run(i):
        try:
            append(socks[i], b"m%d" % i, head_of(i), body)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(str(e))

    t = threading.Thread(target=sample)
    t.start()
    t0 = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(1800)
    wall = time.monotonic() - t0
    stop.set()
    t.join()
    hwm = proc_status_kib(pid, "VmHWM")
    for s in socks:
        s.close()
    return {"base": base / 1024, "rss": peak["rss"] / 1024, "anon": peak["anon"] / 1024,
            "hwm": hwm / 1024, "wall": wall, "errors": len(errors)}


def throughput_run(srv, size, rounds, first):
    s = raw_login(srv, timeout=600)
    body = body_of(size - len(head_of(0)))
    times = []
    for i in range(rounds):
        t0 = time.monotonic()
        append(s, b"t%d" % i, head_of(first + i), body)
        times.append(time.monotonic() - t0)
    s.close()
    med = statistics.median(times)
    return {"ms": med * 1000, "mbs": size / MIB / med}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", required=True)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--big-mib", type=int, default=60)
    ap.add_argument("--single-mib", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    extra = "[limits]\nmax_message_size = 64M\nmax_literal = 64M\n"
    for b in args.bin:
        rampart_harness.BIN = b
        srv = rampart_harness.Server(extra_config=extra)
        try:
            m = memory_run(srv, args.clients, args.big_mib * MIB)
            print("%s: %d x %d MiB APPEND: RSS before %.0f MiB, peak VmRSS %.0f MiB "
                  "(RssAnon %.0f MiB), VmHWM %.0f MiB, %.1f s, %d errors"
                  % (b, args.clients, args.big_mib, m["base"], m["rss"], m["anon"], m["hwm"],
                     m["wall"], m["errors"]), flush=True)
            for n, size in enumerate((1, args.single_mib)):
                t = throughput_run(srv, size * MIB, args.rounds, 1000 * (n + 1))
                print("%s: APPEND %d MiB x %d: median %.1f ms, %.1f MiB/s"
                      % (b, size, args.rounds, t["ms"], t["mbs"]), flush=True)
        finally:
            srv.close()


if __name__ == "__main__":
    main()
