"""state_dir (the server's own state: policy counters, control socket,
alert history) when started as root: created before the privilege drop
and handed to the run user, even inside a directory only root may write,
as `make run` and a packaged install have it."""
import os
import pwd
import shutil
import stat
import tempfile

import pytest

from rampart_harness import RUN_USER, Server


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop needs root")
def test_state_dir_created_for_the_run_user_in_a_root_directory():
    parent = tempfile.mkdtemp(prefix="rampart-state-")
    os.chmod(parent, 0o755)  # root's: the run user cannot create anything here
    state = os.path.join(parent, "state")
    s = Server(extra_config="[server]\nstate_dir = %s\n" % state)
    try:
        st = os.stat(state)
        assert st.st_uid == pwd.getpwnam(RUN_USER).pw_uid
        assert stat.S_IMODE(st.st_mode) == 0o700
        assert os.path.exists(os.path.join(state, "control.sock"))
        c = s.imap_tls()
        c.logout()
    finally:
        s.close()
        shutil.rmtree(parent, ignore_errors=True)
