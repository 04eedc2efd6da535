"""BTF-defined maps onto qdisclab's map implementations."""

from __future__ import annotations

from pathlib import Path

import pytest

from qdisclab.bpf.btf import (
    BTF_KIND_ARRAY,
    BTF_KIND_INT,
    BTF_KIND_PTR,
    BTF_KIND_STRUCT,
    Btf,
)
from qdisclab.bpf.btf_build import build_btf
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.map_defs import MapDef, parse_map_def
from qdisclab.bpf.objects import load_object
from qdisclab.ops.maps import (
    BPF_F_NO_PREALLOC,
    BPF_MAP_TYPE_LRU_HASH,
    ArrayMap,
    ArrayOfMaps,
    HashMap,
    HashOfMaps,
    LruHashMap,
)

OBJ = Path(__file__).parent / "objects" / "maps_all.bpf.o"


@pytest.fixture(scope="module")
def maps() -> dict[str, MapDef]:
    return load_object(OBJ).maps


def test_definitions(maps: dict[str, MapDef]) -> None:
    flows = maps["flows"]
    assert (flows.type_name, flows.key_size, flows.value_size) == ("hash", 12, 8)
    assert (flows.max_entries, flows.map_flags) == (128, BPF_F_NO_PREALLOC)
    assert maps["recent"].map_type == BPF_MAP_TYPE_LRU_HASH
    for name in ("per_band", "per_class"):
        inner = maps[name].inner
        assert inner is not None and (inner.type_name, inner.max_entries) == ("array", 4)
        assert maps[name].value_size == 4  # an outer map's values are map ids


def test_value_special_fields(maps: dict[str, MapDef]) -> None:
    fields = {f.name: f for f in maps["buckets"].value_fields}
    assert set(fields) == {"lock", "items", "stash"}
    assert fields["items"].contains == ("item", "rb") and fields["items"].offset == 8
    assert fields["stash"].kind == "kptr" and fields["stash"].target == "sk_buff"


def test_created_on_qdisclab_maps(maps: dict[str, MapDef]) -> None:
    made = {name: d.create() for name, d in maps.items()}
    assert type(made["flows"]) is HashMap and made["flows"].max_entries == 128
    assert type(made["recent"]) is LruHashMap
    assert type(made["buckets"]) is ArrayMap
    assert made["buckets"].lookup(7) == bytearray(40)
    assert made["buckets"].lookup(8) is None
    assert type(made["per_band"]) is ArrayOfMaps and type(made["per_class"]) is HashOfMaps
    # each create() is a fresh map: state is per attach, not per object
    made["buckets"].lookup(0)[0] = 1
    assert maps["buckets"].create().lookup(0)[0] == 0


def _def(members: tuple) -> Btf:
    return Btf.parse(
        build_btf(
            [
                (BTF_KIND_INT, "int", 4, 0, (1, 0, 32)),  # 1
                (BTF_KIND_ARRAY, "", 0, 0, (1, 1, 9)),  # 2  int[9]
                (BTF_KIND_PTR, "", 2, 0, ()),  # 3  __uint(..., 9)
                (BTF_KIND_PTR, "", 1, 0, ()),  # 4  __type(..., int)
                (BTF_KIND_STRUCT, "", 24, 0, members),  # 5
            ]
        )
    )


def test_bad_definitions_name_the_map_and_attribute() -> None:
    btf = _def((("type", 3, 0), ("color", 3, 64)))
    with pytest.raises(BpfLoadError, match="m: unknown map attribute 'color'"):
        parse_map_def(btf, "m", 0, 5, "m")
    btf = _def((("max_entries", 3, 0),))
    with pytest.raises(BpfLoadError, match="has no map type"):
        parse_map_def(btf, "m", 0, 5, "m")
    btf = _def((("type", 3, 0),))  # __uint(type, 9): BPF_MAP_TYPE_LRU_HASH
    assert parse_map_def(btf, "m", 0, 5, "m").map_type == 9
    btf = _def((("type", 4, 0),))
    with pytest.raises(BpfLoadError, match=r"type must be __uint\(type, N\)"):
        parse_map_def(btf, "m", 0, 5, "m")
    with pytest.raises(BpfLoadError, match="map type 27 is not supported"):
        MapDef("ringbuf", 0, 27).create()
