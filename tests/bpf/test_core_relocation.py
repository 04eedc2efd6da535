"""CO-RE resolution against the kernel types qdisclab models, and instruction patching."""

from __future__ import annotations

import struct

import pytest

from qdisclab.bpf.btf import (
    BTF_KIND_ARRAY,
    BTF_KIND_ENUM,
    BTF_KIND_INT,
    BTF_KIND_STRUCT,
    Btf,
)
from qdisclab.bpf.btf_build import build_btf
from qdisclab.bpf.btf_ext import (
    BPF_CORE_ENUMVAL_EXISTS,
    BPF_CORE_ENUMVAL_VALUE,
    BPF_CORE_FIELD_BYTE_OFFSET,
    BPF_CORE_FIELD_BYTE_SIZE,
    BPF_CORE_FIELD_EXISTS,
    BPF_CORE_FIELD_LSHIFT_U64,
    BPF_CORE_FIELD_RSHIFT_U64,
    BPF_CORE_FIELD_SIGNED,
    BPF_CORE_TYPE_EXISTS,
    BPF_CORE_TYPE_ID_LOCAL,
    BPF_CORE_TYPE_SIZE,
    CoreRelo,
)
from qdisclab.bpf.core import CoreError, core_value, patch_insn
from qdisclab.bpf.kernel_types import KERNEL_TYPES

U32, U8 = 1, 2
# A program's own view of the kernel, laid out differently from qdisclab's model
# (as if built against another kernel's vmlinux.h): fields in another order,
# `limit` a u64, and one field qdisclab does not have.
LOCAL = [
    (BTF_KIND_INT, "unsigned int", 4, 0, (0, 0, 32)),  # 1
    (BTF_KIND_INT, "unsigned char", 1, 0, (0, 0, 8)),  # 2
    (BTF_KIND_STRUCT, "qdisc_skb_head", 4, 0, (("qlen", U32, 0),)),  # 3
    (BTF_KIND_INT, "unsigned long long", 8, 0, (0, 0, 64)),  # 4
    (BTF_KIND_STRUCT, "Qdisc", 32, 0, (("flags", U32, 0), ("q", 3, 32), ("limit", 4, 64))),  # 5
    (BTF_KIND_ARRAY, "", 0, 0, (U8, U32, 20)),  # 6
    (BTF_KIND_STRUCT, "qdisc_skb_cb___v2", 28, 0, (("tc_classid", U32, 0), ("data", 6, 32))),  # 7
    (BTF_KIND_STRUCT, "sk_buff", 8, 0, (("secmark", U32, 0), ("len", U32, 32))),  # 8
    (BTF_KIND_ENUM, "tcp_ca_state", 4, 0, ()),  # 9
    (BTF_KIND_STRUCT, "my_own_struct", 4, 0, (("x", U32, 0),)),  # 10
]


@pytest.fixture(scope="module")
def btf() -> Btf:
    return Btf.parse(build_btf(LOCAL))


def relo(type_id: int, access: str, kind: int) -> CoreRelo:
    return CoreRelo(0, type_id, access, kind)


def test_offsets_follow_names_not_local_layout(btf: Btf) -> None:
    qdisc = KERNEL_TYPES["Qdisc"]
    qlen = qdisc.field("q").offset + KERNEL_TYPES["qdisc_skb_head"].field("qlen").offset
    assert core_value(btf, relo(5, "0:1:0", BPF_CORE_FIELD_BYTE_OFFSET)) == qlen
    assert (
        core_value(btf, relo(5, "0:2", BPF_CORE_FIELD_BYTE_OFFSET)) == qdisc.field("limit").offset
    )
    assert core_value(btf, relo(5, "0:2", BPF_CORE_FIELD_BYTE_SIZE)) == 4  # model's u32
    # the second element of an array of Qdisc
    assert (
        core_value(btf, relo(5, "1:2", BPF_CORE_FIELD_BYTE_OFFSET))
        == qdisc.size + qdisc.field("limit").offset
    )


def test_flavor_and_array_element(btf: Btf) -> None:
    cb = KERNEL_TYPES["qdisc_skb_cb"]
    assert (
        core_value(btf, relo(7, "0:1:5", BPF_CORE_FIELD_BYTE_OFFSET)) == cb.field("data").offset + 5
    )
    assert core_value(btf, relo(7, "0:1:5", BPF_CORE_FIELD_BYTE_SIZE)) == 1
    with pytest.raises(CoreError, match=r"data\[20\] is out of bounds"):
        core_value(btf, relo(7, "0:1:20", BPF_CORE_FIELD_BYTE_OFFSET))


def test_unmodelled_field_and_type(btf: Btf) -> None:
    with pytest.raises(CoreError, match="struct sk_buff has no field 'secmark'"):
        core_value(btf, relo(8, "0:0", BPF_CORE_FIELD_BYTE_OFFSET))
    assert core_value(btf, relo(8, "0:0", BPF_CORE_FIELD_EXISTS)) == 0
    assert core_value(btf, relo(8, "0:1", BPF_CORE_FIELD_EXISTS)) == 1
    with pytest.raises(CoreError, match="struct my_own_struct is not a kernel type"):
        core_value(btf, relo(10, "0:0", BPF_CORE_FIELD_BYTE_OFFSET))
    assert core_value(btf, relo(10, "0", BPF_CORE_TYPE_EXISTS)) == 0
    assert core_value(btf, relo(5, "0", BPF_CORE_TYPE_SIZE)) == KERNEL_TYPES["Qdisc"].size
    assert core_value(btf, relo(10, "0", BPF_CORE_TYPE_ID_LOCAL)) == 10


def test_shifts_sign_and_enum(btf: Btf) -> None:
    assert core_value(btf, relo(8, "0:1", BPF_CORE_FIELD_LSHIFT_U64)) == 32
    assert core_value(btf, relo(8, "0:1", BPF_CORE_FIELD_RSHIFT_U64)) == 32
    assert core_value(btf, relo(8, "0:1", BPF_CORE_FIELD_SIGNED)) == 0
    # The program's enum says TCP_CA_Loss is 7; the model's (the kernel's) value wins.
    enum_btf = Btf.parse(_enum_blob("tcp_ca_state", [("TCP_CA_Loss", 7), ("TCP_CA_Teleport", 9)]))
    assert core_value(enum_btf, relo(1, "0", BPF_CORE_ENUMVAL_EXISTS)) == 1
    assert core_value(enum_btf, relo(1, "0", BPF_CORE_ENUMVAL_VALUE)) == 4
    assert core_value(enum_btf, relo(1, "1", BPF_CORE_ENUMVAL_EXISTS)) == 0
    with pytest.raises(CoreError, match="no value TCP_CA_Teleport"):
        core_value(enum_btf, relo(1, "1", BPF_CORE_ENUMVAL_VALUE))


def _enum_blob(name: str, values: list[tuple[str, int]]) -> bytes:
    strings = bytearray(b"\0")

    def off(s: str) -> int:
        o = len(strings)
        strings.extend(s.encode() + b"\0")
        return o

    body = struct.pack("<III", off(name), (BTF_KIND_ENUM << 24) | len(values), 4)
    for n, v in values:
        body += struct.pack("<Ii", off(n), v)
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body), len(strings))
    return hdr + body + bytes(strings)


def test_patch_load_store_alu_and_ld_imm64() -> None:
    ldx_w = struct.pack("<BBhi", 0x61, 0x21, 8, 0)  # r1 = *(u32 *)(r2 + 8)
    mov = struct.pack("<BBhi", 0xB7, 0x01, 0, 8)  # r1 = 8
    ld64 = struct.pack("<BBhi", 0x18, 0x01, 0, 0) + bytes(8)
    code = bytearray(ldx_w + mov + ld64)
    patch_insn(code, 0, 40, BPF_CORE_FIELD_BYTE_OFFSET, sizes=(4, 8))
    assert struct.unpack_from("<BBhi", code, 0) == (0x79, 0x21, 40, 0)  # now a u64 load
    patch_insn(code, 1, 44, BPF_CORE_FIELD_BYTE_OFFSET)
    assert struct.unpack_from("<i", code, 12) == (44,)
    patch_insn(code, 2, 0x1_0000_0002, BPF_CORE_TYPE_SIZE)
    assert struct.unpack_from("<I", code, 20) == (2,) and struct.unpack_from("<I", code, 28) == (1,)
    with pytest.raises(CoreError, match="16-bit offset"):
        patch_insn(code, 0, 1 << 16, BPF_CORE_FIELD_BYTE_OFFSET)
    with pytest.raises(CoreError, match="cannot take a CO-RE value"):
        patch_insn(bytearray(struct.pack("<BBhi", 0x95, 0, 0, 0)), 0, 1, BPF_CORE_FIELD_BYTE_SIZE)
