"""The control-flow graph of a program: functions, successors, back-edges, liveness.

Built once per program from the linked image (so the structural checks —
valid opcodes, jumps inside their function, functions ending in ``exit`` or
``goto`` — are the loader's). On top it finds what the kernel's
``check_cfg`` finds: instructions no path reaches (``unreachable insn N``)
and back-edges (loops; refused with ``back-edge from insn X to Y`` when the
program may not loop), marks the prune points where explored states are
compared, and computes which registers are live at each instruction (a
register no path reads before writing it cannot make two states differ).

>>> from qdisclab.bpf.asm import assemble
>>> cfg = Cfg(assemble("r0 = 0\\nl:\\nr0 += 1\\nif r0 < 3 goto l\\nexit"))
>>> cfg.back_edges, sorted(cfg.prune_points)
([(2, 1)], [1, 3])
>>> cfg.live_regs(1)
[0]
"""

from __future__ import annotations

from qdisclab.bpf import isa
from qdisclab.bpf.code import Code
from qdisclab.bpf.image import link
from qdisclab.bpf.isa import Insn
from qdisclab.bpf.liveness import live_in, successors
from qdisclab.bpf.resolver import BpfFunction


class _AnyResolver:
    """Binds every reference to nothing: the verifier needs the structure, not the functions."""

    def helper(self, helper_id: int) -> BpfFunction:
        return _nothing

    def kfunc(self, name: str) -> BpfFunction:
        return _nothing

    def pseudo_imm64(self, kind: int, imm: int, next_imm: int, symbol: str | None) -> int:
        return 0


def _nothing(*_args: int) -> int:
    return 0


class CfgError(Exception):
    """A structural rejection: ``message`` in the kernel's words, at ``slot``."""

    def __init__(self, message: str, slot: int, rule: str) -> None:
        super().__init__(message)
        self.message, self.slot, self.rule = message, slot, rule


class Cfg:
    """Functions, successors, prune points, back-edges and register liveness of ``code``."""

    def __init__(self, code: Code) -> None:
        image = link(code, _AnyResolver())
        self.code = code
        self.insns: list[Insn] = image.insns
        self.at: dict[int, Insn] = image.at
        self.functions: list[int] = image.functions
        self.function_end: dict[int, int] = image.function_end
        self.function_of = image.function_of
        self.succ: dict[int, tuple[int, ...]] = {i.slot: successors(i) for i in self.insns}
        self.prune_points: set[int] = set()
        self.back_edges: list[tuple[int, int]] = []
        self.reached: set[int] = set()
        for entry in self.functions:
            self._walk(entry)
        self._live: dict[int, int] = {}
        self._liveness()

    def check(self, allow_loops: bool) -> None:
        """Refuse unreachable code, and loops when ``allow_loops`` is false."""
        if not allow_loops and self.back_edges:
            src, dst = self.back_edges[0]
            raise CfgError(f"back-edge from insn {src} to {dst}", src, "back-edge")
        for insn in self.insns:
            if insn.slot not in self.reached:
                raise CfgError(f"unreachable insn {insn.slot}", insn.slot, "unreachable")

    def _walk(self, entry: int) -> None:
        """Iterative DFS: an edge to an instruction still on the DFS stack is a back-edge."""
        on_stack: set[int] = {entry}
        self.reached.add(entry)
        stack: list[tuple[int, int]] = [(entry, 0)]
        while stack:
            slot, k = stack[-1]
            succ = self.succ[slot]
            if k == len(succ):
                stack.pop()
                on_stack.discard(slot)
                continue
            stack[-1] = (slot, k + 1)
            nxt = succ[k]
            insn = self.at[slot]
            if isa.is_branch(insn) or insn.code == isa.CALL:
                self.prune_points.add(nxt)
            if nxt in on_stack:
                self.back_edges.append((slot, nxt))
            elif nxt not in self.reached:
                self.reached.add(nxt)
                on_stack.add(nxt)
                stack.append((nxt, 0))

    def _liveness(self) -> None:
        self._live = live_in(self.insns, self.succ)

    def live_mask(self, slot: int) -> int:
        """Bit ``r`` set when register ``r`` may be read before written from ``slot`` on."""
        return self._live.get(slot, 0x7FF)

    def live_regs(self, slot: int) -> list[int]:
        mask = self.live_mask(slot)
        return [r for r in range(11) if mask >> r & 1]

    def next_slot(self, insn: Insn) -> int:
        return insn.slot + insn.width
