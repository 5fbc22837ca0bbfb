#!/usr/bin/python3
"""The physical limits of this machine, measured in one short run, so that
each benchmark row can say how far a server is from what the disk, the
loopback and one core allow:

- fsync latency of a 4 KiB append (p50/p99, write + fsync, in --dir: the
  same filesystem as the servers' mail when bench/compare passes its
  temporary directory), and how many such commits per second one writer
  gets;
- sequential write MB/s of a file written in 1 MiB chunks and fsync'd;
- loopback TCP bandwidth of one stream (a sender and a receiver process,
  1 MiB buffers);
- TLS 1.3 full and resumed handshakes per second: `openssl s_time` against
  `openssl s_server` on loopback with the benchmark's certificate, as
  wall-clock rate and per CPU second of s_server (one process on one core:
  what one core of a server can do, whatever else the machine runs);
- SHA512-CRYPT and ARGON2ID verifies per second on one core (libcrypt's
  crypt and libsodium's crypto_pwhash_str_verify, the libraries Rampart
  uses), per CPU second of this process.

Standard library only. Every loop is bounded in count and time; nothing
leaves loopback; the files it writes are removed.

    bench/limits.py                   # about 20 s, prints a table
    bench/limits.py --quick --json    # a few seconds, one JSON object
"""
import argparse
import ctypes
import ctypes.util
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PASSWORD = b"bench-password"


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def cpu_of(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- disk

def fsync_latency(d, count, budget_s):
    """Appends 4 KiB and fsyncs, count times or until budget_s: what one
    durable commit of a small transaction costs at least."""
    path = os.path.join(d, "limits-fsync.tmp")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    buf = os.urandom(4096)
    lat = []
    try:
        t_end = time.monotonic() + budget_s
        for i in range(count):
            t0 = time.perf_counter()
            os.pwrite(fd, buf, i * 4096)
            os.fsync(fd)
            lat.append((time.perf_counter() - t0) * 1000.0)
            if time.monotonic() > t_end:
                break
    finally:
        os.close(fd)
        os.unlink(path)
    return {"fsync_4k_p50_ms": pct(lat, 50), "fsync_4k_p99_ms": pct(lat, 99),
            "fsync_4k_per_s": 1000.0 / statistics.mean(lat), "fsync_4k_samples": len(lat)}


def seq_write(d, mib):
    """Writes mib MiB in 1 MiB chunks and fsyncs once at the end."""
    path = os.path.join(d, "limits-seq.tmp")
    buf = os.urandom(1 << 20)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        t0 = time.perf_counter()
        for _ in range(mib):
            os.write(fd, buf)
        os.fsync(fd)
        secs = time.perf_counter() - t0
    finally:
        os.close(fd)
        os.unlink(path)
    return {"seq_write_mb_per_s": mib * 1.048576 / secs, "seq_write_mib": mib}


# ---------------------------------------------------------------- loopback

def loopback_bandwidth(seconds):
    """One TCP stream over 127.0.0.1 between two processes."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    port = ls.getsockname()[1]
    pid = os.fork()
    if pid == 0:  # receiver
        code = 0
        try:
            ls.close()
            with socket.create_connection(("127.0.0.1", port), 5) as s:
                s.settimeout(seconds + 10)
                buf = bytearray(1 << 20)
                while s.recv_into(buf):
                    pass
        except OSError:
            code = 1
        os._exit(code)
    try:
        ls.settimeout(10)
        conn, _ = ls.accept()
        ls.close()
        buf = b"\0" * (1 << 20)
        sent = 0
        t0 = time.perf_counter()
        t_end = t0 + seconds
        with conn:
            while time.perf_counter() < t_end:
                conn.sendall(buf)
                sent += len(buf)
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(4096):
                pass
        secs = time.perf_counter() - t0
    finally:
        os.waitpid(pid, 0)
    return {"loopback_mb_per_s": sent / 1e6 / secs}


# ---------------------------------------------------------------- TLS

def self_signed(d):
    cert, key = os.path.join(d, "limits-cert.pem"), os.path.join(d, "limits-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-keyout", key, "-out", cert], check=True,
                   capture_output=True, timeout=60)
    return cert, key


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_handshakes(cert, key, seconds):
    """openssl s_time -new (full handshakes) and -reuse (resumed with the
    session of the first connection) against one s_server process on
    loopback, TLS 1.3. The rate per CPU second of s_server is what one core
    does, whatever the client and the neighbours cost."""
    port = free_port()
    srv = subprocess.Popen(["openssl", "s_server", "-quiet", "-accept", "127.0.0.1:%d" % port,
                            "-cert", cert, "-key", key, "-tls1_3", "-www", "-naccept", "1000000"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    out = {}
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        for mode in ("new", "reuse"):
            c0 = cpu_of(srv.pid)
            t0 = time.monotonic()
            r = subprocess.run(["openssl", "s_time", "-connect", "127.0.0.1:%d" % port,
                                "-tls1_3", "-www", "/", "-" + mode, "-time", str(seconds)],
                               capture_output=True, timeout=seconds + 60)
            secs = time.monotonic() - t0
            cpu = cpu_of(srv.pid) - c0
            text = r.stdout.decode("utf-8", "replace")
            # "N connections in T.TTs; X connections/user sec, ..." (T is the
            # client's user time; the wall clock is taken here). Each
            # connection prints "*" (full handshake) or "r" (resumed).
            m = re.search(r"(\d+) connections in [\d.]+s", text)
            if not m:
                out["tls_%s_error" % mode] = text[-300:] or r.stderr.decode()[-300:]
                continue
            n = int(m.group(1))
            key_ = "tls13_full" if mode == "new" else "tls13_resumed"
            if mode == "reuse":
                mm = re.search(r"starting\s*([r*\s]*)", text)
                marks = mm.group(1) if mm else ""
                resumed, full = marks.count("r"), marks.count("*")
                if resumed < n // 2:
                    out["tls_reuse_error"] = "only %d of %d connections resumed" % (resumed, n)
                    continue
                out["tls13_resumed_fraction"] = resumed / max(resumed + full, 1)
            out[key_ + "_per_s"] = n / secs if secs else 0.0
            out[key_ + "_per_server_cpu_s"] = n / cpu if cpu > 0 else 0.0
    finally:
        srv.terminate()
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
    return out


# ---------------------------------------------------------------- hashes

def bounded_rate(fn, seconds, limit):
    """Calls fn until seconds of this process's CPU time (or limit calls)."""
    n = 0
    c0 = time.process_time()
    while n < limit:
        fn()
        n += 1
        if time.process_time() - c0 >= seconds:
            break
    return n / max(time.process_time() - c0, 1e-9)


def crypt_rate(crypt_hash, seconds):
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
    h = crypt_hash.encode()
    if h.startswith(b"{SHA512-CRYPT}"):
        h = h[len(b"{SHA512-CRYPT}"):]
    if not h:
        h = lib.crypt(PASSWORD, b"$6$benchlimitssalt$")
    if lib.crypt(PASSWORD, h) != h:
        raise RuntimeError("SHA512-CRYPT hash does not verify bench-password")
    return bounded_rate(lambda: lib.crypt(PASSWORD, h), seconds, 100000)


def argon2_rate(argon_hash, seconds):
    lib = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
    if lib.sodium_init() < 0:
        raise RuntimeError("sodium_init failed")
    # A users-file line's remaining fields (":::...") are not the hash's.
    h = argon_hash.encode().split(b":")[0]
    if h.startswith(b"{ARGON2ID}"):
        h = h[len(b"{ARGON2ID}"):]
    if not h:
        # Rampart's parameters (auth/password.c): libsodium's INTERACTIVE.
        lib.crypto_pwhash_argon2id_opslimit_interactive.restype = ctypes.c_ulonglong
        lib.crypto_pwhash_argon2id_memlimit_interactive.restype = ctypes.c_size_t
        out = ctypes.create_string_buffer(128)
        if lib.crypto_pwhash_argon2id_str(
                out, PASSWORD, ctypes.c_ulonglong(len(PASSWORD)),
                ctypes.c_ulonglong(lib.crypto_pwhash_argon2id_opslimit_interactive()),
                ctypes.c_size_t(lib.crypto_pwhash_argon2id_memlimit_interactive())) != 0:
            raise RuntimeError("crypto_pwhash_argon2id_str failed")
        h = out.value
    hb = ctypes.create_string_buffer(h)

    def verify():
        if lib.crypto_pwhash_str_verify(hb, PASSWORD, ctypes.c_ulonglong(len(PASSWORD))) != 0:
            raise RuntimeError("ARGON2ID hash does not verify bench-password")
    return bounded_rate(verify, seconds, 10000), h.decode()


# ---------------------------------------------------------------- main

def measure(a):
    q = a.quick
    res = {"dir": a.dir}
    steps = [
        ("fsync", lambda: fsync_latency(a.dir, 50 if q else 500, 2 if q else 10)),
        ("seq_write", lambda: seq_write(a.dir, 16 if q else 256)),
        ("loopback", lambda: loopback_bandwidth(0.5 if q else 2)),
    ]
    for name, fn in steps:
        try:
            res.update(fn())
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            res[name + "_error"] = str(e)
    try:
        cert, key = a.cert, a.key
        if not (cert and key):
            cert, key = self_signed(a.dir)
        res.update(tls_handshakes(cert, key, 1 if q else 3))
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        res["tls_error"] = str(e)
    try:
        res["sha512_crypt_verify_per_s"] = crypt_rate(a.crypt_hash or "", 0.3 if q else 1.5)
    except (OSError, RuntimeError, AttributeError) as e:
        res["sha512_crypt_error"] = str(e)
    try:
        res["argon2id_verify_per_s"], h = argon2_rate(a.argon2_hash or "", 0.3 if q else 1.5)
        m = re.search(r"m=(\d+),t=(\d+)", h)
        if m:
            res["argon2id_params"] = "m=%s KiB, t=%s" % m.groups()
    except (OSError, RuntimeError, AttributeError) as e:
        res["argon2id_error"] = str(e)
    return res


def fmt(v):
    if v >= 100:
        return "{:,.0f}".format(v)
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def table(res):
    """A markdown table of the limits (rows whose measurement failed say so)."""
    def row(what, value, how):
        return "| %s | %s | %s |" % (what, value, how)

    def get(k, unit=""):
        return fmt(res[k]) + unit if k in res else "failed"
    lines = ["| limit | value | how |", "|---|---|---|"]
    if "fsync_4k_p50_ms" in res:
        lines.append(row("fsync of a 4 KiB append", "p50 %s ms, p99 %s ms (%s commits/s, one writer)"
                         % (fmt(res["fsync_4k_p50_ms"]), fmt(res["fsync_4k_p99_ms"]),
                            fmt(res["fsync_4k_per_s"])),
                         "pwrite + fsync, %d times, in the mail's filesystem" % res["fsync_4k_samples"]))
    else:
        lines.append(row("fsync of a 4 KiB append", "failed: %s" % res.get("fsync_error", ""), ""))
    lines.append(row("sequential write", get("seq_write_mb_per_s", " MB/s"),
                     "%s MiB in 1 MiB writes, then fsync" % res.get("seq_write_mib", "?")))
    lines.append(row("loopback TCP, one stream", get("loopback_mb_per_s", " MB/s"),
                     "two processes, 1 MiB send/recv"))
    for k, label in (("tls13_full", "TLS 1.3 full handshakes"),
                     ("tls13_resumed", "TLS 1.3 resumed handshakes")):
        if k + "_per_s" in res:
            v = "%s/s per server core (%s/s wall)" % (fmt(res[k + "_per_server_cpu_s"]),
                                                       fmt(res[k + "_per_s"]))
            if k == "tls13_resumed":
                v += ", %.0f%% resumed" % (100 * res.get("tls13_resumed_fraction", 0))
        else:
            v = "failed"
        lines.append(row(label, v, "openssl s_time against s_server, P-256 certificate; "
                                   "per CPU second of s_server"))
    lines.append(row("SHA512-CRYPT verify", get("sha512_crypt_verify_per_s", "/s per core"),
                     "libcrypt crypt(), 5,000 rounds"))
    lines.append(row("ARGON2ID verify", get("argon2id_verify_per_s", "/s per core"),
                     "libsodium crypto_pwhash_str_verify, %s" % res.get("argon2id_params", "?")))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description="this machine's physical limits, in one short run")
    ap.add_argument("--dir", default=None,
                    help="directory on the filesystem to measure (default: a new one in /tmp)")
    ap.add_argument("--quick", action="store_true", help="a few seconds instead of about 20")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    ap.add_argument("--cert", help="PEM certificate for the TLS rows (default: a new P-256 one)")
    ap.add_argument("--key", help="its key")
    ap.add_argument("--crypt-hash", help="{SHA512-CRYPT} hash of 'bench-password' to verify")
    ap.add_argument("--argon2-hash", help="{ARGON2ID} hash of 'bench-password' to verify "
                    "(default: one made with Rampart's parameters)")
    a = ap.parse_args()
    own = a.dir is None
    if own:
        a.dir = tempfile.mkdtemp(prefix="rampart-limits-", dir="/tmp")
    try:
        res = measure(a)
    finally:
        if own:
            shutil.rmtree(a.dir, ignore_errors=True)
        else:
            for n in ("limits-cert.pem", "limits-key.pem"):
                try:
                    os.unlink(os.path.join(a.dir, n))
                except OSError:
                    pass
    if a.json:
        print(json.dumps(res))
    else:
        print(table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
