"""Argument checks of helper and kfunc calls, against their prototypes.

:func:`check_arg` takes one argument register and the
:class:`~qdisclab.bpf.verifier.proto.Arg` it is passed as, refuses it with
the kernel's message when it is not of that kind (uninitialized, possibly
NULL, untrusted, unreferenced where a reference is needed, the wrong
struct, not the special field the function works on, a graph root whose
lock is not held) and records in :class:`CallArgs` what the call's effects
need to know (the map, the kptr or graph root, the lock, the callback).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from qdisclab.bpf.isa import MAX_BPF_STACK
from qdisclab.bpf.verifier.alu import readable
from qdisclab.bpf.verifier.bounds import s64
from qdisclab.bpf.verifier.log import Reject
from qdisclab.bpf.verifier.mem import (
    SPECIAL_NAMES,
    mark_stack_written,
    region_bounds,
    stack_bytes_initialized,
)
from qdisclab.bpf.verifier.proto import (
    KF_RELEASE,
    KF_TRUSTED_ARGS,
    Arg,
    ArgKind,
    FuncProto,
    LocalType,
    MapProto,
    ProgramProto,
    Special,
    StructProto,
)
from qdisclab.bpf.verifier.state import (
    CONST_PTR_TO_MAP,
    ITERATOR,
    PTR_TO_BTF_ID,
    PTR_TO_CTX,
    PTR_TO_FUNC,
    PTR_TO_MAP_VALUE,
    PTR_TO_STACK,
    SCALAR,
    Reg,
    State,
)

POINTER_ARGS = (ArgKind.BTF_PTR, ArgKind.ALLOC_OBJ, ArgKind.GRAPH_NODE)
_PLAIN_TYPES = {
    ArgKind.CONST_MAP: CONST_PTR_TO_MAP,
    ArgKind.CALLBACK: PTR_TO_FUNC,
    ArgKind.CTX: PTR_TO_CTX,
}
"""Arguments that must be of one register type, and nothing more."""


class Env(Protocol):
    proto: ProgramProto

    def new_id(self) -> int: ...


@dataclass
class CallArgs:
    """What the arguments told about one call."""

    name: str
    map: MapProto | None = None
    kptr: Special | None = None
    root: Special | None = None
    root_map: MapProto | None = None
    lock: tuple[str, int] | None = None
    local: LocalType | None = None
    callback: int = -1
    callback_ctx: Reg | None = None
    iter_slot: tuple[int, int] | None = None  # (frame, stack slot) of an iterator argument
    iter_new: str | None = None  # the iterator type an ITER_NEW argument creates


def release_arg(fn: FuncProto) -> int | None:
    for i, arg in enumerate(fn.args):
        if arg.release:
            return i
    if fn.flags & KF_RELEASE:
        return next((i for i, a in enumerate(fn.args) if a.kind in POINTER_ARGS), None)
    return None


def check_arg(
    env: Env, st: State, fn: FuncProto, call: CallArgs, i: int, arg: Arg, regno: int
) -> None:
    reg = readable(st, regno)
    kind = arg.kind
    if kind == ArgKind.ANYTHING:
        return
    if kind == ArgKind.SCALAR:
        if reg.type != SCALAR:
            raise Reject("argument-type", f"R{regno} type={reg.type_str()} expected=scalar")
        return
    if kind == ArgKind.TYPE_ID:
        local = (
            env.proto.local_types.get(reg.var.value)
            if reg.type == SCALAR and reg.var.is_const()
            else None
        )
        if local is None:
            raise Reject("argument-type", "bpf_obj_new type ID argument must be of a struct")
        call.local = local
        return
    if kind in _PLAIN_TYPES:
        if reg.type != _PLAIN_TYPES[kind]:
            raise Reject(
                "argument-type", f"R{regno} type={reg.type_str()} expected={_PLAIN_TYPES[kind]}"
            )
        call.map = reg.map if kind == ArgKind.CONST_MAP else call.map
        call.callback = reg.subprog if kind == ArgKind.CALLBACK else call.callback
        return
    if kind in (ArgKind.MAP_KEY, ArgKind.MAP_VALUE):
        assert call.map is not None, "a map argument comes first"
        size = call.map.key_size if kind == ArgKind.MAP_KEY else call.map.value_size
        _memory_arg(st, regno, reg, size, not env.proto.allow_uninit_stack)
        return
    if kind in (ArgKind.MEM_WRITE, ArgKind.MEM_READ):
        if reg.maybe_null or reg.type not in (PTR_TO_STACK, PTR_TO_MAP_VALUE):
            raise Reject("argument-type", f"R{regno} type={reg.type_str()} expected=fp, map_value")
        return
    if kind == ArgKind.MEM_SIZE:
        _sized_memory(env, st, fn, regno, reg)
        return
    if kind in (ArgKind.ITER_NEW, ArgKind.ITER):
        _iter_arg(st, call, i, arg, regno, reg)
        return
    if reg.is_null_const and arg.nullable:
        return
    if reg.type == SCALAR:
        _scalar_for_pointer(st, fn, i, regno, reg)
    if reg.maybe_null and not arg.nullable:
        raise Reject(
            "null-check",
            f"Possibly NULL pointer passed to trusted arg{i}",
            f"R{regno} ({reg.type_str()}) must be checked against NULL before the call to {fn.name}",
        )
    if kind in (ArgKind.KPTR_SLOT, ArgKind.GRAPH_ROOT, ArgKind.SPIN_LOCK):
        _field_arg(st, call, kind, regno, reg)
    elif kind == ArgKind.BTF_PTR:
        _btf_arg(env.proto.structs, fn, call, i, arg, regno, reg)
    elif kind == ArgKind.ALLOC_OBJ:
        if not reg.alloc or reg.non_owning or not reg.ref_obj_id:
            raise Reject("argument-type", f"arg#{i} expected pointer to allocated object")
        if reg.off:
            raise Reject(
                "argument-type", f"R{regno} must have zero offset when passed to release func"
            )
    elif kind == ArgKind.GRAPH_NODE:
        _node_arg(call, i, arg, reg)


def _sized_memory(env: Env, st: State, fn: FuncProto, regno: int, size: Reg) -> None:
    """The memory argument before ``size`` holds ``size.umax`` bytes (written or read)."""
    if size.type != SCALAR:
        raise Reject("argument-type", f"R{regno} type={size.type_str()} expected=scalar")
    if size.var.umin < 1:
        raise Reject(
            "argument-type",
            f"R{regno} invalid zero-sized read: u64=[{size.var.umin},{size.var.umax}]",
        )
    if size.var.umax > MAX_BPF_STACK:
        raise Reject(
            "argument-type",
            f"R{regno} unbounded memory access, use 'var &= const' or 'if (var < const)'",
        )
    length = size.var.umax
    mem_regno = regno - 1
    mem = st.cur.regs[mem_regno]
    writes = fn.args[mem_regno - 1].kind == ArgKind.MEM_WRITE
    total = mem.off + s64(mem.var.value)
    if mem.type == PTR_TO_STACK and writes and (total < -MAX_BPF_STACK or total + length > 0):
        raise Reject(
            "stack-bounds", f"invalid write to stack R{mem_regno} off={total} size={length}"
        )
    if mem.type == PTR_TO_STACK:
        stack_bytes_initialized(
            st, mem_regno, mem, length, not writes and not env.proto.allow_uninit_stack
        )
        if writes:
            mark_stack_written(st, mem, length)
        return
    assert mem.map is not None
    region_bounds(mem_regno, mem, 0, length, mem.map.value_size, "map value")
    if writes and mem.map.read_only:
        raise Reject("invalid-mem-access", f"R{mem_regno} cannot write into {mem.type_str()}")


def _scalar_for_pointer(st: State, fn: FuncProto, i: int, regno: int, reg: Reg) -> None:
    message = f"R{regno} type=scalar expected=ptr_"
    if reg.released:
        at = st.released_at(reg.released)
        rule = "double-release" if release_arg(fn) == i else "use-after-release"
        raise Reject(
            rule, message, f"R{regno} held reference id={reg.released}, released at insn {at}"
        )
    raise Reject("argument-type", message)


def _memory_arg(st: State, regno: int, reg: Reg, size: int, initialized: bool) -> None:
    if reg.maybe_null:
        raise Reject(
            "null-check",
            f"R{regno} type={reg.type_str()} expected=fp, pkt, pkt_meta, map_key, map_value",
        )
    if reg.type == PTR_TO_STACK:
        stack_bytes_initialized(st, regno, reg, size, initialized)
    elif reg.type == PTR_TO_MAP_VALUE and reg.map is not None:
        region_bounds(regno, reg, 0, size, reg.map.value_size, "map value")
    else:
        raise Reject(
            "argument-type",
            f"R{regno} type={reg.type_str()} expected=fp, pkt, pkt_meta, map_key, map_value",
        )


def _constant_offset(regno: int, reg: Reg, what: str) -> int:
    if not reg.var.is_const():
        raise Reject(
            "argument-type",
            f"R{regno} doesn't have constant offset. {what} has to be at the constant offset",
        )
    return reg.off + s64(reg.var.value)


def _field_arg(st: State, call: CallArgs, kind: ArgKind, regno: int, reg: Reg) -> None:
    """A pointer to a special field: a kptr, a graph root (lock held), a spin lock."""
    region = reg.map if reg.type == PTR_TO_MAP_VALUE or reg.alloc else None
    label = {
        ArgKind.KPTR_SLOT: "kptr",
        ArgKind.GRAPH_ROOT: "bpf_list_head",
        ArgKind.SPIN_LOCK: "bpf_spin_lock",
    }[kind]
    if region is None:
        raise Reject("argument-type", f"R{regno} type={reg.type_str()} expected=map_value")
    off = _constant_offset(regno, reg, label)
    special = region.special_at(off)
    wanted = {
        ArgKind.KPTR_SLOT: ("kptr",),
        ArgKind.GRAPH_ROOT: ("list_head", "rb_root"),
        ArgKind.SPIN_LOCK: ("spin_lock",),
    }[kind]
    if special is None or special.kind not in wanted:
        raise Reject("argument-type", f"R{regno} off={off} doesn't point to {label}")
    if kind == ArgKind.KPTR_SLOT:
        call.kptr = special
    elif kind == ArgKind.SPIN_LOCK:
        call.lock = (region.name, off)
    else:
        call.root, call.root_map = special, region
        lock = next((s for s in region.specials if s.kind == "spin_lock"), None)
        if lock is None or st.lock != (region.name, lock.offset):
            where = lock.offset if lock is not None else -1
            raise Reject(
                "spin-lock",
                f"bpf_spin_lock at off={where} must be held for {SPECIAL_NAMES[special.kind]}",
            )


def _btf_arg(
    structs: Mapping[str, StructProto],
    fn: FuncProto,
    call: CallArgs,
    i: int,
    arg: Arg,
    regno: int,
    reg: Reg,
) -> None:
    if reg.type != PTR_TO_BTF_ID:
        raise Reject("argument-type", f"R{regno} type={reg.type_str()} expected=ptr_")
    want = arg.btf or (call.kptr.btf if call.kptr is not None else None)
    struct = structs.get(reg.btf or "")
    if want is not None and reg.btf != want and not (struct is not None and struct.is_a(want)):
        raise Reject(
            "argument-type",
            f"kernel function {fn.name} args#{i} expected pointer to STRUCT {want} "
            f"but R{regno} has a pointer to STRUCT {reg.btf}",
        )
    must_trust = fn.flags & KF_TRUSTED_ARGS or arg.ref or release_arg(fn) == i
    if must_trust and not (reg.trusted or reg.ref_obj_id):
        raise Reject("argument-type", f"R{regno} must be referenced or trusted")
    if (arg.ref or release_arg(fn) == i) and not reg.ref_obj_id:
        raise Reject(
            "release-unreferenced", f"R{regno} must be referenced when passed to release function"
        )
    if reg.off or not reg.var.is_const() or reg.var.value:
        raise Reject(
            "argument-type",
            f"R{regno} must have zero offset when passed to release func or trusted arg to kfunc",
        )


def _iter_arg(st: State, call: CallArgs, i: int, arg: Arg, regno: int, reg: Reg) -> None:
    """An iterator lives in one 8-byte stack slot: new wants it free, next/destroy initialized."""
    name = f"iter_{arg.btf}"
    total = _constant_offset(regno, reg, name) if reg.type == PTR_TO_STACK else 1
    if reg.type != PTR_TO_STACK or total % 8 or not -512 <= total <= -8:
        raise Reject(
            "argument-type", f"arg#{i} expected pointer to an aligned stack slot for {name}"
        )
    spi = (-total - 1) // 8
    slot = st.frames[reg.frameno].stack.get(spi)
    held = slot is not None and slot.spilled is not None and slot.spilled.type == ITERATOR
    if arg.kind == ArgKind.ITER_NEW:
        if held:
            raise Reject("argument-type", f"expected uninitialized {name} as arg #{i}")
        call.iter_new = arg.btf
    elif not held or slot.spilled.btf != arg.btf:  # type: ignore[union-attr]
        raise Reject(
            "argument-type",
            f"expected an initialized {name} as arg #{i}",
            "create the iterator with its _new kfunc first; after _destroy it is gone",
        )
    call.iter_slot = (reg.frameno, spi)


def _node_arg(call: CallArgs, i: int, arg: Arg, reg: Reg) -> None:
    region = reg.map if reg.alloc else None
    special = region.special_at(reg.off) if region is not None else None
    if special is None or special.kind not in ("list_node", "rb_node"):
        raise Reject("argument-type", f"arg#{i} expected pointer to allocated object's graph node")
    if arg.release and (reg.non_owning or not reg.ref_obj_id):
        raise Reject(
            "argument-type",
            f"arg#{i} expected owning reference to an allocated object",
            "a node already in a collection cannot be inserted again",
        )
    if not arg.release and not reg.non_owning:
        raise Reject(
            "argument-type",
            f"arg#{i} expected non-owning reference to a node in the collection",
            "remove a node found with bpf_rbtree_first or inside the collection's lock",
        )
    if call.root is not None and call.root.btf not in (None, region.name):  # type: ignore[union-attr]
        raise Reject(
            "argument-type",
            f"{SPECIAL_NAMES[call.root.kind]} holds {call.root.btf}, not {region.name}",
        )  # type: ignore[union-attr]
