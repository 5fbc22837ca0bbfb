#!/usr/bin/python3
"""Deterministic mail generator for the benchmarks.

Writes COUNT RFC 5322 messages (CRLF line ends) into one file as
"<length>\\n<message bytes>" records, the format `loadgen --mail-file` reads
to seed mailboxes over IMAP APPEND. The same --seed gives the same bytes on
every machine, so Rampart and Dovecot are loaded with identical mail.

Search targets (the defaults of loadgen's bigbox workload) appear at known
rates: subject word "invoice" in ~1% of messages, sender "Zelda" in ~2%,
body word "zanzibar" in ~0.5%.

--sizes small: 1-6 KB text messages (bigbox, mixed).
--sizes mixed: 70% 1-8 KB text, 25% 8-64 KB with a base64 attachment,
5% 64-512 KB with a larger attachment (download).
"""
import argparse
import base64
import random
import sys

WORDS = ("the of and to in is that for it as was with be by on not he this are or his "
         "from at which but have an they you were her she there been one all we their "
         "meeting report budget project schedule review update team client release server "
         "network storage deadline quarter figures agenda notes draft proposal contract "
         "travel lunch office policy holiday training support ticket customer order "
         "delivery payment account password backup invoice weekend coffee").split()
FIRST = ("Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy "
         "Rupert Sybil Trent Victor Walter Yvonne").split()
LAST = ("Smith Jones Brown Taylor Wilson Davies Evans Thomas Johnson Roberts Walker Wright "
        "Robinson Thompson White Hughes Edwards Green Hall Wood").split()
DOMAINS = ("example.com example.org example.net mail.example lists.example").split()


def sentence(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def text_body(rng, size, magic):
    lines = []
    total = 0
    while total < size:
        line = sentence(rng, rng.randint(6, 12))
        lines.append(line)
        total += len(line) + 2
    if magic:
        lines.insert(rng.randrange(len(lines) + 1), "We will meet in Zanzibar next week.")
    return "\r\n".join(lines) + "\r\n"


def attachment(rng, size):
    raw = rng.getrandbits(8 * size).to_bytes(size, "little") if size else b""
    b64 = base64.b64encode(raw).decode("ascii")
    return "\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76)) + "\r\n"


def message(rng, i, sizes):
    if rng.random() < 0.02:
        sender_name = "Zelda " + rng.choice(LAST)
    else:
        sender_name = rng.choice(FIRST) + " " + rng.choice(LAST)
    sender = "%s <%s@%s>" % (sender_name, sender_name.split()[0].lower(), rng.choice(DOMAINS))
    to = "%s <%s@bench.example>" % (rng.choice(FIRST), rng.choice(FIRST).lower())
    subj_words = [rng.choice(WORDS) for _ in range(rng.randint(2, 7))]
    subj_words = [w for w in subj_words if w != "invoice"] or ["update"]
    if rng.random() < 0.01:
        subj_words.insert(rng.randrange(len(subj_words) + 1), "invoice")
    subject = " ".join(subj_words).capitalize()
    day = 1 + i % 28
    date = "%s, %02d %s 2023 %02d:%02d:%02d +0000" % (
        ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[i % 7], day,
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
         "Dec")[(i // 28) % 12], rng.randrange(24), rng.randrange(60), rng.randrange(60))
    magic = rng.random() < 0.005
    headers = [
        "Return-Path: <%s>" % sender.split("<")[1].rstrip(">"),
        "Received: from mx.example.com (mx.example.com [192.0.2.1])\r\n"
        "\tby bench.example with ESMTPS id %08x; %s" % (rng.getrandbits(32), date),
        "From: " + sender,
        "To: " + to,
        "Subject: " + subject,
        "Date: " + date,
        "Message-ID: <%d.%08x@bench.example>" % (i, rng.getrandbits(32)),
        "MIME-Version: 1.0",
    ]
    r = rng.random()
    if sizes == "small":
        kind, size = "text", rng.randint(800, 5500)
    elif r < 0.70:
        kind, size = "text", rng.randint(800, 7500)
    elif r < 0.95:
        kind, size = "attach", rng.randint(8 * 1024, 64 * 1024)
    else:
        kind, size = "attach", rng.randint(64 * 1024, 512 * 1024)
    if kind == "text":
        headers.append("Content-Type: text/plain; charset=us-ascii")
        body = text_body(rng, size, magic)
    else:
        boundary = "=_bench_%08x" % rng.getrandbits(32)
        headers.append('Content-Type: multipart/mixed; boundary="%s"' % boundary)
        text = text_body(rng, rng.randint(200, 2000), magic)
        att = attachment(rng, size * 3 // 4)
        body = ("This is a multi-part message in MIME format.\r\n\r\n"
                "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n%s"
                "--%s\r\nContent-Type: application/octet-stream; name=\"file%d.bin\"\r\n"
                "Content-Transfer-Encoding: base64\r\n"
                "Content-Disposition: attachment; filename=\"file%d.bin\"\r\n\r\n%s"
                "--%s--\r\n") % (boundary, text, boundary, i, i, att, boundary)
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode("ascii")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sizes", choices=("small", "mixed"), default="small")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    if not 0 < a.count <= 1000000:
        ap.error("--count must be 1..1000000")
    rng = random.Random(a.seed)
    total = 0
    with open(a.out, "wb") as f:
        for i in range(a.count):
            m = message(rng, i, a.sizes)
            f.write(b"%d\n" % len(m))
            f.write(m)
            total += len(m)
    print("wrote %d messages, %d bytes, to %s" % (a.count, total, a.out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
