"""QUOTA (RFC 9208) against the real server: the capabilities, GETQUOTA,
GETQUOTAROOT, SETQUOTA (admins only), STATUS (DELETED DELETED-STORAGE),
NO [OVERQUOTA] for each resource on APPEND, COPY, CREATE and `rampart
deliver`, MOVE and EXPUNGE at the limit, 8 concurrent APPENDs near the
limit, usage exact after kill -9 during a flood of APPENDs, and `rampart
user quota`. Every user gets its own limits, so the tests share a server."""
import re
import threading
import time

import pytest

from rampart_harness import Raw, Server, read_tagged, read_until

PASSWORD = "correct horse battery staple"
ROOT = b'"User quota"'


class Conn(Raw):
    """A raw TLS connection logged in as `user` (Raw's commands)."""

    def __init__(self, server, user):
        self.s = server.raw(tls=True)
        read_until(self.s, b"\r\n")
        self.n = 0
        self.tag = None
        self.ok(b'LOGIN %s "%s"' % (user.encode(), PASSWORD.encode()))

    def expect(self, text, status):
        """Runs a command whose tagged reply must start with status."""
        data, st = self.cmd(text)
        assert st.startswith(status), (text, data[-800:])
        return data

    def append(self, mailbox, msg):
        """APPEND with a synchronizing literal; the tagged status."""
        self.n += 1
        tag = b"t%d" % self.n
        self.s.sendall(tag + b" APPEND " + mailbox + b" {%d}\r\n" % len(msg))
        got = read_until(self.s, b"\r\n")
        if not got.startswith(b"+"):
            return got
        self.s.sendall(msg + b"\r\n")
        data = read_tagged(self.s, tag)
        return [l for l in data.split(b"\r\n") if l.startswith(tag + b" ")][-1][len(tag) + 1:]



def message(i, size=0):
    body = b"x" * size
    return b"From: a@example.org\r\nSubject: m%d\r\n\r\n%s\r\n" % (i, body)


def quota_of(data):
    """The resources of the first * QUOTA line: {name: (usage, limit)}."""
    m = re.search(rb'\* QUOTA "User quota" \(([^)]*)\)', data)
    assert m, data
    f = m.group(1).split()
    return {f[i].decode(): (int(f[i + 1]), int(f[i + 2])) for i in range(0, len(f), 3)}


def cli(server, *args, check=True):
    return server.rampart("user", "quota", "-c", server.conf_path, *args, check=check)


def shown(server, user):
    out = cli(server, user, "--show").stdout.decode()
    res = {}
    for line in out.splitlines():
        m = re.match(r"(\S+) usage=(\d+)(?: limit=(\S+) unit=\S+ from=(\S+))?", line)
        if m:
            res[m.group(1)] = (int(m.group(2)), m.group(3), m.group(4))
    return res


@pytest.fixture(scope="module")
def srv():
    s = Server(extra_config="[quota]\nadmins = boss, chief\n")
    for name in ("boss", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
                 "judy"):
        s.add_user(name, PASSWORD)
    yield s
    s.close()


def test_capabilities_after_login_only(srv):
    s = srv.raw(tls=True)
    greeting = read_until(s, b"\r\n")
    assert b"QUOTA" not in greeting
    s.close()
    c = Conn(srv, "alice")
    data = c.ok(b"CAPABILITY")
    for cap in (b"QUOTA", b"QUOTA=RES-STORAGE", b"QUOTA=RES-MESSAGE", b"QUOTA=RES-MAILBOX"):
        assert b" " + cap + b" " in data.replace(b"\r\n", b" "), (cap, data)
    # RFC 9208 4.1.3: QUOTASET only for [quota] admins (alice is not one).
    assert b"QUOTASET" not in data
    c.close()
    b = Conn(srv, "boss")
    assert b" QUOTASET " in b.ok(b"CAPABILITY").replace(b"\r\n", b" ")
    b.close()


def test_no_limits_no_root(srv):
    c = Conn(srv, "alice")
    data = c.ok(b"GETQUOTAROOT INBOX")
    assert b'* QUOTAROOT "INBOX"\r\n' in data and b"* QUOTA " not in data
    c.expect(b'GETQUOTA "User quota"', b"NO [NONEXISTENT]")
    c.expect(b'GETQUOTA ""', b"NO [NONEXISTENT]")
    c.expect(b"GETQUOTAROOT Nowhere", b"NO [NONEXISTENT]")
    c.expect(b"GETQUOTA", b"BAD")
    c.expect(b"GETQUOTAROOT", b"BAD")
    c.close()


def test_getquota_usage_every_resource(srv):
    cli(srv, "bob", "--storage", "1M", "--messages", "50", "--mailboxes", "20")
    c = Conn(srv, "bob")
    sizes = [len(message(i, 1500 * i)) for i in range(3)]
    for i in range(3):
        assert c.append(b"INBOX", message(i, 1500 * i)).startswith(b"OK")
    c.ok(b"CREATE Extra")
    data = c.ok(b"GETQUOTAROOT INBOX")
    assert b'* QUOTAROOT "INBOX" "User quota"\r\n' in data, data
    q = quota_of(data)
    assert q["STORAGE"] == (-(-sum(sizes) // 1024), 1024)
    assert q["MESSAGE"] == (3, 50)
    assert q["MAILBOX"] == (7, 20)   # six default mailboxes and Extra
    assert quota_of(c.ok(b'GETQUOTA "User quota"')) == q
    # Every mailbox has the same root.
    assert b'* QUOTAROOT "Extra" "User quota"' in c.ok(b"GETQUOTAROOT Extra")
    c.close()


def test_append_over_storage_refused(srv):
    cli(srv, "carol", "--storage", "4K")
    c = Conn(srv, "carol")
    assert c.append(b"INBOX", message(0, 3000)).startswith(b"OK")
    st = c.append(b"INBOX", message(1, 2000))
    assert st.startswith(b"NO [OVERQUOTA]"), st
    # Still room for a small one: only growth beyond the limit is refused.
    assert c.append(b"INBOX", message(2, 100)).startswith(b"OK")
    data = c.ok(b"SELECT INBOX")
    assert b"* 2 EXISTS" in data
    q = quota_of(c.ok(b'GETQUOTA "User quota"'))
    assert q["STORAGE"][0] <= 4 and list(q) == ["STORAGE"]
    c.close()


def test_message_limit_copy_move_expunge(srv):
    cli(srv, "dave", "--messages", "2")
    c = Conn(srv, "dave")
    assert c.append(b"INBOX", message(0)).startswith(b"OK")
    assert c.append(b"INBOX", message(1)).startswith(b"OK")
    assert c.append(b"INBOX", message(2)).startswith(b"NO [OVERQUOTA]")
    c.ok(b"SELECT INBOX")
    c.expect(b"COPY 1 Trash", b"NO [OVERQUOTA]")
    # MOVE does not grow usage: allowed at the limit.
    c.ok(b"MOVE 1 Trash")
    assert quota_of(c.ok(b'GETQUOTA "User quota"'))["MESSAGE"] == (2, 2)
    # EXPUNGE frees room.
    c.ok(b"STORE 1 +FLAGS (\\Deleted)")
    c.ok(b"EXPUNGE")
    assert quota_of(c.ok(b'GETQUOTA "User quota"'))["MESSAGE"] == (1, 2)
    assert c.append(b"INBOX", message(3)).startswith(b"OK")
    c.close()


def test_create_over_mailbox_limit(srv):
    cli(srv, "erin", "--mailboxes", "7")
    c = Conn(srv, "erin")
    c.ok(b"CREATE One")
    c.expect(b"CREATE Two", b"NO [OVERQUOTA]")
    assert b"Two" not in c.ok(b'LIST "" *')
    c.ok(b"DELETE One")
    c.ok(b"CREATE Two")
    assert quota_of(c.ok(b'GETQUOTA "User quota"'))["MAILBOX"] == (7, 7)
    # RENAME INBOX creates a mailbox too (RFC 9051 6.3.6); renaming
    # another one does not change the count.
    assert c.append(b"INBOX", message(1)).startswith(b"OK")
    c.expect(b"RENAME INBOX Old-Inbox", b"NO [OVERQUOTA]")
    assert b"Old-Inbox" not in c.ok(b'LIST "" *')
    assert b"* 1 EXISTS" in c.ok(b"SELECT INBOX")
    c.ok(b"RENAME Two Three")
    c.ok(b"DELETE Three")
    c.ok(b"RENAME INBOX Old-Inbox")
    assert quota_of(c.ok(b'GETQUOTA "User quota"'))["MAILBOX"] == (7, 7)
    c.close()


def test_status_deleted_storage(srv):
    c = Conn(srv, "frank")
    m0, m1 = message(0, 3000), message(1, 10)
    assert c.append(b"INBOX", m0).startswith(b"OK")
    assert c.append(b"INBOX", m1).startswith(b"OK")
    c.ok(b"SELECT INBOX")
    c.ok(b"STORE 1:2 +FLAGS (\\Deleted)")
    c.ok(b"UNSELECT")
    data = c.ok(b"STATUS INBOX (DELETED DELETED-STORAGE MESSAGES)")
    kib = -(-(len(m0) + len(m1)) // 1024)
    assert b'* STATUS "INBOX" (MESSAGES 2 DELETED 2 DELETED-STORAGE %d)' % kib in data, data
    data = c.ok(b'LIST "" INBOX RETURN (STATUS (DELETED-STORAGE))')
    assert b"DELETED-STORAGE %d" % kib in data, data
    c.close()


def test_setquota_admin_only(srv):
    c = Conn(srv, "grace")
    c.expect(b'SETQUOTA "User quota" (STORAGE 100)', b"NO [NOPERM]")
    c.close()
    b = Conn(srv, "boss")
    data = b.ok(b'SETQUOTA "User quota" (STORAGE 100 MESSAGE 5)')
    assert quota_of(data) == {"STORAGE": (0, 100), "MESSAGE": (0, 5)}
    assert shown(srv, "boss")["STORAGE"] == (0, "100", "user")
    # Resources left out lose their limit (RFC 9208 4.1.3).
    data = b.ok(b'SETQUOTA "User quota" (mailbox 30)')
    assert quota_of(data) == {"MAILBOX": (6, 30)}
    assert shown(srv, "boss")["MESSAGE"] == (0, "unlimited", "user")
    for bad in (b'SETQUOTA "User quota" STORAGE', b'SETQUOTA "User quota" (STORAGE)',
                b'SETQUOTA "User quota" (STORAGE x)', b'SETQUOTA "User quota" (STORAGE -1)',
                b'SETQUOTA "User quota" (STORAGE 9223372036854775808)',
                b'SETQUOTA "User quota" (STORAGE 1 STORAGE 2)', b'SETQUOTA "User quota"'):
        b.expect(bad, b"BAD")
    b.expect(b'SETQUOTA "User quota" (ANNOTATION-STORAGE 10)', b"NO")
    b.expect(b'SETQUOTA "User quota" (STORAGE 0)', b"NO [CANNOT]")
    b.expect(b'SETQUOTA "Other" (STORAGE 10)', b"NO [NONEXISTENT]")
    b.ok(b'SETQUOTA "User quota" ()')
    assert b"* QUOTA " not in b.ok(b"GETQUOTAROOT INBOX")
    b.close()


def test_concurrent_appends_never_exceed(srv):
    """8 clients APPEND at once with room for 3: exactly 3 pass."""
    user, room, clients = "heidi", 3, 8
    c = Conn(srv, user)
    assert c.append(b"INBOX", message(0)).startswith(b"OK")
    cli(srv, user, "--messages", str(1 + room))
    conns = [Conn(srv, user) for _ in range(clients)]
    results = [None] * clients
    go = threading.Barrier(clients)

    def run(i):
        go.wait(30)
        results[i] = conns[i].append(b"INBOX", message(100 + i, 2000))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    ok = [r for r in results if r and r.startswith(b"OK")]
    over = [r for r in results if r and r.startswith(b"NO [OVERQUOTA]")]
    assert len(ok) == room and len(over) == clients - room, results
    assert quota_of(c.ok(b'GETQUOTA "User quota"'))["MESSAGE"] == (1 + room, 1 + room)
    assert b"* %d EXISTS" % (1 + room) in c.ok(b"SELECT INBOX")
    for x in conns + [c]:
        x.close()


def test_deliver_over_quota(srv):
    cli(srv, "ivan", "--messages", "1")
    assert srv.deliver("ivan", message(0)).returncode == 0
    r = srv.deliver("ivan", message(1))
    assert r.returncode == 73 and b"over quota" in r.stderr, r
    assert shown(srv, "ivan")["MESSAGE"][0] == 1


def test_cli(srv):
    out = cli(srv, "judy", "--storage", "10G", "--messages", "1000").stdout.decode()
    assert "STORAGE usage=0 limit=10485760 unit=KiB from=user" in out, out
    assert "MESSAGE usage=0 limit=1000 unit=messages from=user" in out, out
    assert "MAILBOX usage=6 limit=unlimited unit=mailboxes from=default" in out, out
    out = cli(srv, "judy", "--storage", "default", "--mailboxes", "0").stdout.decode()
    assert "STORAGE usage=0 limit=unlimited unit=KiB from=default" in out, out
    assert "MAILBOX usage=6 limit=unlimited unit=mailboxes from=user" in out, out
    assert "recount ok" in cli(srv, "judy", "--recount").stdout.decode()
    assert cli(srv, "nobody", "--show", check=False).returncode == 67
    for bad in (["judy", "--storage", "10X"], ["judy", "--messages", "1K"],
                ["judy", "--messages"], ["--show"], ["judy", "--bogus"]):
        assert cli(srv, *bad, check=False).returncode == 64, bad
    assert srv.rampart("user", "quota", "help").returncode == 0


def test_config_defaults_and_overrides():
    s = Server(extra_config="[quota]\nstorage = 8K\nmessages = 2\nmailboxes = 7\n")
    try:
        s.add_user("bob", PASSWORD)
        c = Conn(s, "alice")
        q = quota_of(c.ok(b"GETQUOTAROOT INBOX"))
        assert q == {"STORAGE": (0, 8), "MESSAGE": (0, 2), "MAILBOX": (6, 7)}
        assert c.append(b"INBOX", message(0)).startswith(b"OK")
        assert c.append(b"INBOX", message(1)).startswith(b"OK")
        assert c.append(b"INBOX", message(2)).startswith(b"NO [OVERQUOTA]")
        # A per-user limit overrides the default for that user only.
        cli(s, "alice", "--messages", "3")
        assert c.append(b"INBOX", message(2)).startswith(b"OK")
        assert shown(s, "bob")["MESSAGE"] == (0, "2", "default")
        d = Conn(s, "bob")
        d.expect(b'SETQUOTA "User quota" (MESSAGE 10)', b"NO [NOPERM]")
        c.close()
        d.close()
    finally:
        s.close()


def test_kill9_flood_usage_equals_recount():
    """kill -9 while 4 clients APPEND, MOVE and EXPUNGE: after restart the
    stored counters equal a recount from the messages themselves."""
    s = Server()
    try:
        cli(s, "alice", "--storage", "100M")
        for rnd in range(3):
            stop = threading.Event()
            done = [0]

            def flood(i):
                try:
                    c = Conn(s, "alice")
                    c.ok(b"SELECT INBOX")
                    for n in range(400):
                        if stop.is_set():
                            break
                        c.append(b"INBOX", message(n, 100 * (i + n % 7)))
                        if n % 5 == 4:
                            c.cmd(b"MOVE 1 Trash")
                            c.cmd(b"STORE 1 +FLAGS (\\Deleted)")
                            c.cmd(b"EXPUNGE")
                        done[0] += 1
                except Exception:
                    pass

            threads = [threading.Thread(target=flood, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            deadline = time.time() + 20
            while done[0] < 10 * (rnd + 1) and time.time() < deadline:
                time.sleep(0.02)
            s.kill9()
            stop.set()
            for t in threads:
                t.join(30)
            out = cli(s, "alice", "--recount").stdout.decode()
            assert "recount ok" in out, out
            s.start()
        assert done[0] > 20, "too few appends to prove anything"
        c = Conn(s, "alice")
        q = quota_of(c.ok(b'GETQUOTA "User quota"'))
        exists = sum(int(x) for x in re.findall(rb"\* (\d+) EXISTS",
                                                c.ok(b"SELECT INBOX") + c.ok(b"SELECT Trash")))
        assert shown(s, "alice")["MESSAGE"][0] == exists
        assert q["STORAGE"][0] > 0
        c.close()
    finally:
        s.close()
