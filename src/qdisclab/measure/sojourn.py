"""Per-packet sojourn time in every qdisc, from the qdiscs' own sojourn logs.

The sojourn of a packet is the time from its enqueue to its dequeue in one
qdisc (a child qdisc and its parent each see their own). The recorder asks
every qdisc of a run — those there now, and those created later (the
``qdisc:qdisc_create`` tracepoint) — to keep a ``SojournLog``: the
trampolines note when each packet entered and, at its dequeue, append
(dequeue time, sojourn) to that qdisc's arrays, inline, with no listener
call per packet. A peek parks the head skb without a departure, so it is
counted once, when it really leaves. Drops forget the packet. A packet let
past an empty qdisc (``TCQ_F_CAN_BYPASS``) counts with a sojourn of 0,
as the qdisc tracepoints show it entering and leaving at once.

>>> from qdisclab.net import World
>>> from qdisclab.traffic import CbrSource, UdpSink
>>> w = World(seed=1); a, b = w.add_host("A"), w.add_host("B")
>>> lk = w.connect(a, b, "10mbit", "1ms", qdisc_a="codel"); w.build_routes()
>>> _ = UdpSink(b, 9); rec = SojournRecorder(w.sched)
>>> _ = CbrSource(a, b.addr, 9, "f", rate="20mbit", size=1000, stop=10_000_000)
>>> w.run(50_000_000)
>>> s = rec.summary(lk.a.qdisc, (0, 50_000_000))
>>> s["packets"] == lk.a.qdisc.packets, s["max"] > s["p50"] > 0
(True, True)
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from typing import Any

from qdisclab.sched.accounting import SojournLog
from qdisclab.sched.qdisc import live_qdiscs
from qdisclab.sched.tracepoints import QDISC_CREATE
from qdisclab.sim.tracepoint import tracepoint
from qdisclab.skb.flowmetrics import percentile


class SojournRecorder:
    """Keeps a sojourn log in every qdisc of one scheduler; ``summary(qdisc, window)`` per qdisc."""

    def __init__(self, sched: Any) -> None:
        self.qdiscs: dict[Any, SojournLog] = {}
        self._created = tracepoint(sched, QDISC_CREATE)
        self._created.attach(self._start)
        for qdisc in live_qdiscs(sched):  # every qdisc of this run
            self._start(sched.now, qdisc)

    def _start(self, now: int, qdisc: Any) -> None:
        log = qdisc.sojourn or SojournLog()  # a second recorder shares the log
        self.qdiscs[qdisc] = log
        if qdisc.sojourn is not log:
            qdisc.log_sojourn(log)

    def detach(self) -> None:
        """Stop recording (the recorded data stays)."""
        self._created.detach(self._start)
        for qdisc, log in self.qdiscs.items():
            if qdisc.sojourn is log:
                qdisc.log_sojourn(None)

    def samples(self, qdisc: Any, window: tuple[int, int] | None = None) -> tuple[Any, Any]:
        """(dequeue times, sojourns) in ns, of dequeues at ``start <= t < end``."""
        st = self.qdiscs.get(qdisc)
        if st is None:
            return array("q"), array("q")
        if window is None:
            return st.times, st.sojourn
        lo = bisect_left(st.times, window[0])
        hi = bisect_left(st.times, window[1])
        return st.times[lo:hi], st.sojourn[lo:hi]

    def summary(self, qdisc: Any, window: tuple[int, int]) -> dict[str, float | int | None]:
        """Sojourn in ms over the window: mean, p50, p90, p99 (nearest rank), max; packets."""
        _times, values = self.samples(qdisc, window)
        ordered = sorted(values)
        out: dict[str, float | int | None] = {"packets": len(ordered)}
        if not ordered:
            out.update(mean=None, p50=None, p90=None, p99=None, max=None)
            return out
        out["mean"] = round(sum(ordered) / len(ordered) / 1e6, 6)
        for q in (50, 90, 99):
            out[f"p{q}"] = percentile(ordered, q) / 1e6
        out["max"] = ordered[-1] / 1e6
        return out
