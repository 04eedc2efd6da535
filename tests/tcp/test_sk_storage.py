"""Socket local storage: creation, get/update/delete, errnos, cache slots, memory."""

from __future__ import annotations

import errno
import struct

import pytest

from qdisclab.errors import ENOTSUPP, KernelError
from qdisclab.tcp.sk_storage import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_CLONE,
    BPF_F_INLINE,
    BPF_F_LOCK,
    BPF_F_NO_PREALLOC,
    BPF_F_SHARED,
    BPF_LOCAL_STORAGE_MAX_VALUE_SIZE,
    BPF_MAP_TYPE_SK_STORAGE,
    BPF_NOEXIST,
    BPF_SK_STORAGE_GET_F_CREATE,
    LOCAL_STORAGE_SIZE,
    SELEM_DATA_OFFSET,
    SkStorageMap,
    SkStorageWorld,
    StorageCacheTable,
    sk_storage_free,
)

F_CREATE = BPF_SK_STORAGE_GET_F_CREATE


class FakeSock:
    __slots__ = ("sk_bpf_inline", "sk_bpf_storage", "sk_omem_alloc", "sk_refcnt")

    def __init__(self, omem: int = 0) -> None:
        self.sk_bpf_storage = None
        self.sk_bpf_inline = None
        self.sk_omem_alloc = omem
        self.sk_refcnt = 1


class MiniSock:
    """A request/timewait sock: no sk_bpf_storage, so not a full socket."""

    __slots__ = ("sk_state",)


@pytest.fixture
def world() -> SkStorageWorld:
    return SkStorageWorld()


def mk(world: SkStorageWorld, value_size: int = 4, flags: int = BPF_F_NO_PREALLOC, **kw):
    return SkStorageMap(value_size, flags, world=world, **kw)


def errno_of(fn, *args, **kw) -> int:
    with pytest.raises(KernelError) as info:
        fn(*args, **kw)
    return info.value.errno


# --- creation ------------------------------------------------------------------------------


def test_create_valid_map(world):
    m = mk(world, 8, BPF_F_NO_PREALLOC | BPF_F_CLONE)
    assert m.map_type == BPF_MAP_TYPE_SK_STORAGE == 24
    assert m.elem_size == SELEM_DATA_OFFSET + 8
    assert type(m) is SkStorageMap


@pytest.mark.parametrize(
    ("kwargs", "err"),
    [
        ({"flags": 0}, errno.EINVAL),  # NO_PREALLOC is mandatory
        ({"flags": BPF_F_CLONE}, errno.EINVAL),
        ({"flags": BPF_F_NO_PREALLOC | 1 << 3}, errno.EINVAL),  # unknown bit
        ({"flags": BPF_F_NO_PREALLOC | BPF_F_INLINE | BPF_F_SHARED}, errno.EINVAL),
        ({"max_entries": 1}, errno.EINVAL),
        ({"key_size": 8}, errno.EINVAL),
        ({"value_size": 0}, errno.EINVAL),
        ({"value_size": BPF_LOCAL_STORAGE_MAX_VALUE_SIZE + 1}, errno.E2BIG),
        ({"btf_key_type": None}, errno.EINVAL),  # key BTF id 0
        ({"btf_value_type": None}, errno.EINVAL),
        ({"btf_key_type": "struct sk_val"}, errno.EINVAL),  # key BTF is a struct
        ({"capable": False}, errno.EPERM),
    ],
)
def test_create_rejections(world, kwargs, err):
    before = list(world.cache.idx_usage_counts)
    assert errno_of(mk, world, **kwargs) == err
    assert world.cache.idx_usage_counts == before  # a failed create holds no cache slot


def test_create_limits_accept_edges(world):
    assert BPF_LOCAL_STORAGE_MAX_VALUE_SIZE == 65407
    assert mk(world, BPF_LOCAL_STORAGE_MAX_VALUE_SIZE).value_size == 65407
    assert mk(world, 4, btf_key_type="u32").value_size == 4


# --- cache slot assignment ------------------------------------------------------------------


def test_first_16_maps_get_distinct_slots_then_share_least_used(world):
    maps = [mk(world) for _ in range(18)]
    assert [m.cache_idx for m in maps[:16]] == list(range(16))
    assert maps[16].cache_idx == 0 and maps[17].cache_idx == 1
    assert world.cache.idx_usage_counts[:3] == [2, 2, 1]


def test_freed_slot_is_reused_and_ties_go_to_lowest_index(world):
    maps = [mk(world) for _ in range(20)]  # slots 0..3 used twice, 4..15 once
    assert mk(world).cache_idx == 4
    maps[0].free()  # slot 0 drops to 1 use, the least used and lowest
    assert mk(world).cache_idx == 0
    maps[9].free()  # slot 9 drops to 0: an unused slot wins outright
    assert mk(world).cache_idx == 9


def test_cache_table_stops_at_first_unused_slot():
    t = StorageCacheTable()
    t.idx_usage_counts = [3, 1, 0, 0, *[0] * 12]
    assert t.idx_get() == 2
    t.idx_usage_counts = [3, 1, 2, 1, *[5] * 12]
    assert t.idx_get() == 1


def test_worlds_are_independent():
    a, b = SkStorageWorld(), SkStorageWorld()
    for _ in range(5):
        mk(a)
    assert mk(b).cache_idx == 0 and mk(a).cache_idx == 5


def test_17th_map_falls_off_the_fast_path(world):
    maps = [mk(world) for _ in range(17)]
    sk = FakeSock()
    for m in maps:
        m.get(sk, None, F_CREATE)
    first, last = maps[0], maps[16]
    assert first.cache_idx == last.cache_idx == 0
    for m in maps:  # warm: each map's get caches itself
        m.get(sk)
    assert sk.sk_bpf_storage.cache[0].smap is last
    misses = [m.cache_misses for m in maps]
    for m in maps[1:16]:
        m.get(sk)
    assert [m.cache_misses for m in maps[1:16]] == misses[1:16]  # 16 slots still hit
    first.get(sk)  # slot 0 holds the 17th map: a miss, and a walk to the list tail
    assert first.cache_misses == misses[0] + 1
    assert sk.sk_bpf_storage.cache[0].smap is first  # re-populated, evicting the 17th
    walked = first.walk_steps
    first.get(sk)
    assert first.walk_steps == walked  # now a hit
    last.get(sk)
    assert last.cache_misses == misses[16] + 1
    assert last.walk_steps  # newest element: found at the list head


def test_walk_is_linear_in_the_position_in_the_list(world):
    maps = [mk(world) for _ in range(40)]
    sk = FakeSock()
    for m in maps:
        m.update(sk, None)
    # newest first: the first-created map is at the tail, 40 compares away
    sk.sk_bpf_storage.cache = [None] * 16
    before = [m.walk_steps for m in maps]  # updates walked too (the existence check)
    maps[0].get(sk)
    assert maps[0].walk_steps - before[0] == 40
    maps[39].lookup(sk, cacheit=False)
    assert maps[39].walk_steps - before[39] == 1


def test_update_and_uncached_lookup_do_not_populate_cache(world):
    m = mk(world)
    sk = FakeSock()
    m.update(sk, b"abcd")
    st = sk.sk_bpf_storage
    assert st.cache[m.cache_idx] is None  # update never inserts into the cache
    m.lookup(sk, cacheit=False)
    assert st.cache[m.cache_idx] is None
    m.get(sk)
    assert st.cache[m.cache_idx] is st.elems[0]
    m.update(sk, b"efgh")  # replacement unlinks the cached element: slot cleared
    assert st.cache[m.cache_idx] is None


def test_delete_clears_its_slot_but_not_another_maps(world):
    maps = [mk(world) for _ in range(17)]
    sk = FakeSock()
    for m in maps:
        m.update(sk, None)
    maps[0].get(sk)  # map 0 owns slot 0
    st = sk.sk_bpf_storage
    maps[16].delete(sk)  # shares slot 0; delete looks up without caching
    assert st.cache[0].smap is maps[0]
    maps[0].delete(sk)
    assert st.cache[0] is None
    assert all(e is None or e.local_storage is st for e in st.cache)


# --- helper get -----------------------------------------------------------------------------


def test_get_without_create_returns_none_and_allocates_nothing(world):
    m, sk = mk(world), FakeSock()
    assert m.get(sk) is None
    assert sk.sk_bpf_storage is None and sk.sk_omem_alloc == 0


def test_get_create_initial_value_and_identity(world):
    m, sk = mk(world), FakeSock()
    v = m.get(sk, b"\x01\x02\x03\x04", F_CREATE)
    assert bytes(v) == b"\x01\x02\x03\x04"
    v[0] = 9
    assert m.get(sk) is v and m.get(sk, b"zzzz", F_CREATE)[0] == 9  # existing wins
    assert bytes(mk(world).get(sk, None, F_CREATE)) == bytes(4)  # NULL value: zeroes


@pytest.mark.parametrize("flags", [2, 3, 1 << 8])
def test_get_unknown_flags_is_null_even_if_present(world, flags):
    m, sk = mk(world), FakeSock()
    m.update(sk, b"abcd")
    assert m.get(sk, None, flags) is None


def test_get_null_for_non_full_or_dying_socket(world):
    m = mk(world)
    assert m.get(None, None, F_CREATE) is None
    assert m.get(MiniSock(), None, F_CREATE) is None
    sk = FakeSock()
    sk.sk_refcnt = 0
    assert m.get(sk, None, F_CREATE) is None and sk.sk_bpf_storage is None
    sk.sk_refcnt = 1
    m.update(sk, b"abcd")
    sk.sk_refcnt = 0
    assert bytes(m.get(sk)) == b"abcd"  # lookup does not need a reference


def test_get_create_failure_is_null_not_exception(world):
    m, sk = mk(world), FakeSock()
    assert m.get(sk, b"too long", F_CREATE) is None
    small = SkStorageWorld(optmem_max=100)
    assert mk(small).get(FakeSock(), None, F_CREATE) is None  # ENOMEM becomes NULL


# --- update / delete ------------------------------------------------------------------------


def test_update_flags_and_errnos(world):
    m, sk = mk(world), FakeSock()
    assert errno_of(m.update, sk, b"abcd", BPF_EXIST) == errno.ENOENT
    assert sk.sk_bpf_storage is None
    m.update(sk, b"abcd", BPF_NOEXIST)
    assert errno_of(m.update, sk, b"wxyz", BPF_NOEXIST) == errno.EEXIST
    assert m.syscall_lookup(sk) == b"abcd"
    assert errno_of(m.update, sk, b"wxyz", BPF_NOEXIST | BPF_EXIST) == errno.EINVAL
    assert errno_of(m.update, sk, b"wxyz", BPF_F_LOCK) == errno.EINVAL  # no spin lock
    assert errno_of(m.update, sk, b"abc", BPF_ANY) == errno.EINVAL  # wrong size
    m.update(sk, b"wxyz", BPF_EXIST)
    assert m.syscall_lookup(sk) == b"wxyz"


def test_update_replaces_element_stale_buffer_is_lost(world):
    m, sk = mk(world), FakeSock()
    old = m.get(sk, b"aaaa", F_CREATE)
    m.update(sk, b"bbbb")
    old[0] = ord("X")  # write through the stale pointer
    assert m.syscall_lookup(sk) == b"bbbb"
    assert len(sk.sk_bpf_storage.elems) == 1


def test_locked_update_is_in_place(world):
    m, sk = mk(world, 8, spin_lock=True), FakeSock()
    v = m.update(sk, struct.pack("<iI", 1, 0), BPF_NOEXIST | BPF_F_LOCK)
    assert m.update(sk, struct.pack("<iI", 2, 0), BPF_EXIST | BPF_F_LOCK) is v
    assert struct.unpack_from("<i", v)[0] == 2


def test_newest_first_list_order(world):
    a, b, c = mk(world), mk(world), mk(world)
    sk = FakeSock()
    for m in (a, b, c):
        m.update(sk, None)
    a.update(sk, b"1234")  # replacement re-links a at the head
    assert [e.smap for e in sk.sk_bpf_storage.elems] == [a, c, b]


def test_delete_semantics(world):
    a, b = mk(world), mk(world)
    sk = FakeSock()
    assert errno_of(a.delete, sk) == errno.ENOENT
    a.update(sk, b"aaaa")
    b.update(sk, b"bbbb")
    a.delete(sk)
    assert errno_of(a.delete, sk) == errno.ENOENT
    assert a.get(sk) is None and bytes(b.get(sk)) == b"bbbb"
    b.delete(sk)
    assert sk.sk_bpf_storage is None  # storage exists iff it has an element
    assert bytes(a.get(sk, b"cccc", F_CREATE)) == b"cccc"  # a fresh storage


def test_helper_delete_returns_negative_errno(world):
    m, sk = mk(world), FakeSock()
    assert m.helper_delete(None) == -errno.EINVAL
    assert m.helper_delete(MiniSock()) == -errno.EINVAL
    assert m.helper_delete(sk) == -errno.ENOENT
    m.update(sk, None)
    sk.sk_refcnt = 0
    assert m.helper_delete(sk) == -errno.ENOENT and len(m) == 1  # dying socket: kept
    sk.sk_refcnt = 1
    assert m.helper_delete(sk) == 0 and len(m) == 0


# --- syscall side ---------------------------------------------------------------------------


def test_syscall_ops(world):
    m, sk = mk(world), FakeSock()
    assert errno_of(m.syscall_lookup, sk) == errno.ENOENT
    assert errno_of(m.syscall_lookup, None) == errno.EBADF
    assert errno_of(m.syscall_update, MiniSock(), b"abcd") == errno.ENOTSOCK
    m.syscall_update(sk, b"abcd")
    got = m.syscall_lookup(sk)
    assert got == b"abcd" and isinstance(got, bytes)  # a copy, not the live buffer
    assert sk.sk_bpf_storage.cache[m.cache_idx] is not None  # syscall lookup caches
    assert errno_of(m.syscall_lookup, sk, BPF_F_LOCK) == errno.EINVAL  # no spin lock
    assert errno_of(m.syscall_lookup, sk, 8) == errno.EINVAL
    assert errno_of(m.syscall_get_next_key) == ENOTSUPP == 524
    m.syscall_delete(sk)
    assert errno_of(m.syscall_delete, sk) == errno.ENOENT


def test_iterator_visits_every_socket(world):
    m = mk(world, 1)
    socks = [FakeSock() for _ in range(3)]
    for i, sk in enumerate(socks):
        m.update(sk, bytes([i]))
    assert list(m.iter_values()) == [(sk, bytes([i])) for i, sk in enumerate(socks)]


# --- destruction ----------------------------------------------------------------------------


def test_map_free_drops_values_everywhere(world):
    a, b = mk(world), mk(world)
    s1, s2 = FakeSock(), FakeSock()
    a.update(s1, b"a1a1")
    a.update(s2, b"a2a2")
    b.update(s2, b"b2b2")
    a.get(s2)
    a.free()
    assert s1.sk_bpf_storage is None and s1.sk_omem_alloc == 0
    st = s2.sk_bpf_storage
    assert [e.smap for e in st.elems] == [b] and st.cache[a.cache_idx] is None
    assert s2.sk_omem_alloc == LOCAL_STORAGE_SIZE + b.elem_size
    assert world.cache.idx_usage_counts[a.cache_idx] == 0
    assert errno_of(a.syscall_lookup, s2) == errno.EBADF
    assert a.get(s2, None, F_CREATE) is None
    a.free()  # idempotent: the slot is not released twice
    assert world.cache.idx_usage_counts[b.cache_idx] == 1


def test_socket_free_drops_everything(world):
    maps = [mk(world) for _ in range(3)]
    sk, other = FakeSock(), FakeSock()
    for m in maps:
        m.update(sk, None)
        m.update(other, None)
    sk_storage_free(sk)
    assert sk.sk_bpf_storage is None and sk.sk_omem_alloc == 0
    assert [len(m) for m in maps] == [1, 1, 1]
    assert all(m.get(other) is not None for m in maps)
    sk_storage_free(sk)  # closing twice is harmless
    maps[0].update(sk, b"1234")  # the map is still usable on this socket object
    assert len(maps[0]) == 2


# --- memory charging ------------------------------------------------------------------------


def test_charge_amounts(world):
    a, b = mk(world, 4), mk(world, 100)
    sk = FakeSock()
    a.update(sk, None)
    assert sk.sk_omem_alloc == LOCAL_STORAGE_SIZE + SELEM_DATA_OFFSET + 4 == 260
    b.update(sk, None)
    assert sk.sk_omem_alloc == 260 + 172
    a.update(sk, b"1234")  # replacement: charge new, uncharge old
    assert sk.sk_omem_alloc == 432
    a.delete(sk)
    b.delete(sk)
    assert sk.sk_omem_alloc == 0


def test_charge_is_strictly_below_optmem_max():
    exact = LOCAL_STORAGE_SIZE + SELEM_DATA_OFFSET + 100  # 356
    m = mk(SkStorageWorld(optmem_max=exact), 100)
    assert errno_of(m.update, FakeSock(), None) == errno.ENOMEM
    assert mk(SkStorageWorld(optmem_max=exact + 1), 100).update(FakeSock(), None) is not None


def test_charge_shares_sk_omem_alloc_with_other_users(world):
    m = mk(world)
    sk = FakeSock(omem=world.optmem_max - 200)  # e.g. other socket options
    assert errno_of(m.update, sk, None) == errno.ENOMEM
    assert sk.sk_bpf_storage is None and sk.sk_omem_alloc == world.optmem_max - 200


def test_replacement_near_budget_fails_but_locked_update_does_not():
    exact = LOCAL_STORAGE_SIZE + SELEM_DATA_OFFSET + 8
    w = SkStorageWorld(optmem_max=exact + 1)
    m, sk = mk(w, 8, spin_lock=True), FakeSock()
    m.update(sk, bytes(8))
    assert errno_of(m.update, sk, b"\x01" * 8, BPF_ANY) == errno.ENOMEM
    # allocation precedes the flag check, as in the kernel
    assert errno_of(m.update, sk, b"\x01" * 8, BPF_NOEXIST) == errno.ENOMEM
    m.update(sk, b"\x02" * 8, BPF_EXIST | BPF_F_LOCK)  # in place: nothing to charge
    assert m.syscall_lookup(sk) == b"\x02" * 8


def test_charge_without_sk_omem_alloc_uses_storage_total():
    class BareSock:
        __slots__ = ("sk_bpf_storage",)

        def __init__(self) -> None:
            self.sk_bpf_storage = None

    w = SkStorageWorld(optmem_max=600)
    a, b, c = (mk(w, 100) for _ in range(3))
    sk = BareSock()
    a.update(sk, None)
    b.update(sk, None)  # 184 + 2 * 172 = 528 < 600
    assert sk.sk_bpf_storage.mem_charge == 528
    assert errno_of(c.update, sk, None) == errno.ENOMEM
