"""A ``Qdisc_ops`` struct_ops map attached as a qdisc kind.

:func:`qdisc_kind` turns an object's ``SEC(".struct_ops") struct Qdisc_ops``
into a :class:`~qdisclab.sched.ops.QdiscOps` subclass named by its ``.id``:
each callback runs the member's program (translated by default, or on the
reference interpreter) with the kernel's struct_ops context (an array of the
callback's arguments as u64s, which ``BPF_PROG`` unpacks), so the qdisc runs
through the same trampolines, ownership checks and containment as a Python
qdisc. Each qdisc instance gets its own memory, global data and maps, as a
struct_ops map attached twice would in the kernel.

Unless the ownership policy is ``off``, the object passes the load-time
verifier (:mod:`qdisclab.bpf.verifier`) before any instance is made: a
refused object raises :class:`~qdisclab.bpf.verifier.objects.ObjectRejected`,
a user error naming the program, the rule and the source line;
``qdisc_kind(obj, verify=False)`` makes a kind that skips it.

A program's fault (out-of-bounds, NULL, instruction budget, or a rule broken
inside a kfunc) becomes the extension fault a faulting Python policy raises,
naming the program, the instruction offset and its source line.

>>> kind = qdisc_kind(load_object("examples/bpf/fifo.bpf.o"))  # doctest: +SKIP
>>> kind.id, kind.engine                                        # doctest: +SKIP
('bpf_fifo', 'translate')
>>> q = create_qdisc(kind, dev, opt={"limit": 100})             # doctest: +SKIP
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, cast

from qdisclab.bpf import isa
from qdisclab.bpf.bound_object import (
    ENGINES,
    Engine,
    attached_before,
    check_engine,
    find_ops_map,
    where,
)
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.interp import signed
from qdisclab.bpf.kfunc_binding import ProgramEnv, extension_fault
from qdisclab.bpf.memory import REGION_SHIFT, BytesRegion
from qdisclab.bpf.objects import BpfObject, load_object
from qdisclab.bpf.program import BpfProgram
from qdisclab.bpf.proven import Proven
from qdisclab.bpf.runner import Global, ObjectResolver, load
from qdisclab.bpf.struct_ops_maps import StructOpsMap
from qdisclab.bpf.wrap import CallbackWrap
from qdisclab.ops import KFUNCS, RUNNING
from qdisclab.ops.ownership import POLICY_OFF, violation
from qdisclab.sched.context import COUNTER_PATHS, QdiscContext
from qdisclab.sched.ops import IFACE, QdiscOps
from qdisclab.sched.options import Opt
from qdisclab.sched.registry import QDISC_OPS, register_qdisc
from qdisclab.sched.trampoline import _bad_dequeue_return, _bad_enqueue
from qdisclab.skb import FREED, SkBuff

_CALLBACKS = ("enqueue", "dequeue", "init", "reset", "destroy")
_ARGS = struct.Struct("<QQQ")
_MAX_ARGS = 6  # struct_ops callbacks take at most six arguments
# The callbacks run per packet, by their argument count: translated to take the arguments.
_PER_PACKET = {"enqueue": 3, "dequeue": 1}


def qdisc_ops_map(obj: BpfObject, name: str | None = None) -> StructOpsMap:
    """The object's ``Qdisc_ops`` map (``name`` picks one when there are several)."""
    ops = find_ops_map(obj, IFACE, name)
    unsupported = sorted(set(ops.programs) - set(_CALLBACKS))
    if unsupported:
        raise BpfLoadError(
            obj.path, f"struct_ops {ops.name}: .{unsupported[0]} is not supported for a BPF "
            "qdisc (ENOTSUPP; the generic qdisc_peek_dequeued serves peek)"
        )  # fmt: skip
    _check_allow_lists(obj, ops)
    missing = [cb for cb in _CALLBACKS if cb not in ops.programs and cb != "destroy"]
    if missing or not ops.kind_name:
        problem = f".{missing[0]} is not set" if missing else ".id is not set"
        raise BpfLoadError(obj.path, f"struct_ops {ops.name}: {problem} (a BPF qdisc needs it)")
    return ops


def _check_allow_lists(obj: BpfObject, ops: StructOpsMap) -> None:
    """Refuse a kfunc called from a callback whose allow-list lacks it, as the kernel's verifier."""
    for member, name in ops.programs.items():
        program = obj.programs[name]
        allowed = KFUNCS.allowed_for(IFACE, member)
        for rel in program.relocations:
            kf = KFUNCS.get(rel.symbol, IFACE) if rel.kind in ("kfunc", "helper") else None
            if kf is None or rel.symbol in allowed:
                continue
            raise BpfLoadError(
                obj.path, f"{name} ({member}): {where(program, rel.slot)}: calling kfunc "
                f"{rel.symbol} ({kf.python}) is not allowed in {member}, only in {kf.allowed_text()}"
            )  # fmt: skip


def _exits(program: BpfProgram) -> str:
    """Where the program's own function returns (the verifier reports leaks at its exit)."""
    end = program.subprograms[1].slot if len(program.subprograms) > 1 else program.n_slots
    slots = [slot for slot in range(end) if program.insns[slot * isa.INSN_SIZE] == isa.EXIT]
    return f"{program.name}: returned at " + ", ".join(where(program, s) for s in slots)


def qdisc_kind(
    obj: BpfObject,
    name: str | None = None,
    engine: Engine = "translate",
    budget: int = isa.BPF_COMPLEXITY_LIMIT_INSNS,
    verify: bool = True,
) -> type[BpfQdisc]:
    """A ``QdiscOps`` subclass running ``obj``'s ``Qdisc_ops`` programs on ``engine``.

    ``budget`` caps the instructions of one callback run (a fault past it).
    """
    check_engine(engine)
    ops = qdisc_ops_map(obj, name)
    return cast(
        type[BpfQdisc],
        type(
            f"BpfQdisc_{ops.kind_name}",
            (BpfQdisc,),
            {
                "id": ops.kind_name,
                "obj": obj,
                "ops_map": ops,
                "engine": engine,
                "budget": budget,
                "verified_at_load": verify,
                **({} if verify else {"refusal": None}),
                "__doc__": f"BPF qdisc {ops.kind_name} from {obj.path} ({engine}).",
            },
        ),
    )


def attach_qdisc(path: str | Path, name: str | None = None, engine: Engine = "translate") -> type:
    """Load the object at ``path`` and register its qdisc kind; returns the kind class.

    Attaching the same object again reuses its kind; another object using the
    same ``.id`` is refused with EEXIST, as ``register_qdisc`` refuses it.
    """
    obj = load_object(path)
    ops = qdisc_ops_map(obj, name)
    existing = QDISC_OPS.lookup(ops.kind_name)
    if attached_before(existing, BpfQdisc, obj, engine):
        return existing  # type: ignore[return-value]
    return register_qdisc(qdisc_kind(obj, name, engine))


class BpfQdisc(QdiscOps):
    """Base of the kinds :func:`qdisc_kind` makes: callbacks that run programs."""

    obj: BpfObject
    ops_map: StructOpsMap
    engine: Engine = "translate"
    budget: int = isa.BPF_COMPLEXITY_LIMIT_INSNS
    options = {"limit": Opt("count", None, "sch->limit before init (default: 0, the program's)")}

    def __init__(self) -> None:
        from qdisclab.bpf.verifier.objects import verify_once

        # The run's policy, from the device of the Qdisc creating this instance (init's
        # frame); the instance itself runs strict under off (Qdisc.__init__).
        frame = RUNNING.frame
        dev = getattr(frame.instance, "dev", None) if frame else None
        verify_once(type(self), getattr(dev, "ownership_policy", None))
        obj = self.obj
        env = self.env = ProgramEnv(obj, IFACE)
        env.views.read_through("Qdisc", COUNTER_PATHS)  # its Qdiscs are QdiscContexts
        instance = frame.instance if frame else None
        if instance is not None:  # its nodes' skbs are found there, as SkbNode's would be
            env.own_kptr_fields(instance.storage, instance.policy != POLICY_OFF)
        resolver = ObjectResolver(
            env.memory,
            helpers=env.helpers(),
            kfuncs=env.kfuncs(),
            globals={n: Global(bytearray(g.data), g.read_only) for n, g in obj.globals.items()},
            maps=obj.create_maps(),
        )
        env.map_at = resolver.map_at
        self.args = bytearray(8 * _MAX_ARGS)
        self.args_addr = env.memory.map(BytesRegion("struct_ops ctx", self.args))
        self.runs: dict[str, Any] = {}
        self.exits = {m: _exits(obj.programs[p]) for m, p in self.ops_map.programs.items()}
        # What enqueue and dequeue map and unmap an skb's view with, in place: an entry
        # each way, the view bound on access (Memory.bind_on_access).
        self.skb_ids, self.skbs = env.views.tables("sk_buff")[:2]
        self.memory = env.memory
        self.sch_addr = 0
        self.checked = False
        # The modules whose callbacks name the qdisc's address and Qdisc (set by init).
        self.namespaces: list[dict[str, object]] = []
        # Where the programs of the callbacks the trampoline checks alone returned, which
        # its report of a leak or a stray return names (trampoline._returned_at).
        self.returned_at: dict[str, str] = {}
        proven = getattr(type(self), "proven", {})  # what the verifier proved, if it ran
        given: dict[str, Callable[..., int]] = {}  # member -> run taking its arguments
        for member, prog in self.ops_map.programs.items():
            facts = Proven(proven[prog], ctx_bytes=True) if prog in proven else None
            wrap = _WRAPS[member](self) if member in _WRAPS else None
            engine = load(obj.programs[prog], resolver, env.memory, self.engine, self.budget,
                          proven=facts, views=env.views, ctx_args=_PER_PACKET.get(member, 0),
                          wrap=wrap)  # fmt: skip
            self.runs[member] = engine.run
            run_ctx = getattr(engine, "run_ctx", None)
            given[member] = run_ctx or partial(self._run_packed, engine.run)
            callback = getattr(engine, "callback", None)
            if callback is not None:  # the member itself: the trampoline calls it directly
                setattr(self, member, callback)
                self.returned_at[member] = self.exits[member]  # its checks: the trampoline's
                self.namespaces.append(engine.namespace)  # type: ignore[union-attr]
        # run(ctx, *arguments): the arguments themselves where the translation takes them
        self.run_enqueue, self.run_dequeue = given["enqueue"], given["dequeue"]

    def _run_packed(self, run: Callable[[int], int], ctx: int, *args: int) -> int:
        """``run(ctx)`` with ``args`` packed into the context's bytes (the interpreter's way)."""
        _ARGS.pack_into(self.args, 0, *args, *(0,) * (3 - len(args)))
        return run(ctx)

    def _run(self, member: str, sch: Any, skb: SkBuff | None, *args: int) -> int:
        env = self.env
        env.context = sch
        _ARGS.pack_into(self.args, 0, *args, *(0,) * (3 - len(args)))
        try:
            return self.runs[member](self.args_addr)
        except BpfFault as fault:
            raise extension_fault(fault, self.id, member, skb) from None

    def enqueue(self, skb: SkBuff, sch: Any, to_free: Any) -> int:
        env = self.env
        env.context, env.to_free = sch, to_free
        # Views.address's work in place (an skb is rarely mapped already: a child's, say)
        memory = self.memory
        rid = memory.next_id
        addr = rid << REGION_SHIFT
        if self.skb_ids.setdefault(skb, addr) is addr:
            memory.next_id = rid + 2
            self.skbs[addr] = skb
        else:
            addr = self.skb_ids[skb]
        try:  # _run's work without its call: this and dequeue run once per packet
            ret = self.run_enqueue(self.args_addr, addr, self.sch_addr, env.to_free_addr)
        except BpfFault as fault:
            raise extension_fault(fault, self.id, "enqueue", skb) from None
        owner = skb.owner
        if owner is FREED:
            env.views.release("sk_buff", skb)
        elif owner is RUNNING.frame and owner is not None:
            # The trampoline would find the leak too; here it can say where the program returned.
            problem = _bad_enqueue(ret, True, skb.len, skb)
            raise violation(owner, skb, f"{self.exits['enqueue']}: {problem}")
        # signed(ret, 32) inline; a verdict (0..2) is itself, found by one comparison
        return ret if ret < 0x8000_0000 else ((ret & 0xFFFF_FFFF) ^ 0x8000_0000) - 0x8000_0000

    def dequeue(self, sch: Any) -> SkBuff | None:
        env = self.env
        env.context = sch
        try:
            addr = self.run_dequeue(self.args_addr, self.sch_addr)
        except BpfFault as fault:
            raise extension_fault(fault, self.id, "dequeue", None) from None
        if not addr:
            return None
        skb = self.skbs.pop(addr, None)  # skb_at's common case, and Views.release's work
        if skb.__class__ is SkBuff:
            del self.skb_ids[skb]
        else:
            skb = self._unmapped(addr, skb)
        frame = RUNNING.frame
        if skb.owner is not frame and self.checked and frame is not None:  # owned: one test
            problem = _bad_dequeue_return(skb)
            raise violation(frame, skb, f"{self.exits['dequeue']}: {problem}")
        return skb

    def _unmapped(self, addr: int, found: Any) -> SkBuff:
        """The skb at ``addr`` that dequeue's program returned, unmapped, when not a plain one."""
        env = self.env
        if found is not None:  # not an SkBuff: mapped as one by hand; skb_at says so
            self.skbs[addr] = found
        try:
            skb = env.skb_at(addr)
        except BpfFault as fault:  # led by where the program returned it, as a stray return is
            where = BpfFault(f"{self.exits['dequeue']}: {fault.message}")
            raise extension_fault(where, self.id, "dequeue") from None
        env.views.release("sk_buff", skb)
        return skb

    def _enqueue_fault(self, fault: BpfFault, skb: SkBuff) -> Exception:
        return extension_fault(fault, self.id, "enqueue", skb)

    def _dequeue_fault(self, fault: BpfFault) -> Exception:
        return extension_fault(fault, self.id, "dequeue", None)

    def init(self, sch: Any, opt: dict[str, Any]) -> int:
        self.sch_addr = self.env.views.address("Qdisc", sch)
        self.checked = sch.__class__ is QdiscContext  # not the unchecked twin (policy off)
        for namespace in self.namespaces:  # what the translated callbacks name (_WRAPS)
            namespace["q_sch"] = self.sch_addr
            namespace["q_sch_obj"] = sch  # the object its view at q_sch is, while mapped
        limit = opt.get("limit")
        if limit is not None:
            sch.limit = limit
        ret = signed(self._run("init", sch, None, self.sch_addr, 0, 0), 32)
        opt["limit"] = sch.limit
        return ret

    def reset(self, sch: Any) -> None:
        self._run("reset", sch, None, self.sch_addr)

    def destroy(self, sch: Any) -> None:
        if "destroy" in self.runs:
            self._run("destroy", sch, None, self.sch_addr)


def _signed_return(value: str) -> str:
    """``signed(value, 32)`` as an expression (a literal folded): a verdict (0..2) is itself."""
    if value.startswith("0x"):
        return str(signed(int(value, 16), 32))
    return (
        f"{value} if {value} < 0x80000000 else (({value} & 0xffffffff) ^ 0x80000000) - 0x80000000"
    )


def _enqueue_wrap(q: BpfQdisc) -> CallbackWrap:
    """``BpfQdisc.enqueue``'s own work, written around the translated program."""
    env = q.env

    # A leak is the trampoline's to find (it names the program's exits: returned_at).
    def ret(value: str) -> list[str]:
        return [
            "if skb.owner is q_FREED:",
            "    q_release('sk_buff', skb)",
            f"return {_signed_return(value)}",
        ]

    # env.context is the qdisc's sch for good (init's); to_free is this call's token.
    prologue = [
        "q_env.to_free = to_free",
        # Views.address's work in place (an skb is rarely mapped already: a child's, say)
        "q_rid = q_memory.next_id",
        f"q_addr = q_rid << {REGION_SHIFT}",
        "if q_skb_ids.setdefault(skb, q_addr) is q_addr:",
        "    q_memory.next_id = q_rid + 2",
        "    q_skbs[q_addr] = skb",
        "else:",
        "    q_addr = q_skb_ids[skb]",
    ]
    bound = {
        "q_env": env, "q_memory": q.memory, "q_skb_ids": q.skb_ids, "q_skbs": q.skbs,
        "q_FREED": FREED, "q_release": env.views.release,
        "q_enqueue_fault": q._enqueue_fault, "q_sch": 0, "q_sch_obj": None,
    }  # fmt: skip
    args = ["q_addr", "q_sch", f"{env.to_free_addr:#x}"]
    # The skb is the object at q_addr until a call may free it; the Qdisc is init's for good.
    objects = {0: ("sk_buff", "skb", False), 1: ("Qdisc", "q_sch_obj", True)}
    fault = "q_enqueue_fault({fault}, skb)"
    return CallbackWrap("skb, sch, to_free", prologue, args, ret, fault, bound, objects)


def _dequeue_wrap(q: BpfQdisc) -> CallbackWrap:
    """``BpfQdisc.dequeue``'s own work, written around the translated program."""

    def ret(value: str) -> list[str]:
        if value == "0x0":
            return ["return None"]
        return [
            *([] if value.startswith("0x") else [f"if not {value}:", "    return None"]),
            f"q_skb = q_skbs.pop({value}, None)",  # skb_at's common case, and Views.release's
            "if q_skb.__class__ is q_SkBuff:",
            "    del q_skb_ids[q_skb]",
            "else:",
            f"    q_skb = q_unmapped({value}, q_skb)",
            "return q_skb",  # not owned: the trampoline's to find (it names returned_at)
        ]

    bound = {
        "q_skb_ids": q.skb_ids, "q_skbs": q.skbs, "q_SkBuff": SkBuff,
        "q_unmapped": q._unmapped, "q_dequeue_fault": q._dequeue_fault,
        "q_sch": 0, "q_sch_obj": None,
    }  # fmt: skip
    objects = {0: ("Qdisc", "q_sch_obj", True)}
    fault = "q_dequeue_fault({fault})"
    return CallbackWrap("sch", [], ["q_sch"], ret, fault, bound, objects)


_WRAPS: dict[str, Callable[[BpfQdisc], CallbackWrap]] = {
    "enqueue": _enqueue_wrap,
    "dequeue": _dequeue_wrap,
}

__all__ = ["ENGINES", "BpfQdisc", "attach_qdisc", "qdisc_kind", "qdisc_ops_map"]
