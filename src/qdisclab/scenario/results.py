"""Collecting a finished run into plain data: per-flow and per-qdisc results.

The result is a dict of JSON-friendly values with a fixed key order, so the
same run always serialises to the same bytes (except ``wall_s``, the run's
wall-clock time). Throughput is exact over the measurement window: the bytes
delivered at ``start <= t < end`` times 8 divided by ``end - start``.
"""

from __future__ import annotations

import math
from typing import Any

from qdisclab.measure.sojourn import SojournRecorder
from qdisclab.measure.window import WindowTotals
from qdisclab.net import World
from qdisclab.scenario.registry import ROLE_REVERSE
from qdisclab.scenario.tables import Results


def _clean(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else round(value, 6)


def flow_results(world: World, totals: WindowTotals, roles: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for name, books in world.flows.items():
        metrics = books.observer
        row: dict[str, Any] = {
            "flow": name,
            "role": roles.get(name, ROLE_REVERSE),
            "sent_packets": books.sent_packets,
            "sent_bytes": books.sent_bytes,
            "delivered_packets": books.delivered_packets,
            "delivered_bytes": books.delivered_bytes,
            "dropped": dict(sorted(books.dropped.items())),
        }
        row["throughput_mbps"] = _clean(totals.rate_bps(name) / 1e6)
        if metrics is not None and hasattr(metrics, "delay_percentiles"):
            row["delay_ms"] = {k[:-3]: _clean(v) for k, v in metrics.delay_percentiles().items()}
        rows.append(row)
    return rows


def qdisc_results(
    world: World, sojourn: SojournRecorder | None = None, window: tuple[int, int] = (0, 0)
) -> list[dict[str, Any]]:
    """One row per qdisc: its counters and, when recorded, ``sojourn_ms`` over the window."""
    rows = []
    for node in world.nodes.values():
        for dev in node.devices.values():
            for q in (dev.qdisc, dev.ingress_qdisc):
                if q is None:
                    continue
                for sub in q.walk():
                    row = {"node": node.name, "dev": dev.name, **sub.stats()}
                    if sojourn is not None:
                        row["sojourn_ms"] = sojourn.summary(sub, window)
                    rows.append(row)
    return rows


def collect(
    world: World,
    scenario: str,
    duration_ns: int,
    window: tuple[int, int],
    totals: WindowTotals,
    roles: dict[str, str],
    sojourn: SojournRecorder | None = None,
) -> Results:
    """Everything a report needs; raises ``ConservationError`` if packets went missing."""
    books = world.check_conservation()
    return Results({
        "scenario": scenario,
        "seed": world.seed,
        "duration_s": duration_ns / 1e9,
        "window_s": [window[0] / 1e9, window[1] / 1e9],
        "flows": flow_results(world, totals, roles),
        "qdiscs": qdisc_results(world, sojourn, window),
        "conservation": books,
        "faults": [list(f) for f in world.faults],
    })  # fmt: skip
