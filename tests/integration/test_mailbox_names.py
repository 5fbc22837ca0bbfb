"""Path-like mailbox names (issue #11): '..', '.', '../x', 'a/../b', '~root'
are refused by CREATE and RENAME with NO [CANNOT]; SELECT and the other
commands that name a mailbox do not find them; nothing appears on disk
outside the mail directory."""
import os

import pytest

from rampart_harness import Raw

BAD = ["..", ".", "../x", "a/../b", "a/.", "~root", "~"]


@pytest.mark.parametrize("name", BAD)
def test_path_like_names_refused(shared_server, name):
    r = Raw(shared_server)
    try:
        q = b'"' + name.encode() + b'"'
        data, status = r.cmd(b"CREATE " + q)
        assert status.startswith(b"NO [CANNOT]"), data
        r.ok(b"CREATE Legit")
        data, status = r.cmd(b"RENAME Legit " + q)
        assert status.startswith(b"NO [CANNOT]"), data
        for cmd in (b"SELECT ", b"EXAMINE ", b"STATUS ", b"DELETE "):
            args = b" (MESSAGES)" if cmd == b"STATUS " else b""
            data, status = r.cmd(cmd + q + args)
            assert status.startswith(b"NO"), data
        data, status = r.cmd(b"APPEND " + q + b" {3+}\r\nabc")
        assert status.startswith(b"NO"), data
        data = r.ok(b'LIST "" "*"')
        assert b'"' + name.encode() + b'"' not in data and b" " + name.encode() + b"\r\n" not in data
        r.ok(b"DELETE Legit")
    finally:
        r.close()
    parent = os.path.dirname(os.path.join(shared_server.dir, "mail"))
    assert sorted(os.listdir(parent)) == sorted(os.listdir(shared_server.dir))
    assert not os.path.exists(os.path.join(shared_server.dir, "x"))


def test_names_that_only_look_alike_work(shared_server):
    r = Raw(shared_server)
    try:
        for name in (b"...", b".hidden", b"a..b", b"x/~y"):
            r.ok(b'CREATE "' + name + b'"')
            r.ok(b'SELECT "' + name + b'"')
            r.ok(b'DELETE "' + name + b'"')
    finally:
        r.close()
