"""BPF_MAP_TYPE_HASH and BPF_MAP_TYPE_LRU_HASH (kernel/bpf/hashtab.c, bpf_lru_list.c)."""

from __future__ import annotations

import errno
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Any

from qdisclab.errors import ENOTSUPP, KernelError
from qdisclab.ops.maps_base import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_ACCESS_MASK,
    BPF_F_LOCK,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_NUMA_NODE,
    BPF_F_ZERO_SEED,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_NOEXIST,
    MAX_BPF_STACK,
    MISSING,
    BpfMap,
    ForEachCallback,
    check_callback_ret,
    release,
)

# HTAB_CREATE_FLAG_MASK
_HTAB_FLAGS = (
    BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED
)


class HashMap(BpfMap):
    """BPF_MAP_TYPE_HASH: at most ``max_entries`` key → value pairs.

    Keys are hashable Python objects (ints, tuples, bytes); values are any
    object except ``None`` (``lookup`` returns ``None`` for a missing key, as
    the helper returns NULL). The map stores the object itself, not a copy,
    so a looked-up value can be changed in place like the pointer the helper
    returns. Iteration is in insertion order (an overwrite keeps the position).

    >>> m = HashMap(2, name="flows")
    >>> m.update(7, "a"); m.update(9, "b")
    >>> m.lookup(7), m.lookup(8)
    ('a', None)
    >>> m.update(11, "c")
    Traceback (most recent call last):
    qdisclab.errors.KernelError: E2BIG: hash map 'flows' is full (2 entries)
    """

    __slots__ = ("_cursor", "_d", "_gen")

    map_type = BPF_MAP_TYPE_HASH
    type_name = "hash"
    allowed_flags = _HTAB_FLAGS & ~BPF_F_NO_COMMON_LRU  # per-CPU LRU lists: LRU maps only

    def __init__(
        self,
        max_entries: int,
        *,
        key_size: int | None = None,
        value_size: int | None = None,
        map_flags: int = 0,
        name: str = "",
    ) -> None:
        super().__init__(
            max_entries, key_size=key_size, value_size=value_size, map_flags=map_flags, name=name
        )
        if key_size is not None and key_size > MAX_BPF_STACK:
            raise KernelError(errno.E2BIG, f"map {name!r}: key_size {key_size} > {MAX_BPF_STACK}")
        self._d: dict[Hashable, Any] = {}
        # Bumped when the key set changes; lets get_next_key resume a cached
        # iterator instead of rescanning, so a full walk is O(n) not O(n^2).
        self._gen = 0
        self._cursor: tuple[int, Hashable, Iterator[Hashable]] | None = None

    # -- datapath ----------------------------------------------------------

    def lookup(self, key: Hashable) -> Any:
        """``bpf_map_lookup_elem``: the value, or ``None`` if absent.

        >>> m = HashMap(4); m.update((1, 2), [0]); m.lookup((1, 2))
        [0]
        """
        return self._d.get(key)

    def update(self, key: Hashable, value: Any, flags: int = BPF_ANY) -> None:
        """``bpf_map_update_elem`` with ``BPF_ANY``/``BPF_NOEXIST``/``BPF_EXIST``.

        EINVAL for unknown flags or BPF_F_LOCK (no spin lock is modelled);
        EEXIST for NOEXIST on a present key; ENOENT for EXIST on an absent
        key; E2BIG for a new key in a full map. A replaced value is released.

        >>> m = HashMap(4); m.update(1, "x"); m.update(1, "y", BPF_NOEXIST)
        Traceback (most recent call last):
        qdisclab.errors.KernelError: EEXIST: key 1 exists in hash map ''
        """
        if flags:
            self._check_flags(flags)
        d = self._d
        old = d.get(key, MISSING)
        if old is MISSING:
            if flags == BPF_EXIST:
                raise self._enoent(key)
            if key is None or value is None:
                self._check_value(key, value)
            if len(d) >= self.max_entries:
                raise KernelError(
                    errno.E2BIG,
                    f"{self.type_name} map {self.name!r} is full ({self.max_entries} entries)",
                )
            d[key] = value
            self._gen += 1
            return
        if flags == BPF_NOEXIST:
            raise self._eexist(key)
        if value is None:
            self._check_value(key, value)
        d[key] = value
        if old is not value:
            release(old)

    def delete(self, key: Hashable) -> None:
        """``bpf_map_delete_elem``: ENOENT if absent; the value is released.

        >>> m = HashMap(4); m.delete(3)
        Traceback (most recent call last):
        qdisclab.errors.KernelError: ENOENT: key 3 not in hash map ''
        """
        old = self._d.pop(key, MISSING)
        if old is MISSING:
            raise self._enoent(key)
        self._gen += 1
        release(old)

    def for_each(self, callback: ForEachCallback, ctx: Any = None, flags: int = 0) -> int:
        """``bpf_for_each_map_elem``: call ``callback(map, key, value, ctx)`` per element.

        The callback returns 0 to go on, 1 to stop; returns the number of
        elements visited (the one that stopped the walk included). The callback
        may delete elements; elements added during the walk are not visited.

        >>> m = HashMap(4); m.update(1, 10); m.update(2, 20)
        >>> m.for_each(lambda m, k, v, ctx: ctx.append(v) or 0, seen := [])
        2
        >>> seen
        [10, 20]
        """
        if flags:
            raise KernelError(errno.EINVAL, "bpf_for_each_map_elem: flags must be 0")
        d = self._d
        visited = 0
        for key in list(d):  # snapshot: the callback may delete
            value = d.get(key, MISSING)
            if value is MISSING:
                continue
            visited += 1
            if check_callback_ret(callback(self, key, value, ctx)):
                break
        return visited

    # -- userspace ---------------------------------------------------------

    def get_next_key(self, key: Hashable | None = None) -> Hashable:
        """``BPF_MAP_GET_NEXT_KEY``: the key after ``key`` in iteration order.

        ``None`` or a key not in the map gives the first key (so a walk whose
        current key was deleted restarts, as in the kernel); ENOENT after the
        last key or on an empty map.

        >>> m = HashMap(4); m.update("a", 1); m.update("b", 2)
        >>> m.get_next_key(), m.get_next_key("a"), m.get_next_key("zz")
        ('a', 'b', 'a')
        """
        d = self._d
        if key is not None and key in d:
            cur = self._cursor
            if cur is not None and cur[0] == self._gen and cur[1] == key:
                it = cur[2]
            else:
                it = iter(d)
                for k in it:
                    if k == key:
                        break
            nxt = next(it, MISSING)
            if nxt is MISSING:
                self._cursor = None
                raise KernelError(errno.ENOENT, f"no key after {key!r} in map {self.name!r}")
            self._cursor = (self._gen, nxt, it)
            return nxt
        for k in d:
            return k
        raise KernelError(errno.ENOENT, f"{self.type_name} map {self.name!r} is empty")

    def clear(self) -> None:
        """Delete every element, releasing each value (in iteration order)."""
        old = list(self._d.values())
        self._d.clear()
        self._gen += 1
        self._cursor = None
        for value in old:
            release(value)

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._d))

    def items(self) -> Iterator[tuple[Hashable, Any]]:
        """(key, value) pairs of a snapshot, in iteration order."""
        return iter(list(self._d.items()))

    # -- shared by the subclasses ------------------------------------------

    def _check_flags(self, flags: int) -> None:
        if flags & ~BPF_F_LOCK > BPF_EXIST:
            raise KernelError(errno.EINVAL, f"map {self.name!r}: unknown update flags {flags:#x}")
        if flags & BPF_F_LOCK:
            raise KernelError(
                errno.EINVAL, f"map {self.name!r}: BPF_F_LOCK but the value has no bpf_spin_lock"
            )

    def _check_value(self, key: Hashable, value: Any) -> None:
        if value is None:
            raise KernelError(
                errno.EINVAL, f"map {self.name!r}: None is not a value (lookup returns None)"
            )
        if key is None:
            raise KernelError(errno.EINVAL, f"map {self.name!r}: None is not a key")

    def _enoent(self, key: Hashable) -> KernelError:
        return KernelError(errno.ENOENT, f"key {key!r} not in {self.type_name} map {self.name!r}")

    def _eexist(self, key: Hashable) -> KernelError:
        return KernelError(
            errno.EEXIST, f"key {key!r} exists in {self.type_name} map {self.name!r}"
        )


class LruHashMap(HashMap):
    """BPF_MAP_TYPE_LRU_HASH: a hash map that evicts instead of failing when full.

    Recency is an *exact* LRU (the kernel approximates it with per-node ref
    bits and active/inactive lists): ``lookup`` and ``update`` make an entry
    the most recently used; ``lookup_sys``, ``get_next_key``, ``for_each``
    and dumps do not (the kernel's syscall lookup does not set the ref bit
    either). Inserting a new key into a full map evicts exactly one entry,
    the least recently used, and releases its value.

    >>> m = LruHashMap(2); m.update(1, "a"); m.update(2, "b")
    >>> m.lookup(1)
    'a'
    >>> m.update(3, "c"); sorted(m)
    [1, 3]
    """

    __slots__ = ("_lru",)

    map_type = BPF_MAP_TYPE_LRU_HASH
    type_name = "lru_hash"
    allowed_flags = _HTAB_FLAGS  # NO_COMMON_LRU recorded; there is one CPU

    def __init__(
        self,
        max_entries: int,
        *,
        key_size: int | None = None,
        value_size: int | None = None,
        map_flags: int = 0,
        name: str = "",
    ) -> None:
        if map_flags & BPF_F_NO_PREALLOC:
            raise KernelError(ENOTSUPP, f"LRU map {name!r}: BPF_F_NO_PREALLOC is not supported")
        super().__init__(
            max_entries, key_size=key_size, value_size=value_size, map_flags=map_flags, name=name
        )
        self._lru: OrderedDict[Hashable, None] = OrderedDict()  # least recent first

    def lookup(self, key: Hashable) -> Any:
        """``bpf_map_lookup_elem``: the value or ``None``; marks the entry used."""
        value = self._d.get(key)
        if value is not None:
            self._lru.move_to_end(key)
        return value

    def lookup_sys(self, key: Hashable) -> Any:
        """Syscall lookup: the value or ``None``, without touching recency."""
        return self._d.get(key)

    def lru_order(self) -> list[Hashable]:
        """Keys from least to most recently used (the eviction order)."""
        return list(self._lru)

    def update(self, key: Hashable, value: Any, flags: int = BPF_ANY) -> None:
        """Like :meth:`HashMap.update`, but a new key in a full map evicts the
        least recently used entry; the entry updated becomes the most recent.
        BPF_F_LOCK is EINVAL like any flag above BPF_EXIST."""
        if flags > BPF_EXIST:
            raise KernelError(errno.EINVAL, f"LRU map {self.name!r}: unsupported flags {flags:#x}")
        d = self._d
        lru = self._lru
        old = d.get(key, MISSING)
        evicted = MISSING
        if old is MISSING:
            if flags == BPF_EXIST:
                raise self._enoent(key)
            if key is None or value is None:
                self._check_value(key, value)
            if len(d) >= self.max_entries:
                victim, _ = lru.popitem(last=False)
                evicted = d.pop(victim)
            d[key] = value
            lru[key] = None  # a new key goes to the most-recent end
            self._gen += 1
        else:
            if flags == BPF_NOEXIST:
                raise self._eexist(key)
            if value is None:
                self._check_value(key, value)
            d[key] = value
            lru.move_to_end(key)
            if old is not value:
                evicted = old
        if evicted is not MISSING:
            release(evicted)  # last: the map is consistent if the dtor re-enters it

    def delete(self, key: Hashable) -> None:
        """``bpf_map_delete_elem``: ENOENT if absent; the value is released."""
        self._lru.pop(key, None)  # first, so the dtor sees a consistent map
        super().delete(key)

    def clear(self) -> None:
        """Delete every element, releasing each value (in iteration order)."""
        self._lru.clear()
        super().clear()
