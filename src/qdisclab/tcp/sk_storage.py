"""Socket local storage (``BPF_MAP_TYPE_SK_STORAGE``): the public API.

A storage map is a type tag; its values live on the sockets. Lookup checks
the socket's 16-slot cache at the map's ``cache_idx``, then walks the
socket's list of values (newest first), so a socket carrying more than 16
maps pays a linear walk on cache misses, as the kernel's does.

Socket contract (the TCP socket satisfies it; nothing here imports TCP):

* ``sk_bpf_storage``: writable, initially None (this module hangs a
  :class:`LocalStorage` there lazily);
* optional ``sk_bpf_inline`` (None): needed for ``BPF_F_INLINE`` maps;
* optional ``sk_omem_alloc`` (int): option memory shared with other users,
  charged against ``optmem_max``;
* optional ``sk_refcnt`` (int): 0 means being destroyed (get cannot create);
* call :func:`sk_storage_free` when the socket closes and
  :func:`sk_storage_clone` on accept.

qdisclab extensions (not kernel uapi): ``BPF_F_INLINE`` (values in a fixed
inline area on the socket, see :mod:`.storage_inline`) and ``BPF_F_SHARED``
(refcounted values shared by content, see :mod:`.storage_shared`).

>>> class Sk:
...     __slots__ = ("sk_bpf_storage",)
...     def __init__(self): self.sk_bpf_storage = None
>>> world = SkStorageWorld()
>>> m = SkStorageMap(4, BPF_F_NO_PREALLOC | BPF_F_CLONE, world=world)
>>> listener, child = Sk(), Sk()
>>> m.get(listener, b"\\x01\\0\\0\\0", BPF_SK_STORAGE_GET_F_CREATE)[0]
1
>>> sk_storage_clone(listener, child); m.get(child)[0]
1
>>> sk_storage_free(listener); len(m)
1
"""

from __future__ import annotations

from qdisclab.tcp.storage_core import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_CLONE,
    BPF_F_INLINE,
    BPF_F_LOCK,
    BPF_F_NO_PREALLOC,
    BPF_F_SHARED,
    BPF_LOCAL_STORAGE_CACHE_SIZE,
    BPF_LOCAL_STORAGE_GET_F_CREATE,
    BPF_LOCAL_STORAGE_MAX_VALUE_SIZE,
    BPF_MAP_TYPE_SK_STORAGE,
    BPF_NOEXIST,
    BPF_SK_STORAGE_GET_F_CREATE,
    LOCAL_STORAGE_SIZE,
    SELEM_DATA_OFFSET,
    SK_INLINE_SIZE,
    SYSCTL_OPTMEM_MAX,
    LocalStorage,
    SElem,
    SkStorageWorld,
    StorageCacheTable,
    StorageSock,
    StorageValue,
    default_world,
)
from qdisclab.tcp.storage_inline import InlineArea, InlineSkStorageMap
from qdisclab.tcp.storage_map import SkStorageMap
from qdisclab.tcp.storage_shared import SharedSkStorageMap, SharedValue


def sk_storage_free(sk: StorageSock) -> None:
    """``bpf_sk_storage_free``: drop every value on ``sk`` (call when the socket closes).

    Uncharges everything from ``sk_omem_alloc`` in one step and clears
    ``sk_bpf_storage`` (and the inline area). Shared values lose one ref.

    >>> class Sk: sk_bpf_storage = None
    >>> m, sk = SkStorageMap(1, world=SkStorageWorld()), Sk()
    >>> _ = m.update(sk); sk_storage_free(sk); len(m)
    0
    """
    st = getattr(sk, "sk_bpf_storage", None)
    if st is not None:
        for elem in st.elems:
            smap = elem.smap
            del smap._elems[elem]
            elem.local_storage = None
            smap._release_data(elem)
        st.elems = []
        st.cache = [None] * len(st.cache)
        if getattr(sk, "sk_omem_alloc", None) is not None:
            sk.sk_omem_alloc -= st.mem_charge  # type: ignore[attr-defined]  # optional field
        st.mem_charge = 0
        sk.sk_bpf_storage = None
    area: InlineArea | None = getattr(sk, "sk_bpf_inline", None)
    if area is not None:
        area.free()
        sk.sk_bpf_inline = None  # type: ignore[attr-defined]  # present: just read


def sk_storage_clone(parent: StorageSock, child: StorageSock) -> None:
    """``bpf_sk_storage_clone`` on accept: copy ``BPF_F_CLONE`` values to ``child``.

    The child starts empty (its ``sk_bpf_storage``/``sk_bpf_inline`` are reset,
    as ``sk_clone_lock`` does after copying the parent; the caller resets
    ``sk_omem_alloc`` to 0 before, as ``sk_clone_lock`` does). Values of maps
    without ``BPF_F_CLONE`` are not inherited. On ``ENOMEM`` the error is
    raised and, as in the kernel, cleanup is the caller's: call
    ``sk_storage_free(child)`` and drop the child.

    >>> class Sk: sk_bpf_storage = None
    >>> m = SkStorageMap(1, BPF_F_NO_PREALLOC | BPF_F_CLONE, world=SkStorageWorld())
    >>> lsk, csk = Sk(), Sk()
    >>> _ = m.update(lsk, b"x"); sk_storage_clone(lsk, csk); m.syscall_lookup(csk)
    b'x'
    """
    child.sk_bpf_storage = None
    if hasattr(child, "sk_bpf_inline"):
        child.sk_bpf_inline = None
    st = getattr(parent, "sk_bpf_storage", None)
    if st is not None:
        for elem in list(st.elems):  # newest first; head inserts reverse the child's order
            smap = elem.smap
            if smap.map_flags & BPF_F_CLONE and not smap.freed:
                smap._clone_elem(elem, child)
    area = getattr(parent, "sk_bpf_inline", None)
    if area is not None:
        area.clone_into(child)


__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_F_CLONE",
    "BPF_F_INLINE",
    "BPF_F_LOCK",
    "BPF_F_NO_PREALLOC",
    "BPF_F_SHARED",
    "BPF_LOCAL_STORAGE_CACHE_SIZE",
    "BPF_LOCAL_STORAGE_GET_F_CREATE",
    "BPF_LOCAL_STORAGE_MAX_VALUE_SIZE",
    "BPF_MAP_TYPE_SK_STORAGE",
    "BPF_NOEXIST",
    "BPF_SK_STORAGE_GET_F_CREATE",
    "LOCAL_STORAGE_SIZE",
    "SELEM_DATA_OFFSET",
    "SK_INLINE_SIZE",
    "SYSCTL_OPTMEM_MAX",
    "InlineArea",
    "InlineSkStorageMap",
    "LocalStorage",
    "SElem",
    "SharedSkStorageMap",
    "SharedValue",
    "SkStorageMap",
    "SkStorageWorld",
    "StorageCacheTable",
    "StorageSock",
    "StorageValue",
    "default_world",
    "sk_storage_clone",
    "sk_storage_free",
]
