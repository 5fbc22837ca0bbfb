"""SAVEDATE (RFC 8514) and SEARCH/SORT charsets after ENABLE UTF8=ACCEPT
(RFC 6855 3, erratum 4029), on a real server over TLS.

The save date is when a message was saved in the mailbox it is in (RFC 8514
3): APPEND and COPY/MOVE set it to "now" whatever the INTERNALDATE. To see
old and unknown save dates the test rewrites the store's savedate column
while the server is stopped (0 is what an unknown save date looks like)."""
import datetime
import glob
import math
import os
import re
import sqlite3
import time

from rampart_harness import Raw

MSG = b"Subject: saved\r\n\r\nbody\r\n"
OLD = b'"01-Jan-2001 10:00:00 +0000"'
SAVEDATE_RE = re.compile(rb'SAVEDATE (NIL|"[^"]*")')
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
          "Oct", "Nov", "Dec"]


def imap_day(t):
    g = time.gmtime(t)
    return b"%d-%s-%d" % (g.tm_mday, MONTHS[g.tm_mon - 1].encode(), g.tm_year)


def append(r, mailbox=b"INBOX", date=OLD):
    date = date + b" " if date else b""
    r.ok(b"APPEND %s %s{%d}\r\n%s" % (mailbox, date, len(MSG), MSG))


def savedates(r, seqs=b"1:*"):
    data = r.ok(b"FETCH %s (SAVEDATE)" % seqs)
    return SAVEDATE_RE.findall(data)


def parse_datetime(v):
    """An IMAP date-time ("dd-Mon-yyyy hh:mm:ss +zzzz") as epoch seconds."""
    s = v.strip(b'"').decode().strip()
    return datetime.datetime.strptime(s, "%d-%b-%Y %H:%M:%S %z").timestamp()


def in_window(t, before, after):
    """Whether a save date in whole seconds fits a command sent at `before`
    and answered at `after`. The server stamps with time(2), which reads the
    kernel's coarse clock: it may still show the previous second for up to a
    tick after Python's clock_gettime() has passed the boundary (CI saw
    :30 stamped for a COPY sent at :31.001). So the lower bound is the
    whole second before `before`, not `before` - 1."""
    return math.floor(before) - 1 <= t <= after + 1


def search(r, criteria):
    data = r.ok(b"SEARCH " + criteria)
    line = [l for l in data.split(b"\r\n") if l.startswith(b"* SEARCH")][0]
    return [int(x) for x in line.split()[2:]]


def set_savedates(server, values):
    """Rewrites savedate of INBOX messages by UID while the server is down."""
    server.stop()
    paths = glob.glob(os.path.join(server.dir, "mail", "**", "index.sqlite"),
                      recursive=True)
    assert len(paths) == 1, paths
    db = sqlite3.connect(paths[0])
    try:
        with db:
            for uid, v in values.items():
                n = db.execute("UPDATE messages SET savedate=? WHERE uid=? AND "
                               "mailbox_id=(SELECT id FROM mailboxes WHERE name='INBOX')",
                               (v, uid)).rowcount
                assert n == 1, (uid, n)
    finally:
        db.close()
    server.start()


def test_capability_in_every_state(server):
    c = server.imap_tls(login=False)
    try:
        assert "SAVEDATE" in c.capabilities
    finally:
        c.logout()
    r = Raw(server)
    assert b" SAVEDATE" in r.ok(b"CAPABILITY")
    r.close()


def test_fetch_savedate_is_when_saved_not_internaldate(server):
    r = Raw(server)
    before = time.time()
    append(r)
    after = time.time()
    r.ok(b"SELECT INBOX")
    data = r.ok(b"FETCH 1 (INTERNALDATE SAVEDATE)")
    assert b'INTERNALDATE "01-Jan-2001 10:00:00 +0000"' in data, data
    (sd,) = savedates(r)
    t = parse_datetime(sd)
    # Whole seconds on the wire: allow the rounding, nothing more.
    assert in_window(t, before, after), (sd, before, after)
    data = r.ok(b"UID FETCH 1 (SAVEDATE)")
    assert b"UID 1" in data and b"SAVEDATE" in data
    r.close()


def test_search_saved_keys(server):
    r = Raw(server)
    append(r)
    append(r)
    r.ok(b"SELECT INBOX")
    today = imap_day(time.time())
    # Near midnight UTC "today" may have moved on between APPEND and SEARCH.
    days = {imap_day(t) for t in (time.time() - 5, time.time())}
    assert search(r, b"SAVEDATESUPPORTED") == [1, 2]
    if len(days) == 1:
        assert search(r, b"SAVEDON " + today) == [1, 2]
        assert search(r, b"SAVEDSINCE " + today) == [1, 2]
        assert search(r, b"SAVEDBEFORE " + today) == []
    # INTERNALDATE is 2001: the plain date keys see that one.
    assert search(r, b"SINCE " + today) == []
    assert search(r, b"BEFORE 1-Jan-2002") == [1, 2]
    assert search(r, b"SAVEDBEFORE 1-Jan-2002") == []
    r.close()
    # An old save date on 1, an unknown one (NIL) on 2.
    set_savedates(server, {1: 1000000000, 2: 0})  # 9-Sep-2001 01:46:40 UTC
    r = Raw(server, select="INBOX")
    assert savedates(r) == [b'"09-Sep-2001 01:46:40 +0000"', b"NIL"]
    assert search(r, b"SAVEDON 9-Sep-2001") == [1]
    assert search(r, b"SAVEDBEFORE 10-Sep-2001") == [1]
    assert search(r, b"SAVEDBEFORE 9-Sep-2001") == []
    assert search(r, b"SAVEDSINCE 9-Sep-2001") == [1]
    assert search(r, b"SAVEDSINCE 10-Sep-2001") == []
    # RFC 8514 4.3: no save date, no match; SAVEDATESUPPORTED skips it.
    assert search(r, b"SAVEDATESUPPORTED") == [1]
    assert search(r, b"NOT SAVEDATESUPPORTED") == [2]
    assert search(r, b"OR SAVEDON 9-Sep-2001 UID 2") == [1, 2]
    data = r.ok(b"UID SEARCH RETURN (COUNT) SAVEDSINCE 1-Jan-2000")
    assert b"COUNT 1" in data, data
    assert b"* SORT 1\r\n" in r.ok(b"SORT (ARRIVAL) UTF-8 SAVEDSINCE 1-Jan-2000")
    assert b"* THREAD (2)\r\n" in r.ok(b"THREAD ORDEREDSUBJECT UTF-8 NOT SAVEDATESUPPORTED")
    for bad in (b"SAVEDON", b"SAVEDSINCE 32-Jan-2001", b"SAVEDBEFORE x",
                b"SAVEDATESUPPORTED 1-Jan-2001"):
        _, status = r.cmd(b"SEARCH " + bad)
        assert status.startswith(b"BAD"), (bad, status)
    r.close()


def test_copy_and_move_get_a_new_savedate(server):
    r = Raw(server)
    append(r)
    append(r)
    r.ok(b"CREATE dst")
    r.close()
    set_savedates(server, {1: 1000000000, 2: 1000000000})
    r = Raw(server, select="INBOX")
    before = time.time()
    r.ok(b"COPY 1 dst")
    r.ok(b"MOVE 2 dst")
    after = time.time()
    # The source keeps its save date ...
    assert savedates(r) == [b'"09-Sep-2001 01:46:40 +0000"']
    r.ok(b"SELECT dst")
    got = savedates(r)
    assert len(got) == 2, got
    # ... the copies were saved in dst now (RFC 8514 3); INTERNALDATE moves.
    for sd in got:
        assert in_window(parse_datetime(sd), before, after), (sd, before, after)
    data = r.ok(b"FETCH 1:* (INTERNALDATE)")
    assert data.count(b'INTERNALDATE "01-Jan-2001 10:00:00 +0000"') == 2, data
    assert search(r, b"SAVEDBEFORE 1-Jan-2002") == []
    r.close()


def test_search_charset_after_utf8_accept(server):
    r = Raw(server)
    append(r, date=b"")
    r.ok(b"SELECT INBOX")
    # Before ENABLE a CHARSET label is fine (RFC 9051 6.4.4).
    assert search(r, b"CHARSET UTF-8 SUBJECT saved") == [1]
    r.ok(b"ENABLE UTF8=ACCEPT")
    # RFC 6855 3: after it any CHARSET in SEARCH is BAD, even UTF-8 ...
    for cs in (b"UTF-8", b"US-ASCII", b"ISO-8859-1"):
        data, status = r.cmd(b"SEARCH CHARSET %s SUBJECT saved" % cs)
        assert status.startswith(b"BAD"), (cs, status)
        assert b"* SEARCH" not in data
        data, status = r.cmd(b"UID SEARCH RETURN (COUNT) CHARSET %s ALL" % cs)
        assert status.startswith(b"BAD"), (cs, status)
    # ... and without one SEARCH is UTF-8 as before.
    assert search(r, b"SUBJECT saved") == [1]
    assert search(r, "SUBJECT \"sav\u00e9\"".encode()) == []
    # Erratum 4029: SORT and THREAD's mandatory charset must be UTF-8.
    assert b"* SORT 1" in r.ok(b"SORT (SUBJECT) UTF-8 ALL")
    assert b"* THREAD (1)" in r.ok(b"THREAD REFERENCES utf-8 ALL")
    for cmd in (b"SORT (SUBJECT) US-ASCII ALL", b"SORT (SUBJECT) ISO-8859-1 ALL",
                b"THREAD REFERENCES US-ASCII ALL", b"UID SORT (DATE) KOI8-R ALL"):
        _, status = r.cmd(cmd)
        assert status.startswith(b"BAD"), (cmd, status)
    r.close()
    # A session that did not enable it keeps its charsets.
    r = Raw(server, select="INBOX")
    assert search(r, b"CHARSET US-ASCII SUBJECT saved") == [1]
    assert b"* SORT 1" in r.ok(b"SORT (SUBJECT) US-ASCII ALL")
    r.close()


def test_imap4rev2_keeps_search_charset(server):
    """ENABLE IMAP4rev2 makes names UTF-8 too, but its SEARCH has CHARSET
    (RFC 9051 6.4.4): only UTF8=ACCEPT forbids the label."""
    r = Raw(server, rev2=True)
    append(r, date=b"")
    r.ok(b"SELECT INBOX")
    data = r.ok(b"SEARCH CHARSET UTF-8 SUBJECT saved")
    assert b"ESEARCH" in data or b"* SEARCH 1" in data, data
    r.close()
