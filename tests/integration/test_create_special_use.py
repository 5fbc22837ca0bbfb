"""CREATE-SPECIAL-USE (RFC 6154 3) and the default special-use mailboxes
of [mailboxes]: created with the store, and given back their use when a
client deletes and recreates one."""
from rampart_harness import Raw, Server


def list_line(r, name):
    data = r.ok(b'LIST "" "%s"' % name)
    lines = [l for l in data.split(b"\r\n") if l.startswith(b"* LIST")]
    assert len(lines) == 1, data
    return lines[0]


def test_create_with_use(server):
    r = Raw(server)
    assert b"CREATE-SPECIAL-USE" in r.ok(b"CAPABILITY")
    r.ok(b'CREATE "My Sent" (USE (\\Sent))')
    assert b"\\Sent" in list_line(r, b"My Sent")
    data = r.ok(b'LIST (SPECIAL-USE) "" *')
    assert b'\\Sent) "/" "My Sent"' in data or b"\\Sent) \"/\" \"My Sent\"" in data, data
    # An empty USE list creates a plain mailbox.
    r.ok(b"CREATE Plain (USE ())")
    line = list_line(r, b"Plain")
    assert b"\\Sent" not in line and b"\\Trash" not in line
    r.close()


def test_create_use_refused(server):
    r = Raw(server)
    for cmd in (b"CREATE a (USE (\\All))", b"CREATE b (USE (\\Flagged))",
                b"CREATE c (USE (\\Bogus))", b"CREATE d (USE (\\Sent \\Trash))"):
        _, status = r.cmd(cmd)
        assert status.startswith(b"NO [USEATTR]"), (cmd, status)
    # RFC 6154 3: refused means not created.
    data = r.ok(b'LIST "" *')
    for name in (b" a\r\n", b" b\r\n", b" c\r\n", b" d\r\n"):
        assert name not in data, data
    for cmd in (b"CREATE e (FOO)", b"CREATE f USE", b"CREATE g (USE \\Sent)"):
        _, status = r.cmd(cmd)
        assert status.startswith(b"BAD"), (cmd, status)
    r.close()


def test_recreated_default_gets_its_use_back(server):
    r = Raw(server)
    for name, use in ((b"Sent", b"\\Sent"), (b"Trash", b"\\Trash"), (b"Drafts", b"\\Drafts"),
                      (b"Junk", b"\\Junk"), (b"Archive", b"\\Archive")):
        assert use in list_line(r, name)
        r.ok(b"DELETE " + name)
        r.ok(b"CREATE " + name)
        assert use in list_line(r, name), name
    # Another name gets nothing.
    r.ok(b"CREATE Sent2")
    assert b"\\Sent" not in list_line(r, b"Sent2")
    r.close()


def test_configured_names_and_no_autocreate():
    s = Server(extra_config="[mailboxes]\nsent = Sent Items\narchive =\n")
    try:
        r = Raw(s)
        data = r.ok(b'LIST "" *')
        assert b'"Sent Items"' in data and b"\\Sent" in list_line(r, b"Sent Items")
        assert b"Archive" not in data and b' "Sent"\r\n' not in data and b" Sent\r\n" not in data
        r.ok(b'DELETE "Sent Items"')
        r.ok(b'CREATE "Sent Items"')
        assert b"\\Sent" in list_line(r, b"Sent Items")
        r.close()
    finally:
        s.close()
    s = Server(extra_config="[mailboxes]\nautocreate = no\n")
    try:
        r = Raw(s)
        data = r.ok(b'LIST "" *')
        assert [l for l in data.split(b"\r\n") if l.startswith(b"* LIST")] == \
            [l for l in data.split(b"\r\n") if l.startswith(b"* LIST") and b"INBOX" in l], data
        r.ok(b"CREATE Trash")
        assert b"\\Trash" in list_line(r, b"Trash")
        r.close()
    finally:
        s.close()


def test_bad_configured_name_is_refused(server):
    with open(server.conf_path, "a") as f:
        f.write("[mailboxes]\nsent = INBOX\n")
    p = server.deliver(server.user, b"Subject: x\r\n\r\nx\r\n")
    assert p.returncode == 78, (p.returncode, p.stderr)
    assert b"[mailboxes]" in p.stderr
