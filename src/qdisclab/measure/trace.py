"""Sampled time series of a device's root qdisc: queue length, backlog, queueing delay.

The delay is the backlog's drain time at the link rate (what a packet
arriving at the sample instant would wait), so it needs no per-packet work.

>>> from qdisclab.net import World
>>> w = World(seed=1); a, b = w.add_host("A"), w.add_host("B")
>>> link = w.connect(a, b, "10mbit", "1ms"); w.build_routes()
>>> tr = QueueTrace(link.a, interval_ns=1_000_000, stop_ns=5_000_000)
>>> w.run(5_000_000); len(tr.times)
5
"""

from __future__ import annotations

from array import array
from typing import Any


class QueueTrace:
    """Samples ``dev``'s root qdisc every ``interval_ns`` until ``stop_ns``."""

    __slots__ = ("backlog", "delay_ns", "dev", "interval", "name", "qlen", "stop", "times")

    def __init__(self, dev: Any, interval_ns: int, stop_ns: int, name: str = "") -> None:
        self.dev = dev
        self.name = name or f"{dev.node.name}:{dev.name}"
        self.interval = interval_ns
        self.stop = stop_ns
        self.times = array("q")
        self.qlen = array("q")
        self.backlog = array("q")
        self.delay_ns = array("q")
        dev.sched.call_at(dev.sched.now, self._sample, None)

    def _sample(self, _arg: object) -> None:
        dev = self.dev
        now = dev.sched.now
        if now >= self.stop:
            return
        q = dev.qdisc
        self.times.append(now)
        self.qlen.append(q.qlen)
        self.backlog.append(q.backlog)
        self.delay_ns.append(q.backlog * 8_000_000_000 // dev.channel.rate)
        dev.sched.call_at(now + self.interval, self._sample, None)

    def rows(self) -> list[tuple[float, int, int, float]]:
        """(time s, qlen packets, backlog bytes, delay ms) per sample."""
        return [(t / 1e9, q, b, d / 1e6) for t, q, b, d in
                zip(self.times, self.qlen, self.backlog, self.delay_ns, strict=True)]  # fmt: skip
