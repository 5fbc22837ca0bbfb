#!/usr/bin/env python3
"""Fails when a lower layer of src/ includes a higher one.

Data flows one way (docs/architecture.md): net -> imap/lmtp -> auth, mail
-> store -> core. A module may include headers of the modules listed for it
below and nothing else; a module's *_internal.h is private to it. main.c and
the composition root (src/app/) may include anything.

    scripts/check-layers.py [SRC_DIR]      check the tree (default: src)
    scripts/check-layers.py --self-test    prove the checker fails on a
                                           planted violation
"""
import os
import re
import sys
import tempfile

# module -> modules it may include (itself always allowed)
ALLOWED = {
    "core": set(),
    "mail": {"core"},
    "store": {"core"},
    "auth": {"core"},
    "imap": {"core", "mail", "store", "auth"},
    "lmtp": {"core", "mail", "store", "auth"},
    # net carries protocols through core/proto.h and knows none of them.
    "net": {"core"},
    "admin": {"core", "mail", "store", "auth"},
    "app": None,  # composition root: wires every layer together
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/([^"]+)"')


def check(src):
    errors = []
    for root, _dirs, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)
            parts = rel.split(os.sep)
            if len(parts) == 1:
                continue  # main.c
            mod = parts[0]
            if mod not in ALLOWED:
                errors.append("%s: module %r is not in scripts/check-layers.py" % (rel, mod))
                continue
            allowed = ALLOWED[mod]
            with open(path, encoding="utf-8", errors="replace") as fh:
                for n, line in enumerate(fh, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    dep, header = m.group(1), m.group(2)
                    if dep != mod and header.endswith("_internal.h"):
                        errors.append("%s:%d: includes %s/%s, private to %s/"
                                      % (rel, n, dep, header, dep))
                    elif allowed is not None and dep != mod and dep not in allowed:
                        errors.append("%s:%d: %s/ includes %s/%s (%s/ may use only: %s)"
                                      % (rel, n, mod, dep, header, mod,
                                         ", ".join(sorted(allowed)) or "nothing"))
    return errors


def self_test():
    with tempfile.TemporaryDirectory() as d:
        for mod, body in (("mail", '#include "imap/seqset.h"\n'),
                          ("admin", '#include "store/store_internal.h"\n'),
                          ("core", '#include "core/util.h"\n')):
            os.makedirs(os.path.join(d, mod), exist_ok=True)
            with open(os.path.join(d, mod, "x.c"), "w") as fh:
                fh.write(body)
        errs = check(d)
        if len(errs) != 2 or not any("mail/x.c" in e for e in errs) \
                or not any("admin/x.c" in e for e in errs):
            print("self-test failed: %r" % errs)
            return 1
    print("check-layers self-test: planted violations caught")
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        return self_test()
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "src")
    errors = check(src)
    for e in errors:
        print(e)
    if errors:
        print("layer check: %d violation(s)" % len(errors))
        return 1
    print("layer check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
