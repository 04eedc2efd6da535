"""Per-flow measurements: delivery counts, one-way delay distribution, throughput series.

``FlowMetrics`` is the observer a flow's ``FlowBooks`` calls: sinks call
``on_deliver`` for every delivered packet (one array append and one bin
update), the drop path calls ``on_drop``. Summaries (percentiles, window
throughput) are computed at the end, never per packet.

>>> m = FlowMetrics("f", bin_ns=1_000_000)
>>> from qdisclab.skb import SkBuff
>>> skb = SkBuff(1000, 1, 2, 3, 4, 17, created=0)
>>> m.on_deliver(skb, 2_000_000)
>>> m.delay_percentiles()["p50_ms"]
2.0
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from qdisclab.skb import SkBuff

DEFAULT_BIN_NS = 100_000_000  # 100 ms throughput bins


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0 < q <= 100)."""
    n = len(sorted_values)
    if n == 0:
        return float("nan")
    rank = max(1, -(-int(q * n * 1000) // 100_000))  # ceil(q/100 * n) without float drift
    return float(sorted_values[min(rank, n) - 1])


class FlowMetrics:
    """Delay samples and a byte-per-bin throughput series of one flow."""

    __slots__ = ("bin_ns", "bins", "delays", "drops_over_time", "name")

    def __init__(self, name: str, bin_ns: int = DEFAULT_BIN_NS) -> None:
        self.name = name
        self.bin_ns = bin_ns
        self.delays = array("q")  # one-way delay of each delivered packet, ns
        self.bins: list[int] = []  # delivered bytes per bin
        self.drops_over_time: list[tuple[int, str]] = []

    def on_deliver(self, skb: SkBuff, now: int) -> None:
        self.delays.append(now - skb.created)
        try:  # add_bytes, inlined: a call less per delivered packet
            self.bins[now // self.bin_ns] += skb.len
        except IndexError:  # the first packet of a new bin (time only moves forward)
            self.add_bytes(skb.len, now)

    def add_bytes(self, nbytes: int, now: int) -> None:
        """Count ``nbytes`` delivered at ``now`` into the throughput series."""
        index = now // self.bin_ns
        bins = self.bins
        if index >= len(bins):
            bins.extend([0] * (index + 1 - len(bins)))
        bins[index] += nbytes

    def on_drop(self, skb: SkBuff, reason: str, now: int) -> None:
        self.drops_over_time.append((now, reason))

    def delay_percentiles(self) -> dict[str, float]:
        values = sorted(self.delays)
        return {
            "p50_ms": percentile(values, 50) / 1e6,
            "p90_ms": percentile(values, 90) / 1e6,
            "p99_ms": percentile(values, 99) / 1e6,
            "max_ms": (values[-1] / 1e6) if values else float("nan"),
        }

    def throughput_bps(self, start_ns: int, end_ns: int) -> float:
        """Mean delivered bit rate over [start, end), from whole bins inside the window."""
        if end_ns <= start_ns:
            return 0.0
        first = -(-start_ns // self.bin_ns)
        last = end_ns // self.bin_ns
        if last <= first:
            return 0.0
        total = sum(self.bins[first:last])
        return total * 8 * 1e9 / ((last - first) * self.bin_ns)

    def throughput_series(self) -> list[tuple[float, float]]:
        """(time s, Mbit/s) per bin."""
        scale = 8 / (self.bin_ns / 1e9) / 1e6
        return [((i + 1) * self.bin_ns / 1e9, b * scale) for i, b in enumerate(self.bins)]


def jain_index(values: list[float]) -> float:
    """Jain's fairness index (sum x)^2 / (n * sum x^2)."""
    if not values:
        return float("nan")
    total = sum(values)
    squares = sum(v * v for v in values)
    return (total * total) / (len(values) * squares) if squares else 1.0
