#!/usr/bin/env python3
"""Memory of one authenticated IDLE TLS connection, without the fixed part.

bench/compare's idle row divides the server's growth by the number of
connections, so whatever the server allocates once when clients come (pool
threads, the SQLite handle pool, arenas) is counted per connection. This
script holds N IDLE clients, then N more, and reports both that ratio and
the step between the two counts ((mem(2N) - mem(N)) / N), which is what one
more connection costs. It starts one Rampart like compare does (same users,
hashes and policy settings), on loopback, and is meant for comparing two
builds back to back (issue #14, idle task):

    bench/idle_mem.py --rampart-bin build/rampart --loadgen build/loadgen -n 2000

Prints one JSON line. Not a test: nothing is asserted."""
import argparse
import json
import os
import pwd
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PASSWORD = "bench pass 1"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def tree(root):
    pids, todo = [], [root]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return pids


def memory_kb(root):
    """RSS, PSS and anonymous memory summed over the server's processes."""
    tot = {"Rss": 0, "Pss": 0, "Anonymous": 0}
    for p in tree(root):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    k = line.split(":")[0]
                    if k in tot:
                        tot[k] += int(line.split()[1])
        except OSError:
            continue
    return tot


def wait_port(port, proc, deadline_s=30):
    end = time.time() + deadline_s
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def start_server(a, top, newer):
    d = os.path.join(top, "rampart")
    os.makedirs(os.path.join(d, "mail"))
    port = free_port()
    lines = ["[server]", "workers = %d" % a.workers, "mail_root = %s/mail" % d,
             "users_file = %s/users" % d, "log_level = %s" % a.log_level]
    if os.geteuid() == 0:   # as bench/compare: the account must exist
        lines.append("user = %s" % a.run_user)
    lines += [
             "[tls]", "cert = %s" % a.cert, "key = %s" % a.key,
             "[listener imaps]", "address = 127.0.0.1:%d" % port, "tls = implicit",
             "[limits]", "max_connections = 25000", "max_connections_per_ip = 25000"]
    if newer:   # sections an older build (bisecting) would refuse
        lines += ["[policy]", "max_queued_checks = 100000", "max_sessions_per_user = 1000000",
                  "[passwords]", "upgrade_on_login = no", "[http]", "address = none"]
    conf = os.path.join(d, "rampart.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    h = "{SHA512-CRYPT}" + subprocess.run(["openssl", "passwd", "-6", PASSWORD],
                                          capture_output=True, check=True).stdout.decode().strip()
    with open(os.path.join(d, "users"), "w") as f:
        for i in range(1, a.users + 1):
            f.write("idle%d:%s\n" % (i, h))
    os.chmod(os.path.join(d, "users"), 0o640)
    if os.geteuid() == 0:
        pw = pwd.getpwnam(a.run_user)
        for root, dirs, files in os.walk(top):
            for n in dirs + files + ["."]:
                os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
    logf = open(os.path.join(d, "server.log"), "ab")
    p = subprocess.Popen(a.wrap.split() + [a.rampart_bin, "serve", "-c", conf], stdout=logf, stderr=logf,
                         preexec_fn=raise_nofile)
    if not wait_port(port, p):
        p.kill()
        p.wait()
        return None, None, d
    return p, port, d


def hold(a, port, n, idx):
    """Starts a loadgen holding n IDLE clients; returns it once they all idle."""
    src = "127.0.%d.1-127.0.%d.8" % (10 + idx, 10 + idx)
    cmd = [a.loadgen, "-h", "127.0.0.1", "-p", str(port), "--tls", "implicit", "-P", PASSWORD,
           "-w", "idle", "--json", "-u", "idle%d", "--users", "1-%d" % a.users, "-c", str(n),
           "-d", "600", "--src", src, "--ramp", "32"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=raise_nofile)
    os.set_blocking(p.stderr.fileno(), False)
    buf, end = b"", time.time() + 60 + n / 20
    while b"READY" not in buf and time.time() < end and p.poll() is None:
        time.sleep(0.2)
        buf += p.stderr.read() or b""
    if b"READY" not in buf:
        sys.exit("loadgen did not get %d clients idling: %s" % (n, buf[-500:]))
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rampart-bin", default=os.path.join(REPO, "build", "rampart"))
    ap.add_argument("--loadgen", default=os.path.join(REPO, "build", "loadgen"))
    ap.add_argument("-n", type=int, default=2000, help="clients per step (two steps)")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--label", default="")
    ap.add_argument("--log-level", default="warning")
    ap.add_argument("--keep-log", help="copy the server's log here")
    ap.add_argument("--wrap", default="", help="run the server under this (e.g. heaptrack)")
    ap.add_argument("--steps", type=int, default=2, help="1: hold n clients only")
    ap.add_argument("--hold", type=float, default=0, help="seconds to wait before closing")
    ap.add_argument("--kill", action="store_true",
                    help="SIGKILL the server while the clients are held (heap profiles)")
    ap.add_argument("--run-user", default="rampart", help="account the server runs as under root")
    a = ap.parse_args()
    top = tempfile.mkdtemp(prefix="idle_mem.")
    a.cert, a.key = os.path.join(top, "cert.pem"), os.path.join(top, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", a.key, "-out", a.cert], check=True, capture_output=True)
    srv, port, d = start_server(a, top, True)
    if srv is None:   # a build older than [policy], [passwords] or [http]
        shutil.rmtree(d)
        srv, port, d = start_server(a, top, False)
    if srv is None:
        sys.exit("server did not start; see %s/server.log" % d)
    procs = []
    try:
        time.sleep(1)
        m0 = memory_kb(srv.pid)
        procs.append(hold(a, port, a.n, 0))
        time.sleep(a.settle)
        m1 = memory_kb(srv.pid)
        m2 = m1
        if a.steps > 1:
            procs.append(hold(a, port, a.n, 1))
            time.sleep(a.settle)
            m2 = memory_kb(srv.pid)
        if a.hold:
            print("holding pid %d" % srv.pid, file=sys.stderr, flush=True)
            time.sleep(a.hold)
        if a.kill:   # what is held now shows as never freed in a heap profile
            real = os.path.realpath(a.rampart_bin)
            for p in tree(srv.pid):
                try:
                    if os.path.realpath("/proc/%d/exe" % p) == real:
                        os.kill(p, 9)
                except OSError:
                    pass
            time.sleep(2)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
        srv.terminate()
        try:
            srv.wait(30)
        except subprocess.TimeoutExpired:
            srv.kill()
        if a.keep_log:
            shutil.copy(os.path.join(d, "server.log"), a.keep_log)
        shutil.rmtree(top, ignore_errors=True)
    n = a.n
    out = {"label": a.label, "n": n}
    for k in ("Rss", "Pss", "Anonymous"):
        out[k.lower() + "_per_conn_at_n"] = round((m1[k] - m0[k]) / n, 2)
        out[k.lower() + "_per_conn_at_2n"] = round((m2[k] - m0[k]) / (2 * n), 2)
        if a.steps > 1:
            out[k.lower() + "_step"] = round((m2[k] - m1[k]) / n, 2)
    out["rss_kb"] = [m0["Rss"], m1["Rss"], m2["Rss"]]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
