"""Live tests: skip with the reason when the host cannot run them; leave nothing behind.

Tests that create namespaces are marked ``root``; they skip when this process
is not root or lacks the tools (``scripts/install-test-deps.sh`` installs
them). After each one, no namespace or host device named with this process's
prefix may remain.
"""

from __future__ import annotations

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


@pytest.fixture
def ours():
    """``leftovers`` as a fixture, for tests that check another process's names."""
    return leftovers


@pytest.fixture
def live_host():
    """Skip unless root with ip/timeout; afterwards assert nothing of ours remains."""
    skip_unless_live()
    yield
    assert leftovers() == [], "a live test left namespaces or devices behind"


@pytest.fixture
def live_tools(live_host):
    """Like ``live_host`` and iperf3 and ping are installed too."""
    skip_unless_live("iperf3", "ping", "ss", "tc")
