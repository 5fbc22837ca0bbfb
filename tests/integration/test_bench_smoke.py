"""Smoke run of the benchmark harness: bench/compare --smoke on a tiny
workload (a few clients, a few seconds) must produce a table with numbers
for every server it ran. It proves the harness works; it asserts no timing.

Environment (set by ctest): RAMPART_BIN, RAMPART_SRC, RAMPART_BUILD.
"""
import os
import re
import shutil
import subprocess

import pytest

SRC = os.environ.get("RAMPART_SRC", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BUILD = os.environ.get("RAMPART_BUILD", os.path.join(SRC, "build"))
BIN = os.environ.get("RAMPART_BIN", os.path.join(BUILD, "rampart"))
LOADGEN = os.path.join(BUILD, "loadgen")


def servers():
    # Dovecot's throwaway instance needs root; it is compared when it can be.
    if os.geteuid() == 0 and (shutil.which("dovecot") or os.path.exists("/usr/sbin/dovecot")):
        return ["rampart", "dovecot"]
    return ["rampart"]


def test_loadgen_rejects_bad_options():
    if not os.access(LOADGEN, os.X_OK):
        pytest.fail("loadgen was not built at %s" % LOADGEN)
    r = subprocess.run([LOADGEN, "-w", "nosuchworkload"], capture_output=True, timeout=10)
    assert r.returncode == 2
    assert b"unknown workload" in r.stderr
    r = subprocess.run([LOADGEN, "-u", "user%s"], capture_output=True, timeout=10)
    assert r.returncode == 2


def test_compare_smoke_produces_numbers(tmp_path):
    assert os.access(BIN, os.X_OK), "rampart binary missing: %s" % BIN
    assert os.access(LOADGEN, os.X_OK), "loadgen missing: %s" % LOADGEN
    names = servers()
    out_json = tmp_path / "raw.json"
    cmd = ["/usr/bin/python3", os.path.join(SRC, "bench", "compare"), "--smoke",
           "--workloads", "mixed", "--servers", ",".join(names), "--rampart-bin", BIN,
           "--loadgen", LOADGEN, "--json-out", str(out_json), "--no-limits"]
    r = subprocess.run(cmd, capture_output=True, timeout=50)
    stdout = r.stdout.decode("utf-8", "replace")
    stderr = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 0, stdout + stderr
    rows = [l for l in stdout.splitlines() if l.startswith("| mixed")]
    assert rows, "no table rows:\n" + stdout + stderr
    by_metric = {}
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        # A cell is "median" or "median (lowest–highest round)".
        by_metric[cells[1]] = [c.split(" ")[0] for c in cells[2:2 + len(names)]]
    # Every server did real work: a positive command rate and no errors.
    for i, name in enumerate(names):
        rate = by_metric["commands/s"][i]
        assert re.match(r"^[0-9.]+$", rate) and float(rate) > 0, (name, rate, stdout, stderr)
        assert by_metric["errors"][i] == "0", (name, stdout, stderr)
        assert float(by_metric["p99 ms (all commands)"][i]) > 0
    assert out_json.exists()
    raw = out_json.read_text()
    for name in names:
        assert '"server": "%s"' % name in raw
    # Each run is followed by a wait for the server to go quiet (settle),
    # whose length and CPU are reported apart from the run's own.
    assert '"settle_s"' in raw and '"settle_cpu_s"' in raw, raw[:2000]


def table_rows(stdout, prefix, nservers):
    """{tag: {metric: [cell per server]}} for the table rows whose tag
    starts with prefix."""
    out = {}
    for line in stdout.splitlines():
        if not line.startswith("| " + prefix):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        out.setdefault(cells[0], {})[cells[1]] = [c.split(" ")[0]
                                                  for c in cells[2:2 + nservers]]
    return out


def test_compare_smoke_literal_modes_and_limits(tmp_path):
    """The imaptest-like mix in both literal modes (LITERAL+ and
    synchronizing literals written imaplib-style), sessions with split
    writes, and the machine's limits: one short round on Rampart."""
    assert os.access(BIN, os.X_OK), "rampart binary missing: %s" % BIN
    assert os.access(LOADGEN, os.X_OK), "loadgen missing: %s" % LOADGEN
    cmd = ["/usr/bin/python3", os.path.join(SRC, "bench", "compare"), "--smoke",
           "--workloads", "imaptest,imaptest_split,sessions_split", "--servers", "rampart",
           "--rampart-bin", BIN, "--loadgen", LOADGEN, "--rampart-workers", "1",
           "--duration", "1"]
    r = subprocess.run(cmd, capture_output=True, timeout=120)
    stdout = r.stdout.decode("utf-8", "replace")
    stderr = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 0, stdout + stderr
    rows = table_rows(stdout, "imaptest", 1)
    rows.update(table_rows(stdout, "sessions split-write", 1))
    want = ["imaptest 4 clients", "imaptest split-write 4 clients",
            "sessions split-write 4 clients"]
    assert sorted(rows) == sorted(want), stdout + stderr
    for tag in want:
        m = rows[tag]
        rate = m["commands/s"][0]
        assert re.match(r"^[0-9.]+$", rate) and float(rate) > 0, (tag, stdout, stderr)
        assert m["errors"] == ["0"], (tag, stdout, stderr)
    # Both imaptest modes APPENDed (the split one through "+" continuations).
    for tag in want[:2]:
        assert float(rows[tag]["p99 ms APPEND"][0]) > 0, (tag, stdout, stderr)
    # The limits table follows the results, with a figure in every row.
    assert "Limits of this machine" in stdout, stdout + stderr
    limits = stdout[stdout.index("Limits of this machine"):]
    for what in ("fsync of a 4 KiB append", "sequential write", "loopback TCP",
                 "TLS 1.3 full handshakes", "TLS 1.3 resumed handshakes",
                 "SHA512-CRYPT verify", "ARGON2ID verify"):
        line = [l for l in limits.splitlines() if l.startswith("| " + what)]
        assert line and "failed" not in line[0], (what, limits)


def test_loadgen_imaptest_options():
    if not os.access(LOADGEN, os.X_OK):
        pytest.fail("loadgen was not built at %s" % LOADGEN)
    r = subprocess.run([LOADGEN, "--help"], capture_output=True, timeout=10)
    assert r.returncode == 0 and b"imaptest" in r.stdout
    r = subprocess.run([LOADGEN, "-w", "imaptest", "--imaptest-size", "-1"],
                       capture_output=True, timeout=10)
    assert r.returncode == 2
