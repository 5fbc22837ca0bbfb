"""issue #14: the work pool's command and write threads (rampart-cpu,
rampart-disk) run under SCHED_BATCH (`[store] pool_sched_batch`, on by
default), so a queued job does not preempt the event loop that queued
it; the loops and the background threads keep the ordinary policy; `no`
leaves every thread ordinary. Commands still run on those threads."""
import os

from rampart_harness import Server

SCHED_OTHER, SCHED_BATCH = 0, 3
MSG = b"From: a@example.org\r\nSubject: batch\r\n\r\nhello\r\n"


def thread_policies(server):
    """(name, scheduling policy) of every thread: proc(5) stat field 41."""
    out = []
    task = "/proc/%d/task" % server.proc.pid
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, "stat")) as f:
                stat = f.read()
            with open(os.path.join(task, tid, "comm")) as f:
                name = f.read().strip()
        except FileNotFoundError:
            continue  # a thread that just ended
        fields = stat[stat.rindex(")") + 2:].split()
        out.append((name, int(fields[38])))  # field 41; field 3 is fields[0]
    return out


def policies_by_name(server):
    by = {}
    for name, pol in thread_policies(server):
        by.setdefault(name, set()).add(pol)
    return by


def use_the_pool(server):
    c = server.imap_tls()
    assert c.append("INBOX", None, None, MSG)[0] == "OK"      # rampart-disk
    assert c.select("INBOX")[0] == "OK"                       # rampart-cpu
    assert c.store("1", "+FLAGS", "(\\Seen)")[0] == "OK"
    c.logout()


def test_pool_threads_are_batch_by_default():
    s = Server()
    try:
        use_the_pool(s)
        by = policies_by_name(s)
        assert by["rampart-cpu"] == {SCHED_BATCH}, by
        assert by["rampart-disk"] == {SCHED_BATCH}, by
        for name in ("rampart-net", "rampart-bg", "rampart-sync"):
            assert by[name] == {SCHED_OTHER}, by
    finally:
        s.close()


def test_pool_sched_batch_off():
    s = Server(extra_config="[store]\npool_sched_batch = no\n")
    try:
        use_the_pool(s)
        assert {pol for _name, pol in thread_policies(s)} == {SCHED_OTHER}
    finally:
        s.close()
