"""Qdisc and class handles in tc's ``major:minor`` hexadecimal notation.

>>> parse_handle("1:"), parse_handle("1:10"), format_handle(0x10010)
(65536, 65552, '1:10')
>>> format_handle(TC_H_ROOT)
'root'
"""

from __future__ import annotations

from qdisclab.errors import UserError
from qdisclab.sched.constants import TC_H_INGRESS, TC_H_ROOT


def parse_handle(text: str) -> int:
    """``"1:"`` -> 0x10000, ``"1:a"`` -> 0x1000a, ``"root"`` -> TC_H_ROOT."""
    text = text.strip().lower()
    if text == "root":
        return TC_H_ROOT
    if text in ("ingress", "clsact"):
        return TC_H_INGRESS
    major, sep, minor = text.partition(":")
    try:
        maj = int(major, 16) if major else 0
        mino = int(minor, 16) if minor else 0
    except ValueError:
        raise UserError(
            f"bad handle {text!r}: expected hex major:minor such as '1:' or '1:10'"
        ) from None
    if not sep or maj > 0xFFFF or mino > 0xFFFF:
        raise UserError(f"bad handle {text!r}: expected hex major:minor such as '1:' or '1:10'")
    return (maj << 16) | mino


def format_handle(handle: int) -> str:
    if handle == TC_H_ROOT:
        return "root"
    if handle == TC_H_INGRESS:
        return "ingress"
    major, minor = handle >> 16, handle & 0xFFFF
    return f"{major:x}:" if minor == 0 else f"{major:x}:{minor:x}"
