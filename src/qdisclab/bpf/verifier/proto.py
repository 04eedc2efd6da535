"""What the verifier needs to know about the world a program runs in.

A :class:`ProgramProto` is the verifier's whole input besides the bytecode:
the attach point (which ops member it implements, what its context holds,
which return values are allowed), the kernel structs it may read or write,
the maps and global data it references, and the prototypes of the helpers
and kfuncs it may call with their flags and allow-lists. It is plain typed
data so an adapter can fill it from qdisclab's declared kfunc table and
kernel-type model; nothing here knows about qdiscs.

>>> skb = StructProto("sk_buff", 232, (FieldProto("len", 112, 4),))
>>> drop = KfuncProto("bpf_kfree_skb", (Arg(ArgKind.BTF_PTR, "sk_buff"),), flags=KF_RELEASE)
>>> p = ProgramProto("Qdisc_ops", "reset", kfuncs={drop.name: drop}, structs={"sk_buff": skb})
>>> p.kfunc_allowed("bpf_kfree_skb"), p.structs["sk_buff"].field_at(112, 4).name
(True, 'len')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from qdisclab.bpf.isa import BPF_COMPLEXITY_LIMIT_INSNS

# The kfunc flags (include/linux/btf.h) and "every member" are the declared table's own.
from qdisclab.ops.kfunc import (  # noqa: F401 (re-exported to the verifier's modules)
    ALL_MEMBERS,
    KF_ACQUIRE,
    KF_RELEASE,
    KF_RET_NULL,
    KF_SLEEPABLE,
    KF_TRUSTED_ARGS,
)


@dataclass(frozen=True)
class FieldProto:
    """A field of a kernel struct: ``pointee`` names the struct a pointer field points to."""

    name: str
    offset: int
    size: int
    writable: bool = False
    pointee: str | None = None


@dataclass(frozen=True)
class StructProto:
    """A kernel struct a program may read through a BTF pointer."""

    name: str
    size: int
    fields: tuple[FieldProto, ...] = ()
    embeds: tuple[str, ...] = ()  # structs at offset 0 (a pointer to this one is one to them)

    def is_a(self, name: str) -> bool:
        """Whether a pointer to this struct may be passed where ``struct name *`` is wanted."""
        return name == self.name or name in self.embeds

    def field_at(self, offset: int, size: int) -> FieldProto | None:
        """The field that wholly holds bytes ``[offset, offset+size)``, or None."""
        for f in self.fields:
            if f.offset <= offset and offset + size <= f.offset + f.size:
                return f
        return None


class CtxKind(Enum):
    """What a load from a context field yields."""

    SCALAR = "scalar"
    PACKET = "pkt"  # __sk_buff->data
    PACKET_END = "pkt_end"  # __sk_buff->data_end
    BTF_PTR = "btf"  # a struct_ops argument: a trusted pointer to ``btf``


@dataclass(frozen=True)
class CtxField:
    """A readable slot of the context.

    For struct_ops the context is the array of u64 arguments: argument ``i``
    is the ``CtxField`` at offset ``8*i`` with kind ``BTF_PTR``. ``ref`` marks
    a ``__ref`` argument (the verifier acquires a reference for it at entry);
    ``nullable`` one that may be NULL.
    """

    name: str
    offset: int
    size: int
    kind: CtxKind = CtxKind.SCALAR
    btf: str | None = None
    writable: bool = False
    ref: bool = False
    nullable: bool = False


class ArgKind(Enum):
    """What a helper or kfunc argument accepts."""

    ANYTHING = "anything"  # any initialized value
    SCALAR = "scalar"
    CONST_MAP = "map_ptr"  # the map itself (ld_imm64 pseudo map)
    MAP_KEY = "map_key"  # pointer to key_size initialized bytes
    MAP_VALUE = "map_value"  # pointer to value_size initialized bytes
    BTF_PTR = "btf"  # pointer to a kernel struct ``btf`` (or any when btf is None)
    ALLOC_OBJ = "alloc"  # object from bpf_obj_new
    KPTR_SLOT = "kptr"  # address of a __kptr field in a map value / object
    GRAPH_ROOT = "graph_root"  # bpf_list_head / bpf_rb_root
    GRAPH_NODE = "graph_node"  # bpf_list_node / bpf_rb_node inside an allocated object
    SPIN_LOCK = "spin_lock"
    CALLBACK = "callback"  # ld_imm64 pseudo func
    TYPE_ID = "type_id"  # constant BTF type id naming a local type (bpf_obj_new)
    CTX = "ctx"
    ITER_NEW = "iter_new"  # an uninitialized 8-byte stack slot that becomes iterator ``btf``
    ITER = "iter"  # an initialized iterator ``btf`` on the stack (next, destroy)
    MEM_WRITE = "uninit_mem"  # stack or map value the function fills, sized by the next MEM_SIZE
    MEM_READ = "mem"  # initialized stack or map value the function reads, sized likewise
    MEM_SIZE = "const_size"  # a bounded, non-zero scalar: the size of the memory argument before it


@dataclass(frozen=True)
class Arg:
    """One argument: ``ref`` is the kernel's ``__ref`` suffix, ``nullable`` ``__nullable``."""

    kind: ArgKind
    btf: str | None = None
    ref: bool = False
    nullable: bool = False
    release: bool = False  # the argument a KF_RELEASE function releases (default: first pointer)


class RetKind(Enum):
    """What R0 holds after a call."""

    VOID = "void"  # R0 is not readable afterwards
    SCALAR = "scalar"
    BTF_PTR = "btf"  # pointer to ``btf`` (referenced if KF_ACQUIRE, maybe NULL if KF_RET_NULL)
    ALLOC_OBJ = "alloc"  # new object of the local type named by the TYPE_ID argument
    MAP_VALUE_OR_NULL = "map_value_or_null"  # bpf_map_lookup_elem
    KPTR_OLD = "kptr_old"  # bpf_kptr_xchg: the previous content of the slot, referenced or NULL
    GRAPH_NODE_OR_NULL = "node_or_null"  # list/rbtree pop/remove: an owned object or NULL
    GRAPH_NODE_NONOWNING = "node_nonowning"  # list front / rbtree first: non-owning or NULL
    ITER_NEXT = (
        "iter_next"  # the iterator's next element: read-only memory of ret_size bytes, or NULL
    )


@dataclass(frozen=True)
class FuncProto:
    """A helper (by id) or kfunc (by name) as the verifier sees it.

    ``allowed`` are the ops members that may call it (``{"*"}``: every
    member); ``ret_range`` bounds a scalar result. A function taking a
    callback (``bpf_loop``, ``bpf_rbtree_add``) calls it with
    ``callback_args``: an unknown number for a ``SCALAR`` one, else the
    value of argument ``callback_ctx_arg`` (``bpf_loop``'s context, the node
    being added); the callback must return a value in ``callback_ret``.
    """

    name: str
    args: tuple[Arg, ...] = ()
    ret: RetKind = RetKind.SCALAR
    ret_btf: str | None = None
    flags: int = 0
    allowed: frozenset[str] = frozenset({ALL_MEMBERS})
    ret_range: tuple[int, int] | None = None
    ret_size: int = 0
    callback_ctx_arg: int | None = None
    callback_args: tuple[Arg, ...] = ()
    callback_ret: tuple[int, int] = (0, 1)
    lock: str | None = None  # "acquire"/"release" for bpf_spin_lock/unlock, "held" when required

    def allows(self, member: str) -> bool:
        return ALL_MEMBERS in self.allowed or member in self.allowed


KfuncProto = FuncProto
HelperProto = FuncProto


@dataclass(frozen=True)
class Special:
    """A special field in a map value or local object: a kptr, graph root or node, spin lock.

    ``kind`` is ``"kptr"``, ``"list_head"``, ``"rb_root"``, ``"list_node"``,
    ``"rb_node"``, ``"spin_lock"`` or ``"refcount"``; ``btf`` is the kptr's
    pointee or the root's contained type (``__contains``), whose node member
    is at ``node``.
    """

    kind: str
    offset: int
    size: int
    btf: str | None = None
    node: int = -1  # a graph root: offset of the node member in the contained type


@dataclass(frozen=True)
class MapProto:
    """A map (or a global data section, which the kernel treats as a one-entry array map)."""

    name: str
    key_size: int
    value_size: int
    max_entries: int = 1
    specials: tuple[Special, ...] = ()
    read_only: bool = False

    def special_at(self, offset: int) -> Special | None:
        return next((s for s in self.specials if s.offset == offset), None)

    def special_overlapping(self, offset: int, size: int) -> Special | None:
        return next(
            (s for s in self.specials if s.offset < offset + size and offset < s.offset + s.size),
            None,
        )


@dataclass(frozen=True)
class LocalType:
    """A program-local struct allocated with ``bpf_obj_new`` (a node holding a kptr, say)."""

    name: str
    size: int
    specials: tuple[Special, ...] = ()

    def as_map(self) -> MapProto:
        return MapProto(self.name, 0, self.size, 1, self.specials)


@dataclass(frozen=True)
class ProgramProto:
    """Everything the verifier needs about one program's attach point and environment.

    ``interface``/``member`` name the ops table and callback (``Qdisc_ops``,
    ``enqueue``) used for kfunc allow-lists; ``ctx`` lists the readable
    context slots; ``ret_range`` the allowed scalar return values (None:
    any); ``ret_btf`` a struct type the program may return a referenced
    pointer to (``sk_buff`` for ``dequeue``). ``maps`` are referenced by name
    in ``ld_imm64`` (``map`` and ``map_value`` pseudo loads);
    ``local_types`` are the program's own types for ``bpf_obj_new`` by BTF
    id; ``helpers`` are keyed by helper id. ``insn_limit`` bounds the
    instructions explored (the kernel's 1M) and ``allow_loops`` false refuses
    every back-edge (a program loaded without CAP_BPF); ``allow_uninit_stack``
    lets stack bytes be read before written, as the kernel allows a program
    loaded with CAP_PERFMON (qdisclab's default is the stricter rule: every
    byte read was written); ``sleepable`` says
    whether the program may call kfuncs that sleep; ``void_return`` that the
    member returns nothing (R0 need not be set at exit).
    """

    interface: str
    member: str
    ctx: tuple[CtxField, ...] = ()
    ret_range: tuple[int, int] | None = None
    ret_btf: str | None = None
    structs: Mapping[str, StructProto] = field(default_factory=dict)
    kfuncs: Mapping[str, FuncProto] = field(default_factory=dict)
    helpers: Mapping[int, FuncProto] = field(default_factory=dict)
    maps: Mapping[str, MapProto] = field(default_factory=dict)
    local_types: Mapping[int, LocalType] = field(default_factory=dict)
    allow_loops: bool = True
    allow_uninit_stack: bool = False
    insn_limit: int = BPF_COMPLEXITY_LIMIT_INSNS
    sleepable: bool = False
    void_return: bool = False

    def kfunc_allowed(self, name: str) -> bool:
        kf = self.kfuncs.get(name)
        return kf is not None and kf.allows(self.member)

    def ctx_field(self, offset: int, size: int) -> CtxField | None:
        for f in self.ctx:
            if f.offset <= offset and offset + size <= f.offset + f.size:
                return f
        return None

    @property
    def program_name(self) -> str:
        return f"{self.interface}.{self.member}" if self.member else self.interface
