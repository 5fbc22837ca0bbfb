"""One home per rule (issue #10): where two commands apply the same rule,
they must answer alike, because the rule lives in one place (the store's
keyword and mailbox-name rules, store/rules.c; the mailbox-count limit,
checked in the store's transaction)."""
from rampart_harness import Raw

MSG = b"From: a@example.org\r\nSubject: rules\r\n\r\nbody\r\n"


def append(raw, flags):
    return raw.cmd(b"APPEND INBOX (%s) {%d+}\r\n%s" % (flags, len(MSG), MSG))


def test_keyword_limits_agree_between_store_and_append(shared_server):
    raw = Raw(shared_server, select="INBOX")
    try:
        append(raw, b"\\Seen")  # a message for STORE to work on
        ok128 = b"k" * 128
        too_long = b"k" * 129
        # The longest keyword the store keeps is accepted by both.
        _, st = append(raw, ok128)
        assert st.startswith(b"OK"), st
        _, st = raw.cmd(b"STORE 1 +FLAGS (" + ok128 + b")")
        assert st.startswith(b"OK"), st
        # One byte more is refused by both, with the same words.
        _, st_append = append(raw, too_long)
        _, st_store = raw.cmd(b"STORE 1 +FLAGS (" + too_long + b")")
        assert st_append.startswith(b"NO [LIMIT]"), st_append
        assert st_append == st_store, (st_append, st_store)
        # Too many keywords: the same limit, the same answer.
        many = b" ".join(b"kw%d" % i for i in range(101))
        _, st_append = append(raw, many)
        _, st_store = raw.cmd(b"STORE 1 +FLAGS (" + many + b")")
        assert st_append.startswith(b"NO [LIMIT]"), st_append
        assert st_append == st_store, (st_append, st_store)
        # A malformed keyword is a syntax error for both.
        _, st_append = append(raw, b"bad\\kw")
        _, st_store = raw.cmd(b"STORE 1 +FLAGS (bad\\kw)")
        assert st_append.startswith(b"BAD"), st_append
        assert st_store.startswith(b"BAD"), st_store
        # Nothing over the limit reached the store.
        data = raw.ok(b"FETCH 1:* (FLAGS)")
        assert too_long not in data and b"kw100" not in data
    finally:
        raw.close()


def test_inbox_spellings_are_one_mailbox(shared_server):
    raw = Raw(shared_server)
    try:
        for name in (b"INBOX", b"inbox", b"InBoX"):
            _, st = raw.cmd(b"CREATE " + name)
            assert st.startswith(b"NO [ALREADYEXISTS]"), (name, st)
        raw.ok(b"CREATE inbox/Child")
        data = raw.ok(b'LIST "" "INBOX/*"')
        assert b"INBOX/Child" in data and b"inbox/Child" not in data, data
        raw.ok(b"DELETE Inbox/Child")
    finally:
        raw.close()
