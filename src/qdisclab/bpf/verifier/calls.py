"""Helper and kfunc calls: prototypes, allow-lists, references, locks and callbacks.

A call is checked against its :class:`~qdisclab.bpf.verifier.proto.FuncProto`:
the function must exist for the attach point and its allow-list must name
the program's ops member; each argument must be of the kind the prototype
accepts (trusted, referenced, non-NULL unless ``__nullable``, the right
struct); then the call takes effect as the kernel's ``check_helper_call``/
``check_kfunc_call`` model it: a release removes the reference and turns
every copy of the pointer into an unknown scalar (so a later use is
``invalid mem access 'scalar'``), an acquire creates one (maybe NULL until
checked), a push into a list or rbtree leaves a non-owning pointer valid
until the lock is dropped, ``bpf_spin_lock`` and ``bpf_spin_unlock`` pair
up, R1-R5 become unreadable and R0 holds the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from qdisclab.bpf.isa import Insn
from qdisclab.bpf.verifier.alu import readable
from qdisclab.bpf.verifier.bounds import Scalar, s64
from qdisclab.bpf.verifier.log import Reject
from qdisclab.bpf.verifier.mem import SPECIAL_NAMES, region_bounds, stack_bytes_initialized
from qdisclab.bpf.verifier.proto import (
    KF_ACQUIRE,
    KF_RELEASE,
    KF_RET_NULL,
    KF_TRUSTED_ARGS,
    Arg,
    ArgKind,
    FuncProto,
    LocalType,
    MapProto,
    ProgramProto,
    RetKind,
    Special,
)
from qdisclab.bpf.verifier.state import (
    CONST_PTR_TO_MAP,
    NOT_INIT_REG,
    PTR_TO_BTF_ID,
    PTR_TO_CTX,
    PTR_TO_FUNC,
    PTR_TO_MAP_VALUE,
    PTR_TO_STACK,
    SCALAR,
    Ref,
    Reg,
    State,
)
from qdisclab.bpf.verifier.tnum import Tnum

_POINTER_ARGS = (ArgKind.BTF_PTR, ArgKind.ALLOC_OBJ, ArgKind.GRAPH_NODE)


class Env(Protocol):
    proto: ProgramProto

    def new_id(self) -> int: ...


@dataclass
class _Call:
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


def lookup(env: Env, insn: Insn, symbols: dict[int, str]) -> FuncProto:
    """The prototype of the helper or kfunc ``insn`` calls, or a rejection naming why not."""
    proto = env.proto
    if insn.src == 2:  # BPF_PSEUDO_KFUNC_CALL
        name = symbols.get(insn.slot, f"kfunc#{insn.imm}")
        fn = proto.kfuncs.get(name)
        if fn is None:
            raise Reject(
                "unknown-function",
                f"calling kernel function {name} is not allowed",
                f"{name} is not a kfunc of {proto.interface}",
            )
    else:
        fn = proto.helpers.get(insn.imm)
        if fn is None:
            raise Reject("unknown-function", f"invalid func unknown#{insn.imm}")
        name = fn.name
    if not fn.allows(proto.member):
        allowed = ", ".join(sorted(fn.allowed))
        raise Reject(
            "kfunc-allow-list",
            f"calling kernel function {name} is not allowed",
            f"{name} may be called from {proto.interface} members {allowed}, not from {proto.member}",
        )
    return fn


def do_call(env: Env, st: State, insn: Insn, fn: FuncProto) -> _Call:
    """Check the arguments of a call to ``fn`` and apply its effects; returns what they were."""
    if st.lock is not None and fn.lock not in ("held", "release"):
        raise Reject(
            "spin-lock",
            "function calls are not allowed while holding a lock",
            f"{fn.name} is called between bpf_spin_lock and bpf_spin_unlock",
        )
    call = _Call(fn.name)
    for i, arg in enumerate(fn.args):
        _check_arg(env, st, fn, call, i, arg, i + 1)
    release = _release_arg(fn)
    if release is not None:
        _release(st, fn, release, insn.slot)
    if fn.lock == "acquire":
        if st.lock is not None:
            raise Reject("spin-lock", "Locking two bpf_spin_locks are not allowed")
        st.lock = call.lock
    elif fn.lock == "release" and fn.args and fn.args[0].kind == ArgKind.SPIN_LOCK:
        if st.lock is None:
            raise Reject("spin-lock", "bpf_spin_unlock without taking a lock")
        if st.lock != call.lock:
            raise Reject("spin-lock", "bpf_spin_unlock of different lock")
        st.lock = None
        _invalidate_non_owning(st)
    regs = st.cur.regs
    callback_ctx = (
        regs[fn.callback_arg + 2]
        if fn.callback_arg is not None and fn.callback_arg + 2 <= 5
        else None
    )
    call.callback_ctx = callback_ctx
    for r in range(1, 6):
        regs[r] = NOT_INIT_REG
    regs[0] = _result(env, st, fn, call, insn.slot)
    return call


def _release_arg(fn: FuncProto) -> int | None:
    for i, arg in enumerate(fn.args):
        if arg.release:
            return i
    if fn.flags & KF_RELEASE:
        return next((i for i, a in enumerate(fn.args) if a.kind in _POINTER_ARGS), None)
    return None


def _check_arg(
    env: Env, st: State, fn: FuncProto, call: _Call, i: int, arg: Arg, regno: int
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
    if kind == ArgKind.CONST_MAP:
        if reg.type != CONST_PTR_TO_MAP:
            raise Reject("argument-type", f"R{regno} type={reg.type_str()} expected=map_ptr")
        call.map = reg.map
        return
    if kind in (ArgKind.MAP_KEY, ArgKind.MAP_VALUE):
        assert call.map is not None, "a map argument comes first"
        size = call.map.key_size if kind == ArgKind.MAP_KEY else call.map.value_size
        _memory_arg(st, regno, reg, size)
        return
    if kind == ArgKind.CALLBACK:
        if reg.type != PTR_TO_FUNC:
            raise Reject("argument-type", f"R{regno} type={reg.type_str()} expected=func")
        call.callback = reg.subprog
        return
    if kind == ArgKind.CTX:
        if reg.type != PTR_TO_CTX:
            raise Reject("argument-type", f"R{regno} type={reg.type_str()} expected=ctx")
        return
    if reg.is_null_const and arg.nullable:
        return
    if reg.type == SCALAR:
        _scalar_for_pointer(st, fn, i, regno, reg)
    if reg.maybe_null:
        raise Reject(
            "null-check",
            f"Possibly NULL pointer passed to trusted arg{i}",
            f"R{regno} ({reg.type_str()}) must be checked against NULL before the call to {fn.name}",
        )
    if kind in (ArgKind.KPTR_SLOT, ArgKind.GRAPH_ROOT, ArgKind.SPIN_LOCK):
        _field_arg(st, call, kind, regno, reg)
    elif kind == ArgKind.BTF_PTR:
        _btf_arg(fn, call, i, arg, regno, reg)
    elif kind == ArgKind.ALLOC_OBJ:
        if not reg.alloc or reg.non_owning or not reg.ref_obj_id:
            raise Reject("argument-type", f"arg#{i} expected pointer to allocated object")
        if reg.off:
            raise Reject(
                "argument-type", f"R{regno} must have zero offset when passed to release func"
            )
    elif kind == ArgKind.GRAPH_NODE:
        _node_arg(call, i, regno, reg)


def _scalar_for_pointer(st: State, fn: FuncProto, i: int, regno: int, reg: Reg) -> None:
    message = f"R{regno} type=scalar expected=ptr_"
    if reg.released:
        at = st.released_at(reg.released)
        rule = "double-release" if _release_arg(fn) == i else "use-after-release"
        raise Reject(
            rule, message, f"R{regno} held reference id={reg.released}, released at insn {at}"
        )
    raise Reject("argument-type", message)


def _memory_arg(st: State, regno: int, reg: Reg, size: int) -> None:
    if reg.maybe_null:
        raise Reject(
            "null-check",
            f"R{regno} type={reg.type_str()} expected=fp, pkt, pkt_meta, map_key, map_value",
        )
    if reg.type == PTR_TO_STACK:
        stack_bytes_initialized(st, regno, reg, size)
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


def _field_arg(st: State, call: _Call, kind: ArgKind, regno: int, reg: Reg) -> None:
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


def _btf_arg(fn: FuncProto, call: _Call, i: int, arg: Arg, regno: int, reg: Reg) -> None:
    if reg.type != PTR_TO_BTF_ID:
        raise Reject("argument-type", f"R{regno} type={reg.type_str()} expected=ptr_")
    want = arg.btf or (call.kptr.btf if call.kptr is not None else None)
    if want is not None and reg.btf != want:
        raise Reject(
            "argument-type",
            f"kernel function {fn.name} args#{i} expected pointer to STRUCT {want} "
            f"but R{regno} has a pointer to STRUCT {reg.btf}",
        )
    must_trust = fn.flags & KF_TRUSTED_ARGS or arg.ref or _release_arg(fn) == i
    if must_trust and not (reg.trusted or reg.ref_obj_id):
        raise Reject("argument-type", f"R{regno} must be referenced or trusted")
    if (arg.ref or _release_arg(fn) == i) and not reg.ref_obj_id:
        raise Reject(
            "release-unreferenced", f"R{regno} must be referenced when passed to release function"
        )
    if reg.off or not reg.var.is_const() or reg.var.value:
        raise Reject(
            "argument-type",
            f"R{regno} must have zero offset when passed to release func or trusted arg to kfunc",
        )


def _node_arg(call: _Call, i: int, regno: int, reg: Reg) -> None:
    region = reg.map if reg.alloc else None
    special = region.special_at(reg.off) if region is not None else None
    if special is None or special.kind not in ("list_node", "rb_node"):
        raise Reject("argument-type", f"arg#{i} expected pointer to allocated object's graph node")
    if reg.non_owning or not reg.ref_obj_id:
        raise Reject(
            "argument-type",
            f"arg#{i} expected owning reference to an allocated object",
            "a node already in a collection cannot be inserted again",
        )
    if call.root is not None and call.root.btf not in (None, region.name):  # type: ignore[union-attr]
        raise Reject(
            "argument-type",
            f"{SPECIAL_NAMES[call.root.kind]} holds {call.root.btf}, not {region.name}",
        )  # type: ignore[union-attr]


def _release(st: State, fn: FuncProto, i: int, slot: int) -> None:
    regno = i + 1
    reg = st.cur.regs[regno]
    if reg.is_null_const:
        return
    ref_id = reg.ref_obj_id
    if not ref_id or st.ref(ref_id) is None:
        raise Reject(
            "release-unreferenced", f"R{regno} must be referenced when passed to release function"
        )
    st.refs = tuple(r for r in st.refs if r.id != ref_id)
    st.released = (*st.released, (ref_id, slot))
    graph = fn.args[i].kind == ArgKind.GRAPH_NODE
    for frame, where, other in list(st.all_regs()):
        if other.ref_obj_id == ref_id:
            if graph:
                st.set_everywhere(frame, where, other.replace(ref_obj_id=0, non_owning=True))
            else:
                st.set_everywhere(frame, where, Reg.scalar(Scalar.unknown(), released=ref_id))


def _invalidate_non_owning(st: State) -> None:
    for frame, where, reg in list(st.all_regs()):
        if reg.non_owning:
            st.set_everywhere(frame, where, Reg.unknown())


def _acquire(env: Env, st: State, slot: int, what: str) -> int:
    ref_id = env.new_id()
    st.refs = (*st.refs, Ref(ref_id, slot, what))
    return ref_id


def _local_named(env: Env, name: str | None) -> LocalType | None:
    return next((t for t in env.proto.local_types.values() if t.name == name), None)


def _result(env: Env, st: State, fn: FuncProto, call: _Call, slot: int) -> Reg:
    ret = fn.ret
    if ret == RetKind.VOID:
        return NOT_INIT_REG
    if ret == RetKind.SCALAR:
        if fn.ret_range is None:
            return Reg.unknown()
        lo, hi = fn.ret_range
        value = Scalar.make(Tnum.unknown(), smin=lo, smax=hi)
        return Reg.scalar(value if value is not None else Scalar.unknown())
    if ret == RetKind.MAP_VALUE_OR_NULL:
        return Reg(PTR_TO_MAP_VALUE, map=call.map, maybe_null=True, id=env.new_id())
    acquire = bool(fn.flags & KF_ACQUIRE) or ret in (RetKind.KPTR_OLD, RetKind.GRAPH_NODE_OR_NULL)
    maybe_null = bool(fn.flags & KF_RET_NULL) or ret in (
        RetKind.KPTR_OLD,
        RetKind.GRAPH_NODE_OR_NULL,
        RetKind.GRAPH_NODE_NONOWNING,
    )
    ref_id = _acquire(env, st, slot, f"{fn.name} result") if acquire else 0
    null_id = (ref_id or env.new_id()) if maybe_null else 0
    if ret == RetKind.BTF_PTR:
        return Reg(
            PTR_TO_BTF_ID,
            btf=fn.ret_btf,
            trusted=not acquire,
            ref_obj_id=ref_id,
            maybe_null=maybe_null,
            id=null_id,
        )
    if ret == RetKind.ALLOC_OBJ:
        local = call.local
        assert local is not None
        return Reg(
            PTR_TO_BTF_ID,
            btf=local.name,
            alloc=True,
            map=local.as_map(),
            ref_obj_id=ref_id,
            maybe_null=maybe_null,
            id=null_id,
        )
    if ret == RetKind.KPTR_OLD:
        btf = call.kptr.btf if call.kptr is not None else None
        local = _local_named(env, btf)
        return Reg(
            PTR_TO_BTF_ID,
            btf=btf,
            alloc=local is not None,
            map=local.as_map() if local else None,
            ref_obj_id=ref_id,
            maybe_null=True,
            id=null_id,
        )
    # a node out of a list or rbtree: the containing object, pointed at its node field
    contained = call.root.btf if call.root is not None else None
    local = _local_named(env, contained)
    if local is None:
        raise Reject(
            "argument-type",
            f"{fn.name}: the graph root does not name its contained type (__contains)",
        )
    node = next((s for s in local.specials if s.kind in ("list_node", "rb_node")), None)
    return Reg(
        PTR_TO_BTF_ID,
        btf=local.name,
        alloc=True,
        map=local.as_map(),
        off=node.offset if node else 0,
        ref_obj_id=ref_id,
        maybe_null=True,
        id=null_id,
        non_owning=ret == RetKind.GRAPH_NODE_NONOWNING,
    )
