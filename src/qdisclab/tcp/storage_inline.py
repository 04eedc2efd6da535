"""``BPF_F_INLINE`` (qdisclab extension): values in a fixed area on the socket.

Each socket may carry an inline area of ``SK_INLINE_SIZE`` (64) bytes. A map
created with ``BPF_F_INLINE`` reserves ``value_size`` bytes of it, first come
first served and 8-byte aligned, at creation; the same offset is used on every
socket. ``get`` is then a direct index into the socket's area: no cache slot,
no list walk. When the area has no room left, creation fails with ``ENOSPC``
(rather than silently falling back to list storage, so a program never gets a
slower map than it asked for without knowing; retry without the flag to fall
back). Inline maps do not take a cache slot.

Values are ``memoryview`` slices of the socket's area, written in place:
updates never replace the element, so earlier views see later writes. The
area is part of the socket, so nothing is charged to ``optmem_max``.

>>> from qdisclab.tcp.sk_storage import SkStorageMap, SkStorageWorld, BPF_F_NO_PREALLOC
>>> class Sk: sk_bpf_storage = None; sk_bpf_inline = None
>>> m = SkStorageMap(8, BPF_F_NO_PREALLOC | BPF_F_INLINE, world=SkStorageWorld())
>>> sk = Sk()
>>> v = m.get(sk, flags=1); v[0] = 5
>>> m.inline_offset, bytes(sk.sk_bpf_inline.buf[:2])
(0, b'\\x05\\x00')
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from qdisclab.errors import KernelError
from qdisclab.tcp.storage_core import (
    BPF_F_CLONE,
    BPF_F_INLINE,
    BPF_F_LOCK,
    BPF_NOEXIST,
    BPF_SK_STORAGE_GET_F_CREATE,
    SK_INLINE_ALIGN,
    SkStorageWorld,
    StorageSock,
    StorageValue,
)
from qdisclab.tcp.storage_map import SkStorageMap


class InlineArea:
    """A socket's inline area: the bytes plus one view per present value."""

    __slots__ = ("buf", "owner", "views", "world")

    def __init__(self, world: SkStorageWorld, owner: StorageSock) -> None:
        self.world = world
        self.owner = owner
        self.buf = bytearray(world.inline.size)
        # views[i] is the value of the map holding reservation i, or None (absent)
        self.views: list[memoryview | None] = [None] * (world.inline.size // SK_INLINE_ALIGN)

    def _map(self, idx: int) -> InlineSkStorageMap:
        slot = self.world.inline.slots[idx]
        assert slot is not None and isinstance(slot[2], InlineSkStorageMap)
        return slot[2]

    def free(self) -> None:
        """Socket close: every inline value disappears."""
        for idx, view in enumerate(self.views):
            if view is not None:
                self._map(idx)._owners.pop(self, None)
                self.views[idx] = None

    def clone_into(self, child: StorageSock) -> None:
        """Accept: copy the values of ``BPF_F_CLONE`` inline maps to ``child``."""
        for idx, view in enumerate(self.views):
            if view is not None:
                smap = self._map(idx)
                if smap.map_flags & BPF_F_CLONE:
                    smap.update(child, bytes(view), BPF_NOEXIST)


class InlineSkStorageMap(SkStorageMap):
    """An ``SkStorageMap`` created with ``BPF_F_INLINE``: value at a fixed socket offset."""

    flavour_flag = BPF_F_INLINE

    def _flavour_init(self) -> None:
        self.elem_size = 0  # nothing is allocated per socket
        self._owners: dict[InlineArea, None] = {}  # areas holding a value of this map
        self.inline_idx, self.inline_offset = self.world.inline.reserve(self, self.value_size)

    def _take_cache_idx(self) -> int:
        return -1  # never looked up through the cache

    def _release_cache_idx(self) -> None:
        self.world.inline.release(self.inline_idx)

    def get(
        self, sk: StorageSock | None, value: StorageValue | None = None, flags: int = 0
    ) -> StorageValue | None:
        """Direct access to ``sk``'s inline value; create with ``F_CREATE`` as the helper does."""
        if flags & ~BPF_SK_STORAGE_GET_F_CREATE:  # unknown bits: NULL even if present
            return None
        try:
            area: InlineArea | None = sk.sk_bpf_inline  # type: ignore[union-attr]  # optional field: caught below
        except AttributeError:  # socket without an inline area
            return None
        if area is not None:
            view = area.views[self.inline_idx]
            if view is not None:
                return view
        return self._get_create(sk, value, flags)

    helper_get = get

    def lookup(self, sk: StorageSock, cacheit: bool = True) -> StorageValue | None:
        self._check_alive()
        area = getattr(sk, "sk_bpf_inline", None)
        return None if area is None else area.views[self.inline_idx]

    def _update(self, sk: StorageSock, value: StorageValue | None, flags: int) -> StorageValue:
        src = self._check_update(value, flags)
        if not hasattr(sk, "sk_bpf_inline"):
            raise KernelError(errno.EOPNOTSUPP, f"{self.name}: socket has no inline area")
        area = sk.sk_bpf_inline
        view = None if area is None else area.views[self.inline_idx]
        self._check_flags(view, flags & ~BPF_F_LOCK)
        if area is None:
            area = sk.sk_bpf_inline = InlineArea(self.world, sk)
        off, size = self.inline_offset, self.value_size
        area.buf[off : off + size] = src if src is not None else bytes(size)
        if view is None:
            view = area.views[self.inline_idx] = memoryview(area.buf)[off : off + size]
            self._owners[area] = None
        return view

    def _drop(self, area: InlineArea) -> None:
        off, size = self.inline_offset, self.value_size
        area.buf[off : off + size] = bytes(size)  # a later create starts from zeroes
        area.views[self.inline_idx] = None
        del self._owners[area]

    def delete(self, sk: StorageSock) -> None:
        self._check_alive()
        area = getattr(sk, "sk_bpf_inline", None)
        if area is None or area.views[self.inline_idx] is None:
            raise KernelError(errno.ENOENT, f"{self.name}: no value on this socket")
        self._drop(area)

    def __len__(self) -> int:
        return len(self._owners)

    def iter_values(self) -> Iterator[tuple[StorageSock, bytes]]:
        for area in list(self._owners):
            yield area.owner, bytes(area.views[self.inline_idx] or b"")

    def free(self) -> None:
        if self.freed:
            return
        self.freed = True
        for area in list(self._owners):
            self._drop(area)
        self._release_cache_idx()
