"""Listeners beyond TCP: a unix-socket IMAP listener (not TLS, so treated
like a plaintext listener unless the admin marks it trusted), STARTTLS over
a unix socket, and listener configuration errors refused at startup with a
message that names the file, line and problem."""
import os
import pwd
import socket
import stat
import subprocess

from rampart_harness import BIN, Server, ensure_run_user, free_port, read_tagged, read_until


def unix_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def tagged(s, tag, text):
    """Sends one command; returns everything up to its tagged response."""
    s.sendall(tag + b" " + text + b"\r\n")
    return read_tagged(s, tag)


def test_unix_listener_is_plaintext_unless_trusted():
    # As root the socket can be given to the server's own user.
    owner = "unix_owner = rampart\n" if os.geteuid() == 0 else ""
    srv = Server(extra_config="[listener local]\naddress = unix:imap.sock\ntls = none\n"
                 "unix_mode = 0600\n" + owner +
                 "[listener localtls]\naddress = unix:tls.sock\ntls = starttls\n"
                 "[listener trustedlocal]\naddress = unix:trusted.sock\ntls = none\n"
                 "trusted = yes\n")
    path = os.path.join(srv.dir, "imap.sock")
    try:
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        if owner:
            assert os.stat(path).st_uid == pwd.getpwnam("rampart").pw_uid
        assert stat.S_IMODE(os.stat(os.path.join(srv.dir, "tls.sock")).st_mode) == 0o660

        # Untrusted, no TLS: no plaintext authentication (RFC 9051 6.2.3).
        s = unix_connect(path)
        assert read_until(s, b"\r\n").startswith(b"* OK")
        caps = tagged(s, b"a", b"CAPABILITY")
        assert b"LOGINDISABLED" in caps and b"AUTH=" not in caps, caps
        assert b"STARTTLS" not in caps, caps
        data = tagged(s, b"b", b'LOGIN %s "%s"' % (srv.user.encode(), srv.password.encode()))
        assert b"b OK" not in data, data
        data = tagged(s, b"c", b"LOGOUT")
        assert b"* BYE" in data and b"c OK" in data, data
        s.close()

        # STARTTLS works over a unix socket too, and then LOGIN does.
        s = unix_connect(os.path.join(srv.dir, "tls.sock"))
        read_until(s, b"\r\n")
        caps = tagged(s, b"a", b"CAPABILITY")
        assert b"STARTTLS" in caps and b"LOGINDISABLED" in caps, caps
        assert b"b OK" in tagged(s, b"b", b"STARTTLS")
        t = srv.ssl_context().wrap_socket(s, server_hostname="localhost")
        caps = tagged(t, b"c", b"CAPABILITY")
        assert b"AUTH=PLAIN" in caps and b"LOGINDISABLED" not in caps, caps
        data = tagged(t, b"d", b'LOGIN %s "%s"' % (srv.user.encode(), srv.password.encode()))
        assert b"d OK" in data, data
        tagged(t, b"e", b"LOGOUT")
        t.close()

        # Marked trusted by the admin: authentication allowed without TLS.
        s = unix_connect(os.path.join(srv.dir, "trusted.sock"))
        read_until(s, b"\r\n")
        caps = tagged(s, b"a", b"CAPABILITY")
        assert b"LOGINDISABLED" not in caps and b"AUTH=PLAIN" in caps, caps
        data = tagged(s, b"b", b'LOGIN %s "%s"' % (srv.user.encode(), srv.password.encode()))
        assert b"b OK" in data, data
        assert b"c OK" in tagged(s, b"c", b"SELECT INBOX")
        data = tagged(s, b"d", b"LOGOUT")
        assert b"* BYE" in data and b"d OK" in data
        s.close()

        # TCP listeners are untouched by the unix ones.
        c = srv.imap_tls()
        c.noop()
        c.logout()
        log = srv.log()
        assert "ip=unix listener=local" in log, log[-2000:]
        assert "protocol=imap address=unix:%s" % path in log, log[-2000:]
    finally:
        srv.stop()
        try:
            # The socket files go with the server.
            assert not os.path.exists(path)
        finally:
            srv.close()


def _serve_with(tmp_path, listener):
    conf = tmp_path / "rampart.conf"
    (tmp_path / "users").write_text("")
    conf.write_text("[server]\nmail_root = mail\nusers_file = users\n"
                    "[listener imap]\naddress = 127.0.0.1:%d\ntls = none\n%s\n"
                    % (free_port(), listener))
    serve = subprocess.run([BIN, "serve", "-c", str(conf)], capture_output=True, timeout=30)
    check = subprocess.run([BIN, "config", "check", "-c", str(conf)], capture_output=True,
                           timeout=30)
    return serve, check


def test_unknown_protocol_is_refused_at_startup(tmp_path):
    serve, check = _serve_with(tmp_path, "protocol = pop3")
    for r in (serve, check):
        err = r.stderr.decode()
        assert r.returncode != 0, err
        assert "rampart.conf:7" in err and "unknown protocol 'pop3'" in err, err


def test_listener_key_mismatches_are_refused(tmp_path):
    for bad, what in (("trusted = yes", "trusted applies to unix listeners only"),
                      ("unix_mode = 0600", "unix_mode applies to unix listeners only"),
                      ("protocol = imap\nunix_mode = 999", "not an octal mode")):
        serve, check = _serve_with(tmp_path, bad)
        for r in (serve, check):
            assert r.returncode != 0 and what in r.stderr.decode(), (bad, r.stderr)
    conf = tmp_path / "unix.conf"
    conf.write_text("[server]\nmail_root = mail\nusers_file = users\n"
                    "[listener local]\naddress = unix:x.sock\ntls = none\n"
                    "allow_from = 127.0.0.1\n")
    r = subprocess.run([BIN, "serve", "-c", str(conf)], capture_output=True, timeout=30)
    assert r.returncode != 0 and b"allow_from applies to TCP listeners only" in r.stderr, r.stderr
    conf.write_text("[server]\nmail_root = mail\nusers_file = users\n"
                    "[listener local]\naddress = unix:x.sock\ntls = none\n"
                    "unix_owner = no-such-user-rampart\n")
    r = subprocess.run([BIN, "serve", "-c", str(conf)], capture_output=True, timeout=30)
    assert r.returncode != 0 and b"unknown unix_owner" in r.stderr, r.stderr
    assert not (tmp_path / "x.sock").exists()


def test_a_second_server_cannot_share_a_port():
    """Listeners use SO_REUSEPORT between their own workers, which would let
    a second server (started by mistake, or a stale one) bind the same port
    and silently take part of the connections. The second one must refuse
    to start, naming the address, and every connection keep reaching the
    first (a plaintext listener on the implicit-TLS port would break every
    TLS handshake it took)."""
    srv = Server()
    run_user = ensure_run_user()
    try:
        conf = os.path.join(srv.dir, "second.conf")
        with open(conf, "w") as f:
            f.write("[server]\nmail_root = mail\nusers_file = users\n%s"
                    "[listener imap]\naddress = 127.0.0.1:%d\ntls = none\n"
                    "[http]\naddress = 127.0.0.1:%d\n"
                    % ("user = %s\n" % run_user if run_user else "", srv.port_tls, free_port()))
        second = subprocess.Popen([BIN, "serve", "-c", conf], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        try:
            out, err = second.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            second.kill()
            second.communicate()
            raise AssertionError("the second server started on a port in use")
        err = err.decode()
        assert second.returncode != 0, err
        assert "cannot listen" in err and "127.0.0.1:%d" % srv.port_tls in err, err
        assert "Address already in use" in err, err
        for _ in range(20):
            s = srv.raw(tls=True)
            s.settimeout(10)
            assert read_until(s, b"\r\n").startswith(b"* OK"), "greeting"
            s.close()
    finally:
        srv.close()


def test_a_taken_http_port_is_refused_with_its_cause():
    """The metrics address in use by someone else stops the start with the
    reason, as the IMAP listeners do: an admin (and the test harness, which
    retries on it) needs "Address already in use", not only "cannot bind"."""
    srv = Server()
    run_user = ensure_run_user()
    try:
        conf = os.path.join(srv.dir, "second.conf")
        with open(conf, "w") as f:
            f.write("[server]\nmail_root = mail\nusers_file = users\n%s"
                    "[listener imap]\naddress = 127.0.0.1:%d\ntls = none\n"
                    "[http]\naddress = 127.0.0.1:%d\n"
                    % ("user = %s\n" % run_user if run_user else "", free_port(),
                       srv.port_http))
        second = subprocess.run([BIN, "serve", "-c", conf], capture_output=True,
                                timeout=30)
        err = second.stderr.decode()
        assert second.returncode != 0, err
        assert "cannot bind [http] address" in err and "127.0.0.1:%d" % srv.port_http in err, err
        assert 'error="Address already in use"' in err, err
    finally:
        srv.close()
