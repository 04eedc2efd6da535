"""A ``tcp_congestion_ops`` struct_ops map attached as a congestion control.

:func:`cc_kind` turns an object's ``SEC(".struct_ops") struct
tcp_congestion_ops`` into a :class:`~qdisclab.tcp.congestion.CongestionOps`
subclass named by its ``.name`` (flags from ``.flags``): each member the map
sets runs its program with the struct_ops context (the callback's arguments
as u64s, which ``BPF_PROG`` unpacks). The socket is one kernel-struct view
(``struct tcp_sock``, whose first members embed ``inet_connection_sock``,
``inet_sock``, ``sock`` and ``sock_common``, so a ``struct sock *`` cast to
``struct tcp_sock *`` reads the same object), its ``icsk_ca_priv`` the
socket's own 104 private bytes, as the kernel gives each socket. The
``tcp_ca`` kfuncs (``tcp_slow_start``, ``tcp_cong_avoid_ai``, the Reno ones)
are bound by kernel name to the very functions a Python congestion control
calls, on the same ``TcpSock``.

The programs are loaded once per kind and shared by every socket using it,
as one struct_ops map serves every socket in the kernel (global data and maps
included). A kind is not trusted: sockets run it through the same guard as a
Python congestion control (``qdisclab.tcp.cc_guard``), so a fault, a
non-positive ``ssthresh``/``undo_cwnd`` or a zero cwnd stops the run under
``strict`` with the program, instruction and source line, and under
``contain`` the socket carries on with reno.

>>> kind = attach_cc("examples/bpf/dctcp.bpf.o")      # doctest: +SKIP
>>> kind.name, kind.flags                             # doctest: +SKIP
('bpf_dctcp', 2)
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, cast

from qdisclab.bpf import isa
from qdisclab.bpf.bound_object import (
    BoundObject,
    Engine,
    attached_before,
    check_engine,
    find_ops_map,
)
from qdisclab.bpf.btf import BTF_KIND_ENUM, BTF_KIND_INT, BTF_KIND_PTR
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.kernel_types import KERNEL_TYPES
from qdisclab.bpf.kfunc_binding import KfuncFault, ProgramEnv, extension_fault
from qdisclab.bpf.memory import BytesRegion, Field, StructView
from qdisclab.bpf.objects import BpfObject, load_object
from qdisclab.bpf.resolver import BpfFunction, CallContext
from qdisclab.bpf.struct_ops_maps import StructOpsMap
from qdisclab.errors import ExtensionFault
from qdisclab.ops.kfunc import Kfunc
from qdisclab.tcp.congestion import (
    TCP_CONGESTION_OPS,
    CongestionOps,
    lookup_cc,
    register_cc,
)

IFACE = "tcp_congestion_ops"
M64 = 0xFFFF_FFFF_FFFF_FFFF
_SOCK_STRUCTS = frozenset({"sock", "sock_common", "inet_sock", "inet_connection_sock", "tcp_sock"})
_RETURNS_U32 = frozenset({"ssthresh", "undo_cwnd", "min_tso_segs", "sndbuf_expand"})
# Members whose arguments qdisclab cannot hand a program (struct rate_sample is not modelled).
_UNSUPPORTED = frozenset({"cong_control"})
_ARGS = struct.Struct("<QQQQ")
_PRIV = KERNEL_TYPES["inet_connection_sock"].field("icsk_ca_priv")
_PRIV_AT = KERNEL_TYPES["tcp_sock"].field("inet_conn").offset + (_PRIV.offset if _PRIV else 0)
_PRIV_SIZE = _PRIV.size if _PRIV else 0
_SOCK, _SCALAR = range(2)


class SockView(StructView):
    """``struct tcp_sock`` over a ``TcpSock``, with ``icsk_ca_priv`` as plain bytes."""

    __slots__ = ("priv",)

    def __init__(self, sk: Any, fields: dict[int, Field], priv: bytearray) -> None:
        super().__init__("tcp_sock", sk, KERNEL_TYPES["tcp_sock"].size, fields)
        self.priv = priv

    def load(self, off: int, size: int, pc: int) -> int:
        rel = off - _PRIV_AT
        if 0 <= rel < _PRIV_SIZE:
            if rel + size > _PRIV_SIZE:
                raise self._out_of_bounds("read", off, size, pc)
            return int.from_bytes(self.priv[rel : rel + size], "little")
        return super().load(off, size, pc)

    def store(self, off: int, size: int, value: int, pc: int) -> None:
        rel = off - _PRIV_AT
        if 0 <= rel < _PRIV_SIZE:
            if rel + size > _PRIV_SIZE:
                raise self._out_of_bounds("write", off, size, pc)
            self.priv[rel : rel + size] = (value & ((1 << 8 * size) - 1)).to_bytes(size, "little")
            return
        super().store(off, size, value, pc)


class CcEnv(ProgramEnv):
    """A congestion control's environment: kfunc pointers to sockets are the running socket."""

    def __init__(self, obj: BpfObject, interface: str) -> None:
        super().__init__(obj, interface)
        self.sk_addr = 0  # the view of the socket the running callback was called for

    def sock_at(self, addr: int) -> Any:
        if addr != self.sk_addr or self.context is None:
            raise BpfFault(f"{addr:#x} is not the socket this callback runs for")
        return self.context

    def declared(self, kf: Kfunc, type_id: int) -> BpfFunction:
        """``kf``'s function called on the socket, scalars cut to their BTF width."""
        func = kf.func
        if func is None:
            raise BpfLoadError(self.obj.path, f"kfunc {kf.name} has no implementation to bind")
        params = self._cc_params(type_id)
        env = self

        def call(vm: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
            if not params:  # a helper taking no arguments acts on the running socket
                args: list[Any] = [env.context]
            else:
                args = []
                for (kind, mask, sign), value in zip(params, (r1, r2, r3, r4, r5), strict=False):
                    if kind == _SOCK:
                        args.append(env.sock_at(value))
                    else:
                        value &= mask
                        args.append(value - (sign << 1) if value & sign else value)
            try:
                result = func(*args)
            except ExtensionFault as exc:
                raise KfuncFault(exc) from exc
            return 0 if result is None else int(result) & M64

        call.__name__ = kf.name
        return call

    def _cc_params(self, type_id: int) -> list[tuple[int, int, int]]:
        """(kind, mask, sign bit) per parameter of the kfunc's BTF prototype."""
        btf = self.btf
        if not type_id or btf is None:
            return []
        out = []
        for param in btf[btf[type_id].ref].params:
            t = btf.skip_modifiers(param.type_id)
            if t.kind == BTF_KIND_PTR:
                target = btf.skip_modifiers(t.ref).name
                if target not in _SOCK_STRUCTS:
                    raise BpfLoadError(
                        self.obj.path, f"kfunc {btf[type_id].name}: a struct {target} * "
                        "argument qdisclab cannot pass"
                    )  # fmt: skip
                out.append((_SOCK, M64, 0))
                continue
            size = t.size if t.kind in (BTF_KIND_INT, BTF_KIND_ENUM) else 8
            signed = t.kind == BTF_KIND_INT and bool(t.int_encoding & 1)
            out.append((_SCALAR, (1 << 8 * size) - 1, (1 << (8 * size - 1)) if signed else 0))
        return out


def cc_ops_map(obj: BpfObject, name: str | None = None) -> StructOpsMap:
    """The object's ``tcp_congestion_ops`` map (``name`` picks one when there are several)."""
    ops = find_ops_map(obj, IFACE, name)
    bad = sorted(set(ops.programs) & _UNSUPPORTED)
    if bad:
        raise BpfLoadError(
            obj.path, f"struct_ops {ops.name}: .{bad[0]} is not supported by qdisclab "
            "(its struct rate_sample argument is not modelled)"
        )  # fmt: skip
    if not ops.kind_name:
        raise BpfLoadError(obj.path, f"struct_ops {ops.name}: .name is not set")
    return ops


class BpfCongestion(CongestionOps):
    """Base of the kinds :func:`cc_kind` makes: one instance per socket, its ca_priv bytes."""

    obj: BpfObject
    ops_map: StructOpsMap
    engine: Engine = "translate"
    budget: int = isa.BPF_COMPLEXITY_LIMIT_INSNS
    bound: BoundObject | None = None  # the programs, loaded at the first socket

    def __init__(self) -> None:
        self.priv = bytearray(_PRIV_SIZE)
        self.sk_addr = 0
        self.sk: Any = None

    @classmethod
    def verify(cls, policy: str | None = None) -> None:
        """The load-time verifier over the object, once per kind (skipped under ``off``).

        Raises :class:`~qdisclab.bpf.verifier.objects.ObjectRejected` naming the
        program, the rule and the source line.
        """
        from qdisclab.bpf.verifier.objects import verify_once

        verify_once(cls, policy)

    @classmethod
    def _bind(cls) -> BoundObject:
        bound = cls.bound = BoundObject(cls.obj, IFACE, CcEnv, cls.engine, cls.budget)
        runs = bound.load(cls.ops_map.programs.values())
        memory = bound.env.memory
        cls.args = bytearray(_ARGS.size)
        cls.args_addr = memory.map(BytesRegion("struct_ops ctx", cls.args))
        cls.runs = {m: runs[p] for m, p in cls.ops_map.programs.items()}
        return bound

    def _run(self, member: str, sk: Any, a1: int = 0, a2: int = 0, a3: int = 0) -> int:
        bound = self.bound or self._bind()
        env = bound.env
        if sk is not self.sk:
            if self.sk_addr:
                env.memory.unmap(self.sk_addr)
            view = SockView(sk, env.views.fields("tcp_sock"), self.priv)
            self.sk, self.sk_addr = sk, env.memory.map(view)
        env.context, env.sk_addr = sk, self.sk_addr
        _ARGS.pack_into(self.args, 0, self.sk_addr, a1 & M64, a2 & M64, a3 & M64)
        try:
            return self.runs[member](self.args_addr)
        except BpfFault as fault:
            kind = f"tcp_congestion_ops {self.name}"
            raise extension_fault(fault, kind, member, where=f"socket {sk.name}") from fault

    def release(self, sk: Any) -> None:
        if "release" in self.ops_map.programs:
            self._run("release", sk)
        bound = self.bound
        if self.sk_addr and bound is not None:
            bound.env.memory.unmap(self.sk_addr)  # a later use of the pointer faults
            self.sk, self.sk_addr = None, 0


def _member(member: str) -> Any:
    """The method running ``member``'s program; its arguments as the kernel passes them."""
    if member in _RETURNS_U32:

        def returns(self: BpfCongestion, sk: Any) -> int:
            return self._run(member, sk) & 0xFFFF_FFFF

        return returns
    if member == "pkts_acked":

        def acked(self: BpfCongestion, sk: Any, sample: Any) -> None:
            bound = self.bound or self._bind()
            self._run(member, sk, bound.env.views.address("ack_sample", sample))

        return acked
    if member == "release":
        return BpfCongestion.release

    def callback(self: BpfCongestion, sk: Any, *args: int) -> None:
        self._run(member, sk, *args)

    return callback


def cc_kind(
    obj: BpfObject,
    name: str | None = None,
    engine: Engine = "translate",
    budget: int = isa.BPF_COMPLEXITY_LIMIT_INSNS,
) -> type[BpfCongestion]:
    """A ``CongestionOps`` subclass running ``obj``'s ``tcp_congestion_ops`` programs."""
    check_engine(engine)
    ops = cc_ops_map(obj, name)
    members = {m: _member(m) for m in ops.programs if m in TCP_CONGESTION_OPS.members}
    return cast(
        type[BpfCongestion],
        type(
            f"BpfCongestion_{ops.kind_name}",
            (BpfCongestion,),
            {
                "name": ops.kind_name,
                "flags": int(ops.data.get("flags", 0)),
                "obj": obj,
                "ops_map": ops,
                "engine": engine,
                "budget": budget,
                "bound": None,
                "__module__": __name__,
                "__doc__": f"BPF congestion control {ops.kind_name} from {obj.path} ({engine}).",
                **members,
            },
        ),
    )


def attach_cc(path: str | Path, name: str | None = None, engine: Engine = "translate") -> type:
    """Load the object at ``path`` and register its congestion control; returns the class.

    Attaching the same object again reuses its kind; a name another
    congestion control holds is refused with EEXIST, as ``register_cc`` does.
    """
    obj = load_object(path)
    ops = cc_ops_map(obj, name)
    existing = lookup_cc(ops.kind_name)
    if attached_before(existing, BpfCongestion, obj, engine):
        return existing  # type: ignore[return-value]
    return register_cc(cc_kind(obj, name, engine))


__all__ = ["BpfCongestion", "CcEnv", "SockView", "attach_cc", "cc_kind", "cc_ops_map"]
