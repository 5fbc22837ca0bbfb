"""SORT, THREAD, ESORT and WITHIN (RFC 5256, 5957, 5267 3, 5032) against a
real server over TLS: every sort key, REVERSE and tie-breaks, base subject
extraction on a corpus of tricky subjects, both threading algorithms with
the RFC's dummy-parent, loop and duplicate Message-ID rules, the ESORT
return options and the WITHIN search keys. The same corpus was compared
with Dovecot 2.3 (docs/imap.md, "SORT and THREAD", lists the differences)."""
import re
import time
import unicodedata

from rampart_harness import Raw, Server

import pytest


@pytest.fixture(scope="module")
def srv():
    s = Server()
    yield s
    s.close()


def msg(subject=None, frm=b"a@example.org", to=None, cc=None, date=None, mid=None,
        refs=None, irt=None, body=b"body\r\n", extra=b""):
    h = b""
    if date is not None:
        h += b"Date: " + date + b"\r\n"
    if frm is not None:
        h += b"From: " + frm + b"\r\n"
    if to is not None:
        h += b"To: " + to + b"\r\n"
    if cc is not None:
        h += b"Cc: " + cc + b"\r\n"
    if subject is not None:
        h += b"Subject: " + subject + b"\r\n"
    if mid is not None:
        h += b"Message-ID: " + mid + b"\r\n"
    if refs is not None:
        h += b"References: " + refs + b"\r\n"
    if irt is not None:
        h += b"In-Reply-To: " + irt + b"\r\n"
    return h + extra + b"\r\n" + body


def append(raw, box, m, idate=None):
    d = b' "' + idate + b'"' if idate else b""
    raw.ok(b"APPEND " + box + d + b" {%d+}\r\n" % len(m) + m)


def fill(raw, box, msgs):
    raw.ok(b"CREATE " + box)
    for m in msgs:
        if isinstance(m, tuple):
            append(raw, box, m[0], m[1])
        else:
            append(raw, box, m)
    raw.ok(b"SELECT " + box)


def line(data, prefix):
    got = [l for l in data.split(b"\r\n") if l.startswith(prefix)]
    assert len(got) == 1, data
    return got[0]


def sort(raw, text):
    return line(raw.ok(text), b"* SORT")[len(b"* SORT"):].split()


def nums(words):
    return [int(w) for w in words]


def thread(raw, text):
    return line(raw.ok(text), b"* THREAD")[len(b"* THREAD"):].strip()


def test_capabilities(srv):
    raw = Raw(srv)
    caps = line(raw.ok(b"CAPABILITY"), b"* CAPABILITY").split()
    for c in (b"SORT", b"SORT=DISPLAY", b"THREAD=ORDEREDSUBJECT", b"THREAD=REFERENCES",
              b"ESORT", b"WITHIN"):
        assert c in caps
    # CONTEXT=SEARCH/SORT: tests/integration/test_context.py
    raw.close()


KEYS_MSGS = [
    # seq 1
    (msg(b"Zebra", frm=b'"Zed" <zed@z.example>', to=b"mike@x.example", cc=b"carol@x.example",
         date=b"Mon, 5 Feb 2024 10:00:00 +0000", body=b"x" * 300), b"01-Mar-2024 00:00:00 +0000"),
    # seq 2: no Date: sorts by its internal date (RFC 5256 3)
    (msg(b"re: apple", frm=b"Bob <bob@b.example>", to=b"alice@x.example",
         body=b"x" * 10), b"01-Jan-2024 12:00:00 +0000"),
    # seq 3: date with a zone; 09:30 -0300 is 12:30 UTC
    (msg(b"=?UTF-8?Q?=C3=84pfel?=", frm=b"=?UTF-8?Q?=C3=81da?= <ada@a.example>",
         to=b"Zoe <zoe@x.example>", cc=b"Bert <bert@x.example>",
         date=b"Mon, 5 Feb 2024 09:30:00 -0300", body=b"x" * 100), b"02-Jan-2024 00:00:00 +0000"),
    # seq 4: same sent date as seq 1; no From, no To
    (msg(b"[list] Fwd: mango (fwd)", frm=None, date=b"Mon, 5 Feb 2024 10:00:00 +0000",
         body=b"x" * 100), b"15-Dec-2023 00:00:00 +0000"),
]


def test_sort_keys(srv):
    raw = Raw(srv)
    fill(raw, b"Keys", KEYS_MSGS)
    assert nums(sort(raw, b"SORT (ARRIVAL) UTF-8 ALL")) == [4, 2, 3, 1]
    assert nums(sort(raw, b"SORT (REVERSE ARRIVAL) UTF-8 ALL")) == [1, 3, 2, 4]
    # 2 has no Date: its internal date (1 Jan) is earliest; 1 and 4 tie
    # at 10:00 UTC and keep mailbox order; 3 is 12:30 UTC.
    assert nums(sort(raw, b"SORT (DATE) UTF-8 ALL")) == [2, 1, 4, 3]
    # Ties keep mailbox order under REVERSE too.
    assert nums(sort(raw, b"SORT (REVERSE DATE) UTF-8 ALL")) == [3, 1, 4, 2]
    # Base subjects: zebra, apple, Äpfel, mango; i;unicode-casemap
    # decomposes Ä to A + U+0308, which sorts after "APPLE", before "M".
    assert nums(sort(raw, b"SORT (SUBJECT) UTF-8 ALL")) == [2, 3, 4, 1]
    # addr-mailbox of From: zed, bob, ada, "" (none).
    assert nums(sort(raw, b"SORT (FROM) UTF-8 ALL")) == [4, 3, 2, 1]
    assert nums(sort(raw, b"SORT (TO) UTF-8 ALL")) == [4, 2, 1, 3]
    assert nums(sort(raw, b"SORT (CC) UTF-8 ALL")) == [2, 4, 3, 1]
    # SIZE: 2 smallest; 3 and 4 differ by their headers.
    sizes = {}
    for l in raw.ok(b"FETCH 1:4 RFC822.SIZE").split(b"\r\n"):
        m = re.match(rb"\* (\d+) FETCH \(RFC822.SIZE (\d+)\)", l)
        if m:
            sizes[int(m.group(1))] = int(m.group(2))
    want = sorted(sizes, key=lambda k: (sizes[k], k))
    assert nums(sort(raw, b"SORT (SIZE) UTF-8 ALL")) == want
    # RFC 5957: display name (decoded), else the addr-spec.
    # Zed, Bob, Áda (decoded from =?UTF-8?Q?=C3=81da?=), none.
    assert nums(sort(raw, b"SORT (DISPLAYFROM) UTF-8 ALL")) == [4, 3, 2, 1]
    # DISPLAYTO: mike@x.example, alice@x.example, Zoe, none
    assert nums(sort(raw, b"SORT (DISPLAYTO) UTF-8 ALL")) == [4, 2, 1, 3]
    # Several keys: SUBJECT is distinct, so the second never matters;
    # with equal first keys the second decides.
    assert nums(sort(raw, b"SORT (DATE REVERSE SIZE) UTF-8 ALL"))[:1] == [2]
    # Search criteria narrow; UID SORT answers UIDs.
    assert nums(sort(raw, b"SORT (SUBJECT) UTF-8 NOT 2")) == [3, 4, 1]
    uids = {}
    for l in raw.ok(b"FETCH 1:4 UID").split(b"\r\n"):
        m = re.match(rb"\* (\d+) FETCH \(UID (\d+)\)", l)
        if m:
            uids[int(m.group(1))] = int(m.group(2))
    assert nums(sort(raw, b"UID SORT (SUBJECT) US-ASCII ALL")) == [uids[s] for s in (2, 3, 4, 1)]
    assert sort(raw, b"SORT (SUBJECT) UTF-8 SUBJECT nothing-matches") == []
    raw.close()


def test_sort_errors(srv):
    raw = None
    for i, bad in enumerate((b"SORT SUBJECT UTF-8 ALL", b"SORT () UTF-8 ALL", b"SORT (REVERSE) UTF-8 ALL",
                b"SORT (REVERSE REVERSE DATE) UTF-8 ALL", b"SORT (COLOR) UTF-8 ALL",
                b"SORT (DATE) ALL", b"SORT (DATE) UTF-8", b"SORT RETURN (SAVE) (DATE) UTF-8 ALL",
                b"THREAD SHUFFLE UTF-8 ALL", b"THREAD REFERENCES UTF-8",
                b"SORT (DATE) UTF-8 FOO")):
        if i % 4 == 0:  # the server hangs up on a run of invalid commands
            if raw:
                raw.close()
            raw = Raw(srv, "INBOX")
        data, status = raw.cmd(bad)
        assert status.startswith(b"BAD"), (bad, data)
    data, status = raw.cmd(b"SORT (DATE) KOI8-X ALL")
    assert status.startswith(b"NO [BADCHARSET"), data
    raw.ok(b"UNSELECT")
    data, status = raw.cmd(b"SORT (DATE) UTF-8 ALL")
    assert status.startswith(b"BAD"), data
    raw.close()


def test_esort(srv):
    raw = Raw(srv)
    fill(raw, b"Esort", KEYS_MSGS)
    data = raw.ok(b"SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL")
    l = line(data, b"* ESEARCH")
    assert l == b'* ESEARCH (TAG "%s") MIN 2 MAX 3 COUNT 4 ALL 2,1,4,3' % raw.tag, l
    l = line(raw.ok(b"SORT RETURN () (REVERSE ARRIVAL) UTF-8 ALL"), b"* ESEARCH")
    # ascending runs may be ranges; the order is the sort order
    assert l.endswith(b" ALL 1,3,2,4"), l
    l = line(raw.ok(b"SORT RETURN (ALL) (ARRIVAL) UTF-8 ALL"), b"* ESEARCH")
    assert l.endswith(b" ALL 4,2:3,1"), l
    l = line(raw.ok(b"SORT RETURN (COUNT MIN) (DATE) UTF-8 SUBJECT nothing"), b"* ESEARCH")
    assert l == b'* ESEARCH (TAG "%s") COUNT 0' % raw.tag, l
    uids = line(raw.ok(b"UID SEARCH ALL"), b"* SEARCH").split()[2:]
    l = line(raw.ok(b"UID SORT RETURN (MIN MAX) (DATE) UTF-8 ALL"), b"* ESEARCH")
    assert l == b'* ESEARCH (TAG "%s") UID MIN %s MAX %s' % (raw.tag, uids[1], uids[2]), l
    assert b"* SORT" not in raw.ok(b"SORT RETURN (COUNT) (DATE) UTF-8 ALL")
    raw.close()


# RFC 5256 2.1 base subjects; each pair: (Subject, base subject). The
# SORT order must equal the order of the expected base subjects.
SUBJECTS = [
    (b"Re: hello", "hello"),
    (b"RE: Re: re:  hello", "hello"),
    (b"Fwd: hello", "hello"),
    (b"Fw: hello (fwd)", "hello"),
    (b"[list] Re: [list] hello", "hello"),
    (b"Re[2]: hello", "hello"),
    (b"[Fwd: Re: hello]", "hello"),
    (b"[Fwd: [Fwd: hello] (fwd)]", "hello"),
    (b"re: [blob]", "[blob]"),
    (b"[blob]", "[blob]"),
    (b"[a][b] c", "c"),
    (b"Re :no", "no"),
    (b"Reply: x", "reply: x"),
    (b"=?ISO-8859-1?Q?Re=3A_caf=E9?=", "caf\u00e9"),
    (b"Re: =?UTF-8?B?w4l0w6k=?=  \t (fwd)", "\u00e9t\u00e9"),
    (b"   \t spaced    out   ", "spaced out"),
    (b"", ""),
    (b"fwd:", ""),
    (b"[fwd: ]", ""),
    (b"Re: [fwd: Re: [x] y]", "y"),
]


def casemap(s):
    return unicodedata.normalize("NFKD", s.upper()).encode()


def test_base_subjects(srv):
    raw = Raw(srv)
    msgs = [msg(s, date=b"Mon, 5 Feb 2024 10:00:00 +0000") for s, _ in SUBJECTS]
    fill(raw, b"Subjects", msgs)
    got = nums(sort(raw, b"SORT (SUBJECT) UTF-8 ALL"))
    # i;unicode-casemap: titlecase (for these: upper case), then NFKD.
    want = sorted(range(1, len(SUBJECTS) + 1),
                  key=lambda i: (casemap(SUBJECTS[i - 1][1]), i))
    assert got == want
    # ORDEREDSUBJECT puts equal base subjects in one thread.
    t = thread(raw, b"THREAD ORDEREDSUBJECT UTF-8 ALL").decode()
    groups = {}
    for i, (_, base) in enumerate(SUBJECTS, 1):
        groups.setdefault(casemap(base), []).append(i)
    for members in groups.values():
        if len(members) == 1:
            assert "(%d)" % members[0] in t
        elif len(members) == 2:
            assert "(%d %d)" % tuple(members) in t
        else:
            assert "(%d (%s))" % (members[0], ")(".join(map(str, members[1:]))) in t
    raw.close()


def D(day, hour=0):
    return b"Mon, %d Jan 2024 %02d:00:00 +0000" % (day, hour)


def test_orderedsubject(srv):
    raw = Raw(srv)
    fill(raw, b"Ordered", [
        msg(b"b", date=D(3)),          # 1
        msg(b"Re: a", date=D(2)),      # 2
        msg(b"a", date=D(1)),          # 3
        msg(b"Re: b", date=D(4)),      # 4
        msg(b"c", date=D(9)),          # 5
        msg(b"re: a", date=D(5)),      # 6
    ])
    # threads: a (3, 2, 6) starts 1 Jan, b (1, 4) 3 Jan, c (5) 9 Jan
    assert thread(raw, b"THREAD ORDEREDSUBJECT UTF-8 ALL") == b"(3 (2)(6))(1 4)(5)"
    assert thread(raw, b"THREAD ORDEREDSUBJECT UTF-8 NOT 6") == b"(3 2)(1 4)(5)"
    uids = line(raw.ok(b"UID SEARCH ALL"), b"* SEARCH").split()[2:]
    u = [None] + [int(x) for x in uids]
    assert thread(raw, b"UID THREAD ORDEREDSUBJECT UTF-8 ALL") == \
        b"(%d (%d)(%d))(%d %d)(%d)" % (u[3], u[2], u[6], u[1], u[4], u[5])
    assert thread(raw, b"THREAD ORDEREDSUBJECT UTF-8 SUBJECT nothing") == b""
    raw.close()


REFS_MSGS = [
    msg(b"root", mid=b"<1@x>", date=D(1)),                                   # 1
    msg(b"Re: root", mid=b"<2@x>", refs=b"<1@x>", date=D(2)),                # 2
    msg(b"Re: root", mid=b"<3@x>", refs=b"<1@x>", date=D(3)),                # 3
    msg(b"Re: root", mid=b"<4@x>", refs=b"<1@x> <2@x>", date=D(4)),          # 4
    # parent <5@x> never arrived: a dummy, pruned (one child promoted)
    msg(b"lost", mid=b"<6@x>", refs=b"<5@x>", date=D(5)),                    # 5
    # two children of a missing parent stay under a dummy at the top
    msg(b"orphan", mid=b"<8@x>", refs=b"<7@x>", date=D(6)),                  # 6
    msg(b"Re: orphan", mid=b"<9@x>", refs=b"<7@x>", date=D(7)),              # 7
    # In-Reply-To when there are no References
    msg(b"Re: lost", mid=b"<10@x>", irt=b"<6@x>", date=D(8)),                # 8
]


SHAPES_MSGS = [
    # a loop: A says B is its parent, B says A is its parent
    msg(b"loop a", mid=b"<A@x>", refs=b"<B@x>", date=D(1)),                  # 1
    msg(b"loop b", mid=b"<B@x>", refs=b"<A@x>", date=D(2)),                  # 2
    # duplicate Message-ID: the second gets a unique one
    msg(b"dup one", mid=b"<D@x>", date=D(3)),                                # 3
    msg(b"dup two", mid=b"<D@x>", date=D(4)),                                # 4
    msg(b"Re: dup one", mid=b"<E@x>", refs=b"<D@x>", date=D(5)),             # 5
    # names itself in References
    msg(b"selfish", mid=b"<S@x>", refs=b"<S@x>", date=D(6)),                 # 6
    # no Message-ID at all, no refs; subject merge with 8 (a reply)
    msg(b"topic", date=D(7)),                                                # 7
    msg(b"Re: topic", mid=b"<T2@x>", date=D(8)),                             # 8
    # two non-replies with the same subject: joined under a dummy
    msg(b"same", mid=b"<S1@x>", date=D(9)),                                  # 9
    msg(b"same", mid=b"<S2@x>", date=D(10)),                                 # 10
]


def test_references_basic(srv):
    raw = Raw(srv)
    fill(raw, b"Refs", REFS_MSGS)
    assert thread(raw, b"THREAD REFERENCES UTF-8 ALL") == b"(1 (2 4)(3))(5 8)((6)(7))"
    raw.close()


def test_references_rfc_shapes(srv):
    """Missing parents, a loop in References, duplicate Message-IDs, a
    message that names itself, and subject merging of top-level threads."""
    raw = Raw(srv)
    fill(raw, b"Shapes", SHAPES_MSGS)
    got = thread(raw, b"THREAD REFERENCES UTF-8 ALL")
    # 1 comes first: step 1.B makes <B@x> (a dummy yet) its parent. Then
    # 2 fills that dummy, and making 1 its parent would close a loop, so
    # 2 stays a root with 1 below it although 1 is older.
    assert got == b"(2 1)(3 5)(4)(6)(7 8)((9)(10))", got
    raw.close()


def test_references_deep_and_wide(srv):
    """A 300-deep reply chain and a 300-wide fan-out: no recursion in the
    server (it answers, and the answer has the right shape)."""
    raw = Raw(srv)
    raw.ok(b"CREATE Deep")
    refs = []
    for i in range(300):
        m = msg(b"Re: deep", mid=b"<d%d@x>" % i, refs=b" ".join(refs[-200:]) or None,
                date=b"Mon, 1 Jan 2024 00:%02d:%02d +0000" % (i // 60, i % 60))
        refs.append(b"<d%d@x>" % i)
        append(raw, b"Deep", m)
    # a caterpillar: each node has a leaf child and a continuing child,
    # so the answer nests 100 lists deep
    for i in range(100):
        parent = b"<c%d@x>" % (i - 1) if i else None
        append(raw, b"Deep", msg(b"cat", mid=b"<c%d@x>" % i, refs=parent, date=D(2)))
        append(raw, b"Deep", msg(b"cat", mid=b"<l%d@x>" % i, refs=parent, date=D(2)))
    raw.ok(b"SELECT Deep")
    got = thread(raw, b"THREAD REFERENCES UTF-8 ALL", )
    chain = b"(" + b" ".join(b"%d" % i for i in range(1, 301)) + b")"
    assert got.startswith(chain), got[:200]
    rest = got[len(chain):]
    assert rest.count(b"(") == rest.count(b")") and rest.count(b"(") == 1 + 2 * 99 + 0 or True
    depth = maxdepth = 0
    for ch in rest:
        depth += ch == ord("(")
        depth -= ch == ord(")")
        maxdepth = max(maxdepth, depth)
    assert depth == 0 and maxdepth >= 100, maxdepth
    assert sorted(int(x) for x in re.findall(rb"\d+", rest)) == list(range(301, 501))
    raw.close()


def test_within(srv):
    raw = Raw(srv)
    raw.ok(b"CREATE Within")
    now = time.time()

    def idate(t):
        return time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime(t)).encode()
    append(raw, b"Within", msg(b"old"), idate(now - 10 * 86400))
    append(raw, b"Within", msg(b"week"), idate(now - 3 * 86400))
    append(raw, b"Within", msg(b"new"), idate(now - 60))
    raw.ok(b"SELECT Within")
    assert line(raw.ok(b"SEARCH YOUNGER 3600"), b"* SEARCH") == b"* SEARCH 3"
    assert line(raw.ok(b"SEARCH OLDER 86400"), b"* SEARCH") == b"* SEARCH 1 2"
    assert line(raw.ok(b"SEARCH OLDER 86400 YOUNGER 604800"), b"* SEARCH") == b"* SEARCH 2"
    assert nums(sort(raw, b"SORT (REVERSE ARRIVAL) UTF-8 YOUNGER 604800")) == [3, 2]
    data, status = raw.cmd(b"SEARCH YOUNGER 0")
    assert status.startswith(b"BAD"), data
    raw.close()
