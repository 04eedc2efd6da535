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

from collections import deque
from collections.abc import Iterator
from heapq import heappop, heappush
from itertools import count
from typing import Any

from qdisclab.ops.ownership import POLICY_OFF, RUNNING, give, take, violation
from qdisclab.skb import SkBuff


def _register_storage(collection: Any) -> bool:
    """Attach a new collection to the running instance; returns whether to check ownership."""
    frame = RUNNING.frame
    if frame is None or frame.instance is None:
        return True
    instance = frame.instance
    instance.storage.append(collection)
    return instance.policy != POLICY_OFF


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

    def release_all(self) -> list[SkBuff]:
        """Infrastructure only: empty the list, returning what it held (owner untouched)."""
        items = list(self._q)
        self._q.clear()
        return items


class SkbRbTree:
    """skbs ordered by a key (rank, time): ``bpf_rbtree_add`` / ``first`` / ``remove``.

    A binary heap with lazy removal: add and pop are O(log n), removing an
    arbitrary skb is O(1) (it is skipped when it surfaces). Equal keys keep
    insertion order, so runs stay deterministic.
    """

    __slots__ = ("_checked", "_entries", "_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[list[Any]] = []
        self._entries: dict[SkBuff, list[Any]] = {}  # live skb -> its heap entry
        self._seq = count().__next__
        self._checked = _register_storage(self)

    def add(self, key: Any, skb: SkBuff) -> None:
        if self._checked:
            take(skb, self, "rbtree add")
        else:
            skb.owner = self
        entry = [key, self._seq(), skb]
        self._entries[skb] = entry
        heappush(self._heap, entry)

    def _top(self) -> list[Any] | None:
        heap = self._heap
        while heap:
            entry = heap[0]
            if entry[2] is not None:
                return entry
            heappop(heap)
        return None

    def first_key(self) -> Any:
        """Key of the smallest entry, or None when empty."""
        entry = self._top()
        return None if entry is None else entry[0]

    def first(self) -> SkBuff | None:
        """The smallest skb, still owned by the tree."""
        entry = self._top()
        return None if entry is None else entry[2]

    def pop_first(self) -> SkBuff | None:
        entry = self._top()
        if entry is None:
            return None
        heappop(self._heap)
        skb = entry[2]
        del self._entries[skb]
        if self._checked:
            give(skb)
        else:
            skb.owner = None
        return skb

    def remove(self, skb: SkBuff) -> SkBuff:
        """Remove a specific skb that is in this tree (``bpf_rbtree_remove``)."""
        entry = self._entries.pop(skb, None)
        if entry is None:
            raise violation(RUNNING.frame, skb, "rbtree remove: skb is not in this tree")
        entry[2] = None  # skipped when it surfaces
        if self._checked:
            give(skb)
        else:
            skb.owner = None
        return skb

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def held(self) -> list[SkBuff]:
        return [e[2] for e in sorted(self._entries.values(), key=lambda e: (e[0], e[1]))]

    def release_all(self) -> list[SkBuff]:
        items = self.held()
        self._heap.clear()
        self._entries.clear()
        return items


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

    def held(self) -> list[SkBuff]:
        skb = self._skb
        return [skb] if skb is not None and skb.owner is self else []

    def release_all(self) -> list[SkBuff]:
        items = self.held()
        self._skb = None
        return items
