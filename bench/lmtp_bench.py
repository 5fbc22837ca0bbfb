#!/usr/bin/env python3
"""LMTP delivery throughput with and without group commit (issue #13).

Starts a throwaway `rampart serve` (tests/integration/rampart_harness.py:
real binary, loopback) with an LMTP listener, then N parallel LMTP clients
(python smtplib.LMTP, one connection each) each deliver M messages, either
all to one user or each to its own user. Reports messages/s, and in a
second identical run under `strace -f -c` the fsync/fdatasync calls per
message (strace slows the server, so its run is not timed).

    bench/lmtp_bench.py [--senders 32] [--messages 20] [--size 4096]
                        [--group-commit yes|no|both] [--users one|many|both]
                        [--no-strace]

RAMPART_BIN (default build/rampart) names the binary."""
import argparse
import os
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("RAMPART_BIN", os.path.join(HERE, "..", "build", "rampart"))
from rampart_harness import Server, free_port  # noqa: E402


def message(i, size):
    head = ("From: bench@example.net\r\nTo: user@example.org\r\nSubject: bench %d\r\n"
            "Message-ID: <bench-%d-%f@example.net>\r\n\r\n" % (i, i, time.time()))
    line = "x" * 76 + "\r\n"
    return (head + line * max(1, (size - len(head)) // len(line))).encode()


def sender(port, rcpt, n, size, errors):
    try:
        c = smtplib.LMTP("127.0.0.1", port, timeout=120)
        c.ehlo("bench")
        for i in range(n):
            refused = c.sendmail("bench@example.net", [rcpt], message(i, size))
            if refused:
                errors.append(refused)
        c.quit()
    except Exception as e:  # noqa: BLE001 - reported, counted as failure
        errors.append(repr(e))


def run_once(srv, users, senders, per, size):
    errors = []
    threads = [threading.Thread(target=sender,
                                args=(srv.lmtp_port, users[i % len(users)] + "@example.org",
                                      per, size, errors))
               for i in range(senders)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    dt = time.time() - t0
    if errors:
        raise SystemExit("delivery errors: %r" % errors[:3])
    return senders * per / dt


def count_syncs(srv, users, senders, per, size):
    st = subprocess.Popen(["strace", "-f", "-c", "-e", "trace=fsync,fdatasync",
                           "-p", str(srv.proc.pid)], stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # attached to every thread
    run_once(srv, users, senders, per, size)
    st.send_signal(signal.SIGINT)
    out = st.communicate(timeout=60)[1]
    calls = 0
    for line in out.splitlines():
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)$", line)
        if m:
            calls += int(m.group(1))
    return calls / (senders * per)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--senders", type=int, default=32)
    ap.add_argument("--messages", type=int, default=20, help="per sender")
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--group-commit", default="both", choices=("yes", "no", "both"))
    ap.add_argument("--users", default="both", choices=("one", "many", "both"))
    ap.add_argument("--no-strace", action="store_true")
    a = ap.parse_args()
    modes = ["no", "yes"] if a.group_commit == "both" else [a.group_commit]
    targets = ["one", "many"] if a.users == "both" else [a.users]
    print("| users | group_commit | senders x messages | messages/s | fsyncs/message |")
    print("| --- | --- | --- | --- | --- |")
    for gc in modes:
        port = free_port()
        srv = Server(extra_config=("[listener lmtp]\naddress = 127.0.0.1:%d\nprotocol = lmtp\n"
                                   "[lmtp]\ngroup_commit = %s\n" % (port, gc)),
                     workers=2)
        srv.lmtp_port = port
        try:
            many = ["u%02d" % i for i in range(a.senders)]
            for u in many:
                srv.add_user(u, "bench password 123")
            srv.proc.send_signal(signal.SIGHUP)  # re-read the users file
            srv.wait_log("event=reload what=users_file")
            for tgt in targets:
                users = [srv.user] if tgt == "one" else many
                run_once(srv, users, a.senders, 2, a.size)  # warm: stores exist
                rate = run_once(srv, users, a.senders, a.messages, a.size)
                syncs = "-" if a.no_strace else "%.2f" % count_syncs(srv, users, a.senders,
                                                                     a.messages, a.size)
                print("| %s | %s | %d x %d | %.0f | %s |" % (
                    "1" if tgt == "one" else str(a.senders), gc, a.senders, a.messages,
                    rate, syncs), flush=True)
        finally:
            srv.close()


if __name__ == "__main__":
    main()
