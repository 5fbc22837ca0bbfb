"""LMTP (RFC 2033) against a real server with python's smtplib.LMTP: per-
recipient replies after DATA, +detail folders, over quota, unknown users,
size and line limits, pipelining, BDAT (RFC 3030) over a raw socket, and
every delivered message read back over IMAP byte for byte with the headers
the server adds. One server for the whole file."""
import os
import re
import smtplib
import socket
import threading
import time

import pytest

from rampart_harness import Server, free_port, read_until

MAX_SIZE = 256 * 1024


@pytest.fixture(scope="module")
def srv():
    port = free_port()
    s = Server(extra_config=(
        "[limits]\nmax_message_size = %d\n"
        "[listener lmtp]\naddress = 127.0.0.1:%d\nprotocol = lmtp\n"
        "[lmtp]\nmax_recipients = 5\nmax_text_line = 2000\n" % (MAX_SIZE, port)))
    s.lmtp_port = port
    for u in ("bob", "carol@example.org", "full", "tight"):
        s.add_user(u, "correct horse battery staple")
    # "full" can store almost nothing.
    s.rampart("user", "quota", "-c", s.conf_path, "full", "--storage", "1K")
    s.rampart("user", "quota", "-c", s.conf_path, "tight", "--storage", "12K")
    # bob has a folder "lists" for bob+lists.
    c = s.imap_tls(user="bob")
    c.create("lists")
    c.logout()
    yield s
    s.close()


def lmtp(srv):
    c = smtplib.LMTP("127.0.0.1", srv.lmtp_port, timeout=30)
    return c


def fetch_all(srv, user, mailbox="INBOX"):
    c = srv.imap_tls(user=user, password="correct horse battery staple")
    typ, _ = c.select('"%s"' % mailbox)
    assert typ == "OK"
    typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[])")
    c.logout()
    return [d[1] for d in data if isinstance(d, tuple)]


def msg(subject, body="hello\r\n"):
    return ("From: sender@example.net\r\nTo: someone@example.org\r\nSubject: %s\r\n\r\n%s"
            % (subject, body)).encode()


def test_lhlo_extensions(srv):
    c = lmtp(srv)
    code, text = c.ehlo("mx.example.net")  # smtplib.LMTP sends LHLO
    assert code == 250
    for ext in (b"PIPELINING", b"ENHANCEDSTATUSCODES", b"8BITMIME", b"SMTPUTF8",
                b"CHUNKING", b"SIZE %d" % MAX_SIZE):
        assert ext in text, text
    c.quit()


def test_multi_recipient_per_recipient_replies(srv):
    c = lmtp(srv)
    c.ehlo("mx.example.net")
    body = msg("multi", "z" * 76 + "\r\n") * 1 + b"z" * 1500 + b"\r\n"  # over full's 1K
    # smtplib.LMTP.sendmail returns refused recipients; data() gives all.
    c.mail("sender@example.net")
    assert c.rcpt("alice@example.org")[0] == 250
    assert c.rcpt("nobody@example.org") == (550, b"5.1.1 <nobody@example.org> User doesn't exist")
    assert c.rcpt("carol@Example.ORG")[0] == 250
    assert c.rcpt("full@example.org")[0] == 250
    c.putcmd("data")
    code, _ = c.getreply()
    assert code == 354
    c.send(body + b".\r\n")
    # RFC 2033 4.2: one reply per accepted recipient, in RCPT order.
    replies = [c.getreply() for _ in range(3)]
    assert replies[0][0] == 250 and b"<alice@example.org>" in replies[0][1]
    assert replies[1][0] == 250 and b"<carol@Example.ORG>" in replies[1][1]
    assert replies[2][0] == 452 and replies[2][1].startswith(b"4.2.2"), replies
    assert c.noop()[0] == 250
    c.quit()
    for user in ("alice", "carol@example.org"):
        got = [m for m in fetch_all(srv, user) if b"Subject: multi" in m]
        assert len(got) == 1
        m = got[0]
        # Return-Path first, the body unchanged; several recipients: no
        # Delivered-To (the blob is shared), as Dovecot does.
        assert m.startswith(b"Return-Path: <sender@example.net>\r\nReceived: from mx.example.net"), m
        assert b"Delivered-To:" not in m
        assert m.endswith(body)


def test_single_recipient_headers_and_exact_bytes(srv):
    body = msg("single", "line one\r\n..dotted\r\n.\r\nnot end\r\nlast")
    c = lmtp(srv)
    c.ehlo("mx.example.net")
    # sendmail dot-stuffs; the stored message must be the original.
    assert c.sendmail("a@example.net", ["bob@example.org"], body) == {}
    c.quit()
    got = [m for m in fetch_all(srv, "bob") if b"Subject: single" in m]
    assert len(got) == 1
    m = got[0]
    head, _, rest = m.partition(b"From: sender@example.net")
    assert head.startswith(b"Return-Path: <a@example.net>\r\nDelivered-To: bob@example.org\r\n")
    assert re.search(rb"Received: from mx\.example\.net \(127\.0\.0\.1\)\r\n\tby \S+ with LMTP id "
                     rb"\S+\r\n\t\(envelope-from <a@example\.net>\)\r\n\tfor <bob@example\.org>; ",
                     head), head
    # smtplib adds the final CRLF to a body without one.
    assert b"From: sender@example.net" + rest == body + b"\r\n"


def test_detail_to_folder(srv):
    c = lmtp(srv)
    c.ehlo("mx.example.net")
    assert c.sendmail("", ["bob+lists@example.org", "bob+nofolder@example.org"],
                      msg("detail")) == {}
    c.quit()
    assert len([m for m in fetch_all(srv, "bob", "lists") if b"Subject: detail" in m]) == 1
    # No folder "nofolder": INBOX.
    inbox = [m for m in fetch_all(srv, "bob") if b"Subject: detail" in m]
    assert len(inbox) == 1 and inbox[0].startswith(b"Return-Path: <>\r\n")


def test_too_big_and_declared_size(srv):
    c = lmtp(srv)
    c.ehlo("mx.example.net")
    # RFC 1870: a declared SIZE over the limit is refused at MAIL.
    code, text = c.mail("a@example.net", ["SIZE=%d" % (MAX_SIZE + 1)])
    assert code == 552 and text.startswith(b"5.3.4")
    # Undeclared: read to the end, refused per recipient.
    assert c.mail("a@example.net")[0] == 250
    assert c.rcpt("bob@example.org")[0] == 250
    assert c.rcpt("alice@example.org")[0] == 250
    c.putcmd("data")
    assert c.getreply()[0] == 354
    c.send(msg("big", "x" * 1000 + "\r\n") * 300 + b".\r\n")
    for _ in range(2):
        code, text = c.getreply()
        assert code == 552 and text.startswith(b"5.3.4"), text
    # The session goes on.
    assert c.sendmail("a@example.net", ["bob@example.org"], msg("after big")) == {}
    c.quit()
    assert not [m for m in fetch_all(srv, "bob") if b"Subject: big" in m]


def test_line_too_long(srv):
    c = lmtp(srv)
    c.ehlo("mx.example.net")
    c.mail("a@example.net")
    c.rcpt("bob@example.org")
    c.putcmd("data")
    assert c.getreply()[0] == 354
    c.send(msg("longline", "y" * 5000 + "\r\n") + b".\r\n")
    code, text = c.getreply()
    assert code == 500 and text.startswith(b"5.5.2"), text
    c.quit()


def test_too_many_recipients_and_sequence(srv):
    c = lmtp(srv)
    assert c.docmd("MAIL FROM:<a@b>")[0] == 503  # before LHLO
    assert c.docmd("EHLO x")[0] == 500           # LMTP is LHLO only
    c.ehlo("mx")
    assert c.docmd("RCPT TO:<bob@example.org>")[0] == 503
    assert c.docmd("DATA")[0] == 503
    c.mail("a@b.example")
    for _ in range(5):
        assert c.rcpt("bob@example.org")[0] == 250
    code, text = c.rcpt("bob@example.org")
    assert code == 452 and text.startswith(b"4.5.3")
    assert c.docmd("VRFY bob")[0] == 252
    assert c.docmd("RCPT TO:bob")[0] == 501
    assert c.docmd("FOO")[0] == 500
    assert c.rset()[0] == 250
    assert c.docmd("DATA")[0] == 503
    code, text = c.docmd("X" * 2000)
    assert code == 500 and text.startswith(b"5.5.2")
    assert c.noop()[0] == 250
    c.quit()


def raw_lmtp(srv):
    s = socket.create_connection(("127.0.0.1", srv.lmtp_port), 10)
    s.settimeout(10)
    read_until(s, b"\r\n")
    return s


def read_lines(s, n):
    buf = b""
    while buf.count(b"\r\n") < n:
        chunk = s.recv(65536)
        assert chunk, buf
        buf += chunk
    return buf.split(b"\r\n")[:n]


def test_pipelining(srv):
    s = raw_lmtp(srv)
    body = msg("pipelined")
    # RFC 2920: everything up to DATA in one write, then the message and
    # the next transaction's commands in one more.
    s.sendall(b"LHLO mx\r\nMAIL FROM:<p@example.net>\r\nRCPT TO:<bob@example.org>\r\n"
              b"RCPT TO:<ghost@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
    lines = read_lines(s, 7 + 4 + 1)
    codes = [l[:3] for l in lines]
    assert codes[7:] == [b"250", b"250", b"550", b"250", b"354"], lines
    s.sendall(body + b"\r\n.\r\nMAIL FROM:<p@example.net>\r\nRCPT TO:<bob@example.org>\r\n"
              b"DATA\r\n" + body + b"\r\n.\r\nQUIT\r\n")
    lines = read_lines(s, 2 + 3 + 1 + 1)
    assert [l[:3] for l in lines] == [b"250", b"250", b"250", b"250", b"354", b"250", b"221"], lines
    s.close()
    assert len([m for m in fetch_all(srv, "bob") if b"Subject: pipelined" in m]) == 2


def test_bdat(srv):
    s = raw_lmtp(srv)
    body = b"From: x@example.net\r\nSubject: chunked\r\n\r\n.starts with a dot\r\nend\r\n"
    a, b = body[:20], body[20:]
    s.sendall(b"LHLO mx\r\nMAIL FROM:<c@example.net>\r\nRCPT TO:<bob@example.org>\r\n"
              b"BDAT %d\r\n" % len(a) + a + b"BDAT %d LAST\r\n" % len(b) + b)
    lines = read_lines(s, 7 + 2 + 2)
    assert [l[:3] for l in lines[7:]] == [b"250", b"250", b"250", b"250"], lines
    assert lines[9].startswith(b"250 2.0.0")
    # BDAT without a transaction: the chunk is read, then refused.
    s.sendall(b"BDAT 5 LAST\r\nhelloNOOP\r\n")
    lines = read_lines(s, 2)
    assert lines[0].startswith(b"503") and lines[1].startswith(b"250"), lines
    s.close()
    got = [m for m in fetch_all(srv, "bob") if b"Subject: chunked" in m]
    assert len(got) == 1 and got[0].endswith(body)  # no dot-unstuffing in BDAT


def test_default_unix_socket(srv):
    # Only an explicit TCP LMTP listener is configured here, so no default.
    assert not os.path.exists(os.path.join(srv.dir, "state", "lmtp.sock"))


def test_counters_in_log(srv):
    # Every delivery is logged with its result, never the contents.
    srv.wait_log(r"event=lmtp_deliver user=full mailbox=INBOX size=\d+ result=over_quota")
    assert "hello" not in "".join(l for l in srv.log().splitlines() if "lmtp_deliver" in l)


def test_concurrent_over_quota_fails_alone(srv):
    """Rounds of 8 connections delivering at once to a user with a 12K
    quota: 4 messages of 16K (over quota on their own) and 4 of 1K. Every
    small one is stored and every big one answered 452 4.2.2, however the
    group commit batched them: a batch that fails is retried message by
    message, so a message over quota never takes the others down."""
    small = msg("tight small", "s" * 500 + "\r\n")
    big = msg("tight big", ("b" * 98 + "\r\n") * 160)
    batches = []
    for rnd in range(2):
        results = []

        def send(body):
            c = lmtp(srv)
            c.ehlo("mx")
            c.mail("a@example.net")
            c.rcpt("tight@example.org")
            c.putcmd("data")
            c.getreply()
            c.send(body + b".\r\n")
            results.append((body is small, c.getreply()))
            c.quit()

        threads = [threading.Thread(target=send, args=(small if i % 2 else big,))
                   for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 8
        for is_small, (code, text) in results:
            if is_small:
                assert code == 250, results
            else:
                assert code == 452 and text.startswith(b"4.2.2"), results
    got = fetch_all(srv, "tight")
    assert len([m for m in got if b"Subject: tight small" in m]) == 8
    assert not [m for m in got if b"Subject: tight big" in m]
    batches = [int(n) for n in re.findall(r"event=lmtp_commit mailbox=INBOX messages=(\d+)",
                                           srv.log())]
    print("commit batch sizes seen:", sorted(set(batches)))


def test_deliveries_in_metrics(srv):
    """rampart_deliveries_total{result} counts one per recipient's final
    reply: a delivered and an unknown recipient move their own series."""
    import urllib.request

    def scrape():
        url = "http://127.0.0.1:%d/metrics" % srv.port_http
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        got = {}
        for line in text.splitlines():
            m = re.match(r'rampart_deliveries_total\{result="(\w+)"\} (\d+)$', line)
            if m:
                got[m.group(1)] = int(m.group(2))
        return got

    before = scrape()
    c = lmtp(srv)
    c.ehlo("mx.example.net")
    c.mail("sender@example.net")
    assert c.rcpt("bob@example.org")[0] == 250
    assert c.rcpt("nobody2@example.org")[0] == 550
    c.putcmd("data")
    assert c.getreply()[0] == 354
    c.send(msg("metrics") + b".\r\n")
    assert c.getreply()[0] == 250
    c.quit()
    after = scrape()
    assert after.get("ok", 0) - before.get("ok", 0) == 1, (before, after)
    assert after.get("nouser", 0) - before.get("nouser", 0) == 1, (before, after)
