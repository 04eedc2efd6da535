"""Socket local storage: constants and the data structures behind the maps.

This is the model of the generic ``bpf_local_storage`` engine specialised to
sockets (``net/core/bpf_sk_storage.c``). The public API lives in
:mod:`qdisclab.tcp.sk_storage`; this module holds what every map flavour
shares: uapi constants, the per-world cache-slot table (``sk_cache``), the
per-socket storage object with its 16-slot cache, elements, and the memory
charging rule against ``optmem_max``.

>>> table = StorageCacheTable()
>>> [table.idx_get() for _ in range(17)][-2:]
[15, 0]
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Protocol

from qdisclab.errors import KernelError

if TYPE_CHECKING:
    from qdisclab.tcp.storage_map import SkStorageMap
    from qdisclab.tcp.storage_shared import SharedValue

# --- uapi (include/uapi/linux/bpf.h) -------------------------------------------------------
BPF_MAP_TYPE_SK_STORAGE = 24
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_CLONE = 1 << 9
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
BPF_F_LOCK = 4
BPF_LOCAL_STORAGE_GET_F_CREATE = 1
BPF_SK_STORAGE_GET_F_CREATE = BPF_LOCAL_STORAGE_GET_F_CREATE

# --- qdisclab extensions: NOT kernel uapi. Unused high map_flags bits (uapi stops at 1 << 18).
BPF_F_SHARED = 1 << 29  # values interned by content, refcounted, read-only to programs
BPF_F_INLINE = 1 << 30  # value lives in the socket's fixed inline area (no lookup)

# --- limits (include/linux/bpf_local_storage.h, spec A.3/A.9) ------------------------------
BPF_LOCAL_STORAGE_CACHE_SIZE = 16
SELEM_SIZE = 128  # sizeof(struct bpf_local_storage_elem), 64-byte cache lines [derived]
SELEM_DATA_OFFSET = 72  # data block on its own line, smap pointer first [derived]
BPF_LOCAL_STORAGE_MAX_VALUE_SIZE = 0xFFFF - SELEM_SIZE  # 65 407
LOCAL_STORAGE_SIZE = 184  # sizeof(struct bpf_local_storage) on x86-64 [derived]
SYSCTL_OPTMEM_MAX = 131072  # net.core.optmem_max default on recent kernels
SK_INLINE_SIZE = 64  # qdisclab: bytes of inline area per socket
SK_INLINE_ALIGN = 8  # values are 8-byte aligned, as kernel storage data is


class StorageSock(Protocol):
    """What socket storage needs from a socket: a writable ``sk_bpf_storage``.

    ``TcpSock`` has it; the optional fields (``sk_bpf_inline``,
    ``sk_omem_alloc``, ``sk_refcnt``) are read when present.
    """

    sk_bpf_storage: LocalStorage | None


# A value as programs get it: the element's buffer (``bytes`` when shared, a view when inline).
StorageValue = bytearray | bytes | memoryview


class StorageCacheTable:
    """Per-storage-type cache slot usage (``struct bpf_local_storage_cache``).

    A new map takes the least-used of the 16 slots (lowest index on ties,
    stopping at the first unused slot), so maps 1..16 get distinct slots and
    map 17 shares slot 0.

    >>> t = StorageCacheTable()
    >>> t.idx_get(), t.idx_get()
    (0, 1)
    >>> t.idx_free(0); t.idx_get()
    0
    """

    __slots__ = ("idx_usage_counts",)

    def __init__(self) -> None:
        self.idx_usage_counts = [0] * BPF_LOCAL_STORAGE_CACHE_SIZE

    def idx_get(self) -> int:
        """Reserve the least-used slot and return its index."""
        counts = self.idx_usage_counts
        res, min_usage = 0, None
        for i, usage in enumerate(counts):
            if min_usage is None or usage < min_usage:
                min_usage, res = usage, i
                if usage == 0:  # cannot do better than an unused slot
                    break
        counts[res] += 1
        return res

    def idx_free(self, idx: int) -> None:
        """Release a slot reserved by :meth:`idx_get` (map destruction)."""
        self.idx_usage_counts[idx] -= 1


class InlineAllocator:
    """First-come-first-served reservations in the per-socket inline area.

    Every socket of a world lays its inline area out the same way, so the
    reservation (offset, size) is made once, at map creation. First fit,
    8-byte aligned; freed ranges are reused.

    >>> a = InlineAllocator(64)
    >>> a.reserve("m1", 12), a.reserve("m2", 8)
    ((0, 0), (1, 16))
    """

    __slots__ = ("size", "slots")

    def __init__(self, size: int = SK_INLINE_SIZE) -> None:
        self.size = size
        # index -> (offset, size, map) or None; at most size/ALIGN reservations can exist
        self.slots: list[tuple[int, int, SkStorageMap] | None] = [None] * (size // SK_INLINE_ALIGN)

    def free_bytes(self) -> int:
        """Bytes not reserved (alignment padding counts as reserved)."""
        used = sum(_align(s[1]) for s in self.slots if s is not None)
        return self.size - used

    def reserve(self, owner: SkStorageMap, size: int) -> tuple[int, int]:
        """Reserve ``size`` bytes; return ``(index, offset)`` or raise ``ENOSPC``."""
        taken = sorted((s[0], s[0] + _align(s[1])) for s in self.slots if s is not None)
        offset = 0
        for start, end in taken:
            if offset + size <= start:
                break
            offset = max(offset, end)
        if offset + size > self.size:
            raise KernelError(
                errno.ENOSPC,
                f"inline area full: {size} bytes requested, {self.size} per socket, "
                f"{self.free_bytes()} unreserved",
            )
        idx = self.slots.index(None)  # a free index exists whenever bytes do
        self.slots[idx] = (offset, size, owner)
        return idx, offset

    def release(self, idx: int) -> None:
        """Give a reservation back (map destruction)."""
        self.slots[idx] = None


def _align(n: int) -> int:
    return (n + SK_INLINE_ALIGN - 1) & ~(SK_INLINE_ALIGN - 1)


class SkStorageWorld:
    """Everything global to socket storage in one simulation.

    Holds the ``sk_cache`` slot table, the ``net.core.optmem_max`` budget and
    the inline-area layout. Separate worlds are independent, so tests and
    parallel simulations do not see each other's maps.

    >>> w = SkStorageWorld(optmem_max=20480, inline_size=32)
    >>> w.optmem_max, w.inline.size
    (20480, 32)
    """

    __slots__ = ("cache", "inline", "optmem_max")

    def __init__(
        self, optmem_max: int = SYSCTL_OPTMEM_MAX, inline_size: int = SK_INLINE_SIZE
    ) -> None:
        self.cache = StorageCacheTable()
        self.optmem_max = optmem_max
        self.inline = InlineAllocator(inline_size)


default_world = SkStorageWorld()


class SElem:
    """One value of one map on one socket (``struct bpf_local_storage_elem``).

    ``data`` is what programs get: a ``bytearray`` of ``value_size`` (or the
    shared, read-only ``bytes`` for ``BPF_F_SHARED`` maps). ``local_storage``
    is None once the element is unlinked from its socket.
    """

    __slots__ = ("data", "local_storage", "shared", "smap")

    def __init__(
        self, smap: SkStorageMap, data: StorageValue, shared: SharedValue | None = None
    ) -> None:
        self.smap = smap
        self.data = data
        self.shared = shared
        self.local_storage: LocalStorage | None = None


class LocalStorage:
    """A socket's storage (``struct bpf_local_storage``), hung off ``sk_bpf_storage``.

    Exists iff the socket has at least one element. ``elems`` is newest
    first; ``cache[i]`` is None or an element currently linked here.
    """

    __slots__ = ("cache", "elems", "mem_charge", "owner")

    def __init__(self, owner: StorageSock) -> None:
        self.owner = owner
        self.cache: list[SElem | None] = [None] * BPF_LOCAL_STORAGE_CACHE_SIZE
        self.elems: list[SElem] = []
        self.mem_charge = 0


def omem_used(sk: StorageSock, st: LocalStorage | None) -> int:
    """Option memory in use on ``sk``: ``sk_omem_alloc`` if the socket keeps one."""
    used: int | None = getattr(sk, "sk_omem_alloc", None)
    if used is None:  # socket without option-memory accounting: storage is all there is
        return st.mem_charge if st is not None else 0
    return used


def may_charge(optmem_max: int, used: int, size: int) -> bool:
    """``bpf_sk_storage_charge``: fits iff ``size <= max`` and ``used + size < max``."""
    return size <= optmem_max and used + size < optmem_max


def account(sk: StorageSock, st: LocalStorage, delta: int) -> None:
    """Move ``delta`` bytes of charge onto (or, negative, off) the socket."""
    st.mem_charge += delta
    if getattr(sk, "sk_omem_alloc", None) is not None:
        sk.sk_omem_alloc += delta  # type: ignore[attr-defined]  # present: just checked


def enomem(what: str) -> KernelError:
    return KernelError(errno.ENOMEM, f"{what}: socket option memory (optmem_max) exhausted")
