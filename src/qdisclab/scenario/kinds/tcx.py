"""The ``[[tcx]]`` feature: attach a program to a device's tcx ingress or egress hook.

``program`` names a callable ``func(ctx) -> TCX_*`` (``"pkg.module:name"`` or
``"file.py:name"``) or a compiled tc program (``"bpf:prog.bpf.o:SECTION_OR_NAME"``,
loaded with the attach type its section names); it is loaded into the world's
BPF registry and attached (appended) to ``dev`` (``"NODE:DEV"``) in ``direction``. Netkit devices exist
by then, so a tcx program can sit on a netkit device too.
"""

from __future__ import annotations

from typing import Any

from qdisclab.errors import UserError
from qdisclab.ops import POLICY_OFF
from qdisclab.scenario.bpf_specs import PREFIX as BPF_PREFIX
from qdisclab.scenario.bpf_specs import resolve_tc_program
from qdisclab.scenario.registry import register_feature
from qdisclab.sim.tracepoint import tracepoint

# qdisclab.tcx is imported when a scenario attaches a program, not when this type registers.


class TcxProbe:
    """What the run reports about one attachment: this program's own verdicts.

    Counted from the ``tcx:tcx_prog_run`` tracepoint, so two programs on one
    hook report their own runs; the hook's shared counters are under ``hook``.
    """

    __slots__ = ("dev", "hook", "name", "prog", "runs", "verdict_names", "verdicts")

    def __init__(self, name: str, hook: Any, prog: Any, dev: Any) -> None:
        from qdisclab.tcx.constants import TCX_DROP, TCX_NEXT, TCX_PASS, TCX_REDIRECT
        from qdisclab.tcx.tracepoints import TCX_PROG_RUN

        self.name = name
        self.hook = hook
        self.prog = prog
        self.dev = dev
        self.runs = 0
        self.verdicts: dict[str, int] = {}
        self.verdict_names = {TCX_NEXT: "next", TCX_PASS: "pass", TCX_DROP: "drop",
                              TCX_REDIRECT: "redirect"}  # fmt: skip
        tracepoint(dev.sched, TCX_PROG_RUN).attach(self._ran)

    def _ran(self, now: int, dev: Any, ingress: bool, prog: Any, ret: int) -> None:
        if prog is self.prog.func and dev is self.dev and ingress == self.hook.ingress:
            self.runs += 1
            verdict = self.verdict_names.get(ret, "next")  # reserved codes act as TCX_NEXT
            self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1

    def summary(self) -> dict[str, Any]:
        return {"probe": self.name, "kind": "tcx", "prog_id": self.prog.id, "runs": self.runs,
                "verdicts": dict(sorted(self.verdicts.items())),
                "hook": self.hook.stats.as_dict()}  # fmt: skip


def build_tcx(ctx: Any, spec: Any, index: int) -> TcxProbe:
    from qdisclab.scenario.extensions import load_object
    from qdisclab.tcx import Tcx

    dev = ctx.device(spec.dev)
    attach_type = 0
    try:
        if spec.program.startswith(BPF_PREFIX):  # a compiled tc program: bpf:obj.o:section
            # verified first, unless the policy is off: a refused program never loads
            verify = ctx.world.policy != POLICY_OFF
            func = resolve_tc_program(spec.program, ctx.base_dir, verify)
            attach_type = func.expected_attach_type
        else:
            func = load_object(spec.program, ctx.base_dir, program=True)
    except UserError as exc:
        raise ctx.error(("tcx", index, "program"), spec.program, "", str(exc)) from None
    if hasattr(func, "bind"):  # programs with per-world state (maps) bind to the world
        func.bind(ctx.world)
    tcx = Tcx.of(dev)
    name = spec.name or f"tcx:{spec.dev}:{spec.direction}"
    prog = tcx.load(func, name=name, expected_attach_type=attach_type)
    hook = getattr(tcx, spec.direction)
    hook.attach(prog)
    return TcxProbe(name, hook, prog, dev)


register_feature("tcx", build_tcx)
