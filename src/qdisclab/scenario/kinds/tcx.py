"""The ``[[tcx]]`` feature: attach a program to a device's tcx ingress or egress hook.

``program`` names a callable ``func(ctx) -> TCX_*`` (``"pkg.module:name"`` or
``"file.py:name"``); it is loaded into the world's BPF registry and attached
(appended) to ``dev`` (``"NODE:DEV"``) in ``direction``. Netkit devices exist
by then, so a tcx program can sit on a netkit device too.
"""

from __future__ import annotations

from typing import Any

from qdisclab.errors import UserError
from qdisclab.scenario.registry import register_feature
from qdisclab.tcx import Tcx


class TcxProbe:
    """What the run reports about one attachment: its hook's counters."""

    __slots__ = ("hook", "name", "prog")

    def __init__(self, name: str, hook: Any, prog: Any) -> None:
        self.name = name
        self.hook = hook
        self.prog = prog

    def summary(self) -> dict[str, Any]:
        return {"probe": self.name, "kind": "tcx", "prog_id": self.prog.id,
                **self.hook.stats.as_dict()}  # fmt: skip


def build_tcx(ctx: Any, spec: Any, index: int) -> TcxProbe:
    from qdisclab.scenario.extensions import load_object

    dev = ctx.device(spec.dev)
    try:
        func = load_object(spec.program, ctx.base_dir, program=True)
    except UserError as exc:
        raise ctx.error(("tcx", index, "program"), spec.program, "", str(exc)) from None
    if hasattr(func, "bind"):  # programs with per-world state (maps) bind to the world
        func.bind(ctx.world)
    tcx = Tcx.of(dev)
    name = spec.name or f"tcx:{spec.dev}:{spec.direction}"
    prog = tcx.load(func, name=name)
    hook = getattr(tcx, spec.direction)
    hook.attach(prog)
    return TcxProbe(name, hook, prog)


register_feature("tcx", build_tcx)
