"""BPF maps with the kernel's semantics: hash, array, LRU hash and map-in-map.

These are the maps a BPF qdisc (or any struct_ops extension) keeps its state
in: flow tables, per-class counters, per-queue sub-maps. Operations are the
helper/syscall ones (``lookup``, ``update``, ``delete``, ``get_next_key``,
``for_each``) and fail with :class:`qdisclab.errors.KernelError` carrying the
errno the kernel returns (see each method). Keys and values are Python
objects; ``lookup`` returns ``None`` where the helper returns NULL, so
``None`` is never a valid value. Iteration (``get_next_key``, ``for_each``,
``__iter__``, ``items``, ``dump``) is deterministic: insertion order for hash
maps, index order for arrays.

>>> from qdisclab.ops.maps import HashMap, BPF_NOEXIST
>>> flows = HashMap(1024, name="flows")
>>> flows.update(0xBEEF, {"qlen": 0}, BPF_NOEXIST)
>>> flows.lookup(0xBEEF)["qlen"] += 1
>>> flows.dump()
[(48879, {'qlen': 1})]

Destructor contract (the kernel's kptr destructors)
---------------------------------------------------
A value owns resources if its *type* defines ``__bpf_dtor__(self)`` — e.g. a
flow node holding queued skbs frees them there, as the kernel runs
``bpf_kfree_skb`` on an ``sk_buff __kptr`` left in a freed map value.

* The map calls ``value.__bpf_dtor__()`` exactly once each time it lets go of
  a value it stored: ``delete``, an ``update`` that replaces it, LRU
  eviction, ``clear()`` and ``free()`` (for arrays, clear/free re-initialise
  every slot with ``default()`` after releasing the old values).
* It is not called when an ``update`` stores the very object already in that
  slot (nothing is let go), nor on a failed ``update``: a rejected value
  still belongs to the caller.
* It is called after the map has been updated, so a destructor may use the
  map; an exception from it propagates, with the map already consistent.
* The map keeps no reference counts: storing one object under two keys means
  it is destroyed when the first of them goes.
* Map-in-map outer maps only drop their reference to an inner map (the
  kernel's ``bpf_map_put``); maps define no ``__bpf_dtor__``. Call ``free()``
  on an inner map yourself when you are done with it.

Not modelled: spin locks (``BPF_F_LOCK`` is EINVAL), per-CPU maps, memory
limits (ENOMEM), BTF value layouts (``key_size``/``value_size`` are recorded
and checked for sanity only), access flags enforcement (recorded only), and
the kernel's approximate LRU (see :class:`LruHashMap`).
"""

from __future__ import annotations

from qdisclab.ops.maps_array import ArrayMap
from qdisclab.ops.maps_base import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_INNER_MAP,
    BPF_F_LOCK,
    BPF_F_MMAPABLE,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_NUMA_NODE,
    BPF_F_RDONLY,
    BPF_F_RDONLY_PROG,
    BPF_F_WRONLY,
    BPF_F_WRONLY_PROG,
    BPF_F_ZERO_SEED,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_HASH_OF_MAPS,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_NOEXIST,
    BpfMap,
    MapInfo,
)
from qdisclab.ops.maps_hash import HashMap, LruHashMap
from qdisclab.ops.maps_of_maps import ArrayOfMaps, HashOfMaps

__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_F_INNER_MAP",
    "BPF_F_LOCK",
    "BPF_F_MMAPABLE",
    "BPF_F_NO_COMMON_LRU",
    "BPF_F_NO_PREALLOC",
    "BPF_F_NUMA_NODE",
    "BPF_F_RDONLY",
    "BPF_F_RDONLY_PROG",
    "BPF_F_WRONLY",
    "BPF_F_WRONLY_PROG",
    "BPF_F_ZERO_SEED",
    "BPF_MAP_TYPE_ARRAY",
    "BPF_MAP_TYPE_ARRAY_OF_MAPS",
    "BPF_MAP_TYPE_HASH",
    "BPF_MAP_TYPE_HASH_OF_MAPS",
    "BPF_MAP_TYPE_LRU_HASH",
    "BPF_NOEXIST",
    "ArrayMap",
    "ArrayOfMaps",
    "BpfMap",
    "HashMap",
    "HashOfMaps",
    "LruHashMap",
    "MapInfo",
]
