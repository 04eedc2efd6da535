"""Suite-wide guarantees.

Every World a test builds is checked for packet conservation when the test
ends (sent = delivered + dropped + in flight), so no test can lose packets
silently. A test that breaks the books on purpose opts out with
``@pytest.mark.no_conservation_check``.
"""

from __future__ import annotations

import weakref

import pytest

from qdisclab.net import world as world_module
from qdisclab.sched.registry import qdisc_kinds, unregister_qdisc
from qdisclab.tcp.congestion import available_cc, unregister_cc


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "no_conservation_check: the test breaks packet books on purpose"
    )


@pytest.fixture(autouse=True)
def _conservation_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    created: list[weakref.ref] = []
    original_init = world_module.World.__init__

    def tracking_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        created.append(weakref.ref(self))

    monkeypatch.setattr(world_module.World, "__init__", tracking_init)
    yield
    if request.node.get_closest_marker("no_conservation_check"):
        return
    for ref in created:
        world = ref()
        if world is not None:
            world.check_conservation()


@pytest.fixture(autouse=True)
def _registries_restored():
    """Kinds a test registers (compiled qdiscs and congestion controls, user classes)
    are gone after it, so a later test in the same worker listing the registered
    kinds (an error's "allowed: ...") sees the built-ins whatever ran before."""
    qdiscs, ccs = set(qdisc_kinds()), set(available_cc())
    yield
    for kind in set(qdisc_kinds()) - qdiscs:
        unregister_qdisc(kind)
    for name in set(available_cc()) - ccs:
        unregister_cc(name)
