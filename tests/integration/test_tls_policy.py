"""TLS policy with real clients (openssl s_client, nmap, python ssl): the
protocol floor and the cipher list, SNI with several certificates, session
tickets, certificate reload on SIGHUP, the log line of a failed handshake;
and the process hardening and the plaintext configuration check."""
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile

import pytest

from rampart_harness import BIN, RUN_USER, Server, free_port, make_cert

WEAK = "DEFAULT:@SECLEVEL=0"  # let the client really offer old versions and suites


def s_client(port, *args, starttls=False, data=b"a LOGOUT\r\n"):
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port]
    if starttls:
        cmd += ["-starttls", "imap"]
    r = subprocess.run(cmd + list(args), input=data, capture_output=True, timeout=30)
    return r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")


def negotiated(out):
    """'TLSv1.2 ECDHE-...' from s_client's 'New, TLSv1.2, Cipher is X', or None."""
    m = re.search(r"(New|Reused), (TLSv[0-9.]+), Cipher is (\S+)", out)
    return (m.group(1), m.group(2), m.group(3)) if m else None


def peer_cn(out):
    m = re.search(r"subject=.*?CN ?= ?([^,\n/]+)", out)
    return m.group(1).strip() if m else None


def make_named_cert(directory, stem, cn, sans):
    cert = os.path.join(directory, stem + ".pem")
    key = os.path.join(directory, stem + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=" + cn, "-addext", "subjectAltName=" + sans,
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def group_readable(path):
    """What docs/configuration.md asks for certificates reloaded on SIGHUP."""
    if os.geteuid() == 0:
        os.chown(path, 0, pwd.getpwnam(RUN_USER).pw_gid)
    os.chmod(path, 0o640)


# ---- protocol floor and ciphers ----

@pytest.mark.parametrize("starttls", [False, True], ids=["implicit", "starttls"])
def test_versions_tls12_and_13_only(shared_server, starttls):
    port = shared_server.port_starttls if starttls else shared_server.port_tls
    for flag in ("-tls1", "-tls1_1"):
        out = s_client(port, flag, "-cipher", WEAK, starttls=starttls)
        n = negotiated(out)
        assert n is None or n[2] == "(NONE)", out
    # the refusal is the server's: it logged what the client offered
    shared_server.wait_log(r"event=tls_handshake_failed ip=127\.0\.0\.1 sni=\S* version=TLSv1\.0 "
             r"ciphers_offered=\d+ ciphers=\"[^\"]+\" reason=\"unsupported protocol\"")
    shared_server.wait_log(r"event=tls_handshake_failed .*version=TLSv1\.1 .*unsupported protocol")
    for flag, want in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        n = negotiated(s_client(port, flag, starttls=starttls))
        assert n and n[1] == want, (flag, n)


@pytest.mark.parametrize("suite,ok", [
    ("ECDHE-ECDSA-AES128-GCM-SHA256", True),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", True),
    ("ECDHE-ECDSA-AES256-GCM-SHA384", True),
    ("ECDHE-ECDSA-AES128-SHA", False),      # CBC, SHA-1 MAC
    ("ECDHE-ECDSA-AES128-SHA256", False),   # CBC
    ("AES128-GCM-SHA256", False),           # RSA key exchange
    ("DHE-RSA-AES128-GCM-SHA256", False),   # DHE not unless asked
])
def test_tls12_suites(shared_server, suite, ok):
    out = s_client(shared_server.port_tls, "-tls1_2", "-cipher", suite + ":@SECLEVEL=0")
    n = negotiated(out)
    if ok:
        assert n and n[2] == suite, out
    else:
        assert n is None or n[2] == "(NONE)", out


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap not installed")
@pytest.mark.parametrize("starttls", [False, True], ids=["implicit", "starttls"])
def test_nmap_ssl_enum_ciphers_grade_a(shared_server, starttls):
    port = shared_server.port_starttls if starttls else shared_server.port_tls
    args = ["nmap", "-Pn", "-n", "-p", str(port), "--script", "ssl-enum-ciphers", "127.0.0.1"]
    if starttls:
        args[1:1] = ["-sV", "--version-light"]  # nmap learns it is IMAP, then STARTTLS
    r = subprocess.run(args, capture_output=True, timeout=180)
    out = r.stdout.decode()
    assert "ssl-enum-ciphers" in out and "TLSv1.2" in out, out
    assert "TLSv1.3" in out, out
    assert "least strength: A" in out, out
    assert "TLSv1.0" not in out and "TLSv1.1" not in out, out
    assert "CBC" not in out and "_SHA " not in out and "TLS_RSA_" not in out, out


# ---- SNI ----

@pytest.fixture(scope="module")
def sni_server():
    d = tempfile.mkdtemp(prefix="rampart-sni-")
    os.chmod(d, 0o755)
    mail = make_named_cert(d, "mail", "mail.example.org", "DNS:mail.example.org")
    wild = make_named_cert(d, "wild", "wild.example.net", "DNS:*.example.net")
    extra = ("[certificate mail]\nnames = MAIL.example.org\ncert = %s\nkey = %s\n"
             "[certificate wild]\nnames = *.example.net,\n    exact.example.com\n"
             "cert = %s\nkey = %s\n" % (mail + wild))
    s = Server(extra_config=extra)
    yield s
    s.close()
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("name,cn", [
    ("mail.example.org", "mail.example.org"),
    ("Mail.Example.ORG", "mail.example.org"),
    ("a.example.net", "wild.example.net"),
    ("exact.example.com", "wild.example.net"),
    ("b.a.example.net", "localhost"),        # a wildcard is one label
    ("example.net", "localhost"),
    ("unknown.example", "localhost"),
])
def test_sni_picks_certificate(sni_server, name, cn):
    for starttls, port in ((False, sni_server.port_tls), (True, sni_server.port_starttls)):
        out = s_client(port, "-servername", name, starttls=starttls)
        assert peer_cn(out) == cn, out
        assert negotiated(out), out


def test_sni_none_gets_default(sni_server):
    out = s_client(sni_server.port_tls, "-noservername")
    assert peer_cn(out) == "localhost", out


def test_sni_config_check_lists_certificates(sni_server):
    r = sni_server.rampart("config", "check", "-c", sni_server.conf_path)
    out = r.stdout.decode()
    assert "[certificate mail]\nnames = mail.example.org\n" in out, out
    assert "[certificate wild]\nnames = *.example.net, exact.example.com\n" in out, out


# ---- session tickets ----

@pytest.mark.parametrize("flag", ["-tls1_2", "-tls1_3"])
def test_session_resumption_with_tickets(shared_server, flag, tmp_path):
    sess = str(tmp_path / "sess")
    # -ign_eof: s_client stays until the server closes after LOGOUT, so it
    # has read the TLS 1.3 ticket (sent after the handshake) before it
    # writes the session out
    first = negotiated(s_client(shared_server.port_tls, flag, "-ign_eof", "-sess_out", sess))
    assert first and first[0] == "New", first
    again = negotiated(s_client(shared_server.port_tls, flag, "-sess_in", sess))
    assert again and again[0] == "Reused", again


def test_session_tickets_off(tmp_path):
    srv = Server(extra_config="[tls]\nsession_tickets = off\n")
    try:
        for flag in ("-tls1_2", "-tls1_3"):
            sess = str(tmp_path / ("sess" + flag))
            out = s_client(srv.port_tls, flag, "-ign_eof", "-sess_out", sess)
            assert "TLS session ticket:" not in out, out
            if os.path.exists(sess):
                again = negotiated(s_client(srv.port_tls, flag, "-sess_in", sess))
                assert again and again[0] == "New", again
    finally:
        srv.close()


# ---- reload on SIGHUP ----

def fingerprint(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), 10) as raw:
        with ctx.wrap_socket(raw) as s:
            return s.getpeercert(binary_form=True)


def test_sighup_reloads_certificates_and_keeps_connections():
    srv = Server()
    try:
        group_readable(srv.key)
        before = fingerprint(srv.port_tls)
        held = srv.imap_tls()  # logged in over the old certificate
        # a new key and certificate in place of the old ones
        tmp = os.path.join(srv.dir, "new")
        os.mkdir(tmp)
        cert, key = make_cert(tmp)
        shutil.copy(cert, srv.cert)
        shutil.copy(key, srv.key)
        group_readable(srv.key)
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_log(r"event=reload what=tls certificates=1")
        after = fingerprint(srv.port_tls)
        assert after != before
        # the connection made before the reload still works
        assert held.noop()[0] == "OK"
        assert held.select("INBOX")[0] == "OK"
        # a broken file: the server keeps the certificates it has
        with open(srv.cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_log(r"event=reload_failed what=tls")
        assert fingerprint(srv.port_tls) == after
        assert held.noop()[0] == "OK"
        held.logout()
    finally:
        srv.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_root_only_key_warns_at_start_and_reload_keeps_old():
    srv = Server()  # the harness leaves key.pem root:root 0600
    try:
        srv.wait_log(r"event=startup_warning msg=\"the server user cannot read this file.*key\.pem")
        before = fingerprint(srv.port_tls)
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_log(r"event=reload_failed what=tls")
        assert fingerprint(srv.port_tls) == before
    finally:
        srv.close()


# ---- hardening ----

def test_hardening_no_new_privs_and_no_core(shared_server):
    pid = shared_server.proc.pid
    with open("/proc/%d/status" % pid) as f:
        status = f.read()
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), status
    with open("/proc/%d/limits" % pid) as f:
        limits = f.read()
    assert re.search(r"^Max core file size\s+0\s+0\s", limits, re.M), limits
    # not dumpable: /proc/PID/mem and friends belong to root, not the run user
    if os.geteuid() == 0:
        assert os.stat("/proc/%d/mem" % pid).st_uid == 0
        uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
        assert uid == pwd.getpwnam(RUN_USER).pw_uid


# ---- plaintext authentication check ----

def config_check(tmp_path, text):
    conf = tmp_path / "rampart.conf"
    conf.write_text(text)
    return subprocess.run([BIN, "config", "check", "-c", str(conf)], capture_output=True,
                          timeout=30)


@pytest.mark.parametrize("text,ok", [
    ("[listener a]\naddress = 0.0.0.0:143\ntls = none\n", False),
    ("[listener a]\naddress = [::]:143\ntls = none\n", False),
    ("[listener a]\naddress = 127.0.0.1:143\ntls = none\n", True),
    ("[listener a]\naddress = [::1]:143\ntls = none\n", True),
    ("[listener a]\naddress = 0.0.0.0:143\ntls = none\n[security]\nallow_plaintext_auth = yes\n",
     True),
    ("[listener a]\naddress = 127.0.0.1:143\ntls = none\n[security]\n"
     "trusted_networks = 127.0.0.0/8, ::1\n", True),
])
def test_config_check_plaintext_listener(tmp_path, text, ok):
    r = config_check(tmp_path, text)
    assert (r.returncode == 0) == ok, r.stderr
    if not ok:
        assert b"cleartext" in r.stderr and b"allow_plaintext_auth" in r.stderr, r.stderr


def test_config_check_trusted_networks_beyond_loopback(tmp_path):
    base = "[tls]\ncert = cert.pem\nkey = key.pem\n[listener a]\naddress = 0.0.0.0:143\n"
    make_cert(str(tmp_path))
    r = config_check(tmp_path, base + "[security]\ntrusted_networks = 10.0.0.0/8\n")
    assert r.returncode != 0 and b"trusted_networks contains 10.0.0.0/8" in r.stderr, r.stderr
    r = config_check(tmp_path, base + "[security]\ntrusted_networks = 127.0.0.1\n")
    assert r.returncode == 0, r.stderr
    r = config_check(tmp_path, base + "[security]\ntrusted_networks = 10.0.0.0/8\n"
                     "allow_plaintext_auth = yes\n")
    assert r.returncode == 0, r.stderr


def test_serve_refuses_plaintext_then_starts_loudly_when_allowed():
    srv = Server()
    try:
        srv.stop()
        with open(srv.conf_path) as f:
            text = f.read()
        bad = text + "[listener plain]\naddress = 0.0.0.0:%d\ntls = none\n" % free_port()
        with open(srv.conf_path, "w") as f:
            f.write(bad)
        r = subprocess.run([BIN, "serve", "-c", srv.conf_path], capture_output=True, timeout=30)
        assert r.returncode != 0 and b"allow_plaintext_auth" in r.stderr, r.stderr
        with open(srv.conf_path, "w") as f:
            f.write(bad.replace("[security]\n", "[security]\nallow_plaintext_auth = yes\n"))
        srv.start()
        srv.wait_log(r"event=startup_warning msg=\"plaintext authentication allowed")
    finally:
        srv.close()
