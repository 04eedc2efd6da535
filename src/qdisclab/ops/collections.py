"""Collections that own skbs: a list, an ordered tree, and nodes holding one skb.

These are the Python counterparts of ``bpf_list_head``, ``bpf_rb_root`` and a
``bpf_obj_new`` object with a ``struct sk_buff __kptr *`` field. Pushing
takes ownership from the running callback (``take``); popping gives it back
(``give``). A collection created inside a callback registers with that
callback's instance, so the infrastructure can find every skb an instance
holds (to contain a faulty instance, or to free leftovers at destroy).

>>> from qdisclab.ops.ownership import RUNNING, Frame
>>> from qdisclab.skb import SkBuff
>>> q = SkbList()
>>> RUNNING.frame = frame = Frame("demo", "enqueue", None)
>>> skb = SkBuff(100, 1, 2, 3, 4, 17, 0); skb.owner = frame
>>> q.push_back(skb); len(q), skb.owner is q
(1, True)
>>> q.pop_front() is skb and skb.owner is frame
True
>>> frame.acquired.clear(); RUNNING.frame = None
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterator
from heapq import heappop, heappush
from itertools import count
from typing import Generic, Protocol, TypeVar

from mypy_extensions import mypyc_attr

from qdisclab.ops.ownership import POLICY_OFF, RUNNING, give, take, violation
from qdisclab.skb import SkBuff

_FIRST_SWEEP = 64  # collections registered before the first sweep


class SkbHolder(Protocol):
    """A collection ``Storage`` keeps track of: it can list and give up the skbs it owns."""

    def held(self) -> list[SkBuff]: ...

    def release_all(self) -> list[SkBuff]: ...

    def __bool__(self) -> bool: ...


class Storage:
    """The collections one extension instance created, with a lifetime.

    The infrastructure finds every skb an instance holds here (to contain a
    faulty instance, or to free leftovers at destroy). A collection leaves
    when it is freed (``free()``, as ``bpf_obj_drop``) or when it is empty and
    nothing but this registry refers to it: ``add`` sweeps those out whenever
    the registry has doubled since the last sweep, so an instance that keeps
    creating collections (a rehashing SFQ) holds a bounded number, at an
    amortised O(1) cost and nothing on the per-packet path.

    >>> st = Storage()
    >>> for _ in range(1000):
    ...     st.add(SkbList())
    >>> len(st) < 100
    True
    """

    __slots__ = ("_items", "_sweep_at")

    def __init__(self) -> None:
        self._items: list[SkbHolder] = []
        self._sweep_at = _FIRST_SWEEP

    def add(self, collection: SkbHolder) -> None:
        items = self._items
        items.append(collection)
        if len(items) >= self._sweep_at:
            self.sweep()

    def discard(self, collection: SkbHolder) -> None:
        items = self._items
        for i, c in enumerate(items):
            if c is collection:
                del items[i]
                return

    def sweep(self) -> None:
        """Drop the collections that are empty and referred to by nothing else."""
        # Referrers of an unreachable collection while being tested: the list, the loop
        # variable and getrefcount's own argument.
        getrefcount = sys.getrefcount
        self._items = [c for c in self._items if c or getrefcount(c) > _UNREACHABLE_REFS]
        self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._items))

    def release_all(self) -> list[SkBuff]:
        """Infrastructure only: empty every collection, returning the skbs they held."""
        held: list[SkBuff] = []
        for collection in self._items:
            held.extend(collection.release_all())
        return held

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[SkbHolder]:
        return iter(self._items)


def _unreachable_refs() -> int:
    # Measured with the very construct ``sweep`` uses, so it holds on any CPython.
    getrefcount = sys.getrefcount
    return [getrefcount(c) for c in [object()]][0]  # noqa: RUF015  (the same construct)


_UNREACHABLE_REFS = _unreachable_refs()


def _register_storage(collection: SkbHolder) -> bool:
    """Attach a new collection to the running instance; returns whether to check ownership."""
    frame = RUNNING.frame
    if frame is None or frame.instance is None:
        return True
    instance = frame.instance
    instance.storage.add(collection)
    return instance.policy != POLICY_OFF


def _free(collection: SkbHolder) -> None:
    """``bpf_obj_drop``: release an empty collection now; holding skbs is a violation."""
    held = collection.held()
    if held:
        raise violation(
            RUNNING.frame, held[0], f"{type(collection).__name__}.free(): freed while holding "
            f"{len(held)} skb(s) (pop or drop them first)"
        )  # fmt: skip
    frame = RUNNING.frame
    if frame is not None and frame.instance is not None:
        frame.instance.storage.discard(collection)


class SkbList:
    """FIFO/LIFO list of owned skbs (``bpf_list_push_back`` / ``bpf_list_pop_front`` ...)."""

    __slots__ = ("_checked", "_q")

    def __init__(self) -> None:
        self._q: deque[SkBuff] = deque()
        self._checked = _register_storage(self)

    def push_back(self, skb: SkBuff) -> None:
        if self._checked:
            frame = RUNNING.frame
            if skb.owner is not frame or frame is None:
                take(skb, self, "push_back")  # raises the right diagnostic
            skb.owner = self
        self._q.append(skb)

    def push_front(self, skb: SkBuff) -> None:
        if self._checked:
            take(skb, self, "push_front")
        self._q.appendleft(skb)

    def pop_front(self) -> SkBuff | None:
        q = self._q
        if not q:
            return None
        skb = q.popleft()
        if self._checked:
            frame = RUNNING.frame
            skb.owner = frame
            if frame is not None:
                frame.acquired.append(skb)
        return skb

    def pop_back(self) -> SkBuff | None:
        q = self._q
        if not q:
            return None
        skb = q.pop()
        if self._checked:
            give(skb)
        return skb

    def peek_front(self) -> SkBuff | None:
        """The head skb, still owned by the list (read-only access)."""
        q = self._q
        return q[0] if q else None

    def peek_back(self) -> SkBuff | None:
        q = self._q
        return q[-1] if q else None

    def __len__(self) -> int:
        return len(self._q)

    def __bool__(self) -> bool:
        return bool(self._q)

    def __iter__(self) -> Iterator[SkBuff]:
        """Read-only iteration (for dumps and tests); ownership does not move."""
        return iter(self._q)

    def held(self) -> list[SkBuff]:
        return list(self._q)

    def free(self) -> None:
        """Release this (empty) list now (``bpf_obj_drop``); holding skbs is a violation."""
        _free(self)

    def release_all(self) -> list[SkBuff]:
        """Infrastructure only: empty the list, returning what it held (owner untouched)."""
        items = list(self._q)
        self._q.clear()
        return items


Key = TypeVar("Key")
Item = TypeVar("Item")


class SkbRbTree(Generic[Key, Item]):
    """Items ordered by a key (rank, time): ``bpf_rbtree_add`` / ``first`` / ``remove``.

    An item is an skb (ownership moves into the tree, as an skb node's kptr)
    or a plain node object that owns skbs itself, e.g. a flow holding an
    ``SkbList`` (as ``bpf_qdisc_fq.c`` keeps its flows in an rbtree): the tree
    orders nodes, the node's own collections own the skbs. Type it by key and
    item: ``SkbRbTree[int, SkBuff]`` orders skbs by an int time.

    A binary heap with lazy removal: add and pop are O(log n), removing an
    arbitrary item is O(1) (it is skipped when it surfaces). Equal keys keep
    insertion order, so runs stay deterministic.
    """

    __slots__ = ("_checked", "_entries", "_heap", "_seq")

    def __init__(self) -> None:
        # A heap entry is [key, insertion number, item]; the item is None once removed.
        self._heap: list[list[object]] = []
        self._entries: dict[Item, list[object]] = {}  # live item -> its heap entry
        self._seq = count().__next__
        self._checked = _register_storage(self)

    def add(self, key: Key, item: Item) -> None:
        """Insert ``item`` (an owned skb, or a node) at ``key``."""
        if isinstance(item, SkBuff):
            if self._checked:
                take(item, self, "rbtree add")
            else:
                item.owner = self
        elif item in self._entries:
            raise violation(RUNNING.frame, None, "rbtree add: node is already in this tree")
        entry: list[object] = [key, self._seq(), item]
        self._entries[item] = entry
        heappush(self._heap, entry)  # lists compare element-wise

    def _top(self) -> list[object] | None:
        heap = self._heap
        while heap:
            entry = heap[0]
            if entry[2] is not None:
                return entry
            heappop(heap)
        return None

    def first_key(self) -> Key | None:
        """Key of the smallest entry, or None when empty."""
        entry = self._top()
        return None if entry is None else entry[0]  # type: ignore[return-value]

    def first(self) -> Item | None:
        """The smallest item, still in the tree (an skb stays owned by the tree)."""
        entry = self._top()
        return None if entry is None else entry[2]  # type: ignore[return-value]

    def pop_first(self) -> Item | None:
        entry = self._top()
        if entry is None:
            return None
        heappop(self._heap)
        item: Item = entry[2]  # type: ignore[assignment]
        del self._entries[item]
        self._hand_out(item)
        return item

    def remove(self, item: Item) -> Item:
        """Remove a specific item that is in this tree (``bpf_rbtree_remove``)."""
        entry = self._entries.pop(item, None)
        if entry is None:
            raise violation(RUNNING.frame, item, "rbtree remove: item is not in this tree")
        entry[2] = None  # skipped when it surfaces
        self._hand_out(item)
        return item

    def _hand_out(self, item: Item) -> None:
        if isinstance(item, SkBuff):
            if self._checked:
                give(item)
            else:
                item.owner = None

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def __contains__(self, item: object) -> bool:
        return item in self._entries

    def held(self) -> list[SkBuff]:
        """The skbs the tree itself owns, in key order (a node's skbs are its own)."""
        ordered = sorted(self._entries.values(), key=_entry_order)
        return [e[2] for e in ordered if isinstance(e[2], SkBuff)]

    def free(self) -> None:
        """Release this tree now (``bpf_obj_drop``); holding skbs is a violation."""
        _free(self)

    def release_all(self) -> list[SkBuff]:
        items = self.held()
        self._heap.clear()
        self._entries.clear()
        return items


def _entry_order(entry: list[object]) -> list[object]:
    return entry[:2]  # key, then insertion number


@mypyc_attr(allow_interpreted_subclasses=True)  # an object with fields of its own
class SkbNode:
    """An allocated object with one ``sk_buff __kptr`` field (``bpf_obj_new`` + kptr).

    Subclass it to add fields (``__slots__``). ``kptr_xchg`` swaps the stored
    skb with a new one (or None) and returns the old one, owned by the caller.
    """

    __slots__ = ("_checked", "_skb")

    def __init__(self) -> None:
        self._skb: SkBuff | None = None
        self._checked = _register_storage(self)

    def kptr_xchg(self, skb: SkBuff | None) -> SkBuff | None:
        if skb is not None:
            if self._checked:
                take(skb, self, "kptr_xchg")
            else:
                skb.owner = self
        old = self._skb
        self._skb = skb
        if old is not None:
            if self._checked:
                give(old)
            else:
                old.owner = None
        return old

    @property
    def skb(self) -> SkBuff | None:
        """Read-only view of the stored skb (ownership stays with the node)."""
        return self._skb

    def __bool__(self) -> bool:
        return self._skb is not None

    def free(self) -> None:
        """Release this node now (``bpf_obj_drop``); holding an skb is a violation."""
        _free(self)

    def held(self) -> list[SkBuff]:
        skb = self._skb
        return [skb] if skb is not None and skb.owner is self else []

    def release_all(self) -> list[SkBuff]:
        items = self.held()
        self._skb = None
        return items
