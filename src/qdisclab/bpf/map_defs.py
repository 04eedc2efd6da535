"""BTF-defined maps (``SEC(".maps")``) and their creation on qdisclab's map implementations.

A map definition is a global struct whose members encode the attributes in
their *types* (libbpf's convention, ``__uint``/``__type``/``__array``):
``int (*type)[BPF_MAP_TYPE_HASH]`` is a pointer to an array whose length is
the value; ``typeof(key) *key`` a pointer to the key type. ``values`` of an
array/hash of maps is an array of pointers to the inner map's definition.

>>> d = MapDef("flows", 0, BPF_MAP_TYPE_HASH, key_size=4, value_size=8, max_entries=16)
>>> m = d.create()
>>> type(m).__name__, m.max_entries
('HashMap', 16)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qdisclab.bpf.btf import (
    BTF_KIND_ARRAY,
    BTF_KIND_DATASEC,
    BTF_KIND_PTR,
    BTF_KIND_STRUCT,
    Btf,
)
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.special_fields import SpecialField, special_fields
from qdisclab.errors import KernelError
from qdisclab.ops.maps import (
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_HASH_OF_MAPS,
    BPF_MAP_TYPE_LRU_HASH,
    ArrayMap,
    ArrayOfMaps,
    BpfMap,
    HashMap,
    HashOfMaps,
    LruHashMap,
)

MAP_TYPE_NAMES = {
    BPF_MAP_TYPE_HASH: "hash",
    BPF_MAP_TYPE_ARRAY: "array",
    BPF_MAP_TYPE_LRU_HASH: "lru_hash",
    BPF_MAP_TYPE_ARRAY_OF_MAPS: "array_of_maps",
    BPF_MAP_TYPE_HASH_OF_MAPS: "hash_of_maps",
}
_OF_MAPS = (BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS)
_INT_ATTRS = ("type", "max_entries", "map_flags", "key_size", "value_size", "pinning", "numa_node")


@dataclass(slots=True)
class MapDef:
    """One map as the object defines it; ``offset`` is its place in ``.maps``."""

    name: str
    offset: int
    map_type: int
    key_size: int = 0
    value_size: int = 0
    max_entries: int = 0
    map_flags: int = 0
    key_type: int = 0  # BTF ids (0: sized only)
    value_type: int = 0
    inner: MapDef | None = None
    value_fields: list[SpecialField] = field(default_factory=list)

    @property
    def type_name(self) -> str:
        return MAP_TYPE_NAMES.get(self.map_type, f"type {self.map_type}")

    def create(self) -> BpfMap:
        """A fresh map of this definition (values are zeroed ``bytearray``s of value_size)."""
        kw = {"key_size": self.key_size or None, "map_flags": self.map_flags, "name": self.name}
        try:
            if self.map_type in _OF_MAPS:
                if self.inner is None:
                    raise BpfLoadError(self.name, "map-in-map without an inner map (values)")
                cls = ArrayOfMaps if self.map_type == BPF_MAP_TYPE_ARRAY_OF_MAPS else HashOfMaps
                return cls(self.max_entries, self.inner.create(), **kw)
            kw["value_size"] = self.value_size or None
            if self.map_type == BPF_MAP_TYPE_ARRAY:
                size = self.value_size
                return ArrayMap(self.max_entries, lambda: bytearray(size), **kw)
            if self.map_type == BPF_MAP_TYPE_HASH:
                return HashMap(self.max_entries, **kw)
            if self.map_type == BPF_MAP_TYPE_LRU_HASH:
                return LruHashMap(self.max_entries, **kw)
        except KernelError as exc:
            raise BpfLoadError(f"map {self.name}", str(exc)) from None
        raise BpfLoadError(f"map {self.name}", f"map type {self.map_type} is not supported")


def read_map_defs(btf: Btf, where: str) -> list[MapDef]:
    """Every map defined in the ``.maps`` DATASEC of ``btf``."""
    sec = btf.find(".maps", BTF_KIND_DATASEC)
    if sec is None:
        return []
    defs = []
    for info in sec.secinfos:
        var = btf[info.type_id]
        defs.append(parse_map_def(btf, var.name, info.offset, var.ref, f"{where}: map {var.name}"))
    return defs


def parse_map_def(btf: Btf, name: str, offset: int, type_id: int, where: str) -> MapDef:
    """The map ``name`` defined by struct type ``type_id`` at ``.maps+offset``."""
    st = btf.skip_modifiers(type_id)
    if st.kind != BTF_KIND_STRUCT:
        raise BpfLoadError(where, "a .maps definition must be a struct (use __uint/__type)")
    attrs: dict[str, int] = {}
    d = MapDef(name, offset, 0)
    for m in st.members:
        if m.name in _INT_ATTRS:
            attrs[m.name] = _uint(btf, m.type_id, where, m.name)
        elif m.name in ("key", "value"):
            target = _pointee(btf, m.type_id, where, m.name)
            setattr(d, f"{m.name}_type", target)
            setattr(d, f"{m.name}_size", btf.sizeof(target))
        elif m.name == "values":
            arr = btf.skip_modifiers(m.type_id)
            if arr.kind != BTF_KIND_ARRAY:
                raise BpfLoadError(where, "values must be __array(values, struct {...})")
            inner_def = _pointee(btf, arr.ref, where, "values")
            d.inner = parse_map_def(btf, f"{name}.inner", 0, inner_def, f"{where} (inner map)")
        else:
            raise BpfLoadError(where, f"unknown map attribute {m.name!r}")
    if "type" not in attrs:
        raise BpfLoadError(where, "has no map type (__uint(type, BPF_MAP_TYPE_...))")
    d.map_type = attrs["type"]
    d.max_entries = attrs.get("max_entries", 0)
    d.map_flags = attrs.get("map_flags", 0)
    d.key_size = attrs.get("key_size", d.key_size)
    d.value_size = attrs.get("value_size", d.value_size)
    if d.map_type in _OF_MAPS:
        d.value_size = 4
    if d.map_type not in MAP_TYPE_NAMES:
        raise BpfLoadError(where, f"map type {d.map_type} is not one qdisclab implements")
    if d.value_type:
        d.value_fields = special_fields(btf, d.value_type)
    return d


def _uint(btf: Btf, type_id: int, where: str, attr: str) -> int:
    ptr = btf.skip_modifiers(type_id)
    arr = btf.skip_modifiers(ptr.ref) if ptr.kind == BTF_KIND_PTR else None
    if arr is None or arr.kind != BTF_KIND_ARRAY:
        raise BpfLoadError(where, f"{attr} must be __uint({attr}, N)")
    return arr.nelems


def _pointee(btf: Btf, type_id: int, where: str, attr: str) -> int:
    ptr = btf.skip_modifiers(type_id)
    if ptr.kind != BTF_KIND_PTR:
        raise BpfLoadError(where, f"{attr} must be __type({attr}, T)")
    return ptr.ref
