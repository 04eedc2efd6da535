"""Objects from ``bpf_obj_new``: one record each, and the free list that reuses them.

An object a program allocates is its bytes (mapped as a writable region at an
address of its own), the ``__kptr`` fields in them and, for a shared object,
a reference count. :class:`Allocation` keeps all of it in one record, the
value of ``ProgramEnv.objects`` at the object's region id, so the kfuncs find
an object, its region and its fields' nodes with one lookup instead of one
table each.

A qdisc makes and drops one node per packet. Its usual node (one ``__kptr``
field, no ``bpf_refcount``) has a :class:`NodeLayout`, and a dropped node's
record goes onto that layout's free list: the next ``bpf_obj_new`` of the type
takes it back, zeroes its bytes and maps them at a *new* address, so a
pointer kept to the dropped node still names no region and faults, as it did
when every node was new (the id of a region is never given out twice). A
dropped record's ``base`` and ``field`` are -1, so no address matches a record
kept in hand (the translated kfuncs keep the last one they found).

A pooled node's bytes enter the memory's fast tables only once a program
reads or writes them in place: the first such access finds its region through
the record (``ProgramEnv``'s finder), maps the bytes (``mapped``) and marks
the layout ``accessed``, whose nodes are mapped when made from then on. A
FIFO's node, reached only through kfuncs, never is: making and dropping one
touches none of the memory's tables, only the env's entry for the object.

>>> from qdisclab.bpf.kptr_fields import KptrNode
>>> layout = NodeLayout("object fifo_node", 32, 24, pooled=True)
>>> obj = Allocation(bytearray(32), None, (24,), [KptrNode(True)], layout)
>>> obj.place(5 << 32); hex(obj.field), obj.node_at(obj.field) is obj.node
('0x500000018', True)
>>> obj.kptr[0] = 0x9_0000_0000; obj.data[24:].hex()  # the field's bytes, little-endian
'0000000009000000'
>>> odd = Allocation(bytearray(36), None, (32,), [KptrNode(True)], None)  # past the end
>>> odd.kptr[0] = 0  # packed, as the kfunc would: refused
Traceback (most recent call last):
struct.error: pack_into requires a buffer of at least 40 bytes for packing 8 bytes at offset 32 (actual buffer size is 36)
"""

from __future__ import annotations

import struct
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qdisclab.bpf.memory import BytesRegion
    from qdisclab.ops.collections import SkbNode


class NodeLayout:
    """A type of ``bpf_obj_new`` object with one ``__kptr`` field and no refcount.

    ``spare`` holds the records of dropped objects of the type for reuse when
    ``pooled`` (the env's nodes are registered as one, so a node needs no
    registration of its own and can serve again); otherwise it stays empty.
    ``accessed``: a program has read or written a node's bytes in place, so
    its nodes are mapped in the memory's fast tables when made.
    """

    __slots__ = ("accessed", "name", "offset", "pooled", "size", "spare", "zeros")

    def __init__(self, name: str, size: int, offset: int, pooled: bool) -> None:
        self.name = name
        self.size = size
        self.offset = offset  # of the __kptr field
        self.pooled = pooled
        self.zeros = bytes(size)  # what a reused object's bytes are reset to
        self.spare: list[Allocation] = []
        self.accessed = False


_U64 = struct.Struct("<Q")


class _PackedWord:
    """``word[0] = value``: a u64 packed little-endian at ``off`` of ``data`` (the general case)."""

    __slots__ = ("data", "off")

    def __init__(self, data: bytearray, off: int) -> None:
        self.data, self.off = data, off

    def __setitem__(self, index: int, value: int) -> None:
        _U64.pack_into(self.data, self.off + 8 * index, value)


def _word(data: bytearray, off: int) -> Any:
    """A view whose item 0 is the u64 at ``off`` of ``data``: a memoryview cast where it can be."""
    if sys.byteorder == "little" and off >= 0 and off + 8 <= len(data):
        return memoryview(data)[off : off + 8].cast("Q")  # native order is the little end
    return _PackedWord(data, off)


class Allocation:
    """One object from ``bpf_obj_new``: its bytes, their region, its ``__kptr`` fields.

    ``base`` is the object's address while it is mapped; ``offsets`` are its
    ``__kptr`` fields' offsets, ``nodes`` their nodes (the skbs they hold);
    ``field``/``node`` are the first field's address and node (-1 and None when
    it has none), what the kfuncs' common case checks, and ``field_off`` the
    field's offset (where it is written, not worked out from the address).
    ``layout`` is the :class:`NodeLayout` of a usual node (else None) and ``pool``
    the free list the record goes back to when dropped (its ``spare``, when
    pooled), or None; ``mapped``: its bytes are in the memory's fast tables;
    ``linked``: the node at its own address (its first member) is in a list.
    ``kptr[0] = value`` writes the first field's u64 in place (a view of its 8
    bytes: cheaper than packing them, which the kfuncs' common case does per packet).
    """

    __slots__ = (
        "base", "data", "field", "field_off", "kptr", "layout", "linked", "mapped", "node",
        "nodes", "offsets", "pool", "region",
    )  # fmt: skip

    def __init__(
        self,
        data: bytearray,
        region: BytesRegion | None,
        offsets: tuple[int, ...],
        nodes: list[SkbNode],
        layout: NodeLayout | None = None,
    ) -> None:
        self.data = data
        self.region = region
        self.offsets = offsets
        self.nodes = nodes
        self.node = nodes[0] if nodes else None
        self.layout = layout
        self.pool = layout.spare if layout is not None and layout.pooled else None
        self.mapped = False
        self.linked = False
        self.base = 0
        self.field = -1
        self.field_off = offsets[0] if offsets else -1
        self.kptr = _word(data, self.field_off)

    def place(self, base: int) -> None:
        """Record that the object is mapped at ``base``."""
        self.base = base
        self.field = base + self.offsets[0] if self.offsets else -1

    def unplace(self) -> None:
        """Record that the object is dropped: no address is its own any more."""
        self.base = self.field = -1
        self.linked = False

    def fields(self) -> list[int]:
        """The addresses of its ``__kptr`` fields, in field order."""
        return [self.base + off for off in self.offsets]

    def node_at(self, addr: int) -> SkbNode | None:
        """The node of the ``__kptr`` field at ``addr``, or None when no field starts there."""
        off = addr - self.base
        for i, field_off in enumerate(self.offsets):
            if field_off == off:
                return self.nodes[i]
        return None
