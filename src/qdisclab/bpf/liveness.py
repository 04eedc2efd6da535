"""Register liveness of BPF code: which registers an instruction's successors may still read.

The verifier's CFG (:mod:`qdisclab.bpf.verifier.cfg`) prunes states with it;
the translator leaves out work whose result nothing reads. A call clobbers
R0-R5 as the verifier has it; since it also reads R1-R5, they are live
before it either way, so the sets hold for unverified code on qdisclab's
engines too (which leave R1-R5 as they were).

>>> from qdisclab.bpf.asm import assemble
>>> code = assemble("r1 = 1\\nr2 = 2\\nr0 = r1\\nexit")
>>> live = live_in(isa.decode(code.insns))
>>> [live[s] for s in range(4)]
[0, 2, 2, 1]
"""

from __future__ import annotations

from qdisclab.bpf import isa
from qdisclab.bpf.isa import Insn

_ARGS = 0b111110  # R1-R5
_CLOBBERED = 0b111111  # R0-R5


def live_in(insns: list[Insn], succ: dict[int, tuple[int, ...]] | None = None) -> dict[int, int]:
    """Registers live before each instruction, by slot: bit ``r`` set when ``r`` may be read
    before it is written from there on (a call clobbers R0-R5, as the verifier has it).

    Backward dataflow to a fixed point: live-in = uses | (live-out & ~defs);
    ``succ`` is each instruction's successors (worked out from ``insns`` if not given).
    """
    if succ is None:
        succ = {i.slot: successors(i) for i in insns}
    uses_defs = {i.slot: use_def(i) for i in insns}
    preds: dict[int, list[int]] = {i.slot: [] for i in insns}
    for slot, after in succ.items():
        for s in after:
            if s in preds:
                preds[s].append(slot)
    live = dict.fromkeys(succ, 0)
    work = list(succ)
    while work:
        slot = work.pop()
        uses, defs = uses_defs[slot]
        out = 0
        for s in succ[slot]:
            out |= live.get(s, 0)
        new = uses | (out & ~defs)
        if new != live[slot]:
            live[slot] = new
            work.extend(preds[slot])
    return live


def successors(insn: Insn) -> tuple[int, ...]:
    """The slots control may go to after ``insn`` within its function."""
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


def use_def(insn: Insn) -> tuple[int, int]:
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
