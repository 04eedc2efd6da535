"""``tc -j``: iproute2's JSON for qdiscs (one object per qdisc, in a list).

>>> dump_json([{"kind": "pfifo"}], None)
'[{"kind":"pfifo"}]\\n'
"""

from __future__ import annotations

import json
from typing import Any

from qdisclab.sched.constants import TC_H_ROOT
from qdisclab.sched.handle import format_handle
from qdisclab.sched.report import device_name, qdisc_handle


def dump_json(items: list[dict[str, Any]], flags: Any) -> str:
    if flags is not None and flags.pretty:
        return json.dumps(items, indent=4) + "\n"
    return json.dumps(items, separators=(",", ":")) + "\n"


def qdisc_json(q: Any, flags: Any, show_dev: bool = True) -> dict[str, Any]:
    """One qdisc as ``tc -j qdisc show`` prints it (``options`` from the kind's own dict)."""
    out: dict[str, Any] = {"kind": q.kind, "handle": qdisc_handle(q.handle)}
    if show_dev:
        out["dev"] = device_name(q)
    if q.parent == TC_H_ROOT:
        out["root"] = True
        out["refcnt"] = 2
    else:
        out["parent"] = format_handle(q.parent)
    as_json = getattr(type(q.ops), "options_json", None)
    out["options"] = as_json(q.opt) if as_json else _plain(q.opt)
    if flags.stats:
        out.update(
            bytes=q.bytes, packets=q.packets, drops=q.drops, overlimits=q.overlimits,
            requeues=q.requeues, backlog=q.backlog, qlen=q.qlen,
        )  # fmt: skip
    return out


def _plain(opt: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in opt.items() if isinstance(v, (int, float, str, bool)) and k[:1] != "_"}
