"""BTF.ext: per-instruction function info, line info and CO-RE relocations.

Layout (``tools/lib/bpf/libbpf_internal.h``, ``struct btf_ext_header``): a
header with the offset/length of three info blocks. Each block starts with its
record size, then per ELF section ``(sec_name_off, num_info)`` and that many
records. In an object file ``insn_off`` is a *byte* offset into the section.

>>> ext = BtfExt.parse(bytes(32), strings=b"\\0")
>>> ext.func_info, ext.line_info, ext.core_relos
({}, {}, {})
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from qdisclab.bpf.btf import BTF_MAGIC, BtfError

# enum bpf_core_relo_kind
BPF_CORE_FIELD_BYTE_OFFSET = 0
BPF_CORE_FIELD_BYTE_SIZE = 1
BPF_CORE_FIELD_EXISTS = 2
BPF_CORE_FIELD_SIGNED = 3
BPF_CORE_FIELD_LSHIFT_U64 = 4
BPF_CORE_FIELD_RSHIFT_U64 = 5
BPF_CORE_TYPE_ID_LOCAL = 6
BPF_CORE_TYPE_ID_TARGET = 7
BPF_CORE_TYPE_EXISTS = 8
BPF_CORE_TYPE_SIZE = 9
BPF_CORE_ENUMVAL_EXISTS = 10
BPF_CORE_ENUMVAL_VALUE = 11
BPF_CORE_TYPE_MATCHES = 12

CORE_KIND_NAMES = {
    BPF_CORE_FIELD_BYTE_OFFSET: "byte_off",
    BPF_CORE_FIELD_BYTE_SIZE: "byte_sz",
    BPF_CORE_FIELD_EXISTS: "field_exists",
    BPF_CORE_FIELD_SIGNED: "signed",
    BPF_CORE_FIELD_LSHIFT_U64: "lshift_u64",
    BPF_CORE_FIELD_RSHIFT_U64: "rshift_u64",
    BPF_CORE_TYPE_ID_LOCAL: "local_type_id",
    BPF_CORE_TYPE_ID_TARGET: "target_type_id",
    BPF_CORE_TYPE_EXISTS: "type_exists",
    BPF_CORE_TYPE_SIZE: "type_size",
    BPF_CORE_ENUMVAL_EXISTS: "enumval_exists",
    BPF_CORE_ENUMVAL_VALUE: "enumval_value",
    BPF_CORE_TYPE_MATCHES: "type_matches",
}

_HEADER = struct.Struct("<HBBIIIII")  # magic, version, flags, hdr_len, func/line off+len
_CORE = struct.Struct("<II")


@dataclass(frozen=True, slots=True)
class ExtFuncInfo:
    insn_off: int  # bytes into the section
    type_id: int  # a BTF FUNC


@dataclass(frozen=True, slots=True)
class ExtLineInfo:
    insn_off: int
    file: str
    line_text: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class CoreRelo:
    """``kind`` applied to the instruction at ``insn_off`` (bytes) for ``access`` of ``type_id``."""

    insn_off: int
    type_id: int
    access: str  # "0:1:2": array index on the root, then member / element indices
    kind: int

    @property
    def kind_name(self) -> str:
        return CORE_KIND_NAMES.get(self.kind, f"kind {self.kind}")


@dataclass(slots=True)
class BtfExt:
    """Records per ELF section name."""

    func_info: dict[str, list[ExtFuncInfo]] = field(default_factory=dict)
    line_info: dict[str, list[ExtLineInfo]] = field(default_factory=dict)
    core_relos: dict[str, list[CoreRelo]] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: bytes, strings: bytes) -> BtfExt:
        """Parse ``.BTF.ext``; ``strings`` is the string section of the object's ``.BTF``."""
        if len(data) < _HEADER.size:
            raise BtfError(f".BTF.ext: {len(data)} bytes is shorter than its header")
        magic, version, _flags, hdr_len, f_off, f_len, l_off, l_len = _HEADER.unpack_from(data)
        if magic not in (BTF_MAGIC, 0):
            raise BtfError(f".BTF.ext: bad magic {magic:#x}")
        ext = cls()
        if magic == 0:  # an all-zero blob: nothing recorded
            return ext
        if version != 1:
            raise BtfError(f".BTF.ext: version {version} is not supported (want 1)")
        reader = _Blocks(data, hdr_len, strings)
        for sec, recs in reader.block(f_off, f_len, 8, "func info"):
            ext.func_info[sec] = [ExtFuncInfo(*struct.unpack_from("<II", r)) for r in recs]
        for sec, recs in reader.block(l_off, l_len, 16, "line info"):
            ext.line_info[sec] = [reader.line(r) for r in recs]
        if hdr_len >= _HEADER.size + _CORE.size:
            c_off, c_len = _CORE.unpack_from(data, _HEADER.size)
            for sec, recs in reader.block(c_off, c_len, 16, "CO-RE relocations"):
                ext.core_relos[sec] = [reader.core(r) for r in recs]
        return ext


class _Blocks:
    def __init__(self, data: bytes, hdr_len: int, strings: bytes) -> None:
        self.data, self.base, self.strings = data, hdr_len, strings

    def string(self, offset: int) -> str:
        if offset >= len(self.strings):
            raise BtfError(f".BTF.ext: string offset {offset} past the .BTF string section")
        end = self.strings.find(b"\0", offset)
        return self.strings[offset:end].decode("utf-8", "replace")

    def block(self, off: int, length: int, min_rec: int, what: str):
        """Yield ``(section name, [record bytes])`` for one info block."""
        if length == 0:
            return
        start, end = self.base + off, self.base + off + length
        if end > len(self.data) or length < 4:
            raise BtfError(f".BTF.ext: {what} block runs past the end")
        (rec_size,) = struct.unpack_from("<I", self.data, start)
        if rec_size < min_rec:
            raise BtfError(f".BTF.ext: {what} record size {rec_size} < {min_rec}")
        pos = start + 4
        while pos < end:
            if pos + 8 > end:
                raise BtfError(f".BTF.ext: truncated {what} section header")
            name_off, count = struct.unpack_from("<II", self.data, pos)
            pos += 8
            if pos + count * rec_size > end:
                raise BtfError(f".BTF.ext: {what} of {self.string(name_off)} runs past the end")
            recs = [self.data[pos + i * rec_size : pos + (i + 1) * rec_size] for i in range(count)]
            pos += count * rec_size
            yield self.string(name_off), recs

    def line(self, rec: bytes) -> ExtLineInfo:
        insn_off, file_off, line_off, line_col = struct.unpack_from("<IIII", rec)
        return ExtLineInfo(
            insn_off, self.string(file_off), self.string(line_off), line_col >> 10, line_col & 0x3FF
        )

    def core(self, rec: bytes) -> CoreRelo:
        insn_off, type_id, access_off, kind = struct.unpack_from("<IIII", rec)
        return CoreRelo(insn_off, type_id, self.string(access_off), kind)
