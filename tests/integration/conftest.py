import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from rampart_harness import Server  # noqa: E402


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(scope="module")
def shared_server():
    s = Server()
    yield s
    s.close()
