"""Map-in-map: the inner-map compatibility check, flags, slots, references only."""

import errno

import pytest
from map_helpers import Node, err

from qdisclab.ops.maps import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_INNER_MAP,
    BPF_F_NO_PREALLOC,
    BPF_F_RDONLY_PROG,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH_OF_MAPS,
    BPF_NOEXIST,
    ArrayMap,
    ArrayOfMaps,
    HashMap,
    HashOfMaps,
    LruHashMap,
)


@pytest.mark.parametrize(
    ("template", "inner", "expected"),
    [
        (HashMap(8), HashMap(8), None),
        (HashMap(8), HashMap(64), None),  # hash inner maps may differ in max_entries
        (HashMap(8), LruHashMap(8), errno.EINVAL),
        (LruHashMap(8), HashMap(8), errno.EINVAL),
        (HashMap(8), ArrayMap(8), errno.EINVAL),
        (HashMap(8, key_size=4), HashMap(8, key_size=8), errno.EINVAL),
        (HashMap(8, value_size=4), HashMap(8, value_size=8), errno.EINVAL),
        (HashMap(8), HashMap(8, map_flags=BPF_F_NO_PREALLOC), errno.EINVAL),
        (ArrayMap(8), ArrayMap(8), None),
        (ArrayMap(8), ArrayMap(4), errno.EINVAL),  # arrays must match max_entries...
        (ArrayMap(8, map_flags=BPF_F_INNER_MAP), ArrayMap(4, map_flags=BPF_F_INNER_MAP), None),
        (ArrayMap(8, map_flags=BPF_F_INNER_MAP), ArrayMap(8), errno.EINVAL),  # flags differ
        (HashMap(8), {"not": "a map"}, errno.EBADF),
        (HashMap(8), None, errno.EBADF),
    ],
)
@pytest.mark.parametrize("outer_cls", [ArrayOfMaps, HashOfMaps])
def test_inner_map_compatibility(outer_cls, template, inner, expected):
    outer = outer_cls(4, template)
    assert err(outer.update, 1, inner) == expected
    assert outer.dump() == ([(1, inner)] if expected is None else [])
    assert len(outer) == (1 if expected is None else 0)


@pytest.mark.parametrize("outer_cls", [ArrayOfMaps, HashOfMaps])
def test_template_checks(outer_cls):
    assert err(lambda: outer_cls(4, "nope")) == errno.EBADF
    nested = ArrayOfMaps(2, HashMap(2))
    assert err(lambda: outer_cls(4, nested)) == errno.EINVAL
    assert err(lambda: outer_cls(4, HashOfMaps(2, HashMap(2)))) == errno.EINVAL
    assert err(lambda: outer_cls(4, HashMap(2), map_flags=BPF_F_RDONLY_PROG)) == errno.EINVAL
    assert err(lambda: outer_cls(0, HashMap(2))) == errno.EINVAL


def test_array_of_maps_slots():
    outer = ArrayOfMaps(3, HashMap(4), name="txq")
    q0, q2 = HashMap(4), HashMap(4)
    outer.update(0, q0)
    outer.update(2, q2, BPF_ANY)
    assert outer.lookup(0) is q0 and outer.lookup(1) is None and outer.lookup(3) is None
    assert err(outer.update, 1, HashMap(4), BPF_NOEXIST) == errno.EINVAL
    assert err(outer.update, 0, HashMap(4), BPF_EXIST) == errno.EINVAL  # BPF_ANY only
    assert err(outer.update, 3, HashMap(4)) == errno.E2BIG
    assert err(outer.update, 3, "bad") == errno.E2BIG  # index checked before the value
    assert err(outer.update, 3, HashMap(4), BPF_EXIST) == errno.EINVAL  # flags first
    assert list(outer) == [0, 2] and outer.dump() == [(0, q0), (2, q2)]
    assert len(outer) == 2
    # get_next_key walks every index, empty or not, as for arrays
    assert [outer.get_next_key(), outer.get_next_key(0), outer.get_next_key(1)] == [0, 1, 2]
    assert err(outer.get_next_key, 2) == errno.ENOENT
    outer.delete(0)
    assert outer.lookup(0) is None
    assert err(outer.delete, 0) == errno.ENOENT
    assert err(outer.delete, 3) == errno.E2BIG
    info = outer.info()
    assert (info.type, info.map_type, info.len) == ("array_of_maps", BPF_MAP_TYPE_ARRAY_OF_MAPS, 1)


def test_hash_of_maps_checks_value_before_flags():
    outer = HashOfMaps(2, ArrayMap(4), name="classes")
    a = ArrayMap(4)
    # bpf_fd_htab_map_update_elem resolves the inner map before the hash update
    assert err(outer.update, 1, ArrayMap(5), BPF_EXIST) == errno.EINVAL
    assert err(outer.update, 1, a, BPF_EXIST) == errno.ENOENT
    outer.update(1, a, BPF_NOEXIST)
    assert err(outer.update, 1, ArrayMap(4), BPF_NOEXIST) == errno.EEXIST
    outer.update(2, ArrayMap(4))
    assert err(outer.update, 3, ArrayMap(4)) == errno.E2BIG
    assert outer.lookup(1) is a and outer.get_next_key(1) == 2
    outer.delete(1)
    assert err(outer.delete, 1) == errno.ENOENT
    assert outer.info().map_type == BPF_MAP_TYPE_HASH_OF_MAPS


@pytest.mark.parametrize("outer_cls", [ArrayOfMaps, HashOfMaps])
def test_for_each_refused(outer_cls):
    outer = outer_cls(2, HashMap(2))
    outer.update(0, HashMap(2))
    assert err(outer.for_each, lambda *a: 0) == errno.EINVAL


@pytest.mark.parametrize("outer_cls", [ArrayOfMaps, HashOfMaps])
def test_outer_map_only_drops_references(outer_cls):
    outer = outer_cls(2, HashMap(4))
    inner, node = HashMap(4), Node()
    inner.update("skb", node)
    outer.update(0, inner)
    outer.update(0, HashMap(4))  # overwrite
    outer.update(1, inner)
    outer.delete(1)
    outer.update(1, inner)
    outer.clear()
    assert len(outer) == 0
    assert node.dtors == 0 and inner.lookup("skb") is node  # inner map untouched
    inner.free()
    assert node.dtors == 1


def test_multi_queue_usage():
    """Per-queue flow tables behind one outer map, as sch_bpf's flow map did."""
    queues = ArrayOfMaps(4, HashMap(16, map_flags=BPF_F_NO_PREALLOC), name="flowmap")
    for q in range(4):
        queues.update(q, HashMap(16 * (q + 1), map_flags=BPF_F_NO_PREALLOC, name=f"q{q}"))
    for flow in range(10):
        table = queues.lookup(flow % 4)
        old = table.lookup(flow) or 0
        table.update(flow, old + 100)
    assert queues.lookup(1).dump() == [(1, 100), (5, 100), (9, 100)]
    assert [queues.lookup(q).info().len for q in range(4)] == [3, 3, 2, 2]
