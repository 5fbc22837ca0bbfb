"""The authentication cache ([auth] cache_ttl, cache_size; auth/authcache.c)
against a real server over real TLS: a second LOGIN within the ttl is
answered from the cache (the audit line says cache=hit, the Prometheus
counter moves); a wrong password is never cached and makes the next right
one pay the full check; a password changed with `rampart user passwd` is
refused at once and the new one accepted; a deleted user, a user switched
to app passwords only and a user restricted to other networks are refused
even with a warm cache; a lockout forgets the user; SIGHUP forgets
everything; entries expire; cache_ttl = 0 turns it off.

One server for the file; the tests run in order, each with users of its
own, and failures come from sources of their own (the client socket is
bound to 127.0.0.x) so that the lockout of one test cannot touch another.
The first test uses the harness's argon2id user; the others get {SSHA512}
entries written directly (cheap to make and to check; the cache does not
care about the scheme), with upgrade_on_login off so that no rehash
changes their hash under the test. No timing is asserted: the ttl test
only requires a miss after the ttl."""
import base64
import hashlib
import os
import re
import signal
import socket
import time
import urllib.request

import pytest

from rampart_harness import Server, read_tagged, read_until

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "purple monkey dishwasher 42"
HOME = "127.0.0.1"


@pytest.fixture(scope="module")
def srv():
    s = Server(extra_config="[auth]\ncache_ttl = 300\ncache_size = 1000\n"
                            "[passwords]\nupgrade_on_login = no\n",
               policy={"lockout_failures": 3, "lockout_duration": 600,
                       "lockout_max_duration": 600}, fail_delay_ms=20)
    yield s
    s.stop()


def add_user(srv, name, password=PASSWORD):
    """A {SSHA512} entry appended to the users file (the server re-reads it
    on the next login)."""
    salt = os.urandom(8)
    h = base64.b64encode(hashlib.sha512(password.encode() + salt).digest() + salt).decode()
    with open(os.path.join(srv.dir, "users"), "a") as f:
        f.write("%s:{SSHA512}%s\n" % (name, h))


def login(srv, user, password, source=HOME):
    """One LOGIN on a fresh TLS connection from `source`: the tagged line."""
    s = socket.create_connection((srv.host, srv.port_tls), 30, source_address=(source, 0))
    try:
        s = srv.ssl_context().wrap_socket(s, server_hostname="localhost")
        s.settimeout(60)
        read_until(s, b"\r\n", timeout=60)
        s.sendall(b'a LOGIN "%s" "%s"\r\n' % (user.encode(), password.encode()))
        data = read_tagged(s, b"a", timeout=60)
        tagged = [l for l in data.split(b"\r\n") if l.startswith(b"a ")]
        assert tagged, data
        return tagged[-1]
    finally:
        s.close()


def cache_fields(srv, user, n):
    """The result and cache= fields of the first n audit lines of user,
    waiting (bounded) until there are n."""
    pat = re.compile(r"event=login result=(\w+) ip=\S+ user=%s mech=\S+ .* cache=(\S+)$"
                     % re.escape(user), re.M)
    deadline = time.time() + 10
    while True:
        found = pat.findall(srv.log())
        if len(found) >= n or time.time() > deadline:
            return found[:n] if len(found) >= n else found
        time.sleep(0.05)


def metric(srv, result):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.port_http, timeout=10) as r:
        text = r.read().decode()
    m = re.search(r'^rampart_auth_cache_total\{result="%s"\} (\d+)$' % result, text, re.M)
    assert m, text
    return int(m.group(1))


def warm(srv, user, password=PASSWORD):
    """Two LOGINs from home: the second is answered from the cache."""
    assert ok(login(srv, user, password))
    assert ok(login(srv, user, password))


def ok(line):
    return line.startswith(b"a OK")


def no(line):
    return line.startswith(b"a NO [AUTHENTICATIONFAILED]")


def reload(srv, ttl=None):
    """SIGHUP, after setting cache_ttl when given; returns once the server
    logged the reload."""
    if ttl is not None:
        with open(srv.conf_path) as f:
            conf = f.read()
        conf = re.sub(r"^cache_ttl = \d+$", "cache_ttl = %d" % ttl, conf, flags=re.M)
        with open(srv.conf_path, "w") as f:
            f.write(conf)
    before = srv.log().count("event=reload what=config")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 20
    while srv.log().count("event=reload what=config") == before:
        assert time.time() < deadline, srv.log()[-3000:]
        time.sleep(0.05)


def test_second_login_is_a_hit(srv):
    """The harness's user: argon2id, as `rampart user add` makes it."""
    hits, misses = metric(srv, "hit"), metric(srv, "miss")
    warm(srv, srv.user)
    assert cache_fields(srv, srv.user, 2) == [("ok", "miss"), ("ok", "hit")]
    assert metric(srv, "hit") == hits + 1
    assert metric(srv, "miss") == misses + 1
    assert PASSWORD not in srv.log()


def test_wrong_password_not_cached_and_forgets(srv):
    add_user(srv, "wrong1")
    warm(srv, "wrong1")
    assert no(login(srv, "wrong1", "not the password", source="127.0.0.31"))
    assert no(login(srv, "wrong1", "not the password", source="127.0.0.31"))
    # the failure made the next right password pay the full check
    assert ok(login(srv, "wrong1", PASSWORD))
    assert cache_fields(srv, "wrong1", 5) == [("ok", "miss"), ("ok", "hit"), ("fail", "miss"),
                                              ("fail", "miss"), ("ok", "miss")]


def test_password_change_counts_at_once(srv):
    add_user(srv, "pwchg")
    warm(srv, "pwchg")
    srv.rampart("user", "passwd", "-c", srv.conf_path, "pwchg", "--password-stdin",
                input=(NEW_PASSWORD + "\n").encode())
    srv._chown()
    assert no(login(srv, "pwchg", PASSWORD, source="127.0.0.32"))
    assert ok(login(srv, "pwchg", NEW_PASSWORD))
    assert ok(login(srv, "pwchg", NEW_PASSWORD))
    assert cache_fields(srv, "pwchg", 5) == [("ok", "miss"), ("ok", "hit"), ("fail", "miss"),
                                             ("ok", "miss"), ("ok", "hit")]


def test_deleted_user_refused(srv):
    add_user(srv, "gone1")
    warm(srv, "gone1")
    srv.rampart("user", "del", "-c", srv.conf_path, "gone1")
    assert no(login(srv, "gone1", PASSWORD, source="127.0.0.33"))
    assert cache_fields(srv, "gone1", 3)[2] == ("fail", "-")


def test_checks_around_the_hash_still_run(srv):
    """app_passwords_only and allow_nets set after the entry was made."""
    add_user(srv, "apo1")
    add_user(srv, "nets1")
    for u in ("apo1", "nets1"):
        warm(srv, u)
    srv.rampart("user", "modify", "-c", srv.conf_path, "apo1", "--app-passwords-only", "yes")
    srv.rampart("user", "modify", "-c", srv.conf_path, "nets1", "--from", "10.0.0.0/8")
    srv._chown()
    assert no(login(srv, "apo1", PASSWORD, source="127.0.0.34"))
    assert no(login(srv, "nets1", PASSWORD, source="127.0.0.35"))
    assert cache_fields(srv, "apo1", 3)[2] == ("fail", "-")
    assert cache_fields(srv, "nets1", 3)[2] == ("fail", "-")
    assert re.search(r"result=fail ip=127\.0\.0\.34 user=apo1 mech=LOGIN "
                     r"reason=app_passwords_only ", srv.log())
    assert re.search(r"result=fail ip=127\.0\.0\.35 user=nets1 mech=LOGIN "
                     r"reason=source_not_allowed ", srv.log())


def test_lockout_forgets_the_user(srv):
    add_user(srv, "lock1")
    warm(srv, "lock1")
    # lock the source 127.0.0.40 with failures on another name (the
    # bucket drains a little between them: one more than the threshold)
    for _ in range(4):
        assert no(login(srv, "lock-other", "guess", source="127.0.0.40"))
    # the right password from the locked source is refused (and forgets)
    assert no(login(srv, "lock1", PASSWORD, source="127.0.0.40"))
    assert ok(login(srv, "lock1", PASSWORD))
    assert cache_fields(srv, "lock1", 4) == [("ok", "miss"), ("ok", "hit"), ("locked", "-"),
                                             ("ok", "miss")]


def test_sighup_forgets(srv):
    add_user(srv, "hup1")
    warm(srv, "hup1")
    reload(srv)
    assert ok(login(srv, "hup1", PASSWORD))
    assert cache_fields(srv, "hup1", 3) == [("ok", "miss"), ("ok", "hit"), ("ok", "miss")]


def test_ttl_expires(srv):
    add_user(srv, "ttl1")
    reload(srv, ttl=1)
    try:
        assert ok(login(srv, "ttl1", PASSWORD))
        time.sleep(1.2)
        assert ok(login(srv, "ttl1", PASSWORD))
        assert cache_fields(srv, "ttl1", 2) == [("ok", "miss"), ("ok", "miss")]
    finally:
        reload(srv, ttl=300)


def test_ttl_zero_is_off(srv):
    add_user(srv, "off1")
    reload(srv, ttl=0)
    try:
        hits, misses = metric(srv, "hit"), metric(srv, "miss")
        assert ok(login(srv, "off1", PASSWORD))
        assert ok(login(srv, "off1", PASSWORD))
        assert cache_fields(srv, "off1", 2) == [("ok", "off"), ("ok", "off")]
        assert (metric(srv, "hit"), metric(srv, "miss")) == (hits, misses)
    finally:
        reload(srv, ttl=300)
    assert re.search(r"event=reload what=config changed=auth\.cache_ttl restart_needed=-",
                     srv.log())
