"""OAuth bearer tokens against the real server over real TLS: AUTHENTICATE
OAUTHBEARER (RFC 7628) and XOAUTH2 with python imaplib and curl's
--oauth2-bearer, tokens minted here (tests/integration/oauth_tokens.py,
keys generated per run), every refusal answered with the RFC 7628 error
JSON then NO; the JWKS re-read on SIGHUP; a bad JWKS refusing the start.

The tests that log in need the mechanisms wired into AUTHENTICATE; until
the server advertises AUTH=OAUTHBEARER they are skipped (the [oauth]
configuration, startup and reload tests run regardless)."""
import imaplib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from oauth_tokens import Issuer, new_key, oauthbearer_message, xoauth2_message
from rampart_harness import BIN, Server, free_port

ISS = "https://idp.example.test/realms/mail"
AUD = "rampart-imap"
DISCOVERY = ISS + "/.well-known/openid-configuration"
EX_CONFIG = 78


def oauth_section(jwks, **over):
    keys = {"jwks_file": jwks, "issuer": ISS, "audience": AUD,
            "username_claim": "preferred_username", "scope": "openid email",
            "openid_configuration": DISCOVERY}
    keys.update(over)
    return "[oauth]\n" + "".join("%s = %s\n" % (k, v) for k, v in keys.items() if v is not None)


class Env:
    """An issuer, its JWKS in a directory the run user can read, and a
    server trusting it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rampart-oauth-")
        os.chmod(self.dir, 0o755)
        self.jwks = os.path.join(self.dir, "jwks.json")
        self.idp = Issuer(ISS, AUD)
        self.idp.write_jwks(self.jwks)
        self.server = None
        self.server = Server(extra_config=oauth_section(self.jwks))
        mark = len(self.server.log())
        self.server.add_user("bob", "another long passphrase 42")
        self.server.proc.send_signal(signal.SIGHUP)
        assert wait_log(self.server, "what=users_file", mark)

    def close(self):
        if self.server:
            self.server.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def env():
    e = Env()
    yield e
    e.close()


def offered(server, mech):
    c = server.imap_tls(login=False)
    try:
        return "AUTH=" + mech in c.capabilities
    finally:
        c.logout()


@pytest.fixture
def wired(env):
    if not offered(env.server, "OAUTHBEARER"):
        pytest.skip("AUTH=OAUTHBEARER not advertised yet (the SASL mechanisms are wired by "
                    "another part of issue #11)")
    assert offered(env.server, "XOAUTH2")
    return env


def authenticate(server, mech, message, dummy=b"\x01"):
    """AUTHENTICATE mech with imaplib. Returns (ok, challenges after the
    first, the connection or None). An error challenge is answered with
    `dummy` (RFC 7628 3.2.3)."""
    c = server.imap_tls(login=False)
    seen = []

    def step(challenge):
        if not seen:
            seen.append(challenge)
            return message
        seen.append(challenge)
        return dummy

    try:
        typ, _ = c.authenticate(mech, step)
        return typ == "OK", seen[1:], c
    except imaplib.IMAP4.error:
        c.logout()
        return False, seen[1:], None


# ---- logging in ----

def test_oauthbearer_login_then_select(wired):
    s = wired.server
    tok = wired.idp.mint(s.user)
    ok, extra, c = authenticate(s, "OAUTHBEARER", oauthbearer_message(tok, authzid=s.user,
                                                                       port=s.port_tls))
    assert ok and extra == [], extra
    assert c.select("INBOX")[0] == "OK"
    c.logout()
    # ES256, and without an authzid
    ok, extra, c = authenticate(s, "OAUTHBEARER", oauthbearer_message(wired.idp.mint(s.user, alg="ES256")))
    assert ok, (extra, s.log()[-1500:])
    c.logout()
    assert tok not in s.log()


def test_xoauth2_login(wired):
    s = wired.server
    tok = wired.idp.mint("bob", alg="ES256")
    ok, _, c = authenticate(s, "XOAUTH2", xoauth2_message("bob", tok))
    assert ok
    assert c.select("INBOX")[0] == "OK"
    c.logout()
    assert tok not in s.log()


@pytest.mark.parametrize("mech", ["OAUTHBEARER", "XOAUTH2"])
def test_curl_oauth2_bearer_lists_inbox(wired, mech):
    s = wired.server
    tok = wired.idp.mint(s.user)
    url = "imaps://127.0.0.1:%d/INBOX" % s.port_tls
    base = ["curl", "-sS", "--max-time", "30", "--cacert", s.cert, "-u", s.user + ":",
            "--login-options", "AUTH=" + mech, "--oauth2-bearer"]
    r = subprocess.run(base + [tok, url], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    expired = wired.idp.mint(s.user, exp=-3600)
    r = subprocess.run(base + [expired, url], capture_output=True, timeout=60)
    assert r.returncode != 0, r.stdout
    assert tok not in s.log() and expired not in s.log()


# ---- refusals: each is the error JSON, then NO ----

def forgeries(idp, user):
    return {
        "expired": idp.mint(user, exp=-3600),
        "not_yet_valid": idp.mint(user, nbf=int(time.time()) + 3600),
        "wrong_issuer": idp.mint(user, iss="https://evil.example.test"),
        "wrong_audience": idp.mint(user, aud="someone-else"),
        "bad_signature": idp.mint(user, key=new_key("RSA")),
        "unknown_kid": idp.mint(user, kid="rsa-unknown", key=idp.keys["rsa1"]),
        "alg_none": idp.mint_none(user),
        "hs256_confusion": idp.mint_hs256_confusion(user),
        "missing_user_claim": idp.mint(user, preferred_username=None),
        "unknown_user": idp.mint("nobody"),
    }


@pytest.fixture(scope="module")
def failing_env():
    """Its own server: the failures must not count against the source
    address of the other tests."""
    e = Env()
    yield e
    e.close()


def test_refusals_send_error_json_then_no(failing_env):
    e = failing_env
    if not offered(e.server, "OAUTHBEARER"):
        pytest.skip("AUTH=OAUTHBEARER not advertised yet")
    s = e.server
    toks = forgeries(e.idp, s.user)
    for name, tok in toks.items():
        for mech, msg, dummy in (("OAUTHBEARER", oauthbearer_message(tok), b"\x01"),
                                 ("XOAUTH2", xoauth2_message(
                                     "nobody" if name == "unknown_user" else s.user, tok), b"")):
            ok, extra, _ = authenticate(s, mech, msg, dummy)
            assert not ok, (name, mech)
            assert len(extra) == 1, (name, mech, extra)
            err = json.loads(extra[0])
            if mech == "OAUTHBEARER":
                assert err == {"status": "invalid_token", "scope": "openid email",
                               "openid-configuration": DISCOVERY}, (name, err)
            else:
                assert err["status"] == "401" and err["schemes"] == "bearer", (name, err)
    # the authzid must be the token's user
    ok, _, _ = authenticate(s, "OAUTHBEARER", oauthbearer_message(e.idp.mint(s.user), authzid="bob"))
    assert not ok
    ok, _, _ = authenticate(s, "XOAUTH2", xoauth2_message("bob", e.idp.mint(s.user)))
    assert not ok
    # a message that does not parse, and a token over the size bound
    ok, _, _ = authenticate(s, "OAUTHBEARER", b"n,,auth=Bearer x")
    assert not ok
    big = e.idp.mint(s.user, pad="x" * 20000)
    ok, _, _ = authenticate(s, "OAUTHBEARER", oauthbearer_message(big))
    assert not ok
    log = s.log()
    for name, tok in toks.items():
        assert tok not in log, name
    for reason in ("expired", "not_yet_valid", "wrong_issuer", "wrong_audience", "bad_signature",
                   "unknown_kid", "bad_alg"):
        assert reason in log, reason


# ---- the JWKS file: reload, startup ----

def wait_log(server, text, start, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in server.log()[start:]:
            return True
        time.sleep(0.05)
    return False


def test_sighup_rereads_jwks_and_keeps_old_keys_when_bad(env):
    s = env.server
    mark = len(s.log())
    env.idp.write_jwks(env.jwks, kids=["rsa1"])
    s.proc.send_signal(signal.SIGHUP)
    assert wait_log(s, "event=reload what=jwks_file", mark), s.log()[mark:]
    assert "keys=1" in s.log()[mark:]
    mark = len(s.log())
    env.idp.write_jwks(env.jwks, text='{"keys": [')
    s.proc.send_signal(signal.SIGHUP)
    assert wait_log(s, "event=reload_error what=jwks_file", mark), s.log()[mark:]
    assert "keeping the previous keys" in s.log()[mark:]
    assert s.proc.poll() is None
    # still serving
    c = s.imap_tls()
    c.logout()
    if offered(s, "OAUTHBEARER"):
        ok, _, c = authenticate(s, "OAUTHBEARER", oauthbearer_message(env.idp.mint(s.user)))
        assert ok
        c.logout()
        # a rotated key: refused until the new JWKS is loaded
        env.idp.rotate("rsa2")
        tok = env.idp.mint(s.user, kid="rsa2")
        ok, _, _ = authenticate(s, "OAUTHBEARER", oauthbearer_message(tok))
        assert not ok
        mark = len(s.log())
        env.idp.write_jwks(env.jwks)
        s.proc.send_signal(signal.SIGHUP)
        assert wait_log(s, "event=reload what=jwks_file", mark)
        ok, _, c = authenticate(s, "OAUTHBEARER", oauthbearer_message(tok))
        assert ok
        c.logout()
    env.idp.write_jwks(env.jwks)


def bad_jwks_cases(idp):
    oct_only = json.dumps({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]})
    return {"missing": None, "not_json": "{not json", "no_keys": '{"keys": []}', "oct_only": oct_only,
            "private": json.dumps({"keys": [dict(idp.jwks()["keys"][0], d="AQAB")]})}


def test_config_check_and_serve_refuse_a_bad_jwks(env):
    s = env.server
    d = tempfile.mkdtemp(prefix="rampart-oauth-bad-")
    try:
        os.chmod(d, 0o755)
        with open(s.conf_path) as f:
            base = f.read().split("[oauth]")[0]
        for port in (s.port_starttls, s.port_tls):
            base = base.replace("127.0.0.1:%d\n" % port, "127.0.0.1:%d\n" % free_port())
        base = base.replace("mail_root = mail", "mail_root = %s/mail" % s.dir)
        base = base.replace("users_file = users", "users_file = %s/users" % s.dir)
        base = base.replace("cert = cert.pem", "cert = %s" % s.cert).replace(
            "key = key.pem", "key = %s" % s.key)
        conf = os.path.join(d, "rampart.conf")
        jwks = os.path.join(d, "jwks.json")

        def check(section):
            with open(conf, "w") as f:
                f.write(base + section)
            os.chmod(conf, 0o644)
            return subprocess.run([BIN, "config", "check", "-c", conf], capture_output=True,
                                  timeout=60)

        env.idp.write_jwks(jwks)
        r = check(oauth_section(jwks))
        assert r.returncode == 0, r.stderr
        assert b"[oauth]\njwks_file = " + jwks.encode() in r.stdout
        for name, text in bad_jwks_cases(env.idp).items():
            if text is None:
                os.unlink(jwks)
            else:
                env.idp.write_jwks(jwks, text=text)
            r = check(oauth_section(jwks))
            assert r.returncode == EX_CONFIG, (name, r.stdout, r.stderr)
            assert b"jwks_file" in r.stderr, (name, r.stderr)
        env.idp.write_jwks(jwks)
        for name, over in (("no_issuer", {"issuer": None}), ("no_audience", {"audience": None}),
                           ("hs256", {"algorithms": "HS256"}), ("none", {"algorithms": "RS256 none"}),
                           ("leeway", {"leeway": "3600"})):
            r = check(oauth_section(jwks, **over))
            assert r.returncode == EX_CONFIG, (name, r.stdout, r.stderr)

        # serve refuses to start, saying why
        env.idp.write_jwks(jwks, text='{"keys": []}')
        check(oauth_section(jwks))
        p = subprocess.run([BIN, "serve", "-c", conf], capture_output=True, timeout=60)
        assert p.returncode != 0
        assert b"event=startup_error" in p.stderr and b"jwks_file" in p.stderr, p.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)
