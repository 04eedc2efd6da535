"""Qdisc figures: enqueue+dequeue pairs per second of built-in qdiscs, and ownership-check cost.

Each row drives a ``Qdisc`` directly on a device of a small ``World`` (no
event loop): ``n`` packets from ``n`` flows are queued, then every pair is one
``dequeue`` and the ``enqueue`` of the same packet again, so every flow stays
backlogged and the measured cost is the qdisc's, per packet. Virtual time does
not move, so CoDel never drops and fq never throttles: the figures are the
scheduling path itself. ``ownership_check_ratio_*`` is pairs/s under the
default strict policy over pairs/s with checks off (1.0 = free).
"""

from __future__ import annotations

import gc
import time
from typing import Any

from qdisclab.bench import Budget
from qdisclab.skb import IPPROTO_UDP, SkBuff

_REPEATS = 3


class _Sk:
    """A socket stand-in for fq's per-socket flows (identity only)."""

    __slots__ = ()


def _pairs_per_s(spec: Any, flows: int, pairs: int, policy: str = "strict") -> float:
    from qdisclab.net import World
    from qdisclab.sched import create_qdisc

    world = World(seed=1, policy=policy)
    a, b = world.add_host("A"), world.add_host("B")
    dev = world.connect(a, b, "1gbit", "1ms").a
    q = create_qdisc(spec, dev)
    books = world.flow_books("bench")
    for i in range(flows):
        skb = SkBuff(
            1000, a.addr, b.addr, 1024 + i % 60000, 9 + i // 60000, IPPROTO_UDP, 0, books, _Sk()
        )
        q.enqueue(skb)
    assert q.qlen == flows, f"{spec}: prefill dropped packets"
    enqueue, dequeue = q.enqueue, q.dequeue
    best = 0.0
    for _ in range(_REPEATS):
        gc.collect()
        t0 = time.perf_counter()
        for _ in range(pairs):
            enqueue(dequeue())
        best = max(best, pairs / (time.perf_counter() - t0))
    assert q.qlen == flows and q.drops == 0
    return best


def qdisc_pairs(budget: Budget) -> dict[str, Any]:
    """Enqueue+dequeue pairs/s of pfifo, fq_codel and fq with 10 and 10,000 flows (strict)."""
    n = budget.scale(100_000)
    out: dict[str, Any] = {}
    out["pairs_per_s_pfifo"] = round(_pairs_per_s("pfifo limit 20000", 10, n))
    for flows in (10, 10_000):
        out[f"pairs_per_s_fq_codel_{flows}flows"] = round(_pairs_per_s("fq_codel", flows, n))
        out[f"pairs_per_s_fq_{flows}flows"] = round(_pairs_per_s("fq limit 20000", flows, n))
    return out


def ownership_check_cost(budget: Budget) -> dict[str, Any]:
    """Pairs/s with ownership checks (strict) over pairs/s without (off)."""
    n = budget.scale(100_000)
    out: dict[str, Any] = {}
    for name, spec in (("pfifo", "pfifo limit 20000"), ("fq_codel", "fq_codel")):
        checked = unchecked = 0.0
        for _ in range(2):  # interleaved, so machine noise hits both alike
            checked = max(checked, _pairs_per_s(spec, 10, n, "strict"))
            unchecked = max(unchecked, _pairs_per_s(spec, 10, n, "off"))
        out[f"pairs_per_s_{name}_unchecked"] = round(unchecked)
        out[f"ownership_check_ratio_{name}"] = round(checked / unchecked, 3)
    return out


ROWS = [qdisc_pairs, ownership_check_cost]
