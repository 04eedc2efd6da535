"""Running a scenario end to end and returning its results.

>>> res = run_builtin("udp-dumbbell", seed=1, duration_ns=200_000_000)
>>> res["conservation"]["sent"] == (res["conservation"]["delivered"]
...     + sum(res["conservation"]["dropped"].values()) + res["conservation"]["in_flight"])
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qdisclab.scenario.build import Progress
from qdisclab.scenario.library import builtin_names, default_scenario, load_any

if TYPE_CHECKING:
    from qdisclab.scenario.simulation import Simulation

DEFAULT_SCENARIO = "dumbbell"  # four CUBIC flows; default_scenario() falls back to UDP without TCP


class _Builtins(dict[str, None]):
    """Name -> runner view of the built-in TOML files (kept for callers of the old API)."""

    def __init__(self) -> None:
        super().__init__({n: None for n in builtin_names()})


BUILTINS = _Builtins()


def prepare_scenario(
    name: str,
    seed: int | None = None,
    duration_ns: int | None = None,
    policy: str = "strict",
    overrides: dict[str, Any] | None = None,
    out_dir: Any = None,
    plots: bool | None = None,
) -> Simulation:
    """The built simulation of a built-in (by name) or a scenario file (by path), not yet run."""
    from qdisclab.scenario.simulation import Simulation

    ov = dict(overrides or {})
    if duration_ns is not None:
        ov["run.duration"] = f"{duration_ns}ns"
    loaded = load_any(name or default_scenario(), ov)
    return Simulation(loaded, seed=seed, policy=policy, out_dir=out_dir, plots=plots)


def run_scenario(
    name: str,
    seed: int | None = None,
    duration_ns: int | None = None,
    policy: str = "strict",
    overrides: dict[str, Any] | None = None,
    progress: Progress | None = None,
    out_dir: Any = None,
    plots: bool | None = None,
) -> dict[str, Any]:
    """Run a built-in (by name) or a scenario file (by path); ``plots=False`` skips the PNGs."""
    sim = prepare_scenario(name, seed, duration_ns, policy, overrides, out_dir, plots)
    return sim.run(progress=progress)


def run_builtin(
    name: str, seed: int = 1, duration_ns: int | None = None, policy: str = "strict"
) -> dict[str, Any]:
    """Run built-in scenario ``name`` and return its results dict."""
    return run_scenario(name, seed=seed, duration_ns=duration_ns, policy=policy)
