"""TCP figures: segments simulated per second, the socket-storage cache cliff, and
packet-hops per second of the four-flow CUBIC ``dumbbell`` (ratio to the bare loop).

>>> w, flows = tcp_dumbbell()
>>> w.run(300_000_000); all(f.sk is not None for f in flows)
True
"""

from __future__ import annotations

import gc
import time
from typing import Any

from qdisclab.bench import Budget
from qdisclab.net import World
from qdisclab.tcp.apps import BulkSender
from qdisclab.tcp.bench_storage import bench_storage


def tcp_dumbbell(n: int = 4, cc: str = "cubic", seed: int = 1, bottleneck: str = "100mbit",
                 qdisc: str = "fq_codel", stagger_ns: int = 100_000_000) -> tuple[World, list]:  # fmt: skip
    """The ``dumbbell`` topology: S1..Sn -1 gbit/0.5 ms- R1 -bottleneck/10 ms- R2 -1 gbit/0.5 ms-
    D1..Dn, ``qdisc`` at R1's egress, one bulk flow Si->Di starting at (i-1)·``stagger_ns``."""
    w = World(seed=seed)
    r1, r2 = w.add_router("R1"), w.add_router("R2")
    w.connect(r1, r2, bottleneck, "10ms", qdisc_a=qdisc, name="bottleneck")
    pairs = []
    for i in range(1, n + 1):
        s, d = w.add_host(f"S{i}"), w.add_host(f"D{i}")
        w.connect(s, r1, "1gbit", "500us")
        w.connect(r2, d, "1gbit", "500us")
        pairs.append((s, d))
    w.build_routes()
    flows = [
        BulkSender(s, d, 5001, f"f{i}", cc, start_ns=i * stagger_ns)
        for i, (s, d) in enumerate(pairs)
    ]
    return w, flows


def tcp_segments_per_s(budget: Budget) -> dict[str, Any]:
    """Data segments sent per wall-clock second on one long CUBIC flow (1 gbit, 10 ms)."""
    from qdisclab.tcp import TcpStack

    duration = 300_000_000 if budget.quick else 3_000_000_000
    best = 0.0
    for _ in range(1 if budget.quick else 3):
        w = World(seed=1)
        a, b = w.add_host("A"), w.add_host("B")
        w.connect(a, b, "1gbit", "10ms", qdisc="pfifo limit 10000")
        w.build_routes()
        TcpStack.of(b)
        f = BulkSender(a, b, 5001, "long", "cubic")
        gc.collect()
        t0 = time.perf_counter()
        w.run(duration)
        elapsed = time.perf_counter() - t0
        best = max(best, f.sk.stats.segs_out / elapsed)
    return {"tcp_segments_per_s": round(best)}


def storage_rows(budget: Budget) -> dict[str, Any]:
    """The socket-storage cache cliff (1, 16, 17, 32, 1000 maps) and the inline get, ns."""
    out = bench_storage(target_gets=20_000 if budget.quick else 200_000)
    return {k: round(v, 1) for k, v in out.items()}


def tcp_dumbbell_hops(budget: Budget) -> dict[str, Any]:
    """Packet-hops per second of the TCP dumbbell, and their ratio to the bare event loop."""
    from qdisclab.bench.bench_core import hops_against_reference

    duration = 300_000_000 if budget.quick else 3_000_000_000
    hops, ratio = hops_against_reference(budget, lambda: tcp_dumbbell()[0], duration)
    return {"tcp_dumbbell_hops_per_s": round(hops), "tcp_dumbbell_hops_ratio": round(ratio, 3)}


ROWS = [tcp_segments_per_s, storage_rows, tcp_dumbbell_hops]
