"""What ``qdisclab check`` reports: a finding's category, message and reproducing trace.

>>> Finding(STUCK, "holds 3 packets", ["burst(count=3, len=100, flows=1)"]).as_dict()["category"]
'stuck'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qdisclab.errors import ExtensionFault
from qdisclab.ops.ownership import OwnershipViolation

# Categories of findings, in the order a report lists them.
LOAD = "load"
REGISTRATION = "registration"
OWNERSHIP = "ownership"
KFUNC = "kfunc"
EXCEPTION = "exception"
ACCOUNTING = "accounting"
LIMIT = "limit"
NEGATIVE = "negative"
STUCK = "stuck"
RATE = "rate"
RESULT = "result"  # a congestion control's or tcx program's result out of range


@dataclass
class Finding:
    """One problem: its category, a message, and the trace that reproduces it."""

    category: str
    message: str
    trace: list[str] = field(default_factory=list)
    kind: str = ""
    callback: str = ""
    packet: str = ""
    errno: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "message": self.message,
            "kind": self.kind,
            "callback": self.callback,
            "packet": self.packet,
            "errno": self.errno,
            "trace": list(self.trace),
        }


def fault_finding(exc: Exception, kind: str) -> Finding:
    """The finding for an exception out of a run: a fault the trampolines raised, or any other."""
    if isinstance(exc, ExtensionFault) and "NET_XMIT" in exc.problem:
        category = ACCOUNTING  # the trampoline's return-code validation
    elif isinstance(exc, OwnershipViolation):
        category = OWNERSHIP
    elif isinstance(exc, ExtensionFault):
        category = EXCEPTION if exc.problem.startswith("raised ") else KFUNC
        if "kfunc" not in exc.problem and category == KFUNC:
            category = OWNERSHIP
    else:
        category = EXCEPTION
    if isinstance(exc, ExtensionFault):
        return Finding(category, exc.problem, kind=exc.kind, callback=exc.callback,
                       packet=exc.packet)  # fmt: skip
    return Finding(category, f"raised {type(exc).__name__}: {exc}", kind=kind)


def result_finding(exc: ExtensionFault) -> Finding:
    """A congestion control's or tcx program's fault: an exception, or an invalid result."""
    category = EXCEPTION if exc.problem.startswith("raised ") else RESULT
    return Finding(category, exc.problem, kind=exc.kind, callback=exc.callback, packet=exc.packet)


def contained_finding(text: str, kind: str, then: str) -> Finding:
    """A fault ``--policy contain`` recorded in ``World.faults`` and carried on past.

    ``text`` is the fault as the world lists it (``KIND.CALLBACK: PROBLEM [PACKET]``,
    as :class:`~qdisclab.errors.ExtensionFault` prints), ``kind`` the extension's
    kind as the fault names it, ``then`` what containment did next. The category
    is the one ``strict`` reports for the same fault.

    >>> f = contained_finding("tcx program p.dev0 egress: raised KeyError: 1 [udp]",
    ...                       "tcx program p", "skipped")
    >>> f.category, f.callback, f.message
    ('exception', 'dev0 egress', 'contained fault: raised KeyError: 1 [udp]; skipped')
    """
    where, _, problem = text.removeprefix(f"{kind}.").partition(": ")
    category = EXCEPTION if problem.startswith("raised ") else RESULT
    return Finding(category, f"contained fault: {problem}; {then}", kind=kind, callback=where)
