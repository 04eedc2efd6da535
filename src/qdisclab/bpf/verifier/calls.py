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

from qdisclab.bpf.helper_ids import helper_name
from qdisclab.bpf.isa import Insn
from qdisclab.bpf.verifier.args import CallArgs, Env, check_arg, release_arg
from qdisclab.bpf.verifier.bounds import Scalar
from qdisclab.bpf.verifier.builtin import UNSUPPORTED
from qdisclab.bpf.verifier.log import Reject
from qdisclab.bpf.verifier.proto import (
    KF_ACQUIRE,
    KF_RET_NULL,
    KF_SLEEPABLE,
    ArgKind,
    FuncProto,
    LocalType,
    MapProto,
    RetKind,
)
from qdisclab.bpf.verifier.state import (
    ITERATOR,
    NOT_INIT_REG,
    PTR_TO_BTF_ID,
    PTR_TO_MAP_VALUE,
    PTR_TO_MEM,
    STACK_ITER,
    Ref,
    Reg,
    Slot,
    State,
)
from qdisclab.bpf.verifier.tnum import Tnum


def lookup(env: Env, insn: Insn, symbols: dict[int, str]) -> FuncProto:
    """The prototype of the helper or kfunc ``insn`` calls, or a rejection naming why not."""
    proto = env.proto
    if insn.src == 2:  # BPF_PSEUDO_KFUNC_CALL
        name = symbols.get(insn.slot, f"kfunc#{insn.imm}")
        fn = proto.kfuncs.get(name)
        if fn is None and name in UNSUPPORTED:
            raise _unsupported(name)
        if fn is None:
            raise Reject(
                "unknown-function",
                f"calling kernel function {name} is not allowed",
                f"{name} is not a kfunc of {proto.interface}",
            )
    else:
        fn = proto.helpers.get(insn.imm)
        helper = helper_name(insn.imm)
        if fn is None and helper in UNSUPPORTED:
            raise _unsupported(helper)
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


def _unsupported(name: str) -> Reject:
    return Reject(
        "unsupported",
        f"{name} is not supported by the verifier ({UNSUPPORTED[name]} are not modelled)",
        "--policy off loads the object unverified (under the run-time ownership checker)",
    )


def do_call(env: Env, st: State, insn: Insn, fn: FuncProto) -> CallArgs:
    """Check the arguments of a call to ``fn`` and apply its effects; returns what they were."""
    if st.lock is not None and fn.lock not in ("held", "release"):
        raise Reject(
            "spin-lock",
            "function calls are not allowed while holding a lock",
            f"{fn.name} is called between bpf_spin_lock and bpf_spin_unlock",
        )
    if fn.flags & KF_SLEEPABLE and not env.proto.sleepable:
        raise Reject(
            "sleepable",
            f"program must be sleepable to call sleepable kfunc {fn.name}",
            f"{env.proto.program_name} runs where it may not sleep",
        )
    call = CallArgs(fn.name)
    for i, arg in enumerate(fn.args):
        check_arg(env, st, fn, call, i, arg, i + 1)
    release = release_arg(fn)
    if release is not None and fn.args[release].kind == ArgKind.ITER:
        _destroy_iterator(st, call, insn.slot)
    elif release is not None:
        _release(st, fn, release, insn.slot)
    if call.iter_new is not None and call.iter_slot is not None:
        frameno, spi = call.iter_slot
        ref_id = _acquire(env, st, insn.slot, f"the iter_{call.iter_new} created by {fn.name}")
        iterator = Reg(ITERATOR, btf=call.iter_new, ref_obj_id=ref_id)
        st.frames[frameno].stack[spi] = Slot(STACK_ITER * 8, iterator)
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
    if fn.callback_ctx_arg is not None:  # what the callback receives, after the call's effects
        call.callback_ctx = regs[fn.callback_ctx_arg + 1]
    for r in range(1, 6):
        regs[r] = NOT_INIT_REG
    regs[0] = _result(env, st, fn, call, insn.slot)
    return call


def _destroy_iterator(st: State, call: CallArgs, slot: int) -> None:
    assert call.iter_slot is not None
    frameno, spi = call.iter_slot
    iterator = st.frames[frameno].stack.pop(spi).spilled
    assert iterator is not None
    st.refs = tuple(r for r in st.refs if r.id != iterator.ref_obj_id)
    st.released = (*st.released, (iterator.ref_obj_id, slot))


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


def _result(env: Env, st: State, fn: FuncProto, call: CallArgs, slot: int) -> Reg:
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
    if ret == RetKind.ITER_NEXT:
        element = MapProto(f"{fn.name} element", 0, fn.ret_size, read_only=True)
        return Reg(PTR_TO_MEM, map=element, maybe_null=True, id=env.new_id())
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
    root = call.root
    node = next(
        (
            s
            for s in local.specials
            if s.kind in ("list_node", "rb_node") and (root is None or root.node in (-1, s.offset))
        ),
        None,
    )
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
