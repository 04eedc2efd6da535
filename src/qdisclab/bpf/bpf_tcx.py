"""tc, tcx and netkit programs from a compiled object, as mprog programs.

:func:`tcx_program` loads one ``SEC("tc")``/``"tcx/ingress"``/``"tcx/egress"``/
``"netkit/primary"``/``"netkit/peer"`` program as a :class:`BpfTcProgram`:
a callable ``prog(ctx) -> TCX_*`` taking the very
:class:`~qdisclab.tcx.context.SkbContext` a Python tc program receives, so
``Tcx.load``, ``attach(before=, after=)``, links, queries and containment
treat both alike (:func:`load_tc_program` does the ``Tcx.load`` with the
expected attach type the section names, as libbpf does).

The program's ``struct __sk_buff *`` is a view of that context: ``len``,
``mark``, ``priority``, ``tc_index``, ``tc_classid``, ``tstamp``,
``queue_mapping``, ``hash``, ``ifindex``, ``ingress_ifindex``, ``protocol``
read (and the writable ones write) the context's own fields. ``data`` and
``data_end`` bound the packet's bytes (``skb.payload``: real packets carry
them; a simulated packet carries none, so ``data == data_end``), mapped only
when the program reads them and unmapped when it returns; a read past
``data_end`` is an out-of-bounds fault naming the instruction and source
line, which the hook reports with the packet (``strict`` stops the run,
``contain`` detaches the program). The helpers a tc program calls are the
context's: ``bpf_ktime_get_ns``, ``bpf_get_prandom_u32``, ``bpf_redirect``,
``bpf_skb_set_tstamp``, ``bpf_get_hash_recalc`` and ``bpf_skb_load_bytes``,
besides the map helpers.

>>> prog = tcx_program("examples/bpf/tc_count_mark.bpf.o", "tcx/egress")  # doctest: +SKIP
>>> hook.attach(tcx.load(prog, name="mark"), before=python_prog)          # doctest: +SKIP
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

from qdisclab.bpf import isa
from qdisclab.bpf.bound_object import BoundObject, Engine, check_engine
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.interp import signed
from qdisclab.bpf.kernel_types import KERNEL_TYPES
from qdisclab.bpf.kfunc_binding import _GENERIC, ProgramEnv, _bound
from qdisclab.bpf.memory import BytesRegion, Field, StructView
from qdisclab.bpf.objects import BpfObject, load_object
from qdisclab.bpf.resolver import BpfFunction, CallContext
from qdisclab.mprog import BPF_NETKIT_PEER, BPF_NETKIT_PRIMARY, BPF_TCX_EGRESS, BPF_TCX_INGRESS
from qdisclab.tcx.context import SkbContext, bpf_redirect, bpf_skb_set_tstamp

M64 = 0xFFFF_FFFF_FFFF_FFFF
IFACE = "tcx"
# Section -> the expected attach type libbpf gives its programs ("tc": any hook).
ATTACH_TYPES = {
    "tc": 0,
    "tcx/ingress": BPF_TCX_INGRESS,
    "tcx/egress": BPF_TCX_EGRESS,
    "netkit/primary": BPF_NETKIT_PRIMARY,
    "netkit/peer": BPF_NETKIT_PEER,
}
_SK_BUFF = KERNEL_TYPES["__sk_buff"]
_DATA = _SK_BUFF.field("data")
_DATA_END = _SK_BUFF.field("data_end")
_DATA_AT = _DATA.offset if _DATA else -1
_DATA_END_AT = _DATA_END.offset if _DATA_END else -1


class SkBuffView(StructView):
    """``struct __sk_buff`` over the running context, ``data``/``data_end`` into its packet."""

    __slots__ = ("memory", "packet")

    def __init__(self, fields: dict[int, Field], env: TcEnv) -> None:
        super().__init__("__sk_buff", None, _SK_BUFF.size, fields)
        self.memory = env.memory
        self.packet = 0  # the packet region's address while a run has it mapped

    def load(self, off: int, size: int, pc: int) -> int:
        if off in (_DATA_AT, _DATA_END_AT):
            if size != 4:
                raise BpfFault(f"read of {size} bytes of __sk_buff packet pointer", pc=pc)
            packet = self.packet or self._map_packet()
            if off == _DATA_AT:
                return packet
            return packet + len(self.obj.skb.payload or b"")
        return super().load(off, size, pc)

    def _map_packet(self) -> int:
        data = self.obj.skb.payload or b""
        self.packet = self.memory.map(BytesRegion("packet data", bytes(data), writable=False))
        return self.packet

    def done(self) -> None:
        """The run returned: its packet pointers are no longer valid."""
        if self.packet:
            self.memory.unmap(self.packet)
            self.packet = 0


# Helper -> (SkbContext method, does the kernel helper take the ctx as its first argument).
_CTX_HELPERS = {
    "bpf_ktime_get_ns": ("ktime_get_ns", False),
    "bpf_get_prandom_u32": ("random_u32", False),
    "bpf_get_hash_recalc": ("hash", True),
}


class TcEnv(ProgramEnv):
    """A tc program's environment: helpers act on the running :class:`SkbContext`."""

    def __init__(self, obj: BpfObject, interface: str) -> None:
        super().__init__(obj, interface)
        self.ctx_addr = 0

    def helpers(self) -> dict[int, BpfFunction]:
        """Every helper the object calls: the context's, or the generic (map) ones."""
        out: dict[int, BpfFunction] = {}
        for program in self.obj.programs.values():
            for rel in program.relocations:
                if rel.kind == "helper" and rel.addend not in out:
                    out[rel.addend] = self._bind(rel.symbol, f"{program.name} calls helper")
        return out

    def kfuncs(self) -> dict[str, BpfFunction]:
        """Every kfunc the object calls (the generic ones: objects, lists, iterators)."""
        return {
            e.name: self._bind(e.name, "the object calls kfunc")
            for e in self.obj.externs
            if e.kind == "kfunc"
        }

    def _bind(self, name: str, what: str) -> BpfFunction:
        impl = self._tc_helper(name)
        if impl is not None:
            return impl
        generic = _GENERIC.get(name)
        if generic is None:
            raise BpfLoadError(
                self.obj.path, f"{what} {name}, which qdisclab does not provide to tc programs"
            )
        return _bound(generic, self)

    def _ctx(self, addr: int) -> SkbContext:
        if addr != self.ctx_addr:
            raise BpfFault(f"{addr:#x} is not this program's struct __sk_buff")
        return self.context

    def _tc_helper(self, name: str) -> BpfFunction | None:
        env = self
        if name in _CTX_HELPERS:
            method, takes_ctx = _CTX_HELPERS[name]
            if not hasattr(SkbContext, method):
                return None
            is_property = isinstance(getattr(SkbContext, method), property)

            def ctx_helper(vm: CallContext, r1: int, *_: int) -> int:
                ctx = env._ctx(r1) if takes_ctx else env.context
                value = getattr(ctx, method)
                return (value if is_property else value()) & M64

            return ctx_helper
        if name == "bpf_redirect":
            return lambda vm, ifindex, flags, *_: bpf_redirect(ifindex & 0xFFFF_FFFF, flags) & M64
        if name == "bpf_skb_set_tstamp":
            return lambda vm, skb, tstamp, kind, *_: bpf_skb_set_tstamp(
                env._ctx(skb), tstamp, kind & 0xFFFF_FFFF
            )
        if name == "bpf_skb_load_bytes":

            def load_bytes(vm: CallContext, skb: int, offset: int, to: int, n: int, _: int) -> int:
                data = env._ctx(skb).skb.payload or b""
                offset &= 0xFFFF_FFFF
                n &= 0xFFFF_FFFF
                if offset + n > len(data):
                    vm.memory.write_bytes(to, bytes(n))  # the kernel clears the buffer
                    return -errno.EFAULT & M64
                vm.memory.write_bytes(to, data[offset : offset + n])
                return 0

            return load_bytes
        return None


class BpfTcProgram:
    """One compiled tc program as an mprog program function: ``prog(ctx) -> TCX_*``."""

    __slots__ = ("__name__", "bound", "ctx_addr", "env", "run", "section", "view")

    def __init__(self, bound: BoundObject, name: str) -> None:
        program = bound.obj.programs[name]
        self.__name__ = name
        self.section = program.section
        self.bound = bound
        self.env: TcEnv = bound.env  # type: ignore[assignment]
        self.run = bound.load([name])[name]
        self.view = SkBuffView(self.env.views.fields("__sk_buff"), self.env)
        self.ctx_addr = self.env.memory.map(self.view)

    @property
    def expected_attach_type(self) -> int:
        return ATTACH_TYPES.get(self.section, 0)

    def __call__(self, ctx: SkbContext) -> int:
        env, view = self.env, self.view
        env.context = view.obj = ctx
        env.ctx_addr = self.ctx_addr
        try:
            return signed(self.run(self.ctx_addr), 32)
        finally:
            if view.packet:
                view.done()

    def __repr__(self) -> str:
        return f"<BPF tc program {self.__name__} ({self.section})>"


def tcx_program(
    path: str | Path | BpfObject,
    name_or_section: str | None = None,
    engine: Engine = "translate",
    budget: int = isa.BPF_COMPLEXITY_LIMIT_INSNS,
    verify: bool = True,
) -> BpfTcProgram:
    """The object's program ``name_or_section`` (or its only tc program) as a tc program.

    The load-time verifier runs over it first (``verify=False``, or ``--policy off``
    in a scenario, skips it): a refused program raises
    :class:`~qdisclab.bpf.verifier.objects.ObjectRejected` and never loads.
    """
    check_engine(engine)
    obj = path if isinstance(path, BpfObject) else load_object(path)
    tc = {n: p for n, p in obj.programs.items() if p.section in ATTACH_TYPES}
    if name_or_section is None:
        if len(tc) != 1:
            choice = ", ".join(sorted(tc)) or "none"
            raise BpfLoadError(obj.path, f"name the tc program to load (programs: {choice})")
        name = next(iter(tc))
    else:
        name = obj.program(name_or_section).name
        if name not in tc:
            raise BpfLoadError(
                obj.path, f"program {name} is in section {obj.programs[name].section!r}, "
                f"not a tc program section ({', '.join(ATTACH_TYPES)})"
            )  # fmt: skip
    if verify:
        from qdisclab.bpf.verifier.objects import verify_program

        verify_program(obj, name)
    return BpfTcProgram(BoundObject(obj, IFACE, TcEnv, engine, budget), name)


def load_tc_program(tcx: Any, prog: BpfTcProgram, name: str | None = None) -> Any:
    """``Tcx.load`` of ``prog`` with the expected attach type its section names."""
    return tcx.load(
        prog, name=name or prog.__name__, expected_attach_type=prog.expected_attach_type
    )


__all__ = ["ATTACH_TYPES", "BpfTcProgram", "SkBuffView", "TcEnv", "load_tc_program", "tcx_program"]
