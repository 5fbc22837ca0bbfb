"""Transport security and authentication, with real TLS and real clients:
python imaplib, openssl s_client, curl and nmap."""
import base64
import imaplib
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from rampart_harness import read_tagged, read_until


def greeting_and_caps(sock):
    data = read_until(sock, b"\r\n")
    sock.sendall(b"c1 CAPABILITY\r\n")
    data += read_until(sock, b"c1 OK")
    return data


def test_plain_port_advertises_starttls_and_logindisabled(shared_server):
    s = shared_server.raw(tls=False)
    data = greeting_and_caps(s)
    assert b"STARTTLS" in data
    assert b"LOGINDISABLED" in data
    assert b"AUTH=" not in data
    s.close()


def test_login_refused_before_tls_even_on_loopback(shared_server):
    s = shared_server.raw(tls=False)
    read_until(s, b"\r\n")
    s.sendall(b"a LOGIN alice secret\r\n")
    resp = read_tagged(s, b"a")
    assert b"a NO [PRIVACYREQUIRED]" in resp
    s.sendall(b"b AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n")
    resp = read_tagged(s, b"b")
    assert b"b NO [PRIVACYREQUIRED]" in resp
    s.close()


def test_starttls_then_auth_offered_and_login_works(shared_server):
    c = imaplib.IMAP4(shared_server.host, shared_server.port_starttls, timeout=30)
    assert "LOGINDISABLED" in c.capabilities
    c.starttls(ssl_context=shared_server.ssl_context())
    c.capabilities = None
    typ, caps = c.capability()
    caps = caps[0].decode()
    assert "AUTH=PLAIN" in caps and "LOGINDISABLED" not in caps and "STARTTLS" not in caps
    typ, data = c.login(shared_server.user, shared_server.password)
    assert typ == "OK"
    assert c.logout()[0] == "BYE"


def test_implicit_tls_login_and_bad_password(shared_server):
    c = shared_server.imap_tls(login=False)
    assert "AUTH=PLAIN" in c.capabilities
    t0 = time.time()
    with pytest.raises(imaplib.IMAP4.error) as e:
        c.login(shared_server.user, "wrong password")
    assert "AUTHENTICATIONFAILED" in str(e.value)
    # The failure is answered only after the configured delay.
    assert time.time() - t0 >= 0.2
    c2 = shared_server.imap_tls()
    c2.logout()
    log = shared_server.log()
    assert "event=login result=fail ip=127.0.0.1 user=alice mech=LOGIN" in log
    assert "event=login result=ok ip=127.0.0.1 user=alice" in log


def test_unknown_user_same_answer(shared_server):
    c = shared_server.imap_tls(login=False)
    with pytest.raises(imaplib.IMAP4.error) as e:
        c.login("nobody-here", "whatever")
    assert "AUTHENTICATIONFAILED" in str(e.value)


def test_authenticate_plain_with_and_without_initial_response(shared_server):
    s = shared_server.raw(tls=True)
    read_until(s, b"\r\n")
    cred = base64.b64encode(b"\0" + shared_server.user.encode() + b"\0" +
                            shared_server.password.encode())
    s.sendall(b"a AUTHENTICATE PLAIN " + cred + b"\r\n")
    resp = read_until(s, b"a OK")
    assert b"CAPABILITY" in resp
    s.close()
    s = shared_server.raw(tls=True)
    read_until(s, b"\r\n")
    s.sendall(b"a AUTHENTICATE PLAIN\r\n")
    assert read_until(s, b"\r\n").startswith(b"+")
    s.sendall(cred + b"\r\n")
    read_until(s, b"a OK")
    s.sendall(b"b AUTHENTICATE LOGIN\r\n")
    assert b"b BAD" in read_until(s, b"\r\n")
    s.close()


def test_authenticate_login_mechanism_and_cancel(shared_server):
    s = shared_server.raw(tls=True)
    read_until(s, b"\r\n")
    s.sendall(b"a AUTHENTICATE LOGIN\r\n")
    assert read_until(s, b"\r\n") == b"+ VXNlcm5hbWU6\r\n"
    s.sendall(base64.b64encode(shared_server.user.encode()) + b"\r\n")
    assert read_until(s, b"\r\n") == b"+ UGFzc3dvcmQ6\r\n"
    s.sendall(b"*\r\n")
    assert b"a BAD" in read_until(s, b"\r\n")
    s.sendall(b"b AUTHENTICATE LOGIN\r\n")
    read_until(s, b"\r\n")
    s.sendall(base64.b64encode(shared_server.user.encode()) + b"\r\n")
    read_until(s, b"\r\n")
    s.sendall(base64.b64encode(shared_server.password.encode()) + b"\r\n")
    assert b"b OK" in read_until(s, b"b OK")
    s.close()


def test_starttls_injection_is_discarded(shared_server):
    """Commands pipelined after STARTTLS in cleartext must never run
    (the attack of CVE-2011-0411 and friends)."""
    raw = socket.create_connection((shared_server.host, shared_server.port_starttls), 10)
    raw.settimeout(10)
    read_until(raw, b"\r\n")
    raw.sendall(b"a STARTTLS\r\nb CAPABILITY\r\nc LOGIN alice x\r\n")
    resp = read_until(raw, b"a OK")
    time.sleep(0.2)
    tls = shared_server.ssl_context().wrap_socket(raw, server_hostname="localhost")
    tls.sendall(b"d NOOP\r\n")
    after = read_until(tls, b"d OK")
    # Only our post-handshake command was answered.
    assert b"b OK" not in after and b"c " not in after and b"CAPABILITY" not in after
    assert b"b " not in resp
    tls.close()


def test_starttls_refused_when_tls_is_already_on(shared_server):
    s = shared_server.raw(tls=True)
    read_until(s, b"\r\n")
    s.sendall(b"a STARTTLS\r\n")
    assert b"a BAD" in read_until(s, b"\r\n")
    s.close()


def test_tls11_refused(shared_server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    raw = socket.create_connection((shared_server.host, shared_server.port_tls), 10)
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        ctx.wrap_socket(raw, server_hostname="localhost")
    raw.close()


def test_openssl_s_client_starttls(shared_server):
    r = subprocess.run(["openssl", "s_client", "-starttls", "imap", "-connect",
                        "%s:%d" % (shared_server.host, shared_server.port_starttls),
                        "-CAfile", shared_server.cert, "-verify_return_error",
                        "-servername", "localhost", "-quiet"],
                       input=b"a CAPABILITY\r\nb LOGOUT\r\n", capture_output=True,
                       timeout=30)
    out = r.stdout.decode()
    assert "AUTH=PLAIN" in out and "LOGINDISABLED" not in out, out
    assert "b OK" in out


def test_openssl_s_client_tls13(shared_server):
    r = subprocess.run(["openssl", "s_client", "-connect",
                        "%s:%d" % (shared_server.host, shared_server.port_tls),
                        "-CAfile", shared_server.cert, "-tls1_3", "-brief"],
                       input=b"a LOGOUT\r\n", capture_output=True, timeout=30)
    err = r.stderr.decode() + r.stdout.decode()
    assert "TLSv1.3" in err, err


def test_curl_lists_and_fetches(shared_server):
    msg = b"From: a@example.org\r\nSubject: curl test\r\n\r\nhello from curl\r\n"
    assert shared_server.deliver(shared_server.user, msg).returncode == 0
    url = "imaps://localhost:%d/" % shared_server.port_tls
    auth = "%s:%s" % (shared_server.user, shared_server.password)
    r = subprocess.run(["curl", "-sS", "--cacert", shared_server.cert, "--resolve",
                        "localhost:%d:127.0.0.1" % shared_server.port_tls, "-u", auth, url],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert b"INBOX" in r.stdout and b"Sent" in r.stdout
    r = subprocess.run(["curl", "-sS", "--cacert", shared_server.cert, "--resolve",
                        "localhost:%d:127.0.0.1" % shared_server.port_tls, "-u", auth,
                        url + "INBOX;UID=1"], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert b"hello from curl" in r.stdout


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap not installed")
def test_nmap_imap_capabilities(shared_server):
    r = subprocess.run(["nmap", "-Pn", "-n", "-sV", "--version-light", "-p", str(shared_server.port_starttls),
                        "--script", "imap-capabilities", "127.0.0.1"],
                       capture_output=True, timeout=120)
    out = r.stdout.decode()
    assert "imap-capabilities" in out, out
    assert "STARTTLS" in out and "LOGINDISABLED" in out and "IMAP4rev2" in out, out


def test_garbage_gets_bad_then_disconnect(shared_server):
    s = shared_server.raw(tls=True)
    read_until(s, b"\r\n")
    s.sendall(b"GET / HTTP/1.1\r\n" * 12)
    data = read_until(s, b"* BYE")
    assert b"BAD" in data
    s.close()


def test_too_long_line_and_literal(shared_server):
    s = shared_server.raw(tls=True)
    read_until(s, b"\r\n")
    s.sendall(b"a NOOP " + b"x" * 70000 + b"\r\n")
    data = read_until(s, b"a BAD")
    s.sendall(b"b APPEND INBOX {999999999999}\r\n")
    data = read_tagged(s, b"b")
    assert b"b BAD" in data or b"b NO" in data
    s.sendall(b"c NOOP\r\n")
    read_until(s, b"c OK")
    s.close()


def test_too_many_auth_failures_disconnect(shared_server):
    c = shared_server.imap_tls(login=False)
    for _ in range(2):
        with pytest.raises(imaplib.IMAP4.error):
            c.login("alice", "nope")
    with pytest.raises((imaplib.IMAP4.error, imaplib.IMAP4.abort, OSError)):
        c.login("alice", "nope")
        c.noop()
