"""tcx/mprog figures: per-packet cost of a tcx chain and control-path operations per second.

``tcx_chain_ns_N``: ns per packet spent in the device's tcx egress hook with
N programs, N-1 returning TCX_NEXT and the last TCX_PASS (the packet then goes
on to the qdisc, which is not timed). With no program the hook slot is empty
and a packet pays nothing.
"""

from __future__ import annotations

import time
from typing import Any

from qdisclab.bench import Budget
from qdisclab.mprog.bench import bench_mprog
from qdisclab.net import World
from qdisclab.skb import IPPROTO_UDP, SkBuff
from qdisclab.tcx import TCX_NEXT, TCX_PASS, Tcx


def _next(ctx: Any) -> int:
    return TCX_NEXT


def _pass(ctx: Any) -> int:
    return TCX_PASS


def _ns_per_packet(n_progs: int, packets: int) -> float:
    w = World(seed=1)
    a, b = w.add_host("A"), w.add_host("B")
    dev = w.connect(a, b, "100gbit", 0).a
    tcx = Tcx.of(dev)
    for i in range(n_progs):
        tcx.egress.attach(tcx.load(_pass if i == n_progs - 1 else _next, name=f"p{i}"))
    hook = dev.egress_hook
    # Never booked or sent: the hook passes them, nothing else sees them.
    skbs = [SkBuff(1000, a.addr, b.addr, 1, 2 + i, IPPROTO_UDP, 0) for i in range(256)]
    rounds = max(1, packets // len(skbs))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(rounds):
            for skb in skbs:
                hook(skb)
        best = min(best, (time.perf_counter() - t0) * 1e9 / (rounds * len(skbs)))
    return best


def tcx_chain_cost(budget: Budget) -> dict[str, Any]:
    packets = budget.scale(50_000)
    return {f"tcx_chain_ns_{n}": round(_ns_per_packet(n, packets), 1) for n in (1, 8, 63)}


def mprog_ops(budget: Budget) -> dict[str, Any]:
    return {k: round(v) for k, v in bench_mprog(loops=budget.scale(20_000)).items()}


ROWS = [tcx_chain_cost, mprog_ops]
