"""Differential test: random programs give the same result on both engines.

Programs mix every instruction group — ALU/ALU64 (all operations, edge
immediates), MOVSX, byte swaps, ld_imm64, conditional and unconditional
jumps forward and backward, may_goto, loads, stores and atomics on the
stack, on a data region and through arbitrary registers, helper and
bpf-to-bpf calls — under small instruction budgets, so faults of every kind
(bounds, null, budget, call depth) are compared too: same R0, or the same
fault message at the same instruction, and the same memory afterwards.
"""

from __future__ import annotations

from bpf_engines import ENGINES, corpus_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qdisclab.bpf import isa
from qdisclab.bpf.code import Code
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.isa import Insn
from qdisclab.bpf.memory import BytesRegion, Memory

EDGE_IMMS = [0, 1, -1, 2, 7, 8, 31, 32, 33, 63, 64, 0x7FFF_FFFF, -0x8000_0000, 0xFF, -256]
ALU_OPS = [
    isa.BPF_ADD, isa.BPF_SUB, isa.BPF_MUL, isa.BPF_DIV, isa.BPF_OR, isa.BPF_AND,
    isa.BPF_LSH, isa.BPF_RSH, isa.BPF_MOD, isa.BPF_XOR, isa.BPF_MOV, isa.BPF_ARSH,
]  # fmt: skip
JUMP_OPS = [
    isa.BPF_JEQ, isa.BPF_JGT, isa.BPF_JGE, isa.BPF_JSET, isa.BPF_JNE, isa.BPF_JSGT,
    isa.BPF_JSGE, isa.BPF_JLT, isa.BPF_JLE, isa.BPF_JSLT, isa.BPF_JSLE,
]  # fmt: skip
SIZES = [isa.BPF_B, isa.BPF_H, isa.BPF_W, isa.BPF_DW]
REGION_REG = 6  # holds the data region's address; random code never writes it

imms = st.one_of(st.sampled_from(EDGE_IMMS), st.integers(-(2**31), 2**31 - 1))
dst_regs = st.sampled_from([0, 1, 2, 3, 4, 5, 7, 8, 9])
src_regs = st.integers(0, 10)


@st.composite
def instruction(draw: st.DrawFn, index: int, n: int) -> tuple[Insn, int | None]:
    """One instruction; the second item is a jump target index (patched later)."""
    kind = draw(
        st.sampled_from(
            ["alu"] * 8 + ["movsx", "neg", "end", "imm64", "jump", "jump", "goto", "mem", "mem",
             "stack", "stack", "atomic", "may_goto", "helper", "call", "ptr", "ptr", "spill"]
        )
    )  # fmt: skip
    d = draw(dst_regs)
    if kind == "alu":
        cls = draw(st.sampled_from([isa.BPF_ALU, isa.BPF_ALU64]))
        op = draw(st.sampled_from(ALU_OPS))
        off = draw(st.sampled_from([0, 1])) if op in (isa.BPF_DIV, isa.BPF_MOD) else 0
        if draw(st.booleans()):
            return Insn(0, cls | op | isa.BPF_X, d, draw(src_regs), off, 0), None
        return Insn(0, cls | op, d, 0, off, draw(imms)), None
    if kind == "movsx":
        cls = draw(st.sampled_from([isa.BPF_ALU, isa.BPF_ALU64]))
        off = draw(st.sampled_from([8, 16, 32] if cls == isa.BPF_ALU64 else [8, 16]))
        return Insn(0, cls | isa.BPF_MOV | isa.BPF_X, d, draw(src_regs), off, 0), None
    if kind == "neg":
        return Insn(
            0, draw(st.sampled_from([isa.BPF_ALU, isa.BPF_ALU64])) | isa.BPF_NEG, d, 0, 0, 0
        ), None
    if kind == "end":
        code = draw(st.sampled_from([0xD4, 0xDC, 0xD7]))
        return Insn(0, code, d, 0, 0, draw(st.sampled_from([16, 32, 64]))), None
    if kind == "ptr":  # another register pointing into the region
        return Insn(0, isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_X, d, REGION_REG, 0, 0), None
    if kind == "spill":  # pointers saved to and filled from the stack
        slot = draw(st.sampled_from([-8, -16, -24]))
        if draw(st.booleans()):
            return Insn(
                0, isa.BPF_STX | isa.BPF_MEM | isa.BPF_DW, 10, draw(src_regs), slot, 0
            ), None
        return Insn(0, isa.BPF_LDX | isa.BPF_MEM | isa.BPF_DW, d, 10, slot, 0), None
    if kind == "imm64":
        insn = Insn(0, isa.LD_IMM64, d, 0, 0, draw(imms))
        insn.next_imm = draw(imms)
        return insn, None
    if kind in ("jump", "goto", "may_goto"):
        lo = 0 if kind == "goto" or draw(st.booleans()) else index + 1
        target = draw(st.integers(lo, n))
        if kind == "goto":
            code = draw(st.sampled_from([isa.BPF_JMP | isa.BPF_JA, isa.BPF_JMP32 | isa.BPF_JA]))
            return Insn(0, code, 0, 0, 0, 0), target
        if kind == "may_goto":
            return Insn(0, isa.BPF_JMP | isa.BPF_JCOND, 0, 0, 0, 0), target
        cls = draw(st.sampled_from([isa.BPF_JMP, isa.BPF_JMP32]))
        op = draw(st.sampled_from(JUMP_OPS))
        if draw(st.booleans()):
            return Insn(0, cls | op | isa.BPF_X, draw(src_regs), draw(src_regs), 0, 0), target
        return Insn(0, cls | op, draw(src_regs), 0, 0, draw(imms)), target
    size = draw(st.sampled_from(SIZES))
    if kind == "stack":
        base, off = 10, draw(st.integers(-520, 4))
    else:
        base = draw(st.sampled_from([REGION_REG, REGION_REG, *range(10)]))
        off = draw(st.integers(-4, 68))
    if kind == "atomic":
        size = draw(st.sampled_from([isa.BPF_W, isa.BPF_DW]))
        imm = draw(
            st.sampled_from(
                [op | fetch for op in isa.ATOMIC_ALU_OPS for fetch in (0, isa.BPF_FETCH)]
                + [isa.BPF_XCHG, isa.BPF_CMPXCHG]
            )
        )
        src = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 7, 8, 9]))
        return Insn(0, isa.BPF_STX | isa.BPF_ATOMIC | size, base, src, off, imm), None
    if kind == "helper":
        return Insn(0, isa.CALL, 0, 0, 0, 1), None
    if kind == "call":
        return Insn(0, isa.CALL, 0, isa.BPF_PSEUDO_CALL, 0, 0), -1  # the subprogram
    which = draw(st.sampled_from(["ldx", "ldsx", "st", "stx"]))
    if which == "ldx":
        return Insn(0, isa.BPF_LDX | isa.BPF_MEM | size, d, base, off, 0), None
    if which == "ldsx":
        size = draw(st.sampled_from([isa.BPF_B, isa.BPF_H, isa.BPF_W]))
        return Insn(0, isa.BPF_LDX | isa.BPF_MEMSX | size, d, base, off, 0), None
    if which == "st":
        return Insn(0, isa.BPF_ST | isa.BPF_MEM | size, base, 0, off, draw(imms)), None
    return Insn(0, isa.BPF_STX | isa.BPF_MEM | size, base, draw(src_regs), off, 0), None


# A subprogram the random code may call: uses its own stack, may recurse once more.
SUBPROGRAM = [
    Insn(0, isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_X, 0, 1, 0, 0),
    Insn(0, isa.BPF_ALU64 | isa.BPF_ADD | isa.BPF_X, 0, 2, 0, 0),
    Insn(0, isa.BPF_STX | isa.BPF_MEM | isa.BPF_DW, 10, 0, -8, 0),
    Insn(0, isa.BPF_LDX | isa.BPF_MEM | isa.BPF_W, 0, 10, -6, 0),
    Insn(0, isa.EXIT, 0, 0, 0, 0),
]


@st.composite
def programs(draw: st.DrawFn) -> Code:
    n = draw(st.integers(1, 40))
    body = [draw(instruction(i, n)) for i in range(n)]
    insns = [Insn(0, isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_X, REGION_REG, 1, 0, 0)]
    targets: list[int | None] = [None]
    for insn, target in body:
        insns.append(insn)
        targets.append(None if target is None else (target + 1 if target >= 0 else -1))
    insns.append(Insn(0, isa.EXIT, 0, 0, 0, 0))
    targets.append(None)
    sub_index = len(insns)
    insns.extend(Insn(0, i.code, i.dst, i.src, i.off, i.imm) for i in SUBPROGRAM)
    targets.extend([None] * len(SUBPROGRAM))
    slots, slot = [], 0
    for insn in insns:
        slots.append(slot)
        insn.slot = slot
        slot += insn.width
    for insn, target in zip(insns, targets, strict=True):
        if target is None:
            continue
        rel = slots[sub_index if target == -1 else target] - insn.slot - 1
        if insn.code in (isa.BPF_JMP32 | isa.BPF_JA, isa.CALL):
            insn.imm = rel
        else:
            insn.off = rel
    return Code("random", isa.encode(insns))


def outcome(engine: str, code: Code, args: tuple[int, ...], budget: int, loops: int):
    memory = Memory()
    region = BytesRegion("region", bytearray(range(64)))
    addr = memory.map(region)
    prog = ENGINES[engine](code, corpus_resolver(), memory, budget=budget, max_loops=loops)
    try:
        result: object = prog.run(addr, *args)
    except BpfFault as fault:
        result = ("fault", fault.pc, str(fault))
    stack = memory.region_at(memory.frame_pointer(0) - 1)
    assert stack is not None
    return result, bytes(region.data), bytes(stack[0].data)  # type: ignore[attr-defined]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    programs(),
    st.tuples(*[st.integers(0, 2**64 - 1)] * 4),
    st.integers(1, 400),
    st.integers(0, 5),
)
def test_engines_agree_on_random_programs(code, args, budget, loops) -> None:
    assert outcome("interp", code, args, budget, loops) == outcome(
        "translate", code, args, budget, loops
    )


@settings(max_examples=200, deadline=None)
@given(programs())
def test_random_programs_mostly_run(code) -> None:
    """Guard on the generator itself: a program either runs or faults, never fails to load."""
    result, _, _ = outcome("interp", code, (1, 2, 3, 4), 400, 2)
    assert isinstance(result, int) or result[0] == "fault"
