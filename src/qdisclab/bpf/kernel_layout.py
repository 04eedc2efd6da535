"""Layout machinery for :mod:`qdisclab.bpf.kernel_types`: fields, structs, C alignment.

A struct is declared as rows ``(name, C declaration, qdisclab attribute,
flags)``; offsets and sizes follow C's natural alignment, as clang lays out
the header generated from the same rows.

>>> st = layout_struct("pair", [("a", "__u8", "x", ""), ("b", "__u64", "y", "w")], "", "demo")
>>> [(f.name, f.offset, f.size, f.writable) for f in st.fields], st.size
([('a', 0, 1, False), ('b', 8, 8, True)], 16)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCALARS: dict[str, int] = {
    "char": 1,
    "unsigned char": 1,
    "bool": 1,
    "__u8": 1,
    "__s8": 1,
    "__u16": 2,
    "__s16": 2,
    "__be16": 2,
    "__u32": 4,
    "__s32": 4,
    "__be32": 4,
    "int": 4,
    "unsigned int": 4,
    "__u64": 8,
    "__s64": 8,
    "long": 8,
    "unsigned long": 8,
}
_ARRAY = re.compile(r"^(.*?)\s*\{\}\s*\[(\d+)\]$")


@dataclass(frozen=True, slots=True)
class KField:
    """A field: ``decl`` is its C declaration with ``{}`` where the name goes."""

    name: str
    decl: str
    offset: int
    size: int
    attr: str | None
    writable: bool = False
    derived: bool = False
    bitfield: bool = False
    unit: str = ""

    @property
    def struct(self) -> str | None:
        """Name of the embedded struct this field is, or None."""
        m = re.fullmatch(r"struct (\w+) \{\}", self.decl)
        return m.group(1) if m else None

    @property
    def pointee(self) -> str | None:
        """Name of the struct this field points to, or None."""
        m = re.fullmatch(r"(?:const )?struct (\w+) \*\s*\{\}", self.decl)
        return m.group(1) if m else None

    @property
    def is_function(self) -> bool:
        return "(*{})" in self.decl

    @property
    def array_len(self) -> int:
        m = _ARRAY.match(self.decl)
        return int(m.group(2)) if m else 0

    def c_declaration(self) -> str:
        return self.decl.replace("{}", self.name)


@dataclass(frozen=True, slots=True)
class KStruct:
    """A modelled struct; ``views`` names the qdisclab class its fields bind on."""

    name: str
    fields: tuple[KField, ...]
    size: int
    align: int
    views: str
    doc: str
    access_index: bool = True  # emitted with preserve_access_index (CO-RE relocated)

    def field(self, name: str) -> KField | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def field_at(self, offset: int, size: int = 1) -> list[KField]:
        """The chain of fields (outermost first) covering ``[offset, offset+size)``.

        Empty if no modelled field covers the whole range.
        """
        for f in self.fields:
            if f.offset <= offset and offset + size <= f.offset + f.size:
                inner = f.struct
                if inner is not None:
                    rest = KERNEL_TYPES[inner].field_at(offset - f.offset, size)
                    return [f, *rest] if rest else []
                return [f]
        return []


KERNEL_TYPES: dict[str, KStruct] = {}  # filled by qdisclab.bpf.kernel_types

# (name, declaration, attr, flags) — flags: "w" writable, "d" derived, "b" a kernel
# bitfield, "j" kernel jiffies for a qdisclab µs value (see the module doc).
Row = tuple[str, str, str | None, str]


def layout_struct(name: str, rows: list[Row], views: str, doc: str, **kw: bool) -> KStruct:
    fields, offset, align = [], 0, 1
    for fname, decl, attr, flags in rows:
        if "{}" not in decl:
            decl += " {}"
        size, falign = _size_align(decl)
        offset = -(-offset // falign) * falign
        unit = "jiffies" if "j" in flags else ""
        fields.append(
            KField(fname, decl, offset, size, attr, "w" in flags, "d" in flags, "b" in flags, unit)
        )
        offset += size
        align = max(align, falign)
    return KStruct(name, tuple(fields), -(-offset // align) * align, align, views, doc, **kw)


def _size_align(decl: str) -> tuple[int, int]:
    decl = re.sub(r":\d+$", "", decl)  # a bitfield alone in its unit: the unit's size
    m = _ARRAY.match(decl)
    if m:
        size, align = _size_align(m.group(1) + " {}")
        return size * int(m.group(2)), align
    if "*" in decl:
        return 8, 8
    base = decl.replace("{}", "").strip().removeprefix("const ").removeprefix("volatile ")
    if base in _SCALARS:
        return _SCALARS[base], _SCALARS[base]
    m = re.fullmatch(r"struct (\w+)", base)
    if m and m.group(1) in KERNEL_TYPES:
        st = KERNEL_TYPES[m.group(1)]
        return st.size, st.align
    raise ValueError(f"kernel_types: cannot size {decl!r} (define the struct first)")
