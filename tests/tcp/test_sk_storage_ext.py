"""qdisclab extensions: the per-socket inline area and shared (deduplicated) values."""

from __future__ import annotations

import errno

import pytest

from qdisclab.errors import KernelError
from qdisclab.tcp.sk_storage import (
    BPF_EXIST,
    BPF_F_CLONE,
    BPF_F_INLINE,
    BPF_F_NO_PREALLOC,
    BPF_F_SHARED,
    BPF_NOEXIST,
    BPF_SK_STORAGE_GET_F_CREATE,
    LOCAL_STORAGE_SIZE,
    SELEM_DATA_OFFSET,
    InlineSkStorageMap,
    SharedSkStorageMap,
    SkStorageMap,
    SkStorageWorld,
    sk_storage_clone,
    sk_storage_free,
)

F_CREATE = BPF_SK_STORAGE_GET_F_CREATE
INLINE = BPF_F_NO_PREALLOC | BPF_F_INLINE
SHARED = BPF_F_NO_PREALLOC | BPF_F_SHARED


class FakeSock:
    __slots__ = ("sk_bpf_inline", "sk_bpf_storage", "sk_omem_alloc")

    def __init__(self) -> None:
        self.sk_bpf_storage = None
        self.sk_bpf_inline = None
        self.sk_omem_alloc = 0


class NoInlineSock:
    __slots__ = ("sk_bpf_storage",)

    def __init__(self) -> None:
        self.sk_bpf_storage = None


def errno_of(fn, *args, **kw) -> int:
    with pytest.raises(KernelError) as info:
        fn(*args, **kw)
    return info.value.errno


# --- inline area ----------------------------------------------------------------------------


def test_inline_reservation_is_first_come_first_served_and_aligned():
    w = SkStorageWorld()
    a = SkStorageMap(12, INLINE, world=w)
    b = SkStorageMap(8, INLINE, world=w)
    c = SkStorageMap(20, INLINE, world=w)
    assert type(a) is InlineSkStorageMap
    assert [m.inline_offset for m in (a, b, c)] == [0, 16, 24]
    assert w.inline.free_bytes() == 64 - 48
    assert w.cache.idx_usage_counts == [0] * 16  # inline maps take no cache slot
    assert SkStorageMap(4, BPF_F_NO_PREALLOC, world=w).cache_idx == 0


def test_inline_exhaustion_fails_with_enospc_and_reservations_are_reused():
    w = SkStorageWorld()
    maps = [SkStorageMap(8, INLINE, world=w) for _ in range(8)]  # 8 x 8 = 64 bytes
    assert errno_of(SkStorageMap, 1, INLINE, world=w) == errno.ENOSPC
    assert errno_of(SkStorageMap, 65, INLINE, world=SkStorageWorld()) == errno.ENOSPC
    sk = FakeSock()
    maps[3].update(sk, b"\xff" * 8)
    maps[3].free()
    again = SkStorageMap(8, INLINE, world=w)  # the freed range, at the same offset
    assert again.inline_offset == 24 and again.inline_idx == maps[3].inline_idx
    assert again.get(sk) is None  # the old map's value did not leak into the new map
    assert bytes(again.get(sk, None, F_CREATE)) == bytes(8)
    # the usual creation errnos still come first
    assert errno_of(SkStorageMap, 8, BPF_F_INLINE, world=w) == errno.EINVAL


def test_inline_get_is_a_direct_access_into_the_socket_area():
    w = SkStorageWorld()
    pad = SkStorageMap(8, INLINE, world=w)
    m = SkStorageMap(4, INLINE, world=w)
    sk = FakeSock()
    assert m.get(sk) is None and sk.sk_bpf_inline is None
    v = m.get(sk, b"\x01\x02\x03\x04", F_CREATE)
    assert bytes(sk.sk_bpf_inline.buf[8:12]) == b"\x01\x02\x03\x04"
    v[0] = 0x7F
    assert sk.sk_bpf_inline.buf[8] == 0x7F and m.get(sk) is v
    assert pad.get(sk) is None  # a present bit per map, not per area
    assert sk.sk_bpf_storage is None and sk.sk_omem_alloc == 0  # no list, no charge
    assert m.update(sk, b"abcd", BPF_EXIST) is v  # updates are in place
    assert bytes(v) == b"abcd"


def test_inline_flags_delete_and_errnos():
    m = SkStorageMap(4, INLINE, world=SkStorageWorld())
    sk = FakeSock()
    assert errno_of(m.update, sk, b"abcd", BPF_EXIST) == errno.ENOENT
    assert errno_of(m.delete, sk) == errno.ENOENT
    m.update(sk, b"abcd", BPF_NOEXIST)
    assert errno_of(m.update, sk, b"efgh", BPF_NOEXIST) == errno.EEXIST
    assert m.get(sk, None, 2) is None
    m.delete(sk)
    assert m.get(sk) is None and bytes(sk.sk_bpf_inline.buf[:4]) == bytes(4)
    assert m.helper_delete(sk) == -errno.ENOENT
    assert errno_of(m.syscall_lookup, sk) == errno.ENOENT
    assert m.get(NoInlineSock(), None, F_CREATE) is None
    assert errno_of(m.update, NoInlineSock(), b"abcd") == errno.EOPNOTSUPP


def test_inline_values_freed_with_socket_and_map():
    w = SkStorageWorld()
    m = SkStorageMap(4, INLINE, world=w)
    s1, s2 = FakeSock(), FakeSock()
    m.update(s1, b"1111")
    m.update(s2, b"2222")
    assert len(m) == 2 and {bytes(v) for _, v in m.iter_values()} == {b"1111", b"2222"}
    sk_storage_free(s1)
    assert s1.sk_bpf_inline is None and len(m) == 1
    area = s2.sk_bpf_inline
    m.free()
    assert area.views[m.inline_idx] is None and bytes(area.buf[:4]) == bytes(4)
    assert w.inline.free_bytes() == 64


def test_inline_clone_copies_only_clone_maps():
    w = SkStorageWorld()
    cloned = SkStorageMap(4, INLINE | BPF_F_CLONE, world=w)
    private = SkStorageMap(4, INLINE, world=w)
    parent, child = FakeSock(), FakeSock()
    cloned.update(parent, b"cccc")
    private.update(parent, b"pppp")
    sk_storage_clone(parent, child)
    assert bytes(cloned.get(child)) == b"cccc" and private.get(child) is None
    assert child.sk_bpf_inline is not parent.sk_bpf_inline
    cloned.get(child)[0] = ord("X")
    assert bytes(cloned.get(parent)) == b"cccc"


# --- shared values --------------------------------------------------------------------------


def test_shared_values_deduplicated_across_10000_sockets():
    m = SkStorageMap(16, SHARED, world=SkStorageWorld())
    assert type(m) is SharedSkStorageMap
    values = [bytes([i]) * 16 for i in range(10)]
    socks = [FakeSock() for _ in range(10_000)]
    for i, sk in enumerate(socks):
        m.get(sk, values[i % 10], F_CREATE)
    assert m.shared_value_count() == 10
    assert len({id(m.get(sk)) for sk in socks}) == 10  # exactly 10 value objects
    assert all(m.value_refcnt(v) == 1000 for v in values)
    assert m.get(socks[0]) is m.get(socks[10])


def test_shared_value_freed_with_its_last_socket():
    m = SkStorageMap(4, SHARED, world=SkStorageWorld())
    a, b, c = FakeSock(), FakeSock(), FakeSock()
    for sk in (a, b):
        m.update(sk, b"same")
    m.update(c, b"othr")
    sk_storage_free(a)
    assert m.value_refcnt(b"same") == 1 and m.shared_value_count() == 2
    sk_storage_free(b)
    assert m.value_refcnt(b"same") == 0 and m.shared_value_count() == 1
    m.delete(c)
    assert m.shared_value_count() == 0


def test_shared_update_moves_the_reference():
    m = SkStorageMap(4, SHARED, world=SkStorageWorld())
    a, b = FakeSock(), FakeSock()
    m.update(a, b"old!")
    m.update(b, b"old!")
    m.update(a, b"new!")
    assert (m.value_refcnt(b"old!"), m.value_refcnt(b"new!")) == (1, 1)
    m.update(b, b"new!")
    assert m.value_refcnt(b"old!") == 0 and m.shared_value_count() == 1
    assert m.get(a) is m.get(b)
    assert bytes(m.get(FakeSock(), None, F_CREATE)) == bytes(4)  # NULL: the zero value


def test_shared_values_are_read_only_and_cheap_to_charge():
    m = SkStorageMap(1000, SHARED, world=SkStorageWorld())
    sk = FakeSock()
    v = m.get(sk, b"x" * 1000, F_CREATE)
    with pytest.raises(TypeError):
        v[0] = 0  # a program cannot change every socket's value behind their back
    assert sk.sk_omem_alloc == LOCAL_STORAGE_SIZE + SELEM_DATA_OFFSET + 8
    assert errno_of(SkStorageMap, 4, SHARED, world=SkStorageWorld(), spin_lock=True) == errno.EINVAL


def test_shared_clone_takes_a_reference_and_map_free_clears_all():
    m = SkStorageMap(4, SHARED | BPF_F_CLONE, world=SkStorageWorld())
    parent, child = FakeSock(), FakeSock()
    m.update(parent, b"lstn")
    sk_storage_clone(parent, child)
    assert m.get(child) is m.get(parent) and m.value_refcnt(b"lstn") == 2
    m.free()
    assert m.shared_value_count() == 0
    assert parent.sk_bpf_storage is None and child.sk_bpf_storage is None
