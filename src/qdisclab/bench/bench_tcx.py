"""tcx/mprog figures: per-packet cost of a tcx chain and control-path operations per second.

``tcx_chain_ns_N``: ns per packet through ``dev.xmit`` (tcx egress → pfifo →
wire → peer → sink, events included) with N programs, N-1 returning TCX_NEXT
and the last TCX_PASS; ``tcx_chain_ns_0`` is the same path without programs
(the hook slot is empty), and ``tcx_chain_extra_ns_N`` the difference.
"""

from __future__ import annotations

import time
from typing import Any

from qdisclab.bench import Budget
from qdisclab.mprog.bench import bench_mprog
from qdisclab.net import World
from qdisclab.skb import IPPROTO_UDP, SkBuff, skb_consume
from qdisclab.tcx import TCX_NEXT, TCX_PASS, Tcx


class _Sink:
    __slots__ = ()

    def receive(self, skb: SkBuff) -> None:
        skb_consume(skb)


def _next(ctx: Any) -> int:
    return TCX_NEXT


def _pass(ctx: Any) -> int:
    return TCX_PASS


def _ns_per_packet(n_progs: int, packets: int) -> float:
    w = World(seed=1)
    a, b = w.add_host("A"), w.add_host("B")
    dev = w.connect(a, b, "100gbit", 0).a
    b.register_protocol(IPPROTO_UDP, _Sink())
    tcx = Tcx.of(dev)
    for i in range(n_progs):
        tcx.egress.attach(tcx.load(_pass if i == n_progs - 1 else _next, name=f"p{i}"))
    books = w.flow_books("bench")
    src, dst = a.addr, b.addr
    batch = 256
    best = float("inf")
    for _ in range(3):
        elapsed = 0.0
        for _ in range(max(1, packets // batch)):
            skbs = [SkBuff(1000, src, dst, 1, 2, IPPROTO_UDP, 0, books) for _ in range(batch)]
            for skb in skbs:
                books.book_sent(skb)
            t0 = time.perf_counter()
            for skb in skbs:
                dev.xmit(skb)
            w.run()
            elapsed += time.perf_counter() - t0
        best = min(best, elapsed * 1e9 / (max(1, packets // batch) * batch))
    w.check_conservation()
    return best


def tcx_chain_cost(budget: Budget) -> dict[str, Any]:
    packets = budget.scale(20_000)
    row: dict[str, Any] = {}
    base = _ns_per_packet(0, packets)
    row["tcx_chain_ns_0"] = round(base, 1)
    for n in (1, 8, 63):
        ns = _ns_per_packet(n, packets)
        row[f"tcx_chain_ns_{n}"] = round(ns, 1)
        row[f"tcx_chain_extra_ns_{n}"] = round(ns - base, 1)
    return row


def mprog_ops(budget: Budget) -> dict[str, Any]:
    return {k: round(v) for k, v in bench_mprog(loops=budget.scale(20_000)).items()}


ROWS = [tcx_chain_cost, mprog_ops]
