"""LruHashMap: exact-LRU eviction order, what marks an entry used, flags, destructors."""

import errno

import pytest
from map_helpers import Node, err

from qdisclab.errors import ENOTSUPP, KernelError
from qdisclab.ops.maps import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_LOCK,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_NOEXIST,
    LruHashMap,
)


def filled(n, cap=None):
    m = LruHashMap(cap or n)
    for k in range(1, n + 1):
        m.update(k, k)
    return m


def test_full_map_evicts_least_recently_inserted():
    m = filled(3)
    m.update(4, 4)
    assert sorted(m) == [2, 3, 4]
    m.update(5, 5)
    assert sorted(m) == [3, 4, 5]
    assert m.lru_order() == [3, 4, 5]


def test_lookup_marks_used():
    m = filled(3)
    assert m.lookup(1) == 1
    m.update(4, 4)
    assert sorted(m) == [1, 3, 4]  # 2 was the least recently used
    assert m.lookup(99) is None
    assert m.lru_order() == [3, 1, 4]


def test_overwrite_marks_used():
    m = filled(3)
    m.update(1, "one", BPF_EXIST)
    m.update(4, 4)
    assert sorted(m) == [1, 3, 4]


@pytest.mark.parametrize(
    "touch",
    [
        lambda m: m.lookup_sys(1),
        lambda m: m.get_next_key(1),
        lambda m: m.for_each(lambda *a: 0),
        lambda m: m.dump(),
        lambda m: list(m),
        lambda m: m.info(),
    ],
    ids=["lookup_sys", "get_next_key", "for_each", "dump", "iter", "info"],
)
def test_userspace_access_does_not_mark_used(touch):
    m = filled(3)
    touch(m)
    m.update(4, 4)
    assert 1 not in m and sorted(m) == [2, 3, 4]


def test_failed_updates_do_not_evict_or_mark():
    m = filled(3)
    assert err(m.update, 1, "x", BPF_NOEXIST) == errno.EEXIST
    assert err(m.update, 9, "x", BPF_EXIST) == errno.ENOENT
    assert err(m.update, 9, "x", BPF_F_LOCK) == errno.EINVAL
    assert err(m.update, 9, "x", BPF_NOEXIST | BPF_EXIST) == errno.EINVAL
    assert m.dump() == [(1, 1), (2, 2), (3, 3)]
    assert m.lru_order() == [1, 2, 3]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(BPF_ANY, None), (BPF_NOEXIST, None), (BPF_EXIST, errno.ENOENT), (BPF_F_LOCK, errno.EINVAL)],
)
def test_new_key_in_full_map_by_flags(flags, expected):
    m = filled(2)
    assert err(m.update, 3, 3, flags) == expected
    assert (3 in m) == (expected is None)
    assert (1 in m) == (expected is not None)  # evicted only on success
    assert len(m) == 2


def test_delete_removes_from_recency():
    m = filled(3)
    m.delete(1)
    m.update(4, 4)  # room left: no eviction
    assert sorted(m) == [2, 3, 4]
    m.update(5, 5)
    assert sorted(m) == [3, 4, 5]
    assert err(m.delete, 1) == errno.ENOENT


def test_dtor_once_on_eviction_and_sees_consistent_map():
    m = LruHashMap(2)
    seen = []

    class Probe(Node):
        def __bpf_dtor__(self):
            super().__bpf_dtor__()
            seen.append(sorted(m))

    a, b = Probe("a"), Probe("b")
    m.update(1, a)
    m.update(2, b)
    m.update(3, "c")
    assert (a.dtors, b.dtors) == (1, 0)
    assert seen == [[2, 3]]  # called after the new key went in
    m.update(4, "d")
    assert (a.dtors, b.dtors) == (1, 1)


def test_dtor_on_overwrite_delete_clear():
    m = LruHashMap(4)
    a, b, c = Node("a"), Node("b"), Node("c")
    m.update(1, a)
    m.update(1, b)
    m.update(1, b)
    m.update(2, c)
    m.delete(2)
    assert (a.dtors, b.dtors, c.dtors) == (1, 0, 1)
    m.clear()
    assert b.dtors == 1 and len(m) == 0 and m.lru_order() == []
    m.update(7, "x")  # still usable after clear
    assert m.lru_order() == [7]


def test_eviction_order_is_deterministic():
    def run():
        m = LruHashMap(8)
        for i in range(100):
            m.update(i * 7 % 23, i)
            m.lookup(i * 3 % 23)
        return m.dump(), m.lru_order()

    assert run() == run()


def test_creation_flags():
    e = None
    try:
        LruHashMap(4, map_flags=BPF_F_NO_PREALLOC)
    except KernelError as exc:
        e = exc
    assert e is not None and e.errno == ENOTSUPP
    m = LruHashMap(4, map_flags=BPF_F_NO_COMMON_LRU, name="conntrack")
    info = m.info()
    assert (info.type, info.map_type, info.map_flags) == (
        "lru_hash",
        BPF_MAP_TYPE_LRU_HASH,
        BPF_F_NO_COMMON_LRU,
    )
