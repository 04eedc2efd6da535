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

A classifier program that raises (or returns something that is not an int)
is the filter's fault, not the qdisc's that asked: it is reported naming the
filter, the packet and where it is attached. The chain's ``on_fault`` (set
by the qdisc) decides: under ``contain`` the filter is detached (this packet
and the next ones go on as if it did not match) and the fault listed;
otherwise the fault stops the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from qdisclab.errors import ExtensionFault, UserError
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

    @property
    def label(self) -> str:
        """How diagnostics name it: its name, its program's, or its kind of match."""
        program = self.program
        return self.name or getattr(program, "__name__", "") or ("program" if program else "match")

    def classify(self, skb: SkBuff) -> int:
        if self.program is not None:
            result = self.program(skb)
            if not result:  # 0, or None from a program that did not return: no match
                return 0
            if result.__class__ is not int:
                raise TypeError(f"returned {result!r}, not a classid (an int; 0 or -1: no match)")
            return result if result > 0 else 0
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


#: ``on_fault(chain, flt, fault)``: raise ``fault`` to stop, or return to skip the filter.
FaultHandler = Callable[["FilterChain", TcFilter, ExtensionFault], None]


class FilterChain:
    """The filters of one qdisc, kept sorted by priority.

    ``where`` names the attachment in diagnostics (``eth0 parent 1:``).
    """

    __slots__ = ("_filters", "faulty", "on_fault", "where")

    def __init__(self, on_fault: FaultHandler | None = None, where: str = "") -> None:
        # A tuple, replaced on change: a filter detached by its fault mid-walk is safe.
        self._filters: tuple[TcFilter, ...] = ()
        self.faulty: list[TcFilter] = []  # filters detached by a contained fault
        self.on_fault = on_fault
        self.where = where

    def add(self, flt: TcFilter) -> None:
        # sorted() is stable: equal prio keeps insertion order
        self._filters = tuple(sorted((*self._filters, flt), key=lambda f: f.prio))

    def remove(self, flt: TcFilter) -> None:
        if flt not in self._filters:
            raise ValueError(f"{flt!r} is not in this chain")
        self._filters = tuple(f for f in self._filters if f is not flt)

    def classify(self, skb: SkBuff) -> int:
        """The classid of the first matching filter, or 0."""
        for flt in self._filters:
            try:
                classid = flt.classify(skb)
            except Exception as exc:
                self._fault(flt, skb, exc)
                continue  # contained: as if it did not match
            if classid:
                return classid
        return 0

    def _fault(self, flt: TcFilter, skb: SkBuff, exc: Exception) -> None:
        problem = exc.problem if isinstance(exc, ExtensionFault) else (
            str(exc) if isinstance(exc, TypeError) and str(exc).startswith("returned ")
            else f"raised {type(exc).__name__}: {exc}"
        )  # fmt: skip
        where = f"{self.where} prio {flt.prio}".strip()
        fault = ExtensionFault(f"tc filter {flt.label}", where, problem, skb.describe())
        fault.__cause__ = exc
        if self.on_fault is None:
            raise fault
        self.on_fault(self, flt, fault)  # raises unless the fault is contained
        self.remove(flt)
        self.faulty.append(flt)

    def __len__(self) -> int:
        return len(self._filters)

    def __iter__(self) -> Iterator[TcFilter]:
        return iter(self._filters)
