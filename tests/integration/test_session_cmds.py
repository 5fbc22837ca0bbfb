"""ID, CHECK, CLOSE, UNSELECT and UID EXPUNGE, byte-exact over TLS."""
from rampart_harness import Raw

MSG = b"Subject: s\r\n\r\nbody\r\n"


def fill(server, n, box="INBOX"):
    c = server.imap_tls()
    for _ in range(n):
        c.append(box, None, None, MSG)
    c.logout()


def count(server, box="INBOX"):
    c = server.imap_tls()
    typ, data = c.status(box, "(MESSAGES)")
    c.logout()
    return int(data[0].split(b"MESSAGES ")[1].split(b")")[0])


def test_id_and_check(server):
    r = Raw(server, select="INBOX")
    data = r.ok(b'ID ("name" "pytest" "version" "1.0")')
    assert b'* ID ("name" "Rampart")' in data
    r.ok(b"ID NIL")
    _, status = r.cmd(b'ID ("name")')
    assert status.startswith(b"BAD")
    r.ok(b"CHECK")
    r.close()
    assert 'event=client_id ip=127.0.0.1 name="pytest" version="1.0"' in server.log()


def test_close_expunges_silently_unselect_does_not(server):
    fill(server, 3)
    r = Raw(server, select="INBOX")
    r.ok(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    data = r.ok(b"UNSELECT")
    assert b"EXPUNGE" not in data
    assert count(server) == 3
    r.ok(b"SELECT INBOX")
    data = r.ok(b"CLOSE")
    assert b"EXPUNGE" not in data
    assert count(server) == 2
    # After CLOSE nothing is selected.
    _, status = r.cmd(b"FETCH 1 FLAGS")
    assert status.startswith(b"BAD")
    r.close()


def test_close_in_examine_does_not_expunge(server):
    fill(server, 2)
    r = Raw(server, select="INBOX")
    r.ok(b"STORE 1:2 +FLAGS.SILENT (\\Deleted)")
    r.ok(b"EXAMINE INBOX")
    r.ok(b"CLOSE")
    assert count(server) == 2
    r.close()


def test_uid_expunge_only_listed(server):
    fill(server, 4)
    r = Raw(server, select="INBOX")
    r.ok(b"STORE 1:4 +FLAGS.SILENT (\\Deleted)")
    data = r.ok(b"UID EXPUNGE 2:3")
    assert b"* 3 EXPUNGE" in data and b"* 2 EXPUNGE" in data
    assert b"* 1 EXPUNGE" not in data
    assert count(server) == 2
    _, status = r.cmd(b"UID EXPUNGE")
    assert status.startswith(b"BAD")
    data = r.ok(b"EXPUNGE")
    assert data.count(b"EXPUNGE\r\n") == 2
    assert count(server) == 0
    r.close()
