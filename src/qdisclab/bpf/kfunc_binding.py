"""Binding a compiled program's kfunc and helper calls to qdisclab's implementations.

A kfunc a program calls by kernel name (``bpf_qdisc_skb_drop``) is looked up
in the one declared table (:data:`qdisclab.ops.kfunc.KFUNCS`) and called as
the method a Python extension calls (``sch.drop(skb, to_free)``) on the same
``sch``: the same implementation, the same allow-list check, the same
ownership bookkeeping. The arguments are converted from registers using the
extern's BTF prototype (the program's own declaration of the kernel's
signature): a ``struct sk_buff *`` becomes the real ``SkBuff`` through the
:class:`~qdisclab.bpf.views.Views` handle table, the leading
``struct Qdisc *sch`` is the context the method is called on, enqueue's
``struct bpf_sk_buff_ptr *to_free`` becomes its ``to_free`` token.

The generic kfuncs and helpers a qdisc needs are implemented here on the
Python collections a Python extension uses: ``bpf_obj_new`` allocates bytes
plus one :class:`~qdisclab.ops.collections.SkbNode` per ``__kptr`` field, so
``bpf_kptr_xchg`` moves skb ownership exactly as ``node.kptr_xchg`` does;
lists, spin locks (no-ops that keep state: double lock and unlock-unheld
fault), the numbers iterator behind ``bpf_for`` and ``bpf_loop``. An object
whose type has a ``struct bpf_refcount`` field is shared: it starts with one
reference, ``bpf_refcount_acquire`` adds one (an owning reference to the same
object, which can then sit in a second collection), and ``bpf_obj_drop`` (or
a collection refusing a node already in one) gives one back; the object is
freed, its ``__kptr`` fields checked, when the last goes.

A qdisclab rule broken inside a kfunc (an ownership violation, a kfunc not
allowed in this callback) is raised as :class:`KfuncFault`, a
:class:`~qdisclab.bpf.fault.BpfFault` the engine stamps with the calling
instruction; :func:`extension_fault` turns any fault back into the
extension fault a Python policy would raise, naming program, instruction and
source line.

>>> from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.interp import signed
>>> str(extension_fault(BpfFault("boom", "enq", 3, "fifo.c:7: x = 1;"), "bpf_fifo", "enqueue"))
'bpf_fifo.enqueue: enq: insn 3: boom [fifo.c:7: x = 1;]'
"""

from __future__ import annotations

import errno
import struct
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from qdisclab.bpf.allocations import Allocation, NodeLayout
from qdisclab.bpf.btf import BTF_KIND_INT, BTF_KIND_PTR, Btf
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.helper_ids import helper_id
from qdisclab.bpf.image import (
    SKB_AT,
    SPIN_LOCK_TAKE,
    SPIN_UNLOCK_GIVE,
    inline,
    keeps_views,
    leaf,
    returns_address,
)
from qdisclab.bpf.interp import signed
from qdisclab.bpf.kptr_fields import KptrFields, KptrNode
from qdisclab.bpf.memory import OFFSET_MASK, REGION_SHIFT, BytesRegion, Memory
from qdisclab.bpf.objects import BpfObject
from qdisclab.bpf.resolver import BpfFunction, CallContext
from qdisclab.bpf.special_fields import special_fields
from qdisclab.bpf.views import Views
from qdisclab.errors import ExtensionFault, KernelError
from qdisclab.ops.collections import SkbNode, Storage
from qdisclab.ops.kfunc import KF_RELEASE, Kfunc, lookup
from qdisclab.ops.maps import BPF_NOEXIST
from qdisclab.ops.maps_array import ArrayMap
from qdisclab.ops.maps_of_maps import ArrayOfMaps
from qdisclab.ops.ownership import RUNNING, OwnershipViolation
from qdisclab.skb import FREED, SkBuff

M64 = 0xFFFF_FFFF_FFFF_FFFF
_ITER = struct.Struct("<ii")  # struct bpf_iter_num as the kernel lays it out: cur, end
_U64 = struct.Struct("<Q")
_SKB, _SELF, _CONTEXT, _TO_FREE, _SCALAR, _STR, _CHILD = range(7)
# The classful kfuncs name a child as (sch, classid), the Python methods take the
# child's context: the parameter index of the classid, whose Qdisc precedes it.
_CLASSID_PARAM = {"bpf_qdisc_enqueue": 2, "bpf_qdisc_dequeue": 1}
_STR_MAX = 256  # a ``__str`` argument is a short constant string; longer is a fault


class KfuncFault(BpfFault):
    """A qdisclab rule broken inside a kfunc; ``cause`` is the extension fault raised."""

    def __init__(self, cause: ExtensionFault) -> None:
        super().__init__(cause.problem)
        self.cause = cause


def extension_fault(
    fault: BpfFault, kind: str, callback: str, skb: Any = None, where: str = ""
) -> ExtensionFault:
    """The extension fault for ``fault`` in ``kind.callback``: program, insn, source line, and
    the packet (``skb``'s, or the kfunc's own) or, for a socket's programs, ``where``."""
    cause = getattr(fault, "cause", None)
    packet = cause.packet if cause is not None else ""
    if not packet and isinstance(skb, SkBuff):
        packet = skb.describe()
    packet = packet or where
    klass = OwnershipViolation if isinstance(cause, OwnershipViolation) else ExtensionFault
    exc = klass(kind, callback, str(fault), packet)
    exc.__cause__ = fault
    return exc


class ProgramEnv:
    """What one attached object's programs share: memory, views, objects, lists, locks.

    ``context`` is the ``sch`` the running callback received and ``to_free``
    enqueue's token; the callback sets both before running a program (a BPF
    qdisc's per-packet callbacks set only ``to_free``: their ``sch`` is init's).
    """

    def __init__(self, obj: BpfObject, interface: str) -> None:
        self.obj = obj
        self.btf: Btf | None = obj.btf
        self.interface = interface
        self.memory = Memory()
        self.views = Views(self.memory)
        self.context: Any = None
        self.to_free: Any = None
        self.to_free_addr = self.memory.map(BytesRegion("to_free", bytearray(8)))
        # region id (its address >> 32) -> the object from bpf_obj_new (its bytes, region,
        # __kptr nodes): ids are small ints that spread over a dict's slots, where object
        # addresses (their low 32 bits all zero) would all start on the same one
        self.objects: dict[int, Allocation] = {}
        self.lists: dict[int, deque[int]] = {}  # list head address -> node link addresses
        # The links in a list but for those at an object's own address, which its record
        # notes itself (Allocation.linked): the usual node, its list node its first member.
        self.listed: set[int] = set()
        self.locks: set[int] = set()
        # bpf_rb_root address -> its tree; node link address -> the root it is in (rbtree_kfuncs)
        self.trees: dict[int, Any] = {}
        self.in_tree: dict[int, int] = {}
        # The map behind a program's map handle (ObjectResolver.map_at, once it exists).
        self.map_at: Callable[[int], Any] = _no_map
        self.values: dict[tuple[int, bytes | int], int] = {}  # (map id, key) -> value address
        # bpf_obj_new's type id -> (region name, size, offsets of __kptr fields, refcounted)
        self.layouts: dict[int, tuple[str, int, tuple[int, ...], bool]] = {}
        # ... and the usual node's (one __kptr field, no refcount), with its free list
        self.node_layouts: dict[int, NodeLayout] = {}
        # skb view address -> the SkBuff, and the SkBuff -> its view's address
        self.skb_ids, self.skbs = self.views.tables("sk_buff")[:2]
        # The memory's tables, for the inlined kfuncs to name once (the same dicts).
        self.readable, self.writable = self.memory.readable, self.memory.writable
        # address of a refcounted object (its type has a bpf_refcount) -> references held
        self.refcounts: dict[int, int] = {}
        # What bpf_obj_new makes for a __kptr field: a node registering itself with the
        # running instance, unless the fields are registered as one (own_kptr_fields),
        # when a dropped node's record can be reused (``pooled``).
        self.new_node: Callable[[], SkbNode] = SkbNode
        self.pooled = False

    def own_kptr_fields(self, storage: Storage, checked: bool) -> None:
        """Register every ``__kptr`` field's node with ``storage`` at once (one instance's env).

        Its nodes are then :class:`~qdisclab.bpf.kptr_fields.KptrNode` objects, checked
        as ``checked`` says, that cost no storage bookkeeping each; call it before
        the programs are translated (they read ``new_node`` once).
        """
        # Held here too: storage sweeps out an empty collection nothing else refers to.
        self.kptr_fields = KptrFields(self.objects)
        storage.add(self.kptr_fields)
        self.new_node = partial(KptrNode, checked)
        self.pooled = True
        # A pooled node has an address and no region entry (Memory.new_address): its
        # record, found by region id, gives the region to an access that needs it.
        self.memory.find_on_access(self._pooled_region)

    def _pooled_region(self, addr: int) -> BytesRegion | None:
        """The region of the pooled node at ``addr``'s region id, or None.

        A program reads or writes the node's bytes in place: they are mapped for the
        fast paths until it is dropped, and its layout's nodes when made from now on.
        """
        obj = self.objects.get(addr >> REGION_SHIFT)
        if obj is None or obj.pool is None:
            return None
        if not obj.mapped:
            self.memory.map_found_bytes(obj.base, obj.data)
            obj.mapped = True
            assert obj.layout is not None  # a pooled node's
            obj.layout.accessed = True
        return obj.region

    def in_list(self, link: int) -> bool:
        """Whether the node at ``link`` is in a list."""
        obj = self.objects.get(link >> REGION_SHIFT)
        if obj is not None and obj.base == link:
            return obj.linked
        return link in self.listed

    def set_listed(self, link: int, listed: bool) -> None:
        """Note that the node at ``link`` is now in a list (``listed``) or out of one."""
        obj = self.objects.get(link >> REGION_SHIFT)
        if obj is not None and obj.base == link:
            obj.linked = listed
        elif listed:
            self.listed.add(link)
        else:
            self.listed.discard(link)

    @property
    def kptrs(self) -> dict[int, SkbNode]:
        """Every ``__kptr`` field's address and its node, in the order the objects were made."""
        return {
            a: n
            for obj in self.objects.values()
            for a, n in zip(obj.fields(), obj.nodes, strict=True)
        }

    # -- conversions ---------------------------------------------------------------
    def skb_at(self, addr: int) -> SkBuff:
        """The ``SkBuff`` a program's pointer names (a fault if it names none)."""
        obj = self.skbs.get(addr)
        if obj is None:
            obj = self.views.object_at(addr, "struct sk_buff")  # raises the fault
        if obj.__class__ is not SkBuff:
            raise BpfFault(f"{addr:#x} is not a pointer to struct sk_buff")
        return obj

    def skb_address(self, skb: SkBuff | None) -> int:
        return self.views.address("sk_buff", skb)

    def forget_freed(self, skb: SkBuff) -> None:
        """Unmap a freed skb's view: a later use of the pointer faults as unmapped."""
        if skb.owner is FREED:
            self.views.release("sk_buff", skb)

    def to_register(self, value: Any) -> int:
        if value is None or value is False:
            return 0
        if value is True:
            return 1
        if value.__class__ is SkBuff:
            return self.skb_address(value)
        if isinstance(value, int):
            return value & M64
        if value.__class__.__name__ == "QdiscContext":
            return self.views.address("Qdisc", value)
        raise BpfFault(f"a kfunc returned a {type(value).__name__}, which has no BPF value")

    # -- binding ---------------------------------------------------------------------
    def kfuncs(self) -> dict[str, BpfFunction]:
        """Every kfunc the object calls, bound (a load error names one qdisclab lacks)."""
        out: dict[str, BpfFunction] = {}
        for extern in self.obj.externs:
            if extern.kind != "kfunc":
                continue
            generic = _GENERIC.get(extern.name)
            if generic is not None:
                out[extern.name] = _bound(generic, self)
                continue
            try:
                kf = lookup(extern.name, self.interface)
            except KeyError:  # declared for another interface only
                raise BpfLoadError(
                    self.obj.path, f"calls kfunc {extern.name}, which qdisclab does not provide "
                    f"to {self.interface} programs"
                ) from None  # fmt: skip
            out[extern.name] = self.declared(kf, extern.type_id)
        return out

    def helpers(self) -> dict[int, BpfFunction]:
        """Every helper the object calls, bound."""
        out: dict[int, BpfFunction] = {}
        for program in self.obj.programs.values():
            for rel in program.relocations:
                if rel.kind != "helper" or rel.addend in out:
                    continue
                generic = _GENERIC.get(rel.symbol)
                if generic is not None:
                    out[rel.addend] = _bound(generic, self)
                    continue
                try:
                    kf = lookup(rel.symbol, self.interface)
                except KeyError:
                    raise BpfLoadError(
                        self.obj.path, f"{program.name} calls helper {rel.symbol}, which "
                        "qdisclab does not provide"
                    ) from None  # fmt: skip
                out[rel.addend] = self.declared(kf, 0)
        return out

    def declared(self, kf: Kfunc, type_id: int) -> BpfFunction:
        """``kf`` called as its context method, arguments converted by its BTF prototype."""
        kinds = self._param_kinds(type_id)
        classid = _CLASSID_PARAM.get(kf.name)
        if classid is not None and len(kinds) > classid:
            kinds[classid - 1], kinds[classid] = _SELF, _CHILD
        method, env = kf.method, self
        # An int-returning kfunc whose Python method returns an object (create_child
        # returns the child) reports success as 0, as the kernel's does.
        returns_status = self._returns_int(type_id)
        releases = bool(kf.flags & KF_RELEASE)

        def call(vm: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
            args: list[Any] = []
            for kind, value in zip(kinds, (r1, r2, r3, r4, r5), strict=False):
                if kind == _SKB:
                    args.append(env.skb_at(value))
                elif kind == _TO_FREE:
                    if value != env.to_free_addr:
                        raise BpfFault(f"{value:#x} is not this call's to_free")
                    args.append(env.to_free)
                elif kind == _CONTEXT:
                    args.append(env.views.object_at(value, "struct Qdisc"))
                elif kind == _SCALAR:
                    args.append(value)
                elif kind == _STR:
                    args.append(env.read_str(value))
                elif kind == _CHILD:
                    args.append(env.child_context(value))
            try:
                result = getattr(env.context, method)(*args)
            except ExtensionFault as exc:
                raise KfuncFault(exc) from exc
            if releases:
                for arg in args:
                    if arg.__class__ is SkBuff:
                        env.forget_freed(arg)
            return 0 if returns_status and result.__class__ is not int else env.to_register(result)

        call.__name__ = kf.name
        return leaf(call)  # a context method never runs a program callback

    def _param_kinds(self, type_id: int) -> list[int]:
        btf = self.btf
        if not type_id or btf is None:
            return []
        proto = btf[btf[type_id].ref]
        kinds = []
        for index, param in enumerate(proto.params):
            t = btf.skip_modifiers(param.type_id)
            target = btf.skip_modifiers(t.ref).name if t.kind == BTF_KIND_PTR else ""
            if target == "char":  # ``const char *name__str``: a constant string
                kinds.append(_STR)
            elif target == "sk_buff":
                kinds.append(_SKB)
            elif target == "Qdisc":
                kinds.append(_SELF if index == 0 else _CONTEXT)
            elif target == "bpf_sk_buff_ptr":
                kinds.append(_TO_FREE)
            else:
                kinds.append(_SCALAR)
        return kinds

    def _returns_int(self, type_id: int) -> bool:
        btf = self.btf
        if not type_id or btf is None:
            return False
        ret = btf.skip_modifiers(btf[btf[type_id].ref].ref)
        return ret.kind == BTF_KIND_INT

    def child_context(self, classid: int) -> Any:
        """The context of this qdisc's child at class ``classid`` (major:minor)."""
        q = self.context._q
        child = q.children.get(classid & 0xFFFF)
        if classid >> 16 != q.handle >> 16 or child is None:
            raise BpfFault(f"class {classid >> 16:x}:{classid & 0xFFFF:x} has no child qdisc")
        return child.ctx

    def read_str(self, addr: int) -> str:
        """The NUL-terminated string at ``addr`` (a ``__str`` kfunc argument)."""
        for n in range(1, _STR_MAX + 1):
            if self.memory.read_bytes(addr + n - 1, 1) == b"\0":
                return self.memory.read_bytes(addr, n - 1).decode("utf-8", "replace")
        raise BpfFault(f"string argument at {addr:#x} has no NUL within {_STR_MAX} bytes")


def generic_kfunc_names() -> frozenset[str]:
    """The kfuncs bound here rather than through the declared table (objects, graphs, ...)."""
    return frozenset(_GENERIC)


GenericImpl = Callable[..., int]
_GENERIC: dict[str, GenericImpl] = {}
# Generic impls bound as they are, ``partial(impl, env)``, and called as leaves: they
# never call back into the program and raise nothing but BpfFault (an extension fault
# inside them is raised as KfuncFault on the spot). The others get a wrapper doing that.
_DIRECT: set[GenericImpl] = set()
# Those whose result is NULL or an address qdisclab mapped (image.returns_address), and
# those that unmap no view (image.keeps_views).
_ADDRESSES: set[GenericImpl] = set()
_KEEPS_VIEWS: set[GenericImpl] = set()


def _bound(impl: GenericImpl, env: ProgramEnv) -> BpfFunction:
    bound = _bound_as_called(impl, env)
    if impl in _KEEPS_VIEWS:
        bound = keeps_views(bound)
    return returns_address(bound) if impl in _ADDRESSES else bound


def _bound_as_called(impl: GenericImpl, env: ProgramEnv) -> BpfFunction:
    template = _INLINE.get(impl)
    if template is not None:  # the translator writes the common case in place
        return inline(partial(impl, env), template, env, _INLINE_NAMES, _INLINE_KEEPS)
    if impl in _DIRECT:
        return leaf(partial(impl, env))  # one call per kfunc call, no wrapper frame

    def call(vm: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        try:
            return impl(env, vm, r1, r2, r3, r4, r5)
        except ExtensionFault as exc:
            raise KfuncFault(exc) from exc

    call.__name__ = impl.__name__
    return call


def _generic(name: str, direct: bool = False) -> Callable[[GenericImpl], GenericImpl]:
    def register(impl: GenericImpl) -> GenericImpl:
        _GENERIC[name] = impl
        if direct:
            _DIRECT.add(impl)
        return impl

    return register


# -- objects and kptrs -----------------------------------------------------------------
@_generic("bpf_obj_new_impl", direct=True)
def _obj_new(env: ProgramEnv, vm: CallContext, type_id: int, meta: int, *_: int) -> int:
    node = env.node_layouts.get(type_id)
    if node is not None:  # the usual node: one skb field, no refcount (one call, no loop)
        spare = node.spare
        if spare:  # a dropped node's record, its bytes zeroed and mapped anew
            obj = spare.pop()
            obj.data[:] = node.zeros
            region = obj.region
            assert region is not None  # a pooled node's, kept for reuse
        else:
            data = bytearray(node.size)
            region = BytesRegion(node.name, data, True)
            obj = Allocation(data, region, (node.offset,), [env.new_node()], node)
        if node.pooled:  # its region is found through its record (ProgramEnv._pooled_region)
            addr = env.memory.new_address()
            if node.accessed:  # its bytes are read or written in place
                env.memory.map_found_bytes(addr, obj.data)
                obj.mapped = True
        else:
            addr = env.memory.map_bytes_region(region)
        obj.place(addr)
        env.objects[addr >> REGION_SHIFT] = obj
        return addr
    btf = env.btf
    if btf is None:
        raise BpfFault("bpf_obj_new needs the object's BTF")
    layout = env.layouts.get(type_id)
    if layout is None:
        special = special_fields(btf, type_id)
        kptrs = tuple(f.offset for f in special if f.kind == "kptr")
        refcounted = any(f.kind == "refcount" for f in special)
        layout = (f"object {btf[type_id].name}", btf.sizeof(type_id), kptrs, refcounted)
        env.layouts[type_id] = layout
        if len(kptrs) == 1 and not refcounted:
            env.node_layouts[type_id] = NodeLayout(layout[0], layout[1], kptrs[0], env.pooled)
            return _obj_new(env, vm, type_id, meta)
    name, size, kptr_offsets, refcounted = layout
    data = bytearray(size)
    addr = env.memory.map_bytes(name, data)
    if refcounted:
        env.refcounts[addr] = 1
    nodes = [env.new_node() for _ in kptr_offsets]
    obj = Allocation(data, None, kptr_offsets, nodes, None)
    obj.place(addr)
    env.objects[addr >> REGION_SHIFT] = obj
    return addr


@_generic("bpf_refcount_acquire_impl", direct=True)
def _refcount_acquire(env: ProgramEnv, vm: CallContext, addr: int, meta: int, *_: int) -> int:
    """One more owning reference to the shared object at ``addr``: ``addr`` itself.

    The kernel answers NULL for an object whose count already reached zero (freed
    while an RCU reader still pointed at it); here a dropped object is unmapped at
    once, so its pointer names no object and the call faults instead.
    """
    count = env.refcounts.get(addr)
    if count is None:
        what = ("its type has no struct bpf_refcount field" if _object(env, addr)
                else "not an object from bpf_obj_new")  # fmt: skip
        raise BpfFault(f"bpf_refcount_acquire of {addr:#x}: {what}")
    env.refcounts[addr] = count + 1
    return addr


@_generic("bpf_obj_drop_impl", direct=True)
def _obj_drop(env: ProgramEnv, vm: CallContext | None, addr: int, meta: int, *_: int) -> int:
    """Give back one reference to the object at ``addr``; the last frees it."""
    obj = _object(env, addr)
    if obj is None:
        raise BpfFault(f"bpf_obj_drop of {addr:#x}: not an object from bpf_obj_new")
    count = env.refcounts.get(addr)
    if count is not None and count > 1:  # another owner (a collection, or the program) keeps it
        env.refcounts[addr] = count - 1
        return 0
    try:
        for node in obj.nodes:
            node.free()  # holding an skb is the same violation as in Python
    except ExtensionFault as exc:
        raise KfuncFault(exc) from exc
    del env.objects[addr >> REGION_SHIFT]
    if count is not None:
        del env.refcounts[addr]
    if obj.pool is None:
        env.memory.unmap_bytes(addr)  # mapped by map_bytes: bytes, at a region's start
    else:
        if obj.mapped:  # a pooled node whose bytes were read or written in place
            env.memory.unmap_found_bytes(addr)
            obj.mapped = False
        obj.pool.append(obj)  # its next bpf_obj_new gets a new address: a kept pointer faults
    obj.unplace()
    return 0


def _object(env: ProgramEnv, addr: int) -> Allocation | None:
    """The object from ``bpf_obj_new`` whose address is ``addr``, or None."""
    obj = env.objects.get(addr >> REGION_SHIFT)
    return obj if obj is not None and obj.base == addr else None


def refuse_node(env: ProgramEnv, node: int) -> int | None:
    """A node already in a list or tree: for a shared object, the kernel's answer (-EINVAL,
    and the reference passed is dropped); None when the object is not shared (a fault)."""
    obj = node & ~OFFSET_MASK
    if obj not in env.refcounts:
        return None
    _obj_drop(env, None, obj, 0)
    return -errno.EINVAL & M64


def _kptr_xchg(env: ProgramEnv, vm: CallContext, slot: int, new: int, *_: int) -> int:
    obj = env.objects.get(slot >> REGION_SHIFT)
    node = None if obj is None else obj.node_at(slot)
    if obj is None or node is None:
        raise BpfFault(f"bpf_kptr_xchg on {slot:#x}: not a __kptr field of an object")
    skb = None
    if new:
        skb = env.skbs.get(new)  # skb_at's common case, without its call
        if skb.__class__ is not SkBuff:
            skb = env.skb_at(new)  # raises the fault
    try:
        old = node.kptr_xchg(skb)
    except ExtensionFault as exc:
        raise KfuncFault(exc) from exc
    # The field of a live object: in bounds and writable, as bpf_obj_new mapped it.
    data, off = obj.data, slot & OFFSET_MASK
    if old is None:
        _U64.pack_into(data, off, new)
        return 0
    # The field holds the address the old skb was stored with: still its view's, unless
    # the view was released and the skb mapped again since.
    addr = _U64.unpack_from(data, off)[0]
    _U64.pack_into(data, off, new)
    return addr if env.skbs.get(addr) is old else env.views.address("sk_buff", old)


# -- lists -----------------------------------------------------------------------------
def _push(env: ProgramEnv, head: int, link: int, front: bool) -> int:
    if env.in_list(link):
        refused = refuse_node(env, link)
        if refused is not None:
            return refused
        raise BpfFault(f"list push of node {link:#x}, which is already in a list")
    if (link >> REGION_SHIFT) not in env.objects:
        raise BpfFault(f"list push of {link:#x}: not a node of an object from bpf_obj_new")
    queue = env.lists.get(head)
    if queue is None:
        queue = env.lists[head] = deque()
    (queue.appendleft if front else queue.append)(link)
    env.set_listed(link, True)
    return 0


def _pop(env: ProgramEnv, head: int, front: bool) -> int:
    queue = env.lists.get(head)
    if not queue:
        return 0
    link = queue.popleft() if front else queue.pop()
    env.set_listed(link, False)
    return link


def _peek(env: ProgramEnv, head: int, front: bool) -> int:
    queue = env.lists.get(head)
    if not queue:
        return 0
    return queue[0] if front else queue[-1]


@_generic("bpf_list_push_back_impl", direct=True)
def _list_push_back(env: ProgramEnv, vm: CallContext, head: int, link: int, *_: int) -> int:
    return _push(env, head, link, front=False)


@_generic("bpf_list_push_front_impl", direct=True)
def _list_push_front(env: ProgramEnv, vm: CallContext, head: int, link: int, *_: int) -> int:
    return _push(env, head, link, front=True)


@_generic("bpf_list_pop_front", direct=True)
def _list_pop_front(env: ProgramEnv, vm: CallContext, head: int, *_: int) -> int:
    return _pop(env, head, front=True)


@_generic("bpf_list_pop_back", direct=True)
def _list_pop_back(env: ProgramEnv, vm: CallContext, head: int, *_: int) -> int:
    return _pop(env, head, front=False)


@_generic("bpf_list_front", direct=True)
def _list_front(env: ProgramEnv, vm: CallContext, head: int, *_: int) -> int:
    return _peek(env, head, front=True)


@_generic("bpf_list_back", direct=True)
def _list_back(env: ProgramEnv, vm: CallContext, head: int, *_: int) -> int:
    return _peek(env, head, front=False)


@_generic("bpf_list_empty", direct=True)
def _list_empty(env: ProgramEnv, vm: CallContext, head: int, *_: int) -> int:
    return 0 if env.lists.get(head) else 1


# -- map helpers (values are bytes, each mapped at a stable address while present) ------
def _no_map(addr: int) -> Any:
    raise BpfFault(f"{addr:#x} is not a map")


def _map_key(env: ProgramEnv, bpf_map: Any, key: int) -> bytes | int:
    raw = env.memory.read_bytes(key, bpf_map.key_size or 0)
    if isinstance(bpf_map, (ArrayMap, ArrayOfMaps)):
        return int.from_bytes(raw, "little")  # array maps are indexed by the u32 key
    return raw


def _map_lookup(env: ProgramEnv, vm: CallContext, m: int, key: int, *_: int) -> int:
    bpf_map = env.map_at(m)
    k = _map_key(env, bpf_map, key)
    value = bpf_map.lookup(k)
    if value is None:
        return 0
    addr = env.values.get((id(bpf_map), k))
    if addr is None:
        addr = env.memory.map(BytesRegion(f"value of map {bpf_map.name}", value))
        env.values[(id(bpf_map), k)] = addr
    return addr


def _map_update(
    env: ProgramEnv, vm: CallContext, m: int, key: int, value: int, flags: int, _: int
) -> int:
    bpf_map = env.map_at(m)
    k = _map_key(env, bpf_map, key)
    new = env.memory.read_bytes(value, bpf_map.value_size or 0)
    old = bpf_map.lookup(k)
    try:
        if old is not None and not flags & BPF_NOEXIST:
            bpf_map.update(k, old, flags)  # the kernel's flag checks, then write in place
            old[:] = new  # a pointer a program holds sees the new value, as in the kernel
        else:
            bpf_map.update(k, bytearray(new), flags)
    except KernelError as exc:
        return -exc.errno & M64
    return 0


def _map_delete(env: ProgramEnv, vm: CallContext, m: int, key: int, *_: int) -> int:
    bpf_map = env.map_at(m)
    k = _map_key(env, bpf_map, key)
    try:
        bpf_map.delete(k)
    except KernelError as exc:
        return -exc.errno & M64
    addr = env.values.pop((id(bpf_map), k), None)
    if addr is not None:
        env.memory.unmap(addr)  # a held pointer now faults instead of reading freed memory
    return 0


# -- locks, loops, iterators -----------------------------------------------------------
def _spin_lock(env: ProgramEnv, vm: CallContext, lock: int, *_: int) -> int:
    if lock in env.locks:
        raise BpfFault(f"bpf_spin_lock of {lock:#x}, already held (deadlock)")
    env.locks.add(lock)
    return 0


def _spin_unlock(env: ProgramEnv, vm: CallContext, lock: int, *_: int) -> int:
    if lock not in env.locks:
        raise BpfFault(f"bpf_spin_unlock of {lock:#x}, which is not held")
    env.locks.discard(lock)
    return 0


def _loop(env: ProgramEnv, vm: CallContext, n: int, fn: int, ctx: int, flags: int, _: int) -> int:
    done = 0
    while done < n:
        stop = vm.call_function(fn, done, ctx)
        done += 1
        if stop & 0xFFFF_FFFF == 1:
            break
    return done


@_generic("bpf_iter_num_new", direct=True)
def _iter_new(env: ProgramEnv, vm: CallContext, it: int, start: int, end: int, *_: int) -> int:
    lo, hi = signed(start, 32), signed(end, 32)
    empty = lo > hi
    env.memory.store(it, 8, _pack_iter(hi if empty else lo - 1, hi))
    return (-22 & M64) if empty else 0  # -EINVAL, as the kernel's bpf_iter_num_new


@_generic("bpf_iter_num_next", direct=True)
def _iter_next(env: ProgramEnv, vm: CallContext, it: int, *_: int) -> int:
    cur, end = _ITER.unpack(env.memory.load(it, 8).to_bytes(8, "little"))
    if cur + 1 >= end:
        return 0
    env.memory.store(it, 8, _pack_iter(cur + 1, end))
    return it  # the kernel returns &it->cur


@_generic("bpf_iter_num_destroy", direct=True)
def _iter_destroy(env: ProgramEnv, vm: CallContext, it: int, *_: int) -> int:
    env.memory.store(it, 8, 0)
    return 0


def _pack_iter(cur: int, end: int) -> int:
    return int.from_bytes(_ITER.pack(cur, end), "little")


for _name, _impl in (
    ("bpf_kptr_xchg", _kptr_xchg),
    ("bpf_spin_lock", _spin_lock),
    ("bpf_spin_unlock", _spin_unlock),
    ("bpf_loop", _loop),
    ("bpf_map_lookup_elem", _map_lookup),
    ("bpf_map_update_elem", _map_update),
    ("bpf_map_delete_elem", _map_delete),
):
    assert helper_id(_name) is not None, _name
    _GENERIC[_name] = _impl
    if _name != "bpf_loop":  # bpf_loop runs the program's callback
        _DIRECT.add(_impl)

_ADDRESSES.update(
    (_obj_new, _refcount_acquire, _list_pop_front, _list_pop_back, _list_front, _list_back,
     _kptr_xchg, _map_lookup)
)  # fmt: skip
# Objects, lists, locks and the kptr exchange free no skb: its view stays mapped.
_KEEPS_VIEWS.update(
    (_obj_new, _refcount_acquire, _list_push_front, _list_push_back, _list_pop_front,
     _list_pop_back, _list_front, _list_back, _list_empty, _spin_lock, _spin_unlock,
     _kptr_xchg, _map_lookup)
)  # fmt: skip

# Whether ``_o`` is, or now is, the object from bpf_obj_new whose ``attr`` (its base, or
# its first __kptr field) is at ``reg``: usually the one the last call found or made
# (``_o`` is kept from call to call), else the one looked up (NO_OBJECT: none). None
# matches a dropped object (Allocation.unplace), so a stale one is only a miss.
_FIND = "(_o.{attr} == {reg} or (_o := {{S}}.objects.get({reg} >> 32, NO_OBJECT)).{attr} == {reg})"
_NO_OBJECT = Allocation(bytearray(), None, (), [])
_NO_OBJECT.unplace()

# The common case of the lock and list kfuncs, as the translator writes it in place of
# the call (``{S}`` is the ProgramEnv): exactly what the function does when nothing is
# wrong; anything else (a fault, a list's first push) is the call itself.
_INLINE: dict[GenericImpl, str] = {
    # No lock held yet (a program holds one at a time): taking it needs no membership test.
    _spin_lock: f"if {{S}}.locks:\n    {{CALL}}\nelse:\n    {SPIN_LOCK_TAKE}\n    r0 = 0",
    _spin_unlock: f"try:\n    {SPIN_UNLOCK_GIVE}\nexcept KeyError:\n    {{CALL}}\nelse:\n    r0 = 0",
    # A link at its object's own address (the usual node's) is noted in the object's
    # record, found as _FIND finds it; any other in the env's set (ProgramEnv.set_listed).
    _list_pop_front: (
        "_q = {S}.lists.get(r1)\nif _q:\n    r0 = _q.popleft()\n"
        f"    if {_FIND.format(attr='base', reg='r0')}:\n        _o.linked = False\n"
        "    else:\n        {S}.listed.discard(r0)\n"
        "else:\n    r0 = 0"
    ),
    _list_push_back: (
        "_q = {S}.lists.get(r1)\n"
        f"if _q is not None and {_FIND.format(attr='base', reg='r2')} and not _o.linked:\n"
        "    _q.append(r2)\n    _o.linked = True\n    r0 = 0\n"
        "elif (_q is not None and _o.base != r2 and r2 not in {S}.listed\n"
        "        and r2 >> 32 in {S}.objects):\n"
        "    _q.append(r2)\n    {S}.listed.add(r2)\n    r0 = 0\nelse:\n    {CALL}"
    ),
    # A dropped node's record reused, as _obj_new reuses it (a fresh one is the call's work);
    # its bytes are usually zero already (a FIFO's node holds only the emptied kptr), and
    # comparing them is cheaper than writing the slice.
    _obj_new: (
        "_l = {S}.node_layouts.get(r1)\nif _l is None or not _l.spare:\n    {CALL}\nelse:\n"
        "    _o = _l.spare.pop()\n    _b = _o.data\n    if _b != _l.zeros:\n        _b[:] = _l.zeros\n"
        # Memory.new_address's work in place, and map_found_bytes's once nodes are accessed
        "    _r = {S}.memory.next_id\n    {S}.memory.next_id = _r + 2\n"
        "    if _l.accessed:\n        {S}.readable[_r] = {S}.writable[_r] = _b\n"
        "        _o.mapped = True\n"
        "    r0 = _r << 32\n    _o.base = r0\n    _o.field = r0 + _l.offset\n"
        "    {S}.objects[_r] = _o"
    ),
    # A node of the free list's kind, holding no skb, freed as _obj_drop frees it; a node
    # still holding one (the violation) or in a list, and any other object, are the call's.
    _obj_drop: (
        f"if (not {_FIND.format(attr='base', reg='r1')}\n"
        "        or _o.pool is None or _o.node._skb is not None or _o.linked):\n"
        "    {CALL}\nelse:\n    _r = r1 >> 32\n    del {S}.objects[_r]\n"
        # and Memory.unmap_found_bytes's, and Allocation.unplace's
        "    if _o.mapped:\n        del {S}.readable[_r], {S}.writable[_r]\n"
        "        _o.mapped = False\n"
        "    _o.base = _o.field = -1\n    _o.pool.append(_o)\n    r0 = 0"
    ),
    # An object's first __kptr field and an skb the program holds (or NULL), exchanged as
    # KptrNode.kptr_xchg and _kptr_xchg do when the field is empty (storing) or full
    # (taking); anything else (a swap, a fault, an ownership violation) is the call's.
    _kptr_xchg: (
        f"if not {_FIND.format(attr='field', reg='r1')}:\n    {{CALL}}\nelif r2:\n"
        f"    _n = _o.node\n    _k = {SKB_AT.format(reg='r2')}\n    _fr = _RUNNING.frame\n"
        "    if (_k.__class__ is not SkBuff or _n._skb is not None or _fr is None\n"
        "            or (_n._checked and _k.owner is not _fr)):\n        {CALL}\n"
        "    else:\n        _k.owner = _n\n        _n._skb = _k\n"
        "        _o.kptr[0] = r2\n        r0 = 0\n"
        "else:\n    _n = _o.node\n    _k = _n._skb\n    if _k is None:\n        {CALL}\n"
        "    else:\n        _n._skb = None\n        if _n._checked:\n"
        "            _fr = _RUNNING.frame\n            _k.owner = _fr\n"
        "            if _fr is not None:\n                _fr.acquired.append(_k)\n"
        "        else:\n            _k.owner = None\n"
        "        _o.kptr[0] = 0\n"
        # The address the skb was stored with while its view is still mapped (the tables
        # are each other's inverse), else the view mapped again: what _kptr_xchg returns.
        "        r0 = {S}.skb_ids.get(_k)\n        if r0 is None:\n"
        "            r0 = {S}.views.address('sk_buff', _k)"
    ),
}
# The globals those templates name.
_INLINE_NAMES: dict[str, object] = {
    "SkBuff": SkBuff, "_RUNNING": RUNNING, "NO_OBJECT": _NO_OBJECT,
}  # fmt: skip
# ... and the object they keep from one call to the next.
_INLINE_KEEPS: dict[str, object] = {"_o": _NO_OBJECT}

# The rbtree kfuncs register themselves in the same table (a module of their own).
from qdisclab.bpf import rbtree_kfuncs as _rbtree_kfuncs  # noqa: E402,F401
