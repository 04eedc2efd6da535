"""Bounds-checked memory for BPF programs: regions behind 64-bit addresses.

An address is ``region_id << 32 | offset``. Region 0 is never mapped, so a
null pointer (or a small integer used as one) faults as a null dereference;
regions get every other id, so stepping below a region's start lands in an
unmapped guard id; stack frames have ids of their own, the same in every
engine. An access past a region's end, to an unmapped or freed region, or a
write to a read-only one raises :class:`~qdisclab.bpf.fault.BpfFault`
naming the instruction that did it.

Two kinds of region:

* :class:`BytesRegion` — plain bytes: stack frames, packet data
  (``skb.payload``), map values, global data, objects from ``bpf_obj_new``.
* :class:`StructView` — a kernel struct as qdisclab models it: loads and
  stores go to attributes of a Python object through a field table
  ``offset -> Field(size, getter, setter)``; a field without a setter is
  read only, and an access that does not fall inside one field faults.

>>> mem = Memory()
>>> addr = mem.map(BytesRegion("value", bytearray(8)))
>>> mem.store(addr + 4, 4, 0xDEADBEEF, pc=0)
>>> hex(mem.load(addr, 8, pc=1))
'0xdeadbeef00000000'
>>> mem.load(0, 4, pc=2)
Traceback (most recent call last):
...
qdisclab.bpf.fault.BpfFault: bpf: insn 2: null pointer dereference (read of 4 bytes at 0x0)
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from mypy_extensions import mypyc_attr

from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.isa import MAX_BPF_STACK, MAX_CALL_FRAMES

REGION_SHIFT = 32
OFFSET_MASK = (1 << REGION_SHIFT) - 1
NULL_PAGE = 4096  # addresses below this fault as null dereferences
STACK_REGION = 0x7FFF_0000  # region id of frame 0; frame d at STACK_REGION + 2 * d
_PACKERS = {n: struct.Struct(f"<{c}") for n, c in ((1, "B"), (2, "H"), (4, "I"), (8, "Q"))}
_UNPACK = {n: s.unpack_from for n, s in _PACKERS.items()}
_PACK = {n: s.pack_into for n, s in _PACKERS.items()}
_MASK = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: 0xFFFF_FFFF_FFFF_FFFF}


@mypyc_attr(allow_interpreted_subclasses=True)  # the tc and cc views extend StructView
class Region:
    """A mapped area of ``size`` bytes; subclasses say how bytes are held."""

    __slots__ = ("name", "size", "writable")

    def __init__(self, name: str, size: int, writable: bool) -> None:
        self.name = name
        self.size = size
        self.writable = writable

    def load(self, off: int, size: int, pc: int) -> int:
        raise NotImplementedError

    def store(self, off: int, size: int, value: int, pc: int) -> None:
        raise NotImplementedError

    def _out_of_bounds(self, what: str, off: int, size: int, pc: int) -> BpfFault:
        return BpfFault(
            f"out-of-bounds {what} of {size} bytes at offset {off} of {self.name} "
            f"({self.size} bytes)",
            pc=pc,
        )


class BytesRegion(Region):
    """Memory held as bytes; ``bytes`` data (or ``writable=False``) is read only.

    >>> r = BytesRegion("stack", bytearray(16))
    >>> r.store(8, 2, 0x1234, pc=0); r.load(8, 1, pc=0)
    52
    """

    __slots__ = ("data",)

    def __init__(
        self, name: str, data: bytearray | bytes | memoryview, writable: bool | None = None
    ) -> None:
        if writable is None:
            writable = not isinstance(data, bytes)
        # Region's fields set here directly: one per bpf_obj_new, so no super() call.
        self.name, self.size, self.writable = name, len(data), writable
        self.data = data

    def load(self, off: int, size: int, pc: int) -> int:
        if off + size > self.size:
            raise self._out_of_bounds("read", off, size, pc)
        value: int = _UNPACK[size](self.data, off)[0]
        return value

    def store(self, off: int, size: int, value: int, pc: int) -> None:
        if off + size > self.size:
            raise self._out_of_bounds("write", off, size, pc)
        if not self.writable:
            raise BpfFault(f"write of {size} bytes to read-only {self.name}", pc=pc)
        _PACK[size](self.data, off, value & _MASK[size])


class Field(NamedTuple):
    """One modelled field of a kernel struct: its width and how to reach it.

    ``getter(obj)`` returns the field as an unsigned or signed int (it is
    truncated to ``size`` bytes); ``setter(obj, value)`` receives the stored
    value unsigned; ``setter=None`` makes the field read only.

    ``pointer=True`` marks a context field the kernel rewrites into a
    pointer load (``__sk_buff.data``, ``data_end``): a whole-field load
    returns the getter's full 64-bit address, as the rewritten load would.
    ``attr`` names the attribute path the getter reads (``q.qlen``) when it
    is nothing more than that read, so the translator can write it in place.
    """

    size: int
    getter: Callable[[Any], int]
    setter: Callable[[Any, int], None] | None = None
    name: str = ""
    pointer: bool = False
    attr: str = ""


@mypyc_attr(allow_interpreted_subclasses=True)  # SkBuffView, SockView
class StructView(Region):
    """A kernel struct whose fields are attributes of a Python object.

    Loads may read a whole field or a narrower part of one (little-endian,
    as the kernel allows narrow context loads); stores must write a whole
    writable field. Every access a field allows is worked out once, when
    the view's layout is built (``loads``/``stores``, keyed by
    ``offset << 4 | size``), and :meth:`bind` gives another object the same
    layout at the cost of one small object.

    >>> class Obj: qlen = 3
    >>> v = StructView("Qdisc", Obj(), 64, {16: Field(4, lambda o: o.qlen, None, "q.qlen")})
    >>> v.load(16, 4, pc=0), v.load(16, 1, pc=0)
    (3, 3)
    """

    __slots__ = ("_by_byte", "fields", "loads", "obj", "stores")
    obj: object
    fields: dict[int, Field]
    _by_byte: dict[int, tuple[int, Field]]
    # offset << 4 | size -> (getter, shift, mask): the access's value is
    # (getter(obj) >> shift) & mask, the same as masking to the field's
    # width first, since a narrow load never reaches past its field.
    loads: dict[int, tuple[Callable[[Any], int], int, int]]
    stores: dict[int, Callable[[Any, int], None]]  # whole writable fields

    def __init__(
        self,
        name: str,
        obj: object,
        size: int,
        fields: dict[int, Field],
        like: StructView | None = None,
    ) -> None:
        self.obj = obj
        if like is not None:  # bind: the layout shared, nothing worked out again
            self.name, self.size, self.writable = like.name, like.size, like.writable
            self.fields, self._by_byte = like.fields, like._by_byte
            self.loads, self.stores = like.loads, like.stores
            return
        super().__init__(name, size, any(f.setter for f in fields.values()))
        self.fields = fields
        self._by_byte = {}
        self.loads = {}
        self.stores = {}
        for start, f in sorted(fields.items()):
            if start < 0 or start + f.size > size or f.size not in _MASK:
                raise ValueError(f"{name}: field at offset {start} does not fit")
            for b in range(start, start + f.size):
                if b in self._by_byte:
                    raise ValueError(f"{name}: fields overlap at offset {b}")
                self._by_byte[b] = (start, f)
            for part in (n for n in _MASK if n <= f.size):
                for off in range(start, start + f.size - part + 1):
                    self.loads[off << 4 | part] = (f.getter, 8 * (off - start), _MASK[part])
            if f.pointer:
                self.loads[start << 4 | f.size] = (f.getter, 0, _MASK[8])
            if f.setter is not None:
                self.stores[start << 4 | f.size] = f.setter

    def bind(self, obj: object) -> StructView:
        """A view of ``obj`` sharing this view's layout (name, size, field tables)."""
        return StructView(self.name, obj, self.size, self.fields, self)

    def field_at(self, off: int) -> tuple[int, Field] | None:
        """The start and the field holding byte ``off``, or None."""
        return self._by_byte.get(off)

    def _field(self, what: str, off: int, size: int, pc: int) -> tuple[int, Field]:
        if off + size > self.size:
            raise self._out_of_bounds(what, off, size, pc)
        hit = self._by_byte.get(off)
        if hit is None or off + size > hit[0] + hit[1].size:
            raise BpfFault(
                f"{what} of {size} bytes at offset {off} of {self.name} is not a modelled field",
                pc=pc,
            )
        return hit

    def load(self, off: int, size: int, pc: int) -> int:
        access = self.loads.get(off << 4 | size)
        if access is None:
            self._field("read", off, size, pc)  # raises: out of bounds or not a field
            raise AssertionError("unreachable")
        getter, shift, mask = access
        return (getter(self.obj) >> shift) & mask

    def store(self, off: int, size: int, value: int, pc: int) -> None:
        setter = self.stores.get(off << 4 | size)
        if setter is not None:
            setter(self.obj, value & _MASK[size])
            return
        start, f = self._field("write", off, size, pc)
        label = f.name or f"offset {start}"
        if f.setter is None:
            raise BpfFault(f"write to read-only field {label} of {self.name}", pc=pc)
        raise BpfFault(
            f"partial write ({size} bytes at offset {off}) of field {label} of {self.name}",
            pc=pc,
        )


def ignored_write(obj: object, value: int) -> None:
    """The setter of a field a program may write but qdisclab keeps itself (``sch->q.qlen``).

    One shared function, so the translator can recognise it and skip the call.
    """


class Memory:
    """The address space of one loaded program: mapped regions and stack frames.

    ``load``/``store`` take the faulting instruction's slot ``pc`` so a fault
    names it. Stack frames (one 512-byte region per call depth) are mapped
    once and reused; ``frame_pointer(depth)`` is the R10 of that frame.
    """

    __slots__ = (
        "_bound",
        "_finders",
        "_frames",
        "next_id",
        "readable",
        "regions",
        "views",
        "writable",
    )

    def __init__(self) -> None:
        self.regions: dict[int, Region] = {}
        # The bytes of plain byte regions by id, readable and writable ones,
        # and the struct views by id, so translated code can reach them
        # without going through the region's methods.
        self.readable: dict[int, bytes | bytearray | memoryview] = {}
        self.writable: dict[int, bytearray | memoryview] = {}
        self.views: dict[int, StructView] = {}
        # The id the next region gets; one that maps in place (a per-packet caller)
        # takes it and adds 2, as map does.
        self.next_id = 1
        self._frames: list[int] = []
        # Objects by view address whose views are bound when an access needs one (see
        # bind_on_access), and how to get the layout they share.
        self._bound: list[tuple[dict[int, Any], Callable[[], StructView]]] = []
        # ... and what finds the region of writable bytes mapped without one (map_found_bytes)
        self._finders: list[Callable[[int], Region | None]] = []

    def bind_on_access(self, objects: dict[int, Any], layout: Callable[[], StructView]) -> None:
        """Treat every ``address -> obj`` of ``objects`` as a mapped view of ``obj``.

        The address is a region's base (an id from ``next_id``) but no region is
        mapped there: an access that finds no region binds ``layout()`` to the
        object, so mapping one is one entry in ``objects`` and unmapping is
        deleting it (an skb, mapped and unmapped once per packet). Translated code
        reaches such an object through ``objects`` itself, by address.
        """
        self._bound.append((objects, layout))

    def find_on_access(self, find: Callable[[int], Region | None]) -> None:
        """Let ``find(addr)`` name the region holding ``addr`` when ``regions`` has none:
        the bytes :meth:`map_found_bytes` maps are reached through it."""
        self._finders.append(find)

    def _bound_view(self, addr: int) -> Region | None:
        """The region at ``addr`` that is not in ``regions``: a view of an object
        :meth:`bind_on_access` knows, or what a finder finds; None when none is."""
        base = addr & ~OFFSET_MASK
        for objects, layout in self._bound:
            obj = objects.get(base)
            if obj is not None:
                return layout().bind(obj)
        for find in self._finders:
            region = find(addr)
            if region is not None:
                return region
        return None

    def map(self, region: Region) -> int:
        """Map ``region``; returns its base address.

        A :class:`BytesRegion`'s ``writable`` is read here: change it after
        mapping and the fast paths will not see it.
        """
        rid = self.next_id
        self.next_id += 2  # the id in between stays unmapped: a guard
        self._map_at(rid, region)
        return rid << REGION_SHIFT

    def map_view(self, view: StructView) -> int:
        """``map(view)`` for a struct view (one per skb a program sees)."""
        rid = self.next_id
        self.next_id += 2
        self.regions[rid] = self.views[rid] = view
        return rid << REGION_SHIFT

    def _map_at(self, rid: int, region: Region) -> None:
        self.regions[rid] = region
        if isinstance(region, BytesRegion):
            self.readable[rid] = region.data
            if region.writable:
                self.writable[rid] = region.data  # type: ignore[assignment]
        elif isinstance(region, StructView):
            self.views[rid] = region

    def map_bytes(self, name: str, data: bytearray) -> int:
        """``map(BytesRegion(name, data))`` for writable bytes, without the checks (hot paths)."""
        rid = self.next_id
        self.next_id += 2
        self.regions[rid] = BytesRegion(name, data, True)
        self.readable[rid] = self.writable[rid] = data
        return rid << REGION_SHIFT

    def map_bytes_region(self, region: BytesRegion) -> int:
        """``map(region)`` for a writable region mapped before and unmapped since (a reused
        ``bpf_obj_new`` object): a new address, without the checks (hot paths)."""
        rid = self.next_id
        self.next_id += 2
        self.regions[rid] = region
        self.readable[rid] = self.writable[rid] = region.data  # type: ignore[assignment]
        return rid << REGION_SHIFT

    def new_address(self) -> int:
        """A new region's address with nothing mapped there: a finder
        (:meth:`find_on_access`) answers for it (a reused ``bpf_obj_new`` object: one per
        packet), until its bytes are mapped in place (:meth:`map_found_bytes`)."""
        rid = self.next_id
        self.next_id += 2
        return rid << REGION_SHIFT

    def map_found_bytes(self, addr: int, data: bytearray) -> None:
        """Read and write writable ``data``, the region a finder gives for ``addr``, in
        place from now on (no ``regions`` entry: the finder still gives the region)."""
        rid = addr >> REGION_SHIFT
        self.readable[rid] = self.writable[rid] = data

    def unmap_found_bytes(self, addr: int) -> None:
        """Unmap bytes :meth:`map_found_bytes` mapped at ``addr`` (the finder must stop
        finding them too)."""
        rid = addr >> REGION_SHIFT
        del self.readable[rid], self.writable[rid]

    def unmap(self, addr: int) -> Region:
        """Unmap the region at base ``addr`` (later accesses fault as unmapped)."""
        rid = addr >> REGION_SHIFT
        region = self.regions.pop(rid, None)
        if region is None or addr & OFFSET_MASK:
            if region is not None:
                self.regions[rid] = region
            raise BpfFault(f"unmap of {addr:#x}: no region starts there")
        if self.views.pop(rid, None) is None:
            self.readable.pop(rid, None)
            self.writable.pop(rid, None)
        return region

    def unmap_bytes(self, addr: int) -> None:
        """``unmap(addr)`` of a writable region :meth:`map_bytes` mapped (no checks: hot paths)."""
        rid = addr >> REGION_SHIFT
        del self.regions[rid], self.readable[rid], self.writable[rid]

    def region_at(self, addr: int) -> tuple[Region, int] | None:
        """The region holding ``addr`` and the offset in it, or None."""
        region = self.regions.get(addr >> REGION_SHIFT)
        if region is None:
            region = self._bound_view(addr)
        return None if region is None else (region, addr & OFFSET_MASK)

    def frame_pointer(self, depth: int) -> int:
        """R10 of a frame at call ``depth`` (0 = the program's own frame)."""
        frames = self._frames
        while len(frames) <= depth:
            if len(frames) >= MAX_CALL_FRAMES:
                raise BpfFault(f"call stack deeper than {MAX_CALL_FRAMES} frames")
            rid = STACK_REGION + 2 * len(frames)
            self._map_at(rid, BytesRegion(f"stack frame {len(frames)}", bytearray(MAX_BPF_STACK)))
            frames.append((rid << REGION_SHIFT) + MAX_BPF_STACK)
        return frames[depth]

    def _bad_address(self, what: str, addr: int, size: int, pc: int) -> BpfFault:
        if addr < NULL_PAGE:
            return BpfFault(
                f"null pointer dereference ({what} of {size} bytes at {addr:#x})", pc=pc
            )
        return BpfFault(f"invalid address {addr:#x} ({what} of {size} bytes, not mapped)", pc=pc)

    def load(self, addr: int, size: int, pc: int = -1) -> int:
        """Read ``size`` (1, 2, 4, 8) bytes at ``addr`` as an unsigned int."""
        region = self.regions.get(addr >> REGION_SHIFT)
        if region is None:
            region = self._bound_view(addr)
            if region is None:
                raise self._bad_address("read", addr, size, pc)
        return region.load(addr & OFFSET_MASK, size, pc)

    def store(self, addr: int, size: int, value: int, pc: int = -1) -> None:
        """Write the low ``size`` bytes of ``value`` at ``addr``."""
        region = self.regions.get(addr >> REGION_SHIFT)
        if region is None:
            region = self._bound_view(addr)
            if region is None:
                raise self._bad_address("write", addr, size, pc)
        region.store(addr & OFFSET_MASK, size, value, pc)

    def read_bytes(self, addr: int, n: int) -> bytes:
        """``n`` bytes from ``addr`` (for helpers taking a buffer)."""
        return bytes(self.load(addr + i, 1) for i in range(n))

    def write_bytes(self, addr: int, data: bytes) -> None:
        """Write ``data`` at ``addr`` byte by byte (for helpers filling a buffer)."""
        for i, b in enumerate(data):
            self.store(addr + i, 1, b)
