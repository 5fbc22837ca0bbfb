"""-c FILE from the real binary: every command that reads the
configuration (serve, user, config check, deliver) takes -c FILE and
--config FILE, and answers a bad file with the same line,
"PROG: FILE:LINE: message", and exit status 78 (EX_CONFIG). The parts
are unit-tested in tests/unit/test_admin_conf.c; this covers `rampart
serve`, which lives in src/main.c.

Environment (set by ctest): RAMPART_BIN.
"""
import os
import subprocess

from rampart_harness import BIN

EX_CONFIG = 78


def run(args):
    return subprocess.run([BIN] + args, capture_output=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def test_bad_config_same_answer_from_every_command(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[limits]\nmax_line = 12\n")
    detail = "%s:2: max_line: 12 is out of range (1024..16777216)\n" % conf
    for opt in ("-c", "--config"):
        cases = [
            (["serve", opt, str(conf)], "rampart"),
            (["user", "list", opt, str(conf)], "rampart user"),
            (["config", "check", opt, str(conf)], "rampart config"),
            (["deliver", opt, str(conf), "bob"], "rampart deliver"),
        ]
        for args, prog in cases:
            r = run(args)
            assert r.returncode == EX_CONFIG, (args, r.returncode, r.stderr)
            assert r.stderr.decode() == "%s: %s" % (prog, detail), (args, r.stderr)


def test_c_without_file_is_a_usage_error():
    for args in (["serve", "-c"], ["user", "list", "-c"], ["config", "check", "-c"],
                 ["deliver", "-c"]):
        r = run(args)
        assert r.returncode == 64, (args, r.returncode, r.stderr)
        assert b"usage" in r.stderr, (args, r.stderr)
