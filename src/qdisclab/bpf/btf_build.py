"""Encode small BTF blobs: for tests, examples and hand-made objects.

>>> from qdisclab.bpf.btf import Btf
>>> Btf.parse(build_btf([(BTF_KIND_INT, "u8", 1, 0, (0, 0, 8))]))[1].name
'u8'
"""

from __future__ import annotations

import struct

from qdisclab.bpf.btf import (
    BTF_KIND_ARRAY,
    BTF_KIND_DECL_TAG,
    BTF_KIND_FUNC_PROTO,
    BTF_KIND_INT,
    BTF_KIND_STRUCT,
    BTF_KIND_UNION,
    BTF_KIND_VAR,
    BTF_MAGIC,
    HEADER,
    TYPE_RECORD,
)


def build_btf(records: list[tuple[int, str, int, int, tuple]]) -> bytes:
    """Encode a small BTF blob, for tests and examples.

    Each record is ``(kind, name, size_or_type, vlen_or_linkage, extra)``
    where ``extra`` holds the kind's trailing words: INT ``(encoding, offset,
    bits)``; ARRAY ``(elem, index, nelems)``; STRUCT/UNION members ``((name,
    type, bit_offset), ...)``; FUNC_PROTO ``((name, type), ...)``; VAR
    ``(linkage,)``; DECL_TAG ``(component_idx,)``; others ``()``.
    """
    strings = bytearray(b"\0")

    def name_off(name: str) -> int:
        if not name:
            return 0
        off = len(strings)
        strings.extend(name.encode() + b"\0")
        return off

    body = bytearray()
    for kind, name, size_or_type, vlen, extra in records:
        words: list[int] = []
        if kind == BTF_KIND_INT:
            encoding, offset, bits = extra
            words = [(encoding << 24) | (offset << 16) | bits]
        elif kind == BTF_KIND_ARRAY:
            words = list(extra)
        elif kind in (BTF_KIND_STRUCT, BTF_KIND_UNION):
            vlen = len(extra)
            for m_name, m_type, m_off in extra:
                words += [name_off(m_name), m_type, m_off]
        elif kind == BTF_KIND_FUNC_PROTO:
            vlen = len(extra)
            for p_name, p_type in extra:
                words += [name_off(p_name), p_type]
        elif kind in (BTF_KIND_VAR, BTF_KIND_DECL_TAG):
            words = [extra[0] & 0xFFFFFFFF]
        info = (kind << 24) | vlen
        body += TYPE_RECORD.pack(name_off(name), info, size_or_type)
        body += struct.pack(f"<{len(words)}I", *words)
    header = HEADER.pack(BTF_MAGIC, 1, 0, HEADER.size, 0, len(body), len(body), len(strings))
    return header + bytes(body) + bytes(strings)
