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
from qdisclab.bpf.resolver import BpfFunction

_ARGS = 0b111110  # R1-R5
_CLOBBERED = 0b111111  # R0-R5


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
        self.succ: dict[int, tuple[int, ...]] = {i.slot: _successors(i) for i in self.insns}
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
        """Backward dataflow to a fixed point: live-in = uses | (live-out & ~defs)."""
        use_def = {i.slot: _use_def(i) for i in self.insns}
        preds: dict[int, list[int]] = {i.slot: [] for i in self.insns}
        for slot, succ in self.succ.items():
            for s in succ:
                preds[s].append(slot)
        live = dict.fromkeys(self.succ, 0)
        work = list(self.succ)
        while work:
            slot = work.pop()
            uses, defs = use_def[slot]
            out = 0
            for s in self.succ[slot]:
                out |= live[s]
            new = uses | (out & ~defs)
            if new != live[slot]:
                live[slot] = new
                work.extend(preds[slot])
        self._live = live

    def live_mask(self, slot: int) -> int:
        """Bit ``r`` set when register ``r`` may be read before written from ``slot`` on."""
        return self._live.get(slot, 0x7FF)

    def live_regs(self, slot: int) -> list[int]:
        mask = self.live_mask(slot)
        return [r for r in range(11) if mask >> r & 1]

    def next_slot(self, insn: Insn) -> int:
        return insn.slot + insn.width


def _successors(insn: Insn) -> tuple[int, ...]:
    nxt = insn.slot + insn.width
    if insn.code == isa.EXIT:
        return ()
    if isa.is_branch(insn):
        target = isa.jump_target(insn)
        assert target is not None
        if insn.code & 0xF0 == isa.BPF_JA:
            return (target,)
        return (nxt, target) if target != nxt else (nxt,)
    return (nxt,)


def _use_def(insn: Insn) -> tuple[int, int]:
    """Registers read and written by one instruction, as bitmasks."""
    code, cls = insn.code, insn.code & 0x07
    d, s = 1 << insn.dst, 1 << insn.src
    if cls in (isa.BPF_ALU, isa.BPF_ALU64):
        op = code & 0xF0
        src = s if code & isa.BPF_X and op != isa.BPF_END else 0
        if op == isa.BPF_MOV:
            return src, d
        return d | src, d
    if code == isa.LD_IMM64:
        return 0, d
    if cls == isa.BPF_LDX:
        return s, d
    if cls == isa.BPF_ST:
        return d, 0
    if cls == isa.BPF_STX:
        if code & 0xE0 == isa.BPF_ATOMIC:
            if insn.imm == isa.BPF_CMPXCHG:
                return d | s | 1, 1
            if insn.imm == isa.BPF_LOAD_ACQ:
                return s, d
            return d | s, s if insn.imm & isa.BPF_FETCH else 0
        return d | s, 0
    if code == isa.CALL:
        return _ARGS, _CLOBBERED
    if code == isa.EXIT:
        return 1, 0
    if isa.is_branch(insn) and code & 0xF0 not in (isa.BPF_JA, isa.BPF_JCOND):
        return d | (s if code & isa.BPF_X else 0), 0
    return 0, 0
