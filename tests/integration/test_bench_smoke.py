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
           "--loadgen", LOADGEN, "--json-out", str(out_json)]
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
