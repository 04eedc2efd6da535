"""BTF, the BPF Type Format: the type information clang writes into ``.BTF``.

Layout (``include/uapi/linux/btf.h``): a header, a type section of
variable-length records and a string section. Type id 0 is ``void``; ids
count from 1 in record order. Every kind is read, including ``DECL_TAG``
(``__contains(...)``, ``btf_decl_tag``), ``TYPE_TAG`` (``__kptr``) and
``ENUM64``.

>>> from qdisclab.bpf.btf_build import build_btf
>>> blob = build_btf([(BTF_KIND_INT, "int", 4, 0, (BTF_INT_SIGNED, 0, 32))])
>>> btf = Btf.parse(blob)
>>> btf.types[1].name, btf.types[1].size, btf.type_str(1)
('int', 4, 'int')
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from qdisclab.bpf.errors import BpfLoadError

BTF_MAGIC = 0xEB9F

BTF_KIND_UNKN = 0
BTF_KIND_INT = 1
BTF_KIND_PTR = 2
BTF_KIND_ARRAY = 3
BTF_KIND_STRUCT = 4
BTF_KIND_UNION = 5
BTF_KIND_ENUM = 6
BTF_KIND_FWD = 7
BTF_KIND_TYPEDEF = 8
BTF_KIND_VOLATILE = 9
BTF_KIND_CONST = 10
BTF_KIND_RESTRICT = 11
BTF_KIND_FUNC = 12
BTF_KIND_FUNC_PROTO = 13
BTF_KIND_VAR = 14
BTF_KIND_DATASEC = 15
BTF_KIND_FLOAT = 16
BTF_KIND_DECL_TAG = 17
BTF_KIND_TYPE_TAG = 18
BTF_KIND_ENUM64 = 19

KIND_NAMES = {
    BTF_KIND_UNKN: "UNKN",
    BTF_KIND_INT: "INT",
    BTF_KIND_PTR: "PTR",
    BTF_KIND_ARRAY: "ARRAY",
    BTF_KIND_STRUCT: "STRUCT",
    BTF_KIND_UNION: "UNION",
    BTF_KIND_ENUM: "ENUM",
    BTF_KIND_FWD: "FWD",
    BTF_KIND_TYPEDEF: "TYPEDEF",
    BTF_KIND_VOLATILE: "VOLATILE",
    BTF_KIND_CONST: "CONST",
    BTF_KIND_RESTRICT: "RESTRICT",
    BTF_KIND_FUNC: "FUNC",
    BTF_KIND_FUNC_PROTO: "FUNC_PROTO",
    BTF_KIND_VAR: "VAR",
    BTF_KIND_DATASEC: "DATASEC",
    BTF_KIND_FLOAT: "FLOAT",
    BTF_KIND_DECL_TAG: "DECL_TAG",
    BTF_KIND_TYPE_TAG: "TYPE_TAG",
    BTF_KIND_ENUM64: "ENUM64",
}

BTF_INT_SIGNED = 1 << 0
BTF_INT_CHAR = 1 << 1
BTF_INT_BOOL = 1 << 2

BTF_VAR_STATIC = 0
BTF_VAR_GLOBAL_ALLOCATED = 1
BTF_VAR_GLOBAL_EXTERN = 2

BTF_FUNC_STATIC = 0
BTF_FUNC_GLOBAL = 1
BTF_FUNC_EXTERN = 2

# Modifiers a type walk looks through to reach the underlying type.
_MODIFIERS = frozenset(
    (BTF_KIND_TYPEDEF, BTF_KIND_VOLATILE, BTF_KIND_CONST, BTF_KIND_RESTRICT, BTF_KIND_TYPE_TAG)
)
# Kinds whose third word is a size (the others reference a type).
_SIZED = frozenset(
    (
        BTF_KIND_INT,
        BTF_KIND_STRUCT,
        BTF_KIND_UNION,
        BTF_KIND_ENUM,
        BTF_KIND_ENUM64,
        BTF_KIND_DATASEC,
        BTF_KIND_FLOAT,
    )
)
HEADER = struct.Struct("<HBBIIIII")
TYPE_RECORD = struct.Struct("<III")


class BtfError(BpfLoadError):
    """Malformed BTF: the message names the type id or offset."""

    def __init__(self, problem: str) -> None:
        super().__init__("", problem)


@dataclass(frozen=True, slots=True)
class BtfMember:
    """A struct/union member; ``bit_offset`` from the start of the aggregate."""

    name: str
    type_id: int
    bit_offset: int
    bitfield_size: int = 0


@dataclass(frozen=True, slots=True)
class BtfParam:
    """A FUNC_PROTO parameter (``name`` is empty in prototypes of pointers)."""

    name: str
    type_id: int


@dataclass(frozen=True, slots=True)
class BtfEnumValue:
    name: str
    value: int


@dataclass(frozen=True, slots=True)
class BtfVarSecinfo:
    """A variable placed in a DATASEC at ``offset`` with ``size`` bytes."""

    type_id: int
    offset: int
    size: int


@dataclass(slots=True)
class BtfType:
    """One type record. Which fields mean something depends on ``kind``:

    * ``size``: INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT
    * ``ref``: the referenced type of PTR, TYPEDEF, modifiers, TYPE_TAG, FUNC
      (its FUNC_PROTO), FUNC_PROTO (return type), VAR, DECL_TAG (tagged type);
      the element type of ARRAY
    * ``members`` / ``params`` / ``values`` / ``secinfos``: the vlen records
    * ``linkage``: FUNC (from vlen), VAR; ``component_idx``: DECL_TAG (-1 for
      the type itself, else the member/parameter index)
    """

    id: int
    kind: int
    name: str = ""
    size: int = 0
    ref: int = 0
    kind_flag: bool = False
    int_encoding: int = 0
    int_bits: int = 0
    int_offset: int = 0
    nelems: int = 0
    index_type: int = 0
    linkage: int = 0
    component_idx: int = -1
    members: tuple[BtfMember, ...] = ()
    params: tuple[BtfParam, ...] = ()
    values: tuple[BtfEnumValue, ...] = ()
    secinfos: tuple[BtfVarSecinfo, ...] = ()

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, f"kind {self.kind}")


@dataclass(slots=True)
class Btf:
    """A parsed BTF blob: ``types[id]`` (``types[0]`` is void) and lookups by name."""

    types: list[BtfType]
    strings: bytes
    _by_name: dict[tuple[int, str], int] = field(default_factory=dict, repr=False)
    _decl_tags: dict[int, list[BtfType]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for t in self.types[1:]:
            if t.name:
                self._by_name.setdefault((t.kind, t.name), t.id)
            if t.kind == BTF_KIND_DECL_TAG:
                self._decl_tags.setdefault(t.ref, []).append(t)

    # -- parsing ------------------------------------------------------------
    @classmethod
    def parse(cls, data: bytes) -> Btf:
        """Parse a ``.BTF`` section; raises :class:`BtfError` naming what is wrong."""
        if len(data) < HEADER.size:
            raise BtfError(f".BTF: {len(data)} bytes is shorter than its header")
        magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = HEADER.unpack_from(
            data
        )
        if magic != BTF_MAGIC:
            raise BtfError(f".BTF: bad magic {magic:#x} (want {BTF_MAGIC:#x}; big-endian?)")
        if version != 1:
            raise BtfError(f".BTF: version {version} is not supported (want 1)")
        types_at, strs_at = hdr_len + type_off, hdr_len + str_off
        if types_at + type_len > len(data) or strs_at + str_len > len(data):
            raise BtfError(".BTF: type or string section runs past the end of the data")
        strings = bytes(data[strs_at : strs_at + str_len])
        reader = _TypeReader(data[types_at : types_at + type_len], strings)
        return cls([BtfType(0, BTF_KIND_UNKN, "void"), *reader.read_all()], strings)

    # -- lookups ----------------------------------------------------------------
    def __getitem__(self, type_id: int) -> BtfType:
        if not 0 <= type_id < len(self.types):
            raise BtfError(f"BTF type id {type_id} does not exist (have {len(self.types)})")
        return self.types[type_id]

    def find(self, name: str, kind: int) -> BtfType | None:
        """The first type of ``kind`` called ``name``, or None."""
        type_id = self._by_name.get((kind, name))
        return None if type_id is None else self.types[type_id]

    def skip_modifiers(self, type_id: int) -> BtfType:
        """The type under typedefs, const/volatile/restrict and type tags."""
        t = self[type_id]
        while t.kind in _MODIFIERS:
            t = self[t.ref]
        return t

    def type_tags(self, type_id: int) -> list[str]:
        """Type tags (``__kptr`` → ``"kptr"``) on the way from ``type_id`` to its base."""
        tags, t = [], self[type_id]
        while t.kind in _MODIFIERS or t.kind == BTF_KIND_PTR:
            if t.kind == BTF_KIND_TYPE_TAG:
                tags.append(t.name)
            t = self[t.ref]
        return tags

    def decl_tags(self, type_id: int, component_idx: int = -1) -> list[str]:
        """Declaration tags on a type (-1) or on one of its members/parameters."""
        return [
            t.name for t in self._decl_tags.get(type_id, ()) if t.component_idx == component_idx
        ]

    def sizeof(self, type_id: int) -> int:
        """Size in bytes of a type, as the compiler laid it out."""
        t = self.skip_modifiers(type_id)
        if t.kind == BTF_KIND_PTR:
            return 8
        if t.kind == BTF_KIND_ARRAY:
            return t.nelems * self.sizeof(t.ref)
        if t.kind in (BTF_KIND_VAR,):
            return self.sizeof(t.ref)
        if t.kind in (BTF_KIND_FUNC, BTF_KIND_FUNC_PROTO, BTF_KIND_UNKN, BTF_KIND_FWD):
            raise BtfError(f"BTF type {type_id} ({t.kind_name} {t.name!r}) has no size")
        return t.size

    def member(self, type_id: int, name: str) -> BtfMember | None:
        """Member ``name`` of the struct/union ``type_id`` (looking through modifiers)."""
        for m in self.skip_modifiers(type_id).members:
            if m.name == name:
                return m
        return None

    def type_str(self, type_id: int) -> str:
        """A C-like spelling of a type, for messages and ``bpf inspect``."""
        t = self[type_id]
        k = t.kind
        if k == BTF_KIND_UNKN:
            return "void"
        if k == BTF_KIND_PTR:
            tags = "".join(f" __{tag}" for tag in self._own_type_tags(t.ref))
            return f"{self.type_str(self._skip_tags(t.ref))}{tags} *"
        if k == BTF_KIND_ARRAY:
            return f"{self.type_str(t.ref)}[{t.nelems}]"
        if k in (BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_ENUM, BTF_KIND_ENUM64, BTF_KIND_FWD):
            word = {BTF_KIND_UNION: "union", BTF_KIND_ENUM: "enum", BTF_KIND_ENUM64: "enum"}
            fwd = "union" if t.kind_flag else "struct"
            kw = fwd if k == BTF_KIND_FWD else word.get(k, "struct")
            return f"{kw} {t.name or '(anon)'}"
        if k in (BTF_KIND_CONST, BTF_KIND_VOLATILE, BTF_KIND_RESTRICT):
            return f"{KIND_NAMES[k].lower()} {self.type_str(t.ref)}"
        if k == BTF_KIND_TYPE_TAG:
            return f"{self.type_str(t.ref)} __{t.name}"
        if k == BTF_KIND_FUNC_PROTO:
            args = ", ".join(self.type_str(p.type_id) for p in t.params) or "void"
            return f"{self.type_str(t.ref)} (*)({args})"
        return t.name

    def _own_type_tags(self, type_id: int) -> list[str]:
        tags, t = [], self[type_id]
        while t.kind == BTF_KIND_TYPE_TAG:
            tags.append(t.name)
            t = self[t.ref]
        return tags

    def _skip_tags(self, type_id: int) -> int:
        while self[type_id].kind == BTF_KIND_TYPE_TAG:
            type_id = self[type_id].ref
        return type_id


class _TypeReader:
    """Walks the type section record by record."""

    def __init__(self, data: bytes, strings: bytes) -> None:
        self.data, self.strings, self.pos = data, strings, 0

    def name(self, offset: int) -> str:
        if offset >= len(self.strings):
            raise BtfError(f".BTF: string offset {offset} past the string section")
        end = self.strings.find(b"\0", offset)
        return self.strings[offset : end if end >= 0 else None].decode("utf-8", "replace")

    def u32s(self, n: int, type_id: int) -> tuple[int, ...]:
        end = self.pos + 4 * n
        if end > len(self.data):
            raise BtfError(f".BTF: type {type_id} runs past the end of the type section")
        values = struct.unpack_from(f"<{n}I", self.data, self.pos)
        self.pos = end
        return values

    def read_all(self) -> list[BtfType]:
        types: list[BtfType] = []
        while self.pos < len(self.data):
            types.append(self.read_one(len(types) + 1))
        return types

    def read_one(self, type_id: int) -> BtfType:
        name_off, info, size_or_type = self.u32s(3, type_id)
        kind, vlen, kind_flag = (info >> 24) & 0x1F, info & 0xFFFF, bool(info >> 31)
        t = BtfType(type_id, kind, self.name(name_off), kind_flag=kind_flag)
        if kind in _SIZED:
            t.size = size_or_type
        else:
            t.ref = size_or_type
        if kind == BTF_KIND_INT:
            (word,) = self.u32s(1, type_id)
            t.int_encoding, t.int_offset, t.int_bits = word >> 24, (word >> 16) & 0xFF, word & 0xFF
        elif kind == BTF_KIND_ARRAY:
            t.ref, t.index_type, t.nelems = self.u32s(3, type_id)
        elif kind in (BTF_KIND_STRUCT, BTF_KIND_UNION):
            t.members = tuple(self._member(type_id, kind_flag) for _ in range(vlen))
        elif kind == BTF_KIND_ENUM:
            t.values = tuple(self._enum(type_id, t.size) for _ in range(vlen))
        elif kind == BTF_KIND_ENUM64:
            t.values = tuple(self._enum64(type_id) for _ in range(vlen))
        elif kind == BTF_KIND_FUNC:
            t.linkage = vlen
        elif kind == BTF_KIND_FUNC_PROTO:
            t.params = tuple(self._param(type_id) for _ in range(vlen))
        elif kind == BTF_KIND_VAR:
            (t.linkage,) = self.u32s(1, type_id)
        elif kind == BTF_KIND_DATASEC:
            t.secinfos = tuple(BtfVarSecinfo(*self.u32s(3, type_id)) for _ in range(vlen))
        elif kind == BTF_KIND_DECL_TAG:
            (idx,) = self.u32s(1, type_id)
            t.component_idx = idx - (1 << 32) if idx >= 1 << 31 else idx
        elif kind not in KIND_NAMES:
            raise BtfError(f".BTF: type {type_id} has unknown kind {kind}")
        return t

    def _member(self, type_id: int, kind_flag: bool) -> BtfMember:
        name_off, member_type, offset = self.u32s(3, type_id)
        if kind_flag:
            return BtfMember(self.name(name_off), member_type, offset & 0xFFFFFF, offset >> 24)
        return BtfMember(self.name(name_off), member_type, offset)

    def _enum(self, type_id: int, size: int) -> BtfEnumValue:
        name_off, value = self.u32s(2, type_id)
        return BtfEnumValue(self.name(name_off), value - (1 << 32) if value >> 31 else value)

    def _enum64(self, type_id: int) -> BtfEnumValue:
        name_off, lo, hi = self.u32s(3, type_id)
        return BtfEnumValue(self.name(name_off), (hi << 32) | lo)

    def _param(self, type_id: int) -> BtfParam:
        name_off, param_type = self.u32s(2, type_id)
        return BtfParam(self.name(name_off), param_type)
