"""Many devices at once: sessions of one user see each other's new mail,
flag changes and expunges; IDLE wakes promptly for APPEND and deliver."""
import time

from rampart_harness import Server, read_until

MSG = b"From: a@example.org\r\nSubject: sync\r\n\r\nhello\r\n"


def login_raw(server, select="INBOX"):
    s = server.raw(tls=True)
    read_until(s, b"\r\n")
    s.sendall(b"a LOGIN %s \"%s\"\r\n" % (server.user.encode(), server.password.encode()))
    read_until(s, b"a OK")
    if select:
        s.sendall(b"b SELECT %s\r\n" % select.encode())
        read_until(s, b"b OK")
    return s


def test_noop_reports_exists_flags_expunge(server):
    a = server.imap_tls()
    a.select("INBOX")
    a.append("INBOX", None, None, MSG)
    a.append("INBOX", None, None, MSG)
    b = login_raw(server)
    # b knows 2 messages; a adds one, flags one, expunges one.
    a.append("INBOX", None, None, MSG)
    a.store("1", "+FLAGS", "(\\Flagged)")
    time.sleep(0.2)
    b.sendall(b"n1 NOOP\r\n")
    data = read_until(b, b"n1 OK")
    assert b"* 3 EXISTS" in data, data
    assert b"* 1 FETCH (FLAGS (\\Flagged))" in data, data
    a.store("2", "+FLAGS", "(\\Deleted)")
    a.expunge()
    time.sleep(0.2)
    b.sendall(b"n2 NOOP\r\n")
    data = read_until(b, b"n2 OK")
    assert b"* 2 EXPUNGE" in data, data
    b.close()
    a.logout()


def test_no_expunge_during_fetch(server):
    a = server.imap_tls()
    a.select("INBOX")
    for _ in range(3):
        a.append("INBOX", None, None, MSG)
    b = login_raw(server)
    a.store("1", "+FLAGS", "(\\Deleted)")
    a.expunge()
    time.sleep(0.2)
    b.sendall(b"f1 FETCH 1:* (FLAGS)\r\n")
    data = read_until(b, b"f1 OK")
    assert b" EXPUNGE\r\n" not in data
    b.sendall(b"f2 NOOP\r\n")
    data = read_until(b, b"f2 OK")
    assert b"* 1 EXPUNGE" in data
    b.close()
    a.logout()


def idle_wait(sock, marker, timeout):
    t0 = time.time()
    data = read_until(sock, marker, timeout=timeout)
    return data, time.time() - t0


def test_idle_wakes_on_append_from_other_session(server):
    b = login_raw(server)
    b.sendall(b"i IDLE\r\n")
    assert read_until(b, b"\r\n").startswith(b"+")
    a = server.imap_tls()
    t0 = time.time()
    a.append("INBOX", None, None, MSG)
    data = read_until(b, b"EXISTS", timeout=5)
    assert time.time() - t0 < 1.0
    assert b"* 1 EXISTS" in data
    b.sendall(b"DONE\r\n")
    read_until(b, b"i OK")
    a.logout()
    b.close()


def test_idle_wakes_on_deliver(server):
    b = login_raw(server)
    b.sendall(b"i IDLE\r\n")
    read_until(b, b"\r\n")
    t0 = time.time()
    r = server.deliver(server.user, MSG)
    assert r.returncode == 0, r.stderr
    data = read_until(b, b"EXISTS", timeout=5)
    assert time.time() - t0 < 1.5
    assert b"* 1 EXISTS" in data
    b.sendall(b"DONE\r\n")
    read_until(b, b"i OK")
    b.close()


def test_idle_bad_continuation_and_flag_change(server):
    a = server.imap_tls()
    a.append("INBOX", None, None, MSG)
    a.select("INBOX")
    b = login_raw(server)
    b.sendall(b"i IDLE\r\n")
    read_until(b, b"\r\n")
    a.store("1", "+FLAGS", "(\\Seen)")
    data = read_until(b, b"FETCH", timeout=5)
    assert b"\\Seen" in data
    b.sendall(b"NOPE\r\n")
    assert b"i BAD" in read_until(b, b"i BAD")
    b.close()
    a.logout()


def test_deliver_exit_codes(server):
    assert server.deliver("nobody", MSG).returncode == 67
    assert server.deliver(server.user, b"").returncode == 65
    assert server.deliver(server.user, MSG, "NoSuchFolder").returncode == 0
    c = server.imap_tls()
    typ, data = c.status("INBOX", "(MESSAGES)")
    assert b"MESSAGES 1" in data[0]
    c.logout()


def test_logout_and_timeout_bye(server):
    c = server.imap_tls()
    typ, data = c.logout()
    assert typ == "BYE"


def test_idle_on_every_worker_wakes():
    """A change is posted only to the workers that have sessions of the
    user (issue #14, imap/notify.c): IDLE sessions spread over four
    workers by SO_REUSEPORT all wake for one APPEND, and still do after
    some of them logged out (their workers' share forgotten)."""
    s = Server(workers=4)
    try:
        idlers = []
        for i in range(12):
            b = login_raw(s)
            b.sendall(b"i IDLE\r\n")
            assert read_until(b, b"\r\n").startswith(b"+")
            idlers.append(b)
        a = s.imap_tls()
        a.append("INBOX", None, None, MSG)
        for b in idlers:
            assert b"* 1 EXISTS" in read_until(b, b"EXISTS", timeout=5)
        for b in idlers[:9]:
            b.sendall(b"DONE\r\n")
            read_until(b, b"i OK")
            b.sendall(b"z LOGOUT\r\n")
            read_until(b, b"z OK")
            b.close()
        a.append("INBOX", None, None, MSG)
        for b in idlers[9:]:
            assert b"* 2 EXISTS" in read_until(b, b"EXISTS", timeout=5)
            b.close()
        a.logout()
    finally:
        s.close()
