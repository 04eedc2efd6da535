"""TCP time series per flow: goodput, cwnd, RTT and retransmissions in fixed time bins.

Goodput comes from the receiver's in-order byte bins, cwnd and smoothed RTT
from the sender's change-driven trace (the value in force at the end of each
bin), RTT samples are averaged per bin, and retransmissions are counted per
bin from the ``tcp:tcp_retransmit_skb`` tracepoint.

>>> ms = 1_000_000
>>> rows = series_rows("f", 100 * ms, goodput_bins=[1_250_000, 2_500_000],
...                    cwnd=([0, 150 * ms], [10, 20]), srtt=([0, 150 * ms], [1000, 2000]),
...                    rtt=([50_000], [1500]), retrans=[120 * ms])
>>> rows[0], rows[1]
(('f', 0.1, 100.0, 10, 1.0, 1.5, 0), ('f', 0.2, 200.0, 20, 2.0, None, 1))
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from qdisclab.sim.tracepoint import tracepoint

COLUMNS = ("flow", "time_s", "goodput_mbps", "cwnd", "srtt_ms", "rtt_ms", "retrans")


class RetransTimes:
    """Times (ns) of every retransmission, per sending socket name."""

    def __init__(self, sched: Any) -> None:
        from qdisclab.tcp.tracepoints import TCP_RETRANSMIT_SKB  # the TCP stack, when it is used

        self.times: dict[str, list[int]] = {}
        self._tp = tracepoint(sched, TCP_RETRANSMIT_SKB)
        self._tp.attach(self._on_retransmit)

    def _on_retransmit(self, now: int, sk: Any, seq: int, length: int) -> None:
        times = self.times.get(sk.name)
        if times is None:
            times = self.times[sk.name] = []
        times.append(now)

    def detach(self) -> None:
        self._tp.detach(self._on_retransmit)


def _last_at(times: Any, values: Any, t: int) -> Any:
    """The value recorded last at or before ``t`` (None before the first)."""
    i = bisect_left(times, t + 1)
    return values[i - 1] if i else None


def series_rows(
    flow: str,
    bin_ns: int,
    goodput_bins: list[int],
    cwnd: tuple[Any, Any],
    srtt: tuple[Any, Any],
    rtt: tuple[Any, Any],
    retrans: list[int],
) -> list[tuple[Any, ...]]:
    """One row per bin (``COLUMNS``); times in ns except ``rtt`` sample times in us.

    ``cwnd``/``srtt`` are (times ns, values; srtt in us), ``rtt`` (sample times us,
    RTTs us), ``retrans`` retransmission times (ns), ``goodput_bins`` bytes per bin.
    """
    n = max(len(goodput_bins), -(-max(retrans, default=0) // bin_ns))
    rtt_t, rtt_v = rtt
    rows = []
    lo_rtt = lo_rx = 0
    for k in range(n):
        end = (k + 1) * bin_ns
        nbytes = goodput_bins[k] if k < len(goodput_bins) else 0
        hi_rtt = bisect_left(rtt_t, end // 1000)
        samples = rtt_v[lo_rtt:hi_rtt]
        lo_rtt = hi_rtt
        hi_rx = bisect_left(retrans, end)
        srtt_us = _last_at(srtt[0], srtt[1], end - 1)
        rows.append((flow, end / 1e9, nbytes * 8 * 1e9 / bin_ns / 1e6,
                     _last_at(cwnd[0], cwnd[1], end - 1),
                     None if srtt_us is None else srtt_us / 1000,
                     round(sum(samples) / len(samples) / 1000, 6) if len(samples) else None,
                     hi_rx - lo_rx))  # fmt: skip
        lo_rx = hi_rx
    return rows
