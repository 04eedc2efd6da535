"""Qdisc and class handles in tc's ``major:minor`` hexadecimal notation.

>>> parse_handle("1:"), parse_handle("1:10"), format_handle(0x10010)
(65536, 65552, '1:10')
>>> format_handle(TC_H_ROOT)
'root'
"""

from __future__ import annotations

import contextlib
import re
import weakref
from collections.abc import Iterator
from typing import Any

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


def filter_classid(words: list[str], i: int) -> int:
    """The ``classid``/``flowid`` value after ``words[i]``, as the f_*.c parsers read it.

    >>> hex(filter_classid(["flowid", "1:10"], 0))
    '0x10010'
    """
    from qdisclab.sched.options import INCOMPLETE, TcParseError

    if i + 1 >= len(words):
        raise TcParseError(INCOMPLETE, 255)
    try:
        return parse_tc_classid(words[i + 1], "invalid class ID")
    except TcParseError:
        raise TcParseError('Illegal "classid"') from None


def sprint_tc_classid(handle: int) -> str:
    """iproute2's ``print_tc_classid``: ``root``, ``none``, ``:10`` (no major), ``1:``, ``1:10``.

    >>> sprint_tc_classid(0x10), sprint_tc_classid(0x10010)
    (':10', '1:10')
    """
    if handle == TC_H_ROOT:
        return "root"
    if handle == 0:
        return "none"
    major, minor = handle >> 16, handle & 0xFFFF
    if not major:
        return f":{minor:x}"
    return f"{major:x}:" if not minor else f"{major:x}:{minor:x}"


# -- qdisc_alloc_handle --------------------------------------------------------------
_AUTOHANDLE_START = 0x80000000
_AUTOHANDLES: weakref.WeakKeyDictionary[Any, list[int]] = weakref.WeakKeyDictionary()
_requested: list[int] = []  # a handle the tc front end asked for, taken by the next create


def qdisc_alloc_handle(dev: Any) -> int:
    """The kernel's ``qdisc_alloc_handle``: the next free ``8001:``, ``8002:``, ... handle.

    One counter per simulated kernel (the device's world), advanced by every
    qdisc created without a handle, failed ones included; a handle already used
    by a qdisc of ``dev`` is skipped. 0 when all 32768 are taken (ENOMEM).
    """
    owner = getattr(dev, "world", None) or getattr(getattr(dev, "dev", None), "world", None)
    counter = _AUTOHANDLES.setdefault(owner, [_AUTOHANDLE_START]) if owner else [0x80000000]
    used = handles_in_use(dev)
    for _ in range(0x10000):
        counter[0] += 0x10000
        if counter[0] == 0xFFFF0000:  # TC_H_MAKE(TC_H_ROOT, 0)
            counter[0] = _AUTOHANDLE_START
        if counter[0] not in used:
            return counter[0]
    return 0


def handles_in_use(dev: Any) -> set[int]:
    """Handles of every qdisc on ``dev`` (``qdisc_lookup`` over the root tree and ingress)."""
    dev = getattr(dev, "dev", dev)  # an ingress port stands for its device
    used: set[int] = set()
    for root in (getattr(dev, "qdisc", None), getattr(dev, "ingress_qdisc", None)):
        if root is not None:
            used.update(q.handle for q in root.walk())
    return used


@contextlib.contextmanager
def requested_handle(handle: int) -> Iterator[None]:
    """Make the next qdisc created take ``handle`` (``tc qdisc add ... handle H``).

    >>> with requested_handle(0x10000):
    ...     next_handle(None, None)
    65536
    """
    _requested.append(handle)
    try:
        yield
    finally:
        if _requested and _requested[-1] == handle:
            _requested.pop()


def next_handle(dev: Any, parent_q: Any) -> int:
    """The handle of a qdisc being created: one asked for, 0 for a default child, else auto."""
    from qdisclab.ops import RUNNING

    if _requested:
        return _requested.pop()
    if parent_q is not None and RUNNING.frame is not None:
        # qdisc_create_dflt: children a qdisc makes for itself (from its init) have no handle
        return 0
    return qdisc_alloc_handle(dev)


def _invarg(msg: str, text: str) -> UserError:
    from qdisclab.sched.options import TcParseError

    return TcParseError(f'Error: argument "{text}" is wrong: {msg}', 255)


def parse_qdisc_id(text: str) -> int:
    """``get_qdisc_handle``: ``"1:"`` (a minor after the colon is ignored, as tc does)."""
    if text == "none":
        return 0
    m = re.match(r"[0-9a-fA-F]+", text)
    if m is None:
        raise _invarg("invalid qdisc ID", text)
    major = int(m.group(0), 16)
    rest = text[m.end() :]
    if major >= 1 << 16 or (rest and rest[0] != ":"):
        raise _invarg("invalid qdisc ID", text)
    return major << 16


def parse_tc_classid(text: str, what: str = "invalid class ID") -> int:
    """``get_tc_classid``: ``root``, ``none``, ``1:10``, ``:10``, ``1:``."""
    if text == "root":
        return TC_H_ROOT
    if text == "none":
        return 0
    m = re.fullmatch(r"([0-9a-fA-F]*)(?::([0-9a-fA-F]*))?", text)
    if m is None or (not m.group(1) and m.group(2) is None):
        raise _invarg(what, text)
    major = int(m.group(1), 16) if m.group(1) else 0
    if m.group(2) is None:
        return major
    minor = int(m.group(2), 16) if m.group(2) else 0
    if major >= 1 << 16 or minor >= 1 << 16:
        raise _invarg(what, text)
    return (major << 16) | minor
