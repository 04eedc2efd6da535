"""Classic tc filters attached to a qdisc: match flow keys, mark, priority, or run a program.

Filters run in ascending ``prio`` order (then insertion order); the first
match returns its ``classid``. A classifier program is any callable taking
the skb and returning a classid (non-zero) or 0 / -1 for "no match", like a
cls_bpf program in direct-action-less mode.

>>> from qdisclab.skb import SkBuff
>>> chain = FilterChain()
>>> chain.add(TcFilter(prio=1, classid=0x10001, match={"dport": 80}))
>>> chain.add(TcFilter(prio=2, classid=0x10002, program=lambda skb: 0x10002 if skb.mark else 0))
>>> skb = SkBuff(100, 1, 2, 1000, 80, 6, 0)
>>> hex(chain.classify(skb))
'0x10001'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qdisclab.errors import UserError
from qdisclab.skb import SkBuff

MATCH_FIELDS = ("src", "dst", "sport", "dport", "protocol", "mark", "priority", "tc_index")


@dataclass
class TcFilter:
    """One filter: a key match (``{"dport": 80, "dst": (0x0a000000, 8)}``) or a program."""

    prio: int
    classid: int
    match: dict[str, Any] = field(default_factory=dict)
    program: Callable[[SkBuff], int] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        for key in self.match:
            if key not in MATCH_FIELDS:
                raise UserError(
                    f"filter: unknown match key '{key}' (allowed: {', '.join(MATCH_FIELDS)})"
                )

    def classify(self, skb: SkBuff) -> int:
        if self.program is not None:
            result = self.program(skb)
            return result if result and result > 0 else 0
        for key, want in self.match.items():
            value = getattr(skb, key)
            if isinstance(want, tuple):  # (prefix, length) for addresses
                prefix, length = want
                mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF if length else 0
                if value & mask != prefix & mask:
                    return 0
            elif value != want:
                return 0
        return self.classid


class FilterChain:
    """The filters of one qdisc, kept sorted by priority."""

    __slots__ = ("_filters",)

    def __init__(self) -> None:
        self._filters: list[TcFilter] = []

    def add(self, flt: TcFilter) -> None:
        self._filters.append(flt)
        self._filters.sort(key=lambda f: f.prio)  # stable: equal prio keeps insertion order

    def remove(self, flt: TcFilter) -> None:
        self._filters.remove(flt)

    def classify(self, skb: SkBuff) -> int:
        """The classid of the first matching filter, or 0."""
        for flt in self._filters:
            classid = flt.classify(skb)
            if classid:
                return classid
        return 0

    def __len__(self) -> int:
        return len(self._filters)

    def __iter__(self):
        return iter(self._filters)
