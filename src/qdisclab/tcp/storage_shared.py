"""``BPF_F_SHARED`` (qdisclab extension): many sockets, one refcounted value.

For half a million sockets carrying a few hundred distinct values, each
socket's element points at a value interned by content in the map; an
update with bytes equal to an existing value reuses it. The value is freed
when its last socket lets go (delete, replacement, socket close, map free).
Shared values are read-only to programs: ``get`` returns ``bytes``; change a
socket's value with ``update``. Each socket is charged only its element
header plus a pointer, not ``value_size``.

>>> from qdisclab.tcp.sk_storage import SkStorageMap, SkStorageWorld, BPF_F_NO_PREALLOC
>>> class Sk: sk_bpf_storage = None
>>> m = SkStorageMap(4, BPF_F_NO_PREALLOC | BPF_F_SHARED, world=SkStorageWorld())
>>> socks = [Sk() for _ in range(100)]
>>> for i, sk in enumerate(socks): _ = m.update(sk, bytes([i % 3, 0, 0, 0]))
>>> m.shared_value_count(), m.value_refcnt(bytes(4))
(3, 34)
"""

from __future__ import annotations

import errno

from qdisclab.errors import KernelError
from qdisclab.tcp.storage_core import BPF_F_SHARED, SELEM_DATA_OFFSET, SElem, StorageValue
from qdisclab.tcp.storage_map import SkStorageMap


class SharedValue:
    """One interned value and the number of socket elements pointing at it."""

    __slots__ = ("data", "refcnt")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.refcnt = 0


class SharedSkStorageMap(SkStorageMap):
    """An ``SkStorageMap`` created with ``BPF_F_SHARED``: values deduplicated by content."""

    flavour_flag = BPF_F_SHARED

    def _flavour_init(self) -> None:
        if self.spin_lock:
            raise KernelError(
                errno.EINVAL, f"{self.name}: BPF_F_SHARED values are read-only, no spin lock"
            )
        self.elem_size = SELEM_DATA_OFFSET + 8  # the element holds a pointer, not the value
        self._values: dict[bytes, SharedValue] = {}

    def _new_data(self, src: bytes | None) -> tuple[StorageValue, SharedValue | None]:
        key = bytes(self.value_size) if src is None else src
        sv = self._values.get(key)
        if sv is None:
            sv = self._values[key] = SharedValue(key)
        sv.refcnt += 1
        return sv.data, sv

    def _release_data(self, elem: SElem) -> None:
        sv = elem.shared
        assert sv is not None  # every element of a shared map points at its value
        sv.refcnt -= 1
        if sv.refcnt == 0:  # last socket gone: the value goes too
            del self._values[sv.data]

    def shared_value_count(self) -> int:
        """Distinct value objects currently alive."""
        return len(self._values)

    def value_refcnt(self, value: bytes) -> int:
        """Sockets sharing ``value`` (0 if no socket holds it)."""
        sv = self._values.get(bytes(value))
        return 0 if sv is None else sv.refcnt

    def free(self) -> None:
        super().free()
        self._values.clear()
