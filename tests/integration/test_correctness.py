"""Issue #12, "Correctness first": what a strict compliance suite and real
clients found, one regression test per item (raw commands over real TLS)."""
import re
import time

from rampart_harness import Raw, read_tagged

MSG = b"From: a@example.org\r\nSubject: c\r\n\r\nhello\r\n"
ODD = b"!#$&'+,-.0123456789:;<=>?@^_`|[}"
# The same without the "&'" that is not modified UTF-7 (RFC 3501 5.1.3).
ODD_OK = b"!#$&-'+,-.0123456789:;<=>?@^_`|[}"


def test_astring_with_open_bracket(server):
    """RFC 9051 9: '[' is an ATOM-CHAR, ']' an ASTRING-CHAR; only a fetch
    attribute opens a section."""
    c = Raw(server)
    data, status = c.cmd(b"SELECT " + ODD)
    assert b"]" not in status, status  # was BAD Missing ']'
    c.ok(b"CREATE " + ODD_OK)
    data = c.ok(b"LIST \"\" " + ODD_OK)
    assert b'"' + ODD_OK + b'"' in data or b" " + ODD_OK + b"\r\n" in data, data
    data = c.ok(b"SELECT " + ODD_OK)
    assert b"* 0 EXISTS" in data
    c.ok(b"CREATE a[b]c")
    data = c.ok(b"LIST \"\" a[*")
    assert b"a[b]c" in data, data
    # A section still opens where it belongs.
    c.ok(b"APPEND " + ODD_OK + b" {%d+}\r\n" % len(MSG) + MSG)
    data = c.ok(b"FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert b"Subject: c" in data
    c.close()


def flags_lines(data):
    return [l for l in data.split(b"\r\n") if l.startswith(b"* FLAGS ")]


def test_flags_lists_keywords_in_use(server):
    """RFC 9051 7.3.5: FLAGS lists every keyword in use; PERMANENTFLAGS
    too, with \\* when keywords may be created."""
    c = Raw(server)
    c.ok(b"APPEND INBOX ($Forwarded) {%d+}\r\n" % len(MSG) + MSG)
    c.ok(b"APPEND INBOX ($Junk Custom1 $forwarded) {%d+}\r\n" % len(MSG) + MSG)
    c.ok(b"APPEND INBOX (\\Seen) {%d+}\r\n" % len(MSG) + MSG)
    data = c.ok(b"SELECT INBOX")
    fl = flags_lines(data)
    assert len(fl) == 1, data
    words = fl[0][len(b"* FLAGS ("):-1].split(b" ")
    for w in (b"\\Answered", b"\\Flagged", b"\\Deleted", b"\\Seen", b"\\Draft",
              b"$Junk", b"Custom1"):
        assert w in words, data
    assert len([w for w in words if w.lower() == b"$forwarded"]) == 1, data
    perm = re.search(rb"\[PERMANENTFLAGS \(([^)]*)\)\]", data).group(1).split(b" ")
    assert b"$Junk" in perm and b"Custom1" in perm and b"\\*" in perm, data
    data = c.ok(b"EXAMINE INBOX")
    assert b"$Junk" in flags_lines(data)[0], data
    assert b"[PERMANENTFLAGS ()]" in data, data
    c.close()


def test_new_keyword_announced_before_fetch(server):
    """An untagged FLAGS precedes the first FETCH carrying a new keyword,
    whoever set it (RFC 9051 7.3.5)."""
    a = Raw(server)
    a.ok(b"APPEND INBOX {%d+}\r\n" % len(MSG) + MSG)
    a.ok(b"APPEND INBOX {%d+}\r\n" % len(MSG) + MSG)
    a.ok(b"SELECT INBOX")
    b = Raw(server, select="INBOX")
    # Another session sets one: a's NOOP announces it before the FETCH.
    b.ok(b"STORE 1 +FLAGS (OtherKw)")
    time.sleep(0.2)
    data = a.ok(b"NOOP")
    assert b"OtherKw" in flags_lines(data)[0], data
    assert data.index(b"* FLAGS") < data.index(b"* 1 FETCH"), data
    assert b"OtherKw" in re.search(rb"PERMANENTFLAGS \([^)]*\)", data).group(0), data
    # This session sets one: STORE's FETCH comes after FLAGS.
    data = a.ok(b"STORE 2 +FLAGS (MineKw)")
    assert b"MineKw" in flags_lines(data)[0], data
    assert data.index(b"* FLAGS") < data.index(b"* 2 FETCH"), data
    # Silently set: announced no later than the FETCH that shows it.
    data = a.ok(b"STORE 2 +FLAGS.SILENT (QuietKw)") + a.ok(b"FETCH 2 FLAGS")
    assert b"QuietKw" in flags_lines(data)[0], data
    assert data.index(b"* FLAGS") < data.index(b"* 2 FETCH"), data
    # A known keyword is not announced again.
    data = a.ok(b"STORE 1 +FLAGS (MineKw)")
    assert not flags_lines(data), data
    data = b.ok(b"NOOP")
    assert b"MineKw" in flags_lines(data)[0] and b"QuietKw" in flags_lines(data)[0], data
    a.close()
    b.close()


def recent_of(data):
    m = re.search(rb"\* (\d+) RECENT", data)
    return int(m.group(1)) if m else 0


def test_recent_in_exactly_one_session(server):
    """RFC 3501 2.3.2: \\Recent for exactly one session, also for mail that
    arrives while two sessions have the mailbox selected."""
    w = Raw(server)
    for _ in range(3):
        w.ok(b"APPEND INBOX {%d+}\r\n" % len(MSG) + MSG)
    a = Raw(server)
    b = Raw(server)
    ra = recent_of(a.ok(b"SELECT INBOX"))
    rb = recent_of(b.ok(b"SELECT INBOX"))
    assert (ra, rb) == (3, 0)
    w.ok(b"APPEND INBOX {%d+}\r\n" % len(MSG) + MSG)
    time.sleep(0.2)
    da = a.ok(b"NOOP")
    db = b.ok(b"NOOP")
    assert b"* 4 EXISTS" in da and b"* 4 EXISTS" in db, (da, db)
    # a synced first: the new one is a's too (RECENT counts all of a's).
    assert (recent_of(da), recent_of(db)) == (4, 0), (da, db)
    fa = a.ok(b"FETCH 1:* FLAGS")
    fb = b.ok(b"FETCH 1:* FLAGS")
    assert fa.count(b"\\Recent") == 4 and fb.count(b"\\Recent") == 0, (fa, fb)
    # Many rounds of concurrent syncs: every new message exactly once.
    for rnd in range(8):
        for _ in range(3):
            w.ok(b"APPEND INBOX {%d+}\r\n" % len(MSG) + MSG)
        time.sleep(0.1)
        a.s.sendall(b"n%d NOOP\r\n" % rnd)
        b.s.sendall(b"n%d NOOP\r\n" % rnd)
        da = read_tagged(a.s, b"n%d" % rnd)
        db = read_tagged(b.s, b"n%d" % rnd)
    fa = a.ok(b"FETCH 1:* FLAGS")
    fb = b.ok(b"FETCH 1:* FLAGS")
    ua = {int(x) for x in re.findall(rb"\* (\d+) FETCH \(FLAGS \([^)]*\\Recent", fa)}
    ub = {int(x) for x in re.findall(rb"\* (\d+) FETCH \(FLAGS \([^)]*\\Recent", fb)}
    assert not (ua & ub), (ua & ub)
    assert len(ua | ub) == 4 + 24, (sorted(ua), sorted(ub))
    for c in (a, b, w):
        c.close()


def recent_uids(c):
    data = c.ok(b"UID FETCH 1:* FLAGS")
    return {int(x) for x in re.findall(rb"UID (\d+) FLAGS \([^)]*\\Recent", data) +
            re.findall(rb"FLAGS \([^)]*\\Recent[^)]*\) UID (\d+)", data)}


def test_recent_claimed_by_own_append(server):
    """RFC 3501 2.3.2 with the claim made inside APPEND's own transaction:
    the appending session gets its message and every unclaimed one before
    it as \\Recent, later mail still reaches whoever syncs first, an APPEND
    elsewhere claims nothing, and under concurrent appends and deliveries
    every message is \\Recent in exactly one session."""
    box = b"ClaimBox"
    w = Raw(server)
    w.ok(b"CREATE " + box)
    w.ok(b"CREATE ClaimOther")
    a = Raw(server)
    b = Raw(server)
    a.ok(b"SELECT " + box)
    b.ok(b"SELECT " + box)
    w.ok(b"APPEND " + box + b" {%d+}\r\n" % len(MSG) + MSG)  # unclaimed, uid 1
    da = a.ok(b"APPEND " + box + b" {%d+}\r\n" % len(MSG) + MSG)  # uid 2
    assert b"* 2 EXISTS" in da and recent_of(da) == 2, da
    db = b.ok(b"NOOP")
    assert b"* 2 EXISTS" in db and recent_of(db) == 0, db
    assert recent_uids(a) == {1, 2} and recent_uids(b) == set()
    # Mail after a's claim goes to the first to sync: b this time.
    w.ok(b"APPEND " + box + b" {%d+}\r\n" % len(MSG) + MSG)  # uid 3
    time.sleep(0.2)
    db = b.ok(b"NOOP")
    assert b"* 3 EXISTS" in db and recent_of(db) == 1, db
    da = a.ok(b"NOOP")
    assert b"* 3 EXISTS" in da and recent_of(da) == 2, da
    # ... and after a's own next APPEND, a's again (uid 4 and 5).
    w.ok(b"APPEND " + box + b" {%d+}\r\n" % len(MSG) + MSG)
    da = a.ok(b"APPEND " + box + b" {%d+}\r\n" % len(MSG) + MSG)
    assert b"* 5 EXISTS" in da and recent_of(da) == 4, da
    assert recent_uids(a) == {1, 2, 4, 5} and recent_uids(b) == {3}
    # An APPEND to a mailbox a has not selected leaves \Recent there.
    a.ok(b"APPEND ClaimOther {%d+}\r\n" % len(MSG) + MSG)
    assert recent_of(w.ok(b"SELECT ClaimOther")) == 1
    w.ok(b"UNSELECT")
    # Concurrent: a and b append, w delivers, everyone syncs; each UID once.
    for rnd in range(10):
        w.ok(b"APPEND " + box + b" {%d+}\r\n" % len(MSG) + MSG)
        lit = b" {%d+}\r\n" % len(MSG) + MSG + b"\r\n"
        a.s.sendall(b"a%d APPEND " % rnd + box + lit)
        b.s.sendall(b"b%d APPEND " % rnd + box + lit)
        read_tagged(a.s, b"a%d" % rnd)
        read_tagged(b.s, b"b%d" % rnd)
    a.ok(b"NOOP")
    b.ok(b"NOOP")
    ua, ub = recent_uids(a), recent_uids(b)
    assert not (ua & ub), sorted(ua & ub)
    assert ua | ub == set(range(1, 5 + 30 + 1)), (sorted(ua), sorted(ub))
    assert recent_of(w.ok(b"SELECT " + box)) == 0
    for c in (a, b, w):
        c.close()


def test_store_flag_lists(server):
    """RFC 9051 9: store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
    (flag-list / (flag *(SP flag))); flag-list may be empty, and NIL is an
    atom, so a flag (the keyword "NIL", as Dovecot treats it)."""
    c = Raw(server)
    c.ok(b"APPEND INBOX (\\Seen $A) {%d+}\r\n" % len(MSG) + MSG)
    c.ok(b"SELECT INBOX")
    c.ok(b"SELECT INBOX")  # \\Recent went to the first SELECT
    assert b"* 1 FETCH (FLAGS ())" in c.ok(b"STORE 1 FLAGS ()")
    assert b"* 1 FETCH (FLAGS ())" in c.ok(b"STORE 1 +FLAGS ()")
    assert b"* 1 FETCH (FLAGS ())" in c.ok(b"STORE 1 -FLAGS ()")
    assert b"FETCH" not in c.ok(b"STORE 1 FLAGS.SILENT ()")
    data = c.ok(b"STORE 1 +FLAGS NIL")
    assert b"* 1 FETCH (FLAGS (NIL))" in data and b"NIL" in flags_lines(data)[0], data
    assert b"* 1 FETCH (FLAGS ())" in c.ok(b"STORE 1 -FLAGS nil")
    assert b"* 1 FETCH (FLAGS (NIL $X))" in c.ok(b"STORE 1 +FLAGS (NIL $X)")
    assert b"* 1 FETCH (FLAGS (\\Flagged \\Seen))" in c.ok(b"STORE 1 FLAGS \\Seen \\Flagged")
    assert b"* 1 FETCH (FLAGS ($b))" in c.ok(b"STORE 1 FLAGS ($b $B)")
    for bad in (b"STORE 1 FLAGS", b"STORE 1 FLAGS (\\Seen) \\Draft", b"STORE 1 FLAGS ((\\Seen))",
                b"STORE 1 FLAGS \"foo\"", b"STORE 1 FLAGS (\\Recent)", b"STORE 1 FLAGS (\\Foo)",
                b"STORE 1 FLAGS {3+}\r\nfoo", b"STORE 1 +FLAGS (\\Seen) (\\Draft)"):
        data, status = c.cmd(bad)
        assert status.startswith(b"BAD"), (bad, data)
    assert b"* 1 FETCH (FLAGS ($b))" in c.ok(b"FETCH 1 FLAGS")
    c.close()


def list_lines(data, cmd=b"LIST"):
    """{name: (attributes, extended data)} of the untagged LIST/LSUB."""
    out = {}
    for l in data.split(b"\r\n"):
        m = re.match(rb"\* " + cmd + rb" \(([^)]*)\) \"/\" \"([^\"]*)\"(.*)$", l)
        if m:
            out[m.group(2)] = (m.group(1).split(), m.group(3).strip())
    return out


def test_list_childinfo_and_lsub_noselect(server):
    """RFC 5258 3.5 (CHILDINFO with RECURSIVEMATCH) and RFC 3501 6.3.9 (LSUB
    shows an unsubscribed parent of subscribed children \\Noselect), the
    same answers as Dovecot 2.3 gives for this tree."""
    c = Raw(server)
    for name in (b"parent", b"parent/child", b"parent/child/deep", b"top", b"a/b/c"):
        c.ok(b"CREATE " + name)
    c.ok(b"SUBSCRIBE parent/child")
    c.ok(b"SUBSCRIBE a/b/c")
    childinfo = b'("CHILDINFO" ("SUBSCRIBED"))'
    got = list_lines(c.ok(b'LIST (SUBSCRIBED RECURSIVEMATCH) "" %'))
    assert got[b"parent"][1] == childinfo and got[b"a"][1] == childinfo, got
    assert b"top" not in got and b"parent/child" not in got, got
    # "*" lists the subscribed children themselves, so their unsubscribed
    # parents are not repeated (RFC 5258 3.5: "servers SHOULD suppress
    # redundant CHILDINFO responses").
    got = list_lines(c.ok(b'LIST (SUBSCRIBED RECURSIVEMATCH) "" *'))
    assert set(got) >= {b"parent/child", b"a/b/c"} and b"parent" not in got, got
    # A listed (subscribed) mailbox with a subscribed descendant carries
    # CHILDINFO whatever the pattern.
    c.ok(b"SUBSCRIBE parent")
    c.ok(b"SUBSCRIBE parent/child/deep")
    got = list_lines(c.ok(b'LIST (SUBSCRIBED RECURSIVEMATCH) "" *'))
    assert got[b"parent"][1] == childinfo and got[b"parent/child"][1] == childinfo, got
    assert got[b"parent/child/deep"][1] == b"" and b"\\Subscribed" in got[b"parent"][0], got
    got = list_lines(c.ok(b'LIST (SUBSCRIBED RECURSIVEMATCH) "" parent'))
    assert got[b"parent"][1] == childinfo, got
    # Without RECURSIVEMATCH, never CHILDINFO.
    got = list_lines(c.ok(b'LIST (SUBSCRIBED) "" *'))
    assert all(v[1] == b"" for v in got.values()), got
    c.ok(b"UNSUBSCRIBE parent")
    c.ok(b"UNSUBSCRIBE parent/child/deep")
    # LSUB: the parent exists but is not subscribed: \Noselect.
    got = list_lines(c.ok(b'LSUB "" %'), b"LSUB")
    assert got[b"parent"][0] == [b"\\Noselect"] and got[b"a"][0] == [b"\\Noselect"], got
    assert b"top" not in got, got
    got = list_lines(c.ok(b'LSUB "" parent/%'), b"LSUB")
    assert got == {b"parent/child": ([], b"")}, got
    got = list_lines(c.ok(b'LSUB "" a/%'), b"LSUB")
    assert got == {b"a/b": ([b"\\Noselect"], b"")}, got
    c.ok(b"UNSUBSCRIBE parent/child")
    c.ok(b"SUBSCRIBE parent/child/deep")
    got = list_lines(c.ok(b'LSUB "" parent/%'), b"LSUB")
    assert got == {b"parent/child": ([b"\\Noselect"], b"")}, got
    got = list_lines(c.ok(b'LSUB "" *'), b"LSUB")
    assert got[b"parent/child/deep"] == ([], b"") and b"parent" not in got, got
    c.close()


def test_nothing_after_logout_bye(server):
    """RFC 9051 6.1.3: after LOGOUT's BYE only the tagged OK; pending
    updates of other sessions are not sent after it."""
    a = Raw(server)
    for _ in range(3):
        a.ok(b"APPEND INBOX {%d+}\r\n" % len(MSG) + MSG)
    a.ok(b"SELECT INBOX")
    b = Raw(server, select="INBOX")
    b.ok(b"STORE 1 +FLAGS (\\Deleted \\Flagged)")
    b.ok(b"EXPUNGE")
    b.ok(b"STORE 1 +FLAGS (\\Answered)")
    b.ok(b"APPEND INBOX {%d+}\r\n" % len(MSG) + MSG)
    time.sleep(0.3)  # a has been notified (ordering only)
    a.s.sendall(b"z LOGOUT\r\n")
    data = read_tagged(a.s, b"z")
    tail = data[data.index(b"* BYE"):]
    assert tail.split(b"\r\n")[1:] == [b"z OK LOGOUT completed", b""], data
    a.s.settimeout(10)
    assert a.s.recv(4096) == b"", "bytes after LOGOUT's tagged OK"
    a.close()
    b.close()


MIME = (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: a   b  \t c\r\n  folded   end  \r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b"--XX\r\nContent-Type: text/plain\r\n\r\n"
        b"--XX\r\nContent-Type: multipart/alternative; boundary=\"YY\"\r\n\r\n"
        b"--YY\r\nContent-Type: text/plain\r\n\r\nalt1\r\n"
        b"--YY\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"PGI+YWx0MjwvYj4=\r\n--YY--\r\n--XX--\r\n")


def literal_of(data, label):
    m = re.search(re.escape(label) + rb" ~?\{(\d+)\}\r\n", data)
    assert m, (label, data)
    return data[m.end():m.end() + int(m.group(1))]


def test_sections_sizes_and_envelope_subject(server):
    """Item 6 of the list, each answer compared with Dovecot 2.3 and the
    RFC (docs/imap.md says why each is what it is)."""
    c = Raw(server)
    c.ok(b"APPEND INBOX {%d+}\r\n" % len(MIME) + MIME)
    c.ok(b"SELECT INBOX")
    # BINARY of a multipart part: its own encoding is the identity, so its
    # body as stored, and BINARY.SIZE is exactly the length BINARY sends.
    data = c.ok(b"FETCH 1 (BINARY.SIZE[3] BINARY.PEEK[3] BODY.PEEK[3] BINARY.SIZE[3.2] "
                b"BINARY.PEEK[3.2])")
    size = int(re.search(rb"BINARY\.SIZE\[3\] (\d+)", data).group(1))
    body3 = literal_of(data, b"BODY[3]")
    assert body3.startswith(b"--YY\r\n") and body3.endswith(b"--YY--"), data
    assert literal_of(data, b"BINARY[3]") == body3 and size == len(body3), data
    assert b"BINARY.SIZE[3.2] 11" in data, data
    assert literal_of(data, b"BINARY[3.2]") == b"<b>alt2</b>", data
    # An empty part is a literal {0}, as every other section is.
    data = c.ok(b"FETCH 1 (BODY.PEEK[2] BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[2]<0.5>)")
    assert b"BODY[2] {0}\r\n" in data and b"BINARY[2] {0}\r\n" in data, data
    assert b"BINARY.SIZE[2] 0" in data and b"BODY[2]<0> {0}\r\n" in data, data
    assert b'""' not in data, data
    # ENVELOPE's subject is the header value unfolded (RFC 5322 2.2.3:
    # only the CRLF goes), runs of spaces and the tab kept.
    data = c.ok(b"FETCH 1 ENVELOPE")
    assert literal_of(data, b"ENVELOPE (NIL") == b"a   b  \t c  folded   end  ", data
    c.close()
