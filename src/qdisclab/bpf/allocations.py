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
when every node was new (the id of a region is never given out twice).

>>> from qdisclab.bpf.kptr_fields import KptrNode
>>> layout = NodeLayout("object fifo_node", 32, 24, pooled=True)
>>> obj = Allocation(bytearray(32), None, (24,), [KptrNode(True)], layout.spare)
>>> obj.place(5 << 32); hex(obj.field), obj.node_at(obj.field) is obj.node
('0x500000018', True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qdisclab.bpf.memory import BytesRegion
    from qdisclab.ops.collections import SkbNode


class NodeLayout:
    """A type of ``bpf_obj_new`` object with one ``__kptr`` field and no refcount.

    ``spare`` holds the records of dropped objects of the type for reuse when
    ``pooled`` (the env's nodes are registered as one, so a node needs no
    registration of its own and can serve again); otherwise it stays empty.
    """

    __slots__ = ("name", "offset", "pooled", "size", "spare", "zeros")

    def __init__(self, name: str, size: int, offset: int, pooled: bool) -> None:
        self.name = name
        self.size = size
        self.offset = offset  # of the __kptr field
        self.pooled = pooled
        self.zeros = bytes(size)  # what a reused object's bytes are reset to
        self.spare: list[Allocation] = []


class Allocation:
    """One object from ``bpf_obj_new``: its bytes, their region, its ``__kptr`` fields.

    ``base`` is the object's address while it is mapped; ``offsets`` are its
    ``__kptr`` fields' offsets, ``nodes`` their nodes (the skbs they hold);
    ``field``/``node`` are the first field's address and node (-1 and None when
    it has none), what the kfuncs' common case checks, and ``field_off`` the
    field's offset (where it is written, not worked out from the address).
    ``pool`` is the free list the record goes back to when dropped, or None.
    """

    __slots__ = ("base", "data", "field", "field_off", "node", "nodes", "offsets", "pool", "region")

    def __init__(
        self,
        data: bytearray,
        region: BytesRegion | None,
        offsets: tuple[int, ...],
        nodes: list[SkbNode],
        pool: list[Allocation] | None,
    ) -> None:
        self.data = data
        self.region = region
        self.offsets = offsets
        self.nodes = nodes
        self.node = nodes[0] if nodes else None
        self.pool = pool
        self.base = 0
        self.field = -1
        self.field_off = offsets[0] if offsets else -1

    def place(self, base: int) -> None:
        """Record that the object is mapped at ``base``."""
        self.base = base
        self.field = base + self.offsets[0] if self.offsets else -1

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
