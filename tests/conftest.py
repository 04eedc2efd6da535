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
