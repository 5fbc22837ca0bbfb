"""The administrator's HTTP listener ([http], app/http.c): who may read it
and what it refuses. The handlers behind it (/metrics, the status page)
have their own tests; an unknown path is a 404 from the listener itself."""
import http.client
import socket

from rampart_harness import Server


def request(port, path="/nowhere", method="GET", host=None, source="127.0.0.1"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                      source_address=(source, 0))
    headers = {}
    if host is not None:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
    else:
        conn.request(method, path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), body


def test_http_listener_refusals():
    srv = Server(extra_config="[http]\nallow_from = 127.0.0.2/32\n")
    try:
        port = srv.port_http
        # allow_from: 127.0.0.1 is loopback but not listed
        st, _, body = request(port)
        assert st == 403, (st, body)
        assert "event=http_refused peer=127.0.0.1" in srv.log()
        # a listed source reaches the router: unknown path
        st, hdr, _ = request(port, source="127.0.0.2")
        assert st == 404
        assert hdr.get("Cache-Control") == "no-store"
        assert hdr.get("X-Content-Type-Options") == "nosniff"
        assert "frame-ancestors 'none'" in hdr.get("Content-Security-Policy", "")
        # DNS rebinding: a name that is not localhost or listed is refused,
        # IP literals and localhost are fine
        st, _, _ = request(port, host="evil.example:%d" % port, source="127.0.0.2")
        assert st == 421
        for h in ("127.0.0.1:%d" % port, "localhost:%d" % port, "[::1]:%d" % port):
            st, _, _ = request(port, host=h, source="127.0.0.2")
            assert st == 404, h
        # only GET and HEAD
        st, _, _ = request(port, method="POST", source="127.0.0.2")
        assert st in (405, 501), st
        # oversized headers: refused, the server lives on
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
        data = b""
        try:
            while len(data) < 4096:
                d = s.recv(4096)
                if not d:
                    break
                data += d
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
        assert not data.startswith(b"HTTP/1.1 200")
        st, _, _ = request(port, source="127.0.0.2")
        assert st == 404
    finally:
        srv.close()


def test_http_address_must_be_loopback_without_allow_from(tmp_path):
    import subprocess
    from rampart_harness import BIN
    conf = tmp_path / "r.conf"
    base = ("[server]\nmail_root = mail\nusers_file = users\n"
            "[listener imap]\naddress = 127.0.0.1:1\ntls = none\n")
    conf.write_text(base + "[http]\naddress = 0.0.0.0:9\n")
    r = subprocess.run([BIN, "config", "check", "-c", str(conf)], capture_output=True, timeout=30)
    assert r.returncode != 0 and b"list who may read it in [http] allow_from" in r.stderr, r.stderr
    conf.write_text(base + "[http]\naddress = localhost:9143\n")
    r = subprocess.run([BIN, "config", "check", "-c", str(conf)], capture_output=True, timeout=30)
    assert r.returncode != 0 and b"not a numeric HOST:PORT" in r.stderr, r.stderr
    conf.write_text(base + "[http]\naddress = none\n")
    r = subprocess.run([BIN, "config", "check", "-c", str(conf)], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
