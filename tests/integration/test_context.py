"""CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 4: RETURN (UPDATE) with
ADDTO/REMOVEFROM, positions in sort order, CANCELUPDATE, NOUPDATE) and
PARTIAL (RFC 9394: paged SEARCH, SORT and UID FETCH) against a real server
over TLS. A second session appends, flags and expunges; the first hears of
it during NOOP and IDLE, and a copy kept from the updates alone ends equal
to a fresh search."""
import random
import re

from rampart_harness import Raw, Server, read_until

import pytest


@pytest.fixture(scope="module")
def srv():
    s = Server()
    yield s
    s.close()


def msg(i):
    return b"From: a@example.org\r\nSubject: m%d\r\n\r\nbody %d\r\n" % (i, i)


def fill(raw, box, n):
    raw.ok(b"CREATE " + box)
    for i in range(1, n + 1):
        m = msg(i)
        raw.ok(b"APPEND " + box + b" {%d+}\r\n" % len(m) + m)
    raw.ok(b"SELECT " + box)


def esearch(data):
    got = [l for l in data.split(b"\r\n") if l.startswith(b"* ESEARCH")]
    assert len(got) == 1, data
    return got[0]


def test_capabilities(srv):
    raw = Raw(srv)
    caps = raw.ok(b"CAPABILITY").split(b"\r\n")[0].split()
    for c in (b"CONTEXT=SEARCH", b"CONTEXT=SORT", b"PARTIAL", b"ESEARCH", b"ESORT"):
        assert c in caps
    raw.close()


# ---- PARTIAL (RFC 9394 3.1) ------------------------------------------------

@pytest.fixture(scope="module")
def ten(srv):
    raw = Raw(srv)
    fill(raw, b"ten", 10)
    raw.ok(b"UID STORE 2,4 +FLAGS (\\Seen)")
    yield raw
    raw.close()


@pytest.mark.parametrize("rng,want", [
    (b"1:3", b"(1:3 1:3)"),
    (b"3:1", b"(3:1 1:3)"),             # "500:400 is the same as 400:500"
    (b"-1:-3", b"(-1:-3 8:10)"),        # -1 is the last result
    (b"-3:-1", b"(-3:-1 8:10)"),
    (b"9:20", b"(9:20 9:10)"),          # past the end: what is there
    (b"-20:-9", b"(-20:-9 1:2)"),
    (b"11:20", b"(11:20 NIL)"),         # nothing there: NIL
    (b"-11:-4000000000", b"(-11:-4000000000 NIL)"),
    (b"10:10", b"(10:10 10)"),
])
def test_partial_ranges(ten, rng, want):
    l = esearch(ten.ok(b"UID SEARCH RETURN (PARTIAL " + rng + b") ALL"))
    assert l == b'* ESEARCH (TAG "%s") UID PARTIAL %s' % (ten.tag, want)


def test_partial_sequence_numbers_and_other_options(ten):
    # UNSEEN: UIDs 1,3,5..10 -> positions 2..4 are UIDs 3,5,6
    l = esearch(ten.ok(b"UID SEARCH RETURN (PARTIAL 2:4 COUNT MIN MAX) UNSEEN"))
    assert l == b'* ESEARCH (TAG "%s") UID MIN 1 MAX 10 COUNT 8 PARTIAL (2:4 3,5:6)' % ten.tag
    l = esearch(ten.ok(b"SEARCH RETURN (PARTIAL -2:-1) SEEN"))
    assert l == b'* ESEARCH (TAG "%s") PARTIAL (-2:-1 2,4)' % ten.tag
    l = esearch(ten.ok(b"SEARCH RETURN (PARTIAL 1:5) KEYWORD nothing"))
    assert l == b'* ESEARCH (TAG "%s") PARTIAL (1:5 NIL)' % ten.tag


@pytest.mark.parametrize("opts", [
    b"PARTIAL 1:3 ALL", b"ALL PARTIAL 1:3", b"PARTIAL 1:3 PARTIAL 4:5", b"PARTIAL",
    b"PARTIAL 0:3", b"PARTIAL -1:3", b"PARTIAL 1:*", b"PARTIAL 1", b"PARTIAL -0:-1",
    b"PARTIAL 01:3", b"PARTIAL 1:4294967296", b"PARTIAL (1:3)",
])
def test_partial_bad(ten, opts):
    data, status = ten.cmd(b"UID SEARCH RETURN (" + opts + b") ALL")
    assert status.startswith(b"BAD"), data
    ten.ok(b"NOOP")  # consecutive BADs would end the session


def test_partial_save(ten):
    # RFC 9394 3.2: SAVE with PARTIAL saves the partial result ...
    data = ten.ok(b"UID SEARCH RETURN (SAVE PARTIAL -1:-2) ALL")
    assert b"PARTIAL (-1:-2 9:10)" in data
    assert re.findall(rb"UID (\d+)", ten.ok(b"UID FETCH $ (UID)")) == [b"9", b"10"]
    # ... with MIN added ...
    ten.ok(b"UID SEARCH RETURN (SAVE MIN PARTIAL 5:6) ALL")
    assert re.findall(rb"UID (\d+)", ten.ok(b"UID FETCH $ (UID)")) == [b"1", b"5", b"6"]
    # ... and with COUNT the whole result.
    ten.ok(b"UID SEARCH RETURN (SAVE COUNT PARTIAL 5:6) ALL")
    assert len(re.findall(rb"UID (\d+)", ten.ok(b"UID FETCH $ (UID)"))) == 10


def test_partial_sort_keeps_sort_order(ten):
    # subjects m1, m10, m2, ..., m9: reversed, the first three are m9, m8, m7
    l = esearch(ten.ok(b"UID SORT RETURN (PARTIAL 1:3) (REVERSE SUBJECT) UTF-8 ALL"))
    assert l == b'* ESEARCH (TAG "%s") UID PARTIAL (1:3 9,8,7)' % ten.tag
    l = esearch(ten.ok(b"SORT RETURN (PARTIAL -1:-2 COUNT) (SUBJECT) UTF-8 ALL"))
    # the last two are m8, m9
    assert l == b'* ESEARCH (TAG "%s") COUNT 10 PARTIAL (-1:-2 8:9)' % ten.tag


def test_partial_uid_fetch(ten):
    got = ten.ok(b"UID FETCH 1:* (FLAGS) (PARTIAL -1:-3)")
    assert re.findall(rb"UID (\d+)", got) == [b"8", b"9", b"10"]
    got = ten.ok(b"UID FETCH 2:* (UID) (PARTIAL 2:3)")
    assert re.findall(rb"UID (\d+)", got) == [b"3", b"4"]
    got = ten.ok(b"UID FETCH 1:* (UID) (PARTIAL 11:20)")
    assert b"* " not in got
    data, status = ten.cmd(b"FETCH 1:* (UID) (PARTIAL 1:2)")
    assert status.startswith(b"BAD"), data  # RFC 9394 3.3: UID FETCH only
    ten.ok(b"NOOP")
    data, status = ten.cmd(b"UID FETCH 1:* (UID) (PARTIAL 1:2 PARTIAL 3:4)")
    assert status.startswith(b"BAD"), data
    ten.ok(b"NOOP")


def test_partial_uid_fetch_changedsince(ten):
    ten.ok(b"ENABLE CONDSTORE")
    got = ten.ok(b"UID FETCH 1:* (MODSEQ)")
    mods = [int(m) for m in re.findall(rb"MODSEQ \((\d+)\)", got)]
    top = max(mods)
    ten.ok(b"UID STORE 9 +FLAGS (\\Flagged)")
    # the last three of the set, of which only 9 changed
    got = ten.ok(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d PARTIAL -1:-3)" % top)
    assert re.findall(rb"UID (\d+)", got) == [b"9"]


# ---- CONTEXT=SEARCH updates (RFC 5267 4.3) -------------------------------

def updates(data, tag):
    """The ADDTO/REMOVEFROM items for tag, in order: [(what, set)]."""
    out = []
    for l in data.split(b"\r\n"):
        m = re.match(rb'\* ESEARCH \(TAG "([^"]+)"\)( UID)? (.*)$', l)
        if not m or m.group(1) != tag:
            continue
        out += re.findall(rb"(ADDTO|REMOVEFROM) \(0 ([\d:,]+)\)", m.group(3))
    return out


def test_update_noop(srv):
    a = Raw(srv)
    fill(a, b"upd", 6)
    a.ok(b"UID STORE 1:2 +FLAGS (\\Seen)")
    data = a.ok(b"UID SEARCH RETURN (UPDATE COUNT) UNSEEN")
    ctx = a.tag
    assert esearch(data) == b'* ESEARCH (TAG "%s") UID COUNT 4' % ctx
    b = Raw(srv, select="upd")
    m = msg(7)
    b.ok(b"APPEND upd {%d+}\r\n" % len(m) + m)          # uid 7 matches
    b.ok(b"UID STORE 3 +FLAGS (\\Seen)")                # 3 stops matching
    b.ok(b"UID STORE 1 -FLAGS (\\Seen)")                # 1 starts matching
    b.ok(b"UID STORE 5 +FLAGS (\\Deleted)")
    b.ok(b"UID EXPUNGE 5")                              # 5 leaves
    b.ok(b"UID STORE 6 +FLAGS (\\Flagged)")             # still matches: no update
    data = a.ok(b"NOOP")
    got = updates(data, ctx)
    assert sorted(got) == sorted([(b"ADDTO", b"1"), (b"ADDTO", b"7"),
                                  (b"REMOVEFROM", b"3"), (b"REMOVEFROM", b"5")]) or \
        sorted(got) == sorted([(b"ADDTO", b"1,7"), (b"REMOVEFROM", b"3"),
                               (b"REMOVEFROM", b"5")]), data
    # RFC 5267 4.3.3/4.3.4: ADDTO after EXISTS, REMOVEFROM before EXPUNGE
    assert data.index(b"EXISTS") < data.index(b"ADDTO")
    assert data.index(b"REMOVEFROM (0 5)") < data.index(b"EXPUNGE")
    # the maintained result is the server's
    now = esearch(a.ok(b"UID SEARCH RETURN (ALL) UNSEEN"))
    assert now.endswith(b"ALL 1,4,6:7")
    # our own STORE changes the result too
    data = a.ok(b"UID STORE 4 +FLAGS (\\Seen)")
    assert updates(data, ctx) == [(b"REMOVEFROM", b"4")], data
    # CANCELUPDATE ends it: no further updates
    a.ok(b'CANCELUPDATE "%s"' % ctx)
    b.ok(b"UID STORE 6 +FLAGS (\\Seen)")
    assert updates(a.ok(b"NOOP"), ctx) == []
    data, status = a.cmd(b'CANCELUPDATE "%s"' % ctx)
    assert status.startswith(b"BAD"), data
    a.close()
    b.close()


def test_update_sequence_numbers_and_idle(srv):
    a = Raw(srv)
    fill(a, b"updseq", 4)
    a.ok(b"STORE 2 +FLAGS (\\Flagged)")
    data = a.ok(b"SEARCH RETURN (UPDATE) FLAGGED")
    ctx = a.tag
    assert esearch(data) == b'* ESEARCH (TAG "%s")' % ctx
    a.s.sendall(b"i1 IDLE\r\n")
    assert read_until(a.s, b"\r\n").startswith(b"+")
    b = Raw(srv, select="updseq")
    b.ok(b"STORE 4 +FLAGS (\\Flagged)")
    got = read_until(a.s, b"ADDTO", timeout=20)
    got += read_until(a.s, b")\r\n", timeout=20) if not got.endswith(b")\r\n") else b""
    assert (b"ADDTO", b"4") in updates(got, ctx), got
    b.ok(b"STORE 2 +FLAGS (\\Deleted)")
    b.ok(b"EXPUNGE")
    got = read_until(a.s, b"EXPUNGE", timeout=20)
    # before the EXPUNGE, in the numbers it invalidates
    assert b'* ESEARCH (TAG "%s") REMOVEFROM (0 2)\r\n* 2 EXPUNGE' % ctx in got, got
    a.s.sendall(b"DONE\r\n")
    read_until(a.s, b"i1 OK")
    # message 4 (now 3) still matches
    assert esearch(a.ok(b"SEARCH RETURN (ALL) FLAGGED")).endswith(b"ALL 3")
    a.close()
    b.close()


def test_update_tag_reuse_noupdate_and_end(srv):
    a = Raw(srv)
    fill(a, b"updlim", 3)
    a.s.sendall(b'x1 UID SEARCH RETURN (UPDATE) ALL\r\n')
    read_until(a.s, b"x1 OK")
    # RFC 5267 4.3: a tag in use by an updating search is BAD
    a.s.sendall(b'x1 UID SEARCH RETURN (UPDATE) ALL\r\n')
    got = read_until(a.s, b"x1 BAD")
    # NOUPDATE: criteria with sequence numbers, answered otherwise
    data = a.ok(b"SEARCH RETURN (UPDATE COUNT) 1:2")
    assert b'* NO [NOUPDATE "%s"]' % a.tag in data
    assert esearch(data).endswith(b"COUNT 2")
    # NOUPDATE: too many contexts (x1 is one)
    refused = 0
    for _ in range(12):
        data = a.ok(b"UID SEARCH RETURN (UPDATE) ALL")
        refused += b"NOUPDATE" in data
    assert refused == 12 - 7, "max_search_contexts is 8 by default"
    # contexts end with the selection
    a.ok(b"UNSELECT")
    a.ok(b"SELECT updlim")
    data, status = a.cmd(b'CANCELUPDATE "x1"')
    assert status.startswith(b"BAD"), got + data
    a.close()


# ---- a client keeping its copy by the updates ends with the server's ------

def expand(text):
    out = []
    for part in text.split(b","):
        if b":" in part:
            lo, hi = (int(x) for x in part.split(b":"))
            out += list(range(lo, hi + 1)) if lo <= hi else list(range(lo, hi - 1, -1))
        else:
            out.append(int(part))
    return out


def apply_updates(result, data, tag, seqs=False):
    """RFC 5267 4.3.3/4.3.4 as a client applies them, item by item and
    pair by pair in order: position 0 keeps mailbox order. With sequence
    numbers, each EXPUNGE renumbers (a message it names must have left by
    a REMOVEFROM before it)."""
    for l in data.split(b"\r\n"):
        e = re.match(rb"\* (\d+) EXPUNGE$", l)
        if e and seqs:
            n = int(e.group(1))
            assert n not in result, (l, result)
            result[:] = [v - 1 if v > n else v for v in result]
            continue
        m = re.match(rb'\* ESEARCH \(TAG "([^"]+)"\)(?: UID)? (.*)$', l)
        if not m or m.group(1) != tag:
            continue
        for what, payload in re.findall(rb"(ADDTO|REMOVEFROM) \(([^)]*)\)", m.group(2)):
            words = payload.split()
            assert len(words) % 2 == 0, l
            for pos, s in zip(words[0::2], words[1::2]):
                pos, vals = int(pos), expand(s)
                if what == b"REMOVEFROM":
                    for v in vals:
                        assert v in result, (l, result)
                        if pos:
                            assert result[pos - 1] == v, (l, result)
                        result.remove(v)
                elif pos == 0:
                    result += vals
                    result.sort()
                else:
                    result[pos - 1:pos - 1] = vals
                    pos += len(vals)
    return result


def all_of(data):
    m = re.search(rb" ALL ([\d:,]+)", esearch(data))
    return expand(m.group(1)) if m else []


def subj_msg(subject, body=b"x"):
    return b"From: a@example.org\r\nSubject: " + subject + b"\r\n\r\n" + body + b"\r\n"


def test_sort_context_positions(srv):
    a = Raw(srv)
    a.ok(b"CREATE sortctx")
    for sub in (b"b", b"d", b"f"):
        m = subj_msg(sub)
        a.ok(b"APPEND sortctx {%d+}\r\n" % len(m) + m)
    a.ok(b"SELECT sortctx")
    d1 = a.ok(b"UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNDELETED")
    t1 = a.tag
    assert all_of(d1) == [1, 2, 3]
    d2 = a.ok(b"UID SORT RETURN (UPDATE ALL) (REVERSE SUBJECT) UTF-8 ALL")
    t2 = a.tag
    assert all_of(d2) == [3, 2, 1]
    b = Raw(srv, select="sortctx")
    for sub in (b"c", b"a"):
        m = subj_msg(sub)
        b.ok(b"APPEND sortctx {%d+}\r\n" % len(m) + m)     # uids 4, 5
    data = a.ok(b"NOOP")
    # c goes between b and d, a first; reversed: c before b, a last
    assert updates_pos(data, t1) == [(b"ADDTO", b"2 4"), (b"ADDTO", b"1 5")], data
    assert updates_pos(data, t2) == [(b"ADDTO", b"3 4"), (b"ADDTO", b"5 5")], data
    b.ok(b"UID STORE 2 +FLAGS (\\Deleted)")                 # d leaves t1 (a b c d f)
    data = a.ok(b"NOOP")
    assert updates_pos(data, t1) == [(b"REMOVEFROM", b"4 2")], data
    assert updates_pos(data, t2) == []
    b.ok(b"EXPUNGE")                                        # d leaves t2 (f d c b a)
    data = a.ok(b"NOOP")
    assert updates_pos(data, t2) == [(b"REMOVEFROM", b"2 2")], data
    assert data.index(b"REMOVEFROM") < data.index(b"EXPUNGE")
    assert all_of(a.ok(b"UID SORT RETURN (ALL) (SUBJECT) UTF-8 UNDELETED")) == [5, 1, 4, 3]
    b.close()
    a.close()


def updates_pos(data, tag):
    """[(what, b"pos value")], one per pair."""
    out = []
    for l in data.split(b"\r\n"):
        m = re.match(rb'\* ESEARCH \(TAG "([^"]+)"\)( UID)? (.*)$', l)
        if m and m.group(1) == tag:
            for what, payload in re.findall(rb"(ADDTO|REMOVEFROM) \(([^)]*)\)", m.group(3)):
                w = payload.split()
                out += [(what, p + b" " + v) for p, v in zip(w[0::2], w[1::2])]
    return out


@pytest.mark.parametrize("uid", [True, False])
def test_updates_keep_client_copy_exact(srv, uid):
    """Another session appends, flags, unflags and expunges in rounds;
    after each round the copies kept from the updates of a SEARCH, a SORT
    and a text search equal a fresh search."""
    rnd = random.Random(5267 + uid)
    box = b"mirror%d" % uid
    a = Raw(srv)
    a.ok(b"CREATE " + box)
    b = Raw(srv)
    subjects = [b"kiwi", b"apple", b"fig", b"date", b"lime", b"pear"]

    def add(n):
        for _ in range(n):
            m = subj_msg(rnd.choice(subjects), b"needle" if rnd.random() < 0.5 else b"hay")
            b.ok(b"APPEND " + box + b" {%d+}\r\n" % len(m) + m)

    add(30)
    a.ok(b"SELECT " + box)
    b.ok(b"SELECT " + box)
    u = b"UID " if uid else b""
    queries = {
        "search": (b"SEARCH RETURN (UPDATE ALL) UNSEEN UNDELETED", b"SEARCH RETURN (ALL) UNSEEN UNDELETED"),
        "sort": (b"SORT RETURN (UPDATE ALL) (SUBJECT REVERSE ARRIVAL) UTF-8 UNFLAGGED",
                 b"SORT RETURN (ALL) (SUBJECT REVERSE ARRIVAL) UTF-8 UNFLAGGED"),
        "text": (b"SEARCH RETURN (UPDATE ALL) BODY needle", b"SEARCH RETURN (ALL) BODY needle"),
    }
    copies, tags = {}, {}
    for k, (q, _) in queries.items():
        copies[k] = all_of(a.ok(u + q))
        tags[k] = a.tag
    for rnd_i in range(6):
        add(rnd.randint(0, 5))
        uids = [int(x) for x in re.findall(rb"UID (\d+)", b.ok(b"UID FETCH 1:* (UID)"))]
        for x in rnd.sample(uids, min(len(uids), 8)):
            op = rnd.choice([b"+FLAGS (\\Seen)", b"-FLAGS (\\Seen)", b"+FLAGS (\\Flagged)",
                             b"-FLAGS (\\Flagged)", b"+FLAGS (\\Deleted)"])
            b.ok(b"UID STORE %d " % x + op)
        if rnd_i % 2:
            b.ok(b"EXPUNGE")
        data = a.ok(b"NOOP")
        for k, (_, fresh) in queries.items():
            copies[k] = apply_updates(copies[k], data, tags[k], seqs=not uid)
            assert copies[k] == all_of(a.ok(u + fresh)), (k, rnd_i, data)
    b.close()
    a.close()


def test_max_search_contexts_config():
    s = Server(extra_config="[limits]\nmax_search_contexts = 1\n")
    try:
        a = Raw(s)
        fill(a, b"one", 2)
        assert b"NOUPDATE" not in a.ok(b"UID SEARCH RETURN (UPDATE) ALL")
        first = a.tag
        data = a.ok(b"UID SORT RETURN (UPDATE COUNT) (ARRIVAL) UTF-8 ALL")
        assert b'* NO [NOUPDATE "%s"]' % a.tag in data and b"COUNT 2" in data
        a.ok(b'CANCELUPDATE "%s"' % first)               # frees the one place
        assert b"NOUPDATE" not in a.ok(b"UID SORT RETURN (UPDATE) (ARRIVAL) UTF-8 ALL")
        a.close()
    finally:
        s.close()
