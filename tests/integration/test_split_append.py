"""APPEND with a synchronizing literal from a client that writes the
literal and its closing CRLF in separate send() calls (python imaplib,
mutt, imapfilter) must answer as fast as one that writes them at once.

The stall this guards against: the client's Nagle algorithm holds the
small CRLF until the literal is ACKed, and the server, having read the
literal but with nothing to answer yet, delays its ACK (~40 ms on Linux).
Every such APPEND then costs one delayed-ACK timeout. The client here
keeps Nagle on, as imaplib does (with TCP_NODELAY on the client the CRLF
leaves at once and there is no stall to test); both variants run in the same test
against the same server, so the comparison is relative (wide margin) plus
the absolute signature of the stall (>= 40 ms on most messages)."""
import socket
import statistics
import time

from rampart_harness import Server, read_until

COUNT = 40
MSG = (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: split\r\n\r\n"
       + b"x" * 2000 + b"\r\n")


def _append_all(sock, split, first_tag):
    """APPENDs COUNT messages; returns each one's time in seconds."""
    times = []
    for i in range(COUNT):
        tag = b"s%d" % (first_tag + i)
        t0 = time.monotonic()
        sock.sendall(tag + b" APPEND INBOX {%d}\r\n" % len(MSG))
        read_until(sock, b"+ ", timeout=20)
        if split:
            sock.sendall(MSG)
            sock.sendall(b"\r\n")
        else:
            sock.sendall(MSG + b"\r\n")
        data = read_until(sock, tag + b" OK", timeout=20)
        if not data.endswith(b"\r\n"):
            read_until(sock, b"\r\n", timeout=20)
        times.append(time.monotonic() - t0)
    return times


def test_split_write_append_does_not_stall_on_delayed_ack():
    srv = Server(trusted_networks="127.0.0.0/8")
    try:
        s = socket.create_connection((srv.host, srv.port_starttls), 10)
        s.settimeout(20)
        read_until(s, b"\r\n")
        s.sendall(b'l LOGIN %s "%s"\r\n' % (srv.user.encode(), srv.password.encode()))
        read_until(s, b"l OK")
        # Warm up (first APPEND creates the store files), then measure.
        _append_all(s, False, 1000)
        single = _append_all(s, False, 2000)
        split = _append_all(s, True, 3000)
        single2 = _append_all(s, False, 4000)
        s.sendall(b"z LOGOUT\r\n")
        read_until(s, b"z OK")
        s.close()
    finally:
        srv.close()
    base = statistics.median(single + single2)
    med_split = statistics.median(split)
    stalled = sum(1 for t in split if t - base >= 0.035)
    msg = ("split median %.1f ms, single median %.1f ms, %d/%d split APPENDs "
           ">= 35 ms slower" % (med_split * 1000, base * 1000, stalled, COUNT))
    print(msg)
    # The stall signature: most split APPENDs one delayed-ACK timeout slower.
    assert stalled < COUNT // 2, msg
    assert sum(split) < 4 * (sum(single) + sum(single2)) / 2 + 0.2, msg
