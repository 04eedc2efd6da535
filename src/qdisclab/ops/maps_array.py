"""BPF_MAP_TYPE_ARRAY (kernel/bpf/arraymap.c)."""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from typing import Any

from qdisclab.errors import KernelError
from qdisclab.ops.maps_base import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_ACCESS_MASK,
    BPF_F_INNER_MAP,
    BPF_F_LOCK,
    BPF_F_MMAPABLE,
    BPF_F_NUMA_NODE,
    BPF_MAP_TYPE_ARRAY,
    BPF_NOEXIST,
    BpfMap,
    ForEachCallback,
    check_callback_ret,
    release,
)

# ARRAY_CREATE_FLAG_MASK minus BPF_F_PRESERVE_ELEMS (perf event arrays only).
_ARRAY_FLAGS = BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_ACCESS_MASK | BPF_F_INNER_MAP


def check_index_key_size(key_size: int | None, name: str) -> None:
    """Array keys are u32 indices: key_size, when given, must be 4."""
    if key_size is not None and key_size != 4:
        raise KernelError(errno.EINVAL, f"array map {name!r}: key_size must be 4")


class ArrayMap(BpfMap):
    """BPF_MAP_TYPE_ARRAY: ``max_entries`` preallocated values indexed 0..max_entries-1.

    Every index always exists, initialised by calling ``default()`` once per
    slot (``int`` gives the kernel's zeroed value). ``lookup`` of an index out
    of range returns ``None``; ``update`` of one is E2BIG; ``delete`` is
    always EINVAL; ``BPF_NOEXIST`` is always EEXIST.

    >>> a = ArrayMap(4, name="stats")
    >>> a.lookup(3), a.lookup(4)
    (0, None)
    >>> a.update(3, 42); a.lookup(3)
    42
    >>> a.delete(3)
    Traceback (most recent call last):
    qdisclab.errors.KernelError: EINVAL: array map 'stats': elements cannot be deleted
    """

    __slots__ = ("_default", "_v")

    map_type = BPF_MAP_TYPE_ARRAY
    type_name = "array"
    allowed_flags = _ARRAY_FLAGS

    def __init__(
        self,
        max_entries: int,
        default: Callable[[], Any] = int,
        *,
        key_size: int | None = None,
        value_size: int | None = None,
        map_flags: int = 0,
        name: str = "",
    ) -> None:
        super().__init__(
            max_entries, key_size=key_size, value_size=value_size, map_flags=map_flags, name=name
        )
        check_index_key_size(key_size, name)
        self._default = default
        self._v: list[Any] = [self._fresh() for _ in range(max_entries)]

    def _fresh(self) -> Any:
        value = self._default()
        if value is None:
            raise KernelError(errno.EINVAL, f"array map {self.name!r}: default() returned None")
        return value

    def lookup(self, key: int) -> Any:
        """``bpf_map_lookup_elem``: the value at ``key``, or ``None`` out of range."""
        if 0 <= key < self.max_entries:
            return self._v[key]
        return None

    def update(self, key: int, value: Any, flags: int = BPF_ANY) -> None:
        """``bpf_map_update_elem``; errors in the kernel's order: unknown flags
        EINVAL, index out of range E2BIG, BPF_NOEXIST EEXIST, BPF_F_LOCK EINVAL
        (no spin lock modelled). The replaced value is released.

        >>> a = ArrayMap(2); a.update(2, 1)
        Traceback (most recent call last):
        qdisclab.errors.KernelError: E2BIG: array map '': index 2 >= max_entries 2
        """
        if flags and flags & ~BPF_F_LOCK > BPF_EXIST:
            raise KernelError(errno.EINVAL, f"map {self.name!r}: unknown update flags {flags:#x}")
        if not 0 <= key < self.max_entries:
            raise KernelError(
                errno.E2BIG,
                f"array map {self.name!r}: index {key} >= max_entries {self.max_entries}",
            )
        if flags:
            if flags & BPF_NOEXIST:
                raise KernelError(errno.EEXIST, f"array map {self.name!r}: index {key} exists")
            if flags & BPF_F_LOCK:
                raise KernelError(
                    errno.EINVAL, f"map {self.name!r}: BPF_F_LOCK but the value has no spin lock"
                )
        if value is None:
            raise KernelError(errno.EINVAL, f"map {self.name!r}: None is not a value")
        v = self._v
        old = v[key]
        v[key] = value
        if old is not value:
            release(old)

    def delete(self, key: int) -> None:
        """Always EINVAL: array elements cannot be deleted."""
        raise KernelError(errno.EINVAL, f"array map {self.name!r}: elements cannot be deleted")

    def get_next_key(self, key: int | None = None) -> int:
        """``BPF_MAP_GET_NEXT_KEY``: ``None`` or an index out of range gives 0;
        the last index gives ENOENT.

        >>> a = ArrayMap(3); a.get_next_key(), a.get_next_key(1), a.get_next_key(99)
        (0, 2, 0)
        """
        if key is None or not 0 <= key < self.max_entries:
            return 0
        if key == self.max_entries - 1:
            raise KernelError(errno.ENOENT, f"array map {self.name!r}: no index after {key}")
        return key + 1

    def for_each(self, callback: ForEachCallback, ctx: Any = None, flags: int = 0) -> int:
        """``bpf_for_each_map_elem`` over every index: ``callback(map, index,
        value, ctx)`` returns 0 to go on, 1 to stop; returns elements visited.

        >>> a = ArrayMap(5); a.for_each(lambda m, i, v, c: 1 if i == 2 else 0)
        3
        """
        if flags:
            raise KernelError(errno.EINVAL, "bpf_for_each_map_elem: flags must be 0")
        v = self._v
        visited = 0
        for index in range(self.max_entries):
            visited += 1
            if check_callback_ret(callback(self, index, v[index], ctx)):
                break
        return visited

    def clear(self) -> None:
        """Release every value and re-initialise each slot with ``default()``
        (the kernel zeroes a value's kptr fields when it frees them)."""
        old = self._v
        self._v = [self._fresh() for _ in range(self.max_entries)]
        for value in old:
            release(value)

    def meta_equal(self, other: object) -> bool:
        """Arrays must also match in max_entries, unless created BPF_F_INNER_MAP."""
        if not super().meta_equal(other):
            return False
        assert isinstance(other, BpfMap)
        return bool(self.map_flags & BPF_F_INNER_MAP) or other.max_entries == self.max_entries

    def __len__(self) -> int:
        return self.max_entries

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.max_entries))

    def items(self) -> Iterator[tuple[int, Any]]:
        """(index, value) for every index."""
        return iter(list(enumerate(self._v)))
