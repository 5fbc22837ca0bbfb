#!/usr/bin/env python3
"""The cost of the metrics instrumentation: bench/loadgen's `mixed`
workload against two Rampart binaries serving the same mail directory,
one built without the instrumentation (the commit before it) and one with,
alternating which goes first, several rounds; prints the medians and the
ratio. Example (the numbers in BENCHMARKS.md):

    git archive 714914e | tar -x -C /tmp/base && \\
      cmake -S /tmp/base -B /tmp/base/build -DCMAKE_BUILD_TYPE=RelWithDebInfo && \\
      cmake --build /tmp/base/build --target rampart
    bench/metrics_cost.py --base /tmp/base/build/rampart --new build/rampart \\
      --loadgen build/loadgen --rounds 3 --duration 10 --clients 20
"""
import argparse
import json
import os
import pwd
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PASSWORD = "benchpass1"
RUN_USER = "rampart"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def setup(top, users):
    src = os.path.dirname(os.path.abspath(__file__))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", top + "/key.pem", "-out", top + "/cert.pem"], check=True,
                   capture_output=True)
    h = subprocess.run(["openssl", "passwd", "-6", PASSWORD], check=True,
                       capture_output=True).stdout.decode().strip()
    with open(top + "/users", "w") as f:
        for i in range(1, users + 1):
            f.write("user%d:{SHA512-CRYPT}%s\n" % (i, h))
    os.chmod(top + "/users", 0o640)
    os.makedirs(top + "/mail")
    port = free_port()
    lines = ["[server]", "workers = 0", "mail_root = %s/mail" % top, "users_file = %s/users" % top,
             "log_level = warning", "state_dir = %s/state" % top]
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", RUN_USER], check=True)
        lines.append("user = %s" % RUN_USER)
    lines += ["[tls]", "cert = %s/cert.pem" % top, "key = %s/key.pem" % top,
              "[listener imaps]", "address = 127.0.0.1:%d" % port, "tls = implicit",
              "[limits]", "max_connections = 5000", "max_connections_per_ip = 5000",
              "[http]", "address = none",
              # one source drives every client: no lockout may end the run
              "[policy]", "lockout_failures = 100000", "prefix_failures = 1000000",
              "user_failures = 1000000", "connection_reserve_percent = 0",
              "delay_base_ms = 0", "max_queued_checks = 100000"]
    with open(top + "/rampart.conf", "w") as f:
        f.write("\n".join(lines) + "\n")
    if os.geteuid() == 0:
        pw = pwd.getpwnam(RUN_USER)
        for root, dirs, files in os.walk(top):
            for n in dirs + files:
                if n != "key.pem":
                    os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
        os.chown(top, pw.pw_uid, pw.pw_gid)
    subprocess.run([sys.executable, os.path.join(src, "gen_mail.py"), "--count", "200", "--seed",
                    "1", "--sizes", "small", "--out", top + "/small.mail"], check=True)
    return port


def start(binary, top, port):
    log = open(top + "/server.log", "ab")
    p = subprocess.Popen([binary, "serve", "-c", top + "/rampart.conf"], stdout=log, stderr=log)
    wait_port(port, p)
    return p


def stop(p):
    p.terminate()
    p.wait(30)


def loadgen(a, port, workload, extra):
    cmd = [a.loadgen, "-p", str(port), "-u", "user%d", "--users", "1-%d" % a.users, "-P",
           PASSWORD, "-w", workload, "--json"] + [str(x) for x in extra]
    r = subprocess.run(cmd, capture_output=True, timeout=600)
    lines = [l for l in r.stdout.decode().splitlines() if l.startswith("{")]
    if r.returncode or not lines:
        raise RuntimeError("loadgen failed: %s" % r.stderr.decode()[-2000:])
    res = json.loads(lines[-1])
    res["stderr"] = r.stderr.decode()[-1000:]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="rampart without the instrumentation")
    ap.add_argument("--new", required=True, help="rampart with it")
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--users", type=int, default=50)
    a = ap.parse_args()
    top = tempfile.mkdtemp(prefix="rampart-metrics-cost-")
    os.chmod(top, 0o755)
    try:
        port = setup(top, a.users)
        p = start(a.new, top, port)
        loadgen(a, port, "fill", ["-c", 4, "--mail-file", top + "/small.mail",
                                  "--fill-per-user", 20, "-d", 3000])
        stop(p)
        res = {"base": [], "new": []}
        for rnd in range(a.rounds):
            order = ("base", "new") if rnd % 2 == 0 else ("new", "base")
            for which in order:
                p = start(getattr(a, which), top, port)
                r = loadgen(a, port, "mixed", ["-c", a.clients, "-d", a.duration])
                stop(p)
                res[which].append(r)
                print("round %d %-4s %8.0f commands/s  p99 %6.2f ms  errors %d %s" %
                      (rnd + 1, which, r["cmd_per_s"], r["all"]["p99_ms"], r["errors"],
                       r["stderr"].strip().splitlines()[-1:] if r["errors"] else ""),
                      flush=True)
        med = {w: statistics.median(x["cmd_per_s"] for x in res[w]) for w in res}
        p99 = {w: statistics.median(x["all"]["p99_ms"] for x in res[w]) for w in res}
        print("median commands/s: base %.0f, with metrics %.0f, ratio %.3f" %
              (med["base"], med["new"], med["new"] / med["base"]))
        print("median p99 ms:     base %.2f, with metrics %.2f" % (p99["base"], p99["new"]))
    finally:
        with open(top + "/server.log", "rb") as f:
            fails = [l for l in f.read().decode("utf-8", "replace").splitlines()
                     if "result=fail" in l or "error" in l]
        for l in fails[:3]:
            print("server:", l[:300])
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
