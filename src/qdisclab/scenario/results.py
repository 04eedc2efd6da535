"""Collecting a finished run into plain data: per-flow and per-qdisc results.

The result is a dict of JSON-friendly values with a fixed key order, so the
same run always serialises to the same bytes.
"""

from __future__ import annotations

import math
from typing import Any

from qdisclab.net import World


def _clean(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else round(value, 6)


def flow_results(world: World, window: tuple[int, int]) -> list[dict[str, Any]]:
    rows = []
    for name, books in world.flows.items():
        metrics = books.observer
        row: dict[str, Any] = {
            "flow": name,
            "sent_packets": books.sent_packets,
            "sent_bytes": books.sent_bytes,
            "delivered_packets": books.delivered_packets,
            "delivered_bytes": books.delivered_bytes,
            "dropped": dict(sorted(books.dropped.items())),
        }
        if metrics is not None and hasattr(metrics, "delay_percentiles"):
            row["throughput_mbps"] = _clean(metrics.throughput_bps(*window) / 1e6)
            row["delay_ms"] = {k[:-3]: _clean(v) for k, v in metrics.delay_percentiles().items()}
        rows.append(row)
    return rows


def qdisc_results(world: World) -> list[dict[str, Any]]:
    rows = []
    for node in world.nodes.values():
        for dev in node.devices.values():
            for q in (dev.qdisc, dev.ingress_qdisc):
                if q is None:
                    continue
                for sub in q.walk():
                    rows.append({"node": node.name, "dev": dev.name, **sub.stats()})
    return rows


def collect(
    world: World, scenario: str, duration_ns: int, window: tuple[int, int]
) -> dict[str, Any]:
    """Everything a report needs; raises ``ConservationError`` if packets went missing."""
    books = world.check_conservation()
    return {
        "scenario": scenario,
        "seed": world.seed,
        "duration_s": duration_ns / 1e9,
        "window_s": [window[0] / 1e9, window[1] / 1e9],
        "flows": flow_results(world, window),
        "qdiscs": qdisc_results(world),
        "conservation": books,
        "faults": [list(f) for f in world.faults],
    }
