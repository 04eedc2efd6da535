"""Kernel-struct views of qdisclab objects, and the handle table behind their pointers.

A compiled program reaches ``skb->len`` or ``sch->q.qlen`` by loading from an
address. :class:`Views` gives every object a program may point to (an
``SkBuff``, the qdisc's ``sch``, its device) one address: a
:class:`~qdisclab.bpf.memory.StructView` whose fields are the
:data:`~qdisclab.bpf.kernel_types.KERNEL_TYPES` rows of the struct, each bound
to the attribute the row names. Embedded structs (``sch->q``) are flattened
into their parent's view; pointer fields (``sch->dev_queue``) load the address
of the pointee's view. The table works both ways: :meth:`Views.object_at`
turns an address a program passes to a kfunc back into the very object, so a
kfunc bound from the shared table receives the real ``SkBuff``.

Derived counters (``q.qlen``, ``qstats.backlog``, ``bstats``) accept a write
and keep qdisclab's own count, as :mod:`~qdisclab.bpf.kernel_types` says.

>>> from qdisclab.bpf.memory import Memory
>>> class Dev:
...     ifindex, mtu, tx_queue_len = 2, 1500, 1000
>>> views = Views(Memory())
>>> addr = views.address("net_device", Dev())
>>> views.memory.load(addr + KERNEL_TYPES["net_device"].field("mtu").offset, 4)
1500
>>> views.address("net_device", views.object_at(addr)) == addr
True
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from operator import attrgetter
from typing import Any

from qdisclab.bpf.externs import KCONFIG
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.kernel_types import KERNEL_TYPES, KField
from qdisclab.bpf.memory import (
    OFFSET_MASK,
    REGION_SHIFT,
    Field,
    Memory,
    StructView,
    ignored_write,
)
from qdisclab.skb import SkBuff

ETH_P_IP_BE = 0x0008  # htons(ETH_P_IP) as a little-endian load of the __be16 sees it
_SCALAR_SIZES = (1, 2, 4, 8)
# Counters qdisclab derives from ownership transitions: a write is accepted and ignored.
_KEPT_BY_QDISCLAB = frozenset({"qlen", "backlog", "drops", "bytes", "packets"})
# __sk_buff.data/data_end point into the packet a tc program runs on (its own view).
_PACKET_POINTERS = frozenset({"@data", "@data_end"})


class Views:
    """The kernel-struct views of one program's memory, one address per (struct, object)."""

    __slots__ = (
        "_addr", "_objects_of", "_read_paths", "_spare", "_templates", "memory", "objects", "skbs",
    )  # fmt: skip

    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        # struct -> key -> address: one small dict per struct, so a lookup builds no key;
        # the key is id(obj), or an SkBuff itself (identity-hashed: no int to make or hash)
        self._addr: dict[str, dict[object, int]] = {}
        # view address -> the object, for every struct but sk_buff, whose objects (one
        # mapped and unmapped per packet) are only in their own table, ``skbs``
        self.objects: dict[int, Any] = {}
        self._objects_of: dict[str, dict[int, Any]] = {}  # struct -> view address -> object
        self.skbs = self.objects_of("sk_buff")
        self._templates: dict[str, StructView] = {}
        self._read_paths: dict[str, dict[str, str]] = {}  # struct -> attribute -> its path
        # struct -> views released (unmapped, their object dropped), bound again by address()
        self._spare: dict[str, list[StructView]] = {}
        # An skb's view is bound only when an access needs it (one skb is mapped and
        # unmapped per packet): its address is an entry of ``skbs`` and nothing else.
        memory.bind_on_access(self.skbs, partial(self.layout, "sk_buff"))

    def address(self, struct: str, obj: Any) -> int:
        """The address of ``obj`` seen as ``struct`` (mapped on first use); 0 for None."""
        if obj is None:
            return 0
        by_id = self._addr.get(struct)
        if by_id is None:
            by_id = self.tables(struct)[0]
        key = obj if obj.__class__ is SkBuff else id(obj)
        addr = by_id.get(key)
        if addr is None and struct == "sk_buff":  # Memory.bind_on_access's kind of mapping
            memory = self.memory
            rid = memory.next_id
            memory.next_id = rid + 2  # map_view's ids: the one in between stays a guard
            addr = by_id[key] = rid << REGION_SHIFT
            self.skbs[addr] = obj
        elif addr is None:
            spare = self._spare[struct]
            if spare:  # a view released before: only its object changes (one per packet)
                view = spare.pop()
                view.obj = obj
            else:
                view = (self._templates.get(struct) or self._template(struct)).bind(obj)
            addr = self.memory.map_view(view)
            by_id[key] = addr
            self.objects[addr] = self._objects_of[struct][addr] = obj
        return addr

    def tables(self, struct: str) -> tuple[dict[object, int], dict[int, Any], list[StructView]]:
        """``struct``'s tables, made on first use: key -> address (the key is ``id(obj)``, or
        an ``SkBuff`` itself), address -> object, and the released views ``address`` binds
        again (what a per-packet caller inlines)."""
        by_id = self._addr.get(struct)
        if by_id is None:
            by_id = self._addr[struct] = {}
            self._spare[struct] = []
        return by_id, self.objects_of(struct), self._spare[struct]

    def objects_of(self, struct: str) -> dict[int, Any]:
        """The objects mapped as ``struct``, by view address (the dict itself, kept current).

        Translated code looks a proven ``struct`` pointer up here: a hit is the
        very object whose view the pointer's region is.
        """
        found = self._objects_of.get(struct)
        if found is None:
            found = self._objects_of[struct] = {}
        return found

    def read_through(self, struct: str, paths: dict[str, str]) -> None:
        """Every object seen as ``struct`` reads attribute ``a`` as ``paths[a]`` (a property's path).

        Said by whoever maps the objects (a BPF qdisc's are ``QdiscContext``s): the
        translator then reads the path in place where the attribute is a property.
        """
        self._read_paths[struct] = dict(paths)

    def read_path(self, struct: str, attr: str) -> str:
        """The attribute path translated code reads ``struct``'s ``attr`` through."""
        return self._read_paths.get(struct, {}).get(attr, attr)

    def layout(self, struct: str) -> StructView:
        """The view every object seen as ``struct`` shares its field tables with."""
        return self._templates.get(struct) or self._template(struct)

    def object_at(self, addr: int, what: str = "object") -> Any:
        """The object whose view starts at ``addr``; a fault naming ``what`` otherwise."""
        obj = self.objects.get(addr)
        if obj is None:
            obj = self.skbs.get(addr)
        if obj is None:
            if addr == 0:
                raise BpfFault(f"NULL passed as {what}")
            raise BpfFault(f"{addr:#x} is not a pointer to {what}")
        return obj

    def release(self, struct: str, obj: Any) -> None:
        """Unmap ``obj``'s view (the program no longer holds it, e.g. a freed skb)."""
        by_id = self._addr.get(struct)
        key = obj if obj.__class__ is SkBuff else id(obj)
        addr = None if by_id is None else by_id.pop(key, None)
        if addr is not None and struct == "sk_buff":
            del self.skbs[addr]  # no region: bound on access (Memory.bind_on_access)
        elif addr is not None:
            del self.objects[addr]
            del self._objects_of[struct][addr]
            rid = addr >> REGION_SHIFT  # a view address() mapped: Memory.unmap's work, no checks
            memory = self.memory
            del memory.regions[rid]
            view = memory.views.pop(rid)
            view.obj = None
            self._spare[struct].append(view)

    def struct_of(self, addr: int) -> str:
        """The struct name of the view at ``addr`` ('' when none)."""
        found = self.memory.region_at(addr)
        region = None if found is None else found[0]
        if region is None or addr & OFFSET_MASK or not isinstance(region, StructView):
            return ""
        return region.name

    def fields(self, struct: str) -> dict[int, Field]:
        """The field table every view of ``struct`` shares (embedded structs flattened)."""
        return self._template(struct).fields

    def _template(self, struct: str) -> StructView:
        template = self._templates.get(struct)
        if template is None:
            model = KERNEL_TYPES[struct]
            fields: dict[int, Field] = {}
            self._flatten(struct, 0, fields)
            template = StructView(struct, None, model.size, fields)
            self._templates[struct] = template
        return template

    def _view(self, struct: str, obj: Any) -> StructView:
        return self._template(struct).bind(obj)  # a view per skb costs one small object

    def _flatten(self, struct: str, base: int, out: dict[int, Field]) -> None:
        for f in KERNEL_TYPES[struct].fields:
            if f.attr is None:
                continue
            inner = f.struct
            if inner is not None:
                self._flatten(inner, base + f.offset, out)
                continue
            if f.size not in _SCALAR_SIZES or f.attr in _PACKET_POINTERS:
                continue  # arrays (skb->cb) are not bound field by field; packets: bpf_tcx
            getter = self._getter(f)
            plain = f.attr if isinstance(getter, attrgetter) else ""
            out[base + f.offset] = Field(f.size, getter, self._setter(f), f.name, attr=plain or "")

    def _getter(self, f: KField) -> Callable[[Any], int]:
        attr = f.attr or ""
        pointee = f.pointee
        if pointee is not None:
            if attr == "":
                return lambda obj: self.address(pointee, obj)
            return lambda obj: self.address(pointee, getattr(obj, attr, None))
        if attr == "@ethertype":
            return lambda obj: ETH_P_IP_BE
        if attr.startswith("@"):
            raise NotImplementedError(f"{f.name}: binding {attr} has no view yet")
        if f.unit == "jiffies":  # qdisclab keeps microseconds; the kernel field counts jiffies
            return lambda obj: getattr(obj, attr) * KCONFIG["CONFIG_HZ"] // 1_000_000
        return attrgetter(attr)  # dotted paths too; no Python frame per field read

    @staticmethod
    def _setter(f: KField) -> Callable[[Any, int], None] | None:
        if not (f.writable or f.derived):
            return None
        attr = f.attr or ""
        if f.derived and attr in _KEPT_BY_QDISCLAB:
            return ignored_write
        return lambda obj, value: setattr(obj, attr, value)
