"""inline (issue #14): small messages inside the index ([store]
inline_max_kb, default 64), against a real server over TLS with imaplib, a
real LMTP client (smtplib) and `rampart check` / `rampart export`.

A message up to the limit is written as a row of the user's index.sqlite in
the APPEND's own transaction: no file under blobs/, one sync of the WAL per
APPEND instead of file + directory + WAL (counted with strace), the bytes
exact in every section, survives kill -9 right after APPEND OK; a bigger
message, or every message with inline_max_kb = 0, is a file; LMTP
deliveries of small messages are rows too; `rampart check` finds a store of
rows clean and names a changed row; export writes the rows' bytes."""
import hashlib
import os
import re
import shutil
import smtplib
import sqlite3
import subprocess
import time

import pytest

from rampart_harness import Server, free_port
from test_durability import strace_attach, traced_server


def msg(i, size=3000):
    head = (b"From: a%d@example.org\r\nTo: b@example.org\r\nSubject: inline %d\r\n"
            b"Message-ID: <inl%d@example.org>\r\n\r\n" % (i, i, i))
    line = b"line of message %d, some words\r\n" % i
    return head + line * (size // len(line))


def user_dir(server, user="alice"):
    return os.path.join(server.dir, "mail", "local", user)


def has_file(server, data, user="alice"):
    h = hashlib.sha256(data).hexdigest()
    return os.path.exists(os.path.join(user_dir(server, user), "blobs", h[:2], h[2:]))


def rows(server, data, user="alice"):
    h = hashlib.sha256(data).hexdigest()
    con = sqlite3.connect(os.path.join(user_dir(server, user), "index.sqlite"), timeout=30)
    try:
        return con.execute("SELECT count(*) FROM blob_inline WHERE blob=?", (h,)).fetchone()[0]
    finally:
        con.close()


def fetch(c, uid, item):
    typ, data = c.uid("FETCH", str(uid), "(%s)" % item)
    assert typ == "OK", data
    return data[0][1]


def appended_uid(c, data):
    typ, resp = c.append("INBOX", None, None, data)
    assert typ == "OK", resp
    m = re.search(rb"APPENDUID \d+ (\d+)", resp[0])
    return int(m.group(1))


def test_small_messages_are_rows_big_ones_files_and_survive_kill9():
    s = Server()
    try:
        c = s.imap_tls()
        small = [msg(i) for i in range(3)]
        edge = msg(7, size=64 * 1024 - 200)
        big = msg(9, size=100 * 1024)
        uids = [appended_uid(c, m) for m in small + [edge, big]]
        # kill -9 straight after the answers: every acknowledged message is there.
        s.kill9()
        s.start()
        for m in small + [edge]:
            assert rows(s, m) == 1 and not has_file(s, m)
        assert rows(s, big) == 0 and has_file(s, big)
        c = s.imap_tls()
        c.select("INBOX")
        for uid, m in zip(uids, small + [edge, big]):
            assert fetch(c, uid, "BODY.PEEK[]") == m
            head, _, text = m.partition(b"\r\n\r\n")
            assert fetch(c, uid, "BODY.PEEK[HEADER]") == head + b"\r\n\r\n"
            assert fetch(c, uid, "BODY.PEEK[TEXT]") == text
            assert fetch(c, uid, "BINARY.PEEK[1]<10.100>") == text[10:110]
        # COPY shares the row; EXPUNGE of both copies removes it (after the
        # syncer's sync, which the clean stop runs).
        assert c.create("Other")[0] == "OK"
        assert c.uid("COPY", str(uids[0]), "Other")[0] == "OK"
        assert c.uid("STORE", str(uids[0]), "+FLAGS", r"(\Deleted)")[0] == "OK"
        assert c.expunge()[0] == "OK"
        c.select("Other")
        assert fetch(c, 1, "BODY.PEEK[]") == small[0]
        assert c.store("1", "+FLAGS", r"(\Deleted)")[0] == "OK"
        assert c.expunge()[0] == "OK"
        c.logout()
        s.stop()
        assert rows(s, small[0]) == 0 and not has_file(s, small[0])
        # check: a store of rows is clean; a changed row is named.
        r = s.rampart("check", "-c", s.conf_path, "alice", check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        h = hashlib.sha256(small[1]).hexdigest()
        con = sqlite3.connect(os.path.join(user_dir(s), "index.sqlite"), timeout=30)
        con.execute("UPDATE blob_inline SET data=? WHERE blob=?", (b"X" + small[1][1:], h))
        con.commit()
        con.close()
        r = s.rampart("check", "-c", s.conf_path, "alice", check=False)
        assert r.returncode != 0
        assert re.search(rb"check=blob .*problem=hash", r.stdout + r.stderr), r.stdout
        # export writes the bytes of the rows (the changed one as it is).
        out = os.path.join(s.dir, "export")
        r = s.rampart("export", "-c", s.conf_path, "alice", out, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        exported = []
        for root, _, files in os.walk(out):
            for f in files:
                if "," in f or ":2" in f:
                    with open(os.path.join(root, f), "rb") as fh:
                        exported.append(fh.read())
        assert small[2] in exported and edge in exported and big in exported
    finally:
        s.close()


def syncs_per_append(extra):
    s = traced_server(extra)
    try:
        c = s.imap_tls()
        appended_uid(c, msg(100))  # the user's store and directories exist
        out = os.path.join(s.dir, "strace.log")
        st = strace_attach(s.proc.pid, out, trace="fsync,fdatasync,rename,renameat,renameat2")
        try:
            for i in range(20):
                appended_uid(c, msg(200 + i))
            time.sleep(0.5)
        finally:
            st.terminate()
            st.wait(20)
        c.logout()
        with open(out) as f:
            text = f.read()
        syncs = len(re.findall(r" f(?:data)?sync\(", text))
        renames = len(re.findall(r" rename(?:at2?)?\(.*/blobs/", text))
        return syncs / 20.0, renames
    finally:
        s.close()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_one_sync_per_append():
    """20 APPENDs of 3 KB: with rows, one WAL sync each and no file renamed
    into blobs/; with inline_max_kb = 0, a file each and three syncs."""
    per, renames = syncs_per_append("")
    assert renames == 0
    assert 0.95 <= per <= 1.2, per  # every APPEND synced before its OK, once
    per_files, renames_files = syncs_per_append("[store]\ninline_max_kb = 0\n")
    assert renames_files == 20
    assert per_files >= 2.5, per_files


def test_lmtp_deliveries_are_rows():
    port = free_port()
    s = Server(extra_config="[listener lmtp]\naddress = 127.0.0.1:%d\nprotocol = lmtp\n" % port)
    try:
        s.add_user("bob", "correct horse battery staple")
        c = s.imap_tls()  # alice's store exists
        c.logout()
        m = (b"From: sender@example.net\r\nTo: alice@example.org\r\nSubject: by lmtp\r\n\r\n"
             b"hello over lmtp\r\n")
        lm = smtplib.LMTP("127.0.0.1", port, timeout=30)
        lm.sendmail("sender@example.net", ["alice", "bob"], m)
        lm.quit()
        for user in ("alice", "bob"):
            c = s.imap_tls(user=user, password=None if user == "alice"
                           else "correct horse battery staple")
            c.select("INBOX")
            typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[])")
            got = [d[1] for d in data if isinstance(d, tuple)]
            c.logout()
            assert len(got) == 1 and got[0].endswith(m), got
            # The delivered bytes (with Return-Path/Received) are one row.
            assert rows(s, got[0], user) == 1 and not has_file(s, got[0], user)
    finally:
        s.close()


def test_expunge_deletes_the_row_in_its_own_transaction():
    """An EXPUNGE deletes the bytes' row of a message nobody else uses in
    its own transaction (answered before its sync with the default delay):
    a power loss undoes both together, never one without the other (a file
    has to wait for the sync instead). After kill -9 right after the answer
    the message and its row are gone and `rampart check` is clean."""
    s = Server(extra_config="[store]\nmetadata_sync_delay_ms = 60000\n")
    try:
        c = s.imap_tls()
        m = msg(300)
        keep = msg(301)
        uid = appended_uid(c, m)
        appended_uid(c, keep)
        c.select("INBOX")
        assert c.uid("STORE", str(uid), "+FLAGS", r"(\Deleted)")[0] == "OK"
        assert c.expunge()[0] == "OK"
        assert rows(s, m) == 0 and rows(s, keep) == 1
        s.kill9()
        assert rows(s, m) == 0 and rows(s, keep) == 1
        r = s.rampart("check", "-c", s.conf_path, "alice", check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        s.start()
        c = s.imap_tls()
        typ, data = c.select("INBOX")
        assert data[0] == b"1"
        c.logout()
    finally:
        s.close()


def test_new_rows_are_read_from_the_message_cache():
    """A message APPENDed as a row is remembered by the message cache like
    a file: the FETCH right after it misses nothing."""
    from test_message_cache import metrics
    s = Server()
    try:
        c = s.imap_tls()
        m = msg(400)
        uid = appended_uid(c, m)
        assert rows(s, m) == 1
        before = metrics(s)
        c.select("INBOX")
        assert fetch(c, uid, "BODY.PEEK[]") == m
        after = metrics(s)
        assert after["hits"] > before["hits"] and after["misses"] == before["misses"]
        c.logout()
    finally:
        s.close()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_fetch_body_of_a_row_is_a_copy_not_a_file():
    """FETCH BODY[] of a message kept as a row, not in the message cache,
    copies the row's bytes: no anonymous file is made for it (the memfd of
    store_blob_open, two extra copies and a tmpfs inode per message)."""
    s = traced_server("[store]\nmessage_cache_mb = 0\n")
    try:
        c = s.imap_tls()
        sent = [msg(500 + i) for i in range(5)]
        uids = [appended_uid(c, m) for m in sent]
        c.select("INBOX")
        out = os.path.join(s.dir, "strace-memfd.log")
        st = strace_attach(s.proc.pid, out, trace="memfd_create")
        try:
            for uid, m in zip(uids, sent):
                assert fetch(c, uid, "BODY.PEEK[]") == m
        finally:
            st.terminate()
            st.wait(20)
        c.logout()
        with open(out) as f:
            assert "memfd_create(" not in f.read()
    finally:
        s.close()
