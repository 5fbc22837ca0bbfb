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
