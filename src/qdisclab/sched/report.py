"""What ``tc qdisc show`` / ``tc -s qdisc show`` print for a qdisc, and its results row.

Kept apart from the datapath (``qdisc.py``): this module only reads a qdisc's
counters and options, so the text formats can follow iproute2 without touching
the trampolines. The formats are iproute2 6.1's (tc/tc_qdisc.c, tc/tc_util.c):

    qdisc tbf 1: dev eth0 root refcnt 2 rate 10Mbit burst 10Kb lat 50ms
     Sent 3028 bytes 2 pkt (dropped 0, overlimits 0 requeues 0)
     backlog 0b 0p requeues 0

(the ``Sent`` line and many option lists end with a space, as tc's do).
Children a qdisc made for itself (handle 0) are hidden unless ``invisible``
asks for them, as the kernel's ``TCQ_F_INVISIBLE`` does. A kind adds its
extended statistics with a ``tc_xstats(self) -> str`` method on its ops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qdisclab.sched.constants import TC_H_INGRESS, TC_H_ROOT
from qdisclab.sched.handle import format_handle
from qdisclab.sched.tcutil import sprint_size

if TYPE_CHECKING:
    from qdisclab.sched.qdisc import Qdisc


def qdisc_handle(handle: int) -> str:
    """A qdisc's handle as ``tc qdisc show`` prints it: the major only (``1:``, ``0:``)."""
    return f"{handle >> 16:x}:"


def device_name(q: Qdisc) -> str:
    """The name of the device a qdisc is on (an ingress queue's port stands for its device)."""
    dev = getattr(q.dev, "dev", q.dev)
    return getattr(dev, "name", "?")


def render_kind_options(q: Qdisc, details: bool = False) -> str:
    """The kind's option text (``render_options``; ``render_details`` under ``tc -d``)."""
    cls = type(q.ops)
    render_details: Callable[[dict[str, Any]], str] | None = getattr(cls, "render_details", None)
    if details and render_details is not None:
        return render_details(q.opt)
    return cls.render_options(q.opt)


def describe(q: Qdisc, show_dev: bool = True, details: bool = False) -> str:
    """The ``tc qdisc show`` line for one qdisc."""
    if q.parent == TC_H_ROOT:
        where = "root refcnt 2 "
    elif q.parent == TC_H_INGRESS or q.parent == 0xFFFFFFF1:
        where = "parent ffff:fff1 "
    else:
        where = f"parent {format_handle(q.parent)} "
    dev = f"dev {device_name(q)} " if show_dev else ""
    opts = render_kind_options(q, details)
    render_live: Callable[[bool], str] | None = getattr(q.ops, "render_live", None)
    if render_live is not None:
        opts += render_live(details)
    return f"qdisc {q.kind} {qdisc_handle(q.handle)} {dev}{where}{opts}"


def basic_stats(q: Any) -> list[str]:
    """The two lines every ``tc -s`` block has: bytes/packets/drops, then the backlog."""
    return [
        f" Sent {q.bytes} bytes {q.packets} pkt (dropped {q.drops}, "
        f"overlimits {q.overlimits} requeues {q.requeues}) ",
        f" backlog {sprint_size(q.backlog)} {q.qlen}p requeues {q.requeues}",
    ]


def qdisc_block(q: Qdisc, show_dev: bool = True, stats: bool = False, details: bool = False) -> str:
    """One qdisc as ``tc [-s] [-d] qdisc show`` prints it."""
    lines = [describe(q, show_dev, details)]
    if stats:
        lines.extend(basic_stats(q))
        xstats = getattr(q.ops, "tc_xstats", None)
        if xstats is not None:
            text = xstats()
            if text:
                lines.append(text)
        if q.fault:
            lines.append(f" FAULT (contained): {q.fault}")
    return "\n".join(lines)


def visible(q: Qdisc, invisible: bool = False) -> list[Qdisc]:
    """``q`` and its descendants as the kernel's dump lists them (hidden children left out)."""
    return [c for c in q.walk() if invisible or c.handle != 0 or c is q]


def stats_text(q: Qdisc) -> str:
    """``tc -s qdisc show`` for a qdisc and the children it lists."""
    return "\n".join(qdisc_block(c, stats=True) for c in visible(q))


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
