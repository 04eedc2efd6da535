"""ArrayMap: preallocation, flags × index, delete EINVAL, get_next_key, destructors."""

import errno

import pytest
from map_helpers import Node, err

from qdisclab.ops.maps import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_INNER_MAP,
    BPF_F_LOCK,
    BPF_F_MMAPABLE,
    BPF_F_NO_PREALLOC,
    BPF_MAP_TYPE_ARRAY,
    BPF_NOEXIST,
    ArrayMap,
)


def test_every_index_exists_zeroed():
    a = ArrayMap(4)
    assert [a.lookup(i) for i in range(4)] == [0, 0, 0, 0]
    assert a.lookup(4) is None and a.lookup(-1) is None
    assert len(a) == 4 and list(a) == [0, 1, 2, 3]
    assert a.dump() == [(0, 0), (1, 0), (2, 0), (3, 0)]


def test_default_factory_called_per_slot():
    a = ArrayMap(3, list)
    a.lookup(0).append("x")  # the value is the object in the map, changed in place
    assert a.lookup(0) == ["x"] and a.lookup(1) == []


OK = None
# flags -> (errno in range, errno out of range); the kernel checks unknown flags,
# then the index, then NOEXIST, then BPF_F_LOCK.
FLAG_TABLE = {
    BPF_ANY: (OK, errno.E2BIG),
    BPF_EXIST: (OK, errno.E2BIG),
    BPF_NOEXIST: (errno.EEXIST, errno.E2BIG),
    BPF_F_LOCK: (errno.EINVAL, errno.E2BIG),
    BPF_F_LOCK | BPF_NOEXIST: (errno.EEXIST, errno.E2BIG),
    BPF_F_LOCK | BPF_EXIST: (errno.EINVAL, errno.E2BIG),
    BPF_NOEXIST | BPF_EXIST: (errno.EINVAL, errno.EINVAL),
    8: (errno.EINVAL, errno.EINVAL),
}


@pytest.mark.parametrize("flags", list(FLAG_TABLE))
@pytest.mark.parametrize("index", [1, 4, -1], ids=["in-range", "at-max", "negative"])
def test_update_flags_by_index(flags, index):
    a = ArrayMap(4)
    got = err(a.update, index, 7, flags)
    assert got == FLAG_TABLE[flags][0 if index == 1 else 1]
    assert a.lookup(1) == (7 if got is None else 0)


@pytest.mark.parametrize("index", [0, 3, 4, -1])
def test_delete_always_einval(index):
    a = ArrayMap(4)
    assert err(a.delete, index) == errno.EINVAL
    assert a.lookup(0) == 0


def test_none_value_rejected():
    a = ArrayMap(2)
    assert err(a.update, 0, None) == errno.EINVAL
    assert err(lambda: ArrayMap(2, lambda: None)) == errno.EINVAL


def test_get_next_key():
    a = ArrayMap(3)
    assert a.get_next_key() == 0
    assert a.get_next_key(0) == 1
    assert a.get_next_key(1) == 2
    assert err(a.get_next_key, 2) == errno.ENOENT
    assert a.get_next_key(3) == 0 and a.get_next_key(-5) == 0
    assert err(ArrayMap(1).get_next_key, 0) == errno.ENOENT


def test_for_each():
    a = ArrayMap(4)
    for i in range(4):
        a.update(i, i * i)
    seen = []

    def cb(map_, index, value, ctx):
        ctx.append((index, value))
        return 1 if index == 2 else 0

    assert a.for_each(cb, seen) == 3
    assert seen == [(0, 0), (1, 1), (2, 4)]
    assert a.for_each(lambda *x: 0) == 4
    assert err(a.for_each, lambda *x: 0, None, 1) == errno.EINVAL
    assert err(a.for_each, lambda *x: -1) == errno.EINVAL


def test_dtor_on_overwrite_and_clear():
    a = ArrayMap(3, Node)
    initial = [a.lookup(i) for i in range(3)]
    new = Node()
    a.update(0, new)
    assert [n.dtors for n in initial] == [1, 0, 0]
    a.update(0, new)  # same object
    assert new.dtors == 0
    assert err(a.update, 1, Node(), BPF_NOEXIST) == errno.EEXIST
    assert initial[1].dtors == 0
    a.clear()
    assert [n.dtors for n in initial] == [1, 1, 1] and new.dtors == 1
    fresh = [a.lookup(i) for i in range(3)]
    assert all(isinstance(n, Node) and n.dtors == 0 for n in fresh)
    assert not any(f is o for f in fresh for o in [*initial, new])
    a.free()
    assert [n.dtors for n in fresh] == [1, 1, 1]


def test_info_and_creation():
    a = ArrayMap(8, key_size=4, value_size=16, map_flags=BPF_F_MMAPABLE, name="stats")
    info = a.info()
    assert (info.type, info.map_type, info.len, info.max_entries) == (
        "array",
        BPF_MAP_TYPE_ARRAY,
        8,
        8,
    )
    assert info.map_flags == BPF_F_MMAPABLE
    assert err(lambda: ArrayMap(0)) == errno.EINVAL
    assert err(lambda: ArrayMap(4, key_size=8)) == errno.EINVAL
    assert err(lambda: ArrayMap(4, map_flags=BPF_F_NO_PREALLOC)) == errno.EINVAL
    assert err(lambda: ArrayMap(4, map_flags=BPF_F_INNER_MAP)) is None
