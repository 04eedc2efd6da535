"""Map-in-map: BPF_MAP_TYPE_ARRAY_OF_MAPS and HASH_OF_MAPS (kernel/bpf/map_in_map.c)."""

from __future__ import annotations

import errno
from collections.abc import Hashable, Iterator
from typing import Any

from qdisclab.errors import KernelError
from qdisclab.ops.maps_array import check_index_key_size
from qdisclab.ops.maps_base import (
    BPF_ANY,
    BPF_F_ACCESS_MASK,
    BPF_F_NUMA_NODE,
    BPF_F_RDONLY_PROG,
    BPF_F_WRONLY_PROG,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH_OF_MAPS,
    BpfMap,
    ForEachCallback,
)
from qdisclab.ops.maps_hash import HashMap


def _check_template(template: object, name: str) -> BpfMap:
    """``bpf_map_meta_alloc``: the inner template must be a map, one level deep."""
    if not isinstance(template, BpfMap):
        raise KernelError(errno.EBADF, f"map-in-map {name!r}: inner template is not a map")
    if isinstance(template, (ArrayOfMaps, HashOfMaps)):
        raise KernelError(errno.EINVAL, f"map-in-map {name!r}: only one level of nesting")
    return template


def _check_inner(template: BpfMap, inner: object, outer: BpfMap) -> None:
    """``bpf_map_fd_get_ptr``: EBADF for a non-map, EINVAL if incompatible."""
    if not isinstance(inner, BpfMap):
        raise KernelError(errno.EBADF, f"map-in-map {outer.name!r}: value {inner!r} is not a map")
    if not template.meta_equal(inner):
        raise KernelError(
            errno.EINVAL,
            f"map-in-map {outer.name!r}: {inner!r} is not compatible with the inner template "
            f"{template!r} (type, key/value size, flags; arrays also max_entries)",
        )


def _no_for_each(outer: BpfMap) -> KernelError:
    # The verifier refuses bpf_for_each_map_elem on map-in-map types.
    return KernelError(errno.EINVAL, f"{outer.type_name} map {outer.name!r}: no for_each")


class ArrayOfMaps(BpfMap):
    """BPF_MAP_TYPE_ARRAY_OF_MAPS: slots 0..max_entries-1 that each hold a map or nothing.

    A stored map must be compatible with ``inner_template`` (same type, key and
    value size, flags; for arrays also max_entries unless the template has
    BPF_F_INNER_MAP) else EINVAL; a non-map is EBADF. Updates take BPF_ANY
    only (else EINVAL). The outer map only drops its reference to an inner
    map on delete/overwrite/clear: it never frees it.

    >>> from qdisclab.ops.maps_hash import HashMap
    >>> tmpl = HashMap(64)
    >>> queues = ArrayOfMaps(4, tmpl, name="txq")
    >>> q0 = HashMap(128); queues.update(0, q0)
    >>> queues.lookup(0) is q0, queues.lookup(1)
    (True, None)
    """

    __slots__ = ("_slots", "inner_template")

    map_type = BPF_MAP_TYPE_ARRAY_OF_MAPS
    type_name = "array_of_maps"
    allowed_flags = BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK

    def __init__(
        self,
        max_entries: int,
        inner_template: BpfMap,
        *,
        key_size: int | None = None,
        map_flags: int = 0,
        name: str = "",
    ) -> None:
        if map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG):
            raise KernelError(errno.EINVAL, f"map-in-map {name!r}: no *_PROG access flags")
        super().__init__(
            max_entries, key_size=key_size, value_size=4, map_flags=map_flags, name=name
        )
        check_index_key_size(key_size, name)
        self.inner_template = _check_template(inner_template, name)
        self._slots: list[BpfMap | None] = [None] * max_entries

    def lookup(self, key: int) -> BpfMap | None:
        """The inner map at ``key``, or ``None`` (empty slot or out of range)."""
        if 0 <= key < self.max_entries:
            return self._slots[key]
        return None

    def update(self, key: int, inner: BpfMap, flags: int = BPF_ANY) -> None:
        """Store ``inner`` at ``key``: EINVAL unless flags is BPF_ANY, E2BIG out
        of range, then the compatibility check (EBADF/EINVAL)."""
        if flags != BPF_ANY:
            raise KernelError(errno.EINVAL, f"map-in-map {self.name!r}: flags must be BPF_ANY")
        if not 0 <= key < self.max_entries:
            raise KernelError(
                errno.E2BIG, f"map {self.name!r}: index {key} >= max_entries {self.max_entries}"
            )
        _check_inner(self.inner_template, inner, self)
        self._slots[key] = inner

    def delete(self, key: int) -> None:
        """Empty slot ``key``: E2BIG out of range, ENOENT if already empty."""
        if not 0 <= key < self.max_entries:
            raise KernelError(
                errno.E2BIG, f"map {self.name!r}: index {key} >= max_entries {self.max_entries}"
            )
        if self._slots[key] is None:
            raise KernelError(errno.ENOENT, f"map {self.name!r}: slot {key} is empty")
        self._slots[key] = None

    def get_next_key(self, key: int | None = None) -> int:
        """As for arrays: every index, empty or not; ``None``/out of range gives 0."""
        if key is None or not 0 <= key < self.max_entries:
            return 0
        if key == self.max_entries - 1:
            raise KernelError(errno.ENOENT, f"map {self.name!r}: no index after {key}")
        return key + 1

    def for_each(self, callback: ForEachCallback, ctx: Any = None, flags: int = 0) -> int:
        """Refused (EINVAL), as the verifier refuses it for map-in-map types."""
        raise _no_for_each(self)

    def clear(self) -> None:
        """Empty every slot (the inner maps themselves are left alone)."""
        self._slots = [None] * self.max_entries

    def __len__(self) -> int:
        """Number of occupied slots."""
        return sum(1 for m in self._slots if m is not None)

    def __iter__(self) -> Iterator[int]:
        """Occupied indices."""
        return iter([i for i, m in enumerate(self._slots) if m is not None])

    def items(self) -> Iterator[tuple[int, BpfMap]]:
        """(index, inner map) for occupied slots."""
        return iter([(i, m) for i, m in enumerate(self._slots) if m is not None])


class HashOfMaps(HashMap):
    """BPF_MAP_TYPE_HASH_OF_MAPS: a hash map whose values are compatible inner maps.

    Flags and errors are the hash map's, but the value is checked first (EBADF
    for a non-map, EINVAL if incompatible with ``inner_template``), as
    ``bpf_fd_htab_map_update_elem`` resolves the map fd before updating.
    Removing an inner map drops the reference only.

    >>> from qdisclab.ops.maps_array import ArrayMap
    >>> flows = HashOfMaps(16, ArrayMap(8), name="per_class")
    >>> flows.update(0x10001, ArrayMap(4))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    qdisclab.errors.KernelError: EINVAL: map-in-map 'per_class': ...
    """

    __slots__ = ("inner_template",)

    map_type = BPF_MAP_TYPE_HASH_OF_MAPS
    type_name = "hash_of_maps"

    def __init__(
        self,
        max_entries: int,
        inner_template: BpfMap,
        *,
        key_size: int | None = None,
        map_flags: int = 0,
        name: str = "",
    ) -> None:
        if map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG):
            raise KernelError(errno.EINVAL, f"map-in-map {name!r}: no *_PROG access flags")
        super().__init__(
            max_entries, key_size=key_size, value_size=4, map_flags=map_flags, name=name
        )
        self.inner_template = _check_template(inner_template, name)

    def update(self, key: Hashable, inner: BpfMap, flags: int = BPF_ANY) -> None:
        """Check ``inner`` against the template, then update as a hash map."""
        _check_inner(self.inner_template, inner, self)
        super().update(key, inner, flags)

    def for_each(self, callback: ForEachCallback, ctx: Any = None, flags: int = 0) -> int:
        """Refused (EINVAL), as the verifier refuses it for map-in-map types."""
        raise _no_for_each(self)
