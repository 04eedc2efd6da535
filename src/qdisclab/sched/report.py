"""What ``tc qdisc show`` / ``tc -s qdisc show`` print for a qdisc, and its results row.

Kept apart from the datapath (``qdisc.py``): this module only reads a qdisc's
counters and options, so the text formats can follow iproute2 without touching
the trampolines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qdisclab.sched.constants import TC_H_ROOT
from qdisclab.sched.handle import format_handle

if TYPE_CHECKING:
    from qdisclab.sched.qdisc import Qdisc


def describe(q: Qdisc) -> str:
    """The ``tc qdisc show`` header line for one qdisc."""
    where = "root" if q.parent == TC_H_ROOT else f"parent {format_handle(q.parent)}"
    dev = getattr(q.dev, "name", "?")
    opts = type(q.ops).render_options(q.opt)
    text = f"qdisc {q.kind} {format_handle(q.handle)} dev {dev} {where} refcnt 2"
    return f"{text} {opts}".rstrip()


def stats_text(q: Qdisc) -> str:
    """``tc -s qdisc show`` for a qdisc and its children."""
    lines = [
        describe(q),
        f" Sent {q.bytes} bytes {q.packets} pkt (dropped {q.drops}, "
        f"overlimits {q.overlimits} requeues {q.requeues})",
        f" backlog {q.backlog}b {q.qlen}p requeues {q.requeues}",
    ]
    if q.drop_reasons:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(q.drop_reasons.items()))
        lines.append(f" drop reasons: {reasons}")
    if q.fault:
        lines.append(f" FAULT (contained): {q.fault}")
    for minor in sorted(q.children):
        lines.append(stats_text(q.children[minor]))
    return "\n".join(lines)


def stats_row(q: Qdisc) -> dict[str, Any]:
    """The qdisc's counters as one results row."""
    return {
        "kind": q.kind,
        "handle": format_handle(q.handle),
        "parent": format_handle(q.parent),
        "bytes": q.bytes,
        "packets": q.packets,
        "drops": q.drops,
        "overlimits": q.overlimits,
        "requeues": q.requeues,
        "backlog": q.backlog,
        "qlen": q.qlen,
        "drop_reasons": dict(q.drop_reasons),
        "fault": q.fault,
    }
