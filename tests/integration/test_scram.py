"""SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677) against the
real server over real TLS, with a SCRAM client written here (hashlib/hmac).

Channel binding data comes from the TLS connection the test holds:
tls-server-end-point (RFC 5929 4.1) is SHA-256 of the server certificate
from python's ssl; tls-exporter (RFC 9266) is exported from a TLS 1.3
connection made with pyOpenSSL (python 3.11's ssl has no exporter API).
Every negative case of the issue: wrong proof, wrong/missing/faked
binding, downgrade ("y" while -PLUS is offered), replayed and forged
nonces, unknown users answered like wrong passwords, authzid, oversized
responses, cancel, mechanisms switched off, nothing before TLS."""
import base64
import hashlib
import hmac
import os
import re
import select
import signal
import socket
import ssl
import time

import pytest

from rampart_harness import Server, read_tagged, read_until

try:
    from OpenSSL import SSL as OSSL
except ImportError:  # pragma: no cover - python3-openssl is a test dependency
    OSSL = None


def b64(data):
    return base64.b64encode(data).decode()


def escape(name):
    return name.replace("=", "=3D").replace(",", "=2C")


class ScramClient:
    """RFC 5802 client side; gs2 is the gs2-header, cbind the binding data."""

    def __init__(self, user, password, gs2="n,,", cbind=b"", nonce=None):
        self.user = user
        self.password = password
        self.gs2 = gs2
        self.cbind = cbind
        self.cnonce = nonce or b64(os.urandom(18))
        self.bare = "n=%s,r=%s" % (escape(user), self.cnonce)

    def first(self):
        return (self.gs2 + self.bare).encode()

    def parse_server_first(self, msg):
        attrs = dict(kv.split("=", 1) for kv in msg.split(","))
        self.server_first = msg
        self.nonce = attrs["r"]
        self.salt = base64.b64decode(attrs["s"])
        self.iter = int(attrs["i"])
        return attrs

    def final(self, server_first, nonce=None, cbind_field=None, password=None):
        self.parse_server_first(server_first)
        c = cbind_field if cbind_field is not None else b64(self.gs2.encode() + self.cbind)
        without_proof = "c=%s,r=%s" % (c, nonce or self.nonce)
        auth_msg = ",".join([self.bare, self.server_first, without_proof]).encode()
        salted = hashlib.pbkdf2_hmac("sha256", (password or self.password).encode(), self.salt,
                                     self.iter)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        sig = hmac.new(stored_key, auth_msg, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        self.expected_v = b64(hmac.new(server_key, auth_msg, hashlib.sha256).digest())
        return (without_proof + ",p=" + b64(proof)).encode()


class OsslSock:
    """A pyOpenSSL TLS connection with the recv/sendall the helpers use,
    bounded in time."""

    def __init__(self, host, port, cafile, version):
        ctx = OSSL.Context(OSSL.TLS_CLIENT_METHOD)
        ctx.set_min_proto_version(version)
        ctx.set_max_proto_version(version)
        ctx.load_verify_locations(cafile)
        ctx.set_verify(OSSL.VERIFY_PEER, lambda *a: a[-1])
        self.raw = socket.create_connection((host, port), 10)
        self.raw.setblocking(False)
        self.c = OSSL.Connection(ctx, self.raw)
        self.c.set_tlsext_host_name(b"localhost")
        self.c.set_connect_state()
        self._retry(self.c.do_handshake)

    def _retry(self, fn, *args):
        deadline = time.time() + 10
        while True:
            try:
                return fn(*args)
            except (OSSL.WantReadError, OSSL.WantWriteError):
                if time.time() > deadline:
                    raise AssertionError("TLS timeout")
                select.select([self.raw], [self.raw], [], 0.2)

    def recv(self, n):
        deadline = time.time() + 10
        while True:
            try:
                return self.c.recv(n)
            except OSSL.WantReadError:
                if time.time() > deadline:
                    raise socket.timeout("recv")
                select.select([self.raw], [], [], 0.2)
            except OSSL.ZeroReturnError:
                return b""

    def sendall(self, data):
        self._retry(self.c.sendall, data)

    def exporter(self):
        # RFC 9266 2: label "EXPORTER-Channel-Binding", no context, 32 bytes
        return self.c.export_keying_material(b"EXPORTER-Channel-Binding", 32, None)

    def version(self):
        return self.c.get_protocol_version_name()

    def close(self):
        self.raw.close()


@pytest.fixture(scope="module")
def srv():
    s = Server()
    yield s
    s.close()


def tls_sock(server, version):
    ctx = server.ssl_context()
    ctx.minimum_version = version
    ctx.maximum_version = version
    raw = socket.create_connection((server.host, server.port_tls), 10)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    s.settimeout(10)
    read_until(s, b"\r\n")
    return s


def ossl_sock(server, version=None):
    # python3-openssl is a test dependency (scripts/install-deps.sh): the
    # standard ssl module cannot export keying material.
    assert OSSL is not None, "python3-openssl is not installed"
    s = OsslSock(server.host, server.port_tls, server.cert, version or OSSL.TLS1_3_VERSION)
    read_until(s, b"\r\n")
    return s


def end_point(sock):
    """RFC 5929 4.1: the certificate's signature hash (SHA-256 here)."""
    return hashlib.sha256(sock.getpeercert(binary_form=True)).digest()


def line(sock):
    return read_until(sock, b"\r\n").decode()


def challenge(sock):
    ln = line(sock)
    assert ln.startswith("+ "), ln
    return base64.b64decode(ln[2:].strip()).decode()


def scram(sock, mech, client, tag=b"a", ir=True, final_kw=None):
    """Runs one exchange; returns (tagged response, server-final or None)."""
    first = b64(client.first()).encode()
    if ir:
        sock.sendall(b"%s AUTHENTICATE %s %s\r\n" % (tag, mech.encode(), first))
    else:
        sock.sendall(b"%s AUTHENTICATE %s\r\n" % (tag, mech.encode()))
        assert line(sock) == "+ \r\n"
        sock.sendall(first + b"\r\n")
    ln = line(sock)
    if not ln.startswith("+ "):
        return ln, None
    server_first = base64.b64decode(ln[2:].strip()).decode()
    sock.sendall(b64(client.final(server_first, **(final_kw or {}))).encode() + b"\r\n")
    ln = line(sock)
    if not ln.startswith("+ "):
        return ln, None
    server_final = base64.b64decode(ln[2:].strip()).decode()
    sock.sendall(b"\r\n")
    return read_tagged(sock, tag).decode(), server_final


def caps(sock):
    sock.sendall(b"c CAPABILITY\r\n")
    return read_tagged(sock, b"c").decode()


# ---- positive ----

@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
@pytest.mark.parametrize("ir", [True, False])
def test_scram_sha256_over_tls(srv, version, ir):
    s = tls_sock(srv, version)
    c = ScramClient(srv.user, srv.password)
    resp, final = scram(s, "SCRAM-SHA-256", c, ir=ir)
    assert resp.startswith("a OK [CAPABILITY"), resp
    # the server proved it knows the keys too (RFC 5802 3, ServerSignature)
    assert final == "v=" + c.expected_v
    assert c.iter == 10000 and len(c.salt) == 16
    server_part = c.nonce[len(c.cnonce):]
    assert c.nonce.startswith(c.cnonce) and len(server_part) >= 24 and "," not in server_part
    s.sendall(b"b SELECT INBOX\r\n")
    assert b"b OK" in read_tagged(s, b"b")
    s.close()
    assert "event=login result=ok ip=127.0.0.1 user=alice mech=SCRAM-SHA-256 " in srv.log()


def plus_end_point_login(srv, s):
    """SCRAM-SHA-256-PLUS with tls-server-end-point over the TLS socket s."""
    assert "AUTH=SCRAM-SHA-256-PLUS" in caps(s)
    c = ScramClient(srv.user, srv.password, gs2="p=tls-server-end-point,,", cbind=end_point(s))
    resp, final = scram(s, "SCRAM-SHA-256-PLUS", c)
    assert resp.startswith("a OK"), resp
    assert final == "v=" + c.expected_v
    s.close()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_plus_tls_server_end_point(srv, version):
    plus_end_point_login(srv, tls_sock(srv, version))
    assert "user=alice mech=SCRAM-SHA-256-PLUS" in srv.log()


def test_plus_after_starttls(srv):
    raw = socket.create_connection((srv.host, srv.port_starttls), 10)
    raw.settimeout(10)
    read_until(raw, b"\r\n")
    assert "SCRAM" not in caps(raw)
    raw.sendall(b"s STARTTLS\r\n")
    read_until(raw, b"s OK")
    plus_end_point_login(srv, srv.ssl_context().wrap_socket(raw, server_hostname="localhost"))


def test_plus_tls_exporter_tls13(srv):
    s = ossl_sock(srv)
    assert s.version() == "TLSv1.3"
    c = ScramClient(srv.user, srv.password, gs2="p=tls-exporter,,", cbind=s.exporter())
    resp, final = scram(s, "SCRAM-SHA-256-PLUS", c)
    assert resp.startswith("a OK"), resp
    assert final == "v=" + c.expected_v
    s.close()


def test_authzid_same_user_and_escaped_names(srv):
    s = tls_sock(srv, ssl.TLSVersion.TLSv1_3)
    c = ScramClient(srv.user, srv.password, gs2="n,a=%s," % srv.user)
    resp, _ = scram(s, "SCRAM-SHA-256", c)
    assert resp.startswith("a OK"), resp
    s.close()


# ---- negative ----

def expect_fail(resp, code=b"AUTHENTICATIONFAILED"):
    assert re.match(r"a NO \[%s\]" % code.decode(), resp), resp


def fresh(srv, version=ssl.TLSVersion.TLSv1_3):
    return tls_sock(srv, version)


def test_wrong_proof(srv):
    s = fresh(srv)
    t0 = time.time()
    resp, final = scram(s, "SCRAM-SHA-256", ScramClient(srv.user, srv.password),
                        final_kw={"password": "not the password"})
    expect_fail(resp)
    assert final is None
    assert time.time() - t0 >= 0.2   # the delayed failure of every mechanism
    s.close()
    assert "result=fail ip=127.0.0.1 user=alice mech=SCRAM-SHA-256 reason=bad_credentials" in srv.log()


def test_three_failures_close_the_connection(srv):
    """SCRAM failures count like wrong passwords (3 per connection)."""
    s = fresh(srv)
    for tag in [b"a", b"b", b"c"]:
        resp, _ = scram(s, "SCRAM-SHA-256", ScramClient(srv.user, srv.password), tag=tag,
                        final_kw={"password": "wrong"})
        assert resp.startswith(tag.decode() + " NO [AUTHENTICATIONFAILED]"), resp
    rest = resp.encode()
    if b"* BYE" not in rest:
        rest += read_until(s, b"* BYE")
    assert b"* BYE Too many authentication failures" in rest
    s.close()


def test_unknown_user_same_answer(srv):
    answers, salts = [], []
    for _ in range(2):
        s = fresh(srv)
        c = ScramClient("nobody", "whatever")
        resp, _ = scram(s, "SCRAM-SHA-256", c)
        answers.append(resp.split(" ", 2)[2])
        salts.append((c.salt, c.iter))
        s.close()
    s = fresh(srv)
    resp, _ = scram(s, "SCRAM-SHA-256", ScramClient(srv.user, "wrong"))
    s.close()
    assert answers[0] == answers[1] == resp.split(" ", 2)[2]
    # a stable salt per name, like a real user's, with the default count
    assert salts[0] == salts[1] and len(salts[0][0]) == 16 and salts[0][1] == 10000


def test_forged_and_replayed_nonce(srv):
    s = fresh(srv)
    c = ScramClient(srv.user, srv.password)
    # The right password with a nonce other than the one the server chose
    resp, _ = scram(s, "SCRAM-SHA-256", c, final_kw={"nonce": c.cnonce + "forged"})
    expect_fail(resp)
    s.close()
    # Record a good exchange, then replay its client-final on a new one
    s = fresh(srv)
    c = ScramClient(srv.user, srv.password, nonce="fixed-client-nonce")
    first = b64(c.first()).encode()
    s.sendall(b"a AUTHENTICATE SCRAM-SHA-256 " + first + b"\r\n")
    recorded = c.final(challenge(s))
    s.sendall(b64(recorded).encode() + b"\r\n")
    assert challenge(s).startswith("v=")
    s.sendall(b"\r\n")
    assert b"a OK" in read_tagged(s, b"a")
    s.close()
    s = fresh(srv)
    s.sendall(b"a AUTHENTICATE SCRAM-SHA-256 " + first + b"\r\n")
    challenge(s)   # a new server nonce
    s.sendall(b64(recorded).encode() + b"\r\n")
    expect_fail(read_tagged(s, b"a").decode())
    s.close()
    assert "reason=nonce" in srv.log()


def test_faked_plus_binding(srv):
    """The 2026 Dovecot CVE: -PLUS accepted with a binding the client only
    claimed. Wrong data, the header without data, another connection's data."""
    s = ossl_sock(srv)
    other = ossl_sock(srv)
    cases = [
        ("p=tls-exporter,,", os.urandom(32)),
        ("p=tls-exporter,,", b""),
        ("p=tls-exporter,,", other.exporter()),
    ]
    for gs2, data in cases:
        c = ScramClient(srv.user, srv.password, gs2=gs2, cbind=data)
        resp, final = scram(s, "SCRAM-SHA-256-PLUS", c)
        expect_fail(resp)
        assert final is None
        s.close()
        s = ossl_sock(srv)
    # c= naming a different gs2-header than the one sent first
    right = s.exporter()
    c = ScramClient(srv.user, srv.password, gs2="p=tls-exporter,,", cbind=right)
    resp, _ = scram(s, "SCRAM-SHA-256-PLUS", c,
                    final_kw={"cbind_field": b64(b"p=tls-server-end-point,," + right)})
    expect_fail(resp)
    s.close()
    other.close()
    assert "mech=SCRAM-SHA-256-PLUS reason=channel_binding" in srv.log()


def test_binding_type_must_fit_the_connection(srv):
    # tls-exporter is defined for TLS 1.3 only (RFC 9266)
    s = fresh(srv, ssl.TLSVersion.TLSv1_2)
    c = ScramClient(srv.user, srv.password, gs2="p=tls-exporter,,", cbind=os.urandom(32))
    expect_fail(scram(s, "SCRAM-SHA-256-PLUS", c)[0])
    s.close()
    # tls-unique and unknown types are not supported
    for t in ["tls-unique", "made-up"]:
        s = fresh(srv)
        c = ScramClient(srv.user, srv.password, gs2="p=%s,," % t, cbind=b"x" * 12)
        expect_fail(scram(s, "SCRAM-SHA-256-PLUS", c)[0])
        s.close()
    assert "reason=channel_binding_type" in srv.log()


def test_gs2_flag_rules(srv):
    # "y" while -PLUS is offered on this connection: a downgrade (RFC 5802 6)
    s = fresh(srv)
    expect_fail(scram(s, "SCRAM-SHA-256", ScramClient(srv.user, srv.password, gs2="y,,"))[0])
    s.close()
    # "p=" with the mechanism that has no binding
    s = fresh(srv, ssl.TLSVersion.TLSv1_2)
    c = ScramClient(srv.user, srv.password, gs2="p=tls-server-end-point,,", cbind=end_point(s))
    expect_fail(scram(s, "SCRAM-SHA-256", c)[0])
    s.close()
    # -PLUS without a binding ("n")
    s = fresh(srv)
    expect_fail(scram(s, "SCRAM-SHA-256-PLUS", ScramClient(srv.user, srv.password))[0])
    s.close()
    log = srv.log()
    assert "user=alice mech=SCRAM-SHA-256 reason=channel_binding_downgrade" in log
    assert "reason=channel_binding_without_plus" in log
    assert "user=alice mech=SCRAM-SHA-256-PLUS reason=channel_binding_missing" in log


def test_authzid_mismatch_and_extensions(srv):
    s = fresh(srv)
    c = ScramClient(srv.user, srv.password, gs2="n,a=root,")
    expect_fail(scram(s, "SCRAM-SHA-256", c)[0], b"AUTHORIZATIONFAILED")
    s.close()
    # RFC 5802 5.1: an unknown mandatory extension must fail
    s = fresh(srv)
    s.sendall(b"a AUTHENTICATE SCRAM-SHA-256 " +
              b64(b"n,,m=ext,n=alice,r=abcdefgh").encode() + b"\r\n")
    expect_fail(read_tagged(s, b"a").decode())
    s.close()


def test_malformed_and_oversized_responses_keep_connection_sane(srv):
    s = fresh(srv)
    for bad in [b"not base64!", b64(b"x,,n=alice,r=abc").encode(), b64(b"n,,r=abc").encode(),
                b64(b"n,,n=al=ZZice,r=abc").encode()]:
        s.sendall(b"a AUTHENTICATE SCRAM-SHA-256 " + bad + b"\r\n")
        assert read_tagged(s, b"a").startswith(b"a BAD"), bad
    # an oversized continuation: refused before decoding, the session lives on
    s.sendall(b"b AUTHENTICATE SCRAM-SHA-256\r\n")
    assert line(s) == "+ \r\n"
    s.sendall(b"QUFB" * 4000 + b"\r\n")
    assert read_tagged(s, b"b").startswith(b"b BAD [TOOBIG]")
    s.sendall(b"c NOOP\r\n")
    assert b"c OK" in read_tagged(s, b"c")
    # "*" cancels in the middle (RFC 9051 6.2.2), then a full exchange works
    c = ScramClient(srv.user, srv.password)
    s.sendall(b"d AUTHENTICATE SCRAM-SHA-256 " + b64(c.first()).encode() + b"\r\n")
    challenge(s)
    s.sendall(b"*\r\n")
    assert read_tagged(s, b"d").startswith(b"d BAD")
    resp, _ = scram(s, "SCRAM-SHA-256", ScramClient(srv.user, srv.password), tag=b"e")
    assert resp.startswith("e OK"), resp
    s.close()


def test_non_empty_answer_to_server_final_is_refused(srv):
    s = fresh(srv)
    c = ScramClient(srv.user, srv.password)
    s.sendall(b"a AUTHENTICATE SCRAM-SHA-256 " + b64(c.first()).encode() + b"\r\n")
    s.sendall(b64(c.final(challenge(s))).encode() + b"\r\n")
    assert challenge(s).startswith("v=")
    s.sendall(b"eHl6\r\n")
    assert read_tagged(s, b"a").startswith(b"a BAD")
    s.sendall(b"b NOOP\r\n")   # still not logged in
    s.sendall(b"c SELECT INBOX\r\n")
    assert b"c BAD" in read_tagged(s, b"c")
    s.close()


def test_nothing_before_tls(srv):
    s = socket.create_connection((srv.host, srv.port_starttls), 10)
    s.settimeout(10)
    read_until(s, b"\r\n")
    assert "AUTH=" not in caps(s)
    c = ScramClient(srv.user, srv.password)
    s.sendall(b"a AUTHENTICATE SCRAM-SHA-256 " + b64(c.first()).encode() + b"\r\n")
    assert b"a NO [PRIVACYREQUIRED]" in read_tagged(s, b"a")
    s.sendall(b"b AUTHENTICATE SCRAM-SHA-256-PLUS\r\n")
    assert b"b NO [PRIVACYREQUIRED]" in read_tagged(s, b"b")
    s.close()


def test_app_passwords_only_user_cannot_use_scram(srv):
    srv.add_user("carol", "Vq7#kR2p!xLm9-Ztw")
    users = os.path.join(srv.dir, "users")
    with open(users) as f:
        text = f.read()
    text = re.sub(r"^(carol:.*)$", r"\1 app_passwords_only=yes", text, flags=re.M)
    with open(users, "w") as f:
        f.write(text)
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "app_passwords_only" not in srv.log() and time.time() < deadline:
        s = fresh(srv)
        resp, _ = scram(s, "SCRAM-SHA-256", ScramClient("carol", "Vq7#kR2p!xLm9-Ztw"))
        s.close()
        if resp.startswith("a OK"):
            time.sleep(0.2)
            continue
        expect_fail(resp)
    assert "user=carol mech=SCRAM-SHA-256 reason=app_passwords_only" in srv.log()


def test_mechanism_switched_off():
    s = Server(extra_config="[auth]\nmechanisms = PLAIN, scram-sha-256\n")
    try:
        sock = tls_sock(s, ssl.TLSVersion.TLSv1_3)
        cap = caps(sock)
        assert "AUTH=SCRAM-SHA-256 " in cap and "AUTH=PLAIN" in cap
        assert "SCRAM-SHA-256-PLUS" not in cap and "AUTH=LOGIN" not in cap
        sock.sendall(b"a AUTHENTICATE SCRAM-SHA-256-PLUS\r\n")
        assert b"a NO [CANNOT]" in read_tagged(sock, b"a")
        sock.sendall(b"b AUTHENTICATE LOGIN\r\n")
        assert b"b NO [CANNOT]" in read_tagged(sock, b"b")
        # with no -PLUS offered, "y" is no downgrade
        resp, _ = scram(sock, "SCRAM-SHA-256", ScramClient(s.user, s.password, gs2="y,,"),
                        tag=b"c")
        assert resp.startswith("c OK"), resp
        sock.close()
        # an unknown name is refused when the configuration is loaded
        with open(s.conf_path, "a") as f:
            f.write("[auth]\nmechanisms = PLAIN SCRAM-SHA-1\n")
        with open(s.conf_path) as f:
            text = f.read().replace("mechanisms = PLAIN, scram-sha-256\n", "")
        with open(s.conf_path, "w") as f:
            f.write(text)
        r = s.rampart("config", "check", "-c", s.conf_path, check=False)
        assert r.returncode != 0
        assert b"unknown mechanism 'SCRAM-SHA-1'" in r.stderr
    finally:
        s.close()


def test_trusted_network_without_tls_offers_scram_but_not_plus():
    s = Server(trusted_networks="127.0.0.1")
    try:
        sock = socket.create_connection((s.host, s.port_starttls), 10)
        sock.settimeout(10)
        read_until(sock, b"\r\n")
        cap = caps(sock)
        assert "AUTH=SCRAM-SHA-256 " in cap and "SCRAM-SHA-256-PLUS" not in cap
        resp, _ = scram(sock, "SCRAM-SHA-256", ScramClient(s.user, s.password))
        assert resp.startswith("a OK"), resp
        sock.close()
    finally:
        s.close()
