"""Loads, stores and atomics: every access within its region and initialized where read.

One function per region kind, each with the kernel's checks and messages:
the stack (``check_stack_read/write``: bounds, alignment, spills, bytes
written before read), map values and ``bpf_obj_new`` objects
(``check_mem_region_access`` with the variable offset's bounds, and the
special fields a plain access may not touch), the context (the attach
point's readable and writable slots; struct_ops arguments as trusted BTF
pointers), packets (within the range a ``data_end`` check proved) and
kernel structs behind BTF pointers (modelled fields only; writes only to the
fields the attach point opens, never through untrusted pointers).
"""

from __future__ import annotations

from typing import Protocol

from qdisclab.bpf import isa
from qdisclab.bpf.isa import MAX_BPF_STACK, SIZE_BYTES, Insn
from qdisclab.bpf.verifier.alu import readable, sized_unknown
from qdisclab.bpf.verifier.bounds import S64_MIN, s64
from qdisclab.bpf.verifier.log import Reject
from qdisclab.bpf.verifier.proto import CtxKind, MapProto, ProgramProto
from qdisclab.bpf.verifier.state import (
    EMPTY_SLOT,
    PTR_TO_BTF_ID,
    PTR_TO_CTX,
    PTR_TO_MAP_VALUE,
    PTR_TO_MEM,
    PTR_TO_PACKET,
    PTR_TO_PACKET_END,
    PTR_TO_STACK,
    SCALAR,
    STACK_INVALID,
    STACK_ITER,
    STACK_MISC,
    STACK_SPILL,
    STACK_ZERO,
    Reg,
    Slot,
    State,
)
from qdisclab.bpf.verifier.tnum import U64

BPF_MAX_VAR_OFF = 1 << 29
SPECIAL_NAMES = {
    "spin_lock": "bpf_spin_lock",
    "list_head": "bpf_list_head",
    "rb_root": "bpf_rb_root",
    "list_node": "bpf_list_node",
    "rb_node": "bpf_rb_node",
    "refcount": "bpf_refcount",
}


class Env(Protocol):
    proto: ProgramProto
    entry_refs: dict[str, int]

    def new_id(self) -> int: ...


def do_mem(env: Env, st: State, insn: Insn) -> None:
    """Execute one LDX, ST or STX instruction on ``st``."""
    size = SIZE_BYTES[insn.code & 0x18]
    mode, cls = insn.code & 0xE0, insn.cls
    regs = st.cur.regs
    if cls == isa.BPF_LDX:
        regs[insn.dst] = access(
            env, st, insn.src, insn.off, size, None, signed=mode == isa.BPF_MEMSX
        )
    elif cls == isa.BPF_ST:
        access(env, st, insn.dst, insn.off, size, Reg.const(insn.imm & U64))
    elif mode == isa.BPF_MEM:
        access(env, st, insn.dst, insn.off, size, readable(st, insn.src))
    elif insn.imm == isa.BPF_LOAD_ACQ:
        regs[insn.dst] = access(env, st, insn.src, insn.off, size, None)
    elif insn.imm == isa.BPF_STORE_REL:
        access(env, st, insn.dst, insn.off, size, readable(st, insn.src))
    else:
        _atomic(env, st, insn, size)


def _atomic(env: Env, st: State, insn: Insn, size: int) -> None:
    target = readable(st, insn.dst)
    if target.type not in (PTR_TO_STACK, PTR_TO_MAP_VALUE) and not target.alloc:
        raise Reject(
            "invalid-mem-access",
            f"BPF_ATOMIC stores into R{insn.dst} {target.type_str()} is not allowed",
        )
    value = readable(st, insn.src)
    if value.is_pointer:
        raise Reject("invalid-mem-access", f"R{insn.src} leaks addr into mem")
    if insn.imm == isa.BPF_CMPXCHG:
        readable(st, 0)
    access(env, st, insn.dst, insn.off, size, None)
    access(env, st, insn.dst, insn.off, size, Reg.scalar(sized_unknown(size)))
    if insn.imm == isa.BPF_CMPXCHG:
        st.cur.regs[0] = Reg.scalar(sized_unknown(size))
    elif insn.imm & isa.BPF_FETCH:
        st.cur.regs[insn.src] = Reg.scalar(sized_unknown(size))


def access(
    env: Env, st: State, regno: int, off: int, size: int, value: Reg | None, signed: bool = False
) -> Reg:
    """Read (``value`` None; returns what is read) or write ``size`` bytes at ``R<regno> + off``."""
    reg = readable(st, regno)
    if reg.maybe_null or reg.type in (SCALAR, PTR_TO_PACKET_END) or reg.type not in _REGIONS:
        raise _bad_pointer(st, regno, reg)
    if reg.type == PTR_TO_BTF_ID and reg.alloc:
        return _region(st, regno, reg, off, size, value, reg.map, "object", signed)  # type: ignore[arg-type]
    if reg.type in (PTR_TO_MAP_VALUE, PTR_TO_MEM):
        what = "map value" if reg.type == PTR_TO_MAP_VALUE else "memory"
        return _region(st, regno, reg, off, size, value, reg.map, what, signed)  # type: ignore[arg-type]
    return _REGIONS[reg.type](env, st, regno, reg, off, size, value, signed)


def _bad_pointer(st: State, regno: int, reg: Reg) -> Reject:
    message = f"R{regno} invalid mem access '{reg.type_str()}'"
    if reg.maybe_null:
        return Reject("null-check", message, f"R{regno} may be NULL here: compare it with 0 first")
    if reg.released:
        at = st.released_at(reg.released)
        return Reject(
            "use-after-release",
            message,
            f"R{regno} held reference id={reg.released}, released at insn {at}",
        )
    return Reject("invalid-mem-access", message)


def _result(value: Reg | None, size: int, signed: bool) -> Reg:
    return Reg.scalar(sized_unknown(size, signed)) if value is None else value


# ---------------------------------------------------------------------- stack


def _stack(
    env: Env, st: State, regno: int, reg: Reg, off: int, size: int, value: Reg | None, signed: bool
) -> Reg:
    write = value is not None
    if not reg.var.is_const():
        raise Reject(
            "stack-bounds",
            f"R{regno} variable-offset stack access var_off={reg.var.var_off} off={off} size={size}",
            "qdisclab's verifier tracks the stack at constant offsets only: index a map value instead",
        )
    total = reg.off + s64(reg.var.value) + off
    if total < -MAX_BPF_STACK or total + size > 0:
        verb = "write to" if write else "read from"
        raise Reject("stack-bounds", f"invalid {verb} stack R{regno} off={total} size={size}")
    if total % size:
        raise Reject("stack-bounds", f"misaligned stack access off {total} size {size}")
    frame = st.frames[reg.frameno]
    spi = (-total - 1) // 8
    start = total + (spi + 1) * 8
    slot = frame.stack.get(spi, EMPTY_SLOT)
    if STACK_ITER in slot.kinds:
        raise Reject(
            "invalid-mem-access",
            f"invalid {'write to' if write else 'read from'} stack off {total}: it holds an iterator",
            "an iterator is used only through its kfuncs (new, next, destroy)",
        )
    if value is not None:
        if value.type == PTR_TO_STACK and value.frameno > reg.frameno:
            raise Reject(
                "invalid-mem-access",
                "cannot spill pointers to stack into stack frame of the caller",
                "the callee's stack is gone once it returns",
            )
        if size == 8:
            frame.stack[spi] = Slot(STACK_SPILL * 8, value)
            return value
        kinds = list(slot.kinds.replace(STACK_SPILL, STACK_MISC))
        kind = STACK_ZERO if value.is_null_const else STACK_MISC
        kinds[start : start + size] = kind * size
        frame.stack[spi] = Slot("".join(kinds))
        return value
    if slot.spilled is not None:
        if size == 8:
            return slot.spilled
        if slot.spilled.type != SCALAR:
            raise Reject("invalid-mem-access", "invalid size of register fill")
        if slot.spilled.var.is_const():
            raw = slot.spilled.var.value.to_bytes(8, "little")[start : start + size]
            return Reg.const(int.from_bytes(raw, "little", signed=signed) & U64)
        return Reg.scalar(sized_unknown(size, signed))
    kinds = slot.kinds[start : start + size]
    for i, kind in enumerate(kinds):
        if kind == STACK_INVALID and not env.proto.allow_uninit_stack:
            raise Reject("stack-uninit", f"invalid read from stack off {total}+{i} size {size}")
    if kinds == STACK_ZERO * size:
        return Reg.const(0)
    return Reg.scalar(sized_unknown(size, signed))


def stack_bytes_initialized(
    st: State, regno: int, reg: Reg, size: int, required: bool = True
) -> None:
    """A helper reads ``size`` bytes at the stack pointer ``reg`` (a map key, say)."""
    if not reg.var.is_const():
        raise Reject(
            "stack-bounds", f"R{regno} variable-offset stack access var_off={reg.var.var_off}"
        )
    total = reg.off + s64(reg.var.value)
    if total < -MAX_BPF_STACK or total + size > 0:
        raise Reject(
            "stack-bounds", f"invalid indirect access to stack R{regno} off={total} size={size}"
        )
    frame = st.frames[reg.frameno]
    for i in range(size if required else 0):
        byte = total + i
        spi = (-byte - 1) // 8
        if frame.stack.get(spi, EMPTY_SLOT).kinds[byte + (spi + 1) * 8] == STACK_INVALID:
            raise Reject(
                "stack-uninit",
                f"invalid indirect read from stack R{regno} off {total}+{i} size {size}",
            )


def mark_stack_written(st: State, reg: Reg, size: int) -> None:
    """A helper wrote (up to) ``size`` bytes at the stack pointer ``reg``: they hold data now."""
    total = reg.off + s64(reg.var.value)
    frame = st.frames[reg.frameno]
    for byte in range(total, total + size):
        spi = (-byte - 1) // 8
        slot = frame.stack.get(spi, EMPTY_SLOT)
        if STACK_ITER in slot.kinds:
            raise Reject(
                "invalid-mem-access",
                f"a helper may not write stack off {byte}: it holds an iterator",
            )
        kinds = list(slot.kinds.replace(STACK_SPILL, STACK_MISC))
        kinds[byte + (spi + 1) * 8] = STACK_MISC
        frame.stack[spi] = Slot("".join(kinds))


# ------------------------------------------------------- map values, objects


def region_bounds(
    regno: int, reg: Reg, off: int, size: int, mem_size: int, what: str
) -> tuple[int, int]:
    """``check_mem_region_access``: the access at every possible variable offset fits."""
    rule = "map-value-bounds"
    var, lo = reg.var, reg.off + off
    if var.smin < 0 and (var.smin == S64_MIN or var.smin + lo < 0):
        raise Reject(
            rule,
            f"R{regno} min value is negative, either use unsigned index or do a if (index >=0) check.",
        )
    first = var.smin + lo
    if first < 0 or first + size > mem_size:
        raise Reject(
            rule,
            f"R{regno} min value is outside of the allowed memory range",
            before=_region_line(what, mem_size, first, size),
        )
    if var.umax >= BPF_MAX_VAR_OFF:
        raise Reject(
            rule, f"R{regno} unbounded memory access, make sure to bounds check any such access"
        )
    last = var.umax + lo
    if last + size > mem_size:
        raise Reject(
            rule,
            f"R{regno} max value is outside of the allowed memory range",
            before=_region_line(what, mem_size, last, size),
        )
    return first, last + size


def _region_line(what: str, mem_size: int, off: int, size: int) -> str:
    if what == "map value":
        return f"invalid access to map value, value_size={mem_size} off={off} size={size}"
    return f"invalid access to {what}, size={mem_size} off={off} size={size}"


def _region(
    st: State,
    regno: int,
    reg: Reg,
    off: int,
    size: int,
    value: Reg | None,
    region: MapProto,
    what: str,
    signed: bool,
) -> Reg:
    lo, hi = region_bounds(regno, reg, off, size, region.value_size, what)
    special = region.special_overlapping(lo, hi - lo)
    if special is not None:
        exact = reg.var.is_const() and lo == special.offset and size == 8
        if special.kind == "kptr" and exact:
            if value is not None:
                raise Reject(
                    "special-field",
                    "store to referenced kptr disallowed",
                    "move a reference into a kptr field with bpf_kptr_xchg",
                )
            return Reg(PTR_TO_BTF_ID, btf=special.btf, maybe_null=True)
        name = SPECIAL_NAMES.get(special.kind, "kptr")
        raise Reject("special-field", f"{name} cannot be accessed directly by load/store")
    if value is not None and region.read_only and what == "memory":
        raise Reject("invalid-mem-access", f"R{regno} cannot write into {reg.type_str()}")
    if value is not None and region.read_only:
        raise Reject(
            "invalid-mem-access",
            f"write into map forbidden, value_size={region.value_size} off={lo} size={size}",
        )
    return _result(value, size, signed)


# -------------------------------------------------------------------- context


def _ctx(
    env: Env, st: State, regno: int, reg: Reg, off: int, size: int, value: Reg | None, signed: bool
) -> Reg:
    if reg.off or not reg.var.is_const() or reg.var.value:
        raise Reject(
            "ctx-access", f"dereference of modified ctx ptr R{regno} off={reg.off} disallowed"
        )
    field = env.proto.ctx_field(off, size)
    denied = f"invalid bpf_context access off={off} size={size}"
    if field is None or (value is not None and not field.writable):
        raise Reject("ctx-access", denied)
    if field.kind == CtxKind.SCALAR or value is not None:
        return _result(value, size, signed)
    if field.offset != off or field.size != size:
        raise Reject("ctx-access", denied)
    if field.kind == CtxKind.PACKET:
        return Reg(PTR_TO_PACKET, id=env.new_id())
    if field.kind == CtxKind.PACKET_END:
        return Reg(PTR_TO_PACKET_END)
    ref = env.entry_refs.get(field.name, 0)
    if ref and st.ref(ref) is None:
        raise Reject(
            "use-after-release",
            f"{denied}. Reference may already be released",
            f"the {field.name} argument's reference id={ref} was released at insn {st.released_at(ref)}",
        )
    nullable_id = env.new_id() if field.nullable else 0
    return Reg(
        PTR_TO_BTF_ID,
        btf=field.btf,
        trusted=True,
        ref_obj_id=ref,
        maybe_null=field.nullable,
        id=nullable_id,
    )


# --------------------------------------------------------------------- packet


def _packet(
    env: Env, st: State, regno: int, reg: Reg, off: int, size: int, value: Reg | None, signed: bool
) -> Reg:
    if reg.var.smin < 0:
        raise Reject(
            "packet-bounds",
            f"R{regno} min value is negative, either use unsigned index or do a if (index >=0) check.",
        )
    lo = reg.off + off
    if lo < 0 or lo + size > reg.range:
        raise Reject(
            "packet-bounds",
            f"R{regno} offset is outside of the packet",
            f"check R{regno} + {lo + size} against data_end before this access",
            before=f"invalid access to packet, off={lo} size={size}, R{regno}(id={reg.id},off={reg.off},r={reg.range})",
        )
    return _result(value, size, signed)


# ------------------------------------------------------------- kernel structs


def _btf(
    env: Env, st: State, regno: int, reg: Reg, off: int, size: int, value: Reg | None, signed: bool
) -> Reg:
    name = reg.btf or "?"
    if not reg.var.is_const():
        raise Reject(
            "btf-access",
            f"R{regno} is ptr_{name} invalid variable offset: off={reg.off}, var_off={reg.var.var_off}",
        )
    total = reg.off + s64(reg.var.value) + off
    if total < 0:
        raise Reject("btf-access", f"R{regno} is ptr_{name} invalid negative access: off={total}")
    struct = env.proto.structs.get(name)
    if struct is None:
        raise Reject(
            "btf-access",
            f"R{regno} is ptr_{name}: struct {name} is not modelled for this attach point",
        )
    field = struct.field_at(total, size)
    if value is not None:
        if not (reg.trusted or reg.ref_obj_id):
            raise Reject(
                "btf-access",
                "only read is supported",
                f"R{regno} was reached by walking pointers: it is untrusted",
            )
        if field is None or not field.writable:
            raise Reject("btf-access", f"no write support to {name} at off {total}")
        return value
    if total + size > struct.size:
        raise Reject("btf-access", f"access beyond struct {name} at off {total} size {size}")
    if field is None:
        raise Reject(
            "btf-access", f"access to unmodelled bytes of struct {name} at off {total} size {size}"
        )
    if field.pointee and size == 8:
        return Reg(PTR_TO_BTF_ID, btf=field.pointee)
    return Reg.scalar(sized_unknown(size, signed))


_REGIONS = {
    PTR_TO_STACK: _stack,
    PTR_TO_CTX: _ctx,
    PTR_TO_PACKET: _packet,
    PTR_TO_BTF_ID: _btf,
    PTR_TO_MAP_VALUE: None,
    PTR_TO_MEM: None,
}
