"""ALU instructions and conditional jumps on abstract registers.

Scalars go through :func:`~qdisclab.bpf.verifier.bounds.alu`; a pointer
plus or minus a scalar moves the pointer (a constant into its fixed
offset, an unknown value into its variable part; a packet pointer then
loses its verified range), anything else on a pointer is refused with the
kernel's message. A conditional jump yields the successors that are
possible, each with its registers narrowed: scalar comparisons as
``reg_set_min_max``, NULL checks as ``mark_ptr_or_null_regs`` (one check
refines every copy of the pointer, and the NULL branch drops the
reference it carried), packet pointers against ``data_end`` as
``find_good_pkt_pointers``.

>>> from qdisclab.bpf.verifier.bounds import Scalar
>>> r = Reg.pointer(PTR_TO_STACK)
>>> str(move_pointer(r, Reg.const(-8), "+", 1))
'fp-8'
"""

from __future__ import annotations

from typing import Protocol

from qdisclab.bpf import isa
from qdisclab.bpf.isa import Insn
from qdisclab.bpf.verifier.arith import alu
from qdisclab.bpf.verifier.bounds import Scalar, refine, s64
from qdisclab.bpf.verifier.log import Reject
from qdisclab.bpf.verifier.state import (
    CONST_PTR_TO_MAP,
    NOT_INIT,
    PTR_TO_BTF_ID,
    PTR_TO_FUNC,
    PTR_TO_PACKET,
    PTR_TO_PACKET_END,
    PTR_TO_STACK,
    SCALAR,
    Reg,
    State,
)
from qdisclab.bpf.verifier.tnum import U32, U64, Tnum

ALU_OPS = {
    isa.BPF_ADD: "+",
    isa.BPF_SUB: "-",
    isa.BPF_MUL: "*",
    isa.BPF_DIV: "/",
    isa.BPF_OR: "|",
    isa.BPF_AND: "&",
    isa.BPF_LSH: "<<",
    isa.BPF_RSH: ">>",
    isa.BPF_MOD: "%",
    isa.BPF_XOR: "^",
    isa.BPF_ARSH: "s>>",
}
JMP_OPS = {
    isa.BPF_JEQ: "==",
    isa.BPF_JNE: "!=",
    isa.BPF_JGT: ">",
    isa.BPF_JGE: ">=",
    isa.BPF_JLT: "<",
    isa.BPF_JLE: "<=",
    isa.BPF_JSGT: "s>",
    isa.BPF_JSGE: "s>=",
    isa.BPF_JSLT: "s<",
    isa.BPF_JSLE: "s<=",
    isa.BPF_JSET: "&",
}
_NO_POINTER_MATH = (CONST_PTR_TO_MAP, PTR_TO_PACKET_END, PTR_TO_FUNC)


class Ids(Protocol):
    def new_id(self) -> int: ...


def readable(st: State, regno: int) -> Reg:
    reg = st.cur.regs[regno]
    if reg.type == NOT_INIT:
        raise Reject("uninit-register", f"R{regno} !read_ok")
    return reg


def sized_unknown(size: int, signed: bool = False) -> Scalar:
    """What a load of ``size`` unknown bytes gives (zero- or sign-extended)."""
    if size == 8:
        return Scalar.unknown()
    bits = size * 8
    if signed:
        out = Scalar.make(Tnum.unknown(), smin=-(1 << (bits - 1)), smax=(1 << (bits - 1)) - 1)
    else:
        out = Scalar.make(Tnum(0, (1 << bits) - 1))
    assert out is not None
    return out


def _imm(insn: Insn, bits: int) -> Reg:
    return Reg.const(insn.imm & U64 if bits == 64 else insn.imm & U32)


def do_alu(ids: Ids, st: State, insn: Insn) -> None:
    """Execute one ALU or ALU64 instruction on ``st``."""
    bits = 64 if insn.cls == isa.BPF_ALU64 else 32
    op = insn.code & 0xF0
    regs = st.cur.regs
    d = insn.dst
    if op == isa.BPF_END:
        regs[d] = Reg.scalar(_byte_swap(_scalar_operand(st, d, "byte swap"), insn))
        return
    if op == isa.BPF_NEG:
        regs[d] = Reg.scalar(alu("neg", _scalar_operand(st, d, "negation"), Scalar.const(0), bits))
        return
    src = readable(st, insn.src) if insn.code & isa.BPF_X else _imm(insn, bits)
    if op == isa.BPF_MOV:
        regs[d] = _move(st, insn, src, bits)
        return
    name = ALU_OPS[op]
    if op in (isa.BPF_DIV, isa.BPF_MOD) and insn.off == 1:
        name = "s" + name
    if not insn.code & isa.BPF_X:
        if op in (isa.BPF_DIV, isa.BPF_MOD) and insn.imm == 0:
            raise Reject("invalid-insn", "div by zero")
        if op in (isa.BPF_LSH, isa.BPF_RSH, isa.BPF_ARSH) and not 0 <= insn.imm < bits:
            raise Reject("invalid-insn", f"invalid shift {insn.imm}")
    dst = readable(st, d)
    if dst.is_pointer or src.is_pointer:
        regs[d] = _pointer_alu(ids, d, dst, src, name, bits)
        return
    regs[d] = Reg.scalar(alu(name, dst.var, src.var, bits))


def _scalar_operand(st: State, regno: int, what: str) -> Scalar:
    reg = readable(st, regno)
    if reg.is_pointer:
        raise Reject(
            "pointer-arithmetic", f"R{regno} pointer arithmetic prohibited", f"{what} of a pointer"
        )
    return reg.var


def _byte_swap(value: Scalar, insn: Insn) -> Scalar:
    bits = insn.imm
    if not value.is_const():
        return sized_unknown(bits // 8)
    raw = value.value & ((1 << bits) - 1)
    swap = insn.cls == isa.BPF_ALU64 or insn.code & isa.BPF_TO_BE
    if swap:
        raw = int.from_bytes(raw.to_bytes(bits // 8, "little"), "big")
    return Scalar.const(raw)


def _move(st: State, insn: Insn, src: Reg, bits: int) -> Reg:
    if insn.off:  # movsx
        if src.is_pointer:
            raise Reject(
                "pointer-arithmetic", f"R{insn.src} sign-extension of a pointer prohibited"
            )
        return Reg.scalar(_sign_extend(src.var, insn.off, bits))
    if bits == 64:
        return src
    if src.is_pointer:  # a 32-bit copy of a pointer is an unknown number (privileged)
        return Reg.scalar(sized_unknown(4))
    return Reg.scalar(alu("mov", Scalar.const(0), src.var, 32))


def _sign_extend(value: Scalar, from_bits: int, bits: int) -> Scalar:
    top = (1 << from_bits) - 1
    if value.is_const():
        low = value.value & top
        signed = low - (1 << from_bits) if low >> (from_bits - 1) else low
        return Scalar.const(signed & (U64 if bits == 64 else U32))
    if from_bits == 32 and bits == 64:
        out = Scalar.make(Tnum.unknown(), smin=value.s32_min, smax=value.s32_max)
    elif value.u32_max <= top >> 1:  # the sign bit is known clear: the value is unchanged
        out = Scalar.make(Tnum(0, top >> 1), umax=value.u32_max)
    else:
        half = 1 << (from_bits - 1)
        out = Scalar.make(Tnum.unknown(), smin=-half, smax=half - 1)
        if bits == 32 and out is not None:
            return alu("mov", Scalar.const(0), out, 32)
    assert out is not None
    return out


def _pointer_alu(ids: Ids, d: int, dst: Reg, src: Reg, name: str, bits: int) -> Reg:
    if bits == 32:
        raise Reject("pointer-arithmetic", f"R{d} 32-bit pointer arithmetic prohibited")
    if dst.is_pointer and src.is_pointer:
        if name == "-" and dst.type == src.type and dst.type in (PTR_TO_PACKET, PTR_TO_STACK):
            return Reg.unknown()
        raise Reject("pointer-arithmetic", f"R{d} pointer {name} pointer prohibited")
    if name not in ("+", "-") or (name == "-" and not dst.is_pointer):
        if name in ("&", "|", "^"):
            raise Reject(
                "pointer-arithmetic", f"R{d} bitwise operator {name}= on pointer prohibited"
            )
        raise Reject(
            "pointer-arithmetic", f"R{d} pointer arithmetic with {name}= operator prohibited"
        )
    ptr, scalar = (dst, src) if dst.is_pointer else (src, dst)
    if ptr.maybe_null:
        raise Reject(
            "null-check",
            f"R{d} pointer arithmetic on {ptr.type_str()} prohibited, null-check it first",
        )
    if ptr.type in _NO_POINTER_MATH:
        raise Reject(
            "pointer-arithmetic", f"R{d} pointer arithmetic on {ptr.type_str()} prohibited"
        )
    return move_pointer(ptr, scalar, name, ids.new_id() if ptr.type == PTR_TO_PACKET else 0)


def move_pointer(ptr: Reg, scalar: Reg, name: str, new_id: int) -> Reg:
    """``ptr + scalar`` or ``ptr - scalar``: constants move ``off``, the rest ``var``."""
    if scalar.var.is_const():
        delta = s64(scalar.var.value)
        off = ptr.off + delta if name == "+" else ptr.off - delta
        if not -(1 << 29) < off < 1 << 29:
            raise Reject(
                "pointer-arithmetic",
                f"value {delta} makes {ptr.type_str()} pointer be out of bounds",
            )
        return ptr.replace(off=off)
    var = alu(name, ptr.var, scalar.var, 64)
    if ptr.type == PTR_TO_PACKET:
        return ptr.replace(var=var, id=new_id, range=0)
    return ptr.replace(var=var)


# ------------------------------------------------------------------ branches


def cond_jump(st: State, insn: Insn) -> list[tuple[bool, State]]:
    """The possible successors of a conditional jump: ``(taken, state)``, the last reusing ``st``."""
    bits = 64 if insn.cls == isa.BPF_JMP else 32
    op = JMP_OPS[insn.code & 0xF0]
    dst = readable(st, insn.dst)
    src_no = insn.src if insn.code & isa.BPF_X else None
    src = readable(st, insn.src) if src_no is not None else _imm(insn, bits)
    if dst.type == SCALAR and src.type == SCALAR:
        return _scalar_branches(st, insn.dst, src_no, dst, src, op, bits)
    if op in ("==", "!=") and bits == 64 and (src.is_null_const or dst.is_null_const):
        ptr = dst if dst.is_pointer else src
        return _null_branches(st, ptr, op == "==")
    kinds = {dst.type, src.type}
    if kinds == {PTR_TO_PACKET, PTR_TO_PACKET_END} and op in ("<", "<=", ">", ">=") and bits == 64:
        return _packet_branches(st, dst, src, op)
    return _both(st)


def _both(st: State) -> list[tuple[bool, State]]:
    return [(True, st.copy()), (False, st)]


def _scalar_branches(
    st: State, d: int, s: int | None, dst: Reg, src: Reg, op: str, bits: int
) -> list[tuple[bool, State]]:
    outcomes: list[tuple[bool, Scalar, Scalar]] = []
    for taken in (True, False):
        narrowed = refine(dst.var.view(bits), src.var.view(bits), op, taken)
        if narrowed is None:
            continue
        nd, ns = dst.var.with_view(narrowed[0]), src.var.with_view(narrowed[1])
        if nd is not None and ns is not None:
            outcomes.append((taken, nd, ns))
    out = []
    for i, (taken, nd, ns) in enumerate(outcomes):
        branch = st if i == len(outcomes) - 1 else st.copy()
        branch.cur.regs[d] = Reg.scalar(nd)
        if s is not None and s != d:
            branch.cur.regs[s] = Reg.scalar(ns)
        out.append((taken, branch))
    return out


def _null_branches(st: State, ptr: Reg, eq: bool) -> list[tuple[bool, State]]:
    """``ptr == 0`` / ``ptr != 0``: the NULL side and the non-NULL side."""
    if not ptr.maybe_null:
        if _not_null(ptr):
            return [(not eq, st)]
        return _both(st)
    null_side = st.copy()
    mark_null(null_side, ptr)
    mark_not_null(st, ptr)
    return [(eq, null_side), (not eq, st)]


def _not_null(reg: Reg) -> bool:
    if reg.type == PTR_TO_BTF_ID:
        return reg.trusted or reg.ref_obj_id != 0 or reg.alloc
    return reg.type not in (SCALAR, NOT_INIT)


def _same_pointer(ptr: Reg, reg: Reg) -> bool:
    return reg is ptr or (ptr.id != 0 and reg.id == ptr.id and reg.maybe_null)


def mark_null(st: State, ptr: Reg) -> None:
    """On the NULL side every copy is the constant 0, and the reference it carried is gone."""
    for frame, where, reg in list(st.all_regs()):
        if _same_pointer(ptr, reg):
            st.set_everywhere(frame, where, Reg.const(0))
    if ptr.ref_obj_id:
        st.refs = tuple(r for r in st.refs if r.id != ptr.ref_obj_id)


def mark_not_null(st: State, ptr: Reg) -> None:
    for frame, where, reg in list(st.all_regs()):
        if _same_pointer(ptr, reg):
            st.set_everywhere(frame, where, reg.replace(maybe_null=False, id=0))


def _packet_branches(st: State, dst: Reg, src: Reg, op: str) -> list[tuple[bool, State]]:
    """``pkt OP pkt_end``: the side where ``pkt <= pkt_end`` holds makes ``pkt.off`` bytes safe."""
    pkt = dst if dst.type == PTR_TO_PACKET else src
    if pkt is src:  # write it as "pkt OP' end"
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
    safe_when_taken = op in ("<", "<=")
    taken, fall = st.copy(), st
    _extend_range(taken if safe_when_taken else fall, pkt)
    return [(True, taken), (False, fall)]


def _extend_range(st: State, pkt: Reg) -> None:
    if pkt.off < 0 or (not pkt.var.is_const() and pkt.var.umax >= 1 << 16):
        return
    for frame, where, reg in list(st.all_regs()):
        if reg.type == PTR_TO_PACKET and reg.id == pkt.id and reg.range < pkt.off:
            st.set_everywhere(frame, where, reg.replace(range=pkt.off))
