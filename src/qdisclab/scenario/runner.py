"""Running a scenario end to end and returning its results.

>>> res = run_builtin("udp-dumbbell", seed=1, duration_ns=200_000_000)
>>> res["conservation"]["sent"] == (res["conservation"]["delivered"]
...     + sum(res["conservation"]["dropped"].values()) + res["conservation"]["in_flight"])
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qdisclab.errors import UserError
from qdisclab.scenario.results import collect
from qdisclab.scenario.udp_dumbbell import UdpDumbbell

DEFAULT_SCENARIO = "udp-dumbbell"


def _udp_dumbbell(seed: int, duration_ns: int | None, policy: str) -> dict[str, Any]:
    params = UdpDumbbell()
    if duration_ns is not None:
        params.duration_ns = duration_ns
    world, _sources = params.build(seed, policy)
    world.run(params.duration_ns)
    # Throughput over the second half: the queue has filled by then.
    window = (params.duration_ns // 2, params.duration_ns)
    return collect(world, "udp-dumbbell", params.duration_ns, window)


BUILTINS: dict[str, Callable[[int, int | None, str], dict[str, Any]]] = {
    "udp-dumbbell": _udp_dumbbell,
}


def run_builtin(
    name: str, seed: int = 1, duration_ns: int | None = None, policy: str = "strict"
) -> dict[str, Any]:
    """Run built-in scenario ``name`` and return its results dict."""
    runner = BUILTINS.get(name)
    if runner is None:
        raise UserError(f"unknown scenario '{name}' (built-in: {', '.join(sorted(BUILTINS))})")
    return runner(seed, duration_ns, policy)
