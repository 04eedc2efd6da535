"""CO-RE: relocating a program's field accesses onto the kernel types qdisclab models.

clang records, for each access through a ``preserve_access_index`` type, the
local root type and an access string of member/element indices (BTF.ext
CO-RE records). Here the local path is turned into member *names* and looked
up in :data:`~qdisclab.bpf.kernel_types.KERNEL_TYPES` by name, as libbpf looks
them up in the running kernel's BTF; the resulting offset, size, existence or
shift is patched into the instruction the way libbpf patches it. A field or
type that is not modelled is an error naming it (an ``exists`` query answers 0
instead).

>>> from qdisclab.bpf.btf import Btf, BTF_KIND_INT, BTF_KIND_STRUCT
>>> from qdisclab.bpf.btf_build import build_btf
>>> btf = Btf.parse(build_btf([
...     (BTF_KIND_INT, "unsigned int", 4, 0, (0, 0, 32)),
...     (BTF_KIND_STRUCT, "Qdisc", 4, 0, (("limit", 1, 0),)),
... ]))
>>> core_value(btf, CoreRelo(0, 2, "0:0", BPF_CORE_FIELD_BYTE_OFFSET))
0
>>> core_value(btf, CoreRelo(0, 2, "0:0", BPF_CORE_FIELD_BYTE_SIZE))
4
"""

from __future__ import annotations

import struct

from qdisclab.bpf.btf import (
    BTF_KIND_ARRAY,
    BTF_KIND_ENUM,
    BTF_KIND_ENUM64,
    BTF_KIND_STRUCT,
    BTF_KIND_UNION,
    Btf,
)
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
    BPF_CORE_TYPE_ID_TARGET,
    BPF_CORE_TYPE_MATCHES,
    BPF_CORE_TYPE_SIZE,
    CoreRelo,
)
from qdisclab.bpf.kernel_types import KERNEL_ENUMS, KERNEL_TYPES, KField

_FIELD_KINDS = frozenset(
    (
        BPF_CORE_FIELD_BYTE_OFFSET,
        BPF_CORE_FIELD_BYTE_SIZE,
        BPF_CORE_FIELD_EXISTS,
        BPF_CORE_FIELD_SIGNED,
        BPF_CORE_FIELD_LSHIFT_U64,
        BPF_CORE_FIELD_RSHIFT_U64,
    )
)
_TARGET_IDS = {name: index + 1 for index, name in enumerate(KERNEL_TYPES)}
_SIZE_CODES = {4: 0x00, 2: 0x08, 1: 0x10, 8: 0x18}


class CoreError(Exception):
    """A relocation that cannot be resolved; the message names the type or field."""


def essential_name(name: str) -> str:
    """A type name without its CO-RE flavor (``sk_buff___old`` is ``sk_buff``), as libbpf.

    >>> essential_name("sk_buff___old"), essential_name("__sk_buff")
    ('sk_buff', '__sk_buff')
    """
    cut = name.rfind("___")
    return name[:cut] if cut > 0 else name


def core_value(btf: Btf, relo: CoreRelo) -> int:
    """The value the kernel side gives relocation ``relo`` of a program with ``btf``."""
    kind = relo.kind
    if kind == BPF_CORE_TYPE_ID_LOCAL:
        return relo.type_id
    root = btf.skip_modifiers(relo.type_id)
    root_name = essential_name(root.name)
    if kind in _FIELD_KINDS:
        return _field_value(btf, relo, root_name, kind)
    if kind in (BPF_CORE_TYPE_EXISTS, BPF_CORE_TYPE_MATCHES):
        return int(root_name in KERNEL_TYPES)
    if kind in (BPF_CORE_TYPE_SIZE, BPF_CORE_TYPE_ID_TARGET):
        st = KERNEL_TYPES.get(root_name)
        if st is None:
            raise CoreError(f"struct {root_name} is not a kernel type qdisclab models")
        return st.size if kind == BPF_CORE_TYPE_SIZE else _TARGET_IDS[root_name]
    if kind in (BPF_CORE_ENUMVAL_EXISTS, BPF_CORE_ENUMVAL_VALUE):
        if root.kind not in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
            raise CoreError(f"enum value relocation on non-enum type {root.name!r}")
        item = root.values[int(relo.access)].name
        values = dict(KERNEL_ENUMS.get(root_name, ()))
        if kind == BPF_CORE_ENUMVAL_EXISTS:
            return int(item in values)
        if item not in values:
            raise CoreError(f"enum {root_name} has no value {item} in qdisclab's model")
        return values[item]
    raise CoreError(f"CO-RE relocation kind {relo.kind_name} is not supported")


def _field_value(btf: Btf, relo: CoreRelo, root: str, kind: int) -> int:
    try:
        offset, last, _ = _target_field(btf, relo, root)
    except CoreError:
        if kind == BPF_CORE_FIELD_EXISTS:
            return 0
        raise
    size = last.size if not isinstance(last, int) else last
    if kind == BPF_CORE_FIELD_EXISTS:
        return 1
    if kind == BPF_CORE_FIELD_BYTE_OFFSET:
        return offset
    if kind == BPF_CORE_FIELD_BYTE_SIZE:
        return size
    if kind == BPF_CORE_FIELD_SIGNED:
        decl = last.decl if isinstance(last, KField) else ""
        return int(decl.startswith(("__s", "int", "long", "char")))
    # LSHIFT/RSHIFT of a whole (non-bitfield) little-endian field of `size` bytes
    return 64 - 8 * size


def _target_field(btf: Btf, relo: CoreRelo, root: str) -> tuple[int, KField | int, int]:
    """Walk the access string locally to get names, then the same names in the model.

    Returns the target offset, the field reached (or an array element's size)
    and the local size of what the access string names.
    """
    st = KERNEL_TYPES.get(root)
    if st is None:
        raise CoreError(f"struct {root} is not a kernel type qdisclab models")
    steps = [int(part) for part in relo.access.split(":")]
    offset = steps[0] * st.size
    local = btf.skip_modifiers(relo.type_id)
    current = st
    last: KField | int | None = None
    local_size = btf.sizeof(relo.type_id)
    for index in steps[1:]:
        if local.kind in (BTF_KIND_STRUCT, BTF_KIND_UNION):
            member = local.members[index]
            local = btf.skip_modifiers(member.type_id)
            local_size = btf.sizeof(member.type_id)
            if not member.name:  # an anonymous struct/union: the model is flat
                continue
            if current is None:
                raise CoreError(f"{last.name if isinstance(last, KField) else '?'} is not a struct")
            f = current.field(member.name)
            if f is None:
                raise CoreError(
                    f"struct {current.name} has no field {member.name!r} in qdisclab's model"
                )
            offset += f.offset
            last = f
            current = KERNEL_TYPES.get(f.struct) if f.struct else None
        elif local.kind == BTF_KIND_ARRAY:
            if not isinstance(last, KField) or not last.array_len:
                raise CoreError(f"{relo.access}: element access into a field that is not an array")
            elem = last.size // last.array_len
            if index >= last.array_len:
                raise CoreError(f"{last.name}[{index}] is out of bounds ({last.array_len})")
            offset += index * elem
            last = elem
            local_size = btf.sizeof(local.ref)
            local = btf.skip_modifiers(local.ref)
        else:
            raise CoreError(f"access string {relo.access} walks into a non-aggregate")
    return offset, st.size if last is None else last, local_size


def patch_insn(
    insns: bytearray, slot: int, value: int, kind: int, sizes: tuple[int, int] = (0, 0)
) -> None:
    """Write ``value`` into the instruction at ``slot`` as libbpf's bpf_core_patch_insn does.

    ALU with an immediate and ``ld_imm64`` take it in ``imm``; loads and stores in
    ``off``. ``sizes`` is (local, target) size of the field a byte-offset
    relocation names: a load/store of the whole field changes its access size.
    """
    at = slot * 8
    code = insns[at]
    cls = code & 0x07
    if cls in (0x04, 0x07) and not code & 0x08:  # ALU/ALU64, BPF_K
        struct.pack_into("<i", insns, at + 4, _s32(value))
    elif cls in (0x01, 0x02, 0x03):  # LDX, ST, STX
        if not -(1 << 15) <= value < 1 << 15:
            raise CoreError(f"field offset {value} does not fit an instruction's 16-bit offset")
        struct.pack_into("<h", insns, at + 2, value)
        local, target = sizes
        resized = kind == BPF_CORE_FIELD_BYTE_OFFSET and local != target
        if resized and target in _SIZE_CODES and code & 0x18 == _SIZE_CODES.get(local, -1):
            insns[at] = (code & ~0x18) | _SIZE_CODES[target]
    elif code == 0x18:  # ld_imm64
        struct.pack_into("<I", insns, at + 4, value & 0xFFFFFFFF)
        struct.pack_into("<I", insns, at + 12, (value >> 32) & 0xFFFFFFFF)
    else:
        raise CoreError(f"instruction {code:#04x} at slot {slot} cannot take a CO-RE value")


def field_sizes(btf: Btf, relo: CoreRelo) -> tuple[int, int]:
    """(local, target) size of the field a field relocation names."""
    root = essential_name(btf.skip_modifiers(relo.type_id).name)
    _, last, local_size = _target_field(btf, relo, root)
    return local_size, last if isinstance(last, int) else last.size


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value
