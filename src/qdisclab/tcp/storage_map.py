"""``BPF_MAP_TYPE_SK_STORAGE``: the map (a type tag) and its per-socket operations.

Import from :mod:`qdisclab.tcp.sk_storage`, which also registers the
``BPF_F_INLINE`` / ``BPF_F_SHARED`` flavours.

A socket is any object with a writable ``sk_bpf_storage`` (initially None);
optional: ``sk_bpf_inline`` (None), ``sk_omem_alloc`` (int, shared option
memory) and ``sk_refcnt`` (int; 0 = being destroyed). An object without
``sk_bpf_storage`` is "not a full socket" (request/timewait minisock).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from qdisclab.errors import ENOTSUPP, KernelError
from qdisclab.tcp.storage_core import (
    BPF_EXIST,
    BPF_F_CLONE,
    BPF_F_LOCK,
    BPF_F_NO_PREALLOC,
    BPF_LOCAL_STORAGE_MAX_VALUE_SIZE,
    BPF_MAP_TYPE_SK_STORAGE,
    BPF_NOEXIST,
    BPF_SK_STORAGE_GET_F_CREATE,
    LOCAL_STORAGE_SIZE,
    SELEM_DATA_OFFSET,
    LocalStorage,
    SElem,
    SkStorageWorld,
    StorageSock,
    StorageValue,
    account,
    default_world,
    enomem,
    may_charge,
    omem_used,
)

if TYPE_CHECKING:
    from qdisclab.tcp.storage_shared import SharedValue

# BTF key types btf_type_is_i32() accepts: a plain 32-bit integer, either signedness.
I32_BTF_TYPES = frozenset({"int", "unsigned int", "s32", "u32", "__s32", "__u32", "i32"})


class SkStorageMap:
    """A socket local storage map: one fixed-size value per socket, on the socket.

    Creation validates like ``bpf_local_storage_map_alloc_check`` (``EINVAL``,
    ``E2BIG``, ``EPERM``) and takes a cache slot from the world's table.
    ``get``/``helper_delete`` are the BPF helpers (NULL / negative errno);
    ``syscall_*`` and ``update``/``delete`` raise :class:`KernelError`.

    >>> class Sk:
    ...     __slots__ = ("sk_bpf_storage",)
    ...     def __init__(self): self.sk_bpf_storage = None
    >>> m = SkStorageMap(4, BPF_F_NO_PREALLOC, world=SkStorageWorld())
    >>> sk = Sk()
    >>> m.get(sk) is None
    True
    >>> v = m.get(sk, flags=BPF_SK_STORAGE_GET_F_CREATE); v[0] = 7
    >>> m.syscall_lookup(sk)
    b'\\x07\\x00\\x00\\x00'
    """

    map_type = BPF_MAP_TYPE_SK_STORAGE
    flavour_flag: ClassVar[int] = 0
    _flavours: ClassVar[dict[int, type[SkStorageMap]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.flavour_flag:
            SkStorageMap._flavours[cls.flavour_flag] = cls

    def __new__(
        cls, value_size: int, map_flags: int = BPF_F_NO_PREALLOC, **kwargs: object
    ) -> SkStorageMap:
        # An opt-in flag picks the flavour, so callers only ever name SkStorageMap.
        if cls is SkStorageMap:
            for flag, flavour in SkStorageMap._flavours.items():
                if map_flags & flag:
                    cls = flavour
                    break
        return object.__new__(cls)

    def __init__(
        self,
        value_size: int,
        map_flags: int = BPF_F_NO_PREALLOC,
        *,
        key_size: int = 4,
        max_entries: int = 0,
        btf_key_type: str | None = "int",
        btf_value_type: str | None = "value",
        spin_lock: bool = False,
        capable: bool = True,
        world: SkStorageWorld | None = None,
        name: str = "",
    ) -> None:
        self.name = name or f"sk_storage_{id(self):x}"
        if not capable:
            raise KernelError(errno.EPERM, f"{self.name}: SK_STORAGE maps need CAP_BPF")
        allowed = BPF_F_NO_PREALLOC | BPF_F_CLONE | self.flavour_flag
        if map_flags & ~allowed or not map_flags & BPF_F_NO_PREALLOC:
            raise KernelError(
                errno.EINVAL,
                f"{self.name}: map_flags {map_flags:#x}: BPF_F_NO_PREALLOC is mandatory, "
                "only BPF_F_CLONE (and one qdisclab opt-in flag) may be added",
            )
        if max_entries != 0:
            raise KernelError(errno.EINVAL, f"{self.name}: max_entries must be 0")
        if key_size != 4:
            raise KernelError(errno.EINVAL, f"{self.name}: key_size must be 4 (a socket fd)")
        if value_size == 0:
            raise KernelError(errno.EINVAL, f"{self.name}: value_size must be non-zero")
        if value_size > BPF_LOCAL_STORAGE_MAX_VALUE_SIZE:
            raise KernelError(
                errno.E2BIG,
                f"{self.name}: value_size {value_size} > {BPF_LOCAL_STORAGE_MAX_VALUE_SIZE}",
            )
        if btf_key_type is None or btf_value_type is None:
            raise KernelError(errno.EINVAL, f"{self.name}: key and value BTF are required")
        if btf_key_type not in I32_BTF_TYPES:
            raise KernelError(
                errno.EINVAL, f"{self.name}: key BTF {btf_key_type!r} is not a 32-bit int"
            )
        self.value_size = value_size
        self.map_flags = map_flags
        self.spin_lock = spin_lock
        self.world = world if world is not None else default_world
        self.elem_size = SELEM_DATA_OFFSET + value_size
        self.freed = False
        self.cache_misses = 0  # lookups that walked the socket's list
        self.walk_steps = 0  # elements compared during those walks
        self._elems: dict[SElem, None] = {}  # the map's buckets; dict keeps order deterministic
        self._flavour_init()
        self.cache_idx = self._take_cache_idx()

    # --- flavour hooks ---------------------------------------------------------------------
    def _flavour_init(self) -> None:
        pass

    def _take_cache_idx(self) -> int:
        return self.world.cache.idx_get()

    def _new_data(self, src: bytes | None) -> tuple[StorageValue, SharedValue | None]:
        """Return ``(data, shared)`` for a fresh element holding ``src`` (None = zeroes)."""
        return (bytearray(self.value_size) if src is None else bytearray(src)), None

    def _release_data(self, elem: SElem) -> None:
        pass

    # --- lookup ----------------------------------------------------------------------------
    def _lookup(self, st: LocalStorage, cacheit: bool) -> SElem | None:
        """``bpf_local_storage_lookup``: cache slot first, then a walk of the list."""
        idx = self.cache_idx
        elem = st.cache[idx]
        if elem is not None and elem.smap is self:
            return elem
        self.cache_misses += 1
        steps = 0
        for elem in st.elems:  # newest first; a real linear walk, as the kernel's
            steps += 1
            if elem.smap is self:
                self.walk_steps += steps
                if cacheit:  # evicts whichever map shared the slot
                    st.cache[idx] = elem
                return elem
        self.walk_steps += steps
        return None

    def lookup(self, sk: StorageSock, cacheit: bool = True) -> StorageValue | None:
        """The value buffer on ``sk``, or None. ``cacheit`` as the kernel's flag.

        >>> m = SkStorageMap(1, world=SkStorageWorld())
        >>> m.lookup(type("Sk", (), {"sk_bpf_storage": None})()) is None
        True
        """
        self._check_alive()
        st = sk.sk_bpf_storage
        if st is None:
            return None
        elem = self._lookup(st, cacheit)
        return None if elem is None else elem.data

    def get(
        self, sk: StorageSock | None, value: StorageValue | None = None, flags: int = 0
    ) -> StorageValue | None:
        """``bpf_sk_storage_get``: the value on ``sk``; NULL (None) on any failure.

        With ``BPF_SK_STORAGE_GET_F_CREATE`` an absent value is created from
        ``value`` (None = zeroes). Unknown flags, a non-full socket, a socket
        being destroyed or any update error all give None.

        >>> class Sk: sk_bpf_storage = None
        >>> m = SkStorageMap(2, world=SkStorageWorld())
        >>> bytes(m.get(Sk(), b"hi", BPF_SK_STORAGE_GET_F_CREATE))
        b'hi'
        """
        if flags & ~BPF_SK_STORAGE_GET_F_CREATE:  # unknown bits: NULL even if present
            return None
        try:
            st = sk.sk_bpf_storage  # type: ignore[union-attr]  # None: caught below
        except AttributeError:  # None, or a request/timewait sock: not a full socket
            return None
        if st is not None:
            elem = st.cache[self.cache_idx]
            if elem is not None and elem.smap is self:  # fast path: one load, one compare
                return elem.data
            elem = self._lookup(st, True)
            if elem is not None:
                return elem.data
        return self._get_create(sk, value, flags)

    helper_get = get

    def _get_create(
        self, sk: StorageSock | None, value: StorageValue | None, flags: int
    ) -> StorageValue | None:
        if sk is None or not flags or self.freed:
            return None
        if getattr(sk, "sk_refcnt", 1) == 0:  # refcount_inc_not_zero failed
            return None
        try:
            return self._update(sk, value, BPF_NOEXIST)
        except KernelError:
            return None

    # --- update ----------------------------------------------------------------------------
    def _check_update(self, value: StorageValue | None, flags: int) -> bytes | None:
        self._check_alive()
        if flags & ~BPF_F_LOCK > BPF_EXIST:
            raise KernelError(errno.EINVAL, f"{self.name}: bad update flags {flags:#x}")
        if flags & BPF_F_LOCK and not self.spin_lock:
            raise KernelError(errno.EINVAL, f"{self.name}: BPF_F_LOCK needs a bpf_spin_lock")
        if value is None:
            return None
        src = bytes(value)
        if len(src) != self.value_size:  # kernel values are exactly value_size bytes
            raise KernelError(
                errno.EINVAL, f"{self.name}: value is {len(src)} bytes, map wants {self.value_size}"
            )
        return src

    def _check_flags(self, old: SElem | None, flags: int) -> None:
        if old is not None and flags & BPF_NOEXIST:
            raise KernelError(errno.EEXIST, f"{self.name}: value exists (BPF_NOEXIST)")
        if old is None and flags & BPF_EXIST:
            raise KernelError(errno.ENOENT, f"{self.name}: no value (BPF_EXIST)")

    def _update(self, sk: StorageSock, value: StorageValue | None, flags: int) -> StorageValue:
        """``bpf_local_storage_update``; returns the new value buffer."""
        src = self._check_update(value, flags)
        st = sk.sk_bpf_storage
        optmem = self.world.optmem_max
        if st is None:
            # Very first element: flags, then element charge, then storage charge.
            self._check_flags(None, flags)
            used = omem_used(sk, None)
            if not may_charge(optmem, used, self.elem_size):
                raise enomem(self.name)
            if not may_charge(optmem, used + self.elem_size, LOCAL_STORAGE_SIZE):
                raise enomem(f"{self.name}: bpf_local_storage")
            st = LocalStorage(sk)
            account(sk, st, LOCAL_STORAGE_SIZE)
            elem = self._link(sk, st, src)
            sk.sk_bpf_storage = st
            return elem.data
        if flags & BPF_F_LOCK and not flags & BPF_NOEXIST:
            # In-place locked update: no allocation, pointer identity kept.
            old = self._lookup(st, False)
            self._check_flags(old, flags)
            if old is not None:
                return self._write_in_place(old, src)
        # General path: charge the new element first (so near the budget a
        # replacement fails with ENOMEM), then re-check flags, then replace.
        if not may_charge(optmem, omem_used(sk, st), self.elem_size):
            raise enomem(self.name)
        old = self._lookup(st, False)
        self._check_flags(old, flags)
        if old is not None and flags & BPF_F_LOCK:
            return self._write_in_place(old, src)
        elem = self._link(sk, st, src)
        if old is not None:
            self._unlink(old)
        return elem.data

    def _write_in_place(self, elem: SElem, src: bytes | None) -> StorageValue:
        """A ``BPF_F_LOCK`` update: new bytes in the same buffer (pointer identity kept)."""
        data = elem.data
        assert isinstance(data, bytearray)  # spin-locked values are plain, writable buffers
        data[:] = src if src is not None else bytes(self.value_size)
        return data

    def _link(self, sk: StorageSock, st: LocalStorage, src: bytes | None) -> SElem:
        data, shared = self._new_data(src)
        elem = SElem(self, data, shared)
        account(sk, st, self.elem_size)
        elem.local_storage = st
        st.elems.insert(0, elem)  # head insert: newest first
        self._elems[elem] = None
        return elem

    def update(
        self, sk: StorageSock, value: StorageValue | None = None, flags: int = 0
    ) -> StorageValue:
        """Create or replace the value on ``sk`` (``BPF_ANY``/``BPF_NOEXIST``/``BPF_EXIST``,
        optionally ``| BPF_F_LOCK``); return the new buffer or raise.

        A non-``BPF_F_LOCK`` update replaces the element: buffers obtained
        earlier keep the old bytes and no longer belong to the socket.

        >>> class Sk: sk_bpf_storage = None
        >>> m, sk = SkStorageMap(1, world=SkStorageWorld()), Sk()
        >>> old = m.update(sk, b"a"); new = m.update(sk, b"b")
        >>> bytes(old), bytes(new), old is new
        (b'a', b'b', False)
        """
        return self._update(sk, value, flags)

    # --- delete ----------------------------------------------------------------------------
    def _unlink(self, elem: SElem) -> None:
        """Unlink from map and socket, uncharge; detach the storage if it was the last."""
        st = elem.local_storage
        assert st is not None
        del self._elems[elem]
        st.elems.remove(elem)
        if st.cache[self.cache_idx] is elem:
            st.cache[self.cache_idx] = None
        elem.local_storage = None
        sk = st.owner
        account(sk, st, -self.elem_size)
        self._release_data(elem)
        if not st.elems:
            account(sk, st, -LOCAL_STORAGE_SIZE)
            sk.sk_bpf_storage = None

    def delete(self, sk: StorageSock) -> None:
        """Delete the value on ``sk``; ``ENOENT`` if absent.

        >>> class Sk: sk_bpf_storage = None
        >>> m, sk = SkStorageMap(1, world=SkStorageWorld()), Sk()
        >>> _ = m.update(sk); m.delete(sk); sk.sk_bpf_storage is None
        True
        """
        self._check_alive()
        st = sk.sk_bpf_storage
        elem = None if st is None else self._lookup(st, False)
        if elem is None:
            raise KernelError(errno.ENOENT, f"{self.name}: no value on this socket")
        self._unlink(elem)

    def helper_delete(self, sk: StorageSock | None) -> int:
        """``bpf_sk_storage_delete``: 0, ``-EINVAL`` (not a full socket) or ``-ENOENT``.

        >>> class Sk: sk_bpf_storage = None
        >>> SkStorageMap(1, world=SkStorageWorld()).helper_delete(Sk()) == -errno.ENOENT
        True
        """
        if sk is None or not hasattr(sk, "sk_bpf_storage"):
            return -errno.EINVAL
        if getattr(sk, "sk_refcnt", 1) == 0:
            return -errno.ENOENT
        try:
            self.delete(sk)
        except KernelError as exc:
            return -exc.errno
        return 0

    # --- syscall side (key = the socket the caller's fd resolves to) ------------------------
    def _resolve(self, sk: StorageSock | None) -> StorageSock:
        if sk is None:
            raise KernelError(errno.EBADF, f"{self.name}: key fd is not open")
        if not hasattr(sk, "sk_bpf_storage"):
            raise KernelError(errno.ENOTSOCK, f"{self.name}: key fd is not a socket")
        return sk

    def syscall_lookup(self, sk: StorageSock | None, flags: int = 0) -> bytes:
        """``BPF_MAP_LOOKUP_ELEM``: a copy of the value; ``ENOENT`` if absent.

        >>> class Sk: sk_bpf_storage = None
        >>> try: SkStorageMap(1, world=SkStorageWorld()).syscall_lookup(Sk())
        ... except KernelError as e: print(e.errno_name)
        ENOENT
        """
        self._check_alive()
        if flags & ~BPF_F_LOCK or (flags & BPF_F_LOCK and not self.spin_lock):
            raise KernelError(errno.EINVAL, f"{self.name}: bad lookup flags {flags:#x}")
        data = self.lookup(self._resolve(sk), cacheit=True)
        if data is None:
            raise KernelError(errno.ENOENT, f"{self.name}: no value on this socket")
        return bytes(data)

    def syscall_update(
        self, sk: StorageSock | None, value: StorageValue | None, flags: int = 0
    ) -> None:
        """``BPF_MAP_UPDATE_ELEM``: ``BPF_ANY``/``BPF_NOEXIST``/``BPF_EXIST`` [``|BPF_F_LOCK``]."""
        self._update(self._resolve(sk), value, flags)

    def syscall_delete(self, sk: StorageSock | None) -> None:
        """``BPF_MAP_DELETE_ELEM``; ``ENOENT`` if absent."""
        self.delete(self._resolve(sk))

    def syscall_get_next_key(self, key: object = None) -> None:
        """Always ``ENOTSUPP`` (524): storage maps are not iterable by key."""
        raise KernelError(ENOTSUPP, f"{self.name}: get_next_key is not supported")

    # --- map-wide ---------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of sockets holding a value of this map."""
        return len(self._elems)

    def iter_values(self) -> Iterator[tuple[StorageSock, bytes]]:
        """The ``bpf_sk_storage_map`` iterator: ``(socket, value copy)`` for every element."""
        for elem in list(self._elems):
            if elem.local_storage is not None:
                yield elem.local_storage.owner, bytes(elem.data)

    def free(self) -> None:
        """Destroy the map (last fd closed): release the slot, drop every socket's value.

        >>> class Sk: sk_bpf_storage = None
        >>> m, sk = SkStorageMap(1, world=SkStorageWorld()), Sk()
        >>> _ = m.update(sk); m.free(); sk.sk_bpf_storage is None
        True
        """
        if self.freed:
            return
        self.freed = True
        self._release_cache_idx()
        for elem in list(self._elems):
            self._unlink(elem)

    def _release_cache_idx(self) -> None:
        self.world.cache.idx_free(self.cache_idx)

    def _check_alive(self) -> None:
        if self.freed:
            raise KernelError(errno.EBADF, f"{self.name}: map has been freed")

    # --- clone -----------------------------------------------------------------------------
    def _clone_elem(self, elem: SElem, child: StorageSock) -> None:
        """Copy ``elem`` onto ``child``, charged to the child (``bpf_sk_storage_clone``)."""
        st = child.sk_bpf_storage
        optmem = self.world.optmem_max
        used = omem_used(child, st)
        if not may_charge(optmem, used, self.elem_size):
            raise enomem(f"{self.name}: clone")
        if st is None:
            if not may_charge(optmem, used + self.elem_size, LOCAL_STORAGE_SIZE):
                raise enomem(f"{self.name}: clone")
            st = LocalStorage(child)
            account(child, st, LOCAL_STORAGE_SIZE)
            child.sk_bpf_storage = st
        src = elem.data if elem.shared is None else elem.shared.data
        self._link(child, st, bytes(src))

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name} value_size={self.value_size} "
            f"flags={self.map_flags:#x} cache_idx={self.cache_idx} values={len(self._elems)}>"
        )


__all__ = ["I32_BTF_TYPES", "SkStorageMap"]
