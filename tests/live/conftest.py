"""Live tests: skip with the reason when the host cannot run them; leave nothing behind.

Tests that create namespaces are marked ``root``; they skip when this process
is not root or lacks the tools (``scripts/install-test-deps.sh`` installs
them). After each one, no namespace or host device named with this process's
prefix may remain.

Live runs are real time, so two at once (test workers run in parallel) would
share the CPU and disturb each other's figures: a file lock lets one live
test run at a time across workers.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from pathlib import Path

import pytest

from qdisclab.live import host
from qdisclab.live.netns import list_host_links, list_namespaces, owned_name


def skip_unless_live(*tools: str) -> None:
    """Skip the running test, naming what is missing (root, /dev/net/tun, a tool)."""
    missing = host.missing_requirements(tools=host.BASE_TOOLS + tools)
    if missing:
        pytest.skip("live mode needs " + ", ".join(missing))


def leftovers(pid: int | None = None) -> list[str]:
    """Namespaces and host devices still named for ``pid`` (default: this process)."""
    mine = owned_name("", pid)
    return [n for n in list_namespaces() + list_host_links() if n.startswith(mine)]


LOCK = Path("/tmp/qdisclab-live-tests.lock")
LOCK_WAIT_S = 300  # past this, run anyway: slower figures beat a hung suite
_depth = {"held": 0, "file": None}


@contextlib.contextmanager
def one_live_run_at_a_time():
    """Hold the live-test lock (re-entrant within a process)."""
    if _depth["held"] == 0:
        handle = LOCK.open("a")
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        _depth["file"] = handle
    _depth["held"] += 1
    try:
        yield
    finally:
        _depth["held"] -= 1
        if _depth["held"] == 0:
            _depth["file"].close()  # closing releases the lock
            _depth["file"] = None


@pytest.fixture(scope="module")
def live_serial_module():
    """The live-test lock for a module-scoped fixture that runs experiments."""
    with one_live_run_at_a_time():
        yield


@pytest.fixture
def ours():
    """``leftovers`` as a fixture, for tests that check another process's names."""
    return leftovers


@pytest.fixture
def live_host():
    """Skip unless root with ip/timeout; afterwards assert nothing of ours remains."""
    skip_unless_live()
    with one_live_run_at_a_time():
        yield
    assert leftovers() == [], "a live test left namespaces or devices behind"


@pytest.fixture
def live_tools(live_host):
    """Like ``live_host`` and iperf3 and ping are installed too."""
    skip_unless_live("iperf3", "ping", "ss", "tc")
