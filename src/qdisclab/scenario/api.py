"""The notebook API: load a scenario, modify it, build it, run it, read tidy results.

>>> import qdisclab
>>> res = qdisclab.run("udp-dumbbell", overrides={"run.duration": "200ms"})
>>> res.flows_df()[["flow", "role"]].head(2).values.tolist()
[['S1->D1', 'data'], ['S2->D2', 'data']]

Modify, then build and reach into the world before running:

>>> s = Scenario.load("udp-dumbbell").set("run.duration", "200ms")
>>> s = s.swap_qdisc("bottleneck", "fq_codel")
>>> sim = s.build(seed=3)
>>> sim.device("R1:eth0").qdisc.kind
'fq_codel'
>>> sim.run()["seed"]
3
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w

from qdisclab.errors import UserError
from qdisclab.scenario.library import load_any
from qdisclab.scenario.loader import Loaded, apply_override, load_text
from qdisclab.scenario.simulation import Simulation
from qdisclab.scenario.tables import Results


class Scenario:
    """A validated scenario you can change step by step; each change is validated at once.

    Methods that change it return the scenario itself, so calls chain.
    """

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self._programs: list[tuple[str, Callable[..., int], str, bool, str | None]] = []

    @classmethod
    def load(cls, name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
        """A built-in by name (``"dumbbell"``) or a TOML file by path."""
        return cls(load_any(str(name_or_path), overrides))

    @property
    def model(self) -> Any:
        """The validated pydantic model (read it; change it with ``set``)."""
        return self.loaded.scenario

    def _reload(self, raw: dict[str, Any]) -> Scenario:
        old = self.loaded
        self.loaded = load_text(tomli_w.dumps(raw), old.source, old.base_dir)
        return self

    def set(self, key: str, value: Any) -> Scenario:
        """Set one key, as ``--set KEY=VALUE`` (``"run.duration"``, ``"link.bottleneck.rate"``)."""
        raw = copy.deepcopy(self.loaded.raw)
        apply_override(raw, key, value)
        return self._reload(raw)

    def swap_qdisc(self, link: str | int, spec: str, side: str = "a") -> Scenario:
        """Give ``link`` (its name or index) a new root qdisc on side ``a`` or ``b`` (tc syntax)."""
        if side not in ("a", "b"):
            raise UserError(f"swap_qdisc: side must be 'a' or 'b', found {side!r}")
        return self.set(f"link.{link}.qdisc_{side}", spec)

    def attach_tcx(
        self,
        dev: str,
        program: str | Callable[..., int],
        direction: str = "egress",
        first: bool = False,
        name: str | None = None,
    ) -> Scenario:
        """Attach a tcx program to ``dev`` (``"NODE:DEV"``): a ``"module:func"`` reference
        (kept in the scenario, as ``[[tcx]]``) or a Python callable (attached at build).

        ``first=True`` puts it ahead of the programs already on that hook
        (``BPF_F_BEFORE`` with no anchor); otherwise it is appended.
        """
        if direction not in ("ingress", "egress"):
            raise UserError(f"attach_tcx: direction must be ingress or egress, not {direction!r}")
        if callable(program):
            self._programs.append((dev, program, direction, first, name))
            return self
        raw = copy.deepcopy(self.loaded.raw)
        entries = raw.setdefault("tcx", [])
        entry = {"dev": dev, "direction": direction, "program": program}
        if name is not None:
            entry["name"] = name
        same_hook = [i for i, e in enumerate(entries)
                     if e.get("dev") == dev and e.get("direction", "egress") == direction]  # fmt: skip
        entries.insert(same_hook[0] if first and same_hook else len(entries), entry)
        return self._reload(raw)

    def to_toml(self) -> str:
        """The scenario as TOML (what ``--out`` saves as scenario.toml, before the seed)."""
        return tomli_w.dumps(self.loaded.raw)

    def build(
        self,
        seed: int | None = None,
        policy: str = "strict",
        out: str | Path | None = None,
        plots: bool | None = None,
    ) -> Simulation:
        """The world, built and measured, not yet run: reach into it, then ``.run()``."""
        from qdisclab.scenario.kinds.tcx import TcxProbe
        from qdisclab.tcx import Tcx

        sim = Simulation(self.loaded, seed=seed, policy=policy, out_dir=out, plots=plots)
        for ref, func, direction, first, name in self._programs:
            dev = sim.device(ref)
            tcx = Tcx.of(dev)
            label = name or f"tcx:{ref}:{direction}:{getattr(func, '__name__', 'prog')}"
            prog = tcx.load(func, name=label)
            hook = getattr(tcx, direction)
            if first:
                hook.attach(prog, before=None)
            else:
                hook.attach(prog)
            sim.ctx.objects.append(TcxProbe(label, hook, prog, dev))  # reported per program
        return sim

    def run(self, seed: int | None = None, **options: Any) -> Results:
        """Build and run in one step; ``options`` as ``build`` (policy, out, plots)."""
        return self.build(seed=seed, **options).run()


def run(
    scenario: str | Path = "dumbbell",
    seed: int | None = None,
    overrides: dict[str, Any] | None = None,
    **options: Any,
) -> Results:
    """Run a built-in or a scenario file in this process and return its ``Results``.

    ``overrides`` are ``--set`` keys; ``options`` go to ``Scenario.build``
    (``policy``, ``out`` for a run directory, ``plots``).
    """
    return Scenario.load(scenario, overrides).run(seed=seed, **options)
