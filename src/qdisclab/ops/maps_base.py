"""Shared pieces of the BPF map types: constants, the base class, the dtor call.

See :mod:`qdisclab.ops.maps` for the public overview and the destructor contract.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from qdisclab.errors import KernelError

# Update flags (include/uapi/linux/bpf.h).
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
BPF_F_LOCK = 4

# Map creation flags (same header); recorded in ``map_flags``.
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_NO_COMMON_LRU = 1 << 1
BPF_F_NUMA_NODE = 1 << 2
BPF_F_RDONLY = 1 << 3
BPF_F_WRONLY = 1 << 4
BPF_F_ZERO_SEED = 1 << 6
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_WRONLY_PROG = 1 << 8
BPF_F_MMAPABLE = 1 << 10
BPF_F_PRESERVE_ELEMS = 1 << 11
BPF_F_INNER_MAP = 1 << 12
BPF_F_ACCESS_MASK = BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG

# enum bpf_map_type values of the types modelled here.
BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_LRU_HASH = 9
BPF_MAP_TYPE_ARRAY_OF_MAPS = 12
BPF_MAP_TYPE_HASH_OF_MAPS = 13

BPF_OBJ_NAME_LEN = 16  # including the NUL, so names hold at most 15 characters
MAX_BPF_STACK = 512  # hash keys live on the BPF stack, so key_size is bounded by it

_NAME_RE = re.compile(r"[A-Za-z0-9_.]*")

# Sentinel for "no element": None is what lookup returns, so it cannot be a value.
MISSING: Any = object()


def release(value: object) -> None:
    """Run the value's ``__bpf_dtor__`` if its type has one (the kptr destructor)."""
    dtor = getattr(type(value), "__bpf_dtor__", None)
    if dtor is not None:
        dtor(value)


def check_callback_ret(ret: object) -> bool:
    """True to stop a for_each walk; the verifier only lets callbacks return 0 or 1."""
    if ret == 0:
        return False
    if ret == 1:
        return True
    raise KernelError(errno.EINVAL, f"for_each callback must return 0 or 1, got {ret!r}")


@dataclass(frozen=True, slots=True)
class MapInfo:
    """What ``bpftool map show`` would print about a map."""

    name: str
    type: str
    map_type: int
    max_entries: int
    len: int
    key_size: int | None
    value_size: int | None
    map_flags: int


class BpfMap:
    """Base of every map: creation-time checks, naming, info and dumps.

    Subclasses provide ``lookup``, ``update``, ``delete``, ``get_next_key``,
    ``for_each``, ``clear`` and ``__iter__``/``items``/``__len__``.
    """

    __slots__ = ("__weakref__", "key_size", "map_flags", "max_entries", "name", "value_size")

    map_type: ClassVar[int]
    type_name: ClassVar[str]  # bpftool's name for the type
    allowed_flags: ClassVar[int]

    def __init__(
        self,
        max_entries: int,
        *,
        key_size: int | None,
        value_size: int | None,
        map_flags: int,
        name: str,
    ) -> None:
        if not (
            isinstance(name, str) and len(name) < BPF_OBJ_NAME_LEN and _NAME_RE.fullmatch(name)
        ):
            raise KernelError(
                errno.EINVAL,
                f"map name {name!r}: at most 15 characters of [A-Za-z0-9_.] (bpf_obj_name_cpy)",
            )
        if map_flags & ~self.allowed_flags:
            raise KernelError(
                errno.EINVAL,
                f"{self.type_name} map {name!r}: unsupported map_flags {map_flags:#x}",
            )
        for both in (BPF_F_RDONLY | BPF_F_WRONLY, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG):
            if map_flags & both == both:
                raise KernelError(errno.EINVAL, f"map {name!r}: both read-only and write-only")
        if not isinstance(max_entries, int) or max_entries <= 0 or max_entries >= 1 << 32:
            raise KernelError(
                errno.EINVAL, f"{self.type_name} map {name!r}: max_entries must be 1..2^32-1"
            )
        for what, size in (("key_size", key_size), ("value_size", value_size)):
            if size is not None and size <= 0:
                raise KernelError(errno.EINVAL, f"map {name!r}: {what} must be positive")
        self.name = name
        self.max_entries = max_entries
        self.key_size = key_size
        self.value_size = value_size
        self.map_flags = map_flags

    def __len__(self) -> int:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def items(self) -> Iterator[tuple[Any, Any]]:  # pragma: no cover - overridden
        raise NotImplementedError

    def lookup_sys(self, key: Any) -> Any:
        """Lookup as the bpf() syscall does it: same as ``lookup`` except for LRU maps,
        where it does not mark the entry as used."""
        return self.lookup(key)  # type: ignore[attr-defined]

    def dump(self) -> list[tuple[Any, Any]]:
        """All (key, value) pairs, in iteration order (``bpftool map dump``)."""
        return list(self.items())

    def info(self) -> MapInfo:
        """Type, size and occupancy of the map."""
        return MapInfo(
            name=self.name,
            type=self.type_name,
            map_type=self.map_type,
            max_entries=self.max_entries,
            len=len(self),
            key_size=self.key_size,
            value_size=self.value_size,
            map_flags=self.map_flags,
        )

    def free(self) -> None:
        """Release every value (running destructors), as when the map is freed."""
        self.clear()  # type: ignore[attr-defined]

    def meta_equal(self, other: object) -> bool:
        """The kernel's ``bpf_map_meta_equal``: may ``other`` stand in for ``self``
        as an inner map?  Type, key/value size and flags must match; max_entries
        need not (arrays override this)."""
        return (
            isinstance(other, BpfMap)
            and other.map_type == self.map_type
            and other.key_size == self.key_size
            and other.value_size == self.value_size
            and other.map_flags == self.map_flags
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {len(self)}/{self.max_entries}>"


ForEachCallback = Callable[[Any, Any, Any, Any], int]
