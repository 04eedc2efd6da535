"""The BTF parser: every kind, lookups, tags and malformed input."""

from __future__ import annotations

import struct

import pytest
from bpf_corpus import obj

from qdisclab.bpf.btf import (
    BTF_INT_SIGNED,
    BTF_KIND_ARRAY,
    BTF_KIND_CONST,
    BTF_KIND_DATASEC,
    BTF_KIND_DECL_TAG,
    BTF_KIND_ENUM,
    BTF_KIND_ENUM64,
    BTF_KIND_FUNC,
    BTF_KIND_FUNC_PROTO,
    BTF_KIND_INT,
    BTF_KIND_PTR,
    BTF_KIND_STRUCT,
    BTF_KIND_TYPE_TAG,
    BTF_KIND_TYPEDEF,
    BTF_KIND_VAR,
    Btf,
    BtfError,
)
from qdisclab.bpf.btf_build import build_btf
from qdisclab.bpf.elf import read_elf
from qdisclab.bpf.errors import BpfLoadError

# 1 int, 2 struct sk_buff {len}, 3 type tag kptr -> 2, 4 ptr -> 3,
# 5 struct node {skb: 4 at bit 0, n: int[3] at bit 64}, 6 int[3], 7 typedef u32t -> 1,
# 8 const -> 7, 9 var head (decl tag 10 on it), 10 decl tag, 11 func proto int(int),
# 12 func main -> 11
RECORDS = [
    (BTF_KIND_INT, "int", 4, 0, (BTF_INT_SIGNED, 0, 32)),
    (BTF_KIND_STRUCT, "sk_buff", 4, 0, (("len", 1, 0),)),
    (BTF_KIND_TYPE_TAG, "kptr", 2, 0, ()),
    (BTF_KIND_PTR, "", 3, 0, ()),
    (BTF_KIND_STRUCT, "node", 24, 0, (("skb", 4, 0), ("n", 6, 64))),
    (BTF_KIND_ARRAY, "", 0, 0, (1, 1, 3)),
    (BTF_KIND_TYPEDEF, "u32t", 1, 0, ()),
    (BTF_KIND_CONST, "", 7, 0, ()),
    (BTF_KIND_VAR, "head", 5, 0, (1,)),
    (BTF_KIND_DECL_TAG, "contains:node:n", 9, 0, (-1,)),
    (BTF_KIND_FUNC_PROTO, "", 1, 0, (("x", 1),)),
    (BTF_KIND_FUNC, "main", 11, 1, ()),
]


@pytest.fixture(scope="module")
def btf() -> Btf:
    return Btf.parse(build_btf(RECORDS))


def test_kinds_and_fields(btf: Btf) -> None:
    assert [t.kind_name for t in btf.types[1:5]] == ["INT", "STRUCT", "TYPE_TAG", "PTR"]
    assert btf[1].int_encoding == BTF_INT_SIGNED and btf[1].int_bits == 32
    assert btf[6].nelems == 3 and btf[6].ref == 1
    assert [(m.name, m.type_id, m.bit_offset) for m in btf[5].members] == [
        ("skb", 4, 0),
        ("n", 6, 64),
    ]
    assert btf[12].linkage == 1 and btf[12].ref == 11
    assert btf[11].params[0].name == "x"
    assert btf[10].component_idx == -1 and btf[10].ref == 9


def test_lookups_tags_and_sizes(btf: Btf) -> None:
    assert btf.find("node", BTF_KIND_STRUCT).id == 5
    assert btf.find("node", BTF_KIND_FUNC) is None
    assert btf.type_tags(4) == ["kptr"]
    assert btf.decl_tags(9) == ["contains:node:n"]
    assert btf.decl_tags(9, 0) == []
    assert btf.skip_modifiers(8).name == "int"
    assert btf.sizeof(8) == 4 and btf.sizeof(6) == 12 and btf.sizeof(4) == 8
    assert btf.member(5, "n").bit_offset == 64 and btf.member(5, "nope") is None
    assert btf.type_str(4) == "struct sk_buff __kptr *"
    assert btf.type_str(6) == "int[3]"
    assert btf.type_str(8) == "const u32t"
    assert btf.type_str(11) == "int (*)(int)"


def test_enum_sign_and_enum64() -> None:
    blob = build_btf([(BTF_KIND_ENUM, "e", 4, 0, ()), (BTF_KIND_ENUM64, "e64", 8, 0, ())])
    btf = Btf.parse(blob)
    assert btf[1].values == () and btf[2].size == 8
    # An ENUM value with the top bit set is negative; an ENUM64 value spans two words.
    raw = bytearray(blob)
    hdr = struct.unpack_from("<HBBIIIII", raw)
    strings = raw[24 + hdr[5] :]
    types = bytearray()
    types += struct.pack("<III", 1, (BTF_KIND_ENUM << 24) | 1, 4) + struct.pack("<Ii", 1, -5)
    types += struct.pack("<III", 1, (BTF_KIND_ENUM64 << 24) | 1, 8)
    types += struct.pack("<III", 1, 0x89ABCDEF, 0x1)
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    parsed = Btf.parse(header + bytes(types) + bytes(strings))
    assert parsed[1].values[0].value == -5
    assert parsed[2].values[0].value == 0x1_89ABCDEF


def test_datasec_from_a_compiled_object() -> None:
    elf = read_elf(obj("fifo"))
    btf = Btf.parse(elf.sections[".BTF"].data)
    sec = btf.find(".data.fifo", BTF_KIND_DATASEC)
    names = [btf[info.type_id].name for info in sec.secinfos]
    assert names == ["fifo_lock", "fifo_queue"]
    queue = btf.find("fifo_queue", BTF_KIND_VAR)
    assert btf.decl_tags(queue.id) == ["contains:fifo_node:link"]
    node = btf.find("fifo_node", BTF_KIND_STRUCT)
    assert btf.type_tags(btf.member(node.id, "skb").type_id) == ["kptr"]


@pytest.mark.parametrize(
    ("blob", "needle"),
    [
        (b"\x00" * 8, "shorter than its header"),
        (struct.pack("<HBBIIIII", 0x9FEB, 1, 0, 24, 0, 0, 0, 0), "bad magic"),
        (struct.pack("<HBBIIIII", 0xEB9F, 2, 0, 24, 0, 0, 0, 0), "version 2"),
        (struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 100, 0, 1) + b"\0", "runs past"),
        (
            struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 12, 12, 1)
            + struct.pack("<III", 0, 31 << 24, 0)
            + b"\0",
            "unknown kind 31",
        ),
        (
            struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 12, 12, 1)
            + struct.pack("<III", 0, (BTF_KIND_INT << 24), 4)
            + b"\0",
            "runs past the end of the type section",
        ),
    ],
)
def test_malformed_btf_is_a_load_error(blob: bytes, needle: str) -> None:
    with pytest.raises(BtfError, match=needle) as info:
        Btf.parse(blob)
    assert isinstance(info.value, BpfLoadError)


def test_unknown_type_id_is_named() -> None:
    btf = Btf.parse(build_btf(RECORDS))
    with pytest.raises(BtfError, match="type id 99"):
        btf[99]
