"""HashMap: flags × state, E2BIG, get_next_key, for_each, destructors, creation checks."""

import errno

import pytest
from map_helpers import Node, err

from qdisclab.errors import KernelError
from qdisclab.ops.maps import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_LOCK,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_RDONLY,
    BPF_F_RDONLY_PROG,
    BPF_F_WRONLY,
    BPF_F_WRONLY_PROG,
    BPF_MAP_TYPE_HASH,
    BPF_NOEXIST,
    HashMap,
)

OK = None
# flags -> expected errno for (absent key, present key, absent key in a full map)
FLAG_TABLE = {
    BPF_ANY: (OK, OK, errno.E2BIG),
    BPF_NOEXIST: (OK, errno.EEXIST, errno.E2BIG),
    BPF_EXIST: (errno.ENOENT, OK, errno.ENOENT),
    BPF_F_LOCK: (errno.EINVAL,) * 3,
    BPF_F_LOCK | BPF_NOEXIST: (errno.EINVAL,) * 3,
    BPF_NOEXIST | BPF_EXIST: (errno.EINVAL,) * 3,
    8: (errno.EINVAL,) * 3,
}


@pytest.mark.parametrize("flags", list(FLAG_TABLE))
@pytest.mark.parametrize("state", [0, 1, 2], ids=["absent", "present", "absent-full"])
def test_update_flags_by_state(flags, state):
    m = HashMap(2)
    m.update("other", "o")
    if state == 1:
        m.update("k", "old")
    if state == 2:
        m.update("filler", "f")
    before = m.dump()
    got = err(m.update, "k", "new", flags)
    assert got == FLAG_TABLE[flags][state]
    if got is None:
        assert m.lookup("k") == "new"
    else:
        assert m.dump() == before  # a failed update changes nothing


def test_overwrite_in_full_map_succeeds_and_keeps_len():
    m = HashMap(2)
    m.update(1, "a")
    m.update(2, "b")
    m.update(2, "B", BPF_EXIST)
    m.update(1, "A", BPF_ANY)
    assert m.dump() == [(1, "A"), (2, "B")]
    assert err(m.update, 3, "c", BPF_NOEXIST) == errno.E2BIG
    m.delete(1)
    m.update(3, "c", BPF_NOEXIST)
    assert m.dump() == [(2, "B"), (3, "c")]


def test_lookup_delete():
    m = HashMap(4)
    assert m.lookup(1) is None
    m.update((1, 2), b"v")
    assert m.lookup((1, 2)) == b"v"
    assert (1, 2) in m and len(m) == 1
    m.delete((1, 2))
    assert m.lookup((1, 2)) is None and len(m) == 0
    assert err(m.delete, (1, 2)) == errno.ENOENT


def test_none_value_and_none_key_rejected():
    m = HashMap(4)
    assert err(m.update, 1, None) == errno.EINVAL
    assert err(m.update, None, 1) == errno.EINVAL
    m.update(1, "x")
    assert err(m.update, 1, None) == errno.EINVAL
    assert m.lookup(1) == "x"


def test_get_next_key_walk_and_edges():
    m = HashMap(8)
    assert err(m.get_next_key) == errno.ENOENT
    assert err(m.get_next_key, 5) == errno.ENOENT  # missing key on an empty map
    for k in (30, 10, 20):
        m.update(k, str(k))
    walk, k = [], None
    while True:
        try:
            k = m.get_next_key(k)
        except KernelError as e:
            assert e.errno == errno.ENOENT
            break
        walk.append(k)
    assert walk == [30, 10, 20]  # insertion order
    assert m.get_next_key(999) == 30  # a missing key restarts from the first
    assert err(m.get_next_key, 20) == errno.ENOENT


def test_get_next_key_sees_changes_between_calls():
    m = HashMap(8)
    for k in "abcd":
        m.update(k, k)
    assert m.get_next_key("a") == "b"
    m.delete("c")
    assert m.get_next_key("b") == "d"  # not the deleted key
    m.update("e", "e")
    assert m.get_next_key("d") == "e"
    m.delete("b")
    assert m.get_next_key("b") == "a"  # current key deleted: restart, like the kernel
    m.update("a", "A")  # overwrite keeps the position
    assert [m.get_next_key(None), m.get_next_key("a")] == ["a", "d"]


def test_delete_and_reinsert_moves_key_to_end():
    m = HashMap(8)
    for k in (1, 2, 3):
        m.update(k, k)
    m.delete(1)
    m.update(1, 1)
    assert list(m) == [2, 3, 1]
    assert [k for k, _ in m.items()] == [2, 3, 1]


def test_for_each_order_count_and_stop():
    m = HashMap(8)
    for k in (5, 1, 3):
        m.update(k, k * 10)
    seen = []

    def cb(map_, key, value, ctx):
        assert map_ is m
        ctx.append((key, value))
        return 1 if key == 1 else 0

    assert m.for_each(cb, seen) == 2  # the element that stopped the walk counts
    assert seen == [(5, 50), (1, 10)]
    assert m.for_each(lambda *a: 0) == 3


def test_for_each_callback_may_delete():
    m = HashMap(8)
    for k in range(5):
        m.update(k, k)

    def cb(map_, key, value, ctx):
        map_.delete(key)
        if key == 1:
            map_.delete(3)  # a later element deleted: it must not be visited
        ctx.append(key)
        return 0

    seen = []
    assert m.for_each(cb, seen) == 4
    assert seen == [0, 1, 2, 4] and len(m) == 0


def test_for_each_bad_return_and_flags():
    m = HashMap(4)
    m.update(1, 1)
    assert err(m.for_each, lambda *a: None) == errno.EINVAL
    assert err(m.for_each, lambda *a: 2) == errno.EINVAL
    assert err(m.for_each, lambda *a: 0, None, 1) == errno.EINVAL


def test_dtor_on_delete_overwrite_clear_free():
    m = HashMap(4)
    a, b, c, d = Node("a"), Node("b"), Node("c"), Node("d")
    m.update(1, a)
    m.update(2, b)
    m.update(1, c)  # overwrite releases a
    assert (a.dtors, c.dtors) == (1, 0)
    m.update(1, c)  # same object: nothing let go
    assert c.dtors == 0
    m.delete(2)
    assert b.dtors == 1
    m.update(3, d)
    m.clear()
    assert (a.dtors, b.dtors, c.dtors, d.dtors) == (1, 1, 1, 1)
    assert len(m) == 0
    e = Node("e")
    m.update(1, e)
    m.free()
    assert e.dtors == 1 and len(m) == 0


def test_failed_update_does_not_release_either_value():
    m = HashMap(1)
    old, new, other = Node("old"), Node("new"), Node("other")
    m.update(1, old)
    assert err(m.update, 1, new, BPF_NOEXIST) == errno.EEXIST
    assert err(m.update, 2, other) == errno.E2BIG
    assert err(m.update, 1, new, BPF_F_LOCK) == errno.EINVAL
    assert (old.dtors, new.dtors, other.dtors) == (0, 0, 0)
    assert m.lookup(1) is old


def test_dtor_runs_after_the_map_is_updated():
    m = HashMap(4)
    seen = []

    class Probe:
        def __bpf_dtor__(self):
            seen.append((m.lookup(1), len(m)))

    m.update(1, Probe())
    m.update(1, "replacement")
    m.update(2, Probe())
    m.delete(2)
    assert seen == [("replacement", 1), ("replacement", 1)]


def test_info_dump_name():
    m = HashMap(16, key_size=8, value_size=24, map_flags=BPF_F_NO_PREALLOC, name="fq_flows")
    m.update(1, "x")
    info = m.info()
    assert (info.name, info.type, info.map_type) == ("fq_flows", "hash", BPF_MAP_TYPE_HASH)
    assert (info.max_entries, info.len, info.key_size, info.value_size) == (16, 1, 8, 24)
    assert info.map_flags == BPF_F_NO_PREALLOC
    assert m.dump() == [(1, "x")] and m.name == "fq_flows"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"max_entries": 0}, errno.EINVAL),
        ({"max_entries": -1}, errno.EINVAL),
        ({"max_entries": 1 << 32}, errno.EINVAL),
        ({"max_entries": 4, "key_size": 0}, errno.EINVAL),
        ({"max_entries": 4, "value_size": 0}, errno.EINVAL),
        ({"max_entries": 4, "key_size": 513}, errno.E2BIG),
        ({"max_entries": 4, "map_flags": BPF_F_NO_COMMON_LRU}, errno.EINVAL),
        ({"max_entries": 4, "map_flags": 1 << 10}, errno.EINVAL),  # MMAPABLE: arrays only
        ({"max_entries": 4, "map_flags": BPF_F_RDONLY | BPF_F_WRONLY}, errno.EINVAL),
        ({"max_entries": 4, "map_flags": BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG}, errno.EINVAL),
        ({"max_entries": 4, "name": "x" * 16}, errno.EINVAL),
        ({"max_entries": 4, "name": "bad-name"}, errno.EINVAL),
        ({"max_entries": 4, "name": "x" * 15, "key_size": 512}, None),
        ({"max_entries": 4, "map_flags": BPF_F_RDONLY_PROG, "name": "a.b_9"}, None),
    ],
)
def test_creation_checks(kwargs, expected):
    assert err(lambda: HashMap(**kwargs)) == expected
