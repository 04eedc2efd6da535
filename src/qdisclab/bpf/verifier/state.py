"""The verifier's abstract machine state: registers, stack slots, references.

A :class:`Reg` is immutable (a register write replaces it), so a snapshot of
a frame's registers is a tuple of references and copying a state at a branch
is cheap. Register types and their printed names are the kernel's
(``reg_type_str``): ``scalar``, ``ctx``, ``fp``, ``map_ptr``, ``map_value``,
``pkt``, ``pkt_end``, ``ptr_`` (a BTF object), with ``_or_null`` /
``or_null_`` and ``trusted_`` decorations.

>>> r = Reg.pointer(PTR_TO_MAP_VALUE, maybe_null=True, id=1)
>>> r.type_str()
'map_value_or_null'
>>> Reg.pointer(PTR_TO_BTF_ID, btf="sk_buff", trusted=True).type_str()
'trusted_ptr_'
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from qdisclab.bpf.isa import MAX_BPF_STACK
from qdisclab.bpf.verifier.bounds import Scalar
from qdisclab.bpf.verifier.proto import MapProto

NOT_INIT = "?"
SCALAR = "scalar"
PTR_TO_CTX = "ctx"
PTR_TO_STACK = "fp"
CONST_PTR_TO_MAP = "map_ptr"
PTR_TO_MAP_VALUE = "map_value"
PTR_TO_PACKET = "pkt"
PTR_TO_PACKET_END = "pkt_end"
PTR_TO_BTF_ID = "ptr_"
PTR_TO_FUNC = "func"
PTR_TO_MEM = "mem"
ITERATOR = "iter"  # the value in an iterator's stack slot

_ZERO = Scalar.const(0)

# stack byte kinds, as the kernel prints them in "fp-8=mmmmmmmm"
STACK_INVALID, STACK_MISC, STACK_ZERO, STACK_SPILL, STACK_ITER = "?", "m", "0", "r", "i"
SLOT_COUNT = MAX_BPF_STACK // 8


class Reg:
    """One register's abstract value (immutable).

    For a pointer, ``off`` is the fixed offset and ``var`` the variable part
    (a scalar, constant 0 unless an unknown value was added). ``id`` links
    copies of a maybe-NULL pointer (one NULL check refines them all) and the
    packet pointers sharing a verified ``range``; ``ref_obj_id`` names the
    acquired reference a pointer carries. ``alloc`` marks an object from
    ``bpf_obj_new`` (``map`` then describes its local type), ``non_owning``
    one whose ownership went to a collection. ``released`` remembers, only
    for diagnostics, the reference a register lost when it was released.
    """

    __slots__ = (
        "alloc",
        "btf",
        "frameno",
        "id",
        "map",
        "maybe_null",
        "non_owning",
        "off",
        "range",
        "ref_obj_id",
        "released",
        "subprog",
        "trusted",
        "type",
        "var",
    )

    def __init__(
        self,
        type: str,
        var: Scalar = _ZERO,
        off: int = 0,
        *,
        maybe_null: bool = False,
        trusted: bool = False,
        alloc: bool = False,
        non_owning: bool = False,
        id: int = 0,
        ref_obj_id: int = 0,
        btf: str | None = None,
        map: MapProto | None = None,
        range: int = 0,
        frameno: int = 0,
        subprog: int = -1,
        released: int = 0,
    ) -> None:
        self.type, self.var, self.off = type, var, off
        self.maybe_null, self.trusted, self.alloc, self.non_owning = (
            maybe_null,
            trusted,
            alloc,
            non_owning,
        )
        self.id, self.ref_obj_id, self.btf, self.map = id, ref_obj_id, btf, map
        self.range, self.frameno, self.subprog, self.released = range, frameno, subprog, released

    @staticmethod
    def scalar(value: Scalar, released: int = 0) -> Reg:
        return Reg(SCALAR, value, released=released)

    @staticmethod
    def const(value: int) -> Reg:
        return Reg(SCALAR, Scalar.const(value))

    @staticmethod
    def unknown() -> Reg:
        return _UNKNOWN_REG

    @staticmethod
    def pointer(type: str, **kw: object) -> Reg:
        return Reg(type, **kw)  # type: ignore[arg-type]

    def replace(self, **kw: object) -> Reg:
        fields = {name: getattr(self, name) for name in Reg.__slots__}
        fields.update(kw)
        kind = fields.pop("type")
        var, off = fields.pop("var"), fields.pop("off")
        return Reg(kind, var, off, **fields)  # type: ignore[arg-type]

    @property
    def is_pointer(self) -> bool:
        return self.type not in (SCALAR, NOT_INIT)

    @property
    def is_null_const(self) -> bool:
        return self.type == SCALAR and self.var.is_const() and self.var.value == 0

    def key(self) -> tuple:
        return (
            self.type,
            self.var,
            self.off,
            self.maybe_null,
            self.trusted,
            self.alloc,
            self.non_owning,
            self.id,
            self.ref_obj_id,
            self.btf,
            self.map,
            self.range,
            self.frameno,
            self.subprog,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reg) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def type_str(self) -> str:
        """The kernel's ``reg_type_str`` for this register."""
        prefix = "trusted_" if self.trusted else ""
        if self.type == PTR_TO_MEM and self.map is not None and self.map.read_only:
            prefix = "rdonly_"
        if self.maybe_null:
            return prefix + (
                "ptr_or_null_" if self.type == PTR_TO_BTF_ID else self.type + "_or_null"
            )
        return prefix + self.type

    def __str__(self) -> str:
        if self.type == NOT_INIT:
            return "?"
        if self.type == SCALAR:
            return str(self.var)
        if self.type == PTR_TO_STACK and self.var.is_const():
            total = self.off + self.var.value
            return f"fp{total}" if self.frameno == 0 else f"fp[{self.frameno}]{total}"
        parts = []
        if self.id:
            parts.append(f"id={self.id}")
        if self.ref_obj_id:
            parts.append(f"ref_obj_id={self.ref_obj_id}")
        if self.map is not None:
            parts.append(f"map={self.map.name},vs={self.map.value_size}")
        if self.off:
            parts.append(f"off={self.off}")
        if self.type == PTR_TO_PACKET:
            parts.append(f"r={self.range}")
        if not self.var.is_const() or self.var.value:
            parts.append(f"var_off={self.var.var_off}")
        name = self.type_str() + (self.btf or "" if self.type == PTR_TO_BTF_ID else "")
        return f"{name}({','.join(parts)})"

    __repr__ = __str__


_UNKNOWN_REG = Reg(SCALAR, Scalar.unknown())
NOT_INIT_REG = Reg(NOT_INIT)


class Slot:
    """An 8-byte stack slot: the kind of each byte, and the register spilled there."""

    __slots__ = ("kinds", "spilled")

    def __init__(self, kinds: str, spilled: Reg | None = None) -> None:
        self.kinds, self.spilled = kinds, spilled

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Slot) and self.kinds == other.kinds and self.spilled == other.spilled
        )

    def __hash__(self) -> int:
        return hash((self.kinds, self.spilled))

    def __str__(self) -> str:
        return str(self.spilled) if self.spilled is not None else self.kinds


EMPTY_SLOT = Slot(STACK_INVALID * 8)


class Frame:
    """One call frame: R0–R10 and the 512-byte stack (slot ``i`` is ``fp-8*(i+1)``)."""

    __slots__ = ("callback", "callsite", "entry", "frameno", "regs", "stack")

    def __init__(self, frameno: int, entry: int, callsite: int = -1) -> None:
        self.frameno, self.entry, self.callsite = frameno, entry, callsite
        self.regs: list[Reg] = [NOT_INIT_REG] * 11
        self.regs[10] = Reg(PTR_TO_STACK, frameno=frameno)
        self.stack: dict[int, Slot] = {}
        self.callback: Callback | None = None

    def copy(self) -> Frame:
        f = Frame.__new__(Frame)
        f.frameno, f.entry, f.callsite, f.callback = (
            self.frameno,
            self.entry,
            self.callsite,
            self.callback,
        )
        f.regs = list(self.regs)
        f.stack = dict(self.stack)
        return f


@dataclass(frozen=True)
class Callback:
    """A frame that is a callback (``bpf_loop``): the helper, what the callback must return,
    the references held when it was entered, its arguments and the context pointer passed on."""

    helper: str
    ret_range: tuple[int, int]
    refs_at_entry: int
    args: tuple = ()
    ctx: Reg | None = None


@dataclass(frozen=True)
class Ref:
    """An acquired reference: its id, the instruction that acquired it, and a description."""

    id: int
    insn: int
    what: str = ""


class State:
    """The whole abstract state on one path: frames, references, lock, and bookkeeping."""

    __slots__ = (
        "checkpoint",
        "decisions",
        "frames",
        "history",
        "lock",
        "may_goto_depth",
        "refs",
        "released",
    )

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.refs: tuple[Ref, ...] = ()
        self.released: tuple[
            tuple[int, int], ...
        ] = ()  # (ref id, releasing insn), diagnostics only
        self.lock: tuple[str, int] | None = None  # (map name, offset) of the held bpf_spin_lock
        self.may_goto_depth = 0
        self.checkpoint: object | None = None
        self.history: tuple | None = None  # (slot, frameno, regs, previous)
        self.decisions: tuple | None = None  # (slot, text, previous)

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    def copy(self) -> State:
        s = State.__new__(State)
        s.frames = [f.copy() for f in self.frames]
        s.refs, s.released, s.lock = self.refs, self.released, self.lock
        s.may_goto_depth, s.checkpoint = self.may_goto_depth, self.checkpoint
        s.history, s.decisions = self.history, self.decisions
        return s

    def all_regs(self) -> Iterator[tuple[Frame, int, Reg]]:
        """Every (frame, register number or stack slot, value) holding a register, to rewrite them."""
        for frame in self.frames:
            for i, reg in enumerate(frame.regs):
                yield frame, i, reg
            for spi, slot in frame.stack.items():
                if slot.spilled is not None:
                    yield frame, ~spi, slot.spilled

    def set_everywhere(self, frame: Frame, where: int, reg: Reg) -> None:
        """Write back a register found by :meth:`all_regs` (``where < 0``: a spilled slot)."""
        if where >= 0:
            frame.regs[where] = reg
        else:
            frame.stack[~where] = Slot(frame.stack[~where].kinds, reg)

    def ref(self, ref_id: int) -> Ref | None:
        return next((r for r in self.refs if r.id == ref_id), None)

    def released_at(self, ref_id: int) -> int | None:
        return next((insn for rid, insn in self.released if rid == ref_id), None)
