#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<harness>/ (committed; run
again after changing a seed here). Each seed is small and names what it
exercises; seeds called regress_* reproduce bugs found before.

    python3 tests/fuzz/make_seeds.py            # from the repository root
"""
import base64
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
MIME_DATA = os.path.join(ROOT, "tests", "data", "mime")


def write_corpus(name, seeds):
    d = os.path.join(CORPUS, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for fname, data in seeds.items():
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)


# fuzz_parser: byte 0 = limit set (0 default, 1 tiny, 2 small, 3 no
# literals/depth, 4 medium), byte 1 = chunking seed, then the stream.
def parser_seeds():
    s = {}

    def add(name, limits, seed, text):
        s[name] = bytes([limits, seed]) + text

    add("login_quoted", 0, 1, b'a1 LOGIN "alice" "pa\\"ss\\\\word"\r\n')
    add("login_sync_literal", 0, 2, b"a1 LOGIN {5}\r\nalice {3}\r\npwd\r\n")
    add("literal_plus", 0, 3, b"a2 APPEND INBOX (\\Seen) {11+}\r\nhello world\r\n")
    add("literal_minus", 2, 4, b"a3 APPEND INBOX {5-}\r\nhello\r\n")
    add("literal8", 0, 5, b"a4 APPEND INBOX ~{4}\r\n\x00\x01\x02\x03\r\n")
    add("multiappend", 0, 6, b"a5 APPEND Sent (\\Seen) \"14-Nov-2023 10:00:00 +0100\" {3+}\r\nabc {2+}\r\nde\r\n")
    add("fetch_sections", 0, 7,
        b"a6 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100> BINARY[1.2])\r\n")
    add("nested_lists", 0, 8, b"a7 X (a (b (c (d (e)))) \"q\" NIL {0}\r\n)\r\n")
    add("depth_over_limit", 1, 9, b"a8 X ((((((((x))))))))\r\n")
    add("line_over_limit", 1, 10, b"a9 NOOP " + b"x" * 80 + b"\r\na10 NOOP\r\n")
    add("literal_over_limit_sync", 1, 11, b"b1 APPEND INBOX {100}\r\nb2 NOOP\r\n")
    add("literal_over_limit_nonsync", 1, 12, b"b3 APPEND INBOX {100+}\r\n" + b"y" * 100 + b"\r\n")
    add("no_literals_allowed", 3, 13, b"b4 LOGIN {1}\r\nx y\r\n")
    add("too_many_args", 3, 14, b"b5 X a b c d e f\r\n")
    add("pipelined", 4, 15, b"c1 NOOP\r\nc2 CAPABILITY\r\nc3 SELECT INBOX\r\nc4 LOGOUT\r\n")
    add("bare_lf", 0, 16, b"c5 NOOP\nc6 NOOP\r\n")
    add("nul_in_line", 0, 17, b"c7 LOGIN a\x00b c\r\n")
    add("unterminated_quote", 0, 18, b'c8 LOGIN "alice\r\nc9 NOOP\r\n')
    add("empty_lines", 0, 19, b"\r\n\r\n  \r\nd1 NOOP\r\n")
    add("no_command", 0, 20, b"d2\r\nd3 \r\n*\r\n+ x\r\n")
    add("bracket_atom", 0, 21, b"d4 FETCH 1 BODY[HEADER.FIELDS.NOT (Subject \"A]B\")]\r\n")
    add("search_charset", 0, 22, b"d5 SEARCH CHARSET UTF-8 TEXT {6+}\r\n\xc3\xa4bc\xc3\xb6\r\n")
    add("idle_done", 0, 23, b"d6 IDLE\r\nDONE\r\n")
    add("authenticate_ir", 0, 24, b"d7 AUTHENTICATE PLAIN AGFsaWNlAHB3\r\n")
    add("seqsets", 0, 25, b"d8 STORE 1,3:5,7:*,4294967295,*:2 +FLAGS.SILENT (\\Deleted $Junk)\r\n")
    add("seqset_bad", 0, 26, b"d9 FETCH 0,1::2,,3 FLAGS\r\n")
    add("literal_size_overflow", 0, 27, b"e1 LOGIN {99999999999999999999}\r\n")
    add("literal_bad_close", 0, 28, b"e2 LOGIN {5x}\r\nalice\r\n")
    add("utf8_mailbox", 0, 29, b'e3 CREATE "Entw\xc3\xbcrfe/Pl\xc3\xa4ne"\r\n')
    add("high_bytes", 0, 30, b"e4 NOOP \xff\xfe\x80\r\n")
    add("command_over_limit", 2, 31, b"e5 APPEND INBOX {1000}\r\n" + b"z" * 1000 + b" {1000}\r\n")
    # preview: REPLACE and UID REPLACE (RFC 8508) spool their message like APPEND.
    add("replace_spooled", 5, 32,
        b"f1 REPLACE 2 Drafts (\\Draft) {40+}\r\n" + b"r" * 40 + b"\r\nf2 NOOP\r\n")
    add("uid_replace_spooled", 5, 33,
        b"f3 UID REPLACE 7 Drafts \"1-Jan-2024 10:00:00 +0000\" {30}\r\n" + b"u" * 30 + b"\r\n")
    add("replace_utf8_small", 5, 34, b"f4 REPLACE * Drafts UTF8 (~{5+}\r\nsmall)\r\n")
    # aclcopy: LIST-EXTENDED return options with RFC 8440 MYRIGHTS
    add("list_return_myrights", 0, 32,
        b'f1 LIST (SUBSCRIBED) "" ("*" "Other Users/%") RETURN (MYRIGHTS STATUS (MESSAGES) CHILDREN)\r\n')
    return s


# fuzz_mime: byte 0 = length k of the section spec in bytes 1..k, then the message.
REGRESS_MIME = {
    # 3ff0270: a header block ending right before a boundary kept its line break.
    "regress_header_then_boundary_rfc822":
        b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
        b"Content-Type: message/rfc822\r\n\r\nFrom: x\r\n\r\n--o--\r\n",
    "regress_header_then_boundary_digest":
        b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
        b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\nX: y\r\n--o--\r\n",
}

MIME_SECTIONS = [b"", b"HEADER", b"TEXT", b"1", b"1.MIME", b"2", b"1.HEADER",
                 b"HEADER.FIELDS (From Subject)", b"HEADER.FIELDS.NOT (Received)",
                 b"2.1.TEXT", b"1.2", b"3.HEADER.FIELDS (Content-Type)"]


def mime_seeds():
    s = {}
    files = sorted(f for f in os.listdir(MIME_DATA) if f.endswith(".eml"))
    for i, f in enumerate(files):
        with open(os.path.join(MIME_DATA, f), "rb") as fh:
            msg = fh.read()
        for j, sec in enumerate((MIME_SECTIONS[i % len(MIME_SECTIONS)],
                                 MIME_SECTIONS[(i + 5) % len(MIME_SECTIONS)])):
            s["%s_%d" % (f[:-4], j)] = bytes([len(sec)]) + sec + msg
    for i, (name, msg) in enumerate(REGRESS_MIME.items()):
        sec = [b"1", b"1.TEXT"][i % 2]
        s[name] = bytes([len(sec)]) + sec + msg
        s[name + "_header"] = bytes([6]) + b"HEADER" + msg
    s["deep_nesting"] = bytes([0]) + b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(40))
    s["encoded_words"] = bytes([0]) + (
        b"Subject: =?ISO-8859-1?Q?caf=E9?= =?UTF-8?B?w7xiZXI=?= =?X?Q?bad?=\r\n"
        b"From: =?UTF-8?Q?J=C3=B6rg?= <j@example.org>\r\nDate: 31 Dec 1999 23:59:60 -1200\r\n\r\nx\r\n")
    s["binary_base64_bad"] = bytes([1]) + b"1" + (
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nQUJD=RE*\r\n--x--\r\n")
    return s


# fuzz_fetch_items: the text after "FETCH 1 ".
def fetch_seeds():
    items = {
        "all": b"ALL", "fast": b"FAST", "full": b"FULL",
        "simple_list": b"(UID FLAGS INTERNALDATE RFC822.SIZE SAVEDATE ENVELOPE BODY BODYSTRUCTURE)",
        "rfc822": b"(RFC822 RFC822.HEADER RFC822.TEXT)",
        "body_peek_partial": b"BODY.PEEK[]<0.1024>",
        "body_sections": b"(BODY[HEADER] BODY[TEXT] BODY[1.2.MIME] BODY[2.HEADER] BODY[3.TEXT])",
        "header_fields": b"BODY[HEADER.FIELDS (From To \"Cc\" {3}\r\nBcc)]",
        "header_fields_not": b"body.peek[header.fields.not (received dkim-signature)]<10.20>",
        "binary": b"(BINARY[] BINARY.PEEK[1.2]<0.5> BINARY.SIZE[1])",
        "binary_size_partial": b"BINARY.SIZE[1]<0.10>",
        "binary_zero_part": b"BINARY[1.0]",
        "bad_partial": b"BODY[]<5>",
        "zero_count": b"BODY[]<0.0>",
        "macro_in_list": b"(ALL)",
        "unknown": b"(UID X-UNKNOWN)",
        "missing_bracket": b"BODY[HEADER",
        "quoted_item": b"(\"UID\")",
        "nested_list": b"(UID (FLAGS))",
        "empty_list": b"()",
        "field_colon": b"BODY[HEADER.FIELDS (Fro:m)]",
        "many_parts": b"BODY[" + b".".join(b"1" for _ in range(33)) + b"]",
        "many_binary_parts": b"BINARY[" + b".".join(b"2" for _ in range(33)) + b"]",
        "too_many_bodies": b"(" + b" ".join(b"BODY[%d]" % (i + 1) for i in range(33)) + b")",
        "too_many_items": b"(" + b" ".join(b"UID" for _ in range(257)) + b")",
        "huge_origin": b"BODY[]<18446744073709551615.18446744073709551615>",
        "overflow_origin": b"BODY[]<18446744073709551616.1>",
        "long_field": b"BODY[HEADER.FIELDS (" + b"X" * 201 + b")]",
        "mime_no_part": b"BODY[MIME]",
        "text_after_close": b"BODY[TEXT]x",
        # objectid (RFC 8474 5)
        "objectid": b"(UID EMAILID THREADID FLAGS)",
        "objectid_bracket": b"EMAILID[]",
        # preview (RFC 8970 3.1)
        "preview_lazy": b"(UID PREVIEW (LAZY) PREVIEW FLAGS)",
        "preview_bad_mods": b"(PREVIEW () PREVIEW (FUZZY LAZY) PREVIEW ((LAZY)))",
    }
    return items


# fuzz_search: byte 0 = context bits (1 rev2, 2 saved "$", 4/8 charset, 16
# a RETURN list first), then criteria.
def search_seeds():
    c = {
        "all": (0, b"ALL"),
        "flags": (0, b"ANSWERED DELETED DRAFT FLAGGED SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN"),
        "rev1_recent": (0, b"OR NEW OLD RECENT"),
        "rev2_recent_bad": (1, b"RECENT"),
        "keyword": (0, b"KEYWORD $Important UNKEYWORD work"),
        "dates": (0, b"BEFORE 1-Jan-2024 ON 14-Nov-2023 SINCE 13-Nov-2023"),
        "sent_dates": (0, b"SENTBEFORE 1-Jan-2030 SENTON 14-Nov-2023 SENTSINCE 1-Feb-1999"),
        "save_dates": (0, b"SAVEDATESUPPORTED SAVEDBEFORE 1-Jan-2030 SAVEDON 14-Nov-2023 SAVEDSINCE 1-Jan-2000"),
        "save_dates_nested": (2, b"OR NOT SAVEDON 29-Feb-2024 (SAVEDSINCE 1-Jan-1970 NOT SAVEDATESUPPORTED) UID $"),
        "save_date_bad": (0, b"SAVEDBEFORE 29-Feb-2023 SAVEDON"),
        "sizes": (0, b"LARGER 100 SMALLER 4294967295"),
        "headers": (0, b'FROM alice TO "bob@" CC x BCC y SUBJECT gr\xc3\xbc\xc3\x9fe HEADER Content-Type alternative'),
        "body_text": (0, b"BODY stra\xc3\x9fe TEXT LUNCH"),
        "literal": (0, b"TEXT {5+}\r\nnoon\r"),
        "or_not": (0, b"OR SEEN NOT FLAGGED NOT NOT DELETED"),
        "nested": (0, b"(OR (SEEN FLAGGED) (NOT (UID 1:* DRAFT)))"),
        "seqset": (0, b"1:3,5,*"),
        "uidset": (0, b"UID 3,7:*"),
        "saved": (2, b"$ UID $"),
        "saved_missing": (0, b"UID $"),
        "modseq": (0, b"MODSEQ 11"),
        # objectid (RFC 8474 6)
        "objectid": (0, b"OR EMAILID M0123456789abcdef01234567 THREADID T1"),
        "objectid_bad": (0, b"EMAILID \"a b\" THREADID"),
        "objectid_long": (0, b"EMAILID " + b"M" * 256),
        "older_younger": (0, b"OLDER 3600 YOUNGER 100000"),
        "charset_latin1": (8, b"TEXT caf\xe9"),
        "charset_unknown": (12, b"TEXT x"),
        "charset_utf8": (4, b"SUBJECT \xc3\xbc"),
        "bad_date": (0, b"BEFORE 31-Feb-2023"),
        "bad_key": (0, b"FROBNICATE"),
        "missing_arg": (0, b"OR SEEN"),
        "deep": (0, b"(" * 30 + b"SEEN" + b")" * 30),
        "deep_not": (0, b"NOT " * 200 + b"SEEN"),
        "empty_string": (0, b'SUBJECT ""'),
        "zero_seq": (0, b"0:3"),
        "header_empty_field": (0, b'HEADER "" x'),
        # context (bit 16): the first argument is a RETURN list (RFC 5267 4, RFC 9394)
        "return_partial": (16, b"(MIN COUNT PARTIAL -1:-100) UNSEEN"),
        "return_partial_pos": (16, b"(PARTIAL 500:1 SAVE) ALL"),
        "return_update": (16, b"(UPDATE CONTEXT COUNT) KEYWORD $Junk"),
        "return_partial_all_bad": (16, b"(ALL PARTIAL 1:5) ALL"),
        "return_partial_mixed_bad": (16, b"(PARTIAL -1:5) ALL"),
        "return_fetch_mods": (16, b"(CHANGEDSINCE 5 PARTIAL 1:4294967295 VANISHED) ALL"),
        # uidonly (RFC 9586 3) / multisearch (RFC 7377): sequence sets refused
        "no_seqs_refused": (32, b"OR 1:3 UID 4"),
        "no_seqs_uid_ok": (34, b"UID 1:* $ NOT UID 5"),
    }
    seeds = {k: bytes([ctx]) + v for k, (ctx, v) in c.items()}
    # Found by the first libFuzzer run (a harness mistake, kept as a seed):
    # a cheap key decides before the unreadable content is ever needed.
    seeds["short_circuit_unreadable"] = base64.b64decode(
        "AEJPRFkgjYvjjafDn1NURTZTskNBRkXMgVnMiFnMiFnMiFnMiFnMiFnMiFXMiFk5MTA0IDQ0Nw==")
    return seeds


# fuzz_seqset: bytes 0..3 = '*' little endian, then the set.
def seqset_seeds():
    def star(v):
        return v.to_bytes(4, "little")
    c = {
        "single": (10, b"1"),
        "ranges": (10, b"1:3,5,7:9"),
        "star": (10, b"1:*"),
        "star_zero": (0, b"1:*"),
        "reversed": (10, b"9:2,*:4"),
        "overlap": (100, b"1:50,25:75,76,78:80,79"),
        "max": (0xffffffff, b"4294967295,1:*"),
        "overflow": (10, b"4294967296"),
        "leading_zero": (10, b"01"),
        "zero": (10, b"0"),
        "empty_element": (10, b"1,,2"),
        "trailing_comma": (10, b"1,2,"),
        "double_colon": (10, b"1::2"),
        "dollar": (10, b"$"),
        "spaces": (10, b"1, 2"),
        "adjacent": (10, b"1,2,3,4,5,6,7,8,9,10"),
        "many": (1000, b",".join(b"%d" % (i * 2 + 1) for i in range(300))),
        "add_pairs": (5, bytes(range(0, 64))),
    }
    return {k: star(v) + t for k, (v, t) in c.items()}


# fuzz_oauth: byte 0 = mode (0 OAUTHBEARER, 1 XOAUTH2, 2 raw token,
# 3 header NUL claims, signed by the harness), then the input.
def oauth_seeds():
    claims = b'{"iss":"i","aud":"a","u":"alice","exp":1900000000,"nbf":1700000000}'
    tok = b"eyJhbGciOiJFUzI1NiJ9.eyJ1IjoiYWxpY2UifQ.c2ln"
    return {
        "bearer": b"\x00n,a=alice,\x01host=h\x01port=993\x01auth=Bearer " + tok + b"\x01\x01",
        "bearer_escapes": b"\x00y,a=a=2Cb=3D,\x01auth=bearer  abc~+/==\x01\x01",
        "bearer_dummy": b"\x00\x01",
        "bearer_cbind": b"\x00p=tls-unique,,\x01auth=Bearer x\x01\x01",
        "xoauth2": b"\x01user=alice\x01auth=Bearer " + tok + b"\x01\x01",
        "xoauth2_order": b"\x01auth=Bearer x\x01user=alice\x01\x01",
        "token": b"\x02" + tok,
        "token_none": b"\x02eyJhbGciOiJub25lIn0.eyJ1IjoiYWxpY2UifQ.",
        "signed_ok": b'\x03{"alg":"ES256","kid":"k"}\x00' + claims,
        "signed_aud_list": b'\x03{"alg":"ES256"}\x00{"iss":"i","aud":["x","a"],"u":"bob","exp":1.9e9}',
        "signed_expired": b'\x03{"alg":"ES256","kid":"k"}\x00{"iss":"i","aud":"a","u":"a","exp":1}',
        "signed_hs256": b'\x03{"alg":"HS256","kid":"k"}\x00' + claims,
        "signed_dup": b'\x03{"alg":"ES256"}\x00{"u":"a","u":"root","iss":"i","aud":"a","exp":1900000000}',
    }


# fuzz_quota: byte 0 even: the text after "SETQUOTA "; odd: admins NUL user.
def quota_seeds():
    q = {
        "all": b'"User quota" (STORAGE 512 MESSAGE 1000 MAILBOX 50)',
        "empty": b'"User quota" ()',
        "lower_case": b'"User quota" (storage 1 Mailbox 2)',
        "unknown": b'"User quota" (ANNOTATION-STORAGE 10 STORAGE 1)',
        "zero": b'"User quota" (STORAGE 0)',
        "dup": b'"User quota" (STORAGE 1 STORAGE 2)',
        "odd": b'"User quota" (STORAGE)',
        "max": b'"User quota" (MESSAGE 9223372036854775807)',
        "over": b'"User quota" (MESSAGE 9223372036854775808)',
        "negative": b'"User quota" (MESSAGE -1)',
        "literal": b'{10}\r\nUser quota (STORAGE {2}\r\n10)',
        "nested": b'"" ((STORAGE 1))',
        "not_list": b'"" STORAGE',
    }
    s = {name: b"\x00" + text for name, text in q.items()}
    s["admins"] = b"\x01boss, chief\x00chief"
    s["admins_prefix"] = b"\x01bossy\x00boss"
    s["admins_empty_user"] = b"\x01 , ,\x00"
    s["admins_tabs"] = b"\x01a\tb,,c\x00b"
    return s
# fuzz_thread: messages separated by NUL bytes (sort: SORT/THREAD keys).
def thread_seeds():
    def m(subject, mid=None, refs=None, irt=None, date=b"Mon, 1 Jan 2024 10:00:00 +0000"):
        h = b"Date: " + date + b"\r\nFrom: A <a@x>\r\nSubject: " + subject + b"\r\n"
        if mid:
            h += b"Message-ID: " + mid + b"\r\n"
        if refs:
            h += b"References: " + refs + b"\r\n"
        if irt:
            h += b"In-Reply-To: " + irt + b"\r\n"
        return h + b"\r\nbody\r\n"
    return {
        "subjects": b"\0".join(m(s) for s in (
            b"Re: [list] Fwd: x (fwd)", b"[Fwd: Re: x]", b"=?UTF-8?Q?Re=3A_caf=C3=A9?=",
            b"[a][b]", b"re : [b] :x", b"  \t  ")),
        "references": b"\0".join((
            m(b"root", b"<1@x>"), m(b"Re: root", b"<2@x>", b"<1@x>"),
            m(b"Re: root", b"<3@x>", b"<1@x> <2@x>"), m(b"lost", b"<4@x>", b"<9@x>"),
            m(b"irt", b"<5@x>", None, b"<4@x>"))),
        "loops": b"\0".join((
            m(b"a", b"<a>", b"<c> <b>"), m(b"b", b"<b>", b"<a> <c>"), m(b"c", b"<c>", b"<b> <a>"),
            m(b"self", b"<s>", b"<s> <s>"), m(b"dup", b"<a>"), m(b"dup", b"<a>", b"<a>"))),
        "same_subject": b"\0".join(m(b"same", b"<%d>" % i) for i in range(5)),
        "no_ids": b"\0".join((m(b"x"), m(b"Re: x"), b"", b"garbage\r\n")),
        "literal_envelope": m(b"caf\xc3\xa9 \"quoted\" \\ back", b"<\xc3\xa9@x>"),
        "many_refs": m(b"r", b"<r>", b" ".join(b"<%d@x>" % i for i in range(300))),
    }


# fuzz_acl (issue #12 acl): the text after "SETACL".
def acl_seeds():
    return {
        "setacl": b'"Other Users/alice/Team" bob lrswipkxtea',
        "modifiers": b'INBOX bob +lr -carol -w anyone ""',
        "aliases": b'INBOX authenticated cd',
        "negative": b'INBOX -bob r bob lr',
        "bad_right": b'INBOX bob lrz',
        "bad_ident": b'INBOX "bad id" lr --bob l',
        "literal": b'INBOX {3+}\r\nbob {2+}\r\nlr',
        "long_ident": b'INBOX ' + b"a" * 300 + b' lr',
        # The owner's own entry: the owner keeps every right (found by fuzzing).
        "owner_entry": b'owner@x lr bob r',
    }


# fuzz_notify (issue #12 notify): byte 0 bit 0 = modified UTF-7 names,
# then the text after "NOTIFY".
def notify_seeds():
    def rev1(t):
        return b"\x01" + t

    def rev2(t):
        return b"\x00" + t

    return {
        "none": rev1(b"NONE"),
        "selected_fetch": rev1(b"SET (SELECTED (MessageNew (UID FLAGS ENVELOPE) MessageExpunge FlagChange))"),
        "delayed": rev1(b"SET (selected-delayed (messagenew messageexpunge))"),
        "status_groups": rev1(b"SET STATUS (INBOXES (MessageNew MessageExpunge)) (PERSONAL (MailboxName SubscriptionChange)) (SUBSCRIBED NONE)"),
        "subtree_list": rev1(b'SET (SUBTREE (INBOX "F&AOQ-cher" {3+}\r\nabc) (MailboxName))'),
        "mailboxes_one": rev2(b'SET (MAILBOXES "F\xc3\xa4cher" (MessageNew MessageExpunge FlagChange))'),
        "badevent": rev1(b"SET (PERSONAL (AnnotationChange (x) MailboxMetadataChange MessageNew MessageExpunge))"),
        "flag_alone": rev1(b"SET (PERSONAL (FlagChange))"),
        "selected_mailbox_event": rev1(b"SET (SELECTED (MailboxName))"),
        "two_selected": rev1(b"SET (SELECTED NONE) (SELECTED-DELAYED NONE)"),
        "body_fetch": rev1(b"SET (SELECTED (MessageNew (BODY[]) MessageExpunge))"),
        "bad_mutf7": rev1(b"SET (MAILBOXES &Jjo (MailboxName))"),
        "empty": rev1(b"SET ()"),
    }


# fuzz_metadata (issue #12 metadata): byte 0 even = the text after
# "GETMETADATA", odd = after "SETMETADATA".
def metadata_seeds():
    g, st = b"\x00", b"\x01"
    return {
        "get_one": g + b'INBOX /private/comment',
        "get_options": g + b'(MAXSIZE 1024 DEPTH infinity) "" (/shared /private/Vendor/x)',
        "get_options_after": g + b'"INBOX" (DEPTH 1) (/shared/comment)',
        "get_bad_depth": g + b'(DEPTH 2) INBOX /private/a',
        "get_bad_names": g + b'INBOX (/private/* /private//a /foo/a /private/a/)',
        "set_pairs": st + b'INBOX (/private/comment "x" /shared/Comment NIL)',
        "set_literal8": st + b'INBOX (/private/blob ~{3+}\r\na\x00b /private/u {2+}\r\nhi)',
        "set_root": st + b'INBOX (/shared "v")',
        "set_odd": st + b'INBOX (/private/a)',
        "long_name": st + b'INBOX (/private/' + b"x" * 1100 + b' "v")',
    }


# fuzz_preview: the whole input is the message (mail/preview.c).
def preview_seeds():
    s = {}
    for f in sorted(f for f in os.listdir(MIME_DATA) if f.endswith(".eml")):
        with open(os.path.join(MIME_DATA, f), "rb") as fh:
            s[f[:-4]] = fh.read()
    s["html_only"] = (
        b"Content-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>p{}</style>"
        b"</head><body><!-- c --><p>Fish &amp; chips&#33; &#x263A; &bogus; <a href='x>y'>"
        b"l</a><script>x</script></body></html>\r\n")
    s["html_unterminated"] = (
        b"Content-Type: text/html\r\n\r\n<style>never closed &#x110000; <!-- open")
    s["qp_latin1"] = (
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 =00 soft=\r\n break\r\n")
    s["base64_utf8_cut"] = (
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode("\u00e9".encode() * 300) + b"\r\n")
    s["quoted_reply"] = b"\r\nYes.\r\n> On Mon you wrote:\r\n>> old\r\nBye\r\n"
    s["alternative_attachment"] = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n"
        b"Content-Disposition: attachment\r\n\r\natt\r\n--b\r\n"
        b"Content-Type: text/html\r\n\r\n<p>x</p>\r\n--b--\r\n")
    s["empty"] = b""
    return s


# fuzz_multisearch (issue #12 uidonly): the text after "ESEARCH IN".
def multisearch_seeds():
    return {
        "personal": b"(personal) ALL",
        "several": b"(selected selected-delayed inboxes subscribed) ALL",
        "named": b'(subtree Work subtree-one (A B) mailboxes "x y") ALL',
        "literal": b"(mailboxes {3+}\r\nabc) ALL",
        "scope": b"(personal (depth 1)) ALL",
        "missing_name": b"(subtree) ALL",
        "empty_list": b"(mailboxes ()) ALL",
        "unknown": b"(bogus) ALL",
        "too_many_names": b"(mailboxes (" + b" ".join(b"m%d" % i for i in range(300)) + b")) ALL",
    }


def main():
    write_corpus("fuzz_parser", parser_seeds())
    write_corpus("fuzz_mime", mime_seeds())
    write_corpus("fuzz_fetch_items", fetch_seeds())
    write_corpus("fuzz_search", search_seeds())
    write_corpus("fuzz_seqset", seqset_seeds())
    write_corpus("fuzz_oauth", oauth_seeds())
    write_corpus("fuzz_quota", quota_seeds())
    write_corpus("fuzz_thread", thread_seeds())
    write_corpus("fuzz_acl", acl_seeds())
    write_corpus("fuzz_notify", notify_seeds())
    write_corpus("fuzz_metadata", metadata_seeds())
    write_corpus("fuzz_preview", preview_seeds())
    write_corpus("fuzz_multisearch", multisearch_seeds())


if __name__ == "__main__":
    main()
