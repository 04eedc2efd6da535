"""The ``__kptr`` fields of one qdisc's objects: one :class:`KptrNode` each, one storage entry for all.

A Python policy's :class:`~qdisclab.ops.collections.SkbNode` registers with
its instance's storage when it is made and leaves it when it is freed, so
containment finds every skb the instance holds. A BPF qdisc makes and drops
one node per packet (``bpf_obj_new`` on enqueue, ``bpf_obj_drop`` on
dequeue): here the qdisc's environment keeps its objects in one table
(``ProgramEnv.objects``, region id -> :class:`~qdisclab.bpf.allocations.Allocation`,
whose ``nodes`` are its fields') and registers that table once, as
:class:`KptrFields`, so a node costs no storage bookkeeping of its own.
Ownership moves exactly as in ``SkbNode.kptr_xchg`` (the same checks, the
same diagnostics from :func:`~qdisclab.ops.ownership.take`), and dropping a
node that still holds its skb is the same violation.

>>> from qdisclab.ops.ownership import RUNNING, Frame
>>> from qdisclab.skb import SkBuff
>>> RUNNING.frame = frame = Frame("demo", "enqueue", None)
>>> skb = SkBuff(100, 1, 2, 3, 4, 17, 0); skb.owner = frame
>>> node = KptrNode(True)
>>> class Obj: nodes = [node]
>>> objects = {1 << 32: Obj()}
>>> node.kptr_xchg(skb) is None and skb.owner is node
True
>>> bool(KptrFields(objects)), KptrFields(objects).held() == [skb]
(True, True)
>>> node.kptr_xchg(None) is skb and skb.owner is frame
True
>>> frame.acquired.clear(); RUNNING.frame = None
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from qdisclab.ops.collections import SkbNode
from qdisclab.ops.ownership import RUNNING, take
from qdisclab.skb import SkBuff


class HasNodes(Protocol):
    """An object whose ``__kptr`` fields' nodes are ``nodes`` (an ``Allocation``)."""

    @property
    def nodes(self) -> list[SkbNode]: ...


class KptrNode(SkbNode):
    """An ``sk_buff __kptr`` field of an object from ``bpf_obj_new``, in its table.

    ``checked``: whether ownership is checked (the instance's policy is not ``off``).
    """

    __slots__ = ()

    def __init__(self, checked: bool) -> None:
        self._skb = None
        self._checked = checked  # no storage registration: the table is registered once

    def kptr_xchg(self, skb: SkBuff | None) -> SkBuff | None:
        """``SkbNode.kptr_xchg`` with ``take``'s and ``give``'s common case in place."""
        frame = RUNNING.frame
        if skb is not None:
            if self._checked and (skb.owner is not frame or frame is None):
                take(skb, self, "kptr_xchg")  # raises the diagnostic
            skb.owner = self
        old = self._skb
        self._skb = skb
        if old is not None:
            if self._checked:
                old.owner = frame
                if frame is not None:
                    frame.acquired.append(old)
            else:
                old.owner = None
        return old

    def free(self) -> None:
        """Release the node (``bpf_obj_drop``); holding an skb is ``SkbNode.free``'s violation."""
        if self._skb is not None:
            SkbNode.free(self)  # raises when the node still owns it


class KptrFields:
    """The nodes of one environment's ``__kptr`` fields, as one collection of the instance.

    What containment and destroy ask a collection (``held``, ``release_all``)
    answered for every node of every object in the table, in the order the
    objects were made.
    """

    __slots__ = ("objects",)

    def __init__(self, objects: Mapping[int, HasNodes]) -> None:
        self.objects = objects

    def held(self) -> list[SkBuff]:
        return [skb for obj in self.objects.values() for node in obj.nodes for skb in node.held()]

    def release_all(self) -> list[SkBuff]:
        """Infrastructure only: empty every field, returning the skbs they held."""
        out: list[SkBuff] = []
        for obj in self.objects.values():
            for node in obj.nodes:
                out.extend(node.release_all())
        return out

    def __bool__(self) -> bool:
        return any(node for obj in self.objects.values() for node in obj.nodes)
