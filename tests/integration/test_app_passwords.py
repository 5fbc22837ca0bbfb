"""App passwords, per-user source lists, app-passwords-only and migrated
hashes, end to end: the real server over TLS with python imaplib, the
real `rampart user` CLI editing the files while the server runs (no
restart, no SIGHUP between a change and the login that must see it)."""
import base64
import hashlib
import imaplib
import os
import re
import signal
import time

import pytest

from rampart_harness import Server

SRC = os.environ.get("RAMPART_SRC", os.getcwd())
PRIMARY = "correct horse battery staple"


@pytest.fixture(scope="module")
def srv():
    s = Server()
    yield s
    s.close()


def can_login(srv, user, password):
    c = srv.imap_tls(login=False)
    try:
        c.login(user, password)
    except imaplib.IMAP4.error:
        return False
    finally:
        try:
            c.logout()
        except Exception:
            pass
    return True


def reload_users(srv):
    """SIGHUP, and wait for the reload: the legacy password path (before
    the switch to passdb_authenticate) re-reads the users file only then."""
    before = srv.log().count("event=passdb_reloaded")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and srv.log().count("event=passdb_reloaded") == before:
        time.sleep(0.05)


def cli(srv, *args, check=True):
    return srv.rampart("user", *args[:1], "-c", srv.conf_path, *args[1:], check=check)


def app_add(srv, user, name, *extra):
    r = srv.rampart("user", "app-password", "add", "-c", srv.conf_path, user, name, *extra)
    pw = r.stdout.decode().strip()
    assert re.fullmatch(r"[a-z0-9]{4}(-[a-z0-9]{4}){4}", pw), pw
    return pw


def app_cmd(srv, *args, check=True):
    return srv.rampart("user", "app-password", args[0], "-c", srv.conf_path, *args[1:],
                       check=check)


def test_app_password_login_list_and_revoke(srv):
    pw = app_add(srv, "alice", "phone")
    assert can_login(srv, "alice", pw)
    # The password as retyped from the screen, in capitals and with spaces.
    assert can_login(srv, "alice", pw.upper().replace("-", " "))
    out = app_cmd(srv, "list", "alice").stdout.decode()
    line = [l for l in out.splitlines() if l.startswith("phone ")][0]
    assert "127.0.0.1" in line and "never" not in line.split()[4], out
    # Revoked: refused by the very next login, no restart, no SIGHUP.
    app_cmd(srv, "revoke", "alice", "phone")
    assert not can_login(srv, "alice", pw)
    assert "phone " not in app_cmd(srv, "list", "alice").stdout.decode()
    # The primary password is unaffected.
    assert can_login(srv, "alice", PRIMARY)


def test_app_password_expires(srv):
    pw = app_add(srv, "alice", "tablet", "--expires", "3s")
    assert can_login(srv, "alice", pw)
    deadline = time.time() + 10
    while time.time() < deadline and can_login(srv, "alice", pw):
        time.sleep(0.5)
    assert not can_login(srv, "alice", pw)
    assert "(expired)" in app_cmd(srv, "list", "alice").stdout.decode()
    app_cmd(srv, "revoke", "alice", "tablet")


def test_app_password_from_list(srv):
    far = app_add(srv, "alice", "office", "--from", "10.0.0.0/8")
    near = app_add(srv, "alice", "home", "--from", "2001:db8::/32,192.0.2.0/24", "--from",
                   "127.0.0.0/8")
    assert not can_login(srv, "alice", far)
    assert can_login(srv, "alice", near)
    app_cmd(srv, "revoke", "alice", "office")
    app_cmd(srv, "revoke", "alice", "home")


def test_user_from_list(srv):
    srv.add_user("bob", PRIMARY)
    cli(srv, "modify", "bob", "--from", "10.0.0.0/8")
    assert "from: 10.0.0.0/8" in cli(srv, "show", "bob").stdout.decode()
    assert not can_login(srv, "bob", PRIMARY)
    # App passwords are held to the user's list too.
    pw = app_add(srv, "bob", "phone")
    assert not can_login(srv, "bob", pw)
    cli(srv, "modify", "bob", "--from", "127.0.0.0/8")
    assert can_login(srv, "bob", PRIMARY)
    assert can_login(srv, "bob", pw)
    cli(srv, "modify", "bob", "--from-any")
    assert "from: any" in cli(srv, "show", "bob").stdout.decode()
    assert can_login(srv, "bob", PRIMARY)


def test_app_passwords_only(srv):
    srv.add_user("carol", PRIMARY)
    pw = app_add(srv, "carol", "mail-client")
    cli(srv, "modify", "carol", "--app-passwords-only", "yes")
    show = cli(srv, "show", "carol").stdout.decode()
    assert "app-passwords-only: yes" in show and "$argon2" not in show
    assert not can_login(srv, "carol", PRIMARY)
    assert can_login(srv, "carol", pw)
    cli(srv, "modify", "carol", "--app-passwords-only", "no")
    assert can_login(srv, "carol", PRIMARY)


def test_ssha512_migrated_user_logs_in(srv):
    salt = os.urandom(8)
    digest = hashlib.sha512(b"migrated from openldap" + salt).digest()
    line = "dave:{SSHA512}%s\n" % base64.b64encode(digest + salt).decode()
    with open(os.path.join(srv.dir, "users"), "a") as f:
        f.write(line)
    reload_users(srv)
    # listed before the login: a successful one upgrades the hash
    # (test_hash_upgrade.py)
    legacy = srv.rampart("user", "list", "-c", srv.conf_path, "--legacy").stdout.decode()
    assert "dave SSHA512" in legacy and "alice" not in legacy
    assert can_login(srv, "dave", "migrated from openldap")
    assert not can_login(srv, "dave", "migrated from openLDAP")


def test_weak_password_refused_and_forced(srv):
    r = srv.rampart("user", "add", "-c", srv.conf_path, "erin", "--password-stdin",
                    input=b"Administrator1\n", check=False)
    assert r.returncode == 65 and b"dictionary" in r.stderr
    assert "erin" not in srv.rampart("user", "list", "-c", srv.conf_path).stdout.decode()
    r = srv.rampart("user", "add", "-c", srv.conf_path, "erin", "--password-stdin", "--force",
                    input=b"Administrator1\n", check=False)
    assert r.returncode == 0 and b"--force" in r.stderr
    reload_users(srv)
    assert can_login(srv, "erin", "Administrator1")
